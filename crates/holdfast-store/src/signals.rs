//! The security-event outbox, Shared Signals streams and back-channel
//! logout deliveries: the [`SignalStore`] capability (SQL in
//! `sql/signals.rs`; the events themselves are written by the revoking
//! statements, in their transaction, through `sql/tx.rs`).
//!
//! Every stream gets its own queue row per event (`ssf_pending`), written
//! in the revoking transaction, so a stream receives each event committed
//! after it was created whatever order concurrent transactions commit in,
//! and an event leaves a stream's queue only when the receiver acknowledged
//! it (poll, RFC 8936 §2.4) or accepted it (push, RFC 8935 §2.2).

use async_trait::async_trait;
use holdfast_core::signals::{Signal, SignalKind, StreamStatus};

use crate::StoreResult;

/// An SSF stream (SSF §8.1.1) of one receiver, a client of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// `stream_id`.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The receiver: the client whose token manages the stream; the SETs'
    /// `aud`.
    pub client_id: String,
    /// `delivery.method`: RFC 8936 poll or RFC 8935 push URN.
    pub delivery_method: String,
    /// Push: the receiver's endpoint.
    pub push_endpoint: Option<String>,
    /// Push: the `Authorization` header value to send it.
    pub push_authorization: Option<String>,
    /// `events_requested`, as the receiver sent them.
    pub events_requested: Vec<String>,
    /// `events_delivered`: the supported kinds among them.
    pub events_delivered: Vec<SignalKind>,
    /// `description`.
    pub description: Option<String>,
    /// SSF §8.1.2 status.
    pub status: StreamStatus,
    /// Why the status was last set.
    pub status_reason: Option<String>,
    /// Creation.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// An event due to be pushed to a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePush {
    /// The stream.
    pub stream: StreamRecord,
    /// The event.
    pub signal: Signal,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// A logout token due to be sent (OIDC Back-Channel Logout 1.0 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueLogout {
    /// The logout token's `jti`.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The client, the token's `aud`.
    pub client_id: String,
    /// Its `backchannel_logout_uri` now.
    pub uri: String,
    /// `sub`.
    pub user_id: String,
    /// `sid`.
    pub session_id: Option<String>,
    /// When the session ended.
    pub at: i64,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// The outbox and its deliveries.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Creates a stream. It receives the events committed from now on.
    async fn create_stream(&self, stream: &StreamRecord) -> StoreResult<()>;
    /// A stream of the tenant, if any.
    async fn stream(&self, tenant_id: &str, stream_id: &str) -> StoreResult<Option<StreamRecord>>;
    /// The client's streams, oldest first.
    async fn streams_of_client(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Vec<StreamRecord>>;
    /// Stores the stream's configuration and status as given. If the status
    /// became `disabled`, its queue is emptied (SSF §8.1.2: a disabled stream
    /// does not hold events); `announce`, if given, is queued to this stream
    /// alone (stream-updated, §8.1.5). `NotFound("stream")` if absent.
    async fn update_stream(
        &self,
        stream: &StreamRecord,
        announce: Option<&Signal>,
    ) -> StoreResult<()>;
    /// Deletes a stream and its queue; `false` if there was none.
    async fn delete_stream(&self, tenant_id: &str, stream_id: &str) -> StoreResult<bool>;
    /// Writes `signal` to the outbox for this stream alone (verification,
    /// SSF §8.1.4).
    async fn emit_to_stream(
        &self,
        tenant_id: &str,
        stream_id: &str,
        signal: &Signal,
    ) -> StoreResult<()>;
    /// Writes `signal` to the outbox for every stream delivering its kind
    /// (an event no other statement writes, such as credential-change).
    async fn emit_signal(&self, tenant_id: &str, signal: &Signal) -> StoreResult<()>;
    /// One poll (RFC 8936 §2.4), in one transaction: removes the `ack`ed
    /// events from the stream's queue, then returns up to `limit` queued
    /// events not handed out since `now` (oldest first), marking them handed
    /// out until `redeliver_at`, and whether more are waiting.
    async fn poll_signals(
        &self,
        stream_id: &str,
        ack: &[String],
        limit: i64,
        now: i64,
        redeliver_at: i64,
    ) -> StoreResult<(Vec<Signal>, bool)>;
    /// Whether the stream has events due at `now` (a read, for waiting
    /// polls).
    async fn has_due_signals(&self, stream_id: &str, now: i64) -> StoreResult<bool>;
    /// Claims up to `limit` events per enabled push stream due at `now`,
    /// oldest first, each until `claim_until` (so two nodes do not send one
    /// event at once).
    async fn due_pushes(&self, now: i64, claim_until: i64, limit: i64)
    -> StoreResult<Vec<DuePush>>;
    /// The receiver accepted the event: it leaves the stream's queue.
    async fn push_delivered(&self, stream_id: &str, event_id: &str) -> StoreResult<()>;
    /// The receiver accepted a push, so it is reachable again: the
    /// stream's events waiting out a backoff after failed pushes are due
    /// at `now`, not minutes later. The number made due.
    async fn push_receiver_reachable(&self, stream_id: &str, now: i64) -> StoreResult<u64>;
    /// Whether an event queued for the stream before `event_id` has failed
    /// to push and waits for a retry: a verification is held back behind
    /// it, so the receiver does not count itself fresh while a revocation
    /// it has not had is outstanding.
    async fn push_backlog_before(&self, stream_id: &str, event_id: &str) -> StoreResult<bool>;
    /// A push failed: try again at `next_attempt_at`.
    async fn push_failed(
        &self,
        stream_id: &str,
        event_id: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()>;
    /// Claims up to `limit` logout tokens due at `now`, each until
    /// `claim_until`.
    async fn due_logouts(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DueLogout>>;
    /// The client accepted the logout token (or it was given up on).
    async fn logout_delivered(&self, id: &str) -> StoreResult<()>;
    /// Sending failed: try again at `next_attempt_at`.
    async fn logout_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// What waits for delivery, all tenants: security events not yet
    /// delivered to (or polled by) their streams, and logout tokens not yet
    /// accepted, in that order.
    async fn delivery_backlog(&self) -> StoreResult<(crate::Backlog, crate::Backlog)>;
}
