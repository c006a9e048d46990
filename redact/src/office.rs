//! Office documents: Office Open XML (DOCX, XLSX, PPTX) and OpenDocument
//! (ODT, ODS, ODP, ODG), read with the zip crate and rewritten part by part
//! with quick-xml, event for event, so that everything not named here is
//! written back as it was (parts not rewritten are copied compressed, as they
//! were).
//!
//! - Document properties are emptied: OOXML `docProps/core.xml`, `app.xml`,
//!   `custom.xml` (the root element stays, its children go); ODF `meta.xml`'s
//!   `office:meta`.
//! - Thumbnails are dropped (`docProps/thumbnail.*`, `Thumbnails/`) with the
//!   relationship, content type or manifest entry that names them.
//! - Comment and revision authors are replaced by `Author 1`, `Author 2`, ...
//!   (the same person gets the same pseudonym in every part, so a thread
//!   still reads as a conversation), initials by `A1`, `A2`, ...; comment and
//!   revision dates are removed where they are optional and set to
//!   `1970-01-01T00:00:00` where ODF requires one. Word's people list loses
//!   its account links (`presenceInfo`), and revision session IDs (`w:rsid*`)
//!   and the attached template's path go. ODF printer settings go.
//! - Pictures (`word/media/`, `xl/media/`, `ppt/media/`, ODF `Pictures/`, or
//!   named `.jpg`, `.png`...) that are JPEG, PNG, WebP, TIFF or HEIF by their
//!   bytes are redacted as the same file on its own would be (pixels checked
//!   identical); pictures in other formats (EMF, WMF, GIF, SVG) are copied
//!   and named in the report.
//! - Zip member timestamps are set to 1980-01-01.
//!
//! Check: the result is opened again; it must hold the same parts in the same
//! order (less the thumbnails), every part copied must have the same CRC-32
//! and size, every rewritten part must parse and carry the same text and
//! elements (less the ones removed), and a second pass must find nothing left
//! to remove.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use sdw_protocol::printable::HEAD_BYTES;

use super::{redact_bytes, xmp, Kind, NotRedacted, Redacted};

/// The most one rewritten part may hold, decompressed (zip bombs).
pub const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// More parts than this is not an office document we rewrite.
const MAX_PARTS: usize = 20_000;
/// Nesting deeper than this is refused.
const MAX_XML_DEPTH: usize = 512;
/// ODF's required dates, once redacted.
const FIXED_DATE: &str = "1970-01-01T00:00:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Ooxml,
    Odf,
}

/// Redacts a DOCX, XLSX or PPTX.
pub fn redact_ooxml(original: &[u8]) -> Result<Redacted, NotRedacted> {
    redact(original, Flavour::Ooxml)
}

/// Redacts an ODT, ODS, ODP or ODG.
pub fn redact_odf(original: &[u8]) -> Result<Redacted, NotRedacted> {
    redact(original, Flavour::Odf)
}

/// What to do with one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Copy,
    Drop,
    /// A properties part: the children of the element with this local name go.
    Empty(&'static str),
    /// Any other XML part: authors, dates, session IDs, thumbnail references.
    Anonymise,
    /// A picture (in a media folder, or named as one): redacted as the same
    /// file would be on its own, when its bytes are a JPEG, PNG, WebP, TIFF or
    /// HEIF; copied otherwise.
    Picture,
}

/// Where documents keep their pictures: OOXML `word/media/`, `xl/media/`,
/// `ppt/media/`; ODF `Pictures/` (and `media/` in some writers).
fn is_picture(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let in_media =
        lower.contains("/media/") || lower.starts_with("media/") || lower.starts_with("pictures/");
    let extension = lower.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    in_media
        || matches!(
            extension,
            "jpg"
                | "jpeg"
                | "jpe"
                | "jfif"
                | "png"
                | "webp"
                | "tif"
                | "tiff"
                | "heic"
                | "heif"
                | "avif"
        )
}

fn action(flavour: Flavour, name: &str) -> Action {
    match flavour {
        Flavour::Ooxml => match name {
            "docProps/core.xml" => Action::Empty("coreProperties"),
            "docProps/app.xml" | "docProps/custom.xml" => Action::Empty("Properties"),
            _ if name.starts_with("docProps/thumbnail") => Action::Drop,
            _ if name.ends_with(".xml") || name.ends_with(".rels") => Action::Anonymise,
            _ if is_picture(name) => Action::Picture,
            _ => Action::Copy,
        },
        Flavour::Odf => match name {
            "meta.xml" => Action::Empty("meta"),
            "mimetype" => Action::Copy,
            _ if name.starts_with("Thumbnails/") => Action::Drop,
            _ if name.ends_with(".xml") => Action::Anonymise,
            _ if is_picture(name) => Action::Picture,
            _ => Action::Copy,
        },
    }
}

/// Pseudonyms, shared by every part of one document.
#[derive(Default)]
struct Pseudonyms {
    names: BTreeMap<String, usize>,
}

impl Pseudonyms {
    /// `Author N` for `name`; a pseudonym stays itself (a second pass changes nothing).
    fn author(&mut self, name: &str) -> String {
        if is_pseudonym(name) {
            return name.to_owned();
        }
        let next = self.names.len() + 1;
        let n = *self.names.entry(name.to_owned()).or_insert(next);
        format!("Author {n}")
    }

    /// `AN`, for the initials of the person whose name is `name` (or, when
    /// only initials are known, of the initials themselves).
    fn initials(&mut self, name: &str) -> String {
        if is_pseudonym_initials(name) {
            return name.to_owned();
        }
        let author = self.author(name);
        format!("A{}", author.trim_start_matches("Author "))
    }
}

fn is_pseudonym(name: &str) -> bool {
    name.strip_prefix("Author ")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_pseudonym_initials(name: &str) -> bool {
    name.strip_prefix('A')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What one pass changed, by kind, for the report.
#[derive(Default, Debug)]
struct Changes {
    /// Properties removed, by part: `docProps/core.xml` -> {dc:creator, ...}.
    properties: BTreeMap<String, BTreeSet<String>>,
    authors: usize,
    dates: usize,
    rsids: usize,
    account_links: usize,
    template: usize,
    printer_settings: usize,
    thumbnail_references: usize,
    dropped_parts: Vec<String>,
    timestamps: usize,
    /// Pictures redacted: the part, and what was removed from it.
    pictures: Vec<(String, Vec<String>)>,
    /// Pictures in formats not redacted (EMF, WMF, GIF, SVG...): copied.
    pictures_kept: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.properties.values().all(BTreeSet::is_empty)
            && self.authors == 0
            && self.dates == 0
            && self.rsids == 0
            && self.account_links == 0
            && self.template == 0
            && self.printer_settings == 0
            && self.thumbnail_references == 0
            && self.dropped_parts.is_empty()
            && self.timestamps == 0
            && self.pictures.is_empty()
    }

    fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (part, names) in &self.properties {
            if !names.is_empty() {
                out.push(format!(
                    "document properties in {part} ({})",
                    xmp::list(names)
                ));
            }
        }
        if self.authors > 0 {
            out.push(format!(
                "names and initials of comment and revision authors ({}; now Author 1, Author 2, ...)",
                places(self.authors)
            ));
        }
        if self.dates > 0 {
            out.push(format!(
                "dates of comments and revisions ({} places)",
                self.dates
            ));
        }
        if self.account_links > 0 {
            out.push(
                "the authors' account links (presenceInfo: user IDs, e-mail addresses)".into(),
            );
        }
        if self.rsids > 0 {
            out.push(format!(
                "revision session IDs (rsid, {} places)",
                self.rsids
            ));
        }
        if self.template > 0 {
            out.push("the attached template's path".into());
        }
        if self.printer_settings > 0 {
            out.push("printer name and settings".into());
        }
        for part in &self.dropped_parts {
            out.push(format!("thumbnail {part}"));
        }
        for (part, removed) in &self.pictures {
            for item in removed {
                out.push(format!("in picture {part}: {item}"));
            }
        }
        if self.timestamps > 0 {
            out.push(format!(
                "modification times of {} zip members (now 1980-01-01)",
                self.timestamps
            ));
        }
        out
    }
}

fn places(n: usize) -> String {
    if n == 1 {
        "1 place".into()
    } else {
        format!("{n} places")
    }
}

/// One part as written: what the check compares.
struct PartSummary {
    name: String,
    crc32: u32,
    size: u64,
    /// For rewritten parts: the kept text and elements.
    fingerprint: Option<blake3::Hash>,
}

fn redact(original: &[u8], flavour: Flavour) -> Result<Redacted, NotRedacted> {
    let mut pseudonyms = Pseudonyms::default();
    let (bytes, changes, before) = rewrite_zip(original, flavour, &mut pseudonyms)?;
    if changes.is_empty() {
        return Ok(Redacted::default());
    }
    let (_, left, after) = rewrite_zip(&bytes, flavour, &mut pseudonyms)?;
    if !left.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            left.describe().join("; ")
        )));
    }
    let kept_parts: Vec<&PartSummary> = before
        .iter()
        .filter(|p| !changes.dropped_parts.contains(&p.name))
        .collect();
    if kept_parts.len() != after.len() {
        return Err(NotRedacted::new(format!(
            "the redacted document has {} parts, the original {} (less {} thumbnails)",
            after.len(),
            before.len(),
            changes.dropped_parts.len()
        )));
    }
    for (was, is) in kept_parts.iter().zip(&after) {
        let same = was.name == is.name
            && match (was.fingerprint, is.fingerprint) {
                (Some(a), Some(b)) => a == b,
                (None, None) => was.crc32 == is.crc32 && was.size == is.size,
                _ => false,
            };
        if !same {
            return Err(NotRedacted::new(format!(
                "part {} of the redacted document differs from the original",
                was.name.escape_default()
            )));
        }
    }
    let mut kept = Vec::new();
    if !changes.pictures_kept.is_empty() {
        kept.push(format!(
            "pictures in formats not redacted, with their own metadata: {}",
            changes.pictures_kept.join(", ")
        ));
    }
    kept.push(
        "embedded objects other than pictures (OLE objects, media, fonts), whose own metadata is not redacted".into(),
    );
    let pictures = if changes.pictures.is_empty() {
        String::new()
    } else {
        format!(
            "; {} pictures redacted, each decoded to identical pixels",
            changes.pictures.len()
        )
    };
    Ok(Redacted {
        bytes,
        removed: changes.describe(),
        kept,
        checked: format!(
            "{} parts in the same order (the original's, less {} dropped), copied parts byte-identical, rewritten parts with the same text and elements{pictures}",
            after.len(),
            changes.dropped_parts.len()
        ),
    })
}

/// One pass over the zip: each part copied, dropped or rewritten.
fn rewrite_zip(
    original: &[u8],
    flavour: Flavour,
    pseudonyms: &mut Pseudonyms,
) -> Result<(Vec<u8>, Changes, Vec<PartSummary>), NotRedacted> {
    let zip_error = |e: zip::result::ZipError| NotRedacted::new(format!("not a readable zip: {e}"));
    let mut archive = ZipArchive::new(Cursor::new(original)).map_err(zip_error)?;
    if archive.len() > MAX_PARTS {
        return Err(NotRedacted::new(format!("more than {MAX_PARTS} parts")));
    }
    let mut out = ZipWriter::new(Cursor::new(Vec::with_capacity(original.len())));
    let mut changes = Changes::default();
    let mut parts = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(zip_error)?;
        let name = file.name().map_err(zip_error)?.into_owned();
        if file.encrypted() {
            return Err(NotRedacted::new("encrypted document"));
        }
        if file
            .last_modified()
            .is_some_and(|t| t != DateTime::default())
        {
            changes.timestamps += 1;
        }
        let part_action = if file.is_dir() {
            Action::Copy
        } else {
            action(flavour, &name)
        };
        match part_action {
            Action::Drop => {
                changes.dropped_parts.push(name.clone());
                parts.push(PartSummary {
                    name,
                    crc32: 0,
                    size: 0,
                    fingerprint: None,
                });
            }
            Action::Copy => {
                parts.push(PartSummary {
                    name,
                    crc32: file.crc32(),
                    size: file.size(),
                    fingerprint: None,
                });
                out.raw_copy_file_touch(file, DateTime::default(), None)
                    .map_err(zip_error)?;
            }
            Action::Picture => {
                let (crc32, size) = (file.crc32(), file.size());
                let method = file.compression();
                drop(file);
                let data = decompress(&mut archive, index, &name)?;
                let kind = Kind::of(data.get(..HEAD_BYTES).unwrap_or(&data));
                let redacted = match kind {
                    Kind::Jpeg | Kind::Png | Kind::Webp | Kind::Tiff | Kind::Heif => {
                        redact_bytes(kind, &data).map_err(|e| {
                            NotRedacted::new(format!(
                                "picture {} ({}) cannot be redacted: {e}",
                                name.escape_default(),
                                kind.name()
                            ))
                        })?
                    }
                    _ => {
                        changes
                            .pictures_kept
                            .push(name.escape_default().to_string());
                        parts.push(PartSummary {
                            name,
                            crc32,
                            size,
                            fingerprint: None,
                        });
                        let raw = archive.by_index_raw(index).map_err(zip_error)?;
                        out.raw_copy_file_touch(raw, DateTime::default(), None)
                            .map_err(zip_error)?;
                        continue;
                    }
                };
                let written = if redacted.removed.is_empty() {
                    let raw = archive.by_index_raw(index).map_err(zip_error)?;
                    out.raw_copy_file_touch(raw, DateTime::default(), None)
                        .map_err(zip_error)?;
                    data
                } else {
                    changes
                        .pictures
                        .push((name.escape_default().to_string(), redacted.removed));
                    write_part(&mut out, &name, method, &redacted.bytes)?;
                    redacted.bytes
                };
                // The same in both passes: the redacted picture is redacted
                // already, so the second pass copies it.
                parts.push(PartSummary {
                    name,
                    crc32: 0,
                    size: 0,
                    fingerprint: Some(blake3::hash(&written)),
                });
            }
            Action::Empty(_) | Action::Anonymise => {
                let method = file.compression();
                drop(file);
                let data = decompress(&mut archive, index, &name)?;
                let (xml, fingerprint) =
                    rewrite_xml(&data, &name, part_action, flavour, pseudonyms, &mut changes)?;
                write_part(&mut out, &name, method, &xml)?;
                parts.push(PartSummary {
                    name,
                    crc32: 0,
                    size: 0,
                    fingerprint: Some(fingerprint),
                });
            }
        }
    }
    let bytes = out.finish().map_err(zip_error)?.into_inner();
    Ok((bytes, changes, parts))
}

/// Part `index`, decompressed, at most [`MAX_PART_BYTES`].
fn decompress(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
    name: &str,
) -> Result<Vec<u8>, NotRedacted> {
    let mut data = Vec::new();
    archive
        .by_index(index)
        .map_err(|e| NotRedacted::new(format!("not a readable zip: {e}")))?
        .take(MAX_PART_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| {
            NotRedacted::new(format!(
                "part {} does not decompress: {e}",
                name.escape_default()
            ))
        })?;
    if data.len() as u64 > MAX_PART_BYTES {
        return Err(NotRedacted::new(format!(
            "part {} is larger than {} MiB once decompressed",
            name.escape_default(),
            MAX_PART_BYTES / (1024 * 1024)
        )));
    }
    Ok(data)
}

/// Writes a rewritten part, stored if it was stored, deflated otherwise.
fn write_part(
    out: &mut ZipWriter<Cursor<Vec<u8>>>,
    name: &str,
    method: CompressionMethod,
    data: &[u8],
) -> Result<(), NotRedacted> {
    let method = match method {
        CompressionMethod::Stored => CompressionMethod::Stored,
        _ => CompressionMethod::Deflated,
    };
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(DateTime::default());
    out.start_file(name, options)
        .map_err(|e| NotRedacted::new(format!("writing the zip: {e}")))?;
    out.write_all(data)
        .map_err(|e| NotRedacted::new(format!("writing the zip: {e}")))
}

/// What the rewriter does with one element.
enum Decision {
    Keep,
    /// Written with these attributes instead.
    Rewrite(BytesStart<'static>),
    /// Left out with everything inside.
    DropTree,
}

/// How the text inside the current element is handled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextRule {
    Keep,
    Author,
    Initials,
    FixedDate,
}

/// Rewrites one XML part; answers the new part and a fingerprint of what was
/// kept (element names and text, in order), which a second pass over the
/// result must reproduce.
fn rewrite_xml(
    data: &[u8],
    part: &str,
    action: Action,
    flavour: Flavour,
    pseudonyms: &mut Pseudonyms,
    changes: &mut Changes,
) -> Result<(Vec<u8>, blake3::Hash), NotRedacted> {
    let bad = |e: &dyn std::fmt::Display| {
        NotRedacted::new(format!(
            "part {} is not well-formed XML: {e}",
            part.escape_default()
        ))
    };
    let mut reader = Reader::from_reader(data);
    let mut writer = Writer::new(Vec::with_capacity(data.len()));
    let mut fingerprint = blake3::Hasher::new();
    // Local names of the open elements, and the text rule of each.
    let mut open: Vec<(Vec<u8>, TextRule)> = Vec::new();
    let mut skipping = 0usize;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| bad(&e))?;
        match event {
            Event::Eof => break,
            Event::Start(ref start) | Event::Empty(ref start) => {
                let is_start = matches!(event, Event::Start(_));
                if skipping > 0 {
                    if is_start {
                        skipping += 1;
                    }
                    continue;
                }
                if open.len() >= MAX_XML_DEPTH {
                    return Err(NotRedacted::new(format!(
                        "part {} nests deeper than {MAX_XML_DEPTH}",
                        part.escape_default()
                    )));
                }
                let local = start.local_name().as_ref().to_vec();
                let decision = decide(
                    start, &local, &open, part, action, flavour, pseudonyms, changes,
                )
                .map_err(|e| bad(&e))?;
                let text_rule = text_rule(&local, &open, flavour);
                let written = match decision {
                    Decision::DropTree => {
                        if is_start {
                            skipping = 1;
                        }
                        continue;
                    }
                    Decision::Keep => start.clone().into_owned(),
                    Decision::Rewrite(rewritten) => rewritten,
                };
                fingerprint.update(b"<");
                fingerprint.update(&local);
                let out = if is_start {
                    open.push((local, text_rule));
                    Event::Start(written)
                } else {
                    Event::Empty(written)
                };
                writer.write_event(out).map_err(|e| bad(&e))?;
            }
            Event::End(ref end) => {
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                open.pop();
                fingerprint.update(b">");
                writer
                    .write_event(Event::End(end.clone()))
                    .map_err(|e| bad(&e))?;
            }
            Event::Text(ref text) => {
                if skipping > 0 {
                    continue;
                }
                let rule = open.last().map_or(TextRule::Keep, |(_, rule)| *rule);
                let decoded = text.xml_content().map_err(|e| bad(&e))?.into_owned();
                let replacement = match rule {
                    TextRule::Keep => None,
                    TextRule::Author => Some(pseudonyms.author(&decoded)),
                    TextRule::Initials => Some(pseudonyms.initials(&decoded)),
                    TextRule::FixedDate => Some(FIXED_DATE.to_owned()),
                };
                match replacement {
                    Some(new) if new != decoded => {
                        match rule {
                            TextRule::FixedDate => changes.dates += 1,
                            _ => changes.authors += 1,
                        }
                        writer
                            .write_event(Event::Text(BytesText::new(&new)))
                            .map_err(|e| bad(&e))?;
                    }
                    Some(_) => {
                        writer
                            .write_event(Event::Text(text.clone()))
                            .map_err(|e| bad(&e))?;
                    }
                    None => {
                        fingerprint.update(b"\"");
                        fingerprint.update(decoded.as_bytes());
                        writer
                            .write_event(Event::Text(text.clone()))
                            .map_err(|e| bad(&e))?;
                    }
                }
            }
            other => {
                if skipping > 0 {
                    continue;
                }
                if let Event::CData(ref cdata) = other {
                    fingerprint.update(b"[");
                    fingerprint.update(cdata);
                }
                writer
                    .write_event(other.into_owned())
                    .map_err(|e| bad(&e))?;
            }
        }
        buf.clear();
    }
    if !open.is_empty() || skipping > 0 {
        return Err(NotRedacted::new(format!(
            "part {} ends inside an element",
            part.escape_default()
        )));
    }
    Ok((writer.into_inner(), fingerprint.finalize()))
}

fn text_rule(local: &[u8], open: &[(Vec<u8>, TextRule)], flavour: Flavour) -> TextRule {
    let parent = open.last().map(|(name, _)| name.as_slice());
    match (flavour, local, parent) {
        // XLSX legacy comments: <authors><author>Name</author></authors>.
        (Flavour::Ooxml, b"author", Some(b"authors")) => TextRule::Author,
        (Flavour::Odf, b"creator", Some(b"annotation" | b"change-info")) => TextRule::Author,
        (Flavour::Odf, b"creator-initials", Some(b"annotation")) => TextRule::Initials,
        (Flavour::Odf, b"date", Some(b"change-info")) => TextRule::FixedDate,
        _ => TextRule::Keep,
    }
}

/// Decides one element: drop it, keep it, or rewrite its attributes.
#[allow(clippy::too_many_arguments)]
fn decide(
    start: &BytesStart<'_>,
    local: &[u8],
    open: &[(Vec<u8>, TextRule)],
    part: &str,
    action: Action,
    flavour: Flavour,
    pseudonyms: &mut Pseudonyms,
    changes: &mut Changes,
) -> Result<Decision, quick_xml::Error> {
    let parent = open.last().map(|(name, _)| name.as_slice());
    if let (Action::Empty(container), Some(parent)) = (action, parent) {
        if parent == container.as_bytes() {
            changes
                .properties
                .entry(part.to_owned())
                .or_default()
                .insert(String::from_utf8_lossy(start.name().as_ref()).into_owned());
            return Ok(Decision::DropTree);
        }
    }
    let attribute = |key: &[u8]| -> Option<String> {
        start
            .attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == key)
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
    };
    match (flavour, local) {
        (Flavour::Ooxml, b"presenceInfo") => {
            changes.account_links += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Ooxml, b"rsids") => {
            changes.rsids += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Ooxml, b"attachedTemplate") => {
            changes.template += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Ooxml, b"Relationship") => {
            let kind = attribute(b"Type").unwrap_or_default();
            if kind.ends_with("/metadata/thumbnail") {
                changes.thumbnail_references += 1;
                return Ok(Decision::DropTree);
            }
            if kind.ends_with("/attachedTemplate") {
                changes.template += 1;
                return Ok(Decision::DropTree);
            }
        }
        (Flavour::Ooxml, b"Override")
            if attribute(b"PartName").is_some_and(|p| p.starts_with("/docProps/thumbnail")) =>
        {
            changes.thumbnail_references += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Odf, b"file-entry")
            if attribute(b"full-path").is_some_and(|p| p.starts_with("Thumbnails/")) =>
        {
            changes.thumbnail_references += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Odf, b"config-item")
            if attribute(b"name").is_some_and(|n| n.starts_with("Printer")) =>
        {
            changes.printer_settings += 1;
            return Ok(Decision::DropTree);
        }
        (Flavour::Odf, b"date") if parent == Some(b"annotation") => {
            changes.dates += 1;
            return Ok(Decision::DropTree);
        }
        _ => {}
    }
    if flavour == Flavour::Odf {
        return Ok(Decision::Keep);
    }
    // OOXML attributes: authors, initials, dates, session IDs, account IDs.
    // Initials follow the person's name when the element has one.
    let person = attribute(b"author").or_else(|| {
        (local == b"cmAuthor" || local == b"author")
            .then(|| attribute(b"name"))
            .flatten()
    });
    let mut changed = false;
    let mut attributes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(quick_xml::Error::from)?;
        let key = attribute.key.as_ref().to_vec();
        let key_local = attribute.key.local_name().as_ref().to_vec();
        let prefix_w = key.starts_with(b"w:");
        let value =
            || -> Result<String, quick_xml::Error> { Ok(attribute.unescape_value()?.into_owned()) };
        let replacement: Option<Option<String>> = match key_local.as_slice() {
            b"author" | b"userName" => Some(Some(pseudonyms.author(&value()?))),
            b"displayName" | b"userId" if local == b"person" => {
                Some(Some(pseudonyms.author(&value()?)))
            }
            b"name" if local == b"cmAuthor" || local == b"author" => {
                Some(Some(pseudonyms.author(&value()?)))
            }
            b"userId" if local == b"author" => Some(Some(pseudonyms.author(&value()?))),
            b"providerId" if local == b"person" || local == b"author" => {
                Some(Some("None".to_owned()))
            }
            b"initials" => Some(Some(match &person {
                Some(person) => pseudonyms.initials(person),
                None => pseudonyms.initials(&value()?),
            })),
            b"date" if prefix_w => Some(None),
            b"dateUtc" => Some(None),
            b"dt" if local == b"cm" => Some(None),
            _ if prefix_w && key_local.starts_with(b"rsid") => Some(None),
            _ => None,
        };
        match replacement {
            None => attributes.push((key, attribute.value.into_owned())),
            Some(None) => {
                changed = true;
                if key_local.starts_with(b"rsid") {
                    changes.rsids += 1;
                } else {
                    changes.dates += 1;
                }
            }
            Some(Some(new)) => {
                if new.as_bytes() != attribute.value.as_ref() {
                    changed = true;
                    if key_local == b"providerId" {
                        changes.account_links += 1;
                    } else {
                        changes.authors += 1;
                    }
                }
                let escaped = quick_xml::escape::escape(new.as_str()).into_owned();
                attributes.push((key, escaped.into_bytes()));
            }
        }
    }
    if !changed {
        return Ok(Decision::Keep);
    }
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut rewritten = BytesStart::new(name);
    for (key, value) in &attributes {
        rewritten.push_attribute(quick_xml::events::attributes::Attribute {
            key: quick_xml::name::QName(key),
            value: std::borrow::Cow::Borrowed(value),
        });
    }
    Ok(Decision::Rewrite(rewritten.into_owned()))
}
