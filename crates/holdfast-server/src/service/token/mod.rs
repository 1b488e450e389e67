//! The token endpoint's use case, [RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2),
//! as a short chain of named steps: authenticate the client, pick the grant,
//! check the client may use it, run the grant (one module per grant type).
//!
//! Errors are precise here ([`TokenError`]) and become RFC 6749 §5.2
//! responses in `http/error.rs`.
//!
//! Not supported: the implicit and password grants (removed by OAuth 2.1),
//! token exchange, JWT bearer assertions.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
mod error;
pub mod refresh_token;

pub use error::{
    ClientAuthFailure, ClientNotAuthorized, DevicePoll, GrantError, ProofError, RequestError,
    ScopeError, TargetError, TokenError,
};

use std::collections::HashMap;

use holdfast_core::client::{Client, GrantType};
use holdfast_core::tenant::Tenant;
use serde::Serialize;
use url::Url;

use crate::service::RequestContext;
use crate::service::client_auth::{ClientCredentials, authenticate};
use crate::state::AppState;

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
        return Err(ClientNotAuthorized::GrantTypeNotAllowed.into());
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
        return Err(RequestError::OriginNotAllowed.into());
    }
    // A refresh and a code exchange record the proof in their own
    // transaction (one commit per request); client credentials, which
    // writes nothing else, and a device poll, which must not change its
    // request for a replayed proof, record it here.
    let proof = if matches!(
        grant,
        GrantType::RefreshToken | GrantType::AuthorizationCode
    ) {
        crate::service::dpop::verify_token_request(state, tenant, issuer, &client, &request.dpop)?
    } else {
        crate::service::dpop::check_token_request(state, tenant, issuer, &client, &request.dpop)
            .await?
    };
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
        GrantType::DeviceCode => {
            device_code::exchange(state, tenant, issuer, &client, &request, proof).await
        }
    }
}

fn grant_type(request: &TokenRequest) -> Result<GrantType, TokenError> {
    let raw = request
        .param("grant_type")
        .ok_or(RequestError::MissingGrantType)?;
    raw.parse().map_err(|_| TokenError::UnsupportedGrantType)
}

/// RFC 6749 §3.3: the requested `scope`, or all of `allowed` when the
/// request names none; asking for more than `allowed` is `invalid_scope`.
pub(crate) fn requested_scope(
    request: &TokenRequest,
    allowed: &holdfast_core::scope::Scope,
    too_wide: ScopeError,
) -> Result<holdfast_core::scope::Scope, TokenError> {
    use holdfast_core::scope::{Scope, ScopeRefusal};
    Scope::negotiate(request.param("scope"), allowed).map_err(|refusal| {
        TokenError::InvalidScope(match refusal {
            ScopeRefusal::Malformed => ScopeError::Malformed,
            ScopeRefusal::NotAllowed => too_wide,
        })
    })
}

/// The response for a minted access token.
pub(crate) fn response(
    client: &Client,
    access: crate::service::jwt::MintedAccessToken,
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
