//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through the
//! real HTTP server on both back ends, attacked as issue 11 §4 describes:
//!
//! - §6: a request without a valid `id_token_hint` from the browser holding
//!   its session (a cross-site `GET` with only the SSO cookie, a hint of
//!   another browser) gets a confirmation page and ends nothing.
//! - A hint without the SSO cookie (leaked, even expired) revokes nothing.
//! - §2: a valid hint from the browser holding that session signs out at
//!   once (expired too: "even when the exp time has passed"), ends the SSO
//!   session and the hint's family, and §3 redirects only to a registered
//!   `post_logout_redirect_uri`, with `state`.
//! - The confirmation form refuses a bad CSRF token and a cross-site post;
//!   confirmed, it signs out as above.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use flow::{Browser, Fixture, Page, REDIRECT_URI, authorize_url, code_request, query, redeem};
use holdfast_server::Clock as _;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use url::Url;

holdfast_testkit::on_both_backends!(
    rp_initiated_logout_s6_cross_site_get_with_only_the_cookie_asks_to_confirm,
    rp_initiated_logout_s6_hint_without_the_cookie_revokes_nothing,
    rp_initiated_logout_s6_hint_of_another_browser_asks_to_confirm_and_revokes_nothing,
    rp_initiated_logout_s2_hint_and_matching_cookie_sign_out_without_a_prompt,
    rp_initiated_logout_s2_expired_hint_from_the_same_browser_still_signs_out,
    rp_initiated_logout_s2_hint_of_a_client_signed_in_by_single_sign_on_signs_out_without_a_prompt,
    rp_initiated_logout_s3_unregistered_post_logout_redirect_uri_is_not_followed,
    rp_initiated_logout_s2_client_id_other_than_the_hints_audience_is_refused,
    rp_initiated_logout_s6_confirmation_with_a_bad_csrf_token_is_refused,
    rp_initiated_logout_s6_confirmed_sign_out_ends_the_sso_session_and_the_family,
);

/// A browser signed in through the hosted page, and what the code redeemed
/// to: the ID token and its `sid`.
struct SignedIn {
    browser: Browser,
    id_token: String,
    sid: String,
}

async fn sign_in(server: &TestServer, fx: &Fixture) -> SignedIn {
    let (browser, code, pkce) = flow::browser_code(fx).await;
    let tokens = redeem(&server.http(), fx, &code, &pkce.verifier).await;
    let id_token = tokens.str("id_token").expect("id_token").to_owned();
    let sid = flow::jwt_part(&id_token, 1)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    SignedIn {
        browser,
        id_token,
        sid,
    }
}

fn end_session_url(fx: &Fixture, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&fx.at("/end-session")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// Whether the family `sid` is still live.
async fn family_live(server: &TestServer, fx: &Fixture, sid: &str) -> bool {
    let family = server
        .state
        .store
        .session(&fx.tenant.id, sid)
        .await
        .unwrap()
        .expect("the family exists");
    family.revoked_at.is_none()
}

/// Whether `browser` still gets a code from single sign-on (no form).
async fn sso_alive(fx: &Fixture, browser: &mut Browser) -> bool {
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "sso"));
    let page = browser.get(&url).await;
    match page.status {
        StatusCode::SEE_OTHER => query(&page.location().unwrap(), "code").is_some(),
        StatusCode::OK => {
            assert!(page.login_form().is_some(), "{}", page.body);
            false
        }
        other => panic!("unexpected {other}: {}", page.body),
    }
}

/// The confirmation page: 200, a form posting to `/end-session/confirm`.
#[track_caller]
fn assert_confirmation(fx: &Fixture, page: &Page) -> flow::LoginForm {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.location().is_none());
    let form = page.login_form().expect("a confirmation form");
    assert_eq!(form.action, fx.at("/end-session/confirm"));
    assert_eq!(form.method.to_ascii_lowercase(), "post");
    assert!(form.hidden("csrf_token").is_some_and(|t| !t.is_empty()));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    form
}

/// Submits a confirmation form as the page would (no extra headers).
async fn submit(browser: &mut Browser, form: &flow::LoginForm, headers: &[(&str, &str)]) -> Page {
    browser
        .post_form_with(&form.action, &form.hidden, headers)
        .await
}

async fn rp_initiated_logout_s6_cross_site_get_with_only_the_cookie_asks_to_confirm(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    for params in [
        vec![],
        vec![
            ("post_logout_redirect_uri", REDIRECT_URI),
            ("client_id", "web"),
        ],
        // A hint that does not verify is no hint.
        vec![("id_token_hint", "eyJhbGciOiJub25lIn0.e30.")],
    ] {
        let page = user.browser.get(&end_session_url(&fx, &params)).await;
        assert_confirmation(&fx, &page);
        assert!(page.set_cookie("holdfast_session").is_none());
        assert!(sso_alive(&fx, &mut user.browser).await, "{params:?}");
        assert!(family_live(&server, &fx, &user.sid).await, "{params:?}");
    }
}

async fn rp_initiated_logout_s6_hint_without_the_cookie_revokes_nothing(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    let leaked = user.id_token.clone();
    for advance in [0, 3600] {
        // The hint alone, fresh and then long expired, from the attacker.
        server.clock.advance(advance);
        let page = Browser::new()
            .get(&end_session_url(
                &fx,
                &[
                    ("id_token_hint", &leaked),
                    ("post_logout_redirect_uri", REDIRECT_URI),
                    ("state", "s"),
                ],
            ))
            .await;
        // Nothing to end in that browser: it goes on, and nothing is revoked.
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(family_live(&server, &fx, &user.sid).await, "+{advance}s");
        assert!(sso_alive(&fx, &mut user.browser).await, "+{advance}s");
    }
}

async fn rp_initiated_logout_s6_hint_of_another_browser_asks_to_confirm_and_revokes_nothing(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut victim = sign_in(&server, &fx).await;
    // The same user in another browser; that browser's hint in this one.
    let mut other = sign_in(&server, &fx).await;
    let page = victim
        .browser
        .get(&end_session_url(&fx, &[("id_token_hint", &other.id_token)]))
        .await;
    assert_confirmation(&fx, &page);
    assert!(family_live(&server, &fx, &other.sid).await);
    assert!(family_live(&server, &fx, &victim.sid).await);
    assert!(sso_alive(&fx, &mut victim.browser).await);
    assert!(sso_alive(&fx, &mut other.browser).await);
}

async fn rp_initiated_logout_s2_hint_and_matching_cookie_sign_out_without_a_prompt(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    let page = user
        .browser
        .get(&end_session_url(
            &fx,
            &[
                ("id_token_hint", &user.id_token),
                ("post_logout_redirect_uri", REDIRECT_URI),
                ("state", "bye"),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some("bye"));
    assert!(user.browser.cookie("holdfast_session").is_none());
    assert!(!family_live(&server, &fx, &user.sid).await);
    assert!(
        !sso_alive(&fx, &mut user.browser).await,
        "the password form again"
    );
}

async fn rp_initiated_logout_s2_expired_hint_from_the_same_browser_still_signs_out(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    let exp = flow::jwt_part(&user.id_token, 1)["exp"].as_i64().unwrap();
    server.clock.advance(exp - server.clock.now() + 60);
    let page = user
        .browser
        .get(&end_session_url(&fx, &[("id_token_hint", &user.id_token)]))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.login_form().is_none(),
        "no confirmation: {}",
        page.body
    );
    assert!(page.body.contains("signed out"), "{}", page.body);
    // The hint names the app: the page offers the way back to it.
    assert!(
        flow::decode_entities(&page.body)
            .contains(r#"id="back-to-app" href="https://app.example.com/""#),
        "{}",
        page.body
    );
    assert!(!family_live(&server, &fx, &user.sid).await);
    assert!(!sso_alive(&fx, &mut user.browser).await);
}

async fn rp_initiated_logout_s2_hint_of_a_client_signed_in_by_single_sign_on_signs_out_without_a_prompt(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    flow::public_client(&server, &fx.tenant, "other").await;
    let mut user = sign_in(&server, &fx).await;
    // A second client signed in from the SSO session, without the form.
    let pkce = flow::pkce();
    let page = user
        .browser
        .get(&authorize_url(
            &fx.issuer,
            &code_request("other", &pkce, "st-o"),
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code = query(&page.location().unwrap(), "code").unwrap();
    let tokens = flow::token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "other"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let hint = tokens.str("id_token").unwrap().to_owned();
    let sid = flow::jwt_part(&hint, 1)["sid"].as_str().unwrap().to_owned();
    let page = user
        .browser
        .get(&end_session_url(
            &fx,
            &[
                ("id_token_hint", &hint),
                ("client_id", "other"),
                ("post_logout_redirect_uri", REDIRECT_URI),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(!family_live(&server, &fx, &sid).await);
    assert!(!sso_alive(&fx, &mut user.browser).await);
    // The first client's own session is its own business (the RP revokes it).
    assert!(family_live(&server, &fx, &user.sid).await);
}

async fn rp_initiated_logout_s3_unregistered_post_logout_redirect_uri_is_not_followed(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    let page = user
        .browser
        .get(&end_session_url(
            &fx,
            &[
                ("id_token_hint", &user.id_token),
                ("post_logout_redirect_uri", "https://evil.example/cb"),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.location().is_none());
    assert!(page.body.contains("signed out"), "{}", page.body);
    assert!(!sso_alive(&fx, &mut user.browser).await);
}

async fn rp_initiated_logout_s2_client_id_other_than_the_hints_audience_is_refused(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    flow::public_client(&server, &fx.tenant, "other").await;
    let mut user = sign_in(&server, &fx).await;
    let page = user
        .browser
        .get(&end_session_url(
            &fx,
            &[("id_token_hint", &user.id_token), ("client_id", "other")],
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(family_live(&server, &fx, &user.sid).await);
    assert!(sso_alive(&fx, &mut user.browser).await);
}

async fn rp_initiated_logout_s6_confirmation_with_a_bad_csrf_token_is_refused(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    let page = user.browser.get(&end_session_url(&fx, &[])).await;
    let form = assert_confirmation(&fx, &page);
    let own = server.base.origin().ascii_serialization();
    let forged = |token: &str| {
        let mut form = form.clone();
        form.hidden.retain(|(n, _)| n != "csrf_token");
        if !token.is_empty() {
            form.hidden.push(("csrf_token".into(), token.into()));
        }
        form
    };
    let refused: Vec<(flow::LoginForm, Vec<(&str, &str)>)> = vec![
        (forged(""), vec![]),
        (forged("1.forged"), vec![]),
        (
            forged(form.hidden("csrf_token").unwrap()),
            vec![("origin", "https://evil.example")],
        ),
        (
            forged(form.hidden("csrf_token").unwrap()),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            forged(form.hidden("csrf_token").unwrap()),
            vec![("origin", "null")],
        ),
    ];
    for (attempt, headers) in &refused {
        let answer = submit(&mut user.browser, attempt, headers).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{headers:?}: {}",
            answer.body
        );
        assert!(
            answer
                .header("content-type")
                .is_some_and(|v| v.starts_with("text/html")),
            "a readable page"
        );
        assert!(answer.body.contains("still signed in"), "{}", answer.body);
        assert!(sso_alive(&fx, &mut user.browser).await, "{headers:?}");
    }
    // The page's token in another browser (no binding there).
    let answer = submit(&mut Browser::new(), &form, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    // The genuine confirmation, as the page posts it.
    let answer = submit(
        &mut user.browser,
        &form,
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("signed out"), "{}", answer.body);
    assert!(!sso_alive(&fx, &mut user.browser).await);
}

async fn rp_initiated_logout_s6_confirmed_sign_out_ends_the_sso_session_and_the_family(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut user = sign_in(&server, &fx).await;
    // The user signed in elsewhere too; this RP's hint is of that session:
    // confirmed by the user in a browser signed in as them, it is revoked
    // as RP-initiated logout always did (a hint alone never would).
    let other = sign_in(&server, &fx).await;
    let page = user
        .browser
        .get(&end_session_url(
            &fx,
            &[
                ("id_token_hint", &other.id_token),
                ("post_logout_redirect_uri", REDIRECT_URI),
                ("state", "st-x"),
            ],
        ))
        .await;
    let form = assert_confirmation(&fx, &page);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("https://app.example.com"),
        "form-action allows the redirect: {csp}"
    );
    let answer = submit(&mut user.browser, &form, &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some("st-x"));
    assert!(!sso_alive(&fx, &mut user.browser).await);
    // What confirming revokes is as before: the hint's family of this user.
    assert!(!family_live(&server, &fx, &other.sid).await);
    assert!(family_live(&server, &fx, &user.sid).await);
}
