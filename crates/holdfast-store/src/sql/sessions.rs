//! SQL of [`SessionStore`](crate::SessionStore) and
//! [`BrowserSessionStore`](crate::BrowserSessionStore).

use super::tx::{insert_event, revoke_session_in};
use super::{BEGIN_WRITE, ThisStore};

#[async_trait::async_trait]
impl crate::SessionStore for ThisStore {
    async fn session(
        &self,
        tenant_id: &str,
        session_id: &str,
    ) -> crate::StoreResult<Option<crate::SessionRecord>> {
        sqlx::query_as::<_, crate::rows::SessionRow>(
            "SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn revoke_session(
        &self,
        tenant_id: &str,
        session_id: &str,
        reason: &str,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        revoke_session_in(&mut tx, tenant_id, session_id, reason, now).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_sessions(
        &self,
        tenant_id: &str,
        user_id: &str,
        now: i64,
    ) -> crate::StoreResult<Vec<crate::SessionRecord>> {
        sqlx::query_as::<_, crate::rows::SessionRow>(
            "SELECT * FROM sessions
             WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
             ORDER BY last_used_at DESC, id",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
    }

    async fn revoke_user_sessions(
        &self,
        tenant_id: &str,
        user_id: &str,
        except: Option<&str>,
        reason: &str,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<u64> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut count = 0;
        for (id,) in ids {
            if except == Some(id.as_str()) {
                continue;
            }
            revoke_session_in(&mut tx, tenant_id, &id, reason, now).await?;
            count += 1;
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(count)
    }
}

#[async_trait::async_trait]
impl crate::BrowserSessionStore for ThisStore {
    async fn insert_browser_session(
        &self,
        b: &crate::BrowserSessionRecord,
    ) -> crate::StoreResult<()> {
        sqlx::query(
            "INSERT INTO browser_sessions (id_digest, tenant_id, user_id, auth_time, amr, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&b.id_digest)
        .bind(&b.tenant_id)
        .bind(&b.user_id)
        .bind(b.auth_time)
        .bind(crate::rows::to_json_list(&b.amr))
        .bind(b.created_at)
        .bind(b.expires_at)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| crate::conflict_or(e, "browser session"))?;
        Ok(())
    }

    async fn browser_session(
        &self,
        tenant_id: &str,
        id_digest: &str,
    ) -> crate::StoreResult<Option<crate::BrowserSessionRecord>> {
        sqlx::query_as::<_, crate::rows::BrowserSessionRow>(
            "SELECT * FROM browser_sessions WHERE tenant_id = $1 AND id_digest = $2",
        )
        .bind(tenant_id)
        .bind(id_digest)
        .fetch_optional(&self.pool)
        .await?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn delete_browser_session(
        &self,
        tenant_id: &str,
        id_digest: &str,
    ) -> crate::StoreResult<()> {
        sqlx::query("DELETE FROM browser_sessions WHERE tenant_id = $1 AND id_digest = $2")
            .bind(tenant_id)
            .bind(id_digest)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn raise_browser_session(
        &self,
        tenant_id: &str,
        id_digest: &str,
        auth_time: i64,
        amr: &[String],
    ) -> crate::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE browser_sessions SET auth_time = $3, amr = $4
             WHERE tenant_id = $1 AND id_digest = $2",
        )
        .bind(tenant_id)
        .bind(id_digest)
        .bind(auth_time)
        .bind(crate::rows::to_json_list(amr))
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
