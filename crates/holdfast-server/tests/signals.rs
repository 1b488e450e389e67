//! Revocation everywhere (docs/design.md §7), through the real HTTP server
//! on both back ends: the Shared Signals transmitter (OpenID SSF 1.0 §7,
//! §8; poll delivery RFC 8936; push delivery RFC 8935; SETs RFC 8417 with
//! CAEP and RISC events and RFC 9493 subjects) and OpenID Connect
//! Back-Channel Logout 1.0. SETs and logout tokens are checked with
//! `jsonwebtoken`, a standard JOSE library, against the tenant's JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use flow::{Browser, Fixture, REDIRECT_URI, redeem};
use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

holdfast_testkit::on_both_backends!(
    ssf_s7_2_transmitter_metadata_is_at_the_well_known_path_with_the_issuer_path_after_it,
    ssf_s8_1_1_a_receiver_creates_reads_updates_replaces_and_deletes_its_stream,
    ssf_s8_1_needs_a_client_credentials_token_with_scope_ssf_and_shows_only_own_streams,
    design_s7_every_revocation_path_emits_a_signed_event_about_its_subject,
    rfc8936_s2_2_a_long_poll_waits_for_the_next_event_and_acks_remove_it,
    rfc8936_s2_4_unacknowledged_sets_come_again_with_the_same_jti,
    ssf_s8_1_2_a_paused_stream_holds_events_and_a_disabled_one_drops_them,
    ssf_s8_1_4_verification_event_echoes_the_state,
    rfc8935_s2_push_delivers_sets_and_retries_after_a_failure,
    ssf_s8_1_4_a_verification_is_not_pushed_ahead_of_an_older_event_that_failed,
    backchannel_logout_s2_5_a_logout_token_is_posted_with_retries_when_a_session_ends,
    backchannel_logout_s2_1_discovery_advertises_support,
    a_disabled_user_cannot_sign_in_and_loses_every_session_until_enabled,
);

const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const RISC_SESSIONS_REVOKED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked";
const RISC_ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
const RISC_ACCOUNT_PURGED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-purged";
const CAEP_CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const ACCESS_TOKEN_REVOKED: &str = "https://schemas.holdfast.dev/secevent/access-token-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const POLL: &str = "urn:ietf:rfc:8936";
const PUSH: &str = "urn:ietf:rfc:8935";

/// A receiver: a confidential client with the `ssf` scope and its token.
struct Receiver {
    client_id: String,
    token: String,
}

async fn receiver(server: &TestServer, fx: &Fixture, client_id: &str) -> Receiver {
    let mut new = NewClient::new(client_id, ClientKind::Confidential);
    new.grant_types = vec![GrantType::ClientCredentials];
    new.scopes = vec!["ssf".into()];
    let (_, secret) = server.client(&fx.tenant, new).await;
    let token = client_token(server, fx, client_id, secret.unwrap().expose(), "ssf").await;
    Receiver {
        client_id: client_id.to_owned(),
        token,
    }
}

async fn client_token(
    server: &TestServer,
    fx: &Fixture,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> String {
    let reply = server
        .http()
        .post(fx.at("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let body: Value = reply.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The transmitter metadata (SSF §7.2).
async fn metadata(server: &TestServer, slug: &str) -> Value {
    let reply = server
        .http()
        .get(server.url(&format!("/.well-known/ssf-configuration/t/{slug}")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    reply.json().await.unwrap()
}

/// A JSON request with the receiver's token: status and body.
async fn call(
    server: &TestServer,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server.http().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status();
    let text = reply.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Creates a poll stream for every event the transmitter supports.
async fn poll_stream(server: &TestServer, fx: &Fixture, r: &Receiver) -> Value {
    let meta = metadata(server, fx.tenant.slug.as_str()).await;
    let (status, stream) = call(
        server,
        reqwest::Method::POST,
        meta["configuration_endpoint"].as_str().unwrap(),
        &r.token,
        Some(json!({ "delivery": { "method": POLL }, "description": "test" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    stream
}

/// One RFC 8936 poll: the SETs returned, by `jti`.
async fn poll(
    server: &TestServer,
    stream: &Value,
    r: &Receiver,
    request: Value,
) -> HashMap<String, String> {
    let (status, body) = call(
        server,
        reqwest::Method::POST,
        stream["delivery"]["endpoint_url"].as_str().unwrap(),
        &r.token,
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// Polls without waiting and acknowledges everything; the verified claims
/// of every SET, oldest first.
async fn drain(server: &TestServer, fx: &Fixture, stream: &Value, r: &Receiver) -> Vec<Value> {
    let sets = poll(
        server,
        stream,
        r,
        json!({ "returnImmediately": true, "maxEvents": 1000 }),
    )
    .await;
    let mut claims = Vec::new();
    for (jti, set) in &sets {
        let c = verify_jwt(server, fx, set, "secevent+jwt", &r.client_id).await;
        assert_eq!(c["jti"], json!(jti), "the sets map is keyed by jti");
        claims.push(c);
    }
    let ack: Vec<&String> = sets.keys().collect();
    poll(
        server,
        stream,
        r,
        json!({ "returnImmediately": true, "maxEvents": 0, "ack": ack }),
    )
    .await;
    claims.sort_by(|a, b| a["jti"].as_str().cmp(&b["jti"].as_str()));
    claims
}

/// Verifies a JWS from the tenant with `jsonwebtoken` against the JWKS:
/// key by `kid`, signature, `typ`, `iss`, `aud`; returns the claims.
async fn verify_jwt(
    server: &TestServer,
    fx: &Fixture,
    token: &str,
    typ: &str,
    audience: &str,
) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = server
        .http()
        .get(fx.at("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(
        header.typ.as_deref(),
        Some(typ),
        "RFC 8417 §2.3 / BCL §2.4 typ"
    );
    let kid = header.kid.expect("a kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).expect("kid published")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[fx.issuer.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the token does not verify: {e}"))
        .claims
}

/// The one event of a SET: its type and payload.
fn event_of(claims: &Value) -> (String, Value) {
    let events = claims["events"].as_object().unwrap();
    assert_eq!(events.len(), 1, "SSF §4.1.1: one event per SET: {claims}");
    let (kind, payload) = events.iter().next().unwrap();
    (kind.clone(), payload.clone())
}

/// Signs the fixture user in through the hosted page; the browser and the
/// redeemed tokens.
async fn sign_in(server: &TestServer, fx: &Fixture) -> (Browser, Value) {
    let (browser, code, pkce) = flow::browser_code(fx).await;
    let tokens = redeem(&server.http(), fx, &code, &pkce.verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    (browser, tokens.body)
}

fn sid_of(tokens: &Value) -> String {
    flow::jwt_part(tokens["access_token"].as_str().unwrap(), 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn form(server: &TestServer, url: &str, pairs: &[(&str, &str)]) -> StatusCode {
    server
        .http()
        .post(url)
        .form(pairs)
        .send()
        .await
        .unwrap()
        .status()
}

async fn refresh(server: &TestServer, fx: &Fixture, rt: &str) -> (StatusCode, Value) {
    let reply = server
        .http()
        .post(fx.at("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "web"),
        ])
        .send()
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

/// Runs the CLI on the server's database and KEK.
fn cli(server: &TestServer, args: &[&str]) -> Value {
    cli_with_stdin(server, args, "")
}

/// Runs the CLI with `stdin` as its standard input.
fn cli_with_stdin(server: &TestServer, args: &[&str], stdin: &str) -> Value {
    server.cli(env!("CARGO_BIN_EXE_holdfast"), args, stdin)
}

/// SSF §7.2: "/.well-known/ssf-configuration" goes between the host and
/// the issuer's path, as RFC 8414 §3.1 does; the document lists the
/// delivery methods, the endpoints, `jwks_uri` and the authorization scheme.
async fn ssf_s7_2_transmitter_metadata_is_at_the_well_known_path_with_the_issuer_path_after_it(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let meta = metadata(&server, "acme").await;
    assert_eq!(meta["issuer"], json!(fx.issuer));
    assert_eq!(meta["spec_version"], "1_0");
    assert_eq!(meta["jwks_uri"], json!(fx.at("/jwks.json")));
    let methods = meta["delivery_methods_supported"].as_array().unwrap();
    assert!(methods.contains(&json!(POLL)) && methods.contains(&json!(PUSH)));
    for endpoint in [
        "configuration_endpoint",
        "status_endpoint",
        "verification_endpoint",
    ] {
        assert!(
            meta[endpoint].as_str().unwrap().starts_with(&fx.issuer),
            "{endpoint}"
        );
    }
    assert_eq!(
        meta["authorization_schemes"],
        json!([{ "spec_urn": "urn:ietf:rfc:6749" }])
    );
    let unknown = server
        .http()
        .get(server.url("/.well-known/ssf-configuration/t/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// SSF §8.1.1: create (201, transmitter-supplied `stream_id`, `iss`, `aud`,
/// poll `endpoint_url`), read one and all, update (PATCH changes what it
/// names), replace (PUT resets what it leaves out), read and set status,
/// delete (204, then 404).
async fn ssf_s8_1_1_a_receiver_creates_reads_updates_replaces_and_deletes_its_stream(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let meta = metadata(&server, "acme").await;
    let config = meta["configuration_endpoint"].as_str().unwrap();
    let status_url = meta["status_endpoint"].as_str().unwrap();
    let (status, created) = call(
        &server,
        reqwest::Method::POST,
        config,
        &r.token,
        Some(json!({
            "delivery": { "method": POLL },
            "events_requested": [CAEP_SESSION_REVOKED, "https://example.com/unknown"],
            "description": "first",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(created["iss"], json!(fx.issuer));
    assert_eq!(created["aud"], "rs");
    assert_eq!(created["events_delivered"], json!([CAEP_SESSION_REVOKED]));
    assert!(
        created["delivery"]["endpoint_url"]
            .as_str()
            .unwrap()
            .starts_with(&fx.issuer)
    );
    let (status, one) = call(
        &server,
        reqwest::Method::GET,
        &format!("{config}?stream_id={id}"),
        &r.token,
        None,
    )
    .await;
    assert_eq!((status, &one), (StatusCode::OK, &created));
    let (_, all) = call(&server, reqwest::Method::GET, config, &r.token, None).await;
    assert_eq!(all, json!([created]));

    let (status, patched) = call(
        &server,
        reqwest::Method::PATCH,
        config,
        &r.token,
        Some(json!({ "stream_id": id, "description": "second" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["description"], "second");
    assert_eq!(patched["events_delivered"], json!([CAEP_SESSION_REVOKED]));
    let (status, replaced) = call(
        &server,
        reqwest::Method::PUT,
        config,
        &r.token,
        Some(json!({ "stream_id": id, "delivery": { "method": POLL } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(replaced.get("description").is_none(), "{replaced}");
    assert_eq!(
        replaced["events_delivered"].as_array().unwrap().len(),
        6,
        "no events_requested: every supported event"
    );

    let (_, st) = call(
        &server,
        reqwest::Method::GET,
        &format!("{status_url}?stream_id={id}"),
        &r.token,
        None,
    )
    .await;
    assert_eq!(st, json!({ "stream_id": id, "status": "enabled" }));
    let (status, st) = call(
        &server,
        reqwest::Method::POST,
        status_url,
        &r.token,
        Some(json!({ "stream_id": id, "status": "paused", "reason": "maintenance" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        st,
        json!({ "stream_id": id, "status": "paused", "reason": "maintenance" })
    );
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        status_url,
        &r.token,
        Some(json!({ "stream_id": id, "status": "sleepy" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("{config}?stream_id={id}"),
        &r.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        &format!("{config}?stream_id={id}"),
        &r.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "an OAuth-shaped error: {body}");
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        config,
        &r.token,
        Some(json!({ "delivery": { "method": "urn:example:carrier-pigeon" } })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Bad input in the query is an OAuth-shaped error too.
    let (status, body) = call(&server, reqwest::Method::DELETE, config, &r.token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        &format!("{config}?stream_id=%ZZ&&="),
        &r.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        config,
        &r.token,
        Some(
            json!({ "delivery": { "method": PUSH, "endpoint_url": "https://rs.example.com/ssf",
            "authorization_header": "Bearer a\nInjected: yes" } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let malformed = server
        .http()
        .post(config)
        .bearer_auth(&r.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

/// SSF §7.1.1 / RFC 6750 §3.1: no token is 401; a user's token, or a client
/// token without `ssf`, is 403 `insufficient_scope`; one receiver cannot
/// see or poll another's stream (404).
async fn ssf_s8_1_needs_a_client_credentials_token_with_scope_ssf_and_shows_only_own_streams(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    let meta = metadata(&server, "acme").await;
    let config = meta["configuration_endpoint"].as_str().unwrap();

    let none = server.http().get(config).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);

    let (_, tokens) = sign_in(&server, &fx).await;
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        config,
        tokens["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "insufficient_scope");

    let mut other = NewClient::new("other", ClientKind::Confidential);
    other.grant_types = vec![GrantType::ClientCredentials];
    other.scopes = vec!["ssf".into(), "reports".into()];
    let (_, secret) = server.client(&fx.tenant, other).await;
    let secret = secret.unwrap();
    let no_ssf = client_token(&server, &fx, "other", secret.expose(), "reports").await;
    let (status, _) = call(&server, reqwest::Method::GET, config, &no_ssf, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let other_token = client_token(&server, &fx, "other", secret.expose(), "ssf").await;
    let id = stream["stream_id"].as_str().unwrap();
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        &format!("{config}?stream_id={id}"),
        &other_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        stream["delivery"]["endpoint_url"].as_str().unwrap(),
        &other_token,
        Some(json!({ "returnImmediately": true })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = call(&server, reqwest::Method::GET, config, &other_token, None).await;
    assert_eq!(all, json!([]));
}

/// Every way a session or token is revoked (docs/design.md §7).
#[derive(Debug, Clone, Copy)]
enum RevocationPath {
    RpInitiatedLogout,
    Rfc7009RefreshToken,
    Rfc7009AccessToken,
    RefreshTokenReuse,
    SignOutOneSession,
    SignOutOtherSessions,
    SignOutThisSession,
    AdminSessionRevoke,
    AdminUserRevokeAll,
    AdminSetPassword,
    AdminUserDisable,
    AdminClientDelete,
    AdminUserDelete,
}

impl RevocationPath {
    /// Deleting the user comes last: the paths before sign the user in.
    const ALL: [Self; 13] = [
        Self::RpInitiatedLogout,
        Self::Rfc7009RefreshToken,
        Self::Rfc7009AccessToken,
        Self::RefreshTokenReuse,
        Self::SignOutOneSession,
        Self::SignOutOtherSessions,
        Self::SignOutThisSession,
        Self::AdminSessionRevoke,
        Self::AdminUserRevokeAll,
        Self::AdminSetPassword,
        Self::AdminUserDisable,
        Self::AdminClientDelete,
        Self::AdminUserDelete,
    ];
}

/// What a path must have emitted.
enum Expect {
    /// CAEP session-revoked about this `sid` (and the user).
    Session(String),
    /// Holdfast access-token-revoked about this `jti`.
    AccessToken(String),
    /// An event of this type about the user (RISC sessions-revoked,
    /// account-disabled, account-purged; CAEP credential-change).
    User(&'static str),
}

/// Carries out `path` on fresh sign-ins; what must come out of the feed.
async fn revoke_by(server: &TestServer, fx: &Fixture, path: RevocationPath) -> Expect {
    let (mut browser, tokens) = sign_in(server, fx).await;
    let sid = sid_of(&tokens);
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let bearer = |req: reqwest::RequestBuilder| req.bearer_auth(&at);
    match path {
        RevocationPath::RpInitiatedLogout => {
            let mut url = url::Url::parse(&fx.at("/end-session")).unwrap();
            url.query_pairs_mut()
                .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
                .append_pair("post_logout_redirect_uri", REDIRECT_URI);
            let page = browser.get(url.as_str()).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
            Expect::Session(sid)
        }
        RevocationPath::Rfc7009RefreshToken => {
            let status = form(
                server,
                &fx.at("/revoke"),
                &[("token", &rt), ("client_id", "web")],
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            Expect::Session(sid)
        }
        RevocationPath::Rfc7009AccessToken => {
            let status = form(
                server,
                &fx.at("/revoke"),
                &[("token", &at), ("client_id", "web")],
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let jti = flow::jwt_part(&at, 1)["jti"].as_str().unwrap().to_owned();
            Expect::AccessToken(jti)
        }
        RevocationPath::RefreshTokenReuse => {
            let (status, child) = refresh(server, fx, &rt).await;
            assert_eq!(status, StatusCode::OK, "{child}");
            // Using the child confirms it; the parent again is reuse.
            let (status, _) = refresh(server, fx, child["refresh_token"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            let (status, _) = refresh(server, fx, &rt).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            Expect::Session(sid)
        }
        RevocationPath::SignOutOneSession => {
            let reply = bearer(server.http().delete(fx.at(&format!("/sessions/{sid}"))))
                .send()
                .await
                .unwrap();
            assert!(reply.status().is_success(), "{}", reply.status());
            Expect::Session(sid)
        }
        RevocationPath::SignOutOtherSessions => {
            let (_, other) = sign_in(server, fx).await;
            let reply = bearer(server.http().post(fx.at("/sessions/revoke-others")))
                .send()
                .await
                .unwrap();
            assert!(reply.status().is_success(), "{}", reply.status());
            Expect::Session(sid_of(&other))
        }
        RevocationPath::SignOutThisSession => {
            let reply = bearer(server.http().post(fx.at("/logout")))
                .send()
                .await
                .unwrap();
            assert!(reply.status().is_success(), "{}", reply.status());
            Expect::Session(sid)
        }
        RevocationPath::AdminSessionRevoke => {
            cli(
                server,
                &["session", "revoke", "--tenant", "acme", "--session", &sid],
            );
            Expect::Session(sid)
        }
        RevocationPath::AdminUserRevokeAll => {
            cli(
                server,
                &[
                    "user",
                    "revoke-all",
                    "--tenant",
                    "acme",
                    "--user",
                    flow::USERNAME,
                ],
            );
            Expect::User(RISC_SESSIONS_REVOKED)
        }
        RevocationPath::AdminSetPassword => {
            cli_with_stdin(
                server,
                &[
                    "user",
                    "set-password",
                    "--tenant",
                    "acme",
                    "--user",
                    flow::USERNAME,
                    "--password-stdin",
                ],
                flow::PASSWORD,
            );
            Expect::User(CAEP_CREDENTIAL_CHANGE)
        }
        RevocationPath::AdminUserDisable => {
            let user = ["--tenant", "acme", "--user", flow::USERNAME];
            cli(server, &[&["user", "disable"], &user[..]].concat());
            cli(server, &[&["user", "enable"], &user[..]].concat());
            Expect::User(RISC_ACCOUNT_DISABLED)
        }
        RevocationPath::AdminClientDelete => {
            let deleted = cli(
                server,
                &["client", "delete", "--tenant", "acme", "--client-id", "web"],
            );
            assert_eq!(deleted["sessions_ended"], 1, "{deleted}");
            // The paths after this one sign in with the client again.
            flow::public_client(server, &fx.tenant, "web").await;
            Expect::Session(sid)
        }
        RevocationPath::AdminUserDelete => {
            cli(
                server,
                &[
                    "user",
                    "delete",
                    "--tenant",
                    "acme",
                    "--user",
                    flow::USERNAME,
                ],
            );
            Expect::User(RISC_ACCOUNT_PURGED)
        }
    }
}

/// docs/design.md §7, "every revocation path emits": each path, carried out
/// through the interface a user or operator uses, puts a SET in the stream,
/// signed by the tenant's key, about the right subject (RFC 9493 formats),
/// and the stream gets nothing it should not.
async fn design_s7_every_revocation_path_emits_a_signed_event_about_its_subject(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    let user = json!({ "format": "iss_sub", "iss": fx.issuer, "sub": fx.user_id });
    for path in RevocationPath::ALL {
        let expect = revoke_by(&server, &fx, path).await;
        let events = drain(&server, &fx, &stream, &r).await;
        let found = events.iter().any(|c| {
            let (kind, payload) = event_of(c);
            let timed = payload["event_timestamp"].is_i64();
            match &expect {
                Expect::Session(sid) => {
                    kind == CAEP_SESSION_REVOKED
                        && timed
                        && c["sub_id"]
                            == json!({
                                "format": "complex",
                                "session": { "format": "opaque", "id": sid },
                                "user": user,
                            })
                }
                Expect::AccessToken(jti) => {
                    kind == ACCESS_TOKEN_REVOKED
                        && payload["exp"].is_i64()
                        && c["sub_id"]
                            == json!({ "format": "jwt_id", "iss": fx.issuer, "jti": jti })
                }
                Expect::User(uri) => kind == *uri && timed && c["sub_id"] == user,
            }
        });
        assert!(
            found,
            "{path:?} emitted nothing about its subject: {events:#?}"
        );
        for c in &events {
            assert_eq!(c["iss"], json!(fx.issuer));
            assert_eq!(c["aud"], "rs");
            assert!(c["iat"].is_i64());
        }
    }
}

/// RFC 8936 §2.2 `returnImmediately: false`: the request is held until an
/// event is queued; §2.4: acknowledged SETs are not delivered again.
async fn rfc8936_s2_2_a_long_poll_waits_for_the_next_event_and_acks_remove_it(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    let (_, tokens) = sign_in(&server, &fx).await;
    let sid = sid_of(&tokens);

    let url = stream["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (http, token) = (server.http(), r.token.clone());
    let held = tokio::spawn(async move {
        let reply = http
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "returnImmediately": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        reply.json::<Value>().await.unwrap()
    });
    // Nothing is queued yet, so the poll waits; revoke meanwhile.
    let status = form(
        &server,
        &fx.at("/revoke"),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(15), held)
        .await
        .expect("the long poll returns once the event is queued")
        .unwrap();
    let sets = body["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{body}");
    let (jti, set) = sets.iter().next().unwrap();
    let claims = verify_jwt(&server, &fx, set.as_str().unwrap(), "secevent+jwt", "rs").await;
    assert_eq!(claims["sub_id"]["session"]["id"], json!(sid));

    let after = poll(
        &server,
        &stream,
        &r,
        json!({ "returnImmediately": true, "ack": [jti] }),
    )
    .await;
    assert!(after.is_empty(), "acknowledged: {after:?}");
    server.clock.advance(60);
    let later = poll(&server, &stream, &r, json!({ "returnImmediately": true })).await;
    assert!(later.is_empty(), "an acknowledged SET never comes back");
}

/// RFC 8936 §2.4: a SET handed out and not acknowledged is handed out again
/// (after the redelivery delay), with the same `jti`: delivery is at least
/// once and receivers deduplicate by `jti`. `setErrs` is a negative
/// acknowledgement: the SET leaves the queue.
async fn rfc8936_s2_4_unacknowledged_sets_come_again_with_the_same_jti(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    for _ in 0..2 {
        let (_, tokens) = sign_in(&server, &fx).await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        form(
            &server,
            &fx.at("/revoke"),
            &[("token", &rt), ("client_id", "web")],
        )
        .await;
    }
    let first = poll(&server, &stream, &r, json!({ "returnImmediately": true })).await;
    assert_eq!(first.len(), 2);
    let soon = poll(&server, &stream, &r, json!({ "returnImmediately": true })).await;
    assert!(soon.is_empty(), "handed out moments ago: {soon:?}");
    server.clock.advance(11);
    let again = poll(&server, &stream, &r, json!({ "returnImmediately": true })).await;
    let mut a: Vec<_> = first.keys().collect();
    let mut b: Vec<_> = again.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same jtis again");
    let (one, two) = (a[0].clone(), a[1].clone());
    poll(
        &server,
        &stream,
        &r,
        json!({
            "returnImmediately": true, "maxEvents": 0, "ack": [one],
            "setErrs": { two: { "err": "invalid_key", "description": "test" } },
        }),
    )
    .await;
    server.clock.advance(11);
    let left = poll(&server, &stream, &r, json!({ "returnImmediately": true })).await;
    assert!(left.is_empty(), "acked and refused ones are gone: {left:?}");
}

/// SSF §8.1.2: a paused stream holds its events and delivers them when
/// enabled again; a disabled one does not keep them. Polling a stream that
/// is not enabled is a 409 with an OAuth-shaped error, not an empty answer
/// a receiver could take for a healthy feed.
async fn ssf_s8_1_2_a_paused_stream_holds_events_and_a_disabled_one_drops_them(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    let id = stream["stream_id"].as_str().unwrap();
    let status_url = metadata(&server, "acme").await["status_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let set_status = |status: &'static str| {
        call(
            &server,
            reqwest::Method::POST,
            &status_url,
            &r.token,
            Some(json!({ "stream_id": id, "status": status })),
        )
    };
    let revoke_one = || async {
        let (_, tokens) = sign_in(&server, &fx).await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        form(
            &server,
            &fx.at("/revoke"),
            &[("token", &rt), ("client_id", "web")],
        )
        .await;
    };
    assert_eq!(set_status("paused").await.0, StatusCode::OK);
    revoke_one().await;
    let poll_url = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let not_enabled = || {
        call(
            &server,
            reqwest::Method::POST,
            poll_url,
            &r.token,
            Some(json!({ "returnImmediately": true })),
        )
    };
    let (status, body) = not_enabled().await;
    assert_eq!(status, StatusCode::CONFLICT, "paused: {body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(set_status("enabled").await.0, StatusCode::OK);
    assert_eq!(
        drain(&server, &fx, &stream, &r).await.len(),
        1,
        "held, then delivered"
    );

    assert_eq!(set_status("disabled").await.0, StatusCode::OK);
    revoke_one().await;
    assert_eq!(not_enabled().await.0, StatusCode::CONFLICT, "disabled");
    assert_eq!(set_status("enabled").await.0, StatusCode::OK);
    assert!(
        drain(&server, &fx, &stream, &r).await.is_empty(),
        "disabled: dropped"
    );
}

/// SSF §8.1.4: a verification request puts a verification event with the
/// receiver's `state` in that stream, and in no other.
async fn ssf_s8_1_4_verification_event_echoes_the_state(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let stream = poll_stream(&server, &fx, &r).await;
    let other = poll_stream(&server, &fx, &r).await;
    let meta = metadata(&server, "acme").await;
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        meta["verification_endpoint"].as_str().unwrap(),
        &r.token,
        Some(json!({ "stream_id": stream["stream_id"], "state": "abc123" })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let events = drain(&server, &fx, &stream, &r).await;
    assert_eq!(events.len(), 1);
    let (kind, payload) = event_of(&events[0]);
    assert_eq!(kind, VERIFICATION);
    assert_eq!(payload["state"], "abc123");
    assert_eq!(
        events[0]["sub_id"],
        json!({ "format": "opaque", "id": stream["stream_id"] })
    );
    assert!(drain(&server, &fx, &other, &r).await.is_empty());
}

/// What a local HTTP endpoint received: headers and body.
type Received = (HeaderMap, String);

/// A real HTTP endpoint on port 0 that answers each request with the next
/// status of `answers` (then 202) and passes what it got to the channel.
async fn endpoint(answers: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
    #[derive(Clone)]
    struct Ctx {
        tx: mpsc::UnboundedSender<Received>,
        answers: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
    }
    async fn handle(State(ctx): State<Ctx>, headers: HeaderMap, body: String) -> AxumStatus {
        let code = {
            let mut answers = ctx.answers.lock().unwrap();
            if answers.is_empty() {
                202
            } else {
                answers.remove(0)
            }
        };
        let _ = ctx.tx.send((headers, body));
        AxumStatus::from_u16(code).unwrap()
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = Ctx {
        tx,
        answers: std::sync::Arc::new(std::sync::Mutex::new(answers)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(handle))
        .with_state(ctx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{}/hook", addr.port()), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a delivery arrives")
        .expect("the endpoint is up")
}

/// Creates a push stream (SSF §8.1.1.1) to `url` for session-revoked
/// events, with `authorization` as its `authorization_header`.
async fn push_stream(
    server: &TestServer,
    meta: &Value,
    r: &Receiver,
    url: &str,
    authorization: &str,
) -> Value {
    let (status, stream) = call(
        server,
        reqwest::Method::POST,
        meta["configuration_endpoint"].as_str().unwrap(),
        &r.token,
        Some(json!({
            "delivery": { "method": PUSH, "endpoint_url": url, "authorization_header": authorization },
            "events_requested": [CAEP_SESSION_REVOKED],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    stream
}

/// RFC 8935 §2: SETs are POSTed as `application/secevent+jwt` with the
/// receiver's `authorization_header`; a failed attempt (503) is retried
/// after the backoff with the same event (same `jti`); once accepted (202)
/// it is not sent again.
async fn rfc8935_s2_push_delivers_sets_and_retries_after_a_failure(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let (url, mut rx) = endpoint(vec![503]).await;
    let meta = metadata(&server, "acme").await;
    let stream = push_stream(&server, &meta, &r, &url, "Bearer push-secret").await;
    assert_eq!(stream["delivery"]["endpoint_url"], json!(url));
    assert!(
        stream["delivery"].get("authorization_header").is_none(),
        "the receiver's secret is not echoed"
    );
    // SSF §8.1.1.3: an update names only what changes; the method stays.
    let (status, patched) = call(
        &server,
        reqwest::Method::PATCH,
        meta["configuration_endpoint"].as_str().unwrap(),
        &r.token,
        Some(json!({ "stream_id": stream["stream_id"], "delivery": { "endpoint_url": url } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["delivery"]["method"], PUSH);
    let (_, tokens) = sign_in(&server, &fx).await;
    let sid = sid_of(&tokens);
    form(
        &server,
        &fx.at("/revoke"),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "web"),
        ],
    )
    .await;

    let (headers, first) = next(&mut rx).await;
    assert_eq!(headers["content-type"], "application/secevent+jwt");
    assert_eq!(headers["authorization"], "Bearer push-secret");
    server.clock.advance(5);
    let (_, second) = next(&mut rx).await;
    let claims = verify_jwt(&server, &fx, &second, "secevent+jwt", "rs").await;
    assert_eq!(
        flow::jwt_part(&first, 1)["jti"],
        claims["jti"],
        "the same SET again (re-signed, same jti)"
    );
    assert_eq!(claims["sub_id"]["session"]["id"], json!(sid));
    server.clock.advance(3600);
    // Accepted: one more revocation comes next, not the first one again.
    let (_, tokens) = sign_in(&server, &fx).await;
    form(
        &server,
        &fx.at("/revoke"),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "web"),
        ],
    )
    .await;
    let (_, third) = next(&mut rx).await;
    let claims = verify_jwt(&server, &fx, &third, "secevent+jwt", "rs").await;
    assert_eq!(claims["sub_id"]["session"]["id"], json!(sid_of(&tokens)));
}

/// A receiver takes a verification SET as proof it is up to date (the
/// holdfast-verify keep-alive does): after a revocation's push failed, a
/// verification requested meanwhile is held back, and once the receiver
/// is reachable again the revocation comes first, then the verification.
async fn ssf_s8_1_4_a_verification_is_not_pushed_ahead_of_an_older_event_that_failed(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let r = receiver(&server, &fx, "rs").await;
    let (url, mut rx) = endpoint(vec![503]).await;
    let meta = metadata(&server, "acme").await;
    let stream = push_stream(&server, &meta, &r, &url, "Bearer s").await;
    let (_, tokens) = sign_in(&server, &fx).await;
    form(
        &server,
        &fx.at("/revoke"),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "web"),
        ],
    )
    .await;
    let (_, failed) = next(&mut rx).await;
    let revocation_jti = flow::jwt_part(&failed, 1)["jti"].clone();
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        meta["verification_endpoint"].as_str().unwrap(),
        &r.token,
        Some(json!({ "stream_id": stream["stream_id"], "state": "keep-alive" })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The revocation's retry is due after its backoff; the verification,
    // due at once, must not overtake it.
    server.clock.advance(5);
    let (_, second) = next(&mut rx).await;
    let second = verify_jwt(&server, &fx, &second, "secevent+jwt", "rs").await;
    assert_eq!(second["jti"], revocation_jti, "the revocation first");
    let (_, third) = next(&mut rx).await;
    let third = verify_jwt(&server, &fx, &third, "secevent+jwt", "rs").await;
    let (kind, payload) = event_of(&third);
    assert_eq!(kind, VERIFICATION);
    assert_eq!(payload["state"], "keep-alive");
}

/// Back-Channel Logout 1.0 §2.5: when a session of a client that registered
/// a `backchannel_logout_uri` (`holdfast client update`) ends, Holdfast
/// POSTs `logout_token` to it; §2.4: the token is a `logout+jwt` with
/// `iss`, `aud`, `iat`, `exp`, `jti`, the back-channel logout event, `sub`
/// and `sid`, and no `nonce`. A failure (500) is retried with the same
/// token `jti`.
async fn backchannel_logout_s2_5_a_logout_token_is_posted_with_retries_when_a_session_ends(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let (url, mut rx) = endpoint(vec![500]).await;
    let updated = cli(
        &server,
        &[
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            "web",
            "--backchannel-logout-uri",
            &url,
            "--backchannel-logout-session-required",
        ],
    );
    assert_eq!(updated["backchannel_logout_uri"], json!(url));
    let (_, tokens) = sign_in(&server, &fx).await;
    let sid = sid_of(&tokens);
    let reply = server
        .http()
        .post(fx.at("/logout"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());

    let (headers, first) = next(&mut rx).await;
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    server.clock.advance(5);
    let (_, second) = next(&mut rx).await;
    let token_of = |body: &str| {
        url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("a logout_token parameter")
    };
    let (t1, t2) = (token_of(&first), token_of(&second));
    let claims = verify_jwt(&server, &fx, &t2, "logout+jwt", "web").await;
    assert_eq!(
        flow::jwt_part(&t1, 1)["jti"],
        claims["jti"],
        "a retry is the same logout"
    );
    assert_eq!(claims["sid"], json!(sid));
    assert_eq!(claims["sub"], json!(fx.user_id));
    assert_eq!(
        claims["events"],
        json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(claims.get("nonce").is_none(), "§2.4: no nonce");
}

/// Back-Channel Logout 1.0 §2.1: the OP metadata says so.
async fn backchannel_logout_s2_1_discovery_advertises_support(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let doc: Value = server
        .http()
        .get(fx.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

/// `holdfast user disable`: the user's sessions end (their refresh tokens
/// are refused) and signing in fails like a wrong password, until `holdfast
/// user enable`.
async fn a_disabled_user_cannot_sign_in_and_loses_every_session_until_enabled(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let (_, tokens) = sign_in(&server, &fx).await;
    let user = ["--tenant", "acme", "--user", flow::USERNAME];
    cli(&server, &[&["user", "disable"], &user[..]].concat());
    let (status, body) = refresh(&server, &fx, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let url = flow::authorize_url(&fx.issuer, &flow::code_request("web", &pkce, "st"));
    let page = browser.sign_in(&url, flow::USERNAME, flow::PASSWORD).await;
    assert_ne!(
        page.status,
        StatusCode::SEE_OTHER,
        "a disabled user got a code"
    );
    cli(&server, &[&["user", "enable"], &user[..]].concat());
    sign_in(&server, &fx).await;
}
