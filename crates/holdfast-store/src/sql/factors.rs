//! SQL of [`FactorStore`](crate::FactorStore): TOTP secrets, recovery
//! codes and passkeys.

use super::mail::queue_mail_in;
use super::tx::insert_event;
use super::{BEGIN_WRITE, Db, ThisStore};
use crate::factors::{PasskeyRecord, TotpRecord};
use crate::{AuditEvent, OutgoingMail};

#[derive(sqlx::FromRow)]
struct TotpRow {
    tenant_id: String,
    user_id: String,
    sealed_secret: String,
    confirmed_at: Option<i64>,
    last_step: i64,
    created_at: i64,
}

impl From<TotpRow> for TotpRecord {
    fn from(r: TotpRow) -> Self {
        Self {
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            sealed_secret: r.sealed_secret,
            confirmed_at: r.confirmed_at,
            last_step: r.last_step,
            created_at: r.created_at,
        }
    }
}

async fn replace_codes_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    user_id: &str,
    digests: &[String],
    now: i64,
) -> crate::StoreResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for digest in digests {
        sqlx::query(
            "INSERT INTO recovery_codes (tenant_id, user_id, digest, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| crate::conflict_or(e, "recovery code"))?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    tenant_id: String,
    credential_id: String,
    user_id: String,
    name: String,
    credential: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for PasskeyRecord {
    fn from(r: PasskeyRow) -> Self {
        Self {
            tenant_id: r.tenant_id,
            credential_id: r.credential_id,
            user_id: r.user_id,
            name: r.name,
            credential: r.credential,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[async_trait::async_trait]
impl crate::FactorStore for ThisStore {
    async fn totp_factor(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> crate::StoreResult<Option<TotpRecord>> {
        let row: Option<TotpRow> =
            sqlx::query_as("SELECT * FROM totp_factors WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn put_pending_totp(&self, r: &TotpRecord) -> crate::StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO totp_factors (tenant_id, user_id, sealed_secret, confirmed_at, last_step, created_at)
             VALUES ($1, $2, $3, NULL, 0, $4)
             ON CONFLICT (tenant_id, user_id) DO UPDATE
                SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at
                WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(&r.tenant_id)
        .bind(&r.user_id)
        .bind(&r.sealed_secret)
        .bind(r.created_at)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| crate::conflict_or(e, "user"))?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::Conflict("confirmed TOTP factor"));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn confirm_totp(
        &self,
        tenant_id: &str,
        user_id: &str,
        step: i64,
        recovery_digests: &[String],
        now: i64,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $3, last_step = $4
             WHERE tenant_id = $1 AND user_id = $2 AND confirmed_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        replace_codes_in(&mut tx, tenant_id, user_id, recovery_digests, now).await?;
        insert_event(&mut tx, audit).await?;
        if let Some(mail) = mail {
            queue_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn spend_totp_step(
        &self,
        tenant_id: &str,
        user_id: &str,
        step: i64,
    ) -> crate::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $3
             WHERE tenant_id = $1 AND user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $3",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(step)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn spend_recovery_code(
        &self,
        tenant_id: &str,
        user_id: &str,
        digest: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $4
             WHERE tenant_id = $1 AND user_id = $2 AND digest = $3 AND used_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        tenant_id: &str,
        user_id: &str,
        digests: &[String],
        now: i64,
        audit: &AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        replace_codes_in(&mut tx, tenant_id, user_id, digests, now).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recovery_codes_left(&self, tenant_id: &str, user_id: &str) -> crate::StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes
             WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn remove_totp(
        &self,
        tenant_id: &str,
        user_id: &str,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query("DELETE FROM totp_factors WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        replace_codes_in(&mut tx, tenant_id, user_id, &[], 0).await?;
        insert_event(&mut tx, audit).await?;
        if let Some(mail) = mail {
            queue_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn add_passkey(
        &self,
        r: &PasskeyRecord,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO passkeys (tenant_id, credential_id, user_id, name, credential, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&r.tenant_id)
        .bind(&r.credential_id)
        .bind(&r.user_id)
        .bind(&r.name)
        .bind(&r.credential)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| crate::conflict_or(e, "passkey"))?;
        insert_event(&mut tx, audit).await?;
        if let Some(mail) = mail {
            queue_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn passkeys(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> crate::StoreResult<Vec<PasskeyRecord>> {
        let rows: Vec<PasskeyRow> = sqlx::query_as(
            "SELECT * FROM passkeys WHERE tenant_id = $1 AND user_id = $2
             ORDER BY created_at, credential_id",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn passkey(
        &self,
        tenant_id: &str,
        credential_id: &str,
    ) -> crate::StoreResult<Option<PasskeyRecord>> {
        let row: Option<PasskeyRow> =
            sqlx::query_as("SELECT * FROM passkeys WHERE tenant_id = $1 AND credential_id = $2")
                .bind(tenant_id)
                .bind(credential_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn passkey_used(
        &self,
        tenant_id: &str,
        credential_id: &str,
        read: &str,
        credential: &str,
        now: i64,
    ) -> crate::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE passkeys SET credential = $4, last_used_at = $5
             WHERE tenant_id = $1 AND credential_id = $2 AND credential = $3",
        )
        .bind(tenant_id)
        .bind(credential_id)
        .bind(read)
        .bind(credential)
        .bind(now)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rename_passkey(
        &self,
        tenant_id: &str,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> crate::StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE passkeys SET name = $4
             WHERE tenant_id = $1 AND user_id = $2 AND credential_id = $3",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(credential_id)
        .bind(name)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_passkey(
        &self,
        tenant_id: &str,
        user_id: &str,
        credential_id: &str,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query(
            "DELETE FROM passkeys WHERE tenant_id = $1 AND user_id = $2 AND credential_id = $3",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(credential_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, audit).await?;
        if let Some(mail) = mail {
            queue_mail_in(&mut tx, mail).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
