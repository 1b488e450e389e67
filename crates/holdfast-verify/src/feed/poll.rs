//! The poll loop (RFC 8936 §2.2–§2.4): long polls carrying the
//! acknowledgements and errors of the previous batch. The rules are listed
//! in the module docs of [`super`]; this file only does what they say, in
//! order. The stream itself is set up by `stream`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::api::{Api, CallError};
use super::outbox::{MAX_EVENTS, Outbox};
use super::set::SetError;
use super::shared::Shared;
use super::state::Record;
use super::stream::Connected;
use crate::jwks::KeyCache;

/// Largest poll response read: `MAX_EVENTS` SETs of the largest size.
const MAX_POLL_BYTES: usize = MAX_EVENTS * super::set::MAX_SET_LEN;
/// Timeout of a long poll: the transmitter holds it up to 20 s.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
/// Expired entries are pruned this often.
pub(super) const PRUNE_EVERY: i64 = 60;
/// Backoff after failed polls: from 1 s, doubling, at most 30 s.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What one poll brought.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Polled {
    /// SETs in the response.
    pub received: usize,
    /// SETs left unacknowledged because the keys could not be fetched.
    pub deferred: usize,
    /// RFC 8936 §2.3 `moreAvailable`.
    pub more: bool,
}

/// Polls `start` makes, at most, to drain the backlog before returning
/// (× `MAX_EVENTS` SETs each).
pub(crate) const CATCH_UP_ROUNDS: usize = 200;

/// RFC 8936 §2.3 poll response attributes.
#[derive(Deserialize)]
struct PollResponse {
    #[serde(default)]
    sets: Map<String, Value>,
    #[serde(default, rename = "moreAvailable")]
    more_available: bool,
}

/// Follows one stream. Owned by the poll task.
pub(crate) struct Poller {
    shared: Arc<Shared>,
    api: Api,
    keys: Arc<KeyCache>,
    poll_url: Url,
    outbox: Outbox,
    last_prune: i64,
}

impl Poller {
    /// Polls the stream `connected` set up.
    pub(crate) fn new(connected: Connected) -> Self {
        let shared = Arc::clone(&connected.api.shared);
        let last_prune = shared.clock.now();
        Self {
            shared,
            api: connected.api,
            keys: connected.keys,
            poll_url: connected.endpoint,
            outbox: Outbox::default(),
            last_prune,
        }
    }

    /// One poll: acknowledge and report the previous batch, take the next
    /// one, apply and journal it.
    pub(crate) async fn poll_once(
        &mut self,
        return_immediately: bool,
    ) -> Result<Polled, CallError> {
        if let Some(records) = self.outbox.unwritten() {
            self.write(records).await;
        }
        let request = self.outbox.request(return_immediately);
        let url = self.poll_url.clone();
        let (_, body) = self
            .api
            .call(
                Method::POST,
                &url,
                Some(&request),
                POLL_TIMEOUT,
                MAX_POLL_BYTES,
            )
            .await?;
        let response: PollResponse =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("poll response: {e}")))?;
        // The transmitter has the acknowledgements and errors now.
        self.outbox.sent();
        let mut sets = Vec::with_capacity(response.sets.len());
        let mut not_strings = Vec::new();
        for (jti, value) in response.sets {
            match value {
                Value::String(compact) => sets.push((Some(jti), compact)),
                _ => not_strings.push((jti, SetError::Malformed("not a JSON string"))),
            }
        }
        let received = sets.len() + not_strings.len();
        let mut processed = self.shared.process(self.keys.as_ref(), sets).await;
        if !not_strings.is_empty() {
            tracing::warn!(
                count = not_strings.len(),
                "holdfast-verify: poll response held non-string SETs"
            );
            self.shared.count_rejected(not_strings.len());
        }
        processed.errs.extend(not_strings);
        let deferred = processed.deferred;
        if deferred == 0 {
            // Fresh as of this response, now that all of it is applied. With
            // SETs deferred it is not: staleness then fails closed.
            self.shared.mark_polled();
        } else {
            tracing::warn!(
                deferred,
                "holdfast-verify: SETs deferred until keys are available"
            );
        }
        if let Some(records) = self.outbox.add(processed) {
            self.write(records).await;
        }
        Ok(Polled {
            received,
            deferred,
            more: response.more_available,
        })
    }

    /// Polls without waiting until the transmitter has nothing more queued
    /// (events from while this process was down), at most `rounds` times.
    pub(crate) async fn catch_up(&mut self, rounds: usize) -> Result<(), CallError> {
        for _ in 0..rounds {
            let polled = self.poll_once(true).await?;
            if polled.deferred > 0 {
                return Err(CallError(format!(
                    "{} SETs could not be verified: keys unavailable",
                    polled.deferred
                )));
            }
            if !polled.more {
                return Ok(());
            }
        }
        tracing::warn!(
            rounds,
            "holdfast-verify: still catching up; continuing in the background"
        );
        Ok(())
    }

    /// Journals `records`; on success the acknowledgements waiting for them
    /// are released.
    async fn write(&mut self, records: Vec<Record>) {
        match self.shared.journal(records).await {
            Ok(()) => self.outbox.written(),
            Err(e) => tracing::error!(
                error = %e,
                "holdfast-verify: state file write failed; holding acknowledgements"
            ),
        }
    }

    /// The poll loop: never returns, never panics; errors are logged and
    /// retried with backoff. Ends when the task is aborted.
    pub(crate) async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            let started = Instant::now();
            match self.poll_once(false).await {
                Ok(polled) if polled.deferred > 0 => {
                    // They come straight back: wait as after a failure.
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(backoff(failures)).await;
                }
                Ok(polled) => {
                    failures = 0;
                    // A transmitter that answers at once with nothing would
                    // make this loop spin: pace it.
                    if polled.received == 0 && started.elapsed() < Duration::from_secs(1) {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    tracing::warn!(error = %e, retry_in = ?delay, "holdfast-verify: revocation feed poll failed");
                    tokio::time::sleep(delay).await;
                }
            }
            let now = self.shared.clock.now();
            if now.saturating_sub(self.last_prune) >= PRUNE_EVERY {
                self.last_prune = now;
                self.shared.prune().await;
            }
        }
    }
}

/// 1 s, 2 s, 4 s, … at most [`BACKOFF_MAX`].
pub(super) fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let got: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
