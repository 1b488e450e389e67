//! `POST {issuer}/revoke` ([RFC 7009 §2](https://www.rfc-editor.org/rfc/rfc7009#section-2))
//! and `POST {issuer}/introspect` ([RFC 7662 §2](https://www.rfc-editor.org/rfc/rfc7662#section-2)).
//!
//! Revocation authenticates the client as the token endpoint does (public
//! clients by `client_id`); introspection is for confidential clients only
//! (RFC 7662 §2.1: "the endpoint MUST also require some form of
//! authorization"), each may introspect any token of its own tenant.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::client::ClientKind;

use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::FormParams;
use crate::http::tenant::TenantContext;
use crate::http::token::credentials;
use crate::service::client_auth::authenticate;
use crate::service::revocation::{introspect, revoke};
use crate::service::token::{ClientAuthFailure, RequestError, TokenError};
use crate::state::AppState;

/// `POST {issuer}/revoke`.
pub async fn revocation(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    let client = authenticate(
        &state,
        &ctx.tenant,
        &credentials(&headers, &form)?,
        &context,
    )
    .await?;
    // RFC 7009 §2.1: "token REQUIRED".
    let token = form
        .get("token")
        .ok_or(TokenError::InvalidRequest(RequestError::MissingToken))?;
    revoke(&state, &ctx.tenant, &client, token, &context).await?;
    // RFC 7009 §2.2: "The authorization server responds with HTTP status code 200".
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}

/// `POST {issuer}/introspect`.
pub async fn introspection(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    let client = authenticate(
        &state,
        &ctx.tenant,
        &credentials(&headers, &form)?,
        &context,
    )
    .await?;
    if client.kind != ClientKind::Confidential {
        return Err(TokenError::InvalidClient {
            reason: ClientAuthFailure::ConfidentialOnly,
            basic: false,
        }
        .into());
    }
    let token = form
        .get("token")
        .ok_or(TokenError::InvalidRequest(RequestError::MissingToken))?;
    let body = introspect(&state, &ctx.tenant, &ctx.issuer, token).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
