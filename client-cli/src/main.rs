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
    std::process::ExitCode::from(run::run(cli::Cli::parse()))
}
