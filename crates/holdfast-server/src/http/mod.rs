//! The HTTP edge: routing, limits, error shapes. Handlers are thin: they
//! parse, call a service, and map the result; no SQL lives here.
//!
//! Routes (per tenant, under the issuer `{public_url}/t/{tenant}`):
//!
//! | route | spec |
//! |---|---|
//! | `GET /t/{tenant}/.well-known/openid-configuration` | OIDC Discovery §4 |
//! | `GET /.well-known/oauth-authorization-server/t/{tenant}` | RFC 8414 §3 |
//! | `GET /t/{tenant}/jwks.json` | RFC 7517 §5 |
//! | `GET, POST /t/{tenant}/authorize` | RFC 6749 §4.1.1, OIDC Core §3.1.2 |
//! | `POST /t/{tenant}/login` | the hosted login form |
//! | `POST /t/{tenant}/login/second-factor` | its second step: a TOTP or recovery code, TOTP enrolment, step-up (`http/second_factor.rs`) |
//! | `GET, POST /t/{tenant}/signup`, `…/verify-email`, `…/forgot-password`, `…/reset-password` | self-service accounts (`http/accounts.rs`; OIDC Initiating User Registration §4) |
//! | `GET /t/{tenant}/account`, `POST …/account/{login,profile,email,password,delete,logout}`, `POST …/account/totp/{begin,confirm,remove}`, `…/account/recovery-codes`, `POST …/account/sessions/{sid}/revoke`, `…/sessions/revoke-others` | the account page (`http/account_page.rs`) |
//! | `POST /t/{tenant}/authorize-challenge` | OAuth for First-Party Apps §5 |
//! | `POST /t/{tenant}/api/{signup,verify-email,forgot-password,reset-password,change-password}` | the first-party account API (`http/account_api.rs`) |
//! | `POST /t/{tenant}/token` | RFC 6749 §3.2 |
//! | `GET, POST /t/{tenant}/userinfo` | OIDC Core §5.3 |
//! | `POST /t/{tenant}/revoke` | RFC 7009 §2 |
//! | `POST /t/{tenant}/introspect` | RFC 7662 §2 |
//! | `GET, POST /t/{tenant}/end-session` | OIDC RP-Initiated Logout §2 |
//! | `POST /t/{tenant}/end-session/confirm` | its confirmation form (§6) |
//! | `GET /t/{tenant}/sessions`, `DELETE …/sessions/{sid}`, `POST …/sessions/revoke-others`, `POST …/logout` | the user's sessions |
//! | `GET /.well-known/ssf-configuration/t/{tenant}`, `/t/{tenant}/ssf/…` | OpenID SSF 1.0 §7, §8; RFC 8936 (`http/ssf.rs`) |
//! | `GET /`, `GET /t/{tenant}`, `GET /favicon.ico` | what a browser landing there sees (`http/landing.rs`: a page for `Accept: text/html`, JSON otherwise; every JSON error a navigation gets becomes a page too) |
//! | `GET /assets/holdfast.css` | the hosted pages' stylesheet |
//! | `/admin/v1/…`, `GET /admin/v1/openapi.json` | the admin API (`http/admin/`) |
//! | `GET /admin/`, `/admin/assets/…`, `/admin/sdk/…` | the admin console (`console/`) |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | operations |

pub mod account_api;
pub mod account_page;
pub mod accounts;
pub mod admin;
pub mod authorize;
pub mod bearer;
pub mod browser;
pub mod caller;
pub mod challenge;
pub mod cors;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod form;
pub mod health;
pub mod jwks;
pub mod landing;
pub mod metrics;
pub mod revocation;
pub mod second_factor;
pub mod sessions;
pub mod ssf;
pub mod tenant;
pub mod token;
pub mod userinfo;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use holdfast_core::OAuthErrorCode;
use tower_http::catch_panic::CatchPanicLayer;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Builds the application.
pub fn app(state: AppState) -> Router {
    metrics::handle();
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route("/", get(landing::root))
        .route("/favicon.ico", get(landing::favicon))
        .route("/t/{tenant}", get(landing::tenant_root))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route(
            "/.well-known/oauth-authorization-server/t/{tenant}",
            get(discovery::metadata),
        )
        .route(
            "/t/{tenant}/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route("/t/{tenant}/jwks.json", get(jwks::jwks))
        .route(
            "/t/{tenant}/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/t/{tenant}/login", post(authorize::login))
        .route(
            "/t/{tenant}/login/second-factor",
            post(second_factor::submit),
        )
        .route(
            "/t/{tenant}/signup",
            get(accounts::signup_get).post(accounts::signup_post),
        )
        .route(
            "/t/{tenant}/verify-email",
            get(accounts::verify_link).post(accounts::verify_code),
        )
        .route(
            "/t/{tenant}/forgot-password",
            get(accounts::forgot_get).post(accounts::forgot_post),
        )
        .route("/t/{tenant}/api/signup", post(account_api::signup))
        .route(
            "/t/{tenant}/api/verify-email",
            post(account_api::verify_email),
        )
        .route(
            "/t/{tenant}/api/forgot-password",
            post(account_api::forgot_password),
        )
        .route(
            "/t/{tenant}/api/reset-password",
            post(account_api::reset_password),
        )
        .route(
            "/t/{tenant}/api/change-password",
            post(account_api::change_password),
        )
        .route("/t/{tenant}/account", get(account_page::show))
        .route("/t/{tenant}/account/login", post(account_page::login))
        .route("/t/{tenant}/account/profile", post(account_page::profile))
        .route("/t/{tenant}/account/email", post(account_page::email))
        .route("/t/{tenant}/account/password", post(account_page::password))
        .route("/t/{tenant}/account/delete", post(account_page::delete))
        .route("/t/{tenant}/account/logout", post(account_page::logout))
        .route(
            "/t/{tenant}/account/passkeys/add",
            post(account_page::passkey_add),
        )
        .route(
            "/t/{tenant}/account/passkeys/rename",
            post(account_page::passkey_rename),
        )
        .route(
            "/t/{tenant}/account/passkeys/remove",
            post(account_page::passkey_remove),
        )
        .route(
            "/t/{tenant}/account/totp/begin",
            post(account_page::totp_begin),
        )
        .route(
            "/t/{tenant}/account/totp/confirm",
            post(account_page::totp_confirm),
        )
        .route(
            "/t/{tenant}/account/totp/remove",
            post(account_page::totp_remove),
        )
        .route(
            "/t/{tenant}/account/recovery-codes",
            post(account_page::recovery_codes),
        )
        .route(
            "/t/{tenant}/account/sessions/revoke-others",
            post(account_page::revoke_others),
        )
        .route(
            "/t/{tenant}/account/sessions/{sid}/revoke",
            post(account_page::revoke_one),
        )
        .route(
            "/t/{tenant}/reset-password",
            get(accounts::reset_get).post(accounts::reset_post),
        )
        .route(
            "/t/{tenant}/authorize-challenge",
            post(challenge::challenge),
        )
        .route("/t/{tenant}/token", post(token::token))
        .route(
            "/t/{tenant}/device_authorization",
            post(device::authorization),
        )
        .route("/t/{tenant}/device", get(device::page).post(device::decide))
        .route("/t/{tenant}/device/callback", get(device::callback))
        .route(
            "/t/{tenant}/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/t/{tenant}/revoke", post(revocation::revocation))
        .route("/t/{tenant}/introspect", post(revocation::introspection))
        .route("/t/{tenant}/sessions", get(sessions::list))
        .route(
            "/t/{tenant}/sessions/revoke-others",
            post(sessions::revoke_others),
        )
        .route(
            "/t/{tenant}/sessions/{sid}",
            axum::routing::delete(sessions::revoke_one),
        )
        .route("/t/{tenant}/logout", post(sessions::logout))
        .route(
            "/t/{tenant}/end-session",
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route(
            "/t/{tenant}/end-session/confirm",
            post(end_session::confirm),
        )
        .route(
            "/.well-known/ssf-configuration/t/{tenant}",
            get(ssf::configuration),
        )
        .route(
            "/t/{tenant}/ssf/streams",
            get(ssf::read_streams)
                .post(ssf::create_stream)
                .patch(ssf::update_stream)
                .put(ssf::replace_stream)
                .delete(ssf::delete_stream),
        )
        .route(
            "/t/{tenant}/ssf/status",
            get(ssf::read_status).post(ssf::set_status),
        )
        .route("/t/{tenant}/ssf/verify", post(ssf::verify))
        .route(SSF_POLL_ROUTE, post(ssf::poll_stream))
        .merge(admin::router())
        .merge(crate::console::router())
        .route("/t/{tenant}/branding.css", get(brand_stylesheet))
        .route(crate::pages::STYLESHEET_PATH, get(stylesheet))
        .route(crate::pages::SCRIPT_PATH, get(script))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_large_bodies,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            landing::html_for_browsers,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(middleware::from_fn(metrics::record))
        .layer(middleware::from_fn(common_headers))
        .layer(middleware::from_fn_with_state(
            state.requests.clone(),
            run_to_completion,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                OAuthErrorCode::ServerError,
                "the server could not complete the request",
            )
            .into_response()
        }))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::pages::STYLESHEET,
    )
        .into_response()
}

/// `GET /t/{tenant}/branding.css`: the tenant's accent colour, loaded by
/// its hosted pages after the server's stylesheet (empty without one).
async fn brand_stylesheet(ctx: tenant::TenantContext) -> Response {
    let body = ctx
        .tenant
        .branding
        .accent_color
        .as_deref()
        .map(crate::pages::brand_stylesheet)
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        crate::pages::SCRIPT,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> Response {
    // RFC 9110 §15.5.6: 405, with the OAuth-shaped body every error has.
    let body = ApiError::invalid_request("method not allowed on this endpoint");
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// Refuses a body whose declared length exceeds the limit before reading
/// it; bodies without a length are cut off by `DefaultBodyLimit` in the
/// extractors, which map that to the same 413.
async fn refuse_large_bodies(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.config.max_body_bytes as u64) {
        return ApiError::new(OAuthErrorCode::RequestTooLarge, "request body too large")
            .into_response();
    }
    next.run(request).await
}

/// The RFC 8936 poll route: a long poll, which waits rather than writes,
/// and stops waiting when its receiver hangs up (left out of
/// [`run_to_completion`]: a poll run on for nobody could take events and
/// sign them for no one until they are delivered again).
const SSF_POLL_ROUTE: &str = "/t/{tenant}/ssf/poll/{stream_id}";

/// Runs each request in a task of its own, to the end. A client that hangs
/// up makes hyper drop the request's future; without this, that cut the
/// handler off wherever it was waiting: between two writes, or in the
/// middle of a commit it shares with other clients' rotations (SQLite's
/// group commit, decision 0013, which a member dropped half-way rolls back
/// for all of them). Now only the answer is lost, as when the connection
/// drops after it was sent, which confirmed rotation already covers
/// (DESIGN §4: the retry gets the same child). A handler's panic is passed
/// on, as raised, to the `CatchPanicLayer` around this. The tasks are
/// tracked in `requests`, which shutdown waits for.
async fn run_to_completion(
    State(requests): State<tokio_util::task::TaskTracker>,
    request: Request,
    next: Next,
) -> Response {
    let long_poll = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|path| path.as_str() == SSF_POLL_ROUTE);
    if long_poll {
        return next.run(request).await;
    }
    match requests.spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => ApiError::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the server is shutting down",
        )
        .into_response(),
    }
}

async fn common_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use tokio::sync::{Notify, oneshot};
    use tokio_util::task::TaskTracker;
    use tower::ServiceExt;

    use super::*;

    /// A handler that says when it has started, waits to be released, and
    /// then says it finished, at `path`, behind [`run_to_completion`]
    /// tracked by `requests`.
    fn held_route(
        path: &str,
        requests: &TaskTracker,
        started: Arc<Notify>,
        release: Arc<Notify>,
        finished: oneshot::Sender<()>,
    ) -> Router {
        let finished = Arc::new(Mutex::new(Some(finished)));
        let handler = move || async move {
            started.notify_one();
            release.notified().await;
            if let Some(finished) = finished.lock().unwrap().take() {
                let _ = finished.send(());
            }
            "written"
        };
        Router::new()
            .route(path, post(handler))
            .layer(middleware::from_fn_with_state(
                requests.clone(),
                run_to_completion,
            ))
    }

    /// Posts to `uri` on a [`held_route`] at `path`, hangs up once the
    /// handler has started, then releases it and waits, as shutdown does,
    /// for the requests still running: whether the handler finished.
    async fn hang_up_on(path: &str, uri: &str) -> bool {
        let requests = TaskTracker::new();
        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (finished, mut handler_finished) = oneshot::channel();
        let app = held_route(path, &requests, started.clone(), release.clone(), finished);
        let request = Request::post(uri).body(Body::empty()).unwrap();
        let mut call = Box::pin(app.oneshot(request));
        tokio::select! {
            _ = &mut call => panic!("answered before the handler was released"),
            () = started.notified() => {}
        }
        // The client hangs up: hyper drops the request's future.
        drop(call);
        release.notify_one();
        requests.close();
        requests.wait().await;
        handler_finished.try_recv().is_ok()
    }

    #[tokio::test]
    async fn a_request_whose_client_hangs_up_still_runs_to_the_end_and_shutdown_waits_for_it() {
        assert!(
            hang_up_on("/write", "/write").await,
            "the handler was dropped with its client"
        );
    }

    #[tokio::test]
    async fn rfc8936_a_long_poll_whose_receiver_hangs_up_stops_waiting() {
        assert!(
            !hang_up_on(SSF_POLL_ROUTE, "/t/acme/ssf/poll/stream-1").await,
            "the poll ran on for a receiver that was gone"
        );
    }

    #[tokio::test]
    async fn a_handler_that_panics_in_its_own_task_is_still_a_json_500() {
        async fn panics() -> &'static str {
            panic!("a bug")
        }
        let app = Router::new()
            .route("/panics", get(panics))
            .layer(middleware::from_fn_with_state(
                TaskTracker::new(),
                run_to_completion,
            ))
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::new(OAuthErrorCode::ServerError, "caught").into_response()
            }));
        let request = Request::get("/panics").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "server_error");
    }
}
