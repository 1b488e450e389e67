//! The admin console at `/admin/`: a single-page app on the admin API
//! (`/admin/v1`), served from files compiled into the binary, so an
//! operator needs no build step.
//!
//! It signs in like any SPA: the browser SDK (`clients/js`, embedded as
//! built in [`sdk`](self) by `scripts/sync-console-sdk.sh`) runs the
//! authorization code flow with PKCE (RFC 7636) against the administration
//! tenant's hosted login, with DPoP-bound tokens (RFC 9449) held in a
//! non-extractable key. The console's client (`console`) is registered by
//! `holdfast admin bootstrap` and kept current by `serve`
//! (`service::administrators`).
//!
//! The page is served with the hosted pages' strict CSP: no inline script,
//! only these files.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::http::error::ApiError;
use crate::service::administrators::{ADMIN_TENANT, CONSOLE_CLIENT_ID, console_url};
use crate::state::AppState;

const INDEX: &str = include_str!("index.html");

/// The console's own files and the SDK's, by the name they are served
/// under (`/admin/assets/{name}`, `/admin/sdk/{name}`).
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.js", JS, include_str!("console.js")),
    ("console.css", CSS, include_str!("console.css")),
];
const SDK: &[(&str, &str)] = &[
    ("index.js", include_str!("sdk/index.js")),
    ("client.js", include_str!("sdk/client.js")),
    ("base64url.js", include_str!("sdk/base64url.js")),
    ("dpop.js", include_str!("sdk/dpop.js")),
    ("errors.js", include_str!("sdk/errors.js")),
    ("lock.js", include_str!("sdk/lock.js")),
    ("storage.js", include_str!("sdk/storage.js")),
    (
        "www-authenticate.js",
        include_str!("sdk/www-authenticate.js"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The console's routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(index))
        .route("/admin/assets/{name}", get(asset))
        .route("/admin/sdk/{name}", get(sdk))
}

/// The page, told where the administration tenant's issuer is.
async fn index(State(state): State<AppState>) -> Result<Response, ApiError> {
    let slug = holdfast_core::tenant::TenantSlug::parse(ADMIN_TENANT)
        .map_err(|e| ApiError::internal(e, false))?;
    let issuer = holdfast_core::tenant::issuer_url(&state.public_url, &slug);
    let body = INDEX
        .replace("{{issuer}}", &escape(issuer.as_str()))
        .replace("{{client_id}}", CONSOLE_CLIENT_ID)
        .replace("{{console_url}}", &escape(&console_url(&state.public_url)));
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    Ok(response)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => file(kind, body),
        None => ApiError::not_found("no such console file").into_response(),
    }
}

async fn sdk(Path(name): Path<String>) -> Response {
    match SDK.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => file(JS, body),
        None => ApiError::not_found("no such console file").into_response(),
    }
}

fn file(kind: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            // Revalidated each load: an upgraded server serves its own.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Escapes text for an HTML attribute value.
fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_sdk_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console/sdk");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SDK.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(escape(r#"a"<b>&"#), "a&quot;&lt;b&gt;&amp;");
    }
}
