//! The example resource server end to end against a running Holdfast
//! (holdfast-testkit, SQLite, port 0): tokens come from the first-party
//! authorization challenge endpoint and the token endpoint, exactly as the
//! README's curl commands get them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use holdfast_core::client::{ClientKind, NewClient};
use holdfast_crypto::secret::{SecretString, random_id, sha256_b64};
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_example_resource_server::{AppConfig, app, run};
use holdfast_testkit::{Backend, TestServer};
use holdfast_verify::Verifier;
use holdfast_verify::clock::ManualClock;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";
/// The API that `other-app` may get tokens for.
const OTHER_API: &str = "https://other.example/api";

struct Rig {
    /// Kept alive for the test's duration (the server stops when dropped).
    _holdfast: TestServer,
    issuer: String,
    rs: String,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    secret: SecretString,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn rig() -> Option<Rig> {
    let holdfast = TestServer::start(Backend::Sqlite).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rs = format!("http://{}", listener.local_addr().unwrap());
    let tenant = holdfast.tenant("acme").await;
    // RFC 8707 §2: each client lists the APIs it may get tokens for.
    let mut confidential = NewClient::new("backend", ClientKind::Confidential);
    confidential.scopes = vec!["openid".into(), "read".into(), "admin".into()];
    confidential.resources = vec![rs.clone()];
    let (_, secret) = holdfast.client(&tenant, confidential).await;
    let mut public = NewClient::new("demo-cli", ClientKind::Public);
    public.scopes = vec!["openid".into(), "read".into()];
    public.resources = vec![rs.clone()];
    holdfast.client(&tenant, public).await;
    // A client of the same tenant for another API only.
    let mut other = NewClient::new("other-app", ClientKind::Public);
    other.scopes = vec!["openid".into(), "read".into()];
    other.resources = vec![OTHER_API.into()];
    holdfast.client(&tenant, other).await;
    holdfast.user(&tenant, "alice", PASSWORD).await;
    let issuer = holdfast.issuer("acme");
    let clock = Arc::new(ManualClock::new(unix_now()));
    let verifier = Verifier::builder(issuer.clone())
        .audience(rs.clone())
        .realm("holdfast-example")
        .public_base_url(rs.parse().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    verifier.warm_up().await.unwrap();
    let config = AppConfig {
        step_up_max_age: Duration::from_secs(60),
        critical_max_age: Duration::from_secs(60),
    };
    tokio::spawn(run(
        listener,
        app(&verifier, &config),
        std::future::pending(),
    ));
    Some(Rig {
        http: holdfast.http(),
        _holdfast: holdfast,
        issuer,
        rs,
        clock,
        secret: secret.expect("confidential client secret"),
    })
}

impl Rig {
    /// authorize-challenge then token, as the confidential client, for the
    /// example API (`resource`).
    async fn token(&self, scope: &str) -> String {
        self.token_for(scope, Some(&self.rs)).await
    }

    async fn token_for(&self, scope: &str, resource: Option<&str>) -> String {
        let verifier = random_id().unwrap() + &random_id().unwrap();
        let challenge = sha256_b64(verifier.as_bytes());
        let mut form = vec![
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", scope),
        ];
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        let code: Value = self
            .http
            .post(format!("{}/authorize-challenge", self.issuer))
            .basic_auth("backend", Some(self.secret.expose()))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = code["authorization_code"]
            .as_str()
            .expect("code")
            .to_owned();
        let token: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth("backend", Some(self.secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    async fn get(
        &self,
        path: &str,
        authorization: Option<String>,
        dpop: Option<String>,
    ) -> (u16, Vec<String>, Value) {
        let mut req = self.http.get(format!("{}{path}", self.rs));
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(p) = dpop {
            req = req.header("dpop", p);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let challenges = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, challenges, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_api_accepts_holdfast_bearer_tokens_and_challenges_the_rest() {
    let Some(rig) = rig().await else { return };
    let at = rig.token("openid read").await;

    let (status, _, body) = rig
        .get("/api/hello", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("hello, "));
    assert_eq!(body["scheme"], "Bearer");

    // No token: both challenges, no error code (RFC 6750 §3.1).
    let (status, challenges, _) = rig.get("/api/hello", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenges.len(), 2);
    assert_eq!(challenges[0], "Bearer realm=\"holdfast-example\"");

    // Scope admin: 403 without it, 200 with it.
    let (status, challenges, _) = rig
        .get("/api/admin", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 403);
    assert!(challenges[0].contains("error=\"insufficient_scope\""));
    let admin = rig.token("openid admin").await;
    let (status, _, _) = rig
        .get("/api/admin", Some(format!("Bearer {admin}")), None)
        .await;
    assert_eq!(status, 200);

    // Step-up: fresh login passes; a minute later the API asks for a new one.
    let (status, _, body) = rig
        .get("/api/sensitive", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 200, "{body}");
    rig.clock.advance(61);
    let (status, challenges, _) = rig
        .get("/api/sensitive", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        vec![
            "Bearer realm=\"holdfast-example\", error=\"insufficient_user_authentication\", \
             error_description=\"a more recent authentication is required\", max_age=\"60\""
        ]
    );

    // The critical route wants two factors, and says so (RFC 9470 §3): a
    // password-only token (`acr` "1") is refused even when fresh.
    let fresh = rig.token("openid read").await;
    let response = rig
        .http
        .delete(format!("{}/api/records/42", rig.rs))
        .header("authorization", format!("Bearer {fresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\"")
            && challenge.contains("acr_values=\"2\"")
            && challenge.contains("max_age=\"60\""),
        "{challenge}"
    );

    // A token for the tenant's default audience (the issuer) is not for
    // this API.
    let default_audience = rig.token_for("openid read", None).await;
    let (status, challenges, _) = rig
        .get(
            "/api/hello",
            Some(format!("Bearer {default_audience}")),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert!(challenges[0].contains("error=\"invalid_token\""));
}

/// DPoP end to end: a public client sends a proof to Holdfast's token
/// endpoint (retrying once with the server's nonce), gets a DPoP-bound
/// token, and calls the API with `Authorization: DPoP` and a fresh proof;
/// the same token as `Bearer` and a replayed proof are refused.
/// `authorize-challenge` as the public client `other-app`, for `resource`.
async fn other_app_challenge(rig: &Rig, resource: &str, challenge: &str) -> reqwest::Response {
    rig.http
        .post(format!("{}/authorize-challenge", rig.issuer))
        .form(&[
            ("client_id", "other-app"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid read"),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
}

/// RFC 8707 §2: a client not allowed this API cannot get a token for it
/// (`invalid_target`), and the token it can get, for its own API, is
/// refused here because its `aud` is not this API (RFC 9068 §4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8707_s2_example_api_refuses_tokens_of_a_client_for_another_api() {
    let Some(rig) = rig().await else { return };
    let verifier = random_id().unwrap() + &random_id().unwrap();
    let challenge = sha256_b64(verifier.as_bytes());
    let refused = other_app_challenge(&rig, &rig.rs, &challenge).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target", "{body}");

    let code: Value = other_app_challenge(&rig, OTHER_API, &challenge)
        .await
        .json()
        .await
        .unwrap();
    let code = code["authorization_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let token: Value = rig
        .http
        .post(format!("{}/token", rig.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "other-app"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = token["access_token"].as_str().expect("access_token");
    let (status, challenges, _) = rig
        .get("/api/hello", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 401);
    assert!(
        challenges[0].contains("error=\"invalid_token\""),
        "{challenges:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_api_accepts_holdfast_dpop_bound_tokens_with_a_proof() {
    let Some(rig) = rig().await else { return };
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let verifier = random_id().unwrap() + &random_id().unwrap();
    let code: Value = rig
        .http
        .post(format!("{}/authorize-challenge", rig.issuer))
        .form(&[
            ("client_id", "demo-cli"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("code_challenge", &sha256_b64(verifier.as_bytes())),
            ("code_challenge_method", "S256"),
            ("scope", "openid read"),
            ("resource", &rig.rs),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = code["authorization_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let token_url = format!("{}/token", rig.issuer);
    let mut nonce: Option<String> = None;
    let mut token = Value::Null;
    for _ in 0..2 {
        let mut claims = ProofClaims::new("POST", &token_url, unix_now());
        if let Some(n) = &nonce {
            claims = claims.nonce(n);
        }
        let response = rig
            .http
            .post(&token_url)
            .header("dpop", key.proof(&claims).unwrap())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", "demo-cli"),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap();
        nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        token = response.json().await.unwrap();
        if token["error"] != "use_dpop_nonce" {
            break;
        }
    }
    let at = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let url = format!("{}/api/hello", rig.rs);
    let proof = key
        .proof(&ProofClaims::new("GET", &url, unix_now()).access_token(&at))
        .unwrap();
    let (status, _, body) = rig
        .get("/api/hello", Some(format!("DPoP {at}")), Some(proof))
        .await;
    assert_eq!(token["token_type"], "DPoP", "{token}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scheme"], "DPoP");
    assert_eq!(body["dpop_jkt"], key.jkt());
    // The same token as Bearer is refused.
    let (status, challenges, _) = rig
        .get("/api/hello", Some(format!("Bearer {at}")), None)
        .await;
    assert_eq!(status, 401);
    assert!(challenges[0].starts_with("DPoP "));
    // A replayed proof is refused.
    let proof = key
        .proof(&ProofClaims::new("GET", &url, unix_now()).access_token(&at))
        .unwrap();
    let (status, _, _) = rig
        .get(
            "/api/hello",
            Some(format!("DPoP {at}")),
            Some(proof.clone()),
        )
        .await;
    assert_eq!(status, 200);
    let (status, challenges, _) = rig
        .get("/api/hello", Some(format!("DPoP {at}")), Some(proof))
        .await;
    assert_eq!(status, 401);
    assert!(challenges[0].contains("the DPoP proof was already used"));
}
