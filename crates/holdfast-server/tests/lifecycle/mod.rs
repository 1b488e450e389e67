//! Helpers shared by the refresh-token lifecycle tests (`refresh_rotation.rs`,
//! `sessions.rs`, `revocation.rs`, `two_nodes.rs`): a tenant fixture, a
//! quick first-party sign-in (authorization challenge + code redemption),
//! token, revocation and introspection requests, and audit-event look-ups.
//!
//! The request helpers take a `reqwest::Client` and an issuer, not a
//! `TestServer`, so the two-node test can point them at separate
//! `holdfast serve` processes. Nothing here asserts behaviour of the
//! server beyond what a helper needs to go on; the tests do the checking.
#![allow(dead_code, clippy::unwrap_used)]

use holdfast_core::client::{Client, ClientKind, GrantType, NewClient};
use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_store::AuditEvent;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, USER_AGENT};
use serde_json::Value;

/// The public client every fixture registers.
pub const WEB: &str = "web";
/// The confidential client every fixture registers (for introspection and
/// client credentials).
pub const API: &str = "api";
/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";
/// RFC 7636 Appendix B: this verifier ...
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// ... has this S256 challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A tenant with a public client [`WEB`], a confidential client [`API`]
/// (client credentials only) and a user `alice`.
pub struct Fixture {
    /// The tenant.
    pub tenant: Tenant,
    /// Its issuer.
    pub issuer: String,
    /// The public client.
    pub web: Client,
    /// The confidential client's secret.
    pub api_secret: String,
    /// `alice`.
    pub alice: User,
}

impl Fixture {
    /// `{issuer}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The `api` client's credentials, for introspection.
    pub fn api(&self) -> (&str, &str) {
        (API, &self.api_secret)
    }
}

/// The standard fixture in a new tenant `slug`, default refresh policy.
pub async fn fixture(server: &TestServer, slug: &str) -> Fixture {
    fixture_with(server, slug, |_| {}).await
}

/// The standard fixture, with `configure` applied to the public client.
pub async fn fixture_with(
    server: &TestServer,
    slug: &str,
    configure: impl FnOnce(&mut NewClient),
) -> Fixture {
    let tenant = server.tenant(slug).await;
    let mut web = NewClient::new(WEB, ClientKind::Public);
    configure(&mut web);
    let (web, _) = server.client(&tenant, web).await;
    let mut api = NewClient::new(API, ClientKind::Confidential);
    api.grant_types = vec![GrantType::ClientCredentials];
    let (_, secret) = server.client(&tenant, api).await;
    let alice = server.user(&tenant, "alice", PASSWORD).await;
    Fixture {
        issuer: server.issuer(tenant.slug.as_str()),
        tenant,
        web,
        api_secret: secret.unwrap().expose().to_owned(),
        alice,
    }
}

/// What an endpoint answered: status and JSON body (`Null` if none).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// The body as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, body }
    }

    /// The tokens of a successful token response; panics otherwise.
    #[track_caller]
    pub fn tokens(&self) -> Tokens {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "token request failed: {}",
            self.body
        );
        Tokens {
            access_token: self.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: self.body["refresh_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no refresh_token in {}", self.body))
                .to_owned(),
            id_token: self.body["id_token"].as_str().map(str::to_owned),
        }
    }

    /// Asserts RFC 6749 §5.2 `invalid_grant` (400).
    #[track_caller]
    pub fn assert_invalid_grant(&self) {
        assert_eq!(
            (self.status, self.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "expected invalid_grant, got {} {}",
            self.status,
            self.body
        );
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        self.body["error_description"].as_str().unwrap_or_default()
    }
}

/// Tokens from a successful token response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The JWT access token.
    pub access_token: String,
    /// The refresh token (`hfrt_…`).
    pub refresh_token: String,
    /// The ID token, when `openid` was granted.
    pub id_token: Option<String>,
}

/// Signs `username` in at `issuer` through the first-party authorization
/// challenge and redeems the code as `client_id`. `device`, when given, is
/// sent as `device_id` and as the `User-Agent` (`device/<device>`).
pub async fn sign_in(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    username: &str,
    device: Option<&str>,
) -> Tokens {
    let challenge = http
        .post(format!("{issuer}/authorize-challenge"))
        .form(&[
            ("client_id", client_id),
            ("username", username),
            ("password", PASSWORD),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile"),
        ])
        .send()
        .await
        .unwrap();
    let challenge = Reply::read(challenge).await;
    assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.body);
    let code = challenge.body["authorization_code"].as_str().unwrap();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    let user_agent = format!("device/{}", device.unwrap_or("unnamed"));
    if let Some(device) = device {
        form.push(("device_id", device));
    }
    let response = http
        .post(format!("{issuer}/token"))
        .header(USER_AGENT, user_agent)
        .form(&form)
        .send()
        .await
        .unwrap();
    Reply::read(response).await.tokens()
}

/// RFC 6749 §6: presents `refresh_token` as public client `client_id`.
pub async fn refresh(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    refresh_token: &str,
) -> Reply {
    let response = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

/// RFC 7009 §2.1: revokes `token` as public client `client_id`.
pub async fn revoke(http: &reqwest::Client, issuer: &str, client_id: &str, token: &str) -> Reply {
    let response = http
        .post(format!("{issuer}/revoke"))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

/// RFC 7662 §2.1: introspects `token`, authenticating with HTTP Basic.
pub async fn introspect_as(
    http: &reqwest::Client,
    issuer: &str,
    (client_id, secret): (&str, &str),
    token: &str,
) -> Reply {
    let response = http
        .post(format!("{issuer}/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

/// Introspects `token` as the fixture's `api` client and returns the
/// body, which must come with a 200.
pub async fn introspect(http: &reqwest::Client, f: &Fixture, token: &str) -> Value {
    let reply = introspect_as(http, &f.issuer, f.api(), token).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "introspection: {}",
        reply.body
    );
    reply.body
}

/// Whether introspection calls `token` active.
pub async fn is_active(http: &reqwest::Client, f: &Fixture, token: &str) -> bool {
    let body = introspect(http, f, token).await;
    body["active"]
        .as_bool()
        .unwrap_or_else(|| panic!("introspection without a boolean active: {body}"))
}

/// `GET {issuer}/userinfo` with `access_token`; the status.
pub async fn userinfo_status(
    http: &reqwest::Client,
    issuer: &str,
    access_token: &str,
) -> StatusCode {
    http.get(format!("{issuer}/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

/// A request to one of the session endpoints with a Bearer token.
pub async fn with_bearer(request: reqwest::RequestBuilder, access_token: &str) -> Reply {
    let response = request
        .header(AUTHORIZATION, format!("Bearer {access_token}"))
        .send()
        .await
        .unwrap();
    Reply::read(response).await
}

/// Every audit event of the tenant of kind `kind`.
pub async fn events_of_kind(server: &TestServer, tenant: &Tenant, kind: &str) -> Vec<AuditEvent> {
    server
        .state
        .store
        .events(&tenant.id, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// The `sid` of a JWT (access or ID token), read without verification
/// (the tests that need `sid` check tokens elsewhere).
pub fn sid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}
