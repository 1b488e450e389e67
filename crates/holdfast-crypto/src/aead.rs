//! Data at rest: AES-256-GCM under the key-encryption key (KEK).
//!
//! Sealed blobs are `version (1 byte) || nonce (12) || ciphertext || tag (16)`.
//! The associated data binds a blob to its place (for a signing key: its
//! `kid`), so a blob copied into another row fails to open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;
use crate::secret::{hmac_sha256, random_bytes};

const VERSION: u8 = 1;

/// The key-encryption key: 32 bytes. `Debug` is redacted.
pub struct Kek {
    key: LessSafeKey,
    raw: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

impl Kek {
    /// Parses the base64url form (43 characters, padding tolerated).
    pub fn from_base64url(encoded: &str) -> Result<Self, CryptoError> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(trimmed)
                .map_err(|_| CryptoError::KekFormat)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Builds a KEK from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::KekFormat);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KekFormat)?;
        let mut raw = Zeroizing::new([0u8; 32]);
        raw.copy_from_slice(bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            raw,
        })
    }

    /// Generates a new random KEK and returns it with its base64url form,
    /// which the caller must store (the only copy of the key).
    pub fn generate() -> Result<(Self, Zeroizing<String>), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut())?;
        let encoded = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        Ok((Self::from_bytes(bytes.as_ref())?, encoded))
    }

    /// Encrypts `plaintext`, binding it to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Sign("seal".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        in_out.zeroize();
        Ok(out)
    }

    /// Decrypts a blob made by [`Kek::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Open);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let mut in_out = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Open)?
            .len();
        in_out.truncate(plain_len);
        Ok(in_out)
    }
}

impl Kek {
    /// A 32-byte subkey for `label` (HMAC-SHA-256 of the label under the
    /// KEK), so that secrets every node must share, such as DPoP nonce keys,
    /// need no storage of their own.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        hmac_sha256(self.raw.as_ref(), label)
    }
}

/// The associated data and plaintext of the KEK check value stored in the
/// database, which lets a start with the wrong KEK fail loudly before it
/// touches anything.
pub const KEK_CHECK_AAD: &[u8] = b"holdfast:kek-check:v1";
const KEK_CHECK_PLAINTEXT: &[u8] = b"holdfast key-encryption key check";

impl Kek {
    /// A fresh check value for this KEK.
    pub fn make_check(&self) -> Result<Vec<u8>, CryptoError> {
        self.seal(KEK_CHECK_AAD, KEK_CHECK_PLAINTEXT)
    }

    /// Whether `check` was made by this KEK.
    pub fn verify_check(&self, check: &[u8]) -> bool {
        self.open(KEK_CHECK_AAD, check)
            .map(|p| p.as_slice() == KEK_CHECK_PLAINTEXT)
            .unwrap_or(false)
    }
}

/// Seals `plaintext` under a key derived from `token` (HMAC-SHA-256 of a
/// fixed label keyed by the token), so only a holder of `token` can open it.
/// docs/design.md §4 keeps a rotated refresh token's child this way: the server
/// stores only digests of tokens, and the digest does not yield the key.
pub fn seal_under_token(token: &str, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    token_key(token)?.seal(aad, plaintext)
}

/// Opens what [`seal_under_token`] sealed with the same token and `aad`.
pub fn open_under_token(
    token: &str,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    token_key(token)?.open(aad, sealed)
}

fn token_key(token: &str) -> Result<Kek, CryptoError> {
    Kek::from_bytes(hmac_sha256(token.as_bytes(), b"holdfast:refresh-token-child:v1").as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_same_key_and_aad() {
        let (kek, encoded) = Kek::generate().unwrap();
        let sealed = kek.seal(b"kid-1", b"private key").unwrap();
        assert_eq!(
            kek.open(b"kid-1", &sealed).unwrap().as_slice(),
            b"private key"
        );
        assert!(kek.open(b"kid-2", &sealed).is_err());
        let same = Kek::from_base64url(&encoded).unwrap();
        assert!(same.open(b"kid-1", &sealed).is_ok());
        let (other, _) = Kek::generate().unwrap();
        assert!(other.open(b"kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(kek.open(b"kid-1", &tampered).is_err());
    }

    #[test]
    fn only_the_parent_token_opens_its_sealed_child() {
        let sealed = seal_under_token("hfrt_parent", b"digest", b"hfrt_child").unwrap();
        assert_eq!(
            open_under_token("hfrt_parent", b"digest", &sealed)
                .unwrap()
                .as_slice(),
            b"hfrt_child"
        );
        assert!(open_under_token("hfrt_other", b"digest", &sealed).is_err());
        assert!(open_under_token("hfrt_parent", b"other-digest", &sealed).is_err());
    }

    #[test]
    fn kek_check_tells_keys_apart() {
        let (a, _) = Kek::generate().unwrap();
        let (b, _) = Kek::generate().unwrap();
        let check = a.make_check().unwrap();
        assert!(a.verify_check(&check));
        assert!(!b.verify_check(&check));
    }

    #[test]
    fn kek_strings_must_be_32_bytes() {
        assert!(Kek::from_base64url("short").is_err());
        assert!(Kek::from_base64url(&"A".repeat(44)).is_err());
        assert!(Kek::from_base64url("not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!!").is_err());
    }
}
