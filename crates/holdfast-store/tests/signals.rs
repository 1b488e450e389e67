//! The security-event outbox on both back ends (docs/design.md §7): every
//! revoking statement writes its event in its own transaction, or nothing
//! at all; each stream receives exactly the events of its kinds committed
//! after it was created; a paused stream holds them, a disabled one drops
//! them; deliveries are claimed by one taker at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use holdfast_core::client::{BackchannelLogout, ClientKind, NewClient};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::signals::{POLL_DELIVERY, PUSH_DELIVERY, Signal, SignalKind, StreamStatus};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::Username;
use holdfast_store::{
    AuditEvent, AuthCodeRecord, CodeIssuance, SessionRecord, Store, StoreError, StoredKey,
    StreamRecord,
};

const NOW: i64 = 1_000_000;

static IDS: AtomicU64 = AtomicU64::new(0);

fn audit(id: Option<&str>) -> AuditEvent {
    AuditEvent {
        id: id.map_or_else(
            || format!("ev-{}", IDS.fetch_add(1, Ordering::Relaxed)),
            str::to_owned,
        ),
        tenant_id: "t1".into(),
        at: NOW,
        kind: "revocation".into(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: None,
        user_agent: None,
        actor: None,
    }
}

async fn tenant(store: &dyn Store) {
    let tenant = Tenant {
        id: "t1".into(),
        slug: TenantSlug::parse("acme").unwrap(),
        display_name: "Acme".into(),
        signing_alg: SigningAlg::ES256,
        default_audience: None,
        created_at: 1,
        branding: Default::default(),
    };
    let key = StoredKey {
        kid: "k1".into(),
        alg: SigningAlg::ES256,
        state: KeyState::Current,
        private_sealed: vec![1],
        public_jwk: "{}".into(),
        created_at: 1,
        activated_at: Some(1),
        retired_at: None,
    };
    store.create_tenant(&tenant, &[key]).await.unwrap();
    let mut web = NewClient::new("web", ClientKind::Public);
    web.redirect_uris = vec!["https://app.example.com/cb".into()];
    web.backchannel_logout = Some(BackchannelLogout {
        uri: "https://app.example.com/logout".into(),
        session_required: true,
    });
    let web = web.validate().unwrap();
    store
        .create_client("web", "t1", &web, None, 1)
        .await
        .unwrap();
    store
        .create_user("u1", "t1", &Username::parse("alice").unwrap(), None, "h", 1)
        .await
        .unwrap();
}

async fn session(store: &dyn Store, sid: &str) {
    let code = AuthCodeRecord {
        code_digest: format!("{sid}-code"),
        tenant_id: "t1".into(),
        client_id: "web".into(),
        user_id: "u1".into(),
        redirect_uri: None,
        scope: "openid".into(),
        nonce: None,
        code_challenge: "c".repeat(43),
        resource: None,
        auth_time: NOW,
        acr: "1".into(),
        amr: vec!["pwd".into()],
        created_at: NOW,
        expires_at: NOW + 60,
        consumed_at: None,
        session_id: None,
        access_jti: None,
        access_exp: None,
        dpop_jkt: None,
        browser_session: None,
    };
    store.insert_auth_code(&code).await.unwrap();
    let issued = CodeIssuance {
        access_jti: format!("{sid}-jti"),
        access_exp: NOW + 300,
        session: SessionRecord {
            id: sid.into(),
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            client_id: "web".into(),
            scope: "openid".into(),
            resource: None,
            auth_time: NOW,
            acr: "1".into(),
            amr: vec!["pwd".into()],
            created_at: NOW,
            last_used_at: NOW,
            expires_at: NOW + 86_400,
            revoked_at: None,
            revoked_reason: None,
            device_id: None,
            user_agent: None,
            ip: None,
            dpop_jkt: None,
            browser_session: None,
        },
        refresh_token_digest: Some(format!("{sid}-rt")),
        continues: None,
    };
    store
        .redeem_auth_code("t1", &code.code_digest, &issued, NOW, None)
        .await
        .unwrap();
}

async fn stream(store: &dyn Store, id: &str, kinds: &[SignalKind], method: &str) {
    store
        .create_stream(&StreamRecord {
            id: id.into(),
            tenant_id: "t1".into(),
            client_id: "rs".into(),
            delivery_method: method.into(),
            push_endpoint: (method == PUSH_DELIVERY).then(|| "https://rs.example.com/ssf".into()),
            push_authorization: None,
            events_requested: kinds.iter().map(|k| k.event_type().to_owned()).collect(),
            events_delivered: kinds.to_vec(),
            description: None,
            status: StreamStatus::Enabled,
            status_reason: None,
            created_at: NOW,
            updated_at: NOW,
        })
        .await
        .unwrap();
}

/// Everything queued for `stream_id`, acknowledged.
async fn take(store: &dyn Store, stream_id: &str) -> Vec<Signal> {
    let (signals, more) = store
        .poll_signals(stream_id, &[], 1000, NOW, NOW + 10)
        .await
        .unwrap();
    assert!(!more);
    let ids: Vec<String> = signals.iter().map(|s| s.id.clone()).collect();
    store
        .poll_signals(stream_id, &ids, 0, NOW, NOW + 10)
        .await
        .unwrap();
    signals
}

/// docs/design.md §7: revoking a session writes its CAEP session-revoked
/// event and its client's logout delivery with it; revoking it again (it is
/// idempotent) writes nothing more.
async fn design_s7_a_revoked_session_writes_its_event_and_logout_once(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "s1", &SignalKind::REQUESTABLE, POLL_DELIVERY).await;
    session(&*store, "sid-1").await;
    store
        .revoke_session("t1", "sid-1", "signed_out", NOW, &audit(None))
        .await
        .unwrap();
    let got = take(&*store, "s1").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, SignalKind::SessionRevoked);
    assert_eq!(got[0].session_id.as_deref(), Some("sid-1"));
    assert_eq!(got[0].user_id.as_deref(), Some("u1"));
    assert_eq!(got[0].detail.as_deref(), Some("signed_out"));
    let logouts = store.due_logouts(NOW, NOW + 30, 10).await.unwrap();
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0].session_id.as_deref(), Some("sid-1"));
    assert_eq!(logouts[0].uri, "https://app.example.com/logout");

    store
        .revoke_session("t1", "sid-1", "again", NOW, &audit(None))
        .await
        .unwrap();
    assert!(take(&*store, "s1").await.is_empty());
}

/// Contract (lib.rs): all of a method happens or none of it. A revocation
/// whose audit event cannot be written (its id is taken) fails whole: the
/// session stays live and no event reaches any stream.
async fn a_revocation_that_fails_writes_no_event(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "s1", &SignalKind::REQUESTABLE, POLL_DELIVERY).await;
    session(&*store, "sid-1").await;
    store.record_event(&audit(Some("taken"))).await.unwrap();
    let failed = store
        .revoke_session("t1", "sid-1", "signed_out", NOW, &audit(Some("taken")))
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert!(take(&*store, "s1").await.is_empty());
    assert!(
        store
            .due_logouts(NOW, NOW + 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let live = store.session("t1", "sid-1").await.unwrap().unwrap();
    assert!(live.revoked_at.is_none());
}

/// SSF §8.1.1 `events_delivered`: a stream gets only its kinds; one
/// created after an event does not get it; a not-before stamp writes RISC
/// sessions-revoked and the session-revoked of each session it ended; a
/// revoked access token writes access-token-revoked once.
async fn streams_get_their_kinds_committed_after_they_began(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "all", &SignalKind::REQUESTABLE, POLL_DELIVERY).await;
    stream(
        &*store,
        "tokens",
        &[SignalKind::AccessTokenRevoked],
        POLL_DELIVERY,
    )
    .await;
    session(&*store, "sid-1").await;
    session(&*store, "sid-2").await;
    store.set_user_not_before("t1", "u1", NOW).await.unwrap();
    store
        .revoke_access_token("t1", "jti-1", NOW + 300, &audit(None))
        .await
        .unwrap();
    store
        .revoke_access_token("t1", "jti-1", NOW + 300, &audit(None))
        .await
        .unwrap();
    stream(&*store, "late", &SignalKind::REQUESTABLE, POLL_DELIVERY).await;

    // Sessions created at NOW are not "before" a stamp at NOW.
    let all = take(&*store, "all").await;
    let kinds: Vec<SignalKind> = all.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![SignalKind::SessionsRevoked, SignalKind::AccessTokenRevoked],
        "oldest first"
    );
    assert_eq!(all[1].token_id.as_deref(), Some("jti-1"));
    assert_eq!(all[1].token_exp, Some(NOW + 300));
    let tokens = take(&*store, "tokens").await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].id, all[1].id, "one event, one jti, every stream");
    assert!(take(&*store, "late").await.is_empty());

    store
        .set_user_not_before("t1", "u1", NOW + 1)
        .await
        .unwrap();
    let mut kinds: Vec<(SignalKind, Option<String>)> = take(&*store, "all")
        .await
        .into_iter()
        .map(|s| (s.kind, s.session_id))
        .collect();
    kinds.sort_by_key(|(_, sid)| sid.clone());
    assert_eq!(
        kinds,
        vec![
            (SignalKind::SessionsRevoked, None),
            (SignalKind::SessionRevoked, Some("sid-1".into())),
            (SignalKind::SessionRevoked, Some("sid-2".into())),
        ]
    );
}

/// SSF §8.1.2: disabling a stream empties its queue and keeps new events
/// out (a paused one keeps queueing; the poll service hands nothing out
/// until it is enabled, tested through HTTP).
async fn a_disabled_stream_keeps_nothing(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "s1", &SignalKind::REQUESTABLE, POLL_DELIVERY).await;
    session(&*store, "sid-1").await;
    session(&*store, "sid-2").await;
    store
        .revoke_session("t1", "sid-1", "x", NOW, &audit(None))
        .await
        .unwrap();
    let mut s = store.stream("t1", "s1").await.unwrap().unwrap();
    s.status = StreamStatus::Disabled;
    store.update_stream(&s, None).await.unwrap();
    store
        .revoke_session("t1", "sid-2", "x", NOW, &audit(None))
        .await
        .unwrap();
    assert!(!store.has_due_signals("s1", NOW).await.unwrap());
    assert!(take(&*store, "s1").await.is_empty());
}

/// Delivery claims: two takers at once never get the same queued push,
/// and a claimed one is not due again before the claim ends.
async fn two_takers_never_claim_the_same_push(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "push", &SignalKind::REQUESTABLE, PUSH_DELIVERY).await;
    for i in 0..20 {
        let sid = format!("sid-{i}");
        session(&*store, &sid).await;
        store
            .revoke_session("t1", &sid, "x", NOW, &audit(None))
            .await
            .unwrap();
    }
    let (a, b) = tokio::join!(
        store.due_pushes(NOW, NOW + 30, 15),
        store.due_pushes(NOW, NOW + 30, 15)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let ids_a: HashSet<String> = a.iter().map(|d| d.signal.id.clone()).collect();
    let ids_b: HashSet<String> = b.iter().map(|d| d.signal.id.clone()).collect();
    assert!(ids_a.is_disjoint(&ids_b), "a push claimed twice");
    // On PostgreSQL the slower taker may find its rows taken and get none;
    // what neither took is still there for the next.
    let rest = store.due_pushes(NOW, NOW + 30, 50).await.unwrap();
    let ids_rest: HashSet<String> = rest.iter().map(|d| d.signal.id.clone()).collect();
    assert!(ids_rest.is_disjoint(&ids_a) && ids_rest.is_disjoint(&ids_b));
    assert_eq!(
        ids_a.len() + ids_b.len() + ids_rest.len(),
        20,
        "every push claimed exactly once"
    );
    assert!(
        store
            .due_pushes(NOW, NOW + 30, 50)
            .await
            .unwrap()
            .is_empty()
    );
    let first = &a.first().or(b.first()).or(rest.first()).unwrap().signal.id;
    store.push_failed("push", first, NOW + 5).await.unwrap();
    let again = store.due_pushes(NOW + 5, NOW + 35, 50).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(&again[0].signal.id, first);
    assert_eq!(again[0].attempts, 1);
    store.push_delivered("push", first).await.unwrap();
    assert_eq!(
        store
            .due_pushes(NOW + 100, NOW + 130, 50)
            .await
            .unwrap()
            .len(),
        19,
        "claims run out; what was delivered is gone"
    );
}

/// RFC 8935 delivery after an outage: pushes that failed wait out a
/// backoff, but are due at once when the receiver accepts another push
/// (it is reachable again) or updates its stream (a restarted receiver).
async fn backed_off_pushes_are_due_again_once_the_receiver_is_back(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "push", &SignalKind::REQUESTABLE, PUSH_DELIVERY).await;
    for sid in ["sid-1", "sid-2"] {
        session(&*store, sid).await;
        store
            .revoke_session("t1", sid, "x", NOW, &audit(None))
            .await
            .unwrap();
    }
    let due = store.due_pushes(NOW, NOW + 30, 50).await.unwrap();
    assert_eq!(due.len(), 2);
    for d in &due {
        store
            .push_failed("push", &d.signal.id, NOW + 2048)
            .await
            .unwrap();
    }
    assert!(
        store
            .due_pushes(NOW + 10, NOW + 40, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .push_receiver_reachable("push", NOW + 10)
            .await
            .unwrap(),
        2
    );
    let again = store.due_pushes(NOW + 10, NOW + 40, 50).await.unwrap();
    assert_eq!(again.len(), 2, "due as soon as the receiver is back");
    assert!(again.iter().all(|d| d.attempts == 1));
    // (A row another node claimed for its retry is made due too: it may be
    // pushed twice, which delivery allows: at least once, same jti.)

    for d in &again {
        store
            .push_failed("push", &d.signal.id, NOW + 4096)
            .await
            .unwrap();
    }
    let mut s = store.stream("t1", "push").await.unwrap().unwrap();
    s.push_endpoint = Some("https://rs.example.com/ssf/v2".into());
    s.updated_at = NOW + 20;
    store.update_stream(&s, None).await.unwrap();
    let after_update = store.due_pushes(NOW + 20, NOW + 50, 50).await.unwrap();
    assert_eq!(after_update.len(), 2, "due at once after the stream update");
    assert!(
        after_update.iter().all(|d| d.attempts == 0),
        "with a fresh count of attempts"
    );

    // A later event (say a verification) sees the older one that failed.
    let mut ids: Vec<String> = after_update.iter().map(|d| d.signal.id.clone()).collect();
    ids.sort();
    let (older, newer) = (&ids[0], &ids[1]);
    assert!(!store.push_backlog_before("push", newer).await.unwrap());
    store.push_failed("push", older, NOW + 60).await.unwrap();
    assert!(store.push_backlog_before("push", newer).await.unwrap());
    assert!(
        !store.push_backlog_before("push", older).await.unwrap(),
        "only what came before counts"
    );
    store.push_delivered("push", older).await.unwrap();
    assert!(!store.push_backlog_before("push", newer).await.unwrap());
}

/// A stream switched from push to poll: what waited out a push backoff is
/// in the first poll, not hidden until the backoff ends.
async fn a_stream_switched_to_poll_gets_its_backed_off_events_at_once(store: Arc<dyn Store>) {
    tenant(&*store).await;
    stream(&*store, "s1", &SignalKind::REQUESTABLE, PUSH_DELIVERY).await;
    session(&*store, "sid-1").await;
    store
        .revoke_session("t1", "sid-1", "x", NOW, &audit(None))
        .await
        .unwrap();
    let due = store.due_pushes(NOW, NOW + 30, 50).await.unwrap();
    store
        .push_failed("s1", &due[0].signal.id, NOW + 2048)
        .await
        .unwrap();
    let mut s = store.stream("t1", "s1").await.unwrap().unwrap();
    s.delivery_method = POLL_DELIVERY.into();
    s.push_endpoint = None;
    s.updated_at = NOW + 5;
    store.update_stream(&s, None).await.unwrap();
    assert!(store.has_due_signals("s1", NOW + 5).await.unwrap());
}

holdfast_store::on_both_backends!(
    backed_off_pushes_are_due_again_once_the_receiver_is_back,
    a_stream_switched_to_poll_gets_its_backed_off_events_at_once,
    design_s7_a_revoked_session_writes_its_event_and_logout_once,
    a_revocation_that_fails_writes_no_event,
    streams_get_their_kinds_committed_after_they_began,
    a_disabled_stream_keeps_nothing,
    two_takers_never_claim_the_same_push,
);
