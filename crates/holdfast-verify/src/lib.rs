//! Verify Holdfast access tokens in a Rust resource server.
//!
//! One [`Verifier`] per issuer (a Holdfast tenant, `{public_url}/t/{slug}`)
//! does everything a resource server must, with no call to the issuer per
//! request:
//!
//! - **Keys** from discovery ([OIDC Discovery §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig))
//!   → `jwks_uri` ([RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)),
//!   cached by `kid`; an unknown `kid` refetches at most once per interval,
//!   with concurrent requests sharing one fetch (see `jwks` in the source).
//! - **Access tokens** per [RFC 9068 §4](https://www.rfc-editor.org/rfc/rfc9068#section-4):
//!   `typ` `at+jwt`, signature with the algorithm of the key named by `kid`
//!   (never the token's `alg` alone; `none` and HMAC refused, `jku`, `x5u`,
//!   `x5c` and embedded `jwk` headers ignored), `iss`, `aud`, `exp`, `nbf`,
//!   `iat` with leeway, scopes.
//! - **DPoP** ([RFC 9449 §7](https://www.rfc-editor.org/rfc/rfc9449#section-7)):
//!   a token with `cnf.jkt` needs `Authorization: DPoP` and a proof for this
//!   method and URL, with `ath`, by the bound key, not replayed
//!   ([`dpop::ReplayCache`]), with a nonce if configured
//!   ([`dpop::HmacNonces`]); the scheme rule, proof checks, nonces and
//!   error texts are [`holdfast_dpop`]'s, the same code the Holdfast
//!   server runs for its own APIs.
//! - **Step-up** ([RFC 9470](https://www.rfc-editor.org/rfc/rfc9470)): [`StepUp`].
//! - **Answers**: 401/403 with `WWW-Authenticate` per
//!   [RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3) and
//!   RFC 9449 §7.1, decided in one place ([`AuthError::answer`]).
//! - **Revocation** (optional): [`revocation::RevocationCheck`], with
//!   introspection ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662))
//!   and the revocation feed ([`feed::RevocationFeed`]: SSF 1.0 SETs over
//!   RFC 8936 poll delivery, applied in the background) shipped.
//! - **axum/tower**: [`Verifier::layer`] and the [`VerifiedClaims`] extractor.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use holdfast_verify::{VerifiedClaims, Verifier};
//!
//! let verifier = Verifier::builder("https://auth.example.com/t/acme")
//!     .audience("https://api.example.com")
//!     .public_base_url("https://api.example.com".parse()?)
//!     .build()?;
//! verifier.warm_up().await?;
//! let app: Router = Router::new()
//!     .route("/hello", get(|c: VerifiedClaims| async move { format!("hello {}", c.sub()) }))
//!     .layer(verifier.layer());
//! # Ok(()) }
//! ```
//!
//! What Holdfast (or any issuer) must provide: discovery at
//! `{issuer}/.well-known/openid-configuration` naming `issuer` exactly and
//! `jwks_uri`; JWKS keys with `kid` (and ideally `alg`, `use: sig`); tokens
//! with header `typ: at+jwt`, `kid`, and claims `iss`, `sub`, `aud`, `exp`,
//! `iat`, `jti`, `client_id` (RFC 9068 §2.2), `scope` space-delimited,
//! `auth_time`/`acr` for step-up, `cnf.jkt` on DPoP-bound tokens.
//!
//! jsonwebtoken's crypto backend: this crate uses jsonwebtoken with the
//! `aws_lc_rs` feature. Exactly one of its crypto features may be enabled
//! in a build, so an application must not also enable `rust_crypto`.
//!
//! Not supported: tokens in a form body or query (RFC 6750 §2.2, §2.3);
//! encrypted tokens (JWE); multiple issuers per verifier (make one per
//! issuer); a DPoP replay cache shared between processes.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod builder;
pub mod claims;
pub mod clock;
pub mod dpop;
pub mod error;
pub mod feed;
mod jwks;
mod jws;
pub mod layer;
pub mod revocation;
pub mod step_up;
mod verifier;

pub use claims::AccessTokenClaims;
pub use error::{AuthError, Rejection, Scheme};
pub use layer::RequireAuthLayer;
pub use step_up::StepUp;
pub use verifier::{ConfigError, MAX_TOKEN_LEN, VerifiedClaims, Verifier, VerifierBuilder};
