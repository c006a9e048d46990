//! The command line: subcommands and the global options, parsed by clap. Turns
//! the options into a transport and a client configuration; nothing here runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sdw_client::transport::{ExportService, Local, OpenInVm, Transport, DEFAULT_QREXEC_CLIENT};
use sdw_client::ClientConfig;
use sdw_protocol::print_options::{ColorMode, Copies, Media, Orientation, PageRanges, Sides};
use sdw_protocol::{PrintOptions, Redaction};

/// Export files to an encrypted USB drive, or print them, through the
/// SecureDrop Workstation device qubes.
///
/// Exit codes: 0 success; 1 the device side failed; 2 usage error (or an
/// unreadable passphrase file); 3 no usable
/// drive or printer (plug in exactly one); 4 passphrase refused or missing;
/// 5 files missing or not printable; 6 files written but the drive not cleanly
/// locked; 7 the device qube refused the archive; 8 the device qube could not
/// be reached or gave no valid answer; 130 cancelled.
#[derive(Debug, Parser)]
#[command(name = "sdw-export", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Operation,

    /// The qube to call [default: sd-devices for drives, sd-printers for printing].
    #[arg(long, global = true, value_name = "QUBE")]
    pub target: Option<String>,

    /// Print one JSON object on stdout: {"status": "<STATUS WORD>", ...}.
    #[arg(long, global = true)]
    pub json: bool,

    /// The qrexec client to run.
    #[arg(long, global = true, env = "SDW_QREXEC", value_name = "PROGRAM", default_value = DEFAULT_QREXEC_CLIENT)]
    pub qrexec: PathBuf,

    /// Use the dedicated securedrop.Export qrexec service instead of qubes.OpenInVM.
    #[arg(long, global = true, conflicts_with = "local")]
    pub service: bool,

    /// Run this device-side binary locally on the archive instead of calling a qube.
    #[arg(long, global = true, value_name = "DEVICE-BINARY")]
    pub local: Option<PathBuf>,

    /// With --local: export into this folder (`DEVICE-BINARY export ARCHIVE --to DIR`).
    #[arg(long, global = true, value_name = "DIR", requires = "local", value_parser = existing_folder)]
    pub to: Option<PathBuf>,

    /// Give up on the device qube after this many seconds
    /// [default: 180 for checks, 14400 for exports and printing].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// Log to stderr (-v: progress, -vv: everything, untrusted output truncated); without it, no log lines.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Operation {
    /// Check for an export drive (usb-test).
    Preflight,
    /// Export files to the encrypted drive (checks the drive first).
    Disk {
        /// Read the drive's passphrase from this file (`-` for stdin); without
        /// it, it is asked for on the terminal when the drive is locked.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Remove identifying metadata (EXIF/GPS, PDF authors, office document
        /// properties and comment authors) in the device qube before writing.
        /// `--redact`: files that cannot be redacted safely are exported as they
        /// are and named in REDACTION.txt on the drive; `--redact=strict`: the
        /// export then fails and nothing is written.
        #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true,
              default_missing_value = "best-effort")]
        redact: Option<RedactMode>,
        /// Put the files under export_data/NAME/ in the archive.
        #[arg(long, value_name = "NAME")]
        source_name: Option<String>,
        /// The files to export.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check for a supported printer (printer-preflight).
    PrintPreflight,
    /// Print files (checks the printer first).
    Print {
        /// Remove identifying metadata in the printer qube before the files
        /// reach CUPS and the printer (see `disk --redact`).
        #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true,
              default_missing_value = "best-effort")]
        redact: Option<RedactMode>,
        /// Put the files under export_data/NAME/ in the archive.
        #[arg(long, value_name = "NAME")]
        source_name: Option<String>,
        #[command(flatten)]
        options: PrintArgs,
        /// The files to print.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a test page (checks the printer first).
    PrintTest,
}

/// `--redact[=MODE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedactMode {
    /// `--redact`: redact what can be redacted safely, name the rest.
    BestEffort,
    /// `--redact=strict`: every file redacted, or nothing exported.
    Strict,
}

impl From<RedactMode> for Redaction {
    fn from(mode: RedactMode) -> Redaction {
        match mode {
            RedactMode::BestEffort => Redaction::BestEffort,
            RedactMode::Strict => Redaction::Strict,
        }
    }
}

/// How to print: each option set on every file's job. Without any, the
/// archive carries no `print_options` and the printer's defaults apply.
#[derive(Debug, Default, Args)]
pub struct PrintArgs {
    /// Copies of each file, 1 to 99.
    #[arg(long, value_name = "N")]
    pub copies: Option<Copies>,
    /// Pages of each file to print, ascending, e.g. 1-3,7 (of the converted
    /// PDF for office documents).
    #[arg(long, value_name = "RANGES")]
    pub pages: Option<PageRanges>,
    /// one-sided, two-sided-long-edge or two-sided-short-edge.
    #[arg(long, value_name = "SIDES")]
    pub sides: Option<Sides>,
    /// Paper, as an IPP media name: iso_a4_210x297mm, na_letter_8.5x11in, ...
    #[arg(long, value_name = "MEDIA")]
    pub media: Option<Media>,
    /// Print in black and white (print-color-mode monochrome).
    #[arg(long)]
    pub monochrome: bool,
    /// portrait, landscape, reverse-landscape or reverse-portrait.
    #[arg(long, value_name = "ORIENTATION")]
    pub orientation: Option<Orientation>,
}

impl PrintArgs {
    /// The `print_options` to send: `None` when no option was given.
    pub fn to_options(&self) -> Option<PrintOptions> {
        let options = PrintOptions {
            copies: self.copies,
            page_ranges: self.pages.clone(),
            sides: self.sides,
            media: self.media.clone(),
            color: self.monochrome.then_some(ColorMode::Monochrome),
            orientation: self.orientation,
        };
        (!options.is_default()).then_some(options)
    }
}

impl Operation {
    /// The redaction asked for on the command line, if any.
    pub fn redaction(&self) -> Option<Redaction> {
        match self {
            Operation::Disk { redact, .. } | Operation::Print { redact, .. } => {
                redact.map(Redaction::from)
            }
            _ => None,
        }
    }

    /// `--source-name` of `disk` and `print` (the other commands send no files).
    pub fn source_name(&self) -> Option<&str> {
        match self {
            Operation::Disk { source_name, .. } | Operation::Print { source_name, .. } => {
                source_name.as_deref()
            }
            _ => None,
        }
    }

    /// The files of `disk` and `print`.
    pub fn files(&self) -> &[PathBuf] {
        match self {
            Operation::Disk { files, .. } | Operation::Print { files, .. } => files,
            _ => &[],
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Operation::Preflight => "preflight",
            Operation::Disk { .. } => "disk",
            Operation::PrintPreflight => "print-preflight",
            Operation::Print { .. } => "print",
            Operation::PrintTest => "print-test",
        }
    }
}

impl Cli {
    /// Checks what clap cannot: `--redact strict` (with a space) reads `strict` as a file name, since
    /// the mode needs `--redact=strict`; when no such file exists that is a usage error saying so,
    /// not a "file not found" after the drive was checked.
    pub fn check(self) -> Result<Cli, clap::Error> {
        let mode_as_file = self.command.redaction().is_some()
            && self.command.files().iter().any(|f| {
                let word = f.as_os_str();
                (word == "strict" || word == "best-effort") && !f.exists()
            });
        if mode_as_file {
            return Err(<Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ValueValidation,
                "there is no file named 'strict' or 'best-effort': the redaction mode is \
                 given with '=', as in --redact=strict",
            ));
        }
        Ok(self)
    }

    pub fn transport(&self) -> Box<dyn Transport> {
        match (&self.local, &self.to) {
            (Some(binary), Some(dir)) => Box::new(Local::new(binary).exporting_to(dir)),
            (Some(binary), None) => Box::new(Local::new(binary)),
            (None, _) if self.service => Box::new(ExportService::new(&self.qrexec)),
            (None, _) => Box::new(OpenInVm::new(&self.qrexec)),
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig {
            source_name: self.command.source_name().map(str::to_owned),
            redact: self.command.redaction(),
            // `print` without --json shows progress on stderr; with --json
            // the metadata stays exactly what the existing client sends.
            progress: matches!(self.command, Operation::Print { .. }) && !self.json,
            ..ClientConfig::default()
        };
        if let Some(target) = &self.target {
            config.export_target.clone_from(target);
            config.print_target.clone_from(target);
        }
        if let Some(seconds) = self.timeout {
            let timeout = Some(Duration::from_secs(seconds));
            config.probe_timeout = timeout;
            config.transfer_timeout = timeout;
        }
        config
    }
}

/// `--to DIR`: a folder that exists (the stand-in drive is made by the user,
/// as a drive is plugged in; a typo must not read as "no drive found").
fn existing_folder(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else if path.exists() {
        Err(format!("{value} is not a folder"))
    } else {
        Err(format!(
            "no such folder: {value} (make it first, e.g. mkdir -p {value})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for args in [
            &["sdw-export", "--json", "--target", "sd-x", "preflight"][..],
            &["sdw-export", "preflight", "--json", "--target", "sd-x"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
            assert!(cli.json);
            assert_eq!(cli.client_config().export_target, "sd-x");
        }
    }

    #[test]
    fn disk_needs_files_and_takes_a_passphrase_file() {
        assert!(Cli::try_parse_from(["sdw-export", "disk"]).is_err());
        let cli = Cli::try_parse_from(["sdw-export", "disk", "--passphrase-file", "p", "a", "b"])
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Operation::Disk {
                passphrase_file,
                files,
                redact,
                source_name,
            } => {
                assert_eq!(redact, None);
                assert_eq!(source_name, None);
                assert_eq!(passphrase_file, Some(PathBuf::from("p")));
                assert_eq!(files, [PathBuf::from("a"), PathBuf::from("b")]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn redact_takes_an_optional_strict() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map(|cli| cli.client_config().redact)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            parse(&["sdw-export", "disk", "--redact", "a"]),
            Ok(Some(Redaction::BestEffort))
        );
        assert_eq!(
            parse(&["sdw-export", "disk", "--redact=strict", "a"]),
            Ok(Some(Redaction::Strict))
        );
        assert_eq!(
            parse(&["sdw-export", "print", "--redact", "a"]),
            Ok(Some(Redaction::BestEffort))
        );
        assert_eq!(parse(&["sdw-export", "disk", "a"]), Ok(None));
        // `--redact strict` reads `strict` as a file: with no such file, check() says how to
        // write the mode.
        let check = |args: &[&str]| {
            Cli::try_parse_from(args)
                .and_then(Cli::check)
                .map(|cli| cli.client_config().redact)
                .map_err(|e| e.to_string())
        };
        let refused = check(&["sdw-export", "disk", "--redact", "strict"]);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("--redact=strict")),
            "{refused:?}"
        );
        assert_eq!(
            check(&["sdw-export", "disk", "--redact=strict", "a"]),
            Ok(Some(Redaction::Strict))
        );
        // (a real file named `strict` is exported: tests/cli.rs, which runs in a folder holding one)
        assert!(parse(&["sdw-export", "disk", "--redact=maybe", "a"]).is_err());
        assert!(parse(&["sdw-export", "preflight", "--redact"]).is_err());
    }

    #[test]
    fn print_options_become_print_options_and_bad_ones_are_usage_errors() {
        let cli = Cli::try_parse_from([
            "sdw-export",
            "print",
            "--copies",
            "2",
            "--pages",
            "1-3,7",
            "--sides",
            "two-sided-long-edge",
            "--media",
            "iso_a4_210x297mm",
            "--monochrome",
            "--orientation",
            "landscape",
            "a.pdf",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Operation::Print { options, files, .. } = cli.command else {
            panic!("not print");
        };
        assert_eq!(files, [PathBuf::from("a.pdf")]);
        let json = serde_json::to_value(options.to_options()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"copies": 2, "page_ranges": "1-3,7", "sides": "two-sided-long-edge",
                "media": "iso_a4_210x297mm", "color": "monochrome", "orientation": "landscape"})
        );
        let Operation::Print { options, .. } = Cli::try_parse_from(["sdw-export", "print", "a"])
            .unwrap_or_else(|e| panic!("{e}"))
            .command
        else {
            panic!("not print");
        };
        assert_eq!(options.to_options(), None);
        for bad in [
            &["--copies", "0"][..],
            &["--copies", "100"],
            &["--pages", "3-1"],
            &["--sides", "duplex"],
            &["--media", "A4"],
            &["--orientation", "sideways"],
        ] {
            let mut args = vec!["sdw-export", "print"];
            args.extend_from_slice(bad);
            args.push("a.pdf");
            let e = Cli::try_parse_from(args).err();
            assert_eq!(
                e.map(|e| e.kind()),
                Some(clap::error::ErrorKind::ValueValidation),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn to_must_be_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_str().unwrap();
        assert!(
            Cli::try_parse_from(["sdw-export", "--local", "x", "--to", folder, "preflight"])
                .is_ok()
        );
        let missing = dir.path().join("drive");
        let e = Cli::try_parse_from([
            "sdw-export",
            "--local",
            "x",
            "--to",
            missing.to_str().unwrap(),
            "preflight",
        ])
        .err()
        .unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("no such folder"), "{e}");
    }

    #[test]
    fn to_needs_local() {
        assert!(Cli::try_parse_from(["sdw-export", "--to", "/tmp", "preflight"]).is_err());
        assert!(
            Cli::try_parse_from(["sdw-export", "--local", "x", "--service", "preflight"]).is_err()
        );
    }
}
