//! The `holdfast` binary: see [`holdfast_server::cli`].

use std::process::ExitCode;

use clap::Parser;
use holdfast_server::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
