//! The replay rule of [RFC 9449 §11.1](https://www.rfc-editor.org/rfc/rfc9449#section-11.1):
//! "the server MUST ensure that the same proof is not used more than once"
//! while its `iat` is acceptable, i.e. a proof's `(jkt, jti)` must be
//! remembered for as long as `|now − iat| ≤ window` can still hold.
//!
//! - [`remember_until`]: the exact rule, `iat + window`: what the Holdfast
//!   server stores with each proof (`record_dpop_proof`), shared by all
//!   nodes through the database.
//! - [`retention_after_recording`]: a bound that needs no `iat`, `2 × window`
//!   from when the proof was seen (an accepted `iat` is at most `now +
//!   window`): what [`ReplayCache`] uses, so its entries expire in insertion
//!   order.
//! - [`ReplayCache`]: the in-memory, per-process, bounded cache of
//!   `holdfast-verify`.
//!
//! Not supported: a replay cache shared between processes of a resource
//! server (each replica keeps its own; a proof is also bound by `htu` to
//! one resource and by `iat` to a short window).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::digest;

fn window_secs(iat_window: Duration) -> i64 {
    i64::try_from(iat_window.as_secs()).unwrap_or(i64::MAX / 4)
}

/// Until when (Unix seconds) a proof made at `iat` must be remembered:
/// after `iat + window` it is refused as too old anyway (§4.3 step 11).
pub fn remember_until(iat: i64, iat_window: Duration) -> i64 {
    iat.saturating_add(window_secs(iat_window))
}

/// How long after it is first seen a proof must be remembered when its
/// `iat` is not looked at: `2 × window` (at least 1 s), since an accepted
/// proof has `iat ≤ now + window`.
pub fn retention_after_recording(iat_window: Duration) -> i64 {
    window_secs(iat_window).saturating_mul(2).max(1)
}

/// Why the replay cache refused a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// This `jti` (for this key) was seen within the window.
    Replayed,
    /// The cache is full of unexpired entries; refusing is the safe answer.
    Full,
}

/// Remembers `(jkt, jti)` pairs until they can no longer be replayed.
///
/// An entry lives [`retention_after_recording`] from when it was recorded.
/// Entries are SHA-256 digests (first 16 bytes) of the pair, so memory is
/// ~64 bytes per entry whatever the client sends.
pub struct ReplayCache {
    ttl: i64,
    capacity: usize,
    inner: Mutex<ReplayInner>,
}

#[derive(Default)]
struct ReplayInner {
    seen: HashSet<[u8; 16]>,
    /// Insertion order = expiry order (the TTL is constant).
    order: VecDeque<([u8; 16], i64)>,
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayCache {
    /// A cache for proofs accepted within `iat_window`, holding at most
    /// `capacity` entries.
    pub fn new(iat_window: Duration, capacity: usize) -> Self {
        Self {
            ttl: retention_after_recording(iat_window),
            capacity: capacity.max(1),
            inner: Mutex::new(ReplayInner::default()),
        }
    }

    /// Records the pair, or says it was seen (or that there is no room).
    pub fn check_and_insert(&self, jkt: &str, jti: &str, now: i64) -> Result<(), ReplayError> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(jkt.as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        let full = ctx.finish();
        let mut id = [0u8; 16];
        id.copy_from_slice(&full.as_ref()[..16]);

        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            // Entries are inserted into both collections before anything can
            // panic; a poisoned cache is still consistent.
            Err(poisoned) => poisoned.into_inner(),
        };
        while inner.order.front().is_some_and(|(_, exp)| *exp <= now) {
            if let Some((old, _)) = inner.order.pop_front() {
                inner.seen.remove(&old);
            }
        }
        if inner.seen.contains(&id) {
            return Err(ReplayError::Replayed);
        }
        if inner.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        inner.seen.insert(id);
        inner.order.push_back((id, now.saturating_add(self.ttl)));
        Ok(())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.seen.len()).unwrap_or(0)
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9449_s11_1_a_proof_is_remembered_while_its_iat_is_acceptable() {
        let window = Duration::from_secs(60);
        assert_eq!(remember_until(1000, window), 1060);
        assert_eq!(retention_after_recording(window), 120);
        assert_eq!(retention_after_recording(Duration::ZERO), 1);
        // The bound is never shorter than the exact rule for an accepted
        // proof (iat ≤ now + window).
        let now = 5000;
        assert!(remember_until(now + 60, window) <= now + retention_after_recording(window));
    }

    #[test]
    fn rfc9449_s11_1_replayed_jti_is_refused_until_it_expires() {
        let cache = ReplayCache::new(Duration::from_secs(60), 10);
        assert_eq!(cache.check_and_insert("k", "j1", 1000), Ok(()));
        assert_eq!(
            cache.check_and_insert("k", "j1", 1119),
            Err(ReplayError::Replayed)
        );
        // Another key may use the same jti.
        assert_eq!(cache.check_and_insert("k2", "j1", 1000), Ok(()));
        // After 2 × window the entry is gone (the proof's iat is out of
        // window by then anyway).
        assert_eq!(cache.check_and_insert("k", "j1", 1120), Ok(()));
    }

    #[test]
    fn replay_cache_is_bounded_and_fails_closed() {
        let cache = ReplayCache::new(Duration::from_secs(60), 2);
        cache.check_and_insert("k", "a", 0).unwrap();
        cache.check_and_insert("k", "b", 0).unwrap();
        assert_eq!(cache.check_and_insert("k", "c", 1), Err(ReplayError::Full));
        // Expired entries make room.
        assert_eq!(cache.check_and_insert("k", "c", 120), Ok(()));
        assert_eq!(cache.len(), 1);
    }
}
