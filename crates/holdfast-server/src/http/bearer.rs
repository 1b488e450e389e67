//! Access tokens presented to Holdfast's own APIs (userinfo, sessions):
//! `Bearer` ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1))
//! or, for DPoP-bound tokens, `DPoP` with a proof
//! ([RFC 9449 §7](https://www.rfc-editor.org/rfc/rfc9449#section-7)), and
//! the `WWW-Authenticate` challenges of RFC 6750 §3 and RFC 9449 §7.1.
//!
//! A token carrying `cnf.jkt` is accepted only under the `DPoP` scheme with
//! a proof by that key for this request (`htm`, `htu`, `ath`), recorded
//! against replay; a token without `cnf` is refused under `DPoP`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use holdfast_core::OAuthErrorCode;
use holdfast_core::claims::AccessTokenClaims;
use url::Url;

use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::dpop::{check, policy};
use crate::service::token::TokenError;
use crate::service::tokens::{AccessTokenError, verify_access_token};
use crate::state::AppState;

/// A verified access token of the tenant in the path.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Its claims.
    pub claims: AccessTokenClaims,
    /// The tenant.
    pub ctx: TenantContext,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

impl<S> FromRequestParts<S> for AccessToken
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = TenantContext::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let (scheme, token) = credentials(&parts.headers).ok_or_else(|| {
            // RFC 6750 §3.1: no error code when the request had no credentials.
            ApiError::new(OAuthErrorCode::InvalidToken, "an access token is required")
                .with_challenge(format!(
                    "Bearer realm=\"holdfast\", DPoP algs=\"{}\"",
                    policy(&state).algs_header_value()
                ))
        })?;
        let invalid = |scheme: Scheme, description: String| {
            let challenge = match scheme {
                Scheme::Bearer => format!(
                    "Bearer realm=\"holdfast\", error=\"invalid_token\", error_description=\"{description}\""
                ),
                Scheme::Dpop => format!(
                    "DPoP algs=\"{}\", error=\"invalid_token\", error_description=\"{description}\"",
                    policy(&state).algs_header_value()
                ),
            };
            ApiError::new(OAuthErrorCode::InvalidToken, description).with_challenge(challenge)
        };
        let claims = verify_access_token(&state, &ctx.tenant, &ctx.issuer, token)
            .await
            .map_err(|e| match e {
                AccessTokenError::Key(k) => ApiError::from(k),
                other => invalid(scheme, other.to_string()),
            })?;
        match (scheme, &claims.cnf) {
            (Scheme::Bearer, None) => {}
            // RFC 9449 §7.2: a DPoP-bound token presented as Bearer is refused.
            (Scheme::Bearer, Some(_)) => {
                return Err(invalid(
                    Scheme::Dpop,
                    "this token is DPoP-bound: use the DPoP scheme with a proof".into(),
                ));
            }
            (Scheme::Dpop, None) => {
                return Err(invalid(Scheme::Dpop, "this token is not DPoP-bound".into()));
            }
            (Scheme::Dpop, Some(cnf)) => {
                let proofs: Vec<String> = parts
                    .headers
                    .get_all("dpop")
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect();
                if proofs.is_empty() {
                    return Err(invalid(Scheme::Dpop, "a DPoP proof is required".into()));
                }
                let path = parts.uri.path();
                let uri = Url::parse(&format!(
                    "{}{}",
                    state.public_url.as_str().trim_end_matches('/'),
                    path
                ))
                .map_err(|_| ApiError::invalid_request("malformed request URI"))?;
                let method = parts.method.as_str().to_owned();
                check(
                    &state,
                    &ctx.tenant,
                    &proofs,
                    &method,
                    &uri,
                    Some(token),
                    Some(&cnf.jkt),
                    false,
                )
                .await
                .map_err(|e| match e {
                    TokenError::Internal(k) => ApiError::from(k),
                    TokenError::InvalidDpopProof(d) => ApiError::new(
                        OAuthErrorCode::InvalidDpopProof,
                        d,
                    )
                    .with_status(axum::http::StatusCode::UNAUTHORIZED)
                    .with_challenge(format!(
                        "DPoP algs=\"{}\", error=\"invalid_dpop_proof\", error_description=\"{d}\"",
                        policy(&state).algs_header_value()
                    )),
                    other => invalid(Scheme::Dpop, other.to_string()),
                })?;
            }
        }
        Ok(Self { claims, ctx })
    }
}

/// `Authorization: Bearer <token>` or `Authorization: DPoP <token>`
/// (schemes case-insensitive).
fn credentials(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim())).filter(|(_, t)| !t.is_empty())
}

/// A 401 for a token that verified but whose subject is gone.
pub fn user_gone() -> ApiError {
    ApiError::new(OAuthErrorCode::InvalidToken, "the user no longer exists")
        .with_challenge("Bearer realm=\"holdfast\", error=\"invalid_token\"")
}
