//! Why a request was refused, and the one place where that becomes an HTTP
//! answer: status, `WWW-Authenticate` challenges per
//! [RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3),
//! [RFC 9449 §7.1](https://www.rfc-editor.org/rfc/rfc9449#section-7.1) and
//! [RFC 9470 §3](https://www.rfc-editor.org/rfc/rfc9470#section-3), the
//! `DPoP-Nonce` header (RFC 9449 §9) and a small JSON body.
//!
//! [`AuthError`] is precise, for logs and tests; what the client reads
//! (`error`, `error_description`) is decided in [`AuthError::answer`], an
//! exhaustive `match`, so a new variant forces a decision. DPoP and
//! `Authorization` problems take their code, text and challenge scheme from
//! [`holdfast_dpop`]'s one table, as the Holdfast server's own APIs do;
//! challenges are rendered (and their values quoted) by
//! [`holdfast_dpop::challenge`].
//!
//! Not supported: `error_uri` (RFC 6750 §3); localised descriptions.

use std::fmt;
use std::sync::Arc;

use holdfast_dpop::challenge::Challenge as Rendered;
use holdfast_dpop::{AuthorizationError, DPOP_NONCE_HEADER, DpopError, DpopRefusal};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

/// The HTTP authentication schemes this crate accepts (from
/// [`holdfast_dpop`], which parses them).
pub use holdfast_dpop::Scheme;

/// Why a request was refused. Variants are precise; see [`AuthError::answer`]
/// for what each becomes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header (RFC 6750 §3.1: answer without error code).
    #[error("no access token")]
    MissingToken,
    /// An `Authorization` scheme other than Bearer or DPoP (e.g. Basic).
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    MultipleAuthorization,
    /// `Authorization: Bearer` / `DPoP` without a well-formed token68.
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    /// The token is not a compact JWS, is too long, or its header or payload
    /// is not a JSON object.
    #[error("malformed access token")]
    Malformed,
    /// The JOSE header has `crit` (RFC 7515 §4.1.11): we understand no extension.
    #[error("access token has critical header parameters")]
    CriticalHeader,
    /// RFC 9068 §4: `typ` is not `at+jwt` / `application/at+jwt`.
    #[error("not an access token (typ)")]
    WrongType,
    /// `alg` is `none`, symmetric (HMAC) or unknown: never accepted.
    #[error("unsupported alg")]
    UnsupportedAlg,
    /// No `kid`, or no key with this `kid` in the issuer's JWKS (after at
    /// most one rate-limited refetch).
    #[error("unknown key id")]
    UnknownKey,
    /// `alg` differs from the algorithm of the key named by `kid`.
    #[error("alg does not match the key")]
    AlgMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A claim RFC 9068 §2.2 requires is missing or has the wrong type.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// The revocation check says the token (or its session) is revoked.
    #[error("token revoked")]
    Revoked,
    /// RFC 9449 §7.2: a DPoP-bound token (`cnf.jkt`) sent with `Bearer`.
    #[error("DPoP-bound token presented as a bearer token")]
    DpopBoundTokenAsBearer,
    /// RFC 9449 §7.1: `Authorization: DPoP` with a token that is not bound.
    #[error("unbound token presented with the DPoP scheme")]
    UnboundTokenAsDpop,
    /// A DPoP-bound token without a `DPoP` proof header.
    #[error("missing DPoP proof")]
    MissingDpopProof,
    /// RFC 9449 §4.3 step 1: more than one `DPoP` header.
    #[error("more than one DPoP header")]
    MultipleDpopProofs,
    /// The proof failed a check of RFC 9449 §4.3.
    #[error("invalid DPoP proof: {0}")]
    DpopProof(DpopError),
    /// RFC 9449 §11.1: the proof's `jti` was seen before within the window.
    #[error("DPoP proof replayed")]
    DpopReplay,
    /// RFC 6750 §3.1: the token lacks a required scope.
    #[error("insufficient scope")]
    InsufficientScope {
        /// The scopes the resource requires.
        required: Vec<String>,
    },
    /// RFC 9470 §3: the authentication is too old or of the wrong class.
    #[error("insufficient user authentication")]
    InsufficientUserAuthentication {
        /// The maximum authentication age, seconds, if that was the rule.
        max_age: Option<u64>,
        /// Acceptable `acr` values, if that was the rule.
        acr_values: Vec<String>,
        /// What the client reads.
        description: &'static str,
    },
    /// Discovery or the JWKS could not be fetched and no keys are cached.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// The revocation check could not answer and the policy fails closed.
    #[error("revocation status unavailable")]
    RevocationUnavailable,
    /// The DPoP replay cache is full of unexpired entries (fails closed).
    #[error("DPoP replay cache full")]
    ReplayCacheFull,
    /// The handler asked for verified claims that no layer provided.
    #[error("holdfast-verify layer not installed on this route")]
    NotConfigured,
}

/// How an [`AuthError`] is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The OAuth error code, if any (none for a request without credentials).
    pub error: Option<&'static str>,
    /// What the client reads in `error_description`.
    pub description: &'static str,
    /// Which challenge(s) go in `WWW-Authenticate`.
    pub challenge: Challenge,
}

/// Which `WWW-Authenticate` challenges an answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// None (server-side failures).
    None,
    /// Both `Bearer` and `DPoP`: the request said nothing usable about the
    /// scheme, and both are accepted (RFC 9449 §7.1, §7.2).
    Both,
    /// The scheme the request used (falls back to both if unknown).
    Request,
    /// This scheme, whatever the request used: it names the remedy.
    Fixed(Scheme),
}

impl AuthError {
    /// The wire answer for this error. Exhaustive on purpose.
    pub fn answer(&self) -> Answer {
        use Challenge::{Both, Fixed, Request};
        let unauthorized = |error, description, challenge| Answer {
            status: StatusCode::UNAUTHORIZED,
            error: Some(error),
            description,
            challenge,
        };
        let invalid_token = |description| unauthorized("invalid_token", description, Request);
        let dpop = |refusal: DpopRefusal| {
            unauthorized(
                refusal.oauth_error(),
                refusal.description(),
                Fixed(refusal.challenge_scheme()),
            )
        };
        // RFC 6750 §3.1: no credentials, no error code; a broken header is
        // `invalid_request` (400).
        let authorization = |e: AuthorizationError| Answer {
            status: if e.oauth_error().is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNAUTHORIZED
            },
            error: e.oauth_error(),
            description: e.description(),
            challenge: Both,
        };
        let unavailable = |description| Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: Some("temporarily_unavailable"),
            description,
            challenge: Challenge::None,
        };
        match self {
            // RFC 6750 §3.1: "If the request lacks any authentication
            // information ..., the resource server SHOULD NOT include an
            // error code or other error information."
            Self::MissingToken => authorization(AuthorizationError::Missing),
            Self::UnsupportedScheme => authorization(AuthorizationError::UnsupportedScheme),
            Self::MultipleAuthorization => authorization(AuthorizationError::Multiple),
            Self::MalformedAuthorization => authorization(AuthorizationError::Malformed),
            Self::Malformed | Self::CriticalHeader => {
                invalid_token("the access token is malformed")
            }
            Self::WrongType => invalid_token("the token is not an access token"),
            Self::UnsupportedAlg | Self::UnknownKey | Self::AlgMismatch | Self::BadSignature => {
                invalid_token("the access token signature is invalid")
            }
            Self::MissingClaim(_) => invalid_token("the access token lacks a required claim"),
            Self::WrongIssuer => invalid_token("the access token is from another issuer"),
            Self::WrongAudience => invalid_token("the access token is not for this resource"),
            Self::Expired => invalid_token("the access token expired"),
            Self::NotYetValid | Self::IssuedInFuture => {
                invalid_token("the access token is not yet valid")
            }
            Self::Revoked => invalid_token("the access token was revoked"),
            // RFC 9449 §7: code, text and the remedy's scheme from the one table.
            Self::DpopBoundTokenAsBearer => dpop(DpopRefusal::BoundTokenAsBearer),
            Self::UnboundTokenAsDpop => dpop(DpopRefusal::UnboundTokenAsDpop),
            Self::MissingDpopProof => dpop(DpopRefusal::MissingProof),
            Self::MultipleDpopProofs => dpop(DpopRefusal::MultipleProofs),
            Self::DpopProof(e) => dpop(DpopRefusal::Proof(e.clone())),
            Self::DpopReplay => dpop(DpopRefusal::Replayed),
            Self::InsufficientScope { .. } => Answer {
                status: StatusCode::FORBIDDEN,
                error: Some("insufficient_scope"),
                description: "the access token lacks a required scope",
                challenge: Request,
            },
            // RFC 9470 §3: 401 with `insufficient_user_authentication`.
            Self::InsufficientUserAuthentication { description, .. } => {
                unauthorized("insufficient_user_authentication", description, Request)
            }
            Self::KeysUnavailable => unavailable("the token issuer's keys are unavailable"),
            Self::RevocationUnavailable => unavailable("revocation status is unavailable"),
            Self::ReplayCacheFull => unavailable("too many DPoP proofs in flight"),
            Self::NotConfigured => Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: Some("server_error"),
                description: "the server could not check the request",
                challenge: Challenge::None,
            },
        }
    }
}

/// What the challenges need to know about this resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChallengeConfig {
    /// `realm` (RFC 6750 §3), already checked to be a valid quoted-string body.
    pub realm: Option<String>,
    /// `algs` for the DPoP challenge (RFC 9449 §7.1).
    pub dpop_algs: String,
}

/// A refused request, ready to become a response: the error, the scheme the
/// request used (if known), and what the challenges need. In axum it is
/// `IntoResponse`; elsewhere use [`Rejection::to_response`].
#[derive(Debug, Clone)]
pub struct Rejection {
    error: AuthError,
    scheme: Option<Scheme>,
    config: Arc<ChallengeConfig>,
    dpop_nonce: Option<String>,
}

impl Rejection {
    pub(crate) fn new(
        error: AuthError,
        scheme: Option<Scheme>,
        config: Arc<ChallengeConfig>,
    ) -> Self {
        Self {
            error,
            scheme,
            config,
            dpop_nonce: None,
        }
    }

    pub(crate) fn with_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce;
        self
    }

    /// The precise error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The scheme the request used, if it got that far.
    pub fn scheme(&self) -> Option<Scheme> {
        self.scheme
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.error.answer().status
    }

    /// The `WWW-Authenticate` values, one per challenge (Bearer first).
    pub fn www_authenticate(&self) -> Vec<String> {
        let answer = self.error.answer();
        let schemes: &[Scheme] = match (answer.challenge, self.scheme) {
            (Challenge::None, _) => &[],
            (Challenge::Both, _) | (Challenge::Request, None) => &[Scheme::Bearer, Scheme::DPoP],
            (Challenge::Request, Some(Scheme::Bearer)) | (Challenge::Fixed(Scheme::Bearer), _) => {
                &[Scheme::Bearer]
            }
            (Challenge::Request, Some(Scheme::DPoP)) | (Challenge::Fixed(Scheme::DPoP), _) => {
                &[Scheme::DPoP]
            }
        };
        schemes
            .iter()
            .map(|s| self.challenge(*s, &answer))
            .collect()
    }

    fn challenge(&self, scheme: Scheme, answer: &Answer) -> String {
        let mut c = Rendered::new(scheme);
        if let Some(realm) = &self.config.realm {
            c.push("realm", realm.as_str());
        }
        if scheme == Scheme::DPoP {
            c.push("algs", self.config.dpop_algs.as_str());
        }
        if let Some(error) = answer.error {
            c = c.error(error, answer.description);
        }
        match &self.error {
            AuthError::InsufficientScope { required } => {
                c.push("scope", required.join(" "));
            }
            AuthError::InsufficientUserAuthentication {
                max_age,
                acr_values,
                ..
            } => {
                if let Some(max_age) = max_age {
                    c.push("max_age", max_age.to_string());
                }
                if !acr_values.is_empty() {
                    c.push("acr_values", acr_values.join(" "));
                }
            }
            _ => {}
        }
        c.render()
    }

    /// The JSON body: `{"error": ..., "error_description": ...}`.
    pub fn body(&self) -> String {
        let answer = self.error.answer();
        serde_json::json!({
            "error": answer.error.unwrap_or("invalid_request"),
            "error_description": answer.description,
        })
        .to_string()
    }

    /// The headers of the answer: `WWW-Authenticate` (one per challenge),
    /// `DPoP-Nonce` when the server uses nonces, `Cache-Control: no-store`.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out: Vec<(HeaderName, HeaderValue)> = self
            .www_authenticate()
            .into_iter()
            .filter_map(|v| HeaderValue::from_str(&v).ok())
            .map(|v| (WWW_AUTHENTICATE, v))
            .collect();
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            out.push((HeaderName::from_static(DPOP_NONCE_HEADER), nonce));
        }
        out.push((CACHE_CONTROL, HeaderValue::from_static("no-store")));
        out
    }

    /// The whole answer as an HTTP response with any body type that can be
    /// made from a `String`.
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in self.headers() {
            headers.append(name, value);
        }
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Rejection {}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        self.to_response()
    }
}

impl From<AuthorizationError> for AuthError {
    fn from(e: AuthorizationError) -> Self {
        match e {
            AuthorizationError::Missing => Self::MissingToken,
            AuthorizationError::UnsupportedScheme => Self::UnsupportedScheme,
            AuthorizationError::Multiple => Self::MultipleAuthorization,
            AuthorizationError::Malformed => Self::MalformedAuthorization,
        }
    }
}

impl From<DpopRefusal> for AuthError {
    fn from(refusal: DpopRefusal) -> Self {
        match refusal {
            DpopRefusal::Proof(e) => Self::DpopProof(e),
            DpopRefusal::MultipleProofs => Self::MultipleDpopProofs,
            DpopRefusal::MissingProof => Self::MissingDpopProof,
            DpopRefusal::Replayed => Self::DpopReplay,
            DpopRefusal::BoundTokenAsBearer => Self::DpopBoundTokenAsBearer,
            DpopRefusal::UnboundTokenAsDpop => Self::UnboundTokenAsDpop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<ChallengeConfig> {
        Arc::new(ChallengeConfig {
            realm: Some("api".into()),
            dpop_algs: "ES256 EdDSA".into(),
        })
    }

    #[test]
    fn rfc6750_s3_1_no_credentials_gets_challenges_without_error() {
        let r = Rejection::new(AuthError::MissingToken, None, config());
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.www_authenticate(),
            vec![
                "Bearer realm=\"api\"".to_owned(),
                "DPoP realm=\"api\", algs=\"ES256 EdDSA\"".to_owned()
            ]
        );
    }

    #[test]
    fn rfc6750_s3_invalid_token_names_the_scheme_used() {
        let r = Rejection::new(AuthError::Expired, Some(Scheme::Bearer), config());
        assert_eq!(
            r.www_authenticate(),
            vec![
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token expired\""
                    .to_owned()
            ]
        );
        let r = Rejection::new(AuthError::Expired, Some(Scheme::DPoP), config());
        assert!(
            r.www_authenticate()[0]
                .starts_with("DPoP realm=\"api\", algs=\"ES256 EdDSA\", error=\"invalid_token\"")
        );
    }

    #[test]
    fn rfc6750_s3_1_insufficient_scope_is_403_with_scope() {
        let r = Rejection::new(
            AuthError::InsufficientScope {
                required: vec!["admin".into(), "write".into()],
            },
            Some(Scheme::Bearer),
            config(),
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.www_authenticate()[0].ends_with("scope=\"admin write\""));
    }

    #[test]
    fn descriptions_cannot_break_out_of_quotes() {
        // RFC 9110 §5.6.4: `"` and `\` are escaped inside quoted-strings.
        let r = Rejection::new(
            AuthError::InsufficientScope {
                required: vec!["a\"b\\c".into()],
            },
            Some(Scheme::Bearer),
            config(),
        );
        assert!(r.www_authenticate()[0].ends_with("scope=\"a\\\"b\\\\c\""));
    }
}
