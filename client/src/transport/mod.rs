//! Handing an archive to the device side and reading one status back.
//!
//! [`Transport`] is the one interface; its implementations are
//! [`OpenInVm`] (`qrexec-client-vm ... qubes.OpenInVM`, status on stderr),
//! [`ExportService`] (`qrexec-client-vm TARGET securedrop.Export`, archive on
//! stdin, status on stdout) and [`Local`] (a device-side binary run directly on
//! the archive, for tests and demos). All three run the child through
//! [`process`], which bounds what it keeps, kills on cancellation or timeout,
//! and reads the status with [`Status::from_untrusted_stderr`].

mod local;
mod process;
mod qrexec;

use std::path::Path;
use std::time::Duration;

use sdw_protocol::{PrintProgress, Status};

pub use local::Local;
pub use qrexec::{ExportService, OpenInVm, DEFAULT_QREXEC_CLIENT};

/// One hand-over of an archive.
#[derive(Clone, Copy)]
pub struct Delivery<'a> {
    /// The qube to call, e.g. `sd-devices`.
    pub target: &'a str,
    pub archive: &'a Path,
    /// The archive's `device` value, for transports that run differently per command.
    pub device: &'static str,
    /// Give up (and kill the child) after this long.
    pub timeout: Option<Duration>,
    /// Where the progress lines read before the status go, when the archive
    /// asked for them (`"progress": true`); called on the delivering thread.
    /// `None`: progress lines are only skipped.
    pub progress: Option<&'a dyn Fn(PrintProgress)>,
}

impl std::fmt::Debug for Delivery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("target", &self.target)
            .field("archive", &self.archive)
            .field("device", &self.device)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How a hand-over ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The device side answered (possibly [`Status::UnexpectedReturnStatus`]).
    Status(Status),
    /// The caller cancelled; the child was killed.
    Cancelled,
}

/// Why a hand-over produced no status.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("could not run {program:?}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost track of {program:?}: {source}")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program:?} did not finish within {timeout:?} and was killed")]
    TimedOut { program: String, timeout: Duration },
    #[error("{program:?} exited with code {code} and gave no status")]
    Failed { program: String, code: i32 },
    #[error("{program:?} was killed by a signal")]
    Killed { program: String },
}

/// Hands one archive to a device side and reads its status.
pub trait Transport: Send {
    /// Delivers the archive, honouring `cancel` and the delivery's timeout.
    fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cancel: &crate::CancelToken,
    ) -> Result<Answer, TransportError>;
}
