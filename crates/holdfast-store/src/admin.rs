//! What the admin API needs beyond the other traits: conditional client
//! updates (its `ETag` / `If-Match`, RFC 9110 §13.1.1), secret rotation,
//! the audit log with filters and a cursor, user search, and the
//! administration tenant's grants.

use async_trait::async_trait;
use holdfast_core::client::NewClient;

use crate::{AuditEvent, ClientRecord, StoreResult, UserRecord};

/// Which audit events to read: every filter is optional; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events of this kind (`login_failed`, `client_admin`, …).
    pub kind: Option<String>,
    /// Only events about this user (id).
    pub user_id: Option<String>,
    /// Only events about this client (`client_id`).
    pub client_id: Option<String>,
    /// Only events at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only events before this time (Unix seconds).
    pub until: Option<i64>,
    /// The cursor: only events older than the one with this id (ids are
    /// UUIDv7, so they sort by time).
    pub before_id: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// The admin API's store operations.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Replaces every setting of the client with `client` (its
    /// `client_id` and kind stay), bumping its version, and records
    /// `audit`, in one transaction. With `expected_version`, only if the
    /// stored version is that one: `Stale("client")` otherwise.
    /// `NotFound("client")` if absent. The client as now stored.
    async fn update_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        client: &NewClient,
        expected_version: Option<i64>,
        audit: &AuditEvent,
    ) -> StoreResult<ClientRecord>;
    /// Replaces a confidential client's secret digest (the old secret stops
    /// working at once), bumping its version, with `audit`, in one
    /// transaction. `NotFound("client")` if absent.
    async fn set_client_secret(
        &self,
        tenant_id: &str,
        client_id: &str,
        secret_digest: &str,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// The tenant's settings version (its `ETag`), if the tenant exists.
    async fn tenant_version(&self, tenant_id: &str) -> StoreResult<Option<i64>>;
    /// The tenant's audit events matching `query`, newest first.
    async fn query_events(
        &self,
        tenant_id: &str,
        query: &EventQuery,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// The tenant's users whose username or email contains `text`
    /// (case-insensitive), by username, after the normalized username
    /// `after`, at most `limit`.
    async fn search_users(
        &self,
        tenant_id: &str,
        text: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>>;
    /// The admin scopes granted to a user of the administration tenant.
    async fn admin_grants(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// Grants an admin scope to a user (idempotent).
    async fn grant_admin(&self, user_id: &str, scope: &str) -> StoreResult<()>;
}
