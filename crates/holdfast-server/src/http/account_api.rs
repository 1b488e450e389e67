//! The first-party account API (issue 14): the hosted pages' sign-up,
//! verification, recovery and password change as JSON endpoints, for
//! native apps and SPAs that draw their own screens (the same apps that
//! sign in through the authorization challenge endpoint of
//! [OAuth 2.0 for First-Party Applications](https://datatracker.ietf.org/doc/draft-ietf-oauth-first-party-apps/)).
//!
//! | route | authorised by | what |
//! |---|---|---|
//! | `POST {issuer}/api/signup` | the client (RFC 6749 §2.3) | `email`, `password`, `name` → an account |
//! | `POST {issuer}/api/verify-email` | the client | `ticket` + `code`, or a link's `token` |
//! | `POST {issuer}/api/forgot-password` | the client | `identifier` → a reset link by mail |
//! | `POST {issuer}/api/reset-password` | the client | a reset link's `token` + `password` |
//! | `POST {issuer}/api/change-password` | the user's access token (RFC 6750 / RFC 9449) | `current_password` + `new_password` |
//!
//! Bodies are `application/x-www-form-urlencoded`, each parameter at most
//! once, as at the token endpoint; answers are JSON with `Cache-Control:
//! no-store`, errors RFC 6749 §5.2-shaped (`invalid_request` for bad input
//! and weak passwords, `invalid_grant` for wrong, used or expired codes
//! and links and a wrong current password, `access_denied` where
//! registration is closed, 429 `temporarily_unavailable` with
//! `Retry-After` when throttled). The rules, the throttles and what an
//! answer may reveal are `service::accounts`' and the same as the hosted
//! pages': a taken address signs up "successfully" (the mail says the
//! rest), recovery answers alike for unknown addresses.
//!
//! Signing in stays at the authorization challenge endpoint: under
//! `email-verification required` it answers an unverified account's right
//! password with `insufficient_authorization` and a `ticket` for a newly
//! mailed code (`http::challenge`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use holdfast_crypto::secret::SecretString;
use serde_json::{Value, json};

use crate::http::bearer::AccessToken;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::FormParams;
use crate::http::tenant::TenantContext;
use crate::http::token::credentials;
use crate::service::accounts::{self, AccountError, SignUp, SignUpOutcome};
use crate::service::client_auth::authenticate;
use crate::state::AppState;

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        let description = err.user_message();
        match err {
            AccountError::RegistrationClosed => {
                Self::new(OAuthErrorCode::AccessDenied, description)
            }
            AccountError::Invalid(_) | AccountError::WeakPassword(_) => {
                Self::invalid_request(description)
            }
            AccountError::Exists(_) => {
                Self::invalid_request(description).with_status(StatusCode::CONFLICT)
            }
            AccountError::WrongPassword
            | AccountError::NotUsable(_)
            | AccountError::WrongCode
            | AccountError::NeedsFreshLogin => Self::new(OAuthErrorCode::InvalidGrant, description),
            AccountError::Throttled(t) => t.into(),
            AccountError::Password(e) => e.into(),
            AccountError::Store(e) => e.into(),
            AccountError::Crypto(e) => Self::internal(e, false),
        }
    }
}

/// A JSON answer that no cache keeps.
fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The request's client, authenticated as at the token endpoint.
async fn client_of(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    form: &FormParams,
    context: &crate::service::RequestContext,
) -> Result<(), ApiError> {
    authenticate(state, &ctx.tenant, &credentials(headers, form)?, context).await?;
    Ok(())
}

fn required<'a>(form: &'a FormParams, name: &'static str) -> Result<&'a str, ApiError> {
    form.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
}

/// `POST {issuer}/api/signup`: `{"status": "created"}` where verification
/// is optional (sign in next), else `{"status": "verification_required",
/// "email", "ticket"}`: the mailed code goes to `verify-email` with the
/// ticket.
pub async fn signup(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    client_of(&state, &ctx, &headers, &form, &context).await?;
    let input = SignUp {
        email: required(&form, "email")?,
        name: form.get("name").unwrap_or_default(),
        password: SecretString::new(required(&form, "password")?),
    };
    let outcome =
        accounts::sign_up(&state, &ctx.tenant, &ctx.issuer, input, None, &context).await?;
    Ok(match outcome {
        // Where verification is optional, a taken address (`required:
        // false`) answers as a new one: the API signs nobody in, so unlike
        // the hosted page it need not tell them apart.
        SignUpOutcome::SignedIn(_)
        | SignUpOutcome::CheckEmail {
            required: false, ..
        } => answer(StatusCode::CREATED, json!({ "status": "created" })),
        // A taken address answers the same (with a ticket naming nothing).
        SignUpOutcome::CheckEmail { email, ticket, .. } => answer(
            StatusCode::CREATED,
            json!({ "status": "verification_required", "email": email, "ticket": ticket }),
        ),
    })
}

/// `POST {issuer}/api/verify-email`: `ticket` and `code`, or `token` (the
/// mailed link's, for apps that open their own links).
pub async fn verify_email(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    client_of(&state, &ctx, &headers, &form, &context).await?;
    match (form.get("token"), form.get("ticket"), form.get("code")) {
        (Some(token), None, None) => {
            accounts::verify_link(&state, &ctx.tenant, token, &context).await?;
        }
        (None, Some(ticket), Some(code)) => {
            accounts::verify_code(&state, &ctx.tenant, ticket, code, &context).await?;
        }
        _ => {
            return Err(ApiError::invalid_request(
                "send either token, or ticket and code",
            ));
        }
    }
    Ok(answer(StatusCode::OK, json!({ "status": "verified" })))
}

/// `POST {issuer}/api/forgot-password`: `identifier` (username or email).
/// Answers `{"status": "requested"}` whether or not it names an account.
pub async fn forgot_password(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    client_of(&state, &ctx, &headers, &form, &context).await?;
    let identifier = required(&form, "identifier")?;
    accounts::request_reset(&state, &ctx.tenant, &ctx.issuer, identifier, None, &context).await?;
    Ok(answer(StatusCode::OK, json!({ "status": "requested" })))
}

/// `POST {issuer}/api/reset-password`: a reset link's `token` and the new
/// `password`. Every session of the user ends; a notice is mailed.
pub async fn reset_password(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    client_of(&state, &ctx, &headers, &form, &context).await?;
    let token = required(&form, "token")?;
    let password = SecretString::new(required(&form, "password")?);
    accounts::reset_password(&state, &ctx.tenant, token, password, &context).await?;
    Ok(answer(
        StatusCode::OK,
        json!({ "status": "password_reset" }),
    ))
}

/// `POST {issuer}/api/change-password`, with the user's access token:
/// `current_password` and `new_password`. Every session of the user ends,
/// this one too (sign in again with the new password); a notice is mailed.
pub async fn change_password(
    State(state): State<AppState>,
    Caller(context): Caller,
    token: AccessToken,
    form: FormParams,
) -> Result<Response, ApiError> {
    if token.claims.sid.is_none() {
        // Client-credentials tokens have no user (RFC 6750 §3.1).
        return Err(ApiError::new(
            OAuthErrorCode::InsufficientScope,
            "this endpoint needs a user's access token",
        )
        .with_challenge("Bearer realm=\"holdfast\", error=\"insufficient_scope\""));
    }
    let ctx = token.ctx;
    let current = SecretString::new(required(&form, "current_password")?);
    let new_password = SecretString::new(required(&form, "new_password")?);
    accounts::change_password(
        &state,
        &ctx.tenant,
        &token.claims.sub,
        Some(current),
        false,
        new_password,
        &context,
    )
    .await
    .map_err(|e| match e {
        // The token's user was deleted or disabled since it was issued.
        AccountError::NotUsable(_) => crate::http::bearer::user_gone(),
        other => other.into(),
    })?;
    Ok(answer(
        StatusCode::OK,
        json!({ "status": "password_changed" }),
    ))
}
