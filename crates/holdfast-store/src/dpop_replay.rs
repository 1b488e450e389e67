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

    /// Forgets the records that expired before `now`; how many. Callers
    /// that record proofs inside their own transaction
    /// ([`ProofRecord`]) call it now and then, as `record_dpop_proof`
    /// does itself, so the table holds about one `iat` window of proofs
    /// between retention sweeps.
    async fn forget_expired_dpop_proofs(&self, now: i64) -> StoreResult<u64>;
}

/// Whether the record of proof `jti` is the one in about 64 whose writer
/// also clears the expired records (a cheap, evenly spread choice: the
/// byte sum of a random identifier).
pub fn clears_expired(jti: &str) -> bool {
    jti.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 64 == 0
}
