//! `/admin/v1/tenants/{tenant}/events`: the audit log, newest first,
//! filtered by kind, user, client and time, paged by cursor.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use holdfast_store::EventQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, AdminPath, Page, limit, query};
use crate::http::error::ApiError;
use crate::state::AppState;

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its id (UUIDv7: sorts by time).
    pub id: String,
    /// When, Unix seconds.
    pub at: i64,
    /// What happened: `login_succeeded`, `refresh_token_reuse`,
    /// `client_admin`, …
    pub kind: String,
    /// Why, or what exactly (`client_updated`, `revoked_by_admin`, …).
    pub reason: Option<String>,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<String>,
    /// Who made an administrative change.
    pub actor: Option<String>,
    /// The caller's address.
    pub ip: Option<String>,
    /// The caller's user agent.
    pub user_agent: Option<String>,
}

/// Filters of the audit log; all optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only about this user (id).
    pub user_id: Option<String>,
    /// Only about this client.
    pub client_id: Option<String>,
    /// Only at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only before this time (Unix seconds).
    pub until: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// `GET /admin/v1/tenants/{tenant}/events`.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/events", tag = "events",
    params(("tenant" = String, Path, description = "Tenant slug"), EventFilter),
    responses((status = 200, description = "Events, newest first", body = Page<EventView>)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    q: Result<Query<EventFilter>, QueryRejection>,
) -> Result<Json<Page<EventView>>, ApiError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let f = query(q)?;
    let limit = limit(f.limit)?;
    let found = state
        .store
        .query_events(
            &tenant.id,
            &EventQuery {
                kind: f.kind,
                user_id: f.user_id,
                client_id: f.client_id,
                since: f.since,
                until: f.until,
                before_id: f.cursor,
                limit,
            },
        )
        .await?;
    let next_cursor = (found.len() as i64 == limit)
        .then(|| found.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(Page {
        items: found
            .into_iter()
            .map(|e| EventView {
                id: e.id,
                at: e.at,
                kind: e.kind,
                reason: e.reason,
                user_id: e.user_id,
                client_id: e.client_id,
                session_id: e.session_id,
                actor: e.actor,
                ip: e.ip,
                user_agent: e.user_agent,
            })
            .collect(),
        next_cursor,
    }))
}
