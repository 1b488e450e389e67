//! Domain metrics at `/metrics` (issue 16, "Observability"), on both back
//! ends: a hosted login, a failed one, a code, a refresh, a reuse (which
//! revokes the family), a DPoP nonce challenge, counted by what they are;
//! the `use_dpop_nonce` 400 has its own `outcome` so an error rate can
//! leave it out; the shared queues' depth and lag are read from the store
//! at each scrape.
//!
//! The recorder is one per process and the two back ends' tests share it,
//! so each check is "at least" what this test did.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;

holdfast_testkit::on_both_backends!(
    prometheus_counts_logins_codes_refreshes_reuse_revocations_and_nonce_challenges,
);

/// The value of the first sample of `name` whose labels include all of
/// `labels`, or 0.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(server: &TestServer) -> String {
    server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn prometheus_counts_logins_codes_refreshes_reuse_revocations_and_nonce_challenges(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let http = server.http();
    // A failed login, then a good one and its code.
    let mut browser = flow::Browser::new();
    let pkce = flow::pkce();
    let url = flow::authorize_url(
        &fx.issuer,
        &flow::code_request(&fx.client.client_id, &pkce, "m"),
    );
    let wrong = browser
        .sign_in(&url, flow::USERNAME, "not the password")
        .await;
    assert_ne!(wrong.status, StatusCode::SEE_OTHER, "{}", wrong.body);
    assert!(
        wrong.body.contains("Incorrect username or password"),
        "{}",
        wrong.body
    );
    let (_, code, pkce) = flow::browser_code(&fx).await;
    let tokens = flow::redeem(&http, &fx, &code, &pkce.verifier).await;
    let first = tokens.str("refresh_token").unwrap().to_owned();
    // A refresh, then the spent token again: reuse, the family revoked.
    let refresh = |token: String| {
        let http = http.clone();
        let issuer = fx.issuer.clone();
        let client_id = fx.client.client_id.clone();
        async move {
            flow::token(
                &http,
                &issuer,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client_id),
                ],
            )
            .await
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let reused = refresh(first).await;
    assert_eq!(reused.oauth_error(), "invalid_grant");
    // A DPoP proof without the server's nonce: the expected challenge.
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let proof = key
        .proof(&ProofClaims::new(
            "POST",
            &format!("{}/token", fx.issuer),
            server.state.now(),
        ))
        .unwrap();
    let challenged = flow::read_json(
        http.post(format!("{}/token", fx.issuer))
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", fx.client.client_id.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(challenged.oauth_error(), "use_dpop_nonce");

    let metrics = scrape(&server).await;
    let at_least_one = |name: &str, labels: &[&str]| {
        let value = sample(&metrics, name, labels);
        assert!(value >= 1.0, "{name}{labels:?} = {value} in:\n{metrics}");
    };
    at_least_one(
        "holdfast_logins_total",
        &[r#"outcome="succeeded""#, r#"method="password""#],
    );
    at_least_one(
        "holdfast_logins_total",
        &[r#"outcome="failed""#, r#"method="password""#],
    );
    at_least_one("holdfast_codes_issued_total", &[]);
    at_least_one("holdfast_refreshes_total", &[r#"result="rotated""#]);
    at_least_one("holdfast_refreshes_total", &[r#"result="reuse_detected""#]);
    at_least_one(
        "holdfast_revocations_total",
        &[r#"reason="refresh_token_reuse""#],
    );
    at_least_one("holdfast_dpop_nonce_challenges_total", &[]);
    // SQLite's group commit: the rotation above was carried by a commit,
    // counted in batch-size buckets (3 is none of the latency buckets).
    if server.state.store.backend() == "sqlite" {
        at_least_one(
            "holdfast_sqlite_rotations_per_commit_bucket",
            &[r#"le="3""#],
        );
    }
    at_least_one("holdfast_oauth_errors_total", &[r#"error="invalid_grant""#]);
    // The nonce challenge is its own outcome, not a client error.
    at_least_one(
        "holdfast_http_requests_total",
        &[
            r#"route="/t/{tenant}/token""#,
            r#"status="400""#,
            r#"outcome="dpop_nonce""#,
        ],
    );
    at_least_one(
        "holdfast_http_requests_total",
        &[
            r#"route="/t/{tenant}/token""#,
            r#"status="400""#,
            r#"outcome="client_error""#,
        ],
    );
    // The queue gauges, read at the scrape, for every queue.
    for queue in ["mail", "security_events", "logout_tokens"] {
        let label = format!(r#"queue="{queue}""#);
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("holdfast_queue_depth{") && l.contains(&label)),
            "{queue} depth in:\n{metrics}"
        );
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("holdfast_queue_lag_seconds{") && l.contains(&label)),
            "{queue} lag in:\n{metrics}"
        );
    }
}
