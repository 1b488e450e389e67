//! Configuration precedence through the real binary: command-line flag >
//! `HOLDFAST_*` environment variable > TOML file (`--config` /
//! `HOLDFAST_CONFIG`) > default, as documented in
//! `holdfast_server::config`. The TOML file refuses unknown keys.
//!
//! Server options (`listen`, `public_url`, `log_format`, Argon2 parameters)
//! have flags and variables only on `holdfast serve`; the administrative
//! commands read them from the TOML file alone (see the ignored test below).
//! These tests are about configuration, not storage, so they use SQLite,
//! except the last two: what start-up and requests do when PostgreSQL
//! cannot be reached.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod support;

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use support::{Run, Served, bare_command, run_command};
use tokio::process::Command;

/// A scratch directory with a data directory `data/` and a config file.
struct Scratch {
    root: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        Self { root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// Writes `name` with `toml` and returns its path.
    fn file(&self, name: &str, toml: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// `holdfast --config {config} --data-dir data/`, environment clean.
    fn command(&self, config: &Path) -> Command {
        let mut cmd = bare_command();
        cmd.arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(self.data());
        cmd
    }

    async fn run(&self, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(config);
        cmd.args(args).envs(env.iter().copied());
        run_command(cmd, None).await
    }

    /// Creates tenant `x` and starts `serve` with `args` and `env`.
    async fn serve(
        &self,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Served, Run> {
        // Without the config under test, so only `serve` sees it.
        let mut create = bare_command();
        create
            .arg("--data-dir")
            .arg(self.data())
            .args(["tenant", "create", "x"]);
        let tenant = run_command(create, None).await;
        assert!(
            tenant.status.success() || tenant.stderr.contains("already exists"),
            "{}",
            tenant.stderr
        );
        let mut cmd = self.command(config);
        cmd.arg("serve").args(args).envs(env.iter().copied());
        support::serve(cmd).await
    }

    /// The issuer `serve` publishes for tenant `x`.
    async fn served_issuer(&self, config: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
        let served = self
            .serve(config, args, env)
            .await
            .unwrap_or_else(|run| panic!("serve failed: {}", run.stderr));
        let (status, doc) = support::get_json(&format!(
            "{}/t/x/.well-known/openid-configuration",
            served.base
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        doc["issuer"].as_str().unwrap().to_owned()
    }
}

const FROM_FILE: &str = "listen = \"127.0.0.1:0\"\npublic_url = \"https://from-file.example\"\n";

#[tokio::test]
async fn config_toml_public_url_sets_the_issuer_of_admin_commands() {
    let s = Scratch::new();
    let config = s.file("f.toml", FROM_FILE);
    let tenant = s
        .run(&config, &["tenant", "create", "x", "--json"], &[])
        .await
        .json();
    assert_eq!(tenant["issuer"], "https://from-file.example/t/x");
}

#[tokio::test]
async fn config_env_public_url_beats_toml_for_admin_commands() {
    let s = Scratch::new();
    let config = s.file("f.toml", FROM_FILE);
    let env = [("HOLDFAST_PUBLIC_URL", "https://from-env.example")];
    let tenant = s
        .run(&config, &["tenant", "create", "x", "--json"], &env)
        .await
        .json();
    assert_eq!(tenant["issuer"], "https://from-env.example/t/x");
}

#[tokio::test]
async fn config_public_url_of_serve_is_flag_then_env_then_toml_then_bound_address() {
    let s = Scratch::new();
    let config = s.file("f.toml", FROM_FILE);
    let env = [("HOLDFAST_PUBLIC_URL", "https://from-env.example")];
    let flag = ["--public-url", "https://from-flag.example"];
    assert_eq!(
        s.served_issuer(&config, &[], &[]).await,
        "https://from-file.example/t/x"
    );
    assert_eq!(
        s.served_issuer(&config, &[], &env).await,
        "https://from-env.example/t/x"
    );
    assert_eq!(
        s.served_issuer(&config, &flag, &env).await,
        "https://from-flag.example/t/x"
    );

    // No public URL anywhere: the bound address (port 0 resolved to the real port).
    let plain = s.file("plain.toml", "listen = \"127.0.0.1:0\"\n");
    let served = s
        .serve(&plain, &[], &[])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    let (_, doc) = support::get_json(&format!(
        "{}/t/x/.well-known/openid-configuration",
        served.base
    ))
    .await;
    assert_eq!(
        doc["issuer"].as_str().unwrap(),
        format!("{}/t/x", served.base)
    );
}

#[tokio::test]
async fn config_listen_of_serve_is_flag_then_env_then_toml() {
    let s = Scratch::new();
    // 192.0.2.0/24 is TEST-NET-1: never a local address, so binding fails.
    let config = s.file("f.toml", "listen = \"192.0.2.1:0\"\n");
    let failed = s
        .serve(&config, &[], &[])
        .await
        .err()
        .expect("listening on the TOML address must fail");
    failed.assert_failure();
    assert!(
        failed.stderr.contains("cannot listen on 192.0.2.1:0"),
        "{}",
        failed.stderr
    );

    s.serve(&config, &[], &[("HOLDFAST_LISTEN", "127.0.0.1:0")])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));

    let bad_env = [("HOLDFAST_LISTEN", "192.0.2.1:0")];
    let failed = s
        .serve(&config, &[], &bad_env)
        .await
        .err()
        .expect("env beats TOML even when it is worse");
    assert!(
        failed.stderr.contains("cannot listen on 192.0.2.1:0"),
        "{}",
        failed.stderr
    );
    s.serve(&config, &["--listen", "127.0.0.1:0"], &bad_env)
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
}

#[tokio::test]
async fn config_log_format_of_serve_is_flag_then_env_then_toml() {
    let s = Scratch::new();
    let config = s.file(
        "f.toml",
        "listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n",
    );
    let is_json = |served: &Served| {
        served.log.iter().all(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object())
        })
    };
    let served = s
        .serve(&config, &[], &[])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(
        is_json(&served),
        "TOML asks for JSON logs: {:?}",
        served.log
    );
    let env = [("HOLDFAST_LOG_FORMAT", "text")];
    let served = s
        .serve(&config, &[], &env)
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(
        served.log.iter().all(|line| !line.starts_with('{')),
        "env asks for text logs: {:?}",
        served.log
    );
    let served = s
        .serve(&config, &["--log-format", "json"], &env)
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(
        is_json(&served),
        "the flag asks for JSON logs: {:?}",
        served.log
    );
}

#[tokio::test]
async fn config_argon2_parameters_of_serve_are_flag_then_env_then_toml() {
    let s = Scratch::new();
    // 1 KiB is below Argon2's minimum (8 KiB per lane): the server refuses it.
    let weak = s.file(
        "weak.toml",
        "listen = \"127.0.0.1:0\"\n[password]\nmemory_kib = 1\n",
    );
    let failed = s
        .serve(&weak, &[], &[])
        .await
        .err()
        .expect("invalid TOML parameters must stop serve");
    assert!(
        failed.stderr.contains("invalid Argon2 parameters"),
        "{}",
        failed.stderr
    );

    let good = s.file("good.toml", "listen = \"127.0.0.1:0\"\n");
    let weak_env = [("HOLDFAST_ARGON2_MEMORY_KIB", "1")];
    let failed = s
        .serve(&good, &[], &weak_env)
        .await
        .err()
        .expect("env beats TOML");
    assert!(
        failed.stderr.contains("invalid Argon2 parameters"),
        "{}",
        failed.stderr
    );

    s.serve(&weak, &[], &[("HOLDFAST_ARGON2_MEMORY_KIB", "19456")])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    s.serve(&good, &["--argon2-memory-kib", "19456"], &weak_env)
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
}

#[tokio::test]
async fn config_toml_max_body_bytes_limits_request_bodies() {
    let s = Scratch::new();
    let config = s.file(
        "f.toml",
        "listen = \"127.0.0.1:0\"\nmax_body_bytes = 1024\n",
    );
    let served = s
        .serve(&config, &[], &[])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    let response = reqwest::Client::new()
        .post(format!("{}/t/x/token", served.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "request_too_large"
    );
}

#[tokio::test]
async fn config_data_dir_is_flag_then_env_then_toml() {
    let s = Scratch::new();
    for dir in ["from-file", "from-env", "from-flag"] {
        std::fs::create_dir(s.path(dir)).unwrap();
    }
    let config = s.file(
        "f.toml",
        &format!(
            "data_dir = {:?}\n",
            s.path("from-file").display().to_string()
        ),
    );
    let run = |args: Vec<String>, env: Vec<(&'static str, String)>| {
        let mut cmd = bare_command();
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .args(["tenant", "list"])
            .envs(env);
        run_command(cmd, None)
    };
    let used = |dir: &str| {
        s.path(dir).join("holdfast.kek").exists() && s.path(dir).join("holdfast.db").exists()
    };

    run(vec![], vec![]).await.assert_success();
    assert!(used("from-file"));
    let env = vec![(
        "HOLDFAST_DATA_DIR",
        s.path("from-env").display().to_string(),
    )];
    run(vec![], env.clone()).await.assert_success();
    assert!(used("from-env"));
    run(
        vec![
            "--data-dir".into(),
            s.path("from-flag").display().to_string(),
        ],
        env,
    )
    .await
    .assert_success();
    assert!(used("from-flag"));
}

#[tokio::test]
async fn config_file_named_by_holdfast_config_env_is_read_and_the_flag_wins() {
    let s = Scratch::new();
    let from_env = s.file(
        "env.toml",
        "public_url = \"https://from-env-file.example\"\n",
    );
    let from_flag = s.file(
        "flag.toml",
        "public_url = \"https://from-flag-file.example\"\n",
    );
    let env = [("HOLDFAST_CONFIG", from_env.to_str().unwrap())];

    let mut cmd = bare_command();
    cmd.arg("--data-dir")
        .arg(s.data())
        .args(["tenant", "create", "a", "--json"])
        .envs(env);
    assert_eq!(
        run_command(cmd, None).await.json()["issuer"],
        "https://from-env-file.example/t/a"
    );

    let tenant = s
        .run(&from_flag, &["tenant", "create", "b", "--json"], &env)
        .await
        .json();
    assert_eq!(tenant["issuer"], "https://from-flag-file.example/t/b");
}

#[tokio::test]
async fn config_toml_with_an_unknown_key_fails_clearly() {
    let s = Scratch::new();
    for (name, toml, key) in [
        ("top.toml", "lisen = \"127.0.0.1:0\"\n", "lisen"),
        ("table.toml", "[password]\nmemory = 8192\n", "memory"),
    ] {
        let config = s.file(name, toml);
        let run = s.run(&config, &["tenant", "list"], &[]).await;
        run.assert_failure();
        assert!(
            run.stderr.contains(&format!("unknown field `{key}`")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(name), "names the file: {}", run.stderr);
    }
    assert!(
        !s.data().join("holdfast.db").exists(),
        "nothing is touched on a bad config"
    );
}

#[tokio::test]
async fn config_toml_with_a_malformed_value_or_missing_file_fails_clearly() {
    let s = Scratch::new();
    let config = s.file("bad.toml", "listen = \"not an address\"\n");
    let run = s.run(&config, &["tenant", "list"], &[]).await;
    run.assert_failure();
    assert!(
        run.stderr.contains("bad.toml") && run.stderr.contains("listen"),
        "{}",
        run.stderr
    );

    let run = s
        .run(&s.path("missing.toml"), &["tenant", "list"], &[])
        .await;
    run.assert_failure();
    assert!(
        run.stderr.contains("cannot read config file"),
        "{}",
        run.stderr
    );
}

/// Store outages answer fast: a PostgreSQL URL on a closed port fails
/// `serve` and an administrative command within a few seconds, naming the
/// real cause ("connection refused"), not a pool that "timed out" after
/// 30 s of retries.
#[tokio::test]
async fn store_postgres_on_a_closed_port_fails_start_up_fast_saying_connection_refused() {
    let s = Scratch::new();
    // A port that was free a moment ago and that nothing listens on now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["tenant", "list"][..],
    ] {
        let mut cmd = bare_command();
        cmd.arg("--data-dir")
            .arg(s.data())
            .arg("--database-url")
            .arg(&url)
            .args(args);
        let started = std::time::Instant::now();
        let run = run_command(cmd, None).await;
        let took = started.elapsed();
        run.assert_failure();
        assert!(
            took < std::time::Duration::from_secs(5),
            "{args:?} took {took:?} to fail: {}",
            run.stderr
        );
        assert!(
            run.stderr.to_lowercase().contains("connection refused"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("timed out"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A TCP relay to PostgreSQL that the test can cut, as a database restart
/// or a network failure would: open connections drop, new ones are refused.
struct Relay {
    port: u16,
    accept: tokio::task::JoinHandle<()>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn to(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(conn.abort_handle());
            }
        });
        Self {
            port,
            accept,
            conns,
        }
    }

    /// Closes the listening port and every relayed connection.
    async fn cut(self) {
        self.accept.abort();
        let _ = self.accept.await;
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

/// Store outages answer fast: once PostgreSQL goes away under a running
/// `serve`, a request that needs the store is answered 503
/// `temporarily_unavailable` (RFC 6749 §5.2 shape) within about 2 s
/// (`holdfast_store::ACQUIRE_TIMEOUT`), not after sqlx's 30 s default.
/// PostgreSQL only; skipped loudly outside CI when it is unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_requests_answer_503_temporarily_unavailable_within_about_2_s() {
    use holdfast_store::testing::{Backend, TestDatabase};
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let mut via_relay = url::Url::parse(&db.url).unwrap();
    let upstream = format!(
        "{}:{}",
        via_relay.host_str().unwrap(),
        via_relay.port().unwrap_or(5432)
    );
    let relay = Relay::to(upstream).await;
    via_relay.set_host(Some("127.0.0.1")).unwrap();
    via_relay.set_port(Some(relay.port)).unwrap();

    for args in [
        &["tenant", "create", "acme"][..],
        &[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "web",
            "--public",
            "--redirect-uri",
            "https://app.example.com/cb",
        ][..],
    ] {
        let mut cmd = support::command_for(&db.dir, Some(&db.url));
        cmd.args(args);
        run_command(cmd, None).await.assert_success();
    }
    let mut cmd = support::command_for(&db.dir, Some(via_relay.as_str()));
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let served = support::serve(cmd)
        .await
        .unwrap_or_else(|run| panic!("serve failed: {}", run.stderr));
    let http = reqwest::Client::new();
    let unknown = format!("hfrt_{}", "A".repeat(43));
    let present = || {
        http.post(format!("{}/t/acme/token", served.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", unknown.as_str()),
                ("client_id", "web"),
            ])
            .send()
    };
    // With the store up: the unknown token is looked up and refused.
    let up = present().await.unwrap();
    assert_eq!(up.status(), StatusCode::BAD_REQUEST);

    relay.cut().await;
    // The first request may meet a pooled connection that just broke, the
    // next ones wait for a new one that cannot be made: all answer fast.
    for attempt in 0..3 {
        let started = std::time::Instant::now();
        let down = present().await.unwrap();
        let took = started.elapsed();
        let status = down.status();
        let body: serde_json::Value = down.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}: {body}"
        );
        assert_eq!(
            body["error"], "temporarily_unavailable",
            "attempt {attempt}: {body}"
        );
        assert!(
            took < std::time::Duration::from_millis(3500),
            "attempt {attempt} took {took:?}"
        );
    }
}
