//! The token endpoint's error responses, RFC 6749 §5.2, one test per error
//! code, each from a request that must produce it; the client credentials
//! grant, §4.4; and robustness: malformed input is a 4xx, never a 5xx.
//!
//! Every error is checked for the §5.2 shape by [`flow::Json::oauth_error`]:
//! a JSON object with `error` and `error_description`, and
//! `Cache-Control: no-store` (§5.1, which §5.2 responses share in
//! Holdfast).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flow::{Json, read_json, token};
use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_core::tenant::Tenant;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

holdfast_testkit::on_both_backends!(
    rfc6749_s5_2_invalid_request_when_grant_type_is_missing,
    rfc6749_s5_2_invalid_request_when_a_parameter_is_repeated,
    rfc6749_s5_2_invalid_request_when_code_is_missing,
    rfc6749_s5_2_invalid_client_for_an_unknown_client_is_401,
    rfc6749_s5_2_invalid_client_with_basic_auth_is_401_with_a_basic_challenge,
    rfc6749_s5_2_invalid_client_when_a_confidential_client_sends_no_secret,
    rfc6749_s5_2_invalid_grant_for_an_unknown_code,
    rfc6749_s5_2_invalid_grant_for_an_unknown_refresh_token,
    rfc6749_s5_2_unauthorized_client_for_a_grant_the_client_was_not_given,
    rfc6749_s4_4_public_client_asking_for_client_credentials_is_unauthorized_client_before_dpop,
    rfc6749_s5_2_unsupported_grant_type_for_the_password_grant,
    rfc6749_s5_2_invalid_scope_beyond_the_clients_scopes,
    rfc6749_s4_4_client_credentials_issue_a_token_for_the_client_itself,
    rfc6749_s3_2_malformed_requests_never_cause_server_errors,
);

/// A confidential client `svc` allowed only client credentials and
/// `read:items`; returns its secret.
async fn service_client(server: &TestServer, tenant: &Tenant) -> String {
    let mut new = NewClient::new("svc", ClientKind::Confidential);
    new.grant_types = vec![GrantType::ClientCredentials];
    new.scopes = vec!["read:items".to_owned()];
    let (_, secret) = server.client(tenant, new).await;
    secret.expect("confidential").expose().to_owned()
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// `POST {issuer}/token` with a raw body, content type and optional
/// `Authorization` header.
async fn raw_token(
    http: &reqwest::Client,
    issuer: &str,
    content_type: Option<&str>,
    authorization: Option<HeaderValue>,
    body: impl Into<reqwest::Body>,
) -> Json {
    let mut request = http.post(format!("{issuer}/token")).body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    if let Some(auth) = authorization {
        request = request.header(AUTHORIZATION, auth);
    }
    read_json(request.send().await.unwrap()).await
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn rfc6749_s5_2_invalid_request_when_grant_type_is_missing(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let answer = token(&server.http(), &fx.issuer, &[("client_id", "web")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_request");
}

async fn rfc6749_s5_2_invalid_request_when_a_parameter_is_repeated(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    // §3.2: "Request and response parameters MUST NOT be included more than once."
    let answer = raw_token(
        &server.http(),
        &fx.issuer,
        Some(FORM),
        None,
        "grant_type=refresh_token&client_id=web&refresh_token=hfrt_a&refresh_token=hfrt_b",
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_request");
}

async fn rfc6749_s5_2_invalid_request_when_code_is_missing(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "web"),
            ("redirect_uri", flow::REDIRECT_URI),
            ("code_verifier", &flow::pkce().verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_request");
}

async fn rfc6749_s5_2_invalid_client_for_an_unknown_client_is_401(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.oauth_error(), "invalid_client");
    // A client from another tenant is unknown here too.
    let other = server.tenant("beta").await;
    let secret = service_client(&server, &other).await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.oauth_error(), "invalid_client");
}

async fn rfc6749_s5_2_invalid_client_with_basic_auth_is_401_with_a_basic_challenge(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let secret = service_client(&server, &fx.tenant).await;
    // §5.2: with Basic, "MUST respond with an HTTP 401 (Unauthorized) status
    // code and include the WWW-Authenticate response header field".
    for wrong in [
        basic("svc", "hfcs_not-the-secret"),
        basic("nobody", &secret),
    ] {
        let answer = raw_token(
            &server.http(),
            &fx.issuer,
            Some(FORM),
            Some(HeaderValue::from_str(&wrong).unwrap()),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.oauth_error(), "invalid_client");
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|c| c.starts_with("Basic")),
            "{:?}",
            answer.headers
        );
    }
}

async fn rfc6749_s5_2_invalid_client_when_a_confidential_client_sends_no_secret(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    service_client(&server, &fx.tenant).await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[("grant_type", "client_credentials"), ("client_id", "svc")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.oauth_error(), "invalid_client");
    // And no client identification at all.
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.oauth_error(), "invalid_client");
}

async fn rfc6749_s5_2_invalid_grant_for_an_unknown_code(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", "hfac_this-code-was-never-issued"),
            ("client_id", "web"),
            ("redirect_uri", flow::REDIRECT_URI),
            ("code_verifier", &flow::pkce().verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
}

async fn rfc6749_s5_2_invalid_grant_for_an_unknown_refresh_token(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "hfrt_this-token-was-never-issued"),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "invalid_grant");
}

async fn rfc6749_s5_2_unauthorized_client_for_a_grant_the_client_was_not_given(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    // Confidential, but registered with the default grants only
    // (authorization_code, refresh_token).
    let (_, secret) = server
        .client(
            &fx.tenant,
            NewClient::new("portal", ClientKind::Confidential),
        )
        .await;
    let secret = secret.unwrap();
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "portal"),
            ("client_secret", secret.expose()),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "unauthorized_client");
    assert!(answer.str("access_token").is_none());
    // The public client may not use client credentials either.
    let answer = token(
        &server.http(),
        &fx.issuer,
        &[("grant_type", "client_credentials"), ("client_id", "web")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.oauth_error(), "unauthorized_client");
}

/// RFC 6749 §4.4: "The client credentials grant type MUST only be used by
/// confidential clients", and §5.2 `unauthorized_client`. The grant check
/// comes before anything else about the request: a public client that must
/// use DPoP, or must call from its own origin, is still told the grant is
/// not its own, not that its proof or origin is missing.
async fn rfc6749_s4_4_public_client_asking_for_client_credentials_is_unauthorized_client_before_dpop(
    server: TestServer,
) {
    let fx = flow::fixture(&server, "acme").await;
    let mut dpop = NewClient::new("spa-dpop", ClientKind::Public);
    dpop.redirect_uris = vec!["https://spa.example/cb".to_owned()];
    dpop.dpop_required = true;
    server.client(&fx.tenant, dpop).await;
    let mut cookie = NewClient::new("spa-cookie", ClientKind::Public);
    cookie.redirect_uris = vec!["https://spa.example/cb".to_owned()];
    cookie.refresh_token_in_cookie = true;
    cookie.dpop_required = true;
    server.client(&fx.tenant, cookie).await;
    for client_id in ["spa-dpop", "spa-cookie"] {
        // No proof at all, then a proof that is not even a JWT.
        for proof in [None, Some("not-a-proof")] {
            let mut request = server.http().post(format!("{}/token", fx.issuer)).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
            ]);
            if let Some(proof) = proof {
                request = request.header("DPoP", proof);
            }
            let answer = read_json(request.send().await.unwrap()).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{client_id}: {}",
                answer.text
            );
            assert_eq!(answer.oauth_error(), "unauthorized_client", "{client_id}");
            assert!(answer.str("access_token").is_none());
        }
    }
}

async fn rfc6749_s5_2_unsupported_grant_type_for_the_password_grant(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    for grant in ["password", "implicit", "urn:example:nonsense"] {
        let answer = token(
            &server.http(),
            &fx.issuer,
            &[
                ("grant_type", grant),
                ("client_id", "web"),
                ("username", flow::USERNAME),
                ("password", flow::PASSWORD),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{grant}");
        assert_eq!(answer.oauth_error(), "unsupported_grant_type", "{grant}");
        assert!(answer.str("access_token").is_none());
    }
}

async fn rfc6749_s5_2_invalid_scope_beyond_the_clients_scopes(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let secret = service_client(&server, &fx.tenant).await;
    for scope in ["write:items", "read:items write:items", "openid"] {
        let answer = token(
            &server.http(),
            &fx.issuer,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "svc"),
                ("client_secret", &secret),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{scope}");
        assert_eq!(answer.oauth_error(), "invalid_scope", "{scope}");
    }
}

async fn rfc6749_s4_4_client_credentials_issue_a_token_for_the_client_itself(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let secret = service_client(&server, &fx.tenant).await;
    let http = server.http();

    let by_post = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", &secret),
            ("scope", "read:items"),
        ],
    )
    .await;
    let by_basic = raw_token(
        &http,
        &fx.issuer,
        Some(FORM),
        Some(HeaderValue::from_str(&basic("svc", &secret)).unwrap()),
        "grant_type=client_credentials&scope=read%3Aitems",
    )
    .await;
    for answer in [by_post, by_basic] {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert!(
            answer
                .str("token_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        );
        assert_eq!(answer.str("scope"), Some("read:items"));
        // §4.4.3: "A refresh token SHOULD NOT be included"; no user, no ID token.
        assert!(
            answer.body.get("refresh_token").is_none(),
            "{}",
            answer.text
        );
        assert!(answer.body.get("id_token").is_none(), "{}", answer.text);
        let access = answer.str("access_token").expect("access_token");
        let header = flow::jwt_part(access, 0);
        assert_eq!(header["typ"], "at+jwt");
        let claims = flow::jwt_part(access, 1);
        // RFC 9068 §2.2: sub is the client when no resource owner is involved.
        assert_eq!(claims["sub"], "svc");
        assert_eq!(claims["client_id"], "svc");
        assert_eq!(claims["scope"], "read:items");
        assert_eq!(claims["iss"], fx.issuer.as_str());
        assert_eq!(claims["aud"], fx.issuer.as_str());
        assert!(claims.get("auth_time").is_none());
    }
    // No scope asked: everything the client may have (without user scopes).
    let default_scope = token(
        &http,
        &fx.issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(
        default_scope.status,
        StatusCode::OK,
        "{}",
        default_scope.text
    );
    assert_eq!(default_scope.str("scope"), Some("read:items"));
}

/// Asserts a client error (never a server error) and, when the answer is
/// JSON, the §5.2 shape.
#[track_caller]
fn assert_client_error(what: &str, answer: &Json) {
    assert!(
        answer.status.is_client_error(),
        "{what}: expected 4xx, got {} {}",
        answer.status,
        answer.text
    );
    if answer.status != StatusCode::PAYLOAD_TOO_LARGE {
        answer.oauth_error();
    }
}

async fn rfc6749_s3_2_malformed_requests_never_cause_server_errors(server: TestServer) {
    let fx = flow::fixture(&server, "acme").await;
    let secret = service_client(&server, &fx.tenant).await;
    let http = server.http();
    let issuer = fx.issuer.as_str();

    // §3.2: the body must be application/x-www-form-urlencoded.
    let json = raw_token(
        &http,
        issuer,
        Some("application/json"),
        None,
        r#"{"grant_type":"client_credentials","client_id":"svc"}"#,
    )
    .await;
    assert_client_error("JSON body", &json);
    assert_eq!(json.oauth_error(), "invalid_request");
    let no_type = raw_token(&http, issuer, None, None, "grant_type=client_credentials").await;
    assert_client_error("no content type", &no_type);
    assert_eq!(no_type.oauth_error(), "invalid_request");

    // Garbage Basic credentials.
    for header in [
        "Basic %%%not-base64%%%",
        "Basic",
        "Basic ",
        &format!("Basic {}", STANDARD.encode("no-colon-here")),
        &format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0x80])),
        "Bearer abc",
        "NTLM TlRMTVNTUAABAAAA",
    ] {
        let answer = raw_token(
            &http,
            issuer,
            Some(FORM),
            Some(HeaderValue::from_str(header).unwrap()),
            "grant_type=client_credentials",
        )
        .await;
        assert_client_error(header, &answer);
    }
    // Header bytes that are not UTF-8.
    let answer = raw_token(
        &http,
        issuer,
        Some(FORM),
        Some(HeaderValue::from_bytes(b"Basic \xff\xfe\xfd").unwrap()),
        "grant_type=client_credentials",
    )
    .await;
    assert_client_error("non-UTF-8 Authorization", &answer);

    // A huge scope, under and over the body limit.
    for len in [20_000, 100_000] {
        let scope = "a".repeat(len);
        let answer = token(
            &http,
            issuer,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "svc"),
                ("client_secret", &secret),
                ("scope", &scope),
            ],
        )
        .await;
        assert_client_error(&format!("scope of {len} bytes"), &answer);
        if len == 20_000 {
            assert_eq!(answer.oauth_error(), "invalid_scope");
        } else {
            assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }

    // Percent-encodings that are not UTF-8, in names and values.
    for body in [
        "grant_type=%FF%FE&client_id=web",
        "grant_type=client_credentials&client_id=%C3%28",
        "%FF=1&grant_type=authorization_code&client_id=web&code=%80%81",
        "grant_type=refresh_token&client_id=web&refresh_token=hfrt_%ED%A0%80",
        "grant_type=client_credentials&client_id=svc&client_secret=x&scope=%00%01",
        "&&&==&=%&%%",
    ] {
        let answer = raw_token(&http, issuer, Some(FORM), None, body).await;
        assert_client_error(body, &answer);
    }

    // A body that is not text at all.
    let answer = raw_token(
        &http,
        issuer,
        Some(FORM),
        None,
        vec![0u8, 0xff, 0xfe, b'=', 0x80, b'&'],
    )
    .await;
    assert_client_error("binary body", &answer);
}
