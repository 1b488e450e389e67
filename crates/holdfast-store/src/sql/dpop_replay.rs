//! [`DpopReplayStore`](crate::DpopReplayStore) over each back end's own
//! record (`record_proof`: a unique index on PostgreSQL, an append-only
//! log with an index in memory on SQLite, decision 0013), and the record a
//! presentation makes inside its own transaction ([`record_proof_in`]).

use super::{Db, ThisStore};

#[async_trait::async_trait]
impl crate::DpopReplayStore for ThisStore {
    async fn record_dpop_proof(
        &self,
        tenant_id: &str,
        jkt: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> crate::StoreResult<bool> {
        let proof = crate::ProofRecord {
            jkt,
            jti,
            expires_at,
        };
        let fresh = self.record_proof_alone(tenant_id, &proof).await?;
        // Clean up now and then (about one insert in 64), so the
        // table holds roughly one iat window of proofs.
        if crate::clears_expired(jti) {
            self.forget_expired_dpop_proofs(now).await?;
        }
        Ok(fresh)
    }

    async fn forget_expired_dpop_proofs(&self, now: i64) -> crate::StoreResult<u64> {
        self.forget_proofs_before(now).await
    }
}

/// Records `proof` for `tenant_id` inside `tx`, a write transaction:
/// `false`, with nothing written, when it was recorded before. On
/// PostgreSQL a concurrent transaction recording the same proof makes this
/// wait for its outcome, so of two racing presentations of one proof
/// exactly one records it; on SQLite the transaction holds the database's
/// write lock. Expired records are left to the retention sweep.
pub(crate) async fn record_proof_in(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'_, Db>,
    tenant_id: &str,
    proof: &crate::ProofRecord<'_>,
) -> crate::StoreResult<bool> {
    store.record_proof(tx, tenant_id, proof).await
}
