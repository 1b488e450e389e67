//! The delivery loops every node runs: RFC 8935 push of SETs to receivers
//! that chose push, and OIDC Back-Channel Logout 1.0 §2.5 logout tokens to
//! clients that registered a `backchannel_logout_uri`.
//!
//! Each round claims what is due in the store (so two nodes do not send the
//! same row at once), sends it, and deletes the row when the other side
//! accepted it (RFC 8935 §2.2: `202 Accepted`; Back-Channel Logout §2.8:
//! `200 OK`; any 2xx counts) or schedules a retry with exponential backoff.
//! An RFC 8935 §2.3 error response (`400` with an `err` code) means the
//! receiver will never accept that SET, so it is not retried. After
//! [`MAX_ATTEMPTS`] failures a delivery is given up and logged at `error`
//! (a push only once its event is also [`GIVE_UP_AFTER_SECS`] old). A push
//! accepted makes the stream's backed-off pushes due at once, and a
//! verification is held back while an older push of its stream waits for
//! a retry, so "verified" means "up to date" to a receiver.

use std::time::Duration;

use holdfast_core::signals::{LOGOUT_TOKEN_TYP, SignalKind, logout_token_claims};
use holdfast_core::tenant::issuer_url;
use holdfast_store::{DueLogout, DuePush};
use tokio::task::JoinSet;

use super::sign_set;
use crate::service::lookup;
use crate::state::AppState;

/// How often a node looks for due deliveries.
pub const ROUND: Duration = Duration::from_millis(200);
/// How long a claimed delivery is this node's before another may try.
pub const CLAIM_SECS: i64 = 30;
/// Deliveries claimed per round and kind.
pub const BATCH: i64 = 50;
/// Failures after which a delivery may be given up...
pub const MAX_ATTEMPTS: i64 = 12;
/// ...once its event is also this old (seconds): a day, longer than any
/// access token the event could still affect lives, so a receiver back
/// from an outage of hours still gets every revocation.
pub const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;
/// Timeout of one delivery request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Seconds to wait after the `attempts`-th failure: 1, 2, 4 … capped at
/// 2048 (about half an hour).
pub fn backoff_secs(attempts: i64) -> i64 {
    1_i64 << attempts.clamp(0, 11)
}

/// The HTTP client deliveries use: a timeout, no redirects (a receiver's
/// endpoint is what it registered, not where it points).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Runs the delivery rounds until the task is dropped.
pub async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(ROUND);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = round(&state).await {
            tracing::warn!(error = %err, "delivery round failed; trying again");
        }
    }
}

/// One round: everything due now, sent concurrently.
pub async fn round(state: &AppState) -> Result<(), holdfast_store::StoreError> {
    let now = state.now();
    let pushes = state.store.due_pushes(now, now + CLAIM_SECS, BATCH).await?;
    let logouts = state
        .store
        .due_logouts(now, now + CLAIM_SECS, BATCH)
        .await?;
    let mut sends = JoinSet::new();
    for due in pushes {
        let state = state.clone();
        sends.spawn(async move { push(&state, due, now).await });
    }
    for due in logouts {
        let state = state.clone();
        sends.spawn(async move { logout(&state, due, now).await.map(|()| None) });
    }
    let mut reachable = std::collections::BTreeSet::new();
    while let Some(done) = sends.join_next().await {
        match done {
            Ok(Ok(Some(stream_id))) => {
                reachable.insert(stream_id);
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "could not record a delivery's outcome"),
            Ok(Ok(None)) | Err(_) => {}
        }
    }
    // A receiver that accepted a push is back: what waits out a backoff
    // goes in the next round, not minutes later.
    for stream_id in reachable {
        state.store.push_receiver_reachable(&stream_id, now).await?;
    }
    Ok(())
}

/// What one attempt came to.
enum Outcome {
    Accepted,
    Refused(String),
    Failed(String),
}

/// Pushes one SET claimed at `attempted_at` (retries count from then);
/// the stream's id when the receiver accepted it.
async fn push(
    state: &AppState,
    due: DuePush,
    attempted_at: i64,
) -> Result<Option<String>, holdfast_store::StoreError> {
    let stream = &due.stream;
    let Some(endpoint) = stream.push_endpoint.as_deref() else {
        state
            .store
            .push_delivered(&stream.id, &due.signal.id)
            .await?;
        return Ok(None);
    };
    // A receiver counts a verification as proof it is up to date: none
    // goes out while an older event waits for a retry.
    if due.signal.kind == SignalKind::Verification
        && state
            .store
            .push_backlog_before(&stream.id, &due.signal.id)
            .await?
    {
        state
            .store
            .push_failed(&stream.id, &due.signal.id, attempted_at + 1)
            .await?;
        return Ok(None);
    }
    let outcome = match tenant_and_issuer(state, &stream.tenant_id).await {
        Err(err) => Outcome::Failed(format!("store: {err}")),
        Ok(None) => Outcome::Refused("the tenant is gone".into()),
        Ok(Some((tenant, issuer))) => {
            match sign_set(state, &tenant, &issuer, stream, &due.signal).await {
                Err(err) => Outcome::Failed(format!("signing: {err}")),
                Ok(set) => {
                    let mut request = state
                        .signals_http
                        .post(endpoint)
                        .header("content-type", "application/secevent+jwt")
                        .header("accept", "application/json")
                        .body(set);
                    if let Some(auth) = &stream.push_authorization {
                        request = request.header("authorization", auth);
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => Outcome::Accepted,
                        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
                            Outcome::Refused(error_body(r).await)
                        }
                        Ok(r) => Outcome::Failed(format!("HTTP {}", r.status())),
                        Err(err) => Outcome::Failed(err.to_string()),
                    }
                }
            }
        }
    };
    match outcome {
        Outcome::Accepted => {
            metrics::counter!("holdfast_security_events_delivered_total", "method" => "push")
                .increment(1);
            state
                .store
                .push_delivered(&stream.id, &due.signal.id)
                .await?;
            Ok(Some(stream.id.clone()))
        }
        Outcome::Refused(why) => {
            tracing::warn!(stream = %stream.id, jti = %due.signal.id, why, "receiver refused a SET (RFC 8935 §2.3); not retrying");
            state
                .store
                .push_delivered(&stream.id, &due.signal.id)
                .await?;
            Ok(None)
        }
        Outcome::Failed(why)
            if due.attempts + 1 >= MAX_ATTEMPTS
                && attempted_at - due.signal.at >= GIVE_UP_AFTER_SECS =>
        {
            metrics::counter!("holdfast_deliveries_given_up_total", "kind" => "push").increment(1);
            tracing::error!(stream = %stream.id, jti = %due.signal.id, why, "giving up pushing a SET");
            state
                .store
                .push_delivered(&stream.id, &due.signal.id)
                .await?;
            Ok(None)
        }
        Outcome::Failed(why) => {
            tracing::info!(stream = %stream.id, jti = %due.signal.id, why, "push failed; will retry");
            let next = attempted_at + backoff_secs(due.attempts);
            state
                .store
                .push_failed(&stream.id, &due.signal.id, next)
                .await?;
            Ok(None)
        }
    }
}

/// Sends one logout token claimed at `attempted_at`.
async fn logout(
    state: &AppState,
    due: DueLogout,
    attempted_at: i64,
) -> Result<(), holdfast_store::StoreError> {
    let outcome = match tenant_and_issuer(state, &due.tenant_id).await {
        Err(err) => Outcome::Failed(format!("store: {err}")),
        Ok(None) => Outcome::Refused("the tenant is gone".into()),
        Ok(Some((tenant, issuer))) => {
            let claims = logout_token_claims(
                issuer.as_str(),
                &due.client_id,
                &due.user_id,
                due.session_id.as_deref(),
                &due.id,
                attempted_at,
            );
            // §2.6: the client validates a logout token as it does an ID
            // token, so it is signed with the client's ID-token algorithm.
            let alg = match lookup::client(state, &tenant.id, &due.client_id).await {
                Ok(Some(c)) => Ok(c.client.id_token_alg(tenant.signing_alg)),
                Ok(None) => Err(None),
                Err(err) => Err(Some(err)),
            };
            let key = match alg {
                Ok(alg) => state
                    .keys
                    .current_for(&tenant, alg, attempted_at)
                    .await
                    .map_err(|e| e.to_string()),
                Err(None) => Err("the client is gone".to_owned()),
                Err(Some(err)) => Err(format!("store: {err}")),
            };
            match key {
                Err(err) => Outcome::Failed(format!("signing: {err}")),
                Ok(key) => match key.sign(LOGOUT_TOKEN_TYP, &claims) {
                    Err(err) => Outcome::Failed(format!("signing: {err}")),
                    Ok(token) => {
                        let sent = state
                            .signals_http
                            .post(&due.uri)
                            .form(&[("logout_token", token.as_str())])
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().is_success() => Outcome::Accepted,
                            Ok(r) => Outcome::Failed(format!("HTTP {}", r.status())),
                            Err(err) => Outcome::Failed(err.to_string()),
                        }
                    }
                },
            }
        }
    };
    match outcome {
        Outcome::Accepted => {
            metrics::counter!("holdfast_logout_tokens_delivered_total").increment(1);
            state.store.logout_delivered(&due.id).await
        }
        Outcome::Refused(why) => {
            tracing::warn!(client = %due.client_id, jti = %due.id, why, "dropping a logout token");
            state.store.logout_delivered(&due.id).await
        }
        Outcome::Failed(why) if due.attempts + 1 >= MAX_ATTEMPTS => {
            metrics::counter!("holdfast_deliveries_given_up_total", "kind" => "logout")
                .increment(1);
            tracing::error!(client = %due.client_id, jti = %due.id, why, "giving up a back-channel logout");
            state.store.logout_delivered(&due.id).await
        }
        Outcome::Failed(why) => {
            tracing::info!(client = %due.client_id, jti = %due.id, why, "back-channel logout failed; will retry");
            let next = attempted_at + backoff_secs(due.attempts);
            state.store.logout_failed(&due.id, next, &why).await
        }
    }
}

/// The start of an RFC 8935 §2.3 error body (at most 1 KiB, for the log:
/// the receiver writes it).
async fn error_body(response: reqwest::Response) -> String {
    let bytes = response.bytes().await.unwrap_or_default();
    let cut = bytes.len().min(1024);
    String::from_utf8_lossy(&bytes[..cut]).into_owned()
}

/// The tenant with this id and its issuer, if it still exists. A store
/// error is an error (the delivery is retried), not a missing tenant.
async fn tenant_and_issuer(
    state: &AppState,
    tenant_id: &str,
) -> Result<Option<(holdfast_core::tenant::Tenant, url::Url)>, holdfast_store::StoreError> {
    Ok(state.store.tenant_by_id(tenant_id).await?.map(|tenant| {
        let issuer = issuer_url(&state.public_url, &tenant.slug);
        (tenant, issuer)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_secs(0), 1);
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(5), 32);
        assert_eq!(backoff_secs(11), 2048);
        assert_eq!(backoff_secs(40), 2048);
    }
}
