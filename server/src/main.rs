//! `patchport`: serve the portal, migrate, manage users, or run the demo.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = patchport::cli::Cli::parse();
    patchport::cli::init_tracing();
    match patchport::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
