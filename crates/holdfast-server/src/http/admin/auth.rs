//! Who calls the admin API and what they may touch.
//!
//! Callers present an access token of the administration tenant
//! ([`ADMIN_TENANT`]), checked exactly as Holdfast's other APIs check
//! theirs (`http::bearer::verify_presented`: signature, `typ`, `iss`,
//! audience, revocation standing, and DPoP per RFC 9449 §7 when the token
//! is bound, as the console's always are). What the token reaches is
//! `holdfast_core::admin::Reach`: its scopes for a client's token (client
//! credentials), its scopes met with the person's grants for a person's.
//! Every handler then asks [`Admin::tenant`] or [`Admin::require_server`],
//! so no call skips the check.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use holdfast_core::OAuthErrorCode;
use holdfast_core::admin::Reach;
use holdfast_core::tenant::{Tenant, TenantSlug, issuer_url};

use crate::http::bearer::verify_presented;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::admin::Actor;
use crate::service::lookup;
use crate::state::AppState;

/// The slug of the administration tenant, whose people and clients
/// administer the server (`holdfast admin bootstrap` creates it).
pub use crate::service::administrators::ADMIN_TENANT;

/// An authenticated administrator.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Named in the audit events of what they change.
    pub actor: Actor,
    /// What they may administer.
    pub reach: Reach,
    /// The token's `sub`: a user id of the administration tenant, or a
    /// `client_id` of one of its clients.
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Whether the token is a person's (it has a session).
    pub person: bool,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(context) = Caller::from_request_parts(parts, state)
            .await
            .unwrap_or_default();
        let slug = TenantSlug::parse(ADMIN_TENANT).map_err(|e| ApiError::internal(e, false))?;
        let Some(tenant) = lookup::tenant(state, &slug).await? else {
            return Err(ApiError::new(
                OAuthErrorCode::InvalidToken,
                "this server has no administration tenant yet: run `holdfast admin bootstrap`",
            ));
        };
        let issuer = issuer_url(&state.public_url, &tenant.slug);
        let ctx = TenantContext { tenant, issuer };
        let claims = verify_presented(state, &ctx, parts).await?;
        let scopes: Vec<&str> = claims.scope.split_whitespace().collect();
        let person = claims.sid.is_some();
        let (reach, name) = if person {
            let grants = state.store.admin_grants(&claims.sub).await?;
            let user = state
                .store
                .user_by_id(&ctx.tenant.id, &claims.sub)
                .await?
                .ok_or_else(crate::http::bearer::user_gone)?;
            (
                Reach::of_person(scopes.iter().copied(), grants.iter().map(String::as_str)),
                format!("user:{}", user.user.username),
            )
        } else {
            (
                Reach::of_scopes(scopes.iter().copied()),
                format!("client:{}", claims.client_id),
            )
        };
        if reach.is_empty() {
            return Err(forbidden(
                "this token carries no administrative permission (scope holdfast:admin or holdfast:admin:{tenant})",
            ));
        }
        Ok(Self {
            actor: Actor { name, context },
            reach,
            subject: claims.sub,
            client_id: claims.client_id,
            person,
        })
    }
}

impl Admin {
    /// The tenant `slug`, if this administrator may administer it: 403
    /// before 404, so a one-tenant administrator learns nothing of other
    /// tenants.
    pub async fn tenant(&self, state: &AppState, slug: &str) -> Result<Tenant, ApiError> {
        if !self.reach.reaches(slug) {
            return Err(forbidden("you may not administer this tenant"));
        }
        let parsed = TenantSlug::parse(slug).map_err(|_| ApiError::not_found("no such tenant"))?;
        lookup::tenant(state, &parsed)
            .await?
            .ok_or_else(|| ApiError::not_found("no such tenant"))
    }

    /// Refuses anyone but a whole-server administrator.
    pub fn require_server(&self) -> Result<(), ApiError> {
        match self.reach {
            Reach::Server => Ok(()),
            Reach::Tenants(_) => Err(forbidden(
                "only a whole-server administrator (scope holdfast:admin) may do this",
            )),
        }
    }
}

/// 403 `insufficient_scope` (RFC 6750 §3.1).
pub fn forbidden(description: &'static str) -> ApiError {
    ApiError::new(OAuthErrorCode::InsufficientScope, description)
        .with_status(StatusCode::FORBIDDEN)
        .with_challenge(format!(
            "Bearer realm=\"holdfast\", error=\"insufficient_scope\", scope=\"{}\"",
            holdfast_core::admin::SERVER_SCOPE
        ))
}
