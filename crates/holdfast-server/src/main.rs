//! The `holdfast` binary: see [`holdfast_server::cli`].

use std::process::ExitCode;

// Every request allocates and frees many small buffers (HTTP, JSON, SQL
// rows); glibc's malloc spent about a tenth of the server's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    holdfast_server::cli::main().await
}
