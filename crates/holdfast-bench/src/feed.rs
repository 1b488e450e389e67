//! `holdfast-bench feed`: how fast a revocation reaches a Shared Signals
//! receiver (issue 13's targets), against real `holdfast serve` processes.
//!
//! 1. Prepares the database through the CLI: tenant `bench`, public client
//!    `app`, user `load`, and a receiver `rs` (confidential, client
//!    credentials, scope `ssf`). Starts `--nodes` servers on it (two or
//!    more need PostgreSQL).
//! 2. The receiver gets a token and creates a poll stream on the *last*
//!    node, then long-polls it (RFC 8936, `returnImmediately: false`,
//!    acknowledging each batch in the next request).
//! 3. **Propagation**: `--revocations` times, revokes one fresh session by
//!    RFC 7009 on the *first* node and measures from the revocation's
//!    response to the receiver holding the SET (p50/p95/p99/max).
//! 4. **Throughput**: preloads `--burst` sessions of the user, revokes them
//!    all at once (`holdfast user revoke-all`, one transaction) and measures
//!    how many SETs per second the one receiver is delivered, from the
//!    first to the last.
//!
//! Example: `holdfast-bench feed --store postgres --nodes 2 --revocations 300 --burst 100000`

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::process::{Setup, wait_healthy};
use crate::{PASSWORD, ServerProcess, Store, mint_sessions, preload};

/// Options of `holdfast-bench feed`.
#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    /// Which store the servers run on.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: Store,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Servers on the one database (more than one needs PostgreSQL); the
    /// revocations go to the first, the receiver polls the last.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Revocations timed one after the other (propagation).
    #[arg(long, default_value_t = 200)]
    revocations: usize,
    /// Sessions revoked at once (throughput); 0 skips it.
    #[arg(long, default_value_t = 20_000)]
    burst: i64,
    /// SETs asked for per poll (`maxEvents`).
    #[arg(long, default_value_t = 1000)]
    max_events: u64,
    /// The `holdfast` binary [default: next to this one].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// First port; node i listens on port + i.
    #[arg(long, default_value_t = 18_544)]
    port: u16,
}

/// What the receiver saw: when each SET arrived.
struct Arrival {
    at: Instant,
}

pub async fn run(args: FeedArgs) -> anyhow::Result<()> {
    if args.nodes > 1 && args.store != Store::Postgres {
        bail!("--nodes > 1 needs --store postgres (nodes share one database)");
    }
    let pg = (args.store == Store::Postgres).then_some(args.postgres_url.as_str());
    let setup = Setup::new(args.server_bin.as_deref(), pg, true)?;
    setup.bench_tenant(PASSWORD)?;
    let cli = |extra: &[&str], stdin: Option<&str>| setup.cli(extra, stdin);
    let rs = cli(
        &[
            "client",
            "create",
            "--tenant",
            "bench",
            "--client-id",
            "rs",
            "--confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "ssf",
        ],
        None,
    )?;
    let secret = rs["client_secret"]
        .as_str()
        .context("no client secret")?
        .to_owned();

    let mut nodes = Vec::new();
    let mut bases = Vec::new();
    for i in 0..args.nodes.max(1) {
        let listen = format!("127.0.0.1:{}", args.port + i as u16);
        let child = setup
            .command()
            .args(["serve", "--listen", &listen])
            .env("HOLDFAST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start holdfast serve")?;
        nodes.push(ServerProcess(child));
        bases.push(format!("http://{listen}"));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    for base in &bases {
        wait_healthy(&http, &format!("{base}/healthz")).await?;
    }
    let revoker = format!("{}/t/bench", bases[0]);
    let polled = format!("{}/t/bench", bases[bases.len() - 1]);

    // The receiver: a token, a poll stream on the last node, a long-poll loop.
    let token: Value = http
        .post(format!("{polled}/token"))
        .basic_auth("rs", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "ssf")])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no receiver token")?
        .to_owned();
    let origin = &bases[bases.len() - 1];
    let meta: Value = http
        .get(format!("{origin}/.well-known/ssf-configuration/t/bench"))
        .send()
        .await?
        .json()
        .await?;
    let stream: Value = http
        .post(
            meta["configuration_endpoint"]
                .as_str()
                .context("metadata")?,
        )
        .bearer_auth(&token)
        .json(&json!({ "delivery": { "method": "urn:ietf:rfc:8936" } }))
        .send()
        .await?
        .json()
        .await?;
    let poll_url = stream["delivery"]["endpoint_url"]
        .as_str()
        .context("no poll endpoint")?
        .to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel::<Arrival>();
    let received = Arc::new(AtomicU64::new(0));
    let poller = tokio::spawn(poll_loop(
        http.clone(),
        poll_url,
        token,
        args.max_events,
        tx,
        received.clone(),
    ));

    // Propagation.
    eprintln!("minting {} sessions on {}...", args.revocations, revoker);
    let tokens = mint_sessions(&http, &revoker, args.revocations, 8).await?;
    eprintln!("revoking them one at a time...");
    let mut latencies = Vec::with_capacity(tokens.len());
    for rt in &tokens {
        let reply = http
            .post(format!("{revoker}/revoke"))
            .form(&[("token", rt.as_str()), ("client_id", "app")])
            .send()
            .await?;
        let answered = Instant::now();
        if !reply.status().is_success() {
            bail!("revocation answered {}", reply.status());
        }
        let arrival = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .context("no SET within 30 s")?
            .context("the receiver stopped")?;
        latencies.push(arrival.at.saturating_duration_since(answered));
    }
    latencies.sort();
    let pct = |p: f64| -> f64 {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!("store:        {:?}, {} node(s)", args.store, args.nodes);
    println!(
        "propagation:  {} revocations on node 1, SETs long-polled from node {}",
        latencies.len(),
        args.nodes
    );
    println!(
        "  revocation response -> SET at the receiver: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    );

    // Throughput.
    if args.burst > 0 {
        eprintln!("preloading {} sessions...", args.burst);
        preload::preload(&setup.database_url, args.burst, 0).await?;
        let before = received.load(Ordering::Relaxed);
        let started = Instant::now();
        cli(
            &["user", "revoke-all", "--tenant", "bench", "--user", "load"],
            None,
        )?;
        let written = started.elapsed();
        // revoke-all also stamps not-before: one RISC sessions-revoked more.
        let expected = args.burst as u64 + 1;
        let mut first = None;
        let mut last = Instant::now();
        let mut got = 0;
        while got < expected {
            let arrival = tokio::time::timeout(Duration::from_secs(120), rx.recv())
                .await
                .context("the burst stalled")?
                .context("the receiver stopped")?;
            first.get_or_insert(arrival.at);
            last = arrival.at;
            got += 1;
        }
        let first = first.unwrap_or(last);
        let span = last
            .saturating_duration_since(first)
            .as_secs_f64()
            .max(1e-6);
        println!(
            "throughput:   {} sessions revoked in one transaction ({:.2} s with the CLI start)",
            args.burst,
            written.as_secs_f64()
        );
        println!(
            "  {} SETs to one poll receiver: first to last {:.2} s = {:.0} events/s; revocation start to last {:.2} s",
            got,
            span,
            got as f64 / span,
            last.saturating_duration_since(started).as_secs_f64()
        );
        debug_assert!(received.load(Ordering::Relaxed) - before >= expected);
    }
    poller.abort();
    drop(nodes);
    setup.remove(pg);
    Ok(())
}

/// Long-polls `url` forever, acknowledging each batch in the next request;
/// one [`Arrival`] per SET.
async fn poll_loop(
    http: reqwest::Client,
    url: String,
    token: String,
    max_events: u64,
    tx: mpsc::UnboundedSender<Arrival>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut ack: Vec<String> = Vec::new();
    loop {
        let body = json!({ "maxEvents": max_events, "returnImmediately": false, "ack": ack });
        let reply: Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let at = Instant::now();
        ack = reply["sets"]
            .as_object()
            .map(|sets| sets.keys().cloned().collect())
            .unwrap_or_default();
        for _ in &ack {
            received.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Arrival { at });
        }
    }
}
