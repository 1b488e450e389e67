//! Validating an authorization request: [RFC 6749 §4.1.1](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1),
//! [RFC 7636 §4.3](https://www.rfc-editor.org/rfc/rfc7636#section-4.3),
//! [OIDC Core §3.1.2.1](https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest),
//! [RFC 8707 §2](https://www.rfc-editor.org/rfc/rfc8707#section-2).
//!
//! The order of checks matters. Until the client and its redirect URI are
//! established, an error must be shown to the user and never redirected
//! (RFC 6749 §4.1.2.1: "the authorization server SHOULD inform the resource
//! owner of the error and MUST NOT automatically redirect the user-agent to
//! the invalid redirection URI"). After that, errors go back to the client.
//!
//! Not supported: `response_type` other than `code` (no implicit or hybrid
//! flows, per OAuth 2.1), `request` / `request_uri` objects, `claims`,
//! `response_mode` other than `query`, more than one `resource`.

use url::Url;

use crate::client::{Client, GrantType};
use crate::error::OAuthErrorCode;
use crate::pkce::{CodeChallenge, PkceError};
use crate::scope::Scope;

/// The raw parameters of an authorization request, each at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type`.
    pub response_type: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce` (OIDC).
    pub nonce: Option<String>,
    /// `code_challenge` (RFC 7636).
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (RFC 7636).
    pub code_challenge_method: Option<String>,
    /// `prompt` (OIDC).
    pub prompt: Option<String>,
    /// `max_age` (OIDC).
    pub max_age: Option<String>,
    /// `acr_values` (OIDC).
    pub acr_values: Option<String>,
    /// `resource` (RFC 8707).
    pub resource: Option<String>,
    /// `login_hint` (OIDC).
    pub login_hint: Option<String>,
    /// `dpop_jkt` (RFC 9449 §10): pre-binds the code to a DPoP key.
    pub dpop_jkt: Option<String>,
    /// The first parameter that appeared more than once, if any.
    pub duplicate: Option<String>,
}

impl AuthorizeParams {
    /// Collects the known parameters from decoded pairs, noting duplicates
    /// (RFC 6749 §3.1: "Request and response parameters MUST NOT be
    /// included more than once"). Unknown parameters are ignored (§3.1).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut p = Self::default();
        for (key, value) in pairs {
            let slot = match key {
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "response_type" => &mut p.response_type,
                "scope" => &mut p.scope,
                "state" => &mut p.state,
                "nonce" => &mut p.nonce,
                "code_challenge" => &mut p.code_challenge,
                "code_challenge_method" => &mut p.code_challenge_method,
                "prompt" => &mut p.prompt,
                "max_age" => &mut p.max_age,
                "acr_values" => &mut p.acr_values,
                "resource" => &mut p.resource,
                "login_hint" => &mut p.login_hint,
                "dpop_jkt" => &mut p.dpop_jkt,
                _ => continue,
            };
            if slot.is_some() {
                p.duplicate.get_or_insert_with(|| key.to_owned());
            } else {
                *slot = Some(value.to_owned());
            }
        }
        p
    }

    /// The parameters as pairs, for carrying them through the login form.
    pub fn to_pairs(&self) -> Vec<(&'static str, &str)> {
        let fields: [(&'static str, &Option<String>); 14] = [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("acr_values", &self.acr_values),
            ("resource", &self.resource),
            ("login_hint", &self.login_hint),
            ("dpop_jkt", &self.dpop_jkt),
        ];
        fields
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect()
    }
}

/// What the OIDC `prompt` parameter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prompt {
    /// `prompt=none`: never show a page.
    pub none: bool,
    /// `prompt=login`: always authenticate again.
    pub login: bool,
    /// `prompt=create` (OpenID Connect "Initiating User Registration via
    /// OpenID Connect 1.0" §4): show the sign-up page instead of the login
    /// page.
    pub create: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client's `client_id`.
    pub client_id: String,
    /// Where the response goes.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request, in which case the token
    /// request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_in_request: bool,
    /// Granted scope.
    pub scope: Scope,
    /// Opaque client state, returned as is.
    pub state: Option<String>,
    /// OIDC nonce, copied into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub challenge: CodeChallenge,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// The strength `acr_values` asks for (`holdfast_core::mfa`), if any.
    pub acr_floor: Option<crate::mfa::Strength>,
    /// Whether the client requires a second factor of every sign-in.
    pub client_mfa_required: bool,
    /// The client's name for people ([`Client::name`]).
    pub client_name: String,
    /// Resource indicator (RFC 8707), the access token's audience.
    pub resource: Option<String>,
    /// Username to pre-fill.
    pub login_hint: Option<String>,
    /// The DPoP key thumbprint the code is pre-bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
}

/// Why an authorization request failed, and where the error goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Show an error page: the redirect URI is missing, unknown or unsafe.
    Page(String),
    /// Redirect the error to the client (RFC 6749 §4.1.2.1).
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// The client's state, echoed.
        state: Option<String>,
        /// The OAuth error.
        code: OAuthErrorCode,
        /// A description for the client developer.
        description: String,
    },
}

/// Validates `params` for `client` (`None` when the `client_id` is unknown);
/// `default_audience` is the tenant's, always a permitted `resource`.
pub fn validate(
    params: &AuthorizeParams,
    client: Option<&Client>,
    default_audience: &str,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = |msg: &str| AuthorizeError::Page(msg.to_owned());
    if matches!(
        params.duplicate.as_deref(),
        Some("client_id" | "redirect_uri")
    ) {
        return Err(page("The request repeats client_id or redirect_uri."));
    }
    let Some(client_id) = params.client_id.as_deref() else {
        return Err(page("The request has no client_id."));
    };
    let Some(client) = client.filter(|c| c.client_id == client_id) else {
        return Err(page(
            "The application that sent you here is not registered.",
        ));
    };
    let (redirect_uri, in_request) = match params.redirect_uri.as_deref() {
        // RFC 9700 §4.1.3: exact string matching.
        Some(uri) if client.redirect_uri_is_registered(uri) => (uri.to_owned(), true),
        Some(_) => {
            return Err(page(
                "The redirect URI is not registered for this application.",
            ));
        }
        // RFC 6749 §3.1.2.3: may be omitted when exactly one is registered.
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => return Err(page("The request has no redirect_uri.")),
        },
    };
    let state = params.state.clone();
    let fail = |code: OAuthErrorCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        code,
        description: description.to_owned(),
    };
    if let Some(dup) = &params.duplicate {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            &format!("parameter {dup} appears more than once"),
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "response_type is required",
            ));
        }
        Some(_) => {
            return Err(fail(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            OAuthErrorCode::UnauthorizedClient,
            "client may not use the authorization code grant",
        ));
    }
    let challenge = CodeChallenge::parse(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(|e| fail(OAuthErrorCode::InvalidRequest, pkce_message(e)))?;
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    let scope = Scope::negotiate(params.scope.as_deref(), &allowed)
        .map_err(|refusal| fail(OAuthErrorCode::InvalidScope, refusal.description()))?;
    let prompt = parse_prompt(params.prompt.as_deref())
        .ok_or_else(|| fail(OAuthErrorCode::InvalidRequest, "prompt is malformed"))?;
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            fail(
                OAuthErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?),
    };
    // RFC 8707 §2: a resource the client may not have is invalid_target,
    // sent back to the (valid) redirect URI (RFC 6749 §4.1.2.1).
    let resource = client
        .permitted_resource(params.resource.as_deref(), default_audience)
        .map_err(|e| fail(OAuthErrorCode::InvalidTarget, e.description()))?;
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_in_request: in_request,
        scope,
        state,
        nonce: params.nonce.clone(),
        challenge,
        prompt,
        max_age,
        acr_floor: crate::mfa::requested_strength(params.acr_values.as_deref()),
        client_mfa_required: client.mfa_required,
        client_name: client.name().to_owned(),
        resource,
        login_hint: params.login_hint.clone(),
        dpop_jkt: params.dpop_jkt.clone(),
    })
}

/// The client-facing text for a PKCE failure.
pub fn pkce_message(e: PkceError) -> &'static str {
    match e {
        PkceError::MissingChallenge => "code_challenge is required (PKCE, S256)",
        PkceError::MethodNotS256 => "code_challenge_method must be S256",
        PkceError::MalformedChallenge => "code_challenge must be a base64url SHA-256 digest",
        PkceError::MissingVerifier => "code_verifier is required",
        PkceError::Mismatch => "code_verifier does not match the code_challenge",
    }
}

fn parse_prompt(raw: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    let Some(raw) = raw else { return Some(prompt) };
    let mut count = 0;
    for value in raw.split(' ').filter(|v| !v.is_empty()) {
        count += 1;
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "create" => prompt.create = true,
            "consent" | "select_account" => {}
            _ => return None,
        }
    }
    // OIDC Core §3.1.2.1: "none" must not be combined with other values.
    if prompt.none && count > 1 {
        return None;
    }
    Some(prompt)
}

/// RFC 8707 §2: "absolute URI ... MUST NOT include a fragment component".
pub fn validate_resource(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    if url.fragment().is_some() || url.cannot_be_a_base() {
        return None;
    }
    Some(raw.to_owned())
}

/// Whether the user must log in again, may use the existing session, or the
/// request must fail because `prompt=none` forbids showing a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginDecision {
    /// The existing browser session satisfies the request.
    UseSession,
    /// Show the login form.
    ShowForm,
    /// `prompt=none` and no usable session: `login_required`.
    LoginRequired,
    /// `prompt=create`: show the sign-up page (the user asked to create an
    /// account, so an existing session does not answer it).
    ShowSignUp,
}

/// OIDC Core §3.1.2.1 `prompt` and `max_age` against the browser session's
/// `auth_time` (`None` without a session).
pub fn login_decision(
    session_auth_time: Option<i64>,
    request: &AuthorizationRequest,
    now: i64,
) -> LoginDecision {
    let fresh_enough = |auth_time: i64| request.max_age.is_none_or(|max| now - auth_time <= max);
    if request.prompt.create {
        return LoginDecision::ShowSignUp;
    }
    match session_auth_time {
        Some(t) if !request.prompt.login && fresh_enough(t) => LoginDecision::UseSession,
        _ if request.prompt.none => LoginDecision::LoginRequired,
        _ => LoginDecision::ShowForm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientKind, NewClient};

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> Client {
        let mut n = NewClient::new("web", ClientKind::Public);
        n.redirect_uris = vec!["https://app.example.com/cb".into()];
        let n = n.validate().unwrap();
        Client {
            id: "1".into(),
            tenant_id: "t".into(),
            client_id: n.client_id,
            kind: n.kind,
            redirect_uris: n.redirect_uris,
            grant_types: n.grant_types,
            scopes: n.scopes,
            access_token_ttl_secs: 300,
            refresh: n.refresh,
            dpop_required: false,
            refresh_token_in_cookie: false,
            allowed_origins: Vec::new(),
            dpop_nonce_required: false,
            mfa_required: false,
            display_name: None,
            resources: vec!["https://api.example.com/orders".into()],
            id_token_signed_response_alg: None,
            backchannel_logout: None,
            created_at: 0,
        }
    }

    const DEFAULT_AUDIENCE: &str = "https://id.example.com/t/acme";

    fn validate(
        p: &AuthorizeParams,
        c: Option<&Client>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        super::validate(p, c, DEFAULT_AUDIENCE)
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams::from_pairs([
            ("client_id", "web"),
            ("redirect_uri", "https://app.example.com/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    }

    #[test]
    fn a_complete_request_validates() {
        let r = validate(&params(), Some(&client())).unwrap();
        assert_eq!(r.redirect_uri, "https://app.example.com/cb");
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert!(r.scope.contains("openid"));
    }

    #[test]
    fn rfc6749_s4_1_2_1_bad_redirect_uri_is_never_redirected_to() {
        let mut p = params();
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert!(matches!(
            validate(&p, Some(&client())),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            validate(&params(), None),
            Err(AuthorizeError::Page(_))
        ));
        let dup = AuthorizeParams::from_pairs([("client_id", "web"), ("client_id", "web")]);
        assert!(matches!(
            validate(&dup, Some(&client())),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn rfc7636_errors_after_a_valid_redirect_uri_go_back_to_the_client() {
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        match validate(&p, Some(&client())) {
            Err(AuthorizeError::Redirect { code, state, .. }) => {
                assert_eq!(code, OAuthErrorCode::InvalidRequest);
                assert_eq!(state.as_deref(), Some("s1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scope_outside_the_client_is_invalid_scope() {
        let mut p = params();
        p.scope = Some("openid admin".into());
        assert!(matches!(
            validate(&p, Some(&client())),
            Err(AuthorizeError::Redirect {
                code: OAuthErrorCode::InvalidScope,
                ..
            })
        ));
    }

    #[test]
    fn oidc_prompt_and_max_age_decide_about_the_session() {
        let mut r = validate(&params(), Some(&client())).unwrap();
        assert_eq!(
            login_decision(Some(100), &r, 200),
            LoginDecision::UseSession
        );
        assert_eq!(login_decision(None, &r, 200), LoginDecision::ShowForm);
        r.max_age = Some(50);
        assert_eq!(login_decision(Some(100), &r, 200), LoginDecision::ShowForm);
        assert_eq!(
            login_decision(Some(160), &r, 200),
            LoginDecision::UseSession
        );
        r.max_age = None;
        r.prompt.login = true;
        assert_eq!(login_decision(Some(199), &r, 200), LoginDecision::ShowForm);
        r.prompt = Prompt {
            none: true,
            login: false,
            create: false,
        };
        assert_eq!(login_decision(None, &r, 200), LoginDecision::LoginRequired);
    }

    #[test]
    fn rfc8707_s2_resource_outside_the_allow_list_is_redirected_as_invalid_target() {
        let mut p = params();
        p.resource = Some("https://api.example.com/orders".into());
        let r = validate(&p, Some(&client())).unwrap();
        assert_eq!(
            r.resource.as_deref(),
            Some("https://api.example.com/orders")
        );
        p.resource = Some("https://bank.example/api".into());
        match validate(&p, Some(&client())) {
            Err(AuthorizeError::Redirect { code, state, .. }) => {
                assert_eq!(code, OAuthErrorCode::InvalidTarget);
                assert_eq!(state.as_deref(), Some("s1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oidc_prompt_none_cannot_be_combined() {
        let mut p = params();
        p.prompt = Some("none login".into());
        assert!(matches!(
            validate(&p, Some(&client())),
            Err(AuthorizeError::Redirect { .. })
        ));
    }

    #[test]
    fn oidc_registration_prompt_create_asks_for_the_sign_up_page() {
        let mut p = params();
        p.prompt = Some("create".into());
        let r = validate(&p, Some(&client())).unwrap();
        assert!(r.prompt.create);
        // Even with a fresh session: the user asked to make an account.
        assert_eq!(login_decision(Some(0), &r, 1), LoginDecision::ShowSignUp);
        p.prompt = Some("none create".into());
        assert!(matches!(
            validate(&p, Some(&client())),
            Err(AuthorizeError::Redirect { .. })
        ));
    }
}
