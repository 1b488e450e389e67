//! No loss (issue 13): while sessions are being revoked in a burst, the
//! transmitter node is killed with SIGKILL and restarted, and the receiver
//! (`holdfast_verify::feed::RevocationFeed` with a state file) is restarted
//! too; afterwards the receiver refuses every revoked session's token and
//! holds each revocation exactly once (redeliveries deduplicated by
//! `jti`). On both back ends: SQLite survives the kill in its WAL,
//! PostgreSQL in its own log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lifecycle;
mod nodes;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use holdfast_crypto::secret::SecretString;
use holdfast_store::testing::{Backend, TestDatabase};
use holdfast_verify::Verifier;
use holdfast_verify::feed::RevocationFeed;
use lifecycle::{PASSWORD, WEB, sign_in};
use nodes::{Node, SLUG, admin, tenant_client_and_alice, two_free_ports};

const SESSIONS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_no_revocation_is_lost_when_the_transmitter_is_killed_and_the_receiver_restarts() {
    if let Some(db) = TestDatabase::create(Backend::Sqlite).await {
        no_revocation_is_lost(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_no_revocation_is_lost_when_the_transmitter_is_killed_and_the_receiver_restarts() {
    if let Some(db) = TestDatabase::create(Backend::Postgres).await {
        no_revocation_is_lost(db).await;
    }
}

async fn feed(issuer: &str, secret: &SecretString, state: &std::path::Path) -> Arc<RevocationFeed> {
    RevocationFeed::builder(issuer, "rs-feed", secret.clone())
        .state_file(state.to_owned())
        .start()
        .await
        .unwrap()
}

async fn no_revocation_is_lost(db: TestDatabase) {
    tenant_client_and_alice(&db, WEB, PASSWORD, &[]).await;
    let receiver = admin(
        &db,
        &[
            "--json",
            "client",
            "create",
            "--tenant",
            SLUG,
            "--client-id",
            "rs-feed",
            "--confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "ssf",
        ],
        None,
    )
    .await;
    let secret = SecretString::new(receiver["client_secret"].as_str().unwrap());
    let (port, _) = two_free_ports();
    let public_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut node = Node::start("a", &db, port, &public_url);
    node.wait_healthy(&http).await;
    let issuer = node.issuer();

    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        sessions.push(sign_in(&http, &issuer, WEB, "alice", None).await);
    }
    let state = db.dir.join("revocations.journal");
    let first = feed(&issuer, &secret, &state).await;

    // The burst: every session revoked, each retried until the node
    // answers (it is down for a while in the middle).
    let answered = Arc::new(AtomicUsize::new(0));
    let mut burst = Vec::new();
    for s in &sessions {
        let (http, issuer, rt, answered) = (
            http.clone(),
            issuer.clone(),
            s.refresh_token.clone(),
            answered.clone(),
        );
        burst.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let sent = http
                    .post(format!("{issuer}/revoke"))
                    .form(&[("token", rt.as_str()), ("client_id", WEB)])
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    answered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                assert!(Instant::now() < deadline, "a revocation never got through");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // Kill the transmitter once some revocations are through and restart
    // it on the same database and port; restart the receiver meanwhile.
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(Ordering::Relaxed) < SESSIONS / 4 {
        assert!(Instant::now() < deadline, "the burst did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(node); // SIGKILL, then reaped
    drop(first);
    let mut node = Node::start("a-again", &db, port, &public_url);
    node.wait_healthy(&http).await;
    let second = feed(&issuer, &secret, &state).await;
    for task in burst {
        task.await.unwrap();
    }

    let verifier = Verifier::builder(issuer.clone())
        .audience(issuer.clone())
        .revocation_check(second.clone())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for s in &sessions {
        while verifier.verify_bearer(&s.access_token).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "a revoked session's token is still accepted: {:?}\n{}",
                second.stats(),
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // What the receiver holds: each revoked session once, and the
    // verification event each of its two starts asked for (kept for
    // deduplication like any other event).
    let stats = second.stats();
    assert!(stats.verified, "{stats:?}");
    assert_eq!(
        stats.entries,
        SESSIONS + 2,
        "each revocation held exactly once: {stats:?}"
    );
    assert_eq!(stats.rejected, 0, "{stats:?}");
}
