//! Writes seed inputs for the fuzz targets from the testkit: benign and
//! hostile archives, member names, metadata and status outputs.

use std::fs;
use std::path::PathBuf;

use sdw_devices::redact::corpus;
use sdw_protocol::{Command, Passphrase};
use sdw_testkit::{sample_export_archive, ArchiveBuilder};

fn main() -> std::io::Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fuzz/corpus"));
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    };
    write("archive", "sample-gz", &sample_export_archive())?;
    let builder = || {
        ArchiveBuilder::for_command(&Command::Disk {
            passphrase: Some(Passphrase::new("k".into())),
        })
    };
    write(
        "archive",
        "flat-tar",
        &builder().export_file("a.txt", b"abc").tar(),
    )?;
    write(
        "archive",
        "nested-bz2",
        &builder().export_dir("s").export_file("s/b", b"x").bzip2(),
    )?;
    write(
        "archive",
        "parent-tar",
        &builder().export_file("../x", b"x").tar(),
    )?;
    write(
        "archive",
        "symlink-tar",
        &builder().symlink("export_data/l", "../../etc").tar(),
    )?;
    write(
        "archive",
        "long-name-tar",
        &builder().export_file(&"n".repeat(150), b"x").tar(),
    )?;
    for (i, name) in [
        "export_data/a",
        "./export_data//b/./c",
        "../x",
        "/abs",
        "a\nb",
    ]
    .iter()
    .enumerate()
    {
        write("member_path", &format!("name-{i}"), name.as_bytes())?;
    }
    for (i, json) in [
        r#"{"device":"disk","encryption_key":"x"}"#,
        r#"{"device":"usb-test"}"#,
        "[1]",
        r#"{"device":7}"#,
        r#"{"device":"disk","redact":"strict"}"#,
        r#"{"device":"printer","redact":true}"#,
    ]
    .iter()
    .enumerate()
    {
        write("metadata", &format!("meta-{i}"), json.as_bytes())?;
    }
    for (i, out) in ["SUCCESS_EXPORT\n", "noise\nDEVICE_LOCKED\r\n", "\u{ff}", ""]
        .iter()
        .enumerate()
    {
        write("status", &format!("status-{i}"), out.as_bytes())?;
    }
    for sample in corpus::all() {
        let target = match sample.name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("jpg" | "png" | "webp" | "tif" | "heic") => "redact_image",
            Some("pdf") => "redact_pdf",
            _ => "redact_office",
        };
        write(target, sample.name, &sample.bytes)?;
    }
    // The print classifier: a zip written as streaming writers and
    // LibreOffice do (sizes after the data), UTF-16 text, 8-bit text.
    let mut zip = zip::ZipWriter::new_stream(Vec::new());
    for (name, data) in [
        ("[Content_Types].xml", "<Types/>"),
        ("_rels/.rels", "<Relationships/>"),
        ("word/document.xml", "<w:document/>"),
    ] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut zip, data.as_bytes())?;
    }
    let docx = zip.finish().map_err(std::io::Error::other)?.into_inner();
    write("printable", "streamed-docx", &docx)?;
    let mut utf16 = vec![0xff, 0xfe];
    for unit in "Notes – Zoë\r\n".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    write("printable", "utf16le", &utf16)?;
    write(
        "printable",
        "cp1252-csv",
        b"Name;Gr\xf6\xdfe\r\nM\xfcller;10 \x80\r\n",
    )?;
    write("printable", "pdf", b"%PDF-1.4\n%%EOF\n")?;
    Ok(())
}
