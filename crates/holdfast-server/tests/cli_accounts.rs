//! `holdfast tenant show|update` and the tenant's password policy (issue
//! 14), through the real binary on both back ends: settings start at their
//! defaults (registration closed, email verification optional, NIST SP
//! 800-63B password rules with the blocklist); `update` changes only the
//! flags given, refuses values outside the NIST bounds and changes nothing
//! then; every change is an audit event; `user create` and `user
//! set-password` apply the policy in force; `user list|show`, `client show|delete`
//! and `tenant delete` administer what exists.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use support::Holdfast;

cli_on_both_backends!(
    cli_tenant_update_changes_only_the_given_settings_and_show_reads_them_back,
    cli_tenant_update_refuses_settings_outside_the_nist_bounds_and_changes_nothing,
    nist_800_63b_s5_1_1_2_cli_user_passwords_follow_the_tenants_policy,
    cli_user_list_pages_by_username_and_show_tells_the_state,
    cli_client_show_prints_settings_without_secret_and_delete_removes_it,
    cli_tenant_delete_removes_the_tenant_with_everything_it_holds_and_only_it,
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
            &[
                "--password-min-length",
                "100",
                "--password-max-length",
                "64",
            ],
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

async fn cli_user_list_pages_by_username_and_show_tells_the_state(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    for name in ["carol", "Alice", "bob"] {
        h.run_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                name,
                "--password-stdin",
            ],
            "lunar kettle 9\n",
        )
        .await
        .assert_success();
    }
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = h.json(&["user", "list", "--tenant", "acme"]).await;
    assert_eq!(
        names(all),
        ["Alice", "bob", "carol"],
        "by username, case-insensitively"
    );
    let first = h
        .json(&["user", "list", "--tenant", "acme", "--limit", "2"])
        .await;
    assert_eq!(names(first), ["Alice", "bob"]);
    let rest = h
        .json(&["user", "list", "--tenant", "acme", "--after", "BOB"])
        .await;
    assert_eq!(names(rest), ["carol"]);

    h.run(&["user", "disable", "--tenant", "acme", "--user", "bob"])
        .await
        .assert_success();
    let bob = h
        .json(&["user", "show", "--tenant", "acme", "--user", "BOB"])
        .await;
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["disabled"], true);
    assert_eq!(bob["live_sessions"], 0);
    let missing = h
        .run(&["user", "show", "--tenant", "acme", "--user", "dave"])
        .await;
    missing.assert_failure();
    assert!(
        missing.stderr.contains("no user 'dave'"),
        "{}",
        missing.stderr
    );
}

async fn cli_client_show_prints_settings_without_secret_and_delete_removes_it(h: Holdfast) {
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let created = h
        .json(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "svc",
            "--confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "ssf",
        ])
        .await;
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let shown = h
        .run(&[
            "client",
            "show",
            "--tenant",
            "acme",
            "--client-id",
            "svc",
            "--json",
        ])
        .await;
    let value = shown.json();
    assert_eq!(value["client_id"], "svc");
    assert_eq!(value["kind"], "confidential");
    assert!(value.get("client_secret").is_none());
    assert!(
        !shown.stdout.contains(&secret),
        "the secret is never shown again"
    );
    let deleted = h
        .json(&["client", "delete", "--tenant", "acme", "--client-id", "svc"])
        .await;
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["sessions_ended"], 0);
    let again = h
        .run(&["client", "show", "--tenant", "acme", "--client-id", "svc"])
        .await;
    again.assert_failure();
    assert!(again.stderr.contains("no client 'svc'"), "{}", again.stderr);
    let twice = h
        .run(&["client", "delete", "--tenant", "acme", "--client-id", "svc"])
        .await;
    twice.assert_failure();
    assert!(twice.stderr.contains("no client 'svc'"), "{}", twice.stderr);
    let (store, tenant) = h.store_and_tenant("acme").await;
    let audited = store
        .events(&tenant.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .any(|e| e.kind == "client_admin" && e.client_id.as_deref() == Some("svc"));
    assert!(audited, "the deletion is an audit event");
}

async fn cli_tenant_delete_removes_the_tenant_with_everything_it_holds_and_only_it(h: Holdfast) {
    for slug in ["acme", "other"] {
        h.run(&["tenant", "create", slug]).await.assert_success();
        h.run(&[
            "client",
            "create",
            "--tenant",
            slug,
            "--client-id",
            "web",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
        ])
        .await
        .assert_success();
        h.run_stdin(
            &[
                "user",
                "create",
                "--tenant",
                slug,
                "--username",
                "ada",
                "--password-stdin",
            ],
            "lunar kettle 9\n",
        )
        .await
        .assert_success();
    }
    let (store, acme) = h.store_and_tenant("acme").await;
    let deleted = h.json(&["tenant", "delete", "acme"]).await;
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["slug"], "acme");
    let shown = h.run(&["tenant", "show", "acme"]).await;
    shown.assert_failure();
    assert!(shown.stderr.contains("acme"), "{}", shown.stderr);
    assert!(store.tenant_by_id(&acme.id).await.unwrap().is_none());
    assert!(store.list_clients(&acme.id).await.unwrap().is_empty());
    assert!(
        store
            .user_by_username(&acme.id, "ada")
            .await
            .unwrap()
            .is_none(),
        "its users go with it"
    );
    let audited = store
        .events(&acme.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .any(|e| e.kind == "tenant" && e.reason.as_deref() == Some("tenant_deleted"));
    assert!(audited, "the deletion is an audit event, and the log stays");
    // The other tenant keeps everything.
    let (_, other) = h.store_and_tenant("other").await;
    assert_eq!(store.list_clients(&other.id).await.unwrap().len(), 1);
    assert!(
        store
            .user_by_username(&other.id, "ada")
            .await
            .unwrap()
            .is_some()
    );
    let twice = h.run(&["tenant", "delete", "acme"]).await;
    twice.assert_failure();
}
