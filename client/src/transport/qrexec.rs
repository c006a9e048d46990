//! The two real qrexec transports, both run through `qrexec-client-vm`:
//! [`OpenInVm`], what the existing client does, and [`ExportService`], the
//! dedicated `securedrop.Export` service (archive on stdin, status on stdout).

use std::ffi::OsString;

use sdw_protocol::layout;

use super::process::{self, ChildSpec, StatusStream};
use super::{Answer, Delivery, Transport, TransportError};
use crate::CancelToken;

/// Where Qubes installs the qrexec client in a qube.
pub const DEFAULT_QREXEC_CLIENT: &str = "/usr/bin/qrexec-client-vm";

/// `qrexec-client-vm -- TARGET qubes.OpenInVM /usr/lib/qubes/qopen-in-vm --view-only -- ARCHIVE`;
/// the status is the last non-empty line of stderr.
#[derive(Debug, Clone)]
pub struct OpenInVm {
    program: OsString,
}

impl OpenInVm {
    /// Uses `program` in place of `qrexec-client-vm`.
    pub fn new(program: impl Into<OsString>) -> Self {
        OpenInVm {
            program: program.into(),
        }
    }
}

impl Default for OpenInVm {
    fn default() -> Self {
        Self::new(DEFAULT_QREXEC_CLIENT)
    }
}

impl Transport for OpenInVm {
    fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cancel: &CancelToken,
    ) -> Result<Answer, TransportError> {
        let args = vec![
            OsString::from("--"),
            OsString::from(delivery.target),
            OsString::from(layout::QREXEC_OPEN_IN_VM),
            OsString::from(layout::QOPEN_IN_VM),
            OsString::from("--view-only"),
            OsString::from("--"),
            delivery.archive.as_os_str().to_owned(),
        ];
        let spec = ChildSpec {
            program: self.program.clone(),
            args,
            stdin_file: None,
            status_stream: StatusStream::Stderr,
            timeout: delivery.timeout,
        };
        process::run(&spec, cancel, delivery.progress)
    }
}

/// `qrexec-client-vm TARGET securedrop.Export` with the archive on stdin; the
/// status is the last non-empty line of stdout.
#[derive(Debug, Clone)]
pub struct ExportService {
    program: OsString,
}

impl ExportService {
    /// Uses `program` in place of `qrexec-client-vm`.
    pub fn new(program: impl Into<OsString>) -> Self {
        ExportService {
            program: program.into(),
        }
    }
}

impl Default for ExportService {
    fn default() -> Self {
        Self::new(DEFAULT_QREXEC_CLIENT)
    }
}

impl Transport for ExportService {
    fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cancel: &CancelToken,
    ) -> Result<Answer, TransportError> {
        let spec = ChildSpec {
            program: self.program.clone(),
            args: vec![
                OsString::from(delivery.target),
                OsString::from(layout::QREXEC_EXPORT_SERVICE),
            ],
            stdin_file: Some(delivery.archive.to_owned()),
            status_stream: StatusStream::Stdout,
            timeout: delivery.timeout,
        };
        process::run(&spec, cancel, delivery.progress)
    }
}
