//! The feed's HTTP side: discovery, the SSF API token, the stream, and the
//! poll loop (RFC 8936 §2.2–§2.4). The rules are listed in the module docs
//! of [`super`]; this file only does what they say, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_crypto::secret::SecretString;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::FeedError;
use super::outbox::{MAX_EVENTS, Outbox};
use super::set::{EVENTS_REQUESTED, SetError};
use super::shared::Shared;
use super::state::Record;
use crate::claims::Audience;
use crate::jwks::{Discovery, Endpoints, KeyCache, get_capped, read_at_most};

/// SSF §8.1.1 delivery method for poll (RFC 8936).
const POLL_METHOD: &str = "urn:ietf:rfc:8936";
/// The `description` our streams carry, to find them again after a restart.
const DESCRIPTION: &str = "holdfast-verify";
/// Largest poll response read: `MAX_EVENTS` SETs of the largest size.
const MAX_POLL_BYTES: usize = MAX_EVENTS * super::set::MAX_SET_LEN;
/// Largest answer to any other call.
const MAX_API_BYTES: usize = 512 * 1024;
/// Timeout of a long poll: the transmitter holds it up to 20 s.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
/// Timeout of every other call.
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// An access token is renewed this long before it expires.
const TOKEN_RENEW_BEFORE: i64 = 30;
/// Assumed lifetime of an access token whose response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: i64 = 300;
/// Expired entries are pruned this often.
const PRUNE_EVERY: i64 = 60;
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

/// A failed call, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CallError(String);

/// SSF §7.1 transmitter metadata: what the feed uses.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    delivery_methods_supported: Vec<String>,
    configuration_endpoint: Option<String>,
    #[serde(default)]
    status_endpoint: Option<String>,
    #[serde(default)]
    verification_endpoint: Option<String>,
}

/// SSF §8.1.1 stream configuration: what the feed uses.
#[derive(Deserialize)]
struct StreamConfig {
    stream_id: String,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    events_delivered: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    delivery: Option<Delivery>,
}

#[derive(Deserialize)]
struct Delivery {
    method: String,
    #[serde(default)]
    endpoint_url: Option<String>,
}

impl StreamConfig {
    /// The poll URL, if this is one of our poll streams.
    fn our_poll_url(&self) -> Option<Url> {
        let delivery = self.delivery.as_ref()?;
        if self.description.as_deref() != Some(DESCRIPTION) || delivery.method != POLL_METHOD {
            return None;
        }
        Url::parse(delivery.endpoint_url.as_deref()?).ok()
    }

    /// SSF §8.1.1.1: "The Receiver MUST check the response and confirm that
    /// the `iss` value matches the Issuer from which it received the
    /// Transmitter Configuration data"; and it "SHOULD validate the `aud`"
    /// (our SETs name `client_id`; any other audience would fail them all).
    fn check(&self, issuer: &str, client_id: &str) -> Result<(), CallError> {
        if self.iss.as_deref() != Some(issuer) {
            return Err(CallError(format!(
                "stream {} names iss {:?}, expected {issuer:?}",
                self.stream_id, self.iss
            )));
        }
        if let Some(aud) = &self.aud
            && !aud.contains(client_id)
        {
            return Err(CallError(format!(
                "stream {} audience does not name {client_id:?}",
                self.stream_id
            )));
        }
        if let Some(delivered) = &self.events_delivered {
            let missing: Vec<&str> = EVENTS_REQUESTED
                .iter()
                .copied()
                .filter(|e| !delivered.iter().any(|d| d == e))
                .collect();
            if !missing.is_empty() {
                tracing::warn!(stream_id = %self.stream_id, ?missing, "holdfast-verify: the transmitter does not deliver every requested event");
            }
        }
        Ok(())
    }
}

/// RFC 8936 §2.3 poll response attributes.
#[derive(Deserialize)]
struct PollResponse {
    #[serde(default)]
    sets: Map<String, Value>,
    #[serde(default, rename = "moreAvailable")]
    more_available: bool,
}

struct AccessToken {
    value: SecretString,
    renew_at: i64,
}

/// Follows one stream. Owned by the poll task.
pub(crate) struct Poller {
    shared: Arc<Shared>,
    http: reqwest::Client,
    token_endpoint: Url,
    basic: SecretString,
    token: Option<AccessToken>,
    keys: KeyCache,
    poll_url: Url,
    outbox: Outbox,
    last_prune: i64,
}

impl Poller {
    /// Discovery, metadata, token, stream: SSF §7, §7.1.1, §8.1.1, §8.1.2,
    /// §8.1.4.
    pub(crate) async fn connect(
        shared: Arc<Shared>,
        issuer: Url,
        http: reqwest::Client,
        client_secret: SecretString,
    ) -> Result<Self, FeedError> {
        let discovery = Discovery::new(shared.issuer.clone(), http.clone());
        let token_endpoint = discovery
            .endpoints()
            .await
            .map_err(|e| FeedError::Discovery(e.to_string()))?
            .token_endpoint
            .ok_or_else(|| FeedError::Discovery("no token_endpoint".into()))?;
        let metadata = fetch_metadata(&http, &issuer, &shared.issuer).await?;
        let jwks_uri = Url::parse(&metadata.jwks_uri)
            .map_err(|e| FeedError::Metadata(format!("jwks_uri: {e}")))?;
        let keys = KeyCache::new(
            Arc::new(Discovery::with_endpoints(
                shared.issuer.clone(),
                http.clone(),
                Endpoints {
                    jwks_uri,
                    introspection_endpoint: None,
                    token_endpoint: None,
                },
            )),
            Arc::clone(&shared.clock),
            Duration::from_secs(30),
            Duration::from_secs(600),
        );
        // Fetched now, so a JWKS that cannot be had fails `start` instead
        // of deferring every SET.
        keys.warm_up()
            .await
            .map_err(|e| FeedError::Metadata(format!("jwks_uri: {e}")))?;
        let configuration = metadata
            .configuration_endpoint
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| FeedError::Metadata("no configuration_endpoint".into()))?;
        // RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = SecretString::new(format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                enc(&shared.client_id),
                enc(client_secret.expose())
            ))
        ));
        let now = shared.clock.now();
        let mut poller = Self {
            shared,
            http,
            token_endpoint,
            basic,
            token: None,
            keys,
            // Replaced below once the stream is known.
            poll_url: configuration.clone(),
            outbox: Outbox::default(),
            last_prune: now,
        };
        poller
            .access_token()
            .await
            .map_err(|e| FeedError::Token(e.to_string()))?;
        let stream = poller
            .find_or_create_stream(&configuration)
            .await
            .map_err(|e| FeedError::Stream(e.to_string()))?;
        if let Some(status) = metadata
            .status_endpoint
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
        {
            poller
                .enable(&status, &stream)
                .await
                .map_err(|e| FeedError::Stream(e.to_string()))?;
        }
        if let Some(verify) = metadata
            .verification_endpoint
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            && let Err(e) = poller.request_verification(&verify, &stream).await
        {
            tracing::warn!(error = %e, "holdfast-verify: stream verification request failed");
        }
        let _ = poller.shared.stream_id.set(stream);
        Ok(poller)
    }

    /// An access token for the SSF API, renewed before it expires.
    async fn access_token(&mut self) -> Result<SecretString, CallError> {
        let now = self.shared.clock.now();
        if let Some(t) = &self.token
            && now < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let url = self.token_endpoint.clone();
        let response = self
            .http
            .post(url.clone())
            .timeout(API_TIMEOUT)
            .header(http::header::AUTHORIZATION, self.basic.expose())
            .header(http::header::ACCEPT, "application/json")
            .form(&[("grant_type", "client_credentials"), ("scope", "ssf")])
            .send()
            .await
            .map_err(|e| CallError(format!("POST {url}: {e}")))?;
        let body = read_at_most(response, url.as_str(), MAX_API_BYTES)
            .await
            .map_err(|e| CallError(e.0))?;
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("token response: {e}")))?;
        let lifetime = t.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let value = SecretString::new(t.access_token);
        self.token = Some(AccessToken {
            value: value.clone(),
            renew_at: now.saturating_add(lifetime.saturating_sub(TOKEN_RENEW_BEFORE).max(1)),
        });
        Ok(value)
    }

    /// One authorized call; after a 401 the token is renewed and the call
    /// made once more.
    async fn call(
        &mut self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        timeout: Duration,
        max: usize,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(timeout)
                .bearer_auth(token.expose())
                .header(http::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| CallError(format!("{method} {url}: {e}")))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                self.token = None;
                retried = true;
                continue;
            }
            let body = read_at_most(response, url.as_str(), max)
                .await
                .map_err(|e| CallError(e.0))?;
            return Ok((status, body));
        }
    }

    /// SSF §8.1.1.2 read our streams, §8.1.1.1 create one if none is ours.
    async fn find_or_create_stream(&mut self, configuration: &Url) -> Result<String, CallError> {
        let (_, body) = self
            .call(Method::GET, configuration, None, API_TIMEOUT, MAX_API_BYTES)
            .await?;
        let listed: Value =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("streams: {e}")))?;
        let streams = match listed {
            Value::Array(items) => items,
            one @ Value::Object(_) => vec![one],
            _ => Vec::new(),
        };
        for s in streams {
            if let Ok(config) = serde_json::from_value::<StreamConfig>(s)
                && let Some(url) = config.our_poll_url()
            {
                if let Err(e) = config.check(&self.shared.issuer, &self.shared.client_id) {
                    tracing::warn!(error = %e, "holdfast-verify: not reusing stream");
                    continue;
                }
                tracing::info!(stream_id = %config.stream_id, "holdfast-verify: reusing revocation stream");
                self.poll_url = url;
                return Ok(config.stream_id);
            }
        }
        let request = json!({
            "delivery": {"method": POLL_METHOD},
            "events_requested": EVENTS_REQUESTED,
            "description": DESCRIPTION,
        });
        let (_, body) = self
            .call(
                Method::POST,
                configuration,
                Some(&request),
                API_TIMEOUT,
                MAX_API_BYTES,
            )
            .await?;
        let config: StreamConfig =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("created stream: {e}")))?;
        config.check(&self.shared.issuer, &self.shared.client_id)?;
        let url = config
            .delivery
            .as_ref()
            .and_then(|d| d.endpoint_url.as_deref())
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| CallError("created stream has no delivery.endpoint_url".into()))?;
        tracing::info!(stream_id = %config.stream_id, "holdfast-verify: revocation stream created");
        self.poll_url = url;
        Ok(config.stream_id)
    }

    /// SSF §8.1.2: read the status, enable the stream if it is not.
    async fn enable(&mut self, status: &Url, stream_id: &str) -> Result<(), CallError> {
        let mut read = status.clone();
        read.query_pairs_mut().append_pair("stream_id", stream_id);
        let (_, body) = self
            .call(Method::GET, &read, None, API_TIMEOUT, MAX_API_BYTES)
            .await?;
        #[derive(Deserialize)]
        struct Status {
            status: String,
        }
        let current: Status =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("stream status: {e}")))?;
        if current.status == "enabled" {
            return Ok(());
        }
        tracing::info!(status = %current.status, "holdfast-verify: enabling revocation stream");
        let request = json!({"stream_id": stream_id, "status": "enabled"});
        self.call(
            Method::POST,
            status,
            Some(&request),
            API_TIMEOUT,
            MAX_API_BYTES,
        )
        .await?;
        Ok(())
    }

    /// SSF §8.1.4.2: ask for a verification SET carrying a fresh `state`.
    async fn request_verification(
        &mut self,
        verify: &Url,
        stream_id: &str,
    ) -> Result<(), CallError> {
        let state = holdfast_crypto::secret::random_id().map_err(|e| CallError(e.to_string()))?;
        let state = self.shared.verification_state.get_or_init(|| state).clone();
        let request = json!({"stream_id": stream_id, "state": state});
        self.call(
            Method::POST,
            verify,
            Some(&request),
            API_TIMEOUT,
            MAX_API_BYTES,
        )
        .await?;
        Ok(())
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
                Value::String(compact) => sets.push((jti, compact)),
                _ => not_strings.push((jti, SetError::Malformed("not a JSON string"))),
            }
        }
        let received = sets.len() + not_strings.len();
        let mut processed = self.shared.process(&self.keys, sets).await;
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
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(BACKOFF_MAX)
}

/// SSF §7.2: "If the Issuer value contains a path component, any
/// terminating "/" MUST be removed before inserting
/// "/.well-known/ssf-configuration" between the host component and the path
/// component."
fn metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = format!(
        "/.well-known/ssf-configuration{}",
        issuer.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// SSF §7.2: `{host}/.well-known/ssf-configuration{issuer path}`, and
/// "the issuer value returned MUST be identical to the Issuer" used.
async fn fetch_metadata(
    http: &reqwest::Client,
    issuer_url: &Url,
    issuer: &str,
) -> Result<Metadata, FeedError> {
    let url = metadata_url(issuer_url);
    let bytes = get_capped(http, url.as_str())
        .await
        .map_err(|e| FeedError::Metadata(e.to_string()))?;
    let metadata: Metadata =
        serde_json::from_slice(&bytes).map_err(|e| FeedError::Metadata(e.to_string()))?;
    if metadata.issuer != issuer {
        return Err(FeedError::Metadata(format!(
            "names issuer {:?}, expected {issuer:?}",
            metadata.issuer
        )));
    }
    if !metadata
        .delivery_methods_supported
        .iter()
        .any(|m| m == POLL_METHOD)
    {
        return Err(FeedError::Metadata(format!(
            "{POLL_METHOD} delivery not supported"
        )));
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(v: Value) -> StreamConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ssf_s8_1_1_1_stream_must_name_our_issuer_and_audience() {
        let ok = json!({"stream_id": "s1", "iss": "https://as/t/a", "aud": "rs",
            "delivery": {"method": POLL_METHOD, "endpoint_url": "https://as/t/a/ssf/poll/s1"},
            "description": DESCRIPTION});
        assert!(stream(ok.clone()).check("https://as/t/a", "rs").is_ok());
        assert!(stream(ok.clone()).our_poll_url().is_some());
        assert!(stream(ok.clone()).check("https://as/t/b", "rs").is_err());
        assert!(stream(ok.clone()).check("https://as/t/a", "other").is_err());
        let mut no_iss = ok.clone();
        no_iss.as_object_mut().unwrap().remove("iss");
        assert!(stream(no_iss).check("https://as/t/a", "rs").is_err());
        let mut push = ok.clone();
        push["delivery"]["method"] = json!("urn:ietf:rfc:8935");
        assert!(stream(push).our_poll_url().is_none());
        let mut someone_elses = ok;
        someone_elses["description"] = json!("another receiver");
        assert!(stream(someone_elses).our_poll_url().is_none());
    }

    #[test]
    fn ssf_s7_2_metadata_path_is_inserted_between_host_and_issuer_path() {
        let cases = [
            (
                "https://tr.example.com",
                "https://tr.example.com/.well-known/ssf-configuration",
            ),
            (
                "https://tr.example.com/issuer1",
                "https://tr.example.com/.well-known/ssf-configuration/issuer1",
            ),
            (
                "http://127.0.0.1:8080/t/acme/",
                "http://127.0.0.1:8080/.well-known/ssf-configuration/t/acme",
            ),
        ];
        for (issuer, expected) in cases {
            assert_eq!(metadata_url(&issuer.parse().unwrap()).as_str(), expected);
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let got: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
