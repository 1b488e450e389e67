//! `holdfast-example-resource-server`: the example API, configured by flags
//! or environment. See this crate's README for a walk-through against a
//! running Holdfast.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use holdfast_example_resource_server::{AppConfig, app, run};
use holdfast_verify::Verifier;
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
    let verifier = Verifier::builder(args.issuer.clone())
        .audience(audience.clone())
        .realm("holdfast-example")
        .public_base_url(public_url.clone())
        .build()?;
    // Fail at start-up, not on the first request, if the issuer is wrong.
    verifier
        .warm_up()
        .await
        .with_context(|| format!("cannot fetch discovery and keys from {}", args.issuer))?;
    let config = AppConfig {
        step_up_max_age: Duration::from_secs(args.step_up_max_age),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        issuer = %args.issuer, %audience, %public_url,
        "example resource server listening on {}", args.listen
    );
    run(listener, app(&verifier, &config), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
