//! Mail: the messages Holdfast sends and the worker every node runs to
//! send them.
//!
//! A message is queued in the store's outbox (`holdfast_store::mail`) in
//! the transaction of the change that causes it, so it exists exactly when
//! the change does. Each node's worker claims what is due (so two nodes
//! never send one message at once), hands it to the SMTP server named by
//! `smtp_url` (lettre, RFC 5321; `smtps://` is implicit TLS, `smtp://` with
//! `?tls=required` is STARTTLS) or, without one, writes it as an RFC 5322
//! `.eml` file into `{data dir}/outbox`, and marks it sent. A failure is
//! retried with backoff (1 s, 2 s, 4 s … at most 30 minutes): an SMTP outage
//! delays mail but loses none. Bodies never go to the log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_store::{MailRecord, OutgoingMail};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::config::MailConfig;
use crate::state::AppState;

/// How often a node looks for due mail.
pub const ROUND: Duration = Duration::from_millis(500);
/// Messages claimed per round.
pub const BATCH: i64 = 20;
/// Timeout of one SMTP conversation.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a claimed message is this node's before another may try:
/// longer than a whole batch sent one by one at the timeout, so a slow
/// relay cannot make a second node send the same messages.
pub const CLAIM_SECS: i64 = BATCH * SMTP_TIMEOUT.as_secs() as i64 + 60;

/// Seconds to wait after the `attempts`-th failure: 1, 2, 4 … at most 1800.
pub fn backoff_secs(attempts: i64) -> i64 {
    (1_i64 << attempts.clamp(0, 11)).min(1800)
}

/// The notice that a user's password changed (issue 14: "a reset revokes
/// every session of the user and sends a notice"); `None` when the user
/// has no email address.
pub fn password_changed(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    by_admin: bool,
) -> Option<OutgoingMail> {
    let recipient = user.email.clone()?;
    let context = json!({
        "tenant_name": tenant.display_name,
        "username": user.username,
        "by_admin": by_admin,
    });
    let subject = format!("Your {} password was changed", tenant.display_name);
    compose(
        state,
        tenant,
        recipient,
        subject,
        "password_changed",
        &context,
    )
}

/// What an account mail says: a few paragraphs, an optional button-like
/// link, an optional code, and a closing line (`mail/account.*`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccountMail {
    /// Subject line.
    pub subject: String,
    /// Whom it greets.
    pub greeting_name: String,
    /// The paragraphs before the link.
    pub paragraphs: Vec<String>,
    /// The link, if any.
    pub link: Option<String>,
    /// The link's words.
    pub link_label: String,
    /// A short code to type instead of following the link.
    pub code: Option<String>,
    /// The closing line (how long it works; what to do if unexpected).
    pub footer: String,
}

/// An account mail to `recipient` (verification, recovery, notices).
pub fn account_mail(
    state: &AppState,
    tenant: &Tenant,
    recipient: &str,
    mail: &AccountMail,
) -> Option<OutgoingMail> {
    let context = json!({ "tenant_name": tenant.display_name, "mail": mail });
    compose(
        state,
        tenant,
        recipient.to_owned(),
        mail.subject.clone(),
        "account",
        &context,
    )
}

/// Renders `mail/{template}.txt` and `.html` into a queued message; `None`
/// (logged) if a template fails.
fn compose(
    state: &AppState,
    tenant: &Tenant,
    recipient: String,
    subject: String,
    template: &str,
    context: &serde_json::Value,
) -> Option<OutgoingMail> {
    let text = crate::pages::render(&format!("mail/{template}.txt"), context);
    let html = crate::pages::render(&format!("mail/{template}.html"), context);
    match (text, html) {
        (Ok(text_body), Ok(html_body)) => Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.id.clone(),
            recipient,
            subject,
            text_body,
            html_body,
            created_at: state.now(),
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, template, "mail template failed; nothing queued");
            None
        }
    }
}

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    fn new(config: &MailConfig) -> Result<Self, String> {
        match &config.smtp_url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
                .map(|b| Transport::Smtp(b.timeout(Some(SMTP_TIMEOUT)).build()))
                .map_err(|e| format!("smtp_url: {e}")),
            None => Ok(Transport::Files(config.outbox_dir.clone())),
        }
    }

    async fn send(&self, message: Message, id: &str) -> Result<(), String> {
        match self {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::Files(dir) => write_eml(dir, id, message.formatted())
                .await
                .map_err(|e| format!("{}: {e}", dir.display())),
        }
    }
}

/// Writes `{dir}/{id}.eml` whole or not at all (a temporary file renamed).
async fn write_eml(dir: &Path, id: &str, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, dir.join(format!("{id}.eml"))).await
}

/// The RFC 5322 message for a queued mail.
fn message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// Runs the mail rounds until the task is dropped. A configuration that
/// cannot work (a bad `smtp_url` or `mail_from`) is logged once and leaves
/// mail queued.
pub async fn run(state: AppState) {
    let config = &state.config.mail;
    let from: Mailbox = match config.from.parse() {
        Ok(from) => from,
        Err(e) => {
            tracing::error!(error = %e, "mail_from is not a mailbox; mail stays queued");
            return;
        }
    };
    let transport = match Transport::new(config) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "mail cannot be sent; it stays queued");
            return;
        }
    };
    if let Transport::Files(dir) = &transport {
        tracing::info!(dir = %dir.display(), "no smtp_url: mail is written as .eml files");
    }
    let mut ticker = tokio::time::interval(ROUND);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = round(&state, &transport, &from).await {
            tracing::warn!(error = %err, "mail round failed; trying again");
        }
    }
}

/// One round: everything due now, sent one after another (mail is rare;
/// one SMTP conversation at a time is kind to the relay).
async fn round(
    state: &AppState,
    transport: &Transport,
    from: &Mailbox,
) -> Result<(), holdfast_store::StoreError> {
    let now = state.now();
    let due = state.store.due_mail(now, now + CLAIM_SECS, BATCH).await?;
    for MailRecord { mail, attempts, .. } in due {
        let sent = match message(from, &mail) {
            Ok(message) => transport.send(message, &mail.id).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {
                metrics::counter!("holdfast_mail_sent_total").increment(1);
                state.store.mail_sent(&mail.id, state.now()).await?;
            }
            Err(why) => {
                metrics::counter!("holdfast_mail_failures_total").increment(1);
                tracing::warn!(id = %mail.id, attempts, why, "sending mail failed; will retry");
                let next = now + backoff_secs(attempts);
                state.store.mail_failed(&mail.id, next, &why).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_half_an_hour() {
        let got: Vec<i64> = [0, 1, 2, 10, 11, 40].map(backoff_secs).to_vec();
        assert_eq!(got, [1, 2, 4, 1024, 1800, 1800]);
    }

    #[test]
    fn a_message_has_both_bodies_a_message_id_and_no_bare_newlines_in_headers() {
        let from: Mailbox = "Acme <no-reply@acme.example>".parse().unwrap();
        let mail = OutgoingMail {
            id: "0190-abc".into(),
            tenant_id: "t1".into(),
            recipient: "alice@example.com".into(),
            subject: "Hello\r\nBcc: evil@example.com".into(),
            text_body: "plain body".into(),
            html_body: "<p>html body</p>".into(),
            created_at: 0,
        };
        let raw = String::from_utf8(message(&from, &mail).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <0190-abc@acme.example>"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("plain body") && raw.contains("<p>html body</p>"));
        assert!(
            !raw.lines().any(|l| l.starts_with("Bcc:")),
            "a subject cannot inject a header: {raw}"
        );
        assert!(
            message(
                &from,
                &OutgoingMail {
                    recipient: "not an address".into(),
                    ..mail
                }
            )
            .is_err()
        );
    }
}
