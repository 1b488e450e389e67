//! SET validation tests: each refusal and its RFC 8935 §2.4 code, and the
//! event forms read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    validate(&header, &verify_key(key), &expect, Some(named))
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
    let err = validate(&header, &verify_key(&key), &expect, Some("j1")).unwrap_err();
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
    let err = validate(&header, &verify_key(&es), &expect, Some("j1")).unwrap_err();
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
