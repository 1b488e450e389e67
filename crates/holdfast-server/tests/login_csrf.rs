//! Login CSRF (RFC 6749 §10.12) at the hosted login form, attacked through
//! the real HTTP server on both back ends (issue 11 §4):
//!
//! - The form's token is an HMAC over the browser's binding cookie and the
//!   carried authorization request: a planted cookie with a forged, empty
//!   or copied token is refused, so is another browser's token or a token
//!   for another request, and an expired one.
//! - A cross-site post is refused (`Sec-Fetch-Site: cross-site` or
//!   `same-site`, an `Origin` other than the server's, `Origin: null`),
//!   even with a valid cookie and token the attacker planted: a readable
//!   hosted page with 403, never a 500.
//! - On https the cookies are `__Host-` cookies (RFC 6265bis §4.1.3.2:
//!   `Secure`, `Path=/`, no `Domain`), which no sibling domain can plant.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use flow::{Browser, PASSWORD, Page, USERNAME, authorize_url, code_request, query};
use holdfast_server::config::ServerConfig;
use holdfast_testkit::{Backend, TestServer};
use reqwest::StatusCode;

holdfast_testkit::on_both_backends!(
    rfc6749_s10_12_planted_cookie_with_a_forged_or_empty_token_is_refused,
    rfc6749_s10_12_token_of_another_browser_is_refused,
    rfc6749_s10_12_token_for_another_authorization_request_is_refused,
    rfc6749_s10_12_expired_login_form_is_refused_and_shown_again,
    login_csrf_cross_site_post_is_refused_even_with_a_planted_valid_pair,
    login_csrf_same_origin_post_from_the_page_signs_in,
);

/// The refusal is a hosted HTML page with a 4xx, and nobody got signed in.
#[track_caller]
fn assert_refused(page: &Page, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.header("content-type")
            .is_some_and(|v| v.starts_with("text/html")),
        "a readable page: {:?}",
        page.headers
    );
    assert!(page.location().is_none(), "no redirect with a code");
    assert!(page.set_cookie("holdfast_session").is_none());
}

/// The CSRF binding cookie as a browser got it with the login page.
fn binding_of(browser: &Browser) -> String {
    browser
        .cookie("holdfast_csrf")
        .expect("binding cookie")
        .to_owned()
}

fn with_token(form: &flow::LoginForm, token: &str) -> flow::LoginForm {
    let mut form = form.clone();
    for (name, value) in &mut form.hidden {
        if name == "csrf_token" {
            token.clone_into(value);
        }
    }
    form
}

async fn rfc6749_s10_12_planted_cookie_with_a_forged_or_empty_token_is_refused(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    // The attacker's form (any request they like) and a cookie they chose.
    let form = Browser::new().get(&url).await.login_form().unwrap();
    let planted = "A".repeat(43);
    for (cookie, token) in [
        (planted.as_str(), ""),
        // The old double-submit: the field a copy of the cookie.
        (planted.as_str(), planted.as_str()),
        (planted.as_str(), "1.forged"),
        ("", ""),
    ] {
        let mut victim = Browser::new();
        victim.plant("holdfast_csrf", cookie, "/t/acme");
        let answer = victim
            .submit(&with_token(&form, token), USERNAME, PASSWORD)
            .await;
        assert_refused(&answer, StatusCode::FORBIDDEN);
        assert!(
            victim.cookie("holdfast_session").is_none(),
            "{cookie}/{token}"
        );
    }
    // No token field at all.
    let mut victim = Browser::new();
    victim.plant("holdfast_csrf", &planted, "/t/acme");
    let mut bare = form.clone();
    bare.hidden.retain(|(n, _)| n != "csrf_token");
    let answer = victim.submit(&bare, USERNAME, PASSWORD).await;
    assert_refused(&answer, StatusCode::FORBIDDEN);
}

async fn rfc6749_s10_12_token_of_another_browser_is_refused(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    let mut attacker = Browser::new();
    let attackers_form = attacker.get(&url).await.login_form().unwrap();
    let mut victim = Browser::new();
    let victims_form = victim.get(&url).await.login_form().unwrap();
    assert_ne!(binding_of(&attacker), binding_of(&victim));
    // The attacker's token in the victim's browser (its own binding).
    let answer = victim.submit(&attackers_form, USERNAME, PASSWORD).await;
    assert_refused(&answer, StatusCode::FORBIDDEN);
    // The victim's own form still works.
    let answer = victim.submit(&victims_form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

async fn rfc6749_s10_12_token_for_another_authorization_request_is_refused(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let pkce = flow::pkce();
    let url = authorize_url(&fx.issuer, &code_request("web", &pkce, "st-1"));
    let mut browser = Browser::new();
    let form = browser.get(&url).await.login_form().unwrap();
    // The same token with the carried request changed (another state, as
    // an attacker swapping in their own request would).
    let mut swapped = form.clone();
    for (name, value) in &mut swapped.hidden {
        if name == "state" {
            "st-2".clone_into(value);
        }
    }
    let answer = browser.submit(&swapped, USERNAME, PASSWORD).await;
    assert_refused(&answer, StatusCode::FORBIDDEN);
    let answer = browser.submit(&form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().unwrap();
    assert_eq!(query(&location, "state").as_deref(), Some("st-1"));
}

async fn rfc6749_s10_12_expired_login_form_is_refused_and_shown_again(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    let mut browser = Browser::new();
    let form = browser.get(&url).await.login_form().unwrap();
    server
        .clock
        .advance(holdfast_server::service::csrf::FORM_TTL_SECS + 1);
    let answer = browser.submit(&form, USERNAME, PASSWORD).await;
    assert_refused(&answer, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("expired"), "{}", answer.body);
    let again = answer.login_form().expect("the form is shown again");
    let answer = browser.submit(&again, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

async fn login_csrf_cross_site_post_is_refused_even_with_a_planted_valid_pair(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    // The attacker's account, and a binding + token they were served.
    server.user(&fx.tenant, "mallory", PASSWORD).await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    let mut attacker = Browser::new();
    let form = attacker.get(&url).await.login_form().unwrap();
    let binding = binding_of(&attacker);
    let own = server.base.origin().ascii_serialization();
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        // A right Origin does not excuse a cross-site fetch, nor the reverse.
        vec![("origin", own.as_str()), ("sec-fetch-site", "cross-site")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        // The victim's browser, with the attacker's pair planted in it.
        let mut victim = Browser::new();
        victim.plant("holdfast_csrf", &binding, "/t/acme");
        let answer = victim
            .submit_with(&form, "mallory", PASSWORD, &headers)
            .await;
        assert_refused(&answer, StatusCode::FORBIDDEN);
        assert!(
            answer.body.contains("did not come from the sign-in page"),
            "{headers:?}: {}",
            answer.body
        );
        assert!(victim.cookie("holdfast_session").is_none(), "{headers:?}");
    }
}

async fn login_csrf_same_origin_post_from_the_page_signs_in(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "st"));
    let own = server.base.origin().ascii_serialization();
    for headers in [
        vec![("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "none")],
        vec![],
    ] {
        let mut browser = Browser::new();
        let form = browser.get(&url).await.login_form().unwrap();
        let answer = browser
            .submit_with(&form, USERNAME, PASSWORD, &headers)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{headers:?}: {}",
            answer.body
        );
        assert!(query(&answer.location().unwrap(), "code").is_some());
        assert!(browser.cookie("holdfast_session").is_some());
        // The binding is replaced after a sign-in.
        assert!(browser.cookie("holdfast_csrf").is_none());
    }
}

/// RFC 6265bis §4.1.3.2 on an https public URL: both cookies are `__Host-`
/// cookies (`Secure`, `Path=/`, no `Domain`), the SSO cookie names its
/// tenant, and single sign-on works with them.
async fn rfc6265bis_host_prefix_on_https(backend: Backend) {
    let config = ServerConfig {
        public_url: Some("https://auth.example.test".parse().unwrap()),
        ..ServerConfig::default()
    };
    let Some(server) = TestServer::start_with(backend, config).await else {
        return;
    };
    let fx = flow::fixture(&server, "acme").await;
    // The public URL is not reachable from here: talk to the listener.
    let direct = format!("http://{}/t/acme", server.state.config.listen);
    let local = |url: &str| url.replace(&fx.issuer, &direct);
    let url = local(&authorize_url(
        &fx.issuer,
        &code_request("web", &flow::pkce(), "st"),
    ));
    let mut browser = Browser::new();
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let raw = page
        .set_cookie("__Host-holdfast_csrf")
        .expect("__Host- CSRF cookie");
    let csrf = cookie::Cookie::parse(raw.clone()).unwrap();
    assert_eq!(csrf.secure(), Some(true), "{raw}");
    assert_eq!(csrf.path(), Some("/"), "{raw}");
    assert_eq!(csrf.domain(), None, "{raw}");
    assert_eq!(csrf.http_only(), Some(true), "{raw}");
    assert!(page.set_cookie("holdfast_csrf").is_none());

    let mut form = page.login_form().unwrap();
    form.action = local(&form.action);
    let answer = browser
        .submit_with(
            &form,
            USERNAME,
            PASSWORD,
            &[
                ("origin", "https://auth.example.test"),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let raw = answer
        .set_cookie("__Host-holdfast_session-acme")
        .expect("__Host- SSO cookie");
    let session = cookie::Cookie::parse(raw.clone()).unwrap();
    assert_eq!(session.secure(), Some(true), "{raw}");
    assert_eq!(session.path(), Some("/"), "{raw}");
    assert_eq!(session.domain(), None, "{raw}");
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax), "{raw}");

    // Single sign-on with the __Host- cookie.
    let again = local(&authorize_url(
        &fx.issuer,
        &code_request("web", &flow::pkce(), "st-2"),
    ));
    let page = browser.get(&again).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(query(&page.location().unwrap(), "code").is_some());

    // A cookie planted without the prefix (as a sibling domain could) is
    // not the binding: the form's token does not verify with it.
    let mut victim = Browser::new();
    victim.plant("holdfast_csrf", csrf.value(), "/");
    let answer = victim.submit(&form, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6265bis_s4_1_3_2_cookies_are_host_prefixed_on_https_sqlite() {
    rfc6265bis_host_prefix_on_https(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6265bis_s4_1_3_2_cookies_are_host_prefixed_on_https_postgres() {
    rfc6265bis_host_prefix_on_https(Backend::Postgres).await;
}
