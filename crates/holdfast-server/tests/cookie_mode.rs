//! Cookie delivery of refresh tokens (per client) and CORS for browser apps.
//!
//! A cookie-mode client never sees its refresh token: the token endpoint
//! sets it as an `HttpOnly; SameSite=Strict` cookie whose `Path` is the
//! token endpoint, and a refresh request may omit it. Because the browser
//! attaches that cookie by itself, every token request of such a client must
//! carry one of its allowed `Origin`s (CSRF defence).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use holdfast_core::client::{ClientKind, NewClient};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    cookie_mode_refresh_token_travels_only_in_an_httponly_cookie,
    cookie_mode_refresh_needs_no_token_in_the_body,
    cookie_mode_requests_without_an_allowed_origin_are_refused,
    cors_allowed_origin_gets_credentialed_cors_and_preflight,
    cors_foreign_origin_gets_no_cors_headers,
);

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ORIGIN: &str = "https://app.example.com";

async fn setup(server: &TestServer) -> String {
    let tenant = server.tenant("acme").await;
    let mut client = NewClient::new("spa", ClientKind::Public);
    client.redirect_uris = vec![format!("{ORIGIN}/cb")];
    client.refresh_token_in_cookie = true;
    server.client(&tenant, client).await;
    server.user(&tenant, "alice", "correct horse battery").await;
    server.issuer("acme")
}

async fn code(server: &TestServer, issuer: &str) -> String {
    let response = server
        .http()
        .post(format!("{issuer}/authorize-challenge"))
        .form(&[
            ("client_id", "spa"),
            ("username", "alice"),
            ("password", "correct horse battery"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["authorization_code"].as_str().unwrap().to_owned()
}

/// Redeems a code from the allowed origin; returns the response.
async fn redeem(server: &TestServer, issuer: &str) -> reqwest::Response {
    let code = code(server, issuer).await;
    server
        .http()
        .post(format!("{issuer}/token"))
        .header("Origin", ORIGIN)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
}

/// The refresh cookie's `name=value` and its attributes.
fn refresh_cookie(response: &reqwest::Response) -> (String, String) {
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("hfrt-"))
        .expect("a refresh cookie");
    let pair = set.split(';').next().unwrap().trim().to_owned();
    (pair, set)
}

async fn cookie_mode_refresh_token_travels_only_in_an_httponly_cookie(server: TestServer) {
    let issuer = setup(&server).await;
    let response = redeem(&server, &issuer).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (pair, attributes) = refresh_cookie(&response);
    assert!(
        pair.split_once('=').unwrap().1.starts_with("hfrt_"),
        "{pair}"
    );
    assert!(attributes.contains("HttpOnly"), "{attributes}");
    assert!(attributes.contains("SameSite=Strict"), "{attributes}");
    assert!(attributes.contains("Path=/t/acme/token"), "{attributes}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "the body must not carry it: {body}"
    );
    assert!(body["access_token"].is_string());
}

async fn cookie_mode_refresh_needs_no_token_in_the_body(server: TestServer) {
    let issuer = setup(&server).await;
    let first = redeem(&server, &issuer).await;
    let (pair, _) = refresh_cookie(&first);
    let refreshed = server
        .http()
        .post(format!("{issuer}/token"))
        .header("Origin", ORIGIN)
        .header("Cookie", &pair)
        .form(&[("grant_type", "refresh_token"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (next_pair, _) = refresh_cookie(&refreshed);
    assert_ne!(next_pair, pair, "the cookie rotates");
    let body: Value = refreshed.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert!(body["access_token"].is_string());
}

async fn cookie_mode_requests_without_an_allowed_origin_are_refused(server: TestServer) {
    let issuer = setup(&server).await;
    let first = redeem(&server, &issuer).await;
    let (pair, _) = refresh_cookie(&first);
    for origin in [None, Some("https://evil.example"), Some("null")] {
        let mut request = server
            .http()
            .post(format!("{issuer}/token"))
            .header("Cookie", &pair);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request
            .form(&[("grant_type", "refresh_token"), ("client_id", "spa")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{origin:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{origin:?}");
    }
    // The refused attempts spent nothing: the cookie still refreshes.
    let ok = server
        .http()
        .post(format!("{issuer}/token"))
        .header("Origin", ORIGIN)
        .header("Cookie", &pair)
        .form(&[("grant_type", "refresh_token"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

async fn cors_allowed_origin_gets_credentialed_cors_and_preflight(server: TestServer) {
    let issuer = setup(&server).await;
    let preflight = server
        .http()
        .request(reqwest::Method::OPTIONS, format!("{issuer}/token"))
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "dpop, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("DPoP")
    );
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let response = redeem(&server, &issuer).await;
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("DPoP-Nonce")
    );

    // Discovery and JWKS are public to every origin.
    let jwks = server
        .http()
        .get(format!("{issuer}/jwks.json"))
        .header("Origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.headers()["access-control-allow-origin"], "*");
}

async fn cors_foreign_origin_gets_no_cors_headers(server: TestServer) {
    let issuer = setup(&server).await;
    let preflight = server
        .http()
        .request(reqwest::Method::OPTIONS, format!("{issuer}/token"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let userinfo = server
        .http()
        .get(format!("{issuer}/userinfo"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    assert!(
        userinfo
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
