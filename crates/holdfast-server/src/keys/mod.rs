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
//!
//! Keys live per (tenant, algorithm): the tenant's own algorithm signs access
//! tokens and, by default, ID tokens; RS256 keys (OIDC Discovery 1.0 §3) sign
//! the ID tokens of clients that registered `id_token_signed_response_alg`
//! RS256. A tenant gets its RS256 pair when the first such client is
//! registered ([`KeyService::ensure_alg`], from the CLI, off every request
//! path; RSA generation is slow). The store's unique index on (tenant, alg,
//! state) and an insert that ignores conflicts make it safe for several
//! nodes or CLI runs at once: one pair wins, the others are dropped. Should a
//! token ever need a key its tenant lacks, [`KeyService::current_for`] makes
//! it the same way, on a blocking thread. Rotation rotates every algorithm
//! the tenant holds.

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
    /// Key generation on a blocking thread did not finish (it panicked or
    /// the runtime is shutting down).
    #[error("key generation did not finish")]
    Generation,
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
        SigningAlg::RS256 => JwsAlg::RS256,
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

    /// [`KeyService::generate`] on a blocking thread: an RSA key takes tens
    /// to hundreds of milliseconds, too long to hold an async worker.
    pub async fn generate_blocking(
        &self,
        alg: SigningAlg,
        state: KeyState,
        now: i64,
    ) -> Result<StoredKey, KeyError> {
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.generate(alg, state, now))
            .await
            .map_err(|_| KeyError::Generation)?
    }

    /// The two keys a new tenant starts with: a current one and the next one.
    pub fn initial_keys(&self, alg: SigningAlg, now: i64) -> Result<Vec<StoredKey>, KeyError> {
        Ok(vec![
            self.generate(alg, KeyState::Current, now)?,
            self.generate(alg, KeyState::Next, now)?,
        ])
    }

    /// The tenant's current signing key (of its own algorithm), decrypted:
    /// what signs access tokens.
    pub async fn current(&self, tenant: &Tenant) -> Result<Arc<SigningKey>, KeyError> {
        let keys = self.listed(tenant).await?;
        let current = current_of(&keys, tenant.signing_alg).ok_or(KeyError::NoCurrentKey)?;
        self.unseal(current)
    }

    /// The tenant's current key of `alg`, decrypted. A tenant that holds no
    /// key of `alg` yet gets a pair now, generated on a blocking thread: a
    /// safety net only, as registering a client for `alg` makes the pair
    /// before the client exists.
    pub async fn current_for(
        &self,
        tenant: &Tenant,
        alg: SigningAlg,
        now: i64,
    ) -> Result<Arc<SigningKey>, KeyError> {
        if alg == tenant.signing_alg {
            return self.current(tenant).await;
        }
        let keys = self.listed(tenant).await?;
        if let Some(current) = current_of(&keys, alg) {
            return self.unseal(current);
        }
        self.ensure_alg(tenant, alg, now).await?;
        let keys = self.relist(tenant).await?;
        let current = current_of(&keys, alg).ok_or(KeyError::NoCurrentKey)?;
        self.unseal(current)
    }

    /// Makes sure the tenant holds a `current` and a `next` key of `alg`,
    /// generating them (on a blocking thread) if it holds none. Safe to run
    /// on several nodes at once: the store keeps the first pair committed.
    pub async fn ensure_alg(
        &self,
        tenant: &Tenant,
        alg: SigningAlg,
        now: i64,
    ) -> Result<(), KeyError> {
        let stored = self.store.keys(&tenant.id).await?;
        if stored
            .iter()
            .any(|k| k.alg == alg && k.state == KeyState::Current)
        {
            return Ok(());
        }
        let pair = vec![
            self.generate_blocking(alg, KeyState::Current, now).await?,
            self.generate_blocking(alg, KeyState::Next, now).await?,
        ];
        self.store.add_keys(&tenant.id, &pair).await?;
        self.listed.remove(&tenant.id);
        Ok(())
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

    /// Promotes next → current, retires current, creates a new next, for
    /// the tenant's algorithm and then every other algorithm it holds keys
    /// of (RS256 for ID tokens). Returns the new next keys, the tenant's
    /// algorithm first.
    pub async fn rotate(&self, tenant: &Tenant, now: i64) -> Result<Vec<StoredKey>, KeyError> {
        let mut algs = vec![tenant.signing_alg];
        for key in self.store.keys(&tenant.id).await? {
            if key.state == KeyState::Next && !algs.contains(&key.alg) {
                algs.push(key.alg);
            }
        }
        let mut rotated = Vec::with_capacity(algs.len());
        for alg in algs {
            let new_next = self.generate_blocking(alg, KeyState::Next, now).await?;
            let done = self.store.rotate_keys(&tenant.id, &new_next, now).await;
            self.listed.remove(&tenant.id);
            done?;
            rotated.push(new_next);
        }
        Ok(rotated)
    }
}

/// The current key of `alg` among `keys`.
fn current_of(keys: &[ListedKey], alg: SigningAlg) -> Option<&StoredKey> {
    keys.iter()
        .map(|k| &k.stored)
        .find(|k| k.state == KeyState::Current && k.alg == alg)
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
