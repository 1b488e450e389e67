//! Error vocabulary of the domain.
//!
//! [`OAuthErrorCode`] is the closed set of `error` values Holdfast puts on the
//! wire (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §7). [`ValidationError`] is
//! what the domain's parsers return when a value a client or operator supplied
//! does not meet the rules; the HTTP edge maps it to `invalid_request`.

use std::fmt;

/// An OAuth `error` code as defined by RFC 6749 §5.2 and its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthErrorCode {
    /// RFC 6749 §5.2: the request is missing a parameter, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, credentials) is invalid.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by the server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the server does not support this response type.
    UnsupportedResponseType,
    /// RFC 8707 §2: the requested resource is invalid or not allowed.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the server's nonce.
    UseDpopNonce,
    /// RFC 6750 §3.1: the token lacks a required scope.
    InsufficientScope,
    /// RFC 6750 §3.1: the access token is expired, revoked or malformed.
    InvalidToken,
    /// OIDC Core §3.1.2.6: the authorization server requires end-user authentication.
    LoginRequired,
    /// OIDC Core §3.1.2.6: the request needs a page (here: a second factor)
    /// and `prompt=none` forbids one.
    InteractionRequired,
    /// RFC 8628 §3.5: the user has not yet approved the device request.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls too often; add 5 s to its interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// Holdfast: the resource (e.g. a tenant) does not exist.
    NotFound,
    /// Holdfast: the request body exceeds the size limit.
    RequestTooLarge,
    /// RFC 6749 §4.1.2.1: the server hit an unexpected condition.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The code as it appears in the `error` member of a response.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidToken => "invalid_token",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::NotFound => "not_found",
            Self::RequestTooLarge => "request_too_large",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value supplied by a client or an operator broke a domain rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A passkey relying-party ID is not the public URL's host or a
    /// registrable suffix of it (WebAuthn §5.1.2).
    #[error("passkey relying-party ID must be the public URL's host or a suffix of it after a dot")]
    PasskeyRpId,
    /// A tenant slug is not 1–63 lowercase letters, digits or inner hyphens.
    #[error("tenant slug must be 1-63 characters of a-z, 0-9 and inner '-'")]
    TenantSlug,
    /// A client id is empty, too long or contains characters outside the allowed set.
    #[error("client id must be 1-128 printable ASCII characters without spaces")]
    ClientId,
    /// A username is empty, too long or contains control characters.
    #[error("username must be 1-256 characters without control characters")]
    Username,
    /// A username contains an invisible or formatting character (such as a
    /// zero-width space or a bidi control), so it could pass for another.
    #[error("username must not contain invisible or formatting characters")]
    UsernameInvisible,
    /// A display name is empty, longer than 100 characters or holds
    /// control characters.
    #[error("display name must be 1-100 characters without control characters")]
    DisplayName,
    /// An email address is not of the shape `local@domain`.
    #[error("email address is malformed")]
    Email,
    /// A branding link is not an absolute https URL (http only for
    /// loopback; `mailto:` too for a support link) of at most 2,048
    /// characters.
    #[error(
        "{0} must be an absolute https URL of at most 2048 characters (http only for loopback)"
    )]
    BrandUrl(&'static str),
    /// An accent colour is not `#rgb` or `#rrggbb`.
    #[error("accent colour must be #rgb or #rrggbb")]
    AccentColor,
    /// A redirect URI is not absolute, has a fragment, or uses plain http off loopback.
    #[error(
        "redirect URI {0:?} must be an absolute https URI without fragment (http only for loopback)"
    )]
    RedirectUri(String),
    /// An origin is not `scheme://host[:port]`.
    #[error("origin {0:?} must be scheme://host[:port] with no path")]
    Origin(String),
    /// A resource indicator is not an absolute URI without fragment (RFC 8707 §2).
    #[error("resource {0:?} must be an absolute URI without fragment (RFC 8707 §2)")]
    Resource(String),
    /// A scope token contains characters RFC 6749 §3.3 does not allow.
    #[error("scope {0:?} is not a valid scope token (RFC 6749 §3.3)")]
    Scope(String),
    /// A grant type is not one Holdfast knows.
    #[error("unknown grant type {0:?}")]
    GrantType(String),
    /// A signing algorithm is not one Holdfast supports.
    #[error("unsupported signing algorithm {0:?} (use ES256, EdDSA or RS256)")]
    SigningAlg(String),
    /// A client asked for ID tokens signed with an algorithm its tenant does
    /// not sign ID tokens with.
    #[error(
        "id_token_signed_response_alg {asked} is not available in a tenant of {tenant} (use {tenant} or RS256)"
    )]
    IdTokenAlg {
        /// What the client asked for.
        asked: crate::keys::SigningAlg,
        /// The tenant's algorithm.
        tenant: crate::keys::SigningAlg,
    },
    /// A `backchannel_logout_uri` that is not absolute `https` (or `http` on
    /// a loopback host) without a fragment.
    #[error(
        "invalid backchannel_logout_uri {0:?}: an absolute https URI without a fragment (http only on localhost)"
    )]
    BackchannelLogoutUri(String),
    /// A refresh-policy combination is not allowed.
    #[error("refresh policy: {0}")]
    RefreshPolicy(&'static str),
    /// A lifetime is zero or absurdly long.
    #[error("lifetime {0} is out of range")]
    Lifetime(&'static str),
}
