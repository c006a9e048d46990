//! One `sdw-export` run: set up logging, the client and Ctrl-C, walk the export
//! or print state machine for the chosen operation, and report.

use std::io::IsTerminal;
use std::path::PathBuf;

use sdw_client::archive::ArchiveError;
use sdw_client::flow::{ExportAttempt, ExportPreflight, PrintAttempt, PrintPreflight};
use sdw_client::redaction::{self, Listing, ListingError};
use sdw_client::{messages, Client};
use sdw_protocol::{PrintOptions, Redaction, Status};

use crate::cli::{Cli, Operation};
use crate::neutral::NeutralStderr;
use crate::passphrase::PassphraseSource;
use crate::progress::ArchiveBar;
use crate::report::{Report, Stop};

/// How many passphrases are asked for on a terminal before giving up.
const PASSPHRASE_ATTEMPTS: u32 = 3;

/// Runs the command line and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    init_logging(cli.verbose);
    let mut client = Client::new(cli.transport(), cli.client_config());
    let cancel = client.cancel_token();
    if let Err(e) = ctrlc::set_handler(move || cancel.cancel()) {
        tracing::warn!(error = %e, "Ctrl-C will not cancel cleanly");
    }
    let chatty = !cli.json && std::io::stderr().is_terminal();
    let operation = cli.command.name();
    let redaction = match (&cli.command, cli.command.redaction()) {
        (Operation::Disk { files, .. } | Operation::Print { files, .. }, Some(mode)) => {
            let listed = list_redaction(
                operation,
                files,
                cli.command.source_name(),
                mode,
                &client.cancel_token(),
                chatty,
            );
            match listed {
                Ok(listing) => listing,
                Err(report) => {
                    let report = Report {
                        redact: Some(mode),
                        ..*report
                    };
                    report.print(cli.json);
                    return report.exit_code();
                }
            }
        }
        _ => None,
    };
    let report = match &cli.command {
        Operation::Preflight => preflight(&mut client, chatty),
        Operation::Disk {
            passphrase_file,
            files,
            ..
        } => disk(
            &mut client,
            files,
            &PassphraseSource::new(passphrase_file.clone()),
            chatty,
        ),
        Operation::PrintPreflight => print(&mut client, PrintJob::PreflightOnly, chatty, operation),
        Operation::Print { options, files, .. } => {
            let options = options.to_options();
            Report {
                // --json says which options were sent (null: none).
                print_options: Some(options.clone()),
                ..print(
                    &mut client,
                    PrintJob::Files(files, options),
                    chatty,
                    operation,
                )
            }
        }
        Operation::PrintTest => print(&mut client, PrintJob::TestPage, chatty, operation),
    };
    let report = Report {
        redact: cli.command.redaction(),
        redaction,
        ..report
    };
    report.print(cli.json);
    report.exit_code()
}

/// Logs to stderr only with `-v` (INFO) or `-vv` (DEBUG): without it the
/// user reads the one message the report prints, not the log's lines.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    // The log carries untrusted text (device output, file names): every line
    // goes through NeutralStderr, so colours are off.
    tracing_subscriber::fmt()
        .with_writer(|| NeutralStderr)
        .with_ansi(false)
        .with_max_level(level)
        .with_target(false)
        .init();
}

/// `ERROR_MISSING_FILES` before any device is called, when no file can be sent.
fn no_usable_file(operation: &'static str, files: &[PathBuf]) -> Option<Report> {
    match sdw_client::archive::precheck(files) {
        Ok(_) => None,
        Err(ArchiveError::AllFilesMissing { skipped }) => Some(Report {
            skipped,
            ..Report::new(operation, Status::ErrorMissingFiles)
        }),
        Err(_) => None,
    }
}

/// With `--redact`: what the device side's redaction code will do to each
/// file, computed here before anything is sent (`None` when a file cannot be
/// read: the operation then fails on its own). Under strict, a file that
/// would not be redacted stops the run here: nothing is sent.
fn list_redaction(
    operation: &'static str,
    files: &[PathBuf],
    source_name: Option<&str>,
    mode: Redaction,
    cancel: &sdw_client::CancelToken,
    chatty: bool,
) -> Result<Option<Listing>, Box<Report>> {
    if sdw_client::archive::precheck(files).is_err() {
        return Ok(None);
    }
    say(chatty, "Listing what redaction removes...");
    match redaction::list(files, source_name, mode, cancel) {
        Ok(listing) => Ok(Some(listing)),
        Err(ListingError::Cancelled) => Err(Box::new(Report::cancelled(operation))),
        Err(refused @ ListingError::Refused { .. }) => Err(Box::new(Report {
            stop: Stop::RedactionRefused(refused.to_string()),
            ..Report::new(operation, Status::ErrorExport)
        })),
        // The archive meets the same file next and reports it.
        Err(e) => {
            tracing::warn!(error = %e, "the redaction list could not be made");
            Ok(None)
        }
    }
}

/// `ERROR_UNPRINTABLE_TYPE` or `ERROR_MIMETYPE_UNSUPPORTED` before any printer
/// is asked for, when a file is one the printing qube would refuse.
fn unprintable_file(operation: &'static str, files: &[PathBuf]) -> Option<Report> {
    let error = sdw_client::Error::from(sdw_client::printable::check(files).err()?);
    Some(Report {
        detail: Some(error.to_string()),
        ..Report::new(operation, Status::from(&error))
    })
}

fn say(chatty: bool, what: &str) {
    if chatty {
        eprintln!("{what}");
    }
}

fn preflight(client: &mut Client, chatty: bool) -> Report {
    say(chatty, "Checking for an export drive...");
    match client.export().preflight() {
        ExportPreflight::Ready(ready) => Report::new("preflight", ready.state().preflight_status()),
        ExportPreflight::Failed(failed) => Report::failed("preflight", failed.state()),
        ExportPreflight::Cancelled(_) => Report::cancelled("preflight"),
    }
}

fn disk(client: &mut Client, files: &[PathBuf], source: &PassphraseSource, chatty: bool) -> Report {
    const OPERATION: &str = "disk";
    let cancel = client.cancel_token();
    if let Some(report) = no_usable_file(OPERATION, files) {
        return report;
    }
    say(chatty, "Checking for an export drive...");
    let mut ready = match client.export().preflight() {
        ExportPreflight::Ready(ready) => ready,
        ExportPreflight::Failed(failed) => {
            let report = Report::failed(OPERATION, failed.state());
            let status = report.status;
            return report.with_preflight(status);
        }
        ExportPreflight::Cancelled(_) => return Report::cancelled(OPERATION),
    };
    let preflight = ready.state().preflight_status();
    let stopped = |stop: Stop| Report {
        stop,
        ..Report::new(OPERATION, Status::DeviceLocked).with_preflight(preflight)
    };
    for attempt in 1..=PASSPHRASE_ATTEMPTS {
        let passphrase = if ready.state().needs_passphrase() {
            match source.get() {
                Ok(Some(passphrase)) => Some(passphrase),
                Ok(None) => return stopped(Stop::PassphraseMissing),
                Err(_) if cancel.is_cancelled() => return Report::cancelled(OPERATION),
                Err(e) => return stopped(Stop::PassphraseUnreadable(e.to_string())),
            }
        } else {
            None
        };
        say(chatty, "Exporting...");
        let mut bar = ArchiveBar::on_stderr_terminal();
        match ready.export(files, passphrase, &mut bar) {
            ExportAttempt::Done(done) => {
                return Report::done(OPERATION, done.state()).with_preflight(preflight)
            }
            ExportAttempt::RetryPassphrase(again, status) => {
                if !source.can_retry() || attempt == PASSPHRASE_ATTEMPTS {
                    return Report::new(OPERATION, status).with_preflight(preflight);
                }
                eprintln!("{}", messages::for_status(status));
                ready = again;
            }
            ExportAttempt::Failed(failed) => {
                return Report::failed(OPERATION, failed.state()).with_preflight(preflight)
            }
            ExportAttempt::Cancelled(_) => return Report::cancelled(OPERATION),
        }
    }
    Report::new(OPERATION, Status::ErrorUnlockLuks).with_preflight(preflight)
}

/// What to do once the printer preflight succeeded.
enum PrintJob<'a> {
    PreflightOnly,
    Files(&'a [PathBuf], Option<PrintOptions>),
    TestPage,
}

/// `print-preflight`, `print FILE...` or `print-test`: all start with the
/// printer preflight.
fn print(client: &mut Client, job: PrintJob<'_>, chatty: bool, operation: &'static str) -> Report {
    // Shown whenever the client asked for it (`print` without --json).
    let show = client.config().progress;
    if let PrintJob::Files(files, _) = &job {
        if let Some(report) = no_usable_file(operation, files) {
            return report;
        }
        if let Some(report) = unprintable_file(operation, files) {
            return report;
        }
    }
    say(chatty, "Checking for a printer...");
    let ready = match client.print().preflight() {
        PrintPreflight::Ready(ready) => ready,
        PrintPreflight::Failed(failed) => {
            let report = Report::failed(operation, failed.state());
            let status = report.status;
            return report.with_preflight(status);
        }
        PrintPreflight::Cancelled(_) => return Report::cancelled(operation),
    };
    let attempt = match job {
        PrintJob::PreflightOnly => return Report::new(operation, Status::PrinterPreflightSuccess),
        PrintJob::Files(files, options) => {
            say(chatty, "Printing...");
            ready.print_with(
                files,
                options,
                &mut ArchiveBar::on_stderr_terminal().showing_print_progress(show),
            )
        }
        PrintJob::TestPage => {
            say(chatty, "Printing a test page...");
            ready.print_test_page()
        }
    };
    let report = match attempt {
        PrintAttempt::Done(done) => Report::done(operation, done.state()),
        PrintAttempt::Failed(failed) => Report::failed(operation, failed.state()),
        PrintAttempt::Cancelled(_) => return Report::cancelled(operation),
    };
    report.with_preflight(Status::PrinterPreflightSuccess)
}
