//! The user's own sessions (docs/design.md §1: "Users list their sessions, sign
//! out one, or sign out all others"), authorised by one of the user's access
//! tokens (RFC 6750 Bearer), and sign-out.
//!
//! | route | what |
//! |---|---|
//! | `GET {issuer}/sessions` | list my live sessions (devices) |
//! | `DELETE {issuer}/sessions/{sid}` | sign out one of them |
//! | `POST {issuer}/sessions/revoke-others` | sign out every other device |
//! | `POST {issuer}/logout` | sign out this session |
//!
//! A session is revoked with its refresh tokens; its access tokens stop
//! working at introspection and userinfo at once, and at resource servers
//! when they next consult revocation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use holdfast_core::claims::IssuedAccessTokenClaims;
use serde_json::json;

use crate::http::bearer::AccessToken;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::audit;
use crate::service::revocation::sign_out;
use crate::state::AppState;

fn user_token(
    token: AccessToken,
) -> Result<(IssuedAccessTokenClaims, String, TenantContext), ApiError> {
    // Client-credentials tokens have no user and no session.
    let sid = token.claims.sid.clone().ok_or_else(|| {
        ApiError::new(
            OAuthErrorCode::InsufficientScope,
            "this endpoint needs a user's access token",
        )
        .with_challenge("Bearer realm=\"holdfast\", error=\"insufficient_scope\"")
    })?;
    Ok((token.claims, sid, token.ctx))
}

/// `GET {issuer}/sessions`.
pub async fn list(State(state): State<AppState>, token: AccessToken) -> Result<Response, ApiError> {
    let (claims, current, ctx) = user_token(token)?;
    let sessions =
        crate::service::lookup::live_sessions(&state, &ctx.tenant.id, &claims.sub).await?;
    let items: Vec<_> = sessions
        .iter()
        .map(|s| {
            json!({
                "sid": s.id,
                "client_id": s.client_id,
                "device_id": s.device_id,
                "user_agent": s.user_agent,
                "ip": s.ip,
                "created_at": s.created_at,
                "last_used_at": s.last_used_at,
                "auth_time": s.auth_time,
                "current": s.id == current,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": items })).into_response())
}

/// `DELETE {issuer}/sessions/{sid}`.
pub async fn revoke_one(
    State(state): State<AppState>,
    Caller(context): Caller,
    Path((_, sid)): Path<(String, String)>,
    token: AccessToken,
) -> Result<Response, ApiError> {
    let (claims, _, ctx) = user_token(token)?;
    let session = state.store.session(&ctx.tenant.id, &sid).await?;
    // Someone else's session looks exactly like a missing one.
    let Some(session) = session.filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
    else {
        return Err(ApiError::not_found("no such session"));
    };
    sign_out(
        &state,
        &ctx.tenant,
        &claims.sub,
        &session.id,
        "signed_out_by_user",
        &context,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST {issuer}/sessions/revoke-others`.
pub async fn revoke_others(
    State(state): State<AppState>,
    Caller(context): Caller,
    token: AccessToken,
) -> Result<Response, ApiError> {
    let (claims, current, ctx) = user_token(token)?;
    let event = audit::about(
        &state,
        &ctx.tenant,
        "revocation",
        None,
        Some(&claims.sub),
        Some(&current),
        "signed_out_other_devices",
        &context,
    );
    let count = state
        .store
        .revoke_user_sessions(
            &ctx.tenant.id,
            &claims.sub,
            Some(&current),
            "signed_out_other_devices",
            event.at,
            &event,
        )
        .await?;
    crate::service::revocation::counted("signed_out_other_devices", count);
    Ok(Json(json!({ "revoked": count })).into_response())
}

/// `POST {issuer}/logout`.
pub async fn logout(
    State(state): State<AppState>,
    Caller(context): Caller,
    token: AccessToken,
) -> Result<Response, ApiError> {
    let (claims, current, ctx) = user_token(token)?;
    sign_out(
        &state,
        &ctx.tenant,
        &claims.sub,
        &current,
        "signed_out",
        &context,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
