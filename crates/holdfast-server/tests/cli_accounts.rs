//! `holdfast tenant show|update` and the tenant's password policy (issue
//! 14), through the real binary on both back ends: settings start at their
//! defaults (registration closed, email verification optional, NIST SP
//! 800-63B password rules with the blocklist); `update` changes only the
//! flags given, refuses values outside the NIST bounds and changes nothing
//! then; every change is an audit event; `user create` and `user
//! set-password` apply the policy in force.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use support::Holdfast;

cli_on_both_backends!(
    cli_tenant_update_changes_only_the_given_settings_and_show_reads_them_back,
    cli_tenant_update_refuses_settings_outside_the_nist_bounds_and_changes_nothing,
    nist_800_63b_s5_1_1_2_cli_user_passwords_follow_the_tenants_policy,
);

async fn cli_tenant_update_changes_only_the_given_settings_and_show_reads_them_back(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let shown = h.json(&["tenant", "show", "acme"]).await;
    assert_eq!(shown["name"], "acme");
    assert_eq!(shown["registration"], "closed");
    assert_eq!(shown["email_verification"], "optional");
    assert_eq!(shown["password_min_length"], 8);
    assert_eq!(shown["password_max_length"], 1024);
    assert_eq!(shown["password_blocklist"], true);
    assert!(
        shown["issuer"].as_str().unwrap().ends_with("/t/acme"),
        "{shown}"
    );

    let updated = h
        .json(&[
            "tenant",
            "update",
            "acme",
            "--name",
            "  Acme Corp  ",
            "--registration",
            "open",
            "--email-verification",
            "required",
            "--password-min-length",
            "12",
        ])
        .await;
    assert_eq!(updated["name"], "Acme Corp", "trimmed");
    assert_eq!(updated["registration"], "open");
    assert_eq!(updated["email_verification"], "required");
    assert_eq!(updated["password_min_length"], 12);
    assert_eq!(updated["password_max_length"], 1024, "kept");
    // Another process (the running server, a later command) reads the
    // stored settings.
    assert_eq!(h.json(&["tenant", "show", "acme"]).await, updated);
    let again = h
        .json(&["tenant", "update", "acme", "--registration", "invite"])
        .await;
    assert_eq!(again["registration"], "invite");
    assert_eq!(again["email_verification"], "required", "kept");
    assert_eq!(again["name"], "Acme Corp", "kept");

    let (store, tenant) = h.store_and_tenant("acme").await;
    let changes: Vec<_> = store
        .events(&tenant.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "tenant_admin")
        .collect();
    assert_eq!(changes.len(), 2, "one audit event per change");
    assert!(
        changes
            .iter()
            .all(|e| e.reason.as_deref() == Some("settings_changed")
                && e.user_agent.as_deref() == Some("holdfast-cli")),
        "{changes:?}"
    );
}

async fn cli_tenant_update_refuses_settings_outside_the_nist_bounds_and_changes_nothing(
    h: Holdfast,
) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let before = h.json(&["tenant", "show", "acme"]).await;
    let refusals: [(&[&str], &str); 5] = [
        (&["--password-min-length", "6"], "at least 8"),
        (&["--password-max-length", "32"], "64 to 1024"),
        (
            &["--password-min-length", "100", "--password-max-length", "64"],
            "at most the maximum",
        ),
        (&["--name", "   "], "display name"),
        (&["--registration", "sometimes"], "closed, open, invite"),
    ];
    for (flags, says) in refusals {
        let mut args = vec!["tenant", "update", "acme"];
        args.extend_from_slice(flags);
        let run = h.run(&args).await;
        run.assert_failure();
        assert!(run.stderr.contains(says), "{flags:?}: {}", run.stderr);
    }
    assert_eq!(h.json(&["tenant", "show", "acme"]).await, before);
    let unknown = h
        .run(&["tenant", "update", "nope", "--registration", "open"])
        .await;
    unknown.assert_failure();
    assert!(unknown.stderr.contains("no tenant"), "{}", unknown.stderr);
}

async fn nist_800_63b_s5_1_1_2_cli_user_passwords_follow_the_tenants_policy(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let create = |password: &'static str| {
        let h = &h;
        async move {
            h.run_stdin(
                &[
                    "user",
                    "create",
                    "--tenant",
                    "acme",
                    "--username",
                    "alice",
                    "--password-stdin",
                ],
                &format!("{password}\n"),
            )
            .await
        }
    };
    // On the common-password list, ignoring case.
    let common = create("Password1234").await;
    common.assert_failure();
    assert!(common.stderr.contains("too common"), "{}", common.stderr);
    let own_name = create("ALICE").await;
    own_name.assert_failure();
    let short = create("seven c").await;
    short.assert_failure();
    assert!(short.stderr.contains("at least 8"), "{}", short.stderr);
    let (store, tenant) = h.store_and_tenant("acme").await;
    assert!(
        store
            .user_by_username(&tenant.id, "alice")
            .await
            .unwrap()
            .is_none(),
        "a refused password creates no user"
    );
    create("lunar kettle 9").await.assert_success();

    h.json(&["tenant", "update", "acme", "--password-min-length", "15"])
        .await;
    let set = |password: &'static str| {
        let h = &h;
        async move {
            h.run_stdin(
                &[
                    "user",
                    "set-password",
                    "--tenant",
                    "acme",
                    "--user",
                    "alice",
                    "--password-stdin",
                ],
                &format!("{password}\n"),
            )
            .await
        }
    };
    let too_short = set("lunar kettle 1").await;
    too_short.assert_failure();
    assert!(
        too_short.stderr.contains("at least 15"),
        "{}",
        too_short.stderr
    );
    set("a much longer lunar kettle").await.assert_success();
    h.json(&["tenant", "update", "acme", "--password-blocklist", "false"])
        .await;
    set("password1234password").await.assert_success();
}
