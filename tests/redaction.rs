//! Metadata redaction end to end (issue 16): the real `sdw-devices` exports
//! a corpus made here (`sdw_devices::redact::corpus`: photos with GPS and
//! serials, PDFs with authors, office files with comment authors and tracked
//! changes) with `"redact": "strict"`, and readers that are not our code
//! check the result: exiftool (tags gone, orientation kept), pdfinfo and
//! pdftotext (no author, same pages and text), unzip (no identifying value in
//! any part, the archive intact). Then mat2 cleans the same corpus and the
//! two are compared; the table goes to `target/redaction-vs-mat2.md` (and, by
//! hand, into docs/redaction.md).
//!
//! The readers come from `.ci/packages/redact.txt`; a test whose reader is
//! missing says so on stderr and checks what it can without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdw_devices::redact::corpus::{self, SECRET};
use sdw_testkit::ArchiveBuilder;
use support::Sandbox;

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED PART: {tool} is not installed (see .ci/packages/redact.txt)");
    }
    found
}

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every text a file holds, decompressing zip parts, for a secret search.
fn all_text(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap();
    let mut out = bytes.clone();
    if let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&bytes)) {
        for i in 0..zip.len() {
            zip.by_index(i).unwrap().read_to_end(&mut out).unwrap();
        }
    }
    out
}

fn holds_secret(path: &Path) -> bool {
    all_text(path)
        .windows(SECRET.len())
        .any(|w| w == SECRET.as_bytes())
}

/// Exports the corpus with `metadata` into a fresh folder; answers the
/// export folder.
fn export(sandbox: &Sandbox, metadata: &str, files: &[(&str, &[u8])]) -> (support::Run, PathBuf) {
    let mut archive = ArchiveBuilder::with_metadata(metadata);
    for (name, bytes) in files {
        archive = archive.file(&format!("export_data/{name}"), bytes);
    }
    let archive = sandbox.archive("corpus.sd-export", &archive.gzip());
    let target = sandbox.target();
    let run = sandbox.run(&[
        "export".as_ref(),
        archive.as_os_str(),
        "--to".as_ref(),
        target.as_os_str(),
    ]);
    (run, target)
}

fn export_folder(target: &Path) -> Option<PathBuf> {
    fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sd-export-")
        })
}

fn samples() -> Vec<corpus::Sample> {
    corpus::all()
}

#[test]
fn a_strict_export_leaves_no_identifying_value_and_every_reader_agrees() {
    let sandbox = Sandbox::new();
    let samples = samples();
    let mut files: Vec<(&str, &[u8])> = samples
        .iter()
        .map(|s| (s.name, s.bytes.as_slice()))
        .collect();
    files.push(("readme.txt", b"plain notes\n"));
    let (run, target) = export(&sandbox, r#"{"device":"disk","redact":"strict"}"#, &files);
    run.assert_status("SUCCESS_EXPORT");
    let folder = export_folder(&target).expect("an export folder");
    let data = folder.join("export_data");
    let originals = sandbox.root.join("originals");
    fs::create_dir(&originals).unwrap();
    for sample in &samples {
        fs::write(originals.join(sample.name), &sample.bytes).unwrap();
        let redacted = data.join(sample.name);
        assert!(
            holds_secret(&originals.join(sample.name)),
            "{}",
            sample.name
        );
        assert!(
            !holds_secret(&redacted),
            "{} still names the source",
            sample.name
        );
    }
    assert_eq!(fs::read(data.join("readme.txt")).unwrap(), b"plain notes\n");

    // The report: one entry a file, names of fields, no values.
    let report = fs::read_to_string(folder.join("REDACTION.txt")).unwrap();
    assert!(!report.contains(SECRET), "{report}");
    assert!(report.contains("11 files, 0 NOT REDACTED"), "{report}");
    assert!(
        report.contains("export_data/photo.jpg\n  JPEG: redacted"),
        "{report}"
    );
    assert!(report.contains("GPSLatitude"), "{report}");
    assert!(report.contains("export_data/readme.txt\n  plain text: this format holds no metadata"));

    if have("exiftool") {
        for name in [
            "photo.jpg",
            "screenshot.png",
            "picture.webp",
            "scan.tif",
            "phone.heic",
        ] {
            let before = exif_tags(&originals.join(name));
            let after = exif_tags(&data.join(name));
            for tag in [
                "GPSLatitude",
                "GPSLongitude",
                "Make",
                "Model",
                "SerialNumber",
                "Artist",
                "Creator",
                "CreatorTool",
            ] {
                assert!(
                    before.iter().any(|t| t.ends_with(tag)),
                    "{name}: the original has no {tag}: {before:?}"
                );
                assert!(
                    !after.iter().any(|t| t.ends_with(&format!(":{tag}"))),
                    "{name}: {tag} left: {after:?}"
                );
            }
            let size =
                |path: &Path| output("exiftool", &["-s3", "-ImageSize", path.to_str().unwrap()]);
            assert_eq!(
                size(&originals.join(name)),
                size(&data.join(name)),
                "{name}"
            );
        }
        let orientation = output(
            "exiftool",
            &[
                "-s3",
                "-n",
                "-Orientation",
                data.join("photo.jpg").to_str().unwrap(),
            ],
        );
        assert_eq!(orientation.trim(), "6");
        for name in ["letter.docx", "figures.xlsx", "slides.pptx", "notes.odt"] {
            let after = exif_tags(&data.join(name));
            for tag in [
                "Creator",
                "LastModifiedBy",
                "Company",
                "Template",
                "InitialCreator",
            ] {
                assert!(
                    !after.iter().any(|t| t.ends_with(&format!(":{tag}"))),
                    "{name}: {tag} left: {after:?}"
                );
            }
        }
    }
    // The compressed picture data is the original's, byte for byte, from the
    // start of scan on (read without our code: a plain byte search).
    let scan = |bytes: &[u8]| {
        let at = bytes.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        bytes[at..].to_vec()
    };

    // Pictures inside documents, taken out by unzip and pdfimages (not our
    // code): exiftool finds the GPS position and camera in the original's
    // picture and nothing of them in the redacted one, whose scans are the
    // original's.
    assert!(
        report.contains("in picture word/media/image1.jpeg: EXIF (")
            && report.contains("in picture Pictures/photo.jpg: EXIF (")
            && report.contains("in picture (object "),
        "{report}"
    );
    if have("exiftool") && have("unzip") && have("pdfimages") {
        let pictures = sandbox.root.join("pictures");
        fs::create_dir(&pictures).unwrap();
        for (dir, side) in [(&originals, "before"), (&data, "after")] {
            for (document, part) in [
                ("letter.docx", "word/media/image1.jpeg"),
                ("notes.odt", "Pictures/photo.jpg"),
            ] {
                let out = Command::new("unzip")
                    .arg("-p")
                    .arg(dir.join(document))
                    .arg(part)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{document} {part}");
                fs::write(pictures.join(format!("{side}-{document}.jpg")), out.stdout).unwrap();
            }
            let root = pictures.join(format!("{side}-memo.pdf"));
            output(
                "pdfimages",
                &[
                    "-j",
                    dir.join("memo.pdf").to_str().unwrap(),
                    root.to_str().unwrap(),
                ],
            );
            fs::rename(
                pictures.join(format!("{side}-memo.pdf-000.jpg")),
                pictures.join(format!("{side}-memo.pdf.jpg")),
            )
            .unwrap();
        }
        for document in ["letter.docx", "notes.odt", "memo.pdf"] {
            let before = pictures.join(format!("before-{document}.jpg"));
            let after = pictures.join(format!("after-{document}.jpg"));
            let (tags_before, tags_after) = (exif_tags(&before), exif_tags(&after));
            for tag in [
                "GPSLatitude",
                "GPSLongitude",
                "Make",
                "Model",
                "SerialNumber",
                "Creator",
            ] {
                assert!(
                    tags_before.iter().any(|t| t.ends_with(tag)),
                    "{document}: the original picture has no {tag}: {tags_before:?}"
                );
                assert!(
                    !tags_after.iter().any(|t| t.ends_with(&format!(":{tag}"))),
                    "{document}: {tag} left in the picture: {tags_after:?}"
                );
            }
            let (was, is) = (fs::read(&before).unwrap(), fs::read(&after).unwrap());
            assert!(!is.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
            assert!(
                scan(&was).starts_with(&scan(&is)) && scan(&is).ends_with(&[0xff, 0xd9]),
                "{document}: the picture's scans differ"
            );
        }
    }
    let original_jpeg = corpus::jpeg();
    let redacted_jpeg = fs::read(data.join("photo.jpg")).unwrap();
    let original_scan = scan(&original_jpeg);
    let redacted_scan = scan(&redacted_jpeg);
    assert!(
        original_scan.starts_with(&redacted_scan),
        "the scans differ"
    );
    assert!(redacted_scan.ends_with(&[0xff, 0xd9]));

    if have("pdfinfo") && have("pdftotext") {
        let info = |path: &Path| output("pdfinfo", &[path.to_str().unwrap()]);
        // pdfinfo's lines with their spacing squeezed: "JavaScript: yes".
        let squeezed = |text: String| -> Vec<String> {
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        let before = squeezed(info(&originals.join("memo.pdf")));
        let after = squeezed(info(&data.join("memo.pdf")));
        let has = |lines: &[String], start: &str| lines.iter().any(|l| l.starts_with(start));
        for field in [
            "Author:",
            "Creator:",
            "Producer:",
            "Title:",
            "CreationDate:",
            "Metadata Stream: yes",
            "JavaScript: yes",
        ] {
            assert!(
                has(&before, field),
                "the original has no {field}: {before:?}"
            );
            assert!(!has(&after, field), "{field} left: {after:?}");
        }
        let pages = |lines: &[String]| lines.iter().find(|l| l.starts_with("Pages:")).cloned();
        assert_eq!(pages(&before), pages(&after));
        assert_eq!(pages(&after).as_deref(), Some("Pages: 3"));
        let text = |path: &Path| output("pdftotext", &[path.to_str().unwrap(), "-"]);
        assert_eq!(
            text(&originals.join("memo.pdf")),
            text(&data.join("memo.pdf"))
        );
    }

    if have("unzip") {
        for name in ["letter.docx", "figures.xlsx", "slides.pptx", "notes.odt"] {
            let path = data.join(name);
            let tested = output("unzip", &["-t", path.to_str().unwrap()]);
            assert!(tested.contains("No errors detected"), "{tested}");
            let listing = output("unzip", &["-Z1", path.to_str().unwrap()]);
            assert!(
                !listing.to_lowercase().contains("thumbnail"),
                "{name}: {listing}"
            );
            let parts = |path: &Path| {
                output("unzip", &["-Z1", path.to_str().unwrap()])
                    .lines()
                    .count()
            };
            assert_eq!(
                parts(&originals.join(name)),
                parts(&path) + 1,
                "{name}: only the thumbnail goes"
            );
        }
        let document = output(
            "unzip",
            &[
                "-p",
                data.join("letter.docx").to_str().unwrap(),
                "word/document.xml",
            ],
        );
        assert!(
            document.contains("<w:t>twenty</w:t>")
                && document.contains("<w:delText>ten</w:delText>")
        );
        assert!(document.contains(r#"w:author="Author 1""#), "{document}");
        let comments = output(
            "unzip",
            &[
                "-p",
                data.join("letter.docx").to_str().unwrap(),
                "word/comments.xml",
            ],
        );
        assert!(comments.contains("Source of this figure: the finance office."));
        let core = output(
            "unzip",
            &[
                "-p",
                data.join("letter.docx").to_str().unwrap(),
                "docProps/core.xml",
            ],
        );
        assert!(
            !core.contains("<dc:creator>") && !core.contains("lastModifiedBy"),
            "{core}"
        );
    }

    // LibreOffice opens the redacted documents and finds the same text.
    if have("soffice") {
        let profile = sandbox.root.join("lo-profile");
        let as_text = |dir: &Path, name: &str| {
            let out = sandbox
                .root
                .join(format!("lo-{}", dir.file_name().unwrap().to_string_lossy()));
            let status = Command::new("soffice")
                .arg(format!(
                    "-env:UserInstallation=file://{}",
                    profile.display()
                ))
                .args(["--headless", "--convert-to", "txt:Text", "--outdir"])
                .arg(&out)
                .arg(dir.join(name))
                .env("HOME", &sandbox.root)
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
            let (stem, _) = name.rsplit_once('.').unwrap();
            fs::read_to_string(out.join(format!("{stem}.txt"))).unwrap()
        };
        for name in ["letter.docx", "notes.odt"] {
            let before = as_text(&originals, name);
            let after = as_text(&data, name);
            assert!(
                before.contains("The budget was cut by"),
                "{name}: {before:?}"
            );
            assert_eq!(before, after, "{name}");
        }
    }
}

fn exif_tags(path: &Path) -> BTreeSet<String> {
    let json = output("exiftool", &["-j", "-G1", "-a", path.to_str().unwrap()]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    parsed[0]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| {
            !k.starts_with("System:")
                && !k.starts_with("ExifTool:")
                && !k.starts_with("File:")
                && k.as_str() != "SourceFile"
        })
        .cloned()
        .collect()
}

#[test]
fn strict_refuses_a_file_it_cannot_redact_and_publishes_nothing() {
    let sandbox = Sandbox::new();
    let jpeg = corpus::jpeg();
    let files: [(&str, &[u8]); 2] = [
        ("photo.jpg", &jpeg),
        ("clip.gif", b"GIF89a\x01\0\x01\0\0\0\0;"),
    ];
    let (run, target) = export(&sandbox, r#"{"device":"disk","redact":"strict"}"#, &files);
    run.assert_status("ERROR_EXPORT");
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "something was left in the target"
    );
    assert!(sandbox
        .logs()
        .contains("strict redaction refused the export"));

    // Without strict, the same export goes through, the GIF unchanged and named.
    let (run, target) = export(&sandbox, r#"{"device":"disk","redact":true}"#, &files);
    run.assert_status("SUCCESS_EXPORT");
    let folder = export_folder(&target).unwrap();
    assert_eq!(
        fs::read(folder.join("export_data/clip.gif")).unwrap(),
        files[1].1
    );
    let report = fs::read_to_string(folder.join("REDACTION.txt")).unwrap();
    assert!(
        report.contains("export_data/clip.gif\n  GIF: NOT REDACTED"),
        "{report}"
    );
    assert!(!holds_secret(&folder.join("export_data/photo.jpg")));
}

#[test]
fn without_redact_the_export_is_as_today() {
    let sandbox = Sandbox::new();
    let jpeg = corpus::jpeg();
    let (run, target) = export(&sandbox, r#"{"device":"disk"}"#, &[("photo.jpg", &jpeg)]);
    run.assert_status("SUCCESS_EXPORT");
    let folder = export_folder(&target).unwrap();
    assert_eq!(
        fs::read(folder.join("export_data/photo.jpg")).unwrap(),
        jpeg
    );
    assert!(!folder.join("REDACTION.txt").exists());
    let (run, _) = export(
        &sandbox,
        r#"{"device":"disk","redact":"yes"}"#,
        &[("photo.jpg", &jpeg)],
    );
    run.assert_status("ERROR_ARCHIVE_METADATA");
}

/// One row of the comparison: what each tool left that identifies the source.
struct Row {
    file: &'static str,
    ours_removed_only: Vec<String>,
    mat2_removed_only: Vec<String>,
    both_removed: usize,
    ours_secret_left: bool,
    mat2_secret_left: bool,
    mat2_note: String,
}

#[test]
fn compared_with_mat2_on_the_same_corpus() {
    if !have("mat2") || !have("exiftool") {
        eprintln!("SKIPPED: the mat2 comparison needs mat2 and exiftool");
        return;
    }
    let sandbox = Sandbox::new();
    let samples = samples();
    let files: Vec<(&str, &[u8])> = samples
        .iter()
        .map(|s| (s.name, s.bytes.as_slice()))
        .collect();
    let (run, target) = export(&sandbox, r#"{"device":"disk","redact":true}"#, &files);
    run.assert_status("SUCCESS_EXPORT");
    let ours = export_folder(&target).unwrap().join("export_data");
    let work = sandbox.root.join("mat2");
    fs::create_dir(&work).unwrap();
    let mut rows = Vec::new();
    for sample in &samples {
        let original = work.join(sample.name);
        fs::write(&original, &sample.bytes).unwrap();
        let run = Command::new("mat2").arg(&original).output().unwrap();
        let (stem, ext) = sample.name.rsplit_once('.').unwrap();
        let cleaned = work.join(format!("{stem}.cleaned.{ext}"));
        let mat2_note = if cleaned.exists() {
            String::new()
        } else {
            let said = String::from_utf8_lossy(&run.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_owned();
            format!("mat2 failed: {said}")
        };
        let before = exif_tags(&original);
        let after_ours = exif_tags(&ours.join(sample.name));
        let after_mat2 = if cleaned.exists() {
            exif_tags(&cleaned)
        } else {
            before.clone()
        };
        let gone = |after: &BTreeSet<String>| -> BTreeSet<String> {
            before.difference(after).cloned().collect()
        };
        let (gone_ours, gone_mat2) = (gone(&after_ours), gone(&after_mat2));
        let mut note = mat2_note;
        if cleaned.exists() && sample.name.ends_with(".jpg") {
            let scan = |b: &[u8]| {
                b.windows(2)
                    .position(|w| w == [0xff, 0xda])
                    .map(|at| blake3::hash(&b[at..b.len().min(at + 4096)]))
            };
            if scan(&fs::read(&cleaned).unwrap()) != scan(&sample.bytes) {
                note.push_str("mat2 re-encoded the JPEG's pixels");
            }
        }
        if cleaned.exists() && sample.name.ends_with(".pdf") {
            let fonts = output("pdffonts", &[cleaned.to_str().unwrap()]);
            if fonts.lines().count() <= 2 {
                note.push_str("mat2 turned the pages into images (no text left)");
            }
        }
        rows.push(Row {
            file: sample.name,
            ours_removed_only: gone_ours.difference(&gone_mat2).cloned().collect(),
            mat2_removed_only: gone_mat2.difference(&gone_ours).cloned().collect(),
            both_removed: gone_ours.intersection(&gone_mat2).count(),
            ours_secret_left: holds_secret(&ours.join(sample.name)),
            mat2_secret_left: !cleaned.exists() || holds_secret(&cleaned),
            mat2_note: note,
        });
    }
    let mut table = String::from(
        "| file | tags both removed | only we removed (exiftool tags) | only mat2 removed | source name left: ours / mat2 | notes |\n|---|---|---|---|---|---|\n",
    );
    for row in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} / {} | {} |\n",
            row.file,
            row.both_removed,
            if row.ours_removed_only.is_empty() {
                "–".to_owned()
            } else {
                row.ours_removed_only.join(", ")
            },
            if row.mat2_removed_only.is_empty() {
                "–".to_owned()
            } else {
                row.mat2_removed_only.join(", ")
            },
            if row.ours_secret_left { "yes" } else { "no" },
            if row.mat2_secret_left { "yes" } else { "no" },
            row.mat2_note,
        ));
    }
    println!("{table}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redaction-vs-mat2.md");
    fs::write(&out, &table).unwrap();
    eprintln!("comparison written to {}", out.display());
    for row in &rows {
        assert!(
            !row.ours_secret_left,
            "{}: we left the source's name",
            row.file
        );
    }
}
