//! The tower layer and the axum extractor in a small axum app: statuses and
//! `WWW-Authenticate` headers as a client sees them (RFC 6750 §3,
//! RFC 9449 §7.1, RFC 9470 §3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::DpopKey;
use holdfast_verify::{Rejection, StepUp, VerifiedClaims, Verifier};
use serde_json::json;
use tower::ServiceExt;

async fn hello(claims: VerifiedClaims) -> String {
    format!("hello {} via {}", claims.sub(), claims.scheme())
}

async fn inline_admin(claims: VerifiedClaims) -> Result<impl IntoResponse, Rejection> {
    claims.require_scopes(&["admin"])?;
    Ok("welcome, admin")
}

fn app(verifier: &Verifier) -> Router {
    let api = Router::new()
        .route("/api/hello", get(hello))
        .route(
            "/api/admin",
            get(hello).layer(verifier.layer().require_scopes(["admin"])),
        )
        .route(
            "/api/sensitive",
            get(hello).layer(
                verifier
                    .layer()
                    .step_up(StepUp::max_age(Duration::from_secs(300))),
            ),
        )
        .route("/api/inline-admin", get(inline_admin))
        .layer(verifier.layer());
    Router::new()
        .merge(api.clone())
        .nest("/v1", api)
        // A route that forgot the layer.
        .route("/unprotected", get(hello))
}

async fn call(
    app: &Router,
    path: &str,
    authorization: Option<String>,
    dpop: Option<String>,
) -> (StatusCode, Vec<String>, String) {
    let mut req = Request::get(path);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(p) = dpop {
        req = req.header("dpop", p);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        challenges,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn layer_valid_bearer_token_reaches_the_handler_with_claims() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let app = app(&verifier);
    let (status, challenges, body) = call(
        &app,
        "/api/hello",
        Some(format!("Bearer {}", mock.token())),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(challenges.is_empty());
    assert_eq!(body, "hello user-1 via Bearer");
}

#[tokio::test]
async fn rfc6750_s3_layer_answers_missing_and_invalid_tokens_with_challenges() {
    let mock = MockIssuer::start().await;
    let (verifier, clock) = mock.verifier();
    let app = app(&verifier);
    let (status, challenges, body) = call(&app, "/api/hello", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        vec![
            "Bearer realm=\"api\"",
            "DPoP realm=\"api\", algs=\"ES256 EdDSA Ed25519 RS256 PS256\""
        ]
    );
    assert!(body.contains("an access token is required"));

    let token = mock.token();
    clock.advance(3600);
    let (status, challenges, body) =
        call(&app, "/api/hello", Some(format!("Bearer {token}")), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        vec![
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token expired\""
        ]
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid_token");

    let (status, _, _) = call(&app, "/api/hello", Some("Bearer not a token".into()), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rfc6750_s3_1_layer_and_extractor_answer_insufficient_scope_with_403() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let app = app(&verifier);
    let bearer = Some(format!("Bearer {}", mock.token()));
    for path in ["/api/admin", "/api/inline-admin"] {
        let (status, challenges, _) = call(&app, path, bearer.clone(), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            challenges,
            vec![
                "Bearer realm=\"api\", error=\"insufficient_scope\", \
                 error_description=\"the access token lacks a required scope\", scope=\"admin\""
            ]
        );
    }
    let mut c = mock.claims();
    c["scope"] = json!("openid admin");
    let admin = mock.key.sign("at+jwt", &c).unwrap();
    for path in ["/api/admin", "/api/inline-admin"] {
        let (status, _, _) = call(&app, path, Some(format!("Bearer {admin}")), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn rfc9470_s3_layer_answers_a_stale_login_with_a_step_up_challenge() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let app = app(&verifier);
    // auth_time = NOW - 60: fresh enough.
    let (status, _, _) = call(
        &app,
        "/api/sensitive",
        Some(format!("Bearer {}", mock.token())),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut c = mock.claims();
    c["auth_time"] = json!(NOW - 301);
    let stale = mock.key.sign("at+jwt", &c).unwrap();
    let (status, challenges, _) = call(
        &app,
        "/api/sensitive",
        Some(format!("Bearer {stale}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges,
        vec![
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"a more recent authentication is required\", max_age=\"300\""
        ]
    );
}

#[tokio::test]
async fn rfc9449_s7_1_layer_checks_dpop_against_the_public_url_including_nesting() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let app = app(&verifier);
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    for path in ["/api/hello", "/v1/api/hello"] {
        let p = proof(&key, "GET", path, &token);
        let (status, _, body) = call(&app, path, Some(format!("DPoP {token}")), Some(p)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body, "hello user-1 via DPoP");
    }
    // Only one verification per request even with a second layer on the
    // route: the proof's jti is recorded once, so the request succeeds.
    let mut c = mock.claims();
    c["cnf"] = json!({"jkt": key.jkt()});
    c["scope"] = json!("admin");
    let admin = mock.key.sign("at+jwt", &c).unwrap();
    let p = proof(&key, "GET", "/api/admin", &admin);
    let (status, _, _) = call(&app, "/api/admin", Some(format!("DPoP {admin}")), Some(p)).await;
    assert_eq!(status, StatusCode::OK);
    // Presented as Bearer: refused with a DPoP challenge.
    let (status, challenges, _) =
        call(&app, "/api/hello", Some(format!("Bearer {token}")), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenges[0].starts_with("DPoP realm=\"api\", algs="));
    // A proof for the un-nested path does not work on the nested one.
    let p = proof(&key, "GET", "/api/hello", &token);
    let (status, challenges, _) = call(
        &app,
        "/v1/api/hello",
        Some(format!("DPoP {token}")),
        Some(p),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenges[0].contains("error=\"invalid_dpop_proof\""));
}

#[tokio::test]
async fn extractor_without_the_layer_is_a_server_error() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let app = app(&verifier);
    let (status, _, _) = call(
        &app,
        "/unprotected",
        Some(format!("Bearer {}", mock.token())),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}
