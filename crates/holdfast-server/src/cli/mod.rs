//! The `holdfast` command line: `serve`, `migrate`, and administration of
//! tenants, clients, users, keys, sessions and audit events.
//!
//! - [`args`]: the command line as clap parses it.
//! - [`admin`]: the administrative commands, one file per group.
//! - [`output`]: text or JSON (`--json`), tables, times, errors.
//! - here: [`main`] and [`run`], which resolve the configuration
//!   ([`crate::config::Resolved`]), open the store and KEK, and either serve
//!   or run one administrative command.
//!
//! Output is for humans by default and JSON with `--json`, errors included.
//! Secrets never come from argv (where `ps` and shell history would see
//! them): passwords are read from stdin, client secrets are generated and
//! printed once.

pub mod admin;
pub mod args;
pub mod output;
pub mod remote;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use url::Url;

pub use args::{AdminCommand, Cli, Command};

use crate::config::{LogFormat, Resolved};
use crate::kek::{KEK_ENV, load_kek};
use crate::state::{AppState, SystemClock};
use output::{ErrorCode, Output, print_error};

/// The `holdfast` binary: parses the command line, runs it, and reports a
/// failure on stderr (as JSON with `--json`) with a non-zero exit status.
pub async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            print_error(json, ErrorCode::of(&err), &format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused (or `--help`, `--version`, which clap
/// reports the same way). With `--json` among the arguments, a refusal is
/// the JSON error object, exit status 2 as clap's own.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    // Before a `--`, `--json` is the flag (clap accepts it anywhere).
    let json = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json");
    if informational || !json {
        err.exit();
    }
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let description = first.strip_prefix("error: ").unwrap_or(first);
    print_error(true, ErrorCode::Usage, description);
    ExitCode::from(2)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let resolved = Resolved::load(&cli.overrides())?;
    match &cli.command {
        Command::Serve => {
            init_logging(resolved.log_format, "info");
            serve(resolved).await
        }
        Command::Admin(command) if cli.remote.is_some() => {
            init_logging(resolved.log_format, "warn");
            let server = cli.remote.as_ref().context("--server")?;
            remote::run(server, command, Output { json: cli.json }).await
        }
        Command::Admin(command) => {
            init_logging(resolved.log_format, "warn");
            let public_url = resolved.server.public_url_for(resolved.server.listen);
            let state = open_state(&resolved, public_url).await?;
            admin::run(&state, command, Output { json: cli.json }).await
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr's reader is gone) is
        // lost, not reported with `eprintln!`, which panics on the same
        // closed pipe and would turn every logged request into a 500.
        .log_internal_errors(false)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Opens the store and KEK and builds the state, as `serve` and every
/// administrative command do.
async fn open_state(resolved: &Resolved, public_url: Url) -> anyhow::Result<AppState> {
    // Refuse bad password parameters before touching anything.
    crate::service::password::PasswordHasher::new(resolved.server.password).check_params()?;
    let url = &resolved.location.database_url;
    // A data directory (or SQLite file's folder) that does not exist yet is
    // created, private to the owner.
    let dirs = [
        resolved
            .location
            .kek_path
            .parent()
            .map(std::path::Path::to_path_buf),
        crate::config::sqlite_path(url).and_then(|p| p.parent().map(std::path::Path::to_path_buf)),
    ];
    for dir in dirs
        .into_iter()
        .flatten()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        // Created 0700 from the start (every missing level), so there is no
        // moment when another user could list or open it.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let store = holdfast_store::connect(url)
        .await
        .with_context(|| format!("cannot open database {}", holdfast_store::redact_url(url)))?;
    let env_kek = std::env::var(KEK_ENV).ok();
    let kek = load_kek(&*store, env_kek.as_deref(), &resolved.location.kek_path).await?;
    let state = AppState::new(
        store,
        Arc::new(kek),
        public_url,
        resolved.server.clone(),
        Arc::new(SystemClock),
    );
    Ok(state)
}

async fn serve(resolved: Resolved) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(resolved.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", resolved.server.listen))?;
    let bound = listener.local_addr()?;
    let public_url = resolved.server.public_url_for(bound);
    let state = open_state(&resolved, public_url.clone()).await?;
    tracing::info!(
        store = state.store.backend(),
        database = %holdfast_store::redact_url(&resolved.location.database_url),
        "store ready"
    );
    administration_at_start(&state).await?;
    tracing::info!(address = %bound, public_url = %public_url, "Holdfast listening; issuers are {public_url}t/<tenant>");
    // Forgetting what can no longer matter, one node at a time.
    let sweeps = tokio::spawn(crate::service::retention::run(state.clone()));
    crate::serve(listener, state, shutdown_signal()).await?;
    sweeps.abort();
    tracing::info!("shut down cleanly");
    Ok(())
}

/// With an administration tenant, keeps the console's client registered
/// for this public URL; without one, says once how to make the first
/// administrator.
async fn administration_at_start(state: &AppState) -> anyhow::Result<()> {
    use crate::service::administrators;
    match administrators::administration_tenant(state).await? {
        Some(tenant) => {
            let actor = crate::service::admin::Actor {
                name: "server".to_owned(),
                context: Default::default(),
            };
            administrators::ensure_builtin_clients(state, &tenant, &actor).await?;
            tracing::info!(
                console = %administrators::console_url(&state.public_url),
                "admin console ready"
            );
        }
        None => tracing::warn!(
            "no administrator yet: run `holdfast admin bootstrap` (same --database-url and \
             --data-dir as this server) to create one, then sign in at {}",
            administrators::console_url(&state.public_url)
        ),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
