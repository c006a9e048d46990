//! Which files can be printed, decided from their bytes alone (never from
//! their names): the one rule shared by the device side (`sd-printers`, before
//! anything is sent to CUPS) and the client (before the round trip, so that a
//! user learns at once that a file cannot print).
//!
//! Dependency-free. [`classify`] answers from up to [`HEAD_BYTES`] bytes from
//! the start of the file, with no I/O. [`classify_file`] gives the full answer
//! for a file that can be read and seeked: the same, except that a zip is
//! judged by its central directory at the end of the file (every member's
//! name), which the first bytes may not reach: LibreOffice and streaming zip
//! writers put each member's size after its data, so the local headers cannot
//! be walked from the start.
//!
//! | bytes                                        | answer                                  | status when refused      |
//! |----------------------------------------------|-----------------------------------------|--------------------------|
//! | `%PDF-`                                      | `Direct(Pdf)`                           |                          |
//! | `%!PS`                                       | `Direct(PostScript)`                    |                          |
//! | PNG, JPEG, GIF, TIFF                         | `Direct(Image)`                         |                          |
//! | ODF zip, OOXML zip, OLE2 (`.doc`), RTF       | `Convert(Office)`: LibreOffice -> PDF   |                          |
//! | UTF-8 text without control characters       | `Direct(Text)`                          |                          |
//! | UTF-16 text with a byte order mark, 8-bit text (Windows-1252, ...) | `Reencode(..)`: to UTF-8, then text | |
//! | audio (MP3, WAV, FLAC, Ogg, MIDI, AIFF, ...) | `Refused(Audio)`                        | `ERROR_UNPRINTABLE_TYPE` |
//! | video (MP4/QuickTime, Matroska, AVI, ...)    | `Refused(Video)`                        | `ERROR_UNPRINTABLE_TYPE` |
//! | archives (other zip, gzip, xz, 7z, tar, ...) | `Refused(Archive)`                      | `ERROR_UNPRINTABLE_TYPE` |
//! | anything else (WebP, HEIC, executables, ...), and empty files | `Unknown`              | `ERROR_MIMETYPE_UNSUPPORTED` |

use std::io::{self, BufReader, Read, Seek, SeekFrom};

/// How many leading bytes [`classify`] looks at. Give it fewer only when the
/// file is shorter.
pub const HEAD_BYTES: usize = 64 * 1024;

/// At most this many central directory entries of a zip are read (an office
/// document has tens to a few thousand); the answer comes from those.
pub const MAX_ZIP_ENTRIES: u64 = 100_000;

/// What a file is, for printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printable {
    /// CUPS prints it as it is.
    Direct(DirectKind),
    /// Converted to PDF first (headless LibreOffice).
    Convert(OfficeKind),
    /// Plain text in another encoding than UTF-8: re-encoded to UTF-8, then
    /// printed as text.
    Reencode(TextEncoding),
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
    /// UTF-8 (or ASCII) text, with or without a byte order mark.
    Text,
}

/// Office documents, converted to PDF before printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficeKind {
    /// OpenDocument text (`.odt`, `.ott`).
    OdfText,
    /// OpenDocument spreadsheet (`.ods`, `.ots`).
    OdfSpreadsheet,
    /// OpenDocument presentation (`.odp`, `.otp`).
    OdfPresentation,
    /// OpenDocument drawing (`.odg`, `.otg`).
    OdfGraphics,
    /// Office Open XML word processing (`.docx`, `.dotx`, `.docm`).
    Docx,
    /// Office Open XML spreadsheet (`.xlsx`, `.xltx`, `.xlsm`).
    Xlsx,
    /// Office Open XML presentation (`.pptx`, `.potx`, `.pptm`).
    Pptx,
    /// A legacy OLE2 compound file (`.doc`, `.xls`, `.ppt`).
    Ole2,
    /// Rich Text Format.
    Rtf,
}

/// The encoding of plain text that is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-16, little endian, with a byte order mark (`FF FE`), as Windows
    /// Notepad saves "Unicode" text.
    Utf16Le,
    /// UTF-16, big endian, with a byte order mark (`FE FF`).
    Utf16Be,
    /// A single- or double-byte legacy encoding (Windows-1252, ISO 8859,
    /// KOI8, Shift_JIS, ...): bytes that are not UTF-8 and hold no control
    /// characters. Which one is guessed from the text when re-encoding.
    Legacy,
}

/// Why a recognised file is not printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Audio,
    Video,
    Archive,
}

impl Printable {
    /// The MIME type CUPS is told for the file it is sent (after conversion,
    /// office documents are `application/pdf`; after re-encoding, text is
    /// `text/plain` in UTF-8).
    pub fn mime_type(&self) -> Option<&'static str> {
        match self {
            Printable::Direct(kind) => Some(kind.mime_type()),
            Printable::Convert(_) => Some("application/pdf"),
            Printable::Reencode(_) => Some("text/plain"),
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

/// Classifies a file from its first bytes (at most [`HEAD_BYTES`] are looked
/// at). A zip is judged by the local headers found in those bytes; use
/// [`classify_file`] when the whole file can be read.
pub fn classify(head: &[u8]) -> Printable {
    let head = head.get(..HEAD_BYTES).unwrap_or(head);
    if head.is_empty() {
        return Printable::Unknown;
    }
    // Before the magic numbers: `FF FE` followed by text also reads as an MPEG
    // audio frame header.
    if let Some(encoding) = utf16_with_bom(head) {
        return Printable::Reencode(encoding);
    }
    if let Some(kind) = by_magic(head) {
        return kind;
    }
    if is_plain_text(head) {
        return Printable::Direct(DirectKind::Text);
    }
    if is_legacy_text(head) {
        return Printable::Reencode(TextEncoding::Legacy);
    }
    Printable::Unknown
}

/// Classifies a whole file: [`classify`] on its first [`HEAD_BYTES`] bytes,
/// and for a zip, its central directory (at most [`MAX_ZIP_ENTRIES`] entries,
/// read one at a time: memory stays bounded whatever the file claims). A zip
/// whose central directory cannot be found (a cut file) is judged by its first
/// bytes. Fails only when reading fails.
pub fn classify_file<R: Read + Seek>(file: &mut R) -> io::Result<Printable> {
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.by_ref()
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    let by_head = classify(&head);
    if !head.starts_with(b"PK\x03\x04") {
        return Ok(by_head);
    }
    Ok(zip_by_central_directory(file)?.unwrap_or(by_head))
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
        zip_by_local_headers(head)
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
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        // A still image, but not one CUPS' filters read: not printed
        // (documented in docs/printing.md).
        Printable::Unknown
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

/// What a zip's member names say it is.
#[derive(Debug, Default)]
struct ZipMembers {
    /// The `mimetype` member's content, when it could be read (ODF).
    odf_mimetype: Option<Vec<u8>>,
    content_types: bool,
    word: bool,
    xl: bool,
    ppt: bool,
}

impl ZipMembers {
    fn note_name(&mut self, name: &[u8]) {
        self.content_types |= name == b"[Content_Types].xml";
        self.word |= name.starts_with(b"word/");
        self.xl |= name.starts_with(b"xl/");
        self.ppt |= name.starts_with(b"ppt/");
    }

    /// ODF by its `mimetype`, OOXML by its parts; any other zip is an archive.
    fn kind(&self, require_content_types: bool) -> Printable {
        use OfficeKind::*;
        let odf = self.odf_mimetype.as_deref().and_then(|m| match m {
            b"application/vnd.oasis.opendocument.text"
            | b"application/vnd.oasis.opendocument.text-template" => Some(OdfText),
            b"application/vnd.oasis.opendocument.spreadsheet"
            | b"application/vnd.oasis.opendocument.spreadsheet-template" => Some(OdfSpreadsheet),
            b"application/vnd.oasis.opendocument.presentation"
            | b"application/vnd.oasis.opendocument.presentation-template" => Some(OdfPresentation),
            b"application/vnd.oasis.opendocument.graphics"
            | b"application/vnd.oasis.opendocument.graphics-template" => Some(OdfGraphics),
            _ => None,
        });
        let ooxml = self.content_types || !require_content_types;
        let kind = odf.or(match (ooxml, self.word, self.xl, self.ppt) {
            (true, true, _, _) => Some(Docx),
            (true, _, true, _) => Some(Xlsx),
            (true, _, _, true) => Some(Pptx),
            _ => None,
        });
        kind.map_or(Printable::Refused(Refusal::Archive), Printable::Convert)
    }
}

/// A zip judged by the local headers in its first bytes alone (the best
/// [`classify`] can do): walks from one header to the next by their sizes and
/// stops at the first it cannot follow (a member whose size is only given
/// after its data).
fn zip_by_local_headers(head: &[u8]) -> Printable {
    let mut members = ZipMembers::default();
    let mut offset = 0usize;
    while head.get(offset..offset.saturating_add(4)) == Some(b"PK\x03\x04".as_slice()) {
        let field = |at: usize| offset.checked_add(at);
        let (Some(flags), Some(method), Some(compressed), Some(name_len), Some(extra_len)) = (
            field(6).and_then(|o| u16_at(head, o)),
            field(8).and_then(|o| u16_at(head, o)),
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
        members.note_name(name);
        let Some(data_start) = name_end.checked_add(usize::from(extra_len)) else {
            break;
        };
        let Some(next) = usize::try_from(compressed)
            .ok()
            .and_then(|c| data_start.checked_add(c))
        else {
            break;
        };
        if offset == 0 && name == b"mimetype" && method == 0 && compressed <= 128 {
            members.odf_mimetype = head.get(data_start..next).map(<[u8]>::to_vec);
        }
        if flags & 0x08 != 0 {
            break;
        }
        offset = next;
    }
    // Local headers cannot be told from data inside an unknown zip: no
    // `[Content_Types].xml` needed when it was not reached.
    members.kind(false)
}

/// A zip judged by its central directory: `None` when no usable end record
/// and central directory are found.
fn zip_by_central_directory<R: Read + Seek>(file: &mut R) -> io::Result<Option<Printable>> {
    let Some(directory) = find_central_directory(file)? else {
        return Ok(None);
    };
    let mut members = ZipMembers::default();
    let mut mimetype_entry = None;
    file.seek(SeekFrom::Start(directory.start))?;
    let mut reader = BufReader::with_capacity(16 * 1024, file.by_ref());
    let mut name = Vec::new();
    let mut read_entries = 0u64;
    let wanted = directory.entries.min(MAX_ZIP_ENTRIES);
    while read_entries < wanted {
        let mut fixed = [0u8; 46];
        if read_exact_or_eof(&mut reader, &mut fixed)? < fixed.len()
            || !fixed.starts_with(b"PK\x01\x02")
        {
            break;
        }
        let word = |at: usize| u16_at(&fixed, at).unwrap_or_default();
        let long = |at: usize| u32_at(&fixed, at).unwrap_or_default();
        let (name_len, extra_len, comment_len) = (word(28), word(30), word(32));
        name.clear();
        name.resize(usize::from(name_len), 0);
        if read_exact_or_eof(&mut reader, &mut name)? < name.len() {
            break;
        }
        members.note_name(&name);
        if name == b"mimetype" && mimetype_entry.is_none() {
            let mut extra = vec![0u8; usize::from(extra_len)];
            if read_exact_or_eof(&mut reader, &mut extra)? < extra.len() {
                break;
            }
            let (compressed, local_offset) = zip64_sizes(&extra, long(20), long(24), long(42));
            mimetype_entry = Some((word(10), compressed, local_offset));
        } else {
            reader.seek_relative(i64::from(extra_len))?;
        }
        reader.seek_relative(i64::from(comment_len))?;
        read_entries += 1;
    }
    drop(reader);
    if read_entries == 0 && directory.entries > 0 {
        return Ok(None);
    }
    if let Some((method, compressed, local_offset)) = mimetype_entry {
        if method == 0 && compressed <= 128 {
            let at = directory.base.checked_add(local_offset);
            members.odf_mimetype = match at {
                Some(at) => stored_member(file, at, compressed)?,
                None => None,
            };
        }
    }
    Ok(Some(members.kind(true)))
}

/// Where a zip's central directory is, and how many entries it claims.
#[derive(Debug)]
struct CentralDirectory {
    /// Absolute offset of the first entry.
    start: u64,
    entries: u64,
    /// What the offsets recorded in the file are relative to (bytes prepended
    /// to the zip, as in self-extracting archives, shift them).
    base: u64,
}

/// The last end-of-central-directory record in the last 64 KiB (and its
/// zip64 record when the counts overflowed) whose central directory starts
/// with an entry header. At most 16 candidate records are tried.
fn find_central_directory<R: Read + Seek>(file: &mut R) -> io::Result<Option<CentralDirectory>> {
    const EOCD_LEN: u64 = 22;
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(EOCD_LEN + u64::from(u16::MAX));
    let tail_start = len - tail_len;
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = Vec::new();
    file.by_ref().take(tail_len).read_to_end(&mut tail)?;
    let candidates = (0..tail.len().saturating_sub(21))
        .rev()
        .filter(|&i| tail.get(i..i + 4) == Some(b"PK\x05\x06".as_slice()))
        .take(16)
        .collect::<Vec<_>>();
    for at in candidates {
        let Some(record) = tail.get(at..at + 22) else {
            continue;
        };
        let eocd = tail_start + at as u64;
        let word = |o: usize| u16_at(record, o).unwrap_or_default();
        let long = |o: usize| u32_at(record, o).unwrap_or_default();
        let comment_end = eocd + EOCD_LEN + u64::from(word(20));
        if comment_end > len || word(4) != 0 || word(6) != 0 {
            continue;
        }
        let (mut entries, mut size, mut offset) = (
            u64::from(word(10)),
            u64::from(long(12)),
            u64::from(long(16)),
        );
        // Where the central directory must end: at the (zip64) end record.
        let mut directory_end = eocd;
        if entries == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff {
            match zip64_end(file, eocd)? {
                Some((at, e, s, o)) => {
                    (directory_end, entries, size, offset) = (at, e, s, o);
                }
                None => continue,
            }
        }
        let Some(start) = directory_end.checked_sub(size) else {
            continue;
        };
        if entries == 0 {
            // An empty zip: an archive of nothing.
            return Ok(Some(CentralDirectory {
                start,
                entries,
                base: 0,
            }));
        }
        // The directory abuts its end record (offsets shifted by any bytes
        // prepended to the zip), or is where the record says.
        for (start, base) in [(start, start.checked_sub(offset)), (offset, Some(0))] {
            let Some(base) = base else { continue };
            if start.saturating_add(46) <= directory_end
                && signature_at(file, start, b"PK\x01\x02")?
            {
                return Ok(Some(CentralDirectory {
                    start,
                    entries,
                    base,
                }));
            }
        }
    }
    Ok(None)
}

/// The zip64 end record for the end record at `eocd`: its offset, entries,
/// directory size and directory offset.
fn zip64_end<R: Read + Seek>(file: &mut R, eocd: u64) -> io::Result<Option<(u64, u64, u64, u64)>> {
    let Some(locator_at) = eocd.checked_sub(20) else {
        return Ok(None);
    };
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(locator_at))?;
    if read_exact_or_eof(file, &mut locator)? < locator.len() || !locator.starts_with(b"PK\x06\x07")
    {
        return Ok(None);
    }
    let Some(record_at) = u64_at(&locator, 8) else {
        return Ok(None);
    };
    if record_at >= locator_at {
        return Ok(None);
    }
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(record_at))?;
    if read_exact_or_eof(file, &mut record)? < record.len() || !record.starts_with(b"PK\x06\x06") {
        return Ok(None);
    }
    let field = |at: usize| u64_at(&record, at).unwrap_or_default();
    Ok(Some((record_at, field(32), field(40), field(48))))
}

/// A central directory entry's compressed size and local header offset, from
/// its zip64 extra field when the 32-bit fields overflowed.
fn zip64_sizes(extra: &[u8], compressed: u32, uncompressed: u32, local_offset: u32) -> (u64, u64) {
    let mut compressed = u64::from(compressed);
    let mut local_offset = u64::from(local_offset);
    let mut at = 0usize;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        let data = extra
            .get(at + 4..at + 4 + usize::from(len))
            .unwrap_or_default();
        if id == 0x0001 {
            // Only the overflowed fields are present, in this order.
            let mut fields = data.chunks_exact(8).filter_map(|c| u64_at(c, 0));
            if uncompressed == u32::MAX {
                let _ = fields.next();
            }
            if compressed == u64::from(u32::MAX) {
                compressed = fields.next().unwrap_or(compressed);
            }
            if local_offset == u64::from(u32::MAX) {
                local_offset = fields.next().unwrap_or(local_offset);
            }
            break;
        }
        at += 4 + usize::from(len);
    }
    (compressed, local_offset)
}

/// The data of a stored member whose local header is at `at`.
fn stored_member<R: Read + Seek>(file: &mut R, at: u64, size: u64) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 30];
    file.seek(SeekFrom::Start(at))?;
    if read_exact_or_eof(file, &mut header)? < header.len() || !header.starts_with(b"PK\x03\x04") {
        return Ok(None);
    }
    let skip = i64::from(u16_at(&header, 26).unwrap_or_default())
        + i64::from(u16_at(&header, 28).unwrap_or_default());
    file.seek(SeekFrom::Current(skip))?;
    let mut data = Vec::new();
    file.by_ref().take(size).read_to_end(&mut data)?;
    Ok((data.len() as u64 == size).then_some(data))
}

fn signature_at<R: Read + Seek>(file: &mut R, at: u64, signature: &[u8; 4]) -> io::Result<bool> {
    let mut found = [0u8; 4];
    file.seek(SeekFrom::Start(at))?;
    Ok(read_exact_or_eof(file, &mut found)? == 4 && &found == signature)
}

/// Fills `buf` as far as the reader allows; the count read.
fn read_exact_or_eof<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a character may appear in printable text: anything but control
/// characters, except tab, line feed, carriage return and form feed.
fn printable_char(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c')
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
    text.chars().all(printable_char)
}

/// UTF-16 after a byte order mark, holding text (a surrogate pair or byte cut
/// at the end of `head` is allowed). `FF FE 00 00` (UTF-32) is not: NUL is a
/// control character.
fn utf16_with_bom(head: &[u8]) -> Option<TextEncoding> {
    let (encoding, body) = match head {
        [0xff, 0xfe, body @ ..] => (TextEncoding::Utf16Le, body),
        [0xfe, 0xff, body @ ..] => (TextEncoding::Utf16Be, body),
        _ => return None,
    };
    let units = body.chunks_exact(2).map(|pair| match (encoding, pair) {
        (TextEncoding::Utf16Be, [a, b]) => u16::from_be_bytes([*a, *b]),
        (_, [a, b]) => u16::from_le_bytes([*a, *b]),
        _ => 0,
    });
    let count = body.len() / 2;
    let mut decoded = 0usize;
    for unit in char::decode_utf16(units) {
        match unit {
            Ok(c) if printable_char(c) => decoded += c.len_utf16(),
            // A high surrogate whose pair was cut off by the end of `head`.
            Err(e)
                if (0xd800..0xdc00).contains(&e.unpaired_surrogate()) && decoded + 1 == count => {}
            Ok(_) | Err(_) => return None,
        }
    }
    Some(encoding)
}

/// 8-bit text: not UTF-8, no control characters but tab, line feed, carriage
/// return and form feed, and no DEL (bytes 0x80-0xff are letters in the
/// legacy encodings).
fn is_legacy_text(head: &[u8]) -> bool {
    head.iter()
        .all(|&b| b >= 0x80 || (b != 0x7f && printable_char(char::from(b))))
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

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

    /// How a test zip is written.
    #[derive(Debug, Clone, Copy)]
    enum Writer {
        /// Sizes in the local headers (as Microsoft Office writes).
        Seekable,
        /// Sizes in data descriptors after each member (streaming writers,
        /// and LibreOffice for some members).
        Streaming,
        /// Zip64 records for every member.
        Zip64,
    }

    /// A zip written by the `zip` crate: the first member stored (as ODF's
    /// `mimetype` must be), the others deflated.
    fn write_zip(writer: Writer, members: &[(&str, &[u8])]) -> Vec<u8> {
        let options = |index: usize| {
            let method = if index == 0 {
                CompressionMethod::Stored
            } else {
                CompressionMethod::Deflated
            };
            SimpleFileOptions::default()
                .compression_method(method)
                .large_file(matches!(writer, Writer::Zip64))
        };
        match writer {
            Writer::Seekable | Writer::Zip64 => {
                let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
                for (index, (name, data)) in members.iter().enumerate() {
                    zip.start_file(*name, options(index)).unwrap();
                    zip.write_all(data).unwrap();
                }
                zip.finish().unwrap().into_inner()
            }
            Writer::Streaming => {
                let mut zip = zip::ZipWriter::new_stream(Vec::new());
                for (index, (name, data)) in members.iter().enumerate() {
                    zip.start_file(*name, options(index)).unwrap();
                    zip.write_all(data).unwrap();
                }
                zip.finish().unwrap().into_inner()
            }
        }
    }

    fn classify_bytes(bytes: &[u8]) -> Printable {
        classify_file(&mut Cursor::new(bytes)).unwrap()
    }

    /// The parts of a real OOXML package of `main` (`word`, `xl`, `ppt`),
    /// after a large member that pushes the main part past the first 64 KiB.
    fn ooxml(main: &str) -> Vec<(String, Vec<u8>)> {
        let noise: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        vec![
            ("[Content_Types].xml".into(), b"<Types/>".to_vec()),
            ("_rels/.rels".into(), b"<Relationships/>".to_vec()),
            ("docProps/thumbnail.jpeg".into(), noise),
            (
                format!("{main}/_rels/part.xml.rels"),
                b"<Relationships/>".to_vec(),
            ),
            (format!("{main}/part.xml"), b"<x/>".to_vec()),
        ]
    }

    fn refs(members: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        members
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect()
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
            classify("\u{feff}UTF-8 with a byte order mark\r\n".as_bytes()),
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

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xfe, 0xff]
        } else {
            vec![0xff, 0xfe]
        };
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_reencoded() {
        // As Notepad saves "Unicode" text (its BOM also reads as an MPEG
        // audio frame header).
        let notepad = utf16("Interview notes – Zoë\r\n\tsecond line 😀\r\n", false);
        assert_eq!(
            classify(&notepad),
            Printable::Reencode(TextEncoding::Utf16Le)
        );
        assert_eq!(
            classify(&utf16("Big endian\n", true)),
            Printable::Reencode(TextEncoding::Utf16Be)
        );
        // Cut inside a surrogate pair or a code unit by the end of the head.
        let emoji = utf16("ab😀", false);
        assert_eq!(
            classify(&emoji[..emoji.len() - 2]),
            Printable::Reencode(TextEncoding::Utf16Le)
        );
        assert_eq!(
            classify(&emoji[..emoji.len() - 1]),
            Printable::Reencode(TextEncoding::Utf16Le)
        );
        // UTF-32 (FF FE 00 00) and UTF-16 holding control characters are not text.
        assert!(matches!(
            classify(b"\xff\xfe\0\0h\0\0\0"),
            Printable::Refused(_) | Printable::Unknown
        ));
        assert_eq!(
            classify(&utf16("bell \u{7}", false)),
            Printable::Refused(Refusal::Audio),
            "not text, so the MPEG frame header reading stands"
        );
        assert_eq!(
            classify(&utf16("escape \u{1b}[0m", true)),
            Printable::Unknown
        );
        // An unpaired low surrogate is not text.
        assert_eq!(classify(b"\xfe\xff\xdc\x00\x00a"), Printable::Unknown);
    }

    #[test]
    fn eight_bit_text_is_reencoded() {
        // A CSV as Excel saves it in Windows-1252: ö, ß, € are single bytes.
        let csv = b"Name;Gr\xf6\xdfe;Preis\r\nM\xfcller;42;10 \x80\r\n";
        assert_eq!(classify(csv), Printable::Reencode(TextEncoding::Legacy));
        // KOI8-R, Shift_JIS: bytes above 0x7f, no control characters.
        assert_eq!(
            classify(b"\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2\n"),
            Printable::Reencode(TextEncoding::Legacy)
        );
        assert_eq!(
            classify(b"\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd\r\n"),
            Printable::Reencode(TextEncoding::Legacy)
        );
        // Control characters (other than tab, CR, LF, FF) or DEL: not text.
        assert_eq!(classify(b"M\xfcller\x01\x02"), Printable::Unknown);
        assert_eq!(classify(b"M\xfcller\x7f"), Printable::Unknown);
        assert_eq!(classify(b"M\xfcller\0"), Printable::Unknown);
        assert_eq!(
            Printable::Reencode(TextEncoding::Utf16Le).mime_type(),
            Some("text/plain")
        );
    }

    #[test]
    fn webp_is_not_printed() {
        assert_eq!(
            classify(b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0"),
            Printable::Unknown
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
    fn office_zips_are_judged_by_their_central_directory_however_written() {
        for writer in [Writer::Seekable, Writer::Streaming, Writer::Zip64] {
            for (main, kind) in [
                ("word", OfficeKind::Docx),
                ("xl", OfficeKind::Xlsx),
                ("ppt", OfficeKind::Pptx),
            ] {
                let members = ooxml(main);
                let bytes = write_zip(writer, &refs(&members));
                if matches!(writer, Writer::Streaming) {
                    let flags = u16_at(&bytes, 6).unwrap();
                    assert_ne!(flags & 0x08, 0, "sizes in a data descriptor");
                }
                assert_eq!(
                    classify_bytes(&bytes),
                    Printable::Convert(kind),
                    "{writer:?} {main}"
                );
            }
            for (mimetype, kind) in [
                ("text", OfficeKind::OdfText),
                ("spreadsheet", OfficeKind::OdfSpreadsheet),
                ("presentation", OfficeKind::OdfPresentation),
                ("graphics", OfficeKind::OdfGraphics),
                ("text-template", OfficeKind::OdfText),
            ] {
                let mimetype = format!("application/vnd.oasis.opendocument.{mimetype}");
                let bytes = write_zip(
                    writer,
                    &[
                        ("mimetype", mimetype.as_bytes()),
                        ("content.xml", b"<office:document-content/>"),
                        ("META-INF/manifest.xml", b"<manifest:manifest/>"),
                    ],
                );
                assert_eq!(
                    classify_bytes(&bytes),
                    Printable::Convert(kind),
                    "{writer:?} {mimetype}"
                );
            }
        }
    }

    #[test]
    fn a_streamed_docx_defeats_the_head_alone_but_not_the_central_directory() {
        // The case of the field report: members with data descriptors, the
        // Word part after the first 64 KiB.
        let members = ooxml("word");
        let bytes = write_zip(Writer::Streaming, &refs(&members));
        assert_eq!(classify(&bytes), Printable::Refused(Refusal::Archive));
        assert_eq!(classify_bytes(&bytes), Printable::Convert(OfficeKind::Docx));
    }

    #[test]
    fn other_zips_are_archives_even_with_office_like_names() {
        for writer in [Writer::Seekable, Writer::Streaming, Writer::Zip64] {
            let plain = write_zip(writer, &[("secrets/a.txt", b"hello"), ("b.txt", b"x")]);
            assert_eq!(classify_bytes(&plain), Printable::Refused(Refusal::Archive));
            // A folder called `word` zipped up is no Word document: OOXML
            // packages carry `[Content_Types].xml`.
            let folder = write_zip(writer, &[("word/notes.txt", b"hi"), ("word/b.txt", b"x")]);
            assert_eq!(
                classify_bytes(&folder),
                Printable::Refused(Refusal::Archive)
            );
            // EPUB has a `mimetype` too, not an ODF one.
            let epub = write_zip(writer, &[("mimetype", b"application/epub+zip")]);
            assert_eq!(classify_bytes(&epub), Printable::Refused(Refusal::Archive));
        }
        // A zip inside a zip: only the outer directory counts.
        let members = ooxml("word");
        let inner = write_zip(Writer::Seekable, &refs(&members));
        let outer = write_zip(Writer::Seekable, &[("a.txt", b"x"), ("inner.docx", &inner)]);
        assert_eq!(classify_bytes(&outer), Printable::Refused(Refusal::Archive));
        // An empty zip.
        let empty = write_zip(Writer::Seekable, &[]);
        assert_eq!(classify_bytes(&empty), Printable::Refused(Refusal::Archive));
    }

    #[test]
    fn a_zip_with_a_comment_or_bytes_after_it_is_still_read() {
        let members = ooxml("ppt");
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.set_raw_comment(
            b"PK\x05\x06 a stray end record in the comment"
                .to_vec()
                .into_boxed_slice(),
        )
        .unwrap();
        for (name, data) in &members {
            zip.start_file(name.as_str(), SimpleFileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        assert_eq!(classify_bytes(&bytes), Printable::Convert(OfficeKind::Pptx));
    }

    #[test]
    fn a_cut_zip_falls_back_to_its_first_bytes() {
        let mut docx = zip_member("[Content_Types].xml", b"<Types/>");
        docx.extend(zip_member("word/document.xml", b"<w:document/>"));
        // No central directory at all: the local headers decide.
        assert_eq!(classify_bytes(&docx), Printable::Convert(OfficeKind::Docx));
        let members = ooxml("word");
        let whole = write_zip(Writer::Streaming, &refs(&members));
        let cut = &whole[..whole.len() - 30];
        assert_eq!(classify_bytes(cut), Printable::Refused(Refusal::Archive));
    }

    #[test]
    fn a_zip_claiming_billions_of_entries_is_read_in_bounded_time() {
        // A zip64 end record claiming 2^40 entries in a directory of 2^50
        // bytes, over a directory holding one real entry.
        let mut bytes = write_zip(Writer::Seekable, &[("a.txt", b"x")]);
        let eocd = bytes.len() - 22;
        let directory_offset = u32_at(&bytes, eocd + 16).unwrap() as u64;
        let directory_size = u32_at(&bytes, eocd + 12).unwrap() as u64;
        bytes.truncate(eocd);
        let record_at = bytes.len() as u64;
        bytes.extend_from_slice(b"PK\x06\x06");
        bytes.extend_from_slice(&44u64.to_le_bytes());
        bytes.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        bytes.extend_from_slice(&(directory_size.max(1 << 50)).to_le_bytes());
        bytes.extend_from_slice(&directory_offset.to_le_bytes());
        bytes.extend_from_slice(b"PK\x06\x07\0\0\0\0");
        bytes.extend_from_slice(&record_at.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(
            b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0",
        );
        let started = std::time::Instant::now();
        assert_eq!(classify_bytes(&bytes), Printable::Refused(Refusal::Archive));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
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
        assert_eq!(classify_bytes(b""), Printable::Unknown);
        assert_eq!(classify(b"\x7fELF\x02\x01\x01\0"), Printable::Unknown);
        assert_eq!(classify(b"text with a NUL\0 inside"), Printable::Unknown);
        assert_eq!(classify(b"\0\0\0\x1cftypheic"), Printable::Unknown);
    }

    #[test]
    fn names_do_not_matter_only_bytes() {
        // A PDF is a PDF whatever it is called; classify never sees a name.
        assert_eq!(classify(b"%PDF-1.4"), Printable::Direct(DirectKind::Pdf));
    }

    #[test]
    fn classify_file_agrees_with_classify_on_everything_but_zips() {
        for sample in [
            b"%PDF-1.4\n".as_slice(),
            b"hello\n",
            b"\x7fELF\x02",
            b"ID3\x04\0",
            b"M\xfcller\r\n",
        ] {
            assert_eq!(classify_bytes(sample), classify(sample));
        }
    }

    fn arbitrary_writer() -> impl proptest::strategy::Strategy<Value = Writer> {
        proptest::prop_oneof![
            proptest::strategy::Just(Writer::Seekable),
            proptest::strategy::Just(Writer::Streaming),
            proptest::strategy::Just(Writer::Zip64),
        ]
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

        #[test]
        fn classify_file_never_panics_on_arbitrary_or_damaged_zips(
            writer in arbitrary_writer(),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..8),
            cut in proptest::prelude::any::<usize>(),
        ) {
            let _ = classify_bytes(&bytes);
            let mut prefixed = b"PK\x03\x04".to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = classify_bytes(&prefixed);
            let members = ooxml("xl");
            let mut zip = write_zip(writer, &refs(&members));
            for (at, value) in flips {
                let len = zip.len();
                zip[at % len] = value;
            }
            let _ = classify_bytes(&zip);
            zip.truncate(cut % (zip.len() + 1));
            let _ = classify_bytes(&zip);
        }

        #[test]
        fn any_zip_is_an_office_document_exactly_when_its_members_say_so(
            writer in arbitrary_writer(),
            names in proptest::collection::vec("[a-z]{1,8}(/[a-z]{1,8}){0,2}\\.xml", 0..12),
            content_types in proptest::prelude::any::<bool>(),
            main in proptest::option::of(proptest::sample::select(vec!["word", "xl", "ppt"])),
            main_at in proptest::prelude::any::<usize>(),
        ) {
            let mut members: Vec<(String, Vec<u8>)> = names
                .iter()
                .map(|n| (format!("other/{n}"), b"<x/>".to_vec()))
                .collect();
            members.dedup_by(|a, b| a.0 == b.0);
            members.sort();
            members.dedup_by(|a, b| a.0 == b.0);
            if content_types {
                members.insert(0, ("[Content_Types].xml".into(), b"<Types/>".to_vec()));
            }
            if let Some(main) = main {
                let at = main_at % (members.len() + 1);
                members.insert(at, (format!("{main}/part.xml"), b"<x/>".to_vec()));
            }
            let expected = match (content_types, main) {
                (true, Some("word")) => Printable::Convert(OfficeKind::Docx),
                (true, Some("xl")) => Printable::Convert(OfficeKind::Xlsx),
                (true, Some("ppt")) => Printable::Convert(OfficeKind::Pptx),
                _ => Printable::Refused(Refusal::Archive),
            };
            let zip = write_zip(writer, &refs(&members));
            proptest::prop_assert_eq!(classify_bytes(&zip), expected);
        }
    }

    #[test]
    fn never_panics_on_truncated_zip_headers() {
        for len in 0..40 {
            let zip = zip_member("word/document.xml", b"x");
            let _ = classify(&zip[..len.min(zip.len())]);
            let _ = classify_bytes(&zip[..len.min(zip.len())]);
        }
        let _ = classify(&[0xff; 3]);
        let _ = classify(b"PK\x03\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
    }
}
