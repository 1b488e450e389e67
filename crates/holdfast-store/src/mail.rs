//! Outgoing mail: the [`MailStore`] capability (SQL in `sql/mail.rs`).
//!
//! Messages are queued in the store, in the transaction of the change that
//! causes them when there is one (`sql::mail::queue_mail_in`), and sent by
//! the server's mail worker: an SMTP outage delays mail but loses none,
//! and a claim (moving `next_attempt_at` forward) keeps two nodes from
//! sending one message at once.

use async_trait::async_trait;

use crate::StoreResult;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Unique id (UUIDv7); also the message's `Message-ID` local part.
    pub id: String,
    /// Tenant the message is about.
    pub tenant_id: String,
    /// The address it goes to.
    pub recipient: String,
    /// `Subject`.
    pub subject: String,
    /// The text/plain body.
    pub text_body: String,
    /// The text/html body.
    pub html_body: String,
    /// When it was queued, Unix seconds.
    pub created_at: i64,
}

/// A queued message and how its sending went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    /// The message.
    pub mail: OutgoingMail,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it was handed over, if it was.
    pub sent_at: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// What waits in an outbox, for the operator's gauges: how many entries,
/// and when the oldest was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct Backlog {
    /// Entries waiting.
    pub depth: i64,
    /// When the oldest of them was queued (`None` when there is none).
    pub oldest_at: Option<i64>,
}

/// Outgoing mail.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Queues a message on its own (no other change goes with it).
    async fn queue_mail(&self, mail: &OutgoingMail) -> StoreResult<()>;
    /// Claims up to `limit` unsent messages due at `now` until `claim_until`.
    async fn due_mail(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<MailRecord>>;
    /// The message was handed to the SMTP server.
    async fn mail_sent(&self, id: &str, now: i64) -> StoreResult<()>;
    /// Sending failed: try again at `next_attempt_at`.
    async fn mail_failed(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Messages queued for `recipient`, newest first (for tests and
    /// operators: what was sent, or is waiting).
    async fn mail_to(&self, tenant_id: &str, recipient: &str) -> StoreResult<Vec<MailRecord>>;
    /// The unsent mail, all tenants.
    async fn mail_backlog(&self) -> StoreResult<Backlog>;
}
