//! Revocation everywhere (docs/design.md §7): the Shared Signals transmitter
//! and back-channel logout.
//!
//! The events themselves are written by the store, in the transaction of
//! each revocation (`holdfast-store`'s `sql/tx.rs`: a session ended, a
//! not-before stamp, an access token revoked), so every revocation path
//! emits without a call here and a crash between revocation and delivery
//! loses nothing. This module delivers them:
//!
//! - [`streams`]: the SSF 1.0 §8.1 stream management API (create, read,
//!   update, replace, delete; status; verification), for receivers that are
//!   confidential clients holding a client-credentials token with scope
//!   `ssf`.
//! - [`poll`]: RFC 8936 poll delivery with long-polling and
//!   acknowledgements.
//! - [`delivery`]: the background loops every node runs: RFC 8935 push to
//!   receivers' endpoints and OIDC Back-Channel Logout 1.0 §2.5 logout
//!   tokens to clients, both with retries and exponential backoff. Delivery
//!   is at least once; a SET's `jti` (a logout token's too) is the outbox
//!   row's id, the same on every attempt, so receivers deduplicate by it.
//!
//! Subject formats emitted (RFC 9493): `iss_sub` for users, SSF §3.2's
//! `complex` (`session` `opaque` + `user` `iss_sub`) for sessions, SSF
//! §3.5.1 `jwt_id` for access tokens, `opaque` for streams (their
//! `stream_id`).

pub mod delivery;
pub mod poll;
pub mod streams;

use holdfast_core::signals::{SET_TYP, Signal};
use holdfast_core::tenant::Tenant;
use holdfast_store::StreamRecord;
use url::Url;

use crate::keys::KeyError;
use crate::state::AppState;

/// Why an SSF request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    /// The body or a parameter is not what SSF §8.1 asks for.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// No such stream of this receiver (SSF §8.1.1.2: 404).
    #[error("no such stream")]
    StreamNotFound,
    /// The receiver has as many streams as it may (SSF §8.1.1.1: 409).
    #[error("too many streams")]
    TooManyStreams,
    /// A poll of a paused or disabled stream (SSF §8.1.2).
    #[error("the stream is {}", .0.as_str())]
    StreamNotEnabled(holdfast_core::signals::StreamStatus),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] holdfast_store::StoreError),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Signs `signal` as a SET (RFC 8417, `typ: secevent+jwt`) for `stream`'s
/// receiver with the tenant's current key.
pub async fn sign_set(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    stream: &StreamRecord,
    signal: &Signal,
) -> Result<String, KeyError> {
    let key = state.keys.current(tenant).await?;
    sign_set_with(&key, issuer, stream, signal, state.now())
}

/// Signs `signal` as a SET with `key`, issued at `iat` (a poll signs its
/// whole batch with the one key it fetched).
pub fn sign_set_with(
    key: &holdfast_crypto::jws::SigningKey,
    issuer: &Url,
    stream: &StreamRecord,
    signal: &Signal,
    iat: i64,
) -> Result<String, KeyError> {
    let claims = signal.set_claims(issuer.as_str(), &stream.client_id, &stream.id, iat);
    Ok(key.sign(SET_TYP, &claims)?)
}
