//! The export and print state machines of the protocol, as typestates: each
//! state is a type, each transition consumes the flow and returns the possible
//! next states, so an invalid transition (exporting before a preflight, printing
//! twice at once, ...) does not compile. A flow borrows its [`Client`] mutably:
//! one export or print at a time.
//!
//! Export: `Idle -> preflight (usb-test) -> DriveReady -> export (disk) -> Done`;
//! `ERROR_UNLOCK_LUKS` / `ERROR_UNLOCK_GENERIC` go back to `DriveReady` so the
//! passphrase can be typed again; any other status goes to `Failed`.
//! Print: `Idle -> preflight (printer-preflight) -> PrinterReady -> print or
//! test page -> Done`, anything else `Failed`; files the printing qube would
//! refuse fail `print` without a round trip (callers may also run
//! [`crate::printable::check`] before the preflight, as `sdw-export` does).
//! Cancel: [`ExportFlow::cancel`] / [`PrintFlow::cancel`] from any resting
//! state, or the client's [`crate::CancelToken`] while a step runs (its child is
//! killed); both land in `Idle`.
//!
//! ```compile_fail
//! # use sdw_client::{Client, ClientConfig, transport::Local, archive::NoProgress};
//! let mut client = Client::new(Box::new(Local::new("sdw-devices")), ClientConfig::default());
//! // Exporting without a preflight does not compile:
//! client.export().export(&[], None, &mut NoProgress);
//! ```
//!
//! ```compile_fail
//! # use sdw_client::{Client, ClientConfig, transport::Local};
//! let mut client = Client::new(Box::new(Local::new("sdw-devices")), ClientConfig::default());
//! let export = client.export();
//! // A second operation while one is open does not compile:
//! let print = client.print();
//! export.preflight();
//! ```

use std::path::PathBuf;

use sdw_protocol::{Command, Passphrase, PrintOptions, Status};

use crate::archive::{Progress, SkippedFile};
use crate::{Client, Error, Reply};

/// Nothing running; the start and the place every cancel lands.
#[derive(Debug)]
pub struct Idle;

/// The preflight found exactly one supported drive, locked or writable.
#[derive(Debug)]
pub struct DriveReady {
    preflight: Status,
}

/// The printer preflight succeeded.
#[derive(Debug)]
pub struct PrinterReady;

/// The operation completed.
#[derive(Debug)]
pub struct Done {
    status: Status,
    skipped: Vec<SkippedFile>,
}

/// The operation ended with a status other than success.
#[derive(Debug)]
pub struct Failed {
    status: Status,
    error: Option<Error>,
    skipped: Vec<SkippedFile>,
}

impl DriveReady {
    /// `DEVICE_LOCKED` or `DEVICE_WRITABLE`.
    pub fn preflight_status(&self) -> Status {
        self.preflight
    }

    /// Whether the drive must be unlocked, so a passphrase is needed.
    pub fn needs_passphrase(&self) -> bool {
        self.preflight == Status::DeviceLocked
    }
}

impl Done {
    pub fn status(&self) -> Status {
        self.status
    }

    /// Inputs that were left out of the archive (missing, not regular files).
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

impl Failed {
    pub fn status(&self) -> Status {
        self.status
    }

    /// The client-side cause, when the client and not the device failed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

/// What one step gave, before it is sorted into the next state.
enum Step {
    Answered(Status, Vec<SkippedFile>),
    Error(Error),
    Cancelled,
}

fn step(
    client: &mut Client,
    command: &Command,
    files: &[PathBuf],
    progress: &mut dyn Progress,
) -> Step {
    match client.send(command, files, progress) {
        Ok(Reply::Answered { status, skipped }) => Step::Answered(status, skipped),
        Ok(Reply::Cancelled) => Step::Cancelled,
        Err(error) => Step::Error(error),
    }
}

fn failed(status: Status, skipped: Vec<SkippedFile>) -> Failed {
    Failed {
        status,
        error: None,
        skipped,
    }
}

fn client_failed(error: Error) -> Failed {
    Failed {
        status: Status::from(&error),
        error: Some(error),
        skipped: Vec::new(),
    }
}

macro_rules! flow_type {
    ($flow:ident, $what:literal) => {
        #[doc = concat!("The ", $what, " state machine in state `S`.")]
        #[derive(Debug)]
        pub struct $flow<'c, S> {
            client: &'c mut Client,
            state: S,
        }

        impl<'c, S> $flow<'c, S> {
            /// Abandons whatever this state holds and returns to `Idle`.
            pub fn cancel(self) -> $flow<'c, Idle> {
                tracing::debug!(concat!($what, " cancelled"));
                $flow {
                    client: self.client,
                    state: Idle,
                }
            }

            pub fn state(&self) -> &S {
                &self.state
            }

            fn to<T>(self, state: T) -> $flow<'c, T> {
                $flow {
                    client: self.client,
                    state,
                }
            }
        }

        impl<'c> $flow<'c, Idle> {
            pub(crate) fn new(client: &'c mut Client) -> Self {
                $flow {
                    client,
                    state: Idle,
                }
            }
        }
    };
}

flow_type!(ExportFlow, "export");
flow_type!(PrintFlow, "print");

/// After an export preflight.
#[derive(Debug)]
pub enum ExportPreflight<'c> {
    Ready(ExportFlow<'c, DriveReady>),
    Failed(ExportFlow<'c, Failed>),
    Cancelled(ExportFlow<'c, Idle>),
}

/// After an export attempt.
#[derive(Debug)]
pub enum ExportAttempt<'c> {
    Done(ExportFlow<'c, Done>),
    /// The passphrase was refused (the status says how): ask again.
    RetryPassphrase(ExportFlow<'c, DriveReady>, Status),
    Failed(ExportFlow<'c, Failed>),
    Cancelled(ExportFlow<'c, Idle>),
}

impl<'c> ExportFlow<'c, Idle> {
    /// Probes for an export drive (`usb-test`).
    pub fn preflight(self) -> ExportPreflight<'c> {
        match step(
            self.client,
            &Command::UsbTest,
            &[],
            &mut crate::archive::NoProgress,
        ) {
            Step::Answered(status @ (Status::DeviceLocked | Status::DeviceWritable), _) => {
                ExportPreflight::Ready(self.to(DriveReady { preflight: status }))
            }
            Step::Answered(status, skipped) => {
                ExportPreflight::Failed(self.to(failed(status, skipped)))
            }
            Step::Error(error) => ExportPreflight::Failed(self.to(client_failed(error))),
            Step::Cancelled => ExportPreflight::Cancelled(self),
        }
    }
}

impl<'c> ExportFlow<'c, DriveReady> {
    /// Exports `files` (`disk`), unlocking the drive with `passphrase` if given.
    pub fn export(
        self,
        files: &[PathBuf],
        passphrase: Option<Passphrase>,
        progress: &mut dyn Progress,
    ) -> ExportAttempt<'c> {
        let command = Command::Disk { passphrase };
        let result = step(self.client, &command, files, progress);
        drop(command);
        match result {
            Step::Answered(Status::SuccessExport, skipped) => ExportAttempt::Done(self.to(Done {
                status: Status::SuccessExport,
                skipped,
            })),
            Step::Answered(status @ (Status::ErrorUnlockLuks | Status::ErrorUnlockGeneric), _) => {
                ExportAttempt::RetryPassphrase(self, status)
            }
            Step::Answered(status, skipped) => {
                ExportAttempt::Failed(self.to(failed(status, skipped)))
            }
            Step::Error(error) => ExportAttempt::Failed(self.to(client_failed(error))),
            Step::Cancelled => ExportAttempt::Cancelled(self.cancel()),
        }
    }
}

/// After a printer preflight.
#[derive(Debug)]
pub enum PrintPreflight<'c> {
    Ready(PrintFlow<'c, PrinterReady>),
    Failed(PrintFlow<'c, Failed>),
    Cancelled(PrintFlow<'c, Idle>),
}

/// After printing files or a test page.
#[derive(Debug)]
pub enum PrintAttempt<'c> {
    Done(PrintFlow<'c, Done>),
    Failed(PrintFlow<'c, Failed>),
    Cancelled(PrintFlow<'c, Idle>),
}

impl<'c> PrintFlow<'c, Idle> {
    /// Checks for one supported, ready printer (`printer-preflight`).
    pub fn preflight(self) -> PrintPreflight<'c> {
        let command = Command::PrinterPreflight;
        match step(self.client, &command, &[], &mut crate::archive::NoProgress) {
            Step::Answered(Status::PrinterPreflightSuccess, _) => {
                PrintPreflight::Ready(self.to(PrinterReady))
            }
            Step::Answered(status, skipped) => {
                PrintPreflight::Failed(self.to(failed(status, skipped)))
            }
            Step::Error(error) => PrintPreflight::Failed(self.to(client_failed(error))),
            Step::Cancelled => PrintPreflight::Cancelled(self),
        }
    }
}

impl<'c> PrintFlow<'c, PrinterReady> {
    /// Prints every file (`printer`). A file the printing qube would refuse
    /// ([`crate::printable::check`]) fails the step before anything is sent.
    pub fn print(self, files: &[PathBuf], progress: &mut dyn Progress) -> PrintAttempt<'c> {
        self.print_with(files, None, progress)
    }

    /// Prints every file (`printer`) with `options` in the archive's
    /// `print_options` (`None`: the printer's defaults, and no
    /// `print_options` key, as the existing client sends).
    pub fn print_with(
        self,
        files: &[PathBuf],
        options: Option<PrintOptions>,
        progress: &mut dyn Progress,
    ) -> PrintAttempt<'c> {
        if let Err(unprintable) = crate::printable::check(files) {
            return PrintAttempt::Failed(self.to(client_failed(unprintable.into())));
        }
        let command = Command::Printer { options };
        self.run(&command, files, progress, Status::PrinterSuccess)
    }

    /// Prints a test page (`printer-test`).
    pub fn print_test_page(self) -> PrintAttempt<'c> {
        self.run(
            &Command::PrinterTest,
            &[],
            &mut crate::archive::NoProgress,
            Status::PrinterTestSuccess,
        )
    }

    fn run(
        self,
        command: &Command,
        files: &[PathBuf],
        progress: &mut dyn Progress,
        success: Status,
    ) -> PrintAttempt<'c> {
        match step(self.client, command, files, progress) {
            Step::Answered(status, skipped) if status == success => {
                PrintAttempt::Done(self.to(Done { status, skipped }))
            }
            Step::Answered(status, skipped) => {
                PrintAttempt::Failed(self.to(failed(status, skipped)))
            }
            Step::Error(error) => PrintAttempt::Failed(self.to(client_failed(error))),
            Step::Cancelled => PrintAttempt::Cancelled(self.cancel()),
        }
    }
}
