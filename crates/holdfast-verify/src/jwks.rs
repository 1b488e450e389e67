//! The issuer's keys: discovery ([OIDC Discovery §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig),
//! [RFC 8414 §3](https://www.rfc-editor.org/rfc/rfc8414#section-3)) to find
//! `jwks_uri`, then the JWK Set ([RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5))
//! cached by `kid`.
//!
//! Refetch rules, so rotation works and garbage cannot hurt:
//! - an unknown `kid` triggers a refetch at most once per
//!   `refetch_interval` (from the last fetch attempt, successful or not);
//! - concurrent requests share one fetch: they queue on one lock and, once
//!   the key set has changed under them, look again instead of fetching;
//! - a key set older than `max_age` is refreshed by the one request that
//!   takes the lock, while the others keep using the old set;
//! - a failed refresh keeps the old keys.
//!
//! Keys are used with the algorithm they declare (`alg`), or the one their
//! type implies (P-256 → ES256, Ed25519 → EdDSA, RSA → RS256). Symmetric
//! (`oct`) keys, encryption keys (`use: enc`) and keys without `kid` are
//! skipped.
//!
//! Not supported: `x5c`/`x5u` certificate chains in the JWKS, HTTP caching
//! headers (`Cache-Control`, `ETag`) on the JWKS response.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::clock::Clock;
use crate::error::AuthError;

/// Largest discovery document or JWKS we read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// One verification key from the JWKS, ready to use.
pub(crate) struct VerifyKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

struct KeySet {
    by_kid: HashMap<String, Arc<VerifyKey>>,
    /// When it was fetched (clock seconds); `None` before the first fetch.
    fetched_at: Option<i64>,
    /// Bumped on every successful fetch.
    generation: u64,
}

/// Endpoints learned from discovery.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub jwks_uri: Url,
    pub introspection_endpoint: Option<Url>,
    pub token_endpoint: Option<Url>,
}

#[derive(Default)]
struct FetchState {
    /// Last fetch attempt (clock seconds), successful or not.
    last_attempt: Option<i64>,
}

/// Discovery, shared by the key cache and the introspection client.
pub(crate) struct Discovery {
    issuer: String,
    http: reqwest::Client,
    cached: std::sync::Mutex<Option<Endpoints>>,
}

#[derive(Deserialize)]
struct DiscoveryDoc {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    introspection_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
}

impl Discovery {
    pub(crate) fn new(issuer: String, http: reqwest::Client) -> Self {
        Self {
            issuer,
            http,
            cached: std::sync::Mutex::new(None),
        }
    }

    /// Discovery already done elsewhere: `endpoints` are used as they are
    /// (the revocation feed takes `jwks_uri` from the SSF metadata).
    pub(crate) fn with_endpoints(
        issuer: String,
        http: reqwest::Client,
        endpoints: Endpoints,
    ) -> Self {
        Self {
            issuer,
            http,
            cached: std::sync::Mutex::new(Some(endpoints)),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The endpoints, from cache or fetched now.
    pub(crate) async fn endpoints(&self) -> Result<Endpoints, FetchError> {
        if let Some(e) = self.cached.lock().ok().and_then(|g| g.clone()) {
            return Ok(e);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let bytes = get_capped(&self.http, &url).await?;
        let doc: DiscoveryDoc =
            serde_json::from_slice(&bytes).map_err(|e| FetchError(format!("discovery: {e}")))?;
        // OIDC Discovery §4.3: "The issuer value returned MUST be identical
        // to the Issuer URL that was used as the prefix to
        // /.well-known/openid-configuration to retrieve the configuration
        // information."
        if doc.issuer != self.issuer {
            return Err(FetchError(format!(
                "discovery names issuer {:?}, expected {:?}",
                doc.issuer, self.issuer
            )));
        }
        let jwks_uri =
            Url::parse(&doc.jwks_uri).map_err(|e| FetchError(format!("jwks_uri: {e}")))?;
        let introspection_endpoint = doc
            .introspection_endpoint
            .as_deref()
            .and_then(|u| Url::parse(u).ok());
        let token_endpoint = doc
            .token_endpoint
            .as_deref()
            .and_then(|u| Url::parse(u).ok());
        let endpoints = Endpoints {
            jwks_uri,
            introspection_endpoint,
            token_endpoint,
        };
        if let Ok(mut g) = self.cached.lock() {
            *g = Some(endpoints.clone());
        }
        Ok(endpoints)
    }
}

/// Why discovery or the JWKS could not be fetched (for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FetchError(pub String);

/// GET with a size cap and a status check.
pub(crate) async fn get_capped(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, FetchError> {
    let response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
    read_capped(response, url).await
}

/// Reads a response body of at most [`MAX_DOCUMENT_BYTES`] after checking
/// for a 2xx status.
pub(crate) async fn read_capped(
    response: reqwest::Response,
    url: &str,
) -> Result<Vec<u8>, FetchError> {
    read_at_most(response, url, MAX_DOCUMENT_BYTES).await
}

/// Reads a response body of at most `max` bytes after checking for a 2xx
/// status.
pub(crate) async fn read_at_most(
    mut response: reqwest::Response,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    if !response.status().is_success() {
        return Err(FetchError(format!("{url}: HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError(format!("{url}: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(FetchError(format!("{url}: response too large")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The cached JWKS.
pub(crate) struct KeyCache {
    discovery: Arc<Discovery>,
    clock: Arc<dyn Clock>,
    refetch_interval: i64,
    max_age: i64,
    keys: RwLock<Arc<KeySet>>,
    fetch: Mutex<FetchState>,
    fetches: std::sync::atomic::AtomicU64,
    /// Whether the latest fetch attempt failed (the keys held may be old).
    last_failed: std::sync::atomic::AtomicBool,
}

impl KeyCache {
    pub(crate) fn new(
        discovery: Arc<Discovery>,
        clock: Arc<dyn Clock>,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Self {
            discovery,
            clock,
            refetch_interval: secs(refetch_interval),
            max_age: secs(max_age),
            keys: RwLock::new(Arc::new(KeySet {
                by_kid: HashMap::new(),
                fetched_at: None,
                generation: 0,
            })),
            fetch: Mutex::new(FetchState::default()),
            fetches: std::sync::atomic::AtomicU64::new(0),
            last_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the latest JWKS fetch failed: an unknown `kid` is then not
    /// known to be unknown (the key may have been published since).
    pub(crate) fn last_fetch_failed(&self) -> bool {
        self.last_failed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many JWKS fetches were attempted (for tests and metrics).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            // A panic while holding the lock cannot leave a half-written
            // Arc; the value is still good.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The key named `kid`, fetching the JWKS under the rules in the module
    /// docs.
    pub(crate) async fn get(&self, kid: &str) -> Result<Arc<VerifyKey>, AuthError> {
        let set = self.current();
        let now = self.clock.now();
        if set
            .fetched_at
            .is_some_and(|at| now.saturating_sub(at) > self.max_age)
        {
            self.refresh_stale().await;
            return self.lookup_or_refetch(kid).await;
        }
        if let Some(key) = set.by_kid.get(kid) {
            return Ok(Arc::clone(key));
        }
        self.refetch_for(kid, set.generation).await
    }

    async fn lookup_or_refetch(&self, kid: &str) -> Result<Arc<VerifyKey>, AuthError> {
        let set = self.current();
        match set.by_kid.get(kid) {
            Some(key) => Ok(Arc::clone(key)),
            None => self.refetch_for(kid, set.generation).await,
        }
    }

    /// Refreshes an old key set if nobody else is doing so right now.
    async fn refresh_stale(&self) {
        let Ok(mut state) = self.fetch.try_lock() else {
            return;
        };
        let now = self.clock.now();
        let still_stale = self
            .current()
            .fetched_at
            .is_some_and(|at| now.saturating_sub(at) > self.max_age);
        let cooling = state
            .last_attempt
            .is_some_and(|t| now.saturating_sub(t) < self.refetch_interval);
        if still_stale
            && !cooling
            && let Err(e) = self.fetch_locked(&mut state).await
        {
            tracing::warn!(error = %e, "holdfast-verify: JWKS refresh failed; keeping the cached keys");
        }
    }

    /// An unknown `kid`: refetch once per interval, sharing the fetch.
    async fn refetch_for(&self, kid: &str, seen: u64) -> Result<Arc<VerifyKey>, AuthError> {
        let mut state = self.fetch.lock().await;
        let set = self.current();
        if set.generation != seen {
            // Someone fetched while we waited: their result is ours.
            return set.by_kid.get(kid).cloned().ok_or(AuthError::UnknownKey);
        }
        let now = self.clock.now();
        if state
            .last_attempt
            .is_some_and(|t| now.saturating_sub(t) < self.refetch_interval)
        {
            return Err(if set.fetched_at.is_none() {
                AuthError::KeysUnavailable
            } else {
                AuthError::UnknownKey
            });
        }
        match self.fetch_locked(&mut state).await {
            Ok(()) => self
                .current()
                .by_kid
                .get(kid)
                .cloned()
                .ok_or(AuthError::UnknownKey),
            Err(e) => {
                tracing::warn!(error = %e, "holdfast-verify: JWKS fetch failed");
                Err(if self.current().fetched_at.is_none() {
                    AuthError::KeysUnavailable
                } else {
                    AuthError::UnknownKey
                })
            }
        }
    }

    /// Fetches discovery (once) and the JWKS, installing the new set.
    /// Caller holds the fetch lock.
    async fn fetch_locked(&self, state: &mut FetchState) -> Result<(), FetchError> {
        state.last_attempt = Some(self.clock.now());
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.last_failed
            .store(true, std::sync::atomic::Ordering::Release);
        // Discovery is fetched once and cached by `Discovery`.
        let endpoints = self.discovery.endpoints().await?;
        let bytes = get_capped(self.discovery.http(), endpoints.jwks_uri.as_str()).await?;
        let by_kid = parse_jwks(&bytes)?;
        self.last_failed
            .store(false, std::sync::atomic::Ordering::Release);
        let generation = self.current().generation + 1;
        tracing::debug!(
            keys = by_kid.len(),
            generation,
            "holdfast-verify: JWKS fetched"
        );
        self.install(KeySet {
            by_kid,
            fetched_at: Some(self.clock.now()),
            generation,
        });
        Ok(())
    }

    /// Fetches now unless a fetch happened within the refetch interval.
    pub(crate) async fn warm_up(&self) -> Result<(), AuthError> {
        let mut state = self.fetch.lock().await;
        if self.current().fetched_at.is_some() {
            return Ok(());
        }
        self.fetch_locked(&mut state).await.map_err(|e| {
            tracing::warn!(error = %e, "holdfast-verify: JWKS fetch failed");
            AuthError::KeysUnavailable
        })
    }
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK Set into usable verification keys by `kid`; keys that
/// cannot be used for signature verification are skipped.
fn parse_jwks(bytes: &[u8]) -> Result<HashMap<String, Arc<VerifyKey>>, FetchError> {
    let raw: RawJwks =
        serde_json::from_slice(bytes).map_err(|e| FetchError(format!("JWKS: {e}")))?;
    let mut out = HashMap::new();
    for value in raw.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let Some(alg) = key_alg(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.insert(kid, Arc::new(VerifyKey { alg, key }));
    }
    Ok(out)
}

/// The algorithm a key is used with: its `alg` if declared (and consistent
/// with its type), else the one its type implies. Never HMAC or `none`.
pub(crate) fn key_alg(jwk: &Jwk) -> Option<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return None,
    };
    let Some(declared) = jwk.common.key_algorithm else {
        return Some(implied);
    };
    let declared = match declared {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        _ => return None,
    };
    let same_family = match implied {
        Algorithm::RS256 => matches!(
            declared,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        other => declared == other,
    };
    same_family.then_some(declared)
}

#[cfg(test)]
mod tests {
    use holdfast_crypto::jws::{JwsAlg, SigningKey};
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc7517_s5_signing_keys_are_kept_and_others_skipped() {
        let ec = SigningKey::generate(JwsAlg::ES256).unwrap();
        let ed = SigningKey::generate(JwsAlg::EdDSA).unwrap();
        let mut enc = serde_json::to_value(ec.public_jwk()).unwrap();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let mut no_kid = serde_json::to_value(ed.public_jwk()).unwrap();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut lying = serde_json::to_value(ec.public_jwk()).unwrap();
        lying["kid"] = json!("lying");
        lying["alg"] = json!("EdDSA");
        let jwks = json!({"keys": [
            ec.public_jwk(), ed.public_jwk(), enc, no_kid, lying,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "weird", "kid": "w"},
        ]});
        let keys = parse_jwks(&serde_json::to_vec(&jwks).unwrap()).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        let mut expected = vec![ec.kid(), ed.kid()];
        expected.sort_unstable();
        assert_eq!(kids, expected);
        assert_eq!(keys[ec.kid()].alg, Algorithm::ES256);
        assert_eq!(keys[ed.kid()].alg, Algorithm::EdDSA);
    }
}
