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
