//! The feed without HTTP: a batch of signed SETs through validation, the
//! state and the stats, and the staleness rule of `check`.

use std::collections::HashMap;
use std::time::Instant;

use holdfast_crypto::jws::{JwsAlg, SigningKey};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

use super::set::{ACCESS_TOKEN_REVOKED, CREDENTIAL_CHANGE, SESSION_REVOKED, SESSIONS_REVOKED};
use super::*;
use crate::claims::Audience;
use crate::clock::ManualClock;

pub(super) const ISS: &str = "https://auth.example.com/t/acme";
pub(super) const CLIENT: &str = "rs-client";
pub(super) const NOW: i64 = 1_700_000_000;

pub(super) struct FixedKeys(HashMap<String, Arc<VerifyKey>>);

impl Keys for FixedKeys {
    fn get<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyKey>, AuthError>> {
        Box::pin(async move { self.0.get(kid).cloned().ok_or(AuthError::UnknownKey) })
    }
}

/// Keys are reachable but the JWKS cannot be fetched.
pub(super) struct NoKeys;

impl Keys for NoKeys {
    fn get<'a>(&'a self, _kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyKey>, AuthError>> {
        Box::pin(async { Err(AuthError::KeysUnavailable) })
    }
}

pub(super) struct Fixture {
    pub key: SigningKey,
    pub keys: Arc<FixedKeys>,
    pub clock: Arc<ManualClock>,
    pub shared: Arc<Shared>,
}

fn fixture_with(config: Config) -> Fixture {
    let key = SigningKey::generate(JwsAlg::ES256).unwrap();
    let verify = VerifyKey {
        alg: crate::jwks::key_alg(key.public_jwk()).unwrap(),
        key: DecodingKey::from_jwk(key.public_jwk()).unwrap(),
    };
    let keys = Arc::new(FixedKeys(HashMap::from([(
        key.kid().to_owned(),
        Arc::new(verify),
    )])));
    let clock = Arc::new(ManualClock::new(NOW));
    let shared = Arc::new(Shared::new(
        ISS.into(),
        CLIENT.into(),
        config,
        clock.clone(),
    ));
    Fixture {
        key,
        keys,
        clock,
        shared,
    }
}

pub(super) fn fixture() -> Fixture {
    fixture_with(Config {
        staleness_bound: 60,
        fail_open: false,
        max_token_lifetime: 3600,
    })
}

impl Fixture {
    pub(super) fn set(
        &self,
        jti: &str,
        sub_id: Value,
        event_type: &str,
        payload: Value,
    ) -> (String, String) {
        let claims = json!({
            "iss": ISS, "aud": CLIENT, "iat": NOW, "jti": jti,
            "sub_id": sub_id, "events": {event_type: payload},
        });
        (
            jti.to_owned(),
            self.key.sign("secevent+jwt", &claims).unwrap(),
        )
    }

    pub(super) fn session_revoked(&self, jti: &str, sid: &str) -> (String, String) {
        self.set(
            jti,
            json!({"format": "complex",
                   "session": {"format": "opaque", "id": sid},
                   "user": {"format": "iss_sub", "iss": ISS, "sub": "u1"}}),
            SESSION_REVOKED,
            json!({"event_timestamp": NOW}),
        )
    }

    async fn process(&self, sets: Vec<(String, String)>) -> Processed {
        let sets = sets.into_iter().map(named).collect();
        self.shared.process(self.keys.as_ref(), sets).await
    }
}

fn named((jti, set): (String, String)) -> (Option<String>, String) {
    (Some(jti), set)
}

pub(super) fn claims(sid: &str, sub: &str, jti: &str, iat: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: sub.into(),
        aud: Audience(vec!["https://api.example.com".into()]),
        exp: iat + 300,
        iat,
        nbf: None,
        jti: jti.into(),
        client_id: "spa".into(),
        scope: String::new(),
        sid: Some(sid.into()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
    }
}

#[tokio::test]
async fn caep_session_revoked_set_refuses_the_session_and_is_acked() {
    let f = fixture();
    f.shared.mark_polled();
    let p = f.process(vec![f.session_revoked("j1", "sid-1")]).await;
    assert_eq!(p.acks, ["j1"]);
    assert!(p.errs.is_empty());
    assert_eq!(p.records.len(), 1);
    let check = |sid| f.shared.check(&claims(sid, "u1", "at", NOW));
    assert_eq!(check("sid-1"), Ok(RevocationStatus::Revoked));
    assert_eq!(check("sid-2"), Ok(RevocationStatus::Active));
    // Kept for max_token_lifetime (+ the leeway margin) after the event.
    f.clock.set(NOW + 3600 + 59);
    f.shared.mark_polled();
    assert_eq!(check("sid-1"), Ok(RevocationStatus::Revoked));
    f.clock.set(NOW + 3600 + 60);
    assert_eq!(check("sid-1"), Ok(RevocationStatus::Active));
}

#[tokio::test]
async fn rfc8936_s2_4_redelivered_sets_are_acked_again_counted_and_not_journaled() {
    let f = fixture();
    let first = f.process(vec![f.session_revoked("j1", "sid-1")]).await;
    assert_eq!(first.records.len(), 1);
    let again = f
        .process(vec![
            f.session_revoked("j1", "sid-1"),
            f.session_revoked("j2", "sid-2"),
        ])
        .await;
    assert_eq!(again.acks, ["j1", "j2"]);
    assert_eq!(again.records.len(), 1, "only the new SET changes the state");
    let stats = f.shared.stats();
    assert_eq!((stats.applied, stats.duplicates, stats.rejected), (2, 1, 0));
}

#[tokio::test]
async fn risc_sessions_revoked_refuses_older_tokens_of_the_user_only() {
    let f = fixture();
    f.shared.mark_polled();
    let user = json!({"format": "iss_sub", "iss": ISS, "sub": "alice"});
    f.process(vec![f.set(
        "j1",
        user,
        SESSIONS_REVOKED,
        json!({"event_timestamp": NOW}),
    )])
    .await;
    let check = |sub, iat| f.shared.check(&claims("s", sub, "at", iat));
    assert_eq!(check("alice", NOW - 1), Ok(RevocationStatus::Revoked));
    assert_eq!(check("alice", NOW), Ok(RevocationStatus::Active));
    assert_eq!(check("bob", NOW - 1), Ok(RevocationStatus::Active));
}

#[tokio::test]
async fn access_token_revoked_refuses_that_token_until_its_exp() {
    let f = fixture();
    f.shared.mark_polled();
    f.process(vec![f.set(
        "j1",
        json!({"format": "opaque", "id": "at-1"}),
        ACCESS_TOKEN_REVOKED,
        json!({"event_timestamp": NOW, "exp": NOW + 300}),
    )])
    .await;
    let check = |jti| f.shared.check(&claims("s", "u", jti, NOW));
    assert_eq!(check("at-1"), Ok(RevocationStatus::Revoked));
    assert_eq!(check("at-2"), Ok(RevocationStatus::Active));
}

#[tokio::test]
async fn credential_change_and_unknown_events_are_acked_with_no_token_effect() {
    let f = fixture();
    f.shared.mark_polled();
    let user = json!({"format": "iss_sub", "iss": ISS, "sub": "alice"});
    let p = f
        .process(vec![
            f.set(
                "j1",
                user.clone(),
                CREDENTIAL_CHANGE,
                json!({"event_timestamp": NOW}),
            ),
            f.set("j2", user, "https://example.com/unknown", json!({})),
        ])
        .await;
    assert_eq!(p.acks, ["j1", "j2"]);
    assert_eq!(
        f.shared.check(&claims("s", "alice", "at", NOW - 10)),
        Ok(RevocationStatus::Active)
    );
    assert_eq!(f.shared.stats().applied, 2);
}

#[tokio::test]
async fn rfc8935_s2_3_refused_sets_are_reported_not_applied_and_not_acked() {
    let f = fixture();
    f.shared.mark_polled();
    let other = SigningKey::generate(JwsAlg::ES256).unwrap();
    let foreign = {
        let claims = json!({"iss": ISS, "aud": CLIENT, "iat": NOW, "jti": "j2",
            "sub_id": {"format": "complex", "session": {"format": "opaque", "id": "sid-2"}},
            "events": {SESSION_REVOKED: {"event_timestamp": NOW}}});
        (
            "j2".to_owned(),
            other.sign("secevent+jwt", &claims).unwrap(),
        )
    };
    let mut wrong_aud = f.session_revoked("j3", "sid-3");
    wrong_aud.1 = f
        .key
        .sign(
            "secevent+jwt",
            &json!({"iss": ISS, "aud": "someone", "iat": NOW, "jti": "j3",
                "sub_id": {"format": "complex", "session": {"format": "opaque", "id": "sid-3"}},
                "events": {SESSION_REVOKED: {"event_timestamp": NOW}}}),
        )
        .unwrap();
    let p = f
        .process(vec![
            ("j1".into(), "garbage".into()),
            foreign,
            wrong_aud,
            f.session_revoked("j4", "sid-4"),
        ])
        .await;
    assert_eq!(p.acks, ["j4"]);
    let codes: Vec<(&str, &str)> = p.errs.iter().map(|(j, e)| (j.as_str(), e.code())).collect();
    assert_eq!(
        codes,
        [
            ("j1", "invalid_request"),
            ("j2", "invalid_key"),
            ("j3", "invalid_audience")
        ]
    );
    assert_eq!(f.shared.stats().rejected, 3);
    for sid in ["sid-2", "sid-3"] {
        assert_eq!(
            f.shared.check(&claims(sid, "u", "at", NOW)),
            Ok(RevocationStatus::Active)
        );
    }
}

#[tokio::test]
async fn sets_are_deferred_not_refused_while_the_jwks_cannot_be_fetched() {
    let f = fixture();
    let p = f
        .shared
        .process(&NoKeys, vec![named(f.session_revoked("j1", "sid-1"))])
        .await;
    assert_eq!((p.acks.len(), p.errs.len(), p.deferred), (0, 0, 1));
}

#[tokio::test]
async fn stale_feed_fails_closed_by_default_but_still_refuses_known_revocations() {
    let f = fixture();
    assert!(
        f.shared.check(&claims("s", "u", "at", NOW)).is_err(),
        "never polled"
    );
    f.shared.mark_polled();
    f.process(vec![f.session_revoked("j1", "sid-1")]).await;
    f.clock.advance(60);
    assert_eq!(
        f.shared.check(&claims("s", "u", "at", NOW)),
        Ok(RevocationStatus::Active)
    );
    f.clock.advance(1);
    let err = f.shared.check(&claims("s", "u", "at", NOW)).unwrap_err();
    assert!(err.0.contains("stale"), "{err}");
    assert_eq!(
        f.shared.check(&claims("sid-1", "u", "at", NOW)),
        Ok(RevocationStatus::Revoked)
    );
}

#[tokio::test]
async fn stale_feed_with_fail_open_accepts_tokens_not_known_revoked() {
    let f = fixture_with(Config {
        staleness_bound: 60,
        fail_open: true,
        max_token_lifetime: 3600,
    });
    f.shared.mark_polled();
    f.process(vec![f.session_revoked("j1", "sid-1")]).await;
    f.clock.advance(3000);
    assert_eq!(
        f.shared.check(&claims("s", "u", "at", NOW)),
        Ok(RevocationStatus::Active)
    );
    assert_eq!(
        f.shared.check(&claims("sid-1", "u", "at", NOW)),
        Ok(RevocationStatus::Revoked)
    );
}

#[tokio::test]
async fn state_file_restores_revocations_after_a_restart() {
    let mut path = std::env::temp_dir();
    path.push(format!(
        "holdfast-verify-feed-{}",
        holdfast_crypto::secret::random_id().unwrap()
    ));
    let f = fixture();
    f.shared.open_journal(path.clone()).await.unwrap();
    let p = f.process(vec![f.session_revoked("j1", "sid-1")]).await;
    f.shared.journal(p.records).await.unwrap();
    drop(f);

    let g = fixture();
    g.shared.open_journal(path.clone()).await.unwrap();
    g.shared.mark_polled();
    assert_eq!(
        g.shared.check(&claims("sid-1", "u", "at", NOW)),
        Ok(RevocationStatus::Revoked)
    );
    // A redelivery after the restart is recognised.
    g.process(vec![g.session_revoked("j1", "sid-1")]).await;
    assert_eq!(g.shared.stats().duplicates, 1);
    let _ = std::fs::remove_file(&path);
}

/// A poll's worth of SETs (1,000, ES256) is validated and applied as one
/// batch: every one acknowledged, every session refused afterwards. It
/// prints how long the batch took (the receiver's apply rate, issue 13's
/// ≥ 10,000 events/s) but asserts nothing about time, which depends on the
/// machine: `cargo test --release -p holdfast-verify --lib
/// a_batch_of_1000_signed_sets_is_validated_and_applied -- --nocapture`.
#[tokio::test]
async fn a_batch_of_1000_signed_sets_is_validated_and_applied() {
    let f = fixture();
    let mut best = f64::MAX;
    for round in 0..5 {
        let batch: Vec<_> = (0..1000)
            .map(|i| f.session_revoked(&format!("j{round}-{i}"), &format!("sid-{round}-{i}")))
            .collect();
        let start = Instant::now();
        let p = f.process(batch).await;
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(p.acks.len(), 1000);
        best = best.min(secs);
    }
    for round in 0..5 {
        for i in [0, 999] {
            assert_eq!(
                f.shared
                    .check(&claims(&format!("sid-{round}-{i}"), "u", "at", NOW)),
                Ok(RevocationStatus::Revoked)
            );
        }
    }
    println!(
        "validated and applied 1000 ES256 SETs in {:.1} ms: {:.0} SETs/s",
        best * 1000.0,
        1000.0 / best
    );
}

#[test]
fn start_can_be_spawned_and_the_feed_shared_across_threads() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>() {}
    let start = RevocationFeed::builder(ISS, CLIENT, SecretString::new("s")).start();
    send(&start);
    send_sync::<RevocationFeed>();
    drop(start);
}
