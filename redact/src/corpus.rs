//! A corpus of files that identify their source, made from nothing, for the
//! redaction tests, the benchmark, the mat2 comparison and the fuzz seeds:
//! photos with GPS positions and camera serials, PDFs with authors, XMP,
//! JavaScript and commented annotations, office documents with properties,
//! comment authors, tracked changes and thumbnails.
//!
//! Every identifying value contains [`SECRET`] (or is one of the
//! [`SECRETS`]), so a test can look for it in the redacted bytes.

use std::io::{Cursor, Write};

use bytes::Bytes;
use img_parts::png::{Png, PngChunk};
use img_parts::riff::{RiffChunk, RiffContent};
use img_parts::webp::WebP;
use img_parts::ImageEXIF;
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Found in every identifying value of the corpus.
pub const SECRET: &str = "JaneSource";

/// The identifying values, as a reader would print them.
pub const SECRETS: &[&str] = &[
    SECRET,
    "SN-4242-JaneSource",
    "CanonJaneSource",
    "EOS JaneSource",
    "Newsroom JaneSource Ltd",
];

/// A named file of the corpus.
pub struct Sample {
    /// A file name with the usual extension.
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// Every sample.
pub fn all() -> Vec<Sample> {
    vec![
        Sample {
            name: "photo.jpg",
            bytes: jpeg(),
        },
        Sample {
            name: "screenshot.png",
            bytes: png(),
        },
        Sample {
            name: "picture.webp",
            bytes: webp(),
        },
        Sample {
            name: "scan.tif",
            bytes: tiff(),
        },
        Sample {
            name: "phone.heic",
            bytes: heic(),
        },
        Sample {
            name: "memo.pdf",
            bytes: pdf(),
        },
        Sample {
            name: "letter.docx",
            bytes: docx(),
        },
        Sample {
            name: "figures.xlsx",
            bytes: xlsx(),
        },
        Sample {
            name: "slides.pptx",
            bytes: pptx(),
        },
        Sample {
            name: "notes.odt",
            bytes: odt(),
        },
    ]
}

/// Pixels: a gradient, so that a decoder has something to get wrong.
pub fn pixels(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            out.extend_from_slice(&[
                (x * 255 / width) as u8,
                (y * 255 / height) as u8,
                ((x ^ y) & 0xff) as u8,
            ]);
        }
    }
    out
}

/// A little-endian TIFF value.
enum Value {
    Ascii(&'static str),
    Short(u16),
    Shorts(&'static [u16]),
    Long(u32),
    Rational(&'static [(u32, u32)]),
    Bytes(Vec<u8>),
}

impl Value {
    fn kind_count_bytes(&self) -> (u16, u32, Vec<u8>) {
        match self {
            Value::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                (2, b.len() as u32, b)
            }
            Value::Short(v) => (3, 1, v.to_le_bytes().to_vec()),
            Value::Shorts(v) => (
                3,
                v.len() as u32,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Value::Long(v) => (4, 1, v.to_le_bytes().to_vec()),
            Value::Bytes(b) => (7, b.len() as u32, b.clone()),
            Value::Rational(r) => (
                5,
                r.len() as u32,
                r.iter()
                    .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
                    .collect(),
            ),
        }
    }
}

/// One IFD at `offset`, its long values after it.
fn ifd(entries: &[(u16, Value)], offset: u32) -> Vec<u8> {
    let head = 2 + 12 * entries.len() as u32 + 4;
    let mut table = (entries.len() as u16).to_le_bytes().to_vec();
    let mut data = Vec::new();
    for (tag, value) in entries {
        let (kind, count, bytes) = value.kind_count_bytes();
        table.extend_from_slice(&tag.to_le_bytes());
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&count.to_le_bytes());
        if bytes.len() <= 4 {
            let mut inline = bytes.clone();
            inline.resize(4, 0);
            table.extend_from_slice(&inline);
        } else {
            let at = offset + head + data.len() as u32;
            table.extend_from_slice(&at.to_le_bytes());
            data.extend_from_slice(&bytes);
            if data.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    table.extend_from_slice(&0u32.to_le_bytes());
    table.extend(data);
    table
}

/// EXIF (a TIFF structure): camera make, model and serial, artist, date,
/// orientation 6 (turned), and a GPS position.
pub fn exif() -> Vec<u8> {
    let exif_entries = |_: u32| {
        vec![
            (0x9003, Value::Ascii("2024:03:01 10:11:12")),
            (0xa431, Value::Ascii("SN-4242-JaneSource")),
        ]
    };
    let gps_entries = || {
        vec![
            (1, Value::Ascii("N")),
            (2, Value::Rational(&[(48, 1), (51, 1), (2400, 100)])),
            (3, Value::Ascii("E")),
            (4, Value::Rational(&[(2, 1), (21, 1), (300, 100)])),
        ]
    };
    let ifd0 = |exif_at: u32, gps_at: u32| {
        vec![
            (0x010f, Value::Ascii("CanonJaneSource")),
            (0x0110, Value::Ascii("EOS JaneSource")),
            (0x0112, Value::Short(6)),
            (0x013b, Value::Ascii("JaneSource")),
            (0x8769, Value::Long(exif_at)),
            (0x8825, Value::Long(gps_at)),
        ]
    };
    let first = ifd(&ifd0(0, 0), 8);
    let exif_at = 8 + first.len() as u32;
    let exif_ifd = ifd(&exif_entries(exif_at), exif_at);
    let gps_at = exif_at + exif_ifd.len() as u32;
    let gps_ifd = ifd(&gps_entries(), gps_at);
    let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
    tiff.extend(ifd(&ifd0(exif_at, gps_at), 8));
    tiff.extend(exif_ifd);
    tiff.extend(gps_ifd);
    tiff
}

/// An uncompressed RGB TIFF (40x30) with camera make, model and artist, XMP,
/// and EXIF and GPS directories.
pub fn tiff() -> Vec<u8> {
    let (width, height) = (40u32, 30u32);
    let strip = pixels(width, height);
    let ifd0 = |exif_at: u32, gps_at: u32, strip_at: u32| {
        vec![
            (256, Value::Long(width)),
            (257, Value::Long(height)),
            (258, Value::Shorts(&[8, 8, 8])),
            (259, Value::Short(1)),
            (262, Value::Short(2)),
            (271, Value::Ascii("CanonJaneSource")),
            (272, Value::Ascii("EOS JaneSource")),
            (273, Value::Long(strip_at)),
            (277, Value::Short(3)),
            (278, Value::Long(height)),
            (279, Value::Long(strip.len() as u32)),
            (284, Value::Short(1)),
            (315, Value::Ascii("JaneSource")),
            (700, Value::Bytes(xmp())),
            (0x8769, Value::Long(exif_at)),
            (0x8825, Value::Long(gps_at)),
        ]
    };
    let exif_entries = || {
        vec![
            (0x9003, Value::Ascii("2024:03:01 10:11:12")),
            (0xa431, Value::Ascii("SN-4242-JaneSource")),
        ]
    };
    let gps_entries = || {
        vec![
            (1, Value::Ascii("N")),
            (2, Value::Rational(&[(48, 1), (51, 1), (2400, 100)])),
            (3, Value::Ascii("E")),
            (4, Value::Rational(&[(2, 1), (21, 1), (300, 100)])),
        ]
    };
    let first = ifd(&ifd0(0, 0, 0), 8);
    let exif_at = 8 + first.len() as u32;
    let exif_ifd = ifd(&exif_entries(), exif_at);
    let gps_at = exif_at + exif_ifd.len() as u32;
    let gps_ifd = ifd(&gps_entries(), gps_at);
    let strip_at = gps_at + gps_ifd.len() as u32;
    let mut out = b"II\x2a\0\x08\0\0\0".to_vec();
    out.extend(ifd(&ifd0(exif_at, gps_at, strip_at), 8));
    out.extend(exif_ifd);
    out.extend(gps_ifd);
    out.extend(strip);
    out
}

fn full_box(kind: &[u8; 4], version: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![version, 0, 0, 0];
    body.extend_from_slice(payload);
    plain_box(kind, &body)
}

fn plain_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// The coded picture of [`heic`]: stands for HEVC data, never decoded here.
pub const HEIC_PICTURE: &[u8] = b"coded picture bytes that stand for HEVC data, 0123456789";

/// A HEIC photo: a picture item, an EXIF item (GPS, serial) and an XMP item,
/// located through `iinf` and `iloc` (the picture is not real HEVC).
pub fn heic() -> Vec<u8> {
    let mut exif_item = vec![0, 0, 0, 6];
    exif_item.extend_from_slice(b"Exif\0\0");
    exif_item.extend(exif());
    let xmp_item = xmp();
    let build = |mdat_at: u32| {
        let ftyp = plain_box(b"ftyp", b"heic\0\0\0\0mif1heic");
        let hdlr = full_box(b"hdlr", 0, b"\0\0\0\0pict\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let pitm = full_box(b"pitm", 0, &1u16.to_be_bytes());
        let infe = |id: u16, kind: &[u8; 4], extra: &[u8]| {
            let mut p = id.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(kind);
            p.push(0); // item_name
            p.extend_from_slice(extra);
            full_box(b"infe", 2, &p)
        };
        let mut iinf = 3u16.to_be_bytes().to_vec();
        iinf.extend(infe(1, b"hvc1", b""));
        iinf.extend(infe(2, b"Exif", b""));
        iinf.extend(infe(3, b"mime", b"application/rdf+xml\0"));
        let iinf = full_box(b"iinf", 0, &iinf);
        let payload = 8u32;
        let extents = [
            (1u16, mdat_at + payload, HEIC_PICTURE.len() as u32),
            (
                2,
                mdat_at + payload + HEIC_PICTURE.len() as u32,
                exif_item.len() as u32,
            ),
            (
                3,
                mdat_at + payload + (HEIC_PICTURE.len() + exif_item.len()) as u32,
                xmp_item.len() as u32,
            ),
        ];
        let mut iloc = vec![0x44, 0x00];
        iloc.extend_from_slice(&3u16.to_be_bytes());
        for (id, offset, length) in extents {
            iloc.extend_from_slice(&id.to_be_bytes());
            iloc.extend_from_slice(&0u16.to_be_bytes());
            iloc.extend_from_slice(&1u16.to_be_bytes());
            iloc.extend_from_slice(&offset.to_be_bytes());
            iloc.extend_from_slice(&length.to_be_bytes());
        }
        let iloc = full_box(b"iloc", 0, &iloc);
        let mut meta = hdlr;
        meta.extend(pitm);
        meta.extend(iinf);
        meta.extend(iloc);
        let mut out = ftyp;
        out.extend(full_box(b"meta", 0, &meta));
        out
    };
    let head = build(0);
    let mut out = build(head.len() as u32);
    let mut mdat = HEIC_PICTURE.to_vec();
    mdat.extend(&exif_item);
    mdat.extend(&xmp_item);
    out.extend(plain_box(b"mdat", &mdat));
    out
}

/// An XMP packet naming the creator and the tool.
pub fn xmp() -> Vec<u8> {
    br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:CreatorTool="JaneSource Editor 1.0">
<dc:creator><rdf:Seq><rdf:li>JaneSource</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#
        .to_vec()
}

fn segment(marker: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, marker];
    out.extend_from_slice(&((contents.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(contents);
    out
}

/// A JPEG photo (96x64) with EXIF (GPS, serial), XMP, a Photoshop/IPTC
/// block, a comment, and a trailer after the end of the image.
pub fn jpeg() -> Vec<u8> {
    jpeg_of_size(96, 64)
}

/// [`jpeg`] at another size, for the benchmark.
pub fn jpeg_of_size(width: u32, height: u32) -> Vec<u8> {
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
        .encode(
            &pixels(width, height),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap_or_default();
    let mut out = plain.get(..2).unwrap_or_default().to_vec();
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif());
    out.extend(segment(0xe1, &app1));
    let mut xmp_segment = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp_segment.extend(xmp());
    out.extend(segment(0xe1, &xmp_segment));
    out.extend(segment(
        0xed,
        b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x10\x1c\x02\x50\0\x0aJaneSource",
    ));
    out.extend(segment(0xfe, b"taken by JaneSource"));
    out.extend_from_slice(plain.get(2..).unwrap_or_default());
    out.extend_from_slice(b"MotionPhoto trailer of JaneSource");
    out
}

/// A PNG screenshot with a text Author, XMP, EXIF and a time.
pub fn png() -> Vec<u8> {
    let (width, height) = (80, 48);
    let mut plain = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut plain),
        &pixels(width, height),
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap_or_default();
    let Ok(mut png) = Png::from_bytes(Bytes::from(plain)) else {
        return Vec::new();
    };
    let mut itxt = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
    itxt.extend(xmp());
    for (at, chunk) in [
        (
            1,
            PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0JaneSource")),
        ),
        (1, PngChunk::new(*b"iTXt", Bytes::from(itxt))),
        (1, PngChunk::new(*b"eXIf", Bytes::from(exif()))),
        (
            1,
            PngChunk::new(
                *b"tIME",
                Bytes::from_static(b"\x07\xe8\x03\x01\x0a\x0b\x0c"),
            ),
        ),
    ] {
        png.chunks_mut().insert(at, chunk);
    }
    png.encoder().bytes().to_vec()
}

/// A lossless WebP with EXIF and XMP.
pub fn webp() -> Vec<u8> {
    let (width, height) = (64, 40);
    let mut plain = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::webp::WebPEncoder::new_lossless(&mut plain),
        &pixels(width, height),
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap_or_default();
    let Ok(mut webp) = WebP::from_bytes(Bytes::from(plain)) else {
        return Vec::new();
    };
    webp.set_exif(Some(Bytes::from(exif())));
    webp.chunks_mut().push(RiffChunk::new(
        *b"XMP ",
        RiffContent::Data(Bytes::from(xmp())),
    ));
    for chunk in webp.chunks_mut() {
        if chunk.id() == *b"VP8X" {
            if let RiffContent::Data(data) = chunk.content_mut() {
                let mut flags = data.to_vec();
                if let Some(first) = flags.first_mut() {
                    *first |= 0x04;
                }
                *data = Bytes::from(flags);
            }
        }
    }
    webp.encoder().bytes().to_vec()
}

/// A three-page PDF with an author in Info and XMP, document JavaScript, a
/// comment by the author on page one, and on page one a photo ([`jpeg`], a
/// DCTDecode image with its EXIF GPS, XMP, IPTC and comment).
pub fn pdf() -> Vec<u8> {
    pdf_with_pages(3)
}

/// [`pdf`] with `count` pages, for the benchmark.
pub fn pdf_with_pages(count: u32) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let photo_id = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 96, "Height" => 64,
            "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
        },
        jpeg(),
    ));
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
        "XObject" => dictionary! { "Im1" => photo_id },
    });
    let mut kids = Vec::new();
    for page in 0..count {
        let mut operations = Vec::new();
        if page == 0 {
            operations.extend([
                Operation::new("q", vec![]),
                Operation::new(
                    "cm",
                    vec![
                        96.into(),
                        0.into(),
                        0.into(),
                        64.into(),
                        72.into(),
                        500.into(),
                    ],
                ),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ]);
        }
        let content = Content {
            operations: [
                operations,
                vec![
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F1".into(), 18.into()]),
                    Operation::new("Td", vec![72.into(), 700.into()]),
                    Operation::new(
                        "Tj",
                        vec![Object::string_literal(format!(
                            "Page {} of the memo",
                            page + 1
                        ))],
                    ),
                    Operation::new("ET", vec![]),
                ],
            ]
            .concat(),
        };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().unwrap_or_default(),
        ));
        let mut page_dict = dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "LastModified" => Object::string_literal("D:20240301101112"),
        };
        if page == 0 {
            let annotation = dictionary! {
                "Type" => "Annot",
                "Subtype" => "Text",
                "Rect" => vec![100.into(), 600.into(), 120.into(), 620.into()],
                "Contents" => Object::string_literal("check the second paragraph"),
                "T" => Object::string_literal("JaneSource"),
                "M" => Object::string_literal("D:20240301101112"),
            };
            page_dict.set("Annots", vec![Object::Dictionary(annotation)]);
        }
        kids.push(doc.add_object(page_dict).into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
        }),
    );
    let xmp_id = doc.add_object(Stream::new(
        dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
        xmp(),
    ));
    let script_id = doc.add_object(dictionary! {
        "S" => "JavaScript",
        "JS" => Object::string_literal("app.alert('JaneSource');"),
    });
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
        "Metadata" => xmp_id,
        "Names" => dictionary! {
            "JavaScript" => dictionary! {
                "Names" => vec![Object::string_literal("hello"), script_id.into()],
            },
        },
        "OpenAction" => script_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Memo"),
        "Author" => Object::string_literal("JaneSource"),
        "Creator" => Object::string_literal("JaneSource Writer"),
        "Producer" => Object::string_literal("Newsroom JaneSource Ltd"),
        "CreationDate" => Object::string_literal("D:20240301101112+01'00'"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal("JaneSourceID1"),
            Object::string_literal("JaneSourceID2"),
        ],
    );
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap_or_default();
    out
}

/// A zip of `(name, content)` parts, deflated but for a first `mimetype`.
pub fn zip(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in parts {
        let method = if *name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(
                zip::DateTime::from_date_and_time(2024, 3, 1, 10, 11, 12).unwrap_or_default(),
            );
        if out.start_file(*name, options).is_err() || out.write_all(content).is_err() {
            return Vec::new();
        }
    }
    out.finish().map(|c| c.into_inner()).unwrap_or_default()
}

const CORE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>Budget</dc:title><dc:creator>JaneSource</dc:creator><cp:lastModifiedBy>JaneSource</cp:lastModifiedBy><cp:revision>7</cp:revision><dcterms:created xsi:type="dcterms:W3CDTF">2024-03-01T10:11:12Z</dcterms:created></cp:coreProperties>"#;

const APP: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Template>C:\Users\JaneSource\Templates\Normal.dotm</Template><TotalTime>42</TotalTime><Company>Newsroom JaneSource Ltd</Company><Application>Microsoft Office Word</Application></Properties>"#;

const CUSTOM: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Reviewer"><vt:lpwstr>JaneSource</vt:lpwstr></property></Properties>"#;

fn content_types(main: &str, main_type: &str, extra: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/><Override PartName="/{main}" ContentType="{main_type}"/>{extra}<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/><Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/><Override PartName="/docProps/thumbnail.jpeg" ContentType="image/jpeg"/></Types>"#
    )
    .into_bytes()
}

fn root_rels(main: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main}"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/></Relationships>"#
    )
    .into_bytes()
}

/// A Word document with a comment by the author, a tracked insertion and
/// deletion, properties, a people list with an account, revision session
/// IDs, a template path, a thumbnail, and a photo ([`jpeg`]: GPS, serial,
/// XMP...) in `word/media/`.
pub fn docx() -> Vec<u8> {
    let types = content_types(
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        r#"<Override PartName="/word/comments.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/><Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/><Override PartName="/word/people.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml"/>"#,
    );
    let rels = root_rels("word/document.xml");
    let document = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p w:rsidR="00A1B2C3" w:rsidRDefault="00A1B2C3"><w:commentRangeStart w:id="0"/><w:r><w:t xml:space="preserve">The budget was cut by </w:t></w:r><w:del w:id="1" w:author="JaneSource" w:date="2024-03-01T10:11:12Z"><w:r><w:delText>ten</w:delText></w:r></w:del><w:ins w:id="2" w:author="JaneSource" w:date="2024-03-01T10:11:13Z"><w:r><w:t>twenty</w:t></w:r></w:ins><w:r><w:t xml:space="preserve"> percent &amp; more.</w:t></w:r><w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r></w:p><w:sectPr w:rsidR="00A1B2C3"/></w:body></w:document>"#;
    let comments = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:comments xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:comment w:id="0" w:author="JaneSource" w:date="2024-03-01T10:11:14Z" w:initials="JS"><w:p><w:r><w:t>Source of this figure: the finance office.</w:t></w:r></w:p></w:comment></w:comments>"#;
    let people = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"><w15:person w15:author="JaneSource"><w15:presenceInfo w15:providerId="AD" w15:userId="S::jane@JaneSource.example::1234"/></w15:person></w15:people>"#;
    let settings = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:attachedTemplate r:id="rId1"/><w:trackRevisions/><w:rsids><w:rsidRoot w:val="00A1B2C3"/><w:rsid w:val="00A1B2C3"/></w:rsids></w:settings>"#;
    let settings_rels = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="file:///C:/Users/JaneSource/Templates/Normal.dotm" TargetMode="External"/></Relationships>"#;
    let document_rels = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments" Target="comments.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/><Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2011/relationships/people" Target="people.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.jpeg"/></Relationships>"#;
    let thumbnail = jpeg_of_size(16, 16);
    let photo = jpeg();
    zip(&[
        ("[Content_Types].xml", &types),
        ("_rels/.rels", &rels),
        ("docProps/core.xml", CORE),
        ("docProps/app.xml", APP),
        ("docProps/custom.xml", CUSTOM),
        ("docProps/thumbnail.jpeg", &thumbnail),
        ("word/document.xml", document),
        ("word/_rels/document.xml.rels", document_rels),
        ("word/comments.xml", comments),
        ("word/people.xml", people),
        ("word/settings.xml", settings),
        ("word/_rels/settings.xml.rels", settings_rels),
        ("word/media/image1.jpeg", &photo),
    ])
}

/// An Excel workbook with a comment by the author.
pub fn xlsx() -> Vec<u8> {
    let types = content_types(
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        r#"<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/comments1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"/>"#,
    );
    let rels = root_rels("xl/workbook.xml");
    let workbook = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let workbook_rels = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let sheet = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Cut</t></is></c><c r="B1"><v>20</v></c></row></sheetData></worksheet>"#;
    let sheet_rels = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments" Target="../comments1.xml"/></Relationships>"#;
    let comments = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><authors><author>JaneSource</author></authors><commentList><comment ref="B1" authorId="0"><text><r><t>from the finance office</t></r></text></comment></commentList></comments>"#;
    let thumbnail = jpeg_of_size(16, 16);
    zip(&[
        ("[Content_Types].xml", &types),
        ("_rels/.rels", &rels),
        ("docProps/core.xml", CORE),
        ("docProps/app.xml", APP),
        ("docProps/custom.xml", CUSTOM),
        ("docProps/thumbnail.jpeg", &thumbnail),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/worksheets/sheet1.xml", sheet),
        ("xl/worksheets/_rels/sheet1.xml.rels", sheet_rels),
        ("xl/comments1.xml", comments),
    ])
}

/// A PowerPoint presentation with a comment author.
pub fn pptx() -> Vec<u8> {
    let types = content_types(
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        r#"<Override PartName="/ppt/commentAuthors.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.commentAuthors+xml"/><Override PartName="/ppt/comments/comment1.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.comments+xml"/>"#,
    );
    let rels = root_rels("ppt/presentation.xml");
    let presentation = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>"#;
    let authors = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:cmAuthorLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cmAuthor id="1" name="JaneSource" initials="JS" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>"#;
    let comments = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:cmLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cm authorId="1" dt="2024-03-01T10:11:12.000" idx="1"><p:pos x="10" y="10"/><p:text>Leak this slide</p:text></p:cm></p:cmLst>"#;
    let thumbnail = jpeg_of_size(16, 16);
    zip(&[
        ("[Content_Types].xml", &types),
        ("_rels/.rels", &rels),
        ("docProps/core.xml", CORE),
        ("docProps/app.xml", APP),
        ("docProps/custom.xml", CUSTOM),
        ("docProps/thumbnail.jpeg", &thumbnail),
        ("ppt/presentation.xml", presentation),
        ("ppt/commentAuthors.xml", authors),
        ("ppt/comments/comment1.xml", comments),
    ])
}

/// An OpenDocument text with meta.xml, a comment, a tracked change, printer
/// settings, a thumbnail, and two pictures ([`jpeg`] and [`png`], with their
/// GPS, authors and XMP) in `Pictures/`.
pub fn odt() -> Vec<u8> {
    let manifest = br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:version="1.3" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" manifest:media-type="image/png"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="settings.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="Pictures/photo.jpg" manifest:media-type="image/jpeg"/><manifest:file-entry manifest:full-path="Pictures/screenshot.png" manifest:media-type="image/png"/></manifest:manifest>"#;
    let meta = br#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"><office:meta><meta:initial-creator>JaneSource</meta:initial-creator><dc:creator>JaneSource</dc:creator><meta:creation-date>2024-03-01T10:11:12</meta:creation-date><meta:editing-cycles>7</meta:editing-cycles><meta:generator>JaneSource Office/7.4</meta:generator><meta:user-defined meta:name="Reviewer">JaneSource</meta:user-defined></office:meta></office:document-meta>"#;
    let content = br#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.3"><office:body><office:text><text:tracked-changes><text:changed-region xml:id="ct1" text:id="ct1"><text:insertion><office:change-info><dc:creator>JaneSource</dc:creator><dc:date>2024-03-01T10:11:12</dc:date></office:change-info></text:insertion></text:changed-region></text:tracked-changes><text:p>The budget was cut by <text:change-start text:change-id="ct1"/>twenty<text:change-end text:change-id="ct1"/> percent.<office:annotation><dc:creator>JaneSource</dc:creator><dc:date>2024-03-01T10:11:13</dc:date><meta:creator-initials>JS</meta:creator-initials><text:p>Source: the finance office.</text:p></office:annotation></text:p></office:text></office:body></office:document-content>"#;
    let settings = br#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-settings xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0" office:version="1.3"><office:settings><config:config-item-set config:name="ooo:configuration-settings"><config:config-item config:name="PrinterName" config:type="string">JaneSource office printer</config:config-item><config:config-item config:name="AddParaTableSpacing" config:type="boolean">true</config:config-item></config:config-item-set></office:settings></office:document-settings>"#;
    let thumbnail = png();
    let photo = jpeg();
    zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", manifest),
        ("meta.xml", meta),
        ("content.xml", content),
        ("settings.xml", settings),
        ("Thumbnails/thumbnail.png", &thumbnail),
        ("Pictures/photo.jpg", &photo),
        ("Pictures/screenshot.png", &thumbnail),
    ])
}
