//! Self-service accounts: registration, and the single-use tokens that
//! email verification, password recovery and invitations mail out — the
//! [`AccountStore`] capability (SQL in `sql/accounts.rs`).
//!
//! Every change here happens in one transaction with the mail it causes
//! and its audit event: a sign-up exists with its verification mail queued
//! or not at all; a reset link is spent exactly when the password changes.

use async_trait::async_trait;
use holdfast_core::self_service::Purpose;
use holdfast_core::user::{User, Username};

use crate::{AuditEvent, OutgoingMail, StoreResult};

/// A mailed token as stored: digests only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTokenRecord {
    /// SHA-256 (base64url) of the link's token.
    pub digest: String,
    /// Tenant.
    pub tenant_id: String,
    /// The user it is for.
    pub user_id: String,
    /// What it is for.
    pub purpose: Purpose,
    /// The address it was sent to (for verification: the one being verified).
    pub email: String,
    /// Keyed digest of the short code, for verification.
    pub code_digest: Option<String>,
    /// Wrong codes so far.
    pub code_failures: i64,
    /// The request to resume afterwards (JSON), if any.
    pub continuation: Option<String>,
    /// Issued.
    pub created_at: i64,
    /// Expires.
    pub expires_at: i64,
    /// Spent (used, or replaced by a newer token), if it is.
    pub consumed_at: Option<i64>,
}

/// A new user as sign-up or an invitation makes them.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// User id (UUIDv7).
    pub id: &'a str,
    /// Tenant.
    pub tenant_id: &'a str,
    /// Username.
    pub username: &'a Username,
    /// Email address.
    pub email: &'a str,
    /// Display name.
    pub display_name: Option<&'a str>,
    /// Argon2id PHC string (an unusable one for an invitation).
    pub password_hash: &'a str,
    /// Now.
    pub now: i64,
}

/// What spending a token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem<'a> {
    /// The token's address becomes the user's verified email.
    VerifyEmail,
    /// The password becomes `password_hash`, the token's address counts as
    /// verified (the mail reached them), and every session begun before
    /// now ends ("not before" now, CAEP credential-change, RISC
    /// sessions-revoked).
    SetPassword {
        /// Argon2id PHC string.
        password_hash: &'a str,
    },
}

/// Self-service accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user as [`crate::UserStore::create_user`] does (same
    /// conflicts), and in the same transaction stores `token`, queues
    /// `mail` and records `audit`.
    async fn register_user(
        &self,
        account: &NewAccount<'_>,
        token: Option<&AccountTokenRecord>,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> StoreResult<User>;
    /// Stores `token`, spending the user's unspent tokens of its purpose,
    /// queues `mail` and records `audit`, in one transaction.
    async fn issue_account_token(
        &self,
        token: &AccountTokenRecord,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// The token with this digest in the tenant, spent or not.
    async fn account_token(
        &self,
        tenant_id: &str,
        digest: &str,
    ) -> StoreResult<Option<AccountTokenRecord>>;
    /// The user's newest token of `purpose`, spent or not.
    async fn newest_account_token(
        &self,
        tenant_id: &str,
        user_id: &str,
        purpose: Purpose,
    ) -> StoreResult<Option<AccountTokenRecord>>;
    /// Counts a wrong code against the token; the failures now.
    async fn account_code_failed(&self, tenant_id: &str, digest: &str) -> StoreResult<i64>;
    /// Spends the token if it is unspent and unexpired at `now` (else
    /// `NotFound("account token")`, and nothing changes), does `change`,
    /// queues `mail` and records `audit`, in one transaction; the user
    /// as they are afterwards.
    async fn redeem_account_token(
        &self,
        tenant_id: &str,
        digest: &str,
        now: i64,
        change: Redeem<'_>,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> StoreResult<User>;
    /// The users whose email is `email` (ignoring ASCII case), oldest first.
    async fn users_by_email(&self, tenant_id: &str, email: &str) -> StoreResult<Vec<User>>;
    /// Sets the user's display name, with `audit`. `NotFound("user")` if absent.
    async fn set_display_name(
        &self,
        tenant_id: &str,
        id: &str,
        display_name: Option<&str>,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
}
