//! `holdfast-example-resource-server`: the example API, configured by flags
//! or environment. See this crate's README for a walk-through against a
//! running Holdfast.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use holdfast_crypto::secret::SecretString;
use holdfast_example_resource_server::{AppConfig, app, run};
use holdfast_verify::Verifier;
use holdfast_verify::feed::RevocationFeed;
use url::Url;

/// An example API protected by holdfast-verify.
#[derive(Debug, Parser)]
#[command(name = "holdfast-example-resource-server", version, about)]
struct Args {
    /// The token issuer: a Holdfast tenant, `{public_url}/t/{slug}`.
    #[arg(long, env = "RS_ISSUER")]
    issuer: String,
    /// The audience tokens must name [default: the public URL]. Get tokens
    /// for it with `resource={public URL}` at the authorization (challenge)
    /// endpoint, or pass the issuer here to accept the tenant's default.
    #[arg(long, env = "RS_AUDIENCE")]
    audience: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "RS_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// The URL clients use to reach this API (DPoP proofs' `htu` is checked
    /// against it) [default: http://{listen}].
    #[arg(long, env = "RS_PUBLIC_URL")]
    public_url: Option<Url>,
    /// `/api/sensitive` needs a login at most this many seconds old.
    #[arg(long, env = "RS_STEP_UP_MAX_AGE", default_value_t = 300)]
    step_up_max_age: u64,
    /// `DELETE /api/records/{id}` needs a two-factor login at most this many
    /// seconds old.
    #[arg(long, env = "RS_CRITICAL_MAX_AGE", default_value_t = 300)]
    critical_max_age: u64,
    /// The confidential client (scope `ssf`, client credentials) this API
    /// follows the tenant's revocation feed as.
    #[arg(
        long,
        env = "RS_FEED_CLIENT_ID",
        required_unless_present = "no_revocation_feed"
    )]
    feed_client_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "RS_FEED_CLIENT_SECRET", hide_env_values = true)]
    feed_client_secret: Option<String>,
    /// Where the feed journals what it applied, so a restart keeps refusing
    /// what was revoked before it [default: memory only].
    #[arg(long, env = "RS_FEED_STATE_FILE")]
    feed_state_file: Option<std::path::PathBuf>,
    /// Receive the feed by RFC 8935 push at this URL instead of polling:
    /// a URL on this API's public address (e.g. `{public_url}/ssf/events`)
    /// that Holdfast can reach, https unless on localhost [default: poll].
    #[arg(long, env = "RS_FEED_PUSH_URL")]
    feed_push_url: Option<Url>,
    /// Accept tokens while the feed is unreachable (fail open) instead of
    /// answering 503 (fail closed, the default).
    #[arg(long, env = "RS_FEED_FAIL_OPEN")]
    feed_fail_open: bool,
    /// Do not follow the revocation feed: revoked sessions' tokens are then
    /// accepted until they expire.
    #[arg(long, env = "RS_NO_REVOCATION_FEED", conflicts_with = "feed_client_id")]
    no_revocation_feed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RS_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,holdfast_verify=debug")
            }),
        )
        .init();
    let args = Args::parse();
    let public_url = match args.public_url {
        Some(url) => url,
        None => Url::parse(&format!("http://{}", args.listen)).context("public URL")?,
    };
    let audience = args
        .audience
        .unwrap_or_else(|| public_url.as_str().trim_end_matches('/').to_owned());
    let mut builder = Verifier::builder(args.issuer.clone())
        .audience(audience.clone())
        .realm("holdfast-example")
        .public_base_url(public_url.clone());
    let mut push_router = None;
    if let Some(client_id) = &args.feed_client_id {
        let secret = args.feed_client_secret.clone().context(
            "--feed-client-secret (RS_FEED_CLIENT_SECRET) is required with --feed-client-id",
        )?;
        let mut feed =
            RevocationFeed::builder(args.issuer.clone(), client_id, SecretString::new(&secret))
                .fail_open(args.feed_fail_open);
        if let Some(path) = &args.feed_state_file {
            feed = feed.state_file(path.clone());
        }
        if let Some(url) = &args.feed_push_url {
            feed = feed.push(url.clone());
        }
        let feed = feed
            .start()
            .await
            .with_context(|| format!("cannot follow the revocation feed of {}", args.issuer))?;
        tracing::info!(stream = ?feed.stats().stream_id, push = ?feed.push_path(), "following the revocation feed");
        push_router = feed.push_router();
        builder = builder.revocation_check(feed);
    }
    let verifier = builder.build()?;
    // Fail at start-up, not on the first request, if the issuer is wrong.
    verifier
        .warm_up()
        .await
        .with_context(|| format!("cannot fetch discovery and keys from {}", args.issuer))?;
    let config = AppConfig {
        step_up_max_age: Duration::from_secs(args.step_up_max_age),
        critical_max_age: Duration::from_secs(args.critical_max_age),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        issuer = %args.issuer, %audience, %public_url,
        "example resource server listening on {}", args.listen
    );
    let mut routes = app(&verifier, &config);
    if let Some(push) = push_router {
        routes = routes.merge(push);
    }
    run(listener, routes, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
