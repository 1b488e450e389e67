//! Tests of the proof checker ([`super::verify_proof`]), one per RFC 9449
//! §4.3 step, with proofs made by [`crate::client`] and by hand (RSA keys,
//! broken headers). In their own file to keep `proof.rs` readable.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair, RsaPublicKeyComponents,
};
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::client::{DpopKey, ProofClaims};

const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://api.example.com/resource";
const AT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig";

fn uri() -> Url {
    Url::parse(HTU).unwrap()
}

/// What a test sets beyond method, URI and time.
#[derive(Default)]
struct Extra<'a> {
    access_token: Option<&'a str>,
    bound_jkt: Option<&'a str>,
    nonce: Option<NonceCheck<'a>>,
}

fn check(proof: &str) -> Result<DpopProof, DpopError> {
    check_with(proof, Extra::default())
}

fn check_with(proof: &str, extra: Extra<'_>) -> Result<DpopProof, DpopError> {
    let u = uri();
    let ctx = ProofContext {
        method: "GET",
        uri: &u,
        now: NOW,
        access_token: extra.access_token,
        bound_jkt: extra.bound_jkt,
        nonce: extra.nonce,
    };
    verify_proof(proof, &ctx, &DpopPolicy::default())
}

fn es256() -> DpopKey {
    DpopKey::generate(DpopAlg::ES256).unwrap()
}

fn claims() -> ProofClaims {
    ProofClaims::new("GET", HTU, NOW)
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A JWS with a hand-made header and a given (usually bogus) signature.
fn hand_made(header: &Value, claims: &Value, sig: &str) -> String {
    format!("{}.{}.{sig}", b64(header), b64(claims))
}

struct RsaDpopKey {
    pair: RsaKeyPair,
    jwk: Value,
}

impl RsaDpopKey {
    fn generate() -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let comps = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&comps.n),
            "e": URL_SAFE_NO_PAD.encode(&comps.e),
        });
        Self { pair, jwk }
    }

    fn proof(&self, alg: &str, claims: &Value) -> String {
        let padding: &'static dyn RsaEncoding = match alg {
            "RS256" => &RSA_PKCS1_SHA256,
            _ => &RSA_PSS_SHA256,
        };
        let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": self.jwk});
        let input = format!("{}.{}", b64(&header), b64(claims));
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

// --- Proofs of every supported key kind are accepted ---

#[test]
fn rfc9449_s4_3_es256_proof_is_accepted_and_bound_to_the_key_thumbprint() {
    let key = es256();
    let proof = key.proof(&claims().jti("j1")).unwrap();
    let ok = check(&proof).unwrap();
    assert_eq!(ok.jkt, key.jkt());
    assert_eq!(ok.jkt, jwk_thumbprint(key.jwk()).unwrap());
    assert_eq!(ok.jti, "j1");
    assert_eq!(ok.iat, NOW);
    assert_eq!(ok.htm, "GET");
    assert_eq!(ok.htu, HTU);
    assert_eq!(ok.nonce, None);
}

#[test]
fn rfc9449_s4_3_eddsa_proof_is_accepted() {
    let key = DpopKey::generate(DpopAlg::EdDSA).unwrap();
    let ok = check(&key.proof(&claims()).unwrap()).unwrap();
    assert_eq!(ok.jkt, key.jkt());
}

#[test]
fn rfc9864_ed25519_alg_name_is_accepted_like_eddsa() {
    let key = DpopKey::generate(DpopAlg::Ed25519).unwrap();
    let proof = key.proof(&claims()).unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(proof.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "Ed25519");
    // The jwk says "EdDSA" (jsonwebtoken's name); same algorithm.
    assert_eq!(header["jwk"]["alg"], "EdDSA");
    assert_eq!(check(&proof).unwrap().jkt, key.jkt());
    // The same key's jkt does not depend on the alg name.
    let again = DpopKey::from_pkcs8(DpopAlg::EdDSA, key.pkcs8_der()).unwrap();
    assert_eq!(again.jkt(), key.jkt());
}

#[test]
fn rfc9449_s4_3_rs256_and_ps256_proofs_are_accepted() {
    let key = RsaDpopKey::generate();
    let expected_jkt = {
        let jwk: Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
        jwk_thumbprint(&jwk).unwrap()
    };
    for alg in ["RS256", "PS256"] {
        let proof = key.proof(alg, &claims().to_json());
        let ok = check(&proof).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(ok.jkt, expected_jkt);
    }
}

#[test]
fn rfc9449_s4_3_webcrypto_style_jwk_with_extra_members_is_accepted() {
    // WebCrypto exports `ext` and `key_ops`; they carry no key material.
    let key = es256();
    let mut jwk = serde_json::to_value(key.jwk()).unwrap();
    jwk["ext"] = json!(true);
    jwk["key_ops"] = json!(["verify"]);
    let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
    let unsigned = format!("{}.{}", b64(&header), b64(&claims().to_json()));
    let sig = jsonwebtoken::crypto::sign(
        unsigned.as_bytes(),
        &jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der()),
        Algorithm::ES256,
    )
    .unwrap();
    let ok = check(&format!("{unsigned}.{sig}")).unwrap();
    assert_eq!(ok.jkt, key.jkt());
}

// --- §4.3 step 2: a single well-formed JWT ---

#[test]
fn rfc9449_s4_3_step2_malformed_proofs_are_refused() {
    let key = es256();
    let good = key.proof(&claims()).unwrap();
    for bad in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.e30",
        &format!("{good}.extra"),
        &format!("{}.{}", b64(&json!([1, 2])), "e30."),
    ] {
        assert_eq!(check(bad), Err(DpopError::Malformed), "{bad:?}");
    }
    let huge = format!("{good}{}", "A".repeat(MAX_PROOF_LEN));
    assert_eq!(check(&huge), Err(DpopError::Malformed));
}

#[test]
fn rfc7515_s4_1_11_crit_header_is_refused() {
    let key = es256();
    let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": key.jwk(), "crit": ["exp"]});
    let proof = hand_made(&header, &claims().to_json(), "AAAA");
    assert_eq!(check(&proof), Err(DpopError::Malformed));
}

// --- §4.3 step 3: required claims ---

#[test]
fn rfc9449_s4_3_step3_missing_claims_are_refused() {
    let key = es256();
    for claim in ["jti", "htm", "htu", "iat"] {
        let mut c = claims().to_json();
        c.as_object_mut().unwrap().remove(claim);
        let proof = key.sign(DPOP_TYP, &c).unwrap();
        let expected = DpopError::MissingClaim(match claim {
            "jti" => "jti",
            "htm" => "htm",
            "htu" => "htu",
            _ => "iat",
        });
        assert_eq!(check(&proof), Err(expected), "{claim}");
    }
    // Wrong JSON type reads as missing.
    let mut c = claims().to_json();
    c["iat"] = json!("1700000000");
    let proof = key.sign(DPOP_TYP, &c).unwrap();
    assert_eq!(check(&proof), Err(DpopError::MissingClaim("iat")));
}

#[test]
fn rfc9449_s4_3_step3_missing_jwk_header_is_refused() {
    let header = json!({"typ": DPOP_TYP, "alg": "ES256"});
    let proof = hand_made(&header, &claims().to_json(), "AAAA");
    assert_eq!(check(&proof), Err(DpopError::MissingHeader("jwk")));
}

#[test]
fn rfc9449_s4_3_step3_empty_or_oversized_jti_is_refused() {
    let key = es256();
    for jti in [String::new(), "x".repeat(257)] {
        let proof = key.proof(&claims().jti(&jti)).unwrap();
        assert_eq!(check(&proof), Err(DpopError::InvalidJti));
    }
    let proof = key.proof(&claims().jti(&"x".repeat(256))).unwrap();
    assert!(check(&proof).is_ok());
}

#[test]
fn rfc7519_s2_fractional_iat_is_accepted() {
    let key = es256();
    let mut c = claims().to_json();
    c["iat"] = json!(NOW as f64 + 0.25);
    let ok = check(&key.sign(DPOP_TYP, &c).unwrap()).unwrap();
    assert_eq!(ok.iat, NOW);
}

// --- §4.3 step 4: typ ---

#[test]
fn rfc9449_s4_3_step4_wrong_typ_is_refused() {
    let key = es256();
    for typ in ["JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt"] {
        let proof = key.sign(typ, &claims().to_json()).unwrap();
        assert_eq!(check(&proof), Err(DpopError::WrongType), "{typ}");
    }
    let header = json!({"alg": "ES256", "jwk": key.jwk()});
    let proof = hand_made(&header, &claims().to_json(), "AAAA");
    assert_eq!(check(&proof), Err(DpopError::WrongType));
}

// --- §4.3 step 5: alg ---

#[test]
fn rfc9449_s4_3_step5_none_and_hmac_and_unknown_algs_are_refused() {
    let key = es256();
    for alg in ["none", "HS256", "HS512", "ES384", "RS512", "foo", ""] {
        let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": key.jwk()});
        let proof = hand_made(&header, &claims().to_json(), "");
        assert_eq!(check(&proof), Err(DpopError::UnsupportedAlg), "{alg}");
    }
    let header = json!({"typ": DPOP_TYP, "jwk": key.jwk()});
    let proof = hand_made(&header, &claims().to_json(), "");
    assert_eq!(check(&proof), Err(DpopError::UnsupportedAlg));
}

#[test]
fn rfc9449_s4_3_step5_alg_outside_local_policy_is_refused() {
    let key = DpopKey::generate(DpopAlg::EdDSA).unwrap();
    let proof = key.proof(&claims()).unwrap();
    let u = uri();
    let ctx = ProofContext {
        method: "GET",
        uri: &u,
        now: NOW,
        access_token: None,
        bound_jkt: None,
        nonce: None,
    };
    let policy = DpopPolicy {
        algs: vec![DpopAlg::ES256],
        ..DpopPolicy::default()
    };
    assert_eq!(
        verify_proof(&proof, &ctx, &policy),
        Err(DpopError::UnsupportedAlg)
    );
    assert_eq!(policy.algs_header_value(), "ES256");
    assert_eq!(
        DpopPolicy::default().algs_header_value(),
        "ES256 EdDSA Ed25519 RS256 PS256"
    );
}

#[test]
fn rfc9449_s4_3_step5_jwk_that_does_not_fit_alg_is_refused() {
    let ec = es256();
    let ed = DpopKey::generate(DpopAlg::EdDSA).unwrap();
    // An Ed25519 key under alg ES256, a P-256 key under EdDSA and RS256.
    for (alg, jwk) in [
        ("ES256", serde_json::to_value(ed.jwk()).unwrap()),
        ("EdDSA", serde_json::to_value(ec.jwk()).unwrap()),
        ("RS256", serde_json::to_value(ec.jwk()).unwrap()),
    ] {
        let header = json!({"typ": DPOP_TYP, "alg": alg, "jwk": jwk});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::KeyAlgMismatch), "{alg}");
    }
    // P-384 curve under ES256; a jwk declaring another alg.
    let mut p384 = serde_json::to_value(ec.jwk()).unwrap();
    p384["crv"] = json!("P-384");
    let mut other_alg = serde_json::to_value(ec.jwk()).unwrap();
    other_alg["alg"] = json!("ES384");
    for jwk in [p384, other_alg] {
        let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::KeyAlgMismatch));
    }
}

#[test]
fn rfc9449_s4_3_step6_unusable_jwk_is_refused() {
    let ec = es256();
    let mut not_b64 = serde_json::to_value(ec.jwk()).unwrap();
    not_b64["x"] = json!("a\",\"y\":\"b");
    let mut missing_y = serde_json::to_value(ec.jwk()).unwrap();
    missing_y.as_object_mut().unwrap().remove("y");
    let mut off_curve = serde_json::to_value(ec.jwk()).unwrap();
    off_curve["y"] = off_curve["x"].clone();
    let proof_claims = claims().to_json();
    // A point off the curve is refused by aws-lc-rs while verifying, which
    // jsonwebtoken reports as a bad signature.
    for (jwk, expected) in [
        (not_b64, DpopError::InvalidKey),
        (missing_y, DpopError::InvalidKey),
        (json!("a string"), DpopError::InvalidKey),
        (off_curve, DpopError::BadSignature),
    ] {
        let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
        let unsigned = format!("{}.{}", b64(&header), b64(&proof_claims));
        let sig = jsonwebtoken::crypto::sign(
            unsigned.as_bytes(),
            &jsonwebtoken::EncodingKey::from_ec_der(ec.pkcs8_der()),
            Algorithm::ES256,
        )
        .unwrap();
        assert_eq!(check(&format!("{unsigned}.{sig}")), Err(expected), "{jwk}");
    }
}

// --- §4.3 step 6: signature ---

#[test]
fn rfc9449_s4_3_step6_bad_signature_is_refused() {
    let key = es256();
    let other = es256();
    // Signed by another key than the one in the header.
    let good = key.proof(&claims()).unwrap();
    let forged_sig = other.proof(&claims()).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let sig = forged_sig.split('.').nth(2).unwrap();
    parts[2] = sig;
    assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
    // Claims changed after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&ProofClaims::new("POST", HTU, NOW).to_json());
    assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
    // RSA: a PS256 signature presented as RS256.
    let rsa = RsaDpopKey::generate();
    let pss = rsa.proof("PS256", &claims().to_json());
    let mut parts: Vec<String> = pss.split('.').map(str::to_owned).collect();
    parts[0] = b64(&json!({"typ": DPOP_TYP, "alg": "RS256", "jwk": rsa.jwk}));
    assert_eq!(check(&parts.join(".")), Err(DpopError::BadSignature));
}

// --- §4.3 step 7: no private key ---

#[test]
fn rfc9449_s4_3_step7_private_key_in_jwk_is_refused() {
    let key = es256();
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut jwk = serde_json::to_value(key.jwk()).unwrap();
        jwk[member] = json!("AAAA");
        let header = json!({"typ": DPOP_TYP, "alg": "ES256", "jwk": jwk});
        let proof = hand_made(&header, &claims().to_json(), "AAAA");
        assert_eq!(check(&proof), Err(DpopError::PrivateKey), "{member}");
    }
}

// --- §4.3 step 8: htm ---

#[test]
fn rfc9449_s4_3_step8_other_method_is_refused() {
    let key = es256();
    for htm in ["POST", "get", "GET "] {
        let proof = key.proof(&ProofClaims::new(htm, HTU, NOW)).unwrap();
        assert_eq!(check(&proof), Err(DpopError::MethodMismatch), "{htm}");
    }
}

// --- §4.3 step 9: htu ---

#[test]
fn rfc9449_s4_3_step9_other_uri_is_refused() {
    let key = es256();
    for htu in [
        "https://api.example.com/other",
        "http://api.example.com/resource",
        "https://api.example.com:8443/resource",
        "https://evil.example.com/resource",
        "https://api.example.com/resource/",
        "/resource",
        "not a url",
    ] {
        let proof = key.proof(&ProofClaims::new("GET", htu, NOW)).unwrap();
        assert_eq!(check(&proof), Err(DpopError::UriMismatch), "{htu}");
    }
}

#[test]
fn rfc9449_s4_3_step9_htu_compares_without_query_and_fragment_after_normalisation() {
    let key = es256();
    for htu in [
        "https://api.example.com/resource",
        "HTTPS://API.Example.COM/resource",
        "https://api.example.com:443/resource",
        "https://api.example.com/a/../resource",
        "https://api.example.com/resource?x=1",
        "https://api.example.com/resource#frag",
    ] {
        let proof = key.proof(&ProofClaims::new("GET", htu, NOW)).unwrap();
        assert!(check(&proof).is_ok(), "{htu}");
    }
    // The request's own query does not matter either.
    let proof = key.proof(&claims()).unwrap();
    let with_query = Url::parse("https://api.example.com/resource?page=2").unwrap();
    let ctx = ProofContext {
        method: "GET",
        uri: &with_query,
        now: NOW,
        access_token: None,
        bound_jkt: None,
        nonce: None,
    };
    assert!(verify_proof(&proof, &ctx, &DpopPolicy::default()).is_ok());
}

// --- §4.3 step 10: nonce ---

#[test]
fn rfc9449_s4_3_step10_missing_or_wrong_nonce_asks_for_a_nonce() {
    let key = es256();
    let accept: &(dyn Fn(&str) -> bool + Send + Sync) = &|n: &str| n == "server-nonce";
    let without = key.proof(&claims()).unwrap();
    let err = check_with(
        &without,
        Extra {
            nonce: Some(accept),
            ..Extra::default()
        },
    )
    .unwrap_err();
    assert_eq!(err, DpopError::UseNonce(NonceProblem::Missing));
    assert_eq!(err.oauth_error(), "use_dpop_nonce");
    let wrong = key.proof(&claims().nonce("stale")).unwrap();
    assert_eq!(
        check_with(
            &wrong,
            Extra {
                nonce: Some(accept),
                ..Extra::default()
            }
        ),
        Err(DpopError::UseNonce(NonceProblem::Invalid))
    );
    let right = key.proof(&claims().nonce("server-nonce")).unwrap();
    let ok = check_with(
        &right,
        Extra {
            nonce: Some(accept),
            ..Extra::default()
        },
    )
    .unwrap();
    assert_eq!(ok.nonce.as_deref(), Some("server-nonce"));
    // Not required: a nonce is carried through, not judged.
    assert_eq!(check(&wrong).unwrap().nonce.as_deref(), Some("stale"));
}

// --- §4.3 step 11: iat window ---

#[test]
fn rfc9449_s4_3_step11_iat_outside_the_window_is_refused() {
    let key = es256();
    for (iat, ok) in [
        (NOW - 60, true),
        (NOW + 60, true),
        (NOW - 61, false),
        (NOW + 61, false),
        (0, false),
        (i64::MAX, false),
    ] {
        let proof = key.proof(&ProofClaims::new("GET", HTU, iat)).unwrap();
        let result = check(&proof);
        if ok {
            assert!(result.is_ok(), "{iat}");
        } else {
            assert_eq!(result, Err(DpopError::IatOutOfWindow), "{iat}");
        }
    }
}

// --- §4.3 step 12: ath and key binding ---

#[test]
fn rfc9449_s4_3_step12_missing_or_wrong_ath_is_refused_with_an_access_token() {
    let key = es256();
    let without = key.proof(&claims()).unwrap();
    assert_eq!(
        check_with(
            &without,
            Extra {
                access_token: Some(AT),
                ..Extra::default()
            }
        ),
        Err(DpopError::MissingClaim("ath"))
    );
    let other = key.proof(&claims().access_token("another token")).unwrap();
    assert_eq!(
        check_with(
            &other,
            Extra {
                access_token: Some(AT),
                ..Extra::default()
            }
        ),
        Err(DpopError::AthMismatch)
    );
    let right = key.proof(&claims().access_token(AT)).unwrap();
    assert!(
        check_with(
            &right,
            Extra {
                access_token: Some(AT),
                ..Extra::default()
            }
        )
        .is_ok()
    );
    // At the token endpoint (no access token) ath is ignored.
    assert!(check(&other).is_ok());
}

#[test]
fn rfc9449_s4_3_step12_proof_by_another_key_than_the_bound_one_is_refused() {
    let key = es256();
    let other = es256();
    let proof = key.proof(&claims()).unwrap();
    assert_eq!(
        check_with(
            &proof,
            Extra {
                bound_jkt: Some(other.jkt()),
                ..Extra::default()
            }
        ),
        Err(DpopError::KeyMismatch)
    );
    assert!(
        check_with(
            &proof,
            Extra {
                bound_jkt: Some(key.jkt()),
                ..Extra::default()
            }
        )
        .is_ok()
    );
}

// --- Helpers ---

#[test]
fn rfc9449_s4_2_ath_is_base64url_sha256_of_the_token() {
    // SHA-256("abc"), base64url without padding.
    assert_eq!(ath("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

#[test]
fn rfc7638_s3_1_thumbprint_of_the_rfc_example_key() {
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk_thumbprint(&jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn dpop_key_round_trips_through_pkcs8_and_hides_its_secret() {
    for alg in [DpopAlg::ES256, DpopAlg::EdDSA] {
        let key = DpopKey::generate(alg).unwrap();
        let again = DpopKey::from_pkcs8(alg, key.pkcs8_der()).unwrap();
        assert_eq!(again.jkt(), key.jkt());
        assert!(!format!("{key:?}").contains("pkcs8"));
    }
    assert!(DpopKey::generate(DpopAlg::RS256).is_err());
}
