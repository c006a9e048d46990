//! [`Local`]: runs a device-side binary directly on the archive, on this
//! machine, so the whole path can be tested and demonstrated without Qubes.
//! `sdw-devices ARCHIVE` (status: last stderr line), or, for a disk export into
//! a folder, `sdw-devices export ARCHIVE --to DIR`.

use std::ffi::OsString;
use std::path::PathBuf;

use sdw_protocol::Command;

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
        let spec = ChildSpec {
            program: self.program.clone().into_os_string(),
            args: self.args(delivery),
            stdin_file: None,
            status_stream: StatusStream::Stderr,
            timeout: delivery.timeout,
        };
        process::run(&spec, cancel)
    }
}
