//! The authorization code flow with PKCE through the real HTTP server, on
//! both back ends:
//!
//! - The whole flow driven by an independent relying-party library (the
//!   `openidconnect` crate) from the discovery document alone, for an ES256
//!   and an EdDSA tenant, and for a client of an ES256 tenant that asks for
//!   RS256 ID tokens (OIDC Discovery 1.0 §3, Registration §2): OIDC Core §3.1 (code flow), §3.1.3.7 (ID token
//!   validation, with the signature checked against the published JWKS),
//!   §3.1.3.6 (`at_hash`), §5.3 (UserInfo); RFC 9207 (`iss` in the
//!   authorization response).
//! - The access token's shape, RFC 9068 §2, and its audience from a
//!   resource indicator, RFC 8707 §2.
//! - The token response, RFC 6749 §5.1, and refresh rotation, §6.
//! - PKCE, RFC 7636 §4.4–4.6: S256 required at the authorization endpoint,
//!   the verifier checked at the token endpoint.
//! - Authorization errors, RFC 6749 §4.1.2.1: never redirected to an
//!   unverified redirect URI, redirected with `state` otherwise.
//! - Codes, RFC 6749 §4.1.2/§4.1.3: single use (a replay revokes what the
//!   code issued), short-lived, bound to their client.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use flow::{
    Browser, Fixture, PASSWORD, REDIRECT_URI, USERNAME, authorize_url, browser_code, code_request,
    jwt_part, query, redeem, token, userinfo, with,
};
use holdfast_core::client::{ClientKind, NewClient};
use holdfast_core::keys::SigningAlg;
use holdfast_server::Clock as _;
use holdfast_testkit::TestServer;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    oidc_core_s3_1_code_flow_with_an_independent_client_es256,
    oidc_core_s3_1_code_flow_with_an_independent_client_eddsa,
    oidc_registration_s2_client_with_rs256_id_tokens_completes_the_code_flow_with_an_independent_client,
    oidc_discovery_s3_rs256_id_tokens_verify_against_the_jwks_across_rotation,
    rfc9068_s2_access_token_is_an_at_jwt_with_the_required_claims,
    rfc8707_s2_resource_parameter_becomes_the_access_token_audience,
    rfc6749_s5_1_token_response_is_not_cacheable_and_refresh_tokens_rotate,
    rfc7636_s4_4_1_authorize_without_code_challenge_is_invalid_request,
    rfc7636_s4_4_1_plain_code_challenge_method_is_invalid_request,
    rfc7636_s4_6_wrong_code_verifier_is_invalid_grant,
    rfc7636_s4_6_missing_code_verifier_is_invalid_grant,
    rfc6749_s4_1_2_code_replay_is_refused_and_revokes_tokens_issued_from_it,
    rfc6749_s4_1_2_1_unregistered_redirect_uri_is_never_redirected_to,
    rfc6749_s4_1_2_1_unknown_client_is_never_redirected,
    rfc6749_s4_1_2_1_invalid_scope_is_redirected_with_state,
    rfc6749_s4_1_2_1_unsupported_response_type_is_redirected_with_state,
    rfc6749_s4_1_2_expired_code_is_invalid_grant,
    rfc6749_s4_1_3_code_issued_to_another_client_is_invalid_grant,
    rfc6749_s4_1_3_redirect_uri_must_repeat_the_one_in_the_authorization_request,
);

/// Runs the whole flow with `openidconnect` against a tenant signing with
/// `alg`, for a client whose ID tokens are signed with `id_token_alg`
/// (`None`: the tenant's).
async fn code_flow_with_openidconnect(
    server: TestServer,
    alg: SigningAlg,
    id_token_alg: Option<SigningAlg>,
) {
    let tenant = server.tenant_with_alg("acme", alg).await;
    let mut fx = flow::fixture_in(&server, tenant).await;
    if let Some(id_alg) = id_token_alg {
        let mut new = NewClient::new("rp", ClientKind::Public);
        new.redirect_uris = vec![REDIRECT_URI.to_owned()];
        new.id_token_signed_response_alg = Some(id_alg);
        fx.client = server.client(&fx.tenant, new).await.0;
    }
    let http = flow::oidc_http(server.http());

    // Everything the client knows comes from the discovery document.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(fx.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery and JWKS are accepted by openidconnect");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(fx.client.client_id.clone()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = Browser::new();
    let answer = browser.sign_in(url.as_str(), USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().expect("redirect to the client");
    assert!(
        location.as_str().starts_with(REDIRECT_URI),
        "redirected to {location}"
    );
    assert_eq!(
        query(&location, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    // RFC 9207 §2: the issuer identifies who answered.
    assert_eq!(query(&location, "iss").as_deref(), Some(fx.issuer.as_str()));
    let code = query(&location, "code").expect("code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response accepted by openidconnect");

    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    // Checks signature (against the discovered JWKS), iss, aud, exp and nonce.
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), fx.user_id);
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );
    assert!(claims.auth_time().is_some(), "auth_time is present");
    let expected_alg = match id_token_alg.unwrap_or(alg) {
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    };
    let signing_alg = id_token.signing_alg().unwrap();
    assert_eq!(*signing_alg, expected_alg);
    // Access tokens stay on the tenant's algorithm whatever the ID token's.
    assert_eq!(
        jwt_part(tokens.access_token().secret(), 0)["alg"],
        alg.as_str()
    );

    // OIDC Core §3.1.3.6: at_hash binds the access token to the ID token.
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        signing_alg,
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo accepted by openidconnect");
    assert_eq!(info.subject().as_str(), fx.user_id);
    assert_eq!(
        info.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );
    assert!(
        tokens
            .refresh_token()
            .is_some_and(|t| t.secret().starts_with("hfrt_"))
    );
}

async fn oidc_core_s3_1_code_flow_with_an_independent_client_es256(server: TestServer) {
    code_flow_with_openidconnect(server, SigningAlg::ES256, None).await;
}

async fn oidc_core_s3_1_code_flow_with_an_independent_client_eddsa(server: TestServer) {
    code_flow_with_openidconnect(server, SigningAlg::EdDSA, None).await;
}

/// OIDC Registration §2 `id_token_signed_response_alg`: an RP that wants
/// RS256 (the one algorithm OIDC Discovery §3 makes mandatory) gets RS256 ID
/// tokens, verified by `openidconnect` against the published JWKS, with
/// `at_hash` over SHA-256; its access tokens stay ES256.
async fn oidc_registration_s2_client_with_rs256_id_tokens_completes_the_code_flow_with_an_independent_client(
    server: TestServer,
) {
    code_flow_with_openidconnect(server, SigningAlg::ES256, Some(SigningAlg::RS256)).await;
}

/// The tenant's JWK Set, fetched as a verifier would.
async fn published_jwks(http: &reqwest::Client, fx: &Fixture) -> Value {
    let response = http.get(fx.at("/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The keys of `set` whose `kty` is `kty`.
fn keys_of(set: &Value, kty: &str) -> Vec<Value> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == kty)
        .cloned()
        .collect()
}

/// Verifies an RS256 ID token with `jsonwebtoken` (a standard JOSE library)
/// against the published `set`: key by `kid`, signature, `iss`, `aud`, `exp`.
fn verify_rs256_id_token(set: &Value, token: &str, fx: &Fixture) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(set.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let kid = header.kid.expect("a kid in the header");
    let jwk = set
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not published"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[fx.client.client_id.as_str()]);
    validation.set_issuer(&[fx.issuer.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the RS256 ID token does not verify: {e}"))
        .claims
}

/// OIDC Discovery 1.0 §3 ("The algorithm RS256 MUST be included") and RFC
/// 7517 §5: a client registered for RS256 ID tokens gets them, signed by an
/// RSA key the JWKS publishes; they verify with `jsonwebtoken`; a rotation
/// rotates the RS256 keys too and keeps the retired one published, so the
/// earlier ID token still verifies. The ES256 client beside it is untouched:
/// ES256 ID and access tokens, and its refresh works as before.
async fn oidc_discovery_s3_rs256_id_tokens_verify_against_the_jwks_across_rotation(
    server: TestServer,
) {
    let mut fx = flow::fixture(&server, "acme").await;
    let es256_client = fx.client.clone();
    let http = server.http();
    let doc: Value = http
        .get(fx.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256"])
    );
    assert!(keys_of(&published_jwks(&http, &fx).await, "RSA").is_empty());

    let mut new = NewClient::new("rp", ClientKind::Public);
    new.redirect_uris = vec![REDIRECT_URI.to_owned()];
    new.id_token_signed_response_alg = Some(SigningAlg::RS256);
    fx.client = server.client(&fx.tenant, new).await.0;
    // Registering it made the tenant's RS256 pair: current and next.
    let before = published_jwks(&http, &fx).await;
    let rsa = keys_of(&before, "RSA");
    assert_eq!(rsa.len(), 2, "{before}");
    assert_eq!(keys_of(&before, "EC").len(), 2, "{before}");
    for key in &rsa {
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none(), "no private part: {key}");
    }

    let (_, code, pkce) = browser_code(&fx).await;
    let tokens = redeem(&http, &fx, &code, &pkce.verifier).await;
    let id_token = tokens.str("id_token").expect("an ID token").to_owned();
    let claims = verify_rs256_id_token(&before, &id_token, &fx);
    assert_eq!(claims["sub"], fx.user_id);
    assert_eq!(claims["azp"], "rp");
    let access_token = tokens.str("access_token").unwrap();
    assert_eq!(jwt_part(access_token, 0)["alg"], "ES256");
    let old_kid = jwt_part(&id_token, 0)["kid"].as_str().unwrap().to_owned();

    let rotated = server
        .state
        .keys
        .rotate(&fx.tenant, server.clock.now())
        .await
        .unwrap();
    let algs: Vec<SigningAlg> = rotated.iter().map(|k| k.alg).collect();
    assert_eq!(algs, [SigningAlg::ES256, SigningAlg::RS256]);
    let after = published_jwks(&http, &fx).await;
    assert_eq!(
        keys_of(&after, "RSA").len(),
        3,
        "next, current, retired: {after}"
    );
    // The retired RS256 key is still published: the earlier token verifies.
    verify_rs256_id_token(&after, &id_token, &fx);

    let refreshed = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.str("refresh_token").unwrap()),
            ("client_id", "rp"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let new_id_token = refreshed.str("id_token").expect("an ID token");
    let new_kid = jwt_part(new_id_token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid, "the RS256 key rotated");
    assert!(
        rsa.iter().any(|k| k["kid"] == new_kid.as_str()),
        "the new RS256 key was published as next before it signed"
    );
    verify_rs256_id_token(&after, new_id_token, &fx);

    // The ES256 client: ES256 ID tokens, and its refresh path as before.
    fx.client = es256_client;
    let (_, code, pkce) = browser_code(&fx).await;
    let tokens = redeem(&http, &fx, &code, &pkce.verifier).await;
    assert_eq!(jwt_part(tokens.str("id_token").unwrap(), 0)["alg"], "ES256");
    let refreshed = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.str("refresh_token").unwrap()),
            ("client_id", fx.client.client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    for jwt in ["id_token", "access_token"] {
        assert_eq!(jwt_part(refreshed.str(jwt).unwrap(), 0)["alg"], "ES256");
    }
}

async fn rfc9068_s2_access_token_is_an_at_jwt_with_the_required_claims(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let login_time = server.clock.now();
    let (_, code, pkce) = browser_code(&fx).await;
    let tokens = redeem(&server.http(), &fx, &code, &pkce.verifier).await;
    let access = tokens.str("access_token").unwrap();

    // RFC 9068 §2.1: typ "at+jwt", and a kid the JWKS publishes.
    let header = jwt_part(access, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let kid = header["kid"].as_str().expect("kid");
    let jwks: Value = server
        .http()
        .get(fx.at("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid),
        "kid {kid} is not in {jwks}"
    );

    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; §2.2.1
    // auth_time, acr, amr; §2.2.3 scope.
    let claims = jwt_part(access, 1);
    assert_eq!(claims["iss"], fx.issuer.as_str());
    assert_eq!(claims["sub"], fx.user_id.as_str());
    assert_eq!(claims["aud"], fx.issuer.as_str(), "default audience");
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "openid profile");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 300);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(claims["auth_time"].as_i64(), Some(login_time));
    assert!(claims["acr"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    // The ID token describes the same session.
    let id = jwt_part(tokens.str("id_token").unwrap(), 1);
    assert_eq!(id["sid"], claims["sid"]);
    assert_eq!(id["aud"], "web");
}

async fn rfc8707_s2_resource_parameter_becomes_the_access_token_audience(server: TestServer) {
    let resource = "https://api.example.com/orders";
    // The client may have this resource (issue 11 §2: an allow-list per client).
    let tenant = server.tenant("acme").await;
    let mut web =
        holdfast_core::client::NewClient::new("web", holdfast_core::client::ClientKind::Public);
    web.redirect_uris = vec![flow::REDIRECT_URI.to_owned()];
    web.resources = vec![resource.to_owned()];
    let (client, _) = server.client(&tenant, web).await;
    let user = server.user(&tenant, USERNAME, PASSWORD).await;
    let fx = flow::Fixture {
        issuer: server.issuer("acme"),
        tenant,
        client,
        user_id: user.id,
    };
    let pkce = flow::pkce();
    let params = with(code_request("web", &pkce, "st"), "resource", resource);
    let mut browser = Browser::new();
    let answer = browser
        .sign_in(&authorize_url(&fx.issuer, &params), USERNAME, PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let code = query(&answer.location().unwrap(), "code").unwrap();
    let tokens = redeem(&server.http(), &fx, &code, &pkce.verifier).await;
    let claims = jwt_part(tokens.str("access_token").unwrap(), 1);
    assert_eq!(claims["aud"], resource);
    assert_eq!(claims["iss"], fx.issuer.as_str());
}

async fn rfc6749_s5_1_token_response_is_not_cacheable_and_refresh_tokens_rotate(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let (_, code, pkce) = browser_code(&fx).await;
    let tokens = redeem(&http, &fx, &code, &pkce.verifier).await;
    // RFC 6749 §5.1: "MUST include the HTTP Cache-Control response header
    // field with a value of no-store".
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    assert!(
        tokens
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    assert!(
        tokens
            .str("token_type")
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    );
    assert_eq!(tokens.body["expires_in"], 300);
    let first = tokens
        .str("refresh_token")
        .expect("refresh token")
        .to_owned();
    assert!(first.starts_with("hfrt_"), "{first}");

    let refreshed = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(refreshed.header("cache-control"), Some("no-store"));
    let second = refreshed.str("refresh_token").expect("a new refresh token");
    assert!(second.starts_with("hfrt_"));
    assert_ne!(second, first);
    let old_access = jwt_part(tokens.str("access_token").unwrap(), 1);
    let new_access = jwt_part(refreshed.str("access_token").unwrap(), 1);
    assert_ne!(new_access["jti"], old_access["jti"]);
    assert_eq!(new_access["sid"], old_access["sid"], "same session");
    assert_eq!(new_access["sub"], fx.user_id.as_str());

    // The rotated-out token no longer works. The clock moves past any
    // grace window a rotation policy may allow (the default is 60 s), so
    // this holds for plain and confirmed rotation alike.
    server.clock.advance(61);
    let reused = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(reused.oauth_error(), "invalid_grant");
}

async fn rfc7636_s4_4_1_authorize_without_code_challenge_is_invalid_request(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let params = with(
        with(
            code_request("web", &flow::pkce(), "st-1"),
            "code_challenge",
            "",
        ),
        "code_challenge_method",
        "",
    );
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_redirected_error(&answer, &fx, "invalid_request", "st-1");
}

async fn rfc7636_s4_4_1_plain_code_challenge_method_is_invalid_request(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    // A verifier-shaped challenge, as `plain` would send it.
    let verifier = flow::pkce().verifier;
    let params = with(
        with(
            code_request("web", &flow::pkce(), "st-2"),
            "code_challenge",
            &verifier,
        ),
        "code_challenge_method",
        "plain",
    );
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_redirected_error(&answer, &fx, "invalid_request", "st-2");
}

async fn rfc7636_s4_6_wrong_code_verifier_is_invalid_grant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, code, _) = browser_code(&fx).await;
    let other = flow::pkce();
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "web"),
            ("code_verifier", &other.verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
    assert!(answer.str("access_token").is_none());
}

async fn rfc7636_s4_6_missing_code_verifier_is_invalid_grant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, code, _) = browser_code(&fx).await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
}

async fn rfc6749_s4_1_2_code_replay_is_refused_and_revokes_tokens_issued_from_it(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    let (_, code, pkce) = browser_code(&fx).await;
    let first = redeem(&http, &fx, &code, &pkce.verifier).await;
    let access = first.str("access_token").unwrap().to_owned();
    let refresh = first.str("refresh_token").unwrap().to_owned();
    // The tokens work before the replay.
    assert_eq!(
        userinfo(&http, &fx.issuer, &access).await.status,
        StatusCode::OK
    );

    // "If an authorization code is used more than once, the authorization
    // server MUST deny the request and SHOULD revoke ... all tokens
    // previously issued based on that authorization code."
    let replay = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "web"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.oauth_error(), "invalid_grant");

    let refused = userinfo(&http, &fx.issuer, &access).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
        "{:?}",
        refused.headers
    );
    let refreshed = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(refreshed.oauth_error(), "invalid_grant");
}

/// An authorization error page: 400 HTML, and no redirect anywhere.
#[track_caller]
fn assert_error_page(answer: &flow::Page) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.headers.get("location").is_none(),
        "must not redirect"
    );
    assert!(
        answer
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
    );
    assert!(
        answer.login_form().is_none(),
        "an error page, not the login form"
    );
}

/// A redirect to the client carrying an error, its state and the issuer.
#[track_caller]
fn assert_redirected_error(answer: &flow::Page, fx: &Fixture, error: &str, state: &str) {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().expect("Location");
    assert_eq!(
        format!(
            "{}://{}{}",
            location.scheme(),
            location.host_str().unwrap(),
            location.path()
        ),
        REDIRECT_URI
    );
    assert_eq!(query(&location, "error").as_deref(), Some(error));
    assert!(query(&location, "error_description").is_some());
    assert_eq!(query(&location, "state").as_deref(), Some(state));
    assert_eq!(query(&location, "iss").as_deref(), Some(fx.issuer.as_str()));
    assert!(query(&location, "code").is_none());
}

async fn rfc6749_s4_1_2_1_unregistered_redirect_uri_is_never_redirected_to(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let pkce = flow::pkce();
    for uri in [
        "https://evil.example/cb",
        "https://app.example.com/cb/",
        "https://app.example.com/cb?next=x",
    ] {
        let params = with(code_request("web", &pkce, "st"), "redirect_uri", uri);
        let answer = Browser::new()
            .get(&authorize_url(&fx.issuer, &params))
            .await;
        assert_error_page(&answer);
    }
}

async fn rfc6749_s4_1_2_1_unknown_client_is_never_redirected(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let params = code_request("nobody", &flow::pkce(), "st");
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_error_page(&answer);
    // Nor when client_id is missing altogether.
    let params = with(code_request("web", &flow::pkce(), "st"), "client_id", "");
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_error_page(&answer);
}

async fn rfc6749_s4_1_2_1_invalid_scope_is_redirected_with_state(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let params = with(
        code_request("web", &flow::pkce(), "st-scope"),
        "scope",
        "openid admin",
    );
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_redirected_error(&answer, &fx, "invalid_scope", "st-scope");
}

async fn rfc6749_s4_1_2_1_unsupported_response_type_is_redirected_with_state(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let params = with(
        code_request("web", &flow::pkce(), "st-rt"),
        "response_type",
        "token",
    );
    let answer = Browser::new()
        .get(&authorize_url(&fx.issuer, &params))
        .await;
    assert_redirected_error(&answer, &fx, "unsupported_response_type", "st-rt");
}

async fn rfc6749_s4_1_2_expired_code_is_invalid_grant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, code, pkce) = browser_code(&fx).await;
    // Codes live 60 s.
    server.clock.advance(61);
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "web"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
}

async fn rfc6749_s4_1_3_code_issued_to_another_client_is_invalid_grant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    flow::public_client(&server, &fx.tenant, "other").await;
    let (_, code, pkce) = browser_code(&fx).await;
    let answer = token(
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
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
    assert!(answer.str("access_token").is_none());
}

async fn rfc6749_s4_1_3_redirect_uri_must_repeat_the_one_in_the_authorization_request(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, code, pkce) = browser_code(&fx).await;
    let http = server.http();
    // §4.1.3: "REQUIRED, if the "redirect_uri" parameter was included in the
    // authorization request ... and their values MUST be identical."
    for redirect_uri in ["", "https://app.example.com/cb/", "https://evil.example/cb"] {
        let answer = token(
            &http,
            &fx.issuer,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", "web"),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{redirect_uri:?}");
        assert_eq!(answer.oauth_error(), "invalid_grant", "{redirect_uri:?}");
    }
}
