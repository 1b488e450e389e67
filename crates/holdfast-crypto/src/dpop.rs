//! DPoP proof checking: [RFC 9449 §4.3](https://www.rfc-editor.org/rfc/rfc9449#section-4.3),
//! as a pure function. No IO: the clock, the request's method and URI, the
//! access token and the nonce rule are all inputs, so the token endpoint
//! (`holdfast-server`) and resource servers (`holdfast-verify`) run the very
//! same checks.
//!
//! [`verify_proof`] performs, in this order (numbers are §4.3's list):
//!
//! | step | check | error |
//! |---|---|---|
//! | 2 | one well-formed compact JWS, header and payload JSON objects | [`DpopError::Malformed`] |
//! | 4 | `typ` is `dpop+jwt` | [`DpopError::WrongType`] |
//! | 5 | `alg` is an accepted asymmetric algorithm (never `none`, never HMAC) | [`DpopError::UnsupportedAlg`] |
//! | 3 | the `jwk` header is present | [`DpopError::MissingHeader`] |
//! | 7 | the `jwk` has no private members | [`DpopError::PrivateKey`] |
//! | 5/6 | the `jwk`'s `kty`/`crv` fit `alg`, and it is a usable public key | [`DpopError::KeyAlgMismatch`], [`DpopError::InvalidKey`] |
//! | 6 | the signature verifies with that `jwk` | [`DpopError::BadSignature`] |
//! | 3 | claims `jti`, `htm`, `htu`, `iat` (and `ath` with an access token) present | [`DpopError::MissingClaim`] |
//! | 3 | `jti` is 1 to [`DpopPolicy::max_jti_len`] bytes | [`DpopError::InvalidJti`] |
//! | 8 | `htm` equals the request method | [`DpopError::MethodMismatch`] |
//! | 9 | `htu` equals the request URI without query and fragment, after normalisation | [`DpopError::UriMismatch`] |
//! | 11 | `iat` within ± [`DpopPolicy::iat_window`] of now | [`DpopError::IatOutOfWindow`] |
//! | 12 | `ath` is the hash of the access token | [`DpopError::AthMismatch`] |
//! | 12 | the key's thumbprint equals the token's / family's `cnf.jkt` | [`DpopError::KeyMismatch`] |
//! | 10 | `nonce` accepted by the caller's rule, when one is required | [`DpopError::UseNonce`] |
//!
//! The nonce comes last so that `use_dpop_nonce` (which makes a client retry)
//! is only ever answered to a proof that is otherwise good.
//!
//! Left to the caller, because they need state or the raw request:
//! step 1 (exactly one `DPoP` header) and the `jti` replay check of step 11
//! (the returned [`DpopProof::jti`] and [`DpopProof::jkt`] are what to record).
//!
//! Not supported: server-managed timestamps in `nonce` replacing `iat`
//! (§11.1); `alg` values other than ES256, EdDSA or Ed25519 (RFC 9864's
//! name for the same), RS256 and PS256 (so no ES384, ES512, RS384/512,
//! PS384/512, Ed448); `crit` header parameters (a
//! proof carrying `crit` is malformed: we understand no extension); RSA keys
//! under 2048 bits (aws-lc-rs refuses them).
//!
//! Interoperability: `tests/dpop_interop.rs` checks proofs made by a
//! third-party client library (panva's `dpop`, on WebCrypto) with every
//! accepted key type.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, OctetKeyPairParameters, OctetKeyPairType, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::secret::constant_time_eq;

/// The JOSE `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// The `DPoP` HTTP header's name.
pub const DPOP_HEADER: &str = "DPoP";

/// The `DPoP-Nonce` HTTP header's name (RFC 9449 §8).
pub const DPOP_NONCE_HEADER: &str = "DPoP-Nonce";

/// Upper bound on the size of a proof we will look at: a proof with an
/// RSA-4096 `jwk` is about 1.5 KiB, so 8 KiB leaves room without letting a
/// client make us decode megabytes.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// JWK members that only private (or symmetric) keys have (RFC 7518 §6).
/// RFC 9449 §4.3 step 7: "the jwk JOSE Header Parameter does not contain a
/// private key".
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// An asymmetric signature algorithm accepted for DPoP proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DpopAlg {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    EdDSA,
    /// Ed25519 under its fully specified name (RFC 9864), which replaces
    /// the polymorphic `EdDSA`; current clients send it (panva's `dpop` 2.x
    /// does for Ed25519 keys). Same key type and signature as `EdDSA`.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS with SHA-256 (RFC 7518 §3.5).
    PS256,
}

impl DpopAlg {
    /// Every algorithm this module can check, preferred first.
    pub const ALL: [DpopAlg; 5] = [
        Self::ES256,
        Self::EdDSA,
        Self::Ed25519,
        Self::RS256,
        Self::PS256,
    ];

    /// The JOSE name (`ES256`, `EdDSA`, `Ed25519`, `RS256`, `PS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::Ed25519 => "Ed25519",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
        }
    }

    /// Parses a JOSE `alg` name; `None` for anything not listed above,
    /// including `none` and every HMAC algorithm.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether two names denote the same algorithm (`EdDSA` for Ed25519 keys
    /// and `Ed25519`).
    fn same_as(self, other: DpopAlg) -> bool {
        self.jsonwebtoken() == other.jsonwebtoken()
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA | Self::Ed25519 => Algorithm::EdDSA,
            Self::RS256 => Algorithm::RS256,
            Self::PS256 => Algorithm::PS256,
        }
    }
}

/// Local policy for proofs. `Default` is what Holdfast ships with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Accepted algorithms (RFC 9449 §4.3 step 5: "supported by the
    /// application, and is acceptable per local policy"). Default: all of
    /// [`DpopAlg::ALL`]. This is also what to advertise as
    /// `dpop_signing_alg_values_supported` and in `WWW-Authenticate: DPoP algs=`.
    pub algs: Vec<DpopAlg>,
    /// How far `iat` may be from now, either way. Default 60 s: enough for
    /// clock skew, short enough that a replay cache only needs to remember
    /// `jti`s for twice this long.
    pub iat_window: Duration,
    /// Longest `jti` accepted, in bytes. Default 256: a UUID is 36, 256 bits
    /// of base64url are 43; the bound keeps replay caches small.
    pub max_jti_len: usize,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            algs: DpopAlg::ALL.to_vec(),
            iat_window: Duration::from_secs(60),
            max_jti_len: 256,
        }
    }
}

impl DpopPolicy {
    /// The accepted algorithms as a space-separated list, for
    /// `WWW-Authenticate: DPoP algs="..."` (RFC 9449 §7.1).
    pub fn algs_header_value(&self) -> String {
        self.algs
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn window_secs(&self) -> i64 {
        i64::try_from(self.iat_window.as_secs()).unwrap_or(i64::MAX)
    }
}

/// A rule for the `nonce` claim (RFC 9449 §8, §9): returns whether a nonce
/// the client sent is one the server currently accepts.
pub type NonceCheck<'a> = &'a (dyn Fn(&str) -> bool + Send + Sync);

/// What the proof is checked against: the HTTP request it came with.
#[derive(Clone, Copy)]
pub struct ProofContext<'a> {
    /// The request's HTTP method, e.g. `POST` (compared case-sensitively, as
    /// methods are: RFC 9110 §9.1).
    pub method: &'a str,
    /// The request's absolute target URI as the client addressed it (the
    /// public URL, not a proxy's internal one). Query and fragment are ignored.
    pub uri: &'a Url,
    /// Now, Unix seconds.
    pub now: i64,
    /// The access token sent with the request, at a protected resource:
    /// then `ath` is required and must be its hash (step 12). `None` at the
    /// token endpoint, where `ath` is ignored.
    pub access_token: Option<&'a str>,
    /// The thumbprint the token (or refresh-token family) is bound to, if
    /// any: the proof's key must have exactly this thumbprint (step 12).
    pub bound_jkt: Option<&'a str>,
    /// `Some` when the server requires a nonce: the rule accepting it.
    pub nonce: Option<NonceCheck<'a>>,
}

impl std::fmt::Debug for ProofContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofContext")
            .field("method", &self.method)
            .field("uri", &self.uri.as_str())
            .field("now", &self.now)
            .field("access_token", &self.access_token.map(|_| "[redacted]"))
            .field("bound_jkt", &self.bound_jkt)
            .field("nonce_required", &self.nonce.is_some())
            .finish()
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what
    /// `cnf.jkt` binds to (RFC 9449 §6.1).
    pub jkt: String,
    /// The proof's unique id: record it (with `jkt`) until `iat` leaves the
    /// window to refuse replays.
    pub jti: String,
    /// When the proof says it was made, Unix seconds.
    pub iat: i64,
    /// The nonce the proof carried, if any.
    pub nonce: Option<String>,
    /// The `htm` claim.
    pub htm: String,
    /// The `htu` claim as sent.
    pub htu: String,
}

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
}

/// The `ath` of an access token (RFC 9449 §4.2): base64url of its SHA-256
/// over the ASCII token.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the value of
/// `cnf.jkt` (RFC 9449 §6.1). Only the required members take part, so
/// `kid`, `alg` or `use` do not change it.
pub fn jwk_thumbprint(jwk: &Jwk) -> Result<String, DpopError> {
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| DpopError::InvalidKey)
}

/// Normalises an HTTP(S) URI for `htu` comparison (RFC 9449 §4.3 step 9,
/// with RFC 3986 §6.2.2 and §6.2.3 normalisation as the `url` crate applies
/// it: scheme and host lower-cased, default port dropped, dot segments
/// removed, empty path made `/`), then drops query and fragment.
pub fn normalize_htu(uri: &Url) -> Url {
    let mut u = uri.clone();
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// The part of a parsed (hence normalised) URL that `htu` compares:
/// everything up to the end of the path, without cloning.
fn htu_part(uri: &Url) -> &str {
    &uri[..url::Position::AfterPath]
}

#[derive(Deserialize)]
struct RawHeader {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Value>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default, deserialize_with = "lenient::string")]
    jti: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    htm: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    htu: Option<String>,
    #[serde(default, deserialize_with = "lenient::numeric_date")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "lenient::string")]
    ath: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    nonce: Option<String>,
}

/// Claims of the wrong JSON type read as absent, so that the error is the
/// precise "missing claim" instead of "malformed".
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// RFC 7519 §2 NumericDate: a JSON number, possibly with a fraction
    /// (truncated here).
    pub fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    // In range by the filter above.
                    .map(|f| f.trunc() as i64)
            }),
            _ => None,
        })
    }
}

fn b64_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, DpopError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| DpopError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| DpopError::Malformed)
}

fn is_b64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn member<'m>(jwk: &'m Map<String, Value>, name: &str) -> Result<&'m str, DpopError> {
    match jwk.get(name) {
        Some(Value::String(s)) if is_b64url(s) || name == "kty" || name == "crv" => Ok(s),
        _ => Err(DpopError::InvalidKey),
    }
}

/// Builds a clean public [`Jwk`] with only the members RFC 7638 hashes,
/// checking that its type fits `alg`. Extra members (`kid`, `use`,
/// `key_ops`, `ext` as WebCrypto exports them) are ignored, as they carry
/// no key material.
fn public_jwk(raw: &Map<String, Value>, alg: DpopAlg) -> Result<Jwk, DpopError> {
    // Step 7 first: a private key must be refused even if it is otherwise odd.
    if PRIVATE_JWK_MEMBERS.iter().any(|m| raw.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    let kty = member(raw, "kty")?;
    let algorithm = match (alg, kty) {
        (DpopAlg::ES256, "EC") => {
            if member(raw, "crv")? != "P-256" {
                return Err(DpopError::KeyAlgMismatch);
            }
            AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: member(raw, "x")?.to_owned(),
                y: member(raw, "y")?.to_owned(),
            })
        }
        (DpopAlg::EdDSA | DpopAlg::Ed25519, "OKP") => {
            if member(raw, "crv")? != "Ed25519" {
                return Err(DpopError::KeyAlgMismatch);
            }
            AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: member(raw, "x")?.to_owned(),
            })
        }
        (DpopAlg::RS256 | DpopAlg::PS256, "RSA") => AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: member(raw, "n")?.to_owned(),
            e: member(raw, "e")?.to_owned(),
        }),
        _ => return Err(DpopError::KeyAlgMismatch),
    };
    // A key that declares its own algorithm must declare this one (the two
    // names of Ed25519 count as one).
    match raw.get("alg") {
        None => {}
        Some(Value::String(a)) if DpopAlg::from_name(a).is_some_and(|k| k.same_as(alg)) => {}
        Some(_) => return Err(DpopError::KeyAlgMismatch),
    }
    Ok(Jwk {
        common: CommonParameters::default(),
        algorithm,
    })
}

/// Checks a DPoP proof (the value of the request's single `DPoP` header)
/// against the request, per RFC 9449 §4.3. See the module docs for the
/// order of checks and what is left to the caller.
pub fn verify_proof(
    proof: &str,
    ctx: &ProofContext<'_>,
    policy: &DpopPolicy,
) -> Result<DpopProof, DpopError> {
    // Step 2: "the DPoP HTTP request header field value is a single and
    // well-formed JWT".
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed);
    };
    // The JWS signing input: "header.payload" (RFC 7515 §5.1 step 6).
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    let header: RawHeader = b64_json(header_b64)?;
    // RFC 7515 §4.1.11: extensions listed in `crit` MUST be understood; we
    // understand none.
    if header.crit.is_some() {
        return Err(DpopError::Malformed);
    }
    // Step 4: "the typ JOSE Header Parameter has the value dpop+jwt".
    if header.typ.as_deref() != Some(DPOP_TYP) {
        return Err(DpopError::WrongType);
    }
    // Step 5: "the alg JOSE Header Parameter indicates a registered
    // asymmetric digital signature algorithm, is not none, is supported by
    // the application, and is acceptable per local policy".
    let alg = header
        .alg
        .as_deref()
        .and_then(DpopAlg::from_name)
        .filter(|a| policy.algs.contains(a))
        .ok_or(DpopError::UnsupportedAlg)?;
    // Step 3 (jwk header) and step 7: "the jwk JOSE Header Parameter does
    // not contain a private key".
    let raw_jwk = match &header.jwk {
        None => return Err(DpopError::MissingHeader("jwk")),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(DpopError::InvalidKey),
    };
    let jwk = public_jwk(raw_jwk, alg)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| DpopError::InvalidKey)?;

    // Step 6: "the JWT signature verifies with the public key contained in
    // the jwk JOSE Header Parameter". jsonwebtoken's verify primitive rather
    // than `decode`, so header and claims are parsed once each (decode
    // would parse the header twice more and the claims twice); time claims
    // are ours to check anyway, against the caller's clock.
    let verified = jsonwebtoken::crypto::verify(
        signature_b64,
        signing_input.as_bytes(),
        &key,
        alg.jsonwebtoken(),
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
        | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
        | jsonwebtoken::errors::ErrorKind::InvalidEddsaKey
        | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => DpopError::InvalidKey,
        _ => DpopError::Malformed,
    })?;
    // aws-lc-rs also refuses a point off the curve or an RSA key under 2048
    // bits here, which reads as a bad signature.
    if !verified {
        return Err(DpopError::BadSignature);
    }
    let claims: RawClaims = b64_json(payload_b64)?;

    // Step 3: "all required claims per Section 4.2 are contained in the JWT".
    let jti = claims.jti.ok_or(DpopError::MissingClaim("jti"))?;
    let htm = claims.htm.ok_or(DpopError::MissingClaim("htm"))?;
    let htu = claims.htu.ok_or(DpopError::MissingClaim("htu"))?;
    let iat = claims.iat.ok_or(DpopError::MissingClaim("iat"))?;
    if jti.is_empty() || jti.len() > policy.max_jti_len {
        return Err(DpopError::InvalidJti);
    }

    // Step 8: "the htm claim matches the HTTP method of the current request".
    if htm != ctx.method {
        return Err(DpopError::MethodMismatch);
    }
    // Step 9: "the htu claim matches the HTTP URI value for the HTTP request
    // in which the JWT was received, ignoring any query and fragment parts".
    let claimed = Url::parse(&htu).map_err(|_| DpopError::UriMismatch)?;
    if htu_part(&claimed) != htu_part(ctx.uri) {
        return Err(DpopError::UriMismatch);
    }
    // Step 11: "the creation time of the JWT ... is within an acceptable
    // window".
    let window = policy.window_secs();
    if iat < ctx.now.saturating_sub(window) || iat > ctx.now.saturating_add(window) {
        return Err(DpopError::IatOutOfWindow);
    }
    // Step 12: "ensure that the value of the ath claim equals the hash of
    // that access token".
    if let Some(token) = ctx.access_token {
        let presented = claims.ath.ok_or(DpopError::MissingClaim("ath"))?;
        if !constant_time_eq(presented.as_bytes(), ath(token).as_bytes()) {
            return Err(DpopError::AthMismatch);
        }
    }
    // Step 12: "confirm that the public key to which the access token is
    // bound matches the public key from the DPoP proof".
    let jkt = jwk_thumbprint(&jwk)?;
    if let Some(bound) = ctx.bound_jkt
        && !constant_time_eq(bound.as_bytes(), jkt.as_bytes())
    {
        return Err(DpopError::KeyMismatch);
    }
    // Step 10: "if the server provided a nonce value to the client, the
    // nonce claim matches the server-provided nonce value".
    if let Some(accepts) = ctx.nonce {
        match claims.nonce.as_deref() {
            None => return Err(DpopError::UseNonce(NonceProblem::Missing)),
            Some(n) if !accepts(n) => return Err(DpopError::UseNonce(NonceProblem::Invalid)),
            Some(_) => {}
        }
    }
    Ok(DpopProof {
        jkt,
        jti,
        iat,
        nonce: claims.nonce,
        htm,
        htu,
    })
}

/// A DPoP client key that makes proofs: for tests (the server's, this
/// workspace's and resource servers') and examples.
///
/// Always compiled, because it is small and useful to Rust clients too; it
/// holds a private key like [`crate::jws::SigningKey`] does (redacted
/// `Debug`, key bytes only through [`testing::DpopKey::pkcs8_der`]). It
/// supports ES256, EdDSA and Ed25519 (the same Ed25519 key under either
/// name); RSA proofs are made by hand in this module's tests.
///
/// ```
/// use holdfast_crypto::dpop::{DpopAlg, testing::{DpopKey, ProofClaims}};
/// let key = DpopKey::generate(DpopAlg::ES256).unwrap();
/// let proof = key
///     .proof(&ProofClaims::new("GET", "https://api.example.com/x", 1_700_000_000)
///         .access_token("eyJ..."))
///     .unwrap();
/// assert_eq!(proof.split('.').count(), 3);
/// ```
pub mod testing {
    use std::fmt;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::EncodingKey;
    use jsonwebtoken::jwk::Jwk;
    use serde_json::{Value, json};
    use zeroize::Zeroizing;

    use super::{DPOP_TYP, DpopAlg, ath, jwk_thumbprint};
    use crate::CryptoError;

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
                jti: crate::secret::random_id().unwrap_or_else(|_| format!("jti-{iat}")),
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
                DpopAlg::ES256 => {
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                        .map_err(|_| CryptoError::Key("ES256 generation failed".into()))?
                }
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
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{
        KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair, RsaPublicKeyComponents,
    };
    use serde_json::json;

    use super::testing::{DpopKey, ProofClaims};
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const HTU: &str = "https://api.example.com/resource";
    const AT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig";

    fn uri() -> Url {
        Url::parse(HTU).unwrap()
    }

    /// What a test sets beyond method, URI and time.
    #[derive(Default)]
    struct Extra<'a> {
        access_token: Option<&'a str>,
        bound_jkt: Option<&'a str>,
        nonce: Option<NonceCheck<'a>>,
    }

    fn check(proof: &str) -> Result<DpopProof, DpopError> {
        check_with(proof, Extra::default())
    }

    fn check_with(proof: &str, extra: Extra<'_>) -> Result<DpopProof, DpopError> {
        let u = uri();
        let ctx = ProofContext {
            method: "GET",
            uri: &u,
            now: NOW,
            access_token: extra.access_token,
            bound_jkt: extra.bound_jkt,
            nonce: extra.nonce,
        };
        verify_proof(proof, &ctx, &DpopPolicy::default())
    }

    fn es256() -> DpopKey {
        DpopKey::generate(DpopAlg::ES256).unwrap()
    }

    fn claims() -> ProofClaims {
        ProofClaims::new("GET", HTU, NOW)
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    /// A JWS with a hand-made header and a given (usually bogus) signature.
    fn hand_made(header: &Value, claims: &Value, sig: &str) -> String {
        format!("{}.{}.{sig}", b64(header), b64(claims))
    }

    struct RsaDpopKey {
        pair: RsaKeyPair,
        jwk: Value,
    }

    impl RsaDpopKey {
        fn generate() -> Self {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let comps = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let jwk = json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(&comps.n),
                "e": URL_SAFE_NO_PAD.encode(&comps.e),
            });
            Self { pair, jwk }
        }

        fn proof(&self, alg: &str, claims: &Value) -> String {
            let padding: &'static dyn RsaEncoding = match alg {
                "RS256" => &RSA_PKCS1_SHA256,
                _ => &RSA_PSS_SHA256,
            };
            let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": self.jwk});
            let input = format!("{}.{}", b64(&header), b64(claims));
            let mut sig = vec![0; self.pair.public_modulus_len()];
            self.pair
                .sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
                .unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
        }
    }

    // --- Proofs of every supported key kind are accepted ---

    #[test]
    fn rfc9449_s4_3_es256_proof_is_accepted_and_bound_to_the_key_thumbprint() {
        let key = es256();
        let proof = key.proof(&claims().jti("j1")).unwrap();
        let ok = check(&proof).unwrap();
        assert_eq!(ok.jkt, key.jkt());
        assert_eq!(ok.jkt, jwk_thumbprint(key.jwk()).unwrap());
        assert_eq!(ok.jti, "j1");
        assert_eq!(ok.iat, NOW);
        assert_eq!(ok.htm, "GET");
        assert_eq!(ok.htu, HTU);
        assert_eq!(ok.nonce, None);
    }

    #[test]
    fn rfc9449_s4_3_eddsa_proof_is_accepted() {
        let key = DpopKey::generate(DpopAlg::EdDSA).unwrap();
        let ok = check(&key.proof(&claims()).unwrap()).unwrap();
        assert_eq!(ok.jkt, key.jkt());
    }

    #[test]
    fn rfc9864_ed25519_alg_name_is_accepted_like_eddsa() {
        let key = DpopKey::generate(DpopAlg::Ed25519).unwrap();
        let proof = key.proof(&claims()).unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(proof.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "Ed25519");
        // The jwk says "EdDSA" (jsonwebtoken's name); same algorithm.
        assert_eq!(header["jwk"]["alg"], "EdDSA");
        assert_eq!(check(&proof).unwrap().jkt, key.jkt());
        // The same key's jkt does not depend on the alg name.
        let again = DpopKey::from_pkcs8(DpopAlg::EdDSA, key.pkcs8_der()).unwrap();
        assert_eq!(again.jkt(), key.jkt());
    }

    #[test]
    fn rfc9449_s4_3_rs256_and_ps256_proofs_are_accepted() {
        let key = RsaDpopKey::generate();
        let expected_jkt = {
            let jwk: Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
            jwk_thumbprint(&jwk).unwrap()
        };
        for alg in ["RS256", "PS256"] {
            let proof = key.proof(alg, &claims().to_json());
            let ok = check(&proof).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
            assert_eq!(ok.jkt, expected_jkt);
        }
    }

    #[test]
    fn rfc9449_s4_3_webcrypto_style_jwk_with_extra_members_is_accepted() {
        // WebCrypto exports `ext` and `key_ops`; they carry no key material.
        let key = es256();
        let mut jwk = serde_json::to_value(key.jwk()).unwrap();
        jwk["ext"] = json!(true);
        jwk["key_ops"] = json!(["verify"]);
        let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
        let unsigned = format!("{}.{}", b64(&header), b64(&claims().to_json()));
        let sig = jsonwebtoken::crypto::sign(
            unsigned.as_bytes(),
            &jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der()),
            Algorithm::ES256,
        )
        .unwrap();
        let ok = check(&format!("{unsigned}.{sig}")).unwrap();
        assert_eq!(ok.jkt, key.jkt());
    }

    // --- §4.3 step 2: a single well-formed JWT ---

    #[test]
    fn rfc9449_s4_3_step2_malformed_proofs_are_refused() {
        let key = es256();
        let good = key.proof(&claims()).unwrap();
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.e30.e30",
            &format!("{good}.extra"),
            &format!("{}.{}", b64(&json!([1, 2])), "e30."),
        ] {
            assert_eq!(check(bad), Err(DpopError::Malformed), "{bad:?}");
        }
        let huge = format!("{good}{}", "A".repeat(MAX_PROOF_LEN));
        assert_eq!(check(&huge), Err(DpopError::Malformed));
    }

    #[test]
    fn rfc7515_s4_1_11_crit_header_is_refused() {
        let key = es256();
        let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": key.jwk(), "crit": ["exp"]});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::Malformed));
    }

    // --- §4.3 step 3: required claims ---

    #[test]
    fn rfc9449_s4_3_step3_missing_claims_are_refused() {
        let key = es256();
        for claim in ["jti", "htm", "htu", "iat"] {
            let mut c = claims().to_json();
            c.as_object_mut().unwrap().remove(claim);
            let proof = key.sign(DPOP_TYP, &c).unwrap();
            let expected = DpopError::MissingClaim(match claim {
                "jti" => "jti",
                "htm" => "htm",
                "htu" => "htu",
                _ => "iat",
            });
            assert_eq!(check(&proof), Err(expected), "{claim}");
        }
        // Wrong JSON type reads as missing.
        let mut c = claims().to_json();
        c["iat"] = json!("1700000000");
        let proof = key.sign(DPOP_TYP, &c).unwrap();
        assert_eq!(check(&proof), Err(DpopError::MissingClaim("iat")));
    }

    #[test]
    fn rfc9449_s4_3_step3_missing_jwk_header_is_refused() {
        let header = json!({"typ": DPOP_TYP, "alg": "ES256"});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::MissingHeader("jwk")));
    }

    #[test]
    fn rfc9449_s4_3_step3_empty_or_oversized_jti_is_refused() {
        let key = es256();
        for jti in [String::new(), "x".repeat(257)] {
            let proof = key.proof(&claims().jti(&jti)).unwrap();
            assert_eq!(check(&proof), Err(DpopError::InvalidJti));
        }
        let proof = key.proof(&claims().jti(&"x".repeat(256))).unwrap();
        assert!(check(&proof).is_ok());
    }

    #[test]
    fn rfc7519_s2_fractional_iat_is_accepted() {
        let key = es256();
        let mut c = claims().to_json();
        c["iat"] = json!(NOW as f64 + 0.25);
        let ok = check(&key.sign(DPOP_TYP, &c).unwrap()).unwrap();
        assert_eq!(ok.iat, NOW);
    }

    // --- §4.3 step 4: typ ---

    #[test]
    fn rfc9449_s4_3_step4_wrong_typ_is_refused() {
        let key = es256();
        for typ in ["JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt"] {
            let proof = key.sign(typ, &claims().to_json()).unwrap();
            assert_eq!(check(&proof), Err(DpopError::WrongType), "{typ}");
        }
        let header = json!({"alg": "ES256", "jwk": key.jwk()});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::WrongType));
    }

    // --- §4.3 step 5: alg ---

    #[test]
    fn rfc9449_s4_3_step5_none_and_hmac_and_unknown_algs_are_refused() {
        let key = es256();
        for alg in ["none", "HS256", "HS512", "ES384", "RS512", "foo", ""] {
            let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": key.jwk()});
            let proof = hand_made(&header, &claims().to_json(), "");
            assert_eq!(check(&proof), Err(DpopError::UnsupportedAlg), "{alg}");
        }
        let header = json!({"typ": DPOP_TYP, "jwk": key.jwk()});
        let proof = hand_made(&header, &claims().to_json(), "");
        assert_eq!(check(&proof), Err(DpopError::UnsupportedAlg));
    }

    #[test]
    fn rfc9449_s4_3_step5_alg_outside_local_policy_is_refused() {
        let key = DpopKey::generate(DpopAlg::EdDSA).unwrap();
        let proof = key.proof(&claims()).unwrap();
        let u = uri();
        let ctx = ProofContext {
            method: "GET",
            uri: &u,
            now: NOW,
            access_token: None,
            bound_jkt: None,
            nonce: None,
        };
        let policy = DpopPolicy {
            algs: vec![DpopAlg::ES256],
            ..DpopPolicy::default()
        };
        assert_eq!(
            verify_proof(&proof, &ctx, &policy),
            Err(DpopError::UnsupportedAlg)
        );
        assert_eq!(policy.algs_header_value(), "ES256");
        assert_eq!(
            DpopPolicy::default().algs_header_value(),
            "ES256 EdDSA Ed25519 RS256 PS256"
        );
    }

    #[test]
    fn rfc9449_s4_3_step5_jwk_that_does_not_fit_alg_is_refused() {
        let ec = es256();
        let ed = DpopKey::generate(DpopAlg::EdDSA).unwrap();
        // An Ed25519 key under alg ES256, a P-256 key under EdDSA and RS256.
        for (alg, jwk) in [
            ("ES256", serde_json::to_value(ed.jwk()).unwrap()),
            ("EdDSA", serde_json::to_value(ec.jwk()).unwrap()),
            ("RS256", serde_json::to_value(ec.jwk()).unwrap()),
        ] {
            let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": jwk});
            let proof = hand_made(&header, &claims().to_json(), "AAAA");
            assert_eq!(check(&proof), Err(DpopError::KeyAlgMismatch), "{alg}");
        }
        // P-384 curve under ES256; a jwk declaring another alg.
        let mut p384 = serde_json::to_value(ec.jwk()).unwrap();
        p384["crv"] = json!("P-384");
        let mut other_alg = serde_json::to_value(ec.jwk()).unwrap();
        other_alg["alg"] = json!("ES384");
        for jwk in [p384, other_alg] {
            let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
            let proof = hand_made(&header, &claims().to_json(), "AAAA");
            assert_eq!(check(&proof), Err(DpopError::KeyAlgMismatch));
        }
    }

    #[test]
    fn rfc9449_s4_3_step6_unusable_jwk_is_refused() {
        let ec = es256();
        let mut not_b64 = serde_json::to_value(ec.jwk()).unwrap();
        not_b64["x"] = json!("a\",\"y\":\"b");
        let mut missing_y = serde_json::to_value(ec.jwk()).unwrap();
        missing_y.as_object_mut().unwrap().remove("y");
        let mut off_curve = serde_json::to_value(ec.jwk()).unwrap();
        off_curve["y"] = off_curve["x"].clone();
        let proof_claims = claims().to_json();
        // A point off the curve is refused by aws-lc-rs while verifying, which
        // jsonwebtoken reports as a bad signature.
        for (jwk, expected) in [
            (not_b64, DpopError::InvalidKey),
            (missing_y, DpopError::InvalidKey),
            (json!("a string"), DpopError::InvalidKey),
            (off_curve, DpopError::BadSignature),
        ] {
            let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
            let unsigned = format!("{}.{}", b64(&header), b64(&proof_claims));
            let sig = jsonwebtoken::crypto::sign(
                unsigned.as_bytes(),
                &jsonwebtoken::EncodingKey::from_ec_der(ec.pkcs8_der()),
                Algorithm::ES256,
            )
            .unwrap();
            assert_eq!(check(&format!("{unsigned}.{sig}")), Err(expected), "{jwk}");
        }
    }

    // --- §4.3 step 6: signature ---

    #[test]
    fn rfc9449_s4_3_step6_bad_signature_is_refused() {
        let key = es256();
        let other = es256();
        // Signed by another key than the one in the header.
        let good = key.proof(&claims()).unwrap();
        let forged_sig = other.proof(&claims()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let sig = forged_sig.split('.').nth(2).unwrap();
        parts[2] = sig;
        assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
        // Claims changed after signing.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = b64(&ProofClaims::new("POST", HTU, NOW).to_json());
        assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
        // RSA: a PS256 signature presented as RS256.
        let rsa = RsaDpopKey::generate();
        let pss = rsa.proof("PS256", &claims().to_json());
        let mut parts: Vec<String> = pss.split('.').map(str::to_owned).collect();
        parts[0] = b64(&json!({"typ": DPOP_TYP, "alg": "RS256", "jwk": rsa.jwk}));
        assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
    }

    // --- §4.3 step 7: no private key ---

    #[test]
    fn rfc9449_s4_3_step7_private_key_in_jwk_is_refused() {
        let key = es256();
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            let mut jwk = serde_json::to_value(key.jwk()).unwrap();
            jwk[member] = json!("AAAA");
            let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
            let proof = hand_made(&header, &claims().to_json(), "AAAA");
            assert_eq!(check(&proof), Err(DpopError::PrivateKey), "{member}");
        }
    }

    // --- §4.3 step 8: htm ---

    #[test]
    fn rfc9449_s4_3_step8_other_method_is_refused() {
        let key = es256();
        for htm in ["POST", "get", "GET "] {
            let proof = key.proof(&ProofClaims::new(htm, HTU, NOW)).unwrap();
            assert_eq!(check(&proof), Err(DpopError::MethodMismatch), "{htm}");
        }
    }

    // --- §4.3 step 9: htu ---

    #[test]
    fn rfc9449_s4_3_step9_other_uri_is_refused() {
        let key = es256();
        for htu in [
            "https://api.example.com/other",
            "http://api.example.com/resource",
            "https://api.example.com:8443/resource",
            "https://evil.example.com/resource",
            "https://api.example.com/resource/",
            "/resource",
            "not a url",
        ] {
            let proof = key.proof(&ProofClaims::new("GET", htu, NOW)).unwrap();
            assert_eq!(check(&proof), Err(DpopError::UriMismatch), "{htu}");
        }
    }

    #[test]
    fn rfc9449_s4_3_step9_htu_compares_without_query_and_fragment_after_normalisation() {
        let key = es256();
        for htu in [
            "https://api.example.com/resource",
            "HTTPS://API.Example.COM/resource",
            "https://api.example.com:443/resource",
            "https://api.example.com/a/../resource",
            "https://api.example.com/resource?x=1",
            "https://api.example.com/resource#frag",
        ] {
            let proof = key.proof(&ProofClaims::new("GET", htu, NOW)).unwrap();
            assert!(check(&proof).is_ok(), "{htu}");
        }
        // The request's own query does not matter either.
        let proof = key.proof(&claims()).unwrap();
        let with_query = Url::parse("https://api.example.com/resource?page=2").unwrap();
        let ctx = ProofContext {
            method: "GET",
            uri: &with_query,
            now: NOW,
            access_token: None,
            bound_jkt: None,
            nonce: None,
        };
        assert!(verify_proof(&proof, &ctx, &DpopPolicy::default()).is_ok());
    }

    // --- §4.3 step 10: nonce ---

    #[test]
    fn rfc9449_s4_3_step10_missing_or_wrong_nonce_asks_for_a_nonce() {
        let key = es256();
        let accept: &(dyn Fn(&str) -> bool + Send + Sync) = &|n: &str| n == "server-nonce";
        let without = key.proof(&claims()).unwrap();
        let err = check_with(
            &without,
            Extra {
                nonce: Some(accept),
                ..Extra::default()
            },
        )
        .unwrap_err();
        assert_eq!(err, DpopError::UseNonce(NonceProblem::Missing));
        assert_eq!(err.oauth_error(), "use_dpop_nonce");
        let wrong = key.proof(&claims().nonce("stale")).unwrap();
        assert_eq!(
            check_with(
                &wrong,
                Extra {
                    nonce: Some(accept),
                    ..Extra::default()
                }
            ),
            Err(DpopError::UseNonce(NonceProblem::Invalid))
        );
        let right = key.proof(&claims().nonce("server-nonce")).unwrap();
        let ok = check_with(
            &right,
            Extra {
                nonce: Some(accept),
                ..Extra::default()
            },
        )
        .unwrap();
        assert_eq!(ok.nonce.as_deref(), Some("server-nonce"));
        // Not required: a nonce is carried through, not judged.
        assert_eq!(check(&wrong).unwrap().nonce.as_deref(), Some("stale"));
    }

    // --- §4.3 step 11: iat window ---

    #[test]
    fn rfc9449_s4_3_step11_iat_outside_the_window_is_refused() {
        let key = es256();
        for (iat, ok) in [
            (NOW - 60, true),
            (NOW + 60, true),
            (NOW - 61, false),
            (NOW + 61, false),
            (0, false),
            (i64::MAX, false),
        ] {
            let proof = key.proof(&ProofClaims::new("GET", HTU, iat)).unwrap();
            let result = check(&proof);
            if ok {
                assert!(result.is_ok(), "{iat}");
            } else {
                assert_eq!(result, Err(DpopError::IatOutOfWindow), "{iat}");
            }
        }
    }

    // --- §4.3 step 12: ath and key binding ---

    #[test]
    fn rfc9449_s4_3_step12_missing_or_wrong_ath_is_refused_with_an_access_token() {
        let key = es256();
        let without = key.proof(&claims()).unwrap();
        assert_eq!(
            check_with(
                &without,
                Extra {
                    access_token: Some(AT),
                    ..Extra::default()
                }
            ),
            Err(DpopError::MissingClaim("ath"))
        );
        let other = key.proof(&claims().access_token("another token")).unwrap();
        assert_eq!(
            check_with(
                &other,
                Extra {
                    access_token: Some(AT),
                    ..Extra::default()
                }
            ),
            Err(DpopError::AthMismatch)
        );
        let right = key.proof(&claims().access_token(AT)).unwrap();
        assert!(
            check_with(
                &right,
                Extra {
                    access_token: Some(AT),
                    ..Extra::default()
                }
            )
            .is_ok()
        );
        // At the token endpoint (no access token) ath is ignored.
        assert!(check(&other).is_ok());
    }

    #[test]
    fn rfc9449_s4_3_step12_proof_by_another_key_than_the_bound_one_is_refused() {
        let key = es256();
        let other = es256();
        let proof = key.proof(&claims()).unwrap();
        assert_eq!(
            check_with(
                &proof,
                Extra {
                    bound_jkt: Some(other.jkt()),
                    ..Extra::default()
                }
            ),
            Err(DpopError::KeyMismatch)
        );
        assert!(
            check_with(
                &proof,
                Extra {
                    bound_jkt: Some(key.jkt()),
                    ..Extra::default()
                }
            )
            .is_ok()
        );
    }

    // --- Helpers ---

    #[test]
    fn rfc9449_s4_2_ath_is_base64url_sha256_of_the_token() {
        // SHA-256("abc"), base64url without padding.
        assert_eq!(ath("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    #[test]
    fn rfc7638_s3_1_thumbprint_of_the_rfc_example_key() {
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn errors_map_to_invalid_dpop_proof_except_nonce() {
        assert_eq!(DpopError::BadSignature.oauth_error(), "invalid_dpop_proof");
        assert_eq!(
            DpopError::UseNonce(NonceProblem::Invalid).oauth_error(),
            "use_dpop_nonce"
        );
    }

    #[test]
    fn dpop_key_round_trips_through_pkcs8_and_hides_its_secret() {
        for alg in [DpopAlg::ES256, DpopAlg::EdDSA] {
            let key = DpopKey::generate(alg).unwrap();
            let again = DpopKey::from_pkcs8(alg, key.pkcs8_der()).unwrap();
            assert_eq!(again.jkt(), key.jkt());
            assert!(!format!("{key:?}").contains("pkcs8"));
        }
        assert!(DpopKey::generate(DpopAlg::RS256).is_err());
    }
}
