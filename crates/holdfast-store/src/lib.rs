//! Holdfast's storage: small per-capability traits, and their SQLite
//! (embedded default) and PostgreSQL (scale-out) implementations.
//!
//! Both back ends run the same SQL text (sqlx binds `$1`-style parameters on
//! SQLite too); it is written once in [`shared`] and instantiated for each
//! back end, so there is no back-end `if` inside any query. Where a back end
//! needs its own statement (row locks, say), the implementation module says
//! so. Migrations are embedded per back end and applied by [`connect`].
//!
//! Contract for every method: it is atomic (all of it happens or none of
//! it), it returns [`StoreError::Conflict`] when a uniqueness rule would be
//! broken, and [`StoreError::Database`] only for failures of the database
//! itself (which the HTTP edge reports as a 503, never with details).

use std::sync::Arc;

use async_trait::async_trait;
use holdfast_core::client::{Client, NewClient};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::{User, Username};

mod postgres;
mod rows;
mod shared;
mod sqlite;
pub mod testing;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken; the string names what exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row an update needs is not there.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored value could not be understood (corruption or a newer schema).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The database URL is not one Holdfast can use.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...): {0}")]
    UnsupportedUrl(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

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

/// A client with its secret digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client.
    pub client: Client,
    /// SHA-256 digest of the secret (base64url), for confidential clients.
    pub secret_digest: Option<String>,
}

/// A user with the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// Tenants.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant together with its first `current` and `next` keys, in
    /// one transaction. `Conflict("tenant")` if the slug is taken.
    async fn create_tenant(&self, tenant: &Tenant, keys: &[StoredKey]) -> StoreResult<()>;
    /// The tenant with this slug, if any.
    async fn tenant_by_slug(&self, slug: &TenantSlug) -> StoreResult<Option<Tenant>>;
    /// All tenants, by slug.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
}

/// OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a validated client. `Conflict("client")` if the tenant
    /// already has this `client_id`.
    async fn create_client(
        &self,
        id: &str,
        tenant_id: &str,
        client: &NewClient,
        secret_digest: Option<&str>,
        now: i64,
    ) -> StoreResult<Client>;
    /// The client with this `client_id` in this tenant, if any.
    async fn client_by_client_id(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<ClientRecord>>;
    /// All clients of a tenant, by `client_id`.
    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<Client>>;
}

/// End users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. `Conflict("user")` if the normalised username is taken.
    async fn create_user(
        &self,
        id: &str,
        tenant_id: &str,
        username: &Username,
        email: Option<&str>,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<User>;
    /// The user whose normalised username is `normalized`, if any.
    async fn user_by_username(
        &self,
        tenant_id: &str,
        normalized: &str,
    ) -> StoreResult<Option<UserRecord>>;
    /// The user with this id, if any.
    async fn user_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<Option<UserRecord>>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key of the tenant (next, current, retired), newest first.
    async fn keys(&self, tenant_id: &str) -> StoreResult<Vec<StoredKey>>;
    /// Rotation in one transaction: `current` → `retired` (at `now`),
    /// `next` → `current`, and `new_next` inserted as `next`.
    /// `NotFound("next key")` if the tenant has no `next` key.
    async fn rotate_keys(&self, tenant_id: &str, new_next: &StoredKey, now: i64)
    -> StoreResult<()>;
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

/// Everything a Holdfast node needs from its store.
pub trait Store: TenantStore + ClientStore + UserStore + KeyStore + MetaStore + std::fmt::Debug {
    /// Which back end this is, for logs.
    fn backend(&self) -> &'static str;
}

/// Opens the store named by `url` (`sqlite://...` or `postgres://...`),
/// creating an SQLite file if needed, and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

pub(crate) fn conflict_or(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}
