//! The [`Verifier`]: access-token validation
//! ([RFC 9068 §4](https://www.rfc-editor.org/rfc/rfc9068#section-4)) and
//! request checking with DPoP ([RFC 9449 §7](https://www.rfc-editor.org/rfc/rfc9449#section-7)).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use holdfast_dpop::resource::{Presentation, check_presentation};
use holdfast_dpop::{DpopPolicy, DpopProof, NonceCheck};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;
use url::Url;

pub use crate::builder::{ConfigError, VerifierBuilder};
use crate::claims::{AccessTokenClaims, RawClaims};
use crate::clock::Clock;
use crate::dpop::{DpopNonces, ReplayCache, ReplayError};
use crate::error::{AuthError, ChallengeConfig, Rejection, Scheme};
use crate::jwks::KeyCache;
use crate::revocation::{RevocationCheck, RevocationStatus};
use crate::step_up::StepUp;

/// Longest access token looked at. Holdfast's are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: i64,
    pub(crate) dpop: DpopPolicy,
    pub(crate) public_base_url: Option<Url>,
    pub(crate) replay: ReplayCache,
    pub(crate) nonces: Option<Arc<dyn DpopNonces>>,
    pub(crate) revocation: Option<Arc<dyn RevocationCheck>>,
    pub(crate) revocation_fail_open: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: KeyCache,
    pub(crate) challenge: Arc<ChallengeConfig>,
}

/// Verifies Holdfast access tokens for one issuer and audience set. Cheap to
/// clone (one `Arc`); share one per issuer across the application so the
/// key cache and the DPoP replay cache are shared too.
#[derive(Clone)]
pub struct Verifier {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

/// A request's verified access token: what handlers get.
#[derive(Clone)]
pub struct VerifiedClaims {
    claims: AccessTokenClaims,
    payload: Arc<str>,
    scheme: Scheme,
    dpop: Option<DpopProof>,
    verifier: Verifier,
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("claims", &self.claims)
            .field("scheme", &self.scheme)
            .field("dpop_jkt", &self.dpop.as_ref().map(|p| &p.jkt))
            .finish_non_exhaustive()
    }
}

impl VerifiedClaims {
    /// The token's claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.claims
    }

    /// The subject (user id, or client id for client credentials).
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// The scheme the token came with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The checked DPoP proof, for DPoP-bound tokens.
    pub fn dpop_proof(&self) -> Option<&DpopProof> {
        self.dpop.as_ref()
    }

    /// Deserializes the whole payload into your own type, for claims that
    /// [`AccessTokenClaims`] does not name.
    pub fn custom<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.has_scope(scope)
    }

    /// Requires every scope in `scopes`; otherwise a 403 `insufficient_scope`
    /// rejection naming them (RFC 6750 §3.1).
    pub fn require_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> Result<(), Rejection> {
        if scopes.iter().all(|s| self.claims.has_scope(s.as_ref())) {
            return Ok(());
        }
        Err(self.reject(AuthError::InsufficientScope {
            required: scopes.iter().map(|s| s.as_ref().to_owned()).collect(),
        }))
    }

    /// Requires the step-up rule (RFC 9470); otherwise a 401
    /// `insufficient_user_authentication` challenge in this token's scheme.
    pub fn require_step_up(&self, rule: &StepUp) -> Result<(), Rejection> {
        rule.check(&self.claims, self.verifier.inner.clock.now())
            .map_err(|e| self.reject(e))
    }

    fn reject(&self, error: AuthError) -> Rejection {
        self.verifier.rejection(error, Some(self.scheme))
    }

    /// The `DPoP-Nonce` to send with a response to a DPoP request, when the
    /// server uses nonces (RFC 9449 §9: a fresh nonce may come with any
    /// response).
    pub fn next_dpop_nonce(&self) -> Option<String> {
        if self.scheme != Scheme::DPoP {
            return None;
        }
        let inner = &self.verifier.inner;
        inner.nonces.as_ref().map(|n| n.current(inner.clock.now()))
    }
}

/// The asymmetric algorithms a JWKS key can carry. `none` and HMAC are not
/// among them: RFC 8725 §3.1, and an HMAC "key" from a JWKS would be public.
pub(crate) fn asymmetric_alg(name: &str) -> Option<Algorithm> {
    let alg = Algorithm::from_str(name).ok()?;
    match alg {
        Algorithm::ES256
        | Algorithm::ES384
        | Algorithm::EdDSA
        | Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Some(alg),
        _ => None,
    }
}

/// `Authorization: <scheme> <token68>` (RFC 9110 §11.4, RFC 6750 §2.1):
/// [`holdfast_dpop::parse_authorization`]'s rule.
fn parse_authorization(headers: &HeaderMap) -> Result<(Scheme, &str), AuthError> {
    holdfast_dpop::parse_authorization(headers).map_err(AuthError::from)
}

impl Verifier {
    /// Starts a configuration for tokens from `issuer`.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer)
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Fetches discovery and the JWKS now (if not already fetched), so the
    /// first request does not wait and a misconfigured issuer shows at
    /// start-up.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.inner.keys.warm_up().await
    }

    /// How many JWKS fetches have been attempted (for metrics and tests).
    pub fn jwks_fetch_count(&self) -> u64 {
        self.inner.keys.fetch_count()
    }

    /// A tower layer that verifies requests with this verifier.
    pub fn layer(&self) -> crate::layer::RequireAuthLayer {
        crate::layer::RequireAuthLayer::new(self.clone())
    }

    pub(crate) fn rejection(&self, error: AuthError, scheme: Option<Scheme>) -> Rejection {
        let nonce = match (&self.inner.nonces, &error) {
            (Some(n), _) if scheme == Some(Scheme::DPoP) || error.answer().status == 401 => {
                Some(n.current(self.inner.clock.now()))
            }
            _ => None,
        };
        Rejection::new(error, scheme, Arc::clone(&self.inner.challenge)).with_nonce(nonce)
    }

    /// A rejection for a route whose layer is missing (used by the extractor).
    pub(crate) fn not_configured() -> Rejection {
        Rejection::new(
            AuthError::NotConfigured,
            None,
            Arc::new(ChallengeConfig {
                realm: None,
                dpop_algs: DpopPolicy::default().algs_header_value(),
            }),
        )
    }

    /// Validates an access token per RFC 9068 §4 and returns its claims and
    /// payload. Does not look at `cnf`: callers enforce the binding.
    async fn validate(&self, token: &str) -> Result<(AccessTokenClaims, Arc<str>), AuthError> {
        let inner = &*self.inner;
        // RFC 9068 §4: "verify that the typ header value is at+jwt or
        // application/at+jwt"; `none` and HMAC never, checked before the
        // key lookup so such tokens cannot cause a fetch.
        let jws = crate::jws::parse(token, MAX_TOKEN_LEN, "at+jwt")?;
        let key = inner.keys.get(&jws.kid).await?;
        // RFC 9068 §4: "validate the signature of all incoming JWT access
        // tokens according to [RFC7515] using the algorithm specified in the
        // JWT 'alg' Header Parameter"; the algorithm comes from the key.
        let payload = jws.verified_payload(&key)?;
        let raw: RawClaims = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
        let claims = raw.into_claims().map_err(AuthError::MissingClaim)?;
        // RFC 9068 §4: "The issuer identifier for the authorization server
        // ... MUST exactly match the value of the iss claim."
        if claims.iss != inner.issuer {
            return Err(AuthError::WrongIssuer);
        }
        // RFC 9068 §4: "validate that the aud claim contains a resource
        // indicator value corresponding to an identifier the resource
        // server expects for itself."
        if !inner.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(AuthError::WrongAudience);
        }
        // RFC 9068 §4: "The current time MUST be before the time represented
        // by the exp claim." Leeway for clock skew.
        let now = inner.clock.now();
        if now >= claims.exp.saturating_add(inner.leeway) {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(inner.leeway))
        {
            return Err(AuthError::NotYetValid);
        }
        if claims.iat > now.saturating_add(inner.leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        // Valid JSON is valid UTF-8 (RFC 8259 §8.1), so this cannot fail
        // after the parse above; map it anyway rather than unwrap.
        let payload = String::from_utf8(payload).map_err(|_| AuthError::Malformed)?;
        Ok((claims, Arc::from(payload)))
    }

    /// Verifies a token presented as a bearer token outside HTTP (a queue
    /// message, a WebSocket frame): RFC 9068 §4 checks, revocation if
    /// configured, and DPoP-bound tokens are refused (their proof cannot be
    /// checked here).
    pub async fn verify_bearer(&self, token: &str) -> Result<AccessTokenClaims, AuthError> {
        let (claims, _) = self.validate(token).await?;
        if claims.bound_jkt().is_some() {
            return Err(AuthError::DpopBoundTokenAsBearer);
        }
        self.check_revocation(token, &claims).await?;
        Ok(claims)
    }

    /// Verifies an HTTP request's credentials: the `Authorization` header,
    /// the access token and, for DPoP-bound tokens, the `DPoP` proof for
    /// this method and URL. With axum, prefer the layer; this is for other
    /// frameworks. `uri` is the request target as received.
    pub async fn verify_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<VerifiedClaims, Rejection> {
        let (scheme, token) = parse_authorization(headers).map_err(|e| self.rejection(e, None))?;
        self.verify_credentials(scheme, token, method, uri, headers)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, ?scheme, "holdfast-verify: request refused");
                self.rejection(e, Some(scheme))
            })
    }

    /// [`Verifier::verify_request`] for an `http::Request`, using axum's
    /// `OriginalUri` when the route is nested.
    pub fn verify_http<'a, B>(
        &'a self,
        request: &'a Request<B>,
    ) -> impl Future<Output = Result<VerifiedClaims, Rejection>> + Send + 'a {
        // Only the parts are borrowed across the await, so bodies that are
        // not `Sync` (axum's) are fine.
        #[cfg(feature = "axum")]
        let uri = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map(|o| &o.0)
            .unwrap_or(request.uri());
        #[cfg(not(feature = "axum"))]
        let uri = request.uri();
        self.verify_request(request.method(), uri, request.headers())
    }

    async fn verify_credentials(
        &self,
        scheme: Scheme,
        token: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<VerifiedClaims, AuthError> {
        let (claims, payload) = self.validate(token).await?;
        let dpop = self.check_dpop(scheme, token, claims.bound_jkt(), method, uri, headers)?;
        self.check_revocation(token, &claims).await?;
        Ok(VerifiedClaims {
            claims,
            payload,
            scheme,
            dpop,
            verifier: self.clone(),
        })
    }

    /// RFC 9449 §7 through [`holdfast_dpop::resource`] (the scheme rule
    /// and the proof), then the replay check of §11.1.
    fn check_dpop(
        &self,
        scheme: Scheme,
        token: &str,
        bound_jkt: Option<&str>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<DpopProof>, AuthError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let nonce_rule = inner
            .nonces
            .as_ref()
            .map(|n| move |nonce: &str| n.accepts(nonce, now));
        let presentation = Presentation {
            scheme,
            access_token: token,
            bound_jkt,
            method: method.as_str(),
            headers,
            now,
            nonce: nonce_rule.as_ref().map(|f| f as NonceCheck<'_>),
        };
        let Some(proof) = check_presentation(
            &presentation,
            || self.request_url(uri, headers),
            &inner.dpop,
        )?
        else {
            return Ok(None);
        };
        // RFC 9449 §11.1: the jti is recorded only once every other check
        // passed, so invalid proofs cannot fill the cache.
        inner
            .replay
            .check_and_insert(&proof.jkt, &proof.jti, now)
            .map_err(|e| match e {
                ReplayError::Replayed => AuthError::DpopReplay,
                ReplayError::Full => AuthError::ReplayCacheFull,
            })?;
        Ok(Some(proof))
    }

    /// The absolute URL the client addressed, for `htu`.
    fn request_url(&self, uri: &Uri, headers: &HeaderMap) -> Option<Url> {
        if let Some(base) = &self.inner.public_base_url {
            let mut url = base.clone();
            let path = format!("{}{}", base.path().trim_end_matches('/'), uri.path());
            url.set_path(&path);
            return Some(url);
        }
        if uri.scheme().is_some() && uri.authority().is_some() {
            return Url::parse(&uri.to_string()).ok();
        }
        let host = headers.get(http::header::HOST)?.to_str().ok()?;
        Url::parse(&format!("http://{host}{}", uri.path())).ok()
    }

    async fn check_revocation(
        &self,
        token: &str,
        claims: &AccessTokenClaims,
    ) -> Result<(), AuthError> {
        let Some(check) = &self.inner.revocation else {
            return Ok(());
        };
        match check.check(token, claims).await {
            Ok(RevocationStatus::Active) => Ok(()),
            Ok(RevocationStatus::Revoked) => Err(AuthError::Revoked),
            Err(e) if self.inner.revocation_fail_open => {
                tracing::warn!(error = %e, "holdfast-verify: revocation check failed; failing open");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "holdfast-verify: revocation check failed");
                Err(AuthError::RevocationUnavailable)
            }
        }
    }
}

/// The value of a `DPoP-Nonce` header, if the string is a valid header value.
pub(crate) fn nonce_header(nonce: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(nonce).ok()
}

#[cfg(test)]
mod tests {
    use http::header::AUTHORIZATION;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rfc6750_s2_1_authorization_header_is_parsed_strictly() {
        assert_eq!(
            parse_authorization(&headers(&["Bearer abc.def.ghi"])),
            Ok((Scheme::Bearer, "abc.def.ghi"))
        );
        assert_eq!(
            parse_authorization(&headers(&["dpop abc"])),
            Ok((Scheme::DPoP, "abc"))
        );
        assert_eq!(
            parse_authorization(&headers(&[])),
            Err(AuthError::MissingToken)
        );
        assert_eq!(
            parse_authorization(&headers(&["Basic dXNlcjpwdw=="])),
            Err(AuthError::UnsupportedScheme)
        );
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b"] {
            assert_eq!(
                parse_authorization(&headers(&[bad])),
                Err(AuthError::MalformedAuthorization),
                "{bad}"
            );
        }
        assert_eq!(
            parse_authorization(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthError::MultipleAuthorization)
        );
    }

    #[test]
    fn rfc8725_s3_1_none_and_hmac_are_not_asymmetric() {
        for bad in ["none", "HS256", "HS384", "HS512", "foo", ""] {
            assert_eq!(asymmetric_alg(bad), None, "{bad}");
        }
        assert_eq!(asymmetric_alg("ES256"), Some(Algorithm::ES256));
        assert_eq!(asymmetric_alg("EdDSA"), Some(Algorithm::EdDSA));
    }

    #[test]
    fn configuration_mistakes_are_refused() {
        assert!(matches!(
            Verifier::builder("not a url").audience("a").build(),
            Err(ConfigError::Issuer(_))
        ));
        assert!(matches!(
            Verifier::builder("https://a.example").build(),
            Err(ConfigError::NoAudience)
        ));
        assert!(matches!(
            Verifier::builder("https://a.example")
                .audience("a")
                .realm("x\"y")
                .build(),
            Err(ConfigError::Realm)
        ));
    }
}
