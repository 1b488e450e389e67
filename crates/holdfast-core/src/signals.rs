//! Security events: what a revocation tells resource servers and relying
//! parties, as values (docs/design.md §7).
//!
//! - Security Event Tokens ([RFC 8417](https://www.rfc-editor.org/rfc/rfc8417))
//!   profiled by the [OpenID Shared Signals Framework 1.0](https://openid.net/specs/openid-sharedsignals-framework-1_0.html)
//!   (SSF): one event per SET (§4.1.1), the subject in the top-level
//!   `sub_id` claim (§4.1.2), `typ: secevent+jwt` (RFC 8417 §2.3).
//! - Event types of [CAEP 1.0](https://openid.net/specs/openid-caep-1_0.html)
//!   (`session-revoked` §3.1, `credential-change` §3.3) and
//!   [RISC 1.0](https://openid.net/specs/openid-risc-1_0.html)
//!   (`account-disabled` §2.3, `account-purged` §2.2, `sessions-revoked`
//!   §2.11), plus SSF's own `verification` (§8.1.4) and `stream-updated`
//!   (§8.1.5), and one of Holdfast's, `access-token-revoked`
//!   ([`ACCESS_TOKEN_REVOKED`]), for RFC 7009 revocation of one access token,
//!   which no published event type describes.
//! - Subjects ([RFC 9493](https://www.rfc-editor.org/rfc/rfc9493)): a user is
//!   `iss_sub` (§3.2.3: the tenant's issuer and the user id, the access
//!   token's `sub`); a session is SSF §3.2's `complex` subject with
//!   `session` (`opaque`, the `sid` claim) and `user`; an access token is
//!   SSF §3.5.1's `jwt_id` (`iss` and `jti`); a stream (verification,
//!   stream-updated) is
//!   `opaque` with the `stream_id` (SSF §8.1.4.2).
//! - Logout tokens of [OpenID Connect Back-Channel Logout 1.0](https://openid.net/specs/openid-connect-backchannel-1_0.html)
//!   §2.4 (`typ: logout+jwt`, §2.4 and RFC 8725 §3.11).
//!
//! A [`Signal`] is what the store writes in the same transaction as the
//! revocation (the outbox); the claims are built from it when it is
//! delivered, so its id is the SET's stable `jti` however often it is sent.

use serde_json::{Map, Value, json};

/// RFC 8417 §2.3: the `typ` of a SET.
pub const SET_TYP: &str = "secevent+jwt";
/// Back-Channel Logout §2.4: the `typ` of a logout token.
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// Back-Channel Logout §2.4: the one event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// RFC 8936 poll delivery, as SSF §6.1.2 names it.
pub const POLL_DELIVERY: &str = "urn:ietf:rfc:8936";
/// RFC 8935 push delivery, as SSF §6.1.1 names it.
pub const PUSH_DELIVERY: &str = "urn:ietf:rfc:8935";
/// The scope a receiver's client-credentials token needs for the SSF
/// management API and poll endpoints.
pub const SSF_SCOPE: &str = "ssf";
/// Holdfast's event type for one revoked access token (RFC 7009): subject
/// `jwt_id` (SSF §3.5.1: the issuer and the token's `jti`), payload `exp`
/// (until when it matters).
pub const ACCESS_TOKEN_REVOKED: &str = "https://schemas.holdfast.dev/secevent/access-token-revoked";
/// How long a logout token is valid (Back-Channel Logout §2.4 recommends
/// at most two minutes).
pub const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// The kinds of event Holdfast emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// CAEP §3.1: one session ended.
    SessionRevoked,
    /// RISC §2.11: all of a user's sessions ended (a not-before stamp).
    SessionsRevoked,
    /// Holdfast: one access token revoked (RFC 7009).
    AccessTokenRevoked,
    /// CAEP §3.3: a credential was created, changed or removed.
    CredentialChange,
    /// RISC §2.3: the account was disabled.
    AccountDisabled,
    /// RISC §2.2: the account was deleted.
    AccountPurged,
    /// SSF §8.1.4: asked for by the receiver, to its stream only.
    Verification,
    /// SSF §8.1.5: the stream's status changed.
    StreamUpdated,
}

impl SignalKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::SessionRevoked,
        Self::SessionsRevoked,
        Self::AccessTokenRevoked,
        Self::CredentialChange,
        Self::AccountDisabled,
        Self::AccountPurged,
        Self::Verification,
        Self::StreamUpdated,
    ];

    /// The kinds a receiver chooses among (`events_supported`, SSF §8.1.1);
    /// verification and stream-updated go to every stream regardless
    /// (§8.1.4, §8.1.5).
    pub const REQUESTABLE: [Self; 6] = [
        Self::SessionRevoked,
        Self::SessionsRevoked,
        Self::AccessTokenRevoked,
        Self::CredentialChange,
        Self::AccountDisabled,
        Self::AccountPurged,
    ];

    /// The name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionRevoked => "session_revoked",
            Self::SessionsRevoked => "sessions_revoked",
            Self::AccessTokenRevoked => "access_token_revoked",
            Self::CredentialChange => "credential_change",
            Self::AccountDisabled => "account_disabled",
            Self::AccountPurged => "account_purged",
            Self::Verification => "verification",
            Self::StreamUpdated => "stream_updated",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The event-type URI in a SET's `events` claim.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::SessionRevoked => {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
            }
            Self::CredentialChange => {
                "https://schemas.openid.net/secevent/caep/event-type/credential-change"
            }
            Self::SessionsRevoked => {
                "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
            }
            Self::AccountDisabled => {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
            }
            Self::AccountPurged => {
                "https://schemas.openid.net/secevent/risc/event-type/account-purged"
            }
            Self::AccessTokenRevoked => ACCESS_TOKEN_REVOKED,
            Self::Verification => "https://schemas.openid.net/secevent/ssf/event-type/verification",
            Self::StreamUpdated => {
                "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
            }
        }
    }

    /// The kind of an event-type URI.
    pub fn from_event_type(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.event_type() == uri)
    }
}

/// One event in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Unique, time-sortable; the SET's `jti`.
    pub id: String,
    /// What happened.
    pub kind: SignalKind,
    /// When, Unix seconds (`event_timestamp`).
    pub at: i64,
    /// The session (`sid`), for session-revoked.
    pub session_id: Option<String>,
    /// The user (`sub`).
    pub user_id: Option<String>,
    /// The access token's `jti`, for access-token-revoked.
    pub token_id: Option<String>,
    /// The access token's `exp`, for access-token-revoked.
    pub token_exp: Option<i64>,
    /// Why (session-revoked: the revocation reason), the credential
    /// (credential-change: `type:change`), the `state` (verification) or the
    /// status (stream-updated).
    pub detail: Option<String>,
}

impl Signal {
    /// An event of `kind` at `at` with id `id` (a UUIDv7: ids sort by time,
    /// the order streams receive events in), about nothing yet.
    pub fn new(id: String, kind: SignalKind, at: i64) -> Self {
        Self {
            id,
            kind,
            at,
            session_id: None,
            user_id: None,
            token_id: None,
            token_exp: None,
            detail: None,
        }
    }

    /// The SET's claims (RFC 8417 §2.2, SSF §4.1) for the receiver
    /// `audience` of the stream `stream_id`, issued at `iat`.
    pub fn set_claims(&self, issuer: &str, audience: &str, stream_id: &str, iat: i64) -> Value {
        let user = || iss_sub(issuer, self.user_id.as_deref().unwrap_or_default());
        let mut event = Map::new();
        event.insert("event_timestamp".into(), json!(self.at));
        let sub_id = match self.kind {
            SignalKind::SessionRevoked => {
                if let Some(reason) = &self.detail {
                    event.insert("reason_admin".into(), json!({ "en": reason }));
                    if let Some(who) = initiating_entity(reason) {
                        event.insert("initiating_entity".into(), json!(who));
                    }
                }
                json!({
                    "format": "complex",
                    "session": opaque(self.session_id.as_deref().unwrap_or_default()),
                    "user": user(),
                })
            }
            SignalKind::CredentialChange => {
                // CAEP §3.3.1: `credential_type` and `change_type` are
                // required; the detail is `type:change`.
                let detail = self.detail.as_deref().unwrap_or("password:update");
                let (credential, change) = detail.split_once(':').unwrap_or((detail, "update"));
                event.insert("credential_type".into(), json!(credential));
                event.insert("change_type".into(), json!(change));
                user()
            }
            SignalKind::SessionsRevoked
            | SignalKind::AccountDisabled
            | SignalKind::AccountPurged => user(),
            SignalKind::AccessTokenRevoked => {
                if let Some(exp) = self.token_exp {
                    event.insert("exp".into(), json!(exp));
                }
                // SSF §3.5.1: a JWT is named by its issuer and `jti`.
                json!({
                    "format": "jwt_id",
                    "iss": issuer,
                    "jti": self.token_id.as_deref().unwrap_or_default(),
                })
            }
            SignalKind::Verification => {
                event.remove("event_timestamp");
                if let Some(state) = &self.detail {
                    event.insert("state".into(), json!(state));
                }
                opaque(stream_id)
            }
            SignalKind::StreamUpdated => {
                event.remove("event_timestamp");
                event.insert(
                    "status".into(),
                    json!(self.detail.as_deref().unwrap_or("enabled")),
                );
                opaque(stream_id)
            }
        };
        json!({
            "iss": issuer,
            "aud": audience,
            "iat": iat,
            "jti": self.id,
            "sub_id": sub_id,
            "events": { self.kind.event_type(): Value::Object(event) },
        })
    }
}

/// A logout token's claims (Back-Channel Logout §2.4): `iss`, `aud` (the
/// client), `iat`, `exp`, `jti`, `events`, `sub` and, when known, `sid`;
/// never a `nonce` (§2.4: "A nonce Claim MUST NOT be present").
pub fn logout_token_claims(
    issuer: &str,
    client_id: &str,
    user_id: &str,
    session_id: Option<&str>,
    jti: &str,
    iat: i64,
) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_TTL_SECS,
        "jti": jti,
        "sub": user_id,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    if let Some(sid) = session_id {
        claims["sid"] = json!(sid);
    }
    claims
}

/// RFC 9493 §3.2.3.
fn iss_sub(issuer: &str, sub: &str) -> Value {
    json!({ "format": "iss_sub", "iss": issuer, "sub": sub })
}

/// RFC 9493 §3.2.4.
fn opaque(id: &str) -> Value {
    json!({ "format": "opaque", "id": id })
}

/// CAEP §2 `initiating_entity` for Holdfast's revocation reasons.
fn initiating_entity(reason: &str) -> Option<&'static str> {
    match reason {
        "signed_out" | "signed_out_by_user" | "signed_out_other_devices" | "revoked_by_client" => {
            Some("user")
        }
        "revoked_by_admin" => Some("admin"),
        "refresh_token_reuse" | "code_replay" | "not_before" => Some("policy"),
        _ => None,
    }
}

/// SSF §7.1: the transmitter configuration metadata of the tenant whose
/// issuer is `issuer` (served at `/.well-known/ssf-configuration` with the
/// issuer's path after it, §7.2 as RFC 8414 §3.1 does). Receivers
/// authenticate with an OAuth access token (`authorization_schemes`,
/// §7.1.1: RFC 6749) from the client credentials grant with scope
/// [`SSF_SCOPE`]; subjects are not filtered (`default_subjects: ALL`).
pub fn transmitter_metadata(issuer: &str) -> Value {
    let base = issuer.trim_end_matches('/');
    json!({
        "spec_version": "1_0",
        "issuer": base,
        "jwks_uri": format!("{base}/jwks.json"),
        "delivery_methods_supported": [PUSH_DELIVERY, POLL_DELIVERY],
        "configuration_endpoint": format!("{base}/ssf/streams"),
        "status_endpoint": format!("{base}/ssf/status"),
        "verification_endpoint": format!("{base}/ssf/verify"),
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
        "default_subjects": "ALL",
    })
}

/// SSF §8.1.2: a stream's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Events are delivered.
    Enabled,
    /// Events are held and delivered once enabled again.
    Paused,
    /// Events are not kept for the stream.
    Disabled,
}

impl StreamStatus {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    /// A name as the wire or the store spells it.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Enabled, Self::Paused, Self::Disabled]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// SSF §8.1.1: the kinds a stream delivers, of those it asked for: the
/// supported ones among `events_requested`, in Holdfast's order.
pub fn events_delivered(requested: &[String]) -> Vec<SignalKind> {
    SignalKind::REQUESTABLE
        .into_iter()
        .filter(|k| requested.iter().any(|r| r == k.event_type()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(kind: SignalKind) -> Signal {
        Signal {
            id: "jti-1".into(),
            kind,
            at: 1_700_000_000,
            session_id: Some("sid-1".into()),
            user_id: Some("user-1".into()),
            token_id: Some("at-jti".into()),
            token_exp: Some(1_700_000_300),
            detail: Some("signed_out".into()),
        }
    }

    #[test]
    fn rfc8417_s2_2_a_set_carries_iss_aud_iat_jti_and_exactly_one_event() {
        for kind in SignalKind::ALL {
            let c = signal(kind).set_claims("https://as/t/a", "rs", "stream-1", 5);
            assert_eq!(c["iss"], "https://as/t/a");
            assert_eq!(c["aud"], "rs");
            assert_eq!(c["iat"], 5);
            assert_eq!(c["jti"], "jti-1");
            let events = c["events"].as_object().unwrap();
            assert_eq!(events.len(), 1, "{kind:?}");
            assert!(events.contains_key(kind.event_type()), "{kind:?}");
            assert!(c["sub_id"]["format"].is_string(), "{kind:?}");
        }
    }

    #[test]
    fn caep_s3_1_session_revoked_names_the_session_and_its_user() {
        let c = signal(SignalKind::SessionRevoked).set_claims("https://as/t/a", "rs", "s", 5);
        assert_eq!(
            c["sub_id"],
            json!({
                "format": "complex",
                "session": { "format": "opaque", "id": "sid-1" },
                "user": { "format": "iss_sub", "iss": "https://as/t/a", "sub": "user-1" },
            })
        );
        let event = &c["events"][SignalKind::SessionRevoked.event_type()];
        assert_eq!(event["event_timestamp"], 1_700_000_000);
        assert_eq!(event["initiating_entity"], "user");
    }

    #[test]
    fn caep_s3_3_credential_change_has_its_required_claims() {
        let mut s = signal(SignalKind::CredentialChange);
        s.detail = Some("password:update".into());
        let c = s.set_claims("https://as/t/a", "rs", "s", 5);
        let event = &c["events"][SignalKind::CredentialChange.event_type()];
        assert_eq!(event["credential_type"], "password");
        assert_eq!(event["change_type"], "update");
        assert_eq!(c["sub_id"]["format"], "iss_sub");
    }

    #[test]
    fn ssf_s8_1_4_verification_echoes_state_about_the_stream() {
        let mut s = signal(SignalKind::Verification);
        s.detail = Some("xyz".into());
        let c = s.set_claims("https://as/t/a", "rs", "stream-9", 5);
        assert_eq!(c["sub_id"], json!({ "format": "opaque", "id": "stream-9" }));
        assert_eq!(
            c["events"][SignalKind::Verification.event_type()],
            json!({ "state": "xyz" })
        );
    }

    #[test]
    fn access_token_revoked_names_the_jti_and_until_when() {
        let c = signal(SignalKind::AccessTokenRevoked).set_claims("https://as/t/a", "rs", "s", 5);
        assert_eq!(
            c["sub_id"],
            json!({ "format": "jwt_id", "iss": "https://as/t/a", "jti": "at-jti" })
        );
        assert_eq!(c["events"][ACCESS_TOKEN_REVOKED]["exp"], 1_700_000_300);
    }

    #[test]
    fn backchannel_logout_s2_4_logout_token_has_events_sid_and_no_nonce() {
        let c = logout_token_claims("https://as/t/a", "app", "user-1", Some("sid-1"), "j", 10);
        assert_eq!(c["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert_eq!(c["sid"], "sid-1");
        assert_eq!(c["sub"], "user-1");
        assert_eq!(c["aud"], "app");
        assert_eq!(c["exp"], 10 + LOGOUT_TOKEN_TTL_SECS);
        assert!(c.get("nonce").is_none());
        let without = logout_token_claims("https://as/t/a", "app", "user-1", None, "j", 10);
        assert!(without.get("sid").is_none());
    }

    #[test]
    fn kinds_round_trip_through_their_names_and_uris() {
        for kind in SignalKind::ALL {
            assert_eq!(SignalKind::parse(kind.as_str()), Some(kind));
            assert_eq!(SignalKind::from_event_type(kind.event_type()), Some(kind));
        }
        assert_eq!(SignalKind::parse("nope"), None);
    }

    #[test]
    fn ssf_s8_1_1_events_delivered_are_the_supported_requested_ones() {
        let asked = vec![
            SignalKind::SessionRevoked.event_type().to_owned(),
            "https://example.com/unknown".to_owned(),
            SignalKind::Verification.event_type().to_owned(),
        ];
        assert_eq!(events_delivered(&asked), vec![SignalKind::SessionRevoked]);
    }
}
