//! The store conformance suite: one set of tests, run unchanged against
//! SQLite and PostgreSQL. Each test gets its own fresh database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use holdfast_core::client::{ClientKind, GrantType, NewClient, RefreshPolicy, RotationMode};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::refresh::rotation::{Decision, Presentation, RejectReason};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::Username;
use holdfast_store::testing::{Backend, TestDatabase};
use holdfast_store::{
    AccessTokenStanding, AuditEvent, AuthCodeRecord, Backlog, BrowserSessionRecord, CodeIssuance,
    Continuation, PresentOutcome, ProofRecord, Redemption, RefreshPresentation, SessionRecord,
    SqliteStore, Store, StoreError, StoredKey, connect,
};

async fn open(backend: Backend) -> Option<(TestDatabase, Arc<dyn Store>)> {
    let db = TestDatabase::create(backend).await?;
    let store = connect(&db.url).await.expect("connect and migrate");
    Some((db, store))
}

fn key(kid: &str, state: KeyState, created_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: SigningAlg::ES256,
        state,
        private_sealed: vec![1, 2, 3],
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at,
        activated_at: (state == KeyState::Current).then_some(created_at),
        retired_at: None,
    }
}

fn tenant(id: &str, slug: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        slug: TenantSlug::parse(slug).unwrap(),
        display_name: format!("Tenant {slug}"),
        signing_alg: SigningAlg::ES256,
        default_audience: None,
        created_at: 100,
        branding: Default::default(),
    }
}

async fn with_tenant(store: &dyn Store, id: &str, slug: &str) -> Tenant {
    let t = tenant(id, slug);
    let keys = [
        key(&format!("{id}-cur"), KeyState::Current, 1),
        key(&format!("{id}-next"), KeyState::Next, 2),
    ];
    store.create_tenant(&t, &keys).await.unwrap();
    t
}

/// The user `u1` the sessions of [`issuance`] belong to.
async fn with_user_u1(store: &dyn Store, tenant_id: &str) {
    store
        .create_user(
            "u1",
            tenant_id,
            &Username::parse("alice").unwrap(),
            Some("alice@example.com"),
            "h",
            10,
        )
        .await
        .unwrap();
}

/// Tenant `t1` with user `u1` signed in at 20: session `s1` (bound to the
/// DPoP key `dpop_jkt`, if given) whose refresh token is `rt0`.
async fn with_family(store: &dyn Store, dpop_jkt: Option<&str>) -> Tenant {
    let t = with_tenant(store, "t1", "acme").await;
    with_user_u1(store, &t.id).await;
    let mut signed_in = issuance(&t.id, "s1", Some("rt0"));
    signed_in.session.dpop_jkt = dpop_jkt.map(str::to_owned);
    store.insert_auth_code(&code(&t.id, "d1")).await.unwrap();
    store
        .redeem_auth_code(&t.id, "d1", &signed_in, 20, None)
        .await
        .unwrap();
    t
}

async fn tenants_are_created_found_and_listed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    with_tenant(&*store, "t2", "beta").await;
    let found = store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
    assert_eq!(found, t);
    assert!(
        store
            .tenant_by_slug(&TenantSlug::parse("nope").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let slugs: Vec<String> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug.to_string())
        .collect();
    assert_eq!(slugs, vec!["acme", "beta"]);
}

/// A tenant's settings: defaults until set; a change of name and policy is
/// one transaction with its audit event; an unknown tenant is NotFound and
/// writes nothing.
async fn tenant_settings_are_stored_with_their_audit_event(store: Arc<dyn Store>) {
    use holdfast_core::accounts::{AccountPolicy, EmailVerification, Registration};
    let t = with_tenant(&*store, "t1", "acme").await;
    assert_eq!(store.tenant_account_policy("t1").await.unwrap(), None);
    let mut policy = AccountPolicy {
        registration: Registration::Open,
        email_verification: EmailVerification::Required,
        ..AccountPolicy::default()
    };
    policy.password.min_length = 12;
    let event = audit_event("t1", "tenant_admin", 10);
    store
        .update_tenant_settings("t1", None, Some("Acme Corp"), Some(&policy), None, &event)
        .await
        .unwrap();
    assert_eq!(
        store.tenant_account_policy("t1").await.unwrap(),
        Some(policy.clone())
    );
    let renamed = store.tenant_by_slug(&t.slug).await.unwrap().unwrap();
    assert_eq!(renamed.display_name, "Acme Corp");
    assert!(renamed.branding.is_empty(), "no branding until one is set");
    // A name-and-branding change keeps the policy; the branding comes
    // back with the tenant.
    let branding = holdfast_core::tenant::Branding {
        logo_url: Some("https://cdn.example.com/acme.svg".into()),
        accent_color: Some("#0f766e".into()),
        support_url: Some("mailto:help@example.com".into()),
    };
    let version = store
        .update_tenant_settings(
            "t1",
            Some(2),
            Some("Acme"),
            None,
            Some(&branding),
            &audit_event("t1", "tenant_admin", 11),
        )
        .await
        .unwrap();
    assert_eq!(version, 3, "the version the change made");
    let branded = store.tenant_by_id("t1").await.unwrap().unwrap();
    assert_eq!(branded.branding, branding);
    // RFC 9110 §13.1.1: a change based on a version that is gone is
    // refused, and writes nothing.
    let err = store
        .update_tenant_settings(
            "t1",
            Some(2),
            Some("Lost update"),
            None,
            Some(&holdfast_core::tenant::Branding::default()),
            &audit_event("t1", "tenant_admin", 12),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale("tenant")), "{err:?}");
    assert_eq!(store.tenant_version("t1").await.unwrap(), Some(3));
    assert_eq!(
        store.tenant_by_id("t1").await.unwrap().unwrap().branding,
        branding,
        "a refused change leaves the branding"
    );
    assert_eq!(
        store.tenant_account_policy("t1").await.unwrap(),
        Some(policy.clone())
    );
    let kinds: Vec<String> = store
        .events("t1", 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "tenant_admin").count(), 2);
    let err = store
        .update_tenant_settings(
            "nope",
            None,
            Some("x"),
            Some(&policy),
            None,
            &audit_event("nope", "tenant_admin", 12),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("tenant")), "{err:?}");
    assert_eq!(store.tenant_account_policy("nope").await.unwrap(), None);
}

async fn duplicate_tenant_slug_is_a_conflict_and_writes_nothing(store: Arc<dyn Store>) {
    with_tenant(&*store, "t1", "acme").await;
    let dup = tenant("t9", "acme");
    let err = store
        .create_tenant(&dup, &[key("t9-cur", KeyState::Current, 5)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("tenant")), "{err:?}");
    assert!(store.keys("t9").await.unwrap().is_empty());
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
}

async fn a_failed_key_insert_rolls_back_the_tenant(store: Arc<dyn Store>) {
    with_tenant(&*store, "t1", "acme").await;
    // Reusing t1's kid makes the second insert fail after the tenant row went in.
    let err = store
        .create_tenant(
            &tenant("t2", "beta"),
            &[
                key("t2-cur", KeyState::Current, 1),
                key("t1-next", KeyState::Next, 2),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        store
            .tenant_by_slug(&TenantSlug::parse("beta").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.keys("t2").await.unwrap().is_empty());
}

async fn clients_round_trip_with_their_policy(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let mut new = NewClient::new("web", ClientKind::Confidential);
    new.redirect_uris = vec![
        "https://app.example.com/cb".into(),
        "http://localhost:3000/cb".into(),
    ];
    new.grant_types = vec![GrantType::AuthorizationCode, GrantType::ClientCredentials];
    new.scopes = vec!["openid".into(), "read:items".into()];
    new.access_token_ttl_secs = 120;
    new.refresh.rotation = RotationMode::Strict;
    new.refresh.grace_window_secs = 30;
    new.dpop_required = true;
    let new = new.validate().unwrap();
    let created = store
        .create_client("c1", &t.id, &new, Some("digest"), 500)
        .await
        .unwrap();
    let found = store
        .client_by_client_id(&t.id, "web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client, created);
    assert_eq!(found.secret_digest.as_deref(), Some("digest"));
    assert_eq!(found.client.refresh.rotation, RotationMode::Strict);
    assert!(found.client.dpop_required);
    assert!(!found.client.refresh.unbound_grace_accept_risk);
    // A public client's opt-in to grace for unbound families is kept.
    let mut spa = NewClient::new("spa", ClientKind::Public);
    spa.refresh.unbound_grace_accept_risk = true;
    let spa = store
        .create_client("c2", &t.id, &spa.validate().unwrap(), None, 500)
        .await
        .unwrap();
    let found_spa = store
        .client_by_client_id(&t.id, "spa")
        .await
        .unwrap()
        .unwrap();
    assert!(found_spa.client.refresh.unbound_grace_accept_risk);
    assert_eq!(found_spa.client, spa);
    let listed: Vec<_> = store
        .list_clients(&t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.client)
        .collect();
    assert_eq!(listed, vec![spa, created]);
}

async fn client_ids_are_unique_per_tenant_only(store: Arc<dyn Store>) {
    let a = with_tenant(&*store, "t1", "acme").await;
    let b = with_tenant(&*store, "t2", "beta").await;
    let new = NewClient::new("web", ClientKind::Public)
        .validate()
        .unwrap();
    store
        .create_client("c1", &a.id, &new, None, 1)
        .await
        .unwrap();
    let err = store
        .create_client("c2", &a.id, &new, None, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client")), "{err:?}");
    store
        .create_client("c3", &b.id, &new, None, 1)
        .await
        .unwrap();
    // Cross-tenant lookups never see another tenant's client.
    assert_eq!(
        store
            .client_by_client_id(&b.id, "web")
            .await
            .unwrap()
            .unwrap()
            .client
            .id,
        "c3"
    );
    assert!(
        store
            .client_by_client_id(&a.id, "other")
            .await
            .unwrap()
            .is_none()
    );
}

async fn usernames_are_unique_per_tenant_case_insensitively(store: Arc<dyn Store>) {
    let a = with_tenant(&*store, "t1", "acme").await;
    let b = with_tenant(&*store, "t2", "beta").await;
    let alice = Username::parse("Alice").unwrap();
    let user = store
        .create_user(
            "u1",
            &a.id,
            &alice,
            Some("alice@example.com"),
            "$argon2id$x",
            7,
        )
        .await
        .unwrap();
    assert_eq!(user.username, "Alice");
    let shouting = Username::parse("ALICE").unwrap();
    let err = store
        .create_user("u2", &a.id, &shouting, None, "h", 8)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user")), "{err:?}");
    store
        .create_user("u3", &b.id, &shouting, None, "h", 8)
        .await
        .unwrap();
    let found = store
        .user_by_username(&a.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user, user);
    assert_eq!(found.password_hash, "$argon2id$x");
    assert_eq!(
        store
            .user_by_id(&a.id, "u1")
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        "u1"
    );
    assert!(
        store.user_by_id(&b.id, "u1").await.unwrap().is_none(),
        "cross-tenant lookup by id"
    );
}

async fn key_rotation_promotes_next_and_retires_current(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    store
        .rotate_keys(&t.id, &key("k3", KeyState::Next, 10), 50)
        .await
        .unwrap();
    let keys = store.keys(&t.id).await.unwrap();
    let state_of = |kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.state);
    assert_eq!(state_of("t1-cur"), Some(KeyState::Retired));
    assert_eq!(state_of("t1-next"), Some(KeyState::Current));
    assert_eq!(state_of("k3"), Some(KeyState::Next));
    let retired = keys.iter().find(|k| k.kid == "t1-cur").unwrap();
    assert_eq!(retired.retired_at, Some(50));
    assert_eq!(
        keys.iter()
            .find(|k| k.kid == "t1-next")
            .unwrap()
            .activated_at,
        Some(50)
    );
}

async fn rotation_without_a_next_key_fails_and_changes_nothing(store: Arc<dyn Store>) {
    let t = tenant("t1", "acme");
    store
        .create_tenant(&t, &[key("only", KeyState::Current, 1)])
        .await
        .unwrap();
    let err = store
        .rotate_keys(&t.id, &key("k2", KeyState::Next, 2), 9)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("next key")), "{err:?}");
    let keys = store.keys(&t.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, KeyState::Current);
}

async fn concurrent_rotations_leave_exactly_one_current_and_one_next(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let tenant_id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .rotate_keys(
                    &tenant_id,
                    &key(&format!("n{i}"), KeyState::Next, 10 + i),
                    20 + i,
                )
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert!(ok >= 1);
    let keys = store.keys(&t.id).await.unwrap();
    assert_eq!(
        keys.iter().filter(|k| k.state == KeyState::Current).count(),
        1
    );
    assert_eq!(keys.iter().filter(|k| k.state == KeyState::Next).count(), 1);
    assert_eq!(keys.len(), 2 + ok);
}

fn rsa_key(kid: &str, state: KeyState, created_at: i64) -> StoredKey {
    StoredKey {
        alg: SigningAlg::RS256,
        ..key(kid, state, created_at)
    }
}

/// A tenant holds keys of its own algorithm and of RS256 (for ID tokens):
/// one `next` and one `current` per algorithm, rotated separately; adding a
/// pair where one exists (several nodes at once) keeps the first.
async fn keys_of_a_second_alg_have_their_own_life_cycle_and_concurrent_adds_keep_one_pair(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        let tenant_id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .add_keys(
                    &tenant_id,
                    &[
                        rsa_key(&format!("rc{i}"), KeyState::Current, 5),
                        rsa_key(&format!("rn{i}"), KeyState::Next, 5),
                    ],
                )
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let keys = store.keys(&t.id).await.unwrap();
    let count = |alg: SigningAlg, state: KeyState| {
        keys.iter()
            .filter(|k| k.alg == alg && k.state == state)
            .count()
    };
    assert_eq!(keys.len(), 4, "{keys:?}");
    for alg in [SigningAlg::ES256, SigningAlg::RS256] {
        assert_eq!(count(alg, KeyState::Current), 1, "{alg}");
        assert_eq!(count(alg, KeyState::Next), 1, "{alg}");
    }
    let rsa_next = keys
        .iter()
        .find(|k| k.alg == SigningAlg::RS256 && k.state == KeyState::Next)
        .unwrap()
        .kid
        .clone();

    store
        .rotate_keys(&t.id, &rsa_key("rn-new", KeyState::Next, 10), 50)
        .await
        .unwrap();
    let keys = store.keys(&t.id).await.unwrap();
    let state_of = |kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.state);
    assert_eq!(state_of(&rsa_next), Some(KeyState::Current));
    assert_eq!(state_of("rn-new"), Some(KeyState::Next));
    // The ES256 keys did not move.
    assert_eq!(state_of("t1-cur"), Some(KeyState::Current));
    assert_eq!(state_of("t1-next"), Some(KeyState::Next));
    assert_eq!(
        keys.iter()
            .filter(|k| k.alg == SigningAlg::RS256 && k.state == KeyState::Retired)
            .count(),
        1
    );
}

async fn kek_check_is_set_once(store: Arc<dyn Store>) {
    assert!(store.kek_check().await.unwrap().is_none());
    assert_eq!(store.init_kek_check(b"first").await.unwrap(), b"first");
    assert_eq!(store.init_kek_check(b"second").await.unwrap(), b"first");
    assert_eq!(
        store.kek_check().await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    store.ping().await.unwrap();
}

async fn reconnecting_reapplies_no_migration_and_keeps_data(_store: Arc<dyn Store>, url: &str) {
    let again = connect(url).await.unwrap();
    with_tenant(&*again, "t1", "acme").await;
    let third = connect(url).await.unwrap();
    assert_eq!(third.list_tenants().await.unwrap().len(), 1);
}

fn code(tenant_id: &str, digest: &str) -> AuthCodeRecord {
    AuthCodeRecord {
        code_digest: digest.to_owned(),
        tenant_id: tenant_id.to_owned(),
        client_id: "web".into(),
        user_id: "u1".into(),
        redirect_uri: Some("https://app.example.com/cb".into()),
        scope: "openid".into(),
        nonce: Some("n".into()),
        code_challenge: "c".repeat(43),
        resource: None,
        auth_time: 10,
        acr: "1".into(),
        amr: vec!["pwd".into()],
        created_at: 10,
        expires_at: 70,
        consumed_at: None,
        session_id: None,
        access_jti: None,
        access_exp: None,
        dpop_jkt: None,
        browser_session: None,
    }
}

fn issuance(tenant_id: &str, sid: &str, rt: Option<&str>) -> CodeIssuance {
    CodeIssuance {
        access_jti: format!("jti-{sid}"),
        access_exp: 400,
        session: SessionRecord {
            id: sid.to_owned(),
            tenant_id: tenant_id.to_owned(),
            user_id: "u1".into(),
            client_id: "web".into(),
            scope: "openid".into(),
            resource: None,
            auth_time: 10,
            acr: "1".into(),
            amr: vec!["pwd".into()],
            created_at: 20,
            last_used_at: 20,
            expires_at: 10_000,
            revoked_at: None,
            revoked_reason: None,
            device_id: Some("device-1".into()),
            user_agent: Some("test-agent".into()),
            ip: Some("127.0.0.1".into()),
            dpop_jkt: None,
            browser_session: None,
        },
        refresh_token_digest: rt.map(str::to_owned),
        continues: None,
    }
}

/// The gauges' backlogs (issue 16): unsent mail counted and dated by its
/// oldest entry, sent mail not; empty delivery queues are zero and undated.
async fn outbox_backlogs_count_what_waits_and_date_the_oldest(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    assert_eq!(store.mail_backlog().await.unwrap(), Backlog::default());
    for (id, at) in [("m1", 10), ("m2", 20), ("m3", 30)] {
        let mail = holdfast_store::OutgoingMail {
            id: id.into(),
            tenant_id: t.id.clone(),
            recipient: "a@example.com".into(),
            subject: "s".into(),
            text_body: "t".into(),
            html_body: "h".into(),
            created_at: at,
        };
        store.queue_mail(&mail).await.unwrap();
    }
    store.mail_sent("m1", 40).await.unwrap();
    assert_eq!(
        store.mail_backlog().await.unwrap(),
        Backlog {
            depth: 2,
            oldest_at: Some(20)
        }
    );
    assert_eq!(
        store.delivery_backlog().await.unwrap(),
        (Backlog::default(), Backlog::default())
    );
}

/// A code that continues family `sid` (a step-up): raised to `acr` "2".
fn continuing(tenant_id: &str, sid: &str, rt: &str, at: i64) -> CodeIssuance {
    let mut issued = issuance(tenant_id, sid, Some(rt));
    issued.access_jti = format!("jti-{rt}");
    issued.session.auth_time = at;
    issued.session.acr = "2".into();
    issued.session.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
    issued.continues = Some(Continuation {
        used_after: 0,
        audit: AuditEvent {
            session_id: Some(sid.into()),
            ..audit_event(tenant_id, "session_raised", at)
        },
    });
    issued
}

/// Issue 15: a step-up keeps the device's family. The code raises the live
/// family in place and its refresh token becomes the newest, as after a
/// refresh; the token it replaced is `rotated` without a child to hand out,
/// so its holder's retry is refused (nothing to replay) and the new one
/// rotates on. A family that is no longer live is not continued, and the
/// code stays unconsumed for a new family.
async fn a_step_up_code_continues_the_live_family_in_place(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    assert_eq!(
        present_as(&*store, web_at(30), &t.id, "rt0", "rt2").await,
        Decision::Rotate
    );
    store.insert_auth_code(&code(&t.id, "d2")).await.unwrap();
    let raised = store
        .redeem_auth_code(&t.id, "d2", &continuing(&t.id, "s1", "rt3", 40), 40, None)
        .await
        .unwrap();
    assert_eq!(raised, Redemption::Redeemed);
    let family = store.session(&t.id, "s1").await.unwrap().unwrap();
    assert_eq!((family.acr.as_str(), family.auth_time), ("2", 40));
    assert_eq!(family.amr, ["pwd", "otp", "mfa"]);
    assert_eq!((family.created_at, family.last_used_at), (20, 40));
    let consumed = store.auth_code(&t.id, "d2").await.unwrap().unwrap();
    assert_eq!(consumed.session_id.as_deref(), Some("s1"));
    let state = |digest: &'static str| {
        let store = store.clone();
        let tenant = t.id.clone();
        async move {
            let (token, _) = store.refresh_token(&tenant, digest).await.unwrap().unwrap();
            (
                token.state.as_str().to_owned(),
                token.generation,
                token.child_sealed,
            )
        }
    };
    assert_eq!(state("rt3").await, ("active".into(), 2, None));
    assert_eq!(state("rt2").await, ("rotated".into(), 1, None));
    assert_eq!(state("rt0").await.0, "spent");
    let events = store.events(&t.id, 0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "session_raised" && e.session_id.as_deref() == Some("s1")),
        "{events:?}"
    );
    // The replaced token's holder retrying: nothing to hand out, nothing
    // revoked; the new token rotates on.
    let retry = presentation(&t.id, "rt2", "rt-x", 45);
    match store.present_refresh_token(&retry).await.unwrap() {
        PresentOutcome::Decided {
            decision, token, ..
        } => {
            assert_eq!(decision, Decision::ReplayChild);
            assert_eq!(token.child_sealed, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        present_as(&*store, web_at(50), &t.id, "rt3", "rt4").await,
        Decision::Rotate
    );
    // A revoked family is not continued: nothing written, the code unspent.
    store
        .revoke_session(
            &t.id,
            "s1",
            "test",
            60,
            &audit_event(&t.id, "session_revoked", 60),
        )
        .await
        .unwrap();
    store.insert_auth_code(&code(&t.id, "d3")).await.unwrap();
    assert_eq!(
        store
            .redeem_auth_code(&t.id, "d3", &continuing(&t.id, "s1", "rt5", 60), 60, None)
            .await
            .unwrap(),
        Redemption::NotContinued
    );
    assert_eq!(
        store
            .auth_code(&t.id, "d3")
            .await
            .unwrap()
            .unwrap()
            .consumed_at,
        None
    );
    assert!(store.refresh_token(&t.id, "rt5").await.unwrap().is_none());
    // Nor an idle one (used at 50, must have been after 55).
    store.insert_auth_code(&code(&t.id, "d4")).await.unwrap();
    store
        .redeem_auth_code(&t.id, "d4", &issuance(&t.id, "s2", Some("rt6")), 50, None)
        .await
        .unwrap();
    let mut idle = continuing(&t.id, "s2", "rt7", 70);
    idle.continues.as_mut().unwrap().used_after = 55;
    store.insert_auth_code(&code(&t.id, "d5")).await.unwrap();
    assert_eq!(
        store
            .redeem_auth_code(&t.id, "d5", &idle, 70, None)
            .await
            .unwrap(),
        Redemption::NotContinued
    );
    assert_eq!(store.session(&t.id, "s2").await.unwrap().unwrap().acr, "1");
    // The same code then makes a family of its own.
    assert_eq!(
        store
            .redeem_auth_code(&t.id, "d5", &issuance(&t.id, "s3", Some("rt7")), 70, None)
            .await
            .unwrap(),
        Redemption::Redeemed
    );
}

/// The browser session a code was issued under is stored with it and
/// recorded on the family its redemption makes (RP-initiated logout tells
/// from it whether an ID token hint is of the browser asking).
async fn a_codes_browser_session_is_kept_on_the_code_and_its_family(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let mut c = code(&t.id, "d1");
    c.browser_session = Some("bs-digest".into());
    store.insert_auth_code(&c).await.unwrap();
    let stored = store.auth_code(&t.id, "d1").await.unwrap().unwrap();
    assert_eq!(stored.browser_session.as_deref(), Some("bs-digest"));
    let mut issued = issuance(&t.id, "s1", Some("rt1"));
    issued.session.browser_session = stored.browser_session.clone();
    store
        .redeem_auth_code(&t.id, "d1", &issued, 20, None)
        .await
        .unwrap();
    let family = store.session(&t.id, "s1").await.unwrap().unwrap();
    assert_eq!(family.browser_session.as_deref(), Some("bs-digest"));
    // A code without one (first-party challenge) makes a family without.
    store.insert_auth_code(&code(&t.id, "d2")).await.unwrap();
    store
        .redeem_auth_code(&t.id, "d2", &issuance(&t.id, "s2", None), 20, None)
        .await
        .unwrap();
    let family = store.session(&t.id, "s2").await.unwrap().unwrap();
    assert_eq!(family.browser_session, None);
}

async fn rfc9449_s11_1_a_code_redemption_records_its_proof_in_its_own_transaction(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "t1", "acme").await;
    store.insert_auth_code(&code(&t.id, "d1")).await.unwrap();
    let seen = ProofRecord {
        jkt: "jkt-a",
        jti: "jti-seen",
        expires_at: 1000,
    };
    assert!(
        store
            .record_dpop_proof(&t.id, seen.jkt, seen.jti, seen.expires_at, 10)
            .await
            .unwrap()
    );
    // A proof recorded before: nothing is written, the code stays unused.
    let replayed = store
        .redeem_auth_code(
            &t.id,
            "d1",
            &issuance(&t.id, "s1", Some("rt1")),
            20,
            Some(seen),
        )
        .await
        .unwrap();
    assert_eq!(replayed, Redemption::ReplayedProof);
    assert_eq!(
        store
            .auth_code(&t.id, "d1")
            .await
            .unwrap()
            .unwrap()
            .consumed_at,
        None
    );
    assert!(store.session(&t.id, "s1").await.unwrap().is_none());
    // A fresh proof: recorded with the redemption, in one commit.
    let fresh = ProofRecord {
        jti: "jti-fresh",
        ..seen
    };
    let redeemed = store
        .redeem_auth_code(
            &t.id,
            "d1",
            &issuance(&t.id, "s1", Some("rt1")),
            20,
            Some(fresh),
        )
        .await
        .unwrap();
    assert_eq!(redeemed, Redemption::Redeemed);
    assert!(
        !store
            .record_dpop_proof(&t.id, fresh.jkt, fresh.jti, fresh.expires_at, 21)
            .await
            .unwrap(),
        "the redemption recorded the proof"
    );
    // The code's replay with a seen proof revokes nothing; with a fresh one
    // it revokes what the code issued.
    assert!(
        !store
            .revoke_code_issuance(&t.id, "d1", 30, Some(seen))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .session(&t.id, "s1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    let another = ProofRecord {
        jti: "jti-another",
        ..seen
    };
    assert!(
        store
            .revoke_code_issuance(&t.id, "d1", 30, Some(another))
            .await
            .unwrap()
    );
    let revoked = store.session(&t.id, "s1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("code_replay"));
}

async fn rfc6749_s4_1_2_a_code_redeems_once_and_a_replay_revokes_what_it_issued(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "t1", "acme").await;
    store.insert_auth_code(&code(&t.id, "d1")).await.unwrap();
    let first = store
        .redeem_auth_code(&t.id, "d1", &issuance(&t.id, "s1", Some("rt1")), 20, None)
        .await
        .unwrap();
    assert_eq!(first, Redemption::Redeemed);
    let stored = store.auth_code(&t.id, "d1").await.unwrap().unwrap();
    assert_eq!(stored.consumed_at, Some(20));
    assert_eq!(stored.session_id.as_deref(), Some("s1"));
    let (rt, session) = store.refresh_token(&t.id, "rt1").await.unwrap().unwrap();
    assert_eq!(rt.state.as_str(), "active");
    assert_eq!(session.revoked_at, None);

    let again = store
        .redeem_auth_code(&t.id, "d1", &issuance(&t.id, "s2", Some("rt2")), 30, None)
        .await
        .unwrap();
    assert_eq!(again, Redemption::Replayed);
    assert!(
        store.session(&t.id, "s2").await.unwrap().is_none(),
        "a replay creates nothing"
    );
    let revoked = store.session(&t.id, "s1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("code_replay"));
    assert_eq!(
        store
            .refresh_token(&t.id, "rt1")
            .await
            .unwrap()
            .unwrap()
            .0
            .state
            .as_str(),
        "revoked"
    );
    assert!(jti_revoked(&*store, &t.id, "jti-s1").await);
    assert_eq!(
        store
            .redeem_auth_code(&t.id, "nope", &issuance(&t.id, "s3", None), 30, None)
            .await
            .unwrap(),
        Redemption::Unknown
    );
}

async fn concurrent_redemptions_of_one_code_issue_exactly_once(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    store.insert_auth_code(&code(&t.id, "d1")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let tenant_id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .redeem_auth_code(
                    &tenant_id,
                    "d1",
                    &issuance(&tenant_id, &format!("s{i}"), Some(&format!("rt{i}"))),
                    20,
                    None,
                )
                .await
                .unwrap()
        }));
    }
    let mut redeemed = 0;
    for task in tasks {
        if task.await.unwrap() == Redemption::Redeemed {
            redeemed += 1;
        }
    }
    assert_eq!(redeemed, 1);
}

/// Client `web` presenting under the default policy at `now`, as the token
/// endpoint does, authenticated as a confidential client: it proves it
/// holds the family, so grace retries are its to have (docs/design.md §4 step 4).
fn web_at(now: i64) -> Presentation<'static> {
    Presentation {
        client_id: "web",
        client_authenticated: true,
        proof_jkt: None,
        asked_scope: None,
        asked_resource: None,
        policy: RefreshPolicy::default(),
        now,
    }
}

static EVENT_IDS: AtomicU64 = AtomicU64::new(0);

/// A presentation of `digest` by `presenter`, as the token endpoint makes it
/// (PostgreSQL rotates in one statement when its guard holds).
fn presentation_by<'a>(
    presenter: &Presentation<'a>,
    tenant_id: &'a str,
    digest: &'a str,
    child: &'a str,
) -> RefreshPresentation<'a> {
    RefreshPresentation {
        tenant_id,
        token_digest: digest,
        presenter: *presenter,
        child_digest: child,
        child_sealed: b"sealed-child",
        audit: AuditEvent {
            client_id: Some(presenter.client_id.into()),
            ..audit_event(tenant_id, "", presenter.now)
        },
        proof: None,
    }
}

/// An audit event of `kind` with a fresh id.
fn audit_event(tenant_id: &str, kind: &str, at: i64) -> AuditEvent {
    AuditEvent {
        id: format!("ev-{}", EVENT_IDS.fetch_add(1, Ordering::Relaxed)),
        tenant_id: tenant_id.to_owned(),
        at,
        kind: kind.to_owned(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        actor: None,
    }
}

fn presentation<'a>(
    tenant_id: &'a str,
    digest: &'a str,
    child: &'a str,
    now: i64,
) -> RefreshPresentation<'a> {
    presentation_by(&web_at(now), tenant_id, digest, child)
}

/// Presents `digest` as `presenter`; the decision taken.
async fn present_as(
    store: &dyn Store,
    presenter: Presentation<'_>,
    tenant_id: &str,
    digest: &str,
    child: &str,
) -> Decision {
    let p = presentation_by(&presenter, tenant_id, digest, child);
    match store.present_refresh_token(&p).await.unwrap() {
        PresentOutcome::Decided { decision, .. } => decision,
        other => panic!("{other:?}"),
    }
}

async fn design_s4_concurrent_presentations_of_one_token_yield_one_child(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        let tenant_id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            let child = format!("child{i}");
            let p = presentation(&tenant_id, "rt0", &child, 30);
            match store.present_refresh_token(&p).await.unwrap() {
                PresentOutcome::Decided { decision, .. } => decision,
                other => panic!("{other:?}"),
            }
        }));
    }
    let mut decisions = Vec::new();
    for task in tasks {
        decisions.push(task.await.unwrap());
    }
    assert_eq!(
        decisions.iter().filter(|d| **d == Decision::Rotate).count(),
        1,
        "{decisions:?}"
    );
    // Inside the grace window the others get the same child, up to the retry limit.
    assert_eq!(
        decisions
            .iter()
            .filter(|d| **d == Decision::ReplayChild)
            .count(),
        5
    );
    assert!(decisions.iter().all(|d| matches!(
        d,
        Decision::Rotate | Decision::ReplayChild | Decision::Reject(_)
    )));
    let (parent, session) = store.refresh_token(&t.id, "rt0").await.unwrap().unwrap();
    assert_eq!(parent.state.as_str(), "rotated");
    assert_eq!(parent.child_sealed.as_deref(), Some(&b"sealed-child"[..]));
    assert_eq!(session.revoked_at, None, "retries never revoke the family");
    let events = store.events(&t.id, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "refresh").count(), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "refresh_retry_limit")
            .count(),
        18
    );
}

/// `families` families of one tenant, `s{i}` with refresh token `rt{i}`.
async fn with_families(store: &dyn Store, families: usize) -> Tenant {
    let t = with_tenant(store, "t1", "acme").await;
    with_user_u1(store, &t.id).await;
    for i in 0..families {
        let code_digest = format!("d{i}");
        store
            .insert_auth_code(&code(&t.id, &code_digest))
            .await
            .unwrap();
        let signed_in = issuance(&t.id, &format!("s{i}"), Some(&format!("rt{i}")));
        store
            .redeem_auth_code(&t.id, &code_digest, &signed_in, 20, None)
            .await
            .unwrap();
    }
    t
}

/// The state of refresh token `digest`.
async fn token_state(store: &dyn Store, tenant_id: &str, digest: &str) -> Option<String> {
    let found = store.refresh_token(tenant_id, digest).await.unwrap();
    found.map(|(token, _)| token.state.as_str().to_owned())
}

/// How many families rotate at once, and how many times each, in
/// [`design_s4_concurrent_rotations_are_committed_before_they_are_answered`].
const CONCURRENT_FAMILIES: usize = 40;
const CONCURRENT_ROUNDS: usize = 3;

/// Many families rotated at once (SQLite lets concurrent rotations share
/// one commit): a rotation is committed before it is answered, so a read on
/// another connection right after the answer sees it, and every rotation
/// has its audit event.
async fn design_s4_concurrent_rotations_are_committed_before_they_are_answered(
    store: Arc<dyn Store>,
) {
    const FAMILIES: usize = CONCURRENT_FAMILIES;
    const ROUNDS: i64 = CONCURRENT_ROUNDS as i64;
    let t = with_families(&*store, FAMILIES).await;
    let mut tasks = Vec::new();
    for i in 0..FAMILIES {
        let (store, tenant_id) = (store.clone(), t.id.clone());
        tasks.push(tokio::spawn(async move {
            let mut token = format!("rt{i}");
            for round in 0..ROUNDS {
                let child = format!("rt{i}-{round}");
                let p = presentation(&tenant_id, &token, &child, 30 + round);
                match store.present_refresh_token(&p).await.unwrap() {
                    PresentOutcome::Decided { decision, .. } => {
                        assert_eq!(decision, Decision::Rotate)
                    }
                    other => panic!("{other:?}"),
                }
                let parent = token_state(&*store, &tenant_id, &token).await;
                assert_eq!(parent.as_deref(), Some("rotated"), "{token}");
                let next = token_state(&*store, &tenant_id, &child).await;
                assert_eq!(next.as_deref(), Some("active"), "{child}");
                token = child;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = store.events(&t.id, 0, 1000).await.unwrap();
    let refreshes = events.iter().filter(|e| e.kind == "refresh").count();
    assert_eq!(refreshes, FAMILIES * ROUNDS as usize);
}

/// Rotations cancelled at any point (a client that hangs up), among others
/// that finish: every family ends with exactly one active token, the child
/// exactly when its rotation was committed, and every rotation answered is
/// one of them.
async fn design_s4_rotations_cancelled_mid_flight_leave_one_active_token_per_family(
    store: Arc<dyn Store>,
) {
    const FAMILIES: usize = 40;
    let t = with_families(&*store, FAMILIES).await;
    let mut tasks = Vec::new();
    for i in 0..FAMILIES {
        let (store, tenant_id) = (store.clone(), t.id.clone());
        tasks.push(tokio::spawn(async move {
            let (token, child) = (format!("rt{i}"), format!("rt{i}-next"));
            let p = presentation(&tenant_id, &token, &child, 30);
            let presented = store.present_refresh_token(&p);
            if i % 3 != 0 {
                return Some(presented.await);
            }
            // Every third one is dropped after 0 to 13 ms, at whatever step
            // it has reached: queued for the writer, in its statements, or
            // waiting for a shared commit.
            let cut_off = Duration::from_millis((i / 3) as u64);
            tokio::time::timeout(cut_off, presented).await.ok()
        }));
    }
    let (mut answered, mut failed, mut cut_off) = (Vec::new(), Vec::new(), 0);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Some(Ok(PresentOutcome::Decided { decision, .. })) => {
                assert_eq!(decision, Decision::Rotate);
                answered.push(i);
            }
            // A rotation that shared a rolled-back commit fails; the client
            // keeps its token.
            Some(Err(_)) => failed.push(i),
            Some(Ok(other)) => panic!("{other:?}"),
            None => {
                assert_eq!(i % 3, 0, "only the ones dropped are cut off");
                cut_off += 1;
            }
        }
    }
    // The first is dropped before its first statement could finish.
    assert!(cut_off > 0);
    // Only a shared commit can fail a rotation that was not dropped.
    if store.backend() != "sqlite" {
        assert_eq!(failed, Vec::<usize>::new());
    }
    // A rollback left to the next writer runs when any write takes it.
    store
        .record_event(&audit_event(&t.id, "probe", 99))
        .await
        .unwrap();
    for i in 0..FAMILIES {
        let parent = token_state(&*store, &t.id, &format!("rt{i}")).await;
        let child = token_state(&*store, &t.id, &format!("rt{i}-next")).await;
        match (parent.as_deref(), child.as_deref()) {
            (Some("active"), None) => {
                assert!(!answered.contains(&i), "rt{i} answered, not rotated")
            }
            // A failure is only ever reported for a rotation that left
            // the family as it was.
            (Some("rotated"), Some("active")) => {
                assert!(!failed.contains(&i), "rt{i} failed, yet rotated")
            }
            other => panic!("family {i}: {other:?}"),
        }
    }
}

async fn design_s4_using_the_child_spends_the_parent_and_reuse_revokes_the_family(
    store: Arc<dyn Store>,
) {
    let t = with_family(&*store, None).await;
    let present = |digest: &'static str, child: &'static str, now: i64| {
        let store = store.clone();
        let tenant_id = t.id.clone();
        async move {
            let p = presentation(&tenant_id, digest, child, now);
            match store.present_refresh_token(&p).await.unwrap() {
                PresentOutcome::Decided { decision, .. } => decision,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(present("rt0", "rt1", 30).await, Decision::Rotate);
    assert_eq!(present("rt1", "rt2", 31).await, Decision::Rotate);
    assert_eq!(
        store
            .refresh_token(&t.id, "rt0")
            .await
            .unwrap()
            .unwrap()
            .0
            .state
            .as_str(),
        "spent"
    );
    // The family keeps one seal: the newest token's, under its parent's key.
    let seal_of = |digest: &'static str| {
        let store = store.clone();
        let tenant_id = t.id.clone();
        async move {
            let (token, _) = store
                .refresh_token(&tenant_id, digest)
                .await
                .unwrap()
                .unwrap();
            token.child_sealed
        }
    };
    assert_eq!(seal_of("rt0").await, None, "a spent token keeps no seal");
    assert_eq!(seal_of("rt1").await.as_deref(), Some(&b"sealed-child"[..]));
    assert_eq!(seal_of("rt2").await, None);
    assert_eq!(present("rt0", "x", 32).await, Decision::Reuse);
    assert_eq!(seal_of("rt1").await, None, "revocation drops the seal");
    let (rt2, session) = store.refresh_token(&t.id, "rt2").await.unwrap().unwrap();
    assert_eq!(rt2.state.as_str(), "revoked");
    assert_eq!(
        session.revoked_reason.as_deref(),
        Some("refresh_token_reuse")
    );
    assert_eq!(
        present("rt2", "y", 33).await,
        Decision::Reject(RejectReason::FamilyRevoked)
    );
    let kinds = event_kinds(&*store, &t.id).await;
    assert!(
        kinds.contains(&"refresh_token_reuse".to_owned()),
        "{kinds:?}"
    );
    assert_unknown(&*store, &t.id, "nope", 34).await;
}

async fn a_presentation_returns_the_familys_user_read_with_the_token(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    let p = presentation(&t.id, "rt0", "rt1", 30);
    let PresentOutcome::Decided {
        decision,
        token,
        session,
        user,
    } = store.present_refresh_token(&p).await.unwrap()
    else {
        panic!("token vanished");
    };
    assert_eq!(decision, Decision::Rotate);
    assert_eq!(
        token.state.as_str(),
        "active",
        "the records are as they were before"
    );
    assert_eq!(session.id, "s1");
    assert_eq!(user.id, "u1");
    assert_eq!(user.username, "alice");
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    let (child, session) = store.refresh_token(&t.id, "rt1").await.unwrap().unwrap();
    assert_eq!((child.state.as_str(), child.generation), ("active", 1));
    assert_eq!(session.last_used_at, 30, "a rotation touches the session");
    let events = store.events(&t.id, 0, 10).await.unwrap();
    let refresh = events.iter().find(|e| e.kind == "refresh").unwrap();
    assert_eq!(refresh.user_id.as_deref(), Some("u1"));
    assert_eq!(refresh.session_id.as_deref(), Some("s1"));
    assert_eq!(refresh.client_id.as_deref(), Some("web"));
    assert_eq!(refresh.at, 30);
    // Another tenant cannot present it.
    let other = with_tenant(&*store, "t2", "beta").await;
    assert_unknown(&*store, &other.id, "rt1", 31).await;
}

/// The kinds of a tenant's audit events, oldest first.
async fn event_kinds(store: &dyn Store, tenant_id: &str) -> Vec<String> {
    store
        .events(tenant_id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Presenting `digest` in `tenant_id` finds no token and changes nothing.
async fn assert_unknown(store: &dyn Store, tenant_id: &str, digest: &str, now: i64) {
    let p = presentation(tenant_id, digest, "never-minted", now);
    assert_eq!(
        store.present_refresh_token(&p).await.unwrap(),
        PresentOutcome::Unknown
    );
    assert!(
        store
            .refresh_token(tenant_id, "never-minted")
            .await
            .unwrap()
            .is_none()
    );
}

/// The property the optimistic rotation (PostgreSQL) must keep: whatever
/// order rotations and a revocation of their family commit in, no token of
/// the revoked family is left `active`.
async fn design_s4_rotations_racing_a_revocation_leave_no_live_token(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    with_user_u1(&*store, &t.id).await;
    for round in 0..8 {
        let sid = format!("s{round}");
        let code_digest = format!("d{round}");
        let root = format!("r{round}-0");
        store
            .insert_auth_code(&code(&t.id, &code_digest))
            .await
            .unwrap();
        store
            .redeem_auth_code(
                &t.id,
                &code_digest,
                &issuance(&t.id, &sid, Some(&root)),
                20,
                None,
            )
            .await
            .unwrap();
        let mut tasks = Vec::new();
        // A chain of rotations (each presents the newest child) ...
        {
            let store = store.clone();
            let tenant_id = t.id.clone();
            tasks.push(tokio::spawn(async move {
                let mut current = root;
                for step in 1..6 {
                    let child = format!("r{round}-{step}");
                    let p = presentation(&tenant_id, &current, &child, 30 + step);
                    match store.present_refresh_token(&p).await.unwrap() {
                        PresentOutcome::Decided {
                            decision: Decision::Rotate,
                            ..
                        } => current = child,
                        _ => break,
                    }
                }
            }));
        }
        // ... while the family is revoked.
        {
            let store = store.clone();
            let tenant_id = t.id.clone();
            let sid = sid.clone();
            tasks.push(tokio::spawn(async move {
                tokio::task::yield_now().await;
                store
                    .revoke_session(
                        &tenant_id,
                        &sid,
                        "logout",
                        33,
                        &audit_event(&tenant_id, "revocation", 33),
                    )
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut step = 0;
        while let Some((token, session)) = store
            .refresh_token(&t.id, &format!("r{round}-{step}"))
            .await
            .unwrap()
        {
            assert!(session.revoked_at.is_some());
            assert_eq!(
                token.state.as_str(),
                "revoked",
                "round {round}, token {step}"
            );
            step += 1;
        }
        assert!(step >= 1, "the root exists");
    }
}

/// Every presentation the one-statement rotation must not apply gets the
/// locked path's precise answer, and changes nothing it should not.
async fn design_s4_presentations_outside_the_rotate_guard_change_nothing(store: Arc<dyn Store>) {
    let t = with_family(&*store, Some("key-1")).await;
    let unchanged = |store: Arc<dyn Store>, tenant_id: String| async move {
        let (token, session) = store
            .refresh_token(&tenant_id, "rt0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.state.as_str(), "active");
        assert_eq!(session.last_used_at, 20, "the session was not touched");
        assert!(
            store
                .refresh_token(&tenant_id, "child")
                .await
                .unwrap()
                .is_none()
        );
    };
    let policy = RefreshPolicy::default();
    let keyed = |client_id, proof_jkt, now| Presentation {
        client_id,
        client_authenticated: false,
        proof_jkt,
        asked_scope: None,
        asked_resource: None,
        policy,
        now,
    };
    let present_rt0 = |client_id, proof_jkt, now| {
        present_as(
            &*store,
            keyed(client_id, proof_jkt, now),
            &t.id,
            "rt0",
            "child",
        )
    };
    // RFC 6749 §6: another client's token.
    assert_eq!(
        present_rt0("other", Some("key-1"), 30).await,
        Decision::Reject(RejectReason::WrongClient)
    );
    unchanged(store.clone(), t.id.clone()).await;
    // RFC 9449 §5: a bound family without a proof by its key.
    for proof in [None, Some("key-2")] {
        assert_eq!(
            present_rt0("web", proof, 30).await,
            Decision::Reject(RejectReason::DpopKeyMismatch)
        );
        unchanged(store.clone(), t.id.clone()).await;
    }
    // Idle for exactly the idle lifetime: expired (the boundary is exclusive).
    let idle_end = 20 + policy.idle_lifetime_secs;
    assert_eq!(
        present_rt0("web", Some("key-1"), idle_end).await,
        Decision::Reject(RejectReason::FamilyIdleExpired)
    );
    unchanged(store.clone(), t.id.clone()).await;
    // One second earlier it rotates, with the right key.
    assert_eq!(
        present_rt0("web", Some("key-1"), idle_end - 1).await,
        Decision::Rotate
    );
    let (child, session) = store.refresh_token(&t.id, "child").await.unwrap().unwrap();
    assert_eq!(child.state.as_str(), "active");
    assert_eq!(session.last_used_at, idle_end - 1);
    // A revoked family refuses its newest token.
    store
        .revoke_session(
            &t.id,
            "s1",
            "logout",
            idle_end,
            &audit_event(&t.id, "revocation", idle_end),
        )
        .await
        .unwrap();
    assert_eq!(
        present_as(
            &*store,
            keyed("web", Some("key-1"), idle_end),
            &t.id,
            "child",
            "grandchild"
        )
        .await,
        Decision::Reject(RejectReason::FamilyRevoked)
    );
    assert!(
        store
            .refresh_token(&t.id, "grandchild")
            .await
            .unwrap()
            .is_none()
    );
    let kinds = event_kinds(&*store, &t.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "refresh").count(),
        1,
        "{kinds:?}"
    );
}

async fn revoking_a_session_revokes_its_refresh_tokens(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    store.insert_auth_code(&code(&t.id, "d1")).await.unwrap();
    store
        .redeem_auth_code(&t.id, "d1", &issuance(&t.id, "s1", Some("rt0")), 20, None)
        .await
        .unwrap();
    store
        .revoke_session(
            &t.id,
            "s1",
            "logout",
            50,
            &audit_event(&t.id, "revocation", 50),
        )
        .await
        .unwrap();
    store
        .revoke_session(
            &t.id,
            "s1",
            "second reason loses",
            60,
            &audit_event(&t.id, "revocation", 60),
        )
        .await
        .unwrap();
    let (rt, session) = store.refresh_token(&t.id, "rt0").await.unwrap().unwrap();
    assert_eq!(rt.state.as_str(), "revoked");
    assert_eq!(session.revoked_at, Some(50));
    assert_eq!(session.revoked_reason.as_deref(), Some("logout"));
    // Cross-tenant lookups see nothing.
    let other = with_tenant(&*store, "t2", "beta").await;
    assert!(
        store
            .refresh_token(&other.id, "rt0")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session(&other.id, "s1").await.unwrap().is_none());
}

async fn rfc9449_s11_1_a_dpop_proof_jti_is_accepted_once_per_key(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    assert!(
        store
            .record_dpop_proof(&t.id, "jkt-a", "jti-1", 100, 10)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_dpop_proof(&t.id, "jkt-a", "jti-1", 100, 11)
            .await
            .unwrap(),
        "replay"
    );
    assert!(
        store
            .record_dpop_proof(&t.id, "jkt-b", "jti-1", 100, 11)
            .await
            .unwrap(),
        "another key"
    );
    let other = with_tenant(&*store, "t2", "beta").await;
    assert!(
        store
            .record_dpop_proof(&other.id, "jkt-a", "jti-1", 100, 11)
            .await
            .unwrap(),
        "another tenant"
    );
}

/// A proof under key `jkt-a` with `jti`, remembered until 1000.
fn proof_record(jti: &str) -> ProofRecord<'_> {
    ProofRecord {
        jkt: "jkt-a",
        jti,
        expires_at: 1000,
    }
}

/// Presents `digest` as `presenter` with the DPoP proof `jti` (key `jkt-a`).
async fn present_with_proof(
    store: &dyn Store,
    presenter: &Presentation<'_>,
    tenant_id: &str,
    digest: &str,
    child: &str,
    jti: &str,
) -> PresentOutcome {
    let p = RefreshPresentation {
        proof: Some(proof_record(jti)),
        ..presentation_by(presenter, tenant_id, digest, child)
    };
    store.present_refresh_token(&p).await.unwrap()
}

fn decision_of(outcome: &PresentOutcome) -> Option<Decision> {
    match outcome {
        PresentOutcome::Decided { decision, .. } => Some(*decision),
        _ => None,
    }
}

async fn rfc9449_s11_1_a_refresh_records_its_proof_with_the_rotation_and_a_replayed_proof_changes_nothing(
    store: Arc<dyn Store>,
) {
    let t = with_family(&*store, Some("jkt-a")).await;
    let bound = Presentation {
        proof_jkt: Some("jkt-a"),
        ..web_at(30)
    };
    let rotated = present_with_proof(&*store, &bound, &t.id, "rt0", "rt1", "jti-1").await;
    assert_eq!(decision_of(&rotated), Some(Decision::Rotate));
    // The rotation's record is the one every other DPoP check reads.
    assert!(
        !store
            .record_dpop_proof(&t.id, "jkt-a", "jti-1", 1000, 31)
            .await
            .unwrap(),
        "the rotation recorded its proof"
    );
    // The same proof again, with the child (a plain rotation) or with the
    // rotated parent (a grace retry or reuse under the lock): refused as a
    // replay, and the family is exactly as it was.
    for (digest, child) in [("rt1", "rt2"), ("rt0", "rt3")] {
        assert_eq!(
            present_with_proof(&*store, &bound, &t.id, digest, child, "jti-1").await,
            PresentOutcome::ReplayedProof,
            "{digest}"
        );
        assert!(store.refresh_token(&t.id, child).await.unwrap().is_none());
    }
    let (rt1, session) = store.refresh_token(&t.id, "rt1").await.unwrap().unwrap();
    assert_eq!(rt1.state.as_str(), "active");
    assert_eq!(rt1.retries, 0);
    assert!(session.revoked_at.is_none());
    // A fresh proof rotates.
    let next = present_with_proof(&*store, &bound, &t.id, "rt1", "rt2", "jti-2").await;
    assert_eq!(decision_of(&next), Some(Decision::Rotate));
    // A decision taken under the lock (a grace retry of rt1) records its
    // proof too.
    let retry = present_with_proof(&*store, &bound, &t.id, "rt1", "rt9", "jti-3").await;
    assert!(decision_of(&retry).is_some(), "{retry:?}");
    assert!(
        !store
            .record_dpop_proof(&t.id, "jkt-a", "jti-3", 1000, 31)
            .await
            .unwrap()
    );
    // An unknown token keeps its proof's record: replaying that proof is
    // refused as a replay.
    assert_eq!(
        present_with_proof(&*store, &bound, &t.id, "nope", "rt8", "jti-4").await,
        PresentOutcome::Unknown
    );
    assert_eq!(
        present_with_proof(&*store, &bound, &t.id, "rt2", "rt8", "jti-4").await,
        PresentOutcome::ReplayedProof
    );
    // Expired records are forgotten (they were made to last until 1000).
    assert_eq!(store.forget_expired_dpop_proofs(999).await.unwrap(), 0);
    assert_eq!(store.forget_expired_dpop_proofs(1001).await.unwrap(), 4);
}

async fn rfc9449_s11_1_concurrent_refreshes_with_one_proof_rotate_once(store: Arc<dyn Store>) {
    let t = with_family(&*store, Some("jkt-a")).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, tenant_id) = (store.clone(), t.id.clone());
        tasks.push(tokio::spawn(async move {
            let bound = Presentation {
                proof_jkt: Some("jkt-a"),
                ..web_at(30)
            };
            let child = format!("child{i}");
            present_with_proof(&*store, &bound, &tenant_id, "rt0", &child, "jti-1").await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let rotations = outcomes
        .iter()
        .filter(|o| decision_of(o) == Some(Decision::Rotate))
        .count();
    assert_eq!(rotations, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(
            |o| decision_of(o) == Some(Decision::Rotate) || *o == PresentOutcome::ReplayedProof
        ),
        "{outcomes:?}"
    );
    let (session, _) = store.refresh_token(&t.id, "rt0").await.unwrap().unwrap();
    assert_eq!(session.state.as_str(), "rotated");
}

async fn browser_sessions_are_stored_found_and_deleted(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let b = BrowserSessionRecord {
        id_digest: "b1".into(),
        tenant_id: t.id.clone(),
        user_id: "u1".into(),
        auth_time: 5,
        amr: vec!["pwd".into()],
        created_at: 5,
        expires_at: 100,
    };
    store.insert_browser_session(&b).await.unwrap();
    assert_eq!(store.browser_session(&t.id, "b1").await.unwrap(), Some(b));
    store.delete_browser_session(&t.id, "b1").await.unwrap();
    assert!(store.browser_session(&t.id, "b1").await.unwrap().is_none());
}

/// A step-up raises the same browser session; a gone one says so.
async fn a_browser_session_is_raised_in_place(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "t1", "acme").await;
    let b = BrowserSessionRecord {
        id_digest: "b1".into(),
        tenant_id: t.id.clone(),
        user_id: "u1".into(),
        auth_time: 5,
        amr: vec!["pwd".into()],
        created_at: 5,
        expires_at: 100,
    };
    store.insert_browser_session(&b).await.unwrap();
    let amr = vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()];
    assert!(
        store
            .raise_browser_session(&t.id, "b1", 9, &amr)
            .await
            .unwrap()
    );
    let raised = store.browser_session(&t.id, "b1").await.unwrap().unwrap();
    assert_eq!((raised.auth_time, raised.amr.clone()), (9, amr.clone()));
    assert_eq!(raised.created_at, 5, "the same session");
    assert!(
        !store
            .raise_browser_session(&t.id, "gone", 9, &amr)
            .await
            .unwrap()
    );
    assert!(
        !store
            .raise_browser_session("t2", "b1", 9, &amr)
            .await
            .unwrap()
    );
}

/// RFC 6238 §5.2: a TOTP time step is spent once, even by racing
/// sign-ins; recovery codes are spent once each; a confirmed secret is not
/// replaced by a new enrolment; removal takes the codes along.
async fn rfc6238_s5_2_each_totp_step_and_recovery_code_is_spent_once(store: Arc<dyn Store>) {
    use holdfast_store::TotpRecord;
    let t = with_tenant(&*store, "t1", "acme").await;
    with_user_u1(&*store, &t.id).await;
    let pending = |secret: &str| TotpRecord {
        tenant_id: t.id.clone(),
        user_id: "u1".into(),
        sealed_secret: secret.into(),
        confirmed_at: None,
        last_step: 0,
        created_at: 10,
    };
    store.put_pending_totp(&pending("s1")).await.unwrap();
    store.put_pending_totp(&pending("s2")).await.unwrap();
    let found = store.totp_factor(&t.id, "u1").await.unwrap().unwrap();
    assert_eq!(found.sealed_secret, "s2", "a pending enrolment is replaced");
    assert!(
        !store.spend_totp_step(&t.id, "u1", 5).await.unwrap(),
        "not confirmed yet"
    );
    let codes = vec!["r1".to_owned(), "r2".to_owned()];
    let event = audit_event(&t.id, "account", 11);
    assert!(
        store
            .confirm_totp(&t.id, "u1", 7, &codes, 11, &event, None)
            .await
            .unwrap()
    );
    let again = audit_event(&t.id, "account", 11);
    assert!(
        !store
            .confirm_totp(&t.id, "u1", 8, &codes, 11, &again, None)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.put_pending_totp(&pending("s3")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .totp_factor(&t.id, "u1")
            .await
            .unwrap()
            .unwrap()
            .sealed_secret,
        "s2"
    );
    // The confirming code's step is spent; an older one too.
    assert!(!store.spend_totp_step(&t.id, "u1", 7).await.unwrap());
    assert!(!store.spend_totp_step(&t.id, "u1", 6).await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = store.clone();
        let tenant_id = t.id.clone();
        tasks.push(tokio::spawn(async move {
            store.spend_totp_step(&tenant_id, "u1", 8).await.unwrap()
        }));
    }
    let mut spent = 0;
    for task in tasks {
        if task.await.unwrap() {
            spent += 1;
        }
    }
    assert_eq!(spent, 1, "one of the racing sign-ins wins");
    assert_eq!(store.recovery_codes_left(&t.id, "u1").await.unwrap(), 2);
    let use_event = audit_event(&t.id, "account", 12);
    assert!(
        store
            .spend_recovery_code(&t.id, "u1", "r1", 12, &use_event)
            .await
            .unwrap()
    );
    let reuse = audit_event(&t.id, "account", 13);
    assert!(
        !store
            .spend_recovery_code(&t.id, "u1", "r1", 13, &reuse)
            .await
            .unwrap()
    );
    assert!(
        !store
            .spend_recovery_code(&t.id, "u1", "nope", 13, &reuse)
            .await
            .unwrap()
    );
    assert_eq!(store.recovery_codes_left(&t.id, "u1").await.unwrap(), 1);
    let kinds = event_kinds(&*store, &t.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "account").count(),
        2,
        "{kinds:?}"
    );
    let new_codes = vec!["r3".to_owned()];
    let replace = audit_event(&t.id, "account", 14);
    store
        .replace_recovery_codes(&t.id, "u1", &new_codes, 14, &replace)
        .await
        .unwrap();
    assert!(
        !store
            .spend_recovery_code(&t.id, "u1", "r2", 15, &reuse)
            .await
            .unwrap()
    );
    let removal = audit_event(&t.id, "account", 16);
    assert!(
        store
            .remove_totp(&t.id, "u1", &removal, None)
            .await
            .unwrap()
    );
    assert!(store.totp_factor(&t.id, "u1").await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(&t.id, "u1").await.unwrap(), 0);
    assert!(
        !store
            .remove_totp(&t.id, "u1", &removal, None)
            .await
            .unwrap()
    );
}

/// WebAuthn §6.1 (credential ID): a passkey's credential ID names one
/// credential in a tenant: registering it again (for anyone) is a
/// conflict; only its owner renames or removes it; a sign-in updates its
/// counter in place, only over the value it was checked against.
async fn webauthn_s6_1_a_credential_id_is_registered_once_per_tenant(store: Arc<dyn Store>) {
    use holdfast_store::PasskeyRecord;
    let t = with_tenant(&*store, "t1", "acme").await;
    with_user_u1(&*store, &t.id).await;
    store
        .create_user("u2", &t.id, &Username::parse("bob").unwrap(), None, "h", 10)
        .await
        .unwrap();
    let key = |user: &str, id: &str, at: i64| PasskeyRecord {
        tenant_id: t.id.clone(),
        credential_id: id.into(),
        user_id: user.into(),
        name: format!("key {id}"),
        credential: "{\"counter\":0}".into(),
        created_at: at,
        last_used_at: None,
    };
    let event = audit_event(&t.id, "account", 11);
    store
        .add_passkey(&key("u1", "c2", 12), &event, None)
        .await
        .unwrap();
    let event = audit_event(&t.id, "account", 11);
    store
        .add_passkey(&key("u1", "c1", 11), &event, None)
        .await
        .unwrap();
    let event = audit_event(&t.id, "account", 13);
    assert!(matches!(
        store.add_passkey(&key("u2", "c1", 13), &event, None).await,
        Err(StoreError::Conflict(_))
    ));
    let mine: Vec<_> = store
        .passkeys(&t.id, "u1")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.credential_id)
        .collect();
    assert_eq!(mine, ["c1", "c2"], "oldest first");
    assert!(store.passkeys(&t.id, "u2").await.unwrap().is_empty());
    assert_eq!(
        store.passkey(&t.id, "c1").await.unwrap().unwrap().user_id,
        "u1"
    );
    assert!(store.passkey("t2", "c1").await.unwrap().is_none());
    assert!(
        store
            .passkey_used(&t.id, "c1", "{\"counter\":0}", "{\"counter\":5}", 20)
            .await
            .unwrap()
    );
    // A sign-in checked against the old counter loses the race.
    assert!(
        !store
            .passkey_used(&t.id, "c1", "{\"counter\":0}", "{\"counter\":3}", 21)
            .await
            .unwrap()
    );
    let used = store.passkey(&t.id, "c1").await.unwrap().unwrap();
    assert_eq!(
        (used.credential.as_str(), used.last_used_at),
        ("{\"counter\":5}", Some(20))
    );
    assert!(
        !store
            .rename_passkey(&t.id, "u2", "c1", "mine")
            .await
            .unwrap()
    );
    assert!(
        store
            .rename_passkey(&t.id, "u1", "c1", "Laptop")
            .await
            .unwrap()
    );
    assert_eq!(
        store.passkey(&t.id, "c1").await.unwrap().unwrap().name,
        "Laptop"
    );
    let removal = audit_event(&t.id, "account", 21);
    assert!(
        !store
            .remove_passkey(&t.id, "u2", "c1", &removal, None)
            .await
            .unwrap()
    );
    let kinds = event_kinds(&*store, &t.id).await;
    assert_eq!(kinds.len(), 2, "no event for a refused removal: {kinds:?}");
    assert!(
        store
            .remove_passkey(&t.id, "u1", "c1", &removal, None)
            .await
            .unwrap()
    );
    assert!(store.passkey(&t.id, "c1").await.unwrap().is_none());
    assert_eq!(store.passkeys(&t.id, "u1").await.unwrap().len(), 1);
}

/// A presentation dropped part-way (a client that hangs up mid-request)
/// rotates whole or not at all, and leaves the store writable: on SQLite
/// the one writer connection must not be left inside a transaction.
async fn a_presentation_cancelled_part_way_rotates_whole_or_not_at_all(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    let mut newest = "rt0".to_owned();
    let mut cancelled = 0;
    for i in 0..30u64 {
        let child = format!("c{i}");
        let now = 21 + i as i64;
        // Polled `i + 1` times, yielding in between, then dropped.
        let outcome = {
            let mut presented =
                std::pin::pin!(present_as(&*store, web_at(now), &t.id, &newest, &child));
            let mut outcome = None;
            for _ in 0..=i {
                if let Poll::Ready(decision) =
                    std::future::poll_fn(|cx| Poll::Ready(presented.as_mut().poll(cx))).await
                {
                    outcome = Some(decision);
                    break;
                }
                tokio::task::yield_now().await;
            }
            outcome
        };
        match outcome {
            Some(decision) => {
                assert_eq!(decision, Decision::Rotate);
                newest = child;
            }
            None => {
                cancelled += 1;
                // Work already handed to the database may still finish.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (parent, _) = store.refresh_token(&t.id, &newest).await.unwrap().unwrap();
                match store.refresh_token(&t.id, &child).await.unwrap() {
                    Some((token, _)) => {
                        assert_eq!(
                            (parent.state.as_str(), token.state.as_str()),
                            ("rotated", "active")
                        );
                        newest = child;
                    }
                    None => assert_eq!(parent.state.as_str(), "active", "no child, so no rotation"),
                }
            }
        }
    }
    assert!(cancelled > 0, "some presentations were cut off");
    assert_eq!(
        present_as(&*store, web_at(100), &t.id, &newest, "last").await,
        Decision::Rotate
    );
    let (_, session) = store.refresh_token(&t.id, "last").await.unwrap().unwrap();
    assert_eq!(session.revoked_at, None);
}

async fn jti_revoked(store: &dyn Store, tenant_id: &str, jti: &str) -> bool {
    store
        .access_token_standing(tenant_id, jti, None)
        .await
        .unwrap()
        .jti_revoked
}

/// RFC 7009 / RFC 7662: what can kill an access token, read in one query.
async fn rfc7662_an_access_tokens_standing_covers_jti_session_and_user(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    let standing = |jti: &'static str, session: Option<(&'static str, &'static str)>| {
        let store = store.clone();
        let tenant_id = t.id.clone();
        async move {
            store
                .access_token_standing(&tenant_id, jti, session)
                .await
                .unwrap()
        }
    };
    let live = AccessTokenStanding {
        jti_revoked: false,
        session_live: true,
        user_exists: true,
        user_not_before: None,
    };
    assert_eq!(standing("jti-a", None).await, live);
    assert_eq!(standing("jti-a", Some(("s1", "u1"))).await, live);
    assert_eq!(
        standing("jti-a", Some(("s-gone", "u-gone"))).await,
        AccessTokenStanding {
            session_live: false,
            user_exists: false,
            ..live
        }
    );
    // Another tenant's session and user are not this tenant's.
    let other = with_tenant(&*store, "t2", "beta").await;
    let across = store
        .access_token_standing(&other.id, "jti-a", Some(("s1", "u1")))
        .await
        .unwrap();
    assert_eq!((across.session_live, across.user_exists), (false, false));

    store
        .revoke_access_token(&t.id, "jti-a", 900, &audit_event(&t.id, "revocation", 30))
        .await
        .unwrap();
    assert!(standing("jti-a", Some(("s1", "u1"))).await.jti_revoked);
    assert!(!standing("jti-b", Some(("s1", "u1"))).await.jti_revoked);

    store.set_user_not_before(&t.id, "u1", 50).await.unwrap();
    assert_eq!(
        standing("jti-b", Some(("s1", "u1"))).await,
        AccessTokenStanding {
            // The stamp also revoked the session begun before it.
            session_live: false,
            user_not_before: Some(50),
            ..live
        }
    );
}

/// Each revocation writes its audit event in its own transaction: both
/// land, or (here: the event's id is taken) neither does.
async fn a_revocation_and_its_audit_event_commit_together(store: Arc<dyn Store>) {
    let t = with_family(&*store, None).await;
    let taken = audit_event(&t.id, "login_succeeded", 10);
    store.record_event(&taken).await.unwrap();
    let clashing = AuditEvent {
        kind: "revocation".into(),
        ..taken.clone()
    };

    // A session, alone and among the user's.
    assert!(
        store
            .revoke_session(&t.id, "s1", "logout", 30, &clashing)
            .await
            .is_err()
    );
    assert!(
        store
            .revoke_user_sessions(&t.id, "u1", None, "logout", 30, &clashing)
            .await
            .is_err()
    );
    let (token, session) = store.refresh_token(&t.id, "rt0").await.unwrap().unwrap();
    assert_eq!(
        session.revoked_at, None,
        "the failed revocations left it live"
    );
    assert_eq!(token.state.as_str(), "active");
    // An access token's jti.
    assert!(
        store
            .revoke_access_token(&t.id, "jti-x", 900, &clashing)
            .await
            .is_err()
    );
    assert!(!jti_revoked(&*store, &t.id, "jti-x").await);
    assert_eq!(event_kinds(&*store, &t.id).await, ["login_succeeded"]);

    let by_user = audit_event(&t.id, "revocation", 40);
    assert_eq!(
        store
            .revoke_user_sessions(&t.id, "u1", None, "logout", 40, &by_user)
            .await
            .unwrap(),
        1
    );
    let by_client = audit_event(&t.id, "revocation", 41);
    store
        .revoke_access_token(&t.id, "jti-x", 900, &by_client)
        .await
        .unwrap();
    assert!(jti_revoked(&*store, &t.id, "jti-x").await);
    let (_, session) = store.refresh_token(&t.id, "rt0").await.unwrap().unwrap();
    assert_eq!(session.revoked_at, Some(40));
    let ids: Vec<String> = store
        .events(&t.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [taken.id, by_user.id, by_client.id]);
}

macro_rules! conformance {
    ($backend_mod:ident, $backend:expr, [$($test:ident),* $(,)?]) => {
        mod $backend_mod {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some((_db, store)) = open($backend).await else { return };
                    super::$test(store).await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reconnecting_reapplies_no_migration_and_keeps_data() {
                let Some((db, store)) = open($backend).await else { return };
                super::reconnecting_reapplies_no_migration_and_keeps_data(store, &db.url).await;
            }
        }
    };
}

macro_rules! all_backends {
    ($($test:ident),* $(,)?) => {
        conformance!(sqlite, Backend::Sqlite, [$($test),*]);
        conformance!(postgres, Backend::Postgres, [$($test),*]);
    };
}

all_backends!(
    tenants_are_created_found_and_listed,
    tenant_settings_are_stored_with_their_audit_event,
    duplicate_tenant_slug_is_a_conflict_and_writes_nothing,
    a_failed_key_insert_rolls_back_the_tenant,
    clients_round_trip_with_their_policy,
    client_ids_are_unique_per_tenant_only,
    usernames_are_unique_per_tenant_case_insensitively,
    key_rotation_promotes_next_and_retires_current,
    rotation_without_a_next_key_fails_and_changes_nothing,
    concurrent_rotations_leave_exactly_one_current_and_one_next,
    keys_of_a_second_alg_have_their_own_life_cycle_and_concurrent_adds_keep_one_pair,
    kek_check_is_set_once,
    rfc6749_s4_1_2_a_code_redeems_once_and_a_replay_revokes_what_it_issued,
    rfc9449_s11_1_a_code_redemption_records_its_proof_in_its_own_transaction,
    a_codes_browser_session_is_kept_on_the_code_and_its_family,
    a_step_up_code_continues_the_live_family_in_place,
    outbox_backlogs_count_what_waits_and_date_the_oldest,
    concurrent_redemptions_of_one_code_issue_exactly_once,
    design_s4_concurrent_presentations_of_one_token_yield_one_child,
    design_s4_concurrent_rotations_are_committed_before_they_are_answered,
    design_s4_rotations_cancelled_mid_flight_leave_one_active_token_per_family,
    design_s4_using_the_child_spends_the_parent_and_reuse_revokes_the_family,
    a_presentation_returns_the_familys_user_read_with_the_token,
    design_s4_rotations_racing_a_revocation_leave_no_live_token,
    design_s4_presentations_outside_the_rotate_guard_change_nothing,
    revoking_a_session_revokes_its_refresh_tokens,
    a_revocation_and_its_audit_event_commit_together,
    rfc7662_an_access_tokens_standing_covers_jti_session_and_user,
    a_presentation_cancelled_part_way_rotates_whole_or_not_at_all,
    browser_sessions_are_stored_found_and_deleted,
    a_browser_session_is_raised_in_place,
    rfc6238_s5_2_each_totp_step_and_recovery_code_is_spent_once,
    webauthn_s6_1_a_credential_id_is_registered_once_per_tenant,
    rfc9449_s11_1_a_dpop_proof_jti_is_accepted_once_per_key,
    rfc9449_s11_1_a_refresh_records_its_proof_with_the_rotation_and_a_replayed_proof_changes_nothing,
    rfc9449_s11_1_concurrent_refreshes_with_one_proof_rotate_once,
);

/// SQLite's proof log (decision 0013, point 9): the index in memory only
/// mirrors the log, so a proof recorded by another process on the same
/// file, or before a restart, is a replay; a forgotten one is new again.
#[tokio::test]
async fn rfc9449_s11_1_sqlite_a_proof_recorded_by_another_process_or_before_a_restart_is_a_replay()
{
    use holdfast_store::DpopReplayStore;
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let a = SqliteStore::connect(&db.url).await.unwrap();
    let b = SqliteStore::connect(&db.url).await.unwrap();
    let record =
        |store: &SqliteStore, tenant: &'static str, jkt: &'static str, jti: &'static str| {
            let store = store.clone();
            async move {
                store
                    .record_dpop_proof(tenant, jkt, jti, 1000, 1)
                    .await
                    .unwrap()
            }
        };
    assert!(record(&a, "t1", "jkt", "jti-1").await);
    assert!(!record(&b, "t1", "jkt", "jti-1").await);
    assert!(record(&b, "t1", "jkt", "jti-2").await);
    assert!(!record(&a, "t1", "jkt", "jti-2").await);
    // Per tenant and key.
    assert!(record(&a, "t1", "jkt-other", "jti-1").await);
    assert!(record(&b, "t2", "jkt", "jti-1").await);
    drop((a, b));
    let c = SqliteStore::connect(&db.url).await.unwrap();
    assert_eq!(c.remembered_proofs(), 4);
    assert!(!record(&c, "t1", "jkt", "jti-1").await);
    assert!(!record(&c, "t2", "jkt", "jti-1").await);
    assert_eq!(c.forget_expired_dpop_proofs(1001).await.unwrap(), 4);
    assert_eq!(c.remembered_proofs(), 0);
    assert!(record(&c, "t1", "jkt", "jti-1").await);
}

/// SQLite's group commit (decision 0013): rotations that wait for the
/// writer share a commit, and each rotation is carried by exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_rotations_share_commits() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let store = Arc::new(SqliteStore::connect(&db.url).await.unwrap());
    let before = store.rotation_commits();
    design_s4_concurrent_rotations_are_committed_before_they_are_answered(store.clone()).await;
    let after = store.rotation_commits();
    let rotations = after.rotations - before.rotations;
    let commits = after.commits - before.commits;
    assert_eq!(rotations, (CONCURRENT_FAMILIES * CONCURRENT_ROUNDS) as u64);
    assert!(
        commits < rotations,
        "{rotations} rotations in {commits} commits: none shared one"
    );
}
