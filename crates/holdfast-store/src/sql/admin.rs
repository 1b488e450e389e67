//! SQL of [`AdminStore`](crate::AdminStore).

use super::tx::insert_event;
use super::{BEGIN_WRITE, ThisStore};

#[async_trait::async_trait]
impl crate::AdminStore for ThisStore {
    async fn update_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        c: &holdfast_core::client::NewClient,
        expected_version: Option<i64>,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<crate::ClientRecord> {
        let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE clients SET redirect_uris = $3, grant_types = $4, scopes = $5,
                access_token_ttl_secs = $6, rotation = $7, grace_window_secs = $8,
                retry_limit = $9, idle_lifetime_secs = $10, absolute_lifetime_secs = $11,
                dpop_required = $12, refresh_token_in_cookie = $13, allowed_origins = $14,
                dpop_nonce_required = $15, unbound_grace_accept_risk = $16, resources = $17,
                id_token_signed_response_alg = $18, backchannel_logout_uri = $19,
                backchannel_logout_session_required = $20, mfa_required = $21,
                display_name = $22, version = version + 1
             WHERE tenant_id = $1 AND client_id = $2
               AND (CAST($23 AS BIGINT) IS NULL OR version = $23)",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(crate::rows::to_json_list(&c.redirect_uris))
        .bind(crate::rows::to_json_list(&grants))
        .bind(crate::rows::to_json_list(&c.scopes))
        .bind(c.access_token_ttl_secs)
        .bind(c.refresh.rotation.as_str())
        .bind(c.refresh.grace_window_secs)
        .bind(c.refresh.retry_limit)
        .bind(c.refresh.idle_lifetime_secs)
        .bind(c.refresh.absolute_lifetime_secs)
        .bind(c.dpop_required)
        .bind(c.refresh_token_in_cookie)
        .bind(crate::rows::to_json_list(&c.allowed_origins))
        .bind(c.dpop_nonce_required.unwrap_or(false))
        .bind(c.refresh.unbound_grace_accept_risk)
        .bind(crate::rows::to_json_list(&c.resources))
        .bind(c.id_token_signed_response_alg.map(|a| a.as_str()))
        .bind(c.backchannel_logout.as_ref().map(|b| b.uri.as_str()))
        .bind(
            c.backchannel_logout
                .as_ref()
                .is_some_and(|b| b.session_required),
        )
        .bind(c.mfa_required)
        .bind(&c.display_name)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM clients WHERE tenant_id = $1 AND client_id = $2",
            )
            .bind(tenant_id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            return Err(match exists {
                Some(_) => crate::StoreError::Stale("client"),
                None => crate::StoreError::NotFound("client"),
            });
        }
        insert_event(&mut tx, audit).await?;
        let row = sqlx::query_as::<_, crate::rows::ClientRow>(
            "SELECT * FROM clients WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn set_client_secret(
        &self,
        tenant_id: &str,
        client_id: &str,
        secret_digest: &str,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE clients SET secret_digest = $3, version = version + 1
             WHERE tenant_id = $1 AND client_id = $2 AND secret_digest IS NOT NULL",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(secret_digest)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("confidential client"));
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant_version(&self, tenant_id: &str) -> crate::StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT version FROM tenants WHERE id = $1")
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn query_events(
        &self,
        tenant_id: &str,
        q: &crate::EventQuery,
    ) -> crate::StoreResult<Vec<crate::AuditEvent>> {
        Ok(sqlx::query_as::<_, crate::AuditEvent>(
            "SELECT * FROM audit_events WHERE tenant_id = $1
               AND (CAST($2 AS TEXT) IS NULL OR kind = $2)
               AND (CAST($3 AS TEXT) IS NULL OR user_id = $3)
               AND (CAST($4 AS TEXT) IS NULL OR client_id = $4)
               AND (CAST($5 AS BIGINT) IS NULL OR at >= $5)
               AND (CAST($6 AS BIGINT) IS NULL OR at < $6)
               AND (CAST($7 AS TEXT) IS NULL OR id < $7)
             ORDER BY id DESC LIMIT $8",
        )
        .bind(tenant_id)
        .bind(&q.kind)
        .bind(&q.user_id)
        .bind(&q.client_id)
        .bind(q.since)
        .bind(q.until)
        .bind(&q.before_id)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn search_users(
        &self,
        tenant_id: &str,
        text: &str,
        after: Option<&str>,
        limit: i64,
    ) -> crate::StoreResult<Vec<crate::UserRecord>> {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        Ok(sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND username_normalized > $2
               AND (username_normalized LIKE $3 ESCAPE '\\' OR LOWER(email) LIKE $3 ESCAPE '\\')
             ORDER BY username_normalized LIMIT $4",
        )
        .bind(tenant_id)
        .bind(after.unwrap_or(""))
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
    }

    async fn admin_grants(&self, user_id: &str) -> crate::StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT scope FROM admin_grants WHERE user_id = $1 ORDER BY scope")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn grant_admin(&self, user_id: &str, scope: &str) -> crate::StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_grants (user_id, scope) VALUES ($1, $2)
             ON CONFLICT (user_id, scope) DO NOTHING",
        )
        .bind(user_id)
        .bind(scope)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }
}
