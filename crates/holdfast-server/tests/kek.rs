//! The key-encryption key (KEK), through the real binary on both back ends.
//!
//! docs/design.md §6: private keys are encrypted at rest under a KEK from the
//! environment (`HOLDFAST_KEK`) or a file. The database remembers a check
//! value for the KEK it was initialised with, and Holdfast refuses to run
//! (CLI or server) with a different or missing KEK, saying what to do and
//! changing nothing — so a mistake is recoverable by restoring the key.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use std::time::Duration;

use holdfast_crypto::aead::Kek;
use serde_json::Value;
use support::{Holdfast, Run};

cli_on_both_backends!(
    kek_mismatch_refuses_cli_and_serve_and_restoring_the_key_recovers_everything,
    kek_file_missing_for_an_initialised_database_is_a_clear_error_and_no_new_key_is_made,
    kek_env_malformed_is_a_clear_error,
    kek_file_malformed_is_a_clear_error_and_is_left_alone,
    kek_env_with_the_right_key_works_without_the_file,
    kek_env_takes_precedence_over_the_file,
    kek_env_on_a_fresh_database_creates_no_file_and_becomes_required,
);

/// How long `holdfast serve` may take to give up on a bad KEK.
const SERVE_EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A valid KEK that is not the one in use.
fn other_kek() -> String {
    Kek::generate().unwrap().1.to_string()
}

async fn snapshot(h: &Holdfast) -> (Value, Value) {
    (
        h.json(&["tenant", "list"]).await,
        h.json(&["keys", "list", "--tenant", "acme"]).await,
    )
}

/// Runs `holdfast serve --listen 127.0.0.1:0`, which must exit by itself
/// (it is killed, failing the test, after [`SERVE_EXIT_TIMEOUT`]).
async fn serve_must_exit(h: &Holdfast, env: &[(&str, &str)]) -> Run {
    let mut cmd = h.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied());
    let child = cmd.spawn().unwrap();
    // On timeout the child is dropped, and `kill_on_drop` ends it.
    let output = tokio::time::timeout(SERVE_EXIT_TIMEOUT, child.wait_with_output())
        .await
        .expect("holdfast serve kept running with a bad KEK")
        .unwrap();
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[track_caller]
fn assert_refused(run: &Run, needle: &str) {
    run.assert_failure();
    assert!(
        run.stderr.contains(needle),
        "stderr should mention {needle:?}: {}",
        run.stderr
    );
}

async fn kek_mismatch_refuses_cli_and_serve_and_restoring_the_key_recovers_everything(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    let before = snapshot(&h).await;
    let original = std::fs::read_to_string(h.kek_path()).unwrap();
    std::fs::write(h.kek_path(), other_kek()).unwrap();

    assert_refused(&h.run(&["tenant", "list"]).await, "does not match");
    assert_refused(
        &h.run(&["tenant", "create", "beta"]).await,
        "does not match",
    );
    assert_refused(
        &h.run(&["keys", "rotate", "--tenant", "acme"]).await,
        "does not match",
    );
    let served = serve_must_exit(&h, &[]).await;
    assert_refused(&served, "does not match");

    std::fs::write(h.kek_path(), &original).unwrap();
    assert_eq!(
        snapshot(&h).await,
        before,
        "nothing was written under the wrong KEK"
    );
}

async fn kek_file_missing_for_an_initialised_database_is_a_clear_error_and_no_new_key_is_made(
    h: Holdfast,
) {
    h.json(&["tenant", "create", "acme"]).await;
    let before = snapshot(&h).await;
    let original = std::fs::read_to_string(h.kek_path()).unwrap();
    std::fs::remove_file(h.kek_path()).unwrap();

    let run = h.run(&["tenant", "list"]).await;
    assert_refused(&run, "HOLDFAST_KEK");
    assert!(
        run.stderr.contains("holdfast.kek"),
        "names the file to restore: {}",
        run.stderr
    );
    assert!(
        !h.kek_path().exists(),
        "a new KEK file would orphan the existing keys"
    );
    assert_refused(&serve_must_exit(&h, &[]).await, "HOLDFAST_KEK");
    assert!(
        !h.kek_path().exists(),
        "a new KEK file would orphan the existing keys"
    );

    std::fs::write(h.kek_path(), &original).unwrap();
    assert_eq!(snapshot(&h).await, before);
}

async fn kek_env_malformed_is_a_clear_error(h: Holdfast) {
    let too_short = "A".repeat(42);
    let bad_values = [
        "not-a-key",
        "",
        too_short.as_str(),
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ];
    // On a fresh database: refused, and no key file appears either.
    for bad in bad_values {
        assert_refused(
            &h.run_env(&["tenant", "list"], &[("HOLDFAST_KEK", bad)])
                .await,
            "HOLDFAST_KEK is not a valid key",
        );
    }
    assert!(!h.kek_path().exists());
    // On an initialised database, for the CLI and the server alike.
    h.json(&["tenant", "create", "acme"]).await;
    let before = snapshot(&h).await;
    for bad in bad_values {
        assert_refused(
            &h.run_env(&["tenant", "list"], &[("HOLDFAST_KEK", bad)])
                .await,
            "HOLDFAST_KEK is not a valid key",
        );
    }
    assert_refused(
        &serve_must_exit(&h, &[("HOLDFAST_KEK", "not-a-key")]).await,
        "HOLDFAST_KEK is not a valid key",
    );
    assert_eq!(snapshot(&h).await, before);
}

async fn kek_file_malformed_is_a_clear_error_and_is_left_alone(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    let original = std::fs::read_to_string(h.kek_path()).unwrap();
    std::fs::write(h.kek_path(), "garbage\n").unwrap();
    assert_refused(
        &h.run(&["tenant", "list"]).await,
        "does not hold a valid key",
    );
    assert_eq!(
        std::fs::read_to_string(h.kek_path()).unwrap(),
        "garbage\n",
        "never overwritten"
    );
    std::fs::write(h.kek_path(), &original).unwrap();
    h.json(&["tenant", "list"]).await;
}

async fn kek_env_with_the_right_key_works_without_the_file(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    let key = std::fs::read_to_string(h.kek_path())
        .unwrap()
        .trim()
        .to_owned();
    std::fs::remove_file(h.kek_path()).unwrap();

    let env = [("HOLDFAST_KEK", key.as_str())];
    let list = h.run_env(&["tenant", "list", "--json"], &env).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["slug"], "acme");
    let rotated = h
        .run_env(&["keys", "rotate", "--tenant", "acme", "--json"], &env)
        .await
        .json();
    assert!(rotated["current_kid"].is_string());
    assert!(
        !h.kek_path().exists(),
        "with HOLDFAST_KEK set, no key file is written"
    );
}

async fn kek_env_takes_precedence_over_the_file(h: Holdfast) {
    h.json(&["tenant", "create", "acme"]).await;
    let key = std::fs::read_to_string(h.kek_path())
        .unwrap()
        .trim()
        .to_owned();
    let wrong = other_kek();
    // The right key in the environment wins over a wrong file...
    std::fs::write(h.kek_path(), &wrong).unwrap();
    h.run_env(&["tenant", "list"], &[("HOLDFAST_KEK", key.as_str())])
        .await
        .assert_success();
    // ...and a wrong key in the environment is not rescued by a right file.
    std::fs::write(h.kek_path(), &key).unwrap();
    let run = h
        .run_env(&["tenant", "list"], &[("HOLDFAST_KEK", wrong.as_str())])
        .await;
    assert_refused(&run, "does not match");
    assert!(
        run.stderr.contains("HOLDFAST_KEK"),
        "names where the wrong key came from: {}",
        run.stderr
    );
}

async fn kek_env_on_a_fresh_database_creates_no_file_and_becomes_required(h: Holdfast) {
    let key = other_kek();
    h.run_env(
        &["tenant", "create", "acme"],
        &[("HOLDFAST_KEK", key.as_str())],
    )
    .await
    .assert_success();
    assert!(
        !h.kek_path().exists(),
        "the operator's key is not copied to disk"
    );
    // The database is now bound to that key: without it, nothing runs.
    assert_refused(&h.run(&["tenant", "list"]).await, "HOLDFAST_KEK");
    assert!(!h.kek_path().exists());
    assert_refused(
        &h.run_env(
            &["tenant", "list"],
            &[("HOLDFAST_KEK", other_kek().as_str())],
        )
        .await,
        "does not match",
    );
    h.run_env(&["tenant", "list"], &[("HOLDFAST_KEK", key.as_str())])
        .await
        .assert_success();
}
