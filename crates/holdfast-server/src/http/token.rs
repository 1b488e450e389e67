//! The token endpoint, [RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2):
//! `POST {issuer}/token`. Parses the form and the client's credentials, hands
//! them to `service::token`, and answers per §5.1 / §5.2 with
//! `Cache-Control: no-store` ("The authorization server MUST include the
//! HTTP Cache-Control response header field with a value of no-store").
//!
//! Cookie delivery (per client): the refresh token is moved out of the JSON
//! body into an `HttpOnly; SameSite=Strict` cookie whose `Path` is this
//! endpoint, so script never sees it and the browser sends it nowhere else;
//! a refresh request may then omit `refresh_token`. The `__Host-` prefix
//! needs `Path=/`, so the cookie uses `__Secure-` (on https) instead.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use holdfast_crypto::secret::sha256_b64;
use holdfast_dpop::{DPOP_HEADER, DPOP_NONCE_HEADER, DpopError, DpopRefusal};

use crate::http::authorize::cookie_value;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::FormParams;
use crate::http::metrics::ServedClient;
use crate::http::tenant::TenantContext;
use crate::service::client_auth::ClientCredentials;
use crate::service::dpop::current_nonce;
use crate::service::token::{TokenRequest, exchange};
use crate::state::AppState;
use holdfast_core::OAuthErrorCode;

/// `POST {issuer}/token`.
pub async fn token(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    let credentials = credentials(&headers, &form)?;
    let mut params = form.0;
    let secure = state.public_url.scheme() == "https";
    let cookie_name = client_of(&credentials).map(|id| refresh_cookie_name(id, secure));
    let served = client_of(&credentials).map(|id| ServedClient(id.to_owned()));
    if params.get("grant_type").map(String::as_str) == Some("refresh_token")
        && params.get("refresh_token").is_none_or(String::is_empty)
        && let Some(value) = cookie_name
            .as_deref()
            .and_then(|name| cookie_value(&headers, name))
    {
        params.insert("refresh_token".to_owned(), value);
    }
    let dpop = headers
        .get_all(DPOP_HEADER)
        .iter()
        .map(|v| v.to_str().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            with_nonce(
                ApiError::new(
                    OAuthErrorCode::InvalidDpopProof,
                    DpopRefusal::Proof(DpopError::Malformed).description(),
                ),
                &state,
                &ctx,
            )
        })?;
    let request = TokenRequest {
        params,
        credentials,
        context,
        dpop,
    };
    let mut response = exchange(&state, &ctx.tenant, &ctx.issuer, request)
        .await
        .map_err(|e| with_nonce(ApiError::from(e), &state, &ctx))?;
    let cookie = match (
        response.refresh_token_in_cookie,
        response.refresh_token.take(),
        cookie_name,
    ) {
        (true, Some(token), Some(name)) => Some(
            Cookie::build((name, token))
                .path(format!("{}/token", ctx.issuer.path()))
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Strict)
                .max_age(cookie::time::Duration::seconds(
                    response.refresh_lifetime_secs,
                ))
                .build(),
        ),
        (_, token, _) => {
            response.refresh_token = token;
            None
        }
    };
    let mut http = (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        http.headers_mut().append(header::SET_COOKIE, value);
    }
    if let Ok(nonce) = HeaderValue::from_str(&current_nonce(&state, &ctx.tenant)) {
        http.headers_mut().insert(DPOP_NONCE_HEADER, nonce);
    }
    if let Some(served) = served {
        http.extensions_mut().insert(served);
    }
    Ok(http)
}

/// RFC 9449 §8: the token endpoint offers a fresh nonce on every response,
/// errors included (`use_dpop_nonce` needs it).
fn with_nonce(error: ApiError, state: &AppState, ctx: &TenantContext) -> ApiError {
    error.with_header(DPOP_NONCE_HEADER, current_nonce(state, &ctx.tenant))
}

/// The refresh cookie of a client: one per client, so two cookie-mode
/// clients of a tenant in one browser do not overwrite each other.
pub fn refresh_cookie_name(client_id: &str, secure: bool) -> String {
    let tag: String = sha256_b64(client_id.as_bytes()).chars().take(16).collect();
    if secure {
        format!("__Secure-hfrt-{tag}")
    } else {
        format!("hfrt-{tag}")
    }
}

fn client_of(credentials: &ClientCredentials) -> Option<&str> {
    match credentials {
        ClientCredentials::Basic { client_id, .. }
        | ClientCredentials::Post { client_id, .. }
        | ClientCredentials::None { client_id } => Some(client_id),
        ClientCredentials::Missing => None,
    }
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
