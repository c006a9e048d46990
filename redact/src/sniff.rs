//! What a file is, for redaction, decided from its first bytes alone:
//! [`sdw_protocol::printable::classify`] (the rule printing uses) for most
//! formats, plus WebP and HEIF, which printing does not need to tell apart.

use sdw_protocol::printable::{self, DirectKind, OfficeKind, Printable, Refusal};

/// A file's format, as far as redaction is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
    Tiff,
    /// HEIF/HEIC/AVIF still images (ISO base media).
    Heif,
    Pdf,
    /// Office Open XML (`.docx`, `.xlsx`, `.pptx`).
    Ooxml(OfficeKind),
    /// OpenDocument (`.odt`, `.ods`, `.odp`, `.odg`).
    Odf(OfficeKind),
    /// Text (UTF-8, UTF-16 with a byte order mark, 8-bit): it has no metadata
    /// container.
    Text,
    /// No bytes at all.
    Empty,
    /// Recognised, and not redacted by us.
    Unsupported(&'static str),
    /// Not recognised.
    Unknown,
}

impl Kind {
    /// Sniffs `head`, the first bytes of the file (up to
    /// [`printable::HEAD_BYTES`]).
    pub fn of(head: &[u8]) -> Kind {
        if head.is_empty() {
            return Kind::Empty;
        }
        let at = |offset: usize, magic: &[u8]| {
            head.get(offset..offset.saturating_add(magic.len())) == Some(magic)
        };
        if at(0, b"RIFF") && at(8, b"WEBP") {
            return Kind::Webp;
        }
        if at(4, b"ftyp")
            && [
                b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif",
            ]
            .iter()
            .any(|brand| at(8, *brand))
        {
            return Kind::Heif;
        }
        match printable::classify(head) {
            Printable::Direct(DirectKind::Jpeg) => Kind::Jpeg,
            Printable::Direct(DirectKind::Png) => Kind::Png,
            Printable::Direct(DirectKind::Tiff) => Kind::Tiff,
            Printable::Direct(DirectKind::Pdf) => Kind::Pdf,
            // UTF-8, UTF-16 with a byte order mark, 8-bit text: no container.
            Printable::Direct(DirectKind::Text) | Printable::Reencode(_) => Kind::Text,
            Printable::Direct(DirectKind::Gif) => Kind::Unsupported("GIF"),
            Printable::Direct(DirectKind::PostScript) => Kind::Unsupported("PostScript"),
            Printable::Convert(
                office @ (OfficeKind::Docx | OfficeKind::Xlsx | OfficeKind::Pptx),
            ) => Kind::Ooxml(office),
            Printable::Convert(
                office @ (OfficeKind::OdfText
                | OfficeKind::OdfSpreadsheet
                | OfficeKind::OdfPresentation
                | OfficeKind::OdfGraphics),
            ) => Kind::Odf(office),
            Printable::Convert(OfficeKind::Ole2) => {
                Kind::Unsupported("legacy Office (OLE2: .doc, .xls, .ppt)")
            }
            Printable::Convert(OfficeKind::Rtf) => Kind::Unsupported("RTF"),
            Printable::Refused(Refusal::Audio) => Kind::Unsupported("audio"),
            Printable::Refused(Refusal::Video) => Kind::Unsupported("video"),
            Printable::Refused(Refusal::Archive) => Kind::Unsupported("archive"),
            Printable::Unknown => Kind::Unknown,
        }
    }

    /// How the format is named in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Jpeg => "JPEG",
            Kind::Png => "PNG",
            Kind::Webp => "WebP",
            Kind::Tiff => "TIFF",
            Kind::Heif => "HEIF/HEIC",
            Kind::Pdf => "PDF",
            Kind::Ooxml(OfficeKind::Docx) => "Word document (DOCX)",
            Kind::Ooxml(OfficeKind::Xlsx) => "Excel workbook (XLSX)",
            Kind::Ooxml(_) => "PowerPoint presentation (PPTX)",
            Kind::Odf(OfficeKind::OdfText) => "OpenDocument text (ODT)",
            Kind::Odf(OfficeKind::OdfSpreadsheet) => "OpenDocument spreadsheet (ODS)",
            Kind::Odf(OfficeKind::OdfPresentation) => "OpenDocument presentation (ODP)",
            Kind::Odf(_) => "OpenDocument drawing (ODG)",
            Kind::Text => "plain text",
            Kind::Empty => "empty file",
            Kind::Unsupported(name) => name,
            Kind::Unknown => "unrecognised format",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_from_their_bytes() {
        assert_eq!(Kind::of(b"\xff\xd8\xff\xe1\0\x10Exif"), Kind::Jpeg);
        assert_eq!(Kind::of(b"RIFF\0\0\0\0WEBPVP8X"), Kind::Webp);
        assert_eq!(Kind::of(b"\0\0\0\x18ftypheic\0\0\0\0"), Kind::Heif);
        assert_eq!(
            Kind::of(b"\0\0\0\x18ftypisom\0\0\0\0"),
            Kind::Unsupported("video")
        );
        assert_eq!(Kind::of(b"%PDF-1.7\n"), Kind::Pdf);
        assert_eq!(Kind::of(b"II*\0\x08\0\0\0"), Kind::Tiff);
        assert_eq!(Kind::of(b"just words\n"), Kind::Text);
        assert_eq!(Kind::of(b"\x7fELF\x02"), Kind::Unknown);
        assert_eq!(Kind::of(b""), Kind::Empty);
    }
}
