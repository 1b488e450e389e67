//! The Shared Signals transmitter's HTTP edge (OpenID SSF 1.0, RFC 8936):
//!
//! | route | spec |
//! |---|---|
//! | `GET /.well-known/ssf-configuration/t/{tenant}` | SSF §7.2 (issuer path after the well-known string, as RFC 8414 §3.1) |
//! | `GET, POST, PATCH, PUT, DELETE /t/{tenant}/ssf/streams` | SSF §8.1.1 |
//! | `GET, POST /t/{tenant}/ssf/status` | SSF §8.1.2 |
//! | `POST /t/{tenant}/ssf/verify` | SSF §8.1.4 |
//! | `POST /t/{tenant}/ssf/poll/{stream_id}` | RFC 8936 §2 |
//!
//! Every route but the metadata takes an access token of a confidential
//! client of the tenant from the client credentials grant, with scope `ssf`
//! (SSF §7.1.1 `authorization_schemes`: RFC 6749); a token for a user, or
//! without the scope, is refused with 403 `insufficient_scope` (RFC 6750
//! §3.1). Bodies are JSON; a malformed one is a 400 `invalid_request`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use holdfast_core::signals::{SSF_SCOPE, transmitter_metadata};
use serde::de::DeserializeOwned;

use crate::http::bearer::AccessToken;
use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::signals::poll::{PollRequest, poll};
use crate::service::signals::streams::{
    self, Endpoints, StatusRequest, StreamRequest, VerificationRequest, status_json, stream_json,
};
use crate::state::AppState;

/// `GET /.well-known/ssf-configuration/t/{tenant}`.
pub async fn configuration(ctx: TenantContext) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(transmitter_metadata(ctx.issuer.as_str())),
    )
}

/// A receiver: the client whose `ssf` token came with the request.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Its `client_id`.
    pub client_id: String,
    /// The tenant.
    pub ctx: TenantContext,
}

impl Receiver {
    fn endpoints(&self) -> Endpoints {
        Endpoints {
            issuer: self.ctx.issuer.clone(),
        }
    }
}

impl<S> FromRequestParts<S> for Receiver
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = AccessToken::from_request_parts(parts, state).await?;
        let claims = &token.claims;
        let is_client_token = claims.sid.is_none() && claims.sub == claims.client_id;
        let has_scope = claims.scope.split(' ').any(|s| s == SSF_SCOPE);
        if !is_client_token || !has_scope {
            return Err(ApiError::new(
                OAuthErrorCode::InsufficientScope,
                "a client-credentials access token with scope ssf is required",
            )
            .with_challenge(
                "Bearer realm=\"holdfast\", error=\"insufficient_scope\", scope=\"ssf\"",
            ));
        }
        Ok(Self {
            client_id: claims.client_id.clone(),
            ctx: token.ctx,
        })
    }
}

fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid_request("the body is not the JSON object this endpoint takes")
    })
}

/// The `stream_id` query parameter (SSF §8.1.1.2, §8.1.1.5, §8.1.2.1).
/// Read leniently, so a malformed query string is a missing parameter (an
/// OAuth-shaped 400 where one is required), never axum's plain-text
/// rejection.
pub struct StreamIdParam(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for StreamIdParam {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(name, _)| name == "stream_id")
                .map(|(_, value)| value.into_owned())
        });
        Ok(Self(id))
    }
}

impl StreamIdParam {
    fn required(&self) -> Result<&str, ApiError> {
        self.0
            .as_deref()
            .ok_or_else(|| ApiError::invalid_request("stream_id is required"))
    }
}

/// `GET …/ssf/streams[?stream_id=]` (§8.1.1.2): one stream, or all of the
/// receiver's.
pub async fn read_streams(
    State(state): State<AppState>,
    receiver: Receiver,
    StreamIdParam(stream_id): StreamIdParam,
) -> Result<Response, ApiError> {
    let tenant_id = &receiver.ctx.tenant.id;
    let endpoints = receiver.endpoints();
    if let Some(id) = stream_id.as_deref() {
        let stream = streams::find(&state, tenant_id, &receiver.client_id, id).await?;
        return Ok(Json(stream_json(&stream, &endpoints)).into_response());
    }
    let all = state
        .store
        .streams_of_client(tenant_id, &receiver.client_id)
        .await?;
    let list: Vec<_> = all.iter().map(|s| stream_json(s, &endpoints)).collect();
    Ok(Json(list).into_response())
}

/// `POST …/ssf/streams` (§8.1.1.1): 201 with the new stream.
pub async fn create_stream(
    State(state): State<AppState>,
    receiver: Receiver,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: StreamRequest = json_body(&body)?;
    let stream = streams::create(
        &state,
        &receiver.ctx.tenant.id,
        &receiver.client_id,
        &request,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(stream_json(&stream, &receiver.endpoints())),
    )
        .into_response())
}

/// `PATCH …/ssf/streams` (§8.1.1.3).
pub async fn update_stream(
    State(state): State<AppState>,
    receiver: Receiver,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_stream(&state, &receiver, &body, false).await
}

/// `PUT …/ssf/streams` (§8.1.1.4).
pub async fn replace_stream(
    State(state): State<AppState>,
    receiver: Receiver,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_stream(&state, &receiver, &body, true).await
}

async fn change_stream(
    state: &AppState,
    receiver: &Receiver,
    body: &Bytes,
    replace: bool,
) -> Result<Response, ApiError> {
    let request: StreamRequest = json_body(body)?;
    let stream = streams::update(
        state,
        &receiver.ctx.tenant.id,
        &receiver.client_id,
        &request,
        replace,
    )
    .await?;
    Ok(Json(stream_json(&stream, &receiver.endpoints())).into_response())
}

/// `DELETE …/ssf/streams?stream_id=` (§8.1.1.5): 204.
pub async fn delete_stream(
    State(state): State<AppState>,
    receiver: Receiver,
    stream_id: StreamIdParam,
) -> Result<Response, ApiError> {
    let id = stream_id.required()?;
    let stream = streams::find(&state, &receiver.ctx.tenant.id, &receiver.client_id, id).await?;
    state
        .store
        .delete_stream(&receiver.ctx.tenant.id, &stream.id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/ssf/status?stream_id=` (§8.1.2.1).
pub async fn read_status(
    State(state): State<AppState>,
    receiver: Receiver,
    stream_id: StreamIdParam,
) -> Result<Response, ApiError> {
    let id = stream_id.required()?;
    let stream = streams::find(&state, &receiver.ctx.tenant.id, &receiver.client_id, id).await?;
    Ok(Json(status_json(&stream)).into_response())
}

/// `POST …/ssf/status` (§8.1.2.2).
pub async fn set_status(
    State(state): State<AppState>,
    receiver: Receiver,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: StatusRequest = json_body(&body)?;
    let stream = streams::set_status(
        &state,
        &receiver.ctx.tenant.id,
        &receiver.client_id,
        &request,
    )
    .await?;
    Ok(Json(status_json(&stream)).into_response())
}

/// `POST …/ssf/verify` (§8.1.4.2): 204, the event follows in the stream.
pub async fn verify(
    State(state): State<AppState>,
    receiver: Receiver,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: VerificationRequest = json_body(&body)?;
    streams::verify(
        &state,
        &receiver.ctx.tenant.id,
        &receiver.client_id,
        &request,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/ssf/poll/{stream_id}` (RFC 8936 §2.4, §2.5).
pub async fn poll_stream(
    State(state): State<AppState>,
    receiver: Receiver,
    axum::extract::Path(params): axum::extract::Path<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PollRequest = if body.is_empty() {
        PollRequest::default()
    } else {
        json_body(&body)?
    };
    let id = params
        .get("stream_id")
        .ok_or_else(|| ApiError::not_found("no such stream"))?;
    let stream = streams::find(&state, &receiver.ctx.tenant.id, &receiver.client_id, id).await?;
    if stream.delivery_method != holdfast_core::signals::POLL_DELIVERY {
        return Err(ApiError::invalid_request(
            "this stream is delivered by push, not poll",
        ));
    }
    let response = poll(
        &state,
        &receiver.ctx.tenant,
        &receiver.ctx.issuer,
        &stream,
        &request,
    )
    .await?;
    Ok(Json(response).into_response())
}
