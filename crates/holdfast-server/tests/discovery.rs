//! Discovery and key publication, against a running server on both back
//! ends:
//!
//! - Authorization server metadata, RFC 8414 §2/§3 and OpenID Connect
//!   Discovery 1.0 §3/§4: one document at both well-known locations, whose
//!   `issuer` is exactly the issuer identifier.
//! - The JWK Set, RFC 7517 §4/§5: public keys only, each with `kid`, `alg`
//!   and `use`; `next` published before it signs, retired keys published
//!   while their tokens may live (so rotation never breaks a verifier).
//! - Tokens signed with a tenant's current key verify against the published
//!   JWKS with an independent JOSE implementation (the `openidconnect`
//!   crate, RustCrypto-based), for ES256 and EdDSA, across a rotation.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::keys::SigningAlg;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::sha256_b64;
use holdfast_testkit::TestServer;
use openidconnect::JsonWebKey as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use reqwest::StatusCode;
use serde_json::{Value, json};

holdfast_testkit::on_both_backends!(
    rfc8414_s3_metadata_is_identical_at_both_well_known_locations,
    rfc8414_s3_3_discovery_issuer_matches_the_issuer_exactly,
    rfc8414_s2_metadata_has_the_required_fields,
    oidc_discovery_s3_metadata_parses_with_an_independent_client_library,
    oidc_discovery_s3_eddsa_tenant_advertises_eddsa,
    rfc7517_s5_new_tenant_publishes_exactly_current_and_next_public_keys,
    rfc7638_kid_is_the_jwk_thumbprint,
    rfc9068_es256_token_verifies_against_jwks_across_rotation,
    rfc9068_eddsa_token_verifies_against_jwks_across_rotation,
    rfc7515_tampered_token_fails_verification_against_jwks,
    unknown_tenant_discovery_and_jwks_are_404_json,
    tenant_created_after_start_is_served_immediately,
    tenant_and_rotation_made_by_the_cli_are_served_immediately,
);

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server.http().get(server.url(path)).send().await.unwrap()
}

async fn get_ok_json(server: &TestServer, path: &str) -> Value {
    let response = get(server, path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "GET {path}: content-type {content_type}"
    );
    response.json().await.unwrap()
}

async fn oidc_metadata(server: &TestServer, slug: &str) -> Value {
    get_ok_json(
        server,
        &format!("/t/{slug}/.well-known/openid-configuration"),
    )
    .await
}

async fn jwks(server: &TestServer, slug: &str) -> Value {
    get_ok_json(server, &format!("/t/{slug}/jwks.json")).await
}

fn jwks_keys(set: &Value) -> &Vec<Value> {
    set["keys"].as_array().unwrap()
}

fn kids(set: &Value) -> Vec<String> {
    jwks_keys(set)
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn core_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    }
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// Verifies a compact JWS against a published JWK Set with the
/// `openidconnect` crate: find the key by the header's `kid`, then check the
/// signature over `header.payload`.
fn verify_with_jwks(set: &Value, token: &str, alg: SigningAlg) -> Result<(), String> {
    let parsed: CoreJsonWebKeySet =
        serde_json::from_value(set.clone()).map_err(|e| e.to_string())?;
    // openidconnect silently skips keys it cannot parse; all of ours must parse.
    assert_eq!(
        parsed.keys().len(),
        jwks_keys(set).len(),
        "a published key was not understood: {set}"
    );
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(format!("not a compact JWS: {token}"));
    };
    let kid = header_of(token)["kid"]
        .as_str()
        .ok_or("no kid in the header")?
        .to_owned();
    let key = parsed
        .keys()
        .iter()
        .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    key.verify_signature(
        &core_alg(alg),
        format!("{header}.{payload}").as_bytes(),
        &signature,
    )
    .map_err(|e| e.to_string())
}

async fn sign_access_token(server: &TestServer, tenant: &Tenant) -> String {
    let issuer = server.issuer(tenant.slug.as_str());
    let now = server.state.now();
    let claims = json!({
        "iss": issuer, "sub": "user-1", "aud": issuer, "client_id": "web",
        "iat": now, "exp": now + 300, "jti": format!("jti-{now}-{}", rand_suffix()),
    });
    server
        .state
        .keys
        .current(tenant)
        .await
        .unwrap()
        .sign("at+jwt", &claims)
        .unwrap()
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn assert_json_error(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    code: &str,
) {
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(status.is_client_error(), "{status}");
    assert_eq!(headers[reqwest::header::CACHE_CONTROL], "no-store");
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

async fn rfc8414_s3_metadata_is_identical_at_both_well_known_locations(server: TestServer) {
    server.tenant("acme").await;
    let oidc = oidc_metadata(&server, "acme").await;
    let rfc8414 = get_ok_json(&server, "/.well-known/oauth-authorization-server/t/acme").await;
    assert_eq!(oidc, rfc8414);

    // Metadata is public and cacheable, unlike error responses.
    let response = get(&server, "/t/acme/.well-known/openid-configuration").await;
    let cache = response.headers()[reqwest::header::CACHE_CONTROL]
        .to_str()
        .unwrap();
    assert!(
        cache.contains("public") && cache.contains("max-age"),
        "{cache}"
    );
}

async fn rfc8414_s3_3_discovery_issuer_matches_the_issuer_exactly(server: TestServer) {
    server.tenant("acme").await;
    let issuer = server.issuer("acme");
    assert!(!issuer.ends_with('/'));
    for path in [
        "/t/acme/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/t/acme",
    ] {
        let doc = get_ok_json(&server, path).await;
        // RFC 8414 §3.3: identical to the issuer the well-known string was inserted into.
        assert_eq!(doc["issuer"].as_str().unwrap(), issuer, "{path}");
    }
    // OIDC Discovery §4: {issuer}/.well-known/openid-configuration is where it lives.
    let at_issuer = server
        .http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(at_issuer.status(), StatusCode::OK);
}

async fn rfc8414_s2_metadata_has_the_required_fields(server: TestServer) {
    server.tenant("acme").await;
    let doc = oidc_metadata(&server, "acme").await;
    let issuer = server.issuer("acme");
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks.json"),
    ] {
        assert_eq!(
            doc[field].as_str().unwrap(),
            format!("{issuer}{path}"),
            "{field}"
        );
    }
    let strings = |field: &str| -> Vec<String> {
        doc[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} missing or not an array: {doc}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(strings("response_types_supported").contains(&"code".to_owned()));
    assert!(!strings("subject_types_supported").is_empty());
    // OIDC Discovery 1.0 §3: "The algorithm RS256 MUST be included."
    assert_eq!(
        strings("id_token_signing_alg_values_supported"),
        ["ES256", "RS256"]
    );
    // PKCE S256 only (OAuth 2.1 §4.1.1; RFC 9700 §2.1.1: never "plain").
    assert_eq!(strings("code_challenge_methods_supported"), ["S256"]);
    // The jwks_uri the document names is the one that serves the keys.
    let keys = server
        .http()
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), StatusCode::OK);
}

async fn oidc_discovery_s3_metadata_parses_with_an_independent_client_library(server: TestServer) {
    server.tenant("acme").await;
    let doc = oidc_metadata(&server, "acme").await;
    let parsed: CoreProviderMetadata = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("openidconnect refuses the metadata: {e}"));
    assert_eq!(parsed.issuer().as_str(), server.issuer("acme"));
    assert_eq!(
        parsed.jwks_uri().as_str(),
        doc["jwks_uri"].as_str().unwrap()
    );
    assert_eq!(
        parsed.id_token_signing_alg_values_supported(),
        &vec![
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
        ]
    );
}

async fn oidc_discovery_s3_eddsa_tenant_advertises_eddsa(server: TestServer) {
    server.tenant_with_alg("edward", SigningAlg::EdDSA).await;
    let doc = oidc_metadata(&server, "edward").await;
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["EdDSA", "RS256"])
    );
    for key in jwks_keys(&jwks(&server, "edward").await) {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
    }
}

async fn rfc7517_s5_new_tenant_publishes_exactly_current_and_next_public_keys(server: TestServer) {
    let tenant = server.tenant("acme").await;
    let set = jwks(&server, "acme").await;
    let keys = jwks_keys(&set);
    assert_eq!(keys.len(), 2, "current and next: {set}");
    for key in keys {
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
        assert_eq!(key["alg"], "ES256", "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        assert_eq!(key["kty"], "EC", "{key}");
        assert_eq!(key["crv"], "P-256", "{key}");
        // RFC 7517 §4 / RFC 7518 §6.2.2.1: "d" is the private key.
        assert!(key.get("d").is_none(), "private key published: {key}");
    }
    let published = kids(&set);
    assert_ne!(published[0], published[1]);
    let current = server.state.keys.current(&tenant).await.unwrap();
    assert!(
        published.contains(&current.kid().to_owned()),
        "the current key is published"
    );
}

async fn rfc7638_kid_is_the_jwk_thumbprint(server: TestServer) {
    server.tenant("acme").await;
    server.tenant_with_alg("edward", SigningAlg::EdDSA).await;
    let mut keys = jwks_keys(&jwks(&server, "acme").await).clone();
    keys.extend(jwks_keys(&jwks(&server, "edward").await).iter().cloned());
    for key in keys {
        // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
        let canonical = match key["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&key["crv"]),
                s(&key["x"]),
                s(&key["y"])
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                s(&key["crv"]),
                s(&key["x"])
            ),
            other => panic!("unexpected kty {other}"),
        };
        assert_eq!(
            key["kid"].as_str().unwrap(),
            sha256_b64(canonical.as_bytes()),
            "{key}"
        );
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

async fn token_verifies_across_rotation(server: TestServer, alg: SigningAlg) {
    let tenant = server.tenant_with_alg("acme", alg).await;
    let before_set = jwks(&server, "acme").await;
    let old_token = sign_access_token(&server, &tenant).await;
    let old_header = header_of(&old_token);
    assert_eq!(old_header["alg"], alg.as_str());
    assert_eq!(old_header["typ"], "at+jwt");
    verify_with_jwks(&before_set, &old_token, alg).unwrap();

    let new_next = server
        .state
        .keys
        .rotate(&tenant, server.state.now())
        .await
        .unwrap()
        .remove(0);
    let after_set = jwks(&server, "acme").await;
    let after_kids = kids(&after_set);
    assert_eq!(
        after_kids.len(),
        3,
        "next, current and the retired key: {after_set}"
    );
    assert!(
        after_kids.contains(&new_next.kid),
        "the new next key is published before it signs"
    );

    // A token signed before the rotation still verifies: its key is retired, not gone.
    verify_with_jwks(&after_set, &old_token, alg).unwrap();

    // A token signed now uses the previous `next` key, which verifiers already had.
    let new_token = sign_access_token(&server, &tenant).await;
    let new_kid = header_of(&new_token)["kid"].as_str().unwrap().to_owned();
    assert_ne!(
        new_kid,
        old_header["kid"].as_str().unwrap(),
        "rotation changes the signing key"
    );
    assert!(
        kids(&before_set).contains(&new_kid),
        "the new signing key was published as next before rotation"
    );
    verify_with_jwks(&after_set, &new_token, alg).unwrap();
    verify_with_jwks(&before_set, &new_token, alg).unwrap();
}

async fn rfc9068_es256_token_verifies_against_jwks_across_rotation(server: TestServer) {
    token_verifies_across_rotation(server, SigningAlg::ES256).await;
}

async fn rfc9068_eddsa_token_verifies_against_jwks_across_rotation(server: TestServer) {
    token_verifies_across_rotation(server, SigningAlg::EdDSA).await;
}

async fn rfc7515_tampered_token_fails_verification_against_jwks(server: TestServer) {
    for (slug, alg) in [("acme", SigningAlg::ES256), ("edward", SigningAlg::EdDSA)] {
        let tenant = server.tenant_with_alg(slug, alg).await;
        let set = jwks(&server, slug).await;
        let token = sign_access_token(&server, &tenant).await;
        verify_with_jwks(&set, &token, alg).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        // One flipped bit in the signature.
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[5] ^= 0x01;
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(&signature)
        );
        assert!(
            verify_with_jwks(&set, &forged, alg).is_err(),
            "{alg}: flipped signature bit accepted"
        );

        // Changed claims under the original signature.
        let claims = json!({"sub": "admin", "exp": 4_000_000_000u64});
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert!(
            verify_with_jwks(&set, &forged, alg).is_err(),
            "{alg}: altered payload accepted"
        );

        // The other tenant's keys do not verify this tenant's token.
        if slug == "edward" {
            let other = jwks(&server, "acme").await;
            assert!(
                verify_with_jwks(&other, &token, alg).is_err(),
                "another tenant's JWKS accepted the token"
            );
        }
    }
}

async fn unknown_tenant_discovery_and_jwks_are_404_json(server: TestServer) {
    server.tenant("acme").await;
    for path in [
        "/t/nope/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/t/nope",
        "/t/nope/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = get(&server, path).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_json_error(status, &headers, &body, "not_found");
    }
}

async fn tenant_created_after_start_is_served_immediately(server: TestServer) {
    let response = get(&server, "/t/late/jwks.json").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.tenant("late").await;
    assert_eq!(
        oidc_metadata(&server, "late").await["issuer"]
            .as_str()
            .unwrap(),
        server.issuer("late")
    );
    assert_eq!(jwks_keys(&jwks(&server, "late").await).len(), 2);
}

async fn tenant_and_rotation_made_by_the_cli_are_served_immediately(server: TestServer) {
    // A second process (the CLI) on the server's database and KEK.
    let cli = |args: &'static [&'static str]| {
        let mut cmd = support::command_for(&server.db.dir, Some(&server.db.url));
        cmd.args(args);
        support::run_command(cmd, None)
    };
    assert_eq!(
        get(&server, "/t/fromcli/jwks.json").await.status(),
        StatusCode::NOT_FOUND
    );
    cli(&["tenant", "create", "fromcli", "--json"])
        .await
        .assert_success();
    let doc = oidc_metadata(&server, "fromcli").await;
    assert_eq!(doc["issuer"].as_str().unwrap(), server.issuer("fromcli"));
    let before = kids(&jwks(&server, "fromcli").await);

    let rotated = cli(&["keys", "rotate", "--tenant", "fromcli", "--json"])
        .await
        .json();
    let after_set = jwks(&server, "fromcli").await;
    let after = kids(&after_set);
    assert_eq!(after.len(), 3);
    assert!(after.contains(&rotated["next_kid"].as_str().unwrap().to_owned()));
    assert!(
        before.iter().all(|kid| after.contains(kid)),
        "the retired key stays published"
    );

    // The running server signs with the key the CLI promoted.
    let tenant = holdfast_server::service::admin::tenant(&server.state, "fromcli")
        .await
        .unwrap();
    let token = sign_access_token(&server, &tenant).await;
    assert_eq!(header_of(&token)["kid"], rotated["current_kid"]);
    verify_with_jwks(&after_set, &token, SigningAlg::ES256).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8414_s2_every_advertised_endpoint_is_served() {
    let Some(server) = TestServer::start(holdfast_testkit::Backend::Sqlite).await else {
        return;
    };
    server.tenant("acme").await;
    let doc = oidc_metadata(&server, "acme").await;
    let mut missing = Vec::new();
    for (field, value) in doc.as_object().unwrap() {
        if !(field.ends_with("_endpoint") || field == "jwks_uri") {
            continue;
        }
        // Any answer but "no such endpoint" will do: a bare POST is not a valid request anywhere.
        let response = server
            .http()
            .post(value.as_str().unwrap())
            .form(&[("x", "1")])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            missing.push(field.clone());
        }
    }
    assert!(missing.is_empty(), "advertised but not served: {missing:?}");
}
