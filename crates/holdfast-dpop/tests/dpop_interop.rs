//! DPoP proofs made by a third-party client library are accepted, and
//! tampered or replayed-elsewhere ones refused (RFC 9449 §4.3).
//!
//! `fixtures/dpop_panva.json` holds proofs made by panva's `dpop` npm
//! package (2.x, Node WebCrypto) with ES256, Ed25519 (sent as `alg:
//! Ed25519`, RFC 9864), RS256 and PS256 keys; regenerate it with
//! `fixtures/dpop_panva_gen.mjs`. The checks run at each proof's own `iat`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_dpop::{DpopError, DpopPolicy, NonceCheck, NonceProblem, ProofContext, verify_proof};
use serde_json::Value;
use url::Url;

const FIXTURE: &str = include_str!("fixtures/dpop_panva.json");

fn iat_of(proof: &str) -> i64 {
    let payload = proof.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["iat"].as_i64().unwrap()
}

fn proofs() -> Vec<Value> {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    fixture["proofs"].as_array().unwrap().clone()
}

fn at_resource(
    proof: &str,
    uri: &str,
    token: &str,
    nonce: Option<NonceCheck<'_>>,
) -> Result<holdfast_dpop::DpopProof, DpopError> {
    let uri = Url::parse(uri).unwrap();
    let ctx = ProofContext {
        method: "GET",
        uri: &uri,
        now: iat_of(proof),
        access_token: Some(token),
        bound_jkt: None,
        nonce,
    };
    verify_proof(proof, &ctx, &DpopPolicy::default())
}

#[test]
fn rfc9449_s4_3_third_party_proofs_of_every_key_type_are_accepted() {
    let accept: NonceCheck<'_> = &|n: &str| n == "the-nonce";
    for p in proofs() {
        let alg = p["alg"].as_str().unwrap();
        let jkt = p["jkt"].as_str().unwrap();
        let resource = p["resource"].as_str().unwrap();
        let ok = at_resource(
            resource,
            "https://api.example.com/resource",
            "the-access-token",
            Some(accept),
        )
        .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        // Our RFC 7638 thumbprint equals the library's.
        assert_eq!(ok.jkt, jkt, "{alg}");
        assert_eq!(ok.nonce.as_deref(), Some("the-nonce"));

        let token = p["token"].as_str().unwrap();
        let uri = Url::parse("https://as.example.com/t/acme/token").unwrap();
        let ctx = ProofContext {
            method: "POST",
            uri: &uri,
            now: iat_of(token),
            access_token: None,
            bound_jkt: Some(jkt),
            nonce: None,
        };
        let ok = verify_proof(token, &ctx, &DpopPolicy::default())
            .unwrap_or_else(|e| panic!("{alg} token endpoint: {e:?}"));
        assert_eq!(ok.jkt, jkt);
    }
}

#[test]
fn rfc9449_s4_3_third_party_proofs_are_refused_when_wrong_for_the_request() {
    let accept: NonceCheck<'_> = &|n: &str| n == "the-nonce";
    let refuse: NonceCheck<'_> = &|_: &str| false;
    for p in proofs() {
        let alg = p["alg"].as_str().unwrap();
        let resource = p["resource"].as_str().unwrap();
        let at = |uri: &str, token: &str, nonce| at_resource(resource, uri, token, nonce);
        assert_eq!(
            at("https://api.example.com/other", "the-access-token", None),
            Err(DpopError::UriMismatch),
            "{alg}"
        );
        assert_eq!(
            at("https://api.example.com/resource", "another-token", None),
            Err(DpopError::AthMismatch),
            "{alg}"
        );
        assert_eq!(
            at(
                "https://api.example.com/resource",
                "the-access-token",
                Some(refuse)
            ),
            Err(DpopError::UseNonce(NonceProblem::Invalid)),
            "{alg}"
        );
        // One changed claim breaks the signature.
        let mut parts: Vec<String> = resource.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["htm"] = Value::from("POST");
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert_eq!(
            at_resource(
                &parts.join("."),
                "https://api.example.com/resource",
                "the-access-token",
                Some(accept)
            ),
            Err(DpopError::BadSignature),
            "{alg}"
        );
        // Too late.
        let uri = Url::parse("https://api.example.com/resource").unwrap();
        let ctx = ProofContext {
            method: "GET",
            uri: &uri,
            now: iat_of(resource) + 61,
            access_token: Some("the-access-token"),
            bound_jkt: None,
            nonce: None,
        };
        assert_eq!(
            verify_proof(resource, &ctx, &DpopPolicy::default()),
            Err(DpopError::IatOutOfWindow),
            "{alg}"
        );
    }
}
