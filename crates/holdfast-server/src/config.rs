//! Configuration: one source of truth for every option.
//!
//! Precedence, highest first: command-line flag, `HOLDFAST_*` environment
//! variable, the TOML file named by `--config` / `HOLDFAST_CONFIG`, the
//! default. Flags and environment are clap's (each flag names its variable,
//! see `crate::cli::args`) and arrive here as [`Overrides`]; [`FileConfig`]
//! is the TOML file; [`Resolved`] is the merge, made by [`Resolved::load`]
//! in one place for `serve` and every administrative command.
//!
//! | option | flag / env | TOML | default | why |
//! |---|---|---|---|---|
//! | database | `--database-url` / `HOLDFAST_DATABASE_URL` | `database_url` | `sqlite://holdfast.db` (or `sqlite://{data_dir}/holdfast.db`) | works on a fresh machine; `postgres://…` to scale out |
//! | data directory | `--data-dir` / `HOLDFAST_DATA_DIR` | `data_dir` | none | where the KEK file (and default SQLite file) live |
//! | KEK | `HOLDFAST_KEK` (env only: never a flag) | — | file `holdfast.kek` beside the SQLite file or in the data dir, created 0600 on first use | private keys are encrypted at rest |
//! | listen address | `--listen` / `HOLDFAST_LISTEN` | `listen` | `127.0.0.1:8080` | loopback until you decide otherwise |
//! | public URL | `--public-url` / `HOLDFAST_PUBLIC_URL` | `public_url` | `http://{listen}` | set it behind a proxy: issuers derive from it |
//! | log format | `--log-format` / `HOLDFAST_LOG_FORMAT` | `log_format` | `text` | `json` for log shippers |
//! | Argon2id memory | `--argon2-memory-kib` / `HOLDFAST_ARGON2_MEMORY_KIB` | `password.memory_kib` | 19456 | OWASP minimum |
//! | Argon2id passes | `--argon2-iterations` / `HOLDFAST_ARGON2_ITERATIONS` | `password.iterations` | 2 | OWASP minimum |
//! | Argon2id lanes | `--argon2-parallelism` / `HOLDFAST_ARGON2_PARALLELISM` | `password.parallelism` | 1 | OWASP minimum |
//! | max body | — | `max_body_bytes` | 65536 | no OAuth request needs more |
//! | DPoP iat window | — | `dpop_iat_window_secs` | 60 | clock skew allowance for proofs; replays are remembered this long |
//! | hashing workers | — | `password.workers` | half the cores, at least 1 | the other half keeps serving refreshes during a login flood |
//! | hashing queue | — | `password.queue` | 16 | logins beyond it get 503 + `Retry-After` at once instead of waiting |
//! | trusted proxies | — | `trusted_proxies` | none | addresses of reverse proxies whose `X-Forwarded-For` names the client (for audit and throttling); nobody else's is read |
//! | retention | — | `[retention]` `audit_days`, `signal_days`, `interval_secs`, `batch` | 400 days of audit events, 7 of security events; a sweep every 300 s, 100 rows of each kind per step | the store stays small: ended families, spent codes and expired records go once nothing can depend on them (`holdfast_core::retention`) |
//! | login throttling | — | `[throttle]` (fields of `holdfast_core::throttle::ThrottlePolicy`) | 10 failures per account and address per 15 min; per account a doubling delay after 10 and at most 100 an hour (addresses that signed in before exempt); 100 per address per 15 min | OWASP ASVS 2.2.1 without letting strangers lock a user out; per tenant with `holdfast tenant throttle` |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use holdfast_core::retention::RetentionPolicy;
use holdfast_core::throttle::ThrottlePolicy;
use serde::Deserialize;
use url::Url;

use crate::service::password::PoolLimits;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database URL.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://holdfast.db";
/// Name of the KEK file.
pub const KEK_FILE_NAME: &str = "holdfast.kek";
/// Default request-body limit (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Argon2id parameters (RFC 9106).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The options of a running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Public base URL, when set explicitly.
    pub public_url: Option<Url>,
    /// Password hashing parameters.
    pub password: PasswordParams,
    /// Request-body limit in bytes.
    pub max_body_bytes: usize,
    /// How far a DPoP proof's `iat` may be from now, seconds.
    pub dpop_iat_window_secs: u64,
    /// The password-hashing pool.
    pub password_pool: PoolLimits,
    /// Login throttling for tenants that set no limits of their own.
    pub throttle: ThrottlePolicy,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// What the store forgets, and how often it sweeps.
    pub retention: RetentionPolicy,
    /// How mail is sent.
    pub mail: MailConfig,
}

/// Default `mail_from`.
pub const DEFAULT_MAIL_FROM: &str = "Holdfast <no-reply@localhost>";

/// An SMTP URL; its `Debug` hides the password it may carry.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SmtpUrl(pub String);

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                write!(f, "SmtpUrl({url})")
            }
            Err(_) => f.write_str("SmtpUrl(<unparsable>)"),
        }
    }
}

/// Mail: through SMTP, or (without `smtp_url`) as `.eml` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// `smtp_url`; `None`: write `.eml` files to `outbox_dir`.
    pub smtp_url: Option<SmtpUrl>,
    /// `mail_from`: the `From` of every message.
    pub from: String,
    /// Where `.eml` files go without SMTP: `{data dir}/outbox`.
    pub outbox_dir: PathBuf,
}

impl MailConfig {
    /// Checks what the mail worker would otherwise only find out later: a
    /// usable SMTP URL that never sends a password in clear text (with
    /// credentials: `smtps://`, or `smtp://` with `?tls=required`), and a
    /// `From` that is a mailbox.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("mail_from {:?} is not a mailbox: {e}", self.from))?;
        let Some(SmtpUrl(raw)) = &self.smtp_url else {
            return Ok(());
        };
        let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
            anyhow::bail!("smtp_url must be smtp://host[:port] or smtps://host[:port]");
        }
        let tls_required = url
            .query_pairs()
            .any(|(k, v)| k == "tls" && v == "required");
        let has_credentials = !url.username().is_empty() || url.password().is_some();
        if has_credentials && url.scheme() == "smtp" && !tls_required {
            anyhow::bail!(
                "smtp_url carries credentials over plain SMTP: use smtps:// or add ?tls=required"
            );
        }
        Ok(())
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: DEFAULT_MAIL_FROM.to_owned(),
            outbox_dir: PathBuf::from("./outbox"),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            public_url: None,
            password: PasswordParams::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            dpop_iat_window_secs: 60,
            password_pool: PoolLimits::default(),
            throttle: ThrottlePolicy::default(),
            trusted_proxies: Vec::new(),
            retention: RetentionPolicy::default(),
            mail: MailConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The public URL: the configured one, or `http://{bound address}`.
    pub fn public_url_for(&self, bound: SocketAddr) -> Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = match bound.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        let url = format!("http://{host}:{}", bound.port());
        // Invariant: an IP literal and a port number always form a valid URL.
        Url::parse(&url).unwrap_or_else(|e| unreachable!("{url}: {e}"))
    }
}

/// The TOML configuration file. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Database URL.
    pub database_url: Option<String>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Public URL.
    pub public_url: Option<Url>,
    /// Log format.
    pub log_format: Option<LogFormat>,
    /// Request-body limit.
    pub max_body_bytes: Option<usize>,
    /// DPoP `iat` window, seconds.
    pub dpop_iat_window_secs: Option<u64>,
    /// Password hashing.
    pub password: Option<FilePasswordParams>,
    /// Login throttling defaults; any field left out keeps its default.
    pub throttle: Option<ThrottlePolicy>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Retention; any field left out keeps its default.
    pub retention: Option<RetentionPolicy>,
    /// SMTP URL.
    pub smtp_url: Option<SmtpUrl>,
    /// From address of mail.
    pub mail_from: Option<String>,
}

/// `[password]` table of the TOML file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FilePasswordParams {
    /// Memory in KiB.
    pub memory_kib: Option<u32>,
    /// Passes.
    pub iterations: Option<u32>,
    /// Lanes.
    pub parallelism: Option<u32>,
    /// Hashes at once.
    pub workers: Option<usize>,
    /// Hashes that may wait.
    pub queue: Option<usize>,
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

/// Where the database and the KEK are, after merging all sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLocation {
    /// Database URL.
    pub database_url: String,
    /// Path of the KEK file, used when `HOLDFAST_KEK` is not set.
    pub kek_path: PathBuf,
    /// The data directory: the given one, else where the SQLite file is,
    /// else the working directory.
    pub data_dir: PathBuf,
}

impl StorageLocation {
    /// Merges database URL and data directory: explicit values win; the
    /// SQLite default lives in the data directory when one is given; the KEK
    /// file lives in the data directory, else beside the SQLite file, else in
    /// the working directory.
    pub fn resolve(database_url: Option<String>, data_dir: Option<PathBuf>) -> Self {
        let database_url = database_url.unwrap_or_else(|| match &data_dir {
            Some(dir) => format!("sqlite://{}", dir.join("holdfast.db").display()),
            None => DEFAULT_DATABASE_URL.to_owned(),
        });
        let kek_dir = match (&data_dir, sqlite_path(&database_url)) {
            (Some(dir), _) => dir.clone(),
            (None, Some(db)) => db.parent().map(Path::to_path_buf).unwrap_or_default(),
            (None, None) => PathBuf::new(),
        };
        let kek_dir = if kek_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            kek_dir
        };
        Self {
            database_url,
            kek_path: kek_dir.join(KEK_FILE_NAME),
            data_dir: kek_dir,
        }
    }
}

/// What flags and `HOLDFAST_*` variables set (clap reads both; the flag
/// wins), each `None` when neither was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--config` / `HOLDFAST_CONFIG`: the TOML file to read.
    pub config: Option<PathBuf>,
    /// `--database-url` / `HOLDFAST_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--data-dir` / `HOLDFAST_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `HOLDFAST_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--public-url` / `HOLDFAST_PUBLIC_URL`.
    pub public_url: Option<Url>,
    /// `--log-format` / `HOLDFAST_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `--argon2-memory-kib` / `HOLDFAST_ARGON2_MEMORY_KIB`.
    pub argon2_memory_kib: Option<u32>,
    /// `--argon2-iterations` / `HOLDFAST_ARGON2_ITERATIONS`.
    pub argon2_iterations: Option<u32>,
    /// `--argon2-parallelism` / `HOLDFAST_ARGON2_PARALLELISM`.
    pub argon2_parallelism: Option<u32>,
    /// `--smtp-url` / `HOLDFAST_SMTP_URL`.
    pub smtp_url: Option<SmtpUrl>,
    /// `--mail-from` / `HOLDFAST_MAIL_FROM`.
    pub mail_from: Option<String>,
}

/// Everything resolved from flags, environment, file and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where the database and the KEK file are.
    pub location: StorageLocation,
    /// The server's options.
    pub server: ServerConfig,
    /// How to log.
    pub log_format: LogFormat,
}

impl Resolved {
    /// Reads the TOML file named by `overrides.config` (if any) and merges
    /// it with `overrides` and the defaults; a bad file or bad throttling
    /// limits fail here, before anything is opened.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Self> {
        let file = match &overrides.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(overrides, file)
    }

    /// The merge itself: for each option the override, else the file's
    /// value, else the default.
    pub fn merge(overrides: &Overrides, file: FileConfig) -> anyhow::Result<Self> {
        let location = StorageLocation::resolve(
            overrides.database_url.clone().or(file.database_url),
            overrides.data_dir.clone().or(file.data_dir),
        );
        let defaults = ServerConfig::default();
        let pw_file = file.password.unwrap_or_default();
        let pw_default = PasswordParams::default();
        let server = ServerConfig {
            listen: overrides.listen.or(file.listen).unwrap_or(defaults.listen),
            public_url: overrides.public_url.clone().or(file.public_url),
            password: PasswordParams {
                memory_kib: overrides
                    .argon2_memory_kib
                    .or(pw_file.memory_kib)
                    .unwrap_or(pw_default.memory_kib),
                iterations: overrides
                    .argon2_iterations
                    .or(pw_file.iterations)
                    .unwrap_or(pw_default.iterations),
                parallelism: overrides
                    .argon2_parallelism
                    .or(pw_file.parallelism)
                    .unwrap_or(pw_default.parallelism),
            },
            max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            dpop_iat_window_secs: file
                .dpop_iat_window_secs
                .unwrap_or(defaults.dpop_iat_window_secs),
            password_pool: PoolLimits {
                workers: pw_file.workers.or(defaults.password_pool.workers),
                queue: pw_file.queue.unwrap_or(defaults.password_pool.queue),
            },
            throttle: file.throttle.unwrap_or(defaults.throttle),
            trusted_proxies: file.trusted_proxies.unwrap_or_default(),
            retention: file.retention.unwrap_or(defaults.retention),
            mail: MailConfig {
                smtp_url: overrides.smtp_url.clone().or(file.smtp_url),
                from: overrides
                    .mail_from
                    .clone()
                    .or(file.mail_from)
                    .unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned()),
                outbox_dir: location.data_dir.join("outbox"),
            },
        };
        server
            .throttle
            .validate()
            .context("configuration [throttle]")?;
        server
            .retention
            .validate()
            .context("configuration [retention]")?;
        server.mail.validate().context("mail configuration")?;
        let log_format = overrides.log_format.or(file.log_format).unwrap_or_default();
        Ok(Self {
            location,
            server,
            log_format,
        })
    }
}

/// The file path of an SQLite URL (`sqlite://path`, `sqlite:path`), without
/// query parameters; `None` for in-memory databases and other back ends.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_lives_beside_the_sqlite_file_by_default() {
        let loc = StorageLocation::resolve(None, None);
        assert_eq!(loc.database_url, "sqlite://holdfast.db");
        assert_eq!(loc.kek_path, PathBuf::from("./holdfast.kek"));
        let loc =
            StorageLocation::resolve(Some("sqlite:///var/lib/hf/auth.db?mode=rwc".into()), None);
        assert_eq!(loc.kek_path, PathBuf::from("/var/lib/hf/holdfast.kek"));
    }

    #[test]
    fn data_dir_holds_default_database_and_kek() {
        let loc = StorageLocation::resolve(None, Some("/srv/hf".into()));
        assert_eq!(loc.database_url, "sqlite:///srv/hf/holdfast.db");
        assert_eq!(loc.kek_path, PathBuf::from("/srv/hf/holdfast.kek"));
        let loc = StorageLocation::resolve(Some("postgres://db/hf".into()), Some("/srv/hf".into()));
        assert_eq!(loc.database_url, "postgres://db/hf");
        assert_eq!(loc.kek_path, PathBuf::from("/srv/hf/holdfast.kek"));
    }

    #[test]
    fn public_url_derives_from_the_bound_address_unless_given() {
        let cfg = ServerConfig::default();
        assert_eq!(
            cfg.public_url_for("127.0.0.1:9000".parse().unwrap())
                .as_str(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            cfg.public_url_for("0.0.0.0:80".parse().unwrap()).as_str(),
            "http://127.0.0.1/"
        );
        let cfg = ServerConfig {
            public_url: Some(Url::parse("https://auth.example.com").unwrap()),
            ..ServerConfig::default()
        };
        assert_eq!(
            cfg.public_url_for("127.0.0.1:9000".parse().unwrap())
                .as_str(),
            "https://auth.example.com/"
        );
    }

    #[test]
    fn toml_file_parses_and_refuses_unknown_keys() {
        let parsed: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9999\"\npublic_url = \"https://a.example\"\n[password]\nmemory_kib = 8192\n",
        )
        .unwrap();
        assert_eq!(parsed.listen, Some("0.0.0.0:9999".parse().unwrap()));
        assert_eq!(parsed.password.unwrap().memory_kib, Some(8192));
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9999\"\nlog_format = \"json\"\n[password]\nmemory_kib = 8192\niterations = 3\n",
        )
        .unwrap();
        let overrides = Overrides {
            argon2_memory_kib: Some(65_536),
            data_dir: Some("/srv/hf".into()),
            ..Overrides::default()
        };
        let resolved = Resolved::merge(&overrides, file).unwrap();
        assert_eq!(resolved.server.listen, "0.0.0.0:9999".parse().unwrap());
        assert_eq!(resolved.log_format, LogFormat::Json);
        assert_eq!(resolved.server.password.memory_kib, 65_536, "flag wins");
        assert_eq!(resolved.server.password.iterations, 3, "file wins");
        assert_eq!(resolved.server.password.parallelism, 1, "default");
        assert_eq!(
            resolved.location.database_url,
            "sqlite:///srv/hf/holdfast.db"
        );
        let bare = Resolved::merge(&Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(bare.server, ServerConfig::default());
    }

    #[test]
    fn asvs_2_2_1_file_throttling_beyond_100_an_hour_is_refused() {
        let file: FileConfig = toml::from_str("[throttle]\naccount_max_failures = 500\n").unwrap();
        let err = Resolved::merge(&Overrides::default(), file).unwrap_err();
        assert!(format!("{err:#}").contains("[throttle]"), "{err:#}");
    }

    #[test]
    fn smtp_credentials_never_travel_in_clear_text_and_bad_mail_settings_fail_at_start() {
        let with = |url: Option<&str>, from: &str| MailConfig {
            smtp_url: url.map(|u| SmtpUrl(u.to_owned())),
            from: from.to_owned(),
            ..MailConfig::default()
        };
        for ok in [
            None,
            Some("smtp://127.0.0.1:2525"),
            Some("smtps://user:pass@mail.example.com:465"),
            Some("smtp://user:pass@mail.example.com:587?tls=required"),
        ] {
            assert!(with(ok, DEFAULT_MAIL_FROM).validate().is_ok(), "{ok:?}");
        }
        for bad in [
            "smtp://user:pass@mail.example.com:25",
            "smtp://user:pass@mail.example.com:25?tls=opportunistic",
            "http://mail.example.com",
            "not a url",
        ] {
            assert!(
                with(Some(bad), DEFAULT_MAIL_FROM).validate().is_err(),
                "{bad}"
            );
        }
        assert!(with(None, "not a mailbox").validate().is_err());
        let file: FileConfig = toml::from_str("smtp_url = \"smtp://u:p@h:25\"\n").unwrap();
        let err = Resolved::merge(&Overrides::default(), file).unwrap_err();
        assert!(format!("{err:#}").contains("plain SMTP"), "{err:#}");
        assert!(
            !format!("{:?}", SmtpUrl("smtps://u:hunter2@h".into())).contains("hunter2"),
            "Debug hides the password"
        );
    }
}
