//! What the `holdfast` binary prints around its results (issue 12 §5): a
//! command's `--help` lists its own options first and the global ones under
//! headings of their own, with each default stated once; with `--json`, a
//! failure is one JSON object on stderr (`error`, `error_description`, as
//! RFC 6749 §5.2 shapes them) and the exit status stays non-zero.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

#[macro_use]
mod support;

use serde_json::Value;
use support::{Holdfast, Run, bare_command, run_command};

cli_on_both_backends!(
    cli_errors_with_json_are_one_json_object_on_stderr,
    cli_errors_without_json_stay_text,
);

/// Every command that takes options of its own, with one of them.
const COMMANDS: &[(&[&str], &str)] = &[
    (&["tenant", "create"], "--signing-alg"),
    (&["tenant", "list"], "--help"),
    (&["tenant", "throttle"], "--pair-max-failures"),
    (&["client", "create"], "--client-id"),
    (&["client", "list"], "--tenant"),
    (&["user", "create"], "--password-stdin"),
    (&["user", "revoke-all"], "--user"),
    (&["keys", "rotate"], "--tenant"),
    (&["keys", "list"], "--tenant"),
    (&["session", "list"], "--user"),
    (&["session", "revoke"], "--session"),
    (&["events"], "--since"),
    (&["migrate"], "--help"),
    (&["serve"], "--help"),
];

/// The global options, as every command's help must list them (after the
/// command's own).
const GLOBALS: &[&str] = &[
    "--config",
    "--database-url",
    "--data-dir",
    "--json",
    "--listen",
    "--public-url",
    "--log-format",
    "--argon2-memory-kib",
];

async fn help(args: &[&str], flag: &str) -> String {
    let mut cmd = bare_command();
    cmd.args(args).arg(flag);
    let run = run_command(cmd, None).await;
    run.assert_success();
    run.stdout
}

/// The help text split into one entry per option: the line that names it
/// and the lines of its description.
fn entries(help: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with('-') && (2..=6).contains(&indent) {
            out.push(line.to_owned());
        } else if indent > 6
            && let Some(last) = out.last_mut()
        {
            last.push('\n');
            last.push_str(line);
        } else if !line.starts_with(' ') {
            // A heading or the usage line ends the entry before it.
            out.push(String::new());
        }
    }
    out.retain(|e| !e.is_empty());
    out
}

fn position(help: &str, needle: &str) -> usize {
    help.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing from:\n{help}"))
}

/// Where option `flag` is listed after `from` (not in the usage line).
fn flag_position(help: &str, flag: &str, from: usize) -> usize {
    let needle = format!(" {flag}");
    help[from..]
        .match_indices(&needle)
        .map(|(at, _)| from + at)
        .find(|&at| {
            let next = help[at + needle.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .unwrap_or_else(|| panic!("{flag} not listed in:\n{help}"))
}

#[tokio::test]
async fn cli_subcommand_help_lists_its_own_options_before_the_global_ones() {
    for (command, own) in COMMANDS {
        for flag in ["--help", "-h"] {
            let text = help(command, flag).await;
            let own_heading = position(&text, "\nOptions:\n");
            let globals = position(&text, "\nGlobal options:\n");
            let server = position(&text, "\nGlobal server options:\n");
            assert!(
                own_heading < globals && globals < server,
                "{command:?} {flag}: headings out of order:\n{text}"
            );
            let own_at = flag_position(&text, own, own_heading);
            assert!(
                own_heading < own_at && own_at < globals,
                "{command:?} {flag}: {own} is not among its own options:\n{text}"
            );
            for global in GLOBALS {
                assert!(
                    flag_position(&text, global, own_heading) > globals,
                    "{command:?} {flag}: {global} is listed among the command's own options:\n{text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn cli_help_states_each_default_once_and_readably() {
    for (command, _) in COMMANDS {
        for flag in ["--help", "-h"] {
            let text = help(command, flag).await;
            for entry in entries(&text) {
                assert!(
                    entry.matches("[default:").count() <= 1,
                    "{command:?} {flag}: a default stated twice:\n{entry}"
                );
            }
        }
    }
    let text = help(&["client", "create"], "--help").await;
    let idle = entries(&text)
        .into_iter()
        .find(|e| e.contains("--idle-lifetime"))
        .unwrap();
    assert!(idle.contains("14 days"), "{idle}");
}

/// The one JSON object a failed `--json` command printed on stderr.
#[track_caller]
fn json_error(run: &Run) -> Value {
    run.assert_failure();
    assert!(
        run.stdout.trim().is_empty(),
        "nothing printed as a result: {}",
        run.stdout
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("stderr does not end in JSON ({e}): {}", run.stderr));
    assert!(value["error"].is_string(), "{value}");
    assert!(value["error_description"].is_string(), "{value}");
    value
}

async fn cli_errors_with_json_are_one_json_object_on_stderr(h: Holdfast) {
    let unknown = h
        .run(&["client", "list", "--tenant", "nope", "--json"])
        .await;
    assert_eq!(unknown.status.code(), Some(1), "{}", unknown.stderr);
    let err = json_error(&unknown);
    assert_eq!(err["error"], "not_found");
    assert_eq!(err["error_description"], "no tenant with slug 'nope'");

    h.json(&["tenant", "create", "acme"]).await;
    let taken = h.run(&["--json", "tenant", "create", "acme"]).await;
    let err = json_error(&taken);
    assert_eq!(err["error"], "conflict");
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("a tenant with slug 'acme' already exists"),
        "{err}"
    );

    let bad = h.run(&["tenant", "create", "--json", "--", "Acme"]).await;
    assert_eq!(json_error(&bad)["error"], "invalid_input");

    let refused = h
        .run(&[
            "tenant",
            "throttle",
            "acme",
            "--account-max-failures",
            "500",
            "--json",
        ])
        .await;
    let err = json_error(&refused);
    assert_eq!(err["error"], "invalid_input");
    assert!(
        err["error_description"].as_str().unwrap().contains("ASVS"),
        "{err}"
    );

    // A usage error keeps clap's exit status 2.
    let usage = h.run(&["tenant", "list", "--bogus", "--json"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", usage.stderr);
    let err = json_error(&usage);
    assert_eq!(err["error"], "usage");
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("--bogus"),
        "{err}"
    );
}

async fn cli_errors_without_json_stay_text(h: Holdfast) {
    let run = h.run(&["client", "list", "--tenant", "nope"]).await;
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: no tenant with slug 'nope'"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('{'), "{}", run.stderr);
    let usage = h.run(&["tenant", "list", "--bogus"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", usage.stderr);
    assert!(usage.stderr.contains("Usage:"), "{}", usage.stderr);
}
