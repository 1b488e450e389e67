//! What a browser sees where there is no hosted page (issue 16, "HTML for
//! browsers"), on both back ends: the server root, a tenant's root, an
//! unknown tenant, a `GET` of a `POST`-only endpoint, unknown paths and a
//! JSON error answered to a navigation are pages for `Accept: text/html`
//! (RFC 9110 §12.5.1), with the hosted pages' security headers, and stay
//! OAuth-shaped JSON (RFC 6749 §5.2) for API clients. A favicon is served.
#![allow(clippy::unwrap_used)]

mod flow;

use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    rfc9110_s12_5_1_a_browser_landing_anywhere_gets_a_page_an_api_client_json,
    a_form_post_or_fetch_is_no_navigation_and_keeps_json,
    a_favicon_is_served,
    a_clients_display_name_set_on_the_cli_is_what_the_login_page_names,
    a_tenants_branding_set_on_the_cli_shows_on_every_hosted_page,
);

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// What Chromium sends on a navigation.
const NAVIGATION: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(server: &TestServer, path: &str, accept: &str) -> Answer {
    let response = server
        .http()
        .get(server.url(path))
        .header(ACCEPT, accept)
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

fn header(answer: &Answer, name: reqwest::header::HeaderName) -> &str {
    answer
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

async fn rfc9110_s12_5_1_a_browser_landing_anywhere_gets_a_page_an_api_client_json(
    server: TestServer,
) {
    server.tenant("acme").await;
    // (path, status, what the page says, what the JSON says)
    let cases: &[(&str, StatusCode, &str, &str)] = &[
        ("/", StatusCode::OK, "Holdfast sign-in server", "holdfast"),
        ("/t/acme", StatusCode::OK, "/t/acme/account", "/t/acme"),
        (
            "/t/nope",
            StatusCode::NOT_FOUND,
            "Unknown sign-in service",
            "not_found",
        ),
        (
            "/t/nope/authorize?client_id=web",
            StatusCode::NOT_FOUND,
            "Unknown sign-in service",
            "not_found",
        ),
        (
            "/t/acme/nowhere",
            StatusCode::NOT_FOUND,
            "Page not found",
            "not_found",
        ),
        (
            "/nowhere",
            StatusCode::NOT_FOUND,
            "Page not found",
            "not_found",
        ),
        (
            "/t/acme/login",
            StatusCode::METHOD_NOT_ALLOWED,
            "takes a form",
            "invalid_request",
        ),
        (
            "/t/acme/userinfo",
            StatusCode::UNAUTHORIZED,
            "The request was refused",
            "invalid_token",
        ),
    ];
    for (path, status, page_says, json_says) in cases {
        let page = get(&server, path, NAVIGATION).await;
        assert_eq!(page.status, *status, "{path}: {}", page.body);
        assert!(
            header(&page, CONTENT_TYPE).starts_with("text/html"),
            "{path}: {:?}",
            page.headers
        );
        assert!(
            flow::decode_entities(&page.body).contains(page_says),
            "{path}: {}",
            page.body
        );
        assert!(
            header(&page, CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"),
            "{path}: the hosted pages' policy"
        );
        assert!(
            header(&page, VARY).to_ascii_lowercase().contains("accept"),
            "{path}"
        );
        // A known tenant's pages carry its name; others the server's.
        if path.starts_with("/t/acme") {
            assert!(page.body.contains("<h1>acme</h1>"), "{path}: {}", page.body);
        }

        let api = get(&server, path, "application/json").await;
        assert_eq!(api.status, *status, "{path}: {}", api.body);
        assert!(
            header(&api, CONTENT_TYPE).starts_with("application/json"),
            "{path}"
        );
        let json: Value = serde_json::from_str(&api.body).unwrap();
        if status.is_success() {
            assert!(api.body.contains(json_says), "{path}: {json}");
        } else {
            assert_eq!(json["error"], *json_says, "{path}: {json}");
        }
        assert!(
            header(&api, VARY).to_ascii_lowercase().contains("accept"),
            "{path}"
        );
    }
    // A page keeps what the endpoint said in its headers (RFC 6750 §3).
    let page = get(&server, "/t/acme/userinfo", NAVIGATION).await;
    assert!(
        header(&page, WWW_AUTHENTICATE).contains("Bearer"),
        "{:?}",
        page.headers
    );
    // The tenant root's JSON points at discovery.
    let api = get(&server, "/t/acme", "*/*").await;
    let json: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["issuer"], server.issuer("acme"));
    assert_eq!(
        json["openid_configuration"],
        format!("{}/.well-known/openid-configuration", server.issuer("acme"))
    );
    // What is escaped stays escaped: a path with markup shows none of it.
    let page = get(&server, "/t/acme/%3Cscript%3E", NAVIGATION).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("<script>"), "{}", page.body);
}

async fn a_form_post_or_fetch_is_no_navigation_and_keeps_json(server: TestServer) {
    server.tenant("acme").await;
    let post = server
        .http()
        .post(server.url("/t/acme/token"))
        .header(ACCEPT, NAVIGATION)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    let json: Value = post.json().await.unwrap();
    assert_eq!(json["error"], "invalid_client", "{json}");
    // `fetch` sends */* by default: JSON.
    let fetch = get(&server, "/t/nope", "*/*").await;
    assert_eq!(fetch.status, StatusCode::NOT_FOUND);
    assert!(header(&fetch, CONTENT_TYPE).starts_with("application/json"));
    // No Accept at all (curl): JSON.
    let bare = server
        .http()
        .get(server.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert!(
        bare.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

async fn a_favicon_is_served(server: TestServer) {
    let icon = get(&server, "/favicon.ico", "image/avif,image/webp,*/*").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(header(&icon, CONTENT_TYPE), "image/svg+xml");
    assert!(icon.body.starts_with("<svg"), "{}", icon.body);
}

/// Tenant `acme` with a public client `shop` made on the CLI (`extra`
/// added to `client create`); the CLI's JSON answer.
async fn public_shop_client(server: &TestServer, extra: &[&str]) -> Value {
    server.tenant("acme").await;
    let mut args = vec![
        "client",
        "create",
        "--tenant",
        "acme",
        "--client-id",
        "shop",
        "--public",
        "--redirect-uri",
        flow::REDIRECT_URI,
        "--json",
    ];
    args.extend_from_slice(extra);
    let created = server.cli_output(BIN, &args, "");
    assert!(created.status.success(), "{created:?}");
    serde_json::from_slice(&created.stdout).unwrap()
}

async fn a_clients_display_name_set_on_the_cli_is_what_the_login_page_names(server: TestServer) {
    let created = public_shop_client(&server, &["--display-name", "Acme Shop"]).await;
    assert_eq!(created["display_name"], "Acme Shop");
    // Renamed before the server has read it; a control character is refused.
    let renamed = server.cli_output(
        BIN,
        &[
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            "shop",
            "--display-name",
            "Acme <Store>",
        ],
        "",
    );
    assert!(renamed.status.success(), "{renamed:?}");
    let refused = server.cli_output(
        BIN,
        &[
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            "shop",
            "--display-name",
            "bad\u{7}name",
        ],
        "",
    );
    assert!(!refused.status.success(), "{refused:?}");
    let pkce = flow::pkce();
    let url = flow::authorize_url(
        &server.issuer("acme"),
        &flow::code_request("shop", &pkce, "s"),
    );
    let login = server
        .http()
        .get(&url)
        .header(ACCEPT, NAVIGATION)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let body = login.text().await.unwrap();
    assert!(
        body.contains("continue to <strong>Acme &lt;Store&gt;</strong>"),
        "{body}"
    );
}

async fn a_tenants_branding_set_on_the_cli_shows_on_every_hosted_page(server: TestServer) {
    public_shop_client(&server, &[]).await;
    // A colour that could break out of the stylesheet, or a script URL, is
    // refused and changes nothing.
    for bad in [
        ["--accent-color", "#0f766e; } body { display: none"],
        ["--logo-url", "javascript:alert(1)"],
        ["--support-url", "http://help.example.com"],
    ] {
        let refused = server.cli_output(BIN, &["tenant", "update", "acme", bad[0], bad[1]], "");
        assert!(!refused.status.success(), "{bad:?}: {refused:?}");
    }
    // Set before the server has read the tenant (it caches tenants for
    // seconds).
    let branded = server.cli_output(
        BIN,
        &[
            "tenant",
            "update",
            "acme",
            "--logo-url",
            "https://cdn.example.com/acme.svg",
            "--accent-color",
            "#0F766E",
            "--support-url",
            "mailto:help@example.com",
            "--json",
        ],
        "",
    );
    assert!(branded.status.success(), "{branded:?}");
    let shown: Value = serde_json::from_slice(&branded.stdout).unwrap();
    assert_eq!(shown["accent_color"], "#0f766e", "stored normalised");
    assert_eq!(shown["logo_url"], "https://cdn.example.com/acme.svg");

    let brand_marks = |page: &Answer, what: &str| {
        // minijinja escapes `/` in attributes.
        let body = page.body.replace("&#x2f;", "/");
        assert!(
            body.contains(r#"<img class="logo" src="https://cdn.example.com/acme.svg""#),
            "{what}: {}",
            body
        );
        assert!(body.contains(r#"href="mailto:help@example.com""#), "{what}");
        assert!(body.contains("/t/acme/branding.css?v=0f766e"), "{what}");
        assert!(
            header(page, CONTENT_SECURITY_POLICY).contains("img-src 'self' https:"),
            "{what}: the logo may load"
        );
    };
    let pkce = flow::pkce();
    let login_url = flow::authorize_url(
        &server.issuer("acme"),
        &flow::code_request("shop", &pkce, "s"),
    );
    let login = get(
        &server,
        login_url.trim_start_matches(server.url("").trim_end_matches('/')),
        NAVIGATION,
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    brand_marks(&login, "login page");
    let error_url = flow::authorize_url(
        &server.issuer("acme"),
        &flow::code_request("no-such-client", &pkce, "s"),
    );
    let error = get(
        &server,
        error_url.trim_start_matches(server.url("").trim_end_matches('/')),
        NAVIGATION,
    )
    .await;
    assert!(error.status.is_client_error(), "{}", error.body);
    brand_marks(&error, "error page");
    for path in ["/t/acme", "/t/acme/account", "/t/acme/forgot-password"] {
        let page = get(&server, path, NAVIGATION).await;
        assert!(
            page.body.starts_with("<!doctype html>"),
            "{path}: {}",
            page.body
        );
        brand_marks(&page, path);
    }
    let css = get(&server, "/t/acme/branding.css", "text/css,*/*;q=0.1").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(header(&css, CONTENT_TYPE), "text/css; charset=utf-8");
    assert!(css.body.contains("--accent: #0f766e;"), "{}", css.body);
    // Another tenant keeps the server's look.
    server.tenant("plain").await;
    let plain = get(&server, "/t/plain", NAVIGATION).await;
    assert!(!plain.body.contains("class=\"logo\"") && !plain.body.contains("branding.css"));
}
