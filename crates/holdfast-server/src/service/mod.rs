//! Use cases shared by the HTTP edge and the CLI. Each takes the state and
//! typed inputs, validates through the domain crate, and returns typed
//! errors that the HTTP edge maps in one place.

pub mod admin;
pub mod audit;
pub mod client_auth;
pub mod csrf;
pub mod dpop;
pub mod login;
pub mod lookup;
pub mod password;
pub mod retention;
pub mod revocation;
pub mod throttle;
pub mod token;
pub mod tokens;
