//! A mock issuer for the integration tests: an axum server on 127.0.0.1:0
//! serving discovery, a JWKS that tests can change, an introspection
//! endpoint, and an "attacker" JWKS that must never be fetched.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use holdfast_crypto::jws::{JwsAlg, SigningKey};
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_verify::clock::ManualClock;
use holdfast_verify::{Verifier, VerifierBuilder};
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};

/// The tests' "now".
pub const NOW: i64 = 1_700_000_000;
/// The audience the resource server expects.
pub const AUDIENCE: &str = "https://api.example.com";
/// The resource server's public base URL (DPoP `htu`).
pub const RS_BASE: &str = "https://api.example.com";
/// Introspection client credentials accepted by the mock.
pub const RS_CLIENT: (&str, &str) = ("rs", "s3cret");

#[derive(Default)]
pub struct MockState {
    pub issuer: RwLock<String>,
    /// What discovery says the issuer is (to test the mismatch check).
    pub advertised_issuer: RwLock<Option<String>>,
    pub keys: RwLock<Vec<Jwk>>,
    pub discovery_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    pub attacker_fetches: AtomicUsize,
    pub introspections: AtomicUsize,
    pub revoked: Mutex<HashSet<String>>,
}

pub struct MockIssuer {
    pub issuer: String,
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    pub key: SigningKey,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(s): State<Arc<MockState>>) -> Json<Value> {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = s.issuer.read().unwrap().clone();
    let advertised = s
        .advertised_issuer
        .read()
        .unwrap()
        .clone()
        .unwrap_or_else(|| issuer.clone());
    Json(json!({
        "issuer": advertised,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "token_endpoint": format!("{issuer}/token"),
    }))
}

async fn jwks(State(s): State<Arc<MockState>>) -> Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *s.keys.read().unwrap() }))
}

async fn attacker_jwks(State(s): State<Arc<MockState>>) -> Json<Value> {
    s.attacker_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": [] }))
}

async fn introspect(
    State(s): State<Arc<MockState>>,
    headers: HeaderMap,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    s.introspections.fetch_add(1, Ordering::SeqCst);
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", RS_CLIENT.0, RS_CLIENT.1))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let active = !s.revoked.lock().unwrap().contains(&token);
    Ok(Json(json!({ "active": active })))
}

impl MockIssuer {
    /// Starts a mock issuer at `http://127.0.0.1:{port}/t/acme` with one
    /// ES256 key published.
    pub async fn start() -> Self {
        let state = Arc::new(MockState::default());
        let app = Router::new()
            .route("/t/acme/.well-known/openid-configuration", get(discovery))
            .route("/t/acme/jwks.json", get(jwks))
            .route("/t/acme/introspect", post(introspect))
            .route("/attacker/jwks.json", get(attacker_jwks))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let issuer = format!("http://{addr}/t/acme");
        *state.issuer.write().unwrap() = issuer.clone();
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        state.keys.write().unwrap().push(key.public_jwk().clone());
        Self {
            issuer,
            addr,
            state,
            key,
            task,
        }
    }

    /// Publishes exactly these keys.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.state.keys.write().unwrap() = keys.iter().map(|k| k.public_jwk().clone()).collect();
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid access token from this issuer at [`NOW`].
    pub fn claims(&self) -> Value {
        json!({
            "iss": self.issuer,
            "sub": "user-1",
            "aud": AUDIENCE,
            "exp": NOW + 300,
            "iat": NOW,
            "jti": holdfast_crypto::secret::random_id().unwrap(),
            "client_id": "spa",
            "scope": "openid read",
            "sid": "sid-1",
            "auth_time": NOW - 60,
        })
    }

    /// A valid bearer access token.
    pub fn token(&self) -> String {
        self.key.sign("at+jwt", &self.claims()).unwrap()
    }

    /// A valid access token bound to `dpop`.
    pub fn bound_token(&self, dpop: &DpopKey) -> String {
        let mut c = self.claims();
        c["cnf"] = json!({ "jkt": dpop.jkt() });
        self.key.sign("at+jwt", &c).unwrap()
    }

    /// A builder for a verifier of this issuer with the manual clock.
    pub fn verifier_builder(&self, clock: Arc<ManualClock>) -> VerifierBuilder {
        Verifier::builder(self.issuer.clone())
            .audience(AUDIENCE)
            .realm("api")
            .public_base_url(RS_BASE.parse().unwrap())
            .clock(clock)
    }

    pub fn verifier(&self) -> (Verifier, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(NOW));
        (
            self.verifier_builder(Arc::clone(&clock)).build().unwrap(),
            clock,
        )
    }
}

/// A DPoP proof for `GET {RS_BASE}{path}` with `ath` of `token`.
pub fn proof(key: &DpopKey, method: &str, path: &str, token: &str) -> String {
    key.proof(&ProofClaims::new(method, &format!("{RS_BASE}{path}"), NOW).access_token(token))
        .unwrap()
}

/// Request headers with `Authorization` and optional `DPoP`.
pub fn headers(authorization: &str, dpop: Option<&str>) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    h.insert("authorization", authorization.parse().unwrap());
    if let Some(p) = dpop {
        h.insert("dpop", p.parse().unwrap());
    }
    h
}
