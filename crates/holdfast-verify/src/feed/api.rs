//! The feed's authorized client of the transmitter's SSF API: the access
//! token from the client credentials grant (RFC 6749 §4.4, SSF §7.1.1
//! `urn:ietf:rfc:6749`), renewed before it expires or after a 401, and one
//! authorized call. Used by the stream set-up (`stream`), the poll loop
//! (`poll`) and the push receiver's keep-alive (`push`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_crypto::secret::SecretString;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::FeedError;
use super::shared::Shared;
use crate::jwks::{Discovery, read_at_most};

/// Largest answer to a call other than a poll.
pub(super) const MAX_API_BYTES: usize = 512 * 1024;
/// Timeout of every call other than a long poll.
pub(super) const API_TIMEOUT: Duration = Duration::from_secs(10);
/// An access token is renewed this long before it expires.
const TOKEN_RENEW_BEFORE: i64 = 30;
/// Assumed lifetime of an access token whose response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: i64 = 300;

/// A failed call, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CallError(pub(super) String);

struct AccessToken {
    value: SecretString,
    renew_at: i64,
}

/// Calls the SSF API as the receiver client. Owned by the feed's task.
pub(crate) struct Api {
    pub(super) shared: Arc<Shared>,
    pub(super) http: reqwest::Client,
    token_endpoint: Url,
    basic: SecretString,
    token: Option<AccessToken>,
}

impl Api {
    /// Discovery (`token_endpoint`) and a first access token.
    pub(super) async fn connect(
        shared: Arc<Shared>,
        http: reqwest::Client,
        client_secret: &SecretString,
    ) -> Result<Self, FeedError> {
        let discovery = Discovery::new(shared.issuer.clone(), http.clone());
        let token_endpoint = discovery
            .endpoints()
            .await
            .map_err(|e| FeedError::Discovery(e.to_string()))?
            .token_endpoint
            .ok_or_else(|| FeedError::Discovery("no token_endpoint".into()))?;
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
        let mut api = Self {
            shared,
            http,
            token_endpoint,
            basic,
            token: None,
        };
        api.access_token()
            .await
            .map_err(|e| FeedError::Token(e.to_string()))?;
        Ok(api)
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
    pub(super) async fn call(
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

    /// A `call` with the usual timeout and size, for the stream API.
    pub(super) async fn call_api(
        &mut self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, CallError> {
        let (_, body) = self
            .call(method, url, body, API_TIMEOUT, MAX_API_BYTES)
            .await?;
        Ok(body)
    }
}
