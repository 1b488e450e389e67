//! SQL of [`MailStore`](crate::MailStore): the mail outbox.

use super::{BEGIN_WRITE, Db, ThisStore};
use crate::mail::{MailRecord, OutgoingMail};

const INSERT_MAIL: &str = "INSERT INTO mail_outbox
    (id, tenant_id, recipient, subject, text_body, html_body, created_at, next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";

const ANY_MAIL_DUE: &str =
    "SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1)";

const CLAIM_MAIL: &str = "UPDATE mail_outbox SET next_attempt_at = $2
     WHERE sent_at IS NULL AND next_attempt_at <= $1 AND id IN (
         SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $3)
     RETURNING id, tenant_id, recipient, subject, text_body, html_body, created_at,
         attempts, sent_at, last_error";

#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    tenant_id: String,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
    attempts: i64,
    sent_at: Option<i64>,
    last_error: Option<String>,
}

impl From<MailRow> for MailRecord {
    fn from(r: MailRow) -> Self {
        Self {
            mail: OutgoingMail {
                id: r.id,
                tenant_id: r.tenant_id,
                recipient: r.recipient,
                subject: r.subject,
                text_body: r.text_body,
                html_body: r.html_body,
                created_at: r.created_at,
            },
            attempts: r.attempts,
            sent_at: r.sent_at,
            last_error: r.last_error,
        }
    }
}

/// Queues `mail` inside the caller's transaction, so the message exists
/// exactly when the change that causes it does.
pub(crate) async fn queue_mail_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    mail: &OutgoingMail,
) -> crate::StoreResult<()> {
    sqlx::query(INSERT_MAIL)
        .bind(&mail.id)
        .bind(&mail.tenant_id)
        .bind(&mail.recipient)
        .bind(&mail.subject)
        .bind(&mail.text_body)
        .bind(&mail.html_body)
        .bind(mail.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::MailStore for ThisStore {
    async fn queue_mail(&self, mail: &OutgoingMail) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        queue_mail_in(&mut tx, mail).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn due_mail(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
    ) -> crate::StoreResult<Vec<MailRecord>> {
        if !self.anything_due(ANY_MAIL_DUE, now).await? {
            return Ok(Vec::new());
        }
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let rows: Vec<MailRow> = sqlx::query_as(CLAIM_MAIL)
            .bind(now)
            .bind(claim_until)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn mail_sent(&self, id: &str, now: i64) -> crate::StoreResult<()> {
        sqlx::query("UPDATE mail_outbox SET sent_at = $2, last_error = NULL WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn mail_failed(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> crate::StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
             WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    async fn mail_to(
        &self,
        tenant_id: &str,
        recipient: &str,
    ) -> crate::StoreResult<Vec<MailRecord>> {
        let rows: Vec<MailRow> = sqlx::query_as(
            "SELECT id, tenant_id, recipient, subject, text_body, html_body, created_at,
                 attempts, sent_at, last_error
             FROM mail_outbox WHERE tenant_id = $1 AND recipient = $2
             ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant_id)
        .bind(recipient)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn mail_backlog(&self) -> crate::StoreResult<crate::Backlog> {
        Ok(sqlx::query_as::<_, crate::Backlog>(
            "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest_at
             FROM mail_outbox WHERE sent_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}
