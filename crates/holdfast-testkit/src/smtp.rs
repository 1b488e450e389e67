//! A real SMTP server on loopback ([`mailin_embedded`]) that keeps every
//! message it is given, for tests of the mail Holdfast sends.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// A message as the SMTP server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`s.
    pub to: Vec<String>,
    /// The message (headers and body) as sent after `DATA`.
    pub data: String,
}

#[derive(Clone)]
struct Collect {
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
    current: Option<(String, Vec<String>, Vec<u8>)>,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some((from.to_owned(), to.to_vec(), Vec::new()));
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some((_, _, data)) = &mut self.current {
            data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some((from, to, data)) = self.current.take()
            && let Ok(mut received) = self.received.lock()
        {
            received.push(ReceivedMail {
                from,
                to,
                data: String::from_utf8_lossy(&data).into_owned(),
            });
            let _ = self.tx.send(());
        }
        response::OK
    }
}

/// A running SMTP server; it serves until the test process ends.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:PORT`, for `smtp_url`.
    pub url: String,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<()>>,
}

impl SmtpSink {
    /// Starts a server on a free loopback port.
    ///
    /// # Panics
    /// When no port can be bound.
    #[allow(clippy::expect_used)]
    pub fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").expect("bind an SMTP port"))
    }

    /// Starts a server on `listener` (to take over a port a test chose).
    ///
    /// # Panics
    /// When the listener's address cannot be read.
    #[allow(clippy::expect_used)]
    pub fn on(listener: TcpListener) -> Self {
        let port = listener.local_addr().expect("SMTP address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let handler = Collect {
            received: Arc::clone(&received),
            tx,
            current: None,
        };
        std::thread::spawn(move || {
            let mut server = Server::new(handler);
            server.with_name("smtp.test").with_tcp_listener(listener);
            // Plain SMTP on loopback: no STARTTLS offered.
            if server.with_ssl(SslConfig::None).is_ok() {
                let _ = server.serve();
            }
        });
        Self {
            url: format!("smtp://127.0.0.1:{port}"),
            received,
            arrived: tokio::sync::Mutex::new(rx),
        }
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` messages arrived (at most `within`); all of
    /// them.
    ///
    /// # Panics
    /// When they do not arrive in time.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        let mut arrived = self.arrived.lock().await;
        loop {
            let now = self.received();
            if now.len() >= n {
                return now;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                tokio::time::timeout(left, arrived.recv()).await.is_ok(),
                "{n} message(s) expected, {} arrived",
                now.len()
            );
        }
    }
}
