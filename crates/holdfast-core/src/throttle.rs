//! Throttling of secret guessing: passwords at the hosted login and the
//! first-party challenge endpoint, client secrets at the token,
//! introspection and revocation endpoints (docs/design.md §8).
//!
//! The rule follows [OWASP ASVS 4.0.3 §2.2.1](https://github.com/OWASP/ASVS/blob/v4.0.3/4.0/en/0x11-V2-Authentication.md#v21-password-security):
//! "anti-automation controls are effective at mitigating breached
//! credential testing, brute force, and account lockout attacks ... no more
//! than 100 failed attempts per hour is possible on a single account" —
//! without letting a stranger lock a real user out. Three counters per
//! attempt, all per tenant:
//!
//! - **pair** (account, address): a tight limit (default 10 failures per
//!   15 minutes), then that address waits for the window to end. A
//!   successful login from the address clears it.
//! - **account** (all addresses): after a few failures (default 10) every
//!   further attempt must wait a doubling delay after the previous failure
//!   (1 s, 2 s, 4 s … at most 60 s), and never more than 100 failures an
//!   hour. An address that signed in to the account successfully in the last
//!   30 days is exempt from this counter (its pair counter still applies),
//!   so a flood from elsewhere cannot lock the account's owner out.
//! - **address** (all accounts): a looser limit (default 100 failures per
//!   15 minutes) against one address spraying many accounts.
//!
//! Attempts are counted *before* the secret is checked ([`reserve`]): the
//! store applies the decision atomically, so parallel requests cannot slip
//! past a limit. A successful attempt then takes its reservation back
//! ([`succeeded`]). Counters use fixed windows that start at the first
//! failure and reset when they end.
//!
//! Everything here is pure: the store reads the counters, calls these
//! functions and writes what they return.

use serde::{Deserialize, Serialize};

/// One failed-attempt counter as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Start of the current window, Unix seconds (0: never used).
    pub window_start: i64,
    /// Failures (and reservations in flight) in the current window.
    pub failures: i64,
    /// The last failure or reservation.
    pub last_failure_at: Option<i64>,
    /// The last successful attempt under this counter.
    pub last_success_at: Option<i64>,
    /// When this counter last refused an attempt (one audit event per
    /// window, not one per refused attempt).
    pub throttled_at: Option<i64>,
}

/// The counters one attempt is checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// (account, address).
    pub pair: Counter,
    /// The account from every address; `None` where there is no account
    /// counter (client secrets: a per-client lockout would let anyone stall
    /// a real client).
    pub account: Option<Counter>,
    /// The address across accounts.
    pub address: Counter,
}

/// Which counter refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The (account, address) counter.
    Pair,
    /// The account counter.
    Account,
    /// The address counter.
    Address,
}

impl Subject {
    /// For audit events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "account_and_address",
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// What a check or reservation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on and check the secret.
    Allow,
    /// Refuse without checking: HTTP 429 with `Retry-After`.
    Throttled {
        /// Seconds until an attempt may be allowed again (at least 1).
        retry_after_secs: i64,
        /// The counter that refused.
        by: Subject,
        /// The first refusal by that counter in its window (worth an audit event).
        first_in_window: bool,
    },
}

/// The limits. Every field has a default; a tenant may override any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Failures allowed per (account, address) in one window.
    pub pair_max_failures: i64,
    /// Length of the (account, address) window, seconds.
    pub pair_window_secs: i64,
    /// Failures per account (all addresses) before each further attempt
    /// waits a doubling delay.
    pub account_delay_after: i64,
    /// Longest such delay, seconds.
    pub account_max_delay_secs: i64,
    /// Failures allowed per account in one window (ASVS 2.2.1: at most 100 an hour).
    pub account_max_failures: i64,
    /// Length of the account window, seconds.
    pub account_window_secs: i64,
    /// Failures allowed per address across accounts in one window.
    pub address_max_failures: i64,
    /// Length of the address window, seconds.
    pub address_window_secs: i64,
    /// How long an address that signed in successfully stays exempt from
    /// the account counter, seconds.
    pub known_address_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            pair_max_failures: 10,
            pair_window_secs: 15 * 60,
            account_delay_after: 10,
            account_max_delay_secs: 60,
            account_max_failures: 100,
            account_window_secs: 3600,
            address_max_failures: 100,
            address_window_secs: 15 * 60,
            known_address_secs: 30 * 24 * 3600,
        }
    }
}

/// The largest count a policy may set.
pub const MAX_COUNT: i64 = 1_000_000;
/// The longest window or delay a policy may set: 366 days.
pub const MAX_SPAN_SECS: i64 = 366 * 24 * 3600;

/// Why a policy is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("throttle policy: {0}")]
pub struct PolicyError(&'static str);

impl ThrottlePolicy {
    /// Refuses limits that would make no sense (zero windows, negative
    /// counts) or break ASVS 2.2.1 (more than 100 failures per account per hour).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let positive = [
            self.pair_max_failures,
            self.pair_window_secs,
            self.account_delay_after,
            self.account_max_delay_secs,
            self.account_max_failures,
            self.account_window_secs,
            self.address_max_failures,
            self.address_window_secs,
        ];
        if positive.iter().any(|v| *v <= 0) || self.known_address_secs < 0 {
            return Err(PolicyError("limits and windows must be positive"));
        }
        let counts = [
            self.pair_max_failures,
            self.account_delay_after,
            self.account_max_failures,
            self.address_max_failures,
        ];
        let spans = [
            self.pair_window_secs,
            self.account_max_delay_secs,
            self.account_window_secs,
            self.address_window_secs,
            self.known_address_secs,
        ];
        // Bounds that keep every sum with a Unix time far from overflow.
        if counts.iter().any(|v| *v > MAX_COUNT) || spans.iter().any(|v| *v > MAX_SPAN_SECS) {
            return Err(PolicyError(
                "counts are at most 1,000,000 and windows at most 366 days",
            ));
        }
        // Scaled to an hour, the account limit must stay at or under 100.
        if self.account_max_failures * 3600 > 100 * self.account_window_secs {
            return Err(PolicyError(
                "at most 100 failed attempts per account per hour (OWASP ASVS 2.2.1)",
            ));
        }
        Ok(())
    }
}

/// The counter as it stands at `now`: a window that has ended counts nothing.
fn current(counter: Counter, window_secs: i64, now: i64) -> Counter {
    if counter.window_start + window_secs <= now {
        Counter {
            window_start: now,
            failures: 0,
            ..counter
        }
    } else {
        counter
    }
}

/// Whether the counters allow one more attempt at `now`.
pub fn check(policy: &ThrottlePolicy, counters: &Counters, now: i64) -> Verdict {
    let mut refusals: Vec<(i64, Subject, Option<i64>, i64)> = Vec::new();
    let pair = current(counters.pair, policy.pair_window_secs, now);
    if pair.failures >= policy.pair_max_failures {
        refusals.push((
            pair.window_start + policy.pair_window_secs - now,
            Subject::Pair,
            pair.throttled_at,
            pair.window_start,
        ));
    }
    let known = counters
        .pair
        .last_success_at
        .is_some_and(|at| at + policy.known_address_secs > now);
    if let Some(account) = counters.account.filter(|_| !known) {
        let account = current(account, policy.account_window_secs, now);
        if account.failures >= policy.account_max_failures {
            refusals.push((
                account.window_start + policy.account_window_secs - now,
                Subject::Account,
                account.throttled_at,
                account.window_start,
            ));
        } else if account.failures >= policy.account_delay_after {
            let doublings = (account.failures - policy.account_delay_after).min(32);
            let delay = (1i64 << doublings).min(policy.account_max_delay_secs);
            let until = account.last_failure_at.unwrap_or(now) + delay;
            if until > now {
                refusals.push((
                    until - now,
                    Subject::Account,
                    account.throttled_at,
                    account.window_start,
                ));
            }
        }
    }
    let address = current(counters.address, policy.address_window_secs, now);
    if address.failures >= policy.address_max_failures {
        refusals.push((
            address.window_start + policy.address_window_secs - now,
            Subject::Address,
            address.throttled_at,
            address.window_start,
        ));
    }
    // The longest wait is the one that matters to the caller.
    match refusals.into_iter().max_by_key(|r| r.0) {
        None => Verdict::Allow,
        Some((wait, by, throttled_at, window_start)) => Verdict::Throttled {
            retry_after_secs: wait.max(1),
            by,
            first_in_window: throttled_at.is_none_or(|at| at < window_start),
        },
    }
}

/// Counts one attempt before its secret is checked: if [`check`] allows it,
/// every counter goes up by one (a reservation a success takes back);
/// if not, nothing is counted and the refusing counter remembers the
/// refusal. Returns the verdict and the counters to store.
pub fn reserve(policy: &ThrottlePolicy, counters: &Counters, now: i64) -> (Verdict, Counters) {
    let verdict = check(policy, counters, now);
    let mut next = *counters;
    match verdict {
        Verdict::Allow => {
            let bump = |c: Counter, window: i64| {
                let c = current(c, window, now);
                Counter {
                    failures: c.failures + 1,
                    last_failure_at: Some(now),
                    ..c
                }
            };
            next.pair = bump(next.pair, policy.pair_window_secs);
            next.account = next.account.map(|a| bump(a, policy.account_window_secs));
            next.address = bump(next.address, policy.address_window_secs);
        }
        Verdict::Throttled { by, .. } => {
            let target = match by {
                Subject::Pair => Some(&mut next.pair),
                Subject::Account => next.account.as_mut(),
                Subject::Address => Some(&mut next.address),
            };
            if let Some(c) = target {
                c.throttled_at = Some(now);
            }
        }
    }
    (verdict, next)
}

/// After a successful attempt that [`reserve`] allowed: the pair counter is
/// cleared and remembers the success (which exempts the address from the
/// account counter); the account and address counters take the
/// reservation back.
pub fn succeeded(counters: &Counters, now: i64) -> Counters {
    let undo = |c: Counter| Counter {
        failures: (c.failures - 1).max(0),
        ..c
    };
    Counters {
        pair: Counter {
            failures: 0,
            last_success_at: Some(now),
            ..counters.pair
        },
        account: counters.account.map(undo),
        address: undo(counters.address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn fail(policy: &ThrottlePolicy, c: &mut Counters, now: i64) -> Verdict {
        let (v, next) = reserve(policy, c, now);
        *c = next;
        v
    }

    fn with_account() -> Counters {
        Counters {
            account: Some(Counter::default()),
            ..Counters::default()
        }
    }

    #[test]
    fn default_policy_is_valid_and_within_asvs_2_2_1() {
        ThrottlePolicy::default().validate().unwrap();
        let lax = ThrottlePolicy {
            account_max_failures: 101,
            ..ThrottlePolicy::default()
        };
        assert!(lax.validate().is_err());
        let zero = ThrottlePolicy {
            pair_window_secs: 0,
            ..ThrottlePolicy::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn limits_beyond_their_bounds_are_refused_not_overflowed() {
        for huge in [
            ThrottlePolicy {
                account_window_secs: i64::MAX,
                account_max_failures: i64::MAX / 3600 + 1,
                ..ThrottlePolicy::default()
            },
            ThrottlePolicy {
                pair_window_secs: MAX_SPAN_SECS + 1,
                ..ThrottlePolicy::default()
            },
            ThrottlePolicy {
                address_max_failures: MAX_COUNT + 1,
                ..ThrottlePolicy::default()
            },
        ] {
            assert!(huge.validate().is_err(), "{huge:?}");
        }
        ThrottlePolicy {
            account_window_secs: MAX_SPAN_SECS,
            known_address_secs: MAX_SPAN_SECS,
            ..ThrottlePolicy::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn pair_limit_refuses_the_eleventh_attempt_until_the_window_ends() {
        let p = ThrottlePolicy::default();
        let mut c = with_account();
        for i in 0..10 {
            assert_eq!(fail(&p, &mut c, T0 + i), Verdict::Allow, "attempt {i}");
        }
        match fail(&p, &mut c, T0 + 10) {
            Verdict::Throttled {
                retry_after_secs,
                by,
                first_in_window,
            } => {
                assert_eq!(by, Subject::Pair);
                assert_eq!(retry_after_secs, 900 - 10);
                assert!(first_in_window);
            }
            v => panic!("{v:?}"),
        }
        // A second refusal in the same window is not "first" any more.
        assert!(matches!(
            fail(&p, &mut c, T0 + 11),
            Verdict::Throttled {
                first_in_window: false,
                ..
            }
        ));
        // Refused attempts are not counted.
        assert_eq!(c.pair.failures, 10);
        // The pair window ends; the account delay (10 failures) still applies
        // right after a failure but not 60 s later.
        assert_eq!(fail(&p, &mut c, T0 + 900 + 60), Verdict::Allow);
    }

    #[test]
    fn asvs_2_2_1_no_more_than_100_failures_per_account_per_hour() {
        // An attacker with unlimited addresses, trying as fast as allowed.
        let p = ThrottlePolicy::default();
        let mut account = Some(Counter::default());
        let mut allowed = 0;
        for second in 0..3600 {
            let mut c = Counters {
                account,
                ..Counters::default() // a fresh address every time
            };
            if fail(&p, &mut c, T0 + second) == Verdict::Allow {
                allowed += 1;
            }
            account = c.account;
        }
        assert!(allowed <= 100, "{allowed} failures allowed in an hour");
        assert!(
            allowed >= 10,
            "the delay must not refuse the first attempts"
        );
    }

    #[test]
    fn account_delay_doubles_and_is_capped() {
        let p = ThrottlePolicy::default();
        let mut c = with_account();
        c.account = Some(Counter {
            window_start: T0,
            failures: 12,
            last_failure_at: Some(T0 + 100),
            ..Counter::default()
        });
        // 12 failures: 2^(12-10) = 4 s after the last one.
        assert!(matches!(
            check(&p, &c, T0 + 102),
            Verdict::Throttled {
                retry_after_secs: 2,
                by: Subject::Account,
                ..
            }
        ));
        assert_eq!(check(&p, &c, T0 + 104), Verdict::Allow);
        c.account = Some(Counter {
            failures: 40,
            ..c.account.unwrap_or_default()
        });
        assert!(matches!(
            check(&p, &c, T0 + 101),
            Verdict::Throttled {
                retry_after_secs: 59,
                ..
            }
        ));
    }

    #[test]
    fn an_address_that_signed_in_before_is_not_locked_out_by_a_flood_elsewhere() {
        let p = ThrottlePolicy::default();
        let flooded = Counter {
            window_start: T0,
            failures: 100,
            last_failure_at: Some(T0 + 10),
            ..Counter::default()
        };
        let stranger = Counters {
            account: Some(flooded),
            ..Counters::default()
        };
        assert!(matches!(
            check(&p, &stranger, T0 + 20),
            Verdict::Throttled {
                by: Subject::Account,
                ..
            }
        ));
        let owner = Counters {
            pair: Counter {
                last_success_at: Some(T0 - 86_400),
                ..Counter::default()
            },
            account: Some(flooded),
            ..Counters::default()
        };
        assert_eq!(check(&p, &owner, T0 + 20), Verdict::Allow);
    }

    #[test]
    fn address_limit_stops_spraying_many_accounts() {
        let p = ThrottlePolicy::default();
        let mut address = Counter::default();
        let mut allowed = 0;
        for i in 0..500 {
            let mut c = Counters {
                address,
                ..with_account() // a different account each time
            };
            if fail(&p, &mut c, T0 + i / 10) == Verdict::Allow {
                allowed += 1;
            }
            address = c.address;
        }
        assert_eq!(allowed, 100);
    }

    #[test]
    fn success_clears_the_pair_and_takes_the_reservation_back() {
        let p = ThrottlePolicy::default();
        let mut c = with_account();
        for i in 0..5 {
            fail(&p, &mut c, T0 + i);
        }
        let (v, reserved) = reserve(&p, &c, T0 + 5);
        assert_eq!(v, Verdict::Allow);
        let after = succeeded(&reserved, T0 + 5);
        assert_eq!(after.pair.failures, 0);
        assert_eq!(after.pair.last_success_at, Some(T0 + 5));
        assert_eq!(after.account.map(|a| a.failures), Some(5));
        assert_eq!(after.address.failures, 5);
    }

    #[test]
    fn without_an_account_counter_only_pair_and_address_apply() {
        let p = ThrottlePolicy::default();
        let mut c = Counters::default();
        for i in 0..10 {
            assert_eq!(fail(&p, &mut c, T0 + i), Verdict::Allow);
        }
        assert!(c.account.is_none());
        assert!(matches!(
            fail(&p, &mut c, T0 + 10),
            Verdict::Throttled {
                by: Subject::Pair,
                ..
            }
        ));
    }
}
