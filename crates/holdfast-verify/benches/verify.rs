//! Verifications per second on one core, next to the raw ES256 signature
//! verification rate of the same crypto library in the same run.
//!
//! ```text
//! cargo bench -p holdfast-verify --bench verify -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Benchmarks (criterion group `verify`):
//! - `raw_es256_jsonwebtoken`: `jsonwebtoken::crypto::verify` on the access
//!   token's signing input: what the verifier calls for each signature
//!   (aws-lc-rs underneath; jsonwebtoken parses the public key per call).
//! - `raw_es256_aws_lc_parsed`: aws-lc-rs with a pre-parsed public key, the
//!   floor of what an ES256 verification costs here (for reference).
//! - `bearer_at`: `Verifier::verify_request` for `Authorization: Bearer`.
//! - `dpop_at_with_proof`: `Verifier::verify_request` for a DPoP-bound
//!   token and a fresh proof (two signature verifications; proofs are made
//!   before the timed loop and each is used once, so the replay cache works).
//! - `dpop_proof_check_only`: `holdfast_dpop::verify_proof` alone
//!   (one signature verification), as the token endpoint uses it.
//!
//! Then the overhead of everything that is not signature verification,
//! `bearer / raw − 1` and `dpop / (2 × raw) − 1`, twice: from criterion's
//! estimates, and from a paired run that alternates the cases in small
//! chunks and takes the median of the per-round ratios, which stays honest
//! when other work on the machine speeds up or slows down between
//! criterion's benchmarks.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use holdfast_crypto::jws::{JwsAlg, SigningKey};
use holdfast_dpop::client::{DpopKey, ProofClaims};
use holdfast_dpop::{DpopAlg, DpopPolicy, ProofContext, verify_proof};
use holdfast_verify::Verifier;
use serde_json::{Value, json};

const AUDIENCE: &str = "https://api.example.com";
const HTU: &str = "https://api.example.com/api/orders/42";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Everything the cases need, built once.
struct Cases {
    rt: tokio::runtime::Runtime,
    verifier: Verifier,
    // Raw verification of the bearer token's signature.
    signing_input: String,
    signature: String,
    decoding: jsonwebtoken::DecodingKey,
    parsed: aws_lc_rs::signature::ParsedPublicKey,
    signature_bytes: Vec<u8>,
    // Requests.
    method: Method,
    uri: Uri,
    bearer_headers: HeaderMap,
    dpop_key: DpopKey,
    bound_token: String,
    dpop_authorization: HeaderValue,
    htu: url::Url,
    policy: DpopPolicy,
    proof: String,
}

/// A realistic Holdfast access token (the claims the server issues).
fn token(key: &SigningKey, issuer: &str, jkt: Option<&str>) -> String {
    let now = now();
    let mut claims = json!({
        "iss": issuer, "sub": "0193c5a4-7c6e-7d1a-9a3b-2f4e5d6c7b8a",
        "aud": AUDIENCE, "exp": now + 3600, "iat": now,
        "jti": "q2Yt0cW8mJ3bN5xK1pR7sA", "client_id": "spa",
        "scope": "openid profile email read", "sid": "fam_0193c5a47c6e7d1a",
        "auth_time": now - 30, "acr": "urn:holdfast:pwd", "amr": ["pwd"],
    });
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    key.sign("at+jwt", &claims).unwrap()
}

impl Cases {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let key = SigningKey::generate(JwsAlg::ES256).unwrap();
        let jwks = json!({ "keys": [key.public_jwk()] });
        // A mock issuer on port 0 for discovery and the JWKS; after warm-up
        // every key is cached and the timed paths do no IO.
        let (issuer, verifier) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let issuer = format!("http://{}/t/bench", listener.local_addr().unwrap());
            let doc = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")});
            let app = Router::new()
                .route(
                    "/t/bench/.well-known/openid-configuration",
                    get(move || async move { axum::Json(doc) }),
                )
                .route(
                    "/t/bench/jwks.json",
                    get(move || async move { axum::Json(jwks) }),
                );
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let verifier = Verifier::builder(issuer.clone())
                .audience(AUDIENCE)
                .public_base_url(AUDIENCE.parse().unwrap())
                .replay_cache_capacity(10_000_000)
                .build()
                .unwrap();
            verifier.warm_up().await.unwrap();
            (issuer, verifier)
        });

        let bearer = token(&key, &issuer, None);
        let (signing_input, signature) = bearer.rsplit_once('.').unwrap();
        let jwk: Value = serde_json::to_value(key.public_jwk()).unwrap();
        let point = [
            vec![4u8],
            URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
            URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap(),
        ]
        .concat();
        let mut bearer_headers = HeaderMap::new();
        bearer_headers.insert("authorization", format!("Bearer {bearer}").parse().unwrap());

        let dpop_key = DpopKey::generate(DpopAlg::ES256).unwrap();
        let bound_token = token(&key, &issuer, Some(dpop_key.jkt()));
        let proof = dpop_key
            .proof(&ProofClaims::new("GET", HTU, now()).access_token(&bound_token))
            .unwrap();
        Self {
            verifier,
            signing_input: signing_input.to_owned(),
            signature: signature.to_owned(),
            decoding: jsonwebtoken::DecodingKey::from_jwk(key.public_jwk()).unwrap(),
            parsed: aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                &point,
            )
            .unwrap(),
            signature_bytes: URL_SAFE_NO_PAD.decode(signature).unwrap(),
            method: Method::GET,
            uri: "/api/orders/42".parse().unwrap(),
            bearer_headers,
            dpop_authorization: format!("DPoP {bound_token}").parse().unwrap(),
            bound_token,
            dpop_key,
            htu: HTU.parse().unwrap(),
            policy: DpopPolicy::default(),
            proof,
            rt,
        }
    }

    fn raw(&self) {
        assert!(
            jsonwebtoken::crypto::verify(
                &self.signature,
                self.signing_input.as_bytes(),
                &self.decoding,
                jsonwebtoken::Algorithm::ES256,
            )
            .unwrap()
        );
    }

    fn raw_parsed(&self) {
        self.parsed
            .verify_sig(self.signing_input.as_bytes(), &self.signature_bytes)
            .unwrap();
    }

    fn bearer(&self) {
        black_box(
            self.rt
                .block_on(self.verifier.verify_request(
                    &self.method,
                    &self.uri,
                    &self.bearer_headers,
                ))
                .unwrap(),
        );
    }

    /// Fresh DPoP requests (untimed work: one signature each).
    fn dpop_requests(&self, n: u64) -> Vec<HeaderMap> {
        (0..n)
            .map(|_| {
                let proof = self
                    .dpop_key
                    .proof(&ProofClaims::new("GET", HTU, now()).access_token(&self.bound_token))
                    .unwrap();
                let mut h = HeaderMap::new();
                h.insert("authorization", self.dpop_authorization.clone());
                h.insert("dpop", proof.parse().unwrap());
                h
            })
            .collect()
    }

    fn dpop(&self, headers: &HeaderMap) {
        black_box(
            self.rt
                .block_on(
                    self.verifier
                        .verify_request(&self.method, &self.uri, headers),
                )
                .unwrap(),
        );
    }

    fn proof_only(&self) {
        let ctx = ProofContext {
            method: "GET",
            uri: &self.htu,
            now: now(),
            access_token: Some(&self.bound_token),
            bound_jkt: Some(self.dpop_key.jkt()),
            nonce: None,
        };
        black_box(verify_proof(black_box(&self.proof), &ctx, &self.policy).unwrap());
    }
}

fn benches(c: &mut Criterion, cases: &Cases) {
    let mut group = c.benchmark_group("verify");
    group.bench_function("raw_es256_jsonwebtoken", |b| b.iter(|| cases.raw()));
    group.bench_function("raw_es256_aws_lc_parsed", |b| b.iter(|| cases.raw_parsed()));
    group.bench_function("bearer_at", |b| b.iter(|| cases.bearer()));
    group.bench_function("dpop_at_with_proof", |b| {
        b.iter_custom(|iters| {
            let requests = cases.dpop_requests(iters);
            let start = Instant::now();
            for h in &requests {
                cases.dpop(h);
            }
            start.elapsed()
        })
    });
    group.bench_function("dpop_proof_check_only", |b| b.iter(|| cases.proof_only()));
    group.finish();
}

fn output_dir() -> PathBuf {
    // The workspace's target directory, wherever cargo runs the bench from.
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("criterion")
}

/// Time per iteration in ns from criterion's estimates of this run: the
/// slope (criterion's headline figure) when it has one, else the mean.
fn criterion_ns(dir: &Path, name: &str) -> Option<f64> {
    let path = dir.join("verify").join(name).join("new/estimates.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| v["mean"]["point_estimate"].as_f64())
}

/// ns per operation of `chunk` back-to-back calls.
fn time_chunk(chunk: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..chunk {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(chunk)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternates the cases in small chunks for about `budget` and returns the
/// median per-round ratios (bearer/raw, dpop/(2·raw), proof/raw) and the
/// mean ns of each case.
fn paired(cases: &Cases, budget: Duration) -> ([f64; 3], [f64; 4]) {
    const CHUNK: u32 = 40;
    let (mut r_bearer, mut r_dpop, mut r_proof) = (Vec::new(), Vec::new(), Vec::new());
    let mut sums = [0.0f64; 4];
    let mut rounds = 0u32;
    let started = Instant::now();
    while started.elapsed() < budget {
        let requests = cases.dpop_requests(u64::from(CHUNK));
        let raw = time_chunk(CHUNK, || cases.raw());
        let bearer = time_chunk(CHUNK, || cases.bearer());
        let mut it = requests.iter();
        let dpop = time_chunk(CHUNK, || cases.dpop(it.next().unwrap()));
        let proof = time_chunk(CHUNK, || cases.proof_only());
        r_bearer.push(bearer / raw);
        r_dpop.push(dpop / (2.0 * raw));
        r_proof.push(proof / raw);
        for (s, v) in sums.iter_mut().zip([raw, bearer, dpop, proof]) {
            *s += v;
        }
        rounds += 1;
    }
    let means = sums.map(|s| s / f64::from(rounds.max(1)));
    ([median(r_bearer), median(r_dpop), median(r_proof)], means)
}

fn report(dir: &Path, cases: &Cases) {
    let names = [
        "raw_es256_jsonwebtoken",
        "raw_es256_aws_lc_parsed",
        "bearer_at",
        "dpop_at_with_proof",
        "dpop_proof_check_only",
    ];
    let ns: Vec<Option<f64>> = names.iter().map(|n| criterion_ns(dir, n)).collect();
    let pct = |ratio: f64| (ratio - 1.0) * 100.0;
    println!("\n== holdfast-verify: verifications per second, one core (criterion) ==");
    for (name, t) in names.iter().zip(&ns) {
        if let Some(t) = t {
            println!("{name:>26}: {:>8.0} /s  ({:.2} µs)", 1e9 / t, t / 1e3);
        }
    }
    if let [
        Some(raw),
        Some(floor),
        Some(bearer),
        Some(dpop),
        Some(proof),
    ] = ns[..]
    {
        println!(
            "overhead vs raw jsonwebtoken ES256: Bearer {:+.1} %, DPoP AT+proof (vs 2x) {:+.1} %, proof check alone {:+.1} %",
            pct(bearer / raw),
            pct(dpop / (2.0 * raw)),
            pct(proof / raw)
        );
        println!(
            "overhead vs pre-parsed aws-lc-rs ES256: Bearer {:+.1} %, DPoP AT+proof (vs 2x) {:+.1} %",
            pct(bearer / floor),
            pct(dpop / (2.0 * floor))
        );
    }
    let ([bearer, dpop, proof], means) = paired(cases, Duration::from_secs(4));
    println!("\n== paired run (cases alternated, median of per-round ratios) ==");
    for (name, t) in [
        "raw ES256 (jsonwebtoken)",
        "Bearer AT",
        "DPoP AT + proof",
        "proof check alone",
    ]
    .iter()
    .zip(means)
    {
        println!("{name:>26}: {:>8.0} /s  ({:.2} µs)", 1e9 / t, t / 1e3);
    }
    println!(
        "overhead of everything but signature verification: Bearer {:+.1} %, DPoP AT+proof (vs 2x raw) {:+.1} %, proof check alone {:+.1} %  (target <= 15 %)",
        pct(bearer),
        pct(dpop),
        pct(proof)
    );
}

fn main() {
    let dir = output_dir();
    let cases = Cases::new();
    let mut criterion = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    benches(&mut criterion, &cases);
    criterion.final_summary();
    // Only under `cargo bench` (which passes --bench), not when a test run
    // merely checks that the benchmarks work.
    if std::env::args().any(|a| a == "--bench") {
        report(&dir, &cases);
    }
}
