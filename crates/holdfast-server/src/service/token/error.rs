//! Why a token request failed, precisely: one variant per reason, so the
//! service never words an error. `http/error.rs` alone turns each into its
//! status, RFC 6749 §5.2 JSON and `WWW-Authenticate` challenge, with an
//! exhaustive match (no wildcard arm), and logs the detail apart from the
//! `error_description`.

use holdfast_core::client::ResourceError;
use holdfast_core::refresh::rotation::RejectReason;
use holdfast_dpop::DpopRefusal;

use crate::keys::KeyError;

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// RFC 6749 §5.2 `invalid_request`.
    #[error("invalid_request: {0:?}")]
    InvalidRequest(RequestError),
    /// RFC 6749 §5.2 `invalid_client`.
    #[error("invalid_client: {reason:?}")]
    InvalidClient {
        /// What was wrong with the client's authentication.
        reason: ClientAuthFailure,
        /// Whether Basic authentication was attempted (then 401 + challenge is a MUST).
        basic: bool,
    },
    /// RFC 6749 §5.2 `invalid_grant`.
    #[error("invalid_grant: {0:?}")]
    InvalidGrant(GrantError),
    /// RFC 6749 §5.2 `unauthorized_client`.
    #[error("unauthorized_client: {0:?}")]
    UnauthorizedClient(ClientNotAuthorized),
    /// RFC 6749 §5.2 `unsupported_grant_type`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// RFC 6749 §5.2 `invalid_scope`.
    #[error("invalid_scope: {0:?}")]
    InvalidScope(ScopeError),
    /// RFC 8707 §2 `invalid_target`.
    #[error("invalid_target: {0:?}")]
    InvalidTarget(TargetError),
    /// RFC 9449 §5 `invalid_dpop_proof`.
    #[error("invalid_dpop_proof: {0:?}")]
    InvalidDpopProof(ProofError),
    /// RFC 9449 §8 `use_dpop_nonce`.
    #[error("use_dpop_nonce")]
    UseDpopNonce,
    /// RFC 8628 §3.5: the device's user has not approved yet, or it polls
    /// too fast, or the request is over.
    #[error("device authorization: {0:?}")]
    Device(DevicePoll),
    /// Too many failed attempts from this caller (docs/design.md §8): 429 with
    /// `Retry-After`.
    #[error(transparent)]
    Throttled(#[from] crate::service::throttle::Throttled),
    /// Our side failed.
    #[error(transparent)]
    Internal(#[from] KeyError),
}

/// RFC 6749 §5.2 `invalid_request`: "missing a required parameter ...
/// includes multiple credentials ... or is otherwise malformed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// No `grant_type` (§4.1.3, §4.4.2, §6).
    MissingGrantType,
    /// No `code` in an authorization-code grant (§4.1.3).
    MissingCode,
    /// No `refresh_token` in a refresh grant (§6).
    MissingRefreshToken,
    /// No `device_code` in a device-code grant (RFC 8628 §3.4).
    MissingDeviceCode,
    /// No `token` at revocation (RFC 7009 §2.1) or introspection (RFC 7662 §2.1).
    MissingToken,
    /// The form's `client_id` names another client than the Basic header.
    ClientIdMismatch,
    /// §2.3: "MUST NOT use more than one authentication method".
    TwoAuthenticationMethods,
    /// `client_secret` without `client_id` (§2.3.1).
    SecretWithoutClientId,
    /// An `Authorization` scheme other than Basic for client authentication.
    UnsupportedAuthorizationScheme,
    /// A cookie-mode client's request from an origin it does not list
    /// (docs/design.md §6, CSRF defence).
    OriginNotAllowed,
    /// RFC 7009 §2.1: the token presented for revocation belongs to another
    /// client.
    TokenOfAnotherClient,
}

/// RFC 8628 §3.5: the answers of a device poll that are not tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePoll {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`.
    SlowDown,
    /// `expired_token`.
    Expired,
    /// `access_denied`: the user said no.
    Denied,
}

/// Why client authentication failed (RFC 6749 §5.2 `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthFailure {
    /// Nothing identified a client.
    Missing,
    /// A Basic header that does not decode to `id:secret` (RFC 7617 §2).
    MalformedBasic,
    /// No such client, or the secret is wrong (one answer for both, so the
    /// response does not tell which client ids exist).
    UnknownOrWrongSecret,
    /// A confidential client sent no secret.
    SecretRequired,
    /// A public client sent a secret.
    PublicClientWithSecret,
    /// A public client at an endpoint only confidential clients may use
    /// (introspection, RFC 7662 §2.1).
    ConfidentialOnly,
}

/// RFC 6749 §5.2 `unauthorized_client`: the authenticated client may not
/// use this grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNotAuthorized {
    /// The grant type is not among the client's.
    GrantTypeNotAllowed,
    /// RFC 6749 §4.4: client credentials "MUST only be used by confidential
    /// clients".
    ClientCredentialsNeedConfidential,
    /// RFC 8628: the user approves through the hosted login, so a device
    /// client needs the authorization code grant and `{issuer}/device/callback`
    /// among its redirect URIs.
    DeviceNeedsHostedLogin,
}

/// RFC 6749 §5.2 `invalid_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeError {
    /// Not a space-separated list of scope tokens (§3.3).
    Malformed,
    /// Client credentials asking for more than the client may have without
    /// a user (§4.4.2).
    BeyondClient,
    /// A refresh asking for more than was originally granted (§6).
    BeyondGrant,
}

/// RFC 8707 §2 `invalid_target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// A `resource` that is malformed or not on the client's allow-list.
    Resource(ResourceError),
    /// A `resource` at the code exchange other than the authorization
    /// request's (§2.2).
    DiffersFromAuthorization,
    /// A `resource` at a refresh other than the one the family was granted.
    BeyondGrant,
}

/// RFC 9449 `invalid_dpop_proof` at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The client is registered as DPoP-only (RFC 9449 §5.2
    /// `dpop_bound_access_tokens`) and sent no proof.
    Required,
    /// §10: the code was pre-bound with `dpop_jkt` to another key.
    CodeBoundToAnotherKey,
    /// A DPoP rule refused the proof (§4.3, §11.1).
    Refused(DpopRefusal),
}

/// Why a grant was refused (RFC 6749 §5.2 `invalid_grant`).
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
    /// No such device code in this tenant (RFC 8628 §3.5 `invalid_grant`).
    UnknownDeviceCode,
    /// The device code was issued to another client.
    DeviceCodeOfAnotherClient,
    /// The device code got its tokens already.
    DeviceCodeUsed,
    /// No such refresh token in this tenant.
    UnknownRefreshToken,
    /// The refresh token was used before (reuse: its family is revoked), or
    /// its grace child cannot be opened.
    RefreshTokenUsed,
    /// The rotation state machine refused the presentation.
    Refused(RejectReason),
}

impl From<GrantError> for TokenError {
    fn from(e: GrantError) -> Self {
        TokenError::InvalidGrant(e)
    }
}

impl From<RequestError> for TokenError {
    fn from(e: RequestError) -> Self {
        TokenError::InvalidRequest(e)
    }
}

impl From<ScopeError> for TokenError {
    fn from(e: ScopeError) -> Self {
        TokenError::InvalidScope(e)
    }
}

impl From<TargetError> for TokenError {
    fn from(e: TargetError) -> Self {
        TokenError::InvalidTarget(e)
    }
}

impl From<ResourceError> for TokenError {
    fn from(e: ResourceError) -> Self {
        TokenError::InvalidTarget(TargetError::Resource(e))
    }
}

impl From<ProofError> for TokenError {
    fn from(e: ProofError) -> Self {
        TokenError::InvalidDpopProof(e)
    }
}

impl From<ClientNotAuthorized> for TokenError {
    fn from(e: ClientNotAuthorized) -> Self {
        TokenError::UnauthorizedClient(e)
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
