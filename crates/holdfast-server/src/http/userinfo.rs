//! The UserInfo endpoint, [OIDC Core §5.3](https://openid.net/specs/openid-connect-core-1_0.html#UserInfo),
//! protected per [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750): a
//! Bearer access token in the `Authorization` header (§2.1), errors as
//! `WWW-Authenticate: Bearer error=...` (§3).
//!
//! Not supported: the token in a form body or query (RFC 6750 §2.2–2.3),
//! signed or encrypted UserInfo responses.

use axum::Json;
use axum::extract::State;
use holdfast_core::OAuthErrorCode;
use serde_json::{Value, json};

use crate::http::bearer::{AccessToken, user_gone};
use crate::http::error::ApiError;
use crate::state::AppState;

/// `GET` or `POST {issuer}/userinfo`.
pub async fn userinfo(
    State(state): State<AppState>,
    AccessToken { claims, ctx }: AccessToken,
) -> Result<Json<Value>, ApiError> {
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
        .ok_or_else(user_gone)?
        .user;
    let mut body = json!({ "sub": user.id });
    if scopes.contains(&"profile") {
        body["preferred_username"] = json!(user.username);
        if let Some(name) = &user.display_name {
            body["name"] = json!(name);
        }
    }
    if scopes.contains(&"email")
        && let Some(email) = user.email
    {
        body["email"] = json!(email);
        body["email_verified"] = json!(user.email_verified);
    }
    Ok(Json(body))
}
