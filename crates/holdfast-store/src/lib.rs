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

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::sync::Arc;

use async_trait::async_trait;
use holdfast_core::client::{Client, NewClient};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::refresh::rotation::{
    Decision, Family, FamilyView, RejectReason, RotateGuard, TokenState,
};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::throttle::{Counters, ThrottlePolicy, Verdict};
use holdfast_core::user::{User, Username};

mod postgres;
mod rows;
mod shared;
mod sqlite;
pub mod testing;
mod throttle;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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
    /// Tokens issued before this time (Unix seconds) are no longer valid.
    pub not_before: Option<i64>,
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
    /// Creates a user. `Conflict("user")` if the normalised username is
    /// taken, or its confusable skeleton (UTS #39) is another user's in the
    /// tenant; both are unique indexes, so two creations at once cannot
    /// both succeed.
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
    /// Sets the user's "not before" stamp and, in the same transaction,
    /// revokes the sessions and ends the browser (SSO) sessions begun before
    /// it. `NotFound("user")` if absent.
    async fn set_user_not_before(&self, tenant_id: &str, id: &str, at: i64) -> StoreResult<()>;
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

/// A session: one sign-in on one device, the family of its refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id, the `sid` claim.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The `client_id` the session belongs to.
    pub client_id: String,
    /// Granted scope (space-delimited).
    pub scope: String,
    /// Resource indicator (the access-token audience), if one was requested.
    pub resource: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication context class.
    pub acr: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last refresh.
    pub last_used_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// A stable device id the client sent, or one Holdfast generated.
    pub device_id: Option<String>,
    /// The user agent at sign-in.
    pub user_agent: Option<String>,
    /// The IP address at sign-in.
    pub ip: Option<String>,
    /// The DPoP key thumbprint the family is bound to (RFC 9449 §5), if any.
    pub dpop_jkt: Option<String>,
    /// Digest of the browser (SSO) session the family's code was issued
    /// under ([`BrowserSessionRecord::id_digest`]); `None` for a sign-in
    /// that had none (first-party challenge).
    pub browser_session: Option<String>,
}

/// A refresh token as stored (digest only).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    /// SHA-256 digest, base64url.
    pub token_digest: String,
    /// Its session.
    pub session_id: String,
    /// Position in the family, from 0.
    pub generation: i64,
    /// `active`, `rotated`, `spent` or `revoked`. `spent` is derived when
    /// read: a `rotated` token whose child has been rotated in turn.
    pub state: String,
    /// Digest of the token it replaced.
    pub parent_digest: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// When it was used to obtain its child.
    pub rotated_at: Option<i64>,
    /// Its child, sealed under a key derived from this token: the family's
    /// one seal, seen only on the newest token's parent (for its grace
    /// retries); each rotation replaces it.
    pub child_sealed: Option<Vec<u8>>,
    /// Grace retries served so far.
    pub retries: i64,
}

impl SessionRecord {
    /// The family as a presentation checks it.
    pub fn family(&self) -> Family<'_> {
        Family {
            client_id: &self.client_id,
            dpop_jkt: self.dpop_jkt.as_deref(),
            scope: &self.scope,
            view: FamilyView {
                revoked: self.revoked_at.is_some(),
                created_at: self.created_at,
                last_used_at: self.last_used_at,
            },
        }
    }
}

impl RefreshTokenRecord {
    /// The state as the rotation state machine sees it.
    pub fn token_state(&self) -> TokenState {
        match self.state.as_str() {
            "active" => TokenState::Active,
            "rotated" => TokenState::Rotated {
                rotated_at: self.rotated_at.unwrap_or(self.created_at),
                retries: self.retries,
            },
            "spent" => TokenState::Spent,
            _ => TokenState::Revoked,
        }
    }
}

/// A security-relevant event (DESIGN.md §8).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEvent {
    /// Unique id (UUIDv7: sortable by time).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// When, Unix seconds.
    pub at: i64,
    /// What happened, e.g. `login_succeeded`, `refresh_token_reuse`.
    pub kind: String,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The caller's IP address.
    pub ip: Option<String>,
    /// The caller's user agent.
    pub user_agent: Option<String>,
}

/// Audit events.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an event.
    async fn record_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// A tenant's events at or after `since`, oldest first, at most `limit`.
    async fn events(&self, tenant_id: &str, since: i64, limit: i64)
    -> StoreResult<Vec<AuditEvent>>;
}

/// The pure decision a store applies to a presented token and its family
/// (the token endpoint's `Presentation::decide`).
pub type Decide<'a> =
    dyn for<'r> Fn(&'r RefreshTokenRecord, &'r SessionRecord) -> Decision + Send + Sync + 'a;

/// One presentation of a refresh token at the token endpoint.
#[derive(Debug, Clone)]
pub struct RefreshPresentation<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// Digest of the presented token.
    pub token_digest: &'a str,
    /// Digest of the child to insert if the decision is to rotate.
    pub child_digest: &'a str,
    /// The child sealed under a key derived from the presented token.
    pub child_sealed: &'a [u8],
    /// Now.
    pub now: i64,
    /// The audit event to record; the store sets `kind` from the decision
    /// and fills in the user and session.
    pub audit: AuditEvent,
    /// When the decision is `Rotate`
    /// ([`Presentation::rotate_guard`](holdfast_core::refresh::rotation::Presentation::rotate_guard)):
    /// a back end that can check it in the statement that rotates does the
    /// common case in one round trip.
    pub rotate_if: Option<RotateGuard<'a>>,
}

/// What a presentation came to.
// Returned once per request and matched at once: boxing would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentOutcome {
    /// No such token in this tenant.
    Unknown,
    /// The decision was applied; the records are as they were *before* it.
    Decided {
        /// What was decided and applied.
        decision: Decision,
        /// The presented token.
        token: RefreshTokenRecord,
        /// Its family.
        session: SessionRecord,
        /// The family's user, read in the same statement as the token.
        user: User,
    },
}

/// The audit `kind` recorded for each decision.
pub fn audit_kind(decision: Decision) -> &'static str {
    match decision {
        Decision::Rotate | Decision::KeepToken => "refresh",
        Decision::ReplayChild => "refresh_retry",
        Decision::Reuse => "refresh_token_reuse",
        Decision::Reject(RejectReason::RetryLimitExceeded) => "refresh_retry_limit",
        Decision::Reject(RejectReason::DpopKeyMismatch) => "refresh_dpop_key_mismatch",
        Decision::Reject(_) => "refresh_refused",
    }
}

/// An authorization code as stored (digest only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// SHA-256 digest of the code.
    pub code_digest: String,
    /// Tenant.
    pub tenant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authenticated.
    pub user_id: String,
    /// The redirect URI, when the request named one (must be repeated).
    pub redirect_uri: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Resource indicator.
    pub resource: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication context class.
    pub acr: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Issue time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was redeemed.
    pub consumed_at: Option<i64>,
    /// The session created by redeeming it.
    pub session_id: Option<String>,
    /// The `jti` of the access token issued by redeeming it.
    pub access_jti: Option<String>,
    /// That access token's expiry.
    pub access_exp: Option<i64>,
    /// The DPoP key the authorization request pre-bound (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// Digest of the browser (SSO) session the code was issued under, if
    /// any; the session made by redeeming the code inherits it.
    pub browser_session: Option<String>,
}

/// What redeeming a code issues, recorded on the code so a replay can
/// revoke it (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeIssuance {
    /// The access token's `jti`.
    pub access_jti: String,
    /// Its expiry.
    pub access_exp: i64,
    /// The session (`sid`) the tokens belong to.
    pub session: SessionRecord,
    /// Digest of the first refresh token, when one is issued.
    pub refresh_token_digest: Option<String>,
}

/// The outcome of [`GrantStore::redeem_auth_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now consumed and the issuance recorded.
    Redeemed,
    /// The code had been redeemed before; what it issued is now revoked.
    Replayed,
    /// No such code.
    Unknown,
}

/// Authorization codes, sessions, refresh tokens and revoked access tokens.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new authorization code.
    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;
    /// The code with this digest in this tenant, consumed or not.
    async fn auth_code(
        &self,
        tenant_id: &str,
        code_digest: &str,
    ) -> StoreResult<Option<AuthCodeRecord>>;
    /// In one transaction: if the code is unconsumed, consume it, record
    /// `issued` on it and create the session and first refresh token;
    /// if it was consumed before, revoke the session and access token it
    /// issued (reason `code_replay`).
    async fn redeem_auth_code(
        &self,
        tenant_id: &str,
        code_digest: &str,
        issued: &CodeIssuance,
        now: i64,
    ) -> StoreResult<Redemption>;
    /// Revokes the session and access token a consumed code issued
    /// (reason `code_replay`); does nothing for an unconsumed or unknown code.
    async fn revoke_code_issuance(
        &self,
        tenant_id: &str,
        code_digest: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// A refresh token and its session.
    async fn refresh_token(
        &self,
        tenant_id: &str,
        token_digest: &str,
    ) -> StoreResult<Option<(RefreshTokenRecord, SessionRecord)>>;
    /// Presents a refresh token: reads the token, its session and its user,
    /// asks `decide`, applies the decision (rotate: token `rotated` with the
    /// sealed child, child inserted, session touched and its newest
    /// generation advanced, which makes the token's parent `spent`;
    /// replay: retry counted; reuse: family revoked) and records the audit
    /// event, atomically. A thousand concurrent presentations of one token
    /// yield one `Rotate`.
    ///
    /// With `presentation.rotate_if`, a back end may first try the common
    /// case in one statement that rotates only if the guard holds on the
    /// rows it changes (PostgreSQL). When it rotates nothing, the token is
    /// read and decided with the family locked, as without a guard. So
    /// `rotate_if` must admit exactly what `decide` rotates.
    async fn present_refresh_token(
        &self,
        presentation: &RefreshPresentation<'_>,
        decide: &Decide<'_>,
    ) -> StoreResult<PresentOutcome>;
    /// A session by id.
    async fn session(
        &self,
        tenant_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Revokes a session and all its refresh tokens (idempotent; the first
    /// reason wins), recording `audit` in the same transaction: either both
    /// happen or neither.
    async fn revoke_session(
        &self,
        tenant_id: &str,
        session_id: &str,
        reason: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// The user's sessions that are neither revoked nor past their absolute
    /// lifetime at `now`, most recently used first. (Idle expiry depends on
    /// the client's policy; callers filter it.)
    async fn list_sessions(
        &self,
        tenant_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Revokes every live session of the user except `except`, recording
    /// `audit` in the same transaction; returns how many.
    async fn revoke_user_sessions(
        &self,
        tenant_id: &str,
        user_id: &str,
        except: Option<&str>,
        reason: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<u64>;
    /// Records a DPoP proof's `jti` for key `jkt` until `expires_at`;
    /// `false` if it was recorded before (a replay). Expired records are
    /// cleared along the way.
    async fn record_dpop_proof(
        &self,
        tenant_id: &str,
        jkt: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool>;
    /// Records an access token as revoked until it expires, and `audit` in
    /// the same transaction.
    async fn revoke_access_token(
        &self,
        tenant_id: &str,
        jti: &str,
        expires_at: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// What the store knows against an access token, read in one query:
    /// whether its `jti` was revoked and, for a token of a user's session
    /// (`session`: its `sid` and the user's id), whether both still stand.
    async fn access_token_standing(
        &self,
        tenant_id: &str,
        jti: &str,
        session: Option<(&str, &str)>,
    ) -> StoreResult<AccessTokenStanding>;
}

/// What [`GrantStore::access_token_standing`] found. Without a session to
/// ask about, the session and user facts are vacuously `true` / `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenStanding {
    /// The token's `jti` was revoked (RFC 7009).
    pub jti_revoked: bool,
    /// The session exists and is not revoked.
    pub session_live: bool,
    /// The user exists.
    pub user_exists: bool,
    /// The user's "not before" stamp: tokens issued before it are dead.
    pub user_not_before: Option<i64>,
}

/// A browser session at the authorization server (single sign-on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSessionRecord {
    /// SHA-256 digest of the cookie value.
    pub id_digest: String,
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Creation.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Browser (SSO) sessions.
#[async_trait]
pub trait BrowserSessionStore: Send + Sync {
    /// Stores a new browser session.
    async fn insert_browser_session(&self, session: &BrowserSessionRecord) -> StoreResult<()>;
    /// The browser session with this digest, if any (expired ones included:
    /// the caller compares with its clock).
    async fn browser_session(
        &self,
        tenant_id: &str,
        id_digest: &str,
    ) -> StoreResult<Option<BrowserSessionRecord>>;
    /// Deletes a browser session (sign-out).
    async fn delete_browser_session(&self, tenant_id: &str, id_digest: &str) -> StoreResult<()>;
}

/// What one attempt to present a guessable secret is counted under: digests
/// (the server's `service::throttle` makes them), never names or addresses
/// in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKeys {
    /// The (account, address) counter.
    pub pair: String,
    /// The account counter, where there is one (passwords; not client secrets).
    pub account: Option<String>,
    /// The address counter.
    pub address: String,
}

/// Failed-attempt counters for throttling secret guessing (DESIGN.md §8),
/// shared by every node on the database.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The counters of `keys` as they stand (absent ones count nothing),
    /// read without a lock: a cheap first look, so a flood that is refused
    /// anyway writes nothing.
    async fn throttle_counters(
        &self,
        tenant_id: &str,
        keys: &ThrottleKeys,
    ) -> StoreResult<Counters>;
    /// Counts one attempt *before* its secret is checked, atomically: reads
    /// the counters under the write lock, applies
    /// [`holdfast_core::throttle::reserve`], writes its counters back and, on
    /// a counter's first refusal in its window, records `audit` (its
    /// `reason` set to the refusing counter), all in one transaction.
    /// Concurrent reservations are serialised, so none slips past a limit.
    async fn reserve_attempt(
        &self,
        tenant_id: &str,
        keys: &ThrottleKeys,
        policy: &ThrottlePolicy,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<Verdict>;
    /// After a successful attempt that [`Self::reserve_attempt`] allowed:
    /// applies [`holdfast_core::throttle::succeeded`] in one transaction.
    async fn attempt_succeeded(
        &self,
        tenant_id: &str,
        keys: &ThrottleKeys,
        now: i64,
    ) -> StoreResult<()>;
    /// The tenant's own limits, if it set any.
    async fn tenant_throttle_policy(&self, tenant_id: &str) -> StoreResult<Option<ThrottlePolicy>>;
    /// Sets (or, with `None`, removes) the tenant's own limits.
    /// `NotFound("tenant")` if there is no such tenant.
    async fn set_tenant_throttle_policy(
        &self,
        tenant_id: &str,
        policy: Option<&ThrottlePolicy>,
    ) -> StoreResult<()>;
}

/// Everything a Holdfast node needs from its store.
pub trait Store:
    TenantStore
    + ClientStore
    + UserStore
    + KeyStore
    + MetaStore
    + GrantStore
    + BrowserSessionStore
    + AuditStore
    + ThrottleStore
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
