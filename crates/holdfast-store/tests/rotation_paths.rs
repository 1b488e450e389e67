//! The store applies core's decision, on every path of both back ends.
//!
//! A presentation of a refresh token takes one of two paths: the fast one
//! (PostgreSQL: one statement that rotates only where
//! `Presentation::rotate_guard` holds on the rows it changes; SQLite: read,
//! decide, rotate in two calls to its writer) or the locked one (the family
//! locked, read, `Presentation::decide`, applied). The fast path is only
//! ever tried when there is a guard; asking for exactly the granted scope
//! gives none (RFC 6749 §6 allows it, and it decides alike), so the same
//! presentation can be sent down either path.
//!
//! The property, over generated families and presentations on both back
//! ends: the decision taken equals core's decision on the rows as they were,
//! and the two paths decide alike and leave the same rows behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use holdfast_core::client::{RefreshPolicy, RotationMode};
use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::refresh::rotation::{AskedResource, Decision, Presentation};
use holdfast_core::scope::Scope;
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::Username;
use holdfast_store::{
    AuditEvent, AuthCodeRecord, CodeIssuance, PresentOutcome, RefreshPresentation, SessionRecord,
    Store, StoredKey,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// How many generated cases each back end runs.
const CASES: usize = 240;

/// The state the presented token is brought into before it is presented.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// Never presented.
    Active,
    /// Rotated once, its child unused (with `retries` grace retries served).
    Rotated { retries: u8 },
    /// Its child rotated in turn.
    Spent,
    /// Its family revoked.
    Revoked,
}

/// One generated case: a family, how its token got where it is, and the
/// presentation made of it.
#[derive(Debug, Clone)]
struct Case {
    setup: Setup,
    family_client: &'static str,
    bound: Option<&'static str>,
    family_resource: Option<&'static str>,
    presenter_client: &'static str,
    authenticated: bool,
    proof: Option<&'static str>,
    rotation: RotationMode,
    grace: i64,
    retry_limit: i64,
    idle: i64,
    absolute: i64,
    opt_in: bool,
    /// When the presentation comes, after the sign-in at `SIGNED_IN`.
    after: i64,
    asked_resource: Option<&'static str>,
}

const SIGNED_IN: i64 = 1_000;
const DEFAULT_AUDIENCE: &str = "https://api.example.com";

/// Cases weighted towards presentations that pass most checks, so that
/// every decision (and each check failing alone) is reached often.
fn case() -> impl Strategy<Value = Case> {
    let setup = prop_oneof![
        3 => Just(Setup::Active),
        3 => (0u8..3).prop_map(|retries| Setup::Rotated { retries }),
        1 => Just(Setup::Spent),
        1 => Just(Setup::Revoked),
    ];
    let rotation = prop_oneof![
        3 => Just(RotationMode::Confirmed),
        1 => Just(RotationMode::Strict),
        2 => Just(RotationMode::None),
    ];
    let family_client = prop_oneof![Just("web"), Just("other")];
    // The presenter is mostly the family's client, with its key.
    let same_client = prop::bool::weighted(0.85);
    let proof = prop_oneof![3 => Just(Proof::FamilyKey), 1 => Just(Proof::None), 1 => Just(Proof::OtherKey)];
    (
        (
            setup,
            family_client,
            prop::option::of(Just("key-a")),
            prop::option::of(Just("https://other.example.com")),
            same_client,
            any::<bool>(),
            proof,
        ),
        (
            rotation,
            0i64..20,
            0i64..5,
            1i64..40,
            1i64..60,
            any::<bool>(),
            0i64..16,
            prop::option::weighted(
                0.3,
                prop_oneof![Just(DEFAULT_AUDIENCE), Just("https://other.example.com")],
            ),
        ),
    )
        .prop_map(
            |(
                (setup, family_client, bound, family_resource, same_client, authenticated, proof),
                (rotation, grace, retry_limit, idle, absolute, opt_in, after, asked_resource),
            )| Case {
                setup,
                family_client,
                bound,
                family_resource,
                presenter_client: match (same_client, family_client) {
                    (true, client) => client,
                    (false, "web") => "other",
                    (false, _) => "web",
                },
                authenticated,
                proof: match proof {
                    Proof::FamilyKey => bound.or(Some("key-a")),
                    Proof::None => None,
                    Proof::OtherKey => Some("key-b"),
                },
                rotation,
                grace,
                retry_limit,
                idle,
                absolute,
                opt_in,
                after,
                asked_resource,
            },
        )
}

/// Which DPoP key the presentation proves.
#[derive(Debug, Clone, Copy)]
enum Proof {
    /// The family's (or, for an unbound family, some key).
    FamilyKey,
    /// None.
    None,
    /// A key the family is not bound to.
    OtherKey,
}

/// Generated cases, reproducibly (the deterministic runner has a fixed seed).
fn cases() -> Vec<Case> {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

static EVENT_IDS: AtomicU64 = AtomicU64::new(0);

/// An audit event with a fresh id.
fn event(tenant_id: &str, at: i64) -> AuditEvent {
    AuditEvent {
        id: format!("ev-{}", EVENT_IDS.fetch_add(1, Ordering::Relaxed)),
        tenant_id: tenant_id.to_owned(),
        at,
        kind: String::new(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: None,
        user_agent: None,
        actor: None,
    }
}

/// The one user of tenant `tenant_id`.
fn user_of(tenant_id: &str) -> String {
    format!("user-{tenant_id}")
}

/// Tenant `t{n}` with its user.
async fn tenant(store: &dyn Store, n: usize) -> Tenant {
    let tenant = Tenant {
        id: format!("t{n}"),
        slug: TenantSlug::parse(&format!("case{n}")).unwrap(),
        display_name: format!("Case {n}"),
        signing_alg: SigningAlg::ES256,
        default_audience: Some(DEFAULT_AUDIENCE.into()),
        created_at: 1,
        branding: Default::default(),
    };
    let key = StoredKey {
        kid: format!("k{n}"),
        alg: SigningAlg::ES256,
        state: KeyState::Current,
        private_sealed: vec![1],
        public_jwk: "{}".into(),
        created_at: 1,
        activated_at: Some(1),
        retired_at: None,
    };
    store.create_tenant(&tenant, &[key]).await.unwrap();
    store
        .create_user(
            &user_of(&tenant.id),
            &tenant.id,
            &Username::parse("alice").unwrap(),
            None,
            "h",
            1,
        )
        .await
        .unwrap();
    tenant
}

/// Signs in as the case's family (session `sid`, first token `{sid}-0`)
/// and brings that token into the case's state; returns its digest.
async fn family(store: &dyn Store, tenant_id: &str, sid: &str, c: &Case) -> String {
    let code = AuthCodeRecord {
        code_digest: format!("code-{sid}"),
        tenant_id: tenant_id.to_owned(),
        client_id: c.family_client.into(),
        user_id: user_of(tenant_id),
        redirect_uri: None,
        scope: "openid email".into(),
        nonce: None,
        code_challenge: "c".repeat(43),
        resource: c.family_resource.map(str::to_owned),
        auth_time: SIGNED_IN,
        acr: "1".into(),
        amr: vec!["pwd".into()],
        created_at: SIGNED_IN,
        expires_at: SIGNED_IN + 60,
        consumed_at: None,
        session_id: None,
        access_jti: None,
        access_exp: None,
        dpop_jkt: c.bound.map(str::to_owned),
        browser_session: None,
    };
    store.insert_auth_code(&code).await.unwrap();
    let issued = CodeIssuance {
        access_jti: format!("jti-{sid}"),
        access_exp: SIGNED_IN + 300,
        session: SessionRecord {
            id: sid.to_owned(),
            tenant_id: tenant_id.to_owned(),
            user_id: user_of(tenant_id),
            client_id: c.family_client.into(),
            scope: "openid email".into(),
            resource: c.family_resource.map(str::to_owned),
            auth_time: SIGNED_IN,
            acr: "1".into(),
            amr: vec!["pwd".into()],
            created_at: SIGNED_IN,
            last_used_at: SIGNED_IN,
            expires_at: SIGNED_IN + 1_000_000,
            revoked_at: None,
            revoked_reason: None,
            device_id: None,
            user_agent: None,
            ip: None,
            dpop_jkt: c.bound.map(str::to_owned),
            browser_session: None,
        },
        refresh_token_digest: Some(format!("{sid}-0")),
        continues: None,
    };
    store
        .redeem_auth_code(tenant_id, &code.code_digest, &issued, SIGNED_IN, None)
        .await
        .unwrap();
    // The family's own client, with its key, under a policy that rotates
    // and retries: it walks the token into the case's state.
    let owner = |now| Presentation {
        client_id: c.family_client,
        client_authenticated: true,
        proof_jkt: c.bound,
        asked_scope: None,
        asked_resource: None,
        policy: RefreshPolicy::default(),
        now,
    };
    let walk = |digest: String, child: String, now: i64| async move {
        let p = RefreshPresentation {
            tenant_id,
            token_digest: &digest,
            presenter: owner(now),
            child_digest: &child,
            child_sealed: b"sealed",
            audit: event(tenant_id, now),
            proof: None,
        };
        match store.present_refresh_token(&p).await.unwrap() {
            PresentOutcome::Decided { decision, .. } => decision,
            other => panic!("{other:?}"),
        }
    };
    let first = format!("{sid}-0");
    match c.setup {
        Setup::Active => {}
        Setup::Rotated { retries } => {
            assert_eq!(
                walk(first.clone(), format!("{sid}-1"), SIGNED_IN + 1).await,
                Decision::Rotate
            );
            for _ in 0..retries {
                assert_eq!(
                    walk(first.clone(), format!("{sid}-x"), SIGNED_IN + 1).await,
                    Decision::ReplayChild
                );
            }
        }
        Setup::Spent => {
            walk(first.clone(), format!("{sid}-1"), SIGNED_IN + 1).await;
            assert_eq!(
                walk(format!("{sid}-1"), format!("{sid}-2"), SIGNED_IN + 2).await,
                Decision::Rotate
            );
        }
        Setup::Revoked => {
            store
                .revoke_session(
                    tenant_id,
                    sid,
                    "test",
                    SIGNED_IN + 1,
                    &event(tenant_id, SIGNED_IN + 1),
                )
                .await
                .unwrap();
        }
    }
    first
}

/// What a presentation leaves behind, to compare between the two paths.
#[derive(Debug, PartialEq, Eq)]
struct Aftermath {
    decision: Decision,
    token_state: &'static str,
    retries: i64,
    child_state: Option<&'static str>,
    revoked: bool,
    last_used_at: i64,
}

/// Presents `digest` of session `sid` as the case says, with `asked_scope`;
/// checks the decision against core's on the rows as they were; returns
/// what it left.
async fn present(
    store: &dyn Store,
    tenant_id: &str,
    sid: &str,
    digest: &str,
    c: &Case,
    asked_scope: Option<&Scope>,
) -> Aftermath {
    let now = SIGNED_IN + c.after;
    let presenter = Presentation {
        client_id: c.presenter_client,
        client_authenticated: c.authenticated,
        proof_jkt: c.proof,
        asked_scope,
        asked_resource: c.asked_resource.map(|resource| AskedResource {
            resource,
            default_audience: DEFAULT_AUDIENCE,
        }),
        policy: RefreshPolicy {
            rotation: c.rotation,
            grace_window_secs: c.grace,
            retry_limit: c.retry_limit,
            idle_lifetime_secs: c.idle,
            absolute_lifetime_secs: c.absolute,
            unbound_grace_accept_risk: c.opt_in,
        },
        now,
    };
    let (before, family) = store
        .refresh_token(tenant_id, digest)
        .await
        .unwrap()
        .unwrap();
    let expected = presenter.decide(before.state, &family.family());
    let child = format!("{sid}-presented");
    let p = RefreshPresentation {
        tenant_id,
        token_digest: digest,
        presenter,
        child_digest: &child,
        child_sealed: b"sealed",
        audit: event(tenant_id, now),
        proof: None,
    };
    let PresentOutcome::Decided { decision, .. } = store.present_refresh_token(&p).await.unwrap()
    else {
        panic!("token vanished");
    };
    assert_eq!(decision, expected, "{c:?} (asked scope {asked_scope:?})");
    let (after, family) = store
        .refresh_token(tenant_id, digest)
        .await
        .unwrap()
        .unwrap();
    let child_state = store
        .refresh_token(tenant_id, &child)
        .await
        .unwrap()
        .map(|(t, _)| t.state.as_str());
    Aftermath {
        decision,
        token_state: after.state.as_str(),
        retries: after.retries,
        child_state,
        revoked: family.revoked_at.is_some(),
        last_used_at: family.last_used_at,
    }
}

async fn the_fast_and_the_locked_path_apply_cores_decision_alike(store: Arc<dyn Store>) {
    let granted = Scope::parse("openid email").unwrap();
    let mut seen = std::collections::HashSet::new();
    for (n, c) in cases().iter().enumerate() {
        let t = tenant(&*store, n).await;
        let (fast_sid, locked_sid) = (format!("{}-fast", t.id), format!("{}-locked", t.id));
        let fast = family(&*store, &t.id, &fast_sid, c).await;
        let locked = family(&*store, &t.id, &locked_sid, c).await;
        let by_fast = present(&*store, &t.id, &fast_sid, &fast, c, None).await;
        let by_locked = present(&*store, &t.id, &locked_sid, &locked, c, Some(&granted)).await;
        assert_eq!(by_fast, by_locked, "{c:?}");
        seen.insert(format!("{:?}", by_fast.decision));
    }
    // The generated cases reach every kind of decision, or the property
    // says little.
    for kind in ["Rotate", "ReplayChild", "KeepToken", "Reuse"] {
        assert!(seen.contains(kind), "no case decided {kind}: {seen:?}");
    }
    assert!(
        seen.iter().filter(|d| d.starts_with("Reject")).count() >= 4,
        "{seen:?}"
    );
}

holdfast_store::on_both_backends!(the_fast_and_the_locked_path_apply_cores_decision_alike);
