//! Refresh-token rotation through the real HTTP server, on both back ends:
//! docs/design.md §4 ("confirmed rotation") on top of
//! [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6) and the
//! reuse detection of [RFC 9700 §4.14.2](https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2).
//!
//! - A lost response is harmless: the parent, retried inside the grace
//!   window, returns the *same* child (§4 step 4), up to the retry limit.
//! - Grace needs proof of the holder (§4 step 4): the retry is given to a
//!   confidential client (it authenticates) and to a DPoP-bound family
//!   (with a proof by its key). An unbound family of a public client
//!   rotates strictly, so a thief replaying a stolen token right after its
//!   owner used it revokes the family instead of taking it over; only a
//!   client registered with the explicit opt-in keeps grace for it.
//! - Reuse of a spent parent, or of a rotated parent past its window, or
//!   any second use in strict mode, revokes the whole family (§4 step 5).
//! - Families expire when idle (sliding) and at their absolute lifetime
//!   (§4 step 2).
//! - A token is bound to its client and tenant (RFC 6749 §6: "ensure that
//!   the refresh token was issued to the authenticated client").
//! - Concurrent presentations of one token yield exactly one child (§4:
//!   "a thousand concurrent presentations of one RT yield exactly one child").
//!
//! The grace tests use the confidential client [`APP`] (or a DPoP key, or
//! the opt-in) so that a retry proves it comes from the holder.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod lifecycle;

use holdfast_core::client::{Client, ClientKind, GrantType, NewClient, RotationMode};
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_testkit::TestServer;
use lifecycle::{
    CHALLENGE, Fixture, PASSWORD, Reply, Tokens, VERIFIER, WEB, events_of_kind, fixture,
    fixture_with, is_active, refresh, sid_of, sign_in, userinfo_status,
};
use reqwest::StatusCode;

const DAY: i64 = 24 * 3600;

holdfast_testkit::on_both_backends!(
    design_s4_step4_lost_response_retry_returns_the_same_child_and_later_reuse_revokes_the_family,
    design_s4_step4_grace_theft_of_an_unbound_public_token_is_reuse_and_revokes_the_family,
    design_s4_step4_a_dpop_bound_public_family_retries_with_its_key_and_gets_the_same_child,
    design_s4_step4_a_public_client_that_accepts_the_risk_keeps_grace_for_unbound_tokens,
    design_s4_step5_rotated_token_past_the_grace_window_is_reuse,
    design_s4_strict_rotation_treats_any_second_use_as_reuse,
    rfc6749_s6_a_refused_wider_scope_does_not_spend_the_refresh_token,
    design_s4_step4_retry_limit_refuses_but_spares_the_family,
    design_s4_step2_idle_lifetime_slides_and_then_expires,
    design_s4_step2_absolute_lifetime_ends_even_a_busy_family,
    rfc6749_s6_refresh_token_of_other_client_is_refused,
    design_s4_concurrent_presentations_yield_exactly_one_child,
    design_s4_clients_hanging_up_mid_refresh_cost_no_one_else_and_can_retry,
    rfc6749_s6_refresh_token_of_other_tenant_is_refused,
);

/// The confidential client registered beside the fixture's: it may sign
/// in and refresh, and proves it holds its families by authenticating.
const APP: &str = "app";

/// [`APP`] and its secret.
struct App {
    client: Client,
    secret: String,
}

/// Registers [`APP`] in the fixture's tenant, with `configure` applied.
async fn app_with(server: &TestServer, f: &Fixture, configure: impl FnOnce(&mut NewClient)) -> App {
    let mut new = NewClient::new(APP, ClientKind::Confidential);
    new.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    configure(&mut new);
    let (client, secret) = server.client(&f.tenant, new).await;
    App {
        client,
        secret: secret.unwrap().expose().to_owned(),
    }
}

/// [`APP`] with the default refresh policy.
async fn app(server: &TestServer, f: &Fixture) -> App {
    app_with(server, f, |_| {}).await
}

async fn reply_of(response: reqwest::Response) -> Reply {
    let status = response.status();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

impl App {
    /// Signs `alice` in through the authorization challenge and redeems the
    /// code, authenticating with HTTP Basic both times.
    async fn sign_in(&self, http: &reqwest::Client, issuer: &str) -> Tokens {
        let challenge = http
            .post(format!("{issuer}/authorize-challenge"))
            .basic_auth(APP, Some(&self.secret))
            .form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("scope", "openid profile"),
            ])
            .send()
            .await
            .unwrap();
        let challenge = reply_of(challenge).await;
        assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.body);
        let code = challenge.body["authorization_code"].as_str().unwrap();
        let redeemed = http
            .post(format!("{issuer}/token"))
            .basic_auth(APP, Some(&self.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap();
        reply_of(redeemed).await.tokens()
    }

    /// RFC 6749 §6: presents `refresh_token`, authenticating with HTTP Basic.
    async fn refresh(&self, http: &reqwest::Client, issuer: &str, refresh_token: &str) -> Reply {
        let response = http
            .post(format!("{issuer}/token"))
            .basic_auth(APP, Some(&self.secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap();
        reply_of(response).await
    }
}

/// Posts `form` to the token endpoint as a DPoP client holding `key` does:
/// a fresh proof, and once more with the server's nonce when it asks for
/// one (RFC 9449 §8).
async fn dpop_token(
    server: &TestServer,
    issuer: &str,
    key: &DpopKey,
    form: &[(&str, &str)],
) -> Reply {
    let http = server.http();
    let endpoint = format!("{issuer}/token");
    let mut nonce: Option<String> = None;
    loop {
        let mut claims = ProofClaims::new("POST", &endpoint, server.state.now());
        if let Some(n) = &nonce {
            claims = claims.nonce(n);
        }
        let response = http
            .post(&endpoint)
            .header("DPoP", key.proof(&claims).unwrap())
            .form(form)
            .send()
            .await
            .unwrap();
        let offered = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        let reply = reply_of(response).await;
        if nonce.is_none() && reply.body["error"] == "use_dpop_nonce" {
            nonce = Some(offered.expect("use_dpop_nonce comes with a DPoP-Nonce header"));
            continue;
        }
        return reply;
    }
}

/// Signs `alice` in as the public client [`WEB`], redeeming the code with
/// a proof by `key`: the family is bound to it (RFC 9449 §5).
async fn dpop_sign_in(server: &TestServer, f: &Fixture, key: &DpopKey) -> Tokens {
    let challenge = server
        .http()
        .post(format!("{}/authorize-challenge", f.issuer))
        .form(&[
            ("client_id", WEB),
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile"),
        ])
        .send()
        .await
        .unwrap();
    let challenge = reply_of(challenge).await;
    assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.body);
    let code = challenge.body["authorization_code"].as_str().unwrap();
    let reply = dpop_token(
        server,
        &f.issuer,
        key,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", WEB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(reply.body["token_type"], "DPoP", "{}", reply.body);
    reply.tokens()
}

/// Presents `refresh_token` as [`WEB`] with a proof by `key`.
async fn dpop_refresh(
    server: &TestServer,
    f: &Fixture,
    key: &DpopKey,
    refresh_token: &str,
) -> Reply {
    dpop_token(
        server,
        &f.issuer,
        key,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", WEB),
        ],
    )
    .await
}

/// The session (family) of an access token, as stored.
async fn session_of(
    server: &TestServer,
    f: &Fixture,
    access_token: &str,
) -> holdfast_store::SessionRecord {
    server
        .state
        .store
        .session(&f.tenant.id, &sid_of(access_token))
        .await
        .unwrap()
        .unwrap()
}

/// docs/design.md §4 steps 3–6: RT0 → C; RT0 again inside the window → the same
/// C with a new access token; C → C2 (RT0 is now spent); RT0 again → reuse:
/// the family is revoked (C2 refused, its access tokens dead at
/// introspection and userinfo) and `refresh_token_reuse` is recorded.
/// The client is confidential: its retry proves it holds the family.
async fn design_s4_step4_lost_response_retry_returns_the_same_child_and_later_reuse_revokes_the_family(
    server: TestServer,
) {
    let f = fixture(&server, "acme").await;
    let app = app(&server, &f).await;
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;
    let sid = sid_of(&rt0.access_token);

    let c = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();
    assert!(c.refresh_token.starts_with("hfrt_"), "{}", c.refresh_token);
    assert_ne!(c.refresh_token, rt0.refresh_token, "rotation makes a child");

    // The response carrying C was "lost"; the client retries RT0 within 60 s.
    server.clock.advance(59);
    let retry = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();
    assert_eq!(
        retry.refresh_token, c.refresh_token,
        "a grace retry returns the identical child"
    );
    assert_ne!(
        retry.access_token, c.access_token,
        "a grace retry mints a new access token"
    );
    assert_eq!(sid_of(&retry.access_token), sid, "same family");
    assert!(is_active(&http, &f, &retry.access_token).await);
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .len(),
        1
    );

    // The child is used: RT0 becomes spent.
    let c2 = app
        .refresh(&http, &f.issuer, &c.refresh_token)
        .await
        .tokens();
    assert_ne!(c2.refresh_token, c.refresh_token);
    assert_ne!(c2.refresh_token, rt0.refresh_token);
    assert!(is_active(&http, &f, &c2.access_token).await);
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );

    // RT0 once more, still inside its original window: reuse.
    let reuse = app.refresh(&http, &f.issuer, &rt0.refresh_token).await;
    reuse.assert_invalid_grant();

    // The whole family is gone.
    app.refresh(&http, &f.issuer, &c2.refresh_token)
        .await
        .assert_invalid_grant();
    app.refresh(&http, &f.issuer, &c.refresh_token)
        .await
        .assert_invalid_grant();
    for at in [&c2.access_token, &retry.access_token, &rt0.access_token] {
        assert!(
            !is_active(&http, &f, at).await,
            "access tokens of a revoked family are inactive"
        );
    }
    assert_eq!(
        userinfo_status(&http, &f.issuer, &c2.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    let session = server
        .state
        .store
        .session(&f.tenant.id, &sid)
        .await
        .unwrap()
        .unwrap();
    assert!(session.revoked_at.is_some());
    assert_eq!(
        session.revoked_reason.as_deref(),
        Some("refresh_token_reuse")
    );
    let events = events_of_kind(&server, &f.tenant, "refresh_token_reuse").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(events[0].user_id.as_deref(), Some(f.alice.id.as_str()));
    assert_eq!(events[0].client_id.as_deref(), Some(APP));

    // Presenting RT0 again now finds a revoked family: refused, not a
    // second reuse event.
    app.refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .assert_invalid_grant();
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .len(),
        1
    );
}

/// docs/design.md §4 step 4, "Grace needs proof of the holder", and RFC 9700
/// §4.14.2 (the grace-theft probe): the owner of an unbound public family
/// refreshes RT x and gets child c; a thief presents x inside the grace
/// window. Nothing tells the thief from a retrying owner, so this is reuse:
/// `invalid_grant`, the family is revoked (c stops working too) and
/// `refresh_token_reuse` is recorded. A thief bringing a DPoP key of its
/// own fares no better: a key proves nothing for a family bound to none.
async fn design_s4_step4_grace_theft_of_an_unbound_public_token_is_reuse_and_revokes_the_family(
    server: TestServer,
) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let thief_key = DpopKey::generate(DpopAlg::ES256).unwrap();
    for with_key in [false, true] {
        let x = sign_in(&http, &f.issuer, WEB, "alice", None).await;
        let sid = sid_of(&x.access_token);
        let c = refresh(&http, &f.issuer, WEB, &x.refresh_token)
            .await
            .tokens();

        server.clock.advance(1);
        let stolen = if with_key {
            dpop_refresh(&server, &f, &thief_key, &x.refresh_token).await
        } else {
            refresh(&http, &f.issuer, WEB, &x.refresh_token).await
        };
        stolen.assert_invalid_grant();
        assert!(
            stolen.body.get("refresh_token").is_none() && stolen.body.get("access_token").is_none(),
            "the thief gets nothing: {}",
            stolen.body
        );

        // The owner's child dies with the family.
        let owner = refresh(&http, &f.issuer, WEB, &c.refresh_token).await;
        owner.assert_invalid_grant();
        assert!(owner.description().contains("revoked"), "{}", owner.body);
        assert!(!is_active(&http, &f, &c.access_token).await);
        assert_eq!(
            userinfo_status(&http, &f.issuer, &c.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        let session = session_of(&server, &f, &c.access_token).await;
        assert!(session.revoked_at.is_some());
        assert_eq!(
            session.revoked_reason.as_deref(),
            Some("refresh_token_reuse")
        );
        let reuse: Vec<_> = events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .into_iter()
            .filter(|e| e.session_id.as_deref() == Some(sid.as_str()))
            .collect();
        assert_eq!(reuse.len(), 1, "{reuse:?}");
        assert_eq!(reuse[0].client_id.as_deref(), Some(WEB));
        assert_eq!(reuse[0].user_id.as_deref(), Some(f.alice.id.as_str()));
    }
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .is_empty(),
        "no grace retry was given"
    );
}

/// docs/design.md §4 step 4 for a DPoP-bound public family (what the JS SDK
/// holds): the retry with a proof by the bound key returns the identical
/// child; the token without a proof by that key gets nothing and harms no
/// one (RFC 9449 §5: not reuse, the family survives); reuse after the child
/// was used is still detected.
async fn design_s4_step4_a_dpop_bound_public_family_retries_with_its_key_and_gets_the_same_child(
    server: TestServer,
) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let rt0 = dpop_sign_in(&server, &f, &key).await;
    let c = dpop_refresh(&server, &f, &key, &rt0.refresh_token)
        .await
        .tokens();
    assert_ne!(c.refresh_token, rt0.refresh_token);

    server.clock.advance(59);
    let retry = dpop_refresh(&server, &f, &key, &rt0.refresh_token).await;
    assert_eq!(retry.body["token_type"], "DPoP", "{}", retry.body);
    let retry = retry.tokens();
    assert_eq!(
        retry.refresh_token, c.refresh_token,
        "a grace retry with the bound key returns the identical child"
    );
    assert_ne!(retry.access_token, c.access_token);
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .len(),
        1
    );

    // The parent without the key, or with another one: refused, not reuse.
    let other = DpopKey::generate(DpopAlg::ES256).unwrap();
    for stolen in [
        refresh(&http, &f.issuer, WEB, &rt0.refresh_token).await,
        dpop_refresh(&server, &f, &other, &rt0.refresh_token).await,
    ] {
        stolen.assert_invalid_grant();
        assert!(
            stolen.body.get("refresh_token").is_none(),
            "{}",
            stolen.body
        );
    }
    assert_eq!(
        session_of(&server, &f, &c.access_token).await.revoked_at,
        None
    );
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );

    // The child works; then the parent, even with the key, is reuse.
    let c2 = dpop_refresh(&server, &f, &key, &c.refresh_token)
        .await
        .tokens();
    dpop_refresh(&server, &f, &key, &rt0.refresh_token)
        .await
        .assert_invalid_grant();
    dpop_refresh(&server, &f, &key, &c2.refresh_token)
        .await
        .assert_invalid_grant();
    assert_eq!(
        session_of(&server, &f, &c2.access_token)
            .await
            .revoked_reason
            .as_deref(),
        Some("refresh_token_reuse")
    );
}

/// docs/design.md §4 step 4: a public client registered with
/// `unbound_grace_accept_risk` keeps the grace retry for unbound families,
/// as before the rule: the retry inside the window returns the identical
/// child, and the child goes on working. (The risk it accepted: the same
/// retry by a thief would have been answered alike.)
async fn design_s4_step4_a_public_client_that_accepts_the_risk_keeps_grace_for_unbound_tokens(
    server: TestServer,
) {
    let f = fixture_with(&server, "acme", |c| {
        c.refresh.unbound_grace_accept_risk = true
    })
    .await;
    assert!(f.web.refresh.unbound_grace_accept_risk);
    let http = server.http();
    let rt0 = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    let c = refresh(&http, &f.issuer, WEB, &rt0.refresh_token)
        .await
        .tokens();
    server.clock.advance(59);
    let retry = refresh(&http, &f.issuer, WEB, &rt0.refresh_token)
        .await
        .tokens();
    assert_eq!(retry.refresh_token, c.refresh_token);
    assert_ne!(retry.access_token, c.access_token);
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .len(),
        1
    );
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );
    let c2 = refresh(&http, &f.issuer, WEB, &c.refresh_token)
        .await
        .tokens();
    assert_ne!(c2.refresh_token, c.refresh_token);
    assert!(is_active(&http, &f, &c2.access_token).await);
}

/// docs/design.md §4 step 5: "`x` is `rotated` past its window → reuse", even
/// though its child was never used. The window is 60 s and half-open; the
/// client is confidential, so inside it the retry would have been grace.
async fn design_s4_step5_rotated_token_past_the_grace_window_is_reuse(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let app = app(&server, &f).await;
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;
    let c = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();

    server.clock.advance(61);
    app.refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .assert_invalid_grant();

    let refused = app.refresh(&http, &f.issuer, &c.refresh_token).await;
    refused.assert_invalid_grant();
    assert!(
        refused.description().contains("revoked"),
        "{}",
        refused.body
    );
    assert!(!is_active(&http, &f, &c.access_token).await);
    let events = events_of_kind(&server, &f.tenant, "refresh_token_reuse").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].session_id.as_deref(),
        Some(sid_of(&c.access_token).as_str())
    );
}

/// docs/design.md §4 (`rotation = strict`): no grace window, so presenting a
/// rotated token again at once is reuse and revokes the family, even for
/// a confidential client that proves it is the holder.
async fn design_s4_strict_rotation_treats_any_second_use_as_reuse(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let app = app_with(&server, &f, |c| c.refresh.rotation = RotationMode::Strict).await;
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;
    let c = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();
    assert_ne!(c.refresh_token, rt0.refresh_token);

    app.refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .assert_invalid_grant();
    app.refresh(&http, &f.issuer, &c.refresh_token)
        .await
        .assert_invalid_grant();
    assert!(!is_active(&http, &f, &c.access_token).await);
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .len(),
        1
    );
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .is_empty()
    );
}

/// docs/design.md §4 step 4: "Past the retry limit (default 5) the answer is
/// `invalid_grant` with an audit event, and the family survives." (A
/// confidential client, whose retries are grace.)
async fn design_s4_step4_retry_limit_refuses_but_spares_the_family(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let app = app(&server, &f).await;
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;
    let c = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();

    for attempt in 1..=5 {
        let retry = app.refresh(&http, &f.issuer, &rt0.refresh_token).await;
        assert_eq!(
            retry.status,
            StatusCode::OK,
            "retry {attempt}: {}",
            retry.body
        );
        assert_eq!(retry.tokens().refresh_token, c.refresh_token);
    }
    let sixth = app.refresh(&http, &f.issuer, &rt0.refresh_token).await;
    sixth.assert_invalid_grant();
    assert!(sixth.body.get("refresh_token").is_none());

    let limit = events_of_kind(&server, &f.tenant, "refresh_retry_limit").await;
    assert_eq!(limit.len(), 1, "{limit:?}");
    assert_eq!(
        limit[0].session_id.as_deref(),
        Some(sid_of(&c.access_token).as_str())
    );
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_retry")
            .await
            .len(),
        5
    );
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );

    // The family survives: the child still works, its access token too.
    assert!(is_active(&http, &f, &c.access_token).await);
    let c2 = app
        .refresh(&http, &f.issuer, &c.refresh_token)
        .await
        .tokens();
    assert_ne!(c2.refresh_token, c.refresh_token);
}

/// docs/design.md §4 step 2, idle lifetime (default 14 days, sliding): a
/// refresh just before it ends starts it again; 14 days without one ends
/// the family.
async fn design_s4_step2_idle_lifetime_slides_and_then_expires(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let rt0 = sign_in(&http, &f.issuer, WEB, "alice", None).await;

    server.clock.advance(14 * DAY - 1);
    let c = refresh(&http, &f.issuer, WEB, &rt0.refresh_token)
        .await
        .tokens();
    // Already 28 days after sign-in, but only 14 days minus 1 s idle.
    server.clock.advance(14 * DAY - 1);
    let c2 = refresh(&http, &f.issuer, WEB, &c.refresh_token)
        .await
        .tokens();

    server.clock.advance(14 * DAY);
    assert!(!is_active(&http, &f, &c2.refresh_token).await);
    let expired = refresh(&http, &f.issuer, WEB, &c2.refresh_token).await;
    expired.assert_invalid_grant();
    assert!(expired.description().contains("idle"), "{}", expired.body);
    assert_eq!(
        events_of_kind(&server, &f.tenant, "refresh_refused")
            .await
            .len(),
        1
    );
    // Expiry is not reuse.
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );
}

/// docs/design.md §4 step 2, absolute lifetime: with idle 100 s and absolute
/// 200 s, refreshing every 90 s keeps the family from idling, but it ends
/// 200 s after sign-in all the same.
async fn design_s4_step2_absolute_lifetime_ends_even_a_busy_family(server: TestServer) {
    let f = fixture_with(&server, "acme", |c| {
        c.refresh.idle_lifetime_secs = 100;
        c.refresh.absolute_lifetime_secs = 200;
    })
    .await;
    let http = server.http();
    let mut current = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    for elapsed in [90, 180] {
        server.clock.advance(90);
        let reply = refresh(&http, &f.issuer, WEB, &current.refresh_token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "refresh {elapsed} s after sign-in: {}",
            reply.body
        );
        current = reply.tokens();
    }
    server.clock.advance(90); // 270 s: idle only 90 s, but past 200 s absolute
    let expired = refresh(&http, &f.issuer, WEB, &current.refresh_token).await;
    expired.assert_invalid_grant();
    assert!(
        expired.description().contains("maximum lifetime"),
        "{}",
        expired.body
    );
}

/// RFC 6749 §6: the server MUST "ensure that the refresh token was issued
/// to the authenticated client". Another client's presentation is refused
/// and leaves the family alone, also while a grace retry would be allowed
/// (docs/design.md §4 step 4: "The retry must come with the same client
/// authentication"). The owner is confidential, so its own retry is grace.
async fn rfc6749_s6_refresh_token_of_other_client_is_refused(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let app = app(&server, &f).await;
    server
        .client(&f.tenant, NewClient::new("mobile", ClientKind::Public))
        .await;
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;

    let stolen = refresh(&http, &f.issuer, "mobile", &rt0.refresh_token).await;
    stolen.assert_invalid_grant();
    assert!(stolen.body.get("access_token").is_none());

    // The owner still rotates RT0 as if nothing happened.
    let c = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();
    // Inside the grace window the other client does not get the child.
    let replay = refresh(&http, &f.issuer, "mobile", &rt0.refresh_token).await;
    replay.assert_invalid_grant();
    assert!(replay.body.get("refresh_token").is_none());
    // The owner's retry still does.
    let retry = app
        .refresh(&http, &f.issuer, &rt0.refresh_token)
        .await
        .tokens();
    assert_eq!(retry.refresh_token, c.refresh_token);
    app.refresh(&http, &f.issuer, &c.refresh_token)
        .await
        .tokens();

    let events = server
        .state
        .store
        .events(&f.tenant.id, 0, 10_000)
        .await
        .unwrap();
    // Registering "mobile" is its one event (client_admin, naming it).
    assert!(
        events
            .iter()
            .filter(|e| e.kind != "client_admin")
            .all(|e| e.client_id.as_deref() != Some("mobile")),
        "another client's attempts touch nothing: {events:?}"
    );
    let session = server
        .state
        .store
        .session(&f.tenant.id, &sid_of(&c.access_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoked_at, None);
}

/// Many sessions refresh at once and every third client hangs up part-way
/// (its request dropped after 0 to 7 ms, wherever it got to: on SQLite,
/// possibly in the middle of a commit it shares with others). No client
/// that waits gets a server error, and one that hung up continues its
/// session by retrying its token (§4 step 4: the same child if its
/// rotation was committed after all).
async fn design_s4_clients_hanging_up_mid_refresh_cost_no_one_else_and_can_retry(
    server: TestServer,
) {
    const SESSIONS: usize = 24;
    let f = fixture(&server, "acme").await;
    let app = std::sync::Arc::new(app(&server, &f).await);
    let http = server.http();
    let mut tokens = Vec::new();
    for _ in 0..SESSIONS {
        tokens.push(app.sign_in(&http, &f.issuer).await.refresh_token);
    }
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (http, issuer, token, app) =
                (http.clone(), f.issuer.clone(), token.clone(), app.clone());
            tokio::spawn(async move {
                let refreshed = app.refresh(&http, &issuer, &token);
                if i % 3 != 0 {
                    return Some(refreshed.await);
                }
                let cut_off = std::time::Duration::from_millis((i / 3) as u64);
                tokio::time::timeout(cut_off, refreshed).await.ok()
            })
        })
        .collect();
    for (i, (task, token)) in tasks.into_iter().zip(&tokens).enumerate() {
        let child = match task.await.unwrap() {
            Some(reply) => {
                assert_eq!(reply.status, StatusCode::OK, "session {i}: {}", reply.body);
                reply.tokens().refresh_token
            }
            None => {
                let retried = app.refresh(&http, &f.issuer, token).await;
                assert_eq!(
                    retried.status,
                    StatusCode::OK,
                    "retry {i}: {}",
                    retried.body
                );
                retried.tokens().refresh_token
            }
        };
        let next = app.refresh(&http, &f.issuer, &child).await;
        assert_eq!(
            next.status,
            StatusCode::OK,
            "session {i}'s child: {}",
            next.body
        );
    }
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty(),
        "no retry was taken for reuse"
    );
}

/// docs/design.md §4: "a thousand concurrent presentations of one RT yield
/// exactly one child". 200 at once: every answer is 200 or `invalid_grant`
/// (never 5xx), the 200s (one rotation plus the 5 grace retries) all carry
/// the same child, one `refresh` event is recorded, and the family lives. The
/// client is confidential: every presentation proves the holder.
async fn design_s4_concurrent_presentations_yield_exactly_one_child(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let app = std::sync::Arc::new(app(&server, &f).await);
    let http = server.http();
    let rt0 = app.sign_in(&http, &f.issuer).await;
    let sid = sid_of(&rt0.access_token);

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let http = http.clone();
            let issuer = f.issuer.clone();
            let token = rt0.refresh_token.clone();
            let app = app.clone();
            tokio::spawn(async move { app.refresh(&http, &issuer, &token).await })
        })
        .collect();
    let mut children = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(
            !reply.status.is_server_error(),
            "a concurrent presentation failed on the server: {} {}",
            reply.status,
            reply.body
        );
        if reply.status == StatusCode::OK {
            children.push(reply.tokens().refresh_token);
        } else {
            reply.assert_invalid_grant();
        }
    }
    let limit = usize::try_from(app.client.refresh.retry_limit).unwrap();
    assert_eq!(
        children.len(),
        1 + limit,
        "one rotation and {limit} grace retries succeed"
    );
    assert!(
        children.iter().all(|c| *c == children[0]),
        "every success returns the one child: {children:?}"
    );
    assert_ne!(children[0], rt0.refresh_token);

    let rotations: Vec<_> = events_of_kind(&server, &f.tenant, "refresh")
        .await
        .into_iter()
        .filter(|e| e.session_id.as_deref() == Some(sid.as_str()))
        .collect();
    assert_eq!(rotations.len(), 1, "{rotations:?}");
    assert!(
        events_of_kind(&server, &f.tenant, "refresh_token_reuse")
            .await
            .is_empty()
    );
    let session = server
        .state
        .store
        .session(&f.tenant.id, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoked_at, None, "the family is not revoked");
    app.refresh(&http, &f.issuer, &children[0]).await.tokens();
}

/// RFC 6749 §6 and docs/design.md §4 step 1: a token is looked up in the
/// tenant whose token endpoint receives it; tenant A's token at tenant B
/// (which has a client of the same `client_id`) is unknown there.
async fn rfc6749_s6_refresh_token_of_other_tenant_is_refused(server: TestServer) {
    let a = fixture(&server, "acme").await;
    let b = fixture(&server, "globex").await;
    let http = server.http();
    let rt0 = sign_in(&http, &a.issuer, WEB, "alice", None).await;

    let elsewhere = refresh(&http, &b.issuer, WEB, &rt0.refresh_token).await;
    elsewhere.assert_invalid_grant();
    assert!(elsewhere.body.get("access_token").is_none());
    assert!(
        server
            .state
            .store
            .events(&b.tenant.id, 0, 10_000)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.kind.starts_with("refresh")),
        "nothing is recorded against tenant B"
    );
    // Tenant A's family is untouched.
    let c = refresh(&http, &a.issuer, WEB, &rt0.refresh_token)
        .await
        .tokens();
    assert!(is_active(&http, &a, &c.access_token).await);
}

/// RFC 6749 §6: the requested scope "MUST NOT include any scope not
/// originally granted". Asking for more is `invalid_scope` and must cost
/// nothing: even in strict mode the same token then still refreshes.
async fn rfc6749_s6_a_refused_wider_scope_does_not_spend_the_refresh_token(server: TestServer) {
    let f = fixture_with(&server, "acme", |c| {
        c.refresh.rotation = RotationMode::Strict
    })
    .await;
    let http = server.http();
    let rt0 = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    let wider = http
        .post(format!("{}/token", f.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt0.refresh_token.as_str()),
            ("client_id", WEB),
            ("scope", "openid profile email"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wider.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = wider.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    let ok = refresh(&http, &f.issuer, WEB, &rt0.refresh_token)
        .await
        .tokens();
    assert_ne!(ok.refresh_token, rt0.refresh_token);
}
