//! `dpop-proof`: makes DPoP proofs from the command line, for trying DPoP
//! with curl (see the README).
//!
//! ```text
//! dpop-proof keygen --key dpop.key                 # prints the key's jkt
//! dpop-proof proof --key dpop.key --method GET --url http://127.0.0.1:9090/api/hello --token "$AT"
//! ```
//!
//! For trying things out only: the key file is an unencrypted PKCS#8 key.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};

/// Make DPoP (RFC 9449) keys and proofs.
#[derive(Debug, Parser)]
#[command(name = "dpop-proof", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a P-256 key, write it to --key, print its RFC 7638 thumbprint.
    Keygen {
        /// Where to write the key (PKCS#8 DER).
        #[arg(long)]
        key: PathBuf,
    },
    /// Print a proof for one request.
    Proof {
        /// The key file made by `keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The request's HTTP method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The request's URL.
        #[arg(long)]
        url: String,
        /// The access token sent with the request (adds `ath`).
        #[arg(long)]
        token: Option<String>,
        /// A nonce the server handed out in `DPoP-Nonce`.
        #[arg(long)]
        nonce: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Keygen { key } => {
            let k = DpopKey::generate(DpopAlg::ES256)?;
            std::fs::write(&key, k.pkcs8_der())
                .with_context(|| format!("cannot write {}", key.display()))?;
            println!("{}", k.jkt());
        }
        Command::Proof {
            key,
            method,
            url,
            token,
            nonce,
        } => {
            let der =
                std::fs::read(&key).with_context(|| format!("cannot read {}", key.display()))?;
            let k = DpopKey::from_pkcs8(DpopAlg::ES256, &der)?;
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
            let mut claims = ProofClaims::new(&method, &url, i64::try_from(now)?);
            if let Some(t) = token {
                claims = claims.access_token(&t);
            }
            if let Some(n) = nonce {
                claims = claims.nonce(&n);
            }
            println!("{}", k.proof(&claims)?);
        }
    }
    Ok(())
}
