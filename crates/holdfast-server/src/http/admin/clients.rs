//! `/admin/v1/tenants/{tenant}/clients`: every setting `holdfast client
//! create` has, readable and changeable, with `ETag` / `If-Match`; a
//! confidential client's secret is shown once, at creation and rotation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use holdfast_core::client::{BackchannelLogout, Client, ClientKind, NewClient};
use holdfast_core::tenant::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, AdminPath, ErrorBody, Page, if_match, json_body, tagged};
use crate::http::error::ApiError;
use crate::service::admin;
use crate::state::AppState;

/// A client's settings (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// The OAuth `client_id`.
    pub client_id: String,
    /// `public` or `confidential`.
    pub kind: String,
    /// The name the login page shows; the `client_id` when absent.
    pub display_name: Option<String>,
    /// Registered redirect URIs (exact match, RFC 9700 §4.1.1).
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Scopes it may ask for.
    pub scopes: Vec<String>,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Refresh-token rotation: `confirmed`, `strict` or `none`.
    pub rotation: String,
    /// Seconds a rotated-away refresh token still answers a retry.
    pub grace_window: i64,
    /// Retries within the grace window.
    pub retry_limit: i64,
    /// Unbound refresh tokens get grace retries too (risk accepted).
    pub unbound_grace_accept_risk: bool,
    /// A session ends after this many idle seconds.
    pub idle_lifetime: i64,
    /// A session ends this many seconds after sign-in, whatever happens.
    pub absolute_lifetime: i64,
    /// Tokens must be DPoP-bound (RFC 9449).
    pub dpop_required: bool,
    /// Token requests need a server DPoP nonce (RFC 9449 §8).
    pub dpop_nonce_required: bool,
    /// The refresh token travels in an HttpOnly cookie.
    pub refresh_token_cookie: bool,
    /// Every sign-in needs a second factor.
    pub mfa_required: bool,
    /// Browser origins allowed to call the token endpoint (CORS).
    pub allowed_origins: Vec<String>,
    /// Resource indicators it may ask for (RFC 8707).
    pub resources: Vec<String>,
    /// ID-token signing algorithm.
    pub id_token_signed_response_alg: String,
    /// Back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.2).
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Bumped by every change; also the `ETag`.
    pub version: i64,
}

/// A client as created, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientWithSecret {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret of a confidential client: store it now, it is never
    /// shown again.
    pub client_secret: Option<String>,
}

/// A confidential client's new secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewSecret {
    /// The client.
    pub client_id: String,
    /// Store it now: it is never shown again. The old one no longer works.
    pub client_secret: String,
}

/// A client's settings as sent: at creation, `client_id` is required and
/// absent fields take their defaults; in a `PATCH`, absent fields stay and
/// `client_id` and `kind`, if sent, must be the client's own.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// The OAuth `client_id`: 1–128 printable ASCII characters, no spaces.
    pub client_id: Option<String>,
    /// `public` (default) or `confidential`.
    pub kind: Option<String>,
    /// The name the login page shows; `""` shows the `client_id`.
    pub display_name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Grant types.
    pub grant_types: Option<Vec<String>>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// `confirmed`, `strict` or `none`.
    pub rotation: Option<String>,
    /// Grace window, seconds.
    pub grace_window: Option<i64>,
    /// Retries within the grace window.
    pub retry_limit: Option<i64>,
    /// Grace retries for unbound refresh tokens.
    pub unbound_grace_accept_risk: Option<bool>,
    /// Idle lifetime, seconds.
    pub idle_lifetime: Option<i64>,
    /// Absolute lifetime, seconds.
    pub absolute_lifetime: Option<i64>,
    /// Tokens must be DPoP-bound.
    pub dpop_required: Option<bool>,
    /// Token requests need a DPoP nonce.
    pub dpop_nonce_required: Option<bool>,
    /// Refresh token in an HttpOnly cookie.
    pub refresh_token_cookie: Option<bool>,
    /// Every sign-in needs a second factor.
    pub mfa_required: Option<bool>,
    /// Allowed browser origins.
    pub allowed_origins: Option<Vec<String>>,
    /// Resource indicators.
    pub resources: Option<Vec<String>>,
    /// `ES256`, `EdDSA` or `RS256`.
    pub id_token_signed_response_alg: Option<String>,
    /// Back-channel logout URI; `""` removes it.
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens carry `sid`.
    pub backchannel_logout_session_required: Option<bool>,
}

pub(super) fn client_view(tenant: &Tenant, c: &Client, version: i64) -> ClientView {
    ClientView {
        client_id: c.client_id.clone(),
        kind: c.kind.as_str().to_owned(),
        display_name: c.display_name.clone(),
        redirect_uris: c.redirect_uris.clone(),
        grant_types: c
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: c.scopes.clone(),
        access_token_ttl: c.access_token_ttl_secs,
        rotation: c.refresh.rotation.as_str().to_owned(),
        grace_window: c.refresh.grace_window_secs,
        retry_limit: c.refresh.retry_limit,
        unbound_grace_accept_risk: c.refresh.unbound_grace_accept_risk,
        idle_lifetime: c.refresh.idle_lifetime_secs,
        absolute_lifetime: c.refresh.absolute_lifetime_secs,
        dpop_required: c.dpop_required,
        dpop_nonce_required: c.dpop_nonce_required,
        refresh_token_cookie: c.refresh_token_in_cookie,
        mfa_required: c.mfa_required,
        allowed_origins: c.allowed_origins.clone(),
        resources: c.resources.clone(),
        id_token_signed_response_alg: c.id_token_alg(tenant.signing_alg).as_str().to_owned(),
        backchannel_logout_uri: c.backchannel_logout.as_ref().map(|b| b.uri.clone()),
        backchannel_logout_session_required: c
            .backchannel_logout
            .as_ref()
            .is_some_and(|b| b.session_required),
        created_at: c.created_at,
        version,
    }
}

fn bad(what: &str, value: &str) -> ApiError {
    ApiError::invalid_request(format!("{what} has no value '{value}'"))
}

/// Applies what `input` sends onto `c`.
fn apply(input: ClientInput, c: &mut NewClient) -> Result<(), ApiError> {
    if let Some(name) = input.display_name {
        c.display_name = match name.trim() {
            "" => None,
            _ => Some(
                holdfast_core::tenant::parse_display_name(&name)
                    .map_err(|e| ApiError::invalid_request(e.to_string()))?,
            ),
        };
    }
    if let Some(v) = input.redirect_uris {
        c.redirect_uris = v;
    }
    if let Some(v) = input.grant_types {
        c.grant_types = v
            .iter()
            .map(|g| g.parse().map_err(|_| bad("grant_types", g)))
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = input.scopes {
        c.scopes = v;
    }
    if let Some(v) = input.access_token_ttl {
        c.access_token_ttl_secs = v;
    }
    if let Some(v) = input.rotation {
        c.refresh.rotation = v.parse().map_err(|_| bad("rotation", &v))?;
    }
    if let Some(v) = input.grace_window {
        c.refresh.grace_window_secs = v;
    }
    if let Some(v) = input.retry_limit {
        c.refresh.retry_limit = v;
    }
    if let Some(v) = input.unbound_grace_accept_risk {
        c.refresh.unbound_grace_accept_risk = v;
    }
    if let Some(v) = input.idle_lifetime {
        c.refresh.idle_lifetime_secs = v;
    }
    if let Some(v) = input.absolute_lifetime {
        c.refresh.absolute_lifetime_secs = v;
    }
    if let Some(v) = input.dpop_required {
        c.dpop_required = v;
    }
    if let Some(v) = input.dpop_nonce_required {
        c.dpop_nonce_required = Some(v);
    }
    if let Some(v) = input.refresh_token_cookie {
        c.refresh_token_in_cookie = v;
    }
    if let Some(v) = input.mfa_required {
        c.mfa_required = v;
    }
    if let Some(v) = input.allowed_origins {
        c.allowed_origins = v;
    }
    if let Some(v) = input.resources {
        c.resources = v;
    }
    if let Some(v) = input.id_token_signed_response_alg {
        c.id_token_signed_response_alg = Some(
            v.parse()
                .map_err(|_| bad("id_token_signed_response_alg", &v))?,
        );
    }
    let session_required = input.backchannel_logout_session_required;
    match input.backchannel_logout_uri {
        Some(uri) if uri.is_empty() => c.backchannel_logout = None,
        Some(uri) => {
            c.backchannel_logout = Some(BackchannelLogout {
                uri,
                session_required: session_required.unwrap_or(true),
            })
        }
        None => {
            if let (Some(required), Some(logout)) = (session_required, &mut c.backchannel_logout) {
                logout.session_required = required;
            }
        }
    }
    Ok(())
}

/// `GET /admin/v1/tenants/{tenant}/clients`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/clients", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "Clients, by client_id", body = Page<ClientView>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<Page<ClientView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let items = state
        .store
        .list_clients(&tenant.id)
        .await?
        .iter()
        .map(|r| client_view(&tenant, &r.client, r.version))
        .collect();
    Ok(Json(Page::all(items)))
}

/// `POST /admin/v1/tenants/{tenant}/clients`: registers a client; a
/// confidential client's secret is in this answer only.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/clients", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = ClientInput,
    responses(
        (status = 201, description = "Registered", body = ClientWithSecret,
            headers(("ETag" = String, description = "The client's version"))),
        (status = 409, description = "The client_id is taken", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let mut input: ClientInput = json_body(&body)?;
    let Some(client_id) = input.client_id.take() else {
        return Err(ApiError::invalid_request("client_id is required"));
    };
    let kind = match input.kind.take() {
        None => ClientKind::Public,
        Some(k) => k.parse().map_err(|_| bad("kind", &k))?,
    };
    let mut new = NewClient::new(client_id, kind);
    apply(input, &mut new)?;
    let (client, secret) = admin::create_client(&state, &tenant, &admin.actor, new).await?;
    let body = ClientWithSecret {
        client: client_view(&tenant, &client, holdfast_store::FIRST_VERSION),
        client_secret: secret.map(|s| s.expose().to_owned()),
    };
    Ok(tagged(
        StatusCode::CREATED,
        holdfast_store::FIRST_VERSION,
        body,
    ))
}

/// `GET /admin/v1/tenants/{tenant}/clients/{client_id}`, with its `ETag`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The client_id")),
    responses((status = 200, description = "The client", body = ClientView,
        headers(("ETag" = String, description = "The client's version")))))]
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let r = admin::client(&state, &tenant, &client_id).await?;
    Ok(tagged(
        StatusCode::OK,
        r.version,
        client_view(&tenant, &r.client, r.version),
    ))
}

/// `PATCH /admin/v1/tenants/{tenant}/clients/{client_id}`: changes the
/// settings sent, checked as at creation; with `If-Match`, only if
/// unchanged since (else 412). Sessions already issued keep the lifetimes
/// they started with; the next refresh follows the new rotation settings.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The client_id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    request_body = ClientInput,
    responses(
        (status = 200, description = "The client now", body = ClientView,
            headers(("ETag" = String, description = "The client's version"))),
        (status = 409, description = "The kind cannot change", body = ErrorBody),
        (status = 412, description = "Changed since the ETag was read", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let mut input: ClientInput = json_body(&body)?;
    let current = admin::client(&state, &tenant, &client_id).await?;
    if input.client_id.take().is_some_and(|id| id != client_id) {
        return Err(ApiError::invalid_request("client_id cannot change"));
    }
    let mut new = NewClient::of(&current.client);
    if let Some(kind) = input.kind.take() {
        new.kind = kind.parse().map_err(|_| bad("kind", &kind))?;
    }
    apply(input, &mut new)?;
    let r = admin::update_client(
        &state,
        &tenant,
        &admin.actor,
        &current.client,
        if_match(&headers),
        new,
    )
    .await?;
    Ok(tagged(
        StatusCode::OK,
        r.version,
        client_view(&tenant, &r.client, r.version),
    ))
}

/// `DELETE /admin/v1/tenants/{tenant}/clients/{client_id}`: its live
/// sessions end. A caller cannot delete the client its own token is from.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The client_id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The caller's own client", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    if tenant.slug.as_str() == super::ADMIN_TENANT && client_id == admin.client_id {
        return Err(
            ApiError::invalid_request("this token's own client cannot delete itself")
                .with_status(StatusCode::CONFLICT),
        );
    }
    admin::delete_client(&state, &tenant, &admin.actor, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/tenants/{tenant}/clients/{client_id}/secret`: a new
/// secret for a confidential client, shown once; the old one stops
/// working.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/clients/{client_id}/secret", tag = "clients",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("client_id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, description = "The new secret", body = NewSecret),
        (status = 409, description = "A public client has no secret", body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let secret = admin::rotate_client_secret(&state, &tenant, &admin.actor, &client_id).await?;
    Ok(Json(NewSecret {
        client_id,
        client_secret: secret.expose().to_owned(),
    })
    .into_response())
}
