//! `holdfast --server URL ...` (issue 16): the CLI's administrative
//! commands sent to a running server's admin API, through the real binary
//! on both back ends, from a directory with no database and no key file.
//! The token is a client-credentials one (RFC 6749 §4.4) of the automation
//! client `admin bootstrap` made, or `HOLDFAST_ADMIN_TOKEN`; changes are
//! audited as that client; a bad token, a bad secret or a command without
//! a remote mode fail with a clear message and change nothing.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use serde_json::Value;
use support::{Holdfast, Run};

cli_on_both_backends!(
    cli_server_mode_administers_a_remote_server_through_the_admin_api,
    cli_server_mode_refuses_without_a_valid_token_and_changes_nothing,
    cli_server_mode_manages_users_sessions_and_events_by_username,
    cli_server_mode_invites_and_sets_sign_in_limits_as_the_database_mode_does,
);

/// `holdfast --server BASE ARGS --json` from an empty directory, with
/// only `env` set.
async fn remote(base: &str, workdir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    remote_stdin(base, workdir, args, env, None).await
}

/// [`remote`] with `stdin` piped in.
async fn remote_stdin(
    base: &str,
    workdir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let mut cmd = support::bare_command();
    cmd.current_dir(workdir)
        .args(["--server", base, "--json"])
        .args(args)
        .envs(env.iter().copied());
    support::run_command(cmd, stdin).await
}

/// Bootstraps administration with an automation client `ops`; its secret.
async fn bootstrap(h: &Holdfast) -> String {
    let made = h
        .json(&["admin", "bootstrap", "--automation-client", "ops"])
        .await;
    made["automation_client"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An operator away from the database: `h` served with a tenant `acme`,
/// an empty working directory, and the automation client `ops` in the
/// environment.
struct Operator {
    served: support::Served,
    dir: tempfile::TempDir,
    secret: String,
}

impl Operator {
    async fn start(h: &Holdfast) -> Self {
        let secret = bootstrap(h).await;
        h.run(&["tenant", "create", "acme"]).await.assert_success();
        Self {
            served: h.served().await,
            dir: tempfile::tempdir().unwrap(),
            secret,
        }
    }

    fn env(&self) -> [(&str, &str); 2] {
        [
            ("HOLDFAST_ADMIN_CLIENT_ID", "ops"),
            ("HOLDFAST_ADMIN_CLIENT_SECRET", self.secret.as_str()),
        ]
    }

    /// `holdfast --server ... ARGS --json` as `ops`.
    async fn run(&self, args: &[&str]) -> Run {
        remote(&self.served.base, self.dir.path(), args, &self.env()).await
    }

    /// The last hour's events of `acme` (oldest first) and the reasons of
    /// those `ops` made.
    async fn changes_by_ops(&self) -> (Value, Vec<String>) {
        let events = self
            .run(&["events", "--tenant", "acme", "--since", "1h"])
            .await
            .json();
        let reasons = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor"] == "client:ops")
            .map(|e| e["reason"].as_str().unwrap().to_owned())
            .collect();
        (events, reasons)
    }

    /// [`Self::run`] with `stdin` piped in.
    async fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        remote_stdin(
            &self.served.base,
            self.dir.path(),
            args,
            &self.env(),
            Some(stdin),
        )
        .await
    }
}

async fn cli_server_mode_administers_a_remote_server_through_the_admin_api(h: Holdfast) {
    let op = Operator::start(&h).await;

    let listed = op.run(&["tenant", "list"]).await;
    let listed = listed.assert_success().json();
    let slugs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert!(
        slugs.contains(&"acme") && slugs.contains(&"admin"),
        "{listed}"
    );

    let updated = op
        .run(&[
            "tenant",
            "update",
            "acme",
            "--name",
            "Acme Remote",
            "--accent-color",
            "#0F766E",
            "--registration",
            "open",
        ])
        .await;
    let updated = updated.assert_success().json();
    assert_eq!(updated["accent_color"], "#0f766e", "{updated}");
    assert_eq!(updated["registration"], "open");

    // The database says the same, and the change names the client.
    let direct = h.json(&["tenant", "show", "acme"]).await;
    assert_eq!(direct["name"], "Acme Remote");
    assert_eq!(direct["accent_color"], "#0f766e");
    assert_eq!(direct["registration"], "open");
    let events = h.json(&["events", "--tenant", "acme"]).await;
    let changed: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tenant_admin")
        .collect();
    assert_eq!(changed.len(), 1, "{events}");
    assert_eq!(changed[0]["actor"], "client:ops");

    // Keys: list, rotate, list again.
    let before = op.run(&["keys", "list", "--tenant", "acme"]).await;
    let before = before.assert_success().json().as_array().unwrap().len();
    op.run(&["keys", "rotate", "--tenant", "acme"])
        .await
        .assert_success();
    let after = op.run(&["keys", "list", "--tenant", "acme"]).await;
    let after = after.assert_success().json().as_array().unwrap().len();
    assert!(after > before, "rotation adds a key: {before} -> {after}");

    // Clients: the console's, shown.
    let console = op
        .run(&[
            "client",
            "show",
            "--tenant",
            "admin",
            "--client-id",
            "console",
        ])
        .await;
    assert_eq!(console.assert_success().json()["client_id"], "console");

    // Clients: created with its settings (the secret shown once), then
    // changed, as the database then says.
    let created = op
        .run(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "billing",
            "--confidential",
            "--redirect-uri",
            "https://billing.example/callback",
            "--grace-window",
            "15",
            "--dpop-required",
        ])
        .await;
    let created = created.assert_success().json();
    assert_eq!(created["kind"], "confidential", "{created}");
    let billing_secret = created["client_secret"].as_str().unwrap();
    assert!(billing_secret.len() >= 32, "{created}");
    let updated = op
        .run(&[
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            "billing",
            "--display-name",
            "Billing",
            "--mfa-required",
            "true",
            "--backchannel-logout-uri",
            "https://billing.example/logout",
        ])
        .await;
    let updated = updated.assert_success().json();
    assert_eq!(updated["display_name"], "Billing", "{updated}");
    assert!(updated.get("client_secret").is_none(), "{updated}");
    let direct = h
        .json(&[
            "client",
            "show",
            "--tenant",
            "acme",
            "--client-id",
            "billing",
        ])
        .await;
    assert_eq!(
        direct["redirect_uris"][0],
        "https://billing.example/callback"
    );
    assert_eq!(direct["grace_window"], 15);
    assert_eq!(direct["dpop_required"], true);
    assert_eq!(direct["mfa_required"], true);
    assert_eq!(direct["display_name"], "Billing");
    assert_eq!(
        direct["backchannel_logout_uri"],
        "https://billing.example/logout"
    );
    // The secret printed is the one the token endpoint takes.
    let token = reqwest::Client::new()
        .post(format!("{}/t/acme/token", op.served.base))
        .basic_auth("billing", Some(billing_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_ne!(token.status(), 401, "the printed secret authenticates");

    // Nothing was opened or created where the command ran.
    assert_eq!(std::fs::read_dir(op.dir.path()).unwrap().count(), 0);
}

async fn cli_server_mode_refuses_without_a_valid_token_and_changes_nothing(h: Holdfast) {
    let secret = bootstrap(&h).await;
    h.run(&["tenant", "create", "acme"]).await.assert_success();
    let server = h.served().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let update = ["tenant", "update", "acme", "--name", "Taken over"];

    let none = remote(&server.base, elsewhere.path(), &update, &[]).await;
    none.assert_failure();
    assert!(
        none.stderr.contains("HOLDFAST_ADMIN_TOKEN"),
        "{}",
        none.stderr
    );

    let wrong = remote(
        &server.base,
        elsewhere.path(),
        &update,
        &[
            ("HOLDFAST_ADMIN_CLIENT_ID", "ops"),
            ("HOLDFAST_ADMIN_CLIENT_SECRET", "not-the-secret"),
        ],
    )
    .await;
    wrong.assert_failure();
    assert!(wrong.stderr.contains("invalid_client"), "{}", wrong.stderr);

    let forged = remote(
        &server.base,
        elsewhere.path(),
        &update,
        &[("HOLDFAST_ADMIN_TOKEN", "eyJhbGciOiJub25lIn0.e30.")],
    )
    .await;
    forged.assert_failure();
    assert!(forged.stderr.contains("401"), "{}", forged.stderr);

    // An update that changes nothing is refused before any call.
    let empty = remote(
        &server.base,
        elsewhere.path(),
        &["client", "update", "--tenant", "acme", "--client-id", "x"],
        &[("HOLDFAST_ADMIN_TOKEN", "unused")],
    )
    .await;
    empty.assert_failure();
    assert!(
        empty.stderr.contains("nothing to change"),
        "{}",
        empty.stderr
    );

    // A command with no remote mode says so, before asking for a token.
    let users = remote(
        &server.base,
        elsewhere.path(),
        &["retention", "sweep"],
        &[
            ("HOLDFAST_ADMIN_CLIENT_ID", "ops"),
            ("HOLDFAST_ADMIN_CLIENT_SECRET", secret.as_str()),
        ],
    )
    .await;
    users.assert_failure();
    assert!(
        users.stderr.contains("no --server mode"),
        "{}",
        users.stderr
    );

    let direct = h.json(&["tenant", "show", "acme"]).await;
    assert_eq!(direct["name"], "acme", "nothing changed");
}

async fn cli_server_mode_manages_users_sessions_and_events_by_username(h: Holdfast) {
    let op = Operator::start(&h).await;
    // A user whose name contains the other's: lookups must be exact.
    h.run_stdin(
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "joanna",
            "--password-stdin",
        ],
        "joanna's long passphrase\n",
    )
    .await
    .assert_success();

    let made = op
        .run_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "Ann",
                "--email",
                "ann@acme.example",
                "--password-stdin",
            ],
            "ann's long passphrase\n",
        )
        .await;
    let made = made.assert_success().json();
    let ann_id = made["id"].as_str().unwrap().to_owned();

    let listed = op.run(&["user", "list", "--tenant", "acme"]).await;
    let listed = listed.assert_success().json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ann", "joanna"], "{listed}");

    // `ann` (any case) is Ann, never joanna.
    let shown = op
        .run(&["user", "show", "--tenant", "acme", "--user", "ann"])
        .await;
    let shown = shown.assert_success().json();
    assert_eq!(shown["id"], ann_id.as_str(), "{shown}");
    assert_eq!(shown["live_sessions"], 0);
    let nobody = op
        .run(&["user", "show", "--tenant", "acme", "--user", "jo"])
        .await;
    nobody.assert_failure();
    assert!(nobody.stderr.contains("no user 'jo'"), "{}", nobody.stderr);

    op.run(&["user", "disable", "--tenant", "acme", "--user", "ann"])
        .await
        .assert_success();
    let direct = h
        .json(&["user", "show", "--tenant", "acme", "--user", "ann"])
        .await;
    assert_eq!(direct["disabled"], true, "{direct}");
    // A disabled user gets no reset link (the server's 409 is the message).
    let to_disabled = op
        .run(&["user", "send-reset", "--tenant", "acme", "--user", "ann"])
        .await;
    to_disabled.assert_failure();
    assert!(
        to_disabled.stderr.contains("409") && to_disabled.stderr.contains("disabled"),
        "{}",
        to_disabled.stderr
    );
    op.run(&["user", "enable", "--tenant", "acme", "--user", "ann"])
        .await
        .assert_success();
    let direct = h
        .json(&["user", "show", "--tenant", "acme", "--user", "ann"])
        .await;
    assert_eq!(direct["disabled"], false, "{direct}");

    let revoked = op
        .run(&["user", "revoke-all", "--tenant", "acme", "--user", "ann"])
        .await;
    let revoked = revoked.assert_success().json();
    assert_eq!(revoked["sessions_revoked"], 0, "{revoked}");
    let direct = h
        .json(&["user", "show", "--tenant", "acme", "--user", "ann"])
        .await;
    assert_eq!(direct["not_before"], revoked["not_before"], "{direct}");

    let reset = op
        .run(&["user", "send-reset", "--tenant", "acme", "--user", "ann"])
        .await;
    assert_eq!(
        reset.assert_success().json()["reset_sent_to"],
        "ann@acme.example"
    );
    // joanna has no address: the server's conflict is the message.
    let no_mail = op
        .run(&["user", "send-reset", "--tenant", "acme", "--user", "joanna"])
        .await;
    no_mail.assert_failure();
    assert!(no_mail.stderr.contains("409"), "{}", no_mail.stderr);

    let sessions = op
        .run(&["session", "list", "--tenant", "acme", "--user", "ann"])
        .await;
    assert_eq!(sessions.assert_success().json(), serde_json::json!([]));
    let unknown = op
        .run(&[
            "session",
            "revoke",
            "--tenant",
            "acme",
            "--session",
            "no-such",
        ])
        .await;
    unknown.assert_failure();
    assert!(unknown.stderr.contains("404"), "{}", unknown.stderr);

    // Every change above is in the log, oldest first, by the client.
    let (events, reasons) = op.changes_by_ops().await;
    for wanted in [
        "user_disabled",
        "user_enabled",
        "revoked_by_admin",
        "password_reset_sent",
    ] {
        assert!(reasons.iter().any(|r| r == wanted), "{wanted} in {events}");
    }
    let disabled = reasons.iter().position(|r| *r == "user_disabled").unwrap();
    let enabled = reasons.iter().position(|r| *r == "user_enabled").unwrap();
    assert!(disabled < enabled, "oldest first: {reasons:?}");

    op.run(&["user", "delete", "--tenant", "acme", "--user", "ann"])
        .await
        .assert_success();
    h.run(&["user", "show", "--tenant", "acme", "--user", "ann"])
        .await
        .assert_failure();
}

async fn cli_server_mode_invites_and_sets_sign_in_limits_as_the_database_mode_does(h: Holdfast) {
    let op = Operator::start(&h).await;

    let invite: &'static [&'static str] = &[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--email",
        "grace@acme.example",
        "--name",
        "Grace Hopper",
    ];
    let invited = op.run(invite).await;
    let invited = invited.assert_success().json();
    assert_eq!(invited["username"], "grace@acme.example", "{invited}");
    assert_eq!(invited["invitation_sent_to"], "grace@acme.example");
    let direct = h
        .json(&[
            "user",
            "show",
            "--tenant",
            "acme",
            "--user",
            "grace@acme.example",
        ])
        .await;
    assert_eq!(direct["id"], invited["id"], "{direct}");
    let twice = op.run(invite).await;
    twice.assert_failure();
    assert!(twice.stderr.contains("409"), "{}", twice.stderr);

    // No flag shows the limits in force, as the database mode prints them.
    let shown = op.run(&["tenant", "throttle", "acme"]).await;
    let shown = shown.assert_success().json();
    assert_eq!(shown, h.json(&["tenant", "throttle", "acme"]).await);
    let set = op
        .run(&["tenant", "throttle", "acme", "--pair-max-failures", "3"])
        .await;
    let set = set.assert_success().json();
    assert_eq!(set["pair_max_failures"], 3, "{set}");
    assert_eq!(set, h.json(&["tenant", "throttle", "acme"]).await);
    // Over ASVS 2.2.1's 100 an hour: the server's refusal, nothing changed.
    let lax = op
        .run(&[
            "tenant",
            "throttle",
            "acme",
            "--account-max-failures",
            "1000",
        ])
        .await;
    lax.assert_failure();
    assert!(lax.stderr.contains("100 failed attempts"), "{}", lax.stderr);
    let reset = op.run(&["tenant", "throttle", "acme", "--reset"]).await;
    let reset = reset.assert_success().json();
    assert_eq!(reset["pair_max_failures"], 10, "{reset}");
    assert_eq!(reset, shown, "back to the server's limits");

    let (events, reasons) = op.changes_by_ops().await;
    assert_eq!(
        reasons,
        ["invited", "throttle_set", "throttle_reset"],
        "{events}"
    );
}
