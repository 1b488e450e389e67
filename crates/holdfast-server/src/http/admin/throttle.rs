//! `/admin/v1/tenants/{tenant}/throttle`: the tenant's brute-force limits
//! (`holdfast_core::throttle`, OWASP ASVS 2.2.1): read them, give the
//! tenant its own, or send it back to the server's defaults. The limits
//! share the tenant settings' version, so the same `ETag` guards both
//! (RFC 9110 §13.1.1).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Admin, AdminPath, ErrorBody, if_match, json_body, tagged};
use crate::http::error::ApiError;
use crate::service::admin::{self, ThrottlePatch, ThrottleSettings};
use crate::state::AppState;

/// The sign-in limits in force for a tenant. Counts are at most 1,000,000,
/// windows and delays at most 366 days, and no more than 100 failures per
/// account per hour (ASVS 2.2.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct ThrottleView {
    /// Failures per account and address in one window.
    pub pair_max_failures: i64,
    /// Length of that window, seconds.
    pub pair_window_secs: i64,
    /// Failures per account before each further attempt waits a doubling
    /// delay.
    pub account_delay_after: i64,
    /// Longest such delay, seconds.
    pub account_max_delay_secs: i64,
    /// Failures per account (all addresses) in one window.
    pub account_max_failures: i64,
    /// Length of the account window, seconds.
    pub account_window_secs: i64,
    /// Failures per address across accounts in one window.
    pub address_max_failures: i64,
    /// Length of the address window, seconds.
    pub address_window_secs: i64,
    /// How long an address that signed in stays exempt from the account
    /// counter, seconds.
    pub known_address_secs: i64,
    /// `true`: the tenant's own limits; `false`: the server's defaults.
    pub own: bool,
    /// The tenant settings' version; also the `ETag`.
    pub version: i64,
}

fn view(s: &ThrottleSettings) -> ThrottleView {
    let p = &s.policy;
    ThrottleView {
        pair_max_failures: p.pair_max_failures,
        pair_window_secs: p.pair_window_secs,
        account_delay_after: p.account_delay_after,
        account_max_delay_secs: p.account_max_delay_secs,
        account_max_failures: p.account_max_failures,
        account_window_secs: p.account_window_secs,
        address_max_failures: p.address_max_failures,
        address_window_secs: p.address_window_secs,
        known_address_secs: p.known_address_secs,
        own: s.own,
        version: s.version,
    }
}

/// `GET /admin/v1/tenants/{tenant}/throttle`, with its `ETag`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/throttle", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The limits in force", body = ThrottleView,
        headers(("ETag" = String, description = "The tenant settings' version")))))]
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let current = admin::throttle_settings(&state, &tenant).await?;
    Ok(tagged(StatusCode::OK, current.version, view(&current)))
}

/// `PATCH /admin/v1/tenants/{tenant}/throttle`: the tenant's own limits
/// from now on (the fields given, the rest as in force; absent fields keep
/// their value); with `If-Match`,
/// only if the settings are unchanged since (else 412).
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/throttle", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    request_body = ThrottlePatch,
    responses(
        (status = 200, description = "The limits now", body = ThrottleView,
            headers(("ETag" = String, description = "The tenant settings' version"))),
        (status = 412, description = "Changed since the ETag was read", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let patch: ThrottlePatch = json_body(&body)?;
    let current = admin::throttle_settings(&state, &tenant).await?;
    // An empty patch makes the limits in force the tenant's own.
    let policy = patch.apply(current.policy).unwrap_or(current.policy);
    let now = admin::set_throttle(
        &state,
        &tenant,
        &admin.actor,
        if_match(&headers),
        Some(policy),
    )
    .await?;
    Ok(tagged(StatusCode::OK, now.version, view(&now)))
}

/// `DELETE /admin/v1/tenants/{tenant}/throttle`: back to the server's
/// limits; with `If-Match` as for `PATCH`.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/throttle", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    responses(
        (status = 200, description = "The server's limits, now in force", body = ThrottleView,
            headers(("ETag" = String, description = "The tenant settings' version"))),
        (status = 412, description = "Changed since the ETag was read", body = ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let now = admin::set_throttle(&state, &tenant, &admin.actor, if_match(&headers), None).await?;
    Ok(tagged(StatusCode::OK, now.version, view(&now)))
}
