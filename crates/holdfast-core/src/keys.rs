//! Signing keys: algorithms and life cycle.
//!
//! A tenant holds keys of its own algorithm (which signs access tokens) and,
//! once a client asks for ID tokens signed with it, RS256 (OIDC Discovery
//! 1.0 §3: "The algorithm RS256 MUST be included" among the ID token
//! algorithms). Per algorithm, a tenant has at most one `next`, one
//! `current` and any number of `retired` keys. Rotation promotes `next` →
//! `current`, demotes the old `current` to `retired` and creates a new
//! `next`, for each algorithm the tenant holds. The JWKS (RFC 7517 §5)
//! publishes `next` (so verifiers learn it before it signs anything),
//! `current`, and every `retired` key until the last token it could have
//! signed has expired, so rotation never breaks a verifier.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// A JWS algorithm Holdfast signs with (RFC 7518 §3.4, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SigningAlg {
    /// ECDSA with P-256 and SHA-256: the default.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key (RFC 7518 §3.3):
    /// what every OpenID Connect relying party can verify.
    RS256,
}

impl SigningAlg {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }

    /// The algorithms a tenant of algorithm `self` can sign ID tokens with,
    /// its own first: its own and RS256 (OIDC Discovery 1.0 §3:
    /// `id_token_signing_alg_values_supported` "The algorithm RS256 MUST be
    /// included").
    pub fn id_token_algs(self) -> Vec<SigningAlg> {
        let mut algs = vec![self];
        if self != Self::RS256 {
            algs.push(Self::RS256);
        }
        algs
    }
}

impl FromStr for SigningAlg {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "RS256" => Ok(Self::RS256),
            other => Err(ValidationError::SigningAlg(other.to_owned())),
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a key stands in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens.
    Current,
    /// No longer signing; published until `retired_at + max token lifetime`.
    Retired,
}

impl KeyState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
}

impl FromStr for KeyState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(Self::Next),
            "current" => Ok(Self::Current),
            "retired" => Ok(Self::Retired),
            _ => Err(ValidationError::SigningAlg(s.to_owned())),
        }
    }
}

/// Whether a retired key must still appear in the JWKS at `now`: it is
/// published for as long as a token it signed could still be valid.
pub fn retired_key_is_published(retired_at: i64, max_token_lifetime_secs: i64, now: i64) -> bool {
    now < retired_at.saturating_add(max_token_lifetime_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algs_round_trip_and_unknown_is_refused() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256] {
            assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), alg);
        }
        assert!("HS256".parse::<SigningAlg>().is_err());
        assert!("none".parse::<SigningAlg>().is_err());
    }

    #[test]
    fn oidc_discovery_s3_rs256_is_always_an_id_token_alg() {
        assert_eq!(
            SigningAlg::ES256.id_token_algs(),
            [SigningAlg::ES256, SigningAlg::RS256]
        );
        assert_eq!(
            SigningAlg::EdDSA.id_token_algs(),
            [SigningAlg::EdDSA, SigningAlg::RS256]
        );
        assert_eq!(SigningAlg::RS256.id_token_algs(), [SigningAlg::RS256]);
    }

    #[test]
    fn rfc7517_retired_key_stays_published_until_its_tokens_expire() {
        assert!(retired_key_is_published(1000, 300, 1299));
        assert!(!retired_key_is_published(1000, 300, 1300));
    }
}
