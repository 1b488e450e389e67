//! The example API following the tenant's revocation feed
//! (`holdfast_verify::feed`, OpenID SSF 1.0 over RFC 8936 poll) against a
//! real Holdfast on both back ends: a revoked session's access token is
//! refused by the API within moments, with no call per request; a new
//! session is not affected; with a state file, a restarted receiver still
//! refuses what was revoked before it restarted. The same by RFC 8935
//! push, with the API serving the feed's push endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_crypto::secret::{SecretString, random_id, sha256_b64};
use holdfast_example_resource_server::{AppConfig, app, run};
use holdfast_testkit::TestServer;
use holdfast_verify::Verifier;
use holdfast_verify::feed::RevocationFeed;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

holdfast_testkit::on_both_backends!(
    design_s7_the_example_api_refuses_a_revoked_sessions_token_without_asking,
    design_s7_a_restarted_receiver_with_a_state_file_still_refuses_earlier_revocations,
    rfc8935_a_pushed_feed_refuses_revoked_sessions_and_resumes_after_a_restart,
);

/// A tenant with a public client `demo` for the API `rs`, a user, and the
/// receiver client `rs-feed` (client credentials, scope `ssf`); its secret.
async fn tenant(server: &TestServer, rs: &str) -> SecretString {
    let tenant = server.tenant("acme").await;
    let mut public = NewClient::new("demo", ClientKind::Public);
    public.scopes = vec!["openid".into(), "read".into()];
    public.resources = vec![rs.to_owned()];
    server.client(&tenant, public).await;
    let mut feed = NewClient::new("rs-feed", ClientKind::Confidential);
    feed.grant_types = vec![GrantType::ClientCredentials];
    feed.scopes = vec!["ssf".into()];
    let (_, secret) = server.client(&tenant, feed).await;
    server.user(&tenant, "alice", PASSWORD).await;
    secret.unwrap()
}

/// Signs alice in (first-party challenge, then the code) for the API;
/// the access and refresh tokens.
async fn sign_in(server: &TestServer, rs: &str) -> (String, String) {
    let issuer = server.issuer("acme");
    let http = server.http();
    let verifier = random_id().unwrap() + &random_id().unwrap();
    let challenge = sha256_b64(verifier.as_bytes());
    let code: Value = http
        .post(format!("{issuer}/authorize-challenge"))
        .form(&[
            ("client_id", "demo"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid read"),
            ("resource", rs),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens: Value = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "demo"),
            ("code", code["authorization_code"].as_str().unwrap()),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// RFC 7009 revocation of a refresh token (its whole session).
async fn revoke(server: &TestServer, refresh_token: &str) {
    let reply = server
        .http()
        .post(format!("{}/revoke", server.issuer("acme")))
        .form(&[("token", refresh_token), ("client_id", "demo")])
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
}

async fn feed(
    server: &TestServer,
    secret: &SecretString,
) -> holdfast_verify::feed::RevocationFeedBuilder {
    RevocationFeed::builder(server.issuer("acme"), "rs-feed", secret.clone())
}

/// docs/design.md §7: sign-out reaches the resource server. The example
/// API (as its binary runs it: a verifier with the feed as revocation
/// check) accepts a session's token, the session is revoked at Holdfast,
/// and the API refuses the token as soon as the feed delivered the event
/// (well within a second here), while a newer session's token still works.
async fn design_s7_the_example_api_refuses_a_revoked_sessions_token_without_asking(
    server: TestServer,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rs = format!("http://{}", listener.local_addr().unwrap());
    let secret = tenant(&server, &rs).await;
    let feed = feed(&server, &secret).await.start().await.unwrap();
    assert!(feed.stats().stream_id.is_some());
    let verifier = Verifier::builder(server.issuer("acme"))
        .audience(rs.clone())
        .public_base_url(rs.parse().unwrap())
        .revocation_check(feed.clone())
        .build()
        .unwrap();
    tokio::spawn(run(
        listener,
        app(&verifier, &AppConfig::default()),
        std::future::pending(),
    ));
    let http = server.http();
    let hello = |token: String| {
        let (http, url) = (http.clone(), format!("{rs}/api/hello"));
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (at, rt) = sign_in(&server, &rs).await;
    assert_eq!(hello(at.clone()).await, 200);

    revoke(&server, &rt).await;
    let revoked_at = Instant::now();
    let deadline = revoked_at + Duration::from_secs(10);
    loop {
        let status = hello(at.clone()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "only 200 until the event arrives, then 401");
        assert!(
            Instant::now() < deadline,
            "the API still accepts a revoked session's token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (fresh, _) = sign_in(&server, &rs).await;
    assert_eq!(hello(fresh).await, 200, "a new session is not affected");
    assert!(feed.stats().applied >= 1);
}

/// With a state file, a receiver that restarts keeps refusing a session
/// revoked before the restart (the journal is read back at start), and
/// one revoked while it was down (the stream kept the event).
async fn design_s7_a_restarted_receiver_with_a_state_file_still_refuses_earlier_revocations(
    server: TestServer,
) {
    let rs = "https://api.example.com".to_owned();
    let secret = tenant(&server, &rs).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("revocations.journal");
    let verifier_with = |feed: std::sync::Arc<RevocationFeed>| {
        Verifier::builder(server.issuer("acme"))
            .audience(rs.clone())
            .revocation_check(feed)
            .build()
            .unwrap()
    };
    let (before, rt_before) = sign_in(&server, &rs).await;
    let (during, rt_during) = sign_in(&server, &rs).await;
    let (kept, _) = sign_in(&server, &rs).await;

    let first = feed(&server, &secret)
        .await
        .state_file(state.clone())
        .start()
        .await
        .unwrap();
    let verifier = verifier_with(first.clone());
    revoke(&server, &rt_before).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while verifier.verify_bearer(&before).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the first receiver never applied the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The receiver goes away; a session is revoked while it is down.
    let stream = first.stats().stream_id;
    drop(verifier);
    drop(first);
    revoke(&server, &rt_during).await;

    let second = feed(&server, &secret)
        .await
        .state_file(state)
        .start()
        .await
        .unwrap();
    let verifier = verifier_with(second.clone());
    assert!(
        verifier.verify_bearer(&before).await.is_err(),
        "revoked before the restart: refused from the journal"
    );
    assert!(
        verifier.verify_bearer(&during).await.is_err(),
        "revoked while down: start() drains what the stream kept"
    );
    assert!(verifier.verify_bearer(&kept).await.is_ok());
    assert_eq!(second.stats().stream_id, stream, "the stream was reused");
}

/// The example API served with the feed's push router on `listener`,
/// receiving by RFC 8935 push at `/ssf/events`, journaling to `state`.
async fn pushed_api(
    server: &TestServer,
    secret: &SecretString,
    listener: tokio::net::TcpListener,
    rs: &str,
    state: &std::path::Path,
) -> (std::sync::Arc<RevocationFeed>, tokio::task::JoinHandle<()>) {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let feed = feed(server, secret)
        .await
        .push(format!("{base}/ssf/events").parse().unwrap())
        .state_file(state.to_owned())
        .start()
        .await
        .unwrap();
    assert_eq!(feed.push_path(), Some("/ssf/events"));
    let verifier = Verifier::builder(server.issuer("acme"))
        .audience(rs.to_owned())
        .revocation_check(feed.clone())
        .build()
        .unwrap();
    let routes = app(&verifier, &AppConfig::default()).merge(feed.push_router().unwrap());
    let task = tokio::spawn(async move {
        let _ = run(listener, routes, std::future::pending()).await;
    });
    // Stale (fail closed) until the transmitter reaches the endpoint: the
    // verification SET requested at start is pushed back.
    let deadline = Instant::now() + Duration::from_secs(10);
    // `verified` is set while the SET is applied, freshness once it is
    // journaled and answered: wait for both.
    while !(feed.stats().verified && feed.stats().last_successful_poll.is_some()) {
        assert!(
            Instant::now() < deadline,
            "the verification SET was never pushed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (feed, task)
}

/// RFC 8935: with `push(url)` the transmitter POSTs every SET to the API;
/// a revoked session's token is refused once it arrives. After a restart
/// (a new address, so the stream's delivery is updated) the same stream
/// delivers what was revoked while the API was down, and the state file
/// still refuses what was revoked before.
async fn rfc8935_a_pushed_feed_refuses_revoked_sessions_and_resumes_after_a_restart(
    server: TestServer,
) {
    let rs = "https://api.example.com".to_owned();
    let secret = tenant(&server, &rs).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("revocations.journal");
    let (before, rt_before) = sign_in(&server, &rs).await;
    let (during, rt_during) = sign_in(&server, &rs).await;
    let (kept, _) = sign_in(&server, &rs).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (first, task) = pushed_api(&server, &secret, listener, &rs, &state).await;
    let http = server.http();
    let hello = |base: String, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/api/hello"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(hello(base.clone(), before.clone()).await, 200);
    revoke(&server, &rt_before).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = hello(base.clone(), before.clone()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "only 200 until the push arrives, then 401");
        assert!(Instant::now() < deadline, "the push never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hello(base.clone(), kept.clone()).await, 200);
    let stream = first.stats().stream_id;

    // The API goes away; a session is revoked while it is down.
    task.abort();
    let _ = task.await;
    drop(first);
    revoke(&server, &rt_during).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (second, _task) = pushed_api(&server, &secret, listener, &rs, &state).await;
    assert_eq!(second.stats().stream_id, stream, "the stream was reused");
    assert_eq!(
        hello(base.clone(), before.clone()).await,
        401,
        "revoked before the restart: refused from the journal"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while hello(base.clone(), during.clone()).await != 401 {
        assert!(
            Instant::now() < deadline,
            "what was revoked while the API was down never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hello(base, kept).await, 200, "other sessions still work");
}
