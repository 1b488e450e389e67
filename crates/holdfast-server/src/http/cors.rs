//! Cross-origin requests from browser apps ([Fetch standard, CORS protocol](https://fetch.spec.whatwg.org/#http-cors-protocol)).
//!
//! Discovery and JWKS are public documents: any origin may read them.
//! The endpoints a single-page app calls (token, revoke, userinfo,
//! sessions, logout, the first-party challenge and account API) answer CORS only for origins
//! that one of the tenant's clients lists in `allowed_origins`, with
//! credentials allowed (cookie mode) and the `DPoP` request header and
//! `DPoP-Nonce` / `WWW-Authenticate` response headers exposed.
//!
//! Not supported: wildcard origins for the credentialed endpoints (the Fetch
//! standard forbids `*` with credentials anyway).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use holdfast_core::tenant::TenantSlug;

use crate::service::lookup;
use crate::state::AppState;

const API_ENDPOINTS: &[&str] = &[
    "token",
    "revoke",
    "userinfo",
    "sessions",
    "logout",
    "authorize-challenge",
    "api",
];

/// The CORS middleware.
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let public = path.ends_with("/jwks.json") || path.contains("/.well-known/");
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if public {
        let mut response = if preflight {
            StatusCode::NO_CONTENT.into_response()
        } else {
            next.run(request).await
        };
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        return response;
    }
    let allowed = match api_tenant(&path) {
        Some(slug) => origin_allowed(&state, &slug, &origin).await,
        None => false,
    };
    let mut response = if preflight {
        // A preflight is answered here, allowed or not; without the allow
        // headers the browser refuses the real request.
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    if allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("DPoP-Nonce, WWW-Authenticate"),
        );
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, DELETE"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type, DPoP"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// `/t/{slug}/{endpoint}[/...]` for the endpoints browsers call.
fn api_tenant(path: &str) -> Option<TenantSlug> {
    let mut parts = path.strip_prefix("/t/")?.splitn(3, '/');
    let slug = TenantSlug::parse(parts.next()?).ok()?;
    API_ENDPOINTS.contains(&parts.next()?).then_some(slug)
}

async fn origin_allowed(state: &AppState, slug: &TenantSlug, origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(Some(tenant)) = lookup::tenant(state, slug).await else {
        return false;
    };
    lookup::origin_allowed(state, &tenant.id, origin)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_browser_facing_endpoints_get_credentialed_cors() {
        assert_eq!(
            api_tenant("/t/acme/token")
                .map(|s| s.to_string())
                .as_deref(),
            Some("acme")
        );
        assert!(api_tenant("/t/acme/sessions/abc").is_some());
        assert!(api_tenant("/t/acme/introspect").is_none());
        assert!(api_tenant("/t/acme/authorize").is_none());
        assert!(api_tenant("/t/ACME/token").is_none());
        assert!(api_tenant("/metrics").is_none());
    }
}
