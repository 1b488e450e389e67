//! SQL of [`TenantStore`](crate::TenantStore) and
//! [`ClientStore`](crate::ClientStore).

use super::keys::insert_key;
use super::tx::{insert_event, revoke_session_in};
use super::{BEGIN_WRITE, ThisStore};

/// A tenant's settings stored as JSON (one `policy` column, read by
/// `query` with the tenant id as `$1`); `None` without a row.
pub(super) async fn tenant_json<T: serde::de::DeserializeOwned>(
    store: &ThisStore,
    query: &'static str,
    tenant_id: &str,
) -> crate::StoreResult<Option<T>> {
    let text: Option<String> = sqlx::query_scalar(query)
        .bind(tenant_id)
        .fetch_optional(&store.pool)
        .await?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| crate::StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// Bumps tenant `tenant_id`'s settings version inside `tx`, if it is still
/// `expected` (any version when `None`): the new version, `Stale` when it
/// moved on, `NotFound` without the tenant. Every settings change goes
/// through here, so one `ETag` guards them all.
pub(super) async fn bump_tenant_version(
    tx: &mut sqlx::Transaction<'_, super::Db>,
    tenant_id: &str,
    expected: Option<i64>,
) -> crate::StoreResult<i64> {
    let bumped: Option<i64> = sqlx::query_scalar(
        "UPDATE tenants SET version = version + 1
         WHERE id = $1 AND (CAST($2 AS BIGINT) IS NULL OR version = $2)
         RETURNING version",
    )
    .bind(tenant_id)
    .bind(expected)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(version) = bumped {
        return Ok(version);
    }
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?;
    Err(match found {
        Some(_) => crate::StoreError::Stale("tenant"),
        None => crate::StoreError::NotFound("tenant"),
    })
}

#[async_trait::async_trait]
impl crate::TenantStore for ThisStore {
    async fn create_tenant(
        &self,
        tenant: &holdfast_core::tenant::Tenant,
        keys: &[crate::StoredKey],
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO tenants (id, slug, display_name, signing_alg, default_audience, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&tenant.id)
        .bind(tenant.slug.as_str())
        .bind(&tenant.display_name)
        .bind(tenant.signing_alg.as_str())
        .bind(&tenant.default_audience)
        .bind(tenant.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| crate::conflict_or(e, "tenant"))?;
        for key in keys {
            insert_key(&mut tx, &tenant.id, key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tenant_by_slug(
        &self,
        slug: &holdfast_core::tenant::TenantSlug,
    ) -> crate::StoreResult<Option<holdfast_core::tenant::Tenant>> {
        sqlx::query_as::<_, crate::rows::TenantRow>("SELECT * FROM tenants WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn tenant_by_id(
        &self,
        id: &str,
    ) -> crate::StoreResult<Option<holdfast_core::tenant::Tenant>> {
        sqlx::query_as::<_, crate::rows::TenantRow>("SELECT * FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn list_tenants(&self) -> crate::StoreResult<Vec<holdfast_core::tenant::Tenant>> {
        sqlx::query_as::<_, crate::rows::TenantRow>("SELECT * FROM tenants ORDER BY slug")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn tenant_account_policy(
        &self,
        tenant_id: &str,
    ) -> crate::StoreResult<Option<holdfast_core::accounts::AccountPolicy>> {
        tenant_json(
            self,
            "SELECT policy FROM tenant_account_policies WHERE tenant_id = $1",
            tenant_id,
        )
        .await
    }

    async fn update_tenant_settings(
        &self,
        tenant_id: &str,
        expected_version: Option<i64>,
        display_name: Option<&str>,
        policy: Option<&holdfast_core::accounts::AccountPolicy>,
        branding: Option<&holdfast_core::tenant::Branding>,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<i64> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let version = bump_tenant_version(&mut tx, tenant_id, expected_version).await?;
        if let Some(name) = display_name {
            sqlx::query("UPDATE tenants SET display_name = $2 WHERE id = $1")
                .bind(tenant_id)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(policy) = policy {
            let text = serde_json::to_string(policy)
                .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO tenant_account_policies (tenant_id, policy) VALUES ($1, $2)
                 ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy",
            )
            .bind(tenant_id)
            .bind(text)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(branding) = branding {
            let text = if branding.is_empty() {
                None
            } else {
                Some(
                    serde_json::to_string(branding)
                        .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
                )
            };
            sqlx::query("UPDATE tenants SET branding = $2 WHERE id = $1")
                .bind(tenant_id)
                .bind(text)
                .execute(&mut *tx)
                .await?;
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn delete_tenant(
        &self,
        tenant_id: &str,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        // Everything the tenant holds goes with its row (ON DELETE CASCADE):
        // clients, users, sessions and their refresh tokens, codes, keys,
        // browser sessions, queued mail and deliveries, streams, account
        // tokens, policies. The rest has no foreign key and is cleared here.
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("tenant"));
        }
        for statement in [
            "DELETE FROM revoked_access_tokens WHERE tenant_id = $1",
            "DELETE FROM dpop_proofs WHERE tenant_id = $1",
            "DELETE FROM throttle_counters WHERE tenant_id = $1",
        ] {
            sqlx::query(statement)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
        }
        // The audit log outlives its tenant: the deletion is its last event.
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::ClientStore for ThisStore {
    async fn create_client(
        &self,
        id: &str,
        tenant_id: &str,
        c: &holdfast_core::client::NewClient,
        secret_digest: Option<&str>,
        now: i64,
    ) -> crate::StoreResult<holdfast_core::client::Client> {
        let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        sqlx::query(
            "INSERT INTO clients (id, tenant_id, client_id, kind, secret_digest, redirect_uris,
                grant_types, scopes, access_token_ttl_secs, rotation, grace_window_secs,
                retry_limit, idle_lifetime_secs, absolute_lifetime_secs, dpop_required, created_at,
                refresh_token_in_cookie, allowed_origins, dpop_nonce_required, unbound_grace_accept_risk, resources,
                id_token_signed_response_alg, backchannel_logout_uri, backchannel_logout_session_required,
                mfa_required, display_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                $23, $24, $25, $26)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&c.client_id)
        .bind(c.kind.as_str())
        .bind(secret_digest)
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
        .bind(now)
        .bind(c.refresh_token_in_cookie)
        .bind(crate::rows::to_json_list(&c.allowed_origins))
        .bind(c.dpop_nonce_required.unwrap_or(false))
        .bind(c.refresh.unbound_grace_accept_risk)
        .bind(crate::rows::to_json_list(&c.resources))
        .bind(c.id_token_signed_response_alg.map(|a| a.as_str()))
        .bind(c.backchannel_logout.as_ref().map(|b| b.uri.as_str()))
        .bind(c.backchannel_logout.as_ref().is_some_and(|b| b.session_required))
        .bind(c.mfa_required)
        .bind(&c.display_name)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| crate::conflict_or(e, "client"))?;
        Ok(holdfast_core::client::Client {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            client_id: c.client_id.clone(),
            kind: c.kind,
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            access_token_ttl_secs: c.access_token_ttl_secs,
            refresh: c.refresh,
            dpop_required: c.dpop_required,
            refresh_token_in_cookie: c.refresh_token_in_cookie,
            allowed_origins: c.allowed_origins.clone(),
            dpop_nonce_required: c.dpop_nonce_required.unwrap_or(false),
            mfa_required: c.mfa_required,
            display_name: c.display_name.clone(),
            resources: c.resources.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            backchannel_logout: c.backchannel_logout.clone(),
            created_at: now,
        })
    }

    async fn client_by_client_id(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> crate::StoreResult<Option<crate::ClientRecord>> {
        sqlx::query_as::<_, crate::rows::ClientRow>(
            "SELECT * FROM clients WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn set_backchannel_logout(
        &self,
        tenant_id: &str,
        client_id: &str,
        logout: Option<&holdfast_core::client::BackchannelLogout>,
    ) -> crate::StoreResult<()> {
        let done = sqlx::query(
            "UPDATE clients SET backchannel_logout_uri = $3, backchannel_logout_session_required = $4, version = version + 1
             WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(logout.map(|b| b.uri.as_str()))
        .bind(logout.is_some_and(|b| b.session_required))
        .execute(&mut *self.write_conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn set_client_display_name(
        &self,
        tenant_id: &str,
        client_id: &str,
        name: Option<&str>,
    ) -> crate::StoreResult<()> {
        let done = sqlx::query(
            "UPDATE clients SET display_name = $3, version = version + 1 WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(name)
        .execute(&mut *self.write_conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn set_client_mfa_required(
        &self,
        tenant_id: &str,
        client_id: &str,
        required: bool,
    ) -> crate::StoreResult<()> {
        let done = sqlx::query(
            "UPDATE clients SET mfa_required = $3, version = version + 1 WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(required)
        .execute(&mut *self.write_conn().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn list_clients(&self, tenant_id: &str) -> crate::StoreResult<Vec<crate::ClientRecord>> {
        sqlx::query_as::<_, crate::rows::ClientRow>(
            "SELECT * FROM clients WHERE tenant_id = $1 ORDER BY client_id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
    }

    async fn delete_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<u64> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM clients WHERE tenant_id = $1 AND client_id = $2")
                .bind(tenant_id)
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(crate::StoreError::NotFound("client"));
        }
        // Codes first: on PostgreSQL this waits for a code exchange in
        // flight (it holds the code's row), whose session the select below
        // then sees and ends; none can be redeemed afterwards.
        sqlx::query("DELETE FROM auth_codes WHERE tenant_id = $1 AND client_id = $2")
            .bind(tenant_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let live: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM sessions WHERE tenant_id = $1 AND client_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_all(&mut *tx)
        .await?;
        for (sid,) in &live {
            revoke_session_in(&mut tx, tenant_id, sid, "client_deleted", now).await?;
        }
        // The client's back-channel logout registration goes with it, so
        // nobody is left to tell: no logout token is queued for it (one
        // would otherwise reach a later client given the same client_id).
        for statement in [
            "DELETE FROM logout_deliveries WHERE tenant_id = $1 AND client_id = $2",
            "DELETE FROM ssf_streams WHERE tenant_id = $1 AND client_id = $2",
            "DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2",
        ] {
            sqlx::query(statement)
                .bind(tenant_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(live.len() as u64)
    }
}
