//! HEIF/HEIC/AVIF, edited in place: the EXIF and XMP items (found through
//! the `meta` box: `iinf` names each item's type, `iloc` says where its bytes
//! are) are overwritten where they stand, EXIF with an empty TIFF structure
//! and XMP with an empty packet padded with spaces, so that no box and no
//! offset moves and the coded image items are never touched. No crate here
//! edits HEIF, so the walk over the boxes is ours, bounded (box sizes checked
//! against the file, at most [`MAX_ITEMS`] items, [`MAX_EXTENTS`] extents)
//! and fuzzed (`fuzz/fuzz_targets/redact_image.rs`).
//!
//! Check: a second pass finds nothing left, the same items are found, and
//! every byte outside the overwritten ranges is the original's. The pictures
//! are not decoded (there is no HEVC/AV1 decoder here): they are compared
//! byte for byte instead.

use std::collections::BTreeSet;

use super::{xmp, NotRedacted, Redacted};

const MAX_ITEMS: usize = 10_000;
const MAX_EXTENTS: usize = 10_000;

/// What an EXIF item becomes: the TIFF-header offset 0, then a big-endian
/// TIFF header whose first directory has no entries.
const EMPTY_EXIF: &[u8] = b"\0\0\0\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0";
/// What an XMP item becomes, padded with spaces.
const EMPTY_XMP: &[u8] =
    b"<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/><?xpacket end=\"w\"?>";

fn bad(what: &str) -> NotRedacted {
    NotRedacted::new(format!("not a readable HEIF file: {what}"))
}

fn be(bytes: &[u8], at: usize, size: usize) -> Result<u64, NotRedacted> {
    let field = bytes
        .get(at..at.checked_add(size).ok_or_else(|| bad("offset"))?)
        .ok_or_else(|| bad("a field past the end"))?;
    Ok(field.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
}

/// A box: its type and where its payload is.
#[derive(Debug, Clone, Copy)]
struct Boxed {
    kind: [u8; 4],
    payload: (usize, usize),
}

/// The boxes laid end to end in `range`.
fn boxes(bytes: &[u8], range: (usize, usize)) -> Result<Vec<Boxed>, NotRedacted> {
    let mut out = Vec::new();
    let mut at = range.0;
    while at < range.1 {
        let size = be(bytes, at, 4)?;
        let kind: [u8; 4] = bytes
            .get(at + 4..at + 8)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| bad("a box past the end"))?;
        let (header, size) = match size {
            0 => (8, (range.1 - at) as u64),
            1 => (16, be(bytes, at + 8, 8)?),
            size => (8, size),
        };
        let size = usize::try_from(size).map_err(|_| bad("box size"))?;
        let end = at.checked_add(size).ok_or_else(|| bad("box size"))?;
        if size < header || end > range.1 {
            return Err(bad("a box larger than what holds it"));
        }
        out.push(Boxed {
            kind,
            payload: (at + header, end),
        });
        if out.len() > MAX_ITEMS {
            return Err(bad("too many boxes"));
        }
        at = end;
    }
    Ok(out)
}

fn find(boxes: &[Boxed], kind: &[u8; 4]) -> Option<Boxed> {
    boxes.iter().find(|b| &b.kind == kind).copied()
}

/// A metadata item: what it is and where its bytes are.
struct Item {
    xmp: bool,
    ranges: Vec<(usize, usize)>,
}

/// The EXIF and XMP items of the file; refused when one shares bytes with
/// any other item (a picture would be damaged).
fn metadata_items(bytes: &[u8]) -> Result<Vec<Item>, NotRedacted> {
    let (items, others) = items(bytes)?;
    for &(from, to) in items.iter().flat_map(|i| &i.ranges) {
        if others.iter().any(|&(f, t)| from < t && f < to) {
            return Err(NotRedacted::new(
                "a HEIF metadata item shares bytes with a picture",
            ));
        }
    }
    Ok(items)
}

/// The EXIF and XMP items, and the byte ranges of every other item.
#[allow(clippy::type_complexity)]
fn items(bytes: &[u8]) -> Result<(Vec<Item>, Vec<(usize, usize)>), NotRedacted> {
    let top = boxes(bytes, (0, bytes.len()))?;
    let Some(meta) = find(&top, b"meta") else {
        return Ok((Vec::new(), Vec::new()));
    };
    // `meta` is a full box: version and flags first.
    let children = boxes(bytes, (meta.payload.0 + 4, meta.payload.1))?;
    let (Some(iinf), Some(iloc)) = (find(&children, b"iinf"), find(&children, b"iloc")) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let idat = find(&children, b"idat").map(|b| b.payload);

    // iinf: which items are EXIF or XMP.
    let version = be(bytes, iinf.payload.0, 1)?;
    let count_size = if version == 0 { 2 } else { 4 };
    let entries_at = iinf.payload.0 + 4 + count_size;
    let mut wanted: Vec<(u64, bool)> = Vec::new();
    for infe in boxes(bytes, (entries_at, iinf.payload.1))? {
        if &infe.kind != b"infe" {
            continue;
        }
        let (start, end) = infe.payload;
        let version = be(bytes, start, 1)?;
        if version < 2 {
            continue;
        }
        let id_size = if version == 2 { 2 } else { 4 };
        let id = be(bytes, start + 4, id_size)?;
        let type_at = start + 4 + id_size + 2;
        let item_type = bytes.get(type_at..type_at + 4).ok_or_else(|| bad("infe"))?;
        let rest = bytes.get(type_at + 4..end).unwrap_or_default();
        let is_xmp = item_type == b"mime" && {
            // item_name, then content_type, both ending with a NUL.
            let mut strings = rest.split(|&b| b == 0);
            let _name = strings.next();
            strings.next().is_some_and(|t| {
                t.windows(7).any(|w| w == b"rdf+xml") || t.windows(3).any(|w| w == b"xmp")
            })
        };
        if item_type == b"Exif" || is_xmp {
            wanted.push((id, is_xmp));
        }
        if wanted.len() > MAX_ITEMS {
            return Err(bad("too many items"));
        }
    }
    if wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }

    // iloc: where each wanted item's bytes are.
    let (start, end) = iloc.payload;
    let version = be(bytes, start, 1)?;
    let sizes = be(bytes, start + 4, 1)?;
    let more = be(bytes, start + 5, 1)?;
    let (offset_size, length_size) = ((sizes >> 4) as usize, (sizes & 15) as usize);
    let base_size = (more >> 4) as usize;
    let index_size = if version == 1 || version == 2 {
        (more & 15) as usize
    } else {
        0
    };
    for size in [offset_size, length_size, base_size, index_size] {
        if ![0, 4, 8].contains(&size) {
            return Err(bad("iloc field size"));
        }
    }
    let (count, mut at) = if version < 2 {
        (be(bytes, start + 6, 2)?, start + 8)
    } else {
        (be(bytes, start + 6, 4)?, start + 10)
    };
    let mut items = Vec::new();
    let mut others = Vec::new();
    let mut extents_seen = 0usize;
    for _ in 0..count {
        let id_size = if version < 2 { 2 } else { 4 };
        let id = be(bytes, at, id_size)?;
        at += id_size;
        let method = if version == 1 || version == 2 {
            let m = be(bytes, at, 2)? & 15;
            at += 2;
            m
        } else {
            0
        };
        at += 2; // data_reference_index
        let base = be(bytes, at, base_size)?;
        at += base_size;
        let extents = be(bytes, at, 2)?;
        at += 2;
        let mut ranges = Vec::new();
        for _ in 0..extents {
            extents_seen += 1;
            if extents_seen > MAX_EXTENTS {
                return Err(bad("too many extents"));
            }
            at += index_size;
            let offset = be(bytes, at, offset_size)?;
            at += offset_size;
            let length = be(bytes, at, length_size)?;
            at += length_size;
            ranges.push((offset, length));
        }
        if at > end {
            return Err(bad("iloc past its box"));
        }
        let wanted_item = wanted.iter().find(|(w, _)| *w == id).map(|&(_, xmp)| xmp);
        let origin = match (method, idat) {
            (0, _) => 0u64,
            (1, Some((idat_start, _))) => idat_start as u64,
            _ if wanted_item.is_none() => continue,
            _ => {
                return Err(NotRedacted::new(
                    "a HEIF metadata item stored in a way we do not rewrite",
                ))
            }
        };
        let mut absolute = Vec::new();
        for (offset, length) in ranges {
            let from = origin
                .checked_add(base)
                .and_then(|v| v.checked_add(offset))
                .ok_or_else(|| bad("extent offset"))?;
            // A length of 0 means "to the end of the file".
            let to = if length == 0 {
                bytes.len() as u64
            } else {
                from.checked_add(length)
                    .ok_or_else(|| bad("extent length"))?
            };
            let (from, to) = (
                usize::try_from(from).map_err(|_| bad("extent"))?,
                usize::try_from(to).map_err(|_| bad("extent"))?,
            );
            if from > to || to > bytes.len() {
                return Err(bad("an item's bytes lie outside the file"));
            }
            absolute.push((from, to));
        }
        match wanted_item {
            Some(xmp) => items.push(Item {
                xmp,
                ranges: absolute,
            }),
            None => others.extend(absolute),
        }
    }
    Ok((items, others))
}

/// The item's bytes, its extents joined.
fn item_bytes(bytes: &[u8], item: &Item) -> Vec<u8> {
    item.ranges
        .iter()
        .flat_map(|&(from, to)| bytes.get(from..to).unwrap_or_default().iter().copied())
        .collect()
}

/// Writes `replacement` (padded with `pad`) over the item's extents.
fn overwrite(bytes: &mut [u8], item: &Item, replacement: &[u8], pad: u8) {
    let mut source = replacement.iter().copied().chain(std::iter::repeat(pad));
    for &(from, to) in &item.ranges {
        if let Some(range) = bytes.get_mut(from..to) {
            for byte in range {
                *byte = source.next().unwrap_or(pad);
            }
        }
    }
}

fn is_blank(data: &[u8], blank: &[u8], pad: u8) -> bool {
    let (head, tail) = data.split_at(data.len().min(blank.len()));
    blank.starts_with(head) && tail.iter().all(|&b| b == pad)
}

/// Redacts a HEIF file in place; see the module documentation.
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
    let items = metadata_items(&bytes)?;
    let mut overwritten = vec![false; bytes.len()];
    for &(from, to) in items.iter().flat_map(|i| &i.ranges) {
        if let Some(range) = overwritten.get_mut(from..to) {
            range.fill(true);
        }
    }
    let untouched = original.len() == bytes.len()
        && original
            .iter()
            .zip(&bytes)
            .zip(&overwritten)
            .all(|((a, b), over)| *over || a == b);
    if !untouched {
        return Err(NotRedacted::new("bytes outside the metadata items changed"));
    }
    Ok(Redacted {
        bytes,
        removed,
        kept: vec!["thumbnails and other image items (HEVC/AV1 is not decoded here)".into()],
        checked: "only the EXIF and XMP items' bytes changed; every other byte, the coded pictures included, is the original's".into(),
    })
}

fn strip(original: &[u8]) -> Result<(Vec<u8>, Vec<String>), NotRedacted> {
    let items = metadata_items(original)?;
    let mut bytes = original.to_vec();
    let mut removed = BTreeSet::new();
    for item in &items {
        let data = item_bytes(original, item);
        if item.xmp {
            if is_blank(&data, EMPTY_XMP, b' ') {
                continue;
            }
            removed.insert(xmp::describe(&data));
            overwrite(&mut bytes, item, EMPTY_XMP, b' ');
        } else {
            if is_blank(&data, EMPTY_EXIF, 0) {
                continue;
            }
            // The item starts with the offset of the TIFF header after it.
            let skip = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .and_then(|o| usize::try_from(o).ok())
                .unwrap_or(0)
                .saturating_add(4);
            removed.insert(super::image::describe_exif(
                data.get(skip..).unwrap_or_default(),
            ));
            overwrite(&mut bytes, item, EMPTY_EXIF, 0);
        }
    }
    Ok((bytes, removed.into_iter().collect()))
}
