//! `/admin/v1/me`, `/admin/v1/tenants`, `/admin/v1/tenants/{tenant}` and
//! its `settings` (display name and account policy, with `ETag`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use holdfast_core::accounts::AccountPolicy;
use holdfast_core::admin::Reach;
use holdfast_core::tenant::{Tenant, issuer_url};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ADMIN_TENANT, Admin, AdminPath, ErrorBody, Page, if_match, json_body, tagged};
use crate::http::error::ApiError;
use crate::service::admin::{self, NewTenant, TenantUpdate};
use crate::state::AppState;

/// Who the caller is and what they may administer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// As audit events name them: `user:{username}` or `client:{client_id}`.
    pub actor: String,
    /// The token's client.
    pub client_id: String,
    /// Whether they administer the whole server.
    pub server_admin: bool,
    /// The tenants they administer (every tenant for a server admin).
    pub tenants: Vec<String>,
}

/// `GET /admin/v1/me`.
#[utoipa::path(get, path = "/admin/v1/me", tag = "tenants",
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(State(state): State<AppState>, admin: Admin) -> Result<Json<Me>, ApiError> {
    let tenants = match &admin.reach {
        Reach::Server => state
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.slug.to_string())
            .collect(),
        Reach::Tenants(t) => t.iter().cloned().collect(),
    };
    Ok(Json(Me {
        actor: admin.actor.name.clone(),
        client_id: admin.client_id.clone(),
        server_admin: matches!(admin.reach, Reach::Server),
        tenants,
    }))
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// URL slug: the issuer is `{public_url}/t/{slug}`.
    pub slug: String,
    /// The name people see.
    pub display_name: String,
    /// Signing algorithm of its tokens.
    pub signing_alg: String,
    /// The issuer (OIDC Discovery §4).
    pub issuer: String,
    /// Default access-token audience; the issuer when absent.
    pub default_audience: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Whether this is the administration tenant.
    pub administration: bool,
}

pub(super) fn tenant_view(state: &AppState, t: &Tenant) -> TenantView {
    TenantView {
        slug: t.slug.to_string(),
        display_name: t.display_name.clone(),
        signing_alg: t.signing_alg.as_str().to_owned(),
        issuer: issuer_url(&state.public_url, &t.slug).to_string(),
        default_audience: t.default_audience.clone(),
        created_at: t.created_at,
        administration: t.slug.as_str() == ADMIN_TENANT,
    }
}

/// `GET /admin/v1/tenants`: the tenants the caller administers.
#[utoipa::path(get, path = "/admin/v1/tenants", tag = "tenants",
    responses((status = 200, description = "Tenants, by slug", body = Page<TenantView>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Page<TenantView>>, ApiError> {
    let items = state
        .store
        .list_tenants()
        .await?
        .iter()
        .filter(|t| admin.reach.reaches(t.slug.as_str()))
        .map(|t| tenant_view(&state, t))
        .collect();
    Ok(Json(Page::all(items)))
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// 1–63 of a-z, 0-9 and inner '-'.
    pub slug: String,
    /// The name people see (defaults to the slug).
    pub display_name: Option<String>,
    /// `ES256` (default), `EdDSA` or `RS256`.
    pub signing_alg: Option<String>,
    /// Default access-token audience (defaults to the issuer).
    pub default_audience: Option<String>,
}

/// `POST /admin/v1/tenants` (whole-server administrators): creates a
/// tenant with its first signing keys.
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "tenants",
    request_body = TenantCreate,
    responses(
        (status = 201, description = "Created", body = TenantView),
        (status = 409, description = "The slug is taken", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin.require_server()?;
    let input: TenantCreate = json_body(&body)?;
    let signing_alg = match input.signing_alg.as_deref() {
        None => holdfast_core::keys::SigningAlg::ES256,
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::invalid_request("signing_alg must be ES256, EdDSA or RS256"))?,
    };
    let tenant = admin::create_tenant(
        &state,
        &admin.actor,
        NewTenant {
            slug: input.slug,
            display_name: input.display_name,
            signing_alg,
            audience: input.default_audience,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tenant_view(&state, &tenant))).into_response())
}

/// `GET /admin/v1/tenants/{tenant}`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The tenant", body = TenantView)))]
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<TenantView>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    Ok(Json(tenant_view(&state, &tenant)))
}

/// `DELETE /admin/v1/tenants/{tenant}` (whole-server administrators):
/// deletes the tenant with everything it holds. The administration tenant
/// cannot be deleted.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The administration tenant", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_server()?;
    let tenant = admin.tenant(&state, &slug).await?;
    if tenant.slug.as_str() == ADMIN_TENANT {
        return Err(
            ApiError::invalid_request("the administration tenant cannot be deleted")
                .with_status(StatusCode::CONFLICT),
        );
    }
    admin::delete_tenant(&state, &tenant, &admin.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A tenant's settings: its name and account policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettings {
    /// The name people see.
    pub display_name: String,
    /// Who may register: `closed`, `open` or `invite`.
    pub registration: String,
    /// `optional` or `required`: whether sign-in waits for a verified email.
    pub email_verification: String,
    /// `optional` or `required`: whether every sign-in needs a second factor.
    pub mfa: String,
    /// Fewest password characters.
    pub password_min_length: u32,
    /// Most password characters.
    pub password_max_length: u32,
    /// Whether common passwords are refused.
    pub password_blocklist: bool,
    /// The passkeys' relying-party ID; the public URL's host when absent.
    pub passkey_rp_id: Option<String>,
    /// The logo the hosted pages show above the name.
    pub logo_url: Option<String>,
    /// The hosted pages' accent colour, `#rrggbb`; the server's own when
    /// absent.
    pub accent_color: Option<String>,
    /// Where "Need help?" on the hosted pages leads (https or `mailto:`).
    pub support_url: Option<String>,
    /// Bumped by every change; also the `ETag`.
    pub version: i64,
}

/// Changes to a tenant's settings; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsPatch {
    /// The name people see.
    pub display_name: Option<String>,
    /// `closed`, `open` or `invite`.
    pub registration: Option<String>,
    /// `optional` or `required`.
    pub email_verification: Option<String>,
    /// `optional` or `required`.
    pub mfa: Option<String>,
    /// Fewest password characters.
    pub password_min_length: Option<u32>,
    /// Most password characters.
    pub password_max_length: Option<u32>,
    /// Refuse common passwords.
    pub password_blocklist: Option<bool>,
    /// The passkeys' relying-party ID; `""` goes back to the public URL's
    /// host.
    pub passkey_rp_id: Option<String>,
    /// An absolute https URL of the logo; `""` removes it.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`; `""` goes back to the server's colour.
    pub accent_color: Option<String>,
    /// An https URL or a `mailto:` address; `""` removes it.
    pub support_url: Option<String>,
}

fn settings_view(tenant: &Tenant, policy: &AccountPolicy, version: i64) -> TenantSettings {
    TenantSettings {
        display_name: tenant.display_name.clone(),
        registration: policy.registration.as_str().to_owned(),
        email_verification: policy.email_verification.as_str().to_owned(),
        mfa: policy.mfa.as_str().to_owned(),
        password_min_length: policy.password.min_length,
        password_max_length: policy.password.max_length,
        password_blocklist: policy.password.blocklist,
        passkey_rp_id: policy.passkey_rp_id.clone(),
        logo_url: tenant.branding.logo_url.clone(),
        accent_color: tenant.branding.accent_color.clone(),
        support_url: tenant.branding.support_url.clone(),
        version,
    }
}

async fn version_of(state: &AppState, tenant: &Tenant) -> Result<i64, ApiError> {
    state
        .store
        .tenant_version(&tenant.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such tenant"))
}

/// `GET /admin/v1/tenants/{tenant}/settings`, with its `ETag`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/settings", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The settings", body = TenantSettings,
        headers(("ETag" = String, description = "The settings' version")))))]
pub async fn settings(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let version = version_of(&state, &tenant).await?;
    let policy = admin::account_policy(&state, &tenant).await?;
    Ok(tagged(
        StatusCode::OK,
        version,
        settings_view(&tenant, &policy, version),
    ))
}

fn parse<T: std::str::FromStr>(raw: Option<String>, what: &str) -> Result<Option<T>, ApiError> {
    raw.map(|r| {
        r.parse()
            .map_err(|_| ApiError::invalid_request(format!("{what} has no value '{r}'")))
    })
    .transpose()
}

/// `PATCH /admin/v1/tenants/{tenant}/settings`; with `If-Match`, only if
/// unchanged since (else 412).
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/settings", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    request_body = TenantSettingsPatch,
    responses(
        (status = 200, description = "The settings now", body = TenantSettings,
            headers(("ETag" = String, description = "The settings' version"))),
        (status = 412, description = "Changed since the ETag was read", body = ErrorBody)))]
pub async fn update_settings(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let patch: TenantSettingsPatch = json_body(&body)?;
    let change = TenantUpdate {
        display_name: patch.display_name,
        registration: parse(patch.registration, "registration")?,
        email_verification: parse(patch.email_verification, "email_verification")?,
        mfa: parse(patch.mfa, "mfa")?,
        password_min_length: patch.password_min_length,
        password_max_length: patch.password_max_length,
        password_blocklist: patch.password_blocklist,
        passkey_rp_id: patch.passkey_rp_id,
        logo_url: patch.logo_url,
        accent_color: patch.accent_color,
        support_url: patch.support_url,
    };
    let (tenant, policy, version) =
        admin::update_tenant(&state, &tenant, &admin.actor, if_match(&headers), change).await?;
    Ok(tagged(
        StatusCode::OK,
        version,
        settings_view(&tenant, &policy, version),
    ))
}
