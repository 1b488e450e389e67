//! The `holdfast` command line: `serve`, `migrate`, and administration of
//! tenants, clients, users and keys.
//!
//! Output is for humans by default and JSON with `--json`. Secrets never come
//! from argv (where `ps` and shell history would see them): passwords are
//! read from stdin, client secrets are generated and printed once.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use holdfast_core::client::{ClientKind, GrantType, NewClient, RotationMode};
use holdfast_core::keys::SigningAlg;
use holdfast_core::tenant::issuer_url;
use holdfast_crypto::secret::SecretString;
use serde_json::{Value, json};
use url::Url;

use crate::config::{FileConfig, LogFormat, PasswordParams, ServerConfig, StorageLocation};
use crate::kek::{KEK_ENV, load_kek};
use crate::service::admin::{self, NewTenant};
use crate::state::{AppState, SystemClock};
use holdfast_core::throttle::ThrottlePolicy;

/// Holdfast: a self-hosted OAuth 2.1 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "holdfast", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (lowest precedence after defaults).
    #[arg(long, env = "HOLDFAST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://holdfast.db) or postgres://...
    #[arg(long, env = "HOLDFAST_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the KEK file and the default SQLite database.
    #[arg(long, env = "HOLDFAST_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Server options.
    #[command(flatten)]
    pub server: ServerArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and revoke sessions (token families).
    #[command(subcommand)]
    Session(SessionCommand),
    /// List audit events.
    Events {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Only events at or after this time: Unix seconds, or a duration ago like 15m, 2h, 7d.
        #[arg(long, value_parser = parse_since)]
        since: Option<Since>,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

/// `--since`: an absolute time or a duration before now.
#[derive(Debug, Clone, Copy)]
pub enum Since {
    /// Unix seconds.
    At(i64),
    /// Seconds before now.
    Ago(i64),
}

fn parse_since(raw: &str) -> Result<Since, String> {
    if let Ok(at) = raw.parse::<i64>() {
        return Ok(Since::At(at));
    }
    let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: use Unix seconds or a duration like 30s, 15m, 2h, 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{raw:?}: unknown unit (s, m, h, d)")),
    };
    Ok(Since::Ago(secs))
}

/// `holdfast session ...`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a user's live sessions.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Revoke one session (its refresh tokens stop working at once).
    Revoke {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Session id (`sid`).
        #[arg(long)]
        session: String,
    },
}

/// Server options. Global, so administrative commands resolve the public
/// URL and password parameters exactly as `serve` does.
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HOLDFAST_LISTEN", global = true)]
    pub listen: Option<std::net::SocketAddr>,
    /// Public base URL (set it behind a reverse proxy) [default: http://{listen}].
    #[arg(long, env = "HOLDFAST_PUBLIC_URL", global = true)]
    pub public_url: Option<Url>,
    /// Log format [default: text].
    #[arg(long, env = "HOLDFAST_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Argon2id memory in KiB [default: 19456].
    #[arg(long, env = "HOLDFAST_ARGON2_MEMORY_KIB", global = true)]
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id passes [default: 2].
    #[arg(long, env = "HOLDFAST_ARGON2_ITERATIONS", global = true)]
    pub argon2_iterations: Option<u32>,
    /// Argon2id lanes [default: 1].
    #[arg(long, env = "HOLDFAST_ARGON2_PARALLELISM", global = true)]
    pub argon2_parallelism: Option<u32>,
}

/// `holdfast tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with fresh signing keys.
    Create {
        /// URL slug: a-z, 0-9 and inner '-'.
        slug: String,
        /// Display name shown on login pages.
        #[arg(long)]
        name: Option<String>,
        /// Signing algorithm of access tokens and, by default, ID tokens:
        /// ES256, EdDSA or RS256 (slower, larger tokens).
        #[arg(long, default_value = "ES256", value_parser = parse_alg)]
        signing_alg: SigningAlg,
        /// Default access-token audience [default: the issuer].
        #[arg(long)]
        audience: Option<String>,
    },
    /// List tenants.
    List,
    /// Show or change a tenant's login-throttling limits (OWASP ASVS
    /// 2.2.1). Flags left out keep their value; without flags, prints the
    /// limits in force.
    Throttle(TenantThrottleArgs),
}

/// `holdfast tenant throttle SLUG [...]`: each flag overrides one limit of
/// `holdfast_core::throttle::ThrottlePolicy`.
#[derive(Debug, Args)]
pub struct TenantThrottleArgs {
    /// Tenant slug.
    pub slug: String,
    /// Failures per account and address in one window.
    #[arg(long)]
    pub pair_max_failures: Option<i64>,
    /// Length of that window, seconds.
    #[arg(long)]
    pub pair_window_secs: Option<i64>,
    /// Failures per account before each further attempt waits a doubling delay.
    #[arg(long)]
    pub account_delay_after: Option<i64>,
    /// Longest such delay, seconds.
    #[arg(long)]
    pub account_max_delay_secs: Option<i64>,
    /// Failures per account in one window (at most 100 an hour).
    #[arg(long)]
    pub account_max_failures: Option<i64>,
    /// Length of the account window, seconds.
    #[arg(long)]
    pub account_window_secs: Option<i64>,
    /// Failures per address across accounts in one window.
    #[arg(long)]
    pub address_max_failures: Option<i64>,
    /// Length of the address window, seconds.
    #[arg(long)]
    pub address_window_secs: Option<i64>,
    /// How long an address that signed in stays exempt from the account limit, seconds.
    #[arg(long)]
    pub known_address_secs: Option<i64>,
    /// Drop the tenant's own limits: the server's configured ones apply.
    #[arg(long, conflicts_with_all = [
        "pair_max_failures", "pair_window_secs", "account_delay_after",
        "account_max_delay_secs", "account_max_failures", "account_window_secs",
        "address_max_failures", "address_window_secs", "known_address_secs",
    ])]
    pub reset: bool,
}

impl TenantThrottleArgs {
    /// `base` with the given flags applied; `None` when no flag was given.
    fn apply(&self, base: ThrottlePolicy) -> Option<ThrottlePolicy> {
        let mut p = base;
        let mut changed = false;
        for (flag, field) in [
            (self.pair_max_failures, &mut p.pair_max_failures),
            (self.pair_window_secs, &mut p.pair_window_secs),
            (self.account_delay_after, &mut p.account_delay_after),
            (self.account_max_delay_secs, &mut p.account_max_delay_secs),
            (self.account_max_failures, &mut p.account_max_failures),
            (self.account_window_secs, &mut p.account_window_secs),
            (self.address_max_failures, &mut p.address_max_failures),
            (self.address_window_secs, &mut p.address_window_secs),
            (self.known_address_secs, &mut p.known_address_secs),
        ] {
            if let Some(value) = flag {
                *field = value;
                changed = true;
            }
        }
        changed.then_some(p)
    }
}

/// `holdfast client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Create(ClientCreateArgs),
    /// List a tenant's clients.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
}

/// Options of `holdfast client create`.
#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// The public client_id.
    #[arg(long)]
    pub client_id: String,
    /// A public client (SPA, mobile app): no secret.
    #[arg(
        long,
        conflicts_with = "confidential",
        required_unless_present = "confidential"
    )]
    pub public: bool,
    /// A confidential client (server-side app): gets a generated secret.
    #[arg(long)]
    pub confidential: bool,
    /// An allowed redirect URI, matched exactly (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// An allowed grant type (repeatable) [default: authorization_code, refresh_token].
    #[arg(long = "grant-type", value_parser = parse_grant)]
    pub grant_types: Vec<GrantType>,
    /// An allowed scope (repeatable) [default: openid profile email].
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = holdfast_core::client::DEFAULT_ACCESS_TOKEN_TTL_SECS)]
    pub access_token_ttl: i64,
    /// Refresh-token rotation: confirmed, strict or none.
    #[arg(long, default_value = "confirmed", value_parser = parse_rotation)]
    pub rotation: RotationMode,
    /// Grace window for retrying a rotated refresh token, seconds.
    #[arg(long, default_value_t = 60)]
    pub grace_window: i64,
    /// Grace retries allowed per refresh token.
    #[arg(long, default_value_t = 5)]
    pub retry_limit: i64,
    /// RISKY, public clients only: give grace retries to refresh tokens that
    /// are not DPoP-bound. Without this, such a token rotates strictly (a
    /// second use revokes the session), because nothing tells its owner's
    /// retry from a thief's: with it, whoever replays a stolen token within
    /// the grace window after its owner used it receives the live child and
    /// takes over the session, and reuse detection never fires. Prefer
    /// DPoP-bound tokens (the JS SDK always binds), which keep grace safely.
    #[arg(long)]
    pub unbound_grace_accept_risk: bool,
    /// Idle (sliding) lifetime of a session, seconds [default: 14 days].
    #[arg(long, default_value_t = 14 * 24 * 3600)]
    pub idle_lifetime: i64,
    /// Absolute lifetime of a session, seconds [default: 90 days].
    #[arg(long, default_value_t = 90 * 24 * 3600)]
    pub absolute_lifetime: i64,
    /// Require DPoP-bound tokens.
    #[arg(long)]
    pub dpop_required: bool,
    /// Deliver refresh tokens in an HttpOnly cookie scoped to the token
    /// endpoint instead of the response body (same-site deployments).
    #[arg(long)]
    pub refresh_token_cookie: bool,
    /// A browser origin allowed to call the token endpoint (repeatable)
    /// [default: the origins of the redirect URIs].
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,
    /// A resource (RFC 8707 audience URI) the client may get tokens for,
    /// matched exactly (repeatable) [default: the tenant's default audience
    /// only, which is always allowed].
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// The algorithm its ID tokens are signed with: the tenant's or RS256
    /// (OIDC `id_token_signed_response_alg`) [default: the tenant's].
    /// Access tokens always use the tenant's algorithm.
    #[arg(long, value_parser = parse_alg)]
    pub id_token_signed_response_alg: Option<SigningAlg>,
}

/// `holdfast user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin.
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username (unique per tenant, case-insensitive).
        #[arg(long)]
        username: String,
        /// Read the password from stdin (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Revoke every session of a user and stamp "not before now" on their tokens.
    RevokeAll {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
}

/// `holdfast keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Promote next → current, retire current, create a new next.
    Rotate {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// List a tenant's keys and their states.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
}

fn parse_alg(raw: &str) -> Result<SigningAlg, String> {
    raw.parse()
        .map_err(|e: holdfast_core::ValidationError| e.to_string())
}
fn parse_grant(raw: &str) -> Result<GrantType, String> {
    raw.parse()
        .map_err(|e: holdfast_core::ValidationError| e.to_string())
}
fn parse_rotation(raw: &str) -> Result<RotationMode, String> {
    raw.parse()
        .map_err(|e: holdfast_core::ValidationError| e.to_string())
}

/// Everything resolved from flags, environment and file.
struct Resolved {
    location: StorageLocation,
    server: ServerConfig,
    log_format: LogFormat,
}

fn resolve(cli: &Cli) -> anyhow::Result<Resolved> {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let location = StorageLocation::resolve(
        cli.database_url.clone().or(file.database_url.clone()),
        cli.data_dir.clone().or(file.data_dir.clone()),
    );
    let defaults = ServerConfig::default();
    let pw_file = file.password.clone().unwrap_or_default();
    let pw_default = PasswordParams::default();
    let args = &cli.server;
    let server = ServerConfig {
        listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
        public_url: args.public_url.clone().or(file.public_url.clone()),
        password: PasswordParams {
            memory_kib: args
                .argon2_memory_kib
                .or(pw_file.memory_kib)
                .unwrap_or(pw_default.memory_kib),
            iterations: args
                .argon2_iterations
                .or(pw_file.iterations)
                .unwrap_or(pw_default.iterations),
            parallelism: args
                .argon2_parallelism
                .or(pw_file.parallelism)
                .unwrap_or(pw_default.parallelism),
        },
        max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        dpop_iat_window_secs: file
            .dpop_iat_window_secs
            .unwrap_or(defaults.dpop_iat_window_secs),
        password_pool: crate::service::password::PoolLimits {
            workers: pw_file.workers.or(defaults.password_pool.workers),
            queue: pw_file.queue.unwrap_or(defaults.password_pool.queue),
        },
        throttle: file.throttle.unwrap_or(defaults.throttle),
        trusted_proxies: file.trusted_proxies.clone().unwrap_or_default(),
        retention: file.retention.unwrap_or(defaults.retention),
    };
    server
        .retention
        .validate()
        .context("configuration [retention]")?;
    server
        .throttle
        .validate()
        .context("configuration [throttle]")?;
    let log_format = args.log_format.or(file.log_format).unwrap_or_default();
    Ok(Resolved {
        location,
        server,
        log_format,
    })
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let resolved = resolve(&cli)?;
    match &cli.command {
        Command::Serve => {
            init_logging(resolved.log_format, "info");
            serve(resolved).await
        }
        command => {
            init_logging(resolved.log_format, "warn");
            let public_url = resolved.server.public_url_for(resolved.server.listen);
            let state = open_state(&resolved, public_url).await?;
            admin_command(&state, command, cli.json).await
        }
    }
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
    tracing::info!(address = %bound, public_url = %public_url, "Holdfast listening; issuers are {public_url}t/<tenant>");
    // Forgetting what can no longer matter, one node at a time.
    let sweeps = tokio::spawn(crate::service::retention::run(state.clone()));
    crate::serve(listener, state, shutdown_signal()).await?;
    sweeps.abort();
    tracing::info!("shut down cleanly");
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

fn print(json_mode: bool, value: serde_json::Value, human: String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

/// Like [`print`], for a listing: `empty` when there is nothing to list.
fn print_list(json_mode: bool, value: serde_json::Value, human: String, empty: &str) {
    let human = if human.is_empty() {
        empty.to_owned()
    } else {
        human
    };
    print(json_mode, value, human);
}

async fn admin_command(state: &AppState, command: &Command, json_mode: bool) -> anyhow::Result<()> {
    match command {
        Command::Serve => unreachable!("serve is handled by run"),
        Command::Migrate => {
            // open_state already connected, which applies migrations.
            print(
                json_mode,
                json!({"migrated": true, "store": state.store.backend()}),
                format!("database is up to date ({})", state.store.backend()),
            );
        }
        Command::Tenant(TenantCommand::Create {
            slug,
            name,
            signing_alg,
            audience,
        }) => {
            let tenant = admin::create_tenant(
                state,
                NewTenant {
                    slug: slug.clone(),
                    display_name: name.clone(),
                    signing_alg: *signing_alg,
                    audience: audience.clone(),
                },
            )
            .await?;
            let issuer = issuer_url(&state.public_url, &tenant.slug);
            print(
                json_mode,
                json!({
                    "id": tenant.id, "slug": tenant.slug, "name": tenant.display_name,
                    "signing_alg": tenant.signing_alg.as_str(), "issuer": issuer.as_str(),
                    "audience": tenant.audience(&issuer),
                }),
                format!(
                    "created tenant '{}' ({})\n  issuer:    {issuer}\n  discovery: {issuer}/.well-known/openid-configuration",
                    tenant.slug, tenant.signing_alg
                ),
            );
        }
        Command::Tenant(TenantCommand::List) => {
            let tenants = state.store.list_tenants().await?;
            let items: Vec<_> = tenants
                .iter()
                .map(|t| json!({"id": t.id, "slug": t.slug, "name": t.display_name, "signing_alg": t.signing_alg.as_str()}))
                .collect();
            let human = tenants
                .iter()
                .map(|t| format!("{}\t{}\t{}", t.slug, t.signing_alg, t.display_name))
                .collect::<Vec<_>>()
                .join("\n");
            print_list(json_mode, json!(items), human, "no tenants");
        }
        Command::Tenant(TenantCommand::Throttle(args)) => {
            let tenant = admin::tenant(state, &args.slug).await?;
            let own = state.store.tenant_throttle_policy(&tenant.id).await?;
            let policy = if args.reset {
                state
                    .store
                    .set_tenant_throttle_policy(&tenant.id, None)
                    .await?;
                state.config.throttle
            } else {
                match args.apply(own.unwrap_or(state.config.throttle)) {
                    Some(policy) => {
                        policy.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                        state
                            .store
                            .set_tenant_throttle_policy(&tenant.id, Some(&policy))
                            .await?;
                        policy
                    }
                    None => own.unwrap_or(state.config.throttle),
                }
            };
            let value = serde_json::to_value(policy)?;
            let human = value
                .as_object()
                .map(|fields| {
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k:<24} {v}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            print(json_mode, value, human);
        }
        Command::Client(ClientCommand::Create(args)) => {
            let tenant = admin::tenant(state, &args.tenant).await?;
            let kind = if args.confidential {
                ClientKind::Confidential
            } else {
                ClientKind::Public
            };
            let mut new = NewClient::new(args.client_id.clone(), kind);
            new.redirect_uris = args.redirect_uris.clone();
            new.grant_types = args.grant_types.clone();
            new.scopes = args.scopes.clone();
            new.access_token_ttl_secs = args.access_token_ttl;
            new.refresh.rotation = args.rotation;
            new.refresh.grace_window_secs = args.grace_window;
            new.refresh.retry_limit = args.retry_limit;
            new.refresh.unbound_grace_accept_risk = args.unbound_grace_accept_risk;
            new.refresh.idle_lifetime_secs = args.idle_lifetime;
            new.refresh.absolute_lifetime_secs = args.absolute_lifetime;
            new.dpop_required = args.dpop_required;
            new.refresh_token_in_cookie = args.refresh_token_cookie;
            new.allowed_origins = args.allowed_origins.clone();
            new.resources = args.resources.clone();
            new.id_token_signed_response_alg = args.id_token_signed_response_alg;
            let (client, secret) = admin::create_client(state, &tenant, new).await?;
            let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
            let mut value = json!({
                "tenant": tenant.slug, "client_id": client.client_id, "kind": client.kind.as_str(),
                "redirect_uris": client.redirect_uris, "grant_types": grants, "scopes": client.scopes,
                "access_token_ttl": client.access_token_ttl_secs, "dpop_required": client.dpop_required, "refresh_token_cookie": client.refresh_token_in_cookie, "allowed_origins": client.allowed_origins,
                "rotation": client.refresh.rotation.as_str(), "unbound_grace_accept_risk": client.refresh.unbound_grace_accept_risk,
                "resources": client.resources,
                "id_token_signed_response_alg": client.id_token_alg(tenant.signing_alg).as_str(),
            });
            let mut human = format!(
                "created {} client '{}' in tenant '{}'\n  grant types: {}\n  scopes:      {}\n  ID tokens:   {}",
                client.kind.as_str(),
                client.client_id,
                tenant.slug,
                grants.join(" "),
                client.scopes.join(" "),
                client.id_token_alg(tenant.signing_alg)
            );
            if client.refresh.unbound_grace_accept_risk {
                human.push_str(
                    "\n  warning:     unbound refresh tokens get grace retries: a thief replaying one \
                     inside the window takes over the session (--unbound-grace-accept-risk)",
                );
            }
            if let Some(secret) = &secret {
                value["client_secret"] = json!(secret.expose());
                human.push_str(&format!(
                    "\n  client secret (shown once, store it now): {}",
                    secret.expose()
                ));
            }
            print(json_mode, value, human);
        }
        Command::Client(ClientCommand::List { tenant }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let clients = state.store.list_clients(&tenant.id).await?;
            let items: Vec<_> = clients
                .iter()
                .map(|c| json!({"client_id": c.client_id, "kind": c.kind.as_str(), "redirect_uris": c.redirect_uris}))
                .collect();
            let human = clients
                .iter()
                .map(|c| format!("{}\t{}", c.client_id, c.kind.as_str()))
                .collect::<Vec<_>>()
                .join("\n");
            print_list(json_mode, json!(items), human, "no clients");
        }
        Command::User(UserCommand::Create {
            tenant,
            username,
            password_stdin: _,
            email,
        }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let password = read_password_from_stdin()?;
            let user =
                admin::create_user(state, &tenant, username, email.as_deref(), password).await?;
            print(
                json_mode,
                json!({"id": user.id, "tenant": tenant.slug, "username": user.username, "email": user.email}),
                format!(
                    "created user '{}' in tenant '{}' (id {})",
                    user.username, tenant.slug, user.id
                ),
            );
        }
        Command::User(UserCommand::RevokeAll { tenant, user }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let event = admin::audit_event(
                state,
                &tenant,
                "revocation",
                Some(&user.id),
                None,
                "revoked_by_admin",
            );
            let now = event.at;
            // Revoke (and count) the live sessions first, with the event:
            // the stamp would otherwise revoke them itself and the count
            // would say 0. Should stamping then fail, the command fails, the
            // revocation it recorded stands and running it again is safe.
            let count = state
                .store
                .revoke_user_sessions(&tenant.id, &user.id, None, "revoked_by_admin", now, &event)
                .await?;
            state
                .store
                .set_user_not_before(&tenant.id, &user.id, now)
                .await?;
            print(
                json_mode,
                json!({"tenant": tenant.slug, "user_id": user.id, "sessions_revoked": count, "not_before": now}),
                format!(
                    "revoked {count} session(s) of '{}'; tokens issued before now are refused",
                    user.username
                ),
            );
        }
        Command::Session(SessionCommand::List { tenant, user }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let sessions = state
                .store
                .list_sessions(&tenant.id, &user.id, state.now())
                .await?;
            let items: Vec<_> = sessions
                .iter()
                .map(|s| {
                    json!({"sid": s.id, "client_id": s.client_id, "device_id": s.device_id, "user_agent": s.user_agent,
                           "ip": s.ip, "created_at": s.created_at, "last_used_at": s.last_used_at})
                })
                .collect();
            let human = sessions
                .iter()
                .map(|s| {
                    format!(
                        "{}\t{}\tdevice={}\tlast_used={}\t{}",
                        s.id,
                        s.client_id,
                        s.device_id.as_deref().unwrap_or("-"),
                        s.last_used_at,
                        s.user_agent.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print_list(json_mode, json!(items), human, "no live sessions");
        }
        Command::Session(SessionCommand::Revoke { tenant, session }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let found = state
                .store
                .session(&tenant.id, session)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("no session '{session}' in tenant '{}'", tenant.slug)
                })?;
            let event = admin::audit_event(
                state,
                &tenant,
                "revocation",
                Some(&found.user_id),
                Some(&found.id),
                "revoked_by_admin",
            );
            state
                .store
                .revoke_session(&tenant.id, &found.id, "revoked_by_admin", event.at, &event)
                .await?;
            print(
                json_mode,
                json!({"tenant": tenant.slug, "sid": found.id, "revoked": true}),
                format!("revoked session {}", found.id),
            );
        }
        Command::Events {
            tenant,
            since,
            limit,
        } => {
            let tenant = admin::tenant(state, tenant).await?;
            let since = match since {
                None => 0,
                Some(Since::At(at)) => *at,
                Some(Since::Ago(secs)) => state.now() - secs,
            };
            let events = state.store.events(&tenant.id, since, *limit).await?;
            let items: Vec<_> = events
                .iter()
                .map(|e| {
                    json!({"id": e.id, "at": e.at, "kind": e.kind, "user_id": e.user_id, "client_id": e.client_id,
                           "session_id": e.session_id, "reason": e.reason, "ip": e.ip, "user_agent": e.user_agent})
                })
                .collect();
            let human = events
                .iter()
                .map(|e| {
                    format!(
                        "{}\t{}\tuser={}\tclient={}\tsid={}\treason={}\tip={}",
                        e.at,
                        e.kind,
                        e.user_id.as_deref().unwrap_or("-"),
                        e.client_id.as_deref().unwrap_or("-"),
                        e.session_id.as_deref().unwrap_or("-"),
                        e.reason.as_deref().unwrap_or("-"),
                        e.ip.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print_list(json_mode, json!(items), human, "no events");
        }
        Command::Keys(KeysCommand::Rotate { tenant }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let new_nexts = state.keys.rotate(&tenant, state.now()).await?;
            let keys = state.store.keys(&tenant.id).await?;
            let current_of = |alg: SigningAlg| {
                keys.iter()
                    .find(|k| k.alg == alg && k.state == holdfast_core::keys::KeyState::Current)
                    .map(|k| k.kid.clone())
                    .unwrap_or_default()
            };
            // The tenant's own algorithm first, as `current_kid`/`next_kid`;
            // every algorithm (RS256 for ID tokens too) under `rotated`.
            let rotated: Vec<Value> = new_nexts
                .iter()
                .map(|k| json!({"alg": k.alg.as_str(), "current_kid": current_of(k.alg), "next_kid": k.kid}))
                .collect();
            let mut value = json!({"tenant": tenant.slug, "rotated": rotated});
            if let Some(first) = rotated.first() {
                value["current_kid"] = first["current_kid"].clone();
                value["next_kid"] = first["next_kid"].clone();
            }
            let human = new_nexts
                .iter()
                .map(|k| {
                    format!(
                        "\n  {}: current {}, next {}",
                        k.alg,
                        current_of(k.alg),
                        k.kid
                    )
                })
                .collect::<String>();
            print(
                json_mode,
                value,
                format!("rotated keys of tenant '{}'{human}", tenant.slug),
            );
        }
        Command::Keys(KeysCommand::List { tenant }) => {
            let tenant = admin::tenant(state, tenant).await?;
            let keys = state.store.keys(&tenant.id).await?;
            let items: Vec<_> = keys
                .iter()
                .map(|k| json!({"kid": k.kid, "alg": k.alg.as_str(), "state": k.state.as_str(), "created_at": k.created_at, "retired_at": k.retired_at}))
                .collect();
            let human = keys
                .iter()
                .map(|k| format!("{}\t{}\t{}", k.kid, k.alg, k.state.as_str()))
                .collect::<Vec<_>>()
                .join("\n");
            print(json_mode, json!(items), human);
        }
    }
    Ok(())
}

fn read_password_from_stdin() -> anyhow::Result<SecretString> {
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("cannot read the password from stdin")?;
    let password = raw
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&raw);
    let secret = SecretString::new(password);
    zeroize::Zeroize::zeroize(&mut raw);
    Ok(secret)
}
