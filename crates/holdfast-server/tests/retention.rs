//! Retention through the real server, on both back ends: a sweep forgets
//! families that ended, and nothing a client or resource server sees
//! changes (issue 12 §6). A revoked family is refused before the sweep and
//! after it; a live one keeps rotating.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod lifecycle;

use holdfast_server::service::retention::{LEASE, sweep, sweep_if_leased};
use holdfast_store::Swept;
use holdfast_testkit::TestServer;
use lifecycle::{WEB, fixture, is_active, refresh, revoke, sid_of, sign_in};
use reqwest::StatusCode;

holdfast_testkit::on_both_backends!(
    a_sweep_forgets_a_family_revoked_longer_than_any_access_token_lives,
    only_the_node_holding_the_lease_sweeps,
);

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
