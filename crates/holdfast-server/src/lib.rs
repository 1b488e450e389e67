//! The Holdfast authorization server.
//!
//! - [`config`]: every option, its default and why, from flags, `HOLDFAST_*`
//!   environment variables and a TOML file (in that order of precedence).
//! - [`kek`]: finding or creating the key-encryption key, and refusing to
//!   start with the wrong one.
//! - [`keys`]: per-tenant signing keys: creation, sealing, rotation, JWKS.
//! - [`service`]: use cases shared by the HTTP edge and the CLI (create a
//!   tenant, a client, a user; hash and verify passwords).
//! - [`http`]: the axum application (`app(state) -> Router`), its error
//!   mapping and endpoints.
//! - [`cache`]: short-lived caches of immutable things (tenants, clients).
//! - [`cli`]: the `holdfast` command line.
//! - [`console`]: the admin console's files (`/admin/`), on the admin API.
//!
//! The app is a value: [`http::app`] builds a `Router` from an [`AppState`],
//! and [`serve`] runs it on a listener until a shutdown future resolves, so
//! tests start it on port 0.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cache;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
pub mod kek;
pub mod keys;
pub mod pages;
pub mod service;
pub mod state;

use std::future::Future;
use std::time::Duration;

/// How long shutdown waits, once the connections are closed, for requests
/// whose clients hung up (they run on in tasks of their own). A request
/// takes milliseconds; a store that does not answer gives up within its
/// acquire timeout.
const DRAIN: Duration = Duration::from_secs(10);

pub use state::{AppState, Clock, SystemClock};

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight (graceful shutdown), those whose clients hung up
/// included, for up to [`DRAIN`]. While it serves, the node also
/// delivers security events and logout tokens
/// ([`service::signals::delivery`]) and sends queued mail
/// ([`service::mail`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let deliveries = tokio::spawn(service::signals::delivery::run(state.clone()));
    let mail = tokio::spawn(service::mail::run(state.clone()));
    let requests = state.requests.clone();
    let app = http::app(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    requests.close();
    if tokio::time::timeout(DRAIN, requests.wait()).await.is_err() {
        tracing::warn!(
            running = requests.len(),
            "shutting down with requests still running"
        );
    }
    deliveries.abort();
    mail.abort();
    served
}
