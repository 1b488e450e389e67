//! The one DPoP error vocabulary, and the one table of what clients read.
//!
//! - [`DpopError`]: why one proof failed the checks of
//!   [RFC 9449 §4.3](https://www.rfc-editor.org/rfc/rfc9449#section-4.3)
//!   ([`crate::verify_proof`]).
//! - [`DpopRefusal`]: why a request was refused by a DPoP rule: a proof
//!   error, or what the caller checks around the proof (§4.3 step 1 one
//!   header, step 11 replay, §7.1/§7.2 the scheme of a bound token).
//! - [`AuthorizationError`]: why the `Authorization` header gave no
//!   credentials (RFC 6750 §2.1, RFC 9449 §7.1).
//!
//! `Display` is for logs and may name the failing claim; the
//! `description()`s are what goes in `error_description` (RFC 6750 §3,
//! RFC 6749 §5.2), written once here for the token endpoint, Holdfast's
//! own APIs and `holdfast-verify`. Both are exhaustive `match`es, so a new
//! variant forces a decision.

use crate::challenge::Scheme;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceProblem {
    /// A nonce is required and the proof has none.
    Missing,
    /// The proof's nonce is not one the server accepts (unknown or stale).
    Invalid,
}

/// Why a proof was refused: one variant per RFC 9449 §4.3 check. All map to
/// `invalid_dpop_proof` except [`DpopError::UseNonce`] (see
/// [`DpopError::oauth_error`]); the variant is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// §4.3 step 2: not a single well-formed JWT (three base64url parts,
    /// JSON object header and payload), too long, or with a `crit` header.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// §4.3 step 3: a required header parameter (`jwk`) is missing.
    #[error("the DPoP proof lacks the {0} header parameter")]
    MissingHeader(&'static str),
    /// §4.3 step 3: a required claim is missing or has the wrong JSON type.
    #[error("the DPoP proof lacks a valid {0} claim")]
    MissingClaim(&'static str),
    /// §4.3 step 4: `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    WrongType,
    /// §4.3 step 5: `alg` is `none`, symmetric, unknown or not accepted here.
    #[error("the DPoP proof's alg is not an accepted asymmetric algorithm")]
    UnsupportedAlg,
    /// §4.3 step 5/6: the `jwk`'s key type or curve cannot be used with `alg`.
    #[error("the DPoP proof's jwk does not fit its alg")]
    KeyAlgMismatch,
    /// §4.3 step 6: the `jwk` is not a usable public key (bad members or
    /// encoding, unsupported curve, point not on the curve).
    #[error("the DPoP proof's jwk is not a valid public key")]
    InvalidKey,
    /// §4.3 step 7: the `jwk` contains private key material.
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKey,
    /// §4.3 step 6: the signature does not verify with the `jwk`.
    #[error("the DPoP proof's signature is invalid")]
    BadSignature,
    /// §4.3 step 3: `jti` is empty or longer than the policy allows.
    #[error("the DPoP proof's jti is empty or too long")]
    InvalidJti,
    /// §4.3 step 8: `htm` is not the request's method.
    #[error("the DPoP proof is for another HTTP method")]
    MethodMismatch,
    /// §4.3 step 9: `htu` is not the request's URI.
    #[error("the DPoP proof is for another URI")]
    UriMismatch,
    /// §4.3 step 11: `iat` is outside the accepted window.
    #[error("the DPoP proof's iat is outside the accepted window")]
    IatOutOfWindow,
    /// §4.3 step 12: `ath` is not the hash of the access token presented.
    #[error("the DPoP proof's ath does not match the access token")]
    AthMismatch,
    /// §4.3 step 12: the proof's key is not the one the token is bound to.
    #[error("the DPoP proof's key is not the key the token is bound to")]
    KeyMismatch,
    /// §4.3 step 10 and §8: a nonce is required and is missing or invalid.
    #[error("a valid DPoP nonce is required")]
    UseNonce(NonceProblem),
}

impl DpopError {
    /// The OAuth error code for this refusal (RFC 9449 §5, §7.1, §8):
    /// `use_dpop_nonce` for nonce problems, `invalid_dpop_proof` otherwise.
    /// Exhaustive on purpose: a new variant must decide.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::UseNonce(_) => "use_dpop_nonce",
            Self::Malformed
            | Self::MissingHeader(_)
            | Self::MissingClaim(_)
            | Self::WrongType
            | Self::UnsupportedAlg
            | Self::KeyAlgMismatch
            | Self::InvalidKey
            | Self::PrivateKey
            | Self::BadSignature
            | Self::InvalidJti
            | Self::MethodMismatch
            | Self::UriMismatch
            | Self::IatOutOfWindow
            | Self::AthMismatch
            | Self::KeyMismatch => "invalid_dpop_proof",
        }
    }

    /// What the client reads (`error_description`): which check failed,
    /// useful to client developers and revealing nothing about the server.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Malformed => "the DPoP proof is not a well-formed JWT",
            Self::MissingHeader(_) => "the DPoP proof lacks its jwk header",
            Self::MissingClaim("ath") => "the DPoP proof lacks the ath claim",
            Self::MissingClaim(_) => "the DPoP proof lacks a required claim",
            Self::WrongType => "the DPoP proof's typ is not dpop+jwt",
            Self::UnsupportedAlg => "the DPoP proof's alg is not accepted",
            Self::KeyAlgMismatch => "the DPoP proof's jwk does not fit its alg",
            Self::InvalidKey => "the DPoP proof's jwk is not a valid public key",
            Self::PrivateKey => "the DPoP proof's jwk contains a private key",
            Self::BadSignature => "the DPoP proof's signature is invalid",
            Self::InvalidJti => "the DPoP proof's jti is empty or too long",
            Self::MethodMismatch => "the DPoP proof is for another HTTP method",
            Self::UriMismatch => "the DPoP proof is for another URI",
            Self::IatOutOfWindow => "the DPoP proof is too old or from the future",
            Self::AthMismatch => "the DPoP proof is for another access token",
            Self::KeyMismatch => "the DPoP proof is not signed by the token's key",
            Self::UseNonce(_) => "the DPoP proof must carry the server's nonce",
        }
    }
}

/// Why a request was refused by a DPoP rule, at the token endpoint or at
/// a protected resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopRefusal {
    /// The proof failed a check of RFC 9449 §4.3.
    #[error("invalid DPoP proof: {0}")]
    Proof(DpopError),
    /// §4.3 step 1: "there is not more than one DPoP HTTP request header field".
    #[error("more than one DPoP header")]
    MultipleProofs,
    /// §7.1: a DPoP-bound access token came without a `DPoP` proof.
    #[error("missing DPoP proof")]
    MissingProof,
    /// §4.3 step 11 and §11.1: the proof's `jti` was seen before within
    /// the window.
    #[error("DPoP proof replayed")]
    Replayed,
    /// §7.2: a DPoP-bound token (`cnf.jkt`) sent with `Authorization: Bearer`.
    #[error("DPoP-bound token presented as a bearer token")]
    BoundTokenAsBearer,
    /// §7.1: `Authorization: DPoP` with a token that is not bound.
    #[error("unbound token presented with the DPoP scheme")]
    UnboundTokenAsDpop,
}

impl From<DpopError> for DpopRefusal {
    fn from(e: DpopError) -> Self {
        Self::Proof(e)
    }
}

impl DpopRefusal {
    /// The OAuth error code (RFC 9449 §7.1, §8; RFC 6750 §3.1).
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::Proof(e) => e.oauth_error(),
            Self::MultipleProofs | Self::MissingProof | Self::Replayed => "invalid_dpop_proof",
            Self::BoundTokenAsBearer | Self::UnboundTokenAsDpop => "invalid_token",
        }
    }

    /// What the client reads (`error_description`).
    pub fn description(&self) -> &'static str {
        match self {
            Self::Proof(e) => e.description(),
            Self::MultipleProofs => "more than one DPoP header",
            Self::MissingProof => "a DPoP proof is required",
            Self::Replayed => "the DPoP proof was already used",
            Self::BoundTokenAsBearer => {
                "the access token is DPoP-bound: use the DPoP scheme with a proof"
            }
            Self::UnboundTokenAsDpop => "the access token is not DPoP-bound: use the Bearer scheme",
        }
    }

    /// The scheme whose challenge names the remedy (RFC 9449 §7.1: a
    /// resource answers DPoP problems with a `DPoP` challenge; an unbound
    /// token belongs under `Bearer`).
    pub fn challenge_scheme(&self) -> Scheme {
        match self {
            Self::UnboundTokenAsDpop => Scheme::Bearer,
            Self::Proof(_)
            | Self::MultipleProofs
            | Self::MissingProof
            | Self::Replayed
            | Self::BoundTokenAsBearer => Scheme::DPoP,
        }
    }
}

/// Why the `Authorization` header yields no credentials
/// (RFC 9110 §11.6.2, RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// No `Authorization` header.
    #[error("no access token")]
    Missing,
    /// A scheme other than Bearer or DPoP (e.g. Basic).
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Multiple,
    /// `Bearer` / `DPoP` without a well-formed token68.
    #[error("malformed Authorization header")]
    Malformed,
}

impl AuthorizationError {
    /// The OAuth error code: none for a request without usable credentials
    /// (RFC 6750 §3.1: "the resource server SHOULD NOT include an error
    /// code or other error information"), `invalid_request` for a broken
    /// header.
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::UnsupportedScheme => None,
            Self::Multiple | Self::Malformed => Some("invalid_request"),
        }
    }

    /// What the client reads (`error_description`).
    pub fn description(&self) -> &'static str {
        match self {
            Self::Missing | Self::UnsupportedScheme => "an access token is required",
            Self::Multiple => "more than one Authorization header",
            Self::Malformed => "the Authorization header is malformed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_invalid_dpop_proof_except_nonce() {
        assert_eq!(DpopError::BadSignature.oauth_error(), "invalid_dpop_proof");
        assert_eq!(
            DpopError::UseNonce(NonceProblem::Invalid).oauth_error(),
            "use_dpop_nonce"
        );
        assert_eq!(DpopRefusal::Replayed.oauth_error(), "invalid_dpop_proof");
        assert_eq!(
            DpopRefusal::BoundTokenAsBearer.oauth_error(),
            "invalid_token"
        );
    }

    #[test]
    fn rfc6750_s3_descriptions_are_plain_quoted_string_text() {
        // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
        let plain = |d: &str| {
            d.chars()
                .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\')
        };
        let proof_errors = [
            DpopError::Malformed,
            DpopError::MissingHeader("jwk"),
            DpopError::MissingClaim("ath"),
            DpopError::MissingClaim("jti"),
            DpopError::WrongType,
            DpopError::UnsupportedAlg,
            DpopError::KeyAlgMismatch,
            DpopError::InvalidKey,
            DpopError::PrivateKey,
            DpopError::BadSignature,
            DpopError::InvalidJti,
            DpopError::MethodMismatch,
            DpopError::UriMismatch,
            DpopError::IatOutOfWindow,
            DpopError::AthMismatch,
            DpopError::KeyMismatch,
            DpopError::UseNonce(NonceProblem::Missing),
        ];
        for e in proof_errors {
            assert!(plain(DpopRefusal::Proof(e.clone()).description()), "{e:?}");
        }
        for r in [
            DpopRefusal::MultipleProofs,
            DpopRefusal::MissingProof,
            DpopRefusal::Replayed,
            DpopRefusal::BoundTokenAsBearer,
            DpopRefusal::UnboundTokenAsDpop,
        ] {
            assert!(plain(r.description()), "{r:?}");
        }
    }
}
