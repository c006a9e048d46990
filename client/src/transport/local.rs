//! [`Local`]: runs a device-side binary directly on the archive, on this
//! machine, so the whole path can be tested and demonstrated without Qubes.
//! `sdw-devices ARCHIVE` (status: last stderr line), or, in folder mode, a disk
//! export into a folder with `sdw-devices export ARCHIVE --to DIR`.
//!
//! In folder mode the folder plays an unlocked, mounted drive: the drive probes
//! (`usb-test`, `disk-test`) are answered here, without running the binary,
//! `DEVICE_WRITABLE` when the folder is a directory and `NO_DEVICE_DETECTED`
//! otherwise. Printer commands still run `sdw-devices ARCHIVE`.

use std::ffi::OsString;
use std::path::PathBuf;

use sdw_protocol::{Command, Status};

use super::process::{self, ChildSpec, StatusStream};
use super::{Answer, Delivery, Transport, TransportError};
use crate::CancelToken;

/// A device-side binary run locally; the target qube is ignored.
#[derive(Debug, Clone)]
pub struct Local {
    program: PathBuf,
    export_dir: Option<PathBuf>,
}

impl Local {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Local {
            program: program.into(),
            export_dir: None,
        }
    }

    /// Sends `disk` archives to `sdw-devices export ARCHIVE --to DIR` instead of
    /// a USB drive. Every other command still runs `sdw-devices ARCHIVE`.
    pub fn exporting_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.export_dir = Some(dir.into());
        self
    }

    /// In folder mode, the answer to a drive probe: is the folder there?
    fn folder_probe(&self, delivery: &Delivery<'_>) -> Option<Status> {
        let dir = self.export_dir.as_ref()?;
        let probes = [
            Command::UsbTest.device_value(),
            Command::DiskTest.device_value(),
        ];
        if !probes.contains(&delivery.device) {
            return None;
        }
        Some(if dir.is_dir() {
            Status::DeviceWritable
        } else {
            Status::NoDeviceDetected
        })
    }

    fn args(&self, delivery: &Delivery<'_>) -> Vec<OsString> {
        let archive = delivery.archive.as_os_str().to_owned();
        let disk = Command::Disk { passphrase: None }.device_value();
        match &self.export_dir {
            Some(dir) if delivery.device == disk => vec![
                OsString::from("export"),
                archive,
                OsString::from("--to"),
                dir.as_os_str().to_owned(),
            ],
            _ => vec![archive],
        }
    }
}

impl Transport for Local {
    fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cancel: &CancelToken,
    ) -> Result<Answer, TransportError> {
        if let Some(status) = self.folder_probe(delivery) {
            tracing::debug!(%status, "folder mode: drive probe answered locally");
            return Ok(Answer::Status(status));
        }
        let spec = ChildSpec {
            program: self.program.clone().into_os_string(),
            args: self.args(delivery),
            stdin_file: None,
            status_stream: StatusStream::Stderr,
            timeout: delivery.timeout,
        };
        process::run(&spec, cancel, delivery.progress)
    }
}
