//! Mail through a real SMTP server on loopback (issue 14): a message is
//! queued with the change that causes it (here an administrator's
//! password change, which sends the user a notice), sent by the running
//! server's worker through `smtp_url`, and kept until the SMTP server takes
//! it: while none listens, it waits and is retried, and nothing is lost.
//! Without `smtp_url`, it is written as an `.eml` file under the data
//! directory's `outbox/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use holdfast_server::config::{MailConfig, ServerConfig, SmtpUrl};
use holdfast_testkit::{Backend, SmtpSink, TestServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

macro_rules! on_both_backends_with_mail {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(holdfast_testkit::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(holdfast_testkit::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both_backends_with_mail!(
    an_admin_password_change_mails_the_user_a_notice_through_smtp,
    mail_queued_while_the_smtp_server_is_down_is_sent_once_it_is_up,
    without_smtp_url_mail_is_written_as_eml_files_in_the_outbox,
);

async fn server_with(backend: Backend, smtp_url: Option<String>) -> Option<TestServer> {
    TestServer::start_with(
        backend,
        ServerConfig {
            mail: MailConfig {
                smtp_url: smtp_url.map(SmtpUrl),
                from: "Acme Accounts <no-reply@acme.example>".into(),
                ..MailConfig::default()
            },
            ..ServerConfig::default()
        },
    )
    .await
}

/// A tenant `acme` named "Acme Corp" and a user `alice` with an address;
/// then the administrator sets alice's password (which mails her).
fn change_alices_password(server: &TestServer) -> Value {
    server.cli(
        BIN,
        &["tenant", "create", "acme", "--name", "Acme Corp"],
        "",
    );
    server.cli(
        BIN,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        "lunar kettle 9\n",
    );
    server.cli(
        BIN,
        &[
            "user",
            "set-password",
            "--tenant",
            "acme",
            "--user",
            "alice",
            "--password-stdin",
        ],
        "a different kettle\n",
    )
}

/// Waits (at most 20 s) until alice's queued mail satisfies `done`; it.
async fn alices_mail_once(
    server: &TestServer,
    done: impl Fn(&holdfast_store::MailRecord) -> bool,
) -> holdfast_store::MailRecord {
    let slug = holdfast_core::tenant::TenantSlug::parse("acme").unwrap();
    let tenant = server
        .state
        .store
        .tenant_by_slug(&slug)
        .await
        .unwrap()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let queued = server
            .state
            .store
            .mail_to(&tenant.id, "alice@example.com")
            .await
            .unwrap();
        assert!(queued.len() <= 1, "one message: {queued:?}");
        if let Some(m) = queued.into_iter().next().filter(|m| done(m)) {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mail never got there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn an_admin_password_change_mails_the_user_a_notice_through_smtp(backend: Backend) {
    let smtp = SmtpSink::start();
    let Some(server) = server_with(backend, Some(smtp.url.clone())).await else {
        return;
    };
    change_alices_password(&server);
    let mail = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(m.from, "no-reply@acme.example");
    assert_eq!(m.to, ["alice@example.com"]);
    assert!(
        m.data
            .contains("Subject: Your Acme Corp password was changed"),
        "{}",
        m.data
    );
    assert!(
        m.data.contains("multipart/alternative"),
        "text and HTML bodies"
    );
    assert!(m.data.contains("signed out"), "{}", m.data);
    assert!(!m.data.contains("kettle"), "the password is never mailed");
    // Marked sent in the store.
    alices_mail_once(&server, |m| m.sent_at.is_some()).await;
    // A sent message is out of every later claim.
    assert_eq!(smtp.received().len(), 1, "sent once");
}

async fn mail_queued_while_the_smtp_server_is_down_is_sent_once_it_is_up(backend: Backend) {
    // A port nobody listens on, for now.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let Some(server) = server_with(backend, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    change_alices_password(&server);
    let failed = alices_mail_once(&server, |m| m.attempts >= 1).await;
    assert_eq!(failed.sent_at, None);
    assert!(failed.last_error.is_some());
    // The SMTP server comes up on that port; the retry after the backoff
    // delivers the message.
    let smtp = SmtpSink::on(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    server.clock.advance(5);
    let mail = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mail[0].to, ["alice@example.com"]);
}

async fn without_smtp_url_mail_is_written_as_eml_files_in_the_outbox(backend: Backend) {
    let Some(server) = server_with(backend, None).await else {
        return;
    };
    change_alices_password(&server);
    let outbox = server.db.dir.join("outbox");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let file = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        });
        if let Some(f) = found {
            break f.path();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let eml = std::fs::read_to_string(file).unwrap();
    assert!(eml.contains("To: alice@example.com"), "{eml}");
    assert!(
        eml.contains("From: \"Acme Accounts\" <no-reply@acme.example>")
            || eml.contains("From: Acme Accounts <no-reply@acme.example>"),
        "{eml}"
    );
    assert!(
        eml.contains("Subject: Your Acme Corp password was changed"),
        "{eml}"
    );
}
