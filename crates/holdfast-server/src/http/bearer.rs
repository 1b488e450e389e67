//! Bearer access tokens presented to Holdfast's own APIs
//! ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)),
//! with the §3 `WWW-Authenticate` challenges.

use axum::http::{HeaderMap, header};
use holdfast_core::OAuthErrorCode;
use holdfast_core::claims::AccessTokenClaims;

use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::tokens::{AccessTokenError, verify_access_token};
use crate::state::AppState;

/// Verifies the request's Bearer token for the tenant.
pub async fn authenticate_bearer(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Result<AccessTokenClaims, ApiError> {
    let token = bearer_token(headers).ok_or_else(|| {
        // RFC 6750 §3.1: no error code when the request had no credentials.
        ApiError::new(OAuthErrorCode::InvalidToken, "an access token is required")
            .with_challenge("Bearer realm=\"holdfast\"")
    })?;
    verify_access_token(state, &ctx.tenant, &ctx.issuer, token).await.map_err(|e| match e {
        AccessTokenError::Key(k) => ApiError::from(k),
        other => {
            let description = other.to_string();
            ApiError::new(OAuthErrorCode::InvalidToken, description.clone()).with_challenge(format!(
                "Bearer realm=\"holdfast\", error=\"invalid_token\", error_description=\"{description}\""
            ))
        }
    })
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A 401 for a token that verified but whose subject is gone.
pub fn user_gone() -> ApiError {
    ApiError::new(OAuthErrorCode::InvalidToken, "the user no longer exists")
        .with_challenge("Bearer realm=\"holdfast\", error=\"invalid_token\"")
}
