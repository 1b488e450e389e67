//! Validating one Security Event Token ([RFC 8417](https://www.rfc-editor.org/rfc/rfc8417))
//! as SSF 1.0 profiles it ([SSF §4](https://openid.net/specs/openid-sharedsignals-framework-1_0.html)),
//! and reading its one event.
//!
//! In order: the compact JWS shape; `crit` refused (RFC 7515 §4.1.11);
//! `typ` `secevent+jwt` (SSF §4.1.1: "SSF events MUST use explicit typing
//! as defined in Section 2.3 of RFC8417"; the tenant key also signs access
//! and ID tokens); an asymmetric `alg` agreeing with the key named by `kid`
//! from the cached JWKS; the signature; then `iss`, `aud` (the receiver's
//! `client_id`), `jti` (equal to the name the poll response gave it,
//! RFC 8936 §2.3), `iat`, and `events` with exactly one member. That is
//! stricter than SSF §4.2.1 ("SHOULD contain only one event. Multiple event
//! type URIs are permitted only if they are alternative URIs defining the
//! exact same event type"): Holdfast sends one per SET, and a receiver
//! cannot tell which of two URIs to obey.
//!
//! The subject is the top-level `sub_id` (RFC 9493, SSF §3.1); a `subject`
//! member inside the event payload is accepted when `sub_id` is absent
//! (SSF §3.1.1 allows it for existing CAEP and RISC events).
//!
//! Every refusal maps to one RFC 8935 §2.3 error code ([`SetError::code`])
//! for the `setErrs` of the next poll (RFC 8936 §2.2).
//!
//! Timestamps: CAEP's `event_timestamp` in the payload, else RFC 8417 §2.2
//! `toe`. Token ids: `opaque`, or SSF §3.5.1 `jwt_id`.
//!
//! Not supported: encrypted SETs (JWE); subject formats other than those
//! the events below use (`opaque`, `iss_sub`, `complex`, `jwt_id`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::claims::Audience;
use crate::jwks::VerifyKey;

/// CAEP session revoked.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP credential change (informational here).
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// RISC sessions revoked (every session of a user).
pub const SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
/// RISC account disabled.
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
/// RISC account purged.
pub const ACCOUNT_PURGED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-purged";
/// Holdfast: one access token revoked (RFC 7009 at the issuer).
pub const ACCESS_TOKEN_REVOKED: &str = "https://schemas.holdfast.dev/secevent/access-token-revoked";
/// SSF §8.1.4 verification.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// SSF §8.1.5 stream updated.
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The events the feed asks for when it creates its stream.
pub const EVENTS_REQUESTED: [&str; 7] = [
    SESSION_REVOKED,
    SESSIONS_REVOKED,
    ACCOUNT_DISABLED,
    ACCOUNT_PURGED,
    CREDENTIAL_CHANGE,
    ACCESS_TOKEN_REVOKED,
    VERIFICATION,
];

/// Why a SET was refused. Each maps to one RFC 8935 §2.3 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// Not a compact JWS, or bad base64 or JSON.
    #[error("malformed SET: {0}")]
    Malformed(&'static str),
    /// A `crit` header we do not understand (RFC 7515 §4.1.11).
    #[error("unsupported crit header")]
    CriticalHeader,
    /// `typ` is not `secevent+jwt` (RFC 8417 §2.3).
    #[error("typ is not secevent+jwt")]
    WrongType,
    /// `alg` is `none`, HMAC or unknown.
    #[error("unsupported alg")]
    UnsupportedAlg,
    /// No `kid`, or no key with that `kid` in the issuer's JWKS.
    #[error("unknown kid")]
    UnknownKey,
    /// The header's `alg` is not the key's.
    #[error("alg does not match the key")]
    AlgMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is missing or not the configured issuer.
    #[error("iss is not the issuer")]
    WrongIssuer,
    /// `aud` is missing or does not name this receiver.
    #[error("aud does not name this receiver")]
    WrongAudience,
    /// `jti` missing, or not the name the poll response gave the SET.
    #[error("jti missing or different from the poll response's")]
    JtiMismatch,
    /// `iat` missing.
    #[error("iat missing")]
    NoIssuedAt,
    /// `events` missing or not exactly one event.
    #[error("events must hold exactly one event")]
    NotOneEvent,
    /// The event's subject or payload is not what its type defines.
    #[error("event payload: {0}")]
    BadEvent(&'static str),
}

impl SetError {
    /// The RFC 8935 §2.3 error code reported in `setErrs`.
    pub fn code(&self) -> &'static str {
        match self {
            SetError::Malformed(_)
            | SetError::CriticalHeader
            | SetError::WrongType
            | SetError::JtiMismatch
            | SetError::NoIssuedAt
            | SetError::NotOneEvent
            | SetError::BadEvent(_) => "invalid_request",
            // "One or more keys used to encrypt or sign the SET is invalid or
            // otherwise unacceptable to the SET Recipient".
            SetError::UnsupportedAlg
            | SetError::UnknownKey
            | SetError::AlgMismatch
            | SetError::BadSignature => "invalid_key",
            SetError::WrongIssuer => "invalid_issuer",
            SetError::WrongAudience => "invalid_audience",
        }
    }
}

/// A SET's JOSE header, read before any key is looked up.
pub(crate) struct Header<'a> {
    pub kid: String,
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

/// Largest SET looked at.
pub(crate) const MAX_SET_LEN: usize = 16 * 1024;

/// Reads the header: shape, `crit`, `typ`, `alg`, `kid`.
pub(crate) fn parse_header(compact: &str) -> Result<Header<'_>, SetError> {
    if compact.len() > MAX_SET_LEN {
        return Err(SetError::Malformed("too long"));
    }
    let (signing_input, signature) = compact
        .rsplit_once('.')
        .ok_or(SetError::Malformed("not a compact JWS"))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(SetError::Malformed("not a compact JWS"))?;
    if payload_b64.contains('.') {
        return Err(SetError::Malformed("not a compact JWS"));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| SetError::Malformed("header base64"))?;
    let header: JoseHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| SetError::Malformed("header JSON"))?;
    if header.crit.is_some() {
        return Err(SetError::CriticalHeader);
    }
    // RFC 8417 §2.3 (see the module docs); media types compare
    // case-insensitively and "application/" may be omitted (RFC 7515 §4.1.9).
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("secevent+jwt") || t.eq_ignore_ascii_case("application/secevent+jwt")
    });
    if !typ_ok {
        return Err(SetError::WrongType);
    }
    // RFC 8725 §3.1: never `none` or HMAC; checked before any key lookup.
    let alg = header
        .alg
        .as_deref()
        .and_then(crate::verifier::asymmetric_alg)
        .ok_or(SetError::UnsupportedAlg)?;
    let kid = header.kid.ok_or(SetError::UnknownKey)?;
    Ok(Header {
        kid,
        alg,
        signing_input,
        signature,
        payload_b64,
    })
}

/// What the feed checks a SET's claims against.
pub(crate) struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// A validated SET and its one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidSet {
    pub jti: String,
    pub iat: i64,
    pub event: Event,
}

/// The events the feed understands, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// CAEP session-revoked: refuse tokens of session `sid`.
    SessionRevoked { sid: String, at: i64 },
    /// RISC sessions-revoked, account-disabled, account-purged: refuse the
    /// user's tokens issued before `at`.
    NotBefore { iss: String, sub: String, at: i64 },
    /// Holdfast access-token-revoked: refuse token `jti` until `exp`.
    AccessTokenRevoked { jti: String, exp: i64 },
    /// CAEP credential-change: no effect on tokens.
    CredentialChange,
    /// SSF verification, with its `state`.
    Verification { state: Option<String> },
    /// SSF stream-updated.
    StreamUpdated {
        status: Option<String>,
        reason: Option<String>,
    },
    /// Any other event type: acknowledged and ignored.
    Unknown(String),
}

#[derive(Deserialize)]
struct RawSet {
    iss: Option<String>,
    aud: Option<Audience>,
    iat: Option<i64>,
    jti: Option<String>,
    sub_id: Option<Value>,
    /// RFC 8417 §2.2 "toe": when the event happened.
    toe: Option<i64>,
    events: Option<Map<String, Value>>,
}

/// Verifies the signature with `key` and validates the claims; `named` is
/// the `jti` the poll response filed the SET under.
pub(crate) fn validate(
    header: &Header<'_>,
    key: &VerifyKey,
    expect: &Expect<'_>,
    named: &str,
) -> Result<ValidSet, SetError> {
    // The algorithm comes from the key; the header must agree (RFC 8725 §2.1).
    if key.alg != header.alg {
        return Err(SetError::AlgMismatch);
    }
    match jsonwebtoken::crypto::verify(
        header.signature,
        header.signing_input.as_bytes(),
        &key.key,
        key.alg,
    ) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err(SetError::BadSignature),
    }
    let payload = URL_SAFE_NO_PAD
        .decode(header.payload_b64)
        .map_err(|_| SetError::Malformed("payload base64"))?;
    let raw: RawSet =
        serde_json::from_slice(&payload).map_err(|_| SetError::Malformed("payload JSON"))?;
    // SSF §4.1.6: "Receivers MUST validate that this claim matches the
    // "iss" in the Stream Configuration data, as well as the Issuer" (the
    // stream's was checked against the issuer when the stream was read).
    if raw.iss.as_deref() != Some(expect.issuer) {
        return Err(SetError::WrongIssuer);
    }
    // SSF §4.1.8: "aud" identifies the Receiver (here its client_id).
    if !raw.aud.is_some_and(|a| a.contains(expect.audience)) {
        return Err(SetError::WrongAudience);
    }
    // RFC 8936 §2.3: each member name of "sets" is the "jti" of the SET.
    let jti = raw
        .jti
        .filter(|j| j == named)
        .ok_or(SetError::JtiMismatch)?;
    let iat = raw.iat.ok_or(SetError::NoIssuedAt)?;
    let events = raw.events.ok_or(SetError::NotOneEvent)?;
    if events.len() != 1 {
        return Err(SetError::NotOneEvent);
    }
    let Some((event_type, payload)) = events.into_iter().next() else {
        return Err(SetError::NotOneEvent);
    };
    let event = read_event(&event_type, &payload, raw.sub_id.as_ref(), raw.toe, iat)?;
    Ok(ValidSet { jti, iat, event })
}

fn read_event(
    event_type: &str,
    payload: &Value,
    sub_id: Option<&Value>,
    toe: Option<i64>,
    iat: i64,
) -> Result<Event, SetError> {
    let payload = payload
        .as_object()
        .ok_or(SetError::BadEvent("payload is not an object"))?;
    // SSF §3.1.1: existing CAEP and RISC events may carry `subject` in the
    // payload; the top-level `sub_id` wins when both are present.
    let subject = sub_id.or_else(|| payload.get("subject"));
    // CAEP §2 `event_timestamp` (OPTIONAL); else RFC 8417 §2.2 `toe` (top
    // level; RISC events define no timestamp of their own); else `iat`,
    // which is never before the event: a later not-before stamp refuses
    // more, never less, and refusing the SET would apply nothing at all.
    let at = payload
        .get("event_timestamp")
        .and_then(Value::as_i64)
        .or(toe)
        .unwrap_or(iat);
    let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Ok(match event_type {
        // CAEP §3.1: the session named by the subject, directly (opaque)
        // or as a complex subject's `session`; "When a Complex Claim is used
        // as the subject, the revocation event applies to any session
        // derived from matching those combined claims": a complex subject
        // with a `user` and no `session` is every session of that user.
        SESSION_REVOKED => match subject.and_then(session_of) {
            Some(sid) => Event::SessionRevoked { sid, at },
            None => {
                let (iss, sub) = subject
                    .filter(|s| format_of(s) == Some("complex"))
                    .and_then(user_of)
                    .ok_or(SetError::BadEvent("subject names no session or user"))?;
                Event::NotBefore { iss, sub, at }
            }
        },
        SESSIONS_REVOKED | ACCOUNT_DISABLED | ACCOUNT_PURGED => {
            let (iss, sub) = subject
                .and_then(user_of)
                .ok_or(SetError::BadEvent("subject names no iss_sub user"))?;
            Event::NotBefore { iss, sub, at }
        }
        ACCESS_TOKEN_REVOKED => Event::AccessTokenRevoked {
            jti: subject
                .and_then(token_id)
                .ok_or(SetError::BadEvent("subject is not a token id"))?,
            exp: payload
                .get("exp")
                .and_then(Value::as_i64)
                .ok_or(SetError::BadEvent("exp missing"))?,
        },
        CREDENTIAL_CHANGE => Event::CredentialChange,
        VERIFICATION => Event::Verification {
            state: string(payload.get("state")),
        },
        STREAM_UPDATED => Event::StreamUpdated {
            status: string(payload.get("status")),
            reason: string(payload.get("reason")),
        },
        other => Event::Unknown(other.to_owned()),
    })
}

fn format_of(subject: &Value) -> Option<&str> {
    subject.get("format").and_then(Value::as_str)
}

/// RFC 9493 §3.2.4 `opaque`: its `id`.
fn opaque_id(subject: &Value) -> Option<String> {
    (format_of(subject)? == "opaque")
        .then(|| subject.get("id").and_then(Value::as_str).map(str::to_owned))
        .flatten()
}

/// A token id: `opaque` (what Holdfast sends) or SSF §3.5.1 `jwt_id`
/// (`iss` and `jti`), the format SSF defines for naming a JWT.
fn token_id(subject: &Value) -> Option<String> {
    if format_of(subject)? == "jwt_id" {
        return subject.get("jti")?.as_str().map(str::to_owned);
    }
    opaque_id(subject)
}

/// A session: an `opaque` subject (CAEP §3.1's first example), or an SSF
/// §3.3 complex subject's `session` member.
fn session_of(subject: &Value) -> Option<String> {
    match format_of(subject) {
        Some("opaque") => opaque_id(subject),
        Some("complex") | None => opaque_id(subject.get("session")?),
        Some(_) => None,
    }
}

/// RFC 9493 §3.2.5 `iss_sub`, directly or as a complex subject's `user`.
fn user_of(subject: &Value) -> Option<(String, String)> {
    let simple = match format_of(subject) {
        Some("iss_sub") => subject,
        Some("complex") | None => subject.get("user")?,
        Some(_) => return None,
    };
    if format_of(simple)? != "iss_sub" {
        return None;
    }
    let iss = simple.get("iss")?.as_str()?.to_owned();
    let sub = simple.get("sub")?.as_str()?.to_owned();
    Some((iss, sub))
}

#[cfg(test)]
mod tests {
    use holdfast_crypto::jws::{JwsAlg, SigningKey};
    use jsonwebtoken::DecodingKey;
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://auth.example.com/t/acme";
    const AUD: &str = "rs-client";

    fn verify_key(k: &SigningKey) -> VerifyKey {
        VerifyKey {
            alg: crate::jwks::key_alg(k.public_jwk()).unwrap(),
            key: DecodingKey::from_jwk(k.public_jwk()).unwrap(),
        }
    }

    fn claims(jti: &str) -> Value {
        json!({
            "iss": ISS,
            "aud": AUD,
            "iat": 1_700_000_000,
            "jti": jti,
            "sub_id": {
                "format": "complex",
                "session": {"format": "opaque", "id": "sid-1"},
                "user": {"format": "iss_sub", "iss": ISS, "sub": "u1"},
            },
            "events": {SESSION_REVOKED: {"event_timestamp": 1_700_000_000}},
        })
    }

    fn check(key: &SigningKey, set: &str, named: &str) -> Result<ValidSet, SetError> {
        let header = parse_header(set)?;
        if header.kid != key.kid() {
            return Err(SetError::UnknownKey);
        }
        let expect = Expect {
            issuer: ISS,
            audience: AUD,
        };
        validate(&header, &verify_key(key), &expect, named)
    }

    #[test]
    fn ssf_s4_valid_session_revoked_set_is_read() {
        for alg in [JwsAlg::ES256, JwsAlg::EdDSA, JwsAlg::RS256] {
            let key = SigningKey::generate(alg).unwrap();
            let set = key.sign("secevent+jwt", &claims("j1")).unwrap();
            let valid = check(&key, &set, "j1").unwrap();
            assert_eq!(
                valid.event,
                Event::SessionRevoked {
                    sid: "sid-1".into(),
                    at: 1_700_000_000
                }
            );
        }
    }

    #[test]
    fn rfc8417_s2_3_set_without_secevent_typ_is_refused() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        for typ in ["at+jwt", "JWT", ""] {
            let set = key.sign(typ, &claims("j1")).unwrap();
            let err = check(&key, &set, "j1").unwrap_err();
            assert_eq!(err, SetError::WrongType);
            assert_eq!(err.code(), "invalid_request");
        }
        let set = key.sign("application/secevent+jwt", &claims("j1")).unwrap();
        assert!(check(&key, &set, "j1").is_ok());
    }

    #[test]
    fn rfc8935_s2_3_wrong_issuer_is_invalid_issuer() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let mut c = claims("j1");
        c["iss"] = json!("https://auth.example.com/t/other");
        let err = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").unwrap_err();
        assert_eq!(err.code(), "invalid_issuer");
    }

    #[test]
    fn rfc8935_s2_3_wrong_audience_is_invalid_audience_and_arrays_work() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let mut c = claims("j1");
        c["aud"] = json!("someone-else");
        let err = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").unwrap_err();
        assert_eq!(err.code(), "invalid_audience");
        c["aud"] = json!(["someone-else", AUD]);
        assert!(check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").is_ok());
        c.as_object_mut().unwrap().remove("aud");
        let err = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").unwrap_err();
        assert_eq!(err, SetError::WrongAudience);
    }

    #[test]
    fn rfc8935_s2_3_unknown_kid_and_other_key_are_invalid_key() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let other = SigningKey::generate(JwsAlg::ES256).unwrap();
        let set = other.sign("secevent+jwt", &claims("j1")).unwrap();
        assert_eq!(check(&key, &set, "j1").unwrap_err().code(), "invalid_key");
        // Same kid, other key: the signature fails.
        let header = parse_header(&set).unwrap();
        let expect = Expect {
            issuer: ISS,
            audience: AUD,
        };
        let err = validate(&header, &verify_key(&key), &expect, "j1").unwrap_err();
        assert_eq!(err, SetError::BadSignature);
        assert_eq!(err.code(), "invalid_key");
    }

    #[test]
    fn rfc8725_s3_1_alg_none_and_hmac_are_refused_before_any_key_lookup() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("j1")).unwrap());
        for alg in ["none", "HS256", "nonsense"] {
            let header = URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&json!({"alg": alg, "typ": "secevent+jwt", "kid": key.kid()}))
                    .unwrap(),
            );
            let set = format!("{header}.{body}.");
            let err = parse_header(&set).err().unwrap();
            assert_eq!(err, SetError::UnsupportedAlg);
            assert_eq!(err.code(), "invalid_key");
        }
    }

    #[test]
    fn rfc8725_s2_1_alg_differing_from_the_key_is_refused() {
        let es = SigningKey::generate(JwsAlg::ES256).unwrap();
        let ed = SigningKey::generate(JwsAlg::EdDSA).unwrap();
        let set = ed.sign("secevent+jwt", &claims("j1")).unwrap();
        let header = parse_header(&set).unwrap();
        let expect = Expect {
            issuer: ISS,
            audience: AUD,
        };
        let err = validate(&header, &verify_key(&es), &expect, "j1").unwrap_err();
        assert_eq!(err, SetError::AlgMismatch);
    }

    #[test]
    fn rfc8935_s2_3_malformed_sets_are_invalid_request_and_never_panic() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let good = key.sign("secevent+jwt", &claims("j1")).unwrap();
        let long = "a".repeat(MAX_SET_LEN + 1);
        let cases = [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "ééé.ééé.ééé",
            "eyJhbGciOiJFUzI1NiJ9",
            &good[..good.len() / 2],
            &format!("{good}.x"),
            &long,
        ];
        for bad in cases {
            let err = check(&key, bad, "j1").unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{bad:?} gave {err:?}");
        }
        // A signed payload that is not JSON.
        let header = good.split('.').next().unwrap();
        let payload = URL_SAFE_NO_PAD.encode(b"not json");
        let err = check(&key, &format!("{header}.{payload}.AAAA"), "j1").unwrap_err();
        assert_eq!(err, SetError::BadSignature);
    }

    #[test]
    fn rfc8936_s2_3_jti_must_be_the_name_the_poll_response_gave() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let set = key.sign("secevent+jwt", &claims("j1")).unwrap();
        assert_eq!(check(&key, &set, "j2").unwrap_err(), SetError::JtiMismatch);
    }

    #[test]
    fn rfc8417_s2_2_a_set_with_two_events_or_none_is_refused() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let mut c = claims("j1");
        c["events"][CREDENTIAL_CHANGE] = json!({});
        let err = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").unwrap_err();
        assert_eq!(err, SetError::NotOneEvent);
        c["events"] = json!({});
        let err = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").unwrap_err();
        assert_eq!(err, SetError::NotOneEvent);
    }

    fn event_of(key: &SigningKey, sub_id: Option<Value>, events: Value) -> Result<Event, SetError> {
        let mut c = claims("j1");
        match sub_id {
            Some(s) => c["sub_id"] = s,
            None => {
                c.as_object_mut().unwrap().remove("sub_id");
            }
        }
        c["events"] = events;
        check(key, &key.sign("secevent+jwt", &c).unwrap(), "j1").map(|v| v.event)
    }

    #[test]
    fn risc_user_events_read_the_iss_sub_subject() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let user = json!({"format": "iss_sub", "iss": ISS, "sub": "u1"});
        for t in [SESSIONS_REVOKED, ACCOUNT_DISABLED, ACCOUNT_PURGED] {
            let e = event_of(&key, Some(user.clone()), json!({t: {"event_timestamp": 5}}));
            assert_eq!(
                e.unwrap(),
                Event::NotBefore {
                    iss: ISS.into(),
                    sub: "u1".into(),
                    at: 5
                }
            );
            // Without a timestamp, the SET's iat stands in (never earlier
            // than the event).
            let e = event_of(&key, Some(user.clone()), json!({t: {}}));
            assert!(
                matches!(
                    e,
                    Ok(Event::NotBefore {
                        at: 1_700_000_000,
                        ..
                    })
                ),
                "{e:?}"
            );
        }
        // RFC 8417 §2.2 `toe` stands in for a missing event_timestamp.
        let mut c = claims("j1");
        c["sub_id"] = user.clone();
        c["toe"] = json!(9);
        c["events"] = json!({SESSIONS_REVOKED: {}});
        let e = check(&key, &key.sign("secevent+jwt", &c).unwrap(), "j1").map(|v| v.event);
        assert!(matches!(e, Ok(Event::NotBefore { at: 9, .. })), "{e:?}");
        let opaque = json!({"format": "opaque", "id": "u1"});
        let e = event_of(
            &key,
            Some(opaque),
            json!({SESSIONS_REVOKED: {"event_timestamp": 5}}),
        );
        assert!(matches!(e, Err(SetError::BadEvent(_))));
    }

    #[test]
    fn ssf_s3_1_1_subject_in_the_event_payload_is_a_fallback_for_sub_id() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let e = event_of(
            &key,
            None,
            json!({SESSION_REVOKED: {
                "event_timestamp": 7,
                "subject": {"format": "complex", "session": {"format": "opaque", "id": "s9"}},
            }}),
        );
        assert_eq!(
            e.unwrap(),
            Event::SessionRevoked {
                sid: "s9".into(),
                at: 7
            }
        );
        let e = event_of(&key, None, json!({SESSION_REVOKED: {"event_timestamp": 7}}));
        assert!(matches!(e, Err(SetError::BadEvent(_))));
    }

    #[test]
    fn caep_s3_1_session_revoked_accepts_an_opaque_session_or_a_whole_user() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let events = json!({SESSION_REVOKED: {"event_timestamp": 7}});
        let e = event_of(
            &key,
            Some(json!({"format": "opaque", "id": "s1"})),
            events.clone(),
        );
        assert_eq!(
            e.unwrap(),
            Event::SessionRevoked {
                sid: "s1".into(),
                at: 7
            }
        );
        // A complex subject without a session: every session of the user.
        let user_only = json!({"format": "complex",
            "user": {"format": "iss_sub", "iss": ISS, "sub": "u1"}});
        assert_eq!(
            event_of(&key, Some(user_only), events.clone()).unwrap(),
            Event::NotBefore {
                iss: ISS.into(),
                sub: "u1".into(),
                at: 7
            }
        );
        // A bare iss_sub is not a session subject.
        let bare = json!({"format": "iss_sub", "iss": ISS, "sub": "u1"});
        assert!(matches!(
            event_of(&key, Some(bare), events),
            Err(SetError::BadEvent(_))
        ));
    }

    #[test]
    fn holdfast_access_token_revoked_and_ssf_events_are_read() {
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let e = event_of(
            &key,
            Some(json!({"format": "opaque", "id": "at-1"})),
            json!({ACCESS_TOKEN_REVOKED: {"event_timestamp": 1, "exp": 300}}),
        );
        assert_eq!(
            e.unwrap(),
            Event::AccessTokenRevoked {
                jti: "at-1".into(),
                exp: 300
            }
        );
        let e = event_of(
            &key,
            Some(json!({"format": "jwt_id", "iss": ISS, "jti": "at-2"})),
            json!({ACCESS_TOKEN_REVOKED: {"event_timestamp": 1, "exp": 300}}),
        );
        assert_eq!(
            e.unwrap(),
            Event::AccessTokenRevoked {
                jti: "at-2".into(),
                exp: 300
            }
        );
        let stream = Some(json!({"format": "opaque", "id": "stream-1"}));
        let e = event_of(
            &key,
            stream.clone(),
            json!({VERIFICATION: {"state": "abc"}}),
        );
        assert_eq!(
            e.unwrap(),
            Event::Verification {
                state: Some("abc".into())
            }
        );
        let e = event_of(&key, stream, json!({"https://example.com/new": {}}));
        assert_eq!(e.unwrap(), Event::Unknown("https://example.com/new".into()));
    }
}
