//! DPoP proof replay records
//! ([RFC 9449 §11.1](https://www.rfc-editor.org/rfc/rfc9449#section-11.1)):
//! the [`DpopReplayStore`] capability (SQL in `sql/dpop_replay.rs`).

use async_trait::async_trait;

use crate::StoreResult;

/// A DPoP proof to remember: its key's thumbprint, its `jti`, and until
/// when (the end of its `iat` window). A presentation of a refresh token
/// carries one so the store records it in the rotation's own transaction
/// ([`RefreshPresentation::proof`](crate::RefreshPresentation::proof)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRecord<'a> {
    /// JWK SHA-256 thumbprint of the proof's key (RFC 7638).
    pub jkt: &'a str,
    /// The proof's `jti`.
    pub jti: &'a str,
    /// When the record may be forgotten.
    pub expires_at: i64,
}

/// Seen DPoP proofs, shared by every node.
#[async_trait]
pub trait DpopReplayStore: Send + Sync {
    /// Records a DPoP proof's `jti` for key `jkt` until `expires_at`;
    /// `false` if it was recorded before (a replay). Expired records are
    /// cleared along the way.
    async fn record_dpop_proof(
        &self,
        tenant_id: &str,
        jkt: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool>;
}
