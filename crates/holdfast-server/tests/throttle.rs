//! Throttling of secret guessing (docs/design.md §8, OWASP ASVS 4.0.3 §2.2.1),
//! through the real HTTP server on both back ends: the first-party
//! challenge endpoint, the hosted login form and client-secret
//! authentication answer 429 with `Retry-After` once a limit is reached,
//! the right secret included (it is not checked); parallel attempts cannot
//! slip past a limit; a success clears the address's counter; an address
//! that signed in before is not locked out by a flood from elsewhere; and
//! refusals say nothing about whether the account exists.
//!
//! Different source addresses come from binding the test's sockets to other
//! loopback addresses (127.0.0.2, …), which Linux routes like 127.0.0.1.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use std::net::{IpAddr, Ipv4Addr};

use flow::{Browser, Fixture, Json, PASSWORD, USERNAME, post_form};
use futures_util::future::join_all;
use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_core::throttle::ThrottlePolicy;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;

holdfast_testkit::on_both_backends!(
    asvs_2_2_1_challenge_refuses_the_pair_limit_with_429_and_checks_no_password,
    asvs_2_2_1_unknown_accounts_are_throttled_exactly_like_known_ones,
    asvs_2_2_1_parallel_attempts_cannot_slip_past_the_limit,
    asvs_2_2_1_a_successful_login_clears_the_address_counter,
    asvs_2_2_1_a_flood_from_elsewhere_does_not_lock_out_an_address_that_signed_in_before,
    asvs_2_2_1_one_address_spraying_many_accounts_is_throttled,
    asvs_2_2_1_hosted_login_shows_a_readable_429_page,
    asvs_2_2_1_wrong_client_secrets_are_throttled_per_client_and_address,
    asvs_2_2_1_a_tenant_can_set_its_own_limits,
);

/// A client whose connections come from `127.0.0.N`.
fn from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn attempt(http: &reqwest::Client, fx: &Fixture, username: &str, password: &str) -> Json {
    let pkce = flow::pkce();
    post_form(
        http,
        &fx.at("/authorize-challenge"),
        &[
            ("client_id", &fx.client.client_id),
            ("username", username),
            ("password", password),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
}

/// The answer is a throttling refusal: 429, `Retry-After`, OAuth JSON.
fn assert_throttled(answer: &Json) -> i64 {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.oauth_error(), "temporarily_unavailable");
    let retry_after: i64 = answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    retry_after
}

async fn event_count(server: &TestServer, fx: &Fixture, kind: &str) -> usize {
    server
        .state
        .store
        .events(&fx.tenant.id, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

async fn asvs_2_2_1_challenge_refuses_the_pair_limit_with_429_and_checks_no_password(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let http = from(1);
    for i in 0..10 {
        let answer = attempt(&http, &fx, USERNAME, "wrong password").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "attempt {i}");
        assert_eq!(answer.oauth_error(), "invalid_grant");
    }
    let refused = attempt(&http, &fx, USERNAME, "wrong password").await;
    let wait = assert_throttled(&refused);
    assert!(wait <= 15 * 60, "{wait}");
    // The right password is not even checked while the limit holds.
    let right = attempt(&http, &fx, USERNAME, PASSWORD).await;
    assert_throttled(&right);
    // One audit event for the refusals of this window, not one per refusal.
    assert_eq!(event_count(&server, &fx, "login_throttled").await, 1);
    assert_eq!(event_count(&server, &fx, "login_failed").await, 10);
    // When the window has passed, the right password works again.
    server.clock.advance(15 * 60 + 61);
    let right = attempt(&http, &fx, USERNAME, PASSWORD).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    // The refusals are counted in /metrics.
    let metrics = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("holdfast_throttled_attempts_total")
            && metrics.contains("holdfast_login_failures_total"),
        "{metrics}"
    );
}

async fn asvs_2_2_1_unknown_accounts_are_throttled_exactly_like_known_ones(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = from(1);
    let mut answers = Vec::new();
    for name in [USERNAME, "nobody-here"] {
        for _ in 0..10 {
            attempt(&http, &fx, name, "wrong password").await;
        }
        answers.push(attempt(&http, &fx, name, "wrong password").await);
    }
    for a in &answers {
        assert_throttled(a);
    }
    assert_eq!(answers[0].text, answers[1].text);
}

async fn asvs_2_2_1_parallel_attempts_cannot_slip_past_the_limit(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = from(1);
    let answers = join_all((0..40).map(|_| attempt(&http, &fx, USERNAME, "wrong"))).await;
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_REQUEST)
        .count();
    // Every other attempt is refused unchecked: by the throttle (429) or,
    // when the hashing queue was full at that moment, at once (503).
    let refused = answers
        .iter()
        .filter(|a| {
            a.status == StatusCode::TOO_MANY_REQUESTS
                || (a.status == StatusCode::SERVICE_UNAVAILABLE
                    && a.header("retry-after").is_some())
        })
        .count();
    assert_eq!(checked, 10, "exactly the limit is checked");
    assert_eq!(checked + refused, 40, "every other attempt is refused");
}

async fn asvs_2_2_1_a_successful_login_clears_the_address_counter(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = from(1);
    for _ in 0..9 {
        attempt(&http, &fx, USERNAME, "wrong").await;
    }
    let ok = attempt(&http, &fx, USERNAME, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    // Ten more mistakes are allowed again before the limit.
    for i in 0..10 {
        let answer = attempt(&http, &fx, USERNAME, "wrong").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    assert_throttled(&attempt(&http, &fx, USERNAME, "wrong").await);
}

async fn asvs_2_2_1_a_flood_from_elsewhere_does_not_lock_out_an_address_that_signed_in_before(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let owner = from(1);
    let ok = attempt(&owner, &fx, USERNAME, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    // Strangers at many addresses burn the account's budget.
    let mut stranger_refused = false;
    for n in 2..20u8 {
        let stranger = from(n);
        for _ in 0..10 {
            let a = attempt(&stranger, &fx, USERNAME, "guess").await;
            stranger_refused |= a.status == StatusCode::TOO_MANY_REQUESTS;
        }
    }
    assert!(stranger_refused, "the account counter must slow strangers");
    // A fresh stranger is refused by the account counter ...
    assert_throttled(&attempt(&from(30), &fx, USERNAME, "guess").await);
    // ... the owner's address is not.
    let ok = attempt(&owner, &fx, USERNAME, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

async fn asvs_2_2_1_one_address_spraying_many_accounts_is_throttled(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let http = from(1);
    for i in 0..100 {
        let answer = attempt(&http, &fx, &format!("user{i}"), "wrong").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    assert_throttled(&attempt(&http, &fx, "user-101", "wrong").await);
    // Another address is not affected.
    let ok = attempt(&from(2), &fx, USERNAME, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

async fn asvs_2_2_1_hosted_login_shows_a_readable_429_page(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let pkce = flow::pkce();
    let authorize = flow::authorize_url(&fx.issuer, &flow::code_request("web", &pkce, "s"));
    let mut browser = Browser::new();
    for _ in 0..10 {
        let page = browser.sign_in(&authorize, USERNAME, "wrong").await;
        assert!(page.body.contains("Incorrect username or password"));
    }
    let page = browser.sign_in(&authorize, USERNAME, PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
    assert!(page.header("retry-after").is_some());
    assert!(
        page.body.contains("Too many failed sign-in attempts"),
        "{}",
        page.body
    );
    assert!(page.location().is_none(), "no code while throttled");
}

async fn asvs_2_2_1_wrong_client_secrets_are_throttled_per_client_and_address(server: TestServer) {
    let tenant = server.tenant("acme").await;
    let mut new = NewClient::new("backend", ClientKind::Confidential);
    new.grant_types = vec![GrantType::ClientCredentials];
    let (_, secret) = server.client(&tenant, new).await;
    let secret = secret.unwrap();
    let token_url = server.url("/t/acme/token");
    let request = |http: reqwest::Client, secret: String| {
        let url = token_url.clone();
        async move {
            flow::read_json(
                http.post(&url)
                    .basic_auth("backend", Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    for i in 0..10 {
        let answer = request(from(1), format!("wrong-{i}")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_throttled(&request(from(1), "wrong".into()).await);
    // The right secret from that address waits too: it is not compared.
    assert_throttled(&request(from(1), secret.expose().to_owned()).await);
    // The same client from another address is not stalled.
    let ok = request(from(2), secret.expose().to_owned()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

async fn asvs_2_2_1_a_tenant_can_set_its_own_limits(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let strict = ThrottlePolicy {
        pair_max_failures: 3,
        ..ThrottlePolicy::default()
    };
    holdfast_server::service::admin::set_throttle(
        &server.state,
        &fx.tenant,
        &holdfast_server::service::admin::Actor::cli(),
        None,
        Some(strict),
    )
    .await
    .unwrap();
    assert_eq!(
        server
            .state
            .store
            .tenant_throttle_policy(&fx.tenant.id)
            .await
            .unwrap(),
        Some(strict)
    );
    let http = from(1);
    for _ in 0..3 {
        let a = attempt(&http, &fx, USERNAME, "wrong").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    assert_throttled(&attempt(&http, &fx, USERNAME, "wrong").await);
}

async fn attempt_via(http: &reqwest::Client, fx: &Fixture, forwarded_for: &str) -> Json {
    let pkce = flow::pkce();
    flow::read_json(
        http.post(fx.at("/authorize-challenge"))
            .header("x-forwarded-for", forwarded_for)
            .form(&[
                ("client_id", fx.client.client_id.as_str()),
                ("username", USERNAME),
                ("password", "wrong"),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A spoofed `X-Forwarded-For` from a peer that is not a trusted proxy
/// changes nothing: the attempts still count against the peer's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_2_2_1_x_forwarded_for_from_an_untrusted_peer_cannot_dodge_the_limit() {
    for backend in [
        holdfast_testkit::Backend::Sqlite,
        holdfast_testkit::Backend::Postgres,
    ] {
        let Some(server) = TestServer::start(backend).await else {
            continue;
        };
        let fx = flow::fixture(&server, "acme").await;
        let http = from(1);
        for i in 0..10 {
            let a = attempt_via(&http, &fx, &format!("198.51.100.{i}")).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "attempt {i}");
        }
        assert_throttled(&attempt_via(&http, &fx, "198.51.100.99").await);
    }
}

/// Behind a trusted proxy the client's address (the rightmost
/// `X-Forwarded-For` entry) is what counts: one client reaching its limit
/// does not stall another behind the same proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asvs_2_2_1_behind_a_trusted_proxy_the_forwarded_client_address_counts() {
    for backend in [
        holdfast_testkit::Backend::Sqlite,
        holdfast_testkit::Backend::Postgres,
    ] {
        let config = holdfast_server::config::ServerConfig {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..Default::default()
        };
        let Some(server) = TestServer::start_with(backend, config).await else {
            continue;
        };
        let fx = flow::fixture(&server, "acme").await;
        let http = from(1);
        for i in 0..10 {
            let a = attempt_via(&http, &fx, "6.6.6.6, 203.0.113.1").await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "attempt {i}");
        }
        assert_throttled(&attempt_via(&http, &fx, "203.0.113.1").await);
        // A forged left part does not help the throttled client ...
        assert_throttled(&attempt_via(&http, &fx, "203.0.113.9, 203.0.113.1").await);
        // ... and, once the account's one-second delay after ten failures
        // has passed, another client behind the proxy is not stalled while
        // the first one still is.
        server.clock.advance(2);
        assert_throttled(&attempt_via(&http, &fx, "203.0.113.1").await);
        let other = attempt_via(&http, &fx, "203.0.113.2").await;
        assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.text);
    }
}
