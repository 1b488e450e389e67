//! The application state every handler receives.

use std::sync::Arc;

pub use holdfast_core::clock::{Clock, SystemClock};
use holdfast_crypto::aead::Kek;
use holdfast_store::Store;
use url::Url;

use crate::cache::TtlCache;
use crate::config::ServerConfig;

/// How long immutable lookups are cached.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
use crate::keys::KeyService;
use crate::service::password::PasswordHasher;

/// Shared state of one Holdfast node. Handlers and middleware clone it per
/// request, so a clone is one reference-count increment (the fields are in
/// [`Node`], reached through `Deref`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Node>);

impl std::ops::Deref for AppState {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.0
    }
}

/// What an [`AppState`] holds.
#[derive(Debug)]
pub struct Node {
    /// The store (SQLite or PostgreSQL).
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: KeyService,
    /// Password hashing on a bounded pool.
    pub passwords: PasswordHasher,
    /// The server's public base URL (issuers hang off it).
    pub public_url: Url,
    /// Server options.
    pub config: Arc<ServerConfig>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Tenants by slug (hits only, a few seconds).
    pub tenants: TtlCache<String, holdfast_core::tenant::Tenant>,
    /// Clients by (tenant id, client_id) (hits only, a few seconds).
    pub clients: TtlCache<(String, String), holdfast_store::ClientRecord>,
    /// Browser origins allowed by some client, by (tenant id, origin) (hits only).
    pub origins: TtlCache<(String, String), ()>,
    /// The login-throttling limits in force, by tenant id (a few seconds).
    pub throttle_policies: TtlCache<String, holdfast_core::throttle::ThrottlePolicy>,
    /// The HTTP client of outgoing deliveries (RFC 8935 push, back-channel
    /// logout).
    pub signals_http: reqwest::Client,
    /// Requests running in tasks of their own (`http::run_to_completion`),
    /// which shutdown waits for: one whose client hung up has no connection
    /// left for the server's graceful shutdown to wait on.
    pub requests: tokio_util::task::TaskTracker,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(
        store: Arc<dyn Store>,
        kek: Arc<Kek>,
        public_url: Url,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let passwords = PasswordHasher::with_limits(config.password, config.password_pool);
        Self(Arc::new(Node {
            keys: KeyService::new(store.clone(), kek),
            store,
            passwords,
            public_url,
            config: Arc::new(config),
            clock,
            tenants: TtlCache::new(CACHE_TTL, 10_000),
            clients: TtlCache::new(CACHE_TTL, 10_000),
            origins: TtlCache::new(CACHE_TTL, 10_000),
            throttle_policies: TtlCache::new(CACHE_TTL, 10_000),
            signals_http: crate::service::signals::delivery::http_client(),
            requests: tokio_util::task::TaskTracker::new(),
        }))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
