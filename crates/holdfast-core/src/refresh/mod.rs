//! Refresh tokens: confirmed rotation (docs/design.md §4).

pub mod rotation;
pub mod state;
