//! Metadata redaction on export (`metadata.json` field `redact`, issue 16):
//! what identifies a source in a file's container (EXIF GPS positions and
//! camera serials, PDF authors, office document properties, comment and
//! revision authors, thumbnails) is removed file by file, on the way from the
//! archive to the drive, in the unprivileged process. Pixels, pages and text
//! are never re-encoded.
//!
//! Its own crate (no dependency on the device side) so that two programs run
//! the same code: the device side (`sdw-devices`, whose writer wraps
//! [`Redactor`] as a `Transform`) redacts the files on their way to the drive
//! and writes the report, and the client (`sdw-export --redact --json`) runs
//! the same analysis on the files it is about to send, to list what will be
//! removed ([`VERSION`] names the code in both).
//!
//! [`Redactor`]: for each file it sniffs the
//! type from the first bytes ([`sniff::Kind`]), reads a supported file of at
//! most [`MAX_REDACT_BYTES`] into memory, redacts it with the format's crate
//! ([`image`]: JPEG, PNG, WebP with img-parts; [`tiff`]: TIFF directories
//! edited in place; [`heif`]: EXIF and XMP items overwritten in place;
//! [`pdf`]: lopdf; [`office`]: zip and quick-xml), then checks the result against the original (decoded
//! pixels, page contents, document parts) and answers the bytes to write. A
//! file that cannot be redacted safely is written unchanged and flagged; under
//! [`Redaction::Strict`] it stops the export instead, and the writer discards
//! the staging folder, so nothing is published. The report (`REDACTION.txt`,
//! beside `export_data/`) names for each file the fields removed (never their
//! values) or why it was not redacted.
//!
//! Memory: one file of at most [`MAX_REDACT_BYTES`] and its redacted copy,
//! the format's parse of it, and at most [`image::DECODE_BUDGET_BYTES`] of
//! decoded pixels at a time. Larger files are streamed unchanged (and flagged).
//!
//! Effects: none; it reads what the writer hands it and answers bytes.

pub mod corpus;
pub mod heif;
pub mod image;
pub mod office;
pub mod pdf;
pub mod sniff;
pub mod tiff;
mod xmp;

use std::fmt::Write as _;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use sdw_protocol::printable::HEAD_BYTES;
use sdw_protocol::Redaction;

pub use sniff::Kind;

/// This crate's version: the client names it beside the list it computes,
/// and `REDACTION.txt` names it, so the two can be told to come from the same
/// code.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Files larger than this are not redacted (they are exported unchanged and
/// flagged, or refused under strict). 32 MiB holds nearly every photo (2-12
/// MiB from phones and cameras), and most PDFs and office documents; the
/// formats need random access (lopdf and zip read the whole file), so the
/// file, its redacted copy and the parse must fit in a disposable qube's
/// memory next to the decoded-pixel check: about 2 x 32 MiB + the parse
/// (lopdf: 2-3 x the file) + 256 MiB of pixels, well under 512 MiB.
pub const MAX_REDACT_BYTES: u64 = 32 * 1024 * 1024;

/// The report's file name, beside `export_data/`.
pub const REPORT_FILE: &str = "REDACTION.txt";

/// A strict redaction that could not be done: the export stops.
#[derive(Debug, thiserror::Error)]
#[error("strict redaction: {path:?} ({kind}) cannot be redacted: {reason}")]
pub struct RedactError {
    pub path: String,
    pub kind: &'static str,
    pub reason: String,
}

/// A format's redaction of one file, already checked against the original.
#[derive(Debug, Default)]
pub struct Redacted {
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// What was removed: names of fields and parts, never their values.
    pub removed: Vec<String>,
    /// What was kept on purpose, or left alone.
    pub kept: Vec<String>,
    /// How the result was checked against the original.
    pub checked: String,
}

/// Why [`Redactor::redact`] stopped: the export must stop too.
#[derive(Debug, thiserror::Error)]
pub enum RedactFileError {
    /// The file's bytes could not be read.
    #[error("could not read the file: {0}")]
    Read(#[source] io::Error),
    /// Strict redaction met a file it cannot redact.
    #[error(transparent)]
    Refused(#[from] RedactError),
}

/// Why a file could not be redacted safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotRedacted(pub String);

impl NotRedacted {
    pub fn new(reason: impl Into<String>) -> Self {
        NotRedacted(reason.into())
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fields were removed, and the result checked.
    Redacted {
        removed: Vec<String>,
        kept: Vec<String>,
        checked: String,
    },
    /// A supported format, and nothing was found to remove: written as it is.
    NothingFound { kept: Vec<String> },
    /// A format without a metadata container (plain text): written as it is.
    NoMetadataFormat,
    /// Written unchanged, and flagged.
    NotRedacted { reason: String },
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The path below `export_data/`.
    pub path: String,
    pub kind: Kind,
    pub outcome: Outcome,
}

/// The report keeps every file's details up to this size, then only the
/// files that were not redacted up to [`MAX_REPORT_BYTES`], then counts: the
/// report is held in memory until the last file is written, and an archive
/// may hold 100,000 files.
pub const DETAILED_REPORT_BYTES: usize = 16 * 1024 * 1024;
/// The most the report may hold; see [`DETAILED_REPORT_BYTES`].
pub const MAX_REPORT_BYTES: usize = 32 * 1024 * 1024;

/// How many files had each outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: usize,
    pub redacted: usize,
    pub not_redacted: usize,
    /// Files whose entry did not fit in the report.
    pub omitted: usize,
}

/// Redacts every file of an export; see the module documentation.
///
/// Each file's entry is rendered into the report as soon as the file is
/// done, so that memory holds one string, not a structure per file (many
/// small allocations kept per file fragmented the heap: 1.6 GiB for 6,000
/// small documents before this, flat after).
pub struct Redactor {
    mode: Redaction,
    entries: String,
    counts: Counts,
    last: Option<FileReport>,
}

impl Redactor {
    pub fn new(mode: Redaction) -> Redactor {
        Redactor {
            mode,
            entries: String::new(),
            counts: Counts::default(),
            last: None,
        }
    }

    /// What happened to the last file.
    pub fn last(&self) -> Option<&FileReport> {
        self.last.as_ref()
    }

    /// How many files had each outcome so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }
    /// Redacts one file read from `data` (`size` bytes), returning what to
    /// write. Under strict, a file that cannot be redacted is an error.
    ///
    /// Everything is decided before this returns ([`Redactor::last`] says
    /// what): a caller that only wants the list need not read the answer.
    pub fn redact<'a>(
        &mut self,
        path: &str,
        size: u64,
        data: &'a mut dyn Read,
    ) -> Result<Box<dyn Read + 'a>, RedactFileError> {
        let mut head = Vec::with_capacity(HEAD_BYTES.min(usize::try_from(size).unwrap_or(0)));
        read_all(&mut data.take(HEAD_BYTES as u64), &mut head)?;
        let kind = Kind::of(&head);
        let outcome = match kind {
            Kind::Text | Kind::Empty => Some(Outcome::NoMetadataFormat),
            Kind::Unsupported(_) | Kind::Unknown => Some(Outcome::NotRedacted {
                reason: "this format is not redacted".into(),
            }),
            _ if size > MAX_REDACT_BYTES => Some(Outcome::NotRedacted {
                reason: format!(
                    "larger than {} MiB, the most redacted in memory",
                    MAX_REDACT_BYTES / (1024 * 1024)
                ),
            }),
            _ => None,
        };
        if let Some(outcome) = outcome {
            self.record(path, kind, outcome)?;
            return Ok(Box::new(io::Cursor::new(head).chain(data)));
        }
        let mut original = head;
        original.reserve(
            usize::try_from(size)
                .unwrap_or(0)
                .saturating_sub(original.len()),
        );
        read_all(data, &mut original)?;
        let result = catch_unwind(AssertUnwindSafe(|| redact_bytes(kind, &original)))
            .unwrap_or_else(|_| Err(NotRedacted::new("the parser failed on this file")));
        match result {
            Ok(redacted) if redacted.removed.is_empty() => {
                self.record(
                    path,
                    kind,
                    Outcome::NothingFound {
                        kept: redacted.kept,
                    },
                )?;
                Ok(Box::new(io::Cursor::new(original)))
            }
            Ok(redacted) => {
                self.record(
                    path,
                    kind,
                    Outcome::Redacted {
                        removed: redacted.removed,
                        kept: redacted.kept,
                        checked: redacted.checked,
                    },
                )?;
                Ok(Box::new(io::Cursor::new(redacted.bytes)))
            }
            Err(NotRedacted(reason)) => {
                self.record(path, kind, Outcome::NotRedacted { reason })?;
                Ok(Box::new(io::Cursor::new(original)))
            }
        }
    }

    fn record(&mut self, path: &str, kind: Kind, outcome: Outcome) -> Result<(), RedactError> {
        tracing::info!(file = path, kind = kind.name(), ?outcome, "redaction");
        if let (Redaction::Strict, Outcome::NotRedacted { reason }) = (self.mode, &outcome) {
            tracing::warn!(file = path, reason, "strict redaction refused the export");
            return Err(RedactError {
                path: path.to_owned(),
                kind: kind.name(),
                reason: reason.clone(),
            });
        }
        let report = FileReport {
            path: path.to_owned(),
            kind,
            outcome,
        };
        self.counts.files += 1;
        let not_redacted = matches!(report.outcome, Outcome::NotRedacted { .. });
        if not_redacted {
            self.counts.not_redacted += 1;
        }
        if matches!(report.outcome, Outcome::Redacted { .. }) {
            self.counts.redacted += 1;
        }
        let entry = report.entry();
        let room = if not_redacted {
            MAX_REPORT_BYTES
        } else {
            DETAILED_REPORT_BYTES
        };
        if self.entries.len().saturating_add(entry.len()) <= room {
            self.entries.push_str(&entry);
        } else {
            self.counts.omitted += 1;
        }
        self.last = Some(report);
        Ok(())
    }

    /// The text of `REDACTION.txt`.
    pub fn report(&self) -> String {
        let mut out = String::with_capacity(self.entries.len() + 512);
        let _ = writeln!(
            out,
            "Metadata redaction of this export ({}).",
            match self.mode {
                Redaction::BestEffort =>
                    "redact: files that could not be redacted are exported unchanged",
                Redaction::Strict => "strict: every file was redacted or holds no metadata",
            }
        );
        let _ = writeln!(
            out,
            "For each file in export_data/: what was removed (names of fields, never their values), or why it was not redacted."
        );
        let _ = writeln!(out, "Made by sdw-redact {VERSION}.");
        let counts = self.counts;
        let _ = writeln!(
            out,
            "{} files, {} NOT REDACTED.\n",
            counts.files, counts.not_redacted
        );
        out.push_str(&self.entries);
        if counts.omitted > 0 {
            let _ = writeln!(
                out,
                "\n{} more files are not listed: the report reached its size limit (every file NOT REDACTED is listed up to {} MiB).",
                counts.omitted,
                MAX_REPORT_BYTES / (1024 * 1024)
            );
        }
        out
    }
}

impl FileReport {
    /// This file's entry in the report, as `REDACTION.txt` has it.
    pub fn entry(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "export_data/{}", self.path);
        let kind = self.kind.name();
        match &self.outcome {
            Outcome::Redacted {
                removed,
                kept,
                checked,
            } => {
                let _ = writeln!(out, "  {kind}: redacted");
                for item in removed {
                    let _ = writeln!(out, "  removed: {item}");
                }
                for item in kept {
                    let _ = writeln!(out, "  kept: {item}");
                }
                let _ = writeln!(out, "  checked: {checked}");
            }
            Outcome::NothingFound { kept } => {
                let _ = writeln!(out, "  {kind}: no metadata found; written unchanged");
                for item in kept {
                    let _ = writeln!(out, "  kept: {item}");
                }
            }
            Outcome::NoMetadataFormat => {
                let _ = writeln!(
                    out,
                    "  {kind}: this format holds no metadata; written unchanged"
                );
            }
            Outcome::NotRedacted { reason } => {
                let _ = writeln!(out, "  {kind}: NOT REDACTED, written unchanged: {reason}");
            }
        }
        out
    }
}

/// Redacts a whole file of a supported kind and checks the result.
pub fn redact_bytes(kind: Kind, original: &[u8]) -> Result<Redacted, NotRedacted> {
    match kind {
        Kind::Jpeg => image::redact_jpeg(original),
        Kind::Png => image::redact_png(original),
        Kind::Webp => image::redact_webp(original),
        Kind::Tiff => tiff::redact(original),
        Kind::Heif => heif::redact(original),
        Kind::Pdf => pdf::redact(original),
        Kind::Ooxml(_) => office::redact_ooxml(original),
        Kind::Odf(_) => office::redact_odf(original),
        _ => Err(NotRedacted::new("this format is not redacted")),
    }
}

fn read_all(data: &mut dyn Read, into: &mut Vec<u8>) -> Result<(), RedactFileError> {
    data.read_to_end(into)
        .map(|_| ())
        .map_err(RedactFileError::Read)
}

/// Entry points for fuzzing (`fuzz/fuzz_targets/redact_*.rs`): every parser
/// of untrusted bytes redaction adds (img-parts, kamadak-exif, lopdf, zip,
/// quick-xml, and our own walks over them), including the pictures inside
/// PDFs and office documents, reached through [`fuzzing::pdf`] and
/// [`fuzzing::office`]. None may panic, whatever the bytes.
pub mod fuzzing {
    use sdw_protocol::printable::OfficeKind;

    use super::{redact_bytes, Kind};

    /// Sniffs and redacts `data` as the writer would.
    pub fn redact(data: &[u8]) {
        let _ = redact_bytes(Kind::of(data), data);
    }

    /// `data` as a JPEG, a PNG, a WebP and a TIFF.
    pub fn image(data: &[u8]) {
        for kind in [Kind::Jpeg, Kind::Png, Kind::Webp, Kind::Tiff, Kind::Heif] {
            let _ = redact_bytes(kind, data);
        }
    }

    /// `data` as a PDF.
    pub fn pdf(data: &[u8]) {
        let _ = redact_bytes(Kind::Pdf, data);
    }

    /// `data` as an OOXML and an ODF document.
    pub fn office(data: &[u8]) {
        let _ = redact_bytes(Kind::Ooxml(OfficeKind::Docx), data);
        let _ = redact_bytes(Kind::Odf(OfficeKind::OdfText), data);
    }

    /// Redacts `data` as each format in turn, whatever its first bytes say.
    pub fn redact_as_every_kind(data: &[u8]) {
        image(data);
        pdf(data);
        office(data);
    }
}

#[cfg(test)]
mod tests;
