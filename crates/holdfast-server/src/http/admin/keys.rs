//! `/admin/v1/tenants/{tenant}/keys`: the signing keys (public parts
//! only) and rotating them (docs/design.md: `next` becomes `current`, a
//! new `next` is published, the old `current` stays published to verify
//! tokens it signed).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Admin, AdminPath, Page};
use crate::http::error::ApiError;
use crate::service::admin;
use crate::state::AppState;

/// A signing key (its public part).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id (`kid`).
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// `next` (published, not yet signing), `current` (signing) or
    /// `retired` (published until its tokens expire).
    pub state: String,
    /// The public JWK (RFC 7517).
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Became current, Unix seconds.
    pub activated_at: Option<i64>,
    /// Retired, Unix seconds.
    pub retired_at: Option<i64>,
}

async fn views(state: &AppState, tenant_id: &str) -> Result<Vec<KeyView>, ApiError> {
    Ok(state
        .store
        .keys(tenant_id)
        .await?
        .into_iter()
        .map(|k| KeyView {
            kid: k.kid,
            alg: k.alg.as_str().to_owned(),
            state: k.state.as_str().to_owned(),
            public_jwk: serde_json::from_str(&k.public_jwk).unwrap_or(serde_json::Value::Null),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        })
        .collect())
}

/// `GET /admin/v1/tenants/{tenant}/keys`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/keys", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "Signing keys", body = Page<KeyView>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<Page<KeyView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    Ok(Json(Page::all(views(&state, &tenant.id).await?)))
}

/// `POST /admin/v1/tenants/{tenant}/keys/rotate`: rotates every algorithm
/// the tenant signs with; the keys after.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/keys/rotate", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The keys after rotation", body = Page<KeyView>)))]
pub async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<Page<KeyView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    admin::rotate_keys(&state, &tenant, &admin.actor).await?;
    Ok(Json(Page::all(views(&state, &tenant.id).await?)))
}
