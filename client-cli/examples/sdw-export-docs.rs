//! `sdw-export-docs OUT_DIR`: writes what the `sdw-client` package ships for
//! `sdw-export` besides the binary, from the clap definition the binary parses
//! its arguments with (its own source file), so the two cannot drift:
//! `OUT_DIR/man/` (one page per command and subcommand, clap_mangen) and
//! `OUT_DIR/completions/` (`sdw-export.bash`, `_sdw-export`, `sdw-export.fish`,
//! clap_complete). Run by `scripts/package`; a build tool, never shipped. The
//! output depends on nothing but the definition (no date, no environment).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// The binary's command line, compiled from its own file; only the clap
/// definition is used here.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: sdw-export-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match write(Path::new(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdw-export-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(out: &Path) -> std::io::Result<()> {
    let man = fresh_dir(&out.join("man"))?;
    let completions = fresh_dir(&out.join("completions"))?;
    clap_mangen::generate_to(cli::Cli::command(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cli::Cli::command(), "sdw-export", &completions)?;
    }
    Ok(())
}

/// `dir`, emptied of what an earlier run left.
fn fresh_dir(dir: &Path) -> std::io::Result<PathBuf> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}
