//! Which files can be printed, decided from their first bytes alone (never from
//! their names): the one rule shared by the device side (`sd-printers`, before
//! anything is sent to CUPS) and the client (before the round trip, so that a
//! user learns at once that a file cannot print).
//!
//! Pure and dependency-free: give [`classify`] up to [`HEAD_BYTES`] bytes from
//! the start of the file and it answers with a [`Printable`] kind. No I/O.
//!
//! | first bytes                                  | answer                                  | status when refused      |
//! |----------------------------------------------|-----------------------------------------|--------------------------|
//! | `%PDF-`                                      | `Direct(Pdf)`                           |                          |
//! | `%!PS`                                       | `Direct(PostScript)`                    |                          |
//! | PNG, JPEG, GIF, TIFF                         | `Direct(Image)`                         |                          |
//! | ODF zip, OOXML zip, OLE2 (`.doc`), RTF       | `Convert(Office)`: LibreOffice -> PDF   |                          |
//! | UTF-8 text without control characters       | `Direct(Text)`                          |                          |
//! | audio (MP3, WAV, FLAC, Ogg, MIDI, AIFF, ...) | `Refused(Audio)`                        | `ERROR_UNPRINTABLE_TYPE` |
//! | video (MP4/QuickTime, Matroska, AVI, ...)    | `Refused(Video)`                        | `ERROR_UNPRINTABLE_TYPE` |
//! | archives (other zip, gzip, xz, 7z, tar, ...) | `Refused(Archive)`                      | `ERROR_UNPRINTABLE_TYPE` |
//! | anything else, and empty files               | `Unknown`                               | `ERROR_MIMETYPE_UNSUPPORTED` |

use crate::Status;

/// How many leading bytes [`classify`] looks at. Give it fewer only when the
/// file is shorter.
pub const HEAD_BYTES: usize = 64 * 1024;

/// What a file is, for printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printable {
    /// CUPS prints it as it is.
    Direct(DirectKind),
    /// Converted to PDF first (headless LibreOffice).
    Convert(OfficeKind),
    /// Recognised, and not printable.
    Refused(Refusal),
    /// Not recognised: not printed.
    Unknown,
}

/// Formats CUPS' own filters print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectKind {
    Pdf,
    PostScript,
    Png,
    Jpeg,
    Gif,
    Tiff,
    Text,
}

/// Office documents, converted to PDF before printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficeKind {
    /// OpenDocument text (`.odt`).
    OdfText,
    /// OpenDocument spreadsheet (`.ods`).
    OdfSpreadsheet,
    /// OpenDocument presentation (`.odp`).
    OdfPresentation,
    /// OpenDocument drawing (`.odg`).
    OdfGraphics,
    /// Office Open XML word processing (`.docx`).
    Docx,
    /// Office Open XML spreadsheet (`.xlsx`).
    Xlsx,
    /// Office Open XML presentation (`.pptx`).
    Pptx,
    /// A legacy OLE2 compound file (`.doc`, `.xls`, `.ppt`).
    Ole2,
    /// Rich Text Format.
    Rtf,
}

/// Why a recognised file is not printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Audio,
    Video,
    Archive,
}

impl Printable {
    /// The status word when this file stops a print job, `None` when it prints.
    pub fn refusal_status(&self) -> Option<Status> {
        match self {
            Printable::Direct(_) | Printable::Convert(_) => None,
            Printable::Refused(_) => Some(Status::ErrorUnprintableType),
            Printable::Unknown => Some(Status::ErrorMimetypeUnsupported),
        }
    }

    /// The MIME type CUPS is told for a file printed as it is (after
    /// conversion, office documents are `application/pdf`).
    pub fn mime_type(&self) -> Option<&'static str> {
        match self {
            Printable::Direct(kind) => Some(kind.mime_type()),
            Printable::Convert(_) => Some("application/pdf"),
            Printable::Refused(_) | Printable::Unknown => None,
        }
    }
}

impl DirectKind {
    pub fn mime_type(&self) -> &'static str {
        match self {
            DirectKind::Pdf => "application/pdf",
            DirectKind::PostScript => "application/postscript",
            DirectKind::Png => "image/png",
            DirectKind::Jpeg => "image/jpeg",
            DirectKind::Gif => "image/gif",
            DirectKind::Tiff => "image/tiff",
            DirectKind::Text => "text/plain",
        }
    }
}

impl OfficeKind {
    /// The file name extension LibreOffice expects for this kind.
    pub fn extension(&self) -> &'static str {
        match self {
            OfficeKind::OdfText => "odt",
            OfficeKind::OdfSpreadsheet => "ods",
            OfficeKind::OdfPresentation => "odp",
            OfficeKind::OdfGraphics => "odg",
            OfficeKind::Docx => "docx",
            OfficeKind::Xlsx => "xlsx",
            OfficeKind::Pptx => "pptx",
            OfficeKind::Ole2 => "doc",
            OfficeKind::Rtf => "rtf",
        }
    }
}

/// Classifies a file from its first bytes (at most [`HEAD_BYTES`] are looked at).
pub fn classify(head: &[u8]) -> Printable {
    let head = head.get(..HEAD_BYTES).unwrap_or(head);
    if head.is_empty() {
        return Printable::Unknown;
    }
    if let Some(kind) = by_magic(head) {
        return kind;
    }
    if is_plain_text(head) {
        return Printable::Direct(DirectKind::Text);
    }
    Printable::Unknown
}

fn by_magic(head: &[u8]) -> Option<Printable> {
    use DirectKind::*;
    use Printable::{Convert, Direct, Refused};
    let at = |offset: usize, magic: &[u8]| {
        head.get(offset..offset.saturating_add(magic.len())) == Some(magic)
    };
    let found = if at(0, b"%PDF-") {
        Direct(Pdf)
    } else if at(0, b"%!PS") {
        Direct(PostScript)
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Direct(Png)
    } else if at(0, b"\xff\xd8\xff") {
        Direct(Jpeg)
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Direct(Gif)
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        Direct(Tiff)
    } else if at(0, b"PK\x03\x04") {
        zip(head)
    } else if at(0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        Convert(OfficeKind::Ole2)
    } else if at(0, b"{\\rtf") {
        Convert(OfficeKind::Rtf)
    } else if at(0, b"ID3")
        || at(0, b"fLaC")
        || at(0, b"MThd")
        || at(0, b"#!AMR")
        || at(0, b".snd")
        || (at(0, b"RIFF") && at(8, b"WAVE"))
        || (at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")))
        || is_mpeg_audio_frame(head)
        || (at(4, b"ftyp") && (at(8, b"M4A ") || at(8, b"M4B ")))
    {
        Refused(Refusal::Audio)
    } else if at(0, b"OggS") {
        // Ogg carries audio (Vorbis, Opus, FLAC) or video (Theora): refused either way.
        if contains(head, b"theora") {
            Refused(Refusal::Video)
        } else {
            Refused(Refusal::Audio)
        }
    } else if at(4, b"ftyp") {
        // ISO base media: HEIF/AVIF still images are not printed either, but
        // they are not video; everything else (mp4, mov, 3gp) is.
        if at(8, b"heic") || at(8, b"heix") || at(8, b"mif1") || at(8, b"avif") {
            Printable::Unknown
        } else {
            Refused(Refusal::Video)
        }
    } else if at(0, b"\x1a\x45\xdf\xa3")
        || (at(0, b"RIFF") && at(8, b"AVI "))
        || at(0, b"FLV\x01")
        || at(0, b"\x00\x00\x01\xba")
        || at(0, b"\x00\x00\x01\xb3")
        || at(4, b"moov")
        || at(4, b"mdat")
        || at(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
    {
        Refused(Refusal::Video)
    } else if at(0, b"\x1f\x8b")
        || at(0, b"BZh")
        || at(0, b"\xfd7zXZ\0")
        || at(0, b"7z\xbc\xaf\x27\x1c")
        || at(0, b"Rar!\x1a\x07")
        || at(0, b"\x28\xb5\x2f\xfd")
        || at(0, b"PK\x05\x06")
        || at(0, b"PK\x07\x08")
        || at(0, b"MSCF")
        || at(0, b"!<arch>\n")
        || at(0, b"\x04\x22\x4d\x18")
        || at(257, b"ustar")
        || at(0, b"070701")
        || at(0, b"070707")
        || at(0, b"\xed\xab\xee\xdb")
    {
        Refused(Refusal::Archive)
    } else {
        return None;
    };
    Some(found)
}

/// An MPEG audio frame header (MP3 without ID3 tag): 11 sync bits, a valid
/// version, layer, bitrate and sample rate.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    let [a, b, c, ..] = head else {
        return false;
    };
    *a == 0xff
        && (b & 0xe0) == 0xe0
        && (b & 0x18) != 0x08
        && (b & 0x06) != 0x00
        && (c & 0xf0) != 0xf0
        && (c & 0x0c) != 0x0c
}

/// A zip is an office document when its members say so: ODF puts a stored
/// `mimetype` member first, OOXML has `word/`, `xl/` or `ppt/` members. Any
/// other zip is an archive.
fn zip(head: &[u8]) -> Printable {
    use OfficeKind::*;
    if let Some(mimetype) = odf_mimetype(head) {
        let kind = match mimetype {
            b"application/vnd.oasis.opendocument.text" => Some(OdfText),
            b"application/vnd.oasis.opendocument.spreadsheet" => Some(OdfSpreadsheet),
            b"application/vnd.oasis.opendocument.presentation" => Some(OdfPresentation),
            b"application/vnd.oasis.opendocument.graphics" => Some(OdfGraphics),
            _ => None,
        };
        if let Some(kind) = kind {
            return Printable::Convert(kind);
        }
    }
    for name in zip_member_names(head) {
        if name.starts_with(b"word/") {
            return Printable::Convert(Docx);
        }
        if name.starts_with(b"xl/") {
            return Printable::Convert(Xlsx);
        }
        if name.starts_with(b"ppt/") {
            return Printable::Convert(Pptx);
        }
    }
    Printable::Refused(Refusal::Archive)
}

/// The content of a stored first member named `mimetype`, as ODF requires.
fn odf_mimetype(head: &[u8]) -> Option<&[u8]> {
    let method = u16_at(head, 8)?;
    let size = usize::try_from(u32_at(head, 18)?).ok()?;
    let name_len = usize::from(u16_at(head, 26)?);
    let extra_len = usize::from(u16_at(head, 28)?);
    let name = head.get(30..30usize.checked_add(name_len)?)?;
    if method != 0 || name != b"mimetype" || size > 128 {
        return None;
    }
    let start = 30usize.checked_add(name_len)?.checked_add(extra_len)?;
    head.get(start..start.checked_add(size)?)
}

/// Names of the local file headers found in `head`, walking from one to the
/// next by their sizes; stops at the first it cannot follow (a member whose
/// size is only given after its data).
fn zip_member_names(head: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    let mut offset = 0usize;
    while head.get(offset..offset.saturating_add(4)) == Some(b"PK\x03\x04".as_slice()) {
        let field = |at: usize| offset.checked_add(at);
        let (Some(flags), Some(compressed), Some(name_len), Some(extra_len)) = (
            field(6).and_then(|o| u16_at(head, o)),
            field(18).and_then(|o| u32_at(head, o)),
            field(26).and_then(|o| u16_at(head, o)),
            field(28).and_then(|o| u16_at(head, o)),
        ) else {
            break;
        };
        let Some(name_start) = field(30) else { break };
        let Some(name_end) = name_start.checked_add(usize::from(name_len)) else {
            break;
        };
        let Some(name) = head.get(name_start..name_end) else {
            break;
        };
        names.push(name);
        let Some(next) = usize::try_from(compressed)
            .ok()
            .and_then(|c| name_end.checked_add(usize::from(extra_len))?.checked_add(c))
        else {
            break;
        };
        if flags & 0x08 != 0 {
            break;
        }
        offset = next;
    }
    names
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// UTF-8 (a character cut at the end of `head` is allowed) with no control
/// characters but tab, line feed, carriage return and form feed; a byte order
/// mark is fine.
fn is_plain_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() && head.len().saturating_sub(e.valid_up_to()) < 4 => {
            match head.get(..e.valid_up_to()).map(std::str::from_utf8) {
                Some(Ok(text)) => text,
                _ => return false,
            }
        }
        Err(_) => return false,
    };
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"PK\x03\x04".to_vec();
        out.extend_from_slice(&20u16.to_le_bytes()); // version
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&[0; 8]); // time, date, crc
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn accepts_pdf_images_and_text_as_they_are() {
        assert_eq!(classify(b"%PDF-1.7\n"), Printable::Direct(DirectKind::Pdf));
        assert_eq!(
            classify(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Printable::Direct(DirectKind::Png)
        );
        assert_eq!(
            classify(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Printable::Direct(DirectKind::Jpeg)
        );
        assert_eq!(classify(b"GIF89a.."), Printable::Direct(DirectKind::Gif));
        assert_eq!(
            classify("Notes – Überblick\r\n\tline two\n".as_bytes()),
            Printable::Direct(DirectKind::Text)
        );
        assert_eq!(
            classify(b"%!PS-Adobe-3.0\n"),
            Printable::Direct(DirectKind::PostScript)
        );
    }

    #[test]
    fn text_cut_inside_a_character_is_still_text() {
        let text = "ü".repeat(10);
        let bytes = text.as_bytes();
        assert_eq!(
            classify(&bytes[..bytes.len() - 1]),
            Printable::Direct(DirectKind::Text)
        );
    }

    #[test]
    fn office_documents_are_converted() {
        let odt = zip_member("mimetype", b"application/vnd.oasis.opendocument.text");
        assert_eq!(classify(&odt), Printable::Convert(OfficeKind::OdfText));
        let ods = zip_member(
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
        );
        assert_eq!(
            classify(&ods),
            Printable::Convert(OfficeKind::OdfSpreadsheet)
        );
        let mut docx = zip_member("[Content_Types].xml", b"<Types/>");
        docx.extend(zip_member("_rels/.rels", b"<Relationships/>"));
        docx.extend(zip_member("word/document.xml", b"<w:document/>"));
        assert_eq!(classify(&docx), Printable::Convert(OfficeKind::Docx));
        let xlsx = zip_member("xl/workbook.xml", b"<workbook/>");
        assert_eq!(classify(&xlsx), Printable::Convert(OfficeKind::Xlsx));
        assert_eq!(
            classify(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0"),
            Printable::Convert(OfficeKind::Ole2)
        );
        assert_eq!(
            classify(b"{\\rtf1\\ansi hello}"),
            Printable::Convert(OfficeKind::Rtf)
        );
    }

    #[test]
    fn refuses_archives_including_plain_zips() {
        let zip = zip_member("secrets/a.txt", b"hello");
        assert_eq!(classify(&zip), Printable::Refused(Refusal::Archive));
        assert_eq!(
            classify(b"\x1f\x8b\x08\0"),
            Printable::Refused(Refusal::Archive)
        );
        assert_eq!(
            classify(b"7z\xbc\xaf\x27\x1c\0\x04"),
            Printable::Refused(Refusal::Archive)
        );
        let mut tar = vec![b'a'; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(classify(&tar), Printable::Refused(Refusal::Archive));
        // A zip claiming to be an ODF text but with an unknown mimetype is an archive.
        let odd = zip_member("mimetype", b"application/x-whatever");
        assert_eq!(classify(&odd), Printable::Refused(Refusal::Archive));
    }

    #[test]
    fn refuses_audio_and_video() {
        assert_eq!(
            classify(b"ID3\x04\0\0\0\0\0\0"),
            Printable::Refused(Refusal::Audio)
        );
        assert_eq!(
            classify(b"\xff\xfb\x90\x64\0\0"),
            Printable::Refused(Refusal::Audio)
        );
        assert_eq!(
            classify(b"RIFF\x24\0\0\0WAVEfmt "),
            Printable::Refused(Refusal::Audio)
        );
        assert_eq!(
            classify(b"OggS\0\x02....vorbis"),
            Printable::Refused(Refusal::Audio)
        );
        assert_eq!(
            classify(b"fLaC\0\0\0\x22"),
            Printable::Refused(Refusal::Audio)
        );
        assert_eq!(
            classify(b"\0\0\0\x20ftypisom\0\0\x02\0"),
            Printable::Refused(Refusal::Video)
        );
        assert_eq!(
            classify(b"\0\0\0\x14ftypqt  \0\0\0\0"),
            Printable::Refused(Refusal::Video)
        );
        assert_eq!(
            classify(b"\x1a\x45\xdf\xa3\x01"),
            Printable::Refused(Refusal::Video)
        );
        assert_eq!(
            classify(b"RIFF\0\0\0\0AVI LIST"),
            Printable::Refused(Refusal::Video)
        );
    }

    #[test]
    fn unknown_binaries_and_empty_files_are_unsupported() {
        assert_eq!(classify(b""), Printable::Unknown);
        assert_eq!(classify(b"\x7fELF\x02\x01\x01\0"), Printable::Unknown);
        assert_eq!(classify(b"text with a NUL\0 inside"), Printable::Unknown);
        assert_eq!(classify(b"\0\0\0\x1cftypheic"), Printable::Unknown);
        assert_eq!(
            Printable::Unknown.refusal_status(),
            Some(Status::ErrorMimetypeUnsupported)
        );
        assert_eq!(
            Printable::Refused(Refusal::Audio).refusal_status(),
            Some(Status::ErrorUnprintableType)
        );
        assert_eq!(Printable::Direct(DirectKind::Pdf).refusal_status(), None);
    }

    #[test]
    fn names_do_not_matter_only_bytes() {
        // A PDF is a PDF whatever it is called; classify never sees a name.
        assert_eq!(classify(b"%PDF-1.4"), Printable::Direct(DirectKind::Pdf));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_ignores_bytes_past_the_head(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let _ = classify(&head);
            let mut long = head.clone();
            long.resize(HEAD_BYTES, b'a');
            let _ = classify(&long);
            long.extend_from_slice(&tail);
            // Only the first HEAD_BYTES bytes count.
            let mut exact = head;
            exact.resize(HEAD_BYTES, b'a');
            proptest::prop_assert_eq!(classify(&long), classify(&exact));
        }

        #[test]
        fn zip_with_office_members_anywhere_in_the_walk_is_an_office_document(
            n in 0usize..5,
        ) {
            let mut zip = Vec::new();
            for i in 0..n {
                zip.extend(zip_member(&format!("other/{i}.xml"), b"<x/>"));
            }
            zip.extend(zip_member("word/document.xml", b"<w/>"));
            proptest::prop_assert_eq!(classify(&zip), Printable::Convert(OfficeKind::Docx));
        }
    }

    #[test]
    fn never_panics_on_truncated_zip_headers() {
        for len in 0..40 {
            let zip = zip_member("word/document.xml", b"x");
            let _ = classify(&zip[..len.min(zip.len())]);
        }
        let _ = classify(&[0xff; 3]);
        let _ = classify(b"PK\x03\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    }
}
