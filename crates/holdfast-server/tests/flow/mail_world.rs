//! The world of the tests that read mail (`self_service.rs`,
//! `second_factors.rs`): a server on either store whose mail goes to a real
//! SMTP server on loopback, and the standard fixture in tenant `acme`.

use holdfast_server::config::{MailConfig, ServerConfig, SmtpUrl};
use holdfast_testkit::{Backend, SmtpSink, TestServer};

use super::Fixture;

/// The server, its mail sink and the fixture.
pub struct World {
    /// The server.
    pub server: TestServer,
    /// Where its mail goes.
    pub smtp: SmtpSink,
    /// Tenant `acme`, client `web`, user `alice`.
    pub fx: Fixture,
}

/// Runs `test` in a new [`World`] on `backend` (nothing, when the backend
/// is unavailable outside CI).
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let smtp = SmtpSink::start();
    let Some(server) = TestServer::start_with(
        backend,
        ServerConfig {
            mail: MailConfig {
                smtp_url: Some(SmtpUrl(smtp.url.clone())),
                from: "Acme Accounts <no-reply@acme.example>".into(),
                ..MailConfig::default()
            },
            ..ServerConfig::default()
        },
    )
    .await
    else {
        return;
    };
    let fx = super::fixture(&server, "acme").await;
    test(World { server, smtp, fx }).await;
}
