//! The tenant's JWK Set (RFC 7517 §5), at the `jwks_uri` of its metadata.
//! Publishes the next, current and still-relevant retired keys, each with
//! `kid`, `alg` and `use` (RFC 7517 §4.2–4.5).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::state::AppState;

/// `GET {issuer}/jwks.json`.
pub async fn jwks(
    State(state): State<AppState>,
    ctx: TenantContext,
) -> Result<impl IntoResponse, ApiError> {
    let set = state.keys.jwks(&ctx.tenant, state.now()).await?;
    // Short caching: verifiers refetch on an unknown kid anyway, and the
    // `next` key is published well before it signs.
    Ok(([(header::CACHE_CONTROL, "public, max-age=60")], Json(set)))
}
