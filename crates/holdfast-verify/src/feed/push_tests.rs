//! The push receiver (RFC 8935) without HTTP: one request's headers and
//! body through `PushReceiver::receive`, against signed SETs.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::push::PushReceiver;
use super::set::SESSION_REVOKED;
use super::tests::{CLIENT, Fixture, ISS, NOW, NoKeys, claims, fixture};
use super::*;

const AUTHORIZATION: &str = "Bearer push-secret";

fn receiver(f: &Fixture) -> PushReceiver {
    receiver_with_keys(f, f.keys.clone())
}

fn receiver_with_keys(f: &Fixture, keys: Arc<dyn shared::Keys>) -> PushReceiver {
    PushReceiver::new(
        Arc::clone(&f.shared),
        keys,
        SecretString::new(AUTHORIZATION),
        &"https://api.example.com/ssf/events".parse().unwrap(),
    )
}

fn headers(authorization: Option<&str>, content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(a) = authorization {
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    h
}

fn pushed() -> HeaderMap {
    headers(Some(AUTHORIZATION), "application/secevent+jwt")
}

fn err_of(reply: &http::Response<Vec<u8>>) -> String {
    let body: Value = serde_json::from_slice(reply.body()).unwrap();
    body["err"].as_str().unwrap().to_owned()
}

fn revoked(f: &Fixture, sid: &str) -> bool {
    f.shared.check(&claims(sid, "u1", "at", NOW)) == Ok(RevocationStatus::Revoked)
}

#[tokio::test]
async fn rfc8935_s2_2_a_valid_pushed_set_is_applied_and_answered_202() {
    let f = fixture();
    let r = receiver(&f);
    let (_, set) = f.session_revoked("j1", "sid-1");
    let reply = r.receive(&pushed(), set.as_bytes()).await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert!(revoked(&f, "sid-1"));
    assert!(!revoked(&f, "sid-2"));
    // A push accepted makes the feed fresh, as a successful poll does.
    assert_eq!(f.shared.stats().last_successful_poll, Some(NOW));
    assert_eq!(
        f.shared.check(&claims("sid-2", "u1", "at", NOW)),
        Ok(RevocationStatus::Active)
    );
    // RFC 8935 §2.2 / RFC 8936 §2.4: a redelivery is accepted again and
    // counted once.
    let again = r.receive(&pushed(), set.as_bytes()).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let stats = f.shared.stats();
    assert_eq!((stats.applied, stats.duplicates), (1, 1));
}

#[tokio::test]
async fn rfc8935_s2_4_a_push_without_the_streams_authorization_is_401_and_not_applied() {
    let f = fixture();
    let r = receiver(&f);
    let (_, set) = f.session_revoked("j1", "sid-1");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer push-secret-and-more"),
    ] {
        let reply = r
            .receive(&headers(auth, "application/secevent+jwt"), set.as_bytes())
            .await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(err_of(&reply), "authentication_failed");
        assert!(reply.headers().contains_key(header::WWW_AUTHENTICATE));
    }
    assert!(!revoked(&f, "sid-1"));
    assert_eq!(f.shared.stats().last_successful_poll, None);
}

#[tokio::test]
async fn rfc8935_s2_1_wrong_media_type_oversized_or_non_utf8_bodies_are_400_invalid_request() {
    let f = fixture();
    let r = receiver(&f);
    let (_, set) = f.session_revoked("j1", "sid-1");
    let json_type = r
        .receive(
            &headers(Some(AUTHORIZATION), "application/json"),
            set.as_bytes(),
        )
        .await;
    let huge = r.receive(&pushed(), &vec![b'a'; 16 * 1024 + 1]).await;
    let binary = r.receive(&pushed(), &[0xff, 0xfe, 0x00]).await;
    let not_a_jws = r.receive(&pushed(), b"hello").await;
    for reply in [&json_type, &huge, &binary, &not_a_jws] {
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err_of(reply), "invalid_request");
        assert_eq!(
            reply.headers()[header::CONTENT_TYPE],
            "application/json",
            "RFC 8935 §2.3 error bodies are JSON"
        );
    }
    // Parameters on the media type are fine.
    let with_charset = r
        .receive(
            &headers(
                Some(AUTHORIZATION),
                "application/secevent+jwt; charset=utf-8",
            ),
            set.as_bytes(),
        )
        .await;
    assert_eq!(with_charset.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn rfc8935_s2_3_a_refused_set_is_400_with_its_error_code() {
    let f = fixture();
    let r = receiver(&f);
    let event = |claims: Value| f.key.sign("secevent+jwt", &claims).unwrap();
    let subject = json!({"format": "opaque", "id": "sid-9"});
    let payload = json!({SESSION_REVOKED: {"event_timestamp": NOW}});
    let cases = [
        (
            event(
                json!({"iss": ISS, "aud": "another-rs", "iat": NOW, "jti": "a",
                "sub_id": subject, "events": payload}),
            ),
            "invalid_audience",
        ),
        (
            event(
                json!({"iss": "https://evil.example", "aud": CLIENT, "iat": NOW,
                "jti": "b", "sub_id": subject, "events": payload}),
            ),
            "invalid_issuer",
        ),
        (
            // A pushed SET names no jti outside itself: it must carry one.
            event(json!({"iss": ISS, "aud": CLIENT, "iat": NOW,
                "sub_id": subject, "events": payload})),
            "invalid_request",
        ),
        (
            f.key
                .sign(
                    "JWT",
                    &json!({"iss": ISS, "aud": CLIENT, "iat": NOW, "jti": "c"}),
                )
                .unwrap(),
            "invalid_request",
        ),
    ];
    for (set, code) in cases {
        let reply = r.receive(&pushed(), set.as_bytes()).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{code}");
        assert_eq!(err_of(&reply), code);
    }
    let other_key =
        holdfast_crypto::jws::SigningKey::generate(holdfast_crypto::jws::JwsAlg::ES256).unwrap();
    let (_, good) = f.session_revoked("d", "sid-9");
    let forged = other_key
        .sign(
            "secevent+jwt",
            &json!({"iss": ISS, "aud": CLIENT, "iat": NOW, "jti": "e",
                "sub_id": subject, "events": payload}),
        )
        .unwrap();
    let reply = r.receive(&pushed(), forged.as_bytes()).await;
    assert_eq!(err_of(&reply), "invalid_key");
    assert!(!revoked(&f, "sid-9"));
    assert_eq!(f.shared.stats().rejected, 5);
    assert_eq!(
        r.receive(&pushed(), good.as_bytes()).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn a_push_is_503_and_retried_while_the_keys_cannot_be_fetched() {
    let f = fixture();
    let r = receiver_with_keys(&f, Arc::new(NoKeys));
    let (_, set) = f.session_revoked("j1", "sid-1");
    let reply = r.receive(&pushed(), set.as_bytes()).await;
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(f.shared.stats().last_successful_poll, None);
}

#[tokio::test]
async fn a_pushed_set_is_in_the_state_file_before_the_202() {
    let dir = std::env::temp_dir().join(format!(
        "holdfast-verify-push-{}",
        holdfast_crypto::secret::random_id().unwrap()
    ));
    let f = fixture();
    f.shared.open_journal(dir.clone()).await.unwrap();
    let r = receiver(&f);
    let (_, set) = f.session_revoked("j1", "sid-1");
    let reply = r.receive(&pushed(), set.as_bytes()).await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    // A process that starts from the file right after the 202 refuses it.
    let g = fixture();
    g.shared.open_journal(dir.clone()).await.unwrap();
    assert!(revoked(&g, "sid-1"));
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn keep_alive_asks_three_times_per_staleness_bound_and_at_most_every_second() {
    assert_eq!(push::keep_alive_every(60).as_secs(), 20);
    assert_eq!(push::keep_alive_every(2).as_secs(), 1);
    assert_eq!(push::keep_alive_every(0).as_secs(), 1);
}

#[test]
fn a_new_push_authorization_is_a_long_random_bearer_value() {
    let a = push::new_authorization().unwrap();
    let b = push::new_authorization().unwrap();
    assert!(a.expose().starts_with("Bearer "));
    assert!(a.expose().len() >= 7 + 40);
    assert_ne!(a.expose(), b.expose());
    assert!(HeaderValue::from_str(a.expose()).is_ok());
}

#[tokio::test]
async fn push_router_serves_post_at_the_endpoints_path_and_refuses_oversized_bodies() {
    use tower::ServiceExt;
    let f = fixture();
    let feed = RevocationFeed {
        shared: Arc::clone(&f.shared),
        push: Some(Arc::new(receiver(&f))),
        task: Mutex::new(None),
    };
    assert_eq!(feed.push_path(), Some("/ssf/events"));
    let router = feed.push_router().unwrap();
    let request = |body: Vec<u8>| {
        http::Request::post("/ssf/events")
            .header(header::AUTHORIZATION, AUTHORIZATION)
            .header(header::CONTENT_TYPE, "application/secevent+jwt")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let (_, set) = f.session_revoked("j1", "sid-1");
    let ok = router
        .clone()
        .oneshot(request(set.into_bytes()))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    assert!(revoked(&f, "sid-1"));
    let huge = router
        .clone()
        .oneshot(request(vec![b'a'; 1024 * 1024]))
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
    let body = axum::body::to_bytes(huge.into_body(), 4096).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["err"],
        "invalid_request"
    );

    let polling = RevocationFeed {
        shared: Arc::clone(&f.shared),
        push: None,
        task: Mutex::new(None),
    };
    assert!(polling.push_router().is_none());
    assert_eq!(
        polling.receive_push(&pushed(), b"x").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn push_endpoints_are_absolute_http_urls_with_a_literal_path() {
    let ok = |u: &str| push::is_push_endpoint(&u.parse().unwrap());
    assert!(ok("https://api.example.com/ssf/events"));
    assert!(ok("http://127.0.0.1:9090/ssf/events"));
    assert!(!ok("ftp://api.example.com/ssf"));
    assert!(!ok("https://api.example.com/ssf#frag"));
    // `Url` percent-encodes braces, so `{id}` reaches the router as a
    // literal `%7Bid%7D`.
    assert!(ok("https://api.example.com/ssf/{id}"));
    assert!(!ok("https://api.example.com/ssf/*rest"));
    assert!(!ok("https://api.example.com/ssf/:id"));
}
