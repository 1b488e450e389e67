//! Resolving the `{tenant}` path segment to a tenant.
//!
//! Tenants are read through `service::lookup` (cached hits only), so a
//! tenant the CLI creates is served at once. An unknown or malformed slug is a 404 with
//! a JSON body.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use holdfast_core::tenant::{Tenant, TenantSlug, issuer_url};
use url::Url;

use crate::http::error::ApiError;
use crate::service::lookup;
use crate::state::AppState;

/// The tenant named in the path, with its issuer URL.
#[derive(Debug, Clone)]
pub struct TenantContext {
    /// The tenant.
    pub tenant: Tenant,
    /// `{public_url}/t/{slug}`.
    pub issuer: Url,
}

impl<S> FromRequestParts<S> for TenantContext
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, &state)
            .await
            .map_err(|_| ApiError::not_found("unknown tenant"))?;
        let slug = params
            .get("tenant")
            .and_then(|raw| TenantSlug::parse(raw).ok())
            .ok_or_else(|| ApiError::not_found("unknown tenant"))?;
        let tenant = lookup::tenant(&state, &slug)
            .await?
            .ok_or_else(|| ApiError::not_found("unknown tenant"))?;
        let issuer = issuer_url(&state.public_url, &tenant.slug);
        Ok(Self { tenant, issuer })
    }
}
