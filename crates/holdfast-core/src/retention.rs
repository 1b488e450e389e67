//! Retention: what the store may forget, and when (issue 12 §6).
//!
//! Nothing a decision can still depend on is deleted. The rule, row by row:
//!
//! | rows | deletable once | why it can no longer matter |
//! |---|---|---|
//! | a session (family) and its refresh tokens | past its absolute lifetime, or revoked, for longer than the longest access-token lifetime | every presentation of its tokens is refused already (`FamilyAbsoluteExpired`, `FamilyRevoked`), and an access token of it checks the session's standing until it expires; once the session is gone the token is refused as well, and none is left unexpired |
//! | an authorization code | past its expiry, and unconsumed or with the session it issued gone | it can no longer be redeemed; a replay of a consumed one can only revoke what it issued (RFC 6749 §4.1.2), which is gone |
//! | a revoked access token's record | past the token's `exp` | the token is refused for its `exp` anyway |
//! | a DPoP proof's `jti` | past its replay window | its `iat` is out of the window, so the proof is refused anyway (RFC 9449 §11.1) |
//! | a browser (SSO) session | past its expiry | it is refused when read |
//! | an audit event | older than the audit retention (default 400 days) | an operator's choice: long enough for a yearly review |
//! | a security event (the outbox, docs/design.md §7) with what streams still hold of it | older than the signal retention (default 7 days) | no access token lives longer than a day, so a receiver that has not taken an event in a week can do nothing with it that its tokens still need; the audit trail keeps the revocation itself |
//!
//! The sweep that applies it runs on every node; a lease taken in the store
//! makes one node at a time do the work, and every delete is idempotent.

use serde::{Deserialize, Serialize};

/// The retention settings (`[retention]` in the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// How long audit events are kept, days.
    pub audit_days: i64,
    /// How long security events are kept for receivers that have not taken
    /// them, days.
    pub signal_days: i64,
    /// How often a node sweeps, seconds.
    pub interval_secs: i64,
    /// Rows of each kind deleted per step (sessions: each with its refresh
    /// tokens, ten or so): small transactions that never hold a lock (on
    /// SQLite, the one writer) long enough to slow a sign-in or a refresh.
    pub batch: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            audit_days: 400,
            signal_days: 7,
            interval_secs: 300,
            batch: 100,
        }
    }
}

/// Settings that would delete what must be kept, or never finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RetentionError(pub &'static str);

impl RetentionPolicy {
    /// Checks the settings: audit events are kept at least a day, and the
    /// interval and batch are positive.
    pub fn validate(&self) -> Result<(), RetentionError> {
        if self.audit_days < 1 {
            return Err(RetentionError("retention.audit_days must be at least 1"));
        }
        if self.signal_days < 1 {
            return Err(RetentionError("retention.signal_days must be at least 1"));
        }
        if self.interval_secs < 1 || self.batch < 1 {
            return Err(RetentionError(
                "retention.interval_secs and retention.batch must be positive",
            ));
        }
        Ok(())
    }

    /// The instants before which rows may go, at `now`, when the longest
    /// access-token lifetime of any client is `longest_access_token_secs`.
    pub fn cutoffs(&self, now: i64, longest_access_token_secs: i64) -> Cutoffs {
        Cutoffs {
            sessions_ended_before: now.saturating_sub(longest_access_token_secs.max(0)),
            expired_before: now,
            audit_before: now.saturating_sub(self.audit_days.saturating_mul(86_400)),
            signals_before: now.saturating_sub(self.signal_days.saturating_mul(86_400)),
        }
    }
}

/// What a sweep deletes, as instants (Unix seconds, exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sessions whose absolute lifetime ended, or that were revoked, before
    /// this instant go, with their refresh tokens.
    pub sessions_ended_before: i64,
    /// Codes, revoked-access-token records, DPoP proofs and browser
    /// sessions that expired before this instant go.
    pub expired_before: i64,
    /// Audit events recorded before this instant go.
    pub audit_before: i64,
    /// Security events written before this instant go, with their queue
    /// entries and logout deliveries.
    pub signals_before: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stays_while_an_access_token_of_it_may_be_unexpired() {
        let cut = RetentionPolicy::default().cutoffs(10_000, 900);
        assert_eq!(cut.sessions_ended_before, 9_100);
        assert_eq!(cut.expired_before, 10_000);
    }

    #[test]
    fn audit_events_are_kept_400_days_by_default() {
        let now = 500 * 86_400;
        let cut = RetentionPolicy::default().cutoffs(now, 0);
        assert_eq!(cut.audit_before, 100 * 86_400);
        assert_eq!(cut.signals_before, 493 * 86_400);
    }

    #[test]
    fn settings_that_would_delete_at_once_or_never_run_are_refused() {
        let bad = [
            RetentionPolicy {
                audit_days: 0,
                ..RetentionPolicy::default()
            },
            RetentionPolicy {
                signal_days: 0,
                ..RetentionPolicy::default()
            },
            RetentionPolicy {
                interval_secs: 0,
                ..RetentionPolicy::default()
            },
            RetentionPolicy {
                batch: 0,
                ..RetentionPolicy::default()
            },
        ];
        for policy in bad {
            assert!(policy.validate().is_err(), "{policy:?}");
        }
        assert_eq!(RetentionPolicy::default().validate(), Ok(()));
    }

    #[test]
    fn cutoffs_never_overflow() {
        let cut = RetentionPolicy {
            audit_days: i64::MAX,
            ..RetentionPolicy::default()
        }
        .cutoffs(i64::MIN + 1, i64::MAX);
        assert!(cut.audit_before <= cut.expired_before);
        assert!(cut.sessions_ended_before <= cut.expired_before);
    }
}
