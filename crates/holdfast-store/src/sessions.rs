//! Sessions (the families of refresh tokens, one per sign-in on a device)
//! and browser (SSO) sessions: the [`SessionStore`] and
//! [`BrowserSessionStore`] capabilities (SQL in `sql/sessions.rs`).

use async_trait::async_trait;
use holdfast_core::refresh::rotation::{Family, FamilyView};

use crate::{AuditEvent, StoreResult};

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

impl SessionRecord {
    /// The family as a presentation checks it.
    pub fn family(&self) -> Family<'_> {
        Family {
            client_id: &self.client_id,
            dpop_jkt: self.dpop_jkt.as_deref(),
            scope: &self.scope,
            resource: self.resource.as_deref(),
            view: FamilyView {
                revoked: self.revoked_at.is_some(),
                created_at: self.created_at,
                last_used_at: self.last_used_at,
            },
        }
    }
}

/// Sessions: reading, listing and revoking them.
#[async_trait]
pub trait SessionStore: Send + Sync {
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
    /// A step-up: the live browser session's `auth_time` and `amr` become
    /// these (the same session, stronger); `false` when it is gone.
    async fn raise_browser_session(
        &self,
        tenant_id: &str,
        id_digest: &str,
        auth_time: i64,
        amr: &[String],
    ) -> StoreResult<bool>;
}
