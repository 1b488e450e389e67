//! DPoP at the resource server: the state that the pure proof checker
//! leaves to its caller, from [`holdfast_dpop`] (the same code the Holdfast
//! server runs), re-exported here where this crate's users find it.
//!
//! - [`ReplayCache`]: RFC 9449 §11.1, "the server MUST ensure that the
//!   same proof is not used more than once" within the `iat` window. In
//!   memory, per process, bounded.
//! - [`DpopNonces`] and [`HmacNonces`]: resource-server-provided nonces
//!   (RFC 9449 §9), stateless so that every replica accepts every other
//!   replica's nonces.
//!
//! Not supported: a replay cache shared between processes (each replica of
//! a resource server keeps its own; a proof is also bound by `htu` to one
//! resource and by `iat` to a short window).

pub use holdfast_dpop::{DpopNonces, HmacNonces, ReplayCache, ReplayError};

/// The proof vocabulary this crate's API uses (`AuthError::DpopProof`,
/// `VerifierBuilder::dpop_policy`, `VerifiedClaims::dpop_proof`), so that
/// applications need not depend on `holdfast-dpop` themselves.
pub use holdfast_dpop::{DpopAlg, DpopError, DpopPolicy, DpopProof, NonceProblem};
