//! Access tokens presented to Holdfast's own APIs (userinfo, sessions):
//! `Bearer` ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1))
//! or, for DPoP-bound tokens, `DPoP` with a proof
//! ([RFC 9449 §7](https://www.rfc-editor.org/rfc/rfc9449#section-7)), and
//! the `WWW-Authenticate` challenges of RFC 6750 §3 and RFC 9449 §7.1.
//!
//! The scheme rule, the DPoP-bound-token rules (a token carrying `cnf.jkt`
//! is accepted only under `DPoP` with a proof by that key for this request,
//! `htm`, `htu`, `ath`; a token without `cnf` is refused under `DPoP`), the
//! error texts and the challenge rendering are `holdfast_dpop`'s, the same
//! code `holdfast-verify` runs, so a DPoP fix lands once. The token itself
//! is checked by `service::jwt` (the tenant's keys, revocation standing
//! in the store); proofs are recorded against replay in the store.
//!
//! Not supported: tokens in a form body or the query (RFC 6750 §2.2, §2.3);
//! resource-server nonces (RFC 9449 §9) on these endpoints.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use holdfast_core::OAuthErrorCode;
use holdfast_core::claims::IssuedAccessTokenClaims;
use holdfast_dpop::challenge::render_all;
use holdfast_dpop::{
    AuthorizationError, Challenge, DpopError, DpopRefusal, Scheme, parse_authorization,
};

use crate::http::error::ApiError;
use crate::http::tenant::TenantContext;
use crate::service::dpop::{DpopCheckError, check_resource_request, policy};
use crate::service::jwt::{AccessTokenError, verify_access_token};
use crate::state::AppState;

/// The `realm` of Bearer challenges (RFC 6750 §3).
const REALM: &str = "holdfast";

/// A verified access token of the tenant in the path.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// Its claims.
    pub claims: IssuedAccessTokenClaims,
    /// The tenant.
    pub ctx: TenantContext,
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
        let claims = verify_presented(&state, &ctx, parts).await?;
        Ok(Self { claims, ctx })
    }
}

/// Verifies the access token this request presents, issued by `ctx`'s
/// tenant for Holdfast itself, with its DPoP proof when it is bound: the
/// check every one of Holdfast's own APIs runs (the admin API too).
pub async fn verify_presented(
    state: &AppState,
    ctx: &TenantContext,
    parts: &Parts,
) -> Result<IssuedAccessTokenClaims, ApiError> {
    let algs = policy(state).algs_header_value();
    let (scheme, token) =
        parse_authorization(&parts.headers).map_err(|e| unauthorized(e, &algs))?;
    let claims = verify_access_token(state, &ctx.tenant, &ctx.issuer, token)
        .await
        .map_err(|e| match e {
            AccessTokenError::Key(k) => ApiError::from(k),
            other => invalid(
                scheme,
                OAuthErrorCode::InvalidToken,
                other.to_string(),
                &algs,
            ),
        })?;
    check_resource_request(
        state,
        &ctx.tenant,
        scheme,
        token,
        claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str()),
        parts.method.as_str(),
        parts.uri.path(),
        &parts.headers,
    )
    .await
    .map_err(|e| match e {
        DpopCheckError::Store(e) => ApiError::from(e),
        DpopCheckError::Refused(r) => invalid(
            r.challenge_scheme(),
            code_of(&r),
            r.description().to_owned(),
            &algs,
        ),
    })?;
    Ok(claims)
}

/// A request without usable credentials: RFC 6750 §3.1, no error code in
/// the challenges when there were none; a broken `Authorization` header is
/// an invalid token under Bearer.
fn unauthorized(e: AuthorizationError, algs: &str) -> ApiError {
    match e {
        AuthorizationError::Missing | AuthorizationError::UnsupportedScheme => {
            ApiError::new(OAuthErrorCode::InvalidToken, e.description()).with_challenge(render_all(
                &[
                    Challenge::new(Scheme::Bearer).param("realm", REALM),
                    Challenge::new(Scheme::DPoP).param("algs", algs),
                ],
            ))
        }
        AuthorizationError::Multiple | AuthorizationError::Malformed => invalid(
            Scheme::Bearer,
            OAuthErrorCode::InvalidToken,
            e.description().to_owned(),
            algs,
        ),
    }
}

/// A 401 with the challenge of `scheme` (RFC 6750 §3, RFC 9449 §7.1).
fn invalid(scheme: Scheme, code: OAuthErrorCode, description: String, algs: &str) -> ApiError {
    let challenge = match scheme {
        Scheme::Bearer => Challenge::new(Scheme::Bearer).param("realm", REALM),
        Scheme::DPoP => Challenge::new(Scheme::DPoP).param("algs", algs),
    }
    .error(code.as_str(), &description);
    ApiError::new(code, description)
        .with_status(StatusCode::UNAUTHORIZED)
        .with_challenge(challenge.render())
}

/// The OAuth code of a DPoP refusal, as this server's enum.
fn code_of(refusal: &DpopRefusal) -> OAuthErrorCode {
    match refusal {
        DpopRefusal::BoundTokenAsBearer | DpopRefusal::UnboundTokenAsDpop => {
            OAuthErrorCode::InvalidToken
        }
        DpopRefusal::Proof(DpopError::UseNonce(_)) => OAuthErrorCode::UseDpopNonce,
        DpopRefusal::Proof(_)
        | DpopRefusal::MultipleProofs
        | DpopRefusal::MissingProof
        | DpopRefusal::Replayed => OAuthErrorCode::InvalidDpopProof,
    }
}

/// A 401 for a token that verified but whose subject is gone.
pub fn user_gone() -> ApiError {
    ApiError::new(OAuthErrorCode::InvalidToken, "the user no longer exists").with_challenge(
        Challenge::new(Scheme::Bearer)
            .param("realm", REALM)
            .param("error", "invalid_token")
            .render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9449_s7_refusal_codes_agree_with_the_shared_table() {
        for r in [
            DpopRefusal::BoundTokenAsBearer,
            DpopRefusal::UnboundTokenAsDpop,
            DpopRefusal::MissingProof,
            DpopRefusal::MultipleProofs,
            DpopRefusal::Replayed,
            DpopRefusal::Proof(DpopError::BadSignature),
            DpopRefusal::Proof(DpopError::UseNonce(holdfast_dpop::NonceProblem::Missing)),
        ] {
            assert_eq!(code_of(&r).as_str(), r.oauth_error(), "{r:?}");
        }
    }

    #[test]
    fn rfc6750_s3_1_no_credentials_challenges_carry_no_error() {
        let e = unauthorized(AuthorizationError::Missing, "ES256");
        assert_eq!(
            e.www_authenticate.as_deref(),
            Some("Bearer realm=\"holdfast\", DPoP algs=\"ES256\"")
        );
    }
}
