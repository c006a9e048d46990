//! `sdw-admin`: validate, plan, apply, check and uninstall SecureDrop Workstation in dom0.

fn main() -> std::process::ExitCode {
    sdw_provision::cli::run()
}
