//! The admin API, `/admin/v1`: tenants, their settings, clients, users,
//! sessions, signing keys and audit events, for the console (`/admin`) and
//! for automation. JSON in and out; errors have the OAuth shape every other
//! Holdfast error has (`{"error", "error_description"}`, RFC 6749 §5.2),
//! with the HTTP status that says what went wrong (400, 401, 403, 404, 409,
//! 412).
//!
//! - Authentication: Holdfast's own access tokens, from the administration
//!   tenant ([`auth`]): `Authorization: Bearer` (RFC 6750 §2.1) or `DPoP`
//!   with a proof (RFC 9449 §7).
//! - Lost updates: a client's and a tenant's settings (and its sign-in
//!   limits, which share their version) carry an `ETag`
//!   (their version); a `PATCH` with `If-Match` applies only to that
//!   version, or answers 412 (RFC 9110 §13.1.1, §15.5.13).
//! - Every change is an audit event naming the actor (`user:{name}` or
//!   `client:{client_id}`).
//! - The OpenAPI 3.1 document is generated from these handlers and types
//!   (utoipa) and served at `/admin/v1/openapi.json`; the copy checked in at
//!   `docs/admin-openapi.json` must match it (`tests/admin_api.rs`).
//!
//! One file per resource: [`tenants`], [`throttle`], [`clients`],
//! [`users`] (with invitations), [`keys`], [`events`].

pub mod auth;
pub mod clients;
pub mod events;
pub mod keys;
pub mod tenants;
pub mod throttle;
pub mod users;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, OpenIdConnect, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::service::admin::AdminError;
use crate::state::AppState;

pub use auth::{ADMIN_TENANT, Admin};

/// The error body of every admin API failure (RFC 6749 §5.2's shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A machine-readable code: `invalid_request`, `invalid_token`,
    /// `insufficient_scope`, `not_found`, …
    pub error: String,
    /// What went wrong, for a person.
    pub error_description: String,
}

/// A list, with the cursor of the next page when there is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A list that fits one page.
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Holdfast admin API",
        description = "Administration of a Holdfast server: tenants, clients, users, sessions, signing keys and the audit log. Authenticate with an access token of the `admin` tenant carrying scope `holdfast:admin` (the whole server) or `holdfast:admin:{tenant}` (one tenant).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/")),
    modifiers(&Security),
    security(("bearer" = []), ("holdfast" = ["holdfast:admin"])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // Where tokens come from: the administration tenant's issuer.
        // DPoP-bound tokens go as `Authorization: DPoP <token>` with a
        // `DPoP` proof (RFC 9449 §7.1).
        components.add_security_scheme(
            "holdfast",
            SecurityScheme::OpenIdConnect(OpenIdConnect::new(
                "/t/admin/.well-known/openid-configuration",
            )),
        );
    }
}

/// Documents the answers every operation can give: 400 (a malformed
/// request), 401 (no valid token), 403 (not yours to administer), 404, and
/// 413 for a body over the limit.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |text: &str| {
            ResponseBuilder::new()
                .description(text)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let mut add = |code: &str, text: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(text).into());
                };
                add("400", "The request is malformed.");
                add("401", "No valid access token of the administration tenant.");
                add("403", "The token may not administer this.");
                add("404", "No such thing.");
                if op.request_body.is_some() {
                    add("413", "The body is over the server's limit.");
                }
            }
        }
    }
}

/// The admin API's routes and its OpenAPI document, from the same handlers.
fn api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tenants::me))
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::show, tenants::delete))
        .routes(routes!(tenants::settings, tenants::update_settings))
        .routes(routes!(throttle::show, throttle::update, throttle::reset))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::delete))
        .routes(routes!(users::send_reset))
        .routes(routes!(users::invite))
        .routes(routes!(users::sessions, users::revoke_sessions))
        .routes(routes!(users::revoke_session))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(events::list))
        .split_for_parts();
    // After the routes: before them the document has no operations.
    let mut document = document;
    StandardErrors.modify(&mut document);
    (router, document)
}

/// The OpenAPI 3.1 document, as served at `/admin/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The document as pretty JSON with a final newline: what is served and
/// what `docs/admin-openapi.json` holds.
pub fn openapi_json() -> String {
    pretty(&openapi())
}

fn pretty(document: &utoipa::openapi::OpenApi) -> String {
    let mut text = document
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// The routes, for `http::app`.
pub fn router() -> axum::Router<AppState> {
    let (routes, document) = api();
    let document = pretty(&document);
    routes.route(
        "/admin/v1/openapi.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], document).into_response() }
        }),
    )
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(_)
            | AdminError::Password(_)
            | AdminError::WeakPassword(_)
            | AdminError::Policy(_)
            | AdminError::Throttle(_) => ApiError::invalid_request(e.to_string()),
            AdminError::Conflict(m) => {
                ApiError::invalid_request(m).with_status(StatusCode::CONFLICT)
            }
            AdminError::NotFound(m) => ApiError::not_found(m),
            AdminError::Stale(m) => {
                ApiError::invalid_request(m).with_status(StatusCode::PRECONDITION_FAILED)
            }
            AdminError::Key(k) => ApiError::from(k),
            AdminError::Account(a) => ApiError::from(a),
            AdminError::Store(s) => ApiError::from(s),
            AdminError::Crypto(c) => ApiError::internal(c, false),
        }
    }
}

/// Path parameters, as axum's `Path`, but a segment that does not decode
/// (invalid percent-encoding or UTF-8) is a 400 with the OAuth error
/// shape, like every other admin API error.
#[derive(Debug)]
pub struct AdminPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for AdminPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| AdminPath(v))
            .map_err(|e| ApiError::invalid_request(format!("bad path: {}", e.body_text())))
    }
}

/// A JSON request body, refused with 400 when it is not the documented
/// shape (unknown fields included).
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("the request body is not valid: {e}")))
}

/// Query parameters, refused with 400 when malformed.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid_request(format!("bad query parameters: {}", e.body_text())))
}

/// The `ETag` of a version (RFC 9110 §8.8.3, a strong validator).
pub(crate) fn etag(version: i64) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    (header::ETAG, value)
}

/// The version an `If-Match` names: `None` when absent or `*`; a value no
/// version has (so the change is refused with 412) when it names none of
/// ours (RFC 9110 §13.1.1).
pub(crate) fn if_match(headers: &HeaderMap) -> Option<i64> {
    let raw = headers.get(header::IF_MATCH)?.to_str().unwrap_or("").trim();
    if raw == "*" {
        return None;
    }
    Some(
        raw.split(',')
            .map(str::trim)
            .find_map(|tag| {
                tag.strip_prefix('"')?
                    .strip_suffix('"')?
                    .parse::<i64>()
                    .ok()
            })
            .unwrap_or(-1),
    )
}

/// A JSON answer with an `ETag`.
pub(crate) fn tagged<T: Serialize>(status: StatusCode, version: i64, body: T) -> Response {
    (status, [etag(version)], Json(body)).into_response()
}

/// A list's `limit` parameter, checked: 1–200, default 50.
pub(crate) fn limit(raw: Option<i64>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_request("limit must be 1-200")),
    }
}
