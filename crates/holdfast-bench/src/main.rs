//! `holdfast-bench refresh`: refresh-token rotations per second against a
//! real `holdfast serve` process.
//!
//! What it does, in order:
//! 1. prepares a database (SQLite file in a temp dir, or a fresh PostgreSQL
//!    database) with one tenant, one public client and one user, through
//!    the `holdfast` CLI, as an operator would;
//! 2. starts `holdfast serve` on it (optionally pinned to CPUs with
//!    `taskset`), waits for `/healthz`;
//! 3. mints `--sessions` sessions through the first-party login API;
//! 4. for `--duration`, runs `--concurrency` workers over keep-alive HTTP
//!    connections; each request presents a session's current refresh token
//!    (always fresh and valid) and keeps the child it gets back;
//! 5. prints rotations/s, p50/p95/p99 latency, the error count, the
//!    server's peak RSS (`VmHWM` from `/proc/<pid>/status`) and the server's
//!    CPU time per rotation over the run (its threads' `schedstat`): a
//!    figure that moves far less than throughput on a shared machine, and
//!    leaves out the database server;
//! 6. with `--dpop`, runs a second phase on the same server: sessions bound
//!    to a P-256 key each (RFC 9449 §5), every request with a fresh proof
//!    (§4.2) carrying the server's nonce (§8), and prints both phases side
//!    by side with their ratios. Each phase also reports the bytes written
//!    to storage per rotation (`write_bytes` of `/proc/<pid>/io`) by the
//!    server and, on PostgreSQL, by the database's processes; on SQLite,
//!    how many rotations each commit carried (group commit), from the
//!    server's `holdfast_sqlite_rotations_per_commit`.
//!
//! `holdfast-bench login-flood` runs the same refresh load twice: alone, then
//! alongside wrong-password logins at a fixed offered rate (`--rate`, open
//! loop: requests go out on schedule whether or not earlier ones were
//! answered) to the first-party challenge endpoint, each for a different
//! username. It prints the refresh p99 and errors of both phases and what
//! the flood got back (400 checked and wrong, 429 throttled, 503 hashing
//! queue full). The server hashes with the real (OWASP minimum) Argon2
//! parameters in this mode. `--throttle off` raises the per-address limit
//! so the flood reaches Argon2 instead of being refused by the throttle.
//!
//! `holdfast-bench feed` times revocations reaching a Shared Signals poll
//! receiver, across nodes, and its throughput (`feed.rs`).
//!
//! Examples (see the README for the figures):
//! `cargo run --release -p holdfast-bench -- refresh --store postgres --concurrency 32 --duration 20`
//! `cargo run --release -p holdfast-bench -- login-flood --store sqlite --rate 1000 --duration 15`

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use tokio::sync::Mutex;

mod feed;
mod preload;
mod process;

use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use process::{
    Setup, drop_pg_database, peak_rss_kib, postgres_written_bytes, server_cpu_ns, wait_healthy,
    written_bytes,
};

#[derive(Debug, Parser)]
#[command(about = "Holdfast load benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Refresh-token rotations per second.
    Refresh(RefreshArgs),
    /// Refresh latency with and without a flood of wrong-password logins.
    LoginFlood(FloodArgs),
    /// Revocation propagation to a Shared Signals receiver, and its
    /// throughput (see `feed.rs`).
    Feed(feed::FeedArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Throttle {
    /// The server's default limits: the flood from one address is refused
    /// by the throttle after 100 failures.
    Default,
    /// The per-address limit raised out of the way: every flood attempt
    /// (each for another username) reaches the hashing queue.
    Off,
}

#[derive(Debug, clap::Args)]
struct FloodArgs {
    #[command(flatten)]
    refresh: RefreshArgs,
    /// Offered rate of wrong-password logins, per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Login throttling during the flood.
    #[arg(long, value_enum, default_value = "off")]
    throttle: Throttle,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Store {
    Sqlite,
    Postgres,
}

#[derive(Debug, clap::Args)]
struct RefreshArgs {
    /// Which store the server runs on.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: Store,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Sessions (token families) to rotate.
    #[arg(long, default_value_t = 2000)]
    sessions: usize,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// The `holdfast` binary [default: next to this one].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Pin the server to these CPUs with taskset (e.g. "0").
    #[arg(long)]
    server_cpus: Option<String>,
    /// Port for the server.
    #[arg(long, default_value_t = 18_444)]
    port: u16,
    /// Families (ten refresh tokens each) inserted before the run, as a
    /// store that has served for years holds them (see `preload.rs`).
    #[arg(long, default_value_t = 0)]
    preload_families: i64,
    /// Share of the preloaded families that ended long ago, for the
    /// retention sweep to delete during the run (e.g. 0.1).
    #[arg(long, default_value_t = 0.0)]
    preload_ended_share: f64,
    /// The server's retention sweep interval, seconds.
    #[arg(long, default_value_t = 300)]
    sweep_interval: u64,
    /// After the bare run, the same run with DPoP-bound sessions (a fresh
    /// ES256 proof per request, with the server's nonce), side by side.
    #[arg(long)]
    dpop: bool,
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const PASSWORD: &str = "benchmark-password";

pub(crate) struct ServerProcess(pub(crate) Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        BenchCommand::Refresh(args) => {
            let bench = Bench::start(&args, None).await?;
            let stats = bench.rotate(&args, None, &bench.bare).await?;
            let bound = match &bench.bound {
                Some(bound) => {
                    eprintln!("phase 2: DPoP-bound refreshes");
                    Some(bench.rotate(&args, None, bound).await?)
                }
                None => None,
            };
            println!("store:        {:?}", args.store);
            println!("concurrency:  {}", args.concurrency);
            println!("sessions:     {}", args.sessions);
            if args.preload_families > 0 {
                println!(
                    "preloaded:    {} families ({} refresh tokens), {:.0}% ended",
                    args.preload_families,
                    args.preload_families * 10,
                    args.preload_ended_share * 100.0
                );
            }
            match &bound {
                None => stats.print(""),
                Some(bound) => {
                    stats.print("bare  ");
                    bound.print("dpop  ");
                    Stats::print_ratios(&stats, bound);
                }
            }
            println!("server peak RSS: {}", bench.peak_rss());
            bench.print_sweeps().await;
            bench.finish(&args);
            Ok(())
        }
        BenchCommand::LoginFlood(args) => login_flood(args).await,
        BenchCommand::Feed(args) => feed::run(args).await,
    }
}

async fn login_flood(args: FloodArgs) -> anyhow::Result<()> {
    let bench = Bench::start(&args.refresh, Some(args.throttle)).await?;
    eprintln!("phase 1: refresh alone");
    let alone = bench.rotate(&args.refresh, None, &bench.bare).await?;
    eprintln!(
        "phase 2: refresh during {} wrong-password logins/s",
        args.rate
    );
    let during = bench
        .rotate(&args.refresh, Some(args.rate), &bench.bare)
        .await?;
    println!("store:        {:?}", args.refresh.store);
    println!("concurrency:  {}", args.refresh.concurrency);
    println!(
        "flood:        {} logins/s offered, throttle {:?}",
        args.rate, args.throttle
    );
    alone.print("alone   ");
    during.print("flooded ");
    if let Some(f) = &during.flood {
        println!(
            "flood sent {} ({:.0}/s): 400 wrong {}, 429 throttled {}, 503 busy {}, other {}, not sent (1024 in flight) {}",
            f.sent,
            f.sent as f64 / during.elapsed,
            f.wrong,
            f.throttled,
            f.busy,
            f.other,
            f.dropped
        );
    }
    if alone.p99 > 0.0 {
        println!("p99 ratio (flooded / alone): {:.2}", during.p99 / alone.p99);
    }
    println!("server peak RSS: {}", bench.peak_rss());
    bench.finish(&args.refresh);
    Ok(())
}

/// A scrape of the server's `/metrics` (Prometheus text format).
struct Metrics(String);

impl Metrics {
    /// The sum of every sample whose line starts with `prefix` (all label
    /// sets of one series).
    fn total(&self, prefix: &str) -> f64 {
        self.0
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            // Not `sum()`: an empty one is -0.0 and would print as such.
            .fold(0.0, |a, b| a + b)
    }

    /// SQLite's commits of rotations and the rotations they carried
    /// (group commit), as counted so far.
    fn rotation_commits(&self) -> (f64, f64) {
        (
            self.total("holdfast_sqlite_rotations_per_commit_count"),
            self.total("holdfast_sqlite_rotations_per_commit_sum"),
        )
    }
}

/// What one phase of rotations measured.
struct Stats {
    rotations: usize,
    elapsed: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    errors: u64,
    cpu_ns: Option<u64>,
    /// Bytes the server wrote to storage over the phase.
    written: Option<u64>,
    /// Bytes PostgreSQL's processes wrote (PostgreSQL runs only).
    pg_written: Option<u64>,
    /// SQLite's commits of rotations over the phase, and the rotations
    /// they carried (from the server's metrics; SQLite runs only).
    commits: Option<(f64, f64)>,
    flood: Option<FloodCounts>,
}

impl Stats {
    fn print(&self, tag: &str) {
        println!("{tag}rotations:    {}", self.rotations);
        println!(
            "{tag}rotations/s:  {:.0}",
            self.rotations as f64 / self.elapsed
        );
        println!("{tag}latency p50:  {:.2} ms", self.p50);
        println!("{tag}latency p95:  {:.2} ms", self.p95);
        println!("{tag}latency p99:  {:.2} ms", self.p99);
        println!("{tag}errors:       {}", self.errors);
        match self.cpu_ns {
            Some(ns) if self.rotations > 0 => println!(
                "{tag}server CPU/rotation: {:.3} ms",
                ns as f64 / 1e6 / self.rotations as f64
            ),
            _ => println!("{tag}server CPU/rotation: n/a"),
        }
        if let Some((commits, rotations)) = self.commits.filter(|(c, _)| *c > 0.0) {
            println!(
                "{tag}rotations/commit: {:.2} ({commits} commits)",
                rotations / commits
            );
        }
        for (who, bytes) in [("server", self.written), ("postgres", self.pg_written)] {
            if let Some(kib) = self.per_rotation(bytes).map(|b| b / 1024.0) {
                println!("{tag}{who} written/rotation: {kib:.1} KiB");
            }
        }
    }

    fn per_rotation(&self, total: Option<u64>) -> Option<f64> {
        let total = total?;
        (self.rotations > 0).then(|| total as f64 / self.rotations as f64)
    }

    fn rate(&self) -> f64 {
        self.rotations as f64 / self.elapsed
    }

    /// DPoP-bound against bare, from one run.
    fn print_ratios(bare: &Stats, dpop: &Stats) {
        if bare.rotations == 0 || dpop.rotations == 0 {
            return;
        }
        println!(
            "ratio dpop/bare rotations/s: {:.2}",
            dpop.rate() / bare.rate()
        );
        if let (Some(b), Some(d)) = (bare.cpu_ns, dpop.cpu_ns) {
            let per = |ns: u64, s: &Stats| ns as f64 / s.rotations as f64;
            println!(
                "ratio dpop/bare server CPU/rotation: {:.2}",
                per(d, dpop) / per(b, bare)
            );
        }
    }
}

/// What the flood's requests got back.
#[derive(Debug, Default)]
struct FloodCounts {
    sent: u64,
    wrong: u64,
    throttled: u64,
    busy: u64,
    other: u64,
    dropped: u64,
}

/// A prepared database, a running server and minted sessions.
struct Bench {
    server: ServerProcess,
    dir: PathBuf,
    database_url: String,
    http: reqwest::Client,
    base: String,
    /// Bearer-only sessions.
    bare: Sessions,
    /// DPoP-bound sessions (`--dpop`).
    bound: Option<Sessions>,
}

/// One session the workers rotate: its newest refresh token and, for a
/// DPoP-bound one, the key the family is bound to.
struct Slot {
    token: String,
    key: Option<DpopKey>,
}

type Sessions = Arc<Vec<Mutex<Slot>>>;

/// The server's newest DPoP nonce (RFC 9449 §8: it rides on every token
/// endpoint response), shared by the workers.
#[derive(Default)]
struct Nonce(std::sync::RwLock<Option<String>>);

impl Nonce {
    fn get(&self) -> Option<String> {
        self.0.read().ok()?.clone()
    }

    fn update(&self, response: &reqwest::Response) {
        let Some(value) = response
            .headers()
            .get("DPoP-Nonce")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        if let Ok(mut nonce) = self.0.write()
            && nonce.as_deref() != Some(value)
        {
            *nonce = Some(value.to_owned());
        }
    }
}

/// POSTs `form` to the token endpoint `url`, with a fresh DPoP proof under
/// `key` when there is one (RFC 9449 §4.2: `htm`, `htu`, `iat`, a new `jti`,
/// and the server's nonce). A 400 that brings a nonce other than the one
/// sent is the `use_dpop_nonce` challenge: the request is made once more
/// with the new nonce, as every DPoP client does.
async fn post_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    key: Option<&DpopKey>,
    nonce: &Nonce,
) -> anyhow::Result<reqwest::Response> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = http.post(url).form(form);
        let sent = nonce.get();
        if let Some(key) = key {
            let iat = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let mut claims = ProofClaims::new("POST", url, iat);
            if let Some(n) = &sent {
                claims = claims.nonce(n);
            }
            request = request.header("DPoP", key.proof(&claims)?);
        }
        let response = request.send().await?;
        nonce.update(&response);
        let challenged = key.is_some()
            && response.status() == reqwest::StatusCode::BAD_REQUEST
            && nonce.get() != sent;
        if !challenged || attempt == 2 {
            return Ok(response);
        }
    }
}

impl Bench {
    fn peak_rss(&self) -> String {
        peak_rss_kib(self.server.0.id())
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    }

    /// The server's `/metrics`, or `None` if it did not answer.
    async fn metrics(&self) -> Option<Metrics> {
        let origin = self.base.strip_suffix("/t/bench")?;
        let response = self.http.get(format!("{origin}/metrics")).send().await;
        Some(Metrics(response.ok()?.text().await.ok()?))
    }

    /// What the server's retention sweeps did during the run, from its
    /// metrics.
    async fn print_sweeps(&self) {
        let Some(m) = self.metrics().await else {
            return;
        };
        println!(
            "retention:    {} sweeps, {:.2} s sweeping, {} rows deleted",
            m.total("holdfast_retention_sweep_seconds_count"),
            m.total("holdfast_retention_sweep_seconds_sum"),
            m.total("holdfast_retention_deleted_total")
        );
    }

    fn finish(self, args: &RefreshArgs) {
        drop(self.server);
        if args.store == Store::Postgres {
            drop_pg_database(&args.postgres_url, &self.database_url);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Prepares the database, starts the server and mints the sessions.
    /// With `flood`, the server hashes with the real Argon2 parameters.
    async fn start(args: &RefreshArgs, flood: Option<Throttle>) -> anyhow::Result<Self> {
        let pg = (args.store == Store::Postgres).then_some(args.postgres_url.as_str());
        let setup = Setup::new(args.server_bin.as_deref(), pg, flood.is_none())?;
        setup.bench_tenant(PASSWORD)?;
        let (dir, database_url) = (setup.dir.clone(), setup.database_url.clone());

        if args.preload_families > 0 {
            eprintln!("preloading {} families...", args.preload_families);
            let ended_every = if args.preload_ended_share > 0.0 {
                (1.0 / args.preload_ended_share).round() as i64
            } else {
                0
            };
            let took = preload::preload(&database_url, args.preload_families, ended_every).await?;
            eprintln!("preloaded in {:.0} s", took.as_secs_f64());
        }

        let listen = format!("127.0.0.1:{}", args.port);
        let mut command = match &args.server_cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&setup.bin);
                c
            }
            None => Command::new(&setup.bin),
        };
        command
            .args(["--database-url", &database_url, "--data-dir"])
            .arg(&dir)
            .args(["serve", "--listen", &listen])
            .env("HOLDFAST_LOG", "warn");
        if flood.is_none() {
            command
                .env("HOLDFAST_ARGON2_MEMORY_KIB", "1024")
                .env("HOLDFAST_ARGON2_ITERATIONS", "1");
        }
        let mut config = format!("[retention]\ninterval_secs = {}\n", args.sweep_interval);
        if flood == Some(Throttle::Off) {
            config.push_str("[throttle]\naddress_max_failures = 1000000000\n");
        }
        let config_path = dir.join("bench.toml");
        std::fs::write(&config_path, config)?;
        command.arg("--config").arg(&config_path);
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        // Thousands of access-log lines a second would flood this terminal;
        // the figures are for the server without them (as behind a proxy
        // that keeps its own access log). Warnings still show.
        if std::env::var_os("HOLDFAST_LOG").is_none() {
            command.env("HOLDFAST_LOG", "info,holdfast::access=off");
        }
        let server = ServerProcess(command.spawn().context("start holdfast serve")?);
        let base = format!("http://{listen}/t/bench");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency * 2)
            .build()?;
        wait_healthy(&http, &format!("http://{listen}/healthz")).await?;

        eprintln!("minting {} sessions on {:?}...", args.sessions, args.store);
        // At most 8 sign-ins in flight: the throttle counts an attempt in
        // flight until it succeeds, and one user from one address may have 10.
        let mint = |bound| mint_slots(&http, &base, args.sessions, args.concurrency.min(8), bound);
        let bare = Arc::new(mint(false).await?);
        let bound = if args.dpop {
            eprintln!("minting {} DPoP-bound sessions...", args.sessions);
            Some(Arc::new(mint(true).await?))
        } else {
            None
        };
        Ok(Self {
            server,
            dir,
            database_url,
            http,
            base,
            bare,
            bound,
        })
    }

    /// Rotates for `--duration` at `--concurrency`; with `flood`, sends
    /// that many wrong-password logins per second alongside.
    async fn rotate(
        &self,
        args: &RefreshArgs,
        flood: Option<u32>,
        sessions: &Sessions,
    ) -> anyhow::Result<Stats> {
        eprintln!(
            "rotating for {} s at concurrency {}...",
            args.duration, args.concurrency
        );
        let pid = self.server.0.id();
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let flooding =
            flood.map(|rate| tokio::spawn(run_flood(self.base.clone(), rate, stop.clone())));
        let nonce = Arc::new(Nonce::default());
        let postgres = args.store == Store::Postgres;
        // Scraped outside the measured span, so its CPU is not counted.
        let commits_before = self.metrics().await.map(|m| m.rotation_commits());
        let started = Instant::now();
        let cpu_before = server_cpu_ns(pid);
        let written_before = written_bytes(pid);
        let pg_before = postgres.then(postgres_written_bytes).flatten();
        let mut workers = Vec::new();
        for _ in 0..args.concurrency {
            let (http, base, tokens, stop, errors, next, nonce) = (
                self.http.clone(),
                self.base.clone(),
                sessions.clone(),
                stop.clone(),
                errors.clone(),
                next.clone(),
                nonce.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(100_000);
                while !stop.load(Ordering::Relaxed) {
                    // Each worker takes sessions round-robin and holds the
                    // session's lock for the whole request, so every request
                    // presents the newest token of its family.
                    let i = (next.fetch_add(1, Ordering::Relaxed) as usize) % tokens.len();
                    let mut slot = tokens[i].lock().await;
                    let t0 = Instant::now();
                    let result = post_token(
                        &http,
                        &format!("{base}/token"),
                        &[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", slot.token.as_str()),
                            ("client_id", "app"),
                        ],
                        slot.key.as_ref(),
                        &nonce,
                    )
                    .await;
                    let elapsed = t0.elapsed();
                    match result {
                        Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                            Ok(body) => match body["refresh_token"].as_str() {
                                Some(child) => {
                                    slot.token = child.to_owned();
                                    latencies.push(elapsed);
                                }
                                None => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            },
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(args.duration)).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let since = |after: Option<u64>, before: Option<u64>| {
            after
                .zip(before)
                .map(|(after, before)| after.saturating_sub(before))
        };
        let cpu_ns = since(server_cpu_ns(pid), cpu_before);
        let written = since(written_bytes(pid), written_before);
        let pg_written = since(postgres.then(postgres_written_bytes).flatten(), pg_before);
        let commits = self
            .metrics()
            .await
            .map(|m| m.rotation_commits())
            .zip(commits_before)
            .map(|((c, r), (c0, r0))| (c - c0, r - r0));
        let flood = match flooding {
            Some(task) => Some(task.await?),
            None => None,
        };
        latencies.sort();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies[idx].as_secs_f64() * 1000.0
        };
        Ok(Stats {
            rotations: latencies.len(),
            elapsed,
            p50: pct(0.50),
            p95: pct(0.95),
            p99: pct(0.99),
            errors: errors.load(Ordering::Relaxed),
            cpu_ns,
            written,
            pg_written,
            commits,
            flood,
        })
    }
}

/// Wrong-password logins at `rate` per second until `stop`, each for a
/// different username, over a connection pool of their own (so they do
/// not take the refresh load's connections). Open loop: a request goes out
/// on schedule whether or not the earlier ones were answered, up to 1024
/// in flight.
async fn run_flood(base: String, rate: u32, stop: Arc<AtomicBool>) -> FloodCounts {
    let Ok(http) = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
    else {
        return FloodCounts::default();
    };
    let counts = Arc::new(std::sync::Mutex::new(FloodCounts::default()));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(1024));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        n += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if let Ok(mut c) = counts.lock() {
                c.dropped += 1;
            }
            continue;
        };
        let (http, base, counts) = (http.clone(), base.clone(), counts.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let status = http
                .post(format!("{base}/authorize-challenge"))
                .form(&[
                    ("client_id", "app"),
                    ("username", format!("flood-{n}").as_str()),
                    ("password", "not-the-password"),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16());
            if let Ok(mut c) = counts.lock() {
                c.sent += 1;
                match status {
                    Ok(400) => c.wrong += 1,
                    Ok(429) => c.throttled += 1,
                    Ok(503) => c.busy += 1,
                    _ => c.other += 1,
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    std::mem::take(&mut *counts.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `n` bearer sessions: their first refresh tokens.
pub(crate) async fn mint_sessions(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let slots = mint_slots(http, base, n, concurrency, false).await?;
    Ok(slots.into_iter().map(|s| s.into_inner().token).collect())
}

/// `n` sessions through the first-party login API, each `bound` to a fresh
/// P-256 key of its own (the code exchanged with a DPoP proof) or not.
async fn mint_slots(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    concurrency: usize,
    bound: bool,
) -> anyhow::Result<Vec<Mutex<Slot>>> {
    let next = Arc::new(AtomicU64::new(0));
    let nonce = Arc::new(Nonce::default());
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(n).max(1) {
        let (http, base, next, nonce) =
            (http.clone(), base.to_owned(), next.clone(), nonce.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < n {
                // A full hashing queue answers 503 at once: wait a moment
                // and ask again.
                let challenge: Value = loop {
                    let r = http
                        .post(format!("{base}/authorize-challenge"))
                        .form(&[
                            ("client_id", "app"),
                            ("username", "load"),
                            ("password", PASSWORD),
                            ("code_challenge", CHALLENGE),
                            ("code_challenge_method", "S256"),
                            ("scope", "openid"),
                        ])
                        .send()
                        .await?;
                    if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    break r.json().await?;
                };
                let code = challenge["authorization_code"]
                    .as_str()
                    .with_context(|| format!("no code: {challenge}"))?
                    .to_owned();
                let key = bound
                    .then(|| DpopKey::generate(DpopAlg::ES256))
                    .transpose()?;
                let tokens: Value = post_token(
                    &http,
                    &format!("{base}/token"),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("client_id", "app"),
                        ("code_verifier", VERIFIER),
                    ],
                    key.as_ref(),
                    &nonce,
                )
                .await?
                .json()
                .await?;
                if bound && tokens["token_type"] != "DPoP" {
                    anyhow::bail!("the code exchange did not bind the session: {tokens}");
                }
                let token = tokens["refresh_token"]
                    .as_str()
                    .with_context(|| format!("no refresh token: {tokens}"))?
                    .to_owned();
                out.push(Mutex::new(Slot { token, key }));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}
