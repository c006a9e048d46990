//! PDF, with lopdf: the document information dictionary (Title, Author,
//! Creator, Producer, dates...), the document ID, XMP metadata streams on the
//! catalog and on every page, image and font, application private data
//! (PieceInfo, LastModified), document-level JavaScript (the JavaScript name
//! tree, a JavaScript OpenAction, the catalog's additional actions), the
//! authors and dates of comments (markup annotations) and the dates of
//! embedded files. Unreachable objects (old revisions left by incremental
//! saves) are dropped. JPEG pictures (`DCTDecode` image XObjects) lose their
//! EXIF, XMP, IPTC and comments as a standalone JPEG does, scans untouched.
//! Page content streams, fonts and other images are written back as they
//! were.
//!
//! Check: the result is loaded again; it must have the same number of pages,
//! every page's content must decode to the same bytes, every redacted JPEG
//! picture must decode to the same pixels, and nothing must be left to
//! remove. Encrypted PDFs are not redacted (not without the password).

use std::collections::BTreeSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{image, xmp, NotRedacted, Redacted};

/// The most decompressed content one page may have for the check; the
/// lopdf limit against decompression bombs.
const MAX_PAGE_CONTENT_BYTES: usize = 64 * 1024 * 1024;

/// Annotation types that carry an author (`/T`) and dates: comments,
/// highlights, stamps, drawings. Form fields (`Widget`) use `/T` for the
/// field's name, and keep it.
const MARKUP: &[&[u8]] = &[
    b"Text",
    b"FreeText",
    b"Line",
    b"Square",
    b"Circle",
    b"Polygon",
    b"PolyLine",
    b"Highlight",
    b"Underline",
    b"Squiggly",
    b"StrikeOut",
    b"Stamp",
    b"Caret",
    b"Ink",
    b"FileAttachment",
    b"Sound",
    b"Redact",
    b"Popup",
];

/// Redacts a PDF; see the module documentation.
pub fn redact(original: &[u8]) -> Result<Redacted, NotRedacted> {
    let mut doc = Document::load_mem(original)
        .map_err(|e| NotRedacted::new(format!("not a readable PDF: {e}")))?;
    if doc.is_encrypted() || doc.trailer.has(b"Encrypt") {
        return Err(NotRedacted::new(
            "encrypted PDF: its metadata cannot be rewritten without the password",
        ));
    }
    let before = pages(&doc)?;
    let (mut removed, mut kept) = strip(&mut doc);
    let pictures = strip_pictures(&mut doc)?;
    removed.extend(pictures.removed);
    kept.extend(pictures.kept);
    if removed.is_empty() {
        return Ok(Redacted {
            kept,
            ..Redacted::default()
        });
    }
    doc.prune_objects();
    let mut bytes = Vec::with_capacity(original.len());
    // A file that packed its objects into object streams is written the same
    // way, so that it does not grow; others keep a classic cross-reference table.
    let packed = original.windows(7).any(|w| w == b"/ObjStm");
    let saved = if packed {
        doc.save_modern(&mut bytes)
    } else {
        doc.save_to(&mut bytes)
    };
    saved.map_err(|e| NotRedacted::new(format!("the redacted PDF could not be written: {e}")))?;

    let mut again = Document::load_mem(&bytes)
        .map_err(|e| NotRedacted::new(format!("the redacted PDF does not load: {e}")))?;
    let after = pages(&again)?;
    if after.len() != before.len() {
        return Err(NotRedacted::new(format!(
            "the redacted PDF has {} pages, the original {}",
            after.len(),
            before.len()
        )));
    }
    if after != before {
        return Err(NotRedacted::new(
            "a page of the redacted PDF has different content",
        ));
    }
    let (mut left, _) = strip(&mut again);
    left.extend(strip_pictures(&mut again)?.removed);
    if !left.is_empty() {
        return Err(NotRedacted::new(format!(
            "metadata was still found after redaction: {}",
            left.join("; ")
        )));
    }
    Ok(Redacted {
        bytes,
        removed,
        kept,
        checked: format!(
            "{} pages, each page's content identical to the original{}",
            before.len(),
            if pictures.redacted > 0 {
                format!(
                    "; {} JPEG pictures with the same scans, each decoded to identical pixels",
                    pictures.redacted
                )
            } else {
                String::new()
            }
        ),
    })
}

/// What [`strip_pictures`] did.
#[derive(Default)]
struct Pictures {
    removed: Vec<String>,
    kept: Vec<String>,
    redacted: usize,
}

/// JPEG pictures: image XObjects whose only filter is `DCTDecode` hold a
/// JPEG file as it is, with whatever EXIF, XMP, IPTC and comments the camera
/// or editor left in it. They are redacted as a standalone JPEG is
/// ([`image::redact_jpeg`]): metadata segments dropped, the scans untouched,
/// both decoded to identical pixels. A picture that cannot be redacted so
/// makes the whole PDF not redacted.
fn strip_pictures(doc: &mut Document) -> Result<Pictures, NotRedacted> {
    let mut pictures = Pictures::default();
    let mut chained = 0usize;
    for (id, object) in doc.objects.iter_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        if !matches!(stream.dict.get(b"Subtype"), Ok(Object::Name(n)) if n == b"Image") {
            continue;
        }
        let is_dct = |o: &Object| matches!(o, Object::Name(n) if n == b"DCTDecode");
        match stream.dict.get(b"Filter") {
            Ok(filter) if is_dct(filter) => {}
            Ok(Object::Array(filters)) if filters.len() == 1 && filters.iter().all(is_dct) => {}
            Ok(Object::Array(filters)) if filters.iter().any(is_dct) => {
                chained += 1;
                continue;
            }
            _ => continue,
        }
        let redacted = image::redact_jpeg(&stream.content).map_err(|e| {
            NotRedacted::new(format!(
                "picture (object {} {}) cannot be redacted: {e}",
                id.0, id.1
            ))
        })?;
        if redacted.removed.is_empty() {
            continue;
        }
        let at = format!("in picture (object {} {})", id.0, id.1);
        for item in redacted.removed {
            pictures.removed.push(format!("{at}: {item}"));
        }
        for item in redacted.kept {
            pictures.kept.push(format!("{at}: {item}"));
        }
        stream.set_content(redacted.bytes);
        pictures.redacted += 1;
    }
    if chained > 0 {
        pictures.kept.push(format!(
            "{chained} JPEG pictures inside another filter (e.g. FlateDecode), with their own metadata"
        ));
    }
    Ok(pictures)
}

/// A hash of each page's decoded content, in page order.
fn pages(doc: &Document) -> Result<Vec<blake3::Hash>, NotRedacted> {
    doc.get_pages()
        .values()
        .map(|&id| {
            doc.get_page_content_with_limit(id, MAX_PAGE_CONTENT_BYTES)
                .map(|content| blake3::hash(&content))
                .map_err(|e| NotRedacted::new(format!("a page's content could not be read: {e}")))
        })
        .collect()
}

/// Removes the metadata from `doc`; answers what was removed and kept.
fn strip(doc: &mut Document) -> (Vec<String>, Vec<String>) {
    let mut removed = Vec::new();
    let mut kept = Vec::new();

    if let Some(info) = doc.trailer.remove(b"Info") {
        let keys = match &info {
            Object::Reference(id) => doc.get_dictionary(*id).map(keys).unwrap_or_default(),
            Object::Dictionary(dict) => keys(dict),
            _ => BTreeSet::new(),
        };
        removed.push(if keys.is_empty() {
            "document information dictionary".to_owned()
        } else {
            format!("document information ({})", xmp::list(&keys))
        });
    }
    if doc.trailer.remove(b"ID").is_some() {
        removed.push("document ID (links copies and versions of a file)".into());
    }

    let root = match doc.trailer.get(b"Root") {
        Ok(Object::Reference(id)) => Some(*id),
        _ => None,
    };
    if let Some(root) = root {
        strip_catalog(doc, root, &mut removed);
    }

    // Every dictionary and stream, however deep: metadata streams, private
    // application data, comment authors, embedded files' dates.
    let mut found = Found::default();
    let ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
    for id in ids {
        let xmp_packet = match doc.objects.get(&id) {
            Some(Object::Stream(stream)) if stream.dict.has_type(b"Metadata") => Some(
                stream
                    .decompressed_content()
                    .unwrap_or_else(|_| stream.content.clone()),
            ),
            _ => None,
        };
        if let Some(packet) = xmp_packet {
            found.xmp.insert(xmp::describe(&packet));
        }
        if let Some(object) = doc.objects.get_mut(&id) {
            strip_object(object, &mut found, 0);
        }
    }
    if found.metadata_links > 0 {
        if found.xmp.is_empty() {
            removed.push("XMP metadata".into());
        }
        for xmp in std::mem::take(&mut found.xmp) {
            removed.push(format!("{xmp} metadata stream"));
        }
    }
    if found.piece_info > 0 {
        removed.push("application private data (PieceInfo, LastModified)".into());
    }
    if found.annotation_authors > 0 {
        removed.push(format!(
            "authors and dates of comments and markups (T, M, CreationDate; {} annotations)",
            found.annotation_authors
        ));
    }
    if found.embedded_file_params > 0 {
        removed.push(format!(
            "dates and checksums of {} embedded files (Params)",
            found.embedded_file_params
        ));
        kept.push("the embedded files themselves, whose own metadata is not redacted".into());
    }
    (removed, kept)
}

fn strip_catalog(doc: &mut Document, root: ObjectId, removed: &mut Vec<String>) {
    let Ok(catalog) = doc.get_dictionary(root) else {
        return;
    };
    let open_action_is_js = match catalog.get(b"OpenAction") {
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).is_ok_and(is_javascript_action),
        Ok(Object::Dictionary(action)) => is_javascript_action(action),
        _ => false,
    };
    let names = match catalog.get(b"Names") {
        Ok(Object::Reference(id)) => Some(*id),
        _ => None,
    };
    let Ok(catalog) = doc.get_dictionary_mut(root) else {
        return;
    };
    if open_action_is_js && catalog.remove(b"OpenAction").is_some() {
        removed.push("JavaScript run when the document opens (OpenAction)".into());
    }
    if catalog.remove(b"AA").is_some() {
        removed.push("document actions (AA)".into());
    }
    let mut javascript = match catalog.get_mut(b"Names") {
        Ok(Object::Dictionary(names)) => names.remove(b"JavaScript").is_some(),
        _ => false,
    };
    if let Some(names) = names {
        if let Ok(names) = doc.get_dictionary_mut(names) {
            javascript |= names.remove(b"JavaScript").is_some();
        }
    }
    if javascript {
        removed.push("document-level JavaScript (Names/JavaScript)".into());
    }
}

fn is_javascript_action(action: &Dictionary) -> bool {
    matches!(action.get(b"S"), Ok(Object::Name(name)) if name == b"JavaScript")
}

#[derive(Default)]
struct Found {
    metadata_links: usize,
    xmp: BTreeSet<String>,
    piece_info: usize,
    annotation_authors: usize,
    embedded_file_params: usize,
}

/// Nesting deeper than this is not followed (hostile files).
const MAX_DEPTH: usize = 64;

fn strip_object(object: &mut Object, found: &mut Found, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match object {
        Object::Dictionary(dict) => strip_dictionary(dict, found, depth),
        Object::Stream(stream) => strip_dictionary(&mut stream.dict, found, depth),
        Object::Array(items) => {
            for item in items {
                strip_object(item, found, depth + 1);
            }
        }
        _ => {}
    }
}

fn strip_dictionary(dict: &mut Dictionary, found: &mut Found, depth: usize) {
    if dict.remove(b"Metadata").is_some() {
        found.metadata_links += 1;
    }
    let piece = dict.remove(b"PieceInfo").is_some();
    let modified = !dict.has_type(b"Annot") && dict.remove(b"LastModified").is_some();
    if piece || modified {
        found.piece_info += 1;
    }
    let is_markup = matches!(dict.get(b"Subtype"), Ok(Object::Name(subtype)) if MARKUP.contains(&subtype.as_slice()));
    if is_markup {
        let mut any = false;
        for key in [&b"T"[..], b"M", b"CreationDate"] {
            any |= dict.remove(key).is_some();
        }
        if any {
            found.annotation_authors += 1;
        }
    }
    if dict.has_type(b"EmbeddedFile") && dict.remove(b"Params").is_some() {
        found.embedded_file_params += 1;
    }
    for (_, value) in dict.iter_mut() {
        strip_object(value, found, depth + 1);
    }
}

fn keys(dict: &Dictionary) -> BTreeSet<String> {
    dict.iter()
        .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
        .collect()
}
