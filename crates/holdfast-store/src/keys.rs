//! Signing keys and server-wide metadata: the [`KeyStore`] and [`MetaStore`]
//! capabilities (SQL in `sql/keys.rs`).

use async_trait::async_trait;
use holdfast_core::keys::{KeyState, SigningAlg};

use crate::StoreResult;

/// A signing key as stored: the private part sealed under the KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Life-cycle state.
    pub state: KeyState,
    /// PKCS#8 private key sealed with AES-256-GCM under the KEK, `kid` as AAD.
    pub private_sealed: Vec<u8>,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When it became `current`.
    pub activated_at: Option<i64>,
    /// When it became `retired`.
    pub retired_at: Option<i64>,
}
/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key of the tenant (next, current, retired), newest first.
    async fn keys(&self, tenant_id: &str) -> StoreResult<Vec<StoredKey>>;
    /// Rotation of the keys of `new_next.alg`, in one transaction:
    /// `current` → `retired` (at `now`), `next` → `current`, and `new_next`
    /// inserted as `next`. Keys of other algorithms are untouched.
    /// `NotFound("next key")` if the tenant has no `next` key of that
    /// algorithm.
    async fn rotate_keys(&self, tenant_id: &str, new_next: &StoredKey, now: i64)
    -> StoreResult<()>;
    /// Adds `keys` (a `current` and a `next` of one algorithm) to the
    /// tenant, in one transaction, skipping each one whose (algorithm,
    /// state) place is taken already: when several nodes add a pair at
    /// once, the first committed stays and the others change nothing.
    async fn add_keys(&self, tenant_id: &str, keys: &[StoredKey]) -> StoreResult<()>;
}

/// Server-wide metadata.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Stores `check` as the KEK check value unless one exists; returns the
    /// value that is stored afterwards (the existing one, if any).
    async fn init_kek_check(&self, check: &[u8]) -> StoreResult<Vec<u8>>;
    /// The stored KEK check value, if any.
    async fn kek_check(&self) -> StoreResult<Option<Vec<u8>>>;
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
}
