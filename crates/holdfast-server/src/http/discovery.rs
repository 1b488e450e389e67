//! Authorization server metadata endpoints: RFC 8414 §3 and OpenID Connect
//! Discovery 1.0 §4. The same document is served at
//! `/.well-known/oauth-authorization-server/t/{tenant}` (RFC 8414 §3.1: the
//! well-known string goes between host and path) and at
//! `/t/{tenant}/.well-known/openid-configuration` (OIDC Discovery §4.1).
//!
//! Not supported: signed metadata (RFC 8414 §2.1).

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use holdfast_core::discovery::ServerMetadata;

use crate::http::tenant::TenantContext;

/// `GET` either well-known location.
pub async fn metadata(ctx: TenantContext) -> impl IntoResponse {
    let doc = ServerMetadata::for_issuer(&ctx.issuer, ctx.tenant.signing_alg);
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc))
}
