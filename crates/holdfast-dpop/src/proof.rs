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
//! step 1 (exactly one `DPoP` header: [`crate::resource::single_proof`]
//! for a header map) and the `jti` replay check of step 11 (the returned
//! [`DpopProof::jti`] and [`DpopProof::jkt`] are what to record, for as long
//! as [`crate::replay`] says).
//!
//! Not supported: server-managed timestamps in `nonce` replacing `iat`
//! (§11.1); `alg` values other than ES256, EdDSA or Ed25519 (RFC 9864's
//! name for the same), RS256 and PS256 (so no ES384, ES512, RS384/512,
//! PS384/512, Ed448); `crit` header parameters (a
//! proof carrying `crit` is malformed: we understand no extension); RSA keys
//! under 2048 bits (aws-lc-rs refuses them).
//!
//! Interoperability: `tests/dpop_interop.rs` (of this crate) checks proofs made by a
//! third-party client library (panva's `dpop`, on WebCrypto) with every
//! accepted key type.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_crypto::secret::constant_time_eq;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, OctetKeyPairParameters, OctetKeyPairType, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{DpopError, NonceProblem};
use crate::htu::htu_part;
use crate::policy::{DpopAlg, DpopPolicy};
use crate::{DPOP_TYP, MAX_PROOF_LEN};

/// JWK members that only private (or symmetric) keys have (RFC 7518 §6).
/// RFC 9449 §4.3 step 7: "the jwk JOSE Header Parameter does not contain a
/// private key".
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

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

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
