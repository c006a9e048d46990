//! `sdw-export`: export files to an encrypted USB drive or print them, from
//! sd-app, through the device qubes. See `docs/client.md`.
#![forbid(unsafe_code)]

mod cli;
mod neutral;
mod passphrase;
mod progress;
mod report;
mod run;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse().check().unwrap_or_else(|e| e.exit());
    std::process::ExitCode::from(run::run(cli))
}
