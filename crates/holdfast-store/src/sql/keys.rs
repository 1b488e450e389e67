//! SQL of [`KeyStore`](crate::KeyStore) and [`MetaStore`](crate::MetaStore).

use super::{BEGIN_WRITE, Db, ThisStore};

#[async_trait::async_trait]
impl crate::KeyStore for ThisStore {
    async fn keys(&self, tenant_id: &str) -> crate::StoreResult<Vec<crate::StoredKey>> {
        sqlx::query_as::<_, crate::rows::KeyRow>(
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
        new_next: &crate::StoredKey,
        now: i64,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        // The first statement writes, so SQLite takes its write lock
        // here and PostgreSQL locks the rows: concurrent rotations
        // serialise instead of interleaving.
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $2
             WHERE tenant_id = $1 AND alg = $3 AND state = 'current'",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(new_next.alg.as_str())
        .execute(&mut *tx)
        .await?;
        let promoted = sqlx::query(
            "UPDATE signing_keys SET state = 'current', activated_at = $2
             WHERE tenant_id = $1 AND alg = $3 AND state = 'next'",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(new_next.alg.as_str())
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() != 1 {
            return Err(crate::StoreError::NotFound("next key"));
        }
        insert_key(&mut tx, tenant_id, new_next).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_keys(&self, tenant_id: &str, keys: &[crate::StoredKey]) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        for key in keys {
            // The conflict target names the partial unique index
            // (tenant, alg, state) of live keys: a pair another
            // node committed first wins, this one is dropped.
            sqlx::query(
                "INSERT INTO signing_keys (kid, tenant_id, alg, state, private_sealed, public_jwk,
                    created_at, activated_at, retired_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (tenant_id, alg, state) WHERE state IN ('next', 'current') DO NOTHING",
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
            .execute(&mut *tx)
            .await
            .map_err(|e| crate::conflict_or(e, "signing key"))?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::MetaStore for ThisStore {
    async fn init_kek_check(&self, check: &[u8]) -> crate::StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ('kek_check', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(check)
        .execute(&mut *self.write_conn().await?)
        .await?;
        self.kek_check()
            .await?
            .ok_or(crate::StoreError::NotFound("kek check"))
    }

    async fn kek_check(&self) -> crate::StoreResult<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT value FROM meta WHERE name = 'kek_check'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(v,)| v))
    }

    async fn ping(&self) -> crate::StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Inserts a signing key inside the caller's transaction.
pub(super) async fn insert_key<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    key: &crate::StoredKey,
) -> crate::StoreResult<()> {
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
    .map_err(|e| crate::conflict_or(e, "signing key"))?;
    Ok(())
}
