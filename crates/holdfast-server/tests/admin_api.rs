//! The admin API (`/admin/v1`, issue 16) through HTTP, on both back ends:
//! tokens of the administration tenant (client credentials here, as
//! automation uses), RFC 6750 §3.1 refusals without one (401) and outside
//! the token's reach (403, cross-tenant included), the lost-update guard
//! (RFC 9110 §13.1.1: `If-Match` on a stale `ETag` is 412), the audit
//! event naming the actor, and the served OpenAPI document matching the
//! one checked in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

holdfast_testkit::on_both_backends!(
    rfc6750_admin_calls_need_an_admin_token_and_stay_inside_its_reach,
    rfc9110_s13_1_1_a_stale_if_match_is_refused_and_the_change_is_audited_with_its_actor,
    asvs_2_2_1_a_tenants_sign_in_limits_are_set_bounded_and_reset_under_its_etag,
    an_invitation_makes_an_account_without_a_password_once_per_address,
);

/// A confidential client of the administration tenant with `scope`, and
/// a client-credentials token of it.
async fn admin_token(server: &TestServer, client_id: &str, scope: &str) -> String {
    let admin = match server
        .state
        .store
        .tenant_by_slug(&holdfast_core::tenant::TenantSlug::parse("admin").unwrap())
        .await
        .unwrap()
    {
        Some(t) => t,
        None => server.tenant("admin").await,
    };
    let mut new = NewClient::new(client_id, ClientKind::Confidential);
    new.grant_types = vec![GrantType::ClientCredentials];
    new.scopes = vec![scope.to_owned()];
    let (_, secret) = server.client(&admin, new).await;
    let secret = secret.unwrap();
    let answer: Value = server
        .http()
        .post(format!("{}/token", server.issuer("admin")))
        .basic_auth(client_id, Some(secret.expose()))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().expect("a token").to_owned()
}

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = server.http().request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn rfc6750_admin_calls_need_an_admin_token_and_stay_inside_its_reach(server: TestServer) {
    flow::fixture(&server, "acme").await;
    flow::fixture(&server, "globex").await;
    let root = admin_token(&server, "ops", "holdfast:admin").await;
    let acme = admin_token(&server, "acme-ops", "holdfast:admin:acme").await;
    let get = reqwest::Method::GET;

    let (status, headers, body) = call(&server, get.clone(), "/admin/v1/tenants", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(body["error"], "invalid_token");

    let (status, _, body) =
        call(&server, get.clone(), "/admin/v1/tenants", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let slugs: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "admin", "globex"]);

    // A one-tenant administrator sees and touches only that tenant.
    let (status, _, body) =
        call(&server, get.clone(), "/admin/v1/tenants", Some(&acme), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (status, _, body) = call(
        &server,
        get.clone(),
        "/admin/v1/tenants/acme/clients",
        Some(&acme),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["client_id"], "web");
    for path in [
        "/admin/v1/tenants/globex/clients",
        "/admin/v1/tenants/globex/users",
        "/admin/v1/tenants/admin/clients",
    ] {
        let (status, _, body) = call(&server, get.clone(), path, Some(&acme), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"], "insufficient_scope");
    }
    let (status, _, _) = call(
        &server,
        reqwest::Method::POST,
        "/admin/v1/tenants",
        Some(&acme),
        Some(json!({"slug": "initech"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The whole-server administrator creates it; bad input is a 400.
    let (status, _, body) = call(
        &server,
        reqwest::Method::POST,
        "/admin/v1/tenants",
        Some(&root),
        Some(json!({"slug": "initech"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = call(
        &server,
        reqwest::Method::POST,
        "/admin/v1/tenants",
        Some(&root),
        Some(json!({"slug": "Not A Slug", "extra": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn rfc9110_s13_1_1_a_stale_if_match_is_refused_and_the_change_is_audited_with_its_actor(
    server: TestServer,
) {
    flow::fixture(&server, "acme").await;
    let root = admin_token(&server, "ops", "holdfast:admin").await;
    let path = "/admin/v1/tenants/acme/clients/web";
    let (status, headers, body) =
        call(&server, reqwest::Method::GET, path, Some(&root), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let grace = body["grace_window"].as_i64().unwrap();

    let patch = |tag: &str, grace: i64| {
        server
            .http()
            .patch(server.url(path))
            .bearer_auth(&root)
            .header("if-match", tag)
            .json(&json!({"grace_window": grace}))
            .send()
    };
    let first = patch(&etag, grace + 5).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["grace_window"], grace + 5);
    // A second writer who read the old version loses nothing of the first.
    let second = patch(&etag, grace + 99).await.unwrap();
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
    let (_, _, now) = call(&server, reqwest::Method::GET, path, Some(&root), None).await;
    assert_eq!(now["grace_window"], grace + 5);

    let (status, _, events) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/tenants/acme/events?kind=client_admin&client_id=web",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let updated: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "client_updated")
        .collect();
    assert_eq!(updated.len(), 1, "{events}");
    assert_eq!(updated[0]["actor"], "client:ops");

    // The document served is the one checked in (regenerate with
    // HOLDFAST_WRITE_OPENAPI=1 cargo test --test admin_api).
    let served = server
        .http()
        .get(server.url("/admin/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/admin-openapi.json");
    if std::env::var_os("HOLDFAST_WRITE_OPENAPI").is_some() {
        std::fs::write(file, &served).unwrap();
    }
    let kept = std::fs::read_to_string(file).expect("docs/admin-openapi.json");
    assert_eq!(
        served, kept,
        "the served OpenAPI document differs from docs/admin-openapi.json"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

async fn asvs_2_2_1_a_tenants_sign_in_limits_are_set_bounded_and_reset_under_its_etag(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let root = admin_token(&server, "ops", "holdfast:admin").await;
    let path = "/admin/v1/tenants/acme/throttle";
    let (status, headers, body) =
        call(&server, reqwest::Method::GET, path, Some(&root), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["own"], false, "the server's defaults: {body}");
    assert_eq!(body["pair_max_failures"], 10);
    let etag = headers["etag"].to_str().unwrap().to_owned();

    let patch = |tag: &str, change: Value| {
        server
            .http()
            .patch(server.url(path))
            .bearer_auth(&root)
            .header("if-match", tag)
            .json(&change)
            .send()
    };
    let set = patch(&etag, json!({"pair_max_failures": 3})).await.unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let new_etag = set.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = set.json().await.unwrap();
    assert_eq!(body["own"], true, "{body}");
    assert_eq!(body["pair_max_failures"], 3);
    assert_eq!(body["account_max_failures"], 100, "the rest as in force");
    // The server applies it at once (the node's cache is dropped).
    let in_force = holdfast_server::service::throttle::policy(&server.state, &fx.tenant)
        .await
        .unwrap();
    assert_eq!(in_force.pair_max_failures, 3);

    // A writer who read the old version changes nothing.
    let stale = patch(&etag, json!({"pair_max_failures": 50}))
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    // Beyond ASVS 2.2.1, or beyond any sane bound: 400, nothing changed.
    for bad in [
        json!({"account_max_failures": 1000}),
        json!({"account_window_secs": i64::MAX}),
        json!({"pair_window_secs": 0}),
        json!({"pair_max_failures": "3"}),
        json!({"no_such_limit": 3}),
    ] {
        let refused = patch(&new_etag, bad.clone()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{bad}: {body}");
    }
    let (_, headers, now) = call(&server, reqwest::Method::GET, path, Some(&root), None).await;
    assert_eq!(now["pair_max_failures"], 3, "{now}");
    assert_eq!(headers["etag"].to_str().unwrap(), new_etag);

    let reset = server
        .http()
        .delete(server.url(path))
        .bearer_auth(&root)
        .header("if-match", &new_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    let body: Value = reset.json().await.unwrap();
    assert_eq!(body["own"], false, "{body}");
    assert_eq!(body["pair_max_failures"], 10);

    let (_, _, events) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/tenants/acme/events?kind=tenant_admin",
        Some(&root),
        None,
    )
    .await;
    let reasons: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["reason"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("throttle_reset", "client:ops"),
            ("throttle_set", "client:ops")
        ],
        "one event per change, newest first: {events}"
    );
}

async fn an_invitation_makes_an_account_without_a_password_once_per_address(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let root = admin_token(&server, "ops", "holdfast:admin").await;
    let path = "/admin/v1/tenants/acme/invitations";
    let invite = |email: &str| {
        call(
            &server,
            reqwest::Method::POST,
            path,
            Some(&root),
            Some(json!({"email": email, "name": "Grace Hopper"})),
        )
    };
    let (status, _, made) = invite("grace@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["username"], "grace@example.com");
    assert_eq!(
        made["email_verified"], false,
        "verified when the link is used"
    );
    let id = made["id"].as_str().unwrap();
    let stored = server
        .state
        .store
        .user_by_id(&fx.tenant.id, id)
        .await
        .unwrap()
        .expect("the account");
    assert_eq!(stored.user.email.as_deref(), Some("grace@example.com"));

    // The same address again (any case) is a conflict; a malformed one a 400.
    let (status, _, again) = invite("Grace@Example.com").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _, bad) = invite("not an address").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"], "invalid_request");

    let (_, _, events) = call(
        &server,
        reqwest::Method::GET,
        &format!("/admin/v1/tenants/acme/events?user_id={id}"),
        Some(&root),
        None,
    )
    .await;
    let invited: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "invited")
        .collect();
    assert_eq!(invited.len(), 1, "{events}");
    assert_eq!(invited[0]["actor"], "client:ops");
}
