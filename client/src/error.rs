//! [`Error`], everything that can stop an operation on the client side, and its
//! one mapping to a status word (`From<&Error> for Status`).
//!
//! The mapping: every file missing is `ERROR_MISSING_FILES`; a file the printing
//! qube would refuse is `ERROR_UNPRINTABLE_TYPE` (audio, video, archives) or
//! `ERROR_MIMETYPE_UNSUPPORTED` (anything else it does not print); any other failure to
//! build or hand over the archive (temporary directory, I/O, the qrexec call
//! could not run, was killed, timed out, or failed without a status) is
//! `CALLED_PROCESS_ERROR`. A cancelled operation is not an error.

use sdw_protocol::Status;

use crate::archive::ArchiveError;
use crate::printable::{Refused, Unprintable};
use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Unprintable(#[from] Unprintable),
}

impl From<&Error> for Status {
    fn from(error: &Error) -> Status {
        match error {
            Error::Archive(ArchiveError::AllFilesMissing { .. }) => Status::ErrorMissingFiles,
            Error::Unprintable(Unprintable {
                kind: Refused::Recognised(_),
                ..
            }) => Status::ErrorUnprintableType,
            Error::Unprintable(Unprintable {
                kind: Refused::Unsupported,
                ..
            }) => Status::ErrorMimetypeUnsupported,
            Error::Archive(_) | Error::Transport(_) => Status::CalledProcessError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdw_protocol::printable::Refusal;
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
            (
                Unprintable {
                    path: "song.mp3".into(),
                    kind: Refused::Recognised(Refusal::Audio),
                }
                .into(),
                Status::ErrorUnprintableType,
            ),
            (
                Unprintable {
                    path: "x".into(),
                    kind: Refused::Unsupported,
                }
                .into(),
                Status::ErrorMimetypeUnsupported,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(Status::from(&error), status, "{error}");
        }
    }
}
