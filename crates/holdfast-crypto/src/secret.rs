//! Secrets as types.
//!
//! A secret's `Debug` prints `[redacted]`; the value is reached only through
//! an explicit `.expose()`. Generated tokens carry a short prefix
//! (`hfcs_` for client secrets, `hfrt_` for refresh tokens) so secret
//! scanners can recognise a leaked one, followed by 256 bits of randomness in
//! base64url. Stored forms are SHA-256 digests: a 256-bit random secret needs
//! no slow hash, only one that cannot be reversed.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;

/// A secret string: redacted `Debug`, zeroed on drop, explicit access.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call sites of this method are where secrets leave
    /// their box: keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "hfcs_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "hfrt_";

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Random)
}

/// A new random token: `prefix` followed by 256 random bits in base64url.
pub fn generate_token(prefix: &str) -> Result<SecretString, CryptoError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    bytes.zeroize();
    Ok(SecretString(token))
}

/// A random identifier (128 bits, base64url) for things that are not
/// secret but must not be guessable, like a JWT `jti`.
pub fn random_id() -> Result<String, CryptoError> {
    let mut bytes = [0u8; 16];
    random_bytes(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest of `value`, base64url: the stored form of tokens and
/// client secrets.
pub fn sha256_b64(value: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value))
}

/// HMAC-SHA-256 of `message` under `key` (RFC 2104): the one keyed hash
/// behind derived subkeys, sealed-child keys and DPoP nonces.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        message,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks a presented secret against a stored SHA-256 digest in constant time.
pub fn verify_secret_digest(presented: &str, stored_digest: &str) -> bool {
    constant_time_eq(
        sha256_b64(presented.as_bytes()).as_bytes(),
        stored_digest.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretString::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn tokens_carry_prefix_and_256_bits() {
        let a = generate_token(CLIENT_SECRET_PREFIX).unwrap();
        let b = generate_token(CLIENT_SECRET_PREFIX).unwrap();
        assert!(a.expose().starts_with("hfcs_"));
        let body = URL_SAFE_NO_PAD.decode(&a.expose()[5..]).unwrap();
        assert_eq!(body.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn digest_verification_accepts_only_the_secret() {
        let digest = sha256_b64(b"s3cret");
        assert!(verify_secret_digest("s3cret", &digest));
        assert!(!verify_secret_digest("s3cret ", &digest));
        assert!(!verify_secret_digest("", &digest));
    }
}
