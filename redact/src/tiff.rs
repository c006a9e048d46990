//! TIFF, edited in place: every image file directory (IFD) of the chain loses
//! its identifying entries (Make, Model, Software, Artist, HostComputer,
//! Copyright, DateTime, ImageDescription, XMP, IPTC, Photoshop resources,
//! ICC profile, and the EXIF and GPS directories with everything in them).
//! A removed entry's value bytes are zeroed and the directory is compacted
//! where it stands (the freed 12-byte slots zeroed after the next-IFD link),
//! so no offset in the file moves and the strips or tiles of pixels are never
//! touched. The `tiff` crate reads no offsets, and no crate edits a TIFF in
//! place, so the walk over the directory tables is ours, bounded (at most
//! [`MAX_IFDS`] directories of [`MAX_ENTRIES`] entries, no loops) and fuzzed
//! (`fuzz/fuzz_targets/redact_image.rs`).
//!
//! Check: a second pass finds nothing left, and every page is decoded with
//! the `tiff` crate, before and after, to identical pixels.

use std::collections::{BTreeSet, HashSet};
use std::io::Cursor;

use super::{xmp, NotRedacted, Redacted};

const MAX_IFDS: usize = 256;
const MAX_ENTRIES: usize = 4096;

/// Entries removed, by tag, with the name the report gives them.
const REMOVED: &[(u16, &str)] = &[
    (270, "ImageDescription"),
    (271, "Make"),
    (272, "Model"),
    (305, "Software"),
    (306, "DateTime"),
    (315, "Artist"),
    (316, "HostComputer"),
    (700, "XMP"),
    (33432, "Copyright"),
    (33723, "IPTC"),
    (34377, "Photoshop resources"),
    (34665, "EXIF directory"),
    (34675, "ICC colour profile"),
    (34853, "GPS directory"),
    (40965, "EXIF interoperability directory"),
];

/// Pointers to directories whose whole content is removed with them.
const SUB_IFDS: &[u16] = &[34665, 34853, 40965];

struct Tiff {
    big_endian: bool,
}

impl Tiff {
    fn u16_at(&self, bytes: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn put_u16(&self, bytes: &mut [u8], at: usize, value: u16) -> Option<()> {
        let raw = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        bytes.get_mut(at..at.checked_add(2)?)?.copy_from_slice(&raw);
        Some(())
    }
}

/// One directory entry.
#[derive(Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    /// Where the 12 bytes of the entry are.
    at: usize,
}

impl Entry {
    /// Bytes of the value, and where they are when they do not fit the entry.
    fn value_range(&self, tiff: &Tiff, bytes: &[u8]) -> Option<(usize, usize)> {
        let unit: u64 = match self.kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 => 8,
            _ => return None,
        };
        let len = unit.checked_mul(u64::from(self.count))?;
        if len <= 4 {
            return None;
        }
        let offset = usize::try_from(tiff.u32_at(bytes, self.at + 8)?).ok()?;
        let len = usize::try_from(len).ok()?;
        let end = offset.checked_add(len)?;
        (end <= bytes.len()).then_some((offset, end))
    }
}

fn read_ifd(tiff: &Tiff, bytes: &[u8], at: usize) -> Result<(Vec<Entry>, u32), NotRedacted> {
    let bad = || NotRedacted::new("a TIFF directory lies outside the file");
    let count = usize::from(tiff.u16_at(bytes, at).ok_or_else(bad)?);
    if count > MAX_ENTRIES {
        return Err(NotRedacted::new("a TIFF directory with too many entries"));
    }
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let entry_at = at + 2 + 12 * i;
        entries.push(Entry {
            tag: tiff.u16_at(bytes, entry_at).ok_or_else(bad)?,
            kind: tiff.u16_at(bytes, entry_at + 2).ok_or_else(bad)?,
            count: tiff.u32_at(bytes, entry_at + 4).ok_or_else(bad)?,
            at: entry_at,
        });
    }
    let next = tiff.u32_at(bytes, at + 2 + 12 * count).ok_or_else(bad)?;
    Ok((entries, next))
}

/// Redacts a TIFF in place; see the module documentation.
pub fn redact(original: &[u8]) -> Result<Redacted, NotRedacted> {
    let (bytes, removed) = strip(original)?;
    if removed.is_empty() {
        return Ok(Redacted::default());
    }
    let (_, again) = strip(&bytes)?;
    if !again.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            again.join("; ")
        )));
    }
    let before = pages(original).map_err(|e| {
        NotRedacted::new(format!(
            "the original could not be decoded to check the result: {e}"
        ))
    })?;
    let after = pages(&bytes)
        .map_err(|e| NotRedacted::new(format!("the redacted image does not decode: {e}")))?;
    if before != after {
        return Err(NotRedacted::new(
            "the redacted image decodes to different pixels",
        ));
    }
    Ok(Redacted {
        bytes,
        removed,
        kept: Vec::new(),
        checked: format!(
            "decoded pixels of all {} pages identical to the original",
            before.len()
        ),
    })
}

fn strip(original: &[u8]) -> Result<(Vec<u8>, Vec<String>), NotRedacted> {
    let tiff = match original.get(..4) {
        Some(b"II*\0") => Tiff { big_endian: false },
        Some(b"MM\0*") => Tiff { big_endian: true },
        _ => {
            return Err(NotRedacted::new(
                "not a classic TIFF (BigTIFF is not redacted)",
            ))
        }
    };
    let mut bytes = original.to_vec();
    let mut removed = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut next = tiff.u32_at(original, 4).unwrap_or(0);
    while next != 0 {
        let at = usize::try_from(next).map_err(|_| NotRedacted::new("bad TIFF offset"))?;
        if !seen.insert(at) || seen.len() > MAX_IFDS {
            return Err(NotRedacted::new(
                "the TIFF directories loop or are too many",
            ));
        }
        let (entries, following) = read_ifd(&tiff, &bytes, at)?;
        let mut kept = Vec::with_capacity(entries.len());
        for entry in &entries {
            match REMOVED.iter().find(|(tag, _)| *tag == entry.tag) {
                Some((tag, name)) => {
                    removed.insert(describe(*tag, name, &tiff, &bytes, entry));
                    if SUB_IFDS.contains(tag) {
                        let sub = tiff.u32_at(&bytes, entry.at + 8).unwrap_or(0);
                        erase_directory(&tiff, &mut bytes, sub, &mut seen, 0)?;
                    }
                    if let Some((from, to)) = entry.value_range(&tiff, &bytes) {
                        zero(&mut bytes, from, to);
                    }
                }
                None => kept.push(*entry),
            }
        }
        if kept.len() != entries.len() {
            rewrite_directory(&tiff, &mut bytes, at, &kept, entries.len(), following)?;
        }
        next = following;
    }
    Ok((bytes, removed.into_iter().collect()))
}

/// The report's name for a removed entry: the XMP packet's property names.
fn describe(tag: u16, name: &str, tiff: &Tiff, bytes: &[u8], entry: &Entry) -> String {
    if tag == 700 {
        if let Some((from, to)) = entry.value_range(tiff, bytes) {
            return xmp::describe(bytes.get(from..to).unwrap_or_default());
        }
    }
    name.to_owned()
}

/// Zeroes a sub-directory (EXIF, GPS) with its values and its own sub-directories.
fn erase_directory(
    tiff: &Tiff,
    bytes: &mut [u8],
    at: u32,
    seen: &mut HashSet<usize>,
    depth: usize,
) -> Result<(), NotRedacted> {
    let Ok(at) = usize::try_from(at) else {
        return Ok(());
    };
    if at == 0 || depth > 4 || !seen.insert(at) || seen.len() > MAX_IFDS {
        return Ok(());
    }
    let Ok((entries, _)) = read_ifd(tiff, bytes, at) else {
        return Ok(());
    };
    for entry in &entries {
        if SUB_IFDS.contains(&entry.tag) {
            let sub = tiff.u32_at(bytes, entry.at + 8).unwrap_or(0);
            erase_directory(tiff, bytes, sub, seen, depth + 1)?;
        }
        if let Some((from, to)) = entry.value_range(tiff, bytes) {
            zero(bytes, from, to);
        }
    }
    let end = at + 2 + 12 * entries.len() + 4;
    zero(bytes, at, end);
    Ok(())
}

/// Writes `kept` entries where the directory at `at` was, then the link to
/// the next directory, and zeroes the slots freed.
fn rewrite_directory(
    tiff: &Tiff,
    bytes: &mut [u8],
    at: usize,
    kept: &[Entry],
    old_count: usize,
    next: u32,
) -> Result<(), NotRedacted> {
    let bad = || NotRedacted::new("a TIFF directory lies outside the file");
    let old_end = at + 2 + 12 * old_count + 4;
    let table: Vec<[u8; 12]> = kept
        .iter()
        .map(|e| {
            bytes
                .get(e.at..e.at + 12)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)
        })
        .collect::<Result<_, _>>()?;
    let count = u16::try_from(kept.len()).map_err(|_| bad())?;
    tiff.put_u16(bytes, at, count).ok_or_else(bad)?;
    let mut pos = at + 2;
    for entry in &table {
        bytes
            .get_mut(pos..pos + 12)
            .ok_or_else(bad)?
            .copy_from_slice(entry);
        pos += 12;
    }
    let raw = if tiff.big_endian {
        next.to_be_bytes()
    } else {
        next.to_le_bytes()
    };
    bytes
        .get_mut(pos..pos + 4)
        .ok_or_else(bad)?
        .copy_from_slice(&raw);
    bytes.get_mut(pos + 4..old_end).ok_or_else(bad)?.fill(0);
    Ok(())
}

/// Zeroes `from..to`, when it lies in the file.
fn zero(bytes: &mut [u8], from: usize, to: usize) {
    if let Some(range) = bytes.get_mut(from..to) {
        range.fill(0);
    }
}

fn hash_of(bytes: impl Iterator<Item = u8>) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    for chunk in bytes.collect::<Vec<u8>>().chunks(64 * 1024) {
        hasher.update(chunk);
    }
    hasher.finalize()
}

/// A hash of every page's decoded pixels, with its size and colour type.
fn pages(bytes: &[u8]) -> Result<Vec<(u32, u32, String, blake3::Hash)>, String> {
    use ::tiff::decoder::{Decoder, DecodingResult, Limits};
    let mut limits = Limits::default();
    limits.decoding_buffer_size =
        usize::try_from(super::image::DECODE_BUDGET_BYTES).unwrap_or(usize::MAX);
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(|e| e.to_string())?
        .with_limits(limits);
    let mut out = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(|e| e.to_string())?;
        let color = format!("{:?}", decoder.colortype().map_err(|e| e.to_string())?);
        let hash = match decoder.read_image().map_err(|e| e.to_string())? {
            DecodingResult::U8(v) => blake3::hash(&v),
            DecodingResult::U16(v) => hash_of(v.iter().flat_map(|x| x.to_le_bytes())),
            DecodingResult::U32(v) => hash_of(v.iter().flat_map(|x| x.to_le_bytes())),
            DecodingResult::I8(v) => hash_of(v.iter().flat_map(|x| x.to_le_bytes())),
            DecodingResult::I16(v) => hash_of(v.iter().flat_map(|x| x.to_le_bytes())),
            DecodingResult::F32(v) => hash_of(v.iter().flat_map(|x| x.to_le_bytes())),
            _ => return Err("a sample format the check does not compare".into()),
        };
        out.push((width, height, color, hash));
        if !decoder.more_images() || out.len() >= MAX_IFDS {
            break;
        }
        decoder.next_image().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
