//! The server process and its database, as the benchmarks see them from
//! outside: waiting for health, CPU and memory readings from `/proc`, and
//! the PostgreSQL database made for one run.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// Waits until `url` answers 2xx (at most 10 s).
pub async fn wait_healthy(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not become healthy")
}

/// CPU time of all the process's threads, in nanoseconds (the first field
/// of each `/proc/<pid>/task/<tid>/schedstat`).
pub fn server_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Bytes the process caused to be written to storage: `write_bytes` of
/// `/proc/<pid>/io` (page-cache pages it dirtied, whoever flushes them).
pub fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// [`written_bytes`] summed over every process named `postgres` (the
/// backends, WAL writer, checkpointer, background writer) whose `io` this
/// user may read; `None` when there is none. A backend that exits between
/// two readings takes its count with it: the benchmark keeps its pool open.
pub fn postgres_written_bytes() -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|c| c.trim() == "postgres");
        if let Some(bytes) = is_postgres.then(|| written_bytes(pid)).flatten() {
            *total.get_or_insert(0) += bytes;
        }
    }
    total
}

pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn create_pg_database(server: &str) -> anyhow::Result<String> {
    let name = format!("holdfast_bench_{}", uuid::Uuid::new_v4().simple());
    let status = Command::new("psql")
        .args([server, "-qc", &format!("CREATE DATABASE {name}")])
        .status()?;
    if !status.success() {
        bail!(
            "could not create the benchmark database (is psql installed and {server} reachable?)"
        );
    }
    // Keep the server URL's parameters (e.g. `?sslmode=disable`).
    let (location, params) = server.split_once('?').unwrap_or((server, ""));
    let (base, _) = location
        .rsplit_once('/')
        .context("postgres URL without a database")?;
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("?{params}")
    };
    Ok(format!("{base}/{name}{params}"))
}

pub fn drop_pg_database(server: &str, url: &str) {
    let location = url.split_once('?').map_or(url, |(location, _)| location);
    if let Some((_, name)) = location.rsplit_once('/') {
        let _ = Command::new("psql")
            .args([
                server,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ])
            .status();
    }
}

/// A benchmark's database and data directory, and the `holdfast` binary
/// that administers and serves them.
pub struct Setup {
    /// The `holdfast` binary.
    pub bin: std::path::PathBuf,
    /// A fresh temporary directory (the KEK, the SQLite file).
    pub dir: std::path::PathBuf,
    /// `sqlite://…` in `dir`, or a fresh PostgreSQL database.
    pub database_url: String,
    /// Whether commands hash with cheap Argon2 parameters.
    pub cheap_hashing: bool,
}

impl Setup {
    /// Finds the binary (`server_bin`, else next to this one), makes the
    /// directory and the database.
    pub fn new(
        server_bin: Option<&std::path::Path>,
        postgres_server: Option<&str>,
        cheap_hashing: bool,
    ) -> anyhow::Result<Self> {
        let bin = match server_bin {
            Some(bin) => bin.to_owned(),
            None => std::env::current_exe()?.with_file_name("holdfast"),
        };
        if !bin.exists() {
            bail!(
                "{} not found: build it first (cargo build --release -p holdfast-server)",
                bin.display()
            );
        }
        let dir =
            std::env::temp_dir().join(format!("holdfast-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let database_url = match postgres_server {
            None => format!("sqlite://{}", dir.join("holdfast.db").display()),
            Some(server) => create_pg_database(server)?,
        };
        Ok(Self {
            bin,
            dir,
            database_url,
            cheap_hashing,
        })
    }

    /// A `holdfast` command on this database and directory.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--database-url", &self.database_url, "--data-dir"])
            .arg(&self.dir);
        if self.cheap_hashing {
            cmd.env("HOLDFAST_ARGON2_MEMORY_KIB", "1024")
                .env("HOLDFAST_ARGON2_ITERATIONS", "1");
        }
        cmd
    }

    /// Runs an administrative command with `--json` to success, feeding
    /// `stdin`; its output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<serde_json::Value> {
        use std::process::Stdio;
        let mut child = self
            .command()
            .arg("--json")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("holdfast {args:?} failed");
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null))
    }

    /// Tenant `bench`, its public client `app` (scope `openid`) and user
    /// `load` with `password`.
    pub fn bench_tenant(&self, password: &str) -> anyhow::Result<()> {
        self.cli(&["tenant", "create", "bench"], None)?;
        self.cli(
            &[
                "client",
                "create",
                "--tenant",
                "bench",
                "--client-id",
                "app",
                "--public",
                "--scope",
                "openid",
            ],
            None,
        )?;
        self.cli(
            &[
                "user",
                "create",
                "--tenant",
                "bench",
                "--username",
                "load",
                "--password-stdin",
            ],
            Some(password),
        )?;
        Ok(())
    }

    /// Removes the directory and, on PostgreSQL, the database.
    pub fn remove(&self, postgres_server: Option<&str>) {
        if let Some(server) = postgres_server {
            drop_pg_database(server, &self.database_url);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
