//! The audit trail: the [`AuditStore`] capability (SQL in `sql/audit.rs`).

use async_trait::async_trait;

use crate::StoreResult;

/// A security-relevant event (docs/design.md §8).
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
    /// Who made an administrative change (`cli:{os user}`, `user:{sub}`,
    /// `client:{client_id}`); `None` for what people and clients do
    /// themselves.
    pub actor: Option<String>,
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
