//! The operator's view of sessions and audit events through the CLI, on the
//! database a running server uses: `holdfast session list|revoke`,
//! `holdfast user revoke-all`, `holdfast events` (DESIGN.md §7, §8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use holdfast_core::client::{ClientKind, NewClient};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    cli_lists_and_revokes_sessions_of_a_live_server,
    cli_revoke_all_ends_every_session_and_stamps_not_before,
    cli_events_lists_logins_refreshes_and_revocations,
);

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Runs the CLI on the server's database and KEK; returns parsed `--json` output.
fn cli(server: &TestServer, args: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOLDFAST_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .args(["--database-url", &server.db.url, "--data-dir"])
        .arg(&server.db.dir)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "holdfast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Signs alice in on `device`; returns the token response.
async fn sign_in(server: &TestServer, device: &str) -> Value {
    let issuer = server.issuer("acme");
    let http = server.http();
    let code: Value = http
        .post(format!("{issuer}/authorize-challenge"))
        .form(&[
            ("client_id", "web"),
            ("username", "alice"),
            ("password", "correct horse battery"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{issuer}/token"))
        .header("User-Agent", format!("agent-{device}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code["authorization_code"].as_str().unwrap()),
            ("client_id", "web"),
            ("code_verifier", VERIFIER),
            ("device_id", device),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn refresh_status(server: &TestServer, rt: &str) -> StatusCode {
    server
        .http()
        .post(format!("{}/token", server.issuer("acme")))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "web"),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

async fn setup(server: &TestServer) {
    let tenant = server.tenant("acme").await;
    server
        .client(&tenant, NewClient::new("web", ClientKind::Public))
        .await;
    server.user(&tenant, "alice", "correct horse battery").await;
}

async fn cli_lists_and_revokes_sessions_of_a_live_server(server: TestServer) {
    setup(&server).await;
    let laptop = sign_in(&server, "laptop").await;
    let phone = sign_in(&server, "phone").await;
    let listed = cli(
        &server,
        &["session", "list", "--tenant", "acme", "--user", "ALICE"],
    );
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let phone_sid = sessions.iter().find(|s| s["device_id"] == "phone").unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sessions.iter().any(|s| s["user_agent"] == "agent-laptop"));

    let revoked = cli(
        &server,
        &[
            "session",
            "revoke",
            "--tenant",
            "acme",
            "--session",
            &phone_sid,
        ],
    );
    assert_eq!(revoked["revoked"], true);
    // The running server sees it at once.
    assert_eq!(
        refresh_status(&server, phone["refresh_token"].as_str().unwrap()).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        refresh_status(&server, laptop["refresh_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let left = cli(
        &server,
        &["session", "list", "--tenant", "acme", "--user", "alice"],
    );
    assert_eq!(left.as_array().unwrap().len(), 1);
}

async fn cli_revoke_all_ends_every_session_and_stamps_not_before(server: TestServer) {
    setup(&server).await;
    let a = sign_in(&server, "a").await;
    let b = sign_in(&server, "b").await;
    let out = cli(
        &server,
        &["user", "revoke-all", "--tenant", "acme", "--user", "alice"],
    );
    assert_eq!(out["sessions_revoked"], 2);
    for tokens in [&a, &b] {
        assert_eq!(
            refresh_status(&server, tokens["refresh_token"].as_str().unwrap()).await,
            StatusCode::BAD_REQUEST
        );
        let userinfo = server
            .http()
            .get(format!("{}/userinfo", server.issuer("acme")))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    }
    // Signing in again afterwards works: the stamp is about the past.
    server.clock.advance(1);
    let fresh = sign_in(&server, "c").await;
    assert_eq!(
        refresh_status(&server, fresh["refresh_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

async fn cli_events_lists_logins_refreshes_and_revocations(server: TestServer) {
    setup(&server).await;
    let tokens = sign_in(&server, "laptop").await;
    assert_eq!(
        refresh_status(&server, tokens["refresh_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    cli(
        &server,
        &["user", "revoke-all", "--tenant", "acme", "--user", "alice"],
    );
    let events = cli(&server, &["events", "--tenant", "acme", "--since", "1h"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["login_succeeded", "refresh", "revocation"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let login = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "login_succeeded")
        .unwrap();
    assert_eq!(login["client_id"], "web");
    assert_eq!(login["ip"], "127.0.0.1");
    // --since in the future shows nothing.
    let none = cli(
        &server,
        &["events", "--tenant", "acme", "--since", "9999999999"],
    );
    assert!(none.as_array().unwrap().is_empty());
}
