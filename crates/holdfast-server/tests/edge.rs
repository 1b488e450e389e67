//! The HTTP edge, on both back ends: operations endpoints, and the promise
//! of docs/design.md §8 that every error a client can cause is a 4xx with an
//! OAuth-shaped JSON body (`error`, `error_description`; RFC 6749 §5.2),
//! never cached (`Cache-Control: no-store`, RFC 6749 §5.1), never a 500, and
//! that request bodies are size-limited (64 KiB by default).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

use std::time::Duration;

use holdfast_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

holdfast_testkit::on_both_backends!(
    ops_healthz_answers_200,
    ops_readyz_answers_200_with_the_store_name,
    ops_metrics_count_requests_and_record_latency_histograms,
    edge_unknown_path_is_404_json,
    edge_wrong_method_is_4xx_json,
    edge_body_over_64_kib_with_content_length_is_413_json,
    edge_chunked_body_over_64_kib_to_a_form_endpoint_is_413_json,
    edge_chunked_body_over_64_kib_to_a_route_reading_no_body_is_4xx_json,
    edge_malformed_tenant_slugs_are_404_json_never_500,
);

/// Checks the shape every client-caused error must have.
#[track_caller]
fn assert_oauth_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    expected_status: StatusCode,
    code: &str,
) {
    assert_eq!(status, expected_status, "body: {body}");
    let json: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body:?}"));
    assert_eq!(json["error"], code, "{json}");
    assert!(
        json["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{json}"
    );
    assert_eq!(
        headers.get(CACHE_CONTROL).map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{headers:?}"
    );
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, String) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A response read off a raw socket.
struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// Sends `head` (request line and headers, without the blank line), then
/// `body` in `chunks` on a raw connection while reading the response
/// concurrently, so an early answer from the server is seen even if it stops
/// reading. Used where reqwest cannot express the request (a chunked body
/// without the `stream` feature, a declared length with no body).
async fn raw_request(server: &TestServer, head: &str, chunks: Vec<Vec<u8>>) -> RawResponse {
    let addr = format!(
        "{}:{}",
        server.base.host_str().unwrap(),
        server.base.port().unwrap()
    );
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.base.authority()
    );
    // The task hands the write half back instead of dropping it: dropping
    // it would half-close the socket, which the server takes for a client
    // that went away.
    let write = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return writer;
        }
        for chunk in chunks {
            // The server may answer and close before reading everything.
            if writer.write_all(&chunk).await.is_err() {
                return writer;
            }
        }
        let _ = writer.flush().await;
        writer
    });
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if let Some(response) = parse_response(&raw) {
                return Some(response);
            }
        }
        parse_response(&raw)
    })
    .await;
    write.abort();
    let _ = write.await;
    read.expect("no complete response within 20 s")
        .unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(&raw)))
}

/// Parses a complete HTTP/1.1 response (Content-Length or chunked body).
fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            value.trim().parse().ok()?,
        );
    }
    let body = if let Some(len) = headers.get("content-length") {
        let len: usize = len.to_str().ok()?.parse().ok()?;
        rest.get(..len)?.to_owned()
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_str().is_ok_and(|v| v.contains("chunked")))
    {
        let mut body = String::new();
        let mut remaining = rest;
        loop {
            let (size, after) = remaining.split_once("\r\n")?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            body.push_str(after.get(..size)?);
            remaining = after.get(size + 2..)?;
        }
        body
    } else {
        return None;
    };
    Some(RawResponse {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body,
    })
}

fn store_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn ops_healthz_answers_200(server: TestServer) {
    let (status, _, body) = send(server.http().get(server.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );
}

async fn ops_readyz_answers_200_with_the_store_name(server: TestServer) {
    let (status, _, body) = send(server.http().get(server.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], store_name(server.backend));
}

async fn ops_metrics_count_requests_and_record_latency_histograms(server: TestServer) {
    server.tenant("acme").await;
    let (status, _, _) = send(server.http().get(server.url("/t/acme/jwks.json"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, metrics) = send(server.http().get(server.url("/metrics"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let counter = metrics
        .lines()
        .find(|l| {
            l.starts_with("holdfast_http_requests_total{")
                && [
                    r#"route="/t/{tenant}/jwks.json""#,
                    r#"method="GET""#,
                    r#"status="200""#,
                ]
                .iter()
                .all(|label| l.contains(label))
        })
        .unwrap_or_else(|| {
            panic!("no request counter for GET 200 on the JWKS route in:\n{metrics}")
        });
    let count: f64 = counter.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{counter}");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("holdfast_http_request_duration_seconds_bucket{")
                && l.contains(r#"route="/t/{tenant}/jwks.json""#)
        ),
        "no latency histogram for the JWKS route in:\n{metrics}"
    );
    // Unmatched paths share one label instead of minting one per URL.
    send(server.http().get(server.url("/no/such/path/x1y2z3"))).await;
    let (_, _, metrics) = send(server.http().get(server.url("/metrics"))).await;
    assert!(
        !metrics.contains("x1y2z3"),
        "raw paths must not become label values"
    );
}

async fn edge_unknown_path_is_404_json(server: TestServer) {
    for path in [
        "/nope",
        "/t",
        "/t/",
        "/t/acme",
        "/t/acme/nope",
        "/.well-known/nope",
    ] {
        let (status, headers, body) = send(server.http().get(server.url(path))).await;
        assert_oauth_error(status, &headers, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

async fn edge_wrong_method_is_4xx_json(server: TestServer) {
    server.tenant("acme").await;
    for path in [
        "/t/acme/jwks.json",
        "/t/acme/.well-known/openid-configuration",
        "/healthz",
    ] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let (status, headers, body) = send(
                server
                    .http()
                    .request(method.clone(), server.url(path))
                    .body("x=1"),
            )
            .await;
            // RFC 9110 §15.5.6: 405, with the OAuth-shaped JSON body.
            assert_oauth_error(
                status,
                &headers,
                &body,
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
            );
        }
    }
}

async fn edge_body_over_64_kib_with_content_length_is_413_json(server: TestServer) {
    server.tenant("acme").await;
    let big = vec![b'a'; 64 * 1024 + 1];
    for path in [
        "/t/acme/jwks.json",
        "/nope",
        "/t/acme/token",
        "/t/acme/authorize",
        "/t/acme/login",
        "/t/acme/authorize-challenge",
        "/t/acme/userinfo",
    ] {
        // Through a real client, body and all...
        let (status, headers, body) = send(
            server
                .http()
                .post(server.url(path))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(big.clone()),
        )
        .await;
        assert_oauth_error(
            status,
            &headers,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        );
        // The unread body makes the connection unusable; the client is told.
        assert_eq!(
            headers.get("connection").map(|v| v.to_str().unwrap()),
            Some("close"),
            "{path}"
        );
        // ...and as a bare declaration: refused before a byte of body is read.
        let raw = raw_request(
            &server,
            &format!("POST {path} HTTP/1.1\r\nContent-Length: 10485760"),
            vec![],
        )
        .await;
        assert_oauth_error(
            raw.status,
            &raw.headers,
            &raw.body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        );
    }
    // At the limit exactly, the body is not the problem.
    let (status, _, _) = send(
        server
            .http()
            .post(server.url("/t/acme/jwks.json"))
            .body(vec![b'a'; 64 * 1024]),
    )
    .await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// 80 chunks of 1 KiB: 80 KiB with no Content-Length.
fn chunked_body() -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..80)
        .map(|_| [b"400\r\n".as_slice(), &[b'a'; 1024], b"\r\n"].concat())
        .collect();
    chunks.push(b"0\r\n\r\n".to_vec());
    chunks
}

async fn chunked_post(server: &TestServer, path: &str) -> RawResponse {
    let head = format!(
        "POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded"
    );
    raw_request(server, &head, chunked_body()).await
}

async fn edge_chunked_body_over_64_kib_to_a_form_endpoint_is_413_json(server: TestServer) {
    server.tenant("acme").await;
    // No Content-Length to refuse up front: the limit must cut the body off
    // while it is read, with the same JSON 413.
    for path in [
        "/t/acme/token",
        "/t/acme/authorize",
        "/t/acme/login",
        "/t/acme/authorize-challenge",
    ] {
        let raw = chunked_post(&server, path).await;
        assert_oauth_error(
            raw.status,
            &raw.headers,
            &raw.body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        );
    }
}

async fn edge_chunked_body_over_64_kib_to_a_route_reading_no_body_is_4xx_json(server: TestServer) {
    server.tenant("acme").await;
    // These routes answer before reading the body (wrong method, unknown
    // path or tenant, missing token), so the answer is that error rather
    // than a 413; what matters is that it is a JSON 4xx.
    for (path, status, code) in [
        (
            "/t/acme/jwks.json",
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
        ),
        ("/nope", StatusCode::NOT_FOUND, "not_found"),
        ("/t/nope/token", StatusCode::NOT_FOUND, "not_found"),
        (
            "/t/acme/userinfo",
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
    ] {
        let raw = chunked_post(&server, path).await;
        assert_oauth_error(raw.status, &raw.headers, &raw.body, status, code);
    }
}

async fn edge_malformed_tenant_slugs_are_404_json_never_500(server: TestServer) {
    server.tenant("acme").await;
    let long = "a".repeat(64);
    let very_long = "a".repeat(8 * 1024);
    let slugs = [
        "..%2F",
        "..%2f..%2fetc",
        "%2e%2e",
        "UPPER",
        "Acme",
        "-acme",
        "acme-",
        "a%20b",
        "a%00b",
        "%FF%FE",
        "%C3%A9",
        "acme%2Fjwks.json",
        "'%20OR%201=1--",
        long.as_str(),
        very_long.as_str(),
    ];
    for slug in slugs {
        for path in [
            format!("/t/{slug}/jwks.json"),
            format!("/t/{slug}/.well-known/openid-configuration"),
            format!("/.well-known/oauth-authorization-server/t/{slug}"),
        ] {
            // Raw, so no client normalises the path on the way.
            let raw = raw_request(&server, &format!("GET {path} HTTP/1.1"), vec![]).await;
            let shown = &path[..path.len().min(80)];
            assert!(!raw.status.is_server_error(), "{shown}: {}", raw.status);
            assert_oauth_error(
                raw.status,
                &raw.headers,
                &raw.body,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
    }
    // The real tenant still answers: nothing above disturbed the server.
    let (status, _, _) = send(server.http().get(server.url("/t/acme/jwks.json"))).await;
    assert_eq!(status, StatusCode::OK);
}
