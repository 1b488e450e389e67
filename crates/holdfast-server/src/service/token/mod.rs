//! The token endpoint's use case, [RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2),
//! as a short chain of named steps: authenticate the client, pick the grant,
//! check the client may use it, run the grant (one module per grant type).
//!
//! Errors are precise here ([`TokenError`]) and become RFC 6749 §5.2
//! responses in `http/error.rs`.
//!
//! Not supported: the implicit and password grants (removed by OAuth 2.1),
//! the device grant, token exchange, JWT bearer assertions.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use std::borrow::Cow;
use std::collections::HashMap;

use holdfast_core::client::{Client, GrantType};
use holdfast_core::tenant::Tenant;
use serde::Serialize;
use url::Url;

use crate::keys::KeyError;
use crate::service::client_auth::{ClientCredentials, authenticate};
use crate::state::AppState;

/// Why a token request failed, precisely.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// RFC 6749 §5.2 `invalid_request`.
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// RFC 6749 §5.2 `invalid_client`.
    #[error("invalid_client: {description}")]
    InvalidClient {
        /// Client-facing text.
        description: &'static str,
        /// Whether Basic authentication was attempted (then 401 + challenge is a MUST).
        basic: bool,
    },
    /// RFC 6749 §5.2 `invalid_grant`, with the precise reason.
    #[error("invalid_grant: {0:?}")]
    InvalidGrant(GrantError),
    /// RFC 6749 §5.2 `unauthorized_client`.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// RFC 6749 §5.2 `unsupported_grant_type`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// RFC 6749 §5.2 `invalid_scope`.
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    /// RFC 9449 §5 `invalid_dpop_proof`.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(&'static str),
    /// RFC 9449 §8 `use_dpop_nonce`.
    #[error("use_dpop_nonce")]
    UseDpopNonce,
    /// Too many failed attempts from this caller (docs/design.md §8): 429 with
    /// `Retry-After`.
    #[error(transparent)]
    Throttled(#[from] crate::service::throttle::Throttled),
    /// RFC 8707 §2 `invalid_target`.
    #[error("invalid_target: {0}")]
    InvalidTarget(&'static str),
    /// Our side failed.
    #[error(transparent)]
    Internal(#[from] KeyError),
}

/// Why a grant was refused (RFC 6749 §5.2 `invalid_grant`): precise here;
/// `http/error.rs` alone words it for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantError {
    /// No such authorization code in this tenant.
    UnknownCode,
    /// RFC 6749 §4.1.3: the code was issued to another client.
    CodeOfAnotherClient,
    /// RFC 6749 §4.1.2: the code was redeemed before (what it issued is
    /// now revoked).
    CodeReplayed,
    /// The code's lifetime is over.
    CodeExpired,
    /// RFC 6749 §4.1.3: `redirect_uri` differs from the authorization
    /// request's.
    RedirectUriMismatch,
    /// RFC 7636 §4.6: the `code_verifier` is missing, malformed or wrong.
    Pkce(holdfast_core::pkce::PkceError),
    /// The user the code was issued for was deleted.
    UserGone,
    /// The authentication predates the user's "not before" stamp.
    AuthenticationRevoked,
    /// The stored grant's scope does not parse (a corrupt row).
    StoredScopeCorrupt,
    /// No such refresh token in this tenant.
    UnknownRefreshToken,
    /// The refresh token was used before (reuse: its family is revoked), or
    /// its grace child cannot be opened.
    RefreshTokenUsed,
    /// The rotation state machine refused the presentation.
    Refused(holdfast_core::refresh::rotation::RejectReason),
}

impl From<GrantError> for TokenError {
    fn from(e: GrantError) -> Self {
        TokenError::InvalidGrant(e)
    }
}

impl From<holdfast_store::StoreError> for TokenError {
    fn from(e: holdfast_store::StoreError) -> Self {
        TokenError::Internal(KeyError::Store(e))
    }
}

impl From<crate::service::throttle::ThrottleError> for TokenError {
    fn from(e: crate::service::throttle::ThrottleError) -> Self {
        match e {
            crate::service::throttle::ThrottleError::Throttled(t) => TokenError::Throttled(t),
            crate::service::throttle::ThrottleError::Store(e) => e.into(),
        }
    }
}

impl From<holdfast_crypto::CryptoError> for TokenError {
    fn from(e: holdfast_crypto::CryptoError) -> Self {
        TokenError::Internal(KeyError::Crypto(e))
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a DPoP-bound access token (RFC 9449 §5).
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// A refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Cookie delivery: the HTTP edge moves `refresh_token` into a cookie.
    #[serde(skip)]
    pub refresh_token_in_cookie: bool,
    /// The refresh family's absolute lifetime, for the cookie's Max-Age.
    #[serde(skip)]
    pub refresh_lifetime_secs: i64,
}

/// Where a request came from, for audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The peer's IP address.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Origin` header (browsers send it on cross-origin and POST requests).
    pub origin: Option<String>,
}

/// A parsed token request: the form parameters (each at most once), the
/// client's credentials and where the request came from.
#[derive(Debug)]
pub struct TokenRequest {
    /// Form parameters.
    pub params: HashMap<String, String>,
    /// Client credentials.
    pub credentials: ClientCredentials,
    /// Caller context.
    pub context: RequestContext,
    /// The values of the request's `DPoP` headers (RFC 9449 §4.1).
    pub dpop: Vec<String>,
}

impl TokenRequest {
    /// A parameter, if present and non-empty (RFC 6749 §3.1: "Parameters
    /// sent without a value MUST be treated as if they were omitted").
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Runs a token request for `tenant`.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    request: TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let client = authenticate(state, tenant, &request.credentials, &request.context).await?;
    let grant = grant_type(&request)?;
    // RFC 6749 §5.2 unauthorized_client: "The authenticated client is not
    // authorized to use this authorization grant type." Decided before
    // anything else about the request (origin, DPoP proof, parameters), so
    // a public client asking for `client_credentials` (RFC 6749 §4.4: "MUST
    // only be used by confidential clients") hears exactly that.
    if !client.allows_grant(grant) {
        return Err(TokenError::UnauthorizedClient(
            "the client may not use this grant type",
        ));
    }
    // Cookie mode: the browser attaches the refresh cookie to any request,
    // so only the client's own origins may make one (CSRF defence).
    if client.refresh_token_in_cookie
        && !request
            .context
            .origin
            .as_ref()
            .is_some_and(|o| client.allowed_origins.contains(o))
    {
        return Err(TokenError::InvalidRequest(
            "this client's requests must come from one of its allowed origins".into(),
        ));
    }
    let proof =
        crate::service::dpop::check_token_request(state, tenant, issuer, &client, &request.dpop)
            .await?;
    let proof = proof.as_ref();
    match grant {
        GrantType::AuthorizationCode => {
            authorization_code::exchange(state, tenant, issuer, &client, &request, proof).await
        }
        GrantType::ClientCredentials => {
            client_credentials::exchange(state, tenant, issuer, &client, &request, proof).await
        }
        GrantType::RefreshToken => {
            refresh_token::exchange(state, tenant, issuer, &client, &request, proof).await
        }
    }
}

fn grant_type(request: &TokenRequest) -> Result<GrantType, TokenError> {
    let raw = request
        .param("grant_type")
        .ok_or(TokenError::InvalidRequest("grant_type is required".into()))?;
    raw.parse().map_err(|_| TokenError::UnsupportedGrantType)
}

/// RFC 6749 §3.3: the requested `scope`, or all of `allowed` when the
/// request names none; asking for more than `allowed` is `invalid_scope`.
pub(crate) fn requested_scope(
    request: &TokenRequest,
    allowed: &holdfast_core::scope::Scope,
    too_wide: &'static str,
) -> Result<holdfast_core::scope::Scope, TokenError> {
    use holdfast_core::scope::{Scope, ScopeRefusal};
    Scope::negotiate(request.param("scope"), allowed).map_err(|refusal| match refusal {
        ScopeRefusal::Malformed => TokenError::InvalidScope(refusal.description()),
        ScopeRefusal::NotAllowed => TokenError::InvalidScope(too_wide),
    })
}

/// The response for a minted access token.
pub(crate) fn response(
    client: &Client,
    access: crate::service::tokens::MintedAccessToken,
    scope: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        token_type: if access.claims.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        access_token: access.token,
        expires_in: client.access_token_ttl_secs,
        scope,
        refresh_token,
        id_token,
        refresh_token_in_cookie: client.refresh_token_in_cookie,
        refresh_lifetime_secs: client.refresh.absolute_lifetime_secs,
    }
}
