//! Audiences per client (RFC 8707 §2, issue 11 §2), through the real HTTP
//! server on both back ends: a client gets tokens only for the resources on
//! its allow-list (or the tenant's default audience); any other `resource`
//! is `invalid_target` at the authorization endpoint (as an error redirect,
//! RFC 6749 §4.1.2.1), at the first-party challenge endpoint and at the
//! token endpoint (code exchange, refresh, client credentials; a refresh
//! may narrow only to the resource originally granted, RFC 8707 §2.2).
//! Introspection (RFC 7662 §2.2) answers for tokens of every audience of
//! the tenant and names DPoP-bound tokens `DPoP` (RFC 9449 §6.2).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;
mod lifecycle;

use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_testkit::TestServer;
use lifecycle::{CHALLENGE, Fixture, Reply, VERIFIER, WEB, fixture_with, introspect, refresh};
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    rfc8707_s2_allow_listed_resource_is_the_audience_at_every_endpoint,
    rfc8707_s2_authorize_redirects_invalid_target_for_a_resource_outside_the_allow_list,
    rfc8707_s2_challenge_refuses_a_resource_outside_the_allow_list,
    rfc8707_s2_code_exchange_refuses_a_resource_outside_the_allow_list,
    rfc8707_s2_2_refresh_narrows_only_to_the_resource_originally_granted,
    rfc8707_s2_client_credentials_refuses_a_resource_outside_the_allow_list,
    rfc7662_s2_2_introspection_is_active_for_a_token_of_a_resource_audience,
    rfc7662_s2_2_introspection_reports_token_type_dpop_for_a_bound_token,
);

/// On `web`'s allow-list.
const ORDERS: &str = "https://orders.example/api";
/// Also on `web`'s allow-list, never granted to the families below.
const BILLING: &str = "https://billing.example/api";
/// On no client's list.
const BANK: &str = "https://bank.example/api";

/// The lifecycle fixture with `web` allowed [`ORDERS`] and [`BILLING`] and
/// the browser tests' redirect URI.
async fn fixture(server: &TestServer) -> Fixture {
    fixture_with(server, "acme", |web| {
        web.redirect_uris = vec![flow::REDIRECT_URI.to_owned()];
        web.resources = vec![ORDERS.to_owned(), BILLING.to_owned()];
    })
    .await
}

async fn post(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    let response = http.post(url).form(form).send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, body }
}

/// `authorize-challenge` as `web` for alice, with `resource` if given.
async fn challenge(http: &reqwest::Client, f: &Fixture, resource: Option<&str>) -> Reply {
    let mut form = vec![
        ("client_id", WEB),
        ("username", "alice"),
        ("password", lifecycle::PASSWORD),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("scope", "openid profile"),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    post(http, &f.at("/authorize-challenge"), &form).await
}

/// Redeems `code` as `web`, naming `resource` if given.
async fn redeem(http: &reqwest::Client, f: &Fixture, code: &str, resource: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", WEB),
        ("code_verifier", VERIFIER),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    post(http, &f.at("/token"), &form).await
}

/// A refresh as `web` naming `resource`.
async fn refresh_for(http: &reqwest::Client, f: &Fixture, rt: &str, resource: &str) -> Reply {
    post(
        http,
        &f.at("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", WEB),
            ("resource", resource),
        ],
    )
    .await
}

/// Signs alice in for `resource` and returns the token response.
async fn sign_in_for(http: &reqwest::Client, f: &Fixture, resource: &str) -> Reply {
    let code = challenge(http, f, Some(resource)).await;
    assert_eq!(code.status, StatusCode::OK, "{}", code.body);
    let code = code.body["authorization_code"].as_str().unwrap().to_owned();
    redeem(http, f, &code, None).await
}

fn aud(reply: &Reply) -> Value {
    flow::jwt_part(reply.body["access_token"].as_str().unwrap(), 1)["aud"].clone()
}

#[track_caller]
fn assert_invalid_target(reply: &Reply) {
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{}",
        reply.body
    );
    assert!(reply.description().len() > 1, "{}", reply.body);
}

/// A confidential client-credentials client allowed [`ORDERS`]; its secret.
async fn service(server: &TestServer, f: &Fixture) -> String {
    let mut svc = NewClient::new("svc", ClientKind::Confidential);
    svc.grant_types = vec![GrantType::ClientCredentials];
    svc.scopes = vec!["read".into()];
    svc.resources = vec![ORDERS.to_owned()];
    let (_, secret) = server.client(&f.tenant, svc).await;
    secret.unwrap().expose().to_owned()
}

async fn client_credentials(
    http: &reqwest::Client,
    f: &Fixture,
    secret: &str,
    resource: &str,
) -> Reply {
    let response = http
        .post(f.at("/token"))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", resource)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, body }
}

/// RFC 8707 §2: a resource on the client's list becomes the `aud` of the
/// access token, through the browser flow, the challenge endpoint, code
/// exchange (repeating it), refresh (repeating it) and client credentials.
async fn rfc8707_s2_allow_listed_resource_is_the_audience_at_every_endpoint(server: TestServer) {
    let f = fixture(&server).await;
    let http = server.http();

    // Browser: authorize with resource, sign in, redeem.
    let pkce = flow::pkce();
    let params = flow::with(flow::code_request(WEB, &pkce, "st"), "resource", ORDERS);
    let mut browser = flow::Browser::new();
    let answer = browser
        .sign_in(
            &flow::authorize_url(&f.issuer, &params),
            "alice",
            lifecycle::PASSWORD,
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let code = flow::query(&answer.location().unwrap(), "code").unwrap();
    let tokens = post(
        &http,
        &f.at("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", flow::REDIRECT_URI),
            ("client_id", WEB),
            ("code_verifier", &pkce.verifier),
            ("resource", ORDERS),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(aud(&tokens), ORDERS);

    // First-party challenge, code exchange naming the same resource.
    let code = challenge(&http, &f, Some(ORDERS)).await;
    assert_eq!(code.status, StatusCode::OK, "{}", code.body);
    let code = code.body["authorization_code"].as_str().unwrap().to_owned();
    let tokens = redeem(&http, &f, &code, Some(ORDERS)).await;
    assert_eq!(aud(&tokens), ORDERS);

    // Refresh naming the granted resource.
    let rt = tokens.tokens().refresh_token;
    let refreshed = refresh_for(&http, &f, &rt, ORDERS).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(aud(&refreshed), ORDERS);

    // Client credentials.
    let secret = service(&server, &f).await;
    let cc = client_credentials(&http, &f, &secret, ORDERS).await;
    assert_eq!(cc.status, StatusCode::OK, "{}", cc.body);
    assert_eq!(aud(&cc), ORDERS);

    // The tenant's default audience may always be named.
    let plain = sign_in_for(&http, &f, &f.issuer).await;
    assert_eq!(aud(&plain), f.issuer.as_str());
}

/// RFC 8707 §2 `invalid_target` at the authorization endpoint, sent to the
/// client's valid redirect URI with its `state` (RFC 6749 §4.1.2.1), and
/// no login form shown.
async fn rfc8707_s2_authorize_redirects_invalid_target_for_a_resource_outside_the_allow_list(
    server: TestServer,
) {
    let f = fixture(&server).await;
    let pkce = flow::pkce();
    let params = flow::with(flow::code_request(WEB, &pkce, "st-1"), "resource", BANK);
    let page = flow::Browser::new()
        .get(&flow::authorize_url(&f.issuer, &params))
        .await;
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
    let location = page.location().unwrap();
    assert!(
        location.as_str().starts_with(flow::REDIRECT_URI),
        "{location}"
    );
    assert_eq!(
        flow::query(&location, "error").as_deref(),
        Some("invalid_target")
    );
    assert_eq!(flow::query(&location, "state").as_deref(), Some("st-1"));
    assert_eq!(flow::query(&location, "code"), None);
}

/// RFC 8707 §2 at the first-party challenge endpoint: no code for a
/// resource the client may not have.
async fn rfc8707_s2_challenge_refuses_a_resource_outside_the_allow_list(server: TestServer) {
    let f = fixture(&server).await;
    let reply = challenge(&server.http(), &f, Some(BANK)).await;
    assert_invalid_target(&reply);
    assert!(reply.body.get("authorization_code").is_none());
}

/// RFC 8707 §2 at code exchange: a resource outside the list, or one on
/// the list but not the one the code was granted for, is invalid_target.
async fn rfc8707_s2_code_exchange_refuses_a_resource_outside_the_allow_list(server: TestServer) {
    let f = fixture(&server).await;
    let http = server.http();
    let code = challenge(&http, &f, Some(ORDERS)).await;
    let code = code.body["authorization_code"].as_str().unwrap().to_owned();
    assert_invalid_target(&redeem(&http, &f, &code, Some(BANK)).await);
    assert_invalid_target(&redeem(&http, &f, &code, Some(BILLING)).await);
    // The refusals consumed nothing: the code still redeems.
    let tokens = redeem(&http, &f, &code, Some(ORDERS)).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
}

/// RFC 8707 §2.2: a refresh may name a resource only to narrow to one the
/// family was granted; outside the client's list, or another listed one,
/// is invalid_target, and the refused refresh changes nothing (the same
/// refresh token still rotates, no reuse is detected).
async fn rfc8707_s2_2_refresh_narrows_only_to_the_resource_originally_granted(server: TestServer) {
    let f = fixture(&server).await;
    let http = server.http();
    let rt = sign_in_for(&http, &f, ORDERS).await.tokens().refresh_token;
    assert_invalid_target(&refresh_for(&http, &f, &rt, BANK).await);
    assert_invalid_target(&refresh_for(&http, &f, &rt, BILLING).await);
    let rotated = refresh(&http, &f.issuer, WEB, &rt).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(aud(&rotated), ORDERS);
    // The child refreshes too: the family was never revoked.
    let child = rotated.tokens().refresh_token;
    let again = refresh(&http, &f.issuer, WEB, &child).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

/// RFC 8707 §2 for client credentials.
async fn rfc8707_s2_client_credentials_refuses_a_resource_outside_the_allow_list(
    server: TestServer,
) {
    let f = fixture(&server).await;
    let http = server.http();
    let secret = service(&server, &f).await;
    assert_invalid_target(&client_credentials(&http, &f, &secret, BANK).await);
    // On another client's list is not on this one's.
    assert_invalid_target(&client_credentials(&http, &f, &secret, BILLING).await);
}

/// RFC 7662 §2.2: a valid token issued for a resource server of this tenant
/// is active (the resource server, not Holdfast, checks `aud`).
async fn rfc7662_s2_2_introspection_is_active_for_a_token_of_a_resource_audience(
    server: TestServer,
) {
    let f = fixture(&server).await;
    let http = server.http();
    let tokens = sign_in_for(&http, &f, ORDERS).await;
    let body = introspect(&http, &f, tokens.body["access_token"].as_str().unwrap()).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["aud"], ORDERS);
    assert_eq!(body["token_type"], "Bearer");
    // Such a token is still not accepted by Holdfast's own userinfo.
    let userinfo = flow::userinfo(
        &http,
        &f.issuer,
        tokens.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(userinfo.status, StatusCode::UNAUTHORIZED);
}

/// RFC 9449 §6.2 / RFC 7662 §2.2: a DPoP-bound access token introspects as
/// `token_type: DPoP` with its `cnf.jkt`.
async fn rfc7662_s2_2_introspection_reports_token_type_dpop_for_a_bound_token(server: TestServer) {
    let f = fixture(&server).await;
    let http = server.http();
    let secret = service(&server, &f).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    // Confidential clients need no server nonce by default.
    let proof = key
        .proof(&ProofClaims::new(
            "POST",
            &f.at("/token"),
            server.state.now(),
        ))
        .unwrap();
    let response = http
        .post(f.at("/token"))
        .basic_auth("svc", Some(&secret))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials"), ("resource", ORDERS)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap();
    let introspected = introspect(&http, &f, at).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], key.jkt());

    // And an unbound token of the same client stays Bearer.
    let plain = client_credentials(&http, &f, &secret, ORDERS).await;
    let introspected = introspect(&http, &f, plain.body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspected["token_type"], "Bearer");
}
