//! Use cases shared by the HTTP edge and the CLI. Each takes the store and
//! the inputs, validates through the domain crate, and returns typed errors.

pub mod admin;
pub mod password;
