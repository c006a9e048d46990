//! The print service of `sd-printers`: `printer-preflight`, `printer-test`
//! and `printer`, on CUPS.
//!
//! One run, top-down ([`run`]):
//! 1. `printer` only: stream every file of `export_data/` into a private 0700
//!    folder and classify each by its bytes
//!    ([`sdw_protocol::printable::classify_file`]); one refused file stops
//!    everything before anything is printed.
//! 2. Detect: the USB printers on the bus ([`usb`]: udev, or a simulated bus
//!    in tests), exactly one, paired with the device CUPS' backends report for
//!    it (URI and IEEE 1284 ID, [`cups::Cups::devices`]).
//! 3. Decide from the support table ([`support`]): driverless IPP Everywhere
//!    over USB, a listed driver that must be installed, or refused; a printer
//!    the table does not know gets the driver CUPS offers for its IEEE 1284 ID
//!    ([`support::choose_driver`]), if any.
//! 4. Set up the one queue [`QUEUE`] idempotently (`CUPS-Add-Modify-Printer`).
//! 5. `printer` with `print_options` only: ask the queue what it supports
//!    ([`cups::Cups::capabilities`]) and refuse an option it cannot honour
//!    ([`PrintError::OptionUnsupported`]) before anything is converted or
//!    printed ([`job_template`]). Without `print_options`, when the qube has
//!    a display, the options come from the print dialog ([`dialog`], its own
//!    process) and are checked the same way; Cancel prints nothing
//!    ([`PrintError::Cancelled`]).
//! 6. Convert office documents to PDF and text in other encodings to UTF-8
//!    ([`convert`]), then print each file, with the options as IPP job
//!    template attributes, and wait for each job to reach a final state,
//!    within a bounded time. Page ranges apply to the document CUPS receives:
//!    the converted PDF for office files.
//!
//! SIGTERM, SIGINT or SIGHUP stop every step promptly ([`PrintError::Interrupted`],
//! `ERROR_PRINT`): LibreOffice is killed, a job still in CUPS is cancelled,
//! and the private folder is removed.
//!
//! Effects: the private folder (removed on every path when the run ends), the
//! CUPS queue, print jobs, LibreOffice runs. Everything honours `CUPS_SERVER`.
//! [`PrintError::status`] is the one mapping from failures to status words.

pub mod convert;
pub mod cups;
pub mod dialog;
pub mod support;
pub mod testpage;
pub mod usb;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sdw_protocol::printable::{self, Printable, Refusal};
use sdw_protocol::{Command, PrintOptions, Redaction, Status};

use crate::archive::{Archive, ArchiveError, ExportMember, ExportPlan};
use crate::text::decode_escapes;
use convert::ConvertError;
use cups::{Capabilities, Cups, CupsError, Device, JobTemplate};
use support::{Decision, DeviceId, DriverMatch, SupportTable, TableError};
use usb::{UsbBus, UsbError, UsbPrinter};

/// The name of the one print queue this service sets up.
pub const QUEUE: &str = "sdw-printer";
/// How long one job may take to reach a final state, unless
/// `SDW_PRINT_JOB_TIMEOUT_SECS` says otherwise.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one LibreOffice conversion may take.
pub const CONVERT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long cupsd may take to build a queue's driver after setting it up.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long CUPS' backends may take to list devices.
const DISCOVERY_TIMEOUT_SECS: i32 = 10;
/// How many times CUPS is asked for devices before the printer is declared
/// unaddressable.
const DISCOVERY_ATTEMPTS: u32 = 5;

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

/// Handles a print command, with the USB bus and CUPS server the environment
/// names; stopped promptly with [`PrintError::Interrupted`] when
/// `interrupted` is set (SIGTERM, SIGINT, SIGHUP, by `main`'s handlers).
/// With `redact`, each file's metadata is redacted before it is staged for
/// CUPS ([`crate::redact`]; the report goes to the log).
pub fn run(
    command: &Command,
    archive: &Archive,
    plan: &ExportPlan,
    redact: Option<Redaction>,
    interrupted: &AtomicBool,
) -> Result<Status, PrintError> {
    let service = Service {
        usb: usb::from_env(),
        cups: Cups::from_env(),
        table: SupportTable::builtin()?,
        job_timeout: job_timeout_from_env(),
        interrupted,
    };
    tracing::info!(command = command.device_value(), server = ?service.cups.server(), "print");
    service.run(command, archive, plan, redact)
}

fn job_timeout_from_env() -> Duration {
    std::env::var("SDW_PRINT_JOB_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(JOB_TIMEOUT)
}

/// The print service with its boundaries.
pub struct Service<'a> {
    pub usb: Box<dyn UsbBus>,
    pub cups: Cups,
    pub table: SupportTable,
    pub job_timeout: Duration,
    /// Set by a signal: stop at the next check.
    pub interrupted: &'a AtomicBool,
}

/// The printer found and the queue set up for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub make: String,
    pub model: String,
    pub uri: String,
    pub driver: String,
}

/// One file to print, in the private folder.
struct Staged {
    index: usize,
    path: PathBuf,
    kind: Printable,
}

impl Service<'_> {
    pub fn run(
        &self,
        command: &Command,
        archive: &Archive,
        plan: &ExportPlan,
        redact: Option<Redaction>,
    ) -> Result<Status, PrintError> {
        match command {
            Command::PrinterPreflight => {
                self.prepare()?;
                Ok(Status::PrinterPreflightSuccess)
            }
            Command::PrinterTest => {
                let work = private_folder()?;
                let page = work.path().join("test-page.pdf");
                write_private(&page, &testpage::pdf())?;
                self.prepare()?;
                self.print(
                    &[Staged {
                        index: 0,
                        path: page,
                        kind: Printable::Direct(printable::DirectKind::Pdf),
                    }],
                    &JobTemplate::default(),
                )?;
                Ok(Status::PrinterTestSuccess)
            }
            Command::Printer { options } => {
                let work = private_folder()?;
                let mut redactor = redact.map(crate::redact::Redactor::new);
                let mut staged = stage(
                    archive,
                    plan,
                    work.path(),
                    self.interrupted,
                    redactor.as_mut(),
                )?;
                if let Some(redactor) = &redactor {
                    tracing::info!(report = %redactor.report(), "redaction before printing");
                }
                if staged.is_empty() {
                    return Err(PrintError::NothingToPrint);
                }
                self.prepare()?;
                let template = match options {
                    Some(options) => self.template_for(options)?,
                    // No print_options: the journalist chooses in the print
                    // dialog when there is a display.
                    None => {
                        match dialog::ask(QUEUE, &dialog::display_name(plan), self.interrupted)? {
                            None => JobTemplate::default(),
                            Some(dialog::Choice::Print(chosen)) => self.template_for(&chosen)?,
                            Some(dialog::Choice::Cancelled) => return Err(PrintError::Cancelled),
                        }
                    }
                };
                convert_all(&mut staged, work.path(), self.interrupted)?;
                self.print(&staged, &template)?;
                Ok(Status::PrinterSuccess)
            }
            // The CLI hands only print commands to this service.
            other => Err(PrintError::NotAPrintCommand(other.device_value())),
        }
    }

    /// The job template for `options`, after checking that the queue
    /// supports each of them.
    fn template_for(&self, options: &PrintOptions) -> Result<JobTemplate, PrintError> {
        let capabilities = self
            .cups
            .capabilities(QUEUE)
            .map_err(PrintError::Capabilities)?;
        tracing::info!(
            ?options,
            ?capabilities,
            "print options asked for; the queue supports"
        );
        let template = job_template(options, &capabilities).inspect_err(|e| {
            tracing::error!(error = %e, "a print option the printer cannot honour: nothing printed");
        })?;
        tracing::info!(?template, "print options set on every job");
        Ok(template)
    }

    /// Finds the one supported printer and sets up its queue.
    pub fn prepare(&self) -> Result<Ready, PrintError> {
        let ready = self.detect()?;
        self.check_interrupted()?;
        self.set_up_queue(&ready)?;
        Ok(ready)
    }

    fn check_interrupted(&self) -> Result<(), PrintError> {
        check(self.interrupted)
    }

    /// Sleeps `pause`, in steps, returning early with an error when interrupted.
    fn pause(&self, pause: Duration) -> Result<(), PrintError> {
        let until = Instant::now() + pause;
        loop {
            self.check_interrupted()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// The one USB printer, its CUPS device, and how to drive it.
    pub fn detect(&self) -> Result<Ready, PrintError> {
        let printers = self.usb.printers()?;
        tracing::info!(count = printers.len(), "USB printers");
        let usb = match printers.as_slice() {
            [] => return Err(PrintError::NotFound),
            [one] => one,
            more => return Err(PrintError::Multiple(more.len())),
        };
        // cups-deviced now and then answers before a backend's list has been
        // read (seen under load): ask again before concluding.
        let mut attempt = 1;
        let device = loop {
            self.check_interrupted()?;
            let devices = self
                .cups
                .devices(DISCOVERY_TIMEOUT_SECS)
                .map_err(PrintError::Discovery)?;
            tracing::info!(
                attempt,
                devices = devices.len(),
                schemes = ?devices.iter().map(|d| d.uri.split(':').next().unwrap_or_default()).collect::<Vec<_>>(),
                "CUPS devices"
            );
            match pair(usb, &devices) {
                Some(device) => break device.clone(),
                None if attempt >= DISCOVERY_ATTEMPTS => {
                    return Err(PrintError::NoUri(describe(usb)))
                }
                None => {
                    attempt += 1;
                    self.pause(Duration::from_millis(500 * u64::from(attempt)))?;
                }
            }
        };
        // CUPS' 1284 ID first; the kernel's (usblp) when CUPS has none.
        let id = match (device.device_id.trim(), &usb.device_id) {
            ("", Some(kernel)) => DeviceId::parse(kernel),
            (cups, _) => DeviceId::parse(cups),
        };
        let make = id
            .make
            .clone()
            .or_else(|| usb.manufacturer.clone())
            .unwrap_or_default();
        let model = id
            .model
            .clone()
            .or_else(|| usb.product.clone())
            .unwrap_or_default();
        let driverless = is_loopback_ipp(&device.uri);
        let decision = self.table.decide(&make, &model, driverless);
        tracing::info!(make = ?make, model = ?model, driverless, decision = ?decision, "printer");
        let driver = match decision {
            Decision::Refused { reason } => {
                return Err(PrintError::NotSupported {
                    make,
                    model,
                    reason,
                })
            }
            Decision::Unknown => {
                let id = DeviceId {
                    make: Some(make.clone()),
                    model: Some(model.clone()),
                    command_set: id.command_set,
                };
                match self.driver_from_cups(&id)? {
                    Some(driver) => driver,
                    None => {
                        return Err(PrintError::NotSupported {
                            make,
                            model,
                            reason: "not in printers/supported.json, and CUPS has no driver \
                                     for its IEEE 1284 ID"
                                .into(),
                        })
                    }
                }
            }
            Decision::Driverless { driver } => driver,
            Decision::Driver {
                driver,
                package,
                make: driver_make,
            } => {
                let installed = self
                    .cups
                    .driver_names(&driver_make)
                    .map_err(PrintError::DriverLookup)?;
                if !installed.iter().any(|name| name == &driver) {
                    return Err(PrintError::DriverUnavailable {
                        model,
                        driver,
                        package,
                    });
                }
                driver
            }
        };
        Ok(Ready {
            make,
            model,
            uri: device.uri.clone(),
            driver,
        })
    }

    /// A driver CUPS offers for a printer the table does not know: one made
    /// for this model (`CUPS-Get-PPDs` with its 1284 ID), else one for a model
    /// of the same family ([`support::choose_driver`]). Never IPP Everywhere:
    /// this printer is not reachable over IPP.
    fn driver_from_cups(&self, id: &DeviceId) -> Result<Option<String>, PrintError> {
        let named = |field: &Option<String>| field.as_deref().is_some_and(|f| !f.trim().is_empty());
        if !named(&id.make) || !named(&id.model) {
            return Ok(None);
        }
        let exact = self
            .cups
            .drivers_for_device_id(&id.to_query(true))
            .map_err(PrintError::DriverLookup)?;
        let mut chosen = support::choose_driver(id, &exact);
        let family;
        if chosen.is_none() && !id.command_set.is_empty() {
            // cupsd matches a model exactly; without the model it lists every
            // driver of the make.
            family = self
                .cups
                .drivers_for_device_id(&id.to_query(false))
                .map_err(PrintError::DriverLookup)?;
            chosen = support::choose_driver(id, &family);
        }
        match chosen {
            Some((ppd, how)) => {
                tracing::info!(
                    make = ?id.make,
                    model = ?id.model,
                    driver = %ppd.name,
                    driver_model = %ppd.make_and_model,
                    matched = match how {
                        DriverMatch::SameModel => "the printer's model",
                        DriverMatch::SameFamily => "a model of the same family",
                    },
                    "driver chosen from CUPS for a printer not in the table"
                );
                Ok(Some(ppd.name.clone()))
            }
            None => {
                tracing::warn!(make = ?id.make, model = ?id.model, candidates = exact.len(), "CUPS has no driver for this printer");
                Ok(None)
            }
        }
    }

    /// Creates or updates [`QUEUE`] for the printer; does nothing when it is
    /// already set up, enabled and accepting jobs.
    pub fn set_up_queue(&self, ready: &Ready) -> Result<(), PrintError> {
        let info = format!(
            "SecureDrop Workstation: {} {} ({})",
            ready.make, ready.model, ready.driver
        );
        let current = self.cups.queue(QUEUE).map_err(PrintError::Install)?;
        let same = current.as_ref().is_some_and(|q| {
            q.device_uri.as_deref() == Some(ready.uri.as_str()) && q.info.as_deref() == Some(&info)
        });
        let usable = current
            .as_ref()
            .is_some_and(|q| q.accepting && q.state != cups::PRINTER_STOPPED && has_driver(q));
        if same && usable {
            tracing::info!(queue = QUEUE, "queue already set up");
            return Ok(());
        }
        let driver = if same {
            None
        } else {
            Some(ready.driver.as_str())
        };
        tracing::info!(queue = QUEUE, driver = ?driver, "setting up the queue");
        self.cups
            .set_up_queue(QUEUE, &ready.uri, driver, &info)
            .map_err(PrintError::Install)?;
        // cupsd builds an IPP Everywhere driver after answering, and until
        // then the queue is raw: a document sent now would reach the printer
        // unconverted, be refused, and still end "completed" (seen with
        // ippeveprinter). Wait for the driver.
        let started = Instant::now();
        loop {
            let after = self
                .cups
                .queue(QUEUE)
                .map_err(PrintError::Install)?
                .ok_or_else(|| PrintError::InstallCheck("the queue does not exist".into()))?;
            if after.device_uri.as_deref() != Some(ready.uri.as_str()) || !after.accepting {
                return Err(PrintError::InstallCheck(format!(
                    "accepting={}, same device={}",
                    after.accepting,
                    after.device_uri.as_deref() == Some(ready.uri.as_str())
                )));
            }
            if has_driver(&after) {
                tracing::info!(
                    queue = QUEUE,
                    make_and_model = ?after.make_and_model,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "queue ready"
                );
                return Ok(());
            }
            if started.elapsed() >= DRIVER_TIMEOUT {
                return Err(PrintError::InstallCheck(format!(
                    "no driver after {DRIVER_TIMEOUT:?} (make and model {:?})",
                    after.make_and_model
                )));
            }
            self.pause(Duration::from_millis(100))?;
        }
    }

    /// Prints each file in order, waiting for each job to end.
    fn print(&self, files: &[Staged], template: &JobTemplate) -> Result<(), PrintError> {
        let count = files.len();
        for (position, file) in files.iter().enumerate() {
            self.check_interrupted()?;
            let format = file.kind.mime_type().unwrap_or("application/octet-stream");
            let handle = File::open(&file.path).map_err(PrintError::Staging)?;
            let job = self
                .cups
                .print_file(QUEUE, handle, format, "sdw-print", template)
                .map_err(|source| PrintError::Submit {
                    index: file.index,
                    source,
                })?;
            tracing::info!(
                file = file.index,
                job,
                format,
                "printing file {} of {count}",
                position + 1
            );
            self.wait(job)?;
        }
        Ok(())
    }

    /// Waits for a job to reach a final state; `completed` is the only success.
    fn wait(&self, job: i32) -> Result<(), PrintError> {
        let started = Instant::now();
        let follow = |source| PrintError::Follow { job, source };
        let mut pages_seen = 0;
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                tracing::warn!(job, "interrupted by a signal; cancelling the job");
                if let Err(e) = self.cups.cancel(job) {
                    tracing::error!(job, error = %e, "cancelling the job failed");
                }
                return Err(PrintError::Interrupted);
            }
            let state = self.cups.job(job).map_err(follow)?;
            if let Some(pages) = state.pages.filter(|&p| p > pages_seen) {
                if state.state != cups::JOB_COMPLETED {
                    tracing::info!(job, pages, "pages printed so far");
                }
                pages_seen = pages;
            }
            let printer_reasons = || {
                self.cups
                    .queue(QUEUE)
                    .ok()
                    .flatten()
                    .map(|q| q.reasons.join(","))
                    .unwrap_or_default()
            };
            match state.state {
                cups::JOB_COMPLETED => {
                    tracing::info!(
                        job,
                        pages = ?state.pages,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "job completed"
                    );
                    return Ok(());
                }
                cups::JOB_CANCELED | cups::JOB_ABORTED | cups::JOB_STOPPED => {
                    let printer_reasons = printer_reasons();
                    tracing::error!(job, state = state.state, reasons = ?state.reasons, printer_reasons = ?printer_reasons, "job failed");
                    let state_name = match state.state {
                        cups::JOB_ABORTED => "aborted",
                        cups::JOB_CANCELED => "canceled",
                        _ => {
                            // A stopped job (a filter failed) waits for a person
                            // at the CUPS console: take it off the queue.
                            if let Err(e) = self.cups.cancel(job) {
                                tracing::error!(job, error = %e, "cancelling the job failed");
                            }
                            "stopped"
                        }
                    };
                    return Err(PrintError::JobFailed {
                        job,
                        state: state_name,
                        reasons: state.reasons.join(","),
                        printer_reasons,
                    });
                }
                _ => {}
            }
            let queue = self.cups.queue(QUEUE).map_err(follow)?;
            if let Some(queue) = queue.filter(|q| q.state == cups::PRINTER_STOPPED) {
                let printer_reasons = queue.reasons.join(",");
                tracing::error!(job, printer_reasons = ?printer_reasons, "printer stopped");
                let _ = self.cups.cancel(job);
                return Err(PrintError::PrinterStopped {
                    job,
                    printer_reasons,
                });
            }
            if started.elapsed() >= self.job_timeout {
                let printer_reasons = printer_reasons();
                tracing::error!(job, printer_reasons = ?printer_reasons, "job timed out; cancelling it");
                if let Err(e) = self.cups.cancel(job) {
                    tracing::error!(job, error = %e, "cancelling the job failed");
                }
                return Err(PrintError::Timeout {
                    job,
                    timeout: self.job_timeout,
                    printer_reasons,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The IPP job template for `options`, or the first option the queue's
/// `capabilities` do not cover. `color: auto` is always honoured (it leaves
/// the choice to the printer); every other option must be listed as supported.
pub fn job_template(
    options: &PrintOptions,
    capabilities: &Capabilities,
) -> Result<JobTemplate, PrintError> {
    let refuse =
        |option: &'static str, reason: String| PrintError::OptionUnsupported { option, reason };
    let listed = |option: &'static str, asked: &str, supported: &[String]| {
        if supported.iter().any(|s| s == asked) {
            Ok(asked.to_owned())
        } else {
            Err(refuse(
                option,
                format!("{asked:?} is not among {supported:?}"),
            ))
        }
    };
    let mut template = JobTemplate::default();
    if let Some(copies) = options.copies {
        let asked = i32::try_from(copies.get()).unwrap_or(i32::MAX);
        match capabilities.copies {
            Some((min, max)) if (min..=max).contains(&asked) => template.copies = Some(asked),
            Some((min, max)) => {
                return Err(refuse(
                    "copies",
                    format!("{asked} is not within {min}-{max}"),
                ))
            }
            None if asked == 1 => template.copies = Some(1),
            None => {
                return Err(refuse(
                    "copies",
                    format!("{asked} asked for, and the queue reports no copies-supported"),
                ))
            }
        }
    }
    if let Some(ranges) = &options.page_ranges {
        if !capabilities.page_ranges {
            return Err(refuse(
                "page_ranges",
                "the queue does not report page-ranges-supported".into(),
            ));
        }
        template.page_ranges = ranges
            .ranges()
            .iter()
            .map(|&(first, last)| {
                (
                    i32::try_from(first).unwrap_or(i32::MAX),
                    i32::try_from(last).unwrap_or(i32::MAX),
                )
            })
            .collect();
    }
    if let Some(sides) = options.sides {
        template.sides = Some(listed("sides", sides.keyword(), &capabilities.sides)?);
    }
    if let Some(media) = &options.media {
        template.media = Some(listed("media", media.as_str(), &capabilities.media)?);
    }
    if let Some(color) = options.color {
        template.print_color_mode = Some(match color {
            sdw_protocol::print_options::ColorMode::Auto => color.keyword().to_owned(),
            _ => listed("color", color.keyword(), &capabilities.color_modes)?,
        });
    }
    if let Some(orientation) = options.orientation {
        let asked = orientation.ipp_enum();
        if !capabilities.orientations.contains(&asked) {
            return Err(refuse(
                "orientation",
                format!(
                    "{:?} (IPP {asked}) is not among {:?}",
                    orientation.name(),
                    capabilities.orientations
                ),
            ));
        }
        template.orientation_requested = Some(asked);
    }
    Ok(template)
}

fn check(interrupted: &AtomicBool) -> Result<(), PrintError> {
    if interrupted.load(Ordering::Relaxed) {
        tracing::warn!("interrupted by a signal");
        return Err(PrintError::Interrupted);
    }
    Ok(())
}

/// Whether a queue has its driver: cupsd calls a queue without one (raw, or
/// an IPP Everywhere driver still being built) `Local Raw Printer`.
fn has_driver(queue: &cups::QueueState) -> bool {
    queue
        .make_and_model
        .as_deref()
        .is_some_and(|m| !m.trim().is_empty() && m != "Local Raw Printer")
}

/// The CUPS device for the USB printer: a `usb://` device with its serial (or,
/// without serials, its make and model), or, for an IPP-over-USB printer, the
/// loopback IPP endpoint `ipp-usb` serves for it, preferred when present.
/// Network printers are never chosen.
fn pair<'a>(usb: &UsbPrinter, devices: &'a [Device]) -> Option<&'a Device> {
    let same_printer = |device: &&Device| {
        // CUPS' 1284 ID first; the kernel's (usblp) when CUPS has none.
        let id = match (device.device_id.trim(), &usb.device_id) {
            ("", Some(kernel)) => DeviceId::parse(kernel),
            (cups, _) => DeviceId::parse(cups),
        };
        let same_model = || match (&usb.product, &id.model) {
            (Some(product), Some(model)) => support::same_model(
                usb.manufacturer.as_deref().unwrap_or_default(),
                product,
                id.make.as_deref().unwrap_or_default(),
                model,
            ),
            _ => false,
        };
        if device.uri.starts_with("usb://") {
            match (uri_serial(&device.uri), &usb.serial) {
                (Some(theirs), Some(ours)) => theirs.eq_ignore_ascii_case(ours),
                _ => same_model(),
            }
        } else {
            usb.ipp_usb && is_loopback_ipp(&device.uri) && same_model()
        }
    };
    let candidates: Vec<&Device> = devices.iter().filter(same_printer).collect();
    candidates
        .iter()
        .find(|d| is_loopback_ipp(&d.uri))
        .or_else(|| candidates.first())
        .copied()
}

/// The `serial=` of a CUPS `usb://` URI.
fn uri_serial(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("serial="))
        .map(|serial| decode_escapes(serial, b'%', 2, 16))
}

/// An `ipp://` or `ipps://` URI on this machine, as `ipp-usb` serves.
fn is_loopback_ipp(uri: &str) -> bool {
    let Some(rest) = uri
        .strip_prefix("ipp://")
        .or_else(|| uri.strip_prefix("ipps://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn describe(usb: &UsbPrinter) -> String {
    format!(
        "{} {} ({}:{})",
        usb.manufacturer.as_deref().unwrap_or("?"),
        usb.product.as_deref().unwrap_or("?"),
        usb.vendor_id,
        usb.product_id
    )
}

/// A private 0700 folder under `TMPDIR`, removed when dropped.
fn private_folder() -> Result<tempfile::TempDir, PrintError> {
    tempfile::Builder::new()
        .prefix("sdw-print-")
        .tempdir()
        .map_err(PrintError::Staging)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PrintError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(PrintError::Staging)?;
    file.write_all(bytes).map_err(PrintError::Staging)
}

/// Streams every file of `export_data/` (any depth) into `work` as
/// `file-N`, classifies each by its bytes, and refuses the whole job when one
/// cannot print.
fn stage(
    archive: &Archive,
    plan: &ExportPlan,
    work: &Path,
    interrupted: &AtomicBool,
    mut redactor: Option<&mut crate::redact::Redactor>,
) -> Result<Vec<Staged>, PrintError> {
    let files = work.join("files");
    fs::create_dir(&files).map_err(PrintError::Staging)?;
    let mut staged = Vec::new();
    archive.for_each_export_member(plan, |member| {
        check(interrupted)?;
        let ExportMember::File { data, path, size } = member else {
            return Ok::<(), PrintError>(());
        };
        let mut redacted;
        let data: &mut dyn Read = match redactor.as_deref_mut() {
            Some(redactor) => {
                redacted = redactor
                    .redact(path, size, data)
                    .map_err(PrintError::Redaction)?;
                &mut redacted
            }
            None => data,
        };
        let index = staged.len();
        let path = files.join(format!("file-{index}"));
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(PrintError::Staging)?;
        copy(data, &mut out, interrupted)?;
        out.sync_all().map_err(PrintError::Staging)?;
        let kind = printable::classify_file(&mut out).map_err(PrintError::Staging)?;
        tracing::info!(file = index, kind = ?kind, "classified");
        staged.push(Staged { index, path, kind });
        Ok(())
    })?;
    for file in &staged {
        match file.kind {
            Printable::Refused(kind) => {
                return Err(PrintError::Unprintable {
                    index: file.index,
                    kind,
                })
            }
            Printable::Unknown => {
                return Err(PrintError::MimetypeUnsupported { index: file.index })
            }
            Printable::Direct(_) | Printable::Convert(_) | Printable::Reencode(_) => {}
        }
    }
    Ok(staged)
}

/// Copies `data` to `out` in chunks, stopping when interrupted.
fn copy(data: &mut dyn Read, out: &mut File, interrupted: &AtomicBool) -> Result<(), PrintError> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        check(interrupted)?;
        let n = match data.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PrintError::Staging(e)),
        };
        out.write_all(buffer.get(..n).unwrap_or_default())
            .map_err(PrintError::Staging)?;
    }
}

/// Converts every office document to PDF, and every text in another encoding
/// to UTF-8, in place of the original.
fn convert_all(
    staged: &mut [Staged],
    work: &Path,
    interrupted: &AtomicBool,
) -> Result<(), PrintError> {
    let count = staged
        .iter()
        .filter(|f| matches!(f.kind, Printable::Convert(_) | Printable::Reencode(_)))
        .count();
    let mut position = 0;
    for file in staged.iter_mut() {
        check(interrupted)?;
        match file.kind {
            Printable::Convert(kind) => {
                position += 1;
                tracing::info!(file = file.index, kind = ?kind, "converting file {position} of {count} to PDF");
                let named = file.path.with_extension(kind.extension());
                fs::rename(&file.path, &named).map_err(PrintError::Staging)?;
                let scratch = work.join(format!("convert-{}", file.index));
                let pdf = convert::to_pdf(&named, &scratch, CONVERT_TIMEOUT, interrupted).map_err(
                    |source| {
                        if matches!(source, ConvertError::Interrupted) {
                            return PrintError::Interrupted;
                        }
                        tracing::error!(file = file.index, error = %source, "conversion failed");
                        PrintError::Convert {
                            index: file.index,
                            source,
                        }
                    },
                )?;
                file.path = pdf;
            }
            Printable::Reencode(encoding) => {
                position += 1;
                let utf8 = file.path.with_extension("utf8.txt");
                let from = convert::to_utf8(&file.path, &utf8, encoding, interrupted).map_err(
                    |source| {
                        if matches!(source, ConvertError::Interrupted) {
                            return PrintError::Interrupted;
                        }
                        tracing::error!(file = file.index, error = %source, "re-encoding failed");
                        PrintError::Reencode {
                            index: file.index,
                            source,
                        }
                    },
                )?;
                tracing::info!(
                    file = file.index,
                    from,
                    "re-encoded file {position} of {count} to UTF-8"
                );
                file.path = utf8;
            }
            Printable::Direct(_) | Printable::Refused(_) | Printable::Unknown => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
