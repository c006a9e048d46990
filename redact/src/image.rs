//! Photos and pictures: JPEG, PNG and WebP, taken apart with img-parts into
//! their segments or chunks; the ones that carry metadata (EXIF, XMP,
//! Photoshop/IPTC, ICC profiles, comments, text chunks, thumbnails, data after
//! the end of the image) are dropped and the rest written back byte for byte,
//! so the compressed image data is never re-encoded. EXIF field names are read
//! with kamadak-exif for the report; the EXIF Orientation alone is kept (as a
//! fresh one-field EXIF) so that photos are not shown turned.
//!
//! Check: the result is parsed again and must have nothing left to remove,
//! and the original and the result are decoded (the `image` crate, at most
//! [`DECODE_BUDGET_BYTES`]) to the same dimensions and identical pixels.

use std::collections::BTreeSet;
use std::io::Cursor;

use ::image::{ImageFormat, ImageReader, Limits};
use bytes::Bytes;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::{Png, PngChunk};
use img_parts::riff::RiffContent;
use img_parts::webp::WebP;

use super::{xmp, NotRedacted, Redacted};

/// The most memory decoding one image for the pixel check may take.
pub const DECODE_BUDGET_BYTES: u64 = 256 * 1024 * 1024;

const EXIF_PREFIX: &[u8] = b"Exif\0\0";
const XMP_PREFIX: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION_PREFIX: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";

/// What EXIF data holds, for the report, and its orientation.
struct ExifSummary {
    /// `EXIF (Make, Model, GPSLatitude, ...)`.
    description: String,
    /// Orientation 2-8 (1 is the default and needs no EXIF).
    orientation: Option<u16>,
    /// Holds nothing but the Orientation: our own kept EXIF.
    orientation_only: bool,
}

fn exif_summary(tiff: &[u8]) -> ExifSummary {
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return ExifSummary {
            description: "EXIF (unreadable)".into(),
            orientation: None,
            orientation_only: false,
        };
    };
    let mut names = BTreeSet::new();
    for field in exif.fields() {
        if field.ifd_num == exif::In::PRIMARY {
            names.insert(field.tag.to_string());
        } else {
            names.insert("thumbnail image".into());
        }
    }
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|o| u16::try_from(o).ok())
        .filter(|o| (2..=8).contains(o));
    let orientation_only = names.len() == 1 && names.contains("Orientation");
    ExifSummary {
        description: format!("EXIF ({})", xmp::list(&names)),
        orientation,
        orientation_only,
    }
}

/// `EXIF (Make, Model, ...)` for a TIFF structure, for the report.
pub fn describe_exif(tiff: &[u8]) -> String {
    exif_summary(tiff).description
}

/// A big-endian TIFF structure with one IFD holding only the Orientation.
fn orientation_exif(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    tiff
}

const KEPT_ORIENTATION: &str =
    "EXIF Orientation (how the photo is turned), as a new EXIF with that one field";

/// Redacts a JPEG; see the module documentation.
pub fn redact_jpeg(original: &[u8]) -> Result<Redacted, NotRedacted> {
    let (bytes, removed, kept) = strip_jpeg(original)?;
    if removed.is_empty() {
        return Ok(Redacted {
            kept,
            ..Redacted::default()
        });
    }
    let (_, again, _) = strip_jpeg(&bytes)?;
    if !again.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            again.join("; ")
        )));
    }
    let checked = same_pixels(original, &bytes, ImageFormat::Jpeg)?;
    Ok(Redacted {
        bytes,
        removed,
        kept,
        checked,
    })
}

type Stripped = (Vec<u8>, Vec<String>, Vec<String>);

fn strip_jpeg(original: &[u8]) -> Result<Stripped, NotRedacted> {
    let jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(original))
        .map_err(|e| NotRedacted::new(format!("not a readable JPEG: {e}")))?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    let mut orientation = None;
    let mut segments: Vec<JpegSegment> = Vec::with_capacity(jpeg.segments().len());
    for segment in jpeg.segments() {
        let contents = segment.contents();
        let marker = segment.marker();
        let what: Option<String> = match marker {
            markers::APP0 if contents.starts_with(b"JFIF\0") => None,
            markers::APP0 if contents.starts_with(b"JFXX\0") => {
                Some("JFIF extension (thumbnail)".into())
            }
            markers::APP1 if contents.starts_with(EXIF_PREFIX) => {
                let summary = exif_summary(contents.get(EXIF_PREFIX.len()..).unwrap_or_default());
                if summary.orientation_only {
                    None
                } else {
                    orientation = orientation.or(summary.orientation);
                    Some(summary.description)
                }
            }
            markers::APP1 if contents.starts_with(XMP_PREFIX) => Some(xmp::describe(
                contents.get(XMP_PREFIX.len()..).unwrap_or_default(),
            )),
            markers::APP1 if contents.starts_with(XMP_EXTENSION_PREFIX) => {
                Some("XMP (extended part)".into())
            }
            markers::APP2 if contents.starts_with(b"ICC_PROFILE\0") => {
                Some("ICC colour profile".into())
            }
            markers::APP2 if contents.starts_with(b"MPF\0") => {
                Some("MPF index of further images".into())
            }
            markers::APP13 => Some("Photoshop resources (IPTC: captions, bylines, places)".into()),
            // Adobe's colour transform flag: needed to decode the pixels.
            markers::APP14 if contents.starts_with(b"Adobe") => None,
            0xe0..=0xef => Some(format!("APP{} segment", marker - 0xe0)),
            markers::COM => Some("comment".into()),
            _ => None,
        };
        match what {
            Some(what) => removed.push(what),
            None => segments.push(segment.clone()),
        }
    }
    if let Some(orientation) = orientation {
        let mut contents = EXIF_PREFIX.to_vec();
        contents.extend(orientation_exif(orientation));
        let at = usize::from(
            segments
                .first()
                .is_some_and(|s| s.marker() == markers::APP0),
        );
        segments.insert(
            at,
            JpegSegment::new_with_contents(markers::APP1, Bytes::from(contents)),
        );
        kept.push(KEPT_ORIENTATION.to_owned());
    }
    dedup(&mut removed);
    let headers: usize = 2 + segments.iter().map(JpegSegment::len).sum::<usize>();
    let mut out = Jpeg::from_bytes(Bytes::copy_from_slice(original))
        .map_err(|e| NotRedacted::new(format!("not a readable JPEG: {e}")))?;
    *out.segments_mut() = segments;
    let mut bytes = out.encoder().bytes().to_vec();
    // The last segment (start of scan) carries the rest of the file: the scans,
    // the end-of-image marker, and whatever follows it.
    let scans = bytes.get(headers..).unwrap_or_default();
    let end = match end_of_image(scans)? {
        Some(end) => headers.saturating_add(end),
        None => bytes.len(),
    };
    if end < bytes.len() {
        removed.push(format!(
            "{} bytes after the end of the image (e.g. a Motion Photo video or further images)",
            bytes.len() - end
        ));
        bytes.truncate(end);
    }
    Ok((bytes, removed, kept))
}

/// Where the end-of-image marker ends in `scans` (the bytes after the first
/// start-of-scan header), walking entropy-coded data and the marker segments
/// between progressive scans. `None`: no end marker (a truncated file).
/// Metadata segments between scans are not something we rewrite.
fn end_of_image(scans: &[u8]) -> Result<Option<usize>, NotRedacted> {
    let mut i = 0usize;
    while i < scans.len() {
        if scans.get(i) != Some(&0xff) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while scans.get(j) == Some(&0xff) {
            j += 1;
        }
        let Some(&marker) = scans.get(j) else {
            return Ok(None);
        };
        match marker {
            0x00 | 0xd0..=0xd7 => i = j + 1,
            markers::EOI => return Ok(Some(j + 1)),
            0xe0..=0xef | markers::COM => {
                return Err(NotRedacted::new(
                    "metadata between the scans of a progressive JPEG",
                ))
            }
            _ => {
                let (Some(&hi), Some(&lo)) = (scans.get(j + 1), scans.get(j + 2)) else {
                    return Ok(None);
                };
                let length = usize::from(u16::from_be_bytes([hi, lo]));
                i = j.saturating_add(1).saturating_add(length);
            }
        }
    }
    Ok(None)
}

/// PNG chunks kept: the image itself and how to show it.
const PNG_KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs", b"hIST", b"sPLT", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCV", b"cLLI",
];

/// Redacts a PNG; see the module documentation.
pub fn redact_png(original: &[u8]) -> Result<Redacted, NotRedacted> {
    let (bytes, removed, kept) = strip_png(original)?;
    if removed.is_empty() {
        return Ok(Redacted {
            kept,
            ..Redacted::default()
        });
    }
    let (_, again, _) = strip_png(&bytes)?;
    if !again.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            again.join("; ")
        )));
    }
    let checked = same_pixels(original, &bytes, ImageFormat::Png)?;
    Ok(Redacted {
        bytes,
        removed,
        kept,
        checked,
    })
}

fn strip_png(original: &[u8]) -> Result<Stripped, NotRedacted> {
    let mut png = Png::from_bytes(Bytes::copy_from_slice(original))
        .map_err(|e| NotRedacted::new(format!("not a readable PNG: {e}")))?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    let mut orientation = None;
    let mut chunks = Vec::with_capacity(png.chunks().len());
    for chunk in png.chunks() {
        let kind = chunk.kind();
        if PNG_KEPT.contains(&&kind) {
            chunks.push(chunk.clone());
            continue;
        }
        let contents = chunk.contents();
        let keyword = || {
            let end = contents.iter().position(|&b| b == 0).unwrap_or(0).min(79);
            String::from_utf8_lossy(contents.get(..end).unwrap_or_default()).into_owned()
        };
        let what = match &kind {
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let keyword = keyword();
                if keyword == "XML:com.adobe.xmp" {
                    "XMP".to_owned()
                } else {
                    format!("text \"{}\"", keyword.escape_default())
                }
            }
            b"eXIf" => {
                let summary = exif_summary(contents);
                if summary.orientation_only {
                    chunks.push(chunk.clone());
                    continue;
                }
                orientation = orientation.or(summary.orientation);
                summary.description
            }
            b"iCCP" => "ICC colour profile".into(),
            b"tIME" => "time of last change".into(),
            other => format!("{} chunk", String::from_utf8_lossy(other).escape_default()),
        };
        removed.push(what);
    }
    if let Some(orientation) = orientation {
        // eXIf goes before the first IDAT.
        let at = chunks
            .iter()
            .position(|c| &c.kind() == b"IDAT")
            .unwrap_or(chunks.len());
        chunks.insert(
            at,
            PngChunk::new(*b"eXIf", Bytes::from(orientation_exif(orientation))),
        );
        kept.push(KEPT_ORIENTATION.to_owned());
    }
    dedup(&mut removed);
    *png.chunks_mut() = chunks;
    Ok((png.encoder().bytes().to_vec(), removed, kept))
}

/// WebP chunks kept: the image, its alpha and animation.
const WEBP_KEPT: &[&[u8; 4]] = &[b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"];

/// Redacts a WebP; see the module documentation.
pub fn redact_webp(original: &[u8]) -> Result<Redacted, NotRedacted> {
    let (bytes, removed) = strip_webp(original)?;
    if removed.is_empty() {
        return Ok(Redacted::default());
    }
    let (_, again) = strip_webp(&bytes)?;
    if !again.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            again.join("; ")
        )));
    }
    let checked = same_pixels(original, &bytes, ImageFormat::WebP)?;
    Ok(Redacted {
        bytes,
        removed,
        kept: Vec::new(),
        checked,
    })
}

fn strip_webp(original: &[u8]) -> Result<(Vec<u8>, Vec<String>), NotRedacted> {
    let mut webp = WebP::from_bytes(Bytes::copy_from_slice(original))
        .map_err(|e| NotRedacted::new(format!("not a readable WebP: {e}")))?;
    let mut removed = Vec::new();
    let mut chunks = Vec::with_capacity(webp.chunks().len());
    for chunk in webp.chunks() {
        let id = chunk.id();
        if WEBP_KEPT.contains(&&id) {
            chunks.push(chunk.clone());
            continue;
        }
        let data = match chunk.content() {
            RiffContent::Data(data) => data.as_ref(),
            RiffContent::List { .. } => &[],
        };
        removed.push(match &id {
            b"EXIF" => {
                let tiff = data.strip_prefix(EXIF_PREFIX).unwrap_or(data);
                exif_summary(tiff).description
            }
            b"XMP " => xmp::describe(data),
            b"ICCP" => "ICC colour profile".into(),
            other => format!("{} chunk", String::from_utf8_lossy(other).escape_default()),
        });
    }
    // The extended header's flags must no longer announce what was removed:
    // ICC (0x20), EXIF (0x08), XMP (0x04).
    for chunk in &mut chunks {
        if chunk.id() != *b"VP8X" {
            continue;
        }
        if let RiffContent::Data(data) = chunk.content_mut() {
            let mut flags = data.to_vec();
            if let Some(first) = flags.first_mut() {
                *first &= !(0x20 | 0x08 | 0x04);
            }
            *data = Bytes::from(flags);
        }
    }
    dedup(&mut removed);
    *webp.chunks_mut() = chunks;
    Ok((webp.encoder().bytes().to_vec(), removed))
}

/// Decodes both images (each within [`DECODE_BUDGET_BYTES`]) and compares
/// dimensions, colour type and every pixel.
fn same_pixels(
    original: &[u8],
    redacted: &[u8],
    format: ImageFormat,
) -> Result<String, NotRedacted> {
    let (width, height, color, before) = decode(original, format).map_err(|e| {
        NotRedacted::new(format!(
            "the original could not be decoded to check the result: {e}"
        ))
    })?;
    let after = decode(redacted, format)
        .map_err(|e| NotRedacted::new(format!("the redacted image does not decode: {e}")))?;
    if (width, height, color, before) != after {
        return Err(NotRedacted::new(
            "the redacted image decodes to different pixels",
        ));
    }
    Ok(format!(
        "decoded pixels identical to the original ({width}x{height}, {color:?})"
    ))
}

fn decode(
    bytes: &[u8],
    format: ImageFormat,
) -> Result<(u32, u32, ::image::ColorType, blake3::Hash), String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_BUDGET_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| e.to_string())?;
    Ok((
        image.width(),
        image.height(),
        image.color(),
        blake3::hash(image.as_bytes()),
    ))
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    items.retain(|item| seen.insert(item.clone()));
}
