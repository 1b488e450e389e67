//! `holdfast tenant throttle`: a tenant's own login-throttling limits
//! (docs/design.md §8, OWASP ASVS 4.0.3 §2.2.1), through the real binary on both
//! back ends. Without flags it prints the limits in force; flags change one
//! limit each and keep the rest; limits that would allow more than 100
//! failed attempts per account per hour are refused and change nothing;
//! `--reset` returns to the server's configured limits.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use support::Holdfast;

cli_on_both_backends!(
    cli_tenant_throttle_sets_one_limit_and_keeps_the_rest,
    cli_tenant_throttle_refuses_more_than_100_failures_an_hour,
);

async fn cli_tenant_throttle_sets_one_limit_and_keeps_the_rest(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let defaults = h.json(&["tenant", "throttle", "acme"]).await;
    assert_eq!(defaults["pair_max_failures"], 10);
    assert_eq!(defaults["account_max_failures"], 100);
    let set = h
        .json(&["tenant", "throttle", "acme", "--pair-max-failures", "5"])
        .await;
    assert_eq!(set["pair_max_failures"], 5);
    assert_eq!(
        set["address_max_failures"],
        defaults["address_max_failures"]
    );
    // The store keeps it: a later command sees it.
    let shown = h.json(&["tenant", "throttle", "acme"]).await;
    assert_eq!(shown, set);
    let reset = h.json(&["tenant", "throttle", "acme", "--reset"]).await;
    assert_eq!(reset, defaults);
}

async fn cli_tenant_throttle_refuses_more_than_100_failures_an_hour(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let before = h.json(&["tenant", "throttle", "acme"]).await;
    let run = h
        .run(&[
            "tenant",
            "throttle",
            "acme",
            "--account-max-failures",
            "500",
        ])
        .await;
    run.assert_failure();
    assert!(run.stderr.contains("ASVS"), "{}", run.stderr);
    assert_eq!(h.json(&["tenant", "throttle", "acme"]).await, before);
    h.run(&["tenant", "throttle", "nope", "--pair-max-failures", "3"])
        .await
        .assert_failure();
}
