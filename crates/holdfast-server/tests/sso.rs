//! The hosted login page and single sign-on, through the real HTTP server
//! on both back ends:
//!
//! - One sign-in serves every client of the tenant until the session is too
//!   old: OIDC Core §3.1.2.1 `prompt` (`login`, `none` → `login_required`,
//!   §3.1.2.6) and `max_age`, with `auth_time` (§2) the time of the real
//!   sign-in.
//! - The session cookie is `HttpOnly`, `SameSite=Lax` and scoped to its
//!   tenant; a session of one tenant is worthless at another.
//! - The page resists clickjacking (RFC 9700 §4.16: `frame-ancestors
//!   'none'`, `X-Frame-Options: DENY`) and leaks no referrer; the form is
//!   protected against CSRF (RFC 6749 §10.12); a failed sign-in does not say
//!   whether the username exists.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use flow::{
    Browser, Fixture, PASSWORD, Page, REDIRECT_URI, USERNAME, authorize_url, browser_code,
    code_request, jwt_part, query, token, with,
};
use holdfast_server::Clock as _;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    oidc_core_s3_1_2_1_second_client_is_signed_in_from_the_session_without_a_form,
    oidc_core_s3_1_2_1_prompt_login_shows_the_form_despite_a_session,
    oidc_core_s3_1_2_1_max_age_shorter_than_the_session_shows_the_form,
    oidc_core_s3_1_2_6_prompt_none_without_a_session_is_login_required,
    sso_session_cookie_is_http_only_lax_and_scoped_to_the_tenant,
    sso_session_of_one_tenant_is_not_honoured_by_another,
    rfc9700_s4_16_login_page_refuses_framing_and_sends_no_referrer,
    rfc6749_s10_12_login_with_a_wrong_csrf_token_is_not_accepted,
    login_failure_message_is_the_same_for_wrong_password_and_unknown_user,
    design_s1_revoking_a_user_ends_single_sign_on_and_unredeemed_codes,
);

/// Redeems `code` for `client_id` and returns the ID token's claims.
async fn id_token_claims(
    server: &TestServer,
    fx: &Fixture,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> Value {
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    jwt_part(answer.str("id_token").expect("id_token"), 1)
}

/// The page is the login form (200 HTML with a password input), and no
/// code went anywhere.
#[track_caller]
fn assert_login_form(page: &Page) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.headers.get("location").is_none());
    let form = page.login_form().expect("a login form");
    assert!(form.visible.iter().any(|n| n == "password"), "{form:?}");
    assert!(form.visible.iter().any(|n| n == "username"), "{form:?}");
}

/// An immediate redirect with a code and the state, without a form.
#[track_caller]
fn assert_code_redirect(page: &Page, state: &str) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(page.login_form().is_none());
    let location = page.location().expect("Location");
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(state));
    query(&location, "code").expect("code")
}

async fn oidc_core_s3_1_2_1_second_client_is_signed_in_from_the_session_without_a_form(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    flow::public_client(&server, &fx.tenant, "other").await;
    let signed_in_at = server.clock.now();
    let (mut browser, code, pkce) = browser_code(&fx).await;
    let first = id_token_claims(&server, &fx, "web", &code, &pkce.verifier).await;
    assert_eq!(first["auth_time"].as_i64(), Some(signed_in_at));

    server.clock.advance(30);
    let pkce = flow::pkce();
    let page = browser
        .get(&authorize_url(
            &fx.issuer,
            &code_request("other", &pkce, "st-b"),
        ))
        .await;
    let code = assert_code_redirect(&page, "st-b");
    let second = id_token_claims(&server, &fx, "other", &code, &pkce.verifier).await;
    assert_eq!(second["aud"], "other");
    assert_eq!(second["sub"], fx.user_id.as_str());
    // auth_time is when the user actually authenticated, not now.
    assert_eq!(second["auth_time"], first["auth_time"]);
    assert_eq!(second["iat"].as_i64(), Some(signed_in_at + 30));
    assert_eq!(second["amr"], first["amr"]);
}

async fn oidc_core_s3_1_2_1_prompt_login_shows_the_form_despite_a_session(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (mut browser, _, _) = browser_code(&fx).await;
    let params = with(code_request("web", &flow::pkce(), "st"), "prompt", "login");
    let page = browser.get(&authorize_url(&fx.issuer, &params)).await;
    assert_login_form(&page);
    // Signing in again gives a new auth_time.
    server.clock.advance(5);
    let pkce = flow::pkce();
    let params = with(code_request("web", &pkce, "st"), "prompt", "login");
    let answer = browser
        .sign_in(&authorize_url(&fx.issuer, &params), USERNAME, PASSWORD)
        .await;
    let code = assert_code_redirect(&answer, "st");
    let claims = id_token_claims(&server, &fx, "web", &code, &pkce.verifier).await;
    assert_eq!(claims["auth_time"].as_i64(), Some(server.clock.now()));
}

async fn oidc_core_s3_1_2_1_max_age_shorter_than_the_session_shows_the_form(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (mut browser, _, _) = browser_code(&fx).await;
    server.clock.advance(30);
    // A session of 30 s satisfies max_age=60 ...
    let params = with(code_request("web", &flow::pkce(), "st"), "max_age", "60");
    let page = browser.get(&authorize_url(&fx.issuer, &params)).await;
    assert_code_redirect(&page, "st");
    // ... but not max_age=10.
    let params = with(code_request("web", &flow::pkce(), "st"), "max_age", "10");
    let page = browser.get(&authorize_url(&fx.issuer, &params)).await;
    assert_login_form(&page);
}

async fn oidc_core_s3_1_2_6_prompt_none_without_a_session_is_login_required(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let params = with(code_request("web", &flow::pkce(), "st-n"), "prompt", "none");
    let page = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().expect("Location");
    assert!(location.as_str().starts_with(REDIRECT_URI));
    assert_eq!(query(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(query(&location, "state").as_deref(), Some("st-n"));
    assert!(query(&location, "code").is_none());

    // With a session, prompt=none answers at once with a code.
    let (mut browser, _, _) = browser_code(&fx).await;
    let page = browser.get(&authorize_url(&fx.issuer, &params)).await;
    assert_code_redirect(&page, "st-n");
}

async fn sso_session_cookie_is_http_only_lax_and_scoped_to_the_tenant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let mut browser = Browser::new();
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    let page = browser.get(&url).await;
    let csrf = page.set_cookie("holdfast_csrf").expect("CSRF cookie");
    let csrf = cookie::Cookie::parse(csrf).unwrap();
    assert_eq!(csrf.http_only(), Some(true));
    assert_eq!(csrf.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(csrf.path(), Some("/t/acme"));
    // The cookie is the browser's random binding; the form's token is an
    // HMAC over it (not a copy of it, which a planted cookie could match).
    assert!(csrf.value().len() >= 32, "an unguessable binding");
    let form = page.login_form().unwrap();
    let token = form.hidden("csrf_token").expect("CSRF token");
    assert!(!token.is_empty());
    assert!(!token.contains(csrf.value()));

    let answer = browser.submit(&form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let session = answer
        .set_cookie("holdfast_session")
        .expect("session cookie");
    let session = cookie::Cookie::parse(session).unwrap();
    assert_eq!(session.http_only(), Some(true));
    // Lax: it must ride on the top-level navigation back to /authorize.
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(session.path(), Some("/t/acme"));
    assert!(session.max_age().is_some_and(|a| a.whole_seconds() > 0));
    assert!(session.value().len() >= 32, "an unguessable value");
}

async fn sso_session_of_one_tenant_is_not_honoured_by_another(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (browser, _, _) = browser_code(&fx).await;
    let session = browser.cookie("holdfast_session").unwrap().to_owned();
    // Same client id, same user name, different tenant.
    let beta = flow::fixture(&server, "beta").await;
    let url = authorize_url(&beta.issuer, &code_request("web", &flow::pkce(), "st"));
    // Sent deliberately, past the cookie's path scoping.
    let answer = server
        .http()
        .get(&url)
        .header("cookie", format!("holdfast_session={session}"))
        .send()
        .await
        .unwrap();
    let page = Page {
        status: answer.status(),
        headers: answer.headers().clone(),
        body: answer.text().await.unwrap(),
    };
    assert_login_form(&page);
}

async fn rfc9700_s4_16_login_page_refuses_framing_and_sends_no_referrer(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let page = Browser::new()
        .get(&authorize_url(
            &fx.issuer,
            &code_request("web", &flow::pkce(), "st"),
        ))
        .await;
    assert_login_form(&page);
    assert!(
        page.header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    let csp = page
        .header("content-security-policy")
        .expect("Content-Security-Policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page.header("referrer-policy").is_some());
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // The form posts, and its inputs are labelled.
    let form = page.login_form().unwrap();
    assert_eq!(form.method.to_ascii_lowercase(), "post");
    assert_eq!(form.action, fx.at("/login"));
    assert!(form.labels.iter().any(|l| l == "username"), "{form:?}");
    assert!(form.labels.iter().any(|l| l == "password"), "{form:?}");
    assert!(
        page.body.contains(r#"type="password""#),
        "password input is masked"
    );
}

async fn rfc6749_s10_12_login_with_a_wrong_csrf_token_is_not_accepted(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));

    // A forged field with the real cookie.
    let mut browser = Browser::new();
    let mut form = browser.get(&url).await.login_form().unwrap();
    for (name, value) in &mut form.hidden {
        if name == "csrf_token" {
            *value = "forged-token".to_owned();
        }
    }
    let answer = browser.submit(&form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.login_form().is_some(), "the form is shown again");
    assert!(answer.set_cookie("holdfast_session").is_none());
    assert!(browser.cookie("holdfast_session").is_none());
    // The form shown again carries a fresh token, and works.
    let retry = answer.login_form().unwrap();
    assert_ne!(retry.hidden("csrf_token"), Some("forged-token"));
    let answer = browser.submit(&retry, USERNAME, PASSWORD).await;
    assert_code_redirect(&answer, "st");

    // The real field without the cookie (a cross-site post carries none).
    let form = Browser::new().get(&url).await.login_form().unwrap();
    let answer = Browser::new().submit(&form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.set_cookie("holdfast_session").is_none());
}

async fn login_failure_message_is_the_same_for_wrong_password_and_unknown_user(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    for (username, password) in [
        (USERNAME, "not the password"),
        ("mallory", "not the password"),
        ("mallory", PASSWORD),
    ] {
        let mut browser = Browser::new();
        let answer = browser.sign_in(&url, username, password).await;
        assert_login_form(&answer);
        assert!(
            answer.body.contains("Incorrect username or password"),
            "{username}: {}",
            answer.body
        );
        assert!(answer.set_cookie("holdfast_session").is_none());
        assert!(browser.cookie("holdfast_session").is_none());
    }
}

/// docs/design.md §1 ("Password reset or a breach must revoke everything"): after
/// a user's "not before" stamp, the SSO cookie no longer signs them in and a
/// code from an authentication before the stamp cannot be redeemed.
async fn design_s1_revoking_a_user_ends_single_sign_on_and_unredeemed_codes(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (mut browser, code, pkce) = flow::browser_code(&fx).await;
    server.clock.advance(5);
    server
        .state
        .store
        .set_user_not_before(&fx.tenant.id, &fx.user_id, server.clock.now())
        .await
        .unwrap();
    // The unredeemed code dies with the stamp.
    let redeemed = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &fx.client.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(redeemed.oauth_error(), "invalid_grant");
    // The SSO cookie no longer yields a code: the form is shown.
    let again = flow::pkce();
    let url = flow::authorize_url(
        &fx.issuer,
        &flow::code_request(&fx.client.client_id, &again, "s2"),
    );
    let page = browser.get(&url).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "expected the login form, got {:?}",
        page.location()
    );
    assert!(page.login_form().is_some());
}
