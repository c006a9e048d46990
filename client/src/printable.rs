//! The printable-type check on the client: before a printer is asked for and
//! before any archive is built, every file to print is classified from its
//! bytes by [`sdw_protocol::printable::classify_file`] (its first bytes, and a
//! zip's central directory), the same rule the device side applies in
//! `sd-printers`. A file the device side would refuse (audio, video,
//! archives: `ERROR_UNPRINTABLE_TYPE`; anything not recognised:
//! `ERROR_MIMETYPE_UNSUPPORTED`) is refused here at once, without a round trip.
//!
//! Files are opened as the archive builder opens them (no symbolic links
//! followed, never blocking on a FIFO); a file that cannot be opened or read
//! here is left to the archive builder, which skips and reports it.

use std::fmt;
use std::path::{Path, PathBuf};

use sdw_protocol::printable::{self, Printable, Refusal};

use crate::archive;

/// A file the device side would refuse to print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} cannot be printed: {kind}")]
pub struct Unprintable {
    pub path: PathBuf,
    pub kind: Refused,
}

/// Why a file cannot be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Recognised as audio, video or an archive.
    Recognised(Refusal),
    /// Not a type the printing qube prints (or an empty file).
    Unsupported,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Recognised(Refusal::Audio) => "it is audio",
            Refused::Recognised(Refusal::Video) => "it is video",
            Refused::Recognised(Refusal::Archive) => "it is an archive",
            Refused::Unsupported => "its type is not one the printer qube prints",
        })
    }
}

/// The first of `files` that the device side would refuse to print, if any.
pub fn check(files: &[PathBuf]) -> Result<(), Unprintable> {
    for path in files {
        let Some(kind) = classify(path) else {
            continue;
        };
        let refused = match kind {
            Printable::Direct(_) | Printable::Convert(_) | Printable::Reencode(_) => continue,
            Printable::Refused(refusal) => Refused::Recognised(refusal),
            Printable::Unknown => Refused::Unsupported,
        };
        tracing::info!(?kind, "refused before printing");
        return Err(Unprintable {
            path: path.clone(),
            kind: refused,
        });
    }
    Ok(())
}

/// The kind of `path` from its bytes, or `None` when it cannot be opened or
/// read as a regular file.
fn classify(path: &Path) -> Option<Printable> {
    let (mut file, _) = archive::open_no_follow(path, &mut Vec::new())?;
    printable::classify_file(&mut file).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP3: &[u8] = b"ID3\x04\x00\x00\x00\x00\x00\x00audio";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

    fn files(dir: &Path, named: &[(&str, &[u8])]) -> Vec<PathBuf> {
        named
            .iter()
            .map(|(name, content)| {
                let path = dir.join(name);
                std::fs::write(&path, content).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn printable_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(
            dir.path(),
            &[
                ("a.pdf", PDF),
                ("notes.txt", b"plain text\n"),
                ("b.png", b"\x89PNG\r\n\x1a\n...."),
                // Notepad's UTF-16 and an Excel CSV in Windows-1252 print
                // after re-encoding.
                ("utf16.txt", b"\xff\xfeh\0i\0\r\0\n\0"),
                ("prices.csv", b"Gr\xf6\xdfe;10 \x80\r\n"),
                ("report.docx", &streamed_docx()),
            ],
        );
        assert_eq!(check(&files), Ok(()));
    }

    /// A .docx as LibreOffice and streaming writers write it: each member's
    /// size after its data (flag 0x08), so only the central directory at the
    /// end names the Word part.
    fn streamed_docx() -> Vec<u8> {
        let mut zip = Vec::new();
        let mut central = Vec::new();
        for (name, data) in [
            ("_rels/.rels", &b"<Relationships/>"[..]),
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ] {
            let offset = zip.len() as u32;
            zip.extend_from_slice(b"PK\x03\x04\x14\0\x08\0\0\0\0\0\0\0");
            zip.extend_from_slice(&[0; 12]);
            zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
            zip.extend_from_slice(&[0, 0]);
            zip.extend_from_slice(name.as_bytes());
            zip.extend_from_slice(data);
            zip.extend_from_slice(b"PK\x07\x08\0\0\0\0");
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\x08\0\0\0\0\0\0\0\0\0\0\0");
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let at = zip.len() as u32;
        zip.extend_from_slice(&central);
        zip.extend_from_slice(b"PK\x05\x06\0\0\0\0\x03\0\x03\0");
        zip.extend_from_slice(&(central.len() as u32).to_le_bytes());
        zip.extend_from_slice(&at.to_le_bytes());
        zip.extend_from_slice(&[0, 0]);
        zip
    }

    #[test]
    fn audio_video_and_archives_are_refused_whatever_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], Refusal); 3] = [
            ("song.mp3", MP3, Refusal::Audio),
            (
                "report.pdf",
                b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",
                Refusal::Video,
            ),
            (
                "notes.txt",
                b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
                Refusal::Archive,
            ),
        ];
        for (name, content, refusal) in cases {
            let files = files(dir.path(), &[("ok.pdf", PDF), (name, content)]);
            let refused = check(&files).unwrap_err();
            assert_eq!(refused.path, files[1], "{name}");
            assert_eq!(refused.kind, Refused::Recognised(refusal), "{name}");
        }
    }

    #[test]
    fn unknown_and_empty_files_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        for content in [&b""[..], b"\x00\x01\x02\x03binary\xff\xfe"] {
            let files = files(dir.path(), &[("x.doc", content)]);
            assert_eq!(check(&files).unwrap_err().kind, Refused::Unsupported);
        }
    }

    #[test]
    fn files_that_cannot_be_opened_are_left_to_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let song = files(dir.path(), &[("song.mp3", MP3)]).remove(0);
        let link = dir.path().join("link.pdf");
        std::os::unix::fs::symlink(&song, &link).unwrap();
        let missing = dir.path().join("missing.mp3");
        assert_eq!(check(&[link, missing, dir.path().to_owned()]), Ok(()));
    }
}
