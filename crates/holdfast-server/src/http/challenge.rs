//! The authorization challenge endpoint of
//! [OAuth 2.0 for First-Party Applications](https://datatracker.ietf.org/doc/draft-ietf-oauth-first-party-apps/)
//! (§5): a first-party app posts the user's credentials with its PKCE
//! challenge and gets an `authorization_code` to redeem at the token
//! endpoint, exactly like a code from the browser flow.
//!
//! Where the tenant requires verified email addresses, an unverified
//! account's right password is answered 400 `insufficient_authorization`
//! (§5.2.2) with `email_verification_required`, the address, and a
//! `ticket` for the code just mailed (`POST {issuer}/api/verify-email`).
//!
//! An account with a second factor (or in a tenant that requires one) is
//! answered `insufficient_authorization` with `mfa_required` and
//! `redirect_to_web`: the app signs in through the authorization endpoint,
//! whose hosted pages ask for the factor.
//!
//! Not supported: multi-step challenges (`auth_session`), `redirect_to_web`. Codes from here carry
//! no redirect URI, so the token request must not need one.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use holdfast_core::authorize::pkce_message;
use holdfast_core::client::GrantType;
use holdfast_core::pkce::CodeChallenge;
use holdfast_core::scope::Scope;
use holdfast_crypto::secret::SecretString;
use serde_json::json;

use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::FormParams;
use crate::http::tenant::TenantContext;
use crate::http::token::credentials;
use crate::service::client_auth::authenticate;
use crate::service::login::{AMR_PASSWORD, CodeGrant, authenticate_user, issue_code};
use crate::state::AppState;

/// `POST {issuer}/authorize-challenge`.
pub async fn challenge(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    // A place in the hashing queue before anything else: when it is full,
    // a login flood is refused here at the cost of parsing it.
    let admission = state.passwords.admit()?;
    let client = authenticate(
        &state,
        &ctx.tenant,
        &credentials(&headers, &form)?,
        &context,
    )
    .await?;
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(ApiError::new(
            OAuthErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        ));
    }
    let challenge = CodeChallenge::parse(
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    )
    .map_err(|e| ApiError::invalid_request(pkce_message(e)))?;
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    let scope = Scope::negotiate(form.get("scope"), &allowed)
        .map_err(|refusal| ApiError::new(OAuthErrorCode::InvalidScope, refusal.description()))?;
    // RFC 8707 §2: only a resource the client may have; checked before the
    // password, so a refused request costs no hashing.
    let resource = client
        .permitted_resource(form.get("resource"), &ctx.tenant.audience(&ctx.issuer))
        .map_err(|e| ApiError::new(OAuthErrorCode::InvalidTarget, e.description()))?;
    let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
        return Err(ApiError::invalid_request(
            "username and password are required",
        ));
    };
    let user = authenticate_user(
        &state,
        admission,
        &ctx.tenant,
        &client.client_id,
        username,
        SecretString::new(password),
        &context,
    )
    .await?;
    // Where the tenant wants verified addresses, an unverified account's
    // right password earns a new code, not a sign-in (the hosted login
    // does the same): the app shows a code field and posts it with the
    // ticket to `api/verify-email`, then signs in again.
    if let Some(email) = user.email.as_deref().filter(|_| !user.email_verified)
        && crate::service::accounts::verification_required(&state, &ctx.tenant).await
    {
        let ticket = crate::service::accounts::send_verification(
            &state,
            &ctx.tenant,
            &ctx.issuer,
            &user,
            email,
            None,
            None,
            &context,
        )
        .await?;
        return Ok((
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "error": "insufficient_authorization",
                "error_description": "verify the email address first: a code was sent to it",
                "email_verification_required": true,
                "email": email,
                "ticket": ticket,
            })),
        )
            .into_response());
    }
    // A second factor cannot be skipped here: an account that has one (or
    // must have one) is sent to the hosted login, which asks for it
    // (§5.2.2 `insufficient_authorization`; `redirect_to_web` is the
    // draft's way to say it).
    let need = crate::service::mfa::need(
        &state,
        &ctx.tenant,
        &user.id,
        holdfast_core::mfa::Strength::OneFactor,
        client.mfa_required,
    )
    .await
    .map_err(|e| ApiError::new(OAuthErrorCode::TemporarilyUnavailable, e.user_message()))?;
    if need != crate::service::mfa::Need::Nothing {
        return Ok((
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "error": "insufficient_authorization",
                "error_description": "this account signs in with a second factor: use the authorization endpoint",
                "mfa_required": true,
                "redirect_to_web": true,
            })),
        )
            .into_response());
    }
    let grant = CodeGrant {
        client_id: client.client_id.clone(),
        redirect_uri: None,
        scope,
        nonce: form.get("nonce").map(str::to_owned),
        challenge,
        resource,
        dpop_jkt: form.get("dpop_jkt").map(str::to_owned),
    };
    let now = state.now();
    let code = issue_code(
        &state,
        &ctx.tenant,
        grant,
        &user.id,
        now,
        vec![AMR_PASSWORD.to_owned()],
        // No browser session: this sign-in gives no single sign-on.
        None,
    )
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "authorization_code": code.expose() })),
    )
        .into_response())
}
