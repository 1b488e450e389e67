//! Use cases shared by the HTTP edge and the CLI. Each takes the state and
//! typed inputs, validates through the domain crate, and returns typed
//! errors that the HTTP edge maps in one place.

pub mod accounts;
pub mod admin;
pub mod administrators;
pub mod audit;
pub mod client_auth;
pub mod csrf;
pub mod device;
pub mod dpop;
pub mod jwt;
pub mod login;
pub mod lookup;
pub mod mail;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod retention;
pub mod revocation;
pub mod signals;
pub mod throttle;
pub mod token;

/// Where a request came from, for audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The peer's IP address.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Origin` header (browsers send it on cross-origin and POST requests).
    pub origin: Option<String>,
}
