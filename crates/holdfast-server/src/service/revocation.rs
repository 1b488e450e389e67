//! Token revocation ([RFC 7009](https://www.rfc-editor.org/rfc/rfc7009)) and
//! introspection ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662)).
//!
//! Revoking a refresh token revokes its whole family (RFC 7009 §2.1: "If the
//! token passed to the request is a refresh token and the authorization
//! server supports the revocation of access tokens, then the authorization
//! server SHOULD also invalidate all access tokens based on the same
//! authorization grant": the family's `sid` goes dead for introspection,
//! userinfo and the revocation feed). Revoking an access token records its
//! `jti` until it expires. Unknown tokens are answered 200 and left alone
//! (§2.2: "invalid tokens do not cause an error response"). A token Holdfast
//! issued to another client is refused with `invalid_request` and left
//! alone (§2.1: the server "verifies whether the token was issued to the
//! client making the revocation request. If this validation fails, the
//! request is refused and the client is informed of the error"). §2.2.1
//! defines no code of its own for this, so it is the RFC 6749 §5.2 code for
//! a request the server will not carry out as made, as node-oidc-provider
//! answers too.
//!
//! Not supported: `unsupported_token_type` (both token types are revocable),
//! JWT-secured introspection responses (RFC 9701).

use holdfast_core::claims::{ACCESS_TOKEN_TYP, IssuedAccessTokenClaims};
use holdfast_core::client::Client;
use holdfast_core::refresh::rotation::TokenState;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::jws::verify_compact;
use holdfast_crypto::secret::{REFRESH_TOKEN_PREFIX, sha256_b64};
use serde_json::{Value, json};
use url::Url;

use crate::service::RequestContext;
use crate::service::audit;
use crate::service::jwt::{AccessTokenError, verify_issued_access_token};
use crate::service::token::{RequestError, TokenError};
use crate::state::AppState;

/// Counts `n` sessions revoked for `reason` (`holdfast_revocations_total`;
/// the reasons are the fixed ones of the audit log, never client input).
pub fn counted(reason: &str, n: u64) {
    metrics::counter!("holdfast_revocations_total", "reason" => reason.to_owned()).increment(n);
}

/// Signs `user_id` out of their session `session_id`: revokes it and
/// records why, in one transaction.
pub async fn sign_out(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    session_id: &str,
    reason: &str,
    context: &RequestContext,
) -> Result<(), holdfast_store::StoreError> {
    let event = audit::about(
        state,
        tenant,
        "revocation",
        None,
        Some(user_id),
        Some(session_id),
        reason,
        context,
    );
    state
        .store
        .revoke_session(&tenant.id, session_id, reason, event.at, &event)
        .await?;
    counted(reason, 1);
    Ok(())
}

/// Revokes `token` if it is one of `client`'s; refuses a token issued to
/// another client (RFC 7009 §2.1), leaving it valid.
pub async fn revoke(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    token: &str,
    context: &RequestContext,
) -> Result<(), TokenError> {
    let now = state.now();
    if token.starts_with(REFRESH_TOKEN_PREFIX) {
        let Some((_, session)) = state
            .store
            .refresh_token(&tenant.id, &sha256_b64(token.as_bytes()))
            .await?
        else {
            return Ok(());
        };
        if session.client_id != client.client_id {
            return Err(not_this_clients_token());
        }
        let event = audit::about(
            state,
            tenant,
            "revocation",
            Some(client),
            Some(&session.user_id),
            Some(&session.id),
            "refresh_token",
            context,
        );
        state
            .store
            .revoke_session(&tenant.id, &session.id, "revoked_by_client", now, &event)
            .await?;
        counted("revoked_by_client", 1);
        return Ok(());
    }
    // An access token: check our signature (not expiry: revoking an expired
    // token is a harmless no-op), then that it is this client's.
    let keys = state.keys.published_keys(tenant, now).await?;
    let Ok(payload) = verify_compact(token, &keys, ACCESS_TOKEN_TYP) else {
        return Ok(());
    };
    let Ok(claims) = serde_json::from_value::<IssuedAccessTokenClaims>(payload) else {
        return Ok(());
    };
    if claims.client_id != client.client_id {
        return Err(not_this_clients_token());
    }
    if claims.exp <= now {
        return Ok(());
    }
    let user = claims.sid.as_ref().map(|_| claims.sub.as_str());
    let event = audit::about(
        state,
        tenant,
        "revocation",
        Some(client),
        user,
        claims.sid.as_deref(),
        "access_token",
        context,
    );
    state
        .store
        .revoke_access_token(&tenant.id, &claims.jti, claims.exp, &event)
        .await?;
    Ok(())
}

/// RFC 7009 §2.1: "If this validation fails, the request is refused and the
/// client is informed of the error by the authorization server".
fn not_this_clients_token() -> TokenError {
    RequestError::TokenOfAnotherClient.into()
}

/// RFC 7662 §2.2: `{"active": false}` for anything not currently usable,
/// otherwise the token's claims.
pub async fn introspect(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    token: &str,
) -> Result<Value, TokenError> {
    let inactive = json!({ "active": false });
    let now = state.now();
    if token.starts_with(REFRESH_TOKEN_PREFIX) {
        let Some((record, session)) = state
            .store
            .refresh_token(&tenant.id, &sha256_b64(token.as_bytes()))
            .await?
        else {
            return Ok(inactive);
        };
        let client = crate::service::lookup::client(state, &tenant.id, &session.client_id).await?;
        let idle = client
            .map(|c| c.client.refresh.idle_lifetime_secs)
            .unwrap_or(0);
        let user = state.store.user_by_id(&tenant.id, &session.user_id).await?;
        let stamped = user.is_none_or(|u| u.not_before.is_some_and(|nb| session.created_at < nb));
        if record.state != TokenState::Active
            || session.revoked_at.is_some()
            || session.expires_at <= now
            || session.last_used_at + idle <= now
            || stamped
        {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "iss": issuer.as_str(),
            "client_id": session.client_id,
            "sub": session.user_id,
            "scope": session.scope,
            "sid": session.id,
            "auth_time": session.auth_time,
            "acr": session.acr,
            "amr": session.amr,
            "iat": record.created_at,
            "exp": session.expires_at.min(session.last_used_at + idle),
        }));
    }
    // RFC 7662 §2.2: active for a valid token of any audience of this
    // tenant; the introspecting resource server checks `aud` itself.
    match verify_issued_access_token(state, tenant, issuer, token).await {
        Ok(claims) => {
            // RFC 9449 §6.2: a DPoP-bound token's type is DPoP.
            let token_type = if claims.cnf.is_some() {
                "DPoP"
            } else {
                "Bearer"
            };
            let mut body = serde_json::to_value(&claims).unwrap_or_else(|_| json!({}));
            body["active"] = json!(true);
            body["token_type"] = json!(token_type);
            Ok(body)
        }
        Err(AccessTokenError::Key(e)) => Err(TokenError::Internal(e)),
        Err(_) => Ok(inactive),
    }
}
