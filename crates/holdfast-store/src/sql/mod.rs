//! The SQL both back ends share, written once.
//!
//! This directory is compiled twice, once inside each back end's module
//! (`sqlite.rs` and `postgres.rs` declare it with `#[path = "sql/mod.rs"]`).
//! That module names, for the code here:
//!
//! - `ThisStore`, the store type, with a `pool` field for reads, a
//!   `write_conn()` method for writes (a pooled connection on PostgreSQL; on
//!   SQLite, which has one writer anyway, its one write connection, so
//!   writers queue in process instead of sleeping in SQLite's busy handler),
//!   and a `try_rotate()` method: the back end's fastest way to apply the
//!   common presentation of a refresh token, a plain rotation;
//! - `Db`, its `sqlx` database type;
//! - `BEGIN_WRITE`, `LOCK_FAMILY` and `DELETE_ACKED`, the three statements
//!   that cannot be shared (the last reads a batch of ids from one JSON
//!   parameter, which each database spells its own way).
//!
//! Every statement here is portable between SQLite and PostgreSQL (`$n`
//! parameters, `ON CONFLICT`, partial indexes); there is no back-end `if`
//! in any of them. One file per capability, named like the module of its
//! trait: [`tenants`], [`users`], [`keys`], [`grants`], [`sessions`],
//! [`audit`], [`dpop_replay`], [`throttle`], [`retention`], [`signals`], [`mail`], [`device`], [`accounts`], [`factors`]; [`tx`] holds the
//! statements several of them run inside their own transaction (among them
//! the ones that write security events, in the revoking transaction).

use super::{BEGIN_WRITE, DELETE_ACKED, Db, FORGET_DPOP_PROOFS, LOCK_FAMILY, ThisStore};

mod accounts;
mod admin;
mod audit;
mod device;
mod dpop_replay;
mod factors;
mod grants;
mod keys;
pub(super) mod mail;
mod retention;
mod sessions;
mod signals;
mod tenants;
mod throttle;
pub(super) mod tx;
pub(super) mod users;
