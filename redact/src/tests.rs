use std::io::{Cursor, Read};

use sdw_protocol::Redaction;

use super::corpus::{self, SECRET, SECRETS};
use super::*;

/// `needle` in `haystack`, or in any decompressed part when it is a zip.
fn contains(haystack: &[u8], needle: &str) -> bool {
    let found = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    if found(haystack) {
        return true;
    }
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(haystack)) else {
        return false;
    };
    (0..zip.len()).any(|i| {
        let mut part = Vec::new();
        zip.by_index(i)
            .map(|mut f| f.read_to_end(&mut part).is_ok() && found(&part))
            .unwrap_or(false)
    })
}

fn redacted(kind: Kind, bytes: &[u8]) -> Redacted {
    let redacted = redact_bytes(kind, bytes).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert!(!redacted.removed.is_empty(), "{kind:?}: nothing removed");
    for secret in SECRETS {
        assert!(
            !contains(&redacted.bytes, secret),
            "{kind:?}: {secret} is still in the redacted file"
        );
        for line in redacted.removed.iter().chain(&redacted.kept) {
            assert!(
                !line.contains(secret),
                "{kind:?}: the report carries a value: {line}"
            );
        }
    }
    redacted
}

#[test]
fn every_sample_identifies_its_source_before_redaction() {
    for sample in corpus::all() {
        assert!(contains(&sample.bytes, SECRET), "{}", sample.name);
        assert_ne!(Kind::of(&sample.bytes), Kind::Unknown, "{}", sample.name);
    }
}

#[test]
fn jpeg_loses_exif_gps_xmp_iptc_comment_and_trailer_but_keeps_orientation() {
    let original = corpus::jpeg();
    let result = redacted(Kind::Jpeg, &original);
    let removed = result.removed.join("\n");
    for name in [
        "GPSLatitude",
        "BodySerialNumber",
        "Make",
        "Model",
        "XMP (dc:creator, xmp:CreatorTool)",
        "Photoshop",
        "comment",
        "after the end of the image",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    assert!(result.kept.iter().any(|k| k.contains("Orientation")));
    assert!(result.checked.contains("pixels identical"));
    // The kept EXIF holds the orientation alone.
    let jpeg = img_parts::jpeg::Jpeg::from_bytes(bytes::Bytes::from(result.bytes.clone())).unwrap();
    let exif = img_parts::ImageEXIF::exif(&jpeg).unwrap();
    let exif = exif::Reader::new().read_raw(exif.to_vec()).unwrap();
    let fields: Vec<String> = exif.fields().map(|f| f.tag.to_string()).collect();
    assert_eq!(fields, ["Orientation"]);
    assert_eq!(
        exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0)),
        Some(6)
    );
    // A second redaction finds nothing.
    let again = redact_bytes(Kind::Jpeg, &result.bytes).unwrap();
    assert!(again.removed.is_empty(), "{:?}", again.removed);
}

#[test]
fn png_loses_text_xmp_exif_and_time() {
    let result = redacted(Kind::Png, &corpus::png());
    let removed = result.removed.join("\n");
    for name in [
        "text \"Author\"",
        "XMP",
        "GPSLatitude",
        "time of last change",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    assert!(result.checked.contains("pixels identical"));
}

#[test]
fn webp_loses_exif_and_xmp() {
    let result = redacted(Kind::Webp, &corpus::webp());
    let removed = result.removed.join("\n");
    assert!(
        removed.contains("GPSLatitude") && removed.contains("XMP"),
        "{removed}"
    );
    assert!(result.checked.contains("pixels identical"));
}

#[test]
fn tiff_loses_camera_artist_xmp_exif_and_gps_in_place() {
    let original = corpus::tiff();
    let result = redacted(Kind::Tiff, &original);
    let removed = result.removed.join("\n");
    for name in [
        "Make",
        "Model",
        "Artist",
        "XMP (dc:creator, xmp:CreatorTool)",
        "EXIF directory",
        "GPS directory",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    assert_eq!(result.bytes.len(), original.len(), "edited in place");
    assert!(result.checked.contains("all 1 pages"), "{}", result.checked);
    // The pixels are where they were, untouched.
    let strip = corpus::pixels(40, 30);
    assert!(result.bytes.ends_with(&strip));
}

#[test]
fn heic_loses_its_exif_and_xmp_items_in_place() {
    let original = corpus::heic();
    let result = redacted(Kind::Heif, &original);
    let removed = result.removed.join("\n");
    for name in [
        "GPSLatitude",
        "BodySerialNumber",
        "XMP (dc:creator, xmp:CreatorTool)",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    assert_eq!(result.bytes.len(), original.len());
    let picture = corpus::HEIC_PICTURE;
    let at = original
        .windows(picture.len())
        .position(|w| w == picture)
        .unwrap();
    assert_eq!(&result.bytes[at..at + picture.len()], picture);
}

#[test]
fn pdf_loses_info_xmp_javascript_ids_and_comment_authors_and_keeps_pages() {
    let original = corpus::pdf();
    let result = redacted(Kind::Pdf, &original);
    let removed = result.removed.join("\n");
    for name in [
        "document information (Author, CreationDate, Creator, Producer, Title)",
        "document ID",
        "XMP",
        "JavaScript",
        "authors and dates of comments and markups",
        "LastModified",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    let doc = lopdf::Document::load_mem(&result.bytes).unwrap();
    assert_eq!(doc.get_pages().len(), 3);
    let first = *doc.get_pages().get(&1).unwrap();
    assert!(contains(&doc.get_page_content(first), "Page 1 of the memo"));
    assert!(result.checked.contains("3 pages"));
    // The comment itself stays; only its author and date go.
    assert!(contains(&result.bytes, "check the second paragraph"));
}

#[test]
fn a_pdf_with_object_streams_stays_packed() {
    let mut doc = lopdf::Document::load_mem(&corpus::pdf_with_pages(20)).unwrap();
    let mut packed = Vec::new();
    doc.save_modern(&mut packed).unwrap();
    assert!(contains(&packed, "/ObjStm"));
    let result = redacted(Kind::Pdf, &packed);
    assert!(contains(&result.bytes, "/ObjStm"));
    assert!(
        result.bytes.len() <= packed.len(),
        "{} > {}",
        result.bytes.len(),
        packed.len()
    );
    assert!(result.checked.contains("20 pages"));
    // The objects are compressed: look inside rather than at the bytes.
    let doc = lopdf::Document::load_mem(&result.bytes).unwrap();
    assert!(doc.trailer.get(b"Info").is_err());
    assert!(!doc.catalog().unwrap().has(b"Metadata"));
    for object in doc.objects.values() {
        if let Ok(dict) = object.as_dict() {
            assert!(!dict.has(b"T") && !dict.has(b"JS"), "{dict:?}");
        }
    }
}

#[test]
fn docx_loses_properties_thumbnail_and_author_names_and_keeps_the_text() {
    let result = redacted(
        Kind::Ooxml(sdw_protocol::printable::OfficeKind::Docx),
        &corpus::docx(),
    );
    let removed = result.removed.join("\n");
    for name in [
        "dc:creator",
        "cp:lastModifiedBy",
        "Company",
        "Template",
        "comment and revision authors",
        "dates of comments",
        "presenceInfo",
        "rsid",
        "template's path",
        "thumbnail docProps/thumbnail.jpeg",
        "modification times",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(&result.bytes)).unwrap();
    let part = |zip: &mut zip::ZipArchive<Cursor<&Vec<u8>>>, name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let document = part(&mut zip, "word/document.xml");
    assert!(document.contains("The budget was cut by") && document.contains("twenty"));
    assert!(document.contains("w:author=\"Author 1\""), "{document}");
    assert!(!document.contains("w:date") && !document.contains("rsid"));
    let comments = part(&mut zip, "word/comments.xml");
    assert!(
        comments.contains("w:author=\"Author 1\"") && comments.contains("w:initials=\"A1\""),
        "{comments}"
    );
    assert!(comments.contains("Source of this figure"));
    assert!(zip.by_name("docProps/thumbnail.jpeg").is_err());
    assert!(!part(&mut zip, "_rels/.rels").contains("thumbnail"));
    assert!(!part(&mut zip, "[Content_Types].xml").contains("thumbnail"));
    assert_eq!(zip.len(), 12);
    // The photo in word/media/ is redacted as a standalone JPEG: its fields
    // are named, its scans and pixels are the original's.
    for name in [
        "in picture word/media/image1.jpeg: EXIF (",
        "GPSLatitude",
        "in picture word/media/image1.jpeg: Photoshop resources",
        "in picture word/media/image1.jpeg: comment",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    assert!(
        result.checked.contains("1 pictures redacted"),
        "{}",
        result.checked
    );
    let mut photo = Vec::new();
    zip.by_name("word/media/image1.jpeg")
        .unwrap()
        .read_to_end(&mut photo)
        .unwrap();
    assert_same_picture(&corpus::jpeg(), &photo);
}

/// `redacted` is the JPEG `original` without its metadata: no EXIF GPS, XMP
/// or comment left, the same scans (up to the end of the image), the same
/// decoded pixels.
fn assert_same_picture(original: &[u8], redacted: &[u8]) {
    assert!(!contains(redacted, SECRET));
    assert!(!contains(redacted, "GPS") && !contains(redacted, "xmpmeta"));
    let scan = |bytes: &[u8]| {
        let at = bytes.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        bytes[at..].to_vec()
    };
    let (was, is) = (scan(original), scan(redacted));
    assert!(is.ends_with(&[0xff, 0xd9]));
    assert!(was.starts_with(&is), "the scans differ");
    let decode = |bytes: &[u8]| ::image::load_from_memory(bytes).unwrap().to_rgb8();
    let (a, b) = (decode(original), decode(redacted));
    assert_eq!(a.dimensions(), b.dimensions());
    assert!(a.as_raw() == b.as_raw(), "the pixels differ");
}

#[test]
fn a_pdf_photo_loses_its_exif_and_keeps_its_scans_and_pixels() {
    let result = redacted(Kind::Pdf, &corpus::pdf());
    let removed = result.removed.join("\n");
    assert!(
        removed.contains("in picture (object ") && removed.contains("GPSLatitude"),
        "{removed}"
    );
    assert!(removed.contains(": XMP ("), "{removed}");
    assert!(
        result
            .checked
            .contains("1 JPEG pictures with the same scans"),
        "{}",
        result.checked
    );
    let doc = lopdf::Document::load_mem(&result.bytes).unwrap();
    let photos: Vec<&lopdf::Stream> = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| s.dict.get(b"Subtype").and_then(|o| o.as_name()).ok() == Some(b"Image"))
        .collect();
    assert_eq!(photos.len(), 1);
    assert_eq!(
        photos[0].dict.get(b"Length").unwrap().as_i64().unwrap(),
        photos[0].content.len() as i64
    );
    assert_same_picture(&corpus::jpeg(), &photos[0].content);
}

#[test]
fn odt_pictures_lose_their_metadata() {
    use sdw_protocol::printable::OfficeKind;
    let result = redacted(Kind::Odf(OfficeKind::OdfText), &corpus::odt());
    let removed = result.removed.join("\n");
    assert!(
        removed.contains("in picture Pictures/photo.jpg: EXIF ("),
        "{removed}"
    );
    assert!(
        removed.contains("in picture Pictures/screenshot.png: "),
        "{removed}"
    );
    let mut zip = zip::ZipArchive::new(Cursor::new(&result.bytes)).unwrap();
    let mut photo = Vec::new();
    zip.by_name("Pictures/photo.jpg")
        .unwrap()
        .read_to_end(&mut photo)
        .unwrap();
    assert_same_picture(&corpus::jpeg(), &photo);
    let mut png = Vec::new();
    zip.by_name("Pictures/screenshot.png")
        .unwrap()
        .read_to_end(&mut png)
        .unwrap();
    assert!(!contains(&png, SECRET));
    let decode = |bytes: &[u8]| ::image::load_from_memory(bytes).unwrap().to_rgba8();
    assert!(decode(&png).as_raw() == decode(&corpus::png()).as_raw());
}

#[test]
fn a_picture_that_cannot_be_redacted_leaves_the_document_not_redacted() {
    // A picture named .jpeg whose bytes are a JPEG start and nothing else.
    let docx = corpus::zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("docProps/core.xml", br#"<cp:coreProperties xmlns:cp="c" xmlns:dc="d"><dc:creator>JaneSource</dc:creator></cp:coreProperties>"#),
        ("word/media/image1.jpeg", b"\xff\xd8\xff\xe1\x00\x08Exif"),
    ]);
    let err = redact_bytes(
        Kind::Ooxml(sdw_protocol::printable::OfficeKind::Docx),
        &docx,
    )
    .err()
    .unwrap();
    assert!(
        err.0
            .contains("picture word/media/image1.jpeg (JPEG) cannot be redacted"),
        "{err}"
    );
    // A picture in a format we do not redact is copied and named as kept.
    let docx = corpus::zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("docProps/core.xml", br#"<cp:coreProperties xmlns:cp="c" xmlns:dc="d"><dc:creator>JaneSource</dc:creator></cp:coreProperties>"#),
        ("word/media/image2.gif", b"GIF89a\x01\0\x01\0"),
    ]);
    let result = redacted(
        Kind::Ooxml(sdw_protocol::printable::OfficeKind::Docx),
        &docx,
    );
    assert!(
        result.kept.iter().any(|k| k.contains(
            "pictures in formats not redacted, with their own metadata: word/media/image2.gif"
        )),
        "{:?}",
        result.kept
    );
}

#[test]
fn xlsx_pptx_and_odt_lose_their_authors() {
    use sdw_protocol::printable::OfficeKind;
    let xlsx = redacted(Kind::Ooxml(OfficeKind::Xlsx), &corpus::xlsx());
    assert!(xlsx
        .removed
        .join("\n")
        .contains("comment and revision authors"));
    let pptx = redacted(Kind::Ooxml(OfficeKind::Pptx), &corpus::pptx());
    assert!(pptx
        .removed
        .join("\n")
        .contains("comment and revision authors"));
    let odt = redacted(Kind::Odf(OfficeKind::OdfText), &corpus::odt());
    let removed = odt.removed.join("\n");
    for name in [
        "meta:initial-creator",
        "meta:user-defined",
        "printer",
        "Thumbnails/thumbnail.png",
        "comment and revision authors",
        "dates",
    ] {
        assert!(removed.contains(name), "{name} not reported in {removed}");
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(&odt.bytes)).unwrap();
    assert_eq!(zip.by_index(0).unwrap().name().unwrap(), "mimetype");
    assert_eq!(
        zip.by_index(0).unwrap().compression(),
        zip::CompressionMethod::Stored
    );
    let mut content = String::new();
    zip.by_name("content.xml")
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert!(
        content.contains("<dc:creator>Author 1</dc:creator>"),
        "{content}"
    );
    assert!(content.contains("Source: the finance office."));
}

#[test]
fn files_without_metadata_are_written_unchanged() {
    let mut redactor = Redactor::new(Redaction::Strict);
    let text = b"plain notes\n".to_vec();
    let mut out = Vec::new();
    redactor
        .redact("notes.txt", text.len() as u64, &mut text.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, text);
    let mut out = Vec::new();
    redactor
        .redact("empty", 0, &mut [].as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert!(out.is_empty());
    // A PDF with nothing to remove is not rewritten.
    let clean = redacted(Kind::Pdf, &corpus::pdf()).bytes;
    let mut out = Vec::new();
    redactor
        .redact("clean.pdf", clean.len() as u64, &mut clean.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, clean);
    assert_eq!(
        redactor.last().map(|f| &f.outcome),
        Some(&Outcome::NothingFound { kept: Vec::new() })
    );
    assert_eq!(
        redactor.counts(),
        Counts {
            files: 3,
            redacted: 0,
            not_redacted: 0,
            omitted: 0
        }
    );
}

#[test]
fn best_effort_writes_what_it_cannot_redact_unchanged_and_says_so() {
    let mut redactor = Redactor::new(Redaction::BestEffort);
    let gif = b"GIF89a\x01\0\x01\0JaneSource".to_vec();
    let mut out = Vec::new();
    redactor
        .redact("a.gif", gif.len() as u64, &mut gif.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, gif);
    let broken = b"%PDF-1.7\nnot really".to_vec();
    let mut out = Vec::new();
    redactor
        .redact("broken.pdf", broken.len() as u64, &mut broken.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, broken);
    let report = redactor.report();
    assert!(
        report.contains("export_data/a.gif\n  GIF: NOT REDACTED"),
        "{report}"
    );
    assert!(
        report.contains(
            "export_data/broken.pdf\n  PDF: NOT REDACTED, written unchanged: not a readable PDF"
        ),
        "{report}"
    );
    assert!(report.contains("2 files, 2 NOT REDACTED"));
}

#[test]
fn strict_refuses_what_it_cannot_redact() {
    let mut redactor = Redactor::new(Redaction::Strict);
    let gif = b"GIF89a\x01\0\x01\0".to_vec();
    let err = redactor
        .redact("a.gif", gif.len() as u64, &mut gif.as_slice())
        .err()
        .unwrap();
    assert!(
        matches!(err, RedactFileError::Refused(RedactError { ref path, .. }) if path == "a.gif"),
        "{err:?}"
    );
}

#[test]
fn files_over_the_limit_are_streamed_unchanged_and_flagged() {
    let mut redactor = Redactor::new(Redaction::BestEffort);
    // The size the archive announces decides; the data is not read into memory.
    let jpeg = corpus::jpeg();
    let mut data = jpeg.as_slice();
    let mut out = Vec::new();
    redactor
        .redact("huge.jpg", MAX_REDACT_BYTES + 1, &mut data)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, jpeg);
    assert!(redactor.report().contains("larger than 32 MiB"));
    let mut strict = Redactor::new(Redaction::Strict);
    assert!(strict
        .redact("huge.jpg", MAX_REDACT_BYTES + 1, &mut jpeg.as_slice())
        .is_err());
}

#[test]
fn the_report_names_fields_and_never_values() {
    let mut redactor = Redactor::new(Redaction::Strict);
    for sample in corpus::all() {
        let mut out = Vec::new();
        redactor
            .redact(
                sample.name,
                sample.bytes.len() as u64,
                &mut sample.bytes.as_slice(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", sample.name))
            .read_to_end(&mut out)
            .unwrap();
        assert!(!contains(&out, SECRET), "{}", sample.name);
    }
    let report = redactor.report();
    assert!(!report.contains(SECRET), "{report}");
    assert!(
        report.contains("export_data/photo.jpg\n  JPEG: redacted\n  removed: EXIF ("),
        "{report}"
    );
    assert!(report.contains("10 files, 0 NOT REDACTED"), "{report}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Damaged files never panic, and whatever is answered as redacted still
    /// passed its checks: no secret is left.
    #[test]
    fn damaged_samples_never_panic_and_never_leak_when_redacted(
        which in 0usize..10,
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        cut in proptest::prelude::any::<usize>(),
    ) {
        let mut bytes = corpus::all().swap_remove(which).bytes;
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        if cut % 3 == 0 {
            bytes.truncate(cut % bytes.len());
        }
        fuzzing::redact_as_every_kind(&bytes);
        if let Ok(result) = redact_bytes(Kind::of(&bytes), &bytes) {
            if !result.removed.is_empty() {
                let again = redact_bytes(Kind::of(&result.bytes), &result.bytes);
                proptest::prop_assert!(again.map(|r| r.removed.is_empty()).unwrap_or(false));
            }
        }
    }
}

#[test]
fn the_report_stays_bounded_and_keeps_the_files_not_redacted() {
    let mut redactor = Redactor::new(Redaction::BestEffort);
    let long = "n".repeat(4000);
    let text = b"words\n";
    let files = DETAILED_REPORT_BYTES / 4000 + 50;
    for i in 0..files {
        let mut out = Vec::new();
        redactor
            .redact(
                &format!("{long}{i}"),
                text.len() as u64,
                &mut text.as_slice(),
            )
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
    }
    let gif = b"GIF89a\x01\0\x01\0".to_vec();
    let mut out = Vec::new();
    redactor
        .redact("late.gif", gif.len() as u64, &mut gif.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    let counts = redactor.counts();
    assert_eq!(counts.files, files + 1);
    assert!(counts.omitted > 0, "{counts:?}");
    let report = redactor.report();
    assert!(report.len() <= MAX_REPORT_BYTES + 1024, "{}", report.len());
    assert!(report.contains("export_data/late.gif\n  GIF: NOT REDACTED"));
    assert!(report.contains("more files are not listed"));
}
