//! Two real `holdfast serve` processes on one PostgreSQL database
//! (docs/design.md §3: "Stateless nodes, shared database. Every node can serve
//! every request."), checking that confirmed rotation (docs/design.md §4) holds
//! across nodes: a child minted on one node is returned by a grace retry on
//! the other, reuse is detected whichever node sees it, and concurrent
//! presentations split across both nodes yield exactly one child ("All of
//! this is one atomic step in the store").
//!
//! The same holds for DPoP (RFC 9449 §8, §11.1): a nonce minted by one node
//! is accepted by the other, and a proof used on one is a replay on the other.
//!
//! PostgreSQL only (SQLite is one process's embedded store). Skipped, loudly,
//! when PostgreSQL is unreachable outside CI (see
//! `holdfast_store::testing::TestDatabase::create`).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod lifecycle;
mod nodes;

use std::path::Path;

use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_store::testing::{Backend, TestDatabase};
use lifecycle::{PASSWORD, Reply, WEB, refresh, sid_of, sign_in};
use nodes::{Node, SLUG, tenant_client_and_alice, two_free_ports};
use reqwest::StatusCode;

/// Sets up tenant `acme`, the public client `web` (with `client_flags`)
/// and user alice through the CLI before any node starts (so the KEK file
/// exists once and both nodes read the same one), then starts two healthy
/// nodes sharing one public URL, as behind a load balancer.
async fn two_nodes(db: &TestDatabase, client_flags: &[&str]) -> (Node, Node, reqwest::Client) {
    tenant_client_and_alice(db, WEB, PASSWORD, client_flags).await;
    assert!(Path::new(&db.dir).join("holdfast.kek").exists());
    let (port_a, port_b) = two_free_ports();
    let public_url = format!("http://127.0.0.1:{port_a}");
    let mut a = Node::start("a", db, port_a, &public_url);
    let mut b = Node::start("b", db, port_b, &public_url);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    a.wait_healthy(&http).await;
    b.wait_healthy(&http).await;
    (a, b, http)
}

/// docs/design.md §3 + §4 across two nodes on one PostgreSQL: RT0 rotated on A
/// (→ C) and retried on B returns C; C used on B (→ C2); RT0 on B is reuse
/// and revokes the family, so A refuses C2. Then 50 concurrent
/// presentations of one fresh token, alternating between the nodes, all
/// succeed with one identical child or fail with `invalid_grant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn design_s3_s4_two_nodes_on_one_postgres_share_one_rotation_state() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        eprintln!(
            "\n!!!!!!!! SKIPPED two_nodes: PostgreSQL is unreachable; \
             the multi-node rotation test did not run. !!!!!!!!\n"
        );
        return;
    };
    // Set up through the CLI before any node starts, so the KEK file
    // exists once and both nodes read the same one. The public client's
    // tokens here are unbound: it opts in to their grace retries (docs/design.md
    // §4 step 4), which this test needs to see across nodes.
    // The public client's tokens here are unbound: it opts in to their
    // grace retries (docs/design.md §4 step 4), which this test needs to see
    // across nodes.
    let (a, b, http) = two_nodes(&db, &["--unbound-grace-accept-risk"]).await;

    // Sign in on A, rotate on A.
    let rt0 = sign_in(&http, &a.issuer(), WEB, "alice", None).await;
    let c = refresh(&http, &a.issuer(), WEB, &rt0.refresh_token)
        .await
        .tokens();
    // A lost response retried on B: the same child, decrypted on B.
    let retry = refresh(&http, &b.issuer(), WEB, &rt0.refresh_token)
        .await
        .tokens();
    assert_eq!(retry.refresh_token, c.refresh_token);
    // The child used on B.
    let c2 = refresh(&http, &b.issuer(), WEB, &c.refresh_token)
        .await
        .tokens();
    assert_ne!(c2.refresh_token, c.refresh_token);
    // RT0 again, on B: reuse, detected from the shared state.
    refresh(&http, &b.issuer(), WEB, &rt0.refresh_token)
        .await
        .assert_invalid_grant();
    // A sees the revoked family.
    let refused = refresh(&http, &a.issuer(), WEB, &c2.refresh_token).await;
    refused.assert_invalid_grant();
    assert!(
        refused.description().contains("revoked"),
        "{}",
        refused.body
    );
    let userinfo = http
        .get(format!("{}/userinfo", a.issuer()))
        .bearer_auth(&c2.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    // 50 concurrent presentations of a fresh token, split across A and B.
    let fresh = sign_in(&http, &b.issuer(), WEB, "alice", None).await;
    let issuers = [a.issuer(), b.issuer()];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let http = http.clone();
            let issuer = issuers[i % 2].clone();
            let token = fresh.refresh_token.clone();
            tokio::spawn(async move { refresh(&http, &issuer, WEB, &token).await })
        })
        .collect();
    let mut replies: Vec<Reply> = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let mut children = Vec::new();
    for reply in &replies {
        assert!(
            !reply.status.is_server_error(),
            "{} {}\nnode a:\n{}\nnode b:\n{}",
            reply.status,
            reply.body,
            a.log(),
            b.log()
        );
        if reply.status == StatusCode::OK {
            children.push(reply.tokens().refresh_token);
        } else {
            reply.assert_invalid_grant();
        }
    }
    // One rotation plus the default 5 grace retries.
    assert_eq!(children.len(), 6, "{children:?}");
    assert!(
        children.iter().all(|c| *c == children[0]),
        "one child, whichever node answered: {children:?}"
    );
    // The family is alive: the child works on either node.
    let next = refresh(&http, &a.issuer(), WEB, &children[0])
        .await
        .tokens();
    assert_eq!(sid_of(&next.access_token), sid_of(&fresh.access_token));

    // RFC 9449 §8 and §11.1 across nodes: a nonce minted by A is accepted by
    // B (stateless, keyed from the shared KEK), and a proof used on A is
    // refused as a replay on B (jtis live in the shared store).
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token_url = format!("{}/t/{SLUG}/token", a.base);
    let proof = |nonce: Option<&str>| {
        let mut claims = ProofClaims::new("POST", &token_url, unix_now());
        if let Some(n) = nonce {
            claims = claims.nonce(n);
        }
        key.proof(&claims).unwrap()
    };
    let first = http
        .post(format!("{}/token", a.issuer()))
        .header("DPoP", proof(None))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", WEB),
        ])
        .send()
        .await
        .unwrap();
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let redeem = |node: String, code: String, proof: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{node}/token"))
                .header("DPoP", proof)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("client_id", WEB),
                    ("code_verifier", VERIFIER),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let used = proof(Some(&nonce));
    let (status, body) = redeem(
        a.issuer(),
        challenge_code(&http, &a.issuer()).await,
        used.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let (status, body) = redeem(b.issuer(), challenge_code(&http, &b.issuer()).await, used).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "replay on the other node: {body}"
    );
    assert_eq!(body["error"], "invalid_dpop_proof");
    let (status, body) = redeem(
        b.issuer(),
        challenge_code(&http, &b.issuer()).await,
        proof(Some(&nonce)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "A's nonce on B: {body}");
    drop((a, b));
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// docs/design.md §8 ("per-account and per-address throttling kept in the
/// store, shared by all nodes"): wrong passwords sent alternately to two
/// nodes count against one limit, so the eleventh is refused (429) on
/// either node, and the right password is not checked while it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn design_s8_two_nodes_count_failed_logins_together() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        eprintln!("\n!!!!!!!! SKIPPED two_nodes throttling: PostgreSQL is unreachable. !!!!!!!!\n");
        return;
    };
    let (a, b, http) = two_nodes(&db, &[]).await;
    let attempt = |issuer: String, password: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("{issuer}/authorize-challenge"))
                .form(&[
                    ("client_id", WEB),
                    ("username", "alice"),
                    ("password", password),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            attempt(node.issuer(), "wrong password").await,
            StatusCode::BAD_REQUEST,
            "attempt {i}"
        );
    }
    for node in [&a, &b] {
        assert_eq!(
            attempt(node.issuer(), "wrong password").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            attempt(node.issuer(), PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the right password is not checked while the limit holds"
        );
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh authorization code from the first-party login API.
async fn challenge_code(http: &reqwest::Client, issuer: &str) -> String {
    let r = http
        .post(format!("{issuer}/authorize-challenge"))
        .form(&[
            ("client_id", WEB),
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    body["authorization_code"].as_str().unwrap().to_owned()
}
