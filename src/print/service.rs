//! Orchestration of one print command: what runs in which order, with the
//! system reached only through the [`Printers`] seam.
//!
//! `printer-preflight`: detect, set up the queue. `printer-test`: the same,
//! then the built-in test page. `printer`: stage and classify every file
//! first ([`stage`]), detect and set up the queue, decide the job template
//! ([`Service::job_template`]), convert, then print each file and wait for
//! each job to reach a final state within the configured time.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sdw_protocol::printable::{self, Printable};
use sdw_protocol::{Command, PrintOptions, PrintProgress, Redaction, Status};

use super::cups::{self, Capabilities, JobState, JobTemplate, PrinterState};
use super::detect::{self, Ready};
use super::stage::{self, Staged};
use super::support::SupportTable;
use super::{check, dialog, pause, testpage, PrintError, Printers, QUEUE};
use crate::archive::{Archive, ExportPlan};

/// How long cupsd may take to build a queue's driver after setting it up.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The print service with its boundaries.
pub struct Service<'a> {
    pub printers: &'a dyn Printers,
    pub table: SupportTable,
    /// How long one job may take to reach a final state.
    pub job_timeout: Duration,
    /// Where the private work folder goes.
    pub temp_dir: PathBuf,
    /// Set by a signal: stop at the next check.
    pub interrupted: &'a AtomicBool,
    /// Whether the qube has a display for the print dialog.
    pub display: bool,
    /// Where progress goes besides the log (`"progress": true`), if anywhere.
    pub progress: Option<&'a dyn Fn(PrintProgress)>,
}

impl Service<'_> {
    /// Handles one print command to its success word (the steps in the
    /// module doc of [`super`]).
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
                let work = stage::private_folder(&self.temp_dir)?;
                let page = work.path().join("test-page.pdf");
                stage::write_private(&page, &testpage::pdf())?;
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
                let work = stage::private_folder(&self.temp_dir)?;
                let mut redactor = redact.map(crate::redact::Redactor::new);
                let mut staged = stage::stage(
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
                    Some(options) => self.job_template(Some(options))?,
                    // No print_options: the journalist chooses in the print
                    // dialog when the qube has a display.
                    None => match dialog::ask(
                        &self.printers.dialog_program(),
                        self.display,
                        QUEUE,
                        &dialog::display_name(plan),
                        self.interrupted,
                    )? {
                        None => JobTemplate::default(),
                        Some(dialog::Choice::Print(chosen)) => self.job_template(Some(&chosen))?,
                        Some(dialog::Choice::Cancelled) => return Err(PrintError::Cancelled),
                    },
                };
                stage::convert_all(&mut staged, work.path(), self.interrupted)?;
                self.print(&staged, &template)?;
                Ok(Status::PrinterSuccess)
            }
            // The CLI hands only print commands to this service.
            other => Err(PrintError::NotAPrintCommand(other.device_value())),
        }
    }

    /// The job template of every job of a `printer` command, from the print
    /// options the archive asks for (checked against what the queue
    /// supports); without options, CUPS' defaults. Called once the queue is
    /// set up and before anything is converted or printed.
    pub fn job_template(&self, options: Option<&PrintOptions>) -> Result<JobTemplate, PrintError> {
        let Some(options) = options else {
            return Ok(JobTemplate::default());
        };
        let capabilities = self
            .printers
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
        let ready = detect::detect(self.printers, &self.table, self.interrupted)?;
        check(self.interrupted)?;
        self.set_up_queue(&ready)?;
        Ok(ready)
    }

    /// Creates or updates [`QUEUE`] for the printer; does nothing when it is
    /// already set up, enabled and accepting jobs.
    pub fn set_up_queue(&self, ready: &Ready) -> Result<(), PrintError> {
        let info = format!(
            "SecureDrop Workstation: {} {} ({})",
            ready.make, ready.model, ready.driver
        );
        let current = self.printers.queue(QUEUE).map_err(PrintError::Install)?;
        let same = current.as_ref().is_some_and(|q| {
            q.device_uri.as_deref() == Some(ready.uri.as_str()) && q.info.as_deref() == Some(&info)
        });
        let usable = current.as_ref().is_some_and(|q| {
            q.accepting && q.state != Some(PrinterState::Stopped) && has_driver(q)
        });
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
        self.printers
            .set_up_queue(QUEUE, &ready.uri, driver, &info)
            .map_err(PrintError::Install)?;
        // cupsd builds an IPP Everywhere driver after answering, and until
        // then the queue is raw: a document sent now would reach the printer
        // unconverted, be refused, and still end "completed" (seen with
        // ippeveprinter). Wait for the driver.
        let started = Instant::now();
        loop {
            let after = self
                .printers
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
            pause(self.interrupted, Duration::from_millis(100))?;
        }
    }

    /// Prints each file in order, waiting for each job to end.
    fn print(&self, files: &[Staged], template: &JobTemplate) -> Result<(), PrintError> {
        let count = files.len();
        for (position, file) in files.iter().enumerate() {
            check(self.interrupted)?;
            let format = file.kind.mime_type().unwrap_or("application/octet-stream");
            let handle = File::open(&file.path).map_err(PrintError::Staging)?;
            let job = self
                .printers
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
            self.report(position + 1, count, None);
            self.wait(job, (position + 1, count))?;
        }
        Ok(())
    }

    /// Hands progress on, when asked for, within the wire format's bounds.
    fn report(&self, file: usize, files: usize, pages: Option<u32>) {
        if let Some((report, progress)) = self.progress.zip(PrintProgress::new(file, files, pages))
        {
            report(progress);
        }
    }

    /// Waits for a job (file `position.0` of `position.1`) to reach a final
    /// state; `completed` is the only success.
    fn wait(&self, job: i32, position: (usize, usize)) -> Result<(), PrintError> {
        let started = Instant::now();
        let follow = |source| PrintError::Follow { job, source };
        let mut pages_seen = 0;
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                tracing::warn!(job, "interrupted by a signal; cancelling the job");
                if let Err(e) = self.printers.cancel(job) {
                    tracing::error!(job, error = %e, "cancelling the job failed");
                }
                return Err(PrintError::Interrupted);
            }
            let state = self.printers.job(job).map_err(follow)?;
            if let Some(pages) = state.pages.filter(|&p| p > pages_seen) {
                if state.state != Some(JobState::Completed) {
                    tracing::info!(job, pages, "pages printed so far");
                }
                self.report(position.0, position.1, u32::try_from(pages).ok());
                pages_seen = pages;
            }
            let printer_reasons = || {
                self.printers
                    .queue(QUEUE)
                    .ok()
                    .flatten()
                    .map(|q| q.reasons.join(","))
                    .unwrap_or_default()
            };
            match state.state {
                Some(JobState::Completed) => {
                    tracing::info!(
                        job,
                        pages = ?state.pages,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "job completed"
                    );
                    return Ok(());
                }
                Some(
                    final_state @ (JobState::Canceled
                    | JobState::Aborted
                    | JobState::ProcessingStopped),
                ) => {
                    let printer_reasons = printer_reasons();
                    tracing::error!(job, state = ?state.state, reasons = ?state.reasons, printer_reasons = ?printer_reasons, "job failed");
                    let state_name = match final_state {
                        JobState::Aborted => "aborted",
                        JobState::Canceled => "canceled",
                        _ => {
                            // A stopped job (a filter failed) waits for a person
                            // at the CUPS console: take it off the queue.
                            if let Err(e) = self.printers.cancel(job) {
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
            let queue = self.printers.queue(QUEUE).map_err(follow)?;
            if let Some(queue) = queue.filter(|q| q.state == Some(PrinterState::Stopped)) {
                let printer_reasons = queue.reasons.join(",");
                tracing::error!(job, printer_reasons = ?printer_reasons, "printer stopped");
                let _ = self.printers.cancel(job);
                return Err(PrintError::PrinterStopped {
                    job,
                    printer_reasons,
                });
            }
            if started.elapsed() >= self.job_timeout {
                let printer_reasons = printer_reasons();
                tracing::error!(job, printer_reasons = ?printer_reasons, "job timed out; cancelling it");
                if let Err(e) = self.printers.cancel(job) {
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

/// Whether a queue has its driver: cupsd calls a queue without one (raw, or
/// an IPP Everywhere driver still being built) `Local Raw Printer`.
fn has_driver(queue: &cups::QueueState) -> bool {
    queue
        .make_and_model
        .as_deref()
        .is_some_and(|m| !m.trim().is_empty() && m != "Local Raw Printer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brother_capabilities() -> Capabilities {
        // What cupsd reports for the brlaser HL-L2320D queue.
        Capabilities {
            copies: Some((1, 9999)),
            page_ranges: true,
            sides: vec![
                "one-sided".into(),
                "two-sided-long-edge".into(),
                "two-sided-short-edge".into(),
            ],
            media: vec!["iso_a4_210x297mm".into(), "na_letter_8.5x11in".into()],
            color_modes: vec!["monochrome".into()],
            orientations: vec![3, 4, 5, 6],
        }
    }

    fn options(json: &str) -> PrintOptions {
        match sdw_protocol::Metadata::parse(
            format!(r#"{{"device":"printer","print_options":{json}}}"#).as_bytes(),
        ) {
            Ok(Command::Printer { options: Some(o) }) => o,
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn a_job_template_carries_every_option_the_printer_supports() {
        let template = job_template(
            &options(
                r#"{"copies":3,"page_ranges":"1-2,5","sides":"two-sided-short-edge",
                    "media":"na_letter_8.5x11in","color":"monochrome","orientation":"reverse-portrait"}"#,
            ),
            &brother_capabilities(),
        )
        .unwrap();
        assert_eq!(
            template,
            JobTemplate {
                copies: Some(3),
                page_ranges: vec![(1, 2), (5, 5)],
                sides: Some("two-sided-short-edge".into()),
                media: Some("na_letter_8.5x11in".into()),
                print_color_mode: Some("monochrome".into()),
                orientation_requested: Some(6),
            }
        );
        assert_eq!(
            job_template(&PrintOptions::default(), &Capabilities::default()).unwrap(),
            JobTemplate::default()
        );
    }

    #[test]
    fn an_option_the_printer_does_not_list_is_refused_as_a_print_error() {
        let mono_simplex = Capabilities {
            copies: Some((1, 1)),
            page_ranges: false,
            sides: vec!["one-sided".into()],
            color_modes: vec!["color".into()],
            orientations: vec![3],
            ..brother_capabilities()
        };
        for (json, option) in [
            (r#"{"copies":2}"#, "copies"),
            (r#"{"page_ranges":"1"}"#, "page_ranges"),
            (r#"{"sides":"two-sided-long-edge"}"#, "sides"),
            (r#"{"media":"iso_a3_297x420mm"}"#, "media"),
            (r#"{"color":"monochrome"}"#, "color"),
            (r#"{"orientation":"landscape"}"#, "orientation"),
        ] {
            match job_template(&options(json), &mono_simplex) {
                Err(e @ PrintError::OptionUnsupported { option: o, .. }) if o == option => {
                    assert_eq!(crate::status::Error::from(e).status(), Status::ErrorPrint)
                }
                other => panic!("{json}: {other:?}"),
            }
        }
        // auto leaves colour to the printer; one copy needs no copies-supported.
        let none = Capabilities::default();
        let template = job_template(&options(r#"{"color":"auto","copies":1}"#), &none).unwrap();
        assert_eq!(template.print_color_mode.as_deref(), Some("auto"));
        assert_eq!(template.copies, Some(1));
        assert!(job_template(&options(r#"{"copies":2}"#), &none).is_err());
    }
}
