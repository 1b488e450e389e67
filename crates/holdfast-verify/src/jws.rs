//! A compact JWS as this library reads it, once for both things it
//! verifies: access tokens (RFC 9068 §4, `typ: at+jwt`) and the revocation
//! feed's Security Event Tokens (RFC 8417 §2.3 / SSF §4.1.1,
//! `typ: secevent+jwt`).
//!
//! [`parse`] checks the shape (RFC 7515 §7.1), refuses a `crit` header
//! (§4.1.11), the wrong `typ` (media types compare case-insensitively and
//! "application/" may be left out, RFC 7515 §4.1.9), `none`, HMAC and
//! unknown algorithms (RFC 8725 §3.1), all before any key is looked up.
//! [`Jws::verified_payload`] then checks the signature with the key the
//! `kid` names, whose algorithm must be the header's (RFC 8725 §2.1,
//! algorithm confusion). `jku`, `x5u`, `x5c` and `jwk` are deliberately not
//! read: keys come only from the issuer's JWKS (RFC 8725 §3.10).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::jwks::VerifyKey;
use crate::verifier::asymmetric_alg;

/// Why a compact JWS was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsError {
    /// Too long, not three base64url parts, or a header that is not JSON.
    Malformed(&'static str),
    /// A `crit` header (none is understood).
    CriticalHeader,
    /// Another `typ`.
    WrongType,
    /// `none`, HMAC or an unknown `alg`.
    UnsupportedAlg,
    /// No `kid`.
    UnknownKey,
    /// The key's algorithm is not the header's.
    AlgMismatch,
    /// The signature does not verify.
    BadSignature,
}

/// A parsed compact JWS whose header passed.
pub(crate) struct Jws<'a> {
    /// `kid`: which key of the JWKS to verify with.
    pub kid: String,
    /// `alg`, one of [`asymmetric_alg`]'s.
    pub alg: Algorithm,
    signing_input: &'a str,
    signature: &'a str,
    payload_b64: &'a str,
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Whether `found` names the media type `media` (given without
/// "application/").
fn typ_is(found: &str, media: &str) -> bool {
    let bare = match found.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &found[12..],
        _ => found,
    };
    bare.eq_ignore_ascii_case(media)
}

/// Reads `compact` (at most `max_len` bytes) and checks its header, with
/// `typ` required to be `media`.
pub(crate) fn parse<'a>(
    compact: &'a str,
    max_len: usize,
    media: &str,
) -> Result<Jws<'a>, JwsError> {
    if compact.len() > max_len {
        return Err(JwsError::Malformed("too long"));
    }
    let (signing_input, signature) = compact
        .rsplit_once('.')
        .ok_or(JwsError::Malformed("not a compact JWS"))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(JwsError::Malformed("not a compact JWS"))?;
    if payload_b64.contains('.') {
        return Err(JwsError::Malformed("not a compact JWS"));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwsError::Malformed("header base64"))?;
    let header: JoseHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed("header JSON"))?;
    if header.crit.is_some() {
        return Err(JwsError::CriticalHeader);
    }
    if !header.typ.as_deref().is_some_and(|t| typ_is(t, media)) {
        return Err(JwsError::WrongType);
    }
    let alg = header
        .alg
        .as_deref()
        .and_then(asymmetric_alg)
        .ok_or(JwsError::UnsupportedAlg)?;
    let kid = header.kid.ok_or(JwsError::UnknownKey)?;
    Ok(Jws {
        kid,
        alg,
        signing_input,
        signature,
        payload_b64,
    })
}

impl Jws<'_> {
    /// The payload, once the signature verifies with `key`.
    pub(crate) fn verified_payload(&self, key: &VerifyKey) -> Result<Vec<u8>, JwsError> {
        if key.alg != self.alg {
            return Err(JwsError::AlgMismatch);
        }
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            &key.key,
            key.alg,
        ) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err(JwsError::BadSignature),
        }
        URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| JwsError::Malformed("payload base64"))
    }
}

impl From<JwsError> for crate::error::AuthError {
    fn from(e: JwsError) -> Self {
        use JwsError as J;
        match e {
            J::Malformed(_) => Self::Malformed,
            J::CriticalHeader => Self::CriticalHeader,
            J::WrongType => Self::WrongType,
            J::UnsupportedAlg => Self::UnsupportedAlg,
            J::UnknownKey => Self::UnknownKey,
            J::AlgMismatch => Self::AlgMismatch,
            J::BadSignature => Self::BadSignature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::typ_is;

    fn is_access_token_typ(typ: Option<&str>) -> bool {
        typ.is_some_and(|t| typ_is(t, "at+jwt"))
    }

    /// RFC 9068 §4 (moved here from `verifier.rs` with the check itself).
    #[test]
    fn rfc9068_s4_typ_must_be_at_jwt() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(is_access_token_typ(Some(ok)), "{ok}");
        }
        for bad in ["JWT", "jwt", "dpop+jwt", "application/jwt", ""] {
            assert!(!is_access_token_typ(Some(bad)), "{bad}");
        }
        assert!(!is_access_token_typ(None));
    }
}
