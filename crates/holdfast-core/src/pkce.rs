//! Proof Key for Code Exchange, [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636).
//!
//! Only `S256` is supported (OAuth 2.1 §4.1.1; RFC 9700 §2.1.1): `plain`
//! offers no protection when the authorization request leaks, so it is
//! refused, and a request without `code_challenge_method` (which RFC 7636
//! §4.3 defines as `plain`) is refused too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why a PKCE value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceError {
    /// No `code_challenge` in the authorization request.
    MissingChallenge,
    /// `code_challenge_method` absent or not `S256`.
    MethodNotS256,
    /// The challenge is not 43 base64url characters (a SHA-256 digest).
    MalformedChallenge,
    /// No `code_verifier` in the token request.
    MissingVerifier,
    /// The verifier does not match the challenge, or is malformed.
    Mismatch,
}

/// A validated S256 code challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` from an
    /// authorization request.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge
            .filter(|c| !c.is_empty())
            .ok_or(PkceError::MissingChallenge)?;
        if method != Some("S256") {
            return Err(PkceError::MethodNotS256);
        }
        // RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)) = 43 chars.
        let ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(challenge)
                .is_ok_and(|d| d.len() == 32);
        if !ok {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Wraps a challenge that was validated before it was stored.
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    /// The S256 challenge of `verifier` (for a server that runs a code
    /// flow of its own, such as the device grant's sign-in).
    pub fn s256_of(verifier: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
    }

    /// The challenge string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge`.
    /// The verifier must be 43–128 unreserved characters (§4.1).
    pub fn verify(&self, verifier: Option<&str>) -> Result<(), PkceError> {
        let verifier = verifier.ok_or(PkceError::MissingVerifier)?;
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !well_formed {
            return Err(PkceError::Mismatch);
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        // Not secret-dependent timing in a useful way (the challenge is
        // public), so a plain comparison is fine here.
        if computed == self.0 {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B test vector.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_of_the_appendix_b_verifier_is_its_challenge() {
        assert_eq!(CodeChallenge::s256_of(VERIFIER).as_str(), CHALLENGE);
    }

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.verify(Some(VERIFIER)), Ok(()));
        assert_eq!(
            c.verify(Some(&VERIFIER.replace('d', "e"))),
            Err(PkceError::Mismatch)
        );
        assert_eq!(c.verify(None), Err(PkceError::MissingVerifier));
    }

    #[test]
    fn rfc7636_s4_3_plain_and_missing_method_are_refused() {
        assert_eq!(
            CodeChallenge::parse(Some(CHALLENGE), Some("plain")),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            CodeChallenge::parse(Some(CHALLENGE), None),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            CodeChallenge::parse(None, Some("S256")),
            Err(PkceError::MissingChallenge)
        );
        assert_eq!(
            CodeChallenge::parse(Some("short"), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn rfc7636_s4_1_short_verifiers_are_refused() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.verify(Some("abc")), Err(PkceError::Mismatch));
    }
}
