//! An example resource server protected by `holdfast-verify`.
//!
//! Four routes, each showing one thing the library does:
//!
//! | route | needs | otherwise |
//! |---|---|---|
//! | `GET /api/hello` | any valid access token (Bearer, or DPoP when the token is DPoP-bound) | 401 with `WWW-Authenticate` (RFC 6750 §3, RFC 9449 §7.1) |
//! | `GET /api/admin` | scope `admin` | 403 `insufficient_scope` |
//! | `GET /api/sensitive` | a login within the step-up age (default 5 minutes) | 401 `insufficient_user_authentication` (RFC 9470) |
//! | `DELETE /api/records/{id}` | a critical action: two factors (`acr` "2") within the critical age (default 5 minutes) | 401 `insufficient_user_authentication` with `acr_values="2"` and `max_age` (RFC 9470 §3) |
//!
//! The app is a value ([`app`]) and [`run`] serves it on any listener, so
//! tests start it on port 0 with their own verifier and clock.

use std::future::Future;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use holdfast_verify::{StepUp, VerifiedClaims, Verifier};
use serde_json::{Value, json};

/// The example's settings besides the verifier.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `/api/sensitive` requires `auth_time` within this. Default 5 minutes.
    pub step_up_max_age: Duration,
    /// `DELETE /api/records/{id}` requires two factors within this.
    /// Default 5 minutes.
    pub critical_max_age: Duration,
}

/// The `acr` of a two-factor login at Holdfast (`holdfast_core::mfa`).
pub const ACR_TWO_FACTORS: &str = "2";

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            step_up_max_age: Duration::from_secs(300),
            critical_max_age: Duration::from_secs(300),
        }
    }
}

/// `GET /api/hello`: greets the token's subject.
async fn hello(claims: VerifiedClaims) -> Json<Value> {
    Json(json!({
        "message": format!("hello, {}", claims.sub()),
        "scheme": claims.scheme().as_str(),
        "client_id": claims.claims().client_id,
        "scope": claims.claims().scope,
        "dpop_jkt": claims.dpop_proof().map(|p| p.jkt.clone()),
    }))
}

/// `GET /api/admin`: only reached with scope `admin` (the route's layer
/// checks it).
async fn admin(claims: VerifiedClaims) -> Json<Value> {
    Json(json!({ "message": format!("welcome to the admin area, {}", claims.sub()) }))
}

/// `GET /api/sensitive`: only reached after a recent login.
async fn sensitive(claims: VerifiedClaims) -> Json<Value> {
    Json(json!({
        "message": format!("recently authenticated, {}", claims.sub()),
        "auth_time": claims.claims().auth_time,
    }))
}

/// `DELETE /api/records/{id}`: a critical action, only reached after a
/// recent two-factor login; says how the user authenticated.
async fn delete_record(
    axum::extract::Path(id): axum::extract::Path<String>,
    claims: VerifiedClaims,
) -> Json<Value> {
    let c = claims.claims();
    Json(json!({
        "deleted": id,
        "by": claims.sub(),
        "acr": c.acr,
        "amr": c.amr,
        "auth_time": c.auth_time,
    }))
}

/// The application.
pub fn app(verifier: &Verifier, config: &AppConfig) -> Router {
    Router::new()
        .route("/api/hello", get(hello))
        .route(
            "/api/admin",
            get(admin).layer(verifier.layer().require_scopes(["admin"])),
        )
        .route(
            "/api/sensitive",
            get(sensitive).layer(
                verifier
                    .layer()
                    .step_up(StepUp::max_age(config.step_up_max_age)),
            ),
        )
        .route(
            "/api/records/{id}",
            axum::routing::delete(delete_record).layer(
                verifier
                    .layer()
                    .step_up(StepUp::max_age(config.critical_max_age).and_acr([ACR_TWO_FACTORS])),
            ),
        )
        // Outermost: verifies every request once; the route layers above
        // only add their requirements.
        .layer(verifier.layer())
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
