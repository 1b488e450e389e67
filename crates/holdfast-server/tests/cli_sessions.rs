//! The operator's view of sessions and audit events through the CLI, on the
//! database a running server uses: `holdfast session list|revoke`,
//! `holdfast user revoke-all`, `holdfast events` (docs/design.md §7, §8).

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
    cli_session_list_text_is_aligned_columns_with_a_header_times_and_username,
    cli_events_text_is_aligned_columns_with_a_header_times_and_username,
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

/// Runs the CLI on the server's database and KEK without `--json`; returns stdout.
fn cli_text(server: &TestServer, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOLDFAST_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .args(["--database-url", &server.db.url, "--data-dir"])
        .arg(&server.db.dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "holdfast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A text table as `(title, cell)` pairs per row, cut where the header's
/// titles begin; panics unless every cell starts exactly under its title
/// (a space before it, text at it), which is what aligned means.
fn table(text: &str, titles: &[&str]) -> Vec<Vec<(String, String)>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut starts = Vec::new();
    let mut from = 0;
    for title in titles {
        let at = from
            + header[from..]
                .find(title)
                .unwrap_or_else(|| panic!("{title} not in {header:?}"));
        starts.push(at);
        from = at + title.len();
    }
    assert_eq!(starts[0], 0, "{header:?}");
    lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            starts
                .iter()
                .enumerate()
                .map(|(i, &start)| {
                    assert!(
                        chars.get(start).is_some_and(|c| *c != ' ')
                            && (start == 0 || chars[start - 1] == ' '),
                        "column {} does not start under its title:\n{text}",
                        titles[i]
                    );
                    let end = starts.get(i + 1).copied().unwrap_or(chars.len());
                    let cell: String = chars[start..end.min(chars.len())].iter().collect();
                    (titles[i].to_owned(), cell.trim().to_owned())
                })
                .collect()
        })
        .collect()
}

fn column<'a>(row: &'a [(String, String)], title: &str) -> &'a str {
    &row.iter().find(|(t, _)| t == title).unwrap().1
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

async fn cli_session_list_text_is_aligned_columns_with_a_header_times_and_username(
    server: TestServer,
) {
    setup(&server).await;
    sign_in(&server, "laptop").await;
    server.clock.advance(90);
    sign_in(&server, "a-much-longer-device-name").await;
    let listed = cli(
        &server,
        &["session", "list", "--tenant", "acme", "--user", "alice"],
    );
    let text = cli_text(
        &server,
        &["session", "list", "--tenant", "acme", "--user", "alice"],
    );
    let titles = [
        "SESSION",
        "USER",
        "CLIENT",
        "DEVICE",
        "CREATED",
        "LAST USED",
        "IP",
        "USER AGENT",
    ];
    let rows = table(&text, &titles);
    assert_eq!(rows.len(), 2, "{text}");
    for session in listed.as_array().unwrap() {
        assert_eq!(session["username"], "alice");
        let row = rows
            .iter()
            .find(|r| column(r, "SESSION") == session["sid"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{session} not listed:\n{text}"));
        assert_eq!(column(row, "USER"), "alice");
        assert_eq!(column(row, "CLIENT"), "web");
        assert_eq!(
            column(row, "DEVICE"),
            session["device_id"].as_str().unwrap()
        );
        // RFC 3339 §5.6, UTC.
        let created = holdfast_server::cli::output::time(session["created_at"].as_i64().unwrap());
        assert_eq!(column(row, "CREATED"), created);
        assert!(created.ends_with('Z') && created.contains('T'), "{created}");
        assert_eq!(
            column(row, "USER AGENT"),
            session["user_agent"].as_str().unwrap()
        );
    }
}

async fn cli_events_text_is_aligned_columns_with_a_header_times_and_username(server: TestServer) {
    setup(&server).await;
    let tokens = sign_in(&server, "laptop").await;
    refresh_status(&server, tokens["refresh_token"].as_str().unwrap()).await;
    let events = cli(&server, &["events", "--tenant", "acme"]);
    let text = cli_text(&server, &["events", "--tenant", "acme"]);
    let titles = ["AT", "KIND", "USER", "CLIENT", "SESSION", "REASON", "IP"];
    let rows = table(&text, &titles);
    let events = events.as_array().unwrap();
    assert_eq!(rows.len(), events.len(), "{text}");
    for (event, row) in events.iter().zip(&rows) {
        assert_eq!(column(row, "KIND"), event["kind"].as_str().unwrap());
        assert_eq!(
            column(row, "AT"),
            holdfast_server::cli::output::time(event["at"].as_i64().unwrap())
        );
    }
    let login = events
        .iter()
        .position(|e| e["kind"] == "login_succeeded")
        .unwrap();
    assert_eq!(events[login]["username"], "alice");
    assert!(events[login]["user_id"].is_string(), "{}", events[login]);
    assert_eq!(column(&rows[login], "USER"), "alice", "{text}");
    assert_eq!(column(&rows[login], "CLIENT"), "web");
    assert_eq!(column(&rows[login], "IP"), "127.0.0.1");
}
