//! SQL of [`DpopReplayStore`](crate::DpopReplayStore), and the record a
//! refresh presentation makes inside its own transaction
//! ([`record_proof_in`]).

use super::{Db, ThisStore};

/// Remembers proof `jti` `$3` of key `$2` in tenant `$1` until `$4`; no row
/// changed means it was there already (a replay).
const RECORD_PROOF: &str =
    "INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, jkt, jti) DO NOTHING";

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
        let inserted = sqlx::query(RECORD_PROOF)
            .bind(tenant_id)
            .bind(jkt)
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *self.write_conn().await?)
            .await?;
        // Clean up now and then (about one insert in 64), so the
        // table holds roughly one iat window of proofs.
        if crate::clears_expired(jti) {
            self.forget_expired_dpop_proofs(now).await?;
        }
        Ok(inserted.rows_affected() == 1)
    }

    async fn forget_expired_dpop_proofs(&self, now: i64) -> crate::StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(deleted.rows_affected())
    }
}

/// Records `proof` for `tenant_id` inside `tx`: `false`, with nothing
/// written, when it was recorded before. On PostgreSQL a concurrent
/// transaction recording the same proof makes this wait for its outcome,
/// so of two racing presentations of one proof exactly one records it.
/// Expired records are left to the retention sweep.
pub(crate) async fn record_proof_in(
    tx: &mut sqlx::Transaction<'_, Db>,
    tenant_id: &str,
    proof: &crate::ProofRecord<'_>,
) -> crate::StoreResult<bool> {
    let inserted = sqlx::query(RECORD_PROOF)
        .bind(tenant_id)
        .bind(proof.jkt)
        .bind(proof.jti)
        .bind(proof.expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(inserted.rows_affected() == 1)
}
