//! [`Client`]: one transport, the target qubes and timeouts, and the cancel
//! token. [`Client::send`] is one complete hand-over: build the archive, deliver
//! it, remove the archive. The state machines in [`crate::flow`] borrow the
//! client mutably, so only one export or print can run at a time.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use sdw_protocol::{layout, Command, PrintProgress, Redaction, Status};

use crate::archive::{self, ArchiveError, ArchiveRequest, Progress, SkippedFile};
use crate::flow::{ExportFlow, PrintFlow};
use crate::transport::{Answer, Delivery, Transport};
use crate::{CancelToken, Error};

/// Where and how long.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The qube for `usb-test`, `disk-test` and `disk`.
    pub export_target: String,
    /// The qube for the printer commands.
    pub print_target: String,
    /// Nests exported files under `export_data/SOURCE-NAME/`.
    pub source_name: Option<String>,
    /// Where the private temporary directories are made; the system's if `None`.
    pub temp_root: Option<PathBuf>,
    /// Limit for the probes (`usb-test`, `printer-preflight`, `printer-test`).
    pub probe_timeout: Option<Duration>,
    /// Limit for `disk` and `printer`, which move data.
    pub transfer_timeout: Option<Duration>,
    /// Asks the device side to redact the files' metadata (`metadata.json`
    /// field `redact`) on `disk` and `printer`; `None` sends no field.
    pub redact: Option<Redaction>,
    /// Asks the device side for progress lines on `printer` (`metadata.json`
    /// field `"progress": true`), handed to [`Progress::printing`]; `false`
    /// sends no field, and the device side answers the status word alone.
    pub progress: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            export_target: layout::DEVICES_QUBE.to_owned(),
            print_target: layout::PRINTERS_QUBE.to_owned(),
            source_name: None,
            temp_root: None,
            probe_timeout: Some(Duration::from_secs(180)),
            transfer_timeout: Some(Duration::from_secs(4 * 3600)),
            redact: None,
            progress: false,
        }
    }
}

/// What one hand-over gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The device side's status, and the inputs left out of the archive.
    Answered {
        status: Status,
        skipped: Vec<SkippedFile>,
    },
    /// Cancelled: the device call (if any) was killed, the archive removed.
    Cancelled,
}

/// Sends archives to the device qubes through one transport.
pub struct Client {
    transport: Box<dyn Transport>,
    config: ClientConfig,
    cancel: CancelToken,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(transport: Box<dyn Transport>, config: ClientConfig) -> Self {
        Client {
            transport,
            config,
            cancel: CancelToken::new(),
        }
    }

    /// A handle that cancels whatever this client is doing, from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The export state machine, starting idle.
    pub fn export(&mut self) -> ExportFlow<'_, crate::flow::Idle> {
        ExportFlow::new(self)
    }

    /// The print state machine, starting idle.
    pub fn print(&mut self) -> PrintFlow<'_, crate::flow::Idle> {
        PrintFlow::new(self)
    }

    /// Builds the archive for `command` with `files`, hands it to the right
    /// qube, and removes it. A raised cancel token is lowered on return.
    pub fn send(
        &mut self,
        command: &Command,
        files: &[PathBuf],
        progress: &mut dyn Progress,
    ) -> Result<Reply, Error> {
        let reply = self.send_inner(command, files, progress);
        if matches!(reply, Ok(Reply::Cancelled)) {
            self.cancel.reset();
        }
        reply
    }

    fn send_inner(
        &self,
        command: &Command,
        files: &[PathBuf],
        progress: &mut dyn Progress,
    ) -> Result<Reply, Error> {
        if self.cancel.is_cancelled() {
            return Ok(Reply::Cancelled);
        }
        let request = ArchiveRequest {
            command,
            files,
            source_name: self.config.source_name.as_deref(),
            temp_root: self.config.temp_root.as_deref(),
            redact: self.config.redact,
            progress: self.config.progress,
        };
        let built = match archive::build(&request, progress, &self.cancel) {
            Ok(built) => built,
            Err(ArchiveError::Cancelled) => return Ok(Reply::Cancelled),
            Err(e) => return Err(e.into()),
        };
        let progress = RefCell::new(progress);
        let report = |p: PrintProgress| progress.borrow_mut().printing(p);
        let asked = self.config.progress && matches!(command, Command::Printer { .. });
        let delivery = Delivery {
            target: self.target_for(command),
            archive: built.path(),
            device: command.device_value(),
            timeout: self.timeout_for(command),
            progress: if asked { Some(&report) } else { None },
        };
        tracing::info!(
            target = delivery.target,
            device = delivery.device,
            "handing over the archive"
        );
        let answer = self.transport.deliver(&delivery, &self.cancel);
        let skipped = remove_archive(built);
        match answer? {
            Answer::Status(status) => Ok(Reply::Answered { status, skipped }),
            Answer::Cancelled => Ok(Reply::Cancelled),
        }
    }

    fn target_for(&self, command: &Command) -> &str {
        match command {
            Command::Printer { .. } | Command::PrinterPreflight | Command::PrinterTest => {
                &self.config.print_target
            }
            Command::Start | Command::UsbTest | Command::DiskTest | Command::Disk { .. } => {
                &self.config.export_target
            }
        }
    }

    fn timeout_for(&self, command: &Command) -> Option<Duration> {
        match command {
            Command::Disk { .. } | Command::Printer { .. } => self.config.transfer_timeout,
            _ => self.config.probe_timeout,
        }
    }
}

fn remove_archive(built: archive::BuiltArchive) -> Vec<SkippedFile> {
    let skipped = built.skipped().to_vec();
    let dir = built.dir().display().to_string();
    if let Err(e) = built.remove() {
        tracing::error!(%dir, error = %e, "could not remove the temporary archive");
    }
    skipped
}
