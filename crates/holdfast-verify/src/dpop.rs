//! DPoP at the resource server: the state that the pure proof checker
//! ([`holdfast_crypto::dpop`]) leaves to its caller.
//!
//! - [`ReplayCache`]: RFC 9449 §11.1, "the server MUST ensure that the
//!   same proof is not used more than once" within the `iat` window. In
//!   memory, per process, bounded.
//! - [`DpopNonces`] and [`HmacNonces`]: resource-server-provided nonces
//!   (RFC 9449 §9), stateless so that every replica accepts every other
//!   replica's nonces.
//!
//! Not supported: a replay cache shared between processes (each replica of
//! a resource server keeps its own; a proof is also bound by `htu` to one
//! resource and by `iat` to a short window).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
/// An entry lives `2 × iat_window` from when it was recorded: a proof is
/// accepted while `|now − iat| ≤ window`, so it is replayable until
/// `iat + window ≤ recorded + 2 × window`. Entries are SHA-256 digests
/// (first 16 bytes) of the pair, so memory is ~64 bytes per entry whatever
/// the client sends.
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
        let window = i64::try_from(iat_window.as_secs()).unwrap_or(i64::MAX / 4);
        Self {
            ttl: window.saturating_mul(2).max(1),
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

/// Resource-server DPoP nonces (RFC 9449 §9). When configured, every proof
/// must carry a nonce this accepts; a proof without one is answered with
/// `401`, `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a fresh
/// `DPoP-Nonce`.
pub trait DpopNonces: Send + Sync + 'static {
    /// The nonce to hand out now.
    fn current(&self, now: i64) -> String;
    /// Whether `nonce` is accepted now.
    fn accepts(&self, nonce: &str, now: i64) -> bool;
}

/// Stateless nonces: `slot.HMAC-SHA256(secret, slot)` (truncated, base64url),
/// where `slot = now / slot_length`; the current and the previous slot are
/// accepted, so a nonce lives between one and two slot lengths. Any replica
/// holding the same secret accepts it.
pub struct HmacNonces {
    key: hmac::Key,
    slot_secs: i64,
}

impl fmt::Debug for HmacNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacNonces")
            .field("slot_secs", &self.slot_secs)
            .finish_non_exhaustive()
    }
}

impl HmacNonces {
    /// Nonces under `secret` (at least 32 random bytes; share it between
    /// replicas) with slots of `slot` (e.g. 5 minutes).
    pub fn new(secret: &[u8], slot: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            slot_secs: i64::try_from(slot.as_secs()).unwrap_or(i64::MAX).max(1),
        }
    }

    /// Nonces under a fresh random secret: fine for a single replica.
    pub fn random(slot: Duration) -> Result<Self, holdfast_crypto::CryptoError> {
        let mut secret = [0u8; 32];
        holdfast_crypto::secret::random_bytes(&mut secret)?;
        Ok(Self::new(&secret, slot))
    }

    fn for_slot(&self, slot: i64) -> String {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        format!("{slot}.{}", URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18]))
    }
}

impl DpopNonces for HmacNonces {
    fn current(&self, now: i64) -> String {
        self.for_slot(now.div_euclid(self.slot_secs))
    }

    fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Some((slot, _)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(slot) = slot.parse::<i64>() else {
            return false;
        };
        let current = now.div_euclid(self.slot_secs);
        if slot != current && slot != current - 1 {
            return false;
        }
        holdfast_crypto::secret::constant_time_eq(self.for_slot(slot).as_bytes(), nonce.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn rfc9449_s9_nonces_of_this_and_the_previous_slot_are_accepted() {
        let nonces = HmacNonces::new(&[7; 32], Duration::from_secs(300));
        let n = nonces.current(1000);
        assert!(nonces.accepts(&n, 1000));
        assert!(nonces.accepts(&n, 1000 + 300));
        assert!(!nonces.accepts(&n, 1000 + 600));
        let other = HmacNonces::new(&[8; 32], Duration::from_secs(300));
        assert!(!other.accepts(&n, 1000));
        assert!(!nonces.accepts("3.AAAA", 1000));
        assert!(!nonces.accepts("garbage", 1000));
    }
}
