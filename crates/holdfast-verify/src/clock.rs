//! Time as an input: every time check in this crate (`exp`, `nbf`, `iat`,
//! DPoP `iat`, `auth_time`, cache ages, the JWKS refetch interval) reads a
//! [`Clock`], so tests can stand at the edge of a window instead of sleeping.
//! The trait is `holdfast-core`'s, the same one the server reads.

pub use holdfast_core::clock::{Clock, ManualClock, SystemClock};
