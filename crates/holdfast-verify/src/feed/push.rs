//! The push receiver (RFC 8935): the endpoint the transmitter POSTs each
//! SET to, and the keep-alive that keeps the feed's freshness honest while
//! nothing is revoked.
//!
//! One pushed SET, in order:
//!
//! 1. `Authorization` must be the value this process gave the stream
//!    (SSF §8.1.1 `authorization_header`), compared in constant time; else
//!    401 `authentication_failed` (RFC 8935 §2.4): a transmitter retries
//!    that, so a push sent with a previous process's value is not lost.
//! 2. RFC 8935 §2.1: `Content-Type: application/secevent+jwt`, a body of at
//!    most 16 KiB; else 400 `invalid_request`.
//! 3. The SET is validated and applied as a polled one is (`shared`); a
//!    refused SET is a 400 with its RFC 8935 §2.4 code, which tells the
//!    transmitter not to send it again. Keys unavailable: 503, and the
//!    transmitter retries.
//! 4. What it changed is journaled (fsynced) **before** the 202 (RFC 8935
//!    §2.2), since the 202 is the acknowledgement; a failed write is a 503
//!    and stays queued for the next push. Pushes are handled one at a time,
//!    so a redelivered SET is never acknowledged on the strength of a
//!    record another request has not written yet.
//!
//! **Freshness**: a push accepted counts as a successful poll does. While
//! nothing is revoked, a verification is requested (SSF §8.1.4.2) every
//! third of the staleness bound; its SET, pushed back, keeps the feed
//! fresh. A transmitter that cannot reach this endpoint therefore makes
//! the feed stale, and a stale feed fails closed by default.

use std::sync::Arc;
use std::time::Duration;

use holdfast_crypto::secret::{SecretString, constant_time_eq};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::json;
use url::Url;

use super::api::Api;
use super::poll::PRUNE_EVERY;
use super::set::MAX_SET_LEN;
use super::shared::{Keys, Shared};
use super::state::Record;

/// RFC 8935 §2.1 media type of a pushed SET.
const SECEVENT_JWT: &str = "application/secevent+jwt";

/// Receives the pushes of one stream.
pub(crate) struct PushReceiver {
    shared: Arc<Shared>,
    keys: Arc<dyn Keys>,
    authorization: SecretString,
    path: String,
    /// Records applied but not yet journaled; also the lock that handles
    /// pushes one at a time.
    unwritten: tokio::sync::Mutex<Vec<Record>>,
}

impl PushReceiver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        keys: Arc<dyn Keys>,
        authorization: SecretString,
        endpoint: &Url,
    ) -> Self {
        Self {
            shared,
            keys,
            authorization,
            path: endpoint.path().to_owned(),
            unwritten: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The path of the push endpoint, as registered with the transmitter.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Handles one push: the module docs list the steps.
    pub(crate) async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> Response<Vec<u8>> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !constant_time_eq(presented, self.authorization.expose().as_bytes()) {
            let mut reply = error(
                StatusCode::UNAUTHORIZED,
                "authentication_failed",
                "the Authorization header is not the one this stream was given",
            );
            reply.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"holdfast-verify\""),
            );
            return reply;
        }
        let media_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim);
        if !media_type.is_some_and(|m| m.eq_ignore_ascii_case(SECEVENT_JWT)) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Content-Type must be application/secevent+jwt (RFC 8935 §2.1)",
            );
        }
        if body.len() > MAX_SET_LEN {
            return unreadable_body();
        }
        let Ok(compact) = std::str::from_utf8(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is not a compact JWS",
            );
        };
        let mut unwritten = self.unwritten.lock().await;
        let processed = self
            .shared
            .process(self.keys.as_ref(), vec![(None, compact.trim().to_owned())])
            .await;
        if let Some((_, e)) = processed.errs.first() {
            return error(StatusCode::BAD_REQUEST, e.code(), &e.to_string());
        }
        if processed.deferred > 0 {
            return unavailable("the transmitter's keys cannot be fetched now");
        }
        unwritten.extend(processed.records);
        if !unwritten.is_empty() {
            if let Err(e) = self.shared.journal(unwritten.clone()).await {
                tracing::error!(error = %e, "holdfast-verify: state file write failed; refusing pushes");
                return unavailable("the receiver cannot record the SET now");
            }
            unwritten.clear();
        }
        self.shared.mark_polled();
        let mut accepted = Response::new(Vec::new());
        *accepted.status_mut() = StatusCode::ACCEPTED;
        accepted
    }
}

/// RFC 8935 §2.3: `{"err": code, "description": text}` as JSON.
fn error(status: StatusCode, code: &str, description: &str) -> Response<Vec<u8>> {
    let body = json!({"err": code, "description": description}).to_string();
    let mut reply = Response::new(body.into_bytes());
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// A 503 the transmitter retries (RFC 8935 §2.4 defines no code for it).
fn unavailable(description: &str) -> Response<Vec<u8>> {
    let mut reply = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        description,
    );
    reply
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    reply
}

/// The answer to a body larger than any SET (or one that broke off).
pub(crate) fn unreadable_body() -> Response<Vec<u8>> {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the body is not a SET of at most 16 KiB",
    )
}

/// The answer of a feed that does not receive pushes.
pub(crate) fn not_a_push_feed() -> Response<Vec<u8>> {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request",
        "this revocation feed polls; it receives no pushes",
    )
}

/// An endpoint this feed can serve: absolute http(s), no fragment, and a
/// path the router takes literally (no `{`, `}`, `*` or `:` segments,
/// which axum reads as parameters).
pub(crate) fn is_push_endpoint(endpoint: &Url) -> bool {
    matches!(endpoint.scheme(), "http" | "https")
        && endpoint.host().is_some()
        && endpoint.fragment().is_none()
        && !endpoint.path().contains(['{', '}', '*'])
        && !endpoint.path().split('/').any(|s| s.starts_with(':'))
}

/// A fresh `Authorization` value for a push stream: a bearer secret only
/// this process knows.
pub(crate) fn new_authorization() -> Result<SecretString, holdfast_crypto::CryptoError> {
    let a = holdfast_crypto::secret::random_id()?;
    let b = holdfast_crypto::secret::random_id()?;
    Ok(SecretString::new(format!("Bearer {a}{b}")))
}

/// How often the keep-alive asks for a verification: a third of the
/// staleness bound, at least every second.
pub(crate) fn keep_alive_every(staleness_bound: i64) -> Duration {
    Duration::from_secs(u64::try_from(staleness_bound / 3).unwrap_or(0).max(1))
}

/// The push feed's task: a verification every `every` (its SET is pushed
/// back and keeps the feed fresh), pruning every minute. Never returns;
/// ends when the task is aborted.
pub(crate) async fn keep_alive(mut api: Api, verification: Option<Url>, every: Duration) {
    let shared = Arc::clone(&api.shared);
    let mut last_prune = shared.clock.now();
    loop {
        tokio::time::sleep(every).await;
        if let Some(verify) = &verification
            && let Err(e) = api.request_verification(verify).await
        {
            tracing::warn!(error = %e, "holdfast-verify: keep-alive verification request failed");
        }
        let now = shared.clock.now();
        if now.saturating_sub(last_prune) >= PRUNE_EVERY {
            last_prune = now;
            shared.prune().await;
        }
    }
}
