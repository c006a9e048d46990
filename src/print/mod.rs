//! The print service of `sd-printers`: `printer-preflight`, `printer-test`
//! and `printer`, on CUPS.
//!
//! One run, top-down ([`run`] -> [`service::Service`]):
//! 1. `printer` only: stream every file of `export_data/` into a private 0700
//!    folder and classify each by its bytes ([`stage`], with
//!    [`sdw_protocol::printable::classify_file`]); one refused file stops
//!    everything before anything is printed.
//! 2. Detect ([`detect`]): the USB printers on the bus, exactly one, paired
//!    with the device CUPS' backends report for it (URI and IEEE 1284 ID).
//! 3. Decide from the support table ([`support`]): driverless IPP Everywhere
//!    over USB, a listed driver that must be installed, or refused; a printer
//!    the table does not know gets the driver CUPS offers for its IEEE 1284 ID
//!    ([`support::choose_driver`]), if any.
//! 4. Set up the one queue [`QUEUE`] idempotently (`CUPS-Add-Modify-Printer`).
//! 5. `printer` only: the job template ([`service::Service::job_template`]):
//!    the archive's `print_options`, each checked against what the queue
//!    supports ([`service::job_template`]), refused
//!    ([`PrintError::OptionUnsupported`]) before anything is converted or
//!    printed. Without `print_options`, when the qube has a display, the
//!    options come from the print dialog ([`dialog`], its own process) and
//!    are checked the same way; Cancel prints nothing
//!    ([`PrintError::Cancelled`]).
//! 6. Convert office documents to PDF and text in other encodings to UTF-8
//!    ([`stage::convert_all`], [`convert`]), then print each file, with the
//!    options as IPP job template attributes, and wait for each job to reach
//!    a final state, within a bounded time. Page ranges apply to the document
//!    CUPS receives: the converted PDF for office files.
//!
//! The system is reached only through the [`Printers`] seam ([`printers`]):
//! udev and the CUPS server ([`cups`] over [`http`]), or, with
//! `sdw-devices --sim DIR`, printers described in `DIR/printers.json` and the
//! same CUPS server. Configuration (CUPS server, job timeout, temporary
//! folder) comes from [`crate::config::Config`].
//!
//! SIGTERM, SIGINT or SIGHUP stop every step promptly ([`PrintError::Interrupted`],
//! `ERROR_PRINT`): LibreOffice is killed, a job still in CUPS is cancelled,
//! and the private folder is removed.
//!
//! Effects: the private folder (removed on every path when the run ends), the
//! CUPS queue, print jobs, LibreOffice runs. Status words are chosen in
//! [`crate::status`] only.

pub mod convert;
pub mod cups;
pub mod detect;
pub mod dialog;
pub mod http;
pub mod printers;
pub mod service;
pub mod stage;
pub mod support;
pub mod testpage;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sdw_protocol::printable::Refusal;
use sdw_protocol::{Command, PrintProgress, Redaction, Status};

use crate::archive::{Archive, ArchiveError, ExportPlan};
use crate::config::Config;
use convert::ConvertError;
use cups::CupsError;
use detect::UsbError;
pub use printers::{Printers, RealPrinters, SimPrinters};
use service::Service;
use support::{SupportTable, TableError};

/// The name of the one print queue this service sets up.
pub const QUEUE: &str = "sdw-printer";

/// Every way a print command can fail.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("no USB printer attached")]
    NotFound,
    #[error("{0} USB printers attached")]
    Multiple(usize),
    #[error("reading the USB bus: {0}")]
    Usb(#[from] UsbError),
    #[error("CUPS reports no device for the USB printer {0}")]
    NoUri(String),
    #[error("CUPS device discovery failed: {0}")]
    Discovery(CupsError),
    #[error("printer {make:?} {model:?} is not supported: {reason}")]
    NotSupported {
        make: String,
        model: String,
        reason: String,
    },
    #[error("driver {driver} for {model:?} is not installed (package {package})")]
    DriverUnavailable {
        model: String,
        driver: String,
        package: String,
    },
    #[error("listing installed drivers failed: {0}")]
    DriverLookup(CupsError),
    #[error("setting up the print queue failed: {0}")]
    Install(CupsError),
    #[error("the print queue is not as it was set up: {0}")]
    InstallCheck(String),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("file {index} cannot be printed: {kind:?}")]
    Unprintable { index: usize, kind: Refusal },
    #[error("file {index} is of a type that is not printed")]
    MimetypeUnsupported { index: usize },
    #[error("the archive holds no files to print")]
    NothingToPrint,
    #[error("{0} is not a print command")]
    NotAPrintCommand(&'static str),
    #[error("the archive changed while it was read: {0}")]
    Archive(#[from] ArchiveError),
    #[error("private print folder: {0}")]
    Staging(io::Error),
    #[error("redaction before printing: {0}")]
    Redaction(crate::writer::WriteError),
    #[error("converting file {index} to PDF failed: {source}")]
    Convert { index: usize, source: ConvertError },
    #[error("re-encoding text file {index} to UTF-8 failed: {source}")]
    Reencode { index: usize, source: ConvertError },
    #[error("interrupted by a signal")]
    Interrupted,
    #[error(transparent)]
    Dialog(#[from] dialog::DialogError),
    #[error("the journalist cancelled the print dialog: nothing printed")]
    Cancelled,
    #[error("reading what the printer supports failed: {0}")]
    Capabilities(CupsError),
    #[error("the printer cannot honour {option}: {reason}")]
    OptionUnsupported {
        option: &'static str,
        reason: String,
    },
    #[error("submitting job {index} failed: {source}")]
    Submit { index: usize, source: CupsError },
    #[error("following job {job} failed: {source}")]
    Follow { job: i32, source: CupsError },
    #[error("job {job} ended {state} ({reasons}); printer: {printer_reasons}")]
    JobFailed {
        job: i32,
        state: &'static str,
        reasons: String,
        printer_reasons: String,
    },
    #[error("the printer stopped during job {job}: {printer_reasons}")]
    PrinterStopped { job: i32, printer_reasons: String },
    #[error("job {job} did not finish within {timeout:?} (printer: {printer_reasons})")]
    Timeout {
        job: i32,
        timeout: Duration,
        printer_reasons: String,
    },
}

/// Handles a print command on `printers`, as `config` says; stopped promptly
/// with [`PrintError::Interrupted`] when `interrupted` is set (SIGTERM,
/// SIGINT, SIGHUP, by `main`'s handlers). With `redact`, each file's
/// metadata is redacted before it is staged for CUPS ([`crate::redact`]; the
/// report goes to the log). With `progress`, each file handed to CUPS and
/// each page count seen is also reported there ([`PrintProgress`]).
// Each argument is one thing the caller decided; a struct to carry them
// would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn run(
    printers: &dyn Printers,
    config: &Config,
    command: &Command,
    archive: &Archive,
    plan: &ExportPlan,
    redact: Option<Redaction>,
    progress: Option<&dyn Fn(PrintProgress)>,
    interrupted: &AtomicBool,
) -> Result<Status, PrintError> {
    let service = Service {
        progress,
        printers,
        table: SupportTable::builtin()?,
        job_timeout: config.print.job_timeout,
        display: config.print.display,
        temp_dir: config.temp_dir.clone(),
        interrupted,
    };
    tracing::info!(command = command.device_value(), server = %printers.server(), "print");
    service.run(command, archive, plan, redact)
}

/// [`PrintError::Interrupted`] once a signal has set `interrupted`.
fn check(interrupted: &AtomicBool) -> Result<(), PrintError> {
    if interrupted.load(Ordering::Relaxed) {
        tracing::warn!("interrupted by a signal");
        return Err(PrintError::Interrupted);
    }
    Ok(())
}

/// Sleeps `pause`, in steps, returning early with an error when interrupted.
fn pause(interrupted: &AtomicBool, pause: Duration) -> Result<(), PrintError> {
    let until = Instant::now() + pause;
    loop {
        check(interrupted)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests;
