//! DPoP at the token endpoint (RFC 9449): proofs checked per §4.3, server
//! nonces per §8, binding per §5/§6 (`cnf.jkt`, `token_type: DPoP`, bound
//! refresh families for public clients), pre-binding per §10, replay per
//! §11.1, on both back ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    rfc9449_s5_s6_proof_binds_the_access_token_with_cnf_jkt,
    rfc9449_s8_public_clients_must_use_the_server_nonce,
    rfc9449_s8_nonce_of_the_previous_slot_is_accepted_older_is_not,
    rfc9449_s5_bound_refresh_family_needs_a_proof_by_its_key,
    rfc9449_s11_1_a_replayed_proof_is_refused,
    rfc9449_s11_1_a_replayed_proof_at_code_exchange_changes_nothing_and_a_refused_one_is_spent,
    rfc9449_s11_1_a_refresh_proof_replayed_is_refused_and_the_family_keeps_working,
    rfc9449_s4_3_each_check_yields_invalid_dpop_proof,
    rfc9449_s10_a_code_pre_bound_with_dpop_jkt_needs_that_key,
    rfc9449_dpop_required_client_cannot_get_unbound_tokens,
    rfc9449_confidential_client_gets_bound_access_token_and_unbound_refresh,
    rfc9449_s7_holdfast_apis_need_the_dpop_scheme_and_a_proof_with_ath,
);

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fx {
    issuer: String,
    tenant_id: String,
}

async fn fixture(server: &TestServer, client: NewClient) -> (Fx, Option<String>) {
    let tenant = server.tenant("acme").await;
    let (_, secret) = server.client(&tenant, client).await;
    server.user(&tenant, "alice", "correct horse battery").await;
    (
        Fx {
            issuer: server.issuer("acme"),
            tenant_id: tenant.id,
        },
        secret.map(|s| s.expose().to_owned()),
    )
}

fn spa() -> NewClient {
    NewClient::new("spa", ClientKind::Public)
}

async fn code(server: &TestServer, fx: &Fx, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("client_id", "spa"),
        ("username", "alice"),
        ("password", "correct horse battery"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("scope", "openid"),
    ];
    form.extend_from_slice(extra);
    let r = server
        .http()
        .post(format!("{}/authorize-challenge", fx.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["authorization_code"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Reply {
    status: StatusCode,
    nonce: Option<String>,
    body: Value,
}

async fn token(server: &TestServer, fx: &Fx, form: &[(&str, &str)], proofs: &[String]) -> Reply {
    let mut request = server
        .http()
        .post(format!("{}/token", fx.issuer))
        .form(form);
    for proof in proofs {
        request = request.header("DPoP", proof);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let nonce = r
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    Reply {
        status,
        nonce,
        body: r.json().await.unwrap(),
    }
}

/// Exchanges `code` with `verifier` and the one DPoP proof `p`.
async fn redeem(server: &TestServer, fx: &Fx, code: &str, verifier: &str, p: String) -> Reply {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", "spa"),
        ("code_verifier", verifier),
    ];
    token(server, fx, &form, &[p]).await
}

fn proof(server: &TestServer, fx: &Fx, key: &DpopKey, nonce: Option<&str>) -> String {
    let mut claims = ProofClaims::new("POST", &format!("{}/token", fx.issuer), server.state.now());
    if let Some(n) = nonce {
        claims = claims.nonce(n);
    }
    key.proof(&claims).unwrap()
}

/// Gets a nonce the way a client does: a first proof without one is
/// answered `use_dpop_nonce` with a `DPoP-Nonce` header.
async fn nonce(server: &TestServer, fx: &Fx, key: &DpopKey) -> String {
    let reply = token(
        server,
        fx,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "spa"),
        ],
        &[proof(server, fx, key, None)],
    )
    .await;
    assert_eq!(reply.body["error"], "use_dpop_nonce", "{}", reply.body);
    reply.nonce.expect("DPoP-Nonce header")
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn bound_login(server: &TestServer, fx: &Fx, key: &DpopKey) -> Value {
    let code = code(server, fx, &[]).await;
    let n = nonce(server, fx, key).await;
    let reply = token(
        server,
        fx,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        &[proof(server, fx, key, Some(&n))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn rfc9449_s5_s6_proof_binds_the_access_token_with_cnf_jkt(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    for alg in [DpopAlg::ES256, DpopAlg::EdDSA] {
        let key = DpopKey::generate(alg).unwrap();
        let body = bound_login(&server, &fx, &key).await;
        assert_eq!(body["token_type"], "DPoP");
        let at = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(at["cnf"]["jkt"], key.jkt(), "{alg:?}");
    }
    // The discovery document says which algorithms proofs may use.
    let doc: Value = server
        .http()
        .get(format!("{}/.well-known/openid-configuration", fx.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&Value::from("ES256")) && algs.contains(&Value::from("EdDSA")));
}

async fn rfc9449_s8_public_clients_must_use_the_server_nonce(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let code = code(&server, &fx, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let first = token(&server, &fx, &form, &[proof(&server, &fx, &key, None)]).await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    assert_eq!(first.body["error"], "use_dpop_nonce");
    let nonce = first.nonce.expect("a DPoP-Nonce header on the error");
    let forged = token(
        &server,
        &fx,
        &form,
        &[proof(&server, &fx, &key, Some("0.forged"))],
    )
    .await;
    assert_eq!(forged.body["error"], "use_dpop_nonce");
    // The refused attempts did not consume the code.
    let ok = token(
        &server,
        &fx,
        &form,
        &[proof(&server, &fx, &key, Some(&nonce))],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.nonce.is_some(), "every token response offers a nonce");
}

async fn rfc9449_s8_nonce_of_the_previous_slot_is_accepted_older_is_not(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let n = nonce(&server, &fx, &key).await;
    server.clock.advance(60);
    let code1 = code(&server, &fx, &[]).await;
    let previous = token(
        &server,
        &fx,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code1),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        &[proof(&server, &fx, &key, Some(&n))],
    )
    .await;
    assert_eq!(
        previous.status,
        StatusCode::OK,
        "previous slot: {}",
        previous.body
    );
    server.clock.advance(60);
    let code2 = code(&server, &fx, &[]).await;
    let older = token(
        &server,
        &fx,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code2),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        &[proof(&server, &fx, &key, Some(&n))],
    )
    .await;
    assert_eq!(
        older.body["error"], "use_dpop_nonce",
        "two slots back: {}",
        older.body
    );
}

async fn rfc9449_s5_bound_refresh_family_needs_a_proof_by_its_key(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let body = bound_login(&server, &fx, &key).await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "spa"),
    ];

    // A thief with the refresh token but not the key: no proof, or a proof by another key.
    let no_proof = token(&server, &fx, &form, &[]).await;
    assert_eq!(no_proof.body["error"], "invalid_grant", "{}", no_proof.body);
    let thief = DpopKey::generate(DpopAlg::ES256).unwrap();
    let n = nonce(&server, &fx, &thief).await;
    let wrong_key = token(
        &server,
        &fx,
        &form,
        &[proof(&server, &fx, &thief, Some(&n))],
    )
    .await;
    assert_eq!(
        wrong_key.body["error"], "invalid_grant",
        "{}",
        wrong_key.body
    );

    // Not reuse: the family survives and the key holder refreshes.
    let n = nonce(&server, &fx, &key).await;
    let ok = token(&server, &fx, &form, &[proof(&server, &fx, &key, Some(&n))]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["token_type"], "DPoP");
    let events = server
        .state
        .store
        .events(&fx.tenant_id, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "refresh_dpop_key_mismatch")
            .count(),
        2
    );
    assert!(events.iter().all(|e| e.kind != "refresh_token_reuse"));
}

async fn rfc9449_s11_1_a_replayed_proof_is_refused(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let n = nonce(&server, &fx, &key).await;
    let p = proof(&server, &fx, &key, Some(&n));
    let code1 = code(&server, &fx, &[]).await;
    let form1 = [
        ("grant_type", "authorization_code"),
        ("code", code1.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(
        token(&server, &fx, &form1, std::slice::from_ref(&p))
            .await
            .status,
        StatusCode::OK
    );
    let code2 = code(&server, &fx, &[]).await;
    let form2 = [
        ("grant_type", "authorization_code"),
        ("code", code2.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let replay = token(&server, &fx, &form2, &[p]).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.body["error"], "invalid_dpop_proof");
}

async fn rfc9449_s11_1_a_replayed_proof_at_code_exchange_changes_nothing_and_a_refused_one_is_spent(
    server: TestServer,
) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let n = nonce(&server, &fx, &key).await;
    // The whole request again (same code, same proof): refused as a proof
    // replay, and the code's tokens are not revoked for it.
    let code1 = code(&server, &fx, &[]).await;
    let p1 = proof(&server, &fx, &key, Some(&n));
    let first = redeem(&server, &fx, &code1, VERIFIER, p1.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = redeem(&server, &fx, &code1, VERIFIER, p1).await;
    assert_eq!(again.body["error"], "invalid_dpop_proof", "{}", again.body);
    let rt = first.body["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = token(
        &server,
        &fx,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "spa"),
        ],
        &[proof(&server, &fx, &key, Some(&n))],
    )
    .await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "the family lives: {}",
        refreshed.body
    );

    // A refused exchange (wrong verifier) spends its proof all the same ...
    let code2 = code(&server, &fx, &[]).await;
    let p2 = proof(&server, &fx, &key, Some(&n));
    let wrong = redeem(
        &server,
        &fx,
        &code2,
        "a-wrong-verifier-that-is-long-enough-43-chars",
        p2.clone(),
    )
    .await;
    assert_eq!(wrong.body["error"], "invalid_grant", "{}", wrong.body);
    let replayed = redeem(&server, &fx, &code2, VERIFIER, p2).await;
    assert_eq!(
        replayed.body["error"], "invalid_dpop_proof",
        "{}",
        replayed.body
    );
    // ... and neither refusal consumed the code.
    let fresh = redeem(
        &server,
        &fx,
        &code2,
        VERIFIER,
        proof(&server, &fx, &key, Some(&n)),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
}

async fn rfc9449_s11_1_a_refresh_proof_replayed_is_refused_and_the_family_keeps_working(
    server: TestServer,
) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let first = bound_login(&server, &fx, &key).await;
    let n = nonce(&server, &fx, &key).await;
    let p = proof(&server, &fx, &key, Some(&n));
    let first_rt = first["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first_rt.as_str()),
        ("client_id", "spa"),
    ];
    let rotated = token(&server, &fx, &form, std::slice::from_ref(&p)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let child = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    // The same proof with the child: a replay, refused before the family
    // is touched.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", child.as_str()),
        ("client_id", "spa"),
    ];
    let replay = token(&server, &fx, &form, std::slice::from_ref(&p)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        replay.body["error"], "invalid_dpop_proof",
        "{}",
        replay.body
    );
    // ... and at another grant: the refresh's record is the shared one.
    let other_code = code(&server, &fx, &[]).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", other_code.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let replay = token(&server, &fx, &exchange, std::slice::from_ref(&p)).await;
    assert_eq!(
        replay.body["error"], "invalid_dpop_proof",
        "{}",
        replay.body
    );
    // The child still rotates with a fresh proof: nothing was spent.
    let fresh = proof(&server, &fx, &key, Some(&n));
    let next = token(&server, &fx, &form, &[fresh]).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let events = server
        .state
        .store
        .events(&fx.tenant_id, 0, 100)
        .await
        .unwrap();
    assert!(events.iter().all(|e| e.kind != "refresh_token_reuse"));
}

async fn rfc9449_s4_3_each_check_yields_invalid_dpop_proof(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let n = nonce(&server, &fx, &key).await;
    let now = server.state.now();
    let url = format!("{}/token", fx.issuer);
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "wrong htm",
            vec![
                key.proof(&ProofClaims::new("GET", &url, now).nonce(&n))
                    .unwrap(),
            ],
        ),
        (
            "wrong htu",
            vec![
                key.proof(&ProofClaims::new("POST", "https://evil.example/token", now).nonce(&n))
                    .unwrap(),
            ],
        ),
        (
            "iat too old",
            vec![
                key.proof(&ProofClaims::new("POST", &url, now - 600).nonce(&n))
                    .unwrap(),
            ],
        ),
        (
            "iat in the future",
            vec![
                key.proof(&ProofClaims::new("POST", &url, now + 600).nonce(&n))
                    .unwrap(),
            ],
        ),
        ("not a JWT", vec!["not-a-jwt".to_owned()]),
        (
            "wrong typ",
            vec![
                key.sign(
                    "JWT",
                    &ProofClaims::new("POST", &url, now).nonce(&n).to_json(),
                )
                .unwrap(),
            ],
        ),
        (
            "two DPoP headers",
            vec![
                key.proof(&ProofClaims::new("POST", &url, now).nonce(&n))
                    .unwrap(),
                key.proof(&ProofClaims::new("POST", &url, now).nonce(&n))
                    .unwrap(),
            ],
        ),
    ];
    for (what, proofs) in cases {
        let code = code(&server, &fx, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ];
        let reply = token(&server, &fx, &form, &proofs).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(
            reply.body["error"], "invalid_dpop_proof",
            "{what}: {}",
            reply.body
        );
    }
}

async fn rfc9449_s10_a_code_pre_bound_with_dpop_jkt_needs_that_key(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let other = DpopKey::generate(DpopAlg::ES256).unwrap();
    let code = code(&server, &fx, &[("dpop_jkt", key.jkt())]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let n = nonce(&server, &fx, &other).await;
    let wrong = token(
        &server,
        &fx,
        &form,
        &[proof(&server, &fx, &other, Some(&n))],
    )
    .await;
    assert_eq!(wrong.body["error"], "invalid_dpop_proof", "{}", wrong.body);
    let unbound = token(&server, &fx, &form, &[]).await;
    assert_eq!(
        unbound.body["error"], "invalid_dpop_proof",
        "{}",
        unbound.body
    );
    let n = nonce(&server, &fx, &key).await;
    let right = token(&server, &fx, &form, &[proof(&server, &fx, &key, Some(&n))]).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
}

async fn rfc9449_dpop_required_client_cannot_get_unbound_tokens(server: TestServer) {
    let mut client = spa();
    client.dpop_required = true;
    let (fx, _) = fixture(&server, client).await;
    let code = code(&server, &fx, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let reply = token(&server, &fx, &form, &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], "invalid_dpop_proof");
}

async fn rfc9449_confidential_client_gets_bound_access_token_and_unbound_refresh(
    server: TestServer,
) {
    let mut client = NewClient::new("svc", ClientKind::Confidential);
    client.grant_types = vec![GrantType::ClientCredentials];
    client.scopes = vec!["read:items".into()];
    let (fx, secret) = fixture(&server, client).await;
    let key = DpopKey::generate(DpopAlg::EdDSA).unwrap();
    // Confidential clients need no nonce by default.
    let r = server
        .http()
        .post(format!("{}/token", fx.issuer))
        .basic_auth("svc", secret)
        .header("DPoP", proof(&server, &fx, &key, None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );
}

async fn rfc9449_s7_holdfast_apis_need_the_dpop_scheme_and_a_proof_with_ath(server: TestServer) {
    let (fx, _) = fixture(&server, spa()).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let body = bound_login(&server, &fx, &key).await;
    let at = body["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/userinfo", fx.issuer);
    let now = server.state.now();
    let call = |scheme: &'static str, proofs: Vec<String>| {
        let (server, url, at) = (&server, url.clone(), at.clone());
        async move {
            let mut r = server
                .http()
                .get(&url)
                .header("Authorization", format!("{scheme} {at}"));
            for p in proofs {
                r = r.header("DPoP", p);
            }
            let r = r.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status(), challenge, r.text().await.unwrap())
        }
    };
    // §7.2: a bound token presented as Bearer is refused, with a DPoP challenge.
    let (status, challenge, _) = call("Bearer", vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().starts_with("DPoP "));
    // DPoP scheme without a proof, and a proof without ath.
    assert_eq!(call("DPoP", vec![]).await.0, StatusCode::UNAUTHORIZED);
    let no_ath = key.proof(&ProofClaims::new("GET", &url, now)).unwrap();
    assert_eq!(call("DPoP", vec![no_ath]).await.0, StatusCode::UNAUTHORIZED);
    // A proof by another key.
    let other = DpopKey::generate(DpopAlg::ES256).unwrap();
    let stolen = other
        .proof(&ProofClaims::new("GET", &url, now).access_token(&at))
        .unwrap();
    assert_eq!(call("DPoP", vec![stolen]).await.0, StatusCode::UNAUTHORIZED);
    // The right proof works once; its replay is refused.
    let good = key
        .proof(&ProofClaims::new("GET", &url, now).access_token(&at))
        .unwrap();
    let (status, _, text) = call("DPoP", vec![good.clone()]).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(call("DPoP", vec![good]).await.0, StatusCode::UNAUTHORIZED);
    // The sessions API takes the same scheme.
    let sessions_url = format!("{}/sessions", fx.issuer);
    let proof = key
        .proof(&ProofClaims::new("GET", &sessions_url, now).access_token(&at))
        .unwrap();
    let r = server
        .http()
        .get(&sessions_url)
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
