//! The token endpoint, [RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2):
//! `POST {issuer}/token`. Parses the form and the client's credentials, hands
//! them to `service::token`, and answers per §5.1 / §5.2 with
//! `Cache-Control: no-store` ("The authorization server MUST include the
//! HTTP Cache-Control response header field with a value of no-store").

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::FormParams;
use crate::http::tenant::TenantContext;
use crate::service::client_auth::ClientCredentials;
use crate::service::token::{TokenRequest, exchange};
use crate::state::AppState;

/// `POST {issuer}/token`.
pub async fn token(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    let credentials = credentials(&headers, &form)?;
    let request = TokenRequest {
        params: form.0,
        credentials,
        context,
    };
    let response = exchange(&state, &ctx.tenant, &ctx.issuer, request).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response())
}

/// Client credentials from the `Authorization` header and the form.
pub fn credentials(headers: &HeaderMap, form: &FormParams) -> Result<ClientCredentials, ApiError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid_request("malformed Authorization header"))?,
        ),
    };
    Ok(ClientCredentials::from_request(
        authorization,
        form.get("client_id"),
        form.get("client_secret"),
    )?)
}
