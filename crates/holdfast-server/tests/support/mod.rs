//! Shared helpers for the integration tests that drive the real `holdfast`
//! binary: a data directory per test (and a fresh PostgreSQL database when
//! the test runs on PostgreSQL), a command builder that starts from a clean
//! `HOLDFAST_*` environment, and a way to run `holdfast serve` on port 0 and
//! learn the address it bound.
//!
//! Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

pub use holdfast_store::testing::{Backend, TestDatabase};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The `holdfast` binary cargo built for these tests.
pub const HOLDFAST: &str = env!("CARGO_BIN_EXE_holdfast");

/// How long any single CLI invocation may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A `holdfast` command with no `HOLDFAST_*` variable inherited from the
/// environment running the tests, so each test states all of its inputs.
pub fn bare_command() -> Command {
    let mut cmd = Command::new(HOLDFAST);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOLDFAST_") {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A `holdfast` command pointed at `data_dir` and, if given, `database_url`.
pub fn command_for(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut cmd = bare_command();
    cmd.arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the command succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed; no command here may die of a signal
    /// or a panic.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "command unexpectedly succeeded:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.status.code().is_some(),
            "command died of a signal: {}",
            self.status
        );
        assert!(
            !self.stderr.contains("panicked"),
            "command panicked: {}",
            self.stderr
        );
        self
    }

    /// Standard output parsed as JSON (the command must have succeeded).
    #[track_caller]
    pub fn json(&self) -> Value {
        self.assert_success();
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }
}

/// Runs `cmd` to completion, feeding `stdin` if given, within [`COMMAND_TIMEOUT`].
pub async fn run_command(mut cmd: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn holdfast");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .expect("holdfast did not finish in time")
        .expect("wait for holdfast");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One data directory (and, on PostgreSQL, one fresh database) driven
/// through the CLI.
#[derive(Debug)]
pub struct Holdfast {
    /// Which back end.
    pub backend: Backend,
    /// `--data-dir`: holds the KEK file, and the SQLite database by default.
    pub data_dir: tempfile::TempDir,
    /// `--database-url`; `None` on SQLite, where the default inside the data
    /// directory is exercised.
    pub database_url: Option<String>,
    _db: Option<TestDatabase>,
}

impl Holdfast {
    /// A fresh set-up, or `None` when PostgreSQL is unavailable outside CI
    /// (see [`TestDatabase::create`]).
    pub async fn new(backend: Backend) -> Option<Self> {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create(Backend::Postgres).await?),
        };
        let database_url = db.as_ref().map(|db| db.url.clone());
        Some(Self {
            backend,
            data_dir,
            database_url,
            _db: db,
        })
    }

    /// The store name `holdfast` reports for this back end.
    pub fn store_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Where the KEK file lives.
    pub fn kek_path(&self) -> PathBuf {
        self.dir().join("holdfast.kek")
    }

    /// A command for this set-up (data dir and database preset).
    pub fn command(&self) -> Command {
        command_for(self.dir(), self.database_url.as_deref())
    }

    /// `holdfast serve` on an ephemeral port for this set-up; panics with
    /// its stderr when it does not come up.
    pub async fn served(&self) -> Served {
        let mut cmd = self.command();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        serve(cmd)
            .await
            .unwrap_or_else(|run| panic!("serve failed: {}", run.stderr))
    }

    /// Runs `holdfast <args>`.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, None).await
    }

    /// Runs `holdfast <args>` with extra environment variables.
    pub async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.args(args).envs(env.iter().copied());
        run_command(cmd, None).await
    }

    /// Runs `holdfast <args>` with `stdin` piped in.
    pub async fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, Some(stdin)).await
    }

    /// Runs `holdfast <args> --json`, which must succeed, and parses stdout.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.run(&all).await.json()
    }

    /// Opens the store directly (as a second process would), for checks the
    /// CLI cannot express.
    pub async fn store(&self) -> std::sync::Arc<dyn holdfast_store::Store> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.dir().join("holdfast.db").display()),
        };
        holdfast_store::connect(&url).await.expect("open the store")
    }

    /// The store and the tenant `slug` in it (which must exist).
    pub async fn store_and_tenant(
        &self,
        slug: &str,
    ) -> (
        std::sync::Arc<dyn holdfast_store::Store>,
        holdfast_core::tenant::Tenant,
    ) {
        let store = self.store().await;
        let slug = holdfast_core::tenant::TenantSlug::parse(slug).expect("a valid slug");
        let tenant = store
            .tenant_by_slug(&slug)
            .await
            .expect("read the tenant")
            .expect("the tenant exists");
        (store, tenant)
    }
}

/// Runs each `async fn name(h: Holdfast)` once on SQLite and once on
/// PostgreSQL, as tests `sqlite::name` and `postgres::name`.
#[allow(unused_macros)]
macro_rules! cli_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) = crate::support::Holdfast::new(crate::support::Backend::Sqlite).await {
                        super::$name(h).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) = crate::support::Holdfast::new(crate::support::Backend::Postgres).await {
                        super::$name(h).await;
                    }
                }
            )*
        }
    };
}

/// A running `holdfast serve`, killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:{port}` as bound.
    pub base: String,
    /// Every stderr line read up to the "listening" line, ANSI colours removed.
    pub log: Vec<String>,
}

/// Removes ANSI escape sequences (the text log format colours its output).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC '[' parameters, then one final byte in '@'..='~'.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts `cmd` (a `holdfast ... serve` command that listens on
/// 127.0.0.1:0) and waits for its "listening" log line; `Err` holds the
/// whole stderr if the process exits first.
pub async fn serve(mut cmd: Command) -> Result<Served, Run> {
    let mut child = cmd.spawn().expect("spawn holdfast serve");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    let found = tokio::time::timeout(COMMAND_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let line = strip_ansi(&line);
            let port = line
                .contains("Holdfast listening")
                .then(|| line.split("127.0.0.1:").nth(1))
                .flatten()
                .map(|rest| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                });
            log.push(line);
            if let Some(port) = port.filter(|p| !p.is_empty()) {
                return Some(port);
            }
        }
        None
    })
    .await
    .expect("holdfast serve neither listened nor exited in time");
    match found {
        Some(port) => Ok(Served {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }),
        None => {
            let status = tokio::time::timeout(COMMAND_TIMEOUT, child.wait())
                .await
                .expect("holdfast serve did not exit after closing stderr")
                .expect("wait for holdfast serve");
            let mut stdout = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = tokio::io::AsyncReadExt::read_to_string(&mut out, &mut stdout).await;
            }
            Err(Run {
                status,
                stdout,
                stderr: log.join("\n"),
            })
        }
    }
}

/// GETs `url` and returns status and JSON body.
pub async fn get_json(url: &str) -> (reqwest::StatusCode, Value) {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body = response
        .json::<Value>()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON: {e}"));
    (status, body)
}
