//! `sdw-admin`: validate, plan, apply, check and uninstall SecureDrop Workstation in dom0.
//!
//! The command line ([`cli`]) over the `sdw-provision` library.

mod cli;
mod configure;

fn main() -> std::process::ExitCode {
    cli::run()
}
