//! The DPoP proof maker: keys that sign proofs, for tests (the server's,
//! this workspace's and resource servers'), the benches and Rust clients.
//! Behind the `client` feature.
//!
//! A [`DpopKey`] holds a private key like `holdfast_crypto::jws::SigningKey`
//! does (redacted `Debug`, key bytes only through [`DpopKey::pkcs8_der`]).
//! It supports ES256, EdDSA and Ed25519 (the same Ed25519 key under either
//! name); RSA proofs are made by hand in the proof checker's tests.
//!
//! ```
//! use holdfast_dpop::DpopAlg;
//! use holdfast_dpop::client::{DpopKey, ProofClaims};
//! let key = DpopKey::generate(DpopAlg::ES256).unwrap();
//! let proof = key
//!     .proof(&ProofClaims::new("GET", "https://api.example.com/x", 1_700_000_000)
//!         .access_token("eyJ..."))
//!     .unwrap();
//! assert_eq!(proof.split('.').count(), 3);
//! ```

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{DPOP_TYP, DpopAlg, ath, jwk_thumbprint};
use holdfast_crypto::CryptoError;

/// The claims of a proof to make. Build with [`ProofClaims::new`] and the
/// setters; every claim can be set to anything, for negative tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofClaims {
    /// `htm`.
    pub htm: String,
    /// `htu`.
    pub htu: String,
    /// `iat`, Unix seconds.
    pub iat: i64,
    /// `jti`; [`ProofClaims::new`] makes a random one.
    pub jti: String,
    /// `nonce`, if any.
    pub nonce: Option<String>,
    /// `ath`, if any (see [`ProofClaims::access_token`]).
    pub ath: Option<String>,
}

impl ProofClaims {
    /// Claims for `htm`/`htu` at `iat`, with a fresh random `jti`.
    pub fn new(htm: &str, htu: &str, iat: i64) -> Self {
        Self {
            htm: htm.to_owned(),
            htu: htu.to_owned(),
            iat,
            // A random-source failure is not a case tests need to handle;
            // fall back to a time-based id.
            jti: holdfast_crypto::secret::random_id().unwrap_or_else(|_| format!("jti-{iat}")),
            nonce: None,
            ath: None,
        }
    }

    /// Sets `jti`.
    pub fn jti(mut self, jti: &str) -> Self {
        self.jti = jti.to_owned();
        self
    }

    /// Sets `nonce`.
    pub fn nonce(mut self, nonce: &str) -> Self {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// Sets `ath` to the hash of `access_token`.
    pub fn access_token(mut self, access_token: &str) -> Self {
        self.ath = Some(ath(access_token));
        self
    }

    /// Sets `ath` to a raw value.
    pub fn ath(mut self, ath: &str) -> Self {
        self.ath = Some(ath.to_owned());
        self
    }

    /// The claims as JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "jti": self.jti, "htm": self.htm, "htu": self.htu, "iat": self.iat,
        });
        if let Some(n) = &self.nonce {
            v["nonce"] = json!(n);
        }
        if let Some(a) = &self.ath {
            v["ath"] = json!(a);
        }
        v
    }
}

/// A private key for making DPoP proofs (ES256, or Ed25519 as `EdDSA` or `Ed25519`).
pub struct DpopKey {
    alg: DpopAlg,
    pkcs8: Zeroizing<Vec<u8>>,
    encoding: EncodingKey,
    jwk: Jwk,
    jkt: String,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.alg)
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key. `alg` must be ES256, EdDSA or Ed25519.
    pub fn generate(alg: DpopAlg) -> Result<Self, CryptoError> {
        let rng = SystemRandom::new();
        let doc = match alg {
            DpopAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| CryptoError::Key("ES256 generation failed".into()))?,
            DpopAlg::EdDSA | DpopAlg::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| CryptoError::Key("Ed25519 generation failed".into()))?,
            DpopAlg::RS256 | DpopAlg::PS256 => {
                return Err(CryptoError::Key(
                    "DpopKey makes ES256 and Ed25519 keys".into(),
                ));
            }
        };
        Self::from_pkcs8(alg, doc.as_ref())
    }

    /// Loads a key from PKCS#8 DER (v1 for Ed25519), e.g. one saved with
    /// [`DpopKey::pkcs8_der`].
    pub fn from_pkcs8(alg: DpopAlg, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let encoding = match alg {
            DpopAlg::ES256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| CryptoError::Key("not a P-256 PKCS#8 key".into()))?;
                EncodingKey::from_ec_der(pkcs8)
            }
            DpopAlg::EdDSA | DpopAlg::Ed25519 => {
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| CryptoError::Key("not an Ed25519 PKCS#8 key".into()))?;
                EncodingKey::from_ed_der(pkcs8)
            }
            DpopAlg::RS256 | DpopAlg::PS256 => {
                return Err(CryptoError::Key(
                    "DpopKey makes ES256 and Ed25519 keys".into(),
                ));
            }
        };
        let jwk = Jwk::from_encoding_key(&encoding, alg.jsonwebtoken())
            .map_err(|e| CryptoError::Key(e.to_string()))?;
        let jkt = jwk_thumbprint(&jwk).map_err(|e| CryptoError::Key(e.to_string()))?;
        Ok(Self {
            alg,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            encoding,
            jwk,
            jkt,
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> DpopAlg {
        self.alg
    }

    /// The public JWK put in proofs' headers.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The RFC 7638 thumbprint (`cnf.jkt` of tokens bound to this key).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The private key, PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A proof with these claims.
    pub fn proof(&self, claims: &ProofClaims) -> Result<String, CryptoError> {
        self.sign(DPOP_TYP, &claims.to_json())
    }

    /// Signs arbitrary claims with header `typ`, this key's `alg` (its
    /// JOSE name, so `Ed25519` stays `Ed25519`) and its `jwk`: for
    /// proofs that are wrong on purpose.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, CryptoError> {
        let header = json!({ "typ": typ, "alg": self.alg.as_str(), "jwk": self.jwk });
        let encode = |v: &Value| {
            serde_json::to_vec(v)
                .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                .map_err(|e| CryptoError::Sign(e.to_string()))
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(claims)?);
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &self.encoding,
            self.alg.jsonwebtoken(),
        )
        .map_err(|e| CryptoError::Sign(e.to_string()))?;
        Ok(format!("{signing_input}.{signature}"))
    }
}
