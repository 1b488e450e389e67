//! The tower [`RequireAuthLayer`] and, with the `axum` feature, the
//! [`VerifiedClaims`] extractor.
//!
//! The layer verifies the request (once: an inner layer finding claims
//! already verified by an outer one only applies its own requirements, so
//! layers stack without checking a DPoP proof twice), applies required
//! scopes and step-up, puts [`VerifiedClaims`] in the request extensions,
//! and answers refusals itself with the right status and `WWW-Authenticate`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use holdfast_verify::{StepUp, VerifiedClaims, Verifier};
//!
//! let verifier = Verifier::builder("https://auth.example.com/t/acme")
//!     .audience("https://api.example.com")
//!     .public_base_url("https://api.example.com".parse()?)
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|c: VerifiedClaims| async move { c.sub().to_owned() })
//!         .layer(verifier.layer().require_scopes(["admin"])))
//!     .route("/sensitive", get(|c: VerifiedClaims| async move { c.sub().to_owned() })
//!         .layer(verifier.layer().step_up(StepUp::max_age(Duration::from_secs(300)))))
//!     .layer(verifier.layer());
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use holdfast_dpop::DPOP_NONCE_HEADER;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::step_up::StepUp;
use crate::verifier::{Verifier, nonce_header};

pub use crate::verifier::VerifiedClaims;

/// A tower layer requiring a valid access token (and optionally scopes and
/// a step-up rule) on every request through it.
#[derive(Clone, Debug)]
pub struct RequireAuthLayer {
    verifier: Verifier,
    scopes: Arc<[String]>,
    step_up: Option<Arc<StepUp>>,
}

impl RequireAuthLayer {
    /// Requires a valid token, verified by `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            scopes: Arc::from(Vec::new()),
            step_up: None,
        }
    }

    /// Also requires all of `scopes` (403 `insufficient_scope` otherwise).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Also requires the step-up rule (401 `insufficient_user_authentication`).
    pub fn step_up(mut self, rule: StepUp) -> Self {
        self.step_up = Some(Arc::new(rule));
        self
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`RequireAuthLayer`].
#[derive(Clone, Debug)]
pub struct RequireAuth<S> {
    inner: S,
    layer: RequireAuthLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequireAuth<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
    ResB: From<String> + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        // The clone was not polled ready; the original was: keep that one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let verified = match request.extensions().get::<VerifiedClaims>() {
                Some(already) => already.clone(),
                None => match layer.verifier.verify_http(&request).await {
                    Ok(verified) => verified,
                    Err(rejection) => return Ok(rejection.to_response()),
                },
            };
            if let Err(rejection) = verified.require_scopes(&layer.scopes) {
                return Ok(rejection.to_response());
            }
            if let Some(rule) = &layer.step_up
                && let Err(rejection) = verified.require_step_up(rule)
            {
                return Ok(rejection.to_response());
            }
            let nonce = verified.next_dpop_nonce();
            request.extensions_mut().insert(verified);
            let mut response = inner.call(request).await?;
            if let Some(value) = nonce.as_deref().and_then(nonce_header) {
                response.headers_mut().insert(DPOP_NONCE_HEADER, value);
            }
            Ok(response)
        })
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::FromRequestParts;
    use http::request::Parts;

    use crate::error::Rejection;
    use crate::verifier::{VerifiedClaims, Verifier};

    /// Handlers take `VerifiedClaims` as an argument on routes behind a
    /// [`super::RequireAuthLayer`]; without the layer the request is
    /// answered 500 (a server misconfiguration, logged).
    impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
        type Rejection = Rejection;

        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
            match parts.extensions.get::<VerifiedClaims>() {
                Some(claims) => Ok(claims.clone()),
                None => {
                    tracing::error!(
                        path = %parts.uri.path(),
                        "holdfast-verify: VerifiedClaims requested on a route without RequireAuthLayer"
                    );
                    Err(Verifier::not_configured())
                }
            }
        }
    }
}
