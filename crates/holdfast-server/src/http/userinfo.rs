//! The UserInfo endpoint, [OIDC Core §5.3](https://openid.net/specs/openid-connect-core-1_0.html#UserInfo),
//! protected per [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750): a
//! Bearer access token in the `Authorization` header (§2.1), errors as
//! `WWW-Authenticate: Bearer error=...` (§3).
//!
//! Not supported: the token in a form body or query (RFC 6750 §2.2–2.3),
//! signed or encrypted UserInfo responses.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use holdfast_core::OAuthErrorCode;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::tokens::{AccessTokenError, verify_access_token};
use crate::state::AppState;

/// `GET` or `POST {issuer}/userinfo`.
pub async fn userinfo(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = bearer_token(&headers).ok_or_else(|| {
        // RFC 6750 §3.1: no error code when the request had no credentials.
        ApiError::new(OAuthErrorCode::InvalidToken, "an access token is required")
            .with_challenge("Bearer realm=\"holdfast\"")
    })?;
    let claims = verify_access_token(&state, &ctx.tenant, &ctx.issuer, token).await.map_err(|e| match e {
        AccessTokenError::Key(k) => ApiError::from(k),
        other => {
            let description = other.to_string();
            ApiError::new(OAuthErrorCode::InvalidToken, description.clone()).with_challenge(format!(
                "Bearer realm=\"holdfast\", error=\"invalid_token\", error_description=\"{description}\""
            ))
        }
    })?;
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return Err(ApiError::new(
            OAuthErrorCode::InsufficientScope,
            "the token lacks the openid scope",
        )
        .with_challenge(
            "Bearer realm=\"holdfast\", error=\"insufficient_scope\", scope=\"openid\"",
        ));
    }
    let user = state
        .store
        .user_by_id(&ctx.tenant.id, &claims.sub)
        .await?
        .ok_or_else(|| {
            ApiError::new(OAuthErrorCode::InvalidToken, "the user no longer exists")
                .with_challenge("Bearer realm=\"holdfast\", error=\"invalid_token\"")
        })?
        .user;
    let mut body = json!({ "sub": user.id });
    if scopes.contains(&"profile") {
        body["preferred_username"] = json!(user.username);
    }
    if scopes.contains(&"email") {
        if let Some(email) = user.email {
            body["email"] = json!(email);
            body["email_verified"] = json!(false);
        }
    }
    Ok(Json(body))
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
