//! Per-tenant signing keys: creation, sealing at rest, rotation and the
//! published key set (RFC 7517 §5).
//!
//! Private keys are PKCS#8 DER sealed with AES-256-GCM under the KEK, with
//! the `kid` as associated data. Decrypted keys are cached by `kid` (a kid
//! names immutable key material, so the cache can never be stale). A
//! tenant's key list (which key is next, current, retired) is re-read from
//! the store at most every few seconds: signing and every access-token
//! check use it. A rotation by this node is seen at once; one by another
//! process within seconds, which is harmless because a key is published as
//! `next` one whole rotation before it signs anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use holdfast_core::client::MAX_ACCESS_TOKEN_TTL_SECS;
use holdfast_core::keys::{KeyState, SigningAlg, retired_key_is_published};
use holdfast_core::tenant::Tenant;
use holdfast_crypto::aead::Kek;
use holdfast_crypto::jws::{JwsAlg, SigningKey};
use holdfast_store::{Store, StoreError, StoredKey};

use crate::cache::TtlCache;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};

/// How long a retired key stays in the JWKS: as long as the longest-lived
/// token it can have signed.
pub const RETIRED_KEY_PUBLISH_SECS: i64 = MAX_ACCESS_TOKEN_TTL_SECS;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Crypto failed (wrong KEK, corrupt key).
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
    /// The tenant has no current key (should not happen: tenants are created with one).
    #[error("tenant has no current signing key")]
    NoCurrentKey,
}

/// Signing keys of all tenants.
#[derive(Clone)]
pub struct KeyService {
    store: Arc<dyn Store>,
    kek: Arc<Kek>,
    cache: Arc<Mutex<HashMap<String, Arc<SigningKey>>>>,
    /// Each tenant's keys with their parsed public JWKs, by tenant id.
    listed: TtlCache<String, Arc<[ListedKey]>>,
}

/// A stored key with its public JWK parsed once.
struct ListedKey {
    stored: StoredKey,
    jwk: Option<Jwk>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService").finish_non_exhaustive()
    }
}

fn jws_alg(alg: SigningAlg) -> JwsAlg {
    match alg {
        SigningAlg::ES256 => JwsAlg::ES256,
        SigningAlg::EdDSA => JwsAlg::EdDSA,
    }
}

impl KeyService {
    /// A key service over `store`, sealing with `kek`.
    pub fn new(store: Arc<dyn Store>, kek: Arc<Kek>) -> Self {
        Self {
            store,
            kek,
            cache: Arc::default(),
            listed: TtlCache::new(std::time::Duration::from_secs(5), 10_000),
        }
    }

    /// Generates a key and seals it for storage in `state`.
    pub fn generate(
        &self,
        alg: SigningAlg,
        state: KeyState,
        now: i64,
    ) -> Result<StoredKey, KeyError> {
        let key = SigningKey::generate(jws_alg(alg))?;
        let sealed = self.kek.seal(key.kid().as_bytes(), key.pkcs8_der())?;
        let public_jwk = serde_json::to_string(key.public_jwk())
            .map_err(|e| holdfast_crypto::CryptoError::Key(e.to_string()))?;
        Ok(StoredKey {
            kid: key.kid().to_owned(),
            alg,
            state,
            private_sealed: sealed,
            public_jwk,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
        })
    }

    /// The two keys a new tenant starts with: a current one and the next one.
    pub fn initial_keys(&self, alg: SigningAlg, now: i64) -> Result<Vec<StoredKey>, KeyError> {
        Ok(vec![
            self.generate(alg, KeyState::Current, now)?,
            self.generate(alg, KeyState::Next, now)?,
        ])
    }

    /// The tenant's current signing key, decrypted.
    pub async fn current(&self, tenant: &Tenant) -> Result<Arc<SigningKey>, KeyError> {
        let keys = self.listed(tenant).await?;
        let current = keys
            .iter()
            .find(|k| k.stored.state == KeyState::Current)
            .ok_or(KeyError::NoCurrentKey)?;
        self.unseal(&current.stored)
    }

    /// The tenant's keys, from the store at most every few seconds.
    async fn listed(&self, tenant: &Tenant) -> Result<Arc<[ListedKey]>, KeyError> {
        match self.listed.get(&tenant.id) {
            Some(keys) => Ok(keys),
            None => self.relist(tenant).await,
        }
    }

    /// The tenant's keys read from the store now, refreshing the cache.
    async fn relist(&self, tenant: &Tenant) -> Result<Arc<[ListedKey]>, KeyError> {
        let keys: Arc<[ListedKey]> = self
            .store
            .keys(&tenant.id)
            .await?
            .into_iter()
            .map(|stored| ListedKey {
                jwk: serde_json::from_str(&stored.public_jwk).ok(),
                stored,
            })
            .collect();
        self.listed.insert(tenant.id.clone(), keys.clone());
        Ok(keys)
    }

    fn unseal(&self, stored: &StoredKey) -> Result<Arc<SigningKey>, KeyError> {
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&stored.kid).cloned())
        {
            return Ok(hit);
        }
        let der = self
            .kek
            .open(stored.kid.as_bytes(), &stored.private_sealed)?;
        let key = Arc::new(SigningKey::from_pkcs8(jws_alg(stored.alg), &der)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(stored.kid.clone(), key.clone());
        }
        Ok(key)
    }

    /// The JWK Set to publish: next, current, and retired keys whose tokens
    /// may still be valid (RFC 7517 §5).
    ///
    /// Read from the store on every request (and refreshing what signing
    /// and verification use), so a rotation made by the CLI is published at
    /// once.
    pub async fn jwks(&self, tenant: &Tenant, now: i64) -> Result<Value, KeyError> {
        let keys = self.relist(tenant).await?;
        Ok(json!({ "keys": published(&keys, now) }))
    }

    /// A subkey of the KEK for `label` (shared by every node with the KEK).
    pub fn derive(&self, label: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
        self.kek.derive(label)
    }

    /// The public keys a token of this tenant may be signed with: next,
    /// current, and retired keys whose tokens may still be valid.
    pub async fn published_keys(&self, tenant: &Tenant, now: i64) -> Result<Vec<Jwk>, KeyError> {
        Ok(published(&self.listed(tenant).await?, now))
    }

    /// Promotes next → current, retires current, creates a new next.
    pub async fn rotate(&self, tenant: &Tenant, now: i64) -> Result<StoredKey, KeyError> {
        let new_next = self.generate(tenant.signing_alg, KeyState::Next, now)?;
        self.store.rotate_keys(&tenant.id, &new_next, now).await?;
        self.listed.remove(&tenant.id);
        Ok(new_next)
    }
}

/// The public keys a token may be signed with at `now`: next, current, and
/// retired keys whose tokens may still be valid (RFC 7517 §5).
fn published(keys: &[ListedKey], now: i64) -> Vec<Jwk> {
    keys.iter()
        .filter(|k| match k.stored.state {
            KeyState::Next | KeyState::Current => true,
            KeyState::Retired => k
                .stored
                .retired_at
                .is_some_and(|at| retired_key_is_published(at, RETIRED_KEY_PUBLISH_SECS, now)),
        })
        .filter_map(|k| k.jwk.clone())
        .collect()
}
