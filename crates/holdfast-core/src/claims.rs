//! Token claims.
//!
//! Access tokens follow [RFC 9068 §2.2](https://www.rfc-editor.org/rfc/rfc9068#section-2.2)
//! (header `typ: at+jwt`); ID tokens follow
//! [OIDC Core §2](https://openid.net/specs/openid-connect-core-1_0.html#IDToken)
//! with `at_hash` per §3.1.3.6.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::keys::SigningAlg;

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims Holdfast writes into an access token it issues (RFC 9068
/// §2.2, plus `sid`, `auth_time`, `acr`, `amr`), and reads back from its own
/// tokens (userinfo, introspection). Resource servers read the general form
/// in `holdfast_verify::AccessTokenClaims` (one or many audiences, `nbf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedAccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id, or the client id for client credentials.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space-delimited.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Session (token family) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Proof-of-possession confirmation (RFC 9449 §6.1: `cnf.jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a DPoP-bound token (RFC 7800 §3.1, RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the DPoP public key.
    pub jkt: String,
}

/// ID-token claims (OIDC Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Access-token hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Authorized party (OIDC Core §2): the client.
    pub azp: String,
    /// Username, with the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Email, with the `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email was verified (OIDC Core §5.1), with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Display name (OIDC Core §5.1 `name`), with `profile`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the access
/// token, with the hash of the ID token's `alg` (SHA-256 for ES256 and
/// RS256; SHA-512 for EdDSA with Ed25519, as OpenID's errata and common
/// libraries do).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::ES256 | SigningAlg::RS256 => {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        }
        SigningAlg::EdDSA => {
            let digest = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_at_hash_is_the_left_half_of_the_digest() {
        // Expected value computed independently (Python hashlib + base64).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNkaqRHQQ", SigningAlg::ES256),
            "A4wM7y44o0tyLhs2VSHZXw"
        );
        assert_eq!(at_hash("x", SigningAlg::EdDSA).len(), 43);
    }
}
