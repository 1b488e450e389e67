//! The authorization challenge endpoint of OAuth 2.0 for First-Party
//! Applications (draft-ietf-oauth-first-party-apps §5), through the real
//! HTTP server on both back ends: credentials plus a PKCE challenge give an
//! `authorization_code` that the token endpoint redeems like any other code
//! (§5.2, RFC 6749 §4.1.3 without `redirect_uri`); wrong credentials are
//! `invalid_grant` (§5.2.2) and do not reveal whether the user exists; PKCE
//! is required (RFC 7636, OAuth 2.1 §4.1.1); confidential clients must
//! authenticate (RFC 6749 §2.3.1, §5.2 `invalid_client`).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use std::time::{Duration, Instant};

use flow::{Fixture, Json, PASSWORD, USERNAME, jwt_part, post_form, token, userinfo};
use holdfast_core::client::{ClientKind, NewClient};
use holdfast_server::config::PasswordParams;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;

holdfast_testkit::on_both_backends!(
    first_party_s5_challenge_code_redeems_for_tokens_without_redirect_uri,
    first_party_s5_2_2_wrong_password_and_unknown_user_are_indistinguishable,
    first_party_s5_1_missing_or_plain_pkce_is_invalid_request,
    rfc6749_s2_3_1_confidential_client_without_its_secret_is_invalid_client,
);

/// `POST {issuer}/authorize-challenge` for the fixture's public client.
async fn challenge(
    http: &reqwest::Client,
    fx: &Fixture,
    username: &str,
    password: &str,
    code_challenge: &str,
) -> Json {
    post_form(
        http,
        &fx.at("/authorize-challenge"),
        &[
            ("client_id", &fx.client.client_id),
            ("username", username),
            ("password", password),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile"),
        ],
    )
    .await
}

async fn first_party_s5_challenge_code_redeems_for_tokens_without_redirect_uri(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let pkce = flow::pkce();
    let answer = challenge(&http, &fx, USERNAME, PASSWORD, &pkce.challenge).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let code = answer
        .str("authorization_code")
        .expect("authorization_code")
        .to_owned();

    // §5.2: redeemed at the token endpoint; the request carried no
    // redirect_uri, so the token request has none either.
    let tokens = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "web"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let access = tokens.str("access_token").expect("access_token");
    assert!(
        tokens
            .str("refresh_token")
            .is_some_and(|t| t.starts_with("hfrt_"))
    );
    let id = jwt_part(tokens.str("id_token").expect("id_token"), 1);
    assert_eq!(id["sub"], fx.user_id.as_str());
    assert_eq!(id["aud"], "web");
    assert_eq!(id["iss"], fx.issuer.as_str());
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));

    let info = userinfo(&http, &fx.issuer, access).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);
    assert_eq!(info.body["sub"], fx.user_id.as_str());
    assert_eq!(info.body["preferred_username"], USERNAME);

    // The code is single use here too.
    let again = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "web"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(again.oauth_error(), "invalid_grant");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn first_party_s5_2_2_wrong_password_and_unknown_user_are_indistinguishable(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let pkce = flow::pkce();

    let wrong_password = challenge(&http, &fx, USERNAME, "not the password", &pkce.challenge).await;
    let unknown_user = challenge(&http, &fx, "mallory", "not the password", &pkce.challenge).await;
    assert_eq!(wrong_password.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_password.oauth_error(), "invalid_grant");
    assert_eq!(unknown_user.status, wrong_password.status);
    assert_eq!(unknown_user.text, wrong_password.text, "identical bodies");
    assert_eq!(
        wrong_password.str("error_description"),
        Some("invalid username or password")
    );

    // Timing: both paths run a full Argon2 verification, so they take the
    // same order of time. Measured on a server with the production Argon2
    // parameters (the test default is cheap enough to hide a skipped hash).
    // Interleaved samples, medians, a generous bound: this catches "unknown
    // user returns before hashing" (a >10x gap here), not microseconds.
    let server = TestServer::start_with_password_params(server.backend, PasswordParams::default())
        .await
        .expect("the back end was available a moment ago");
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let start = Instant::now();
        let a = challenge(&http, &fx, USERNAME, "not the password", &pkce.challenge).await;
        known.push(start.elapsed());
        let start = Instant::now();
        let b = challenge(&http, &fx, "mallory", "not the password", &pkce.challenge).await;
        unknown.push(start.elapsed());
        assert_eq!(a.text, b.text);
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.25..=4.0).contains(&ratio),
        "wrong password took {known:?}, unknown user {unknown:?} (median)"
    );
}

async fn first_party_s5_1_missing_or_plain_pkce_is_invalid_request(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let url = fx.at("/authorize-challenge");
    let missing = post_form(
        &http,
        &url,
        &[
            ("client_id", "web"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.oauth_error(), "invalid_request");
    assert!(missing.str("authorization_code").is_none());

    let verifier = flow::pkce().verifier;
    let plain = post_form(
        &http,
        &url,
        &[
            ("client_id", "web"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert_eq!(plain.oauth_error(), "invalid_request");
}

async fn rfc6749_s2_3_1_confidential_client_without_its_secret_is_invalid_client(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, secret) = server
        .client(
            &fx.tenant,
            NewClient::new("backend", ClientKind::Confidential),
        )
        .await;
    let secret = secret.expect("confidential clients get a secret");
    let http = server.http();
    let url = fx.at("/authorize-challenge");
    let pkce = flow::pkce();
    let mut form = vec![
        ("client_id", "backend"),
        ("username", USERNAME),
        ("password", PASSWORD),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    let refused = post_form(&http, &url, &form).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.oauth_error(), "invalid_client");
    assert!(refused.str("authorization_code").is_none());

    // A wrong secret is no better.
    form.push(("client_secret", "hfcs_wrong"));
    let wrong = post_form(&http, &url, &form).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.oauth_error(), "invalid_client");

    // With its secret the same request succeeds.
    form.pop();
    form.push(("client_secret", secret.expose()));
    let accepted = post_form(&http, &url, &form).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert!(accepted.str("authorization_code").is_some());
}
