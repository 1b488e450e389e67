//! Retention through the real server, on both back ends: a sweep forgets
//! families that ended, and nothing a client or resource server sees
//! changes (issue 12 §6). A revoked family is refused before the sweep and
//! after it; a live one keeps rotating.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod lifecycle;
mod support;

use holdfast_server::Clock as _;
use holdfast_server::SystemClock;
use holdfast_server::service::retention::{LEASE, sweep, sweep_if_leased};
use holdfast_store::{AuditEvent, Swept};
use holdfast_testkit::TestServer;
use lifecycle::{WEB, fixture, is_active, refresh, revoke, sid_of, sign_in};
use reqwest::StatusCode;
use support::{command_for, run_command};

holdfast_testkit::on_both_backends!(
    a_sweep_forgets_a_family_revoked_longer_than_any_access_token_lives,
    only_the_node_holding_the_lease_sweeps,
    cli_retention_sweep_reports_what_it_deleted,
);

/// `holdfast retention sweep` on the database of a running server: a
/// family revoked long ago and an audit event past 400 days go; the
/// report says so, in JSON and as a table.
async fn cli_retention_sweep_reports_what_it_deleted(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let signed_in = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    // Set-up through the store: the CLI runs on the real clock, so the
    // revocation and the event are dated in the past.
    let now = SystemClock.now();
    let event = |id: &str, at: i64| AuditEvent {
        id: id.into(),
        tenant_id: f.tenant.id.clone(),
        at,
        kind: "test".into(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: None,
        user_agent: None,
        actor: None,
    };
    let long_ago = now - 2 * f.web.access_token_ttl_secs;
    server
        .state
        .store
        .revoke_session(
            &f.tenant.id,
            &sid_of(&signed_in.access_token),
            "test",
            long_ago,
            &event("revoked", long_ago),
        )
        .await
        .unwrap();
    server
        .state
        .store
        .record_event(&event("ancient", now - 401 * 86_400))
        .await
        .unwrap();

    let cli = |json: bool| {
        let mut cmd = command_for(&server.db.dir, Some(&server.db.url));
        if json {
            cmd.arg("--json");
        }
        cmd.args(["retention", "sweep"]);
        run_command(cmd, None)
    };
    let report = cli(true).await.json();
    assert_eq!(report["deleted"]["sessions"], 1, "{report}");
    assert_eq!(report["deleted"]["refresh_tokens"], 1, "{report}");
    assert_eq!(report["deleted"]["audit_events"], 1, "{report}");
    assert!(report["steps"].as_u64().unwrap() >= 1);
    let events = server
        .state
        .store
        .events(&f.tenant.id, 0, 1000)
        .await
        .unwrap();
    assert!(events.iter().all(|e| e.id != "ancient"));
    assert!(events.iter().any(|e| e.id == "revoked"));

    // Nothing is left; the table says so.
    let text = cli(false).await;
    text.assert_success();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[0].starts_with("KIND") && lines[0].ends_with("DELETED"),
        "{}",
        text.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("sessions") && l.ends_with(" 0"))
    );
    assert!(text.stdout.contains("swept 0 rows"), "{}", text.stdout);
}

async fn a_sweep_forgets_a_family_revoked_longer_than_any_access_token_lives(server: TestServer) {
    let f = fixture(&server, "acme").await;
    let http = server.http();
    let gone = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    let kept = sign_in(&http, &f.issuer, WEB, "alice", None).await;
    let child = refresh(&http, &f.issuer, WEB, &gone.refresh_token)
        .await
        .tokens();
    assert_eq!(
        revoke(&http, &f.issuer, WEB, &child.refresh_token)
            .await
            .status,
        StatusCode::OK
    );

    // Within the longest access-token lifetime the family stays: its
    // access tokens must be refused by looking it up.
    let early = sweep(&server.state).await.unwrap();
    assert_eq!(early.swept.sessions, 0, "{early:?}");

    let longest = f.web.access_token_ttl_secs;
    server.clock.advance(longest + 1);
    let report = sweep(&server.state).await.unwrap();
    assert_eq!(
        report.swept,
        Swept {
            sessions: 1,
            refresh_tokens: 2,
            auth_codes: 1,
            ..report.swept
        }
    );
    let sid = sid_of(&gone.access_token);
    assert!(
        server
            .state
            .store
            .session(&f.tenant.id, &sid)
            .await
            .unwrap()
            .is_none()
    );
    // What clients see is what they saw before the sweep.
    for token in [&gone.refresh_token, &child.refresh_token] {
        refresh(&http, &f.issuer, WEB, token)
            .await
            .assert_invalid_grant();
        assert!(!is_active(&http, &f, token).await);
    }
    // The live family is untouched and keeps rotating.
    let next = refresh(&http, &f.issuer, WEB, &kept.refresh_token)
        .await
        .tokens();
    assert!(is_active(&http, &f, &next.access_token).await);
}

async fn only_the_node_holding_the_lease_sweeps(server: TestServer) {
    let first = sweep_if_leased(&server.state, "node-a").await.unwrap();
    assert!(first.is_some());
    assert!(
        sweep_if_leased(&server.state, "node-b")
            .await
            .unwrap()
            .is_none(),
        "node-a holds the {LEASE} lease for one interval"
    );
    assert!(
        sweep_if_leased(&server.state, "node-a")
            .await
            .unwrap()
            .is_some()
    );
    server
        .clock
        .advance(server.state.config.retention.interval_secs);
    assert!(
        sweep_if_leased(&server.state, "node-b")
            .await
            .unwrap()
            .is_some()
    );
}
