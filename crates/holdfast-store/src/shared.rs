//! The SQL both back ends share, written once.
//!
//! [`impl_shared_store!`] implements the capability traits for a store type
//! that has a `pool: sqlx::Pool<DB>` field. Every statement here is portable
//! between SQLite and PostgreSQL (`$n` parameters, `ON CONFLICT`, partial
//! indexes); anything that is not lives in the back end's own module.

macro_rules! impl_shared_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::TenantStore for $store {
            async fn create_tenant(
                &self,
                tenant: &holdfast_core::tenant::Tenant,
                keys: &[$crate::StoredKey],
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
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
                .map_err(|e| $crate::conflict_or(e, "tenant"))?;
                for key in keys {
                    insert_key(&mut tx, &tenant.id, key).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn tenant_by_slug(
                &self,
                slug: &holdfast_core::tenant::TenantSlug,
            ) -> $crate::StoreResult<Option<holdfast_core::tenant::Tenant>> {
                sqlx::query_as::<_, $crate::rows::TenantRow>("SELECT * FROM tenants WHERE slug = $1")
                    .bind(slug.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn list_tenants(&self) -> $crate::StoreResult<Vec<holdfast_core::tenant::Tenant>> {
                sqlx::query_as::<_, $crate::rows::TenantRow>("SELECT * FROM tenants ORDER BY slug")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ClientStore for $store {
            async fn create_client(
                &self,
                id: &str,
                tenant_id: &str,
                c: &holdfast_core::client::NewClient,
                secret_digest: Option<&str>,
                now: i64,
            ) -> $crate::StoreResult<holdfast_core::client::Client> {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                sqlx::query(
                    "INSERT INTO clients (id, tenant_id, client_id, kind, secret_digest, redirect_uris,
                        grant_types, scopes, access_token_ttl_secs, rotation, grace_window_secs,
                        retry_limit, idle_lifetime_secs, absolute_lifetime_secs, dpop_required, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(&c.client_id)
                .bind(c.kind.as_str())
                .bind(secret_digest)
                .bind($crate::rows::to_json_list(&c.redirect_uris))
                .bind($crate::rows::to_json_list(&grants))
                .bind($crate::rows::to_json_list(&c.scopes))
                .bind(c.access_token_ttl_secs)
                .bind(c.refresh.rotation.as_str())
                .bind(c.refresh.grace_window_secs)
                .bind(c.refresh.retry_limit)
                .bind(c.refresh.idle_lifetime_secs)
                .bind(c.refresh.absolute_lifetime_secs)
                .bind(c.dpop_required)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::conflict_or(e, "client"))?;
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
                    created_at: now,
                })
            }

            async fn client_by_client_id(
                &self,
                tenant_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ClientRecord>> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients WHERE tenant_id = $1 AND client_id = $2",
                )
                .bind(tenant_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn list_clients(
                &self,
                tenant_id: &str,
            ) -> $crate::StoreResult<Vec<holdfast_core::client::Client>> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients WHERE tenant_id = $1 ORDER BY client_id",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| $crate::ClientRecord::try_from(row).map(|r| r.client))
                .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::UserStore for $store {
            async fn create_user(
                &self,
                id: &str,
                tenant_id: &str,
                username: &holdfast_core::user::Username,
                email: Option<&str>,
                password_hash: &str,
                now: i64,
            ) -> $crate::StoreResult<holdfast_core::user::User> {
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, username, username_normalized, email, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(username.display())
                .bind(username.normalized())
                .bind(email)
                .bind(password_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::conflict_or(e, "user"))?;
                Ok(holdfast_core::user::User {
                    id: id.to_owned(),
                    tenant_id: tenant_id.to_owned(),
                    username: username.display().to_owned(),
                    email: email.map(str::to_owned),
                    created_at: now,
                })
            }

            async fn user_by_username(
                &self,
                tenant_id: &str,
                normalized: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                Ok(sqlx::query_as::<_, $crate::rows::UserRow>(
                    "SELECT * FROM users WHERE tenant_id = $1 AND username_normalized = $2",
                )
                .bind(tenant_id)
                .bind(normalized)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }

            async fn user_by_id(
                &self,
                tenant_id: &str,
                id: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                Ok(sqlx::query_as::<_, $crate::rows::UserRow>(
                    "SELECT * FROM users WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
        }

        #[async_trait::async_trait]
        impl $crate::KeyStore for $store {
            async fn keys(&self, tenant_id: &str) -> $crate::StoreResult<Vec<$crate::StoredKey>> {
                sqlx::query_as::<_, $crate::rows::KeyRow>(
                    "SELECT * FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            async fn rotate_keys(
                &self,
                tenant_id: &str,
                new_next: &$crate::StoredKey,
                now: i64,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                // The first statement writes, so SQLite takes its write lock
                // here and PostgreSQL locks the rows: concurrent rotations
                // serialise instead of interleaving.
                sqlx::query(
                    "UPDATE signing_keys SET state = 'retired', retired_at = $2
                     WHERE tenant_id = $1 AND state = 'current'",
                )
                .bind(tenant_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let promoted = sqlx::query(
                    "UPDATE signing_keys SET state = 'current', activated_at = $2
                     WHERE tenant_id = $1 AND state = 'next'",
                )
                .bind(tenant_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if promoted.rows_affected() != 1 {
                    return Err($crate::StoreError::NotFound("next key"));
                }
                insert_key(&mut tx, tenant_id, new_next).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::MetaStore for $store {
            async fn init_kek_check(&self, check: &[u8]) -> $crate::StoreResult<Vec<u8>> {
                sqlx::query("INSERT INTO meta (name, value) VALUES ('kek_check', $1) ON CONFLICT (name) DO NOTHING")
                    .bind(check)
                    .execute(&self.pool)
                    .await?;
                self.kek_check()
                    .await?
                    .ok_or($crate::StoreError::NotFound("kek check"))
            }

            async fn kek_check(&self) -> $crate::StoreResult<Option<Vec<u8>>> {
                let row: Option<(Vec<u8>,)> =
                    sqlx::query_as("SELECT value FROM meta WHERE name = 'kek_check'")
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(v,)| v))
            }

            async fn ping(&self) -> $crate::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        async fn insert_key<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            key: &$crate::StoredKey,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO signing_keys (kid, tenant_id, alg, state, private_sealed, public_jwk,
                    created_at, activated_at, retired_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&key.kid)
            .bind(tenant_id)
            .bind(key.alg.as_str())
            .bind(key.state.as_str())
            .bind(&key.private_sealed)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::conflict_or(e, "signing key"))?;
            Ok(())
        }
    };
}

pub(crate) use impl_shared_store;

/// Names the sqlx database type of a store, for the shared macro.
pub(crate) trait Backend {
    type Db: sqlx::Database;
}
