//! End users: the [`UserStore`] capability (SQL in `sql/users.rs`).

use async_trait::async_trait;
use holdfast_core::user::{User, Username};

use crate::{AuditEvent, StoreResult};

/// A user with the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Tokens issued before this time (Unix seconds) are no longer valid.
    pub not_before: Option<i64>,
    /// When the user was disabled, if they are: they cannot sign in.
    pub disabled_at: Option<i64>,
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
    /// The tenant's users by username, at most `limit`, starting after the
    /// normalized username `after` (for paging).
    async fn list_users(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Sets the user's "not before" stamp and, in the same transaction,
    /// revokes the sessions and ends the browser (SSO) sessions begun before
    /// it. `NotFound("user")` if absent.
    async fn set_user_not_before(&self, tenant_id: &str, id: &str, at: i64) -> StoreResult<()>;
    /// Disables the user at `at` (they cannot sign in) or, with `None`,
    /// enables them again. Disabling stamps "not before" `at` like
    /// [`UserStore::set_user_not_before`] but ends every session, and
    /// writes RISC account-disabled; `audit` is recorded in the same
    /// transaction. `NotFound("user")` if absent.
    async fn set_user_disabled(
        &self,
        tenant_id: &str,
        id: &str,
        at: Option<i64>,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Deletes the user: ends every session (with their events and logout
    /// deliveries), ends browser sessions, writes RISC account-purged and
    /// records `audit`, in one transaction. `NotFound("user")` if absent.
    async fn delete_user(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Sets a new password hash and stamps "not before" `now` (sessions
    /// begun before end), writing CAEP credential-change (`password`,
    /// `update`) and RISC sessions-revoked, and `audit`, in one
    /// transaction. `NotFound("user")` if absent.
    async fn set_user_password(
        &self,
        tenant_id: &str,
        id: &str,
        password_hash: &str,
        now: i64,
        audit: &AuditEvent,
        notice: Option<&crate::OutgoingMail>,
    ) -> StoreResult<()>;
}
