//! OAuth clients (RFC 6749 §2) and their policy.
//!
//! A client is *public* (cannot keep a secret: SPAs, mobile apps) or
//! *confidential* (RFC 6749 §2.1). Confidential clients get a secret that
//! Holdfast generates; only its hash is stored. Redirect URIs are matched
//! exactly (OAuth 2.1 §2.3.1, RFC 9700 §4.1.3). The refresh policy fields
//! (docs/design.md §4) are fixed here and enforced by the refresh grant.
//!
//! Audiences ([RFC 8707 §2](https://www.rfc-editor.org/rfc/rfc8707#section-2)):
//! each client lists the resources it may get tokens for. The tenant's
//! default audience is always allowed (it is what a request without
//! `resource` gets); any other `resource` must be on the client's list,
//! compared as exact strings, or the request fails with `invalid_target`.
//!
//! Not supported: dynamic client registration (RFC 7591), pattern or
//! wildcard redirect URIs (forbidden by RFC 9700), `client_secret_jwt` and
//! `private_key_jwt` authentication.

use std::fmt;
use std::str::FromStr;

use url::Url;

use crate::authorize::validate_resource;
use crate::error::ValidationError;
use crate::keys::SigningAlg;

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// Cannot authenticate; uses PKCE and (for SPAs) DPoP.
    Public,
    /// Authenticates with a Holdfast-generated secret.
    Confidential,
}

impl ClientKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Confidential => "confidential",
        }
    }
}

impl FromStr for ClientKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Self::Public),
            "confidential" => Ok(Self::Confidential),
            _ => Err(ValidationError::ClientId),
        }
    }
}

/// A grant type a client may use at the token endpoint (RFC 6749 §4, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.1 with PKCE (RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §4.4; confidential clients only.
    ClientCredentials,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 8628 §3.4: the device authorization grant (a device with no
    /// browser polls while its user approves on another screen).
    DeviceCode,
}

impl GrantType {
    /// All grant types Holdfast implements, in discovery order.
    pub const ALL: [GrantType; 4] = [
        Self::AuthorizationCode,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
    ];

    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => crate::device::GRANT_TYPE,
        }
    }
}

impl FromStr for GrantType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| ValidationError::GrantType(s.to_owned()))
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How refresh tokens rotate (docs/design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RotationMode {
    /// Rotate on every use; the parent stays retryable for the grace window.
    #[default]
    Confirmed,
    /// Rotate on every use with no grace: any second use is reuse.
    Strict,
    /// Do not rotate. Only for confidential or DPoP-bound clients.
    None,
}

impl RotationMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Strict => "strict",
            Self::None => "none",
        }
    }
}

impl FromStr for RotationMode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "confirmed" => Ok(Self::Confirmed),
            "strict" => Ok(Self::Strict),
            "none" => Ok(Self::None),
            _ => Err(ValidationError::RefreshPolicy(
                "rotation must be confirmed, strict or none",
            )),
        }
    }
}

/// The refresh-token policy of a client (docs/design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Rotation mode.
    pub rotation: RotationMode,
    /// How long a rotated parent may be retried to get the same child, seconds.
    pub grace_window_secs: i64,
    /// How many grace retries a parent allows before `invalid_grant`.
    pub retry_limit: i64,
    /// Sliding idle lifetime of a family, seconds.
    pub idle_lifetime_secs: i64,
    /// Absolute lifetime of a family, seconds.
    pub absolute_lifetime_secs: i64,
    /// A public client's explicit opt-in to grace retries for families that
    /// are not DPoP-bound (docs/design.md §4 step 4, "Grace needs proof of the
    /// holder"). The risk it accepts: whoever presents a stolen refresh
    /// token inside the grace window after its owner used it receives the
    /// live child, and reuse detection (RFC 9700 §4.14.2) never fires.
    /// Off by default: such a family rotates strictly.
    pub unbound_grace_accept_risk: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            rotation: RotationMode::Confirmed,
            grace_window_secs: 60,
            retry_limit: 5,
            idle_lifetime_secs: 14 * 24 * 3600,
            absolute_lifetime_secs: 90 * 24 * 3600,
            unbound_grace_accept_risk: false,
        }
    }
}

/// Default access-token lifetime: five minutes (docs/design.md §6).
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: i64 = 300;

/// Longest access-token lifetime a client may configure: one day.
pub const MAX_ACCESS_TOKEN_TTL_SECS: i64 = 24 * 3600;

/// An OAuth client as the domain sees it. The secret hash is not here: it
/// is the store's and the client-authentication service's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Stable internal id (UUID text).
    pub id: String,
    /// Owning tenant id.
    pub tenant_id: String,
    /// The public `client_id`, unique per tenant.
    pub client_id: String,
    /// Public or confidential.
    pub kind: ClientKind,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scope strings the client may ask for.
    pub scopes: Vec<String>,
    /// Access-token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh-token policy.
    pub refresh: RefreshPolicy,
    /// Whether every token this client obtains must be DPoP-bound.
    pub dpop_required: bool,
    /// Cookie delivery: the refresh token travels in an `HttpOnly` cookie
    /// scoped to the token endpoint, never in a response body.
    pub refresh_token_in_cookie: bool,
    /// Browser origins allowed to call the token endpoint (CORS, and the
    /// CSRF check of cookie mode).
    pub allowed_origins: Vec<String>,
    /// Whether DPoP proofs must carry a server nonce (RFC 9449 §8).
    pub dpop_nonce_required: bool,
    /// Whether every sign-in to this client needs a second factor
    /// (`holdfast_core::mfa`), whatever the tenant's policy.
    pub mfa_required: bool,
    /// The name people see ("continue to {name}"; OIDC Dynamic Client
    /// Registration 1.0 §2 `client_name`); `None` shows the `client_id`.
    pub display_name: Option<String>,
    /// Resources (RFC 8707) the client may name besides the tenant's
    /// default audience; empty means the default audience only.
    pub resources: Vec<String>,
    /// The `alg` its ID tokens are signed with (OIDC Dynamic Client
    /// Registration 1.0 §2 `id_token_signed_response_alg`); `None` means
    /// the tenant's algorithm.
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Where sessions of this client are announced as ended (OIDC
    /// Back-Channel Logout 1.0 §2.2), if anywhere.
    pub backchannel_logout: Option<BackchannelLogout>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl Client {
    /// The name a person sees: the display name, or else the `client_id`.
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.client_id)
    }

    /// Whether `uri` is one of the registered redirect URIs, compared as
    /// exact strings (RFC 9700 §4.1.3: "exact string matching").
    pub fn redirect_uri_is_registered(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The algorithm this client's ID tokens are signed with, in a tenant
    /// whose algorithm is `tenant_alg`. Access tokens always use the tenant's.
    pub fn id_token_alg(&self, tenant_alg: SigningAlg) -> SigningAlg {
        self.id_token_signed_response_alg.unwrap_or(tenant_alg)
    }

    /// The resource a request names (RFC 8707 §2), checked against this
    /// client's allow-list: `Ok(None)` when it names none (the token gets
    /// the tenant's `default_audience`), `Ok(Some(resource))` when allowed.
    pub fn permitted_resource(
        &self,
        requested: Option<&str>,
        default_audience: &str,
    ) -> Result<Option<String>, ResourceError> {
        let Some(raw) = requested else {
            return Ok(None);
        };
        let resource = validate_resource(raw).ok_or(ResourceError::Malformed)?;
        // RFC 8707 §2: invalid_target when "The requested resource is
        // invalid, missing, unknown, or malformed"; a resource this client
        // was not given counts as unknown to it. Matched as exact strings.
        if resource == default_audience || self.resources.contains(&resource) {
            Ok(Some(resource))
        } else {
            Err(ResourceError::NotAllowed)
        }
    }
}

/// Why a `resource` parameter was refused (both are RFC 8707 §2
/// `invalid_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceError {
    /// Not an absolute URI, or it has a fragment.
    Malformed,
    /// Not on the client's allow-list.
    NotAllowed,
}

impl ResourceError {
    /// The client-facing `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "resource must be an absolute URI without fragment",
            Self::NotAllowed => "the client may not request tokens for this resource",
        }
    }
}

/// Everything needed to register a client, validated by [`NewClient::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// The public `client_id`.
    pub client_id: String,
    /// Public or confidential.
    pub kind: ClientKind,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grant types; empty means the defaults for the kind.
    pub grant_types: Vec<GrantType>,
    /// Scopes; empty means `openid profile email`.
    pub scopes: Vec<String>,
    /// Access-token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh policy.
    pub refresh: RefreshPolicy,
    /// DPoP required.
    pub dpop_required: bool,
    /// Cookie delivery of refresh tokens.
    pub refresh_token_in_cookie: bool,
    /// Allowed browser origins; empty means the origins of the redirect URIs.
    pub allowed_origins: Vec<String>,
    /// DPoP nonces required; `None` means "on for public clients".
    pub dpop_nonce_required: Option<bool>,
    /// Every sign-in to this client needs a second factor.
    pub mfa_required: bool,
    /// The name people see, checked by
    /// [`crate::tenant::parse_display_name`]; `None` shows the `client_id`.
    pub display_name: Option<String>,
    /// Resources the client may name besides the tenant's default
    /// audience (RFC 8707); empty means the default audience only.
    pub resources: Vec<String>,
    /// ID token algorithm; `None` means the tenant's. Checked against the
    /// tenant by [`NewClient::check_id_token_alg`].
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Back-channel logout registration.
    pub backchannel_logout: Option<BackchannelLogout>,
}

/// A client's back-channel logout registration (OIDC Back-Channel Logout
/// 1.0 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogout {
    /// `backchannel_logout_uri`: where logout tokens are POSTed.
    pub uri: String,
    /// `backchannel_logout_session_required`: the client needs `sid` in
    /// every logout token (Holdfast always sends it when the session is
    /// known).
    pub session_required: bool,
}

impl BackchannelLogout {
    /// §2.2: "an absolute URI ... The URI MAY include port, path, and query
    /// parameter components. However, it MUST NOT include a fragment
    /// component"; `https`, or `http` on a loopback host.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if is_delivery_url(&self.uri) {
            Ok(())
        } else {
            Err(ValidationError::BackchannelLogoutUri(self.uri.clone()))
        }
    }
}

/// Whether `raw` may receive Holdfast's server-to-server deliveries (a
/// back-channel logout URI, an RFC 8935 push endpoint): an absolute `https`
/// URL with a host and no fragment, or `http` on a loopback host (for
/// development).
pub fn is_delivery_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok && url.fragment().is_none() && url.host_str().is_some()
}

impl NewClient {
    /// A client with default policy.
    pub fn new(client_id: impl Into<String>, kind: ClientKind) -> Self {
        Self {
            client_id: client_id.into(),
            kind,
            redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: Vec::new(),
            access_token_ttl_secs: DEFAULT_ACCESS_TOKEN_TTL_SECS,
            refresh: RefreshPolicy::default(),
            dpop_required: false,
            refresh_token_in_cookie: false,
            allowed_origins: Vec::new(),
            dpop_nonce_required: None,
            mfa_required: false,
            display_name: None,
            resources: Vec::new(),
            id_token_signed_response_alg: None,
            backchannel_logout: None,
        }
    }

    /// The settings of a registered client, to change some and store them
    /// again (the admin API's `PATCH`).
    pub fn of(c: &Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            kind: c.kind,
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            access_token_ttl_secs: c.access_token_ttl_secs,
            refresh: c.refresh,
            dpop_required: c.dpop_required,
            refresh_token_in_cookie: c.refresh_token_in_cookie,
            allowed_origins: c.allowed_origins.clone(),
            dpop_nonce_required: Some(c.dpop_nonce_required),
            mfa_required: c.mfa_required,
            display_name: c.display_name.clone(),
            resources: c.resources.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            backchannel_logout: c.backchannel_logout.clone(),
        }
    }

    /// OIDC Dynamic Client Registration 1.0 §2: the client's
    /// `id_token_signed_response_alg` must be one the tenant signs ID tokens
    /// with ([`SigningAlg::id_token_algs`]): its own or RS256.
    pub fn check_id_token_alg(&self, tenant_alg: SigningAlg) -> Result<(), ValidationError> {
        match self.id_token_signed_response_alg {
            Some(alg) if !tenant_alg.id_token_algs().contains(&alg) => {
                Err(ValidationError::IdTokenAlg {
                    asked: alg,
                    tenant: tenant_alg,
                })
            }
            _ => Ok(()),
        }
    }

    /// Checks every rule and fills in defaults.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        validate_client_id(&self.client_id)?;
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri)?;
        }
        for scope in &self.scopes {
            validate_scope_token(scope)?;
        }
        for resource in &self.resources {
            validate_resource(resource)
                .ok_or_else(|| ValidationError::Resource(resource.clone()))?;
        }
        self.resources.sort();
        self.resources.dedup();
        if self.grant_types.is_empty() {
            self.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        }
        self.grant_types.sort();
        self.grant_types.dedup();
        if self.grant_types.contains(&GrantType::ClientCredentials)
            && self.kind == ClientKind::Public
        {
            // RFC 6749 §4.4: "The client credentials grant type MUST only be
            // used by confidential clients."
            return Err(ValidationError::GrantType(
                "client_credentials (public clients cannot use it)".to_owned(),
            ));
        }
        if self.scopes.is_empty() {
            self.scopes = ["openid", "profile", "email"].map(str::to_owned).to_vec();
        }
        self.scopes.dedup();
        if !(1..=MAX_ACCESS_TOKEN_TTL_SECS).contains(&self.access_token_ttl_secs) {
            return Err(ValidationError::Lifetime("access token lifetime"));
        }
        validate_refresh_policy(&self.refresh, self.kind, self.dpop_required)?;
        if let Some(logout) = &self.backchannel_logout {
            logout.validate()?;
        }
        for origin in &self.allowed_origins {
            validate_origin(origin)?;
        }
        if self.dpop_nonce_required.is_none() {
            self.dpop_nonce_required = Some(self.kind == ClientKind::Public);
        }
        if self.allowed_origins.is_empty() {
            self.allowed_origins = self
                .redirect_uris
                .iter()
                .filter_map(|u| origin_of(u))
                .collect();
            self.allowed_origins.sort();
            self.allowed_origins.dedup();
        }
        Ok(self)
    }
}

/// Client ids: 1–128 printable ASCII characters, no spaces (RFC 6749 §A.1
/// allows VSCHAR; Holdfast keeps to what is safe in logs and URLs).
pub fn validate_client_id(raw: &str) -> Result<(), ValidationError> {
    let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::ClientId)
    }
}

/// Redirect URIs: absolute, no fragment (RFC 6749 §3.1.2), https unless on
/// loopback (RFC 8252 §7.3) or a private-use scheme for native apps (§7.1).
pub fn validate_redirect_uri(raw: &str) -> Result<(), ValidationError> {
    let err = || ValidationError::RedirectUri(raw.to_owned());
    let url = Url::parse(raw).map_err(|_| err())?;
    if url.fragment().is_some() || url.cannot_be_a_base() && url.scheme() == "http" {
        return Err(err());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(err()),
        },
        // Private-use URI schemes (RFC 8252 §7.1) contain a dot, e.g. com.example.app.
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(err()),
    }
}

/// An origin (RFC 6454 §6.1): `scheme://host[:port]`, nothing more.
pub fn validate_origin(raw: &str) -> Result<(), ValidationError> {
    match origin_of(raw) {
        Some(origin) if origin == raw => Ok(()),
        _ => Err(ValidationError::Origin(raw.to_owned())),
    }
}

/// The serialised origin of an http(s) URL, if it has one.
pub fn origin_of(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) if matches!(url.scheme(), "http" | "https") => {
            Some(origin.ascii_serialization())
        }
        _ => None,
    }
}

/// A scope token per RFC 6749 §3.3: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn validate_scope_token(raw: &str) -> Result<(), ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::Scope(raw.to_owned()))
    }
}

/// docs/design.md §4: "A client may choose `rotation = none` only when its RTs
/// are DPoP-bound or it is confidential." The unbound-grace opt-in is only
/// for what it changes: a public client without `dpop_required` under
/// confirmed rotation (elsewhere every retrier proves it holds the family,
/// or there is no grace window). Lifetimes must be positive and the idle
/// lifetime may not exceed the absolute one.
pub fn validate_refresh_policy(
    policy: &RefreshPolicy,
    kind: ClientKind,
    dpop_required: bool,
) -> Result<(), ValidationError> {
    // Only a DPoP-required public client's refresh tokens are bound by rule:
    // one that merely may send proofs can hold unbound families too.
    if policy.rotation == RotationMode::None && kind == ClientKind::Public && !dpop_required {
        return Err(ValidationError::RefreshPolicy(
            "rotation 'none' needs a confidential or DPoP-required client",
        ));
    }
    if policy.unbound_grace_accept_risk {
        if kind == ClientKind::Confidential {
            return Err(ValidationError::RefreshPolicy(
                "unbound grace is for public clients: a confidential client proves its retries by authenticating",
            ));
        }
        if dpop_required {
            return Err(ValidationError::RefreshPolicy(
                "unbound grace is pointless with DPoP required: every family is bound to its key",
            ));
        }
        if policy.rotation != RotationMode::Confirmed {
            return Err(ValidationError::RefreshPolicy(
                "unbound grace needs rotation 'confirmed', the only mode with a grace window",
            ));
        }
    }
    if policy.grace_window_secs < 0 || policy.grace_window_secs > 3600 {
        return Err(ValidationError::Lifetime("grace window"));
    }
    if policy.retry_limit < 0 || policy.retry_limit > 100 {
        return Err(ValidationError::RefreshPolicy("retry limit must be 0-100"));
    }
    if policy.idle_lifetime_secs <= 0 || policy.absolute_lifetime_secs <= 0 {
        return Err(ValidationError::Lifetime("refresh lifetime"));
    }
    if policy.idle_lifetime_secs > policy.absolute_lifetime_secs {
        return Err(ValidationError::RefreshPolicy(
            "idle lifetime may not exceed absolute lifetime",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
