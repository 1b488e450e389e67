//! The `holdfast` binary: see [`holdfast_server::cli`].

use std::process::ExitCode;

use clap::Parser;
use holdfast_server::cli::{Cli, run};

// Every request allocates and frees many small buffers (HTTP, JSON, SQL
// rows); glibc's malloc spent about a tenth of the server's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
