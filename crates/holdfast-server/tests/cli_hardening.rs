//! Issue 11 through the real `holdfast` binary: per-client resources
//! (`client create --resource`, RFC 8707 §2), usernames that only look like
//! another are refused (invisible characters, UTS #39 confusable
//! skeletons), on SQLite and PostgreSQL; and the SQLite database, its
//! `-wal` and `-shm` files are private to the owner (0600) in a data
//! directory created 0700.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use support::Holdfast;

cli_on_both_backends!(
    cli_lookalike_usernames_are_refused_beside_alice,
    cli_client_create_stores_its_resources_and_refuses_malformed_ones,
);

async fn create_user(h: &Holdfast, name: &str) -> support::Run {
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
        "correct horse battery\n",
    )
    .await
}

async fn cli_lookalike_usernames_are_refused_beside_alice(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    create_user(&h, "alice").await.assert_success();

    // Cyrillic а (U+0430) for the Latin a: the same UTS #39 skeleton.
    let run = create_user(&h, "\u{0430}lice").await;
    run.assert_failure();
    assert!(
        run.stderr
            .contains("a username that looks the same as an existing one exists"),
        "{}",
        run.stderr
    );
    // Says no more than that: not which user it resembles.
    assert!(!run.stderr.contains("'alice'"), "{}", run.stderr);

    // A zero-width space (U+200B) or joiner (U+200D) inside the name.
    for invisible in ["ali\u{200B}ce", "ali\u{200D}ce", "\u{FEFF}alice"] {
        let run = create_user(&h, invisible).await;
        run.assert_failure();
        assert!(
            run.stderr
                .contains("username must not contain invisible or formatting characters"),
            "{invisible:?}: {}",
            run.stderr
        );
    }

    // Nothing was created; a name that looks different still can be.
    let (store, tenant) = h.store_and_tenant("acme").await;
    for refused in ["\u{0430}lice", "ali\u{200B}ce"] {
        let key = holdfast_core::user::normalize_username(refused);
        assert!(
            store
                .user_by_username(&tenant.id, &key)
                .await
                .unwrap()
                .is_none(),
            "{refused:?} must not exist"
        );
    }
    create_user(&h, "alicia").await.assert_success();
}

async fn cli_client_create_stores_its_resources_and_refuses_malformed_ones(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    let client = h
        .json(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "web",
            "--public",
            "--resource",
            "https://orders.example/api",
            "--resource",
            "https://billing.example/api",
        ])
        .await;
    assert_eq!(
        client["resources"],
        serde_json::json!(["https://billing.example/api", "https://orders.example/api"])
    );
    let (store, tenant) = h.store_and_tenant("acme").await;
    let stored = store
        .client_by_client_id(&tenant.id, "web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client.resources.len(), 2);

    // Default: none besides the tenant's default audience.
    let plain = h
        .json(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "plain",
            "--public",
        ])
        .await;
    assert_eq!(plain["resources"], serde_json::json!([]));

    // RFC 8707 §2: absolute, without fragment.
    let run = h
        .run(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "bad",
            "--public",
            "--resource",
            "https://api.example/#frag",
        ])
        .await;
    run.assert_failure();
    assert!(run.stderr.contains("RFC 8707"), "{}", run.stderr);
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Issue 11 §4: in a data directory that does not exist yet, `tenant
/// create` makes it 0700 and the database 0600; while `serve` runs, the
/// WAL and shared-memory files SQLite creates are 0600 too (SQLite gives
/// them the database file's mode; checked here, not assumed).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sqlite_files_are_0600_in_a_0700_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("var").join("holdfast");
    let mut cmd = support::command_for(&data_dir, None);
    cmd.args(["tenant", "create", "acme", "--json"]);
    support::run_command(cmd, None).await.assert_success();
    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(
        mode(data_dir.parent().unwrap()),
        0o700,
        "every level created"
    );
    let db = data_dir.join("holdfast.db");
    assert_eq!(mode(&db), 0o600, "the database");

    let mut serve = support::command_for(&data_dir, None);
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let served = support::serve(serve)
        .await
        .unwrap_or_else(|run| panic!("serve failed: {}", run.stderr));
    let (status, _) = support::get_json(&format!(
        "{}/t/acme/.well-known/openid-configuration",
        served.base
    ))
    .await;
    assert_eq!(status, 200);
    for file in ["holdfast.db", "holdfast.db-wal", "holdfast.db-shm"] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    drop(served);

    // A database left world-readable (by an older version, or by hand) is
    // made owner-only when it is next opened.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut list = support::command_for(&data_dir, None);
    list.args(["tenant", "list"]);
    support::run_command(list, None).await.assert_success();
    assert_eq!(mode(&db), 0o600, "an existing database is tightened");
}
