//! Refresh tokens: confirmed rotation (DESIGN.md §4).

pub mod rotation;
pub mod state;
