//! The `holdfast` command line, end to end: the real binary over a fresh
//! data directory, on SQLite (the default database inside `--data-dir`) and
//! on PostgreSQL (`--database-url`).
//!
//! Requirements checked: administrative commands print JSON with `--json`;
//! client secrets are generated (256 random bits, `hfcs_` prefix) and shown
//! once; passwords never come from argv; conflicts fail with a clear message
//! and change nothing; key rotation promotes `next`; migrations are
//! idempotent; the KEK file is created private (0600).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_crypto::secret::SecretString;
use holdfast_server::config::PasswordParams;
use holdfast_server::service::password::PasswordHasher;
use serde_json::Value;
use support::Holdfast;

cli_on_both_backends!(
    cli_tenant_create_json_reports_slug_and_issuer,
    cli_tenant_list_json_lists_every_tenant_by_slug,
    cli_invalid_tenant_slug_is_refused_with_the_rule,
    cli_duplicate_tenant_slug_fails_clearly_and_changes_nothing,
    cli_confidential_client_gets_a_256_bit_hfcs_secret_shown_once,
    cli_public_client_has_no_secret,
    cli_client_for_unknown_tenant_fails_clearly,
    design_s4_cli_unbound_grace_is_an_explicit_opt_in_stated_as_a_risk,
    design_s4_cli_rotation_none_needs_a_confidential_or_dpop_required_client,
    cli_user_password_is_read_from_stdin_and_stored_as_argon2id,
    cli_duplicate_username_differing_only_in_case_fails_and_changes_nothing,
    cli_password_in_argv_is_refused_by_the_parser,
    cli_keys_rotate_promotes_next_to_current,
    oidc_registration_s2_cli_client_with_rs256_id_tokens_gets_rs256_keys_rotated_with_the_rest,
    oidc_discovery_s3_cli_rs256_tenant_is_accepted,
    cli_migrate_is_idempotent,
    cli_kek_file_is_created_in_the_data_dir_with_mode_0600,
);

async fn create_acme(h: &Holdfast) -> Value {
    h.json(&["tenant", "create", "acme"]).await
}

/// `(current kid, next kid)` from `keys list --json`.
async fn current_and_next(h: &Holdfast, tenant: &str) -> (String, String) {
    let keys = h.json(&["keys", "list", "--tenant", tenant]).await;
    let kid_in = |state: &str| {
        let matching: Vec<&Value> = keys
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == state)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "exactly one {state} key expected in {keys}"
        );
        matching[0]["kid"].as_str().unwrap().to_owned()
    };
    (kid_in("current"), kid_in("next"))
}

async fn cli_tenant_create_json_reports_slug_and_issuer(h: Holdfast) {
    let tenant = create_acme(&h).await;
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(tenant["signing_alg"], "ES256");
    // No public URL configured: the default listen address is the base.
    assert_eq!(tenant["issuer"], "http://127.0.0.1:8080/t/acme");
    assert_eq!(tenant["audience"], tenant["issuer"]);
    assert!(
        tenant["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{tenant}"
    );

    let eddsa = h
        .json(&[
            "tenant",
            "create",
            "beta",
            "--signing-alg",
            "EdDSA",
            "--name",
            "Beta Corp",
        ])
        .await;
    assert_eq!(eddsa["signing_alg"], "EdDSA");
    assert_eq!(eddsa["name"], "Beta Corp");

    if h.database_url.is_none() {
        assert!(
            h.dir().join("holdfast.db").is_file(),
            "the SQLite default lives in --data-dir"
        );
    }
}

async fn cli_tenant_list_json_lists_every_tenant_by_slug(h: Holdfast) {
    assert_eq!(h.json(&["tenant", "list"]).await, serde_json::json!([]));
    h.json(&["tenant", "create", "zeta"]).await;
    create_acme(&h).await;
    let list = h.json(&["tenant", "list"]).await;
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "zeta"]);
    let human = h.run(&["tenant", "list"]).await;
    human.assert_success();
    assert!(
        human.stdout.contains("acme") && human.stdout.contains("zeta"),
        "{}",
        human.stdout
    );
}

async fn cli_invalid_tenant_slug_is_refused_with_the_rule(h: Holdfast) {
    for bad in ["Acme", "a/b", "-acme", "..", ""] {
        // After `--`, so "-acme" reaches the slug check rather than clap.
        let run = h.run(&["tenant", "create", "--", bad]).await;
        run.assert_failure();
        assert!(
            run.stderr.contains("tenant slug must be"),
            "{bad:?}: {}",
            run.stderr
        );
    }
    assert_eq!(h.json(&["tenant", "list"]).await, serde_json::json!([]));
}

async fn cli_duplicate_tenant_slug_fails_clearly_and_changes_nothing(h: Holdfast) {
    create_acme(&h).await;
    let before = h.json(&["tenant", "list"]).await;
    let keys_before = h.json(&["keys", "list", "--tenant", "acme"]).await;

    let run = h
        .run(&[
            "tenant",
            "create",
            "acme",
            "--signing-alg",
            "EdDSA",
            "--json",
        ])
        .await;
    run.assert_failure();
    assert!(
        run.stderr
            .contains("a tenant with slug 'acme' already exists"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.trim().is_empty(),
        "nothing printed as a result: {}",
        run.stdout
    );

    assert_eq!(h.json(&["tenant", "list"]).await, before);
    assert_eq!(
        h.json(&["keys", "list", "--tenant", "acme"]).await,
        keys_before
    );
}

async fn cli_confidential_client_gets_a_256_bit_hfcs_secret_shown_once(h: Holdfast) {
    create_acme(&h).await;
    let create = |id: &'static str| {
        let h = &h;
        async move {
            h.json(&[
                "client",
                "create",
                "--tenant",
                "acme",
                "--client-id",
                id,
                "--confidential",
                "--redirect-uri",
                "https://app.example.com/cb",
            ])
            .await
        }
    };
    let web = create("web").await;
    assert_eq!(web["client_id"], "web");
    assert_eq!(web["kind"], "confidential");
    assert_eq!(
        web["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb"])
    );
    let secret = web["client_secret"].as_str().unwrap();
    let body = secret
        .strip_prefix("hfcs_")
        .unwrap_or_else(|| panic!("secret without hfcs_ prefix: {secret}"));
    let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
    assert!(raw.len() * 8 >= 256, "only {} random bits", raw.len() * 8);

    let other = create("web2").await;
    assert_ne!(
        other["client_secret"], web["client_secret"],
        "secrets must be fresh randomness"
    );

    // Shown once: neither the listing nor the store holds it in clear.
    let listed = h
        .run(&["client", "list", "--tenant", "acme", "--json"])
        .await;
    listed.assert_success();
    assert!(
        !listed.stdout.contains(body),
        "client list leaks the secret"
    );
    let (store, tenant) = h.store_and_tenant("acme").await;
    let record = store
        .client_by_client_id(&tenant.id, "web")
        .await
        .unwrap()
        .unwrap();
    let digest = record
        .secret_digest
        .expect("a confidential client has a secret digest");
    assert!(!digest.contains(body), "the secret is stored in clear");
}

async fn cli_public_client_has_no_secret(h: Holdfast) {
    create_acme(&h).await;
    let spa = h
        .json(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "spa",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/cb",
        ])
        .await;
    assert_eq!(spa["kind"], "public");
    assert!(
        spa.get("client_secret").is_none(),
        "public client got a secret: {spa}"
    );
    let list = h.json(&["client", "list", "--tenant", "acme"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["client_id"], "spa");

    // Exactly one of --public / --confidential.
    let neither = h
        .run(&["client", "create", "--tenant", "acme", "--client-id", "x"])
        .await;
    neither.assert_failure();
    let both = h
        .run(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "x",
            "--public",
            "--confidential",
        ])
        .await;
    both.assert_failure();
    assert_eq!(h.json(&["client", "list", "--tenant", "acme"]).await, list);
}

async fn cli_client_for_unknown_tenant_fails_clearly(h: Holdfast) {
    let run = h
        .run(&[
            "client",
            "create",
            "--tenant",
            "nope",
            "--client-id",
            "web",
            "--public",
        ])
        .await;
    run.assert_failure();
    assert!(
        run.stderr.contains("no tenant with slug 'nope'"),
        "{}",
        run.stderr
    );
}

/// `holdfast client create [args] --json` for client `id` in
/// tenant `acme`.
async fn client_in_acme(h: &Holdfast, id: &str, args: &[&str]) -> support::Run {
    let mut all = vec![
        "client",
        "create",
        "--tenant",
        "acme",
        "--client-id",
        id,
        "--json",
    ];
    all.extend_from_slice(args);
    h.run(&all).await
}

/// docs/design.md §4 step 4, "Grace needs proof of the holder": grace for a
/// public client's unbound refresh tokens is off unless the client is
/// created with `--unbound-grace-accept-risk`, whose help states the risk.
/// The setting is stored with the client, and refused (creating nothing)
/// where it would change nothing: a confidential client, DPoP required, or
/// a rotation mode without a grace window.
async fn design_s4_cli_unbound_grace_is_an_explicit_opt_in_stated_as_a_risk(h: Holdfast) {
    create_acme(&h).await;
    let help = h.run(&["client", "create", "--help"]).await;
    help.assert_success();
    let flag_help = help
        .stdout
        .split("--unbound-grace-accept-risk")
        .nth(1)
        .unwrap_or_default();
    assert!(
        flag_help.contains("RISKY") && flag_help.contains("takes over the session"),
        "{}",
        help.stdout
    );

    let plain = client_in_acme(&h, "spa", &["--public"]).await.json();
    assert_eq!(plain["unbound_grace_accept_risk"], false, "{plain}");
    let opted = client_in_acme(&h, "legacy", &["--public", "--unbound-grace-accept-risk"]).await;
    assert_eq!(
        opted.json()["unbound_grace_accept_risk"],
        true,
        "{}",
        opted.stdout
    );
    let human = h
        .run(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "legacy-2",
            "--public",
            "--unbound-grace-accept-risk",
        ])
        .await;
    human.assert_success();
    assert!(human.stdout.contains("warning"), "{}", human.stdout);

    let (store, tenant) = h.store_and_tenant("acme").await;
    for (id, expected) in [("spa", false), ("legacy", true)] {
        let stored = store
            .client_by_client_id(&tenant.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.client.refresh.unbound_grace_accept_risk, expected,
            "{id}"
        );
    }

    let before = h.json(&["client", "list", "--tenant", "acme"]).await;
    for (args, says) in [
        (vec!["--confidential"], "public clients"),
        (vec!["--public", "--dpop-required"], "DPoP required"),
        (vec!["--public", "--rotation", "strict"], "confirmed"),
    ] {
        let mut all = args.clone();
        all.push("--unbound-grace-accept-risk");
        let refused = client_in_acme(&h, "nope", &all).await;
        refused.assert_failure();
        assert!(
            refused.stderr.contains(says),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(
        h.json(&["client", "list", "--tenant", "acme"]).await,
        before
    );
}

/// docs/design.md §4: "A client may choose `rotation = none` only when its RTs
/// are DPoP-bound or it is confidential."
async fn design_s4_cli_rotation_none_needs_a_confidential_or_dpop_required_client(h: Holdfast) {
    create_acme(&h).await;
    let refused = client_in_acme(&h, "spa", &["--public", "--rotation", "none"]).await;
    refused.assert_failure();
    assert!(
        refused
            .stderr
            .contains("rotation 'none' needs a confidential or DPoP-required client"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        h.json(&["client", "list", "--tenant", "acme"]).await,
        serde_json::json!([])
    );
    client_in_acme(
        &h,
        "bound",
        &["--public", "--dpop-required", "--rotation", "none"],
    )
    .await
    .assert_success();
    client_in_acme(&h, "server", &["--confidential", "--rotation", "none"])
        .await
        .assert_success();
}

async fn cli_user_password_is_read_from_stdin_and_stored_as_argon2id(h: Holdfast) {
    create_acme(&h).await;
    let password = "correct horse battery staple";
    let run = h
        .run_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "Alice",
                "--password-stdin",
                "--email",
                "a@example.com",
                "--json",
            ],
            &format!("{password}\n"),
        )
        .await;
    let user = run.json();
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "a@example.com");
    assert_eq!(user["tenant"], "acme");
    assert!(
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "the password is echoed"
    );

    let (store, tenant) = h.store_and_tenant("acme").await;
    let record = store
        .user_by_username(&tenant.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.user.id, user["id"].as_str().unwrap());
    assert!(
        record.password_hash.starts_with("$argon2id$"),
        "{}",
        record.password_hash
    );
    let hasher = PasswordHasher::new(PasswordParams::default());
    // The trailing newline from the pipe is not part of the password.
    let phc = Some(record.password_hash.clone());
    assert!(
        hasher
            .verify(SecretString::new(password), phc.clone())
            .await
            .unwrap()
    );
    assert!(
        !hasher
            .verify(SecretString::new(format!("{password}\n")), phc)
            .await
            .unwrap()
    );

    let short = h
        .run_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "bob",
                "--password-stdin",
            ],
            "short\n",
        )
        .await;
    short.assert_failure();
    assert!(
        short.stderr.contains("at least 8 characters"),
        "{}",
        short.stderr
    );
}

async fn cli_duplicate_username_differing_only_in_case_fails_and_changes_nothing(h: Holdfast) {
    create_acme(&h).await;
    let args = |name: &'static str| {
        [
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            name,
            "--password-stdin",
        ]
    };
    h.run_stdin(&args("Alice"), "first password\n")
        .await
        .assert_success();
    let (store, tenant) = h.store_and_tenant("acme").await;
    let before = store
        .user_by_username(&tenant.id, "alice")
        .await
        .unwrap()
        .unwrap();

    let run = h.run_stdin(&args("ALICE"), "second password\n").await;
    run.assert_failure();
    assert!(
        run.stderr.contains("already has a user named 'ALICE'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("case-insensitive"), "{}", run.stderr);

    let after = store
        .user_by_username(&tenant.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "the existing user must be untouched");
}

async fn cli_password_in_argv_is_refused_by_the_parser(h: Holdfast) {
    create_acme(&h).await;
    let run = h
        .run(&[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "mallory",
            "--password",
            "hunter2hunter2",
        ])
        .await;
    run.assert_failure();
    // clap's usage error: exit status 2, the flag named as unexpected.
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("unexpected argument '--password'"),
        "{}",
        run.stderr
    );

    // --password-stdin is required: no way to create a user without it.
    let missing = h
        .run(&[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "mallory",
        ])
        .await;
    assert_eq!(missing.status.code(), Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("--password-stdin"),
        "{}",
        missing.stderr
    );

    let (store, tenant) = h.store_and_tenant("acme").await;
    assert!(
        store
            .user_by_username(&tenant.id, "mallory")
            .await
            .unwrap()
            .is_none()
    );
}

async fn cli_keys_rotate_promotes_next_to_current(h: Holdfast) {
    create_acme(&h).await;
    let (current, next) = current_and_next(&h, "acme").await;
    assert_ne!(current, next);

    let rotated = h.json(&["keys", "rotate", "--tenant", "acme"]).await;
    assert_eq!(
        rotated["current_kid"],
        next.as_str(),
        "the previous next key signs now"
    );
    let new_next = rotated["next_kid"].as_str().unwrap().to_owned();
    assert!(new_next != current && new_next != next, "a fresh next key");

    let (current_after, next_after) = current_and_next(&h, "acme").await;
    assert_eq!(current_after, next);
    assert_eq!(next_after, new_next);
    let keys = h.json(&["keys", "list", "--tenant", "acme"]).await;
    let old = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == current.as_str())
        .unwrap();
    assert_eq!(old["state"], "retired");
    assert!(old["retired_at"].as_i64().is_some(), "{old}");
    assert_eq!(keys.as_array().unwrap().len(), 3);

    let unknown = h.run(&["keys", "rotate", "--tenant", "nope"]).await;
    unknown.assert_failure();
    assert!(
        unknown.stderr.contains("no tenant with slug 'nope'"),
        "{}",
        unknown.stderr
    );
}

/// The keys of `alg` in `keys list --json`, as `(state, kid)`.
async fn keys_of_alg(h: &Holdfast, tenant: &str, alg: &str) -> Vec<(String, String)> {
    let keys = h.json(&["keys", "list", "--tenant", tenant]).await;
    keys.as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| {
            (
                k["state"].as_str().unwrap().to_owned(),
                k["kid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// OIDC Registration §2 `id_token_signed_response_alg` through `holdfast
/// client create --id-token-signed-response-alg RS256`: the tenant gets an
/// RS256 pair beside its ES256 keys, `keys rotate` rotates both, and an
/// algorithm the tenant cannot sign ID tokens with is refused.
async fn oidc_registration_s2_cli_client_with_rs256_id_tokens_gets_rs256_keys_rotated_with_the_rest(
    h: Holdfast,
) {
    create_acme(&h).await;
    let client = |id: &'static str, alg: Option<&'static str>| {
        let mut args = vec![
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            id,
            "--public",
            "--redirect-uri",
            "https://rp.example.com/cb",
        ];
        if let Some(alg) = alg {
            args.extend(["--id-token-signed-response-alg", alg]);
        }
        args
    };
    let plain = h.json(&client("plain", None)).await;
    assert_eq!(plain["id_token_signed_response_alg"], "ES256");
    assert!(keys_of_alg(&h, "acme", "RS256").await.is_empty());

    let rp = h.json(&client("rp", Some("RS256"))).await;
    assert_eq!(rp["id_token_signed_response_alg"], "RS256");
    let mut rsa = keys_of_alg(&h, "acme", "RS256").await;
    rsa.sort();
    let states: Vec<&str> = rsa.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["current", "next"]);
    // A second RS256 client reuses the pair.
    h.json(&client("rp2", Some("RS256"))).await;
    assert_eq!(keys_of_alg(&h, "acme", "RS256").await.len(), 2);

    let rotated = h.json(&["keys", "rotate", "--tenant", "acme"]).await;
    let algs: Vec<&str> = rotated["rotated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["ES256", "RS256"], "{rotated}");
    let rs = &rotated["rotated"][1];
    let (_, old_current) = rsa.iter().find(|(s, _)| s == "current").unwrap();
    let (_, old_next) = rsa.iter().find(|(s, _)| s == "next").unwrap();
    assert_eq!(rs["current_kid"], old_next.as_str(), "{rotated}");
    let after = keys_of_alg(&h, "acme", "RS256").await;
    assert_eq!(after.len(), 3);
    assert!(after.contains(&("retired".to_owned(), old_current.clone())));
    assert_eq!(keys_of_alg(&h, "acme", "ES256").await.len(), 3);

    let refused = h.run(&client("ed", Some("EdDSA"))).await;
    refused.assert_failure();
    assert!(
        refused.stderr.contains("id_token_signed_response_alg"),
        "{}",
        refused.stderr
    );
    let refused = h.run(&client("hs", Some("HS256"))).await;
    refused.assert_failure();
}

/// OIDC Discovery 1.0 §3: RS256 is a signing algorithm Holdfast offers, so a
/// tenant may also sign everything with it.
async fn oidc_discovery_s3_cli_rs256_tenant_is_accepted(h: Holdfast) {
    let tenant = h
        .json(&["tenant", "create", "rsa", "--signing-alg", "RS256"])
        .await;
    assert_eq!(tenant["signing_alg"], "RS256");
    let mut rsa = keys_of_alg(&h, "rsa", "RS256").await;
    rsa.sort();
    let states: Vec<&str> = rsa.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["current", "next"]);
}

async fn cli_migrate_is_idempotent(h: Holdfast) {
    for _ in 0..2 {
        let out = h.json(&["migrate"]).await;
        assert_eq!(out["migrated"], true);
        assert_eq!(out["store"], h.store_name());
    }
    create_acme(&h).await;
    h.json(&["migrate"]).await;
    assert_eq!(
        h.json(&["tenant", "list"]).await.as_array().unwrap().len(),
        1,
        "migrate keeps data"
    );
}

async fn cli_kek_file_is_created_in_the_data_dir_with_mode_0600(h: Holdfast) {
    assert!(!h.kek_path().exists());
    create_acme(&h).await;
    let meta = std::fs::metadata(h.kek_path()).expect("holdfast.kek in the data dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "the KEK file must be private"
        );
    }
    let text = std::fs::read_to_string(h.kek_path()).unwrap();
    let key = URL_SAFE_NO_PAD.decode(text.trim()).unwrap();
    assert_eq!(key.len(), 32, "a 256-bit key, base64url");

    // Later commands reuse the file rather than replacing it.
    h.json(&["tenant", "list"]).await;
    assert_eq!(std::fs::read_to_string(h.kek_path()).unwrap(), text);
}

#[tokio::test]
async fn cli_data_dir_that_does_not_exist_yet_is_created() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("var").join("holdfast");
    let mut cmd = support::command_for(&data_dir, None);
    cmd.args(["tenant", "create", "acme", "--json"]);
    support::run_command(cmd, None).await.assert_success();
    assert!(data_dir.join("holdfast.db").is_file());
    assert!(data_dir.join("holdfast.kek").is_file());
}
