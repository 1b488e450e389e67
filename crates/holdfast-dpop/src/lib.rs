//! DPoP, [RFC 9449](https://www.rfc-editor.org/rfc/rfc9449), written once
//! for Holdfast: the authorization server (`holdfast-server`: token
//! endpoint, userinfo, sessions API) and resource servers
//! (`holdfast-verify`) run the very same code, so a DPoP fix lands once.
//!
//! - [`proof`]: the proof checker, §4.3, a pure function with its step
//!   table; [`htu`]: the URI comparison of step 9; [`policy`]: accepted
//!   algorithms and the `iat` window.
//! - [`nonce`]: the one stateless HMAC nonce implementation (§8, §9).
//! - [`replay`]: how long a proof must be remembered (§11.1), and an
//!   in-memory replay cache.
//! - [`error`]: the one error vocabulary, with the one table of
//!   client-facing descriptions.
//! - [`challenge`]: the `Authorization: Bearer | DPoP` scheme rule (RFC 6750
//!   §2.1, §7.1) and `WWW-Authenticate` rendering with quoted-strings
//!   (RFC 9110 §11.6.1).
//! - [`resource`]: what a protected resource decides for a verified token
//!   under each scheme (§7.1, §7.2).
//! - `client` (feature `client`): the proof maker, for tests, benches and
//!   Rust clients.
//!
//! No IO, no clock: time, the request and the nonce rule are inputs; the
//! replay record is the caller's (a store on the server, [`ReplayCache`]
//! in `holdfast-verify`).
//!
//! Not supported: DPoP at the authorization endpoint beyond `dpop_jkt`
//! (§10, in the server); server-managed timestamps in `nonce` replacing
//! `iat` (§11.1); see each module for its own gaps.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod challenge;
#[cfg(any(test, feature = "client"))]
pub mod client;
pub mod error;
pub mod htu;
pub mod nonce;
pub mod policy;
pub mod proof;
pub mod replay;
pub mod resource;

pub use challenge::{Challenge, Scheme, parse_authorization};
pub use error::{AuthorizationError, DpopError, DpopRefusal, NonceProblem};
pub use htu::normalize_htu;
pub use nonce::{DpopNonces, HmacNonces};
pub use policy::{DpopAlg, DpopPolicy};
pub use proof::{DpopProof, NonceCheck, ProofContext, ath, jwk_thumbprint, verify_proof};
pub use replay::{ReplayCache, ReplayError};

/// The JOSE `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// The `DPoP` request header (RFC 9449 §4.1), in the lower case that
/// HTTP/2 requires and `http::HeaderName` stores (names compare
/// case-insensitively, RFC 9110 §5.1).
pub const DPOP_HEADER: &str = "dpop";

/// The `DPoP-Nonce` response header (RFC 9449 §8.1), lower-cased like
/// [`DPOP_HEADER`].
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// Upper bound on the size of a proof we will look at: a proof with an
/// RSA-4096 `jwk` is about 1.5 KiB, so 8 KiB leaves room without letting a
/// client make us decode megabytes.
pub const MAX_PROOF_LEN: usize = 8 * 1024;
