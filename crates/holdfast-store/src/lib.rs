//! Holdfast's storage: small per-capability traits, and their SQLite
//! (embedded default) and PostgreSQL (scale-out) implementations.
//!
//! Where things live: each capability's trait and records in a module of
//! its own ([`tenants`], [`users`], [`keys`], [`grants`] for codes and
//! refresh tokens, [`sessions`], [`audit`], [`dpop_replay`], [`throttle`],
//! [`retention`], [`signals`] for the security-event outbox and its
//! deliveries, [`mail`], [`device`] for RFC 8628 device requests, [`accounts`] for sign-up, verification and recovery, [`factors`] for TOTP, recovery codes and passkeys),
//! and its SQL in the file of the same name under `src/sql/`.
//!
//! Both back ends run the same SQL text (sqlx binds `$1`-style parameters on
//! SQLite too). The files under `src/sql/` are ordinary Rust, compiled once
//! inside each back end's module (`sqlite.rs`, `postgres.rs`), where the
//! store type, the database type and the three statements that cannot be
//! shared are named; so there is no back-end `if` inside any query, and no
//! macro. Where a back end has its own statement (the one-statement
//! rotation on PostgreSQL, say), its module says so. Migrations are embedded
//! per back end and applied by [`connect`].
//!
//! Contract for every method: it is atomic (all of it happens or none of
//! it), it returns [`StoreError::Conflict`] when a uniqueness rule would be
//! broken, and [`StoreError::Database`] only for failures of the database
//! itself (which the HTTP edge reports as a 503, never with details).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::sync::Arc;

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod device;
pub mod dpop_replay;
pub mod factors;
pub mod grants;
pub mod keys;
pub mod mail;
mod postgres;
pub mod retention;
mod rows;
pub mod sessions;
pub mod signals;
mod sqlite;
pub mod tenants;
pub mod testing;
pub mod throttle;
pub mod users;

pub use accounts::{AccountStore, AccountTokenRecord, NewAccount, Redeem};
pub use admin::{AdminStore, EventQuery};
pub use audit::{AuditEvent, AuditStore};
pub use device::{DeviceAuthorizationRecord, DeviceLookup, DeviceStore};
pub use dpop_replay::{DpopReplayStore, ProofRecord, clears_expired};
pub use factors::{FactorStore, PasskeyRecord, TotpRecord};
pub use grants::{
    AccessTokenStanding, AuthCodeRecord, CodeIssuance, Continuation, GrantStore, PresentOutcome,
    Redemption, RefreshPresentation, RefreshTokenRecord, audit_kind,
};
pub use keys::{KeyStore, MetaStore, StoredKey};
pub use mail::{Backlog, MailRecord, MailStore, OutgoingMail};
pub use postgres::PostgresStore;
pub use retention::{RetentionStore, Swept};
pub use sessions::{BrowserSessionRecord, BrowserSessionStore, SessionRecord, SessionStore};
pub use signals::{DueLogout, DuePush, SignalStore, StreamRecord};
pub use sqlite::{
    ROTATIONS_PER_COMMIT, ROTATIONS_PER_COMMIT_BUCKETS, RotationCommits, SqliteStore,
};
pub use tenants::{ClientRecord, ClientStore, FIRST_VERSION, TenantStore};
pub use throttle::{ThrottleKeys, ThrottleStore};
pub use users::{UserRecord, UserStore};

/// How long a request waits for a pooled connection before the store gives
/// up and the request is answered 503 `temporarily_unavailable`. While
/// PostgreSQL restarts, the pool keeps trying to connect; without a bound a
/// request would hang for sqlx's default of 30 s. Two seconds outlasts any
/// queue for a connection under load (milliseconds) and still answers a
/// client quickly during an outage. SQLite's reader pool uses it too.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken; the string names what exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row an update needs is not there.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A conditional change named a version that is no longer the stored
    /// one: someone changed the thing since it was read.
    #[error("{0} changed since it was read")]
    Stale(&'static str),
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

/// Everything a Holdfast node needs from its store.
pub trait Store:
    TenantStore
    + ClientStore
    + UserStore
    + KeyStore
    + MetaStore
    + GrantStore
    + SessionStore
    + DpopReplayStore
    + BrowserSessionStore
    + AuditStore
    + ThrottleStore
    + RetentionStore
    + SignalStore
    + MailStore
    + AccountStore
    + FactorStore
    + AdminStore
    + DeviceStore
    + std::fmt::Debug
{
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
