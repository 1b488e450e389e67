//! SQL of [`AccountStore`](crate::AccountStore): registration and the
//! mailed single-use tokens.

use holdfast_core::self_service::Purpose;

use super::mail::queue_mail_in;
use super::tx::insert_event;
use super::users::{insert_user_in, set_password_in};
use super::{BEGIN_WRITE, Db, ThisStore};
use crate::accounts::{AccountTokenRecord, NewAccount, Redeem};
use crate::{AuditEvent, OutgoingMail};

#[derive(sqlx::FromRow)]
struct TokenRow {
    digest: String,
    tenant_id: String,
    user_id: String,
    purpose: String,
    email: String,
    code_digest: Option<String>,
    code_failures: i64,
    continuation: Option<String>,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
}

impl TryFrom<TokenRow> for AccountTokenRecord {
    type Error = crate::StoreError;
    fn try_from(r: TokenRow) -> Result<Self, Self::Error> {
        Ok(Self {
            purpose: r.purpose.parse().map_err(crate::StoreError::Corrupt)?,
            digest: r.digest,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            email: r.email,
            code_digest: r.code_digest,
            code_failures: r.code_failures,
            continuation: r.continuation,
            created_at: r.created_at,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
        })
    }
}

/// Spends the user's unspent tokens of `purpose`, then stores `t`.
async fn insert_token_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    t: &AccountTokenRecord,
) -> crate::StoreResult<()> {
    sqlx::query(
        "UPDATE account_tokens SET consumed_at = $4
         WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3 AND consumed_at IS NULL",
    )
    .bind(&t.tenant_id)
    .bind(&t.user_id)
    .bind(t.purpose.as_str())
    .bind(t.created_at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO account_tokens (digest, tenant_id, user_id, purpose, email, code_digest,
            code_failures, continuation, created_at, expires_at, consumed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&t.digest)
    .bind(&t.tenant_id)
    .bind(&t.user_id)
    .bind(t.purpose.as_str())
    .bind(&t.email)
    .bind(&t.code_digest)
    .bind(t.code_failures)
    .bind(&t.continuation)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.consumed_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::conflict_or(e, "account token"))?;
    Ok(())
}

async fn queue_all_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    mail: &[OutgoingMail],
) -> crate::StoreResult<()> {
    for m in mail {
        queue_mail_in(tx, m).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl crate::AccountStore for ThisStore {
    async fn register_user(
        &self,
        account: &NewAccount<'_>,
        token: Option<&AccountTokenRecord>,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> crate::StoreResult<holdfast_core::user::User> {
        self.fill_username_skeletons(Some(account.tenant_id))
            .await?;
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let user = insert_user_in(&mut tx, account).await?;
        if let Some(token) = token {
            insert_token_in(&mut tx, token).await?;
        }
        queue_all_in(&mut tx, mail).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn issue_account_token(
        &self,
        token: &AccountTokenRecord,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        insert_token_in(&mut tx, token).await?;
        queue_all_in(&mut tx, mail).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_token(
        &self,
        tenant_id: &str,
        digest: &str,
    ) -> crate::StoreResult<Option<AccountTokenRecord>> {
        sqlx::query_as::<_, TokenRow>(
            "SELECT * FROM account_tokens WHERE tenant_id = $1 AND digest = $2",
        )
        .bind(tenant_id)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn newest_account_token(
        &self,
        tenant_id: &str,
        user_id: &str,
        purpose: Purpose,
    ) -> crate::StoreResult<Option<AccountTokenRecord>> {
        sqlx::query_as::<_, TokenRow>(
            "SELECT * FROM account_tokens WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3
             ORDER BY created_at DESC, consumed_at IS NULL DESC LIMIT 1",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(TryInto::try_into)
        .transpose()
    }

    async fn account_code_failed(&self, tenant_id: &str, digest: &str) -> crate::StoreResult<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE account_tokens SET code_failures = code_failures + 1
             WHERE tenant_id = $1 AND digest = $2 RETURNING code_failures",
        )
        .bind(tenant_id)
        .bind(digest)
        .fetch_optional(&mut *self.write_conn().await?)
        .await?;
        row.map(|(n,)| n)
            .ok_or(crate::StoreError::NotFound("account token"))
    }

    async fn redeem_account_token(
        &self,
        tenant_id: &str,
        digest: &str,
        now: i64,
        change: Redeem<'_>,
        mail: &[OutgoingMail],
        audit: &AuditEvent,
    ) -> crate::StoreResult<holdfast_core::user::User> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        // The spend decides: of two uses at once, one finds it spent.
        let spent: Option<(String, String)> = sqlx::query_as(
            "UPDATE account_tokens SET consumed_at = $3
             WHERE tenant_id = $1 AND digest = $2 AND consumed_at IS NULL AND expires_at > $3
                AND code_failures < $4
             RETURNING user_id, email",
        )
        .bind(tenant_id)
        .bind(digest)
        .bind(now)
        .bind(holdfast_core::self_service::MAX_CODE_FAILURES)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, email)) = spent else {
            return Err(crate::StoreError::NotFound("account token"));
        };
        if let Redeem::SetPassword { password_hash } = change {
            set_password_in(&mut tx, tenant_id, &user_id, password_hash, now).await?;
        }
        // Either way the mail reached its owner: the address is verified.
        sqlx::query(
            "UPDATE users SET email = $3, email_verified_at = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(&user_id)
        .bind(&email)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        queue_all_in(&mut tx, mail).await?;
        insert_event(&mut tx, audit).await?;
        let user = sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(&user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(crate::StoreError::NotFound("user"))?;
        tx.commit().await?;
        Ok(crate::UserRecord::from(user).user)
    }

    async fn users_by_email(
        &self,
        tenant_id: &str,
        email: &str,
    ) -> crate::StoreResult<Vec<holdfast_core::user::User>> {
        Ok(sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)
             ORDER BY created_at, id LIMIT 20",
        )
        .bind(tenant_id)
        .bind(email)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| crate::UserRecord::from(r).user)
        .collect())
    }

    async fn set_display_name(
        &self,
        tenant_id: &str,
        id: &str,
        display_name: Option<&str>,
        audit: &AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done =
            sqlx::query("UPDATE users SET display_name = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .bind(display_name)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("user"));
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
