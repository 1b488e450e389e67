//! SQL of [`DpopReplayStore`](crate::DpopReplayStore).

use super::ThisStore;

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
        let inserted = sqlx::query(
            "INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, jkt, jti) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(jkt)
        .bind(jti)
        .bind(expires_at)
        .execute(&mut *self.write_conn().await?)
        .await?;
        // Clean up now and then (about one insert in 64), so the
        // table holds roughly one iat window of proofs.
        if jti.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 64 == 0 {
            sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
                .bind(now)
                .execute(&mut *self.write_conn().await?)
                .await?;
        }
        Ok(inserted.rows_affected() == 1)
    }
}
