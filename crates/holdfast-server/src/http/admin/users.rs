//! `/admin/v1/tenants/{tenant}/users`: search, create, disable, delete,
//! send a password reset; a user's sessions, revoking one (its refresh
//! tokens stop working at once; resource servers hear of it through the
//! revocation feed and SSF) or all of them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::SecretString;
use holdfast_store::UserRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, AdminPath, ErrorBody, Page, json_body, limit, query};
use crate::http::error::ApiError;
use crate::service::admin;
use crate::state::AppState;

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Their id: the `sub` of their tokens.
    pub id: String,
    /// Username, as they typed it.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// The name they go by.
    pub display_name: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Disabled since (Unix seconds): they cannot sign in.
    pub disabled_at: Option<i64>,
    /// Tokens issued before this (Unix seconds) are refused: set by a
    /// password change, "sign out everywhere" or revoking all sessions.
    pub not_before: Option<i64>,
}

fn user_view(r: &UserRecord) -> UserView {
    UserView {
        id: r.user.id.clone(),
        username: r.user.username.clone(),
        email: r.user.email.clone(),
        email_verified: r.user.email_verified,
        display_name: r.user.display_name.clone(),
        created_at: r.user.created_at,
        disabled_at: r.disabled_at,
        not_before: r.not_before,
    }
}

/// Query of the user list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users whose username or email contains this (any case).
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// `GET /admin/v1/tenants/{tenant}/users`: by username, paged.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), UserQuery),
    responses((status = 200, description = "Users", body = Page<UserView>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    q: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let q = query(q)?;
    let limit = limit(q.limit)?;
    let after = q.cursor.as_deref();
    let found = match q.q.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            state
                .store
                .search_users(&tenant.id, text, after, limit)
                .await?
        }
        _ => state.store.list_users(&tenant.id, after, limit).await?,
    };
    // The cursor is the last username's normalized form, the store's order.
    let next_cursor = (found.len() as i64 == limit)
        .then(|| found.last())
        .flatten()
        .map(|r| holdfast_core::user::normalize_username(&r.user.username));
    Ok(Json(Page {
        items: found.iter().map(user_view).collect(),
        next_cursor,
    }))
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// Username (case-insensitive, unique in the tenant).
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Initial password, checked against the tenant's password policy.
    pub password: String,
}

/// `POST /admin/v1/tenants/{tenant}/users`.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = UserCreate,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "The username (or one that looks the same) is taken", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let input: UserCreate = json_body(&body)?;
    let user = admin::create_user(
        &state,
        &tenant,
        &admin.actor,
        &input.username,
        input.email.as_deref(),
        SecretString::new(input.password),
    )
    .await?;
    created(&state, &tenant, &user.id).await
}

/// An invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    /// The invitee's email address; it becomes their username.
    pub email: String,
    /// The name they go by, for the mail's greeting.
    pub name: Option<String>,
}

/// `POST /admin/v1/tenants/{tenant}/invitations`: an account for `email`
/// with no password yet, and a mail with a link (7 days, single use) to
/// choose one, which also verifies the address. Works whatever the
/// tenant's registration mode.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/invitations", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = Invitation,
    responses(
        (status = 201, description = "Invited: the account, its mail queued", body = UserView),
        (status = 409, description = "An account with this address exists", body = ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let input: Invitation = json_body(&body)?;
    let user = admin::invite_user(
        &state,
        &tenant,
        &admin.actor,
        &input.email,
        input.name.as_deref(),
    )
    .await?;
    created(&state, &tenant, &user.id).await
}

/// 201 with the user `id` as stored now.
async fn created(state: &AppState, tenant: &Tenant, id: &str) -> Result<Response, ApiError> {
    let r = found(state, tenant, id).await?;
    Ok((StatusCode::CREATED, Json(user_view(&r))).into_response())
}

async fn found(state: &AppState, tenant: &Tenant, id: &str) -> Result<UserRecord, ApiError> {
    state
        .store
        .user_by_id(&tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// `GET /admin/v1/tenants/{tenant}/users/{user_id}`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{user_id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    Ok(Json(user_view(&found(&state, &tenant, &id).await?)))
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `true` disables them (every session ends, RISC account-disabled);
    /// `false` enables them again.
    pub disabled: Option<bool>,
    /// A new password (an administrator's reset): sessions begun before
    /// end.
    pub password: Option<String>,
}

/// `PATCH /admin/v1/tenants/{tenant}/users/{user_id}`.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/users/{user_id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    request_body = UserPatch,
    responses((status = 200, description = "The user now", body = UserView)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
    body: Bytes,
) -> Result<Json<UserView>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let patch: UserPatch = json_body(&body)?;
    let r = found(&state, &tenant, &id).await?;
    if let Some(password) = patch.password {
        admin::set_user_password(
            &state,
            &tenant,
            &admin.actor,
            &r.user,
            SecretString::new(password),
        )
        .await?;
    }
    if let Some(disabled) = patch.disabled
        && disabled != r.disabled_at.is_some()
    {
        admin::set_user_disabled(&state, &tenant, &admin.actor, &r.user, disabled).await?;
    }
    Ok(Json(user_view(&found(&state, &tenant, &id).await?)))
}

/// `DELETE /admin/v1/tenants/{tenant}/users/{user_id}`: every session and
/// token of theirs ends (RISC account-purged).
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{user_id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let r = found(&state, &tenant, &id).await?;
    admin::delete_user(&state, &tenant, &admin.actor, &r.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/v1/tenants/{tenant}/users/{user_id}/password-reset`: mails
/// the user a reset link, as "forgot password" does (202: queued; a user
/// without an email address, or a disabled one, gets nothing: 409).
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/users/{user_id}/password-reset", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 202, description = "The mail is queued"),
        (status = 409, description = "The user has no email address, or is disabled", body = ErrorBody)))]
pub async fn send_reset(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let r = found(&state, &tenant, &id).await?;
    admin::send_password_reset(&state, &tenant, &admin.actor, &r.user).await?;
    Ok(StatusCode::ACCEPTED)
}

/// A live session (a refresh-token family).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session id (`sid`).
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// When the person signed in, Unix seconds.
    pub auth_time: i64,
    /// How (`pwd`, `otp`, `hwk`, …).
    pub amr: Vec<String>,
    /// Started, Unix seconds.
    pub created_at: i64,
    /// Last refreshed, Unix seconds.
    pub last_used_at: i64,
    /// Ends at the latest, Unix seconds.
    pub expires_at: i64,
    /// Device (browser) id.
    pub device_id: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Address at sign-in.
    pub ip: Option<String>,
}

/// `GET /admin/v1/tenants/{tenant}/users/{user_id}/sessions`: live
/// sessions, most recently used first.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{user_id}/sessions", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "Live sessions", body = Page<SessionView>)))]
pub async fn sessions(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let r = found(&state, &tenant, &id).await?;
    let items = state
        .store
        .list_sessions(&tenant.id, &r.user.id, state.now())
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            client_id: s.client_id,
            scope: s.scope,
            auth_time: s.auth_time,
            amr: s.amr,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            device_id: s.device_id,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(Json(Page::all(items)))
}

/// What ending all of a user's sessions did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsRevoked {
    /// How many live sessions were revoked.
    pub sessions_revoked: u64,
    /// Tokens issued before this time (Unix seconds) are refused.
    pub not_before: i64,
}

/// `DELETE /admin/v1/tenants/{tenant}/users/{user_id}/sessions`: revokes
/// every live session of the user and stamps "not before now", so access
/// tokens issued earlier are refused too (idempotent).
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{user_id}/sessions", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("user_id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "Revoked", body = SessionsRevoked)))]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<SessionsRevoked>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let r = found(&state, &tenant, &id).await?;
    let (sessions_revoked, not_before) =
        admin::revoke_user_sessions(&state, &tenant, &admin.actor, &r.user).await?;
    Ok(Json(SessionsRevoked {
        sessions_revoked,
        not_before,
    }))
}

/// `DELETE /admin/v1/tenants/{tenant}/sessions/{sid}`: revokes the session
/// and all its refresh tokens (idempotent).
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/sessions/{sid}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("sid" = String, Path, description = "The session id")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke_session(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath((slug, sid)): AdminPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    admin::revoke_session(&state, &tenant, &admin.actor, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
