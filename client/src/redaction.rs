//! The redaction list, computed on this side: with `--redact`, the client runs
//! the device side's own redaction code (the `sdw-redact` crate, same
//! version) over the files it is about to send, so that it can say per file
//! what will be removed, or why the file will not be redacted — the protocol
//! answers one status word, so the device cannot send its list back. Under
//! strict, a file that would not be redactable stops the export here, before
//! anything is sent.
//!
//! The device side's own record stays `REDACTION.txt` on the drive; this list
//! is what the same code finds in the same bytes.
//!
//! Effects: reads each input file once (symbolic links not followed, as the
//! archive does), one file at a time: at most one file of
//! [`sdw_redact::MAX_REDACT_BYTES`] and its redacted copy in memory, as on
//! the device side; the redacted bytes are dropped. Larger and unsupported
//! files are not read past their first bytes.

use std::io;
use std::path::PathBuf;

use sdw_protocol::{layout, Redaction};
use sdw_redact::{FileReport, Outcome, RedactFileError, Redactor};

use crate::archive::{classify, open_no_follow};
use crate::cancel::CancelToken;
use crate::names::{sanitize, UniqueNames};

/// The list keeps every file's details up to this many bytes of text, then
/// only the files NOT REDACTED (as `REDACTION.txt` does), then counts.
pub const MAX_LISTED_BYTES: usize = sdw_redact::DETAILED_REPORT_BYTES;

/// One file of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The input file.
    pub file: PathBuf,
    /// What the device side will find: the path below `export_data/`, the
    /// format and the outcome.
    pub report: FileReport,
}

/// What the redaction will do to each file sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub mode: Redaction,
    /// The files in the order they are sent.
    pub files: Vec<Listed>,
    /// Files left out of `files` once the list reached [`MAX_LISTED_BYTES`].
    pub omitted: usize,
}

impl Listing {
    /// How many files will be written unchanged because they cannot be redacted.
    pub fn not_redacted(&self) -> impl Iterator<Item = &Listed> {
        self.files
            .iter()
            .filter(|f| matches!(f.report.outcome, Outcome::NotRedacted { .. }))
    }
}

/// Why the list could not be made, or the export may not go on.
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    /// Strict: this file would not be redacted, so the device would refuse
    /// the export. Nothing is sent.
    #[error(
        "{file:?} cannot be redacted ({kind}): {reason}; with --redact=strict nothing is sent"
    )]
    Refused {
        file: PathBuf,
        kind: &'static str,
        reason: String,
    },
    /// The cancel token was raised (Ctrl-C) between two files.
    #[error("cancelled while listing the redaction")]
    Cancelled,
    #[error("could not read {file:?} to list its redaction: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Lists what redaction in `mode` will do to `files`, named as the archive
/// names them (`export_data/SOURCE-NAME/...` when `source_name` is given).
/// Files the archive would skip (missing, not regular) are skipped here too.
/// `cancel` is looked at before each file.
pub fn list(
    files: &[PathBuf],
    source_name: Option<&str>,
    mode: Redaction,
    cancel: &CancelToken,
) -> Result<Listing, ListingError> {
    let folder = match source_name.filter(|name| !name.is_empty()) {
        Some(source) => format!("{}/", sanitize(source.as_ref())),
        None => String::new(),
    };
    let (candidates, _) = classify(files);
    let mut skipped = Vec::new();
    let mut names = UniqueNames::new();
    let mut redactor = Redactor::new(mode);
    let mut listing = Listing {
        mode,
        files: Vec::new(),
        omitted: 0,
    };
    let mut listed_bytes = 0usize;
    for (path, _) in candidates {
        if cancel.is_cancelled() {
            return Err(ListingError::Cancelled);
        }
        let Some((file, size)) = open_no_follow(path, &mut skipped) else {
            continue;
        };
        let base = path.file_name().unwrap_or_default();
        let name = format!("{folder}{}", names.claim(base));
        let mut data = io::Read::take(file, size);
        match redactor.redact(&name, size, &mut data) {
            // Everything is decided: the bytes to write are not needed here.
            Ok(_) => {}
            Err(RedactFileError::Refused(refused)) => {
                return Err(ListingError::Refused {
                    file: path.clone(),
                    kind: refused.kind,
                    reason: refused.reason,
                })
            }
            Err(RedactFileError::Read(source)) => {
                return Err(ListingError::Read {
                    file: path.clone(),
                    source,
                })
            }
        }
        let Some(report) = redactor.last().cloned() else {
            continue;
        };
        let size = report.entry().len();
        let room = match report.outcome {
            Outcome::NotRedacted { .. } => sdw_redact::MAX_REPORT_BYTES,
            _ => MAX_LISTED_BYTES,
        };
        if listed_bytes.saturating_add(size) <= room {
            listed_bytes += size;
            listing.files.push(Listed {
                file: path.clone(),
                report,
            });
        } else {
            listing.omitted += 1;
        }
    }
    tracing::debug!(files = listing.files.len(), "redaction listed");
    Ok(listing)
}

/// `export_data/NAME`, as `REDACTION.txt` names a file.
pub fn on_the_drive(name: &str) -> String {
    format!("{}/{name}", layout::EXPORT_DATA_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{build, ArchiveRequest, NoProgress};
    use sdw_protocol::Command;
    use sdw_redact::corpus;

    fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn lists_each_file_under_the_name_the_archive_gives_it() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let files = vec![
            write(dir.path(), "photo.jpg", &corpus::jpeg()),
            dir.path().join("missing.pdf"),
            write(&other, "photo.jpg", b"plain notes\n"),
            write(dir.path(), "anim.gif", b"GIF89a\x01\0\x01\0"),
        ];
        let listing = list(
            &files,
            Some("Jane Doe"),
            Redaction::BestEffort,
            &CancelToken::new(),
        )
        .unwrap();
        let names: Vec<&str> = listing
            .files
            .iter()
            .map(|f| f.report.path.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Jane Doe/photo.jpg",
                "Jane Doe/photo (2).jpg",
                "Jane Doe/anim.gif"
            ]
        );
        // The same names as the archive's members.
        let archive = build(
            &ArchiveRequest {
                command: &Command::Disk { passphrase: None },
                files: &files,
                source_name: Some("Jane Doe"),
                temp_root: Some(dir.path()),
                redact: Some(Redaction::BestEffort),
                progress: false,
            },
            &mut NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
        let members: Vec<String> = archive
            .included()
            .iter()
            .map(|f| f.archive_name.clone())
            .collect();
        let expected: Vec<String> = names.iter().map(|n| format!("export_data/{n}")).collect();
        assert_eq!(members, expected);
        assert_eq!(listing.files[0].file, files[0]);
        assert!(matches!(
            &listing.files[0].report.outcome,
            Outcome::Redacted { removed, .. } if removed.iter().any(|r| r.contains("GPSLatitude"))
        ));
        assert_eq!(listing.files[1].report.outcome, Outcome::NoMetadataFormat);
        assert_eq!(listing.not_redacted().count(), 1);
        assert_eq!(listing.omitted, 0);
    }

    #[test]
    fn strict_stops_at_a_file_that_would_not_be_redacted_and_cancel_stops_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            write(dir.path(), "memo.pdf", &corpus::pdf()),
            write(dir.path(), "anim.gif", b"GIF89a\x01\0\x01\0"),
        ];
        let err = list(&files, None, Redaction::Strict, &CancelToken::new()).unwrap_err();
        assert!(
            matches!(&err, ListingError::Refused { file, kind: "GIF", .. } if *file == files[1]),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing is sent"));
        let cancel = CancelToken::new();
        cancel.cancel();
        assert!(matches!(
            list(&files, None, Redaction::BestEffort, &cancel),
            Err(ListingError::Cancelled)
        ));
    }
}
