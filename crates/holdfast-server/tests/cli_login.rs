//! `holdfast --server URL login` (issue 16, "a device-style login"):
//! through the real binary on both back ends, a person signs the command
//! line in with the device authorization grant (RFC 8628) by approving in
//! a browser and signing in at the hosted login; later `--server`
//! commands use the kept token (in a file only its owner can read),
//! refresh it when it has expired (RFC 6749 §6), and `logout` revokes it
//! (RFC 7009) so nothing works until the next login.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;
mod flow;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use flow::{Browser, PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;
use support::Holdfast;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

cli_on_both_backends!(
    cli_login_signs_in_with_the_device_grant_and_later_commands_use_the_kept_token,
);

/// The value of hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

/// `holdfast --server BASE --json ARGS` with only the credentials file set.
async fn remote(base: &str, credentials: &std::path::Path, args: &[&str]) -> support::Run {
    let mut cmd = support::bare_command();
    cmd.args(["--server", base, "--json"])
        .args(args)
        .env("HOLDFAST_CREDENTIALS", credentials);
    support::run_command(cmd, None).await
}

async fn cli_login_signs_in_with_the_device_grant_and_later_commands_use_the_kept_token(
    h: Holdfast,
) {
    h.run_stdin(
        &[
            "admin",
            "bootstrap",
            "--username",
            "root",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )
    .await
    .assert_success();
    let served = h.served().await;
    let base = served.base.clone();
    let home = tempfile::tempdir().unwrap();
    let credentials = home.path().join("holdfast").join("credentials.json");

    // Nothing kept yet: a remote command says how to sign in.
    let before = remote(&base, &credentials, &["tenant", "list"]).await;
    before.assert_failure();
    assert!(before.stderr.contains("login"), "{}", before.stderr);

    let mut login = support::bare_command();
    login
        .args(["--server", &base, "--json", "login"])
        .env("HOLDFAST_CREDENTIALS", &credentials)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // The instructions: the page with the code filled in.
    let page = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), stderr.next_line())
            .await
            .expect("login prints where to approve")
            .unwrap()
            .expect("login is still running");
        if let Some(at) = line.find("http") {
            let url = line[at..].trim();
            if url.contains("user_code=") {
                break url.to_owned();
            }
        }
    };
    assert!(
        page.starts_with(&format!("{base}/t/admin/device")),
        "{page}"
    );

    // The person approves in a browser and signs in.
    let mut browser = Browser::new();
    let shown = browser.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown.body.contains("Holdfast command line"),
        "{}",
        shown.body
    );
    let pressed = browser
        .post_form(
            &format!("{base}/t/admin/device"),
            &[
                ("csrf_token".to_owned(), hidden(&shown.body, "csrf_token")),
                ("user_code".to_owned(), hidden(&shown.body, "user_code")),
                ("decision".to_owned(), "approve".to_owned()),
            ],
        )
        .await;
    let authorize = pressed
        .location()
        .expect("approval goes to the hosted login");
    let signed_in = browser.sign_in(authorize.as_str(), "root", PASSWORD).await;
    let back = signed_in
        .location()
        .expect("the login returns to the device page");
    let done = browser.get(back.as_str()).await;
    assert!(done.body.contains("Device signed in"), "{}", done.body);

    // The command line's next poll gets the tokens.
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("login finishes once approved")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert!(status.success(), "{out}");
    let said: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(said["user"], "root", "{said}");
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the credentials file is its owner's only"
    );

    // Later commands use the kept token.
    let listed = remote(&base, &credentials, &["tenant", "list"]).await;
    listed.assert_success();
    assert!(listed.stdout.contains("\"admin\""), "{}", listed.stdout);

    // An expired access token is refreshed (and the rotated refresh token
    // kept) without asking the person again, once for concurrent commands.
    let mut kept: Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    let entry = &mut kept["servers"][base.as_str()];
    let old_refresh = entry["refresh_token"].clone();
    entry["expires_at"] = Value::from(0);
    std::fs::write(&credentials, serde_json::to_vec(&kept).unwrap()).unwrap();
    // Two commands at once: one refreshes, the other waits for the file
    // and uses the new token (one refresh token presented twice would be
    // reuse, ending the sign-in).
    let (a, b) = tokio::join!(
        remote(&base, &credentials, &["tenant", "list"]),
        remote(&base, &credentials, &["keys", "list", "--tenant", "admin"]),
    );
    a.assert_success();
    b.assert_success();
    let renewed: Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_ne!(
        renewed["servers"][base.as_str()]["refresh_token"],
        old_refresh
    );
    assert!(
        renewed["servers"][base.as_str()]["expires_at"]
            .as_i64()
            .unwrap()
            > 0
    );

    // Logout revokes the sign-in: the old refresh token is dead at the
    // server, not only forgotten here.
    let refresh = renewed["servers"][base.as_str()]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = remote(&base, &credentials, &["logout"]).await;
    out.assert_success();
    assert_eq!(out.json()["revoked"], true, "{}", out.stdout);
    let reuse = reqwest::Client::new()
        .post(format!("{base}/t/admin/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "holdfast-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    let after = remote(&base, &credentials, &["tenant", "list"]).await;
    after.assert_failure();
    assert!(after.stderr.contains("login"), "{}", after.stderr);
}
