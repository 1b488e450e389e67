//! The refresh token grant, [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6),
//! with rotation on every use (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
//!
//! This is plain rotation: a refresh token works once; presenting a token
//! that was already rotated is treated as reuse and revokes its session.
//! The confirmed-rotation grace window of DESIGN.md §4 replaces this in the
//! refresh-token lifecycle work.
//!
//! RFC 6749 §6: the server MUST "validate the refresh token" and "ensure
//! that the refresh token was issued to the authenticated client"; the
//! requested scope "MUST NOT include any scope not originally granted".

use holdfast_core::client::Client;
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::{REFRESH_TOKEN_PREFIX, generate_token, sha256_b64};
use url::Url;

use super::{TokenError, TokenRequest, TokenResponse, response};
use crate::service::tokens::{
    AccessGrant, IdTokenInput, mint_access_token, mint_id_token, new_jti,
};
use crate::state::AppState;

/// Rotates a refresh token and issues a new access token.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let presented = request
        .param("refresh_token")
        .ok_or(TokenError::InvalidRequest(
            "refresh_token is required".into(),
        ))?;
    let digest = sha256_b64(presented.as_bytes());
    let now = state.now();
    let (token, session) = state
        .store
        .refresh_token(&tenant.id, &digest)
        .await?
        .ok_or(TokenError::InvalidGrant("unknown refresh token"))?;
    if session.client_id != client.client_id {
        return Err(TokenError::InvalidGrant(
            "refresh token was issued to another client",
        ));
    }
    if session.revoked_at.is_some() {
        return Err(TokenError::InvalidGrant("the session has been revoked"));
    }
    if session.expires_at <= now || session.last_used_at + client.refresh.idle_lifetime_secs <= now
    {
        return Err(TokenError::InvalidGrant("the session has expired"));
    }
    if token.state != "active" {
        state
            .store
            .revoke_session(&tenant.id, &session.id, "refresh_token_reuse", now)
            .await?;
        tracing::warn!(tenant = %tenant.slug, sid = %session.id, "refresh token reuse; session revoked");
        return Err(TokenError::InvalidGrant(
            "refresh token has already been used",
        ));
    }
    let granted = Scope::parse(&session.scope)
        .map_err(|_| TokenError::InvalidGrant("stored scope is malformed"))?;
    let scope = match request.param("scope") {
        None => granted.clone(),
        Some(raw) => {
            Scope::parse(raw).map_err(|_| TokenError::InvalidScope("scope is malformed"))?
        }
    };
    if !scope.is_subset_of(&granted) {
        return Err(TokenError::InvalidScope(
            "scope exceeds what was originally granted",
        ));
    }
    let user = state
        .store
        .user_by_id(&tenant.id, &session.user_id)
        .await?
        .ok_or(TokenError::InvalidGrant("the user no longer exists"))?
        .user;
    let child = generate_token(REFRESH_TOKEN_PREFIX)?;
    if !state
        .store
        .rotate_refresh_token(&token, &sha256_b64(child.expose().as_bytes()), now)
        .await?
    {
        // Another request rotated it first.
        return Err(TokenError::InvalidGrant(
            "refresh token has already been used",
        ));
    }
    let grant = AccessGrant {
        subject: user.id.clone(),
        scope: scope.clone(),
        session_id: Some(session.id.clone()),
        auth_time: Some(session.auth_time),
        acr: Some(session.acr.clone()),
        amr: Some(session.amr.clone()),
        resource: session.resource.clone(),
    };
    let access = mint_access_token(state, tenant, issuer, client, &grant, new_jti()?).await?;
    let id_token = if scope.contains("openid") {
        Some(
            mint_id_token(
                state,
                tenant,
                issuer,
                client,
                IdTokenInput {
                    user: &user,
                    scope: &scope,
                    nonce: None,
                    auth_time: session.auth_time,
                    acr: session.acr.clone(),
                    amr: session.amr.clone(),
                    session_id: Some(session.id.clone()),
                    access_token: &access.token,
                },
            )
            .await?,
        )
    } else {
        None
    };
    Ok(response(
        client,
        access.token,
        scope.to_string(),
        Some(child.expose().to_owned()),
        id_token,
    ))
}
