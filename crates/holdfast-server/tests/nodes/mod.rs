//! Real `holdfast serve` processes for the tests that need more than the
//! in-process test server: several nodes on one database (`two_nodes.rs`),
//! a node killed with SIGKILL and restarted (`feed_crash.rs`). Commands
//! start from a clean `HOLDFAST_*` environment with cheap Argon2
//! parameters; a node's log goes to a file, shown when it fails.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use holdfast_store::testing::TestDatabase;
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

pub const HOLDFAST: &str = env!("CARGO_BIN_EXE_holdfast");
pub const SLUG: &str = "acme";

/// A `holdfast` command on the shared database and data directory (hence
/// the shared `holdfast.kek`), with cheap Argon2 parameters and no
/// `HOLDFAST_*` setting inherited from the environment running the tests.
pub fn holdfast(db: &TestDatabase) -> Command {
    let mut cmd = Command::new(HOLDFAST);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOLDFAST_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOLDFAST_ARGON2_MEMORY_KIB", "1024")
        .env("HOLDFAST_ARGON2_ITERATIONS", "1")
        .arg("--database-url")
        .arg(&db.url)
        .arg("--data-dir")
        .arg(&db.dir);
    cmd
}

/// Runs an administrative command to success, feeding `stdin` if given;
/// its output as JSON (`Null` unless run with `--json`).
pub async fn admin(db: &TestDatabase, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let mut cmd = tokio::process::Command::from(holdfast(db));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("holdfast {args:?} did not finish in 60 s"))
        .unwrap();
    assert!(
        output.status.success(),
        "holdfast {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

/// Two distinct free loopback ports: bind port 0 twice (both held at once,
/// so the ports differ), read them, release them.
pub fn two_free_ports() -> (u16, u16) {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        first.local_addr().unwrap().port(),
        second.local_addr().unwrap().port(),
    )
}

/// A running `holdfast serve`, killed when dropped (also when the test
/// panics), its log kept in a file for the failure message.
pub struct Node {
    name: &'static str,
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    log: std::path::PathBuf,
}

impl Node {
    /// Starts a node on a free port, with `public_url` as its public base
    /// URL (both nodes share one, as behind a load balancer).
    pub fn start(name: &'static str, db: &TestDatabase, port: u16, public_url: &str) -> Self {
        let log = db.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = holdfast(db)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--public-url")
            .arg(public_url)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            name,
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET /healthz` answers 200; panics with the log if the
    /// process exits or 60 s pass.
    pub async fn wait_healthy(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "node {} exited ({status}) before becoming healthy:\n{}",
                    self.name,
                    self.log()
                );
            }
            let healthy = http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} not healthy after 60 s:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// This node's address for the tenant's endpoints (`{base}/t/acme`).
    pub fn issuer(&self) -> String {
        format!("{}/t/{SLUG}", self.base)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Through the CLI, before any node starts (so the KEK file exists once
/// and every node reads the same one): tenant [`SLUG`], the public client
/// `client_id` (with `client_flags`) and the user `alice` with `password`.
pub async fn tenant_client_and_alice(
    db: &TestDatabase,
    client_id: &str,
    password: &str,
    client_flags: &[&str],
) {
    admin(db, &["tenant", "create", SLUG], None).await;
    let mut client = vec![
        "client",
        "create",
        "--tenant",
        SLUG,
        "--client-id",
        client_id,
        "--public",
    ];
    client.extend_from_slice(client_flags);
    admin(db, &client, None).await;
    admin(
        db,
        &[
            "user",
            "create",
            "--tenant",
            SLUG,
            "--username",
            "alice",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    )
    .await;
}
