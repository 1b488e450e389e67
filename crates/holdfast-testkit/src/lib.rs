//! Test support for Holdfast.
//!
//! [`TestServer::start`] runs a real server on `127.0.0.1:0` over a fresh
//! database of the chosen back end (see [`holdfast_store::testing`]), with a
//! [`ManualClock`] the test can move (started at the real time, so
//! third-party libraries checking `exp` against their own clock agree) and cheap Argon2 parameters. Fixtures
//! create tenants, clients and users through the same services the CLI
//! uses. [`on_both_backends!`] turns `async fn name(server: TestServer)`
//! into one test per back end.

mod smtp;

use std::sync::Arc;

use holdfast_core::client::{Client, NewClient};
pub use holdfast_core::clock::ManualClock;
use holdfast_core::keys::SigningAlg;
use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_crypto::secret::SecretString;
use holdfast_server::config::{PasswordParams, ServerConfig};
use holdfast_server::kek::load_kek;
use holdfast_server::service::admin::{self, NewTenant};
use holdfast_server::{AppState, Clock, SystemClock};
pub use holdfast_store::testing::{Backend, TestDatabase};
pub use smtp::{ReceivedMail, SmtpSink};
use tokio::sync::oneshot;
use url::Url;

/// Argon2 parameters that keep tests fast (never use them in production).
pub const TEST_PASSWORD_PARAMS: PasswordParams = PasswordParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A running Holdfast server over its own database.
pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:41234/`.
    pub base: Url,
    /// The server's state (same store, keys and clock the server uses).
    pub state: AppState,
    /// The clock the server reads.
    pub clock: Arc<ManualClock>,
    /// The database (and its directory, which holds `holdfast.kek`).
    pub db: TestDatabase,
    /// Which back end.
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts a server over a fresh database; `None` when the back end is
    /// unavailable outside CI (see [`TestDatabase::create`]).
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, ServerConfig::default()).await
    }

    /// Starts a server with realistic password hashing (`params`), for tests
    /// that measure its cost.
    pub async fn start_with_password_params(
        backend: Backend,
        params: PasswordParams,
    ) -> Option<Self> {
        Self::start_configured(
            backend,
            ServerConfig {
                password: params,
                ..ServerConfig::default()
            },
        )
        .await
    }

    /// Starts a server with `config` (its listen address and password
    /// parameters are replaced with test ones).
    ///
    /// # Panics
    /// When the database, KEK or listener cannot be set up: test set-up
    /// failures must be loud.
    #[allow(clippy::expect_used)]
    pub async fn start_with(backend: Backend, config: ServerConfig) -> Option<Self> {
        Self::start_configured(
            backend,
            ServerConfig {
                password: TEST_PASSWORD_PARAMS,
                ..config
            },
        )
        .await
    }

    #[allow(clippy::expect_used)]
    async fn start_configured(backend: Backend, mut config: ServerConfig) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        let store = holdfast_store::connect(&db.url)
            .await
            .expect("connect test store");
        let kek = load_kek(&*store, None, &db.dir.join("holdfast.kek"))
            .await
            .expect("test KEK");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        config.listen = addr;
        if config.mail.outbox_dir == holdfast_server::config::MailConfig::default().outbox_dir {
            config.mail.outbox_dir = db.dir.join("outbox");
        }
        // A public URL given with port 0 (e.g. `http://localhost:0/`, for
        // a test that needs a domain name) gets the bound port.
        if let Some(url) = config.public_url.as_mut()
            && url.port() == Some(0)
        {
            url.set_port(Some(addr.port())).expect("a URL with a host");
        }
        let base = config.public_url_for(addr);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let state = AppState::new(store, Arc::new(kek), base.clone(), config, clock.clone());
        let (tx, rx) = oneshot::channel();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = holdfast_server::serve(listener, served, async move {
                let _ = rx.await;
            })
            .await;
        });
        Some(Self {
            base,
            state,
            clock,
            db,
            backend,
            shutdown: Some(tx),
        })
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// The issuer of tenant `slug`.
    pub fn issuer(&self, slug: &str) -> String {
        self.url(&format!("/t/{slug}"))
    }

    /// Creates a tenant (ES256).
    pub async fn tenant(&self, slug: &str) -> Tenant {
        self.tenant_with_alg(slug, SigningAlg::ES256).await
    }

    /// Creates a tenant with the given signing algorithm.
    ///
    /// # Panics
    /// If creation fails.
    #[allow(clippy::expect_used)]
    pub async fn tenant_with_alg(&self, slug: &str, alg: SigningAlg) -> Tenant {
        admin::create_tenant(
            &self.state,
            &admin::Actor::cli(),
            NewTenant {
                slug: slug.into(),
                display_name: None,
                signing_alg: alg,
                audience: None,
            },
        )
        .await
        .expect("create tenant")
    }

    /// Registers a client.
    ///
    /// # Panics
    /// If registration fails.
    #[allow(clippy::expect_used)]
    pub async fn client(
        &self,
        tenant: &Tenant,
        client: NewClient,
    ) -> (Client, Option<SecretString>) {
        admin::create_client(&self.state, tenant, &admin::Actor::cli(), client)
            .await
            .expect("create client")
    }

    /// Creates a user.
    ///
    /// # Panics
    /// If creation fails.
    #[allow(clippy::expect_used)]
    pub async fn user(&self, tenant: &Tenant, username: &str, password: &str) -> User {
        admin::create_user(
            &self.state,
            tenant,
            &admin::Actor::cli(),
            username,
            None,
            SecretString::new(password),
        )
        .await
        .expect("create user")
    }

    /// An HTTP client that does not follow redirects (and keeps no cookies).
    ///
    /// # Panics
    /// If the client cannot be built.
    #[allow(clippy::expect_used)]
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client")
    }

    /// Runs the `holdfast` binary at `bin` (a test's
    /// `env!("CARGO_BIN_EXE_holdfast")`) on this server's database and KEK
    /// with `--json`, `stdin` as its input; its parsed output. The CLI
    /// stamps times with the system clock, so the server's manual clock is
    /// brought up to it afterwards (a sign-in after a "not before" stamp is
    /// then after it for the server too).
    ///
    /// # Panics
    /// When the command cannot run or fails.
    #[allow(clippy::expect_used)]
    pub fn cli(&self, bin: &str, args: &[&str], stdin: &str) -> serde_json::Value {
        let out = self.cli_output(bin, args, stdin);
        assert!(
            out.status.success(),
            "holdfast {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the CLI's JSON output")
    }

    /// Runs the CLI as [`Self::cli`] does, and returns what it did
    /// whether it succeeded or not (for commands that must fail).
    ///
    /// # Panics
    /// When the binary cannot be run.
    #[allow(clippy::expect_used)]
    pub fn cli_output(&self, bin: &str, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HOLDFAST_") {
                cmd.env_remove(&key);
            }
        }
        let mut child = cmd
            .args(["--database-url", &self.db.url, "--data-dir"])
            .arg(&self.db.dir)
            .arg("--json")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the holdfast CLI");
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .expect("write the CLI's stdin");
        }
        let out = child.wait_with_output().expect("wait for the CLI");
        let system = SystemClock.now();
        if self.clock.now() < system {
            self.clock.set(system);
        }
        out
    }

    /// Stops the server (it also stops when dropped).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs each `async fn name(server: TestServer)` once on SQLite and once on
/// PostgreSQL, as tests `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::TestServer::start($crate::Backend::Sqlite).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::TestServer::start($crate::Backend::Postgres).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}
