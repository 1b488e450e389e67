//! Failed-attempt counters: the [`ThrottleStore`] capability (SQL in
//! `sql/throttle.rs`).

use async_trait::async_trait;
use holdfast_core::throttle::{Counters, ThrottlePolicy, Verdict};

use crate::{AuditEvent, StoreResult};

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

/// Failed-attempt counters for throttling secret guessing (docs/design.md §8),
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
    /// Sets (or, with `None`, removes) the tenant's own limits, with
    /// `audit`, in one transaction; bumps the tenant's settings version
    /// (its `ETag`) and returns the new one. With `expected_version`, only
    /// if the version is still that (`Stale` otherwise).
    /// `NotFound("tenant")` if there is no such tenant.
    async fn set_tenant_throttle_policy(
        &self,
        tenant_id: &str,
        expected_version: Option<i64>,
        policy: Option<&ThrottlePolicy>,
        audit: &AuditEvent,
    ) -> StoreResult<i64>;
}
