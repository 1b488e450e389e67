//! Per-tenant signing keys: creation, sealing at rest, rotation and the
//! published key set (RFC 7517 §5).
//!
//! Private keys are PKCS#8 DER sealed with AES-256-GCM under the KEK, with
//! the `kid` as associated data. Decrypted keys are cached by `kid` (a kid
//! names immutable key material, so the cache can never be stale); *which*
//! key is current is read from the store on every use, so a rotation made by
//! the CLI is seen by a running server at once.

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
    current: TtlCache<String, Arc<SigningKey>>,
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
            current: TtlCache::new(std::time::Duration::from_secs(5), 10_000),
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

    /// The tenant's current signing key, decrypted. Which key is current
    /// is re-read from the store at most every few seconds: after a rotation
    /// by another process this node may sign with the previous key briefly,
    /// which is harmless, since that key stays published.
    pub async fn current(&self, tenant: &Tenant) -> Result<Arc<SigningKey>, KeyError> {
        if let Some(key) = self.current.get(&tenant.id) {
            return Ok(key);
        }
        let keys = self.store.keys(&tenant.id).await?;
        let stored = keys
            .into_iter()
            .find(|k| k.state == KeyState::Current)
            .ok_or(KeyError::NoCurrentKey)?;
        let key = self.unseal(&stored)?;
        self.current.insert(tenant.id.clone(), key.clone());
        Ok(key)
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
    pub async fn jwks(&self, tenant: &Tenant, now: i64) -> Result<Value, KeyError> {
        Ok(json!({ "keys": self.published_keys(tenant, now).await? }))
    }

    /// A subkey of the KEK for `label` (shared by every node with the KEK).
    pub fn derive(&self, label: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
        self.kek.derive(label)
    }

    /// The public keys a token of this tenant may be signed with: next,
    /// current, and retired keys whose tokens may still be valid.
    pub async fn published_keys(&self, tenant: &Tenant, now: i64) -> Result<Vec<Jwk>, KeyError> {
        let keys = self.store.keys(&tenant.id).await?;
        Ok(keys
            .iter()
            .filter(|k| match k.state {
                KeyState::Next | KeyState::Current => true,
                KeyState::Retired => k
                    .retired_at
                    .is_some_and(|at| retired_key_is_published(at, RETIRED_KEY_PUBLISH_SECS, now)),
            })
            .filter_map(|k| serde_json::from_str::<Jwk>(&k.public_jwk).ok())
            .collect())
    }

    /// Promotes next → current, retires current, creates a new next.
    pub async fn rotate(&self, tenant: &Tenant, now: i64) -> Result<StoredKey, KeyError> {
        let new_next = self.generate(tenant.signing_alg, KeyState::Next, now)?;
        self.store.rotate_keys(&tenant.id, &new_next, now).await?;
        self.current.remove(&tenant.id);
        Ok(new_next)
    }
}
