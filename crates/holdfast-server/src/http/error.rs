//! The one place where errors become HTTP responses.
//!
//! Every error a client can cause is a 4xx with an RFC 6749 §5.2 body:
//! `{"error": "...", "error_description": "..."}`. The description is what
//! the client may see; internal detail goes to the log only, and 5xx bodies
//! say nothing internal.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::OAuthErrorCode;
use serde::Serialize;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// The OAuth error code.
    pub code: OAuthErrorCode,
    /// Human-readable text for the client developer.
    pub description: Cow<'static, str>,
    /// `WWW-Authenticate` challenge, when the status is 401.
    pub www_authenticate: Option<String>,
    /// Extra response headers (e.g. `DPoP-Nonce`).
    pub headers: Vec<(&'static str, String)>,
    /// A status other than the code's usual one (RFC 9449 §7.1: a resource
    /// answers `invalid_dpop_proof` with 401, the token endpoint with 400).
    pub status: Option<StatusCode>,
}

/// What an error response said, left in its extensions for the layers
/// around the handlers: the browser landing pages (`http::landing`) show
/// the description to a person, the metrics tell expected answers
/// (`use_dpop_nonce`) from errors.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The OAuth error code.
    pub code: OAuthErrorCode,
    /// The client-facing description.
    pub description: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// The HTTP status of each error code: RFC 6749 §5.2 ("400 unless otherwise
/// specified"; `invalid_client` may be 401), RFC 6750 §3.1, RFC 9110.
pub fn status_for(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidRequest
        | OAuthErrorCode::InvalidGrant
        | OAuthErrorCode::UnauthorizedClient
        | OAuthErrorCode::UnsupportedGrantType
        | OAuthErrorCode::InvalidScope
        | OAuthErrorCode::InvalidTarget
        | OAuthErrorCode::InvalidDpopProof
        | OAuthErrorCode::UseDpopNonce
        | OAuthErrorCode::AccessDenied
        | OAuthErrorCode::AuthorizationPending
        | OAuthErrorCode::SlowDown
        | OAuthErrorCode::ExpiredToken
        | OAuthErrorCode::UnsupportedResponseType
        | OAuthErrorCode::LoginRequired
        | OAuthErrorCode::InteractionRequired => StatusCode::BAD_REQUEST,
        OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        OAuthErrorCode::NotFound => StatusCode::NOT_FOUND,
        OAuthErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// An error with a client-facing description.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            www_authenticate: None,
            headers: Vec::new(),
            status: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// A 404 for an unknown tenant or path.
    pub fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::NotFound, description)
    }

    /// A failure on our side: the detail is logged, the client learns nothing
    /// internal. Store outages are 503 (retryable), anything else 500.
    pub fn internal(err: impl std::fmt::Display, retryable: bool) -> Self {
        tracing::error!(error = %err, "request failed on the server side");
        if retryable {
            Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the server is temporarily unavailable",
            )
        } else {
            Self::new(
                OAuthErrorCode::ServerError,
                "the server could not complete the request",
            )
        }
    }

    /// Answers with `status` instead of the code's usual one.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.www_authenticate = Some(challenge.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| status_for(self.code));
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(Shown {
            code: self.code,
            description: self.description.to_string(),
        });
        let headers = response.headers_mut();
        // RFC 6749 §5.1/§5.2: responses with tokens or errors must not be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        // The unread rest of an oversized body makes the connection unusable:
        // say so, so clients do not reuse it (RFC 9112 §9.6).
        if self.code == OAuthErrorCode::RequestTooLarge {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

impl From<holdfast_store::StoreError> for ApiError {
    fn from(err: holdfast_store::StoreError) -> Self {
        Self::internal(err, true)
    }
}

impl From<crate::service::signals::SsfError> for ApiError {
    /// SSF §8.1: 400 for a request it does not take, 404 for a stream that
    /// is not the receiver's, 409 for one stream too many.
    fn from(err: crate::service::signals::SsfError) -> Self {
        use crate::service::signals::SsfError as E;
        match err {
            E::InvalidRequest(why) => Self::invalid_request(why),
            E::StreamNotFound => Self::not_found("no such stream"),
            E::TooManyStreams => Self::invalid_request(
                "this receiver has as many streams as it may; delete one first",
            )
            .with_status(StatusCode::CONFLICT),
            E::StreamNotEnabled(status) => Self::invalid_request(match status {
                holdfast_core::signals::StreamStatus::Paused => {
                    "the stream is paused: its events are held until it is enabled again"
                }
                _ => "the stream is disabled: enable it to receive events again",
            })
            .with_status(StatusCode::CONFLICT),
            E::Store(e) => e.into(),
            E::Key(e) => e.into(),
        }
    }
}

impl From<crate::keys::KeyError> for ApiError {
    fn from(err: crate::keys::KeyError) -> Self {
        match err {
            crate::keys::KeyError::Store(e) => e.into(),
            other => Self::internal(other, false),
        }
    }
}

impl From<crate::service::token::TokenError> for ApiError {
    /// The token-side errors, each to its code, status and challenge. The
    /// precise reason goes to the log; the client gets its wording (RFC 6749
    /// §5.2 `error_description`) from the tables below.
    fn from(err: crate::service::token::TokenError) -> Self {
        use crate::service::token::TokenError as E;
        match err {
            E::InvalidRequest(reason) => {
                tracing::debug!(?reason, "token request malformed");
                Self::new(OAuthErrorCode::InvalidRequest, request_description(reason))
            }
            // RFC 6749 §5.2: with Basic, "MUST respond with an HTTP 401 ...
            // and include the WWW-Authenticate response header field".
            E::InvalidClient { reason, basic } => {
                tracing::debug!(?reason, basic, "client authentication failed");
                let e = Self::new(OAuthErrorCode::InvalidClient, client_description(reason));
                if basic {
                    e.with_challenge("Basic realm=\"holdfast\", charset=\"UTF-8\"")
                } else {
                    e
                }
            }
            E::InvalidGrant(reason) => {
                tracing::debug!(?reason, "grant refused");
                Self::new(OAuthErrorCode::InvalidGrant, grant_description(reason))
            }
            E::UnauthorizedClient(reason) => {
                tracing::debug!(?reason, "client not authorized for the grant");
                Self::new(
                    OAuthErrorCode::UnauthorizedClient,
                    unauthorized_description(reason),
                )
            }
            E::UnsupportedGrantType => Self::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type is not supported",
            ),
            E::InvalidScope(reason) => {
                tracing::debug!(?reason, "scope refused");
                Self::new(OAuthErrorCode::InvalidScope, scope_description(reason))
            }
            E::InvalidTarget(reason) => {
                tracing::debug!(?reason, "resource refused");
                Self::new(OAuthErrorCode::InvalidTarget, target_description(reason))
            }
            E::InvalidDpopProof(reason) => {
                tracing::debug!(?reason, "DPoP proof refused at the token endpoint");
                Self::new(OAuthErrorCode::InvalidDpopProof, proof_description(&reason))
            }
            // RFC 9449 §8: the new nonce rides in the DPoP-Nonce header,
            // which the token endpoint adds to every response.
            E::UseDpopNonce => Self::new(
                OAuthErrorCode::UseDpopNonce,
                holdfast_dpop::DpopError::UseNonce(holdfast_dpop::NonceProblem::Missing)
                    .description(),
            ),
            E::Device(poll) => {
                use crate::service::token::DevicePoll as P;
                let (code, description) = match poll {
                    P::Pending => (
                        OAuthErrorCode::AuthorizationPending,
                        "the user has not approved this device yet",
                    ),
                    P::SlowDown => (
                        OAuthErrorCode::SlowDown,
                        "polling too often: wait 5 seconds longer between requests",
                    ),
                    P::Expired => (
                        OAuthErrorCode::ExpiredToken,
                        "the device code expired: start again",
                    ),
                    P::Denied => (OAuthErrorCode::AccessDenied, "the user denied this device"),
                };
                Self::new(code, description)
            }
            E::Throttled(t) => t.into(),
            E::Internal(e) => e.into(),
        }
    }
}

// The client-facing text of each reason: one table per error code, each
// with no wildcard arm, so a new reason cannot go out unworded.

fn request_description(reason: crate::service::token::RequestError) -> &'static str {
    use crate::service::token::RequestError as R;
    match reason {
        R::MissingGrantType => "grant_type is required",
        R::MissingCode => "code is required",
        R::MissingRefreshToken => "refresh_token is required",
        R::MissingToken => "token is required",
        R::MissingDeviceCode => "device_code is required",
        R::ClientIdMismatch => "client_id differs from the Authorization header",
        R::TwoAuthenticationMethods => {
            "use one client authentication method, not both Basic and client_secret"
        }
        R::SecretWithoutClientId => "client_secret without client_id",
        R::UnsupportedAuthorizationScheme => {
            "unsupported Authorization scheme for client authentication"
        }
        R::OriginNotAllowed => "this client's requests must come from one of its allowed origins",
        R::TokenOfAnotherClient => "the token was not issued to this client",
    }
}

fn client_description(reason: crate::service::token::ClientAuthFailure) -> &'static str {
    use crate::service::token::ClientAuthFailure as C;
    match reason {
        C::Missing => "client authentication is required",
        C::MalformedBasic => "malformed Basic credentials",
        C::UnknownOrWrongSecret => "unknown client or bad credentials",
        C::SecretRequired => "this client must authenticate with its secret",
        C::PublicClientWithSecret => "public clients have no secret",
        C::ConfidentialOnly => "introspection needs a confidential client",
    }
}

fn unauthorized_description(reason: crate::service::token::ClientNotAuthorized) -> &'static str {
    use crate::service::token::ClientNotAuthorized as U;
    match reason {
        U::GrantTypeNotAllowed => "the client may not use this grant type",
        U::ClientCredentialsNeedConfidential => "client credentials need a confidential client",
        U::DeviceNeedsHostedLogin => {
            "device sign-in needs the authorization_code grant and {issuer}/device/callback registered"
        }
    }
}

fn scope_description(reason: crate::service::token::ScopeError) -> &'static str {
    use crate::service::token::ScopeError as S;
    match reason {
        S::Malformed => holdfast_core::scope::ScopeRefusal::Malformed.description(),
        S::BeyondClient => "scope exceeds what the client may request without a user",
        S::BeyondGrant => "scope exceeds what was originally granted",
    }
}

fn target_description(reason: crate::service::token::TargetError) -> &'static str {
    use crate::service::token::TargetError as T;
    match reason {
        T::Resource(e) => e.description(),
        T::DiffersFromAuthorization => "resource differs from the authorization request",
        T::BeyondGrant => "resource differs from the one originally granted",
    }
}

fn proof_description(reason: &crate::service::token::ProofError) -> &'static str {
    use crate::service::token::ProofError as P;
    match reason {
        P::Required => "this client must send a DPoP proof",
        P::CodeBoundToAnotherKey => "the authorization code is bound to another DPoP key",
        // holdfast-dpop's one table, the same words `holdfast-verify` uses.
        P::Refused(refusal) => refusal.description(),
    }
}

/// The client-facing text of each reason a grant is refused.
fn grant_description(reason: crate::service::token::GrantError) -> &'static str {
    use crate::service::token::GrantError as G;
    use holdfast_core::refresh::rotation::RejectReason as R;
    match reason {
        G::UnknownCode => "unknown authorization code",
        G::CodeOfAnotherClient => "authorization code was issued to another client",
        G::CodeReplayed => "authorization code has already been used",
        G::CodeExpired => "authorization code has expired",
        G::RedirectUriMismatch => "redirect_uri does not match the authorization request",
        G::Pkce(e) => holdfast_core::authorize::pkce_message(e),
        G::UserGone => "the user no longer exists",
        G::AuthenticationRevoked => "the authentication predates the user's revocation",
        G::StoredScopeCorrupt => "stored scope is malformed",
        G::UnknownDeviceCode => "unknown device code",
        G::DeviceCodeOfAnotherClient => "device code was issued to another client",
        G::DeviceCodeUsed => "device code has already been used",
        G::UnknownRefreshToken => "unknown refresh token",
        G::RefreshTokenUsed => "refresh token has already been used",
        G::Refused(R::FamilyRevoked) => "the session has been revoked",
        G::Refused(R::FamilyIdleExpired) => "the session expired after being idle",
        G::Refused(R::FamilyAbsoluteExpired) => "the session reached its maximum lifetime",
        G::Refused(R::RetryLimitExceeded) => "too many retries of a rotated refresh token",
        G::Refused(R::WrongClient) => "refresh token was issued to another client",
        G::Refused(R::ScopeNotGranted) => "scope exceeds what was originally granted",
        G::Refused(R::ResourceNotGranted) => "resource differs from the one originally granted",
        G::Refused(R::DpopKeyMismatch) => {
            "the refresh token is bound to a DPoP key and needs a proof by it"
        }
    }
}

impl From<crate::service::throttle::Throttled> for ApiError {
    /// RFC 6585 §4: 429 with `Retry-After` (RFC 9110 §10.2.3). The body is
    /// the same for every account, known or not.
    fn from(t: crate::service::throttle::Throttled) -> Self {
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "too many failed attempts; try again later",
        )
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .with_header("retry-after", t.retry_after_secs.to_string())
    }
}

impl From<crate::service::password::PasswordError> for ApiError {
    fn from(err: crate::service::password::PasswordError) -> Self {
        use crate::service::password::PasswordError as E;
        match err {
            // The hashing queue is full: answer at once rather than wait,
            // so a login flood cannot hold connections (or refreshes) up.
            E::Busy => Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the server is busy; try again shortly",
            )
            .with_header("retry-after", "1".to_owned()),
            other => Self::internal(other, true),
        }
    }
}

impl From<crate::service::login::LoginError> for ApiError {
    fn from(err: crate::service::login::LoginError) -> Self {
        use crate::service::login::LoginError as E;
        match err {
            // The password grant's precedent (RFC 6749 §5.2): bad resource
            // owner credentials are an invalid grant.
            E::BadCredentials => {
                Self::new(OAuthErrorCode::InvalidGrant, "invalid username or password")
            }
            E::Throttled(t) => t.into(),
            E::Store(e) => e.into(),
            E::Password(e) => e.into(),
            E::Crypto(e) => Self::internal(e, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::token::{
        ClientAuthFailure as C, ClientNotAuthorized as U, GrantError as G, ProofError as P,
        RequestError as R, ScopeError as S, TargetError as T, TokenError as E,
    };
    use holdfast_core::client::ResourceError;
    use holdfast_core::pkce::PkceError;
    use holdfast_core::refresh::rotation::RejectReason;
    use holdfast_dpop::DpopRefusal;

    /// One of every reason a client can cause at the token endpoint, with
    /// the code it must carry.
    fn every_client_error() -> Vec<(E, OAuthErrorCode)> {
        let request = [
            R::MissingGrantType,
            R::MissingCode,
            R::MissingRefreshToken,
            R::MissingToken,
            R::ClientIdMismatch,
            R::TwoAuthenticationMethods,
            R::SecretWithoutClientId,
            R::UnsupportedAuthorizationScheme,
            R::OriginNotAllowed,
            R::TokenOfAnotherClient,
        ];
        let client = [
            C::Missing,
            C::MalformedBasic,
            C::UnknownOrWrongSecret,
            C::SecretRequired,
            C::PublicClientWithSecret,
            C::ConfidentialOnly,
        ];
        let grant = [
            G::UnknownCode,
            G::CodeOfAnotherClient,
            G::CodeReplayed,
            G::CodeExpired,
            G::RedirectUriMismatch,
            G::Pkce(PkceError::Mismatch),
            G::Pkce(PkceError::MissingVerifier),
            G::UserGone,
            G::AuthenticationRevoked,
            G::StoredScopeCorrupt,
            G::UnknownRefreshToken,
            G::RefreshTokenUsed,
            G::Refused(RejectReason::FamilyRevoked),
            G::Refused(RejectReason::FamilyIdleExpired),
            G::Refused(RejectReason::FamilyAbsoluteExpired),
            G::Refused(RejectReason::RetryLimitExceeded),
            G::Refused(RejectReason::WrongClient),
            G::Refused(RejectReason::ScopeNotGranted),
            G::Refused(RejectReason::ResourceNotGranted),
            G::Refused(RejectReason::DpopKeyMismatch),
        ];
        let mut all: Vec<(E, OAuthErrorCode)> = Vec::new();
        all.extend(request.map(|r| (E::InvalidRequest(r), OAuthErrorCode::InvalidRequest)));
        for basic in [false, true] {
            all.extend(client.map(|reason| {
                (
                    E::InvalidClient { reason, basic },
                    OAuthErrorCode::InvalidClient,
                )
            }));
        }
        all.extend(grant.map(|g| (E::InvalidGrant(g), OAuthErrorCode::InvalidGrant)));
        all.extend(
            [U::GrantTypeNotAllowed, U::ClientCredentialsNeedConfidential]
                .map(|u| (E::UnauthorizedClient(u), OAuthErrorCode::UnauthorizedClient)),
        );
        all.push((
            E::UnsupportedGrantType,
            OAuthErrorCode::UnsupportedGrantType,
        ));
        all.extend(
            [S::Malformed, S::BeyondClient, S::BeyondGrant]
                .map(|s| (E::InvalidScope(s), OAuthErrorCode::InvalidScope)),
        );
        all.extend(
            [
                T::Resource(ResourceError::Malformed),
                T::Resource(ResourceError::NotAllowed),
                T::DiffersFromAuthorization,
                T::BeyondGrant,
            ]
            .map(|t| (E::InvalidTarget(t), OAuthErrorCode::InvalidTarget)),
        );
        all.extend(
            [
                P::Required,
                P::CodeBoundToAnotherKey,
                P::Refused(DpopRefusal::MultipleProofs),
                P::Refused(DpopRefusal::Replayed),
            ]
            .map(|p| (E::InvalidDpopProof(p), OAuthErrorCode::InvalidDpopProof)),
        );
        all.push((E::UseDpopNonce, OAuthErrorCode::UseDpopNonce));
        all
    }

    #[test]
    fn rfc6749_s5_2_every_token_error_is_a_4xx_with_its_code_and_a_worded_description() {
        let all = every_client_error();
        for (err, code) in all {
            let label = format!("{err:?}");
            let api = ApiError::from(err);
            assert_eq!(api.code, code, "{label}");
            let status = api.status.unwrap_or_else(|| status_for(api.code));
            assert!(status.is_client_error(), "{label}: {status}");
            assert!(
                !api.description.is_empty()
                    && api.description.is_ascii()
                    && !api.description.contains('"')
                    && !api.description.contains('{'),
                "{label}: description {:?} is not plain client text",
                api.description
            );
        }
    }

    #[test]
    fn rfc6749_s5_2_invalid_client_after_basic_is_401_with_a_basic_challenge() {
        for (err, code) in every_client_error() {
            let basic = matches!(err, E::InvalidClient { basic: true, .. });
            let api = ApiError::from(err);
            if code == OAuthErrorCode::InvalidClient {
                assert_eq!(status_for(api.code), StatusCode::UNAUTHORIZED);
                assert_eq!(
                    api.www_authenticate
                        .as_deref()
                        .map(|c| c.starts_with("Basic ")),
                    basic.then_some(true),
                );
            } else {
                assert_eq!(api.www_authenticate, None);
            }
        }
    }

    #[test]
    fn distinct_reasons_of_one_code_are_worded_distinctly() {
        let mut seen = std::collections::HashMap::new();
        for (err, _) in every_client_error() {
            let label = format!("{err:?}");
            if matches!(err, E::InvalidClient { basic: true, .. }) {
                continue; // the same reasons as with basic: false
            }
            let api = ApiError::from(err);
            if let Some(other) = seen.insert((api.code, api.description.to_string()), label.clone())
            {
                // RFC 7636 §4.6 words every PKCE failure alike on purpose.
                assert!(
                    label.contains("Pkce") && other.contains("Pkce"),
                    "{label} and {other} read the same"
                );
            }
        }
    }
}
