//! `sdw-admin-docs OUT_DIR`: writes the man pages the `sdw-admin` RPM ships to
//! `OUT_DIR/man/` (one page per command and subcommand, clap_mangen), from the
//! clap definition `sdw-admin` parses its arguments with, so the two cannot
//! drift. Run by `scripts/package`; a build tool, never shipped. The output
//! depends on nothing but the definition (no date, no environment).

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

/// The binary's command line, compiled from its own file; only the clap
/// definition is used here.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "../src/configure.rs"]
mod configure;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: sdw-admin-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match write(Path::new(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdw-admin-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    match std::fs::remove_dir_all(&man) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cli::Cli::command(), &man)
}
