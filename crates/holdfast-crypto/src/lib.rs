//! Cryptography shared by the Holdfast server and the resource-server
//! verification library. One provider (aws-lc-rs) underneath everything.
//!
//! - [`secret`]: secret newtypes with redacted `Debug`, random tokens with
//!   recognisable prefixes, SHA-256 digests and constant-time comparison.
//! - [`aead`]: the key-encryption key (KEK) and AES-256-GCM sealing of data
//!   at rest.
//! - [`jws`]: signing keys (ES256, EdDSA), their public JWKs (RFC 7517) with
//!   RFC 7638 thumbprints as `kid`, and compact JWS signing (RFC 7515).
//!
//! DPoP (RFC 9449) lives in its own crate, `holdfast-dpop`, built on this one.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod aead;
pub mod jws;
pub mod secret;

/// Errors from this crate. Messages never include key or secret material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The system random source failed (practically never).
    #[error("random source unavailable")]
    Random,
    /// A KEK string is not 32 bytes of base64url.
    #[error("key-encryption key must be 32 bytes, base64url-encoded (43 characters)")]
    KekFormat,
    /// Sealed data failed to authenticate: wrong key or tampered data.
    #[error("decryption failed: wrong key-encryption key or corrupted data")]
    Open,
    /// Key generation or parsing failed.
    #[error("invalid or unsupported key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}
