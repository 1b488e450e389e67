//! Poll delivery, [RFC 8936](https://www.rfc-editor.org/rfc/rfc8936):
//! a receiver POSTs acknowledgements and asks for more in one request
//! (§2.4), and with `returnImmediately: false` (§2.2) the request waits
//! until an event is queued for the stream or [`LONG_POLL`] has passed.
//!
//! Events handed out and not acknowledged are handed out again after
//! [`REDELIVER_AFTER_SECS`] (§2.4: the transmitter re-sends what was not
//! acknowledged), so a receiver that dies between receiving and
//! acknowledging loses nothing. A `setErrs` entry (§2.4) is a negative
//! acknowledgement: the event leaves the queue and the error is logged.
//!
//! The wait watches the store (a read every [`WAIT_STEP`]), not this
//! node's memory, so an event committed on another node is seen as soon
//! as one written here.

use std::collections::BTreeMap;
use std::time::Duration;

use holdfast_core::tenant::Tenant;
use holdfast_store::StreamRecord;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{SsfError, sign_set_with};
use crate::state::AppState;

/// How long a long-poll is held at most.
pub const LONG_POLL: Duration = Duration::from_secs(20);
/// How often a held poll looks for new events.
pub const WAIT_STEP: Duration = Duration::from_millis(100);
/// Handed-out events come back this long after, unless acknowledged.
pub const REDELIVER_AFTER_SECS: i64 = 10;
/// `maxEvents` when the request names none.
pub const DEFAULT_MAX_EVENTS: i64 = 100;
/// The most SETs one response carries.
pub const MAX_EVENTS: i64 = 1000;

/// RFC 8936 §2.4: a poll request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    /// `maxEvents`: 0 means acknowledge only.
    pub max_events: Option<i64>,
    /// `returnImmediately` (default false: wait).
    pub return_immediately: Option<bool>,
    /// `ack`: the `jti`s the receiver applied.
    #[serde(default)]
    pub ack: Vec<String>,
    /// `setErrs`: the `jti`s it could not, with why.
    #[serde(default)]
    pub set_errs: BTreeMap<String, SetError>,
}

/// RFC 8936 §2.4 / RFC 8935 §2.3: one SET's error.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SetError {
    /// `err`.
    pub err: String,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
}

/// RFC 8936 §2.5: a poll response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    /// `sets`: `jti` → the SET.
    pub sets: BTreeMap<String, String>,
    /// `moreAvailable`.
    pub more_available: bool,
}

/// One poll of `stream` (already checked to be the caller's).
pub async fn poll(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    stream: &StreamRecord,
    request: &PollRequest,
) -> Result<PollResponse, SsfError> {
    if request.ack.len() + request.set_errs.len() > 10 * MAX_EVENTS as usize {
        return Err(SsfError::InvalidRequest(
            "too many acknowledgements at once",
        ));
    }
    let max = request
        .max_events
        .unwrap_or(DEFAULT_MAX_EVENTS)
        .clamp(0, MAX_EVENTS);
    for (jti, e) in &request.set_errs {
        tracing::warn!(stream = %stream.id, jti, err = %e.err, description = ?e.description,
            "receiver reported a SET error; not delivering it again");
    }
    let mut ack: Vec<String> = request.ack.clone();
    ack.extend(request.set_errs.keys().cloned());
    if stream.status != holdfast_core::signals::StreamStatus::Enabled {
        // SSF §8.1.2: a paused stream holds its events, a disabled one has
        // none. Said as an error, so a receiver does not take an empty
        // answer for a healthy feed (and fails closed once it is stale).
        return Err(SsfError::StreamNotEnabled(stream.status));
    }
    let wait = !request.return_immediately.unwrap_or(false) && max > 0;
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let now = state.now();
        // Nothing to acknowledge and nothing due: answer (or wait) without
        // taking the store's write path.
        let (signals, more) =
            if ack.is_empty() && !state.store.has_due_signals(&stream.id, now).await? {
                (Vec::new(), false)
            } else {
                state
                    .store
                    .poll_signals(&stream.id, &ack, max, now, now + REDELIVER_AFTER_SECS)
                    .await?
            };
        ack.clear();
        if !signals.is_empty() || !wait {
            let mut sets = BTreeMap::new();
            if !signals.is_empty() {
                let key = state.keys.current(tenant).await?;
                let iat = state.now();
                for signal in &signals {
                    let set = sign_set_with(&key, issuer, stream, signal, iat)?;
                    sets.insert(signal.id.clone(), set);
                }
            }
            metrics::counter!("holdfast_security_events_delivered_total", "method" => "poll")
                .increment(sets.len() as u64);
            return Ok(PollResponse {
                sets,
                more_available: more,
            });
        }
        // Wait for something to be queued, reading only.
        loop {
            if tokio::time::Instant::now() + WAIT_STEP >= deadline {
                return Ok(PollResponse {
                    sets: BTreeMap::new(),
                    more_available: false,
                });
            }
            tokio::time::sleep(WAIT_STEP).await;
            if state.store.has_due_signals(&stream.id, state.now()).await? {
                break;
            }
        }
    }
}
