//! The `holdfast` command line as clap parses it: global options, the
//! commands and their options. No behaviour lives here.
//!
//! Global options (database, data directory, `--json`, server options) are
//! accepted after any command, and its `--help` lists them under their own
//! headings after the command's own options. Each option shows one default,
//! written for a human.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use holdfast_core::client::{GrantType, RotationMode};
use holdfast_core::keys::SigningAlg;
use url::Url;

use crate::config::{LogFormat, Overrides};

/// Heading of the options every command takes.
pub const GLOBAL_OPTIONS: &str = "Global options";
/// Heading of the server options every command takes (so administrative
/// commands resolve the public URL and password parameters as `serve` does).
pub const SERVER_OPTIONS: &str = "Global server options";

/// Holdfast: a self-hosted OAuth 2.1 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "holdfast", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (lowest precedence after defaults).
    #[arg(long, env = "HOLDFAST_CONFIG", global = true, help_heading = GLOBAL_OPTIONS)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://... [default: sqlite://holdfast.db].
    #[arg(long, env = "HOLDFAST_DATABASE_URL", global = true, help_heading = GLOBAL_OPTIONS)]
    pub database_url: Option<String>,
    /// Directory for the KEK file and the default SQLite database.
    #[arg(long, env = "HOLDFAST_DATA_DIR", global = true, help_heading = GLOBAL_OPTIONS)]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text, errors included.
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS)]
    pub json: bool,
    /// Send the administrative command to this running server's admin API
    /// instead of opening the database (token from HOLDFAST_ADMIN_TOKEN, or
    /// HOLDFAST_ADMIN_CLIENT_ID and HOLDFAST_ADMIN_CLIENT_SECRET, or the
    /// sign-in `holdfast --server URL login` kept).
    #[arg(long = "server", env = "HOLDFAST_SERVER", global = true, help_heading = GLOBAL_OPTIONS)]
    pub remote: Option<url::Url>,
    /// Server options.
    #[command(flatten)]
    pub server: ServerArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The configuration given as flags or `HOLDFAST_*` variables, for
    /// [`crate::config::Resolved::load`].
    pub fn overrides(&self) -> Overrides {
        let s = &self.server;
        Overrides {
            config: self.config.clone(),
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            listen: s.listen,
            public_url: s.public_url.clone(),
            log_format: s.log_format,
            argon2_memory_kib: s.argon2_memory_kib,
            argon2_iterations: s.argon2_iterations,
            argon2_parallelism: s.argon2_parallelism,
            smtp_url: s.smtp_url.clone().map(crate::config::SmtpUrl),
            mail_from: s.mail_from.clone(),
        }
    }
}

/// Server options, global (see [`SERVER_OPTIONS`]).
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HOLDFAST_LISTEN", global = true, help_heading = SERVER_OPTIONS)]
    pub listen: Option<std::net::SocketAddr>,
    /// Public base URL (set it behind a reverse proxy) [default: http://{listen}].
    #[arg(long, env = "HOLDFAST_PUBLIC_URL", global = true, help_heading = SERVER_OPTIONS)]
    pub public_url: Option<Url>,
    /// Log format: text or json [default: text].
    #[arg(
        long,
        env = "HOLDFAST_LOG_FORMAT",
        value_enum,
        hide_possible_values = true,
        global = true,
        help_heading = SERVER_OPTIONS
    )]
    pub log_format: Option<LogFormat>,
    /// Argon2id memory in KiB [default: 19456].
    #[arg(long, env = "HOLDFAST_ARGON2_MEMORY_KIB", global = true, help_heading = SERVER_OPTIONS)]
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id passes [default: 2].
    #[arg(long, env = "HOLDFAST_ARGON2_ITERATIONS", global = true, help_heading = SERVER_OPTIONS)]
    pub argon2_iterations: Option<u32>,
    /// Argon2id lanes [default: 1].
    #[arg(long, env = "HOLDFAST_ARGON2_PARALLELISM", global = true, help_heading = SERVER_OPTIONS)]
    pub argon2_parallelism: Option<u32>,
    /// SMTP server for mail: smtp://host:port (plain; add ?tls=required
    /// for STARTTLS) or smtps://user:pass@host:465 [default: none: mail is
    /// written as .eml files under {data dir}/outbox].
    #[arg(long, env = "HOLDFAST_SMTP_URL", hide_env_values = true, global = true, help_heading = SERVER_OPTIONS)]
    pub smtp_url: Option<String>,
    /// The From address of mail, e.g. "Acme <no-reply@acme.example>"
    /// [default: Holdfast <no-reply@localhost>].
    #[arg(long, env = "HOLDFAST_MAIL_FROM", global = true, help_heading = SERVER_OPTIONS)]
    pub mail_from: Option<String>,
}

/// Top-level commands: `serve`, or one that administers and exits.
// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Administration (its variants are top-level commands).
    #[command(flatten)]
    Admin(AdminCommand),
}

/// Every command but `serve`: it opens the store, does one thing, prints
/// the result and exits.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Apply database migrations and exit.
    Migrate,
    /// The server's administrators: bootstrap the first, grant others.
    #[command(subcommand, name = "admin")]
    Administrators(AdministratorsCommand),
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
    /// List audit events, oldest first.
    Events(EventsArgs),
    /// Forget what can no longer matter (ended families, spent codes,
    /// expired records, old audit events).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Sign in to the server named by --server from here, in a browser on
    /// any device (the OAuth device grant, RFC 8628), and keep the tokens
    /// for later --server commands (in HOLDFAST_CREDENTIALS, default
    /// ~/.config/holdfast/credentials.json, readable by you only).
    Login,
    /// Forget the --server sign-in kept by `login`, revoking its token.
    Logout,
}

/// `holdfast admin ...`: the administration tenant's people.
#[derive(Debug, Subcommand)]
pub enum AdministratorsCommand {
    /// Create the administration tenant, the console's client and the
    /// first whole-server administrator (and, with --automation-client, a
    /// client-credentials client for scripts). Prints what it made once.
    Bootstrap {
        /// The administrator's username.
        #[arg(long, default_value = "admin")]
        username: String,
        /// Their email address (for password resets).
        #[arg(long)]
        email: Option<String>,
        /// Read their password from stdin [default: generate one and print
        /// it once].
        #[arg(long)]
        password_stdin: bool,
        /// Also create a confidential client with this client_id for
        /// automation (client credentials, scope holdfast:admin); its
        /// secret is printed once.
        #[arg(long, value_name = "CLIENT_ID")]
        automation_client: Option<String>,
    },
    /// Let a user of the administration tenant administer the whole server
    /// or one tenant.
    Grant {
        /// Username in the administration tenant.
        #[arg(long)]
        username: String,
        /// The tenant they may administer.
        #[arg(
            long,
            conflicts_with = "whole_server",
            required_unless_present = "whole_server"
        )]
        tenant: Option<String>,
        /// The whole server.
        #[arg(long)]
        whole_server: bool,
    },
}

/// `holdfast retention ...`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Sweep now, as every running node does each `retention.interval_secs`
    /// (the same rule and batches; this one does not wait for the lease).
    Sweep,
}

/// Options of `holdfast events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// Only events at or after this time: Unix seconds, or a duration ago
    /// like 15m, 2h, 7d [default: all].
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

/// `--since`: an absolute time or a duration before now.
#[derive(Debug, Clone, Copy)]
pub enum Since {
    /// Unix seconds.
    At(i64),
    /// Seconds before now.
    Ago(i64),
}

impl Since {
    /// The Unix time this stands for, `now` being the current time.
    pub fn at(self, now: i64) -> i64 {
        match self {
            Since::At(at) => at,
            Since::Ago(secs) => now - secs,
        }
    }
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

/// `holdfast tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with fresh signing keys.
    Create {
        /// URL slug: a-z, 0-9 and inner '-'.
        slug: String,
        /// Display name shown on login pages [default: the slug].
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
    /// Show a tenant: issuer, name and account settings.
    Show {
        /// Tenant slug.
        slug: String,
    },
    /// Change a tenant's display name or account settings; flags left out
    /// keep their value. A running server applies them without a restart.
    Update(TenantUpdateArgs),
    /// Delete a tenant and everything it holds: clients, users, sessions,
    /// refresh tokens, signing keys, queued mail. Its issuer stops answering
    /// at once; its audit events stay.
    Delete {
        /// Tenant slug.
        slug: String,
    },
    /// Show or change a tenant's login-throttling limits (OWASP ASVS
    /// 2.2.1). Flags left out keep their value; without flags, prints the
    /// limits in force.
    Throttle(TenantThrottleArgs),
}

/// `holdfast tenant update SLUG [...]`.
#[derive(Debug, Args)]
pub struct TenantUpdateArgs {
    /// Tenant slug.
    pub slug: String,
    /// Display name shown on hosted pages and in mails.
    #[arg(long)]
    pub name: Option<String>,
    /// Who may create an account: closed (administrators only), open
    /// (anyone may sign up) or invite (an administrator's invitation).
    #[arg(long)]
    pub registration: Option<holdfast_core::accounts::Registration>,
    /// required: no sign-in before the email address is verified;
    /// optional: verification is offered.
    #[arg(long)]
    pub email_verification: Option<holdfast_core::accounts::EmailVerification>,
    /// required: every sign-in needs a second factor (users without one
    /// enrol TOTP at their next sign-in); optional: users choose.
    #[arg(long)]
    pub mfa: Option<holdfast_core::mfa::MfaPolicy>,
    /// The relying-party ID passkeys are registered under: the public
    /// URL's host or a registrable suffix of it (e.g. example.com for
    /// https://auth.example.com); "" goes back to the host. Passkeys
    /// registered under another ID stop working.
    #[arg(long)]
    pub passkey_rp_id: Option<String>,
    /// Fewest characters of a new password (at least 8; NIST SP 800-63B).
    #[arg(long)]
    pub password_min_length: Option<u32>,
    /// Most characters of a new password (64 to 1024).
    #[arg(long)]
    pub password_max_length: Option<u32>,
    /// Refuse passwords on the common-password list: true or false.
    #[arg(long)]
    pub password_blocklist: Option<bool>,
    /// The logo the hosted pages show (an https URL); "" removes it.
    #[arg(long)]
    pub logo_url: Option<String>,
    /// The hosted pages' accent colour, #rgb or #rrggbb; "" goes back to
    /// the default.
    #[arg(long)]
    pub accent_color: Option<String>,
    /// Where "Need help?" on the hosted pages leads (an https URL or
    /// mailto:); "" removes it.
    #[arg(long)]
    pub support_url: Option<String>,
}

/// `holdfast tenant throttle SLUG [...]`: each flag overrides one limit of
/// `holdfast_core::throttle::ThrottlePolicy`.
#[derive(Debug, Args)]
pub struct TenantThrottleArgs {
    /// Tenant slug.
    pub slug: String,
    /// The limits to change (the admin API's `PATCH .../throttle` body).
    #[command(flatten)]
    pub limits: crate::service::admin::ThrottlePatch,
    /// Drop the tenant's own limits: the server's configured ones apply.
    #[arg(long, conflicts_with_all = [
        "pair_max_failures", "pair_window_secs", "account_delay_after",
        "account_max_delay_secs", "account_max_failures", "account_window_secs",
        "address_max_failures", "address_window_secs", "known_address_secs",
    ])]
    pub reset: bool,
}

/// `holdfast client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Create(ClientCreateArgs),
    /// Change a client's back-channel logout registration.
    Update(ClientUpdateArgs),
    /// List a tenant's clients.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
    },
    /// Show a client's settings (never its secret).
    Show {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The client's `client_id`.
        #[arg(long)]
        client_id: String,
    },
    /// Delete a client: its live sessions end at once (with revocation
    /// events; its back-channel logout registration goes with it) and its
    /// codes and SSF streams go.
    Delete {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The client's `client_id`.
        #[arg(long)]
        client_id: String,
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
    /// The name people see on the hosted pages ("continue to NAME")
    /// [default: the client_id].
    #[arg(long)]
    pub display_name: Option<String>,
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
    /// Idle (sliding) lifetime of a session, seconds [default: 1209600, 14 days].
    #[arg(long, default_value_t = 14 * 24 * 3600, hide_default_value = true)]
    pub idle_lifetime: i64,
    /// Absolute lifetime of a session, seconds [default: 7776000, 90 days].
    #[arg(long, default_value_t = 90 * 24 * 3600, hide_default_value = true)]
    pub absolute_lifetime: i64,
    /// Require DPoP-bound tokens.
    #[arg(long)]
    pub dpop_required: bool,
    /// Deliver refresh tokens in an HttpOnly cookie scoped to the token
    /// endpoint instead of the response body (same-site deployments).
    #[arg(long)]
    pub refresh_token_cookie: bool,
    /// Every sign-in to this client needs a second factor (users without
    /// one set up an authenticator app at sign-in).
    #[arg(long)]
    pub mfa_required: bool,
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
    /// (OIDC `id_token_signed_response_alg`); access tokens always use the
    /// tenant's [default: the tenant's].
    #[arg(long, value_parser = parse_alg)]
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Back-channel logout registration.
    #[command(flatten)]
    pub backchannel: BackchannelLogoutArgs,
}

/// OIDC Back-Channel Logout 1.0 §2.2 registration options.
#[derive(Debug, Args)]
pub struct BackchannelLogoutArgs {
    /// Where Holdfast POSTs a logout token whenever a session of this client
    /// ends (OIDC `backchannel_logout_uri`): https, or http on localhost.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in every logout token (OIDC
    /// `backchannel_logout_session_required`; Holdfast always sends it).
    #[arg(long, requires = "backchannel_logout_uri")]
    pub backchannel_logout_session_required: bool,
}

/// Options of `holdfast client update`.
#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// The client's client_id.
    #[arg(long)]
    pub client_id: String,
    /// Back-channel logout registration.
    #[command(flatten)]
    pub backchannel: BackchannelLogoutArgs,
    /// Remove the back-channel logout registration.
    #[arg(long, conflicts_with = "backchannel_logout_uri")]
    pub no_backchannel_logout: bool,
    /// Whether every sign-in to this client needs a second factor: true
    /// or false.
    #[arg(long)]
    pub mfa_required: Option<bool>,
    /// The name people see on the hosted pages; "" shows the client_id
    /// again.
    #[arg(long)]
    pub display_name: Option<String>,
}

/// `holdfast user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List a tenant's users by username.
    List {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10000))]
        limit: i64,
        /// Start after this username (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Show a user: id, email, state and live sessions.
    Show {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
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
    /// Disable a user: they cannot sign in, and every session and token of
    /// theirs ends now.
    Disable {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Enable a disabled user again (they sign in anew).
    Enable {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Delete a user; every session and token of theirs ends now.
    Delete {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
    },
    /// Set a user's password (read from stdin); sessions begun before end.
    SetPassword {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Username.
        #[arg(long)]
        user: String,
        /// Read the password from stdin (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Invite someone by email: an account (username: the address) with no
    /// password yet, and a mailed link (7 days, single use) to choose one,
    /// which also verifies the address. Works whatever the registration mode.
    Invite {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// The invitee's email address.
        #[arg(long)]
        email: String,
        /// Their display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Mail a user a password-reset link (30 minutes, single use); the
    /// password stays as it is until the link is used.
    SendReset {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn since_takes_unix_seconds_or_a_duration_ago() {
        assert!(matches!(
            parse_since("1700000000"),
            Ok(Since::At(1_700_000_000))
        ));
        assert!(matches!(parse_since("15m"), Ok(Since::Ago(900))));
        assert!(matches!(parse_since("7d"), Ok(Since::Ago(604_800))));
        assert!(parse_since("3w").is_err());
        assert_eq!(Since::Ago(60).at(1000), 940);
    }
}
