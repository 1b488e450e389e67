//! Issue 11 through the real `holdfast` binary: per-client resources
//! (`client create --resource`, RFC 8707 §2), usernames that only look like
//! another are refused (invisible characters, UTS #39 confusable
//! skeletons), on SQLite and PostgreSQL; and the SQLite database, its
//! `-wal` and `-shm` files are private to the owner (0600) in a data
//! directory created 0700.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use holdfast_core::tenant::TenantSlug;
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
    let store = h.store().await;
    let tenant = store
        .tenant_by_slug(&TenantSlug::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
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
    let store = h.store().await;
    let tenant = store
        .tenant_by_slug(&TenantSlug::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
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
