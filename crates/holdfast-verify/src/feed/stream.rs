//! Setting the feed up at the transmitter: the metadata (SSF §7), the SET
//! keys, the stream (SSF §8.1.1: found again, created, or its delivery
//! updated), its status (§8.1.2) and a verification (§8.1.4). What `start`
//! does before poll or push delivery begins.

use std::sync::Arc;
use std::time::Duration;

use holdfast_crypto::secret::SecretString;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::FeedError;
use super::api::{Api, CallError};
use super::set::EVENTS_REQUESTED;
use super::shared::Shared;
use crate::claims::Audience;
use crate::jwks::{Discovery, Endpoints, KeyCache, get_capped};

/// SSF §8.1.1 delivery method for poll (RFC 8936).
pub(super) const POLL_METHOD: &str = "urn:ietf:rfc:8936";
/// SSF §8.1.1 delivery method for push (RFC 8935).
pub(super) const PUSH_METHOD: &str = "urn:ietf:rfc:8935";
/// The `description` our streams carry, to find them again after a restart.
const DESCRIPTION: &str = "holdfast-verify";

/// How the transmitter is to deliver (SSF §8.1.1 `delivery`).
pub(crate) enum Wanted {
    /// RFC 8936: the transmitter names the poll URL.
    Poll,
    /// RFC 8935: to `endpoint`, with `authorization` as the
    /// `Authorization` header of every push.
    Push {
        endpoint: Url,
        authorization: SecretString,
    },
}

impl Wanted {
    fn method(&self) -> &'static str {
        match self {
            Wanted::Poll => POLL_METHOD,
            Wanted::Push { .. } => PUSH_METHOD,
        }
    }

    fn delivery(&self) -> Value {
        match self {
            Wanted::Poll => json!({"method": POLL_METHOD}),
            Wanted::Push {
                endpoint,
                authorization,
            } => json!({
                "method": PUSH_METHOD,
                "endpoint_url": endpoint.as_str(),
                "authorization_header": authorization.expose(),
            }),
        }
    }
}

/// What `connect` set up.
pub(crate) struct Connected {
    pub api: Api,
    pub keys: Arc<KeyCache>,
    /// The stream's `delivery.endpoint_url`: the poll URL, or our push URL.
    pub endpoint: Url,
    /// SSF §8.1.4.2 verification endpoint, if the transmitter has one.
    pub verification: Option<Url>,
}

/// Discovery, metadata, keys, token, stream, status, verification: SSF §7,
/// §7.1.1, §8.1.1, §8.1.2, §8.1.4.
pub(crate) async fn connect(
    shared: Arc<Shared>,
    issuer: &Url,
    http: reqwest::Client,
    client_secret: &SecretString,
    wanted: &Wanted,
) -> Result<Connected, FeedError> {
    let metadata = fetch_metadata(&http, issuer, &shared.issuer, wanted.method()).await?;
    let jwks_uri = Url::parse(&metadata.jwks_uri)
        .map_err(|e| FeedError::Metadata(format!("jwks_uri: {e}")))?;
    let keys = Arc::new(KeyCache::new(
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
    ));
    // Fetched now, so a JWKS that cannot be had fails `start` instead of
    // deferring every SET.
    keys.warm_up()
        .await
        .map_err(|e| FeedError::Metadata(format!("jwks_uri: {e}")))?;
    let configuration = metadata
        .configuration_endpoint
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| FeedError::Metadata("no configuration_endpoint".into()))?;
    let mut api = Api::connect(Arc::clone(&shared), http, client_secret).await?;
    let (stream, endpoint) = api
        .find_or_create_stream(&configuration, wanted)
        .await
        .map_err(|e| FeedError::Stream(e.to_string()))?;
    if let Some(status) = metadata
        .status_endpoint
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
    {
        api.enable(&status, &stream)
            .await
            .map_err(|e| FeedError::Stream(e.to_string()))?;
    }
    let verification = metadata
        .verification_endpoint
        .as_deref()
        .and_then(|u| Url::parse(u).ok());
    if verification.is_none() && matches!(wanted, Wanted::Push { .. }) {
        // The keep-alive is a verification: without one an idle push feed
        // would go stale for good, with nothing saying why.
        return Err(FeedError::Metadata(
            "push delivery needs a verification_endpoint (SSF §8.1.4) to keep the feed fresh"
                .into(),
        ));
    }
    let _ = shared.stream_id.set(stream);
    if let Some(verify) = &verification
        && let Err(e) = api.request_verification(verify).await
    {
        tracing::warn!(error = %e, "holdfast-verify: stream verification request failed");
    }
    Ok(Connected {
        api,
        keys,
        endpoint,
        verification,
    })
}

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
    /// Whether this stream is one a `holdfast-verify` feed created.
    fn ours(&self) -> bool {
        self.description.as_deref() == Some(DESCRIPTION)
    }

    /// `delivery.endpoint_url`, if the stream delivers by `method`.
    fn endpoint(&self, method: &str) -> Option<Url> {
        let delivery = self.delivery.as_ref().filter(|d| d.method == method)?;
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

impl Api {
    /// SSF §8.1.1.2 read our streams; reuse ours as it is (a poll stream,
    /// for poll), or update its delivery (§8.1.1.3: a push stream always,
    /// since its authorization is new with every start); §8.1.1.1 create
    /// one if none is ours. The stream id and its delivery endpoint.
    async fn find_or_create_stream(
        &mut self,
        configuration: &Url,
        wanted: &Wanted,
    ) -> Result<(String, Url), CallError> {
        let body = self.call_api(Method::GET, configuration, None).await?;
        let listed: Value =
            serde_json::from_slice(&body).map_err(|e| CallError(format!("streams: {e}")))?;
        let streams = match listed {
            Value::Array(items) => items,
            one @ Value::Object(_) => vec![one],
            _ => Vec::new(),
        };
        let (issuer, client_id) = (self.shared.issuer.clone(), self.shared.client_id.clone());
        let ours = streams
            .into_iter()
            .filter_map(|s| serde_json::from_value::<StreamConfig>(s).ok())
            .filter(|c| c.ours())
            .find(|c| match c.check(&issuer, &client_id) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "holdfast-verify: not reusing stream");
                    false
                }
            });
        let config = match ours {
            Some(config) => {
                if let (Wanted::Poll, Some(url)) = (wanted, config.endpoint(POLL_METHOD)) {
                    tracing::info!(stream_id = %config.stream_id, "holdfast-verify: reusing revocation stream");
                    return Ok((config.stream_id, url));
                }
                let request = json!({"stream_id": config.stream_id, "delivery": wanted.delivery()});
                let body = self
                    .call_api(Method::PATCH, configuration, Some(&request))
                    .await?;
                tracing::info!(stream_id = %config.stream_id, method = wanted.method(), "holdfast-verify: revocation stream delivery updated");
                body
            }
            None => {
                let request = json!({
                    "delivery": wanted.delivery(),
                    "events_requested": EVENTS_REQUESTED,
                    "description": DESCRIPTION,
                });
                let body = self
                    .call_api(Method::POST, configuration, Some(&request))
                    .await?;
                tracing::info!(
                    method = wanted.method(),
                    "holdfast-verify: revocation stream created"
                );
                body
            }
        };
        let config: StreamConfig =
            serde_json::from_slice(&config).map_err(|e| CallError(format!("stream: {e}")))?;
        config.check(&issuer, &client_id)?;
        let url = config.endpoint(wanted.method()).ok_or_else(|| {
            CallError(format!(
                "stream {} does not deliver by {}",
                config.stream_id,
                wanted.method()
            ))
        })?;
        Ok((config.stream_id, url))
    }

    /// SSF §8.1.2: read the status, enable the stream if it is not.
    async fn enable(&mut self, status: &Url, stream_id: &str) -> Result<(), CallError> {
        let mut read = status.clone();
        read.query_pairs_mut().append_pair("stream_id", stream_id);
        let body = self.call_api(Method::GET, &read, None).await?;
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
        self.call_api(Method::POST, status, Some(&request)).await?;
        Ok(())
    }

    /// SSF §8.1.4.2: ask for a verification SET carrying this process's
    /// `state` (one per process, so any of its requests is recognised).
    pub(super) async fn request_verification(&mut self, verify: &Url) -> Result<(), CallError> {
        let stream_id = self
            .shared
            .stream_id
            .get()
            .cloned()
            .ok_or_else(|| CallError("no stream yet".into()))?;
        let state = match self.shared.verification_state.get() {
            Some(s) => s.clone(),
            None => {
                let fresh =
                    holdfast_crypto::secret::random_id().map_err(|e| CallError(e.to_string()))?;
                self.shared.verification_state.get_or_init(|| fresh).clone()
            }
        };
        let request = json!({"stream_id": stream_id, "state": state});
        self.call_api(Method::POST, verify, Some(&request)).await?;
        Ok(())
    }
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
    method: &str,
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
        .any(|m| m == method)
    {
        return Err(FeedError::Metadata(format!(
            "{method} delivery not supported"
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
        assert!(stream(ok.clone()).ours());
        assert!(stream(ok.clone()).endpoint(POLL_METHOD).is_some());
        assert!(stream(ok.clone()).endpoint(PUSH_METHOD).is_none());
        assert!(stream(ok.clone()).check("https://as/t/b", "rs").is_err());
        assert!(stream(ok.clone()).check("https://as/t/a", "other").is_err());
        let mut no_iss = ok.clone();
        no_iss.as_object_mut().unwrap().remove("iss");
        assert!(stream(no_iss).check("https://as/t/a", "rs").is_err());
        let mut push = ok.clone();
        push["delivery"] = json!({"method": PUSH_METHOD, "endpoint_url": "https://rs/ssf"});
        assert!(stream(push.clone()).endpoint(POLL_METHOD).is_none());
        assert!(stream(push).endpoint(PUSH_METHOD).is_some());
        let mut someone_elses = ok;
        someone_elses["description"] = json!("another receiver");
        assert!(!stream(someone_elses).ours());
    }

    #[test]
    fn ssf_s8_1_1_push_delivery_carries_endpoint_and_authorization_header() {
        let push = Wanted::Push {
            endpoint: "https://rs.example.com/ssf/events".parse().unwrap(),
            authorization: SecretString::new("Bearer s3cret"),
        };
        assert_eq!(
            push.delivery(),
            json!({"method": PUSH_METHOD, "endpoint_url": "https://rs.example.com/ssf/events",
                "authorization_header": "Bearer s3cret"})
        );
        assert_eq!(Wanted::Poll.delivery(), json!({"method": POLL_METHOD}));
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
}
