//! Staging: every file of a print archive streamed into a private folder
//! and classified by its bytes ([`stage`]), then converted into what CUPS
//! prints ([`convert_all`]: office documents to PDF, other text encodings to
//! UTF-8, by [`super::convert`]). Names from the archive never reach the
//! disk: files are `file-N`.
//!
//! Effects: the private folder (0700, files 0600) the caller owns and drops.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sdw_protocol::printable::{self, Printable};

use super::convert::{self, ConvertError};
use super::{check, PrintError};
use crate::archive::{Archive, ExportMember, ExportPlan};

/// How long one LibreOffice conversion may take.
pub const CONVERT_TIMEOUT: Duration = Duration::from_secs(180);

/// One file to print, in the private folder.
pub struct Staged {
    /// Its place among the archive's files (logs name files by it).
    pub index: usize,
    pub path: PathBuf,
    pub kind: Printable,
}

/// A private 0700 folder under `temp_dir`, removed when dropped.
pub fn private_folder(temp_dir: &Path) -> Result<tempfile::TempDir, PrintError> {
    tempfile::Builder::new()
        .prefix("sdw-print-")
        .tempdir_in(temp_dir)
        .map_err(PrintError::Staging)
}

pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PrintError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(PrintError::Staging)?;
    file.write_all(bytes).map_err(PrintError::Staging)
}

/// Streams every file of `export_data/` (any depth) into `work` as
/// `file-N`, classifies each by its bytes, and refuses the whole job when one
/// cannot print.
pub fn stage(
    archive: &Archive,
    plan: &ExportPlan,
    work: &Path,
    interrupted: &AtomicBool,
    mut redactor: Option<&mut crate::redact::Redactor>,
) -> Result<Vec<Staged>, PrintError> {
    let files = work.join("files");
    fs::create_dir(&files).map_err(PrintError::Staging)?;
    let mut staged = Vec::new();
    archive.for_each_export_member(plan, |member| {
        check(interrupted)?;
        let ExportMember::File { data, path, size } = member else {
            return Ok::<(), PrintError>(());
        };
        let mut redacted;
        let data: &mut dyn Read = match redactor.as_deref_mut() {
            Some(redactor) => {
                redacted = redactor
                    .redact(path, size, data)
                    .map_err(PrintError::Redaction)?;
                &mut redacted
            }
            None => data,
        };
        let index = staged.len();
        let path = files.join(format!("file-{index}"));
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(PrintError::Staging)?;
        copy(data, &mut out, interrupted)?;
        out.sync_all().map_err(PrintError::Staging)?;
        let kind = printable::classify_file(&mut out).map_err(PrintError::Staging)?;
        tracing::info!(file = index, kind = ?kind, "classified");
        staged.push(Staged { index, path, kind });
        Ok(())
    })?;
    for file in &staged {
        match file.kind {
            Printable::Refused(kind) => {
                return Err(PrintError::Unprintable {
                    index: file.index,
                    kind,
                })
            }
            Printable::Unknown => {
                return Err(PrintError::MimetypeUnsupported { index: file.index })
            }
            Printable::Direct(_) | Printable::Convert(_) | Printable::Reencode(_) => {}
        }
    }
    Ok(staged)
}

/// Copies `data` to `out` in chunks, stopping when interrupted.
fn copy(data: &mut dyn Read, out: &mut File, interrupted: &AtomicBool) -> Result<(), PrintError> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        check(interrupted)?;
        let n = match data.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PrintError::Staging(e)),
        };
        out.write_all(buffer.get(..n).unwrap_or_default())
            .map_err(PrintError::Staging)?;
    }
}

/// Converts every office document to PDF, and every text in another encoding
/// to UTF-8, in place of the original.
pub fn convert_all(
    staged: &mut [Staged],
    work: &Path,
    interrupted: &AtomicBool,
) -> Result<(), PrintError> {
    let count = staged
        .iter()
        .filter(|f| matches!(f.kind, Printable::Convert(_) | Printable::Reencode(_)))
        .count();
    let mut position = 0;
    for file in staged.iter_mut() {
        check(interrupted)?;
        match file.kind {
            Printable::Convert(kind) => {
                position += 1;
                tracing::info!(file = file.index, kind = ?kind, "converting file {position} of {count} to PDF");
                let named = file.path.with_extension(kind.extension());
                fs::rename(&file.path, &named).map_err(PrintError::Staging)?;
                let scratch = work.join(format!("convert-{}", file.index));
                let pdf = convert::to_pdf(&named, &scratch, CONVERT_TIMEOUT, interrupted).map_err(
                    |source| {
                        if matches!(source, ConvertError::Interrupted) {
                            return PrintError::Interrupted;
                        }
                        tracing::error!(file = file.index, error = %source, "conversion failed");
                        PrintError::Convert {
                            index: file.index,
                            source,
                        }
                    },
                )?;
                file.path = pdf;
            }
            Printable::Reencode(encoding) => {
                position += 1;
                let utf8 = file.path.with_extension("utf8.txt");
                let from = convert::to_utf8(&file.path, &utf8, encoding, interrupted).map_err(
                    |source| {
                        if matches!(source, ConvertError::Interrupted) {
                            return PrintError::Interrupted;
                        }
                        tracing::error!(file = file.index, error = %source, "re-encoding failed");
                        PrintError::Reencode {
                            index: file.index,
                            source,
                        }
                    },
                )?;
                tracing::info!(
                    file = file.index,
                    from,
                    "re-encoded file {position} of {count} to UTF-8"
                );
                file.path = utf8;
            }
            Printable::Direct(_) | Printable::Refused(_) | Printable::Unknown => {}
        }
    }
    Ok(())
}
