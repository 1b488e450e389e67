//! `holdfast admin bootstrap|grant` (issue 16), through the real binary on
//! both back ends: a server without administrators says how to make the
//! first; bootstrap makes the administration tenant, the console's client,
//! a whole-server administrator (password generated and printed once) and
//! an automation client whose client-credentials token (RFC 6749 §4.4)
//! reaches the admin API; `serve` registers the console for its own public
//! URL; a grant gives one tenant and is audited.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use serde_json::Value;
use support::Holdfast;

cli_on_both_backends!(
    cli_admin_bootstrap_makes_an_administrator_and_an_automation_client_that_reach_the_admin_api,
    cli_admin_grant_gives_one_existing_tenant_and_is_audited,
);

async fn cli_admin_bootstrap_makes_an_administrator_and_an_automation_client_that_reach_the_admin_api(
    h: Holdfast,
) {
    // Before any administrator: the hint, once, at start.
    let before = h.served().await;
    let hints = before
        .log
        .iter()
        .filter(|l| l.contains("holdfast admin bootstrap"))
        .count();
    assert_eq!(hints, 1, "{:#?}", before.log);
    drop(before);

    let made = h
        .json(&["admin", "bootstrap", "--automation-client", "ops"])
        .await;
    assert_eq!(made["tenant"], "admin");
    assert_eq!(made["tenant_created"], true);
    assert_eq!(made["user"]["username"], "admin");
    assert!(made["password"].as_str().unwrap().len() >= 32, "{made}");
    let secret = made["automation_client"]["client_secret"].as_str().unwrap();

    // Running it again makes no second administrator of the same name.
    let again = h.run(&["admin", "bootstrap"]).await;
    again.assert_failure();
    assert!(again.stderr.contains("already"), "{}", again.stderr);

    let server = h.served().await;
    assert!(
        !server
            .log
            .iter()
            .any(|l| l.contains("no administrator yet")),
        "{:#?}",
        server.log
    );
    // The console's client knows this server's URL.
    let console = h
        .json(&[
            "client",
            "show",
            "--tenant",
            "admin",
            "--client-id",
            "console",
        ])
        .await;
    let wanted = format!("{}/admin/", server.base);
    assert!(
        console["redirect_uris"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == wanted.as_str()),
        "{console}"
    );
    assert_eq!(console["dpop_required"], true);
    assert_eq!(console["kind"], "public");

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/t/admin/token", server.base))
        .basic_auth("ops", Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "holdfast:admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().expect("a token");
    let me: Value = http
        .get(format!("{}/admin/v1/me", server.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["server_admin"], true, "{me}");
    assert_eq!(me["actor"], "client:ops");

    // The console page is served, pointing at the administration tenant.
    let page = http
        .get(format!("{}/admin/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"content="{}/t/admin""#, server.base)));
}

async fn cli_admin_grant_gives_one_existing_tenant_and_is_audited(h: Holdfast) {
    // No administration tenant yet: a clear refusal.
    let early = h
        .run(&["admin", "grant", "--username", "helper", "--whole-server"])
        .await;
    early.assert_failure();
    assert!(
        early.stderr.contains("holdfast admin bootstrap"),
        "{}",
        early.stderr
    );

    h.run_stdin(
        &[
            "admin",
            "bootstrap",
            "--username",
            "root",
            "--password-stdin",
        ],
        "correct horse battery staple\n",
    )
    .await
    .assert_success();
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    h.run_stdin(
        &[
            "user",
            "create",
            "--tenant",
            "admin",
            "--username",
            "helper",
            "--password-stdin",
        ],
        "another long password\n",
    )
    .await
    .assert_success();

    let granted = h
        .json(&["admin", "grant", "--username", "helper", "--tenant", "acme"])
        .await;
    assert_eq!(granted["granted"], "holdfast:admin:acme");
    // A tenant that does not exist is refused, not granted.
    h.run(&["admin", "grant", "--username", "helper", "--tenant", "nope"])
        .await
        .assert_failure();
    // Neither or both of --tenant and --server is a usage error.
    h.run(&["admin", "grant", "--username", "helper"])
        .await
        .assert_failure();

    let (store, admin) = h.store_and_tenant("admin").await;
    let user = store
        .user_by_username(&admin.id, "helper")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.admin_grants(&user.user.id).await.unwrap(),
        ["holdfast:admin:acme"]
    );
    let events = h.json(&["events", "--tenant", "admin"]).await;
    let grants: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .filter(|r| r.starts_with("admin_granted:"))
        .collect();
    assert_eq!(
        grants,
        [
            "admin_granted:holdfast:admin",
            "admin_granted:holdfast:admin:acme"
        ]
    );
}
