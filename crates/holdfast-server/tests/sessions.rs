//! The user's own sessions through the real HTTP server, on both back ends
//! (docs/design.md §1: "One session (token family) per device login ... Users
//! list their sessions, sign out one, or sign out all others"), authorised
//! by the user's access token per
//! [RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1), with
//! the §3.1 error codes.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod lifecycle;

use holdfast_testkit::TestServer;
use lifecycle::{
    API, Fixture, PASSWORD, Tokens, WEB, fixture, refresh, sid_of, sign_in, userinfo_status,
    with_bearer,
};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    design_s1_sessions_lists_each_device_login_and_marks_the_current_one,
    design_s1_revoke_others_signs_out_every_other_device_only,
    design_s1_deleting_one_of_my_sessions_signs_out_that_device,
    design_s1_deleting_another_users_session_is_not_found_and_revokes_nothing,
    design_s1_logout_revokes_the_current_session,
    design_s1_signing_in_again_does_not_touch_existing_sessions,
    rfc6750_s3_1_sessions_need_a_users_access_token,
);

/// `GET {issuer}/sessions` with `access_token`; must succeed.
async fn list(http: &reqwest::Client, f: &Fixture, access_token: &str) -> Vec<Value> {
    let reply = with_bearer(http.get(f.at("/sessions")), access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["sessions"].as_array().unwrap().clone()
}

/// The listed session whose `device_id` is `device`.
#[track_caller]
fn by_device<'a>(sessions: &'a [Value], device: &str) -> &'a Value {
    sessions
        .iter()
        .find(|s| s["device_id"] == device)
        .unwrap_or_else(|| panic!("no session for device {device}: {sessions:?}"))
}

/// Whether `tokens`' refresh token still works.
async fn refreshes(http: &reqwest::Client, f: &Fixture, tokens: &Tokens) -> bool {
    let reply = refresh(http, &f.issuer, WEB, &tokens.refresh_token).await;
    if reply.status != StatusCode::OK {
        reply.assert_invalid_grant();
    }
    reply.status == StatusCode::OK
}

/// docs/design.md §1: each device login is its own session; the list shows the
/// device, user agent and address of each, marks the one whose token asked,
/// and shows nobody else's.
async fn design_s1_sessions_lists_each_device_login_and_marks_the_current_one(server: TestServer) {
    let f = fixture(&server, "acme").await;
    server.user(&f.tenant, "bob", PASSWORD).await;
    let http = server.http();
    let laptop = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let phone = sign_in(&http, &f.issuer, WEB, "alice", Some("phone")).await;
    sign_in(&http, &f.issuer, WEB, "bob", Some("bobs-laptop")).await;
    assert_ne!(sid_of(&laptop.access_token), sid_of(&phone.access_token));

    let seen_from_laptop = list(&http, &f, &laptop.access_token).await;
    assert_eq!(seen_from_laptop.len(), 2, "{seen_from_laptop:?}");
    let l = by_device(&seen_from_laptop, "laptop");
    let p = by_device(&seen_from_laptop, "phone");
    assert_eq!(l["sid"], sid_of(&laptop.access_token));
    assert_eq!(p["sid"], sid_of(&phone.access_token));
    assert_eq!(l["current"], true);
    assert_eq!(p["current"], false);
    assert_eq!(l["user_agent"], "device/laptop");
    assert_eq!(p["user_agent"], "device/phone");
    assert_eq!(l["ip"], "127.0.0.1");
    assert_eq!(l["client_id"], WEB);
    assert!(
        l["created_at"].is_i64() && l["last_used_at"].is_i64(),
        "{l}"
    );

    let seen_from_phone = list(&http, &f, &phone.access_token).await;
    assert_eq!(seen_from_phone.len(), 2);
    assert_eq!(by_device(&seen_from_phone, "laptop")["current"], false);
    assert_eq!(by_device(&seen_from_phone, "phone")["current"], true);
}

/// docs/design.md §1 "sign out all others": from the laptop, every other
/// session of the user is revoked (its refresh token refused, its access
/// token dead), the laptop's own session keeps working.
async fn design_s1_revoke_others_signs_out_every_other_device_only(server: TestServer) {
    let f = fixture(&server, "acme").await;
    server.user(&f.tenant, "bob", PASSWORD).await;
    let http = server.http();
    let laptop = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let phone = sign_in(&http, &f.issuer, WEB, "alice", Some("phone")).await;
    let tablet = sign_in(&http, &f.issuer, WEB, "alice", Some("tablet")).await;
    let bob = sign_in(&http, &f.issuer, WEB, "bob", Some("bobs-phone")).await;

    let reply = with_bearer(
        http.post(f.at("/sessions/revoke-others")),
        &laptop.access_token,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["revoked"], 2);

    assert!(!refreshes(&http, &f, &phone).await);
    assert!(!refreshes(&http, &f, &tablet).await);
    assert_eq!(
        userinfo_status(&http, &f.issuer, &phone.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(refreshes(&http, &f, &laptop).await);
    assert!(
        refreshes(&http, &f, &bob).await,
        "other users are untouched"
    );
    let left = list(&http, &f, &laptop.access_token).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["device_id"], "laptop");
}

/// docs/design.md §1 "sign out one": `DELETE /sessions/{sid}` of my phone
/// revokes that family and nothing else.
async fn design_s1_deleting_one_of_my_sessions_signs_out_that_device(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let laptop = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let phone = sign_in(&http, &f.issuer, WEB, "alice", Some("phone")).await;
    let phone_sid = sid_of(&phone.access_token);

    let reply = with_bearer(
        http.delete(f.at(&format!("/sessions/{phone_sid}"))),
        &laptop.access_token,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(!refreshes(&http, &f, &phone).await);
    assert!(refreshes(&http, &f, &laptop).await);
    let session = server
        .state
        .store
        .session(&f.tenant.id, &phone_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.revoked_reason.as_deref(),
        Some("signed_out_by_user")
    );

    // Deleting it again: it is no longer a live session.
    let again = with_bearer(
        http.delete(f.at(&format!("/sessions/{phone_sid}"))),
        &laptop.access_token,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// Another user's session id looks exactly like a missing one (404), and
/// nothing is revoked.
async fn design_s1_deleting_another_users_session_is_not_found_and_revokes_nothing(
    server: TestServer,
) {
    let f = fixture(&server, "acme").await;
    server.user(&f.tenant, "bob", PASSWORD).await;
    let http = server.http();
    let alice = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let bob = sign_in(&http, &f.issuer, WEB, "bob", Some("phone")).await;
    let bob_sid = sid_of(&bob.access_token);

    let theirs = with_bearer(
        http.delete(f.at(&format!("/sessions/{bob_sid}"))),
        &alice.access_token,
    )
    .await;
    let missing = with_bearer(
        http.delete(f.at("/sessions/00000000-0000-0000-0000-000000000000")),
        &alice.access_token,
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.body);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        theirs.body, missing.body,
        "someone else's session is indistinguishable from a missing one"
    );

    let session = server
        .state
        .store
        .session(&f.tenant.id, &bob_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoked_at, None);
    assert!(refreshes(&http, &f, &bob).await);
    assert!(refreshes(&http, &f, &alice).await);
    assert_eq!(
        userinfo_status(&http, &f.issuer, &bob.access_token).await,
        StatusCode::OK
    );
}

/// `POST /logout` ends the session whose token asked: its refresh token is
/// refused and its access token no longer opens the session endpoints.
async fn design_s1_logout_revokes_the_current_session(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let laptop = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let phone = sign_in(&http, &f.issuer, WEB, "alice", Some("phone")).await;

    let reply = with_bearer(http.post(f.at("/logout")), &laptop.access_token).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(!refreshes(&http, &f, &laptop).await);
    let after = with_bearer(http.get(f.at("/sessions")), &laptop.access_token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["error"], "invalid_token");
    let session = server
        .state
        .store
        .session(&f.tenant.id, &sid_of(&laptop.access_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoked_reason.as_deref(), Some("signed_out"));
    // The phone is another session.
    assert!(refreshes(&http, &f, &phone).await);
}

/// docs/design.md §1: "Logging in again on a second device must not kill the
/// first": a third sign-in leaves both earlier sessions working.
async fn design_s1_signing_in_again_does_not_touch_existing_sessions(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let laptop = sign_in(&http, &f.issuer, WEB, "alice", Some("laptop")).await;
    let phone = sign_in(&http, &f.issuer, WEB, "alice", Some("phone")).await;
    let tablet = sign_in(&http, &f.issuer, WEB, "alice", Some("tablet")).await;

    assert!(refreshes(&http, &f, &laptop).await);
    assert!(refreshes(&http, &f, &phone).await);
    let sessions = list(&http, &f, &tablet.access_token).await;
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for device in ["laptop", "phone", "tablet"] {
        by_device(&sessions, device);
    }
    for tokens in [&laptop, &phone] {
        assert_eq!(
            userinfo_status(&http, &f.issuer, &tokens.access_token).await,
            StatusCode::OK
        );
    }
}

/// RFC 6750 §3.1: a client-credentials token has no user, so it lacks what
/// the session endpoints need (403 `insufficient_scope`); no token at all is
/// a 401 with a bare challenge.
async fn rfc6750_s3_1_sessions_need_a_users_access_token(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let response = http
        .post(f.at("/token"))
        .basic_auth(API, Some(&f.api_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let machine_token = body["access_token"].as_str().unwrap();

    for request in [
        http.get(f.at("/sessions")),
        http.post(f.at("/sessions/revoke-others")),
        http.post(f.at("/logout")),
    ] {
        let response = request.bearer_auth(machine_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }

    let anonymous = http.get(f.at("/sessions")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers().get(WWW_AUTHENTICATE).unwrap();
    assert!(!challenge.to_str().unwrap().contains("error="));
}
