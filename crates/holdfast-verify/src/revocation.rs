//! Optional revocation checks, behind one interface: [`RevocationCheck`].
//!
//! Shipped: [`Introspection`], which asks the issuer's introspection
//! endpoint ([RFC 7662 §2](https://www.rfc-editor.org/rfc/rfc7662#section-2))
//! with a confidential client's credentials (HTTP Basic, RFC 6749 §2.3.1)
//! and caches the answer for a short time; and
//! [`crate::feed::RevocationFeed`], which follows Holdfast's revocation feed
//! (signed SETs, DESIGN §7) and answers from memory, from the token's
//! verified claims (`sid`, `jti`, `sub`, `iat`).
//!
//! A check runs after everything else passed, so a forged or expired token
//! never costs a network call.
//!
//! Not supported: introspection responses as signed JWTs (RFC 9701), client
//! authentication other than `client_secret_basic`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_crypto::secret::SecretString;
use serde::Deserialize;
use url::Url;

use crate::claims::AccessTokenClaims;
use crate::clock::Clock;
use crate::jwks::{Discovery, read_capped};

/// A boxed future, so [`RevocationCheck`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a revocation check says about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Not revoked, as far as the check knows.
    Active,
    /// Revoked (or otherwise no longer active at the issuer).
    Revoked,
}

/// A revocation check could not answer (network, issuer error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revocation check failed: {0}")]
pub struct RevocationError(pub String);

/// Decides whether an already verified token has been revoked.
///
/// Contract: called only for tokens whose signature, issuer, audience and
/// times are valid; `token` is the compact JWT as presented. Return
/// `Err` only when no answer can be given: the verifier then refuses with
/// 503 unless configured to fail open.
pub trait RevocationCheck: Send + Sync + 'static {
    /// Checks one token.
    fn check<'a>(
        &'a self,
        token: &'a str,
        claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<RevocationStatus, RevocationError>>;
}

/// Where the introspection endpoint is.
enum Endpoint {
    Fixed(Url),
    Discovered(Arc<Discovery>),
}

/// RFC 7662 introspection with a short cache.
pub struct Introspection {
    endpoint: Endpoint,
    http: reqwest::Client,
    authorization: SecretString,
    clock: Arc<dyn Clock>,
    ttl: i64,
    capacity: usize,
    cache: Mutex<HashMap<[u8; 32], (RevocationStatus, i64)>>,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Default cache lifetime of an introspection answer: short, since the
/// point of asking is to notice revocation.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(10);

impl Introspection {
    /// Introspection at `endpoint` as the confidential client
    /// `client_id`/`client_secret` (5 s timeout, no redirects). Usually
    /// configured through [`crate::VerifierBuilder::introspection`] instead,
    /// which finds the endpoint by discovery.
    pub fn new(endpoint: Url, client_id: &str, client_secret: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self::build(
            Endpoint::Fixed(endpoint),
            http,
            client_id,
            &client_secret,
            Arc::new(crate::clock::SystemClock),
        )
    }

    pub(crate) fn discovered(
        discovery: Arc<Discovery>,
        client_id: &str,
        client_secret: &SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let http = discovery.http().clone();
        Self::build(
            Endpoint::Discovered(discovery),
            http,
            client_id,
            client_secret,
            clock,
        )
    }

    fn build(
        endpoint: Endpoint,
        http: reqwest::Client,
        client_id: &str,
        client_secret: &SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined
        // with ':' and base64-encoded.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = STANDARD.encode(format!(
            "{}:{}",
            enc(client_id),
            enc(client_secret.expose())
        ));
        Self {
            endpoint,
            http,
            authorization: SecretString::new(format!("Basic {basic}")),
            clock,
            ttl: i64::try_from(DEFAULT_INTROSPECTION_CACHE_TTL.as_secs()).unwrap_or(10),
            capacity: 10_000,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How long an answer is reused (default 10 s).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// At most this many cached answers (default 10 000).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Uses this clock for the cache.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn cached(&self, key: &[u8; 32], now: i64) -> Option<RevocationStatus> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(status, _)| *status)
    }

    fn remember(&self, key: [u8; 32], status: RevocationStatus, now: i64) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= self.capacity {
            cache.retain(|_, (_, expires)| *expires > now);
            if cache.len() >= self.capacity {
                // Still full of fresh answers: forgetting only costs calls.
                cache.clear();
            }
        }
        cache.insert(key, (status, now.saturating_add(self.ttl)));
    }

    async fn introspect(&self, token: &str) -> Result<RevocationStatus, RevocationError> {
        let endpoint = match &self.endpoint {
            Endpoint::Fixed(url) => url.clone(),
            Endpoint::Discovered(discovery) => discovery
                .endpoints()
                .await
                .map_err(|e| RevocationError(e.0))?
                .introspection_endpoint
                .ok_or_else(|| RevocationError("discovery has no introspection_endpoint".into()))?,
        };
        let response = self
            .http
            .post(endpoint.clone())
            .header(http::header::AUTHORIZATION, self.authorization.expose())
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| RevocationError(format!("POST {endpoint}: {e}")))?;
        let body = read_capped(response, endpoint.as_str())
            .await
            .map_err(|e| RevocationError(e.0))?;
        #[derive(Deserialize)]
        struct IntrospectionResponse {
            active: bool,
        }
        let parsed: IntrospectionResponse = serde_json::from_slice(&body)
            .map_err(|e| RevocationError(format!("introspection response: {e}")))?;
        // RFC 7662 §2.2: "active" is REQUIRED; false means revoked, expired,
        // or otherwise not usable.
        Ok(if parsed.active {
            RevocationStatus::Active
        } else {
            RevocationStatus::Revoked
        })
    }
}

impl RevocationCheck for Introspection {
    fn check<'a>(
        &'a self,
        token: &'a str,
        _claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<RevocationStatus, RevocationError>> {
        Box::pin(async move {
            let key: [u8; 32] = {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
                let mut k = [0u8; 32];
                k.copy_from_slice(d.as_ref());
                k
            };
            let now = self.clock.now();
            if let Some(status) = self.cached(&key, now) {
                return Ok(status);
            }
            let status = self.introspect(token).await?;
            self.remember(key, status, now);
            Ok(status)
        })
    }
}
