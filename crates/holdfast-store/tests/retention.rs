//! Retention on both back ends: a sweep forgets exactly what can no longer
//! matter (`holdfast_core::retention`), in batches, and one node at a time
//! holds the sweep's lease.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use holdfast_core::client::{ClientKind, NewClient};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::retention::RetentionPolicy;
use holdfast_core::signals::{Signal, SignalKind};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::Username;
use holdfast_store::{
    AuditEvent, AuthCodeRecord, BrowserSessionRecord, CodeIssuance, SessionRecord, Store,
    StoredKey, Swept,
};

/// Now, for every case: late enough that 400 days ago is a real instant.
const NOW: i64 = 50_000_000;
const DAY: i64 = 86_400;
/// The longest access-token lifetime of the tenant's clients.
const LONGEST_TTL: i64 = 900;

static EVENT_IDS: AtomicU64 = AtomicU64::new(0);

fn event(at: i64) -> AuditEvent {
    AuditEvent {
        id: format!("ev-{}", EVENT_IDS.fetch_add(1, Ordering::Relaxed)),
        tenant_id: "t1".into(),
        at,
        kind: "test".into(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: None,
        user_agent: None,
        actor: None,
    }
}

async fn tenant_with_clients(store: &dyn Store) {
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
    for (id, ttl) in [("short", 300), ("long", LONGEST_TTL)] {
        let mut client = NewClient::new(id, ClientKind::Public);
        client.redirect_uris = vec!["https://app.example.com/cb".into()];
        client.access_token_ttl_secs = ttl;
        let client = client.validate().unwrap();
        store
            .create_client(id, "t1", &client, None, 1)
            .await
            .unwrap();
    }
    store
        .create_user("u1", "t1", &Username::parse("alice").unwrap(), None, "h", 1)
        .await
        .unwrap();
}

fn code(digest: &str, expires_at: i64) -> AuthCodeRecord {
    AuthCodeRecord {
        code_digest: digest.into(),
        tenant_id: "t1".into(),
        client_id: "long".into(),
        user_id: "u1".into(),
        redirect_uri: None,
        scope: "openid".into(),
        nonce: None,
        code_challenge: "c".repeat(43),
        resource: None,
        auth_time: 1,
        acr: "1".into(),
        amr: vec!["pwd".into()],
        created_at: expires_at - 60,
        expires_at,
        consumed_at: None,
        session_id: None,
        access_jti: None,
        access_exp: None,
        dpop_jkt: None,
        browser_session: None,
    }
}

/// Session `sid` (refresh token `{sid}-rt`, code `{sid}-code`), whose
/// absolute lifetime ends at `expires_at`, revoked at `revoked_at` if given.
async fn session(store: &dyn Store, sid: &str, expires_at: i64, revoked_at: Option<i64>) {
    let code = code(&format!("{sid}-code"), 1_000);
    store.insert_auth_code(&code).await.unwrap();
    let issued = CodeIssuance {
        access_jti: format!("{sid}-jti"),
        access_exp: 1_300,
        session: SessionRecord {
            id: sid.into(),
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            client_id: "long".into(),
            scope: "openid".into(),
            resource: None,
            auth_time: 940,
            acr: "1".into(),
            amr: vec!["pwd".into()],
            created_at: 950,
            last_used_at: 950,
            expires_at,
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
        .redeem_auth_code("t1", &code.code_digest, &issued, 950, None)
        .await
        .unwrap();
    if let Some(at) = revoked_at {
        store
            .revoke_session("t1", sid, "test", at, &event(at))
            .await
            .unwrap();
    }
}

/// Sweeps in steps of `batch` until a step leaves nothing behind.
async fn sweep(store: &dyn Store, batch: i64) -> (Swept, usize) {
    let longest = store.longest_access_token_ttl().await.unwrap();
    let cutoffs = RetentionPolicy::default().cutoffs(NOW, longest);
    let (mut total, mut steps) = (Swept::default(), 0);
    loop {
        let step = store.sweep_step(&cutoffs, batch).await.unwrap();
        total.add(&step);
        steps += 1;
        if step.left_nothing(batch) {
            return (total, steps);
        }
    }
}

async fn a_sweep_forgets_exactly_what_can_no_longer_matter(store: Arc<dyn Store>) {
    tenant_with_clients(&*store).await;
    assert_eq!(store.longest_access_token_ttl().await.unwrap(), LONGEST_TTL);
    // Families: one live, and one on each side of "ended (or revoked) longer
    // ago than the longest access-token lifetime".
    session(&*store, "live", NOW + DAY, None).await;
    session(&*store, "ended-recently", NOW - LONGEST_TTL + 1, None).await;
    session(&*store, "ended-long-ago", NOW - LONGEST_TTL - 1, None).await;
    session(
        &*store,
        "revoked-recently",
        NOW + DAY,
        Some(NOW - LONGEST_TTL + 1),
    )
    .await;
    session(
        &*store,
        "revoked-long-ago",
        NOW + DAY,
        Some(NOW - LONGEST_TTL - 1),
    )
    .await;
    // Unconsumed codes, revoked access tokens, DPoP proofs and browser
    // sessions on each side of their expiry.
    for (name, exp) in [("expired", NOW - 1), ("unexpired", NOW + 1)] {
        store
            .insert_auth_code(&code(&format!("{name}-code"), exp))
            .await
            .unwrap();
        store
            .revoke_access_token("t1", &format!("{name}-at"), exp, &event(NOW - DAY))
            .await
            .unwrap();
        // `record_dpop_proof` clears expired proofs itself about once in 64
        // inserts (by the jti's byte sum); these two jtis do not trigger it.
        assert!(
            store
                .record_dpop_proof("t1", "jkt", &format!("{name}-jti"), exp, NOW - 30)
                .await
                .unwrap()
        );
        store
            .insert_browser_session(&BrowserSessionRecord {
                id_digest: format!("{name}-sso"),
                tenant_id: "t1".into(),
                user_id: "u1".into(),
                auth_time: 1,
                amr: vec!["pwd".into()],
                created_at: 1,
                expires_at: exp,
            })
            .await
            .unwrap();
    }
    // Audit events on each side of 400 days.
    let old = event(NOW - 400 * DAY - 1);
    let kept = event(NOW - 400 * DAY);
    store.record_event(&old).await.unwrap();
    store.record_event(&kept).await.unwrap();
    // Security events on each side of 7 days (the revocations above wrote
    // theirs recently, so they stay).
    for (id, at) in [("sig-old", NOW - 7 * DAY - 1), ("sig-kept", NOW - 7 * DAY)] {
        let signal = Signal {
            id: id.into(),
            kind: SignalKind::SessionsRevoked,
            at,
            session_id: None,
            user_id: Some("u1".into()),
            token_id: None,
            token_exp: None,
            detail: None,
        };
        store.emit_signal("t1", &signal).await.unwrap();
    }
    // Mail sent on each side of 7 days, and old mail never sent (it stays
    // until it is).
    for (id, sent) in [
        ("mail-old", Some(NOW - 7 * DAY - 1)),
        ("mail-kept", Some(NOW - 7 * DAY)),
        ("mail-unsent", None),
    ] {
        let mail = holdfast_store::OutgoingMail {
            id: id.into(),
            tenant_id: "t1".into(),
            recipient: "a@example.com".into(),
            subject: "s".into(),
            text_body: "t".into(),
            html_body: "h".into(),
            created_at: NOW - 30 * DAY,
        };
        store.queue_mail(&mail).await.unwrap();
        if let Some(at) = sent {
            store.mail_sent(id, at).await.unwrap();
        }
    }

    let (swept, steps) = sweep(&*store, 2).await;
    assert!(steps > 1, "batches of two take several steps");
    assert_eq!(
        swept,
        Swept {
            sessions: 2,
            refresh_tokens: 2,
            auth_codes: 3,
            revoked_access_tokens: 1,
            dpop_proofs: 1,
            browser_sessions: 1,
            audit_events: 1,
            security_events: 1,
            sent_mail: 1,
        }
    );
    let left: Vec<String> = store
        .mail_to("t1", "a@example.com")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.mail.id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&"mail-old".to_owned()), "{left:?}");
    for (sid, stays) in [
        ("live", true),
        ("ended-recently", true),
        ("ended-long-ago", false),
        ("revoked-recently", true),
        ("revoked-long-ago", false),
    ] {
        let found = store.session("t1", sid).await.unwrap();
        assert_eq!(found.is_some(), stays, "session {sid}");
        let token = store
            .refresh_token("t1", &format!("{sid}-rt"))
            .await
            .unwrap();
        assert_eq!(token.is_some(), stays, "refresh token of {sid}");
        // A consumed code stays as long as its session: its replay still
        // revokes what it issued (RFC 6749 §4.1.2).
        let code = store.auth_code("t1", &format!("{sid}-code")).await.unwrap();
        assert_eq!(code.is_some(), stays, "code of {sid}");
    }
    assert!(
        store
            .auth_code("t1", "expired-code")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .auth_code("t1", "unexpired-code")
            .await
            .unwrap()
            .is_some()
    );
    let standing = |jti: &'static str| {
        let store = store.clone();
        async move {
            store
                .access_token_standing("t1", jti, None)
                .await
                .unwrap()
                .jti_revoked
        }
    };
    assert!(!standing("expired-at").await);
    assert!(standing("unexpired-at").await);
    // A proof still remembered is a replay; a forgotten one is new again.
    assert!(
        !store
            .record_dpop_proof("t1", "jkt", "unexpired-jti", NOW + 1, NOW - 30)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_dpop_proof("t1", "jkt", "expired-jti", NOW + 1, NOW - 30)
            .await
            .unwrap()
    );
    assert!(
        store
            .browser_session("t1", "expired-sso")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .browser_session("t1", "unexpired-sso")
            .await
            .unwrap()
            .is_some()
    );
    let events: Vec<String> = store
        .events("t1", 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(!events.contains(&old.id));
    assert!(events.contains(&kept.id));

    // A second sweep finds nothing left to do.
    assert_eq!(sweep(&*store, 2).await.0.total(), 0);
}

async fn one_holder_at_a_time_takes_the_sweep_lease(store: Arc<dyn Store>) {
    assert!(store.take_lease("retention", "a", 10, 20).await.unwrap());
    assert!(!store.take_lease("retention", "b", 15, 25).await.unwrap());
    assert!(
        store.take_lease("retention", "a", 15, 30).await.unwrap(),
        "renewal"
    );
    assert!(!store.take_lease("retention", "b", 29, 40).await.unwrap());
    assert!(
        store.take_lease("retention", "b", 30, 40).await.unwrap(),
        "expired"
    );
    // Many nodes asking at once: one wins.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_lease("retention", &format!("node-{i}"), 100, 200)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
}

holdfast_store::on_both_backends!(
    a_sweep_forgets_exactly_what_can_no_longer_matter,
    one_holder_at_a_time_takes_the_sweep_lease,
);
