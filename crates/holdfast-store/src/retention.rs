//! Retention: deleting what can no longer matter (the rule is
//! `holdfast_core::retention`), and the lease that makes one node at a time
//! do it: the [`RetentionStore`] capability (SQL in `sql/retention.rs`).

use async_trait::async_trait;
use holdfast_core::retention::Cutoffs;

use crate::StoreResult;

/// How many rows one sweep step deleted, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Sessions (families) past their absolute lifetime or revoked.
    pub sessions: u64,
    /// Their refresh tokens.
    pub refresh_tokens: u64,
    /// Authorization codes: expired unconsumed ones, and consumed ones with
    /// their session; and expired device authorization requests (RFC 8628).
    pub auth_codes: u64,
    /// Records of revoked access tokens past their `exp`.
    pub revoked_access_tokens: u64,
    /// DPoP proof `jti`s past their replay window.
    pub dpop_proofs: u64,
    /// Expired browser (SSO) sessions.
    pub browser_sessions: u64,
    /// Audit events past the retention.
    pub audit_events: u64,
    /// Security events past the signal retention (with their queue
    /// entries), and logout deliveries as old.
    pub security_events: u64,
    /// Mail sent longer ago than the signal retention (unsent mail stays).
    pub sent_mail: u64,
}

impl Swept {
    /// Each kind with its count, for logs and metrics.
    pub fn by_kind(&self) -> [(&'static str, u64); 9] {
        [
            ("sessions", self.sessions),
            ("refresh_tokens", self.refresh_tokens),
            ("auth_codes", self.auth_codes),
            ("revoked_access_tokens", self.revoked_access_tokens),
            ("dpop_proofs", self.dpop_proofs),
            ("browser_sessions", self.browser_sessions),
            ("audit_events", self.audit_events),
            ("security_events", self.security_events),
            ("sent_mail", self.sent_mail),
        ]
    }

    /// All rows deleted.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }

    /// Whether a step of `batch` rows per kind that deleted this left
    /// nothing behind (it deleted fewer than `batch` of every kind).
    pub fn left_nothing(&self, batch: i64) -> bool {
        self.by_kind()
            .iter()
            .all(|(_, n)| i64::try_from(*n).unwrap_or(i64::MAX) < batch)
    }

    /// Adds another step's counts.
    pub fn add(&mut self, other: &Swept) {
        self.sessions += other.sessions;
        self.refresh_tokens += other.refresh_tokens;
        self.auth_codes += other.auth_codes;
        self.revoked_access_tokens += other.revoked_access_tokens;
        self.dpop_proofs += other.dpop_proofs;
        self.browser_sessions += other.browser_sessions;
        self.audit_events += other.audit_events;
        self.security_events += other.security_events;
        self.sent_mail += other.sent_mail;
    }
}

/// Retention sweeps.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `until`, unless
    /// another holder's lease runs past `now`; `true` if `holder` holds it
    /// now. One statement, so two nodes asking at once cannot both win.
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64)
    -> StoreResult<bool>;
    /// The longest access-token lifetime of any client, seconds (0 without
    /// clients).
    async fn longest_access_token_ttl(&self) -> StoreResult<i64>;
    /// One step of a sweep: deletes at most `batch` rows of each kind (for
    /// sessions, `batch` past their lifetime and `batch` revoked, each with
    /// its refresh tokens and code), each kind in a short transaction of
    /// its own. A step that deletes fewer than `batch` of every kind has
    /// left nothing behind.
    async fn sweep_step(&self, cutoffs: &Cutoffs, batch: i64) -> StoreResult<Swept>;
}
