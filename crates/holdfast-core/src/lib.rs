//! Holdfast's domain layer: the rules of the authorization server as pure
//! functions over values. Nothing in this crate does IO; the time and
//! randomness are passed in by callers so tests can pin them (the
//! [`clock::Clock`] trait they read the time from lives here, so there is
//! one).
//!
//! - [`clock`]: the one `Clock` trait (system and manual clocks).
//! - [`tenant`]: tenant slugs and issuer URLs.
//! - [`client`]: OAuth clients, their grant types, scopes and refresh policy.
//! - [`user`]: usernames (case-insensitive, Unicode-normalised).
//! - [`keys`]: signing algorithms and the key life cycle (next → current → retired).
//! - [`device`]: the device authorization grant's user codes and polling (RFC 8628).
//! - [`discovery`]: the RFC 8414 / OIDC Discovery metadata document.
//! - [`pkce`]: RFC 7636 S256 challenges.
//! - [`refresh`]: the refresh-token rotation state machine (docs/design.md §4).
//! - [`scope`]: scope sets (RFC 6749 §3.3).
//! - [`authorize`]: validating an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).
//! - [`claims`]: access-token (RFC 9068) and ID-token (OIDC Core §2) claims.
//! - [`mfa`]: second factors (TOTP, recovery codes), `amr` and `acr`.
//! - [`throttle`]: limits on secret guessing (OWASP ASVS 2.2.1).
//! - [`retention`]: what the store may forget, and when.
//! - [`signals`]: security events (SSF, CAEP, RISC SETs) and back-channel logout tokens.
//! - [`error`]: OAuth error codes (RFC 6749 §5.2) and the domain's validation errors.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod admin;
pub mod authorize;
pub mod claims;
pub mod client;
pub mod clock;
pub mod device;
pub mod discovery;
pub mod error;
pub mod keys;
pub mod mfa;
pub mod pkce;
pub mod refresh;
pub mod retention;
pub mod scope;
pub mod self_service;
pub mod signals;
pub mod tenant;
pub mod throttle;
pub mod user;

pub use error::{OAuthErrorCode, ValidationError};
