//! [`Error`], everything that can stop an operation on the client side, and its
//! one mapping to a status word (`From<&Error> for Status`).
//!
//! The mapping: every file missing is `ERROR_MISSING_FILES`; any other failure to
//! build or hand over the archive (temporary directory, I/O, the qrexec call
//! could not run, was killed, timed out, or failed without a status) is
//! `CALLED_PROCESS_ERROR`. A cancelled operation is not an error.

use sdw_protocol::Status;

use crate::archive::ArchiveError;
use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<&Error> for Status {
    fn from(error: &Error) -> Status {
        match error {
            Error::Archive(ArchiveError::AllFilesMissing { .. }) => Status::ErrorMissingFiles,
            Error::Archive(_) | Error::Transport(_) => Status::CalledProcessError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn maps_every_error_to_its_status() {
        let io = || std::io::Error::other("boom");
        let program = || "qrexec-client-vm".to_owned();
        let cases = [
            (
                Error::from(ArchiveError::AllFilesMissing { skipped: vec![] }),
                Status::ErrorMissingFiles,
            ),
            (
                ArchiveError::TempDir(io()).into(),
                Status::CalledProcessError,
            ),
            (ArchiveError::Write(io()).into(), Status::CalledProcessError),
            (
                ArchiveError::Read {
                    path: "x".into(),
                    source: io(),
                }
                .into(),
                Status::CalledProcessError,
            ),
            (
                ArchiveError::FileChanged { path: "x".into() }.into(),
                Status::CalledProcessError,
            ),
            (ArchiveError::Cancelled.into(), Status::CalledProcessError),
            (
                TransportError::Spawn {
                    program: program(),
                    source: io(),
                }
                .into(),
                Status::CalledProcessError,
            ),
            (
                TransportError::Wait {
                    program: program(),
                    source: io(),
                }
                .into(),
                Status::CalledProcessError,
            ),
            (
                TransportError::TimedOut {
                    program: program(),
                    timeout: Duration::from_secs(1),
                }
                .into(),
                Status::CalledProcessError,
            ),
            (
                TransportError::Failed {
                    program: program(),
                    code: 126,
                }
                .into(),
                Status::CalledProcessError,
            ),
            (
                TransportError::Killed { program: program() }.into(),
                Status::CalledProcessError,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(Status::from(&error), status, "{error}");
        }
    }
}
