//! [`RevocationFeed`]: follow a Holdfast tenant's revocation feed in the
//! background, so revoked sessions and tokens are refused with no call to
//! the issuer per request. A [`RevocationCheck`] for
//! [`crate::VerifierBuilder::revocation_check`].
//!
//! The receiver side of the OpenID Shared Signals Framework
//! ([SSF 1.0](https://openid.net/specs/openid-sharedsignals-framework-1_0.html))
//! over poll delivery ([RFC 8936](https://www.rfc-editor.org/rfc/rfc8936)),
//! or push delivery ([RFC 8935](https://www.rfc-editor.org/rfc/rfc8935))
//! where the resource server exposes an endpoint (see **Push** below):
//!
//! 1. **Discovery**: `token_endpoint` from `{issuer}/.well-known/openid-configuration`;
//!    the transmitter metadata (SSF §7.2) from
//!    `{host}/.well-known/ssf-configuration{issuer path}` (the path inserted
//!    as RFC 8414 §3 does), whose `issuer` must equal the configured one
//!    and whose `jwks_uri` gives the SET keys, cached by the same key cache
//!    the verifier uses (one fetch per rotation, never one per SET).
//! 2. **Authorization** (SSF §7.1.1, `urn:ietf:rfc:6749`): an access token from the client
//!    credentials grant (RFC 6749 §4.4, `scope=ssf`, `client_secret_basic`),
//!    renewed before it expires or after a 401.
//! 3. **Stream** (SSF §8.1.1): an existing stream described as
//!    `holdfast-verify` is reused, so events queued while this process was
//!    down are still delivered (as it is, for poll; with its delivery
//!    updated, §8.1.1.3, for push or when the method changed); otherwise one is created asking for the
//!    events below. It is enabled if it is not (§8.1.2), and a verification
//!    is requested (§8.1.4); its SET is logged when it arrives
//!    ([`FeedStats::verified`]).
//! 4. **Poll** (RFC 8936 §2.2–§2.5): long polls (`returnImmediately: false`,
//!    a 45 s timeout) carrying the acknowledgements (`ack`) of what the
//!    previous batch applied and the errors (`setErrs`, RFC 8935 §2.4
//!    codes) of what it refused. Errors back off from 1 s to 30 s.
//!
//! What each event does (kept keys and times are in `state`):
//!
//! | event | subject | effect |
//! |---|---|---|
//! | CAEP `session-revoked` | complex with `session` (opaque), or opaque | tokens with that `sid` refused until `event_timestamp` + `max_token_lifetime` |
//! | CAEP `session-revoked` | complex with `user` (`iss_sub`) and no `session` | every session of the user (CAEP §3.1): as the RISC events below |
//! | RISC `sessions-revoked`, `account-disabled`, `account-purged` | `iss_sub` | that user's tokens with `iat` **strictly** before `event_timestamp` refused, until `event_timestamp` + `max_token_lifetime` (the later stamp wins) |
//! | Holdfast `access-token-revoked` | opaque `jti` (or SSF §3.5.1 `jwt_id`) | that token refused until its `exp` |
//! | CAEP `credential-change` | `iss_sub` | none (counted as applied) |
//! | SSF `verification`, `stream-updated` | opaque stream id | logged |
//! | anything else | — | acknowledged, ignored |
//!
//! The event time is the payload's `event_timestamp` (CAEP §2, optional),
//! else the SET's `toe` (RFC 8417 §2.2), else its `iat`: never earlier than
//! the event, so a missing timestamp refuses more, not less.
//!
//! Every kept entry also outlives its nominal end by [`LEEWAY_MARGIN`],
//! because verifiers accept tokens slightly past `exp` (clock leeway).
//!
//! Each SET is applied once: redeliveries (RFC 8936 §2.4: anything not
//! acknowledged comes again) are recognised by `jti` for as long as the
//! entry they made lives, and counted in [`FeedStats::duplicates`].
//!
//! **Memory**: entries are 128-bit digests with 32-bit times, 25 bytes per
//! table bucket (see `state`): 1,000,000 revoked sessions take 50 MiB
//! (2²¹ buckets; while a table grows, the old one lives beside it for a
//! moment). Expired entries are pruned every 60 s, never on a check.
//!
//! **Staleness, fail closed by default**: when the last successful poll is
//! older than [`RevocationFeedBuilder::staleness_bound`] (60 s), a token not
//! known to be revoked gets `Err` from [`RevocationCheck::check`], which the
//! verifier answers with 503. [`RevocationFeedBuilder::fail_open`] accepts
//! it instead. Tokens known to be revoked are refused either way. A poll
//! whose SETs could not all be verified (the JWKS unreachable) does not
//! count as successful: those SETs stay unacknowledged and come again.
//!
//! **One receiver client per process.** The feed reuses its client's
//! stream, and a stream hands each event to whichever poller takes it
//! first: several copies of an API polling with the same `client_id` would
//! split the events between them, each refusing only some revoked tokens
//! (by push, the last copy to start would take the stream's endpoint).
//! Give every copy its own receiver client (`holdfast client create
//! --client-id orders-api-1 --confidential --grant-type client_credentials
//! --scope ssf`, and so on).
//!
//! **Restarts: use [`RevocationFeedBuilder::state_file`].** With it, each
//! batch is journaled and fsynced before it is acknowledged, and read back
//! at start. Without it the state lives in memory only: a restart forgets
//! every revocation already acknowledged, and tokens of sessions revoked
//! before the restart are accepted again until they expire.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use holdfast_crypto::secret::SecretString;
//! use holdfast_verify::Verifier;
//! use holdfast_verify::feed::RevocationFeed;
//!
//! let issuer = "https://auth.example.com/t/acme";
//! let feed = RevocationFeed::builder(issuer, "orders-api", SecretString::new("…"))
//!     .state_file("/var/lib/orders-api/revocations.journal".into())
//!     .start()
//!     .await?;
//! let verifier = Verifier::builder(issuer)
//!     .audience("https://api.example.com")
//!     .revocation_check(feed.clone())
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! **Push** ([`RevocationFeedBuilder::push`]): the stream is created (or
//! its delivery updated, SSF §8.1.1.3) as `urn:ietf:rfc:8935` to the given
//! URL, with a random `authorization_header` new at every start, and
//! nothing is polled. Serve [`RevocationFeed::push_router`] (axum) or call
//! [`RevocationFeed::receive_push`] at that URL's path. Each pushed SET is
//! checked as a polled one is and journaled before the `202 Accepted`
//! (RFC 8935 §2.2); a refused one is a `400` with its RFC 8935 §2.4 code
//! (`invalid_key`, `invalid_issuer`, `invalid_audience`,
//! `invalid_request`); a wrong `Authorization` is a `401`
//! `authentication_failed`; a SET that cannot be checked or recorded now
//! (keys or disk unavailable) is a `503`, which the transmitter retries.
//! Freshness counts from the last push accepted; `start` requests a
//! verification (SSF §8.1.4.2), and so does the feed every third of the
//! staleness bound, so an idle feed stays fresh only while its
//! verifications come back. Until the first push arrives after `start`
//! the feed is stale (fails closed by default). Holdfast holds a
//! verification back while an older push of the stream waits for a retry,
//! so a verification that arrives means what came before it arrived too
//! (a transmitter that does not hold it back only proves it can reach the
//! endpoint). Holdfast retries failed pushes with backoff, gives one up
//! only after a day, and sends what waited at once when the receiver
//! accepts a push again or updates its stream (as every start does).
//! Poll is the better choice for throughput (one request carries up to
//! 500 SETs; a push carries one) and needs no inbound reachability.
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use holdfast_crypto::secret::SecretString;
//! use holdfast_verify::feed::RevocationFeed;
//!
//! let feed = RevocationFeed::builder("https://auth.example.com/t/acme", "orders-api", SecretString::new("…"))
//!     .push("https://orders.example.com/ssf/events".parse()?)
//!     .state_file("/var/lib/orders-api/revocations.journal".into())
//!     .start()
//!     .await?;
//! let app = app.merge(feed.push_router().expect("a push feed"));
//! # let _ = app; Ok(()) }
//! ```
//!
//! The feed's [`RevocationFeedBuilder::fail_open`] decides what a stale
//! feed answers; [`crate::VerifierBuilder::revocation_fail_open`] then
//! decides what the verifier does with an `Err` (503 by default). Leave
//! both at their defaults to fail closed.
//!
//! Not supported: encrypted SETs; refusing SETs
//! that carry `sub` or `exp` (SSF §4.1.2, §4.1.7 forbid them to
//! transmitters against confusion with other JWTs, which `typ` already
//! prevents here; refusing would drop a revocation); adding or
//! removing subjects (SSF §8.1.3: Holdfast streams cover all subjects);
//! sharing one feed's state between processes; waiting in `start` for the
//! verification SET; a transmitter that answers the stream creation with
//! 409 (one stream per receiver, SSF §8.1.1.1) while that stream is not
//! one of ours: `start` fails rather than take over a stream someone else
//! may be reading.

mod api;
mod journal;
mod outbox;
mod poll;
mod push;
mod set;
mod shared;
mod state;
mod stream;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use holdfast_crypto::secret::SecretString;

use crate::claims::AccessTokenClaims;
use crate::clock::{Clock, SystemClock};
use crate::revocation::{BoxFuture, RevocationCheck, RevocationError, RevocationStatus};

pub use set::{EVENTS_REQUESTED, SetError};
use shared::{Config, Shared};
#[cfg(test)]
use {
    crate::error::AuthError,
    crate::jwks::VerifyKey,
    shared::{Keys, Processed},
};

/// How long past its nominal end an entry is kept: verifiers accept a token
/// up to their leeway after `exp` (30 s by default), so a revocation must
/// last at least that long past the token's last second.
pub const LEEWAY_MARGIN: Duration = Duration::from_secs(60);

/// Default for [`RevocationFeedBuilder::staleness_bound`].
pub const DEFAULT_STALENESS_BOUND: Duration = Duration::from_secs(60);

/// Default for [`RevocationFeedBuilder::max_token_lifetime`].
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Why [`RevocationFeedBuilder::start`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The issuer is not an absolute http(s) URL.
    #[error("issuer must be an absolute http(s) URL: {0}")]
    Issuer(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// OpenID discovery failed or named no `token_endpoint`.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The SSF transmitter metadata (SSF §7) was missing or unusable.
    #[error("transmitter metadata: {0}")]
    Metadata(String),
    /// No access token for the SSF API.
    #[error("access token: {0}")]
    Token(String),
    /// The stream could not be found, created or enabled (SSF §8.1).
    #[error("stream: {0}")]
    Stream(String),
    /// The state file could not be read or rewritten.
    #[error("state file: {0}")]
    StateFile(String),
    /// The first poll failed.
    #[error("poll: {0}")]
    Poll(String),
    /// The push endpoint is not an absolute http(s) URL without a fragment.
    #[error("push endpoint must be an absolute http(s) URL: {0}")]
    PushEndpoint(String),
}

/// Counters and times, for metrics and health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStats {
    /// SETs applied (including those with no effect on tokens).
    pub applied: u64,
    /// Redelivered SETs recognised and skipped.
    pub duplicates: u64,
    /// SETs refused (reported in `setErrs`, or answered 400 when pushed).
    pub rejected: u64,
    /// When the last poll succeeded, or (push) the last push was accepted
    /// (clock seconds).
    pub last_successful_poll: Option<i64>,
    /// The stream followed.
    pub stream_id: Option<String>,
    /// Whether the verification SET requested at start arrived (SSF §8.1.4).
    pub verified: bool,
    /// Entries held (sessions, tokens, users, recent informational events).
    pub entries: usize,
    /// Heap bytes the entries' tables hold (capacity × slot size).
    pub memory_bytes: usize,
}

/// Builds and starts a [`RevocationFeed`]. Every option has a default.
pub struct RevocationFeedBuilder {
    issuer: String,
    client_id: String,
    client_secret: SecretString,
    staleness_bound: Duration,
    fail_open: bool,
    max_token_lifetime: Duration,
    state_file: Option<PathBuf>,
    push: Option<url::Url>,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RevocationFeedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationFeedBuilder")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("staleness_bound", &self.staleness_bound)
            .field("fail_open", &self.fail_open)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("state_file", &self.state_file)
            .field("push", &self.push.as_ref().map(url::Url::as_str))
            .finish_non_exhaustive()
    }
}

impl RevocationFeedBuilder {
    /// Longest time since the last successful poll before the feed counts
    /// as stale. Default 60 s (a long poll lasts up to 20 s).
    pub fn staleness_bound(mut self, d: Duration) -> Self {
        self.staleness_bound = d;
        self
    }

    /// When stale: accept tokens not known to be revoked (`true`) or make
    /// [`RevocationCheck::check`] fail so the verifier answers 503 (`false`,
    /// the default: a feed that stopped must not silently stop refusing).
    pub fn fail_open(mut self, open: bool) -> Self {
        self.fail_open = open;
        self
    }

    /// The longest an access token of this issuer lives: how long a revoked
    /// session or a user's not-before stamp is kept after its event.
    /// Default 1 hour. Too short lets tokens of revoked sessions pass again.
    pub fn max_token_lifetime(mut self, d: Duration) -> Self {
        self.max_token_lifetime = d;
        self
    }

    /// Journals applied events to `path` and reads them back at start
    /// (recommended; see the module docs). Default: memory only.
    pub fn state_file(mut self, path: PathBuf) -> Self {
        self.state_file = Some(path);
        self
    }

    /// Receive the feed by push (RFC 8935) at `endpoint` instead of polling:
    /// the URL where the transmitter reaches this process. Serve
    /// [`RevocationFeed::push_router`] (or [`RevocationFeed::receive_push`])
    /// at its path. See the module docs for what changes. Default: poll.
    pub fn push(mut self, endpoint: url::Url) -> Self {
        self.push = Some(endpoint);
        self
    }

    /// Uses this HTTP client. Default: one with no redirects; each call
    /// sets its own timeout (10 s, 45 s for long polls).
    pub fn http_client(mut self, c: reqwest::Client) -> Self {
        self.http = Some(c);
        self
    }

    /// The clock. Default: the system clock.
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// Loads the state file and sets up the stream. Poll: then polls until
    /// the backlog queued while this process was down is applied (at most
    /// 100 000 SETs; the rest follow in the background), and fails if that
    /// first poll fails. Push: returns once the stream points at the push
    /// endpoint; the feed is stale until the first push arrives.
    /// Either way the feed is then followed on a tokio task, which ends
    /// when the last `Arc<RevocationFeed>` is dropped.
    pub async fn start(self) -> Result<Arc<RevocationFeed>, FeedError> {
        let issuer_url =
            url::Url::parse(&self.issuer).map_err(|_| FeedError::Issuer(self.issuer.clone()))?;
        if !matches!(issuer_url.scheme(), "http" | "https") || issuer_url.host().is_none() {
            return Err(FeedError::Issuer(self.issuer));
        }
        if issuer_url.scheme() == "http" {
            // SSF §7.2: "Receivers SHOULD ensure that the Issuer URL ...
            // uses the https scheme." Allowed for development and tests.
            tracing::warn!(issuer = %self.issuer, "holdfast-verify: revocation feed over plain http");
        }
        let wanted = match self.push {
            None => stream::Wanted::Poll,
            Some(endpoint) => {
                if !push::is_push_endpoint(&endpoint) {
                    return Err(FeedError::PushEndpoint(endpoint.to_string()));
                }
                let authorization =
                    push::new_authorization().map_err(|e| FeedError::Stream(e.to_string()))?;
                stream::Wanted::Push {
                    endpoint,
                    authorization,
                }
            }
        };
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| FeedError::Http(e.to_string()))?,
        };
        let config = Config {
            staleness_bound: dur_secs(self.staleness_bound),
            fail_open: self.fail_open,
            max_token_lifetime: dur_secs(self.max_token_lifetime),
        };
        let shared = Arc::new(Shared::new(self.issuer, self.client_id, config, self.clock));
        if let Some(path) = self.state_file {
            shared.open_journal(path).await?;
        }
        let connected = stream::connect(
            Arc::clone(&shared),
            &issuer_url,
            http,
            &self.client_secret,
            &wanted,
        )
        .await?;
        let (task, push) = match wanted {
            stream::Wanted::Poll => {
                let mut poller = poll::Poller::new(connected);
                poller
                    .catch_up(poll::CATCH_UP_ROUNDS)
                    .await
                    .map_err(|e| FeedError::Poll(e.to_string()))?;
                (tokio::spawn(poller.run()), None)
            }
            stream::Wanted::Push {
                endpoint,
                authorization,
            } => {
                let receiver = push::PushReceiver::new(
                    Arc::clone(&shared),
                    connected.keys,
                    authorization,
                    &endpoint,
                );
                let every = push::keep_alive_every(config.staleness_bound);
                let task = tokio::spawn(push::keep_alive(
                    connected.api,
                    connected.verification,
                    every,
                ));
                (task, Some(Arc::new(receiver)))
            }
        };
        Ok(Arc::new(RevocationFeed {
            shared,
            push,
            task: Mutex::new(Some(task)),
        }))
    }
}

fn dur_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A Holdfast tenant's revocation feed, followed in the background. See the
/// module docs for what it does and its guarantees.
pub struct RevocationFeed {
    shared: Arc<Shared>,
    /// The push receiver, when the feed is pushed to.
    push: Option<Arc<push::PushReceiver>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("issuer", &self.shared.issuer)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for RevocationFeed {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

impl RevocationFeed {
    /// Starts configuring a feed for `issuer` (e.g.
    /// `https://auth.example.com/t/acme`), read as the confidential client
    /// `client_id` (which needs the `ssf` scope and is the SETs' audience).
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> RevocationFeedBuilder {
        RevocationFeedBuilder {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            staleness_bound: DEFAULT_STALENESS_BOUND,
            fail_open: false,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            state_file: None,
            push: None,
            http: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Counters, the last successful poll and the stream.
    pub fn stats(&self) -> FeedStats {
        self.shared.stats()
    }

    /// Handles one RFC 8935 push (the request's headers and body), for any
    /// HTTP framework: 202 when applied and journaled, 400 or 401 with an
    /// RFC 8935 §2.3 error body, 503 when it cannot be recorded now. A
    /// feed that polls answers 404.
    pub async fn receive_push(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> http::Response<Vec<u8>> {
        match &self.push {
            Some(receiver) => receiver.receive(headers, body).await,
            None => push::not_a_push_feed(),
        }
    }

    /// The path of the push endpoint given to
    /// [`RevocationFeedBuilder::push`]; `None` for a feed that polls.
    pub fn push_path(&self) -> Option<&str> {
        self.push.as_deref().map(push::PushReceiver::path)
    }

    /// An axum router serving `POST` at the push endpoint's path; `None`
    /// for a feed that polls. Merge it into the application's router.
    #[cfg(feature = "axum")]
    pub fn push_router(&self) -> Option<axum::Router> {
        let receiver = Arc::clone(self.push.as_ref()?);
        let path = receiver.path().to_owned();
        let handler = move |headers: http::HeaderMap, body: axum::body::Body| {
            let receiver = Arc::clone(&receiver);
            async move {
                let reply = match axum::body::to_bytes(body, set::MAX_SET_LEN).await {
                    Ok(body) => receiver.receive(&headers, &body).await,
                    // Larger than any SET, or the body broke off.
                    Err(_) => push::unreadable_body(),
                };
                reply.map(axum::body::Body::from)
            }
        };
        Some(axum::Router::new().route(&path, axum::routing::post(handler)))
    }
}

impl RevocationCheck for RevocationFeed {
    fn check<'a>(
        &'a self,
        _token: &'a str,
        claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<RevocationStatus, RevocationError>> {
        Box::pin(async move { self.shared.check(claims) })
    }
}

#[cfg(test)]
mod push_tests;
#[cfg(test)]
mod tests;
