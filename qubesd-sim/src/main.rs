//! `qubesd-sim`: a protocol-faithful Qubes Admin API server for tests and dry runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Serve the Qubes Admin API for a simulated Qubes OS 4.3 system.
#[derive(Debug, Parser)]
#[command(name = "qubesd-sim", version)]
struct Args {
    /// Unix socket to listen on (use it as `sdw-admin --qubesd-socket`).
    #[arg(long)]
    socket: PathBuf,
    /// Load the system from FILE if it exists (else a stock system) and save it after each change.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match qubesd_sim::server::Server::bind(&args.socket, args.state).and_then(|s| s.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qubesd-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
