//! SQL of [`AuditStore`](crate::AuditStore).

use super::tx::insert_event;
use super::{BEGIN_WRITE, ThisStore};

#[async_trait::async_trait]
impl crate::AuditStore for ThisStore {
    async fn record_event(&self, event: &crate::AuditEvent) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn events(
        &self,
        tenant_id: &str,
        since: i64,
        limit: i64,
    ) -> crate::StoreResult<Vec<crate::AuditEvent>> {
        Ok(sqlx::query_as::<_, crate::AuditEvent>(
            "SELECT * FROM audit_events WHERE tenant_id = $1 AND at >= $2 ORDER BY at, id LIMIT $3",
        )
        .bind(tenant_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
