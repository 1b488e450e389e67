//! Prometheus metrics, rendered in the text exposition format at
//! `/metrics`, and the access log.
//!
//! HTTP: `holdfast_http_requests_total` and
//! `holdfast_http_request_duration_seconds` per route, method, status and
//! `outcome` (`success`, `redirect`, `client_error`, `server_error`, or
//! `dpop_nonce` for the `use_dpop_nonce` 400 every DPoP client expects:
//! RFC 9449 §8, not an error to alert on); `holdfast_oauth_errors_total`
//! per error code; `holdfast_dpop_nonce_challenges_total`.
//!
//! The domain, counted where it happens: `holdfast_logins_total` (`outcome`
//! `succeeded`, `failed`, `throttled`; `method`), `holdfast_refreshes_total`
//! (`result`: `rotated`, `kept`, `grace_retry`, `reuse_detected`,
//! `refused`), `holdfast_revocations_total` (`reason`),
//! `holdfast_codes_issued_total`, `holdfast_sessions_raised_total`, beside
//! the older `holdfast_login_failures_total`,
//! `holdfast_throttled_attempts_total`, mail and delivery counters. At each
//! scrape, read from the store (so every node reports the same shared
//! queues): `holdfast_queue_depth` and `holdfast_queue_lag_seconds` (age of
//! the oldest waiting entry) per `queue` (`mail`, `security_events`,
//! `logout_tokens`). The store: `holdfast_sqlite_rotations_per_commit`, a
//! histogram of how many refresh rotations each SQLite commit carried
//! (group commit, decision 0013).
//!
//! Access log: one `tracing` line per request at target `holdfast::access`
//! (method, route, status, latency, tenant, client; never a query string,
//! a body or a header value that could carry a secret).
//!
//! The `metrics` facade has one recorder per process; it is installed once
//! and shared by every app in the process (tests start several).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::error::Shown;
use crate::state::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the process-wide recorder (once).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(holdfast_store::ROTATIONS_PER_COMMIT.into()),
                    holdfast_store::ROTATIONS_PER_COMMIT_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The client a handler served, left in the response's extensions for the
/// access log (the `client_id` is no secret; it is in every request).
#[derive(Debug, Clone)]
pub struct ServedClient(pub String);

/// Middleware recording `holdfast_http_requests_total`,
/// `holdfast_http_request_duration_seconds` and the OAuth error counters,
/// and writing the access log line.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let tenant = request
        .uri()
        .path()
        .strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .filter(|slug| slug.len() <= 64)
        .map(str::to_owned);
    // A `client_id` in the query (authorize, end-session) is no secret;
    // nothing else of the query is read.
    let query_client = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
            .filter(|v| v.len() <= 128)
    });
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status();
    let shown = response.extensions().get::<Shown>();
    let outcome = match shown.map(|s| s.code) {
        Some(OAuthErrorCode::UseDpopNonce) => "dpop_nonce",
        _ if status.is_server_error() => "server_error",
        _ if status.is_client_error() => "client_error",
        _ if status.is_redirection() => "redirect",
        _ => "success",
    };
    if let Some(shown) = shown {
        metrics::counter!("holdfast_oauth_errors_total", "error" => shown.code.as_str())
            .increment(1);
        if shown.code == OAuthErrorCode::UseDpopNonce {
            metrics::counter!("holdfast_dpop_nonce_challenges_total").increment(1);
        }
    }
    let client = response
        .extensions()
        .get::<ServedClient>()
        .map(|c| c.0.as_str())
        .or(query_client.as_deref());
    tracing::info!(
        target: "holdfast::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        tenant = tenant.as_deref().unwrap_or("-"),
        client = client.unwrap_or("-"),
        outcome,
    );
    let labels = [
        ("route", route),
        ("method", method),
        ("status", status.as_u16().to_string()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("holdfast_http_requests_total", &labels).increment(1);
    metrics::histogram!("holdfast_http_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());
    response
}

/// Sets the queue gauges from the store (an outage leaves them as they were).
async fn read_queues(state: &AppState) {
    let now = state.now();
    let mail = state.store.mail_backlog().await;
    let deliveries = state.store.delivery_backlog().await;
    let (Ok(mail), Ok((events, logouts))) = (mail, deliveries) else {
        tracing::warn!("queue gauges not read: the store did not answer");
        return;
    };
    for (queue, backlog) in [
        ("mail", mail),
        ("security_events", events),
        ("logout_tokens", logouts),
    ] {
        #[allow(clippy::cast_precision_loss)] // counts and seconds, far below 2^52
        {
            metrics::gauge!("holdfast_queue_depth", "queue" => queue).set(backlog.depth as f64);
            let lag = backlog.oldest_at.map_or(0, |at| (now - at).max(0));
            metrics::gauge!("holdfast_queue_lag_seconds", "queue" => queue).set(lag as f64);
        }
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    read_queues(&state).await;
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
