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
//! Every refusal maps to one RFC 8935 §2.4 error code ([`SetError::code`])
//! for the `setErrs` of the next poll (RFC 8936 §2.2).
//!
//! Timestamps: CAEP's `event_timestamp` in the payload, else RFC 8417 §2.2
//! `toe`. Token ids: `opaque`, or SSF §3.5.1 `jwt_id`.
//!
//! Not supported: encrypted SETs (JWE); subject formats other than those
//! the events below use (`opaque`, `iss_sub`, `complex`, `jwt_id`).

use serde::Deserialize;
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

/// Why a SET was refused. Each maps to one RFC 8935 §2.4 code.
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
    /// The RFC 8935 §2.4 error code reported in `setErrs`.
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

/// A SET whose header passed, read before any key is looked up.
pub(crate) type Header<'a> = crate::jws::Jws<'a>;

/// Largest SET looked at.
pub(crate) const MAX_SET_LEN: usize = 16 * 1024;

/// Reads the header: shape, `crit`, `typ` (SSF §4.1.1: "SSF events MUST
/// use explicit typing as defined in Section 2.3 of RFC8417"), `alg`,
/// `kid` (`crate::jws`).
pub(crate) fn parse_header(compact: &str) -> Result<Header<'_>, SetError> {
    Ok(crate::jws::parse(compact, MAX_SET_LEN, "secevent+jwt")?)
}

impl From<crate::jws::JwsError> for SetError {
    fn from(e: crate::jws::JwsError) -> Self {
        use crate::jws::JwsError as J;
        match e {
            J::Malformed(what) => Self::Malformed(what),
            J::CriticalHeader => Self::CriticalHeader,
            J::WrongType => Self::WrongType,
            J::UnsupportedAlg => Self::UnsupportedAlg,
            J::UnknownKey => Self::UnknownKey,
            J::AlgMismatch => Self::AlgMismatch,
            J::BadSignature => Self::BadSignature,
        }
    }
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
/// the `jti` a poll response filed the SET under (a push names none).
pub(crate) fn validate(
    header: &Header<'_>,
    key: &VerifyKey,
    expect: &Expect<'_>,
    named: Option<&str>,
) -> Result<ValidSet, SetError> {
    let payload = header.verified_payload(key)?;
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
        .filter(|j| named.is_none_or(|n| j == n))
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
#[path = "set_tests.rs"]
mod tests;
