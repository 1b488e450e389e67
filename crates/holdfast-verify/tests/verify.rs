//! holdfast-verify against a mock issuer on 127.0.0.1:0: token validation
//! (RFC 9068 §4, RFC 8725), key caching and rotation, DPoP (RFC 9449),
//! step-up (RFC 9470), scope (RFC 6750 §3.1), introspection (RFC 7662).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use holdfast_crypto::jws::{JwsAlg, SigningKey};
use holdfast_crypto::secret::SecretString;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_dpop::{DpopAlg, DpopError, NonceProblem};
use holdfast_verify::dpop::HmacNonces;
use holdfast_verify::{AuthError, Rejection, Scheme, StepUp, VerifiedClaims, Verifier};
use serde_json::{Value, json};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn get(
    verifier: &Verifier,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Result<VerifiedClaims, Rejection> {
    verifier
        .verify_request(&Method::GET, &path.parse::<Uri>().unwrap(), headers)
        .await
}

async fn bearer(verifier: &Verifier, token: &str) -> Result<VerifiedClaims, AuthError> {
    get(
        verifier,
        "/api/x",
        &headers(&format!("Bearer {token}"), None),
    )
    .await
    .map_err(|r| r.error().clone())
}

async fn dpop(
    verifier: &Verifier,
    token: &str,
    proof: Option<&str>,
) -> Result<VerifiedClaims, Rejection> {
    get(
        verifier,
        "/api/x",
        &headers(&format!("DPoP {token}"), proof),
    )
    .await
}

// --- RFC 9068 §4: the token itself ---

#[tokio::test]
async fn rfc9068_s4_valid_bearer_token_is_accepted() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let ok = bearer(&verifier, &mock.token()).await.unwrap();
    assert_eq!(ok.sub(), "user-1");
    assert_eq!(ok.scheme(), Scheme::Bearer);
    assert!(ok.has_scope("read"));
    assert_eq!(ok.claims().sid.as_deref(), Some("sid-1"));
    // aud as an array; typ as application/at+jwt, any case.
    let mut c = mock.claims();
    c["aud"] = json!(["other", AUDIENCE]);
    let token = mock.key.sign("Application/AT+JWT", &c).unwrap();
    assert!(bearer(&verifier, &token).await.is_ok());
    // Custom claims are reachable.
    let all: Value = ok.custom().unwrap();
    assert_eq!(all["client_id"], "spa");
}

#[tokio::test]
async fn rfc9068_s4_typ_other_than_at_jwt_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    for typ in ["JWT", "dpop+jwt", "id+jwt"] {
        let token = mock.key.sign(typ, &mock.claims()).unwrap();
        assert_eq!(
            bearer(&verifier, &token).await.unwrap_err(),
            AuthError::WrongType
        );
    }
}

#[tokio::test]
async fn rfc8725_s3_1_alg_none_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": mock.key.kid()});
    for sig in ["", "AAAA"] {
        let token = format!("{}.{}.{sig}", b64(&header), b64(&mock.claims()));
        assert_eq!(
            bearer(&verifier, &token).await.unwrap_err(),
            AuthError::UnsupportedAlg
        );
    }
    // Such tokens never cause a key fetch.
    assert_eq!(mock.jwks_fetches(), 0);
}

#[tokio::test]
async fn rfc8725_s2_1_hs256_signed_with_the_public_key_bytes_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let jwk = serde_json::to_value(mock.key.public_jwk()).unwrap();
    let point = {
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        [vec![4u8], x, y].concat()
    };
    let jwk_json = serde_json::to_vec(&jwk).unwrap();
    for secret in [point, jwk_json] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(mock.key.kid().into());
        let token = jsonwebtoken::encode(
            &header,
            &mock.claims(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(
            bearer(&verifier, &token).await.unwrap_err(),
            AuthError::UnsupportedAlg
        );
    }
}

#[tokio::test]
async fn rfc8725_s3_1_alg_must_match_the_key() {
    // An EdDSA header on a token whose kid names the ES256 key.
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let good = mock.token();
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[0] = b64(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": mock.key.kid()}));
    assert_eq!(
        bearer(&verifier, &parts.join(".")).await.unwrap_err(),
        AuthError::AlgMismatch
    );
}

#[tokio::test]
async fn rfc9068_s4_kid_not_in_the_jwks_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let stranger = SigningKey::generate(JwsAlg::ES256).unwrap();
    let token = stranger.sign("at+jwt", &mock.claims()).unwrap();
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // No kid at all.
    let header = json!({"alg": "ES256", "typ": "at+jwt"});
    let token = format!("{}.{}.AAAA", b64(&header), b64(&mock.claims()));
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::UnknownKey
    );
}

#[tokio::test]
async fn rfc9068_s4_token_from_another_issuer_is_refused() {
    let ours = MockIssuer::start().await;
    let theirs = MockIssuer::start().await;
    let (verifier, _) = ours.verifier();
    // Another tenant's token: their key, their iss.
    assert_eq!(
        bearer(&verifier, &theirs.token()).await.unwrap_err(),
        AuthError::UnknownKey
    );
    // Our key but another iss (a confused or compromised issuer config).
    let mut c = ours.claims();
    c["iss"] = json!(theirs.issuer);
    let token = ours.key.sign("at+jwt", &c).unwrap();
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::WrongIssuer
    );
}

#[tokio::test]
async fn rfc9068_s4_wrong_aud_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    for aud in [
        json!("https://other.example.com"),
        json!(["a", "b"]),
        json!([]),
    ] {
        let mut c = mock.claims();
        c["aud"] = aud;
        let token = mock.key.sign("at+jwt", &c).unwrap();
        assert_eq!(
            bearer(&verifier, &token).await.unwrap_err(),
            AuthError::WrongAudience
        );
    }
}

#[tokio::test]
async fn rfc9068_s4_expired_token_is_refused_after_the_leeway() {
    let mock = MockIssuer::start().await;
    let (verifier, clock) = mock.verifier();
    let token = mock.token();
    // exp = NOW + 300, leeway 30 s.
    clock.set(NOW + 329);
    assert!(bearer(&verifier, &token).await.is_ok());
    clock.set(NOW + 330);
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::Expired
    );
}

#[tokio::test]
async fn rfc7519_s4_1_5_nbf_in_the_future_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let mut c = mock.claims();
    c["nbf"] = json!(NOW + 31);
    let token = mock.key.sign("at+jwt", &c).unwrap();
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::NotYetValid
    );
    c["nbf"] = json!(NOW + 30);
    let token = mock.key.sign("at+jwt", &c).unwrap();
    assert!(bearer(&verifier, &token).await.is_ok());
    // iat in the future too.
    let mut c = mock.claims();
    c["iat"] = json!(NOW + 120);
    let token = mock.key.sign("at+jwt", &c).unwrap();
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::IssuedInFuture
    );
}

#[tokio::test]
async fn rfc9068_s2_2_missing_required_claims_are_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    for claim in ["exp", "sub", "client_id", "jti", "iat"] {
        let mut c = mock.claims();
        c.as_object_mut().unwrap().remove(claim);
        let token = mock.key.sign("at+jwt", &c).unwrap();
        assert!(
            matches!(bearer(&verifier, &token).await.unwrap_err(), AuthError::MissingClaim(n) if n == claim),
            "{claim}"
        );
    }
}

#[tokio::test]
async fn rfc8725_s3_10_jku_x5u_and_embedded_jwk_headers_are_ignored() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let attacker = SigningKey::generate(JwsAlg::ES256).unwrap();
    let attacker_jwks = format!("http://{}/attacker/jwks.json", mock.addr);
    // The attacker signs with their key and points at it every way JOSE allows.
    let claims = mock.claims();
    for kid in [attacker.kid(), mock.key.kid()] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.into());
        header.jku = Some(attacker_jwks.clone());
        header.x5u = Some(attacker_jwks.clone());
        header.jwk = Some(attacker.public_jwk().clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(attacker.pkcs8_der()),
        )
        .unwrap();
        let err = bearer(&verifier, &token).await.unwrap_err();
        let expected = if kid == attacker.kid() {
            AuthError::UnknownKey
        } else {
            AuthError::BadSignature
        };
        assert_eq!(err, expected, "kid {kid}");
    }
    assert_eq!(mock.state.attacker_fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rfc7515_s4_1_11_unknown_crit_header_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(mock.key.kid().into());
    header.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(
        &header,
        &mock.claims(),
        &jsonwebtoken::EncodingKey::from_ec_der(mock.key.pkcs8_der()),
    )
    .unwrap();
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::CriticalHeader
    );
}

#[tokio::test]
async fn tampered_and_garbage_tokens_are_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let good = mock.token();
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut c = mock.claims();
    c["scope"] = json!("openid read admin");
    parts[1] = b64(&c);
    assert_eq!(
        bearer(&verifier, &parts.join(".")).await.unwrap_err(),
        AuthError::BadSignature
    );
    for garbage in ["abc", "a.b", "a.b.c.d", "e30.e30.e30"] {
        let err = bearer(&verifier, garbage).await.unwrap_err();
        assert!(
            matches!(err, AuthError::Malformed | AuthError::WrongType),
            "{garbage}: {err:?}"
        );
    }
}

// --- JWKS caching and rotation ---

#[tokio::test]
async fn jwks_valid_token_after_key_rotation_is_accepted() {
    let mock = MockIssuer::start().await;
    let clock = Arc::new(holdfast_verify::clock::ManualClock::new(NOW));
    let verifier = mock
        .verifier_builder(Arc::clone(&clock))
        .refetch_interval(Duration::from_secs(10))
        .jwks_max_age(Duration::from_secs(600))
        .build()
        .unwrap();
    assert!(bearer(&verifier, &mock.token()).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 1);

    // The issuer rotates: a new key is published and used.
    let next = SigningKey::generate(JwsAlg::EdDSA).unwrap();
    mock.publish(&[&mock.key, &next]);
    let new_token = next.sign("at+jwt", &mock.claims()).unwrap();
    // Within the refetch interval an unknown kid does not fetch...
    assert_eq!(
        bearer(&verifier, &new_token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(mock.jwks_fetches(), 1);
    // ...after it, the new kid triggers one refetch and verifies.
    clock.advance(11);
    assert!(bearer(&verifier, &new_token).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 2);
    // Old tokens still verify while the old key is published.
    assert!(bearer(&verifier, &mock.token()).await.is_ok());

    // The old key is retired; once the cache is older than max_age, it is
    // refreshed and the old key stops verifying.
    mock.publish(&[&next]);
    clock.advance(601);
    let mut c = mock.claims();
    c["iat"] = json!(NOW + 600);
    c["exp"] = json!(NOW + 900);
    let old_key_token = mock.key.sign("at+jwt", &c).unwrap();
    assert_eq!(
        bearer(&verifier, &old_key_token).await.unwrap_err(),
        AuthError::UnknownKey
    );
    assert_eq!(mock.jwks_fetches(), 3);
}

#[tokio::test]
async fn jwks_refetch_is_rate_limited_for_garbage_kids() {
    let mock = MockIssuer::start().await;
    let (verifier, clock) = mock.verifier();
    verifier.warm_up().await.unwrap();
    assert_eq!(mock.jwks_fetches(), 1);
    clock.advance(3600); // well past the refetch interval (and max age)
    let attacker = SigningKey::generate(JwsAlg::ES256).unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("garbage-{i}")});
        let unsigned = format!("{}.{}", b64(&header), b64(&mock.claims()));
        let sig = jsonwebtoken::crypto::sign(
            unsigned.as_bytes(),
            &jsonwebtoken::EncodingKey::from_ec_der(attacker.pkcs8_der()),
            jsonwebtoken::Algorithm::ES256,
        )
        .unwrap();
        let token = format!("{unsigned}.{sig}");
        let v = verifier.clone();
        tasks.push(tokio::spawn(async move { bearer(&v, &token).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), AuthError::UnknownKey);
    }
    let fetches = mock.jwks_fetches();
    assert!(fetches <= 2, "{fetches} JWKS fetches for 100 garbage kids");
    assert_eq!(verifier.jwks_fetch_count() as usize, fetches);
    // Discovery was fetched once, ever.
    assert_eq!(mock.state.discovery_fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn jwks_concurrent_first_requests_share_one_fetch() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (v, token) = (verifier.clone(), mock.token());
        tasks.push(tokio::spawn(async move { bearer(&v, &token).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(mock.jwks_fetches(), 1);
}

#[tokio::test]
async fn oidc_discovery_s4_3_issuer_mismatch_makes_keys_unavailable() {
    let mock = MockIssuer::start().await;
    *mock.state.advertised_issuer.write().unwrap() = Some("https://evil.example.com".into());
    let (verifier, _) = mock.verifier();
    assert_eq!(verifier.warm_up().await, Err(AuthError::KeysUnavailable));
    let rejection = get(
        &verifier,
        "/api/x",
        &headers(&format!("Bearer {}", mock.token()), None),
    )
    .await
    .unwrap_err();
    assert_eq!(rejection.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(mock.jwks_fetches(), 0);
}

// --- DPoP (RFC 9449) ---

#[tokio::test]
async fn rfc9449_s7_1_dpop_bound_token_with_a_valid_proof_is_accepted() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    for alg in [DpopAlg::ES256, DpopAlg::EdDSA, DpopAlg::Ed25519] {
        let key = DpopKey::generate(alg).unwrap();
        let token = mock.bound_token(&key);
        let p = proof(&key, "GET", "/api/x", &token);
        let ok = dpop(&verifier, &token, Some(&p)).await.unwrap();
        assert_eq!(ok.scheme(), Scheme::DPoP);
        assert_eq!(ok.dpop_proof().unwrap().jkt, key.jkt());
    }
}

#[tokio::test]
async fn rfc9449_s7_2_dpop_bound_token_presented_as_bearer_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let p = proof(&key, "GET", "/api/x", &token);
    for with_proof in [None, Some(p.as_str())] {
        let r = get(
            &verifier,
            "/api/x",
            &headers(&format!("Bearer {token}"), with_proof),
        )
        .await
        .unwrap_err();
        assert_eq!(r.error(), &AuthError::DpopBoundTokenAsBearer);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = &r.www_authenticate()[0];
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // verify_bearer refuses it too.
    assert_eq!(
        verifier.verify_bearer(&token).await.unwrap_err(),
        AuthError::DpopBoundTokenAsBearer
    );
}

#[tokio::test]
async fn rfc9449_s7_2_bearer_token_with_a_dpop_proof_is_accepted_as_bearer() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.token();
    let p = proof(&key, "GET", "/api/x", &token);
    let ok = get(
        &verifier,
        "/api/x",
        &headers(&format!("Bearer {token}"), Some(&p)),
    )
    .await
    .unwrap();
    assert_eq!(ok.scheme(), Scheme::Bearer);
    assert!(ok.dpop_proof().is_none());
}

#[tokio::test]
async fn rfc9449_s7_1_unbound_token_with_the_dpop_scheme_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.token();
    let p = proof(&key, "GET", "/api/x", &token);
    let r = dpop(&verifier, &token, Some(&p)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::UnboundTokenAsDpop);
    assert!(r.www_authenticate()[0].starts_with("Bearer "));
}

#[tokio::test]
async fn rfc9449_s4_3_proof_for_another_url_or_method_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let other_path = proof(&key, "GET", "/api/other", &token);
    let r = dpop(&verifier, &token, Some(&other_path))
        .await
        .unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::UriMismatch));
    let other_host = key
        .proof(&ProofClaims::new("GET", "https://evil.example.com/api/x", NOW).access_token(&token))
        .unwrap();
    let r = dpop(&verifier, &token, Some(&other_host))
        .await
        .unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::UriMismatch));
    let post = proof(&key, "POST", "/api/x", &token);
    let r = dpop(&verifier, &token, Some(&post)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::MethodMismatch));
    let challenge = &r.www_authenticate()[0];
    assert!(
        challenge.starts_with(
            "DPoP realm=\"api\", algs=\"ES256 EdDSA Ed25519 RS256 PS256\", error=\"invalid_dpop_proof\""
        ),
        "{challenge}"
    );
    // The query string of the request does not matter.
    let p = proof(&key, "GET", "/api/x", &token);
    assert!(
        get(
            &verifier,
            "/api/x?page=2",
            &headers(&format!("DPoP {token}"), Some(&p))
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn rfc9449_s11_1_replayed_proof_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let p = proof(&key, "GET", "/api/x", &token);
    assert!(dpop(&verifier, &token, Some(&p)).await.is_ok());
    let r = dpop(&verifier, &token, Some(&p)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopReplay);
    // A fresh proof works.
    let fresh = proof(&key, "GET", "/api/x", &token);
    assert!(dpop(&verifier, &token, Some(&fresh)).await.is_ok());
}

#[tokio::test]
async fn rfc9449_s4_3_proof_by_another_key_than_the_bound_one_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let thief = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let p = proof(&thief, "GET", "/api/x", &token);
    let r = dpop(&verifier, &token, Some(&p)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::KeyMismatch));
}

#[tokio::test]
async fn rfc9449_s4_3_proof_without_ath_or_for_another_token_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let without_ath = key
        .proof(&ProofClaims::new("GET", &format!("{RS_BASE}/api/x"), NOW))
        .unwrap();
    let r = dpop(&verifier, &token, Some(&without_ath))
        .await
        .unwrap_err();
    assert_eq!(
        r.error(),
        &AuthError::DpopProof(DpopError::MissingClaim("ath"))
    );
    let other_token = mock.bound_token(&key);
    let for_other = proof(&key, "GET", "/api/x", &other_token);
    let r = dpop(&verifier, &token, Some(&for_other)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::AthMismatch));
}

#[tokio::test]
async fn rfc9449_s4_3_missing_or_duplicate_proof_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let r = dpop(&verifier, &token, None).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::MissingDpopProof);
    let mut h = headers(
        &format!("DPoP {token}"),
        Some(&proof(&key, "GET", "/api/x", &token)),
    );
    h.append(
        "dpop",
        proof(&key, "GET", "/api/x", &token).parse().unwrap(),
    );
    let r = get(&verifier, "/api/x", &h).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::MultipleDpopProofs);
}

#[tokio::test]
async fn rfc9449_s4_3_stale_proof_is_refused() {
    let mock = MockIssuer::start().await;
    let (verifier, clock) = mock.verifier();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let p = proof(&key, "GET", "/api/x", &token);
    clock.advance(61);
    let r = dpop(&verifier, &token, Some(&p)).await.unwrap_err();
    assert_eq!(r.error(), &AuthError::DpopProof(DpopError::IatOutOfWindow));
}

#[tokio::test]
async fn rfc9449_s9_resource_server_nonce_is_required_when_configured() {
    let mock = MockIssuer::start().await;
    let clock = Arc::new(holdfast_verify::clock::ManualClock::new(NOW));
    let nonces = Arc::new(HmacNonces::new(&[9; 32], Duration::from_secs(300)));
    let verifier = mock
        .verifier_builder(Arc::clone(&clock))
        .dpop_nonces(nonces.clone())
        .build()
        .unwrap();
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let token = mock.bound_token(&key);
    let p = proof(&key, "GET", "/api/x", &token);
    let r = dpop(&verifier, &token, Some(&p)).await.unwrap_err();
    assert_eq!(
        r.error(),
        &AuthError::DpopProof(DpopError::UseNonce(NonceProblem::Missing))
    );
    assert!(r.www_authenticate()[0].contains("error=\"use_dpop_nonce\""));
    let nonce = r
        .headers()
        .into_iter()
        .find(|(n, _)| n.as_str() == "dpop-nonce")
        .map(|(_, v)| v.to_str().unwrap().to_owned())
        .expect("DPoP-Nonce header");
    let with_nonce = key
        .proof(
            &ProofClaims::new("GET", &format!("{RS_BASE}/api/x"), NOW)
                .access_token(&token)
                .nonce(&nonce),
        )
        .unwrap();
    let ok = dpop(&verifier, &token, Some(&with_nonce)).await.unwrap();
    assert_eq!(ok.dpop_proof().unwrap().nonce.as_deref(), Some(&*nonce));
    assert!(ok.next_dpop_nonce().is_some());
}

// --- Step-up (RFC 9470) and scope (RFC 6750 §3.1) ---

#[tokio::test]
async fn rfc9470_s3_step_up_challenge_header_format() {
    let mock = MockIssuer::start().await;
    let (verifier, clock) = mock.verifier();
    // auth_time = NOW - 60.
    let ok = bearer(&verifier, &mock.token()).await.unwrap();
    let rule = StepUp::max_age(Duration::from_secs(300));
    assert!(ok.require_step_up(&rule).is_ok());
    clock.advance(241);
    let ok = bearer(&verifier, &mock.token()).await.unwrap();
    let r = ok.require_step_up(&rule).unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.www_authenticate(),
        vec![
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"a more recent authentication is required\", max_age=\"300\""
                .to_owned()
        ]
    );
    let rule = StepUp::acr(["urn:holdfast:mfa", "phr"]);
    let r = ok.require_step_up(&rule).unwrap_err();
    assert_eq!(
        r.www_authenticate()[0],
        "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
         error_description=\"a stronger authentication is required\", acr_values=\"urn:holdfast:mfa phr\""
    );

    // For DPoP-bound tokens the challenge uses the DPoP scheme.
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let mut c = mock.claims();
    c["cnf"] = json!({"jkt": key.jkt()});
    c["auth_time"] = json!(NOW - 3600);
    c["iat"] = json!(NOW + 241);
    c["exp"] = json!(NOW + 541);
    let token = mock.key.sign("at+jwt", &c).unwrap();
    let p = key
        .proof(
            &ProofClaims::new("GET", &format!("{RS_BASE}/api/x"), NOW + 241).access_token(&token),
        )
        .unwrap();
    let ok = dpop(&verifier, &token, Some(&p)).await.unwrap();
    let r = ok
        .require_step_up(&StepUp::max_age(Duration::from_secs(300)))
        .unwrap_err();
    assert!(
        r.www_authenticate()[0].starts_with(
            "DPoP realm=\"api\", algs=\"ES256 EdDSA Ed25519 RS256 PS256\", error=\"insufficient_user_authentication\""
        ),
        "{:?}",
        r.www_authenticate()
    );
}

#[tokio::test]
async fn rfc6750_s3_1_insufficient_scope_is_403_naming_the_scope() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let ok = bearer(&verifier, &mock.token()).await.unwrap();
    assert!(ok.require_scopes(&["read"]).is_ok());
    let r = ok.require_scopes(&["read", "admin"]).unwrap_err();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.www_authenticate(),
        vec![
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"the access token lacks a required scope\", scope=\"read admin\""
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn rfc6750_s3_1_request_without_token_gets_both_challenges_without_error() {
    let mock = MockIssuer::start().await;
    let (verifier, _) = mock.verifier();
    let r = get(&verifier, "/api/x", &axum::http::HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.www_authenticate(),
        vec![
            "Bearer realm=\"api\"".to_owned(),
            "DPoP realm=\"api\", algs=\"ES256 EdDSA Ed25519 RS256 PS256\"".to_owned()
        ]
    );
}

// --- Revocation (RFC 7662) ---

#[tokio::test]
async fn rfc7662_revoked_token_is_refused_through_introspection_with_a_short_cache() {
    let mock = MockIssuer::start().await;
    let clock = Arc::new(holdfast_verify::clock::ManualClock::new(NOW));
    let verifier = mock
        .verifier_builder(Arc::clone(&clock))
        .introspection(
            RS_CLIENT.0,
            SecretString::new(RS_CLIENT.1),
            Duration::from_secs(10),
        )
        .build()
        .unwrap();
    let token = mock.token();
    assert!(bearer(&verifier, &token).await.is_ok());
    assert!(bearer(&verifier, &token).await.is_ok());
    assert_eq!(mock.state.introspections.load(Ordering::SeqCst), 1);
    mock.state.revoked.lock().unwrap().insert(token.clone());
    // Cached for 10 s...
    assert!(bearer(&verifier, &token).await.is_ok());
    // ...then asked again.
    clock.advance(10);
    assert_eq!(
        bearer(&verifier, &token).await.unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(mock.state.introspections.load(Ordering::SeqCst), 2);
    // Forged tokens never reach introspection.
    let stranger = SigningKey::generate(JwsAlg::ES256).unwrap();
    let forged = stranger.sign("at+jwt", &mock.claims()).unwrap();
    assert!(bearer(&verifier, &forged).await.is_err());
    assert_eq!(mock.state.introspections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rfc7662_unreachable_introspection_fails_closed_unless_configured_open() {
    let mock = MockIssuer::start().await;
    for (fail_open, expected_ok) in [(false, false), (true, true)] {
        let clock = Arc::new(holdfast_verify::clock::ManualClock::new(NOW));
        let verifier = mock
            .verifier_builder(clock)
            // Wrong credentials: the mock answers 401.
            .introspection("rs", SecretString::new("wrong"), Duration::from_secs(10))
            .revocation_fail_open(fail_open)
            .build()
            .unwrap();
        let result = bearer(&verifier, &mock.token()).await;
        if expected_ok {
            assert!(result.is_ok());
        } else {
            assert_eq!(result.unwrap_err(), AuthError::RevocationUnavailable);
        }
    }
}
