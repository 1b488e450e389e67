//! Server-provided DPoP nonces, [RFC 9449 §8](https://www.rfc-editor.org/rfc/rfc9449#section-8)
//! (authorization server) and [§9](https://www.rfc-editor.org/rfc/rfc9449#section-9)
//! (resource server), written once and stateless: a nonce is a time slot
//! and an HMAC of it, so every node or replica holding the same secret
//! accepts every other one's nonces, and nothing is stored.
//!
//! Format: `{slot}.{base64url(HMAC-SHA256(secret, slot as 8 big-endian bytes)[..18])}`
//! with `slot = floor(now / slot_length)`. Nonces of the current and the
//! previous slot are accepted, so a nonce lives between one and two slot
//! lengths. The Holdfast server uses 60 s slots under a per-tenant secret
//! derived from its KEK; `holdfast-verify` lets the application choose.
//!
//! Not supported: nonces bound to one client or key; revoking a nonce
//! before its slot ends (rotate the secret instead).

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_crypto::secret::constant_time_eq;

/// A source of DPoP nonces. When a server requires nonces, every proof
/// must carry one this accepts; a proof without one is answered with
/// `use_dpop_nonce` and a fresh `DPoP-Nonce` header.
pub trait DpopNonces: Send + Sync + 'static {
    /// The nonce to hand out now.
    fn current(&self, now: i64) -> String;
    /// Whether `nonce` is accepted now.
    fn accepts(&self, nonce: &str, now: i64) -> bool;
}

/// Stateless HMAC nonces (see the module docs for the format).
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
    /// replicas) with slots of `slot` (e.g. 1 or 5 minutes; at least 1 s).
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
        constant_time_eq(self.for_slot(slot).as_bytes(), nonce.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn rfc9449_s8_nonce_format_is_slot_dot_truncated_hmac_of_the_slot() {
        // Nonces issued before this crate existed (the server's own code:
        // HMAC-SHA256 of the big-endian slot, first 18 bytes) stay valid.
        let secret = [3u8; 32];
        let nonces = HmacNonces::new(&secret, Duration::from_secs(60));
        let slot: i64 = 1_700_000_000 / 60;
        let mac = holdfast_crypto::secret::hmac_sha256(&secret, &slot.to_be_bytes());
        let expected = format!("{slot}.{}", URL_SAFE_NO_PAD.encode(&mac[..18]));
        assert_eq!(nonces.current(1_700_000_000), expected);
        assert!(nonces.accepts(&expected, 1_700_000_000 + 60));
        assert!(!nonces.accepts(&expected, 1_700_000_000 + 120));
    }
}
