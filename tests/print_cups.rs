//! Printing, as a journalist would see it: `sdw-devices` run as a process on
//! print archives, against a real private `cupsd` whose test USB backend
//! reports a Brother HL-L2320D (brlaser driver) and writes each job to a file,
//! and against an IPP Everywhere printer (`ippeveprinter`). Each test checks
//! the last line of stderr, exit 0, what reached the printer, and that no
//! temporary file was left behind.
//!
//! Each test has its own cupsd (about a second to start): tests change what
//! the backend reports and how it behaves.

#![allow(clippy::unwrap_used)]

mod print_support;

use print_support::*;

fn brother() -> Cupsd {
    let cupsd = Cupsd::start();
    cupsd.set_devices("usb", &[BROTHER_DEVICE]);
    cupsd.set_usb(&[BROTHER_USB]);
    cupsd
}

fn assert_pjl_jobs(cupsd: &Cupsd, count: usize) {
    let jobs = cupsd.jobs();
    assert_eq!(
        jobs.len(),
        count,
        "jobs: {:?}",
        jobs.iter().map(|j| &j.0).collect::<Vec<_>>()
    );
    for (name, bytes) in &jobs {
        let start = pjl_start(bytes).unwrap_or_else(|| panic!("{name} is not PJL"));
        assert!(
            bytes[..start].iter().all(|&b| b == 0),
            "{name}: junk before PJL"
        );
        // brlaser's raster for a page is more than the PJL header and trailer.
        assert!(bytes.len() > 2000, "{name}: only {} bytes", bytes.len());
    }
}

#[test]
fn preflight_sets_up_the_brother_once_and_again_without_change() {
    let cupsd = brother();
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    let queues = cupsd.queues();
    assert!(
        queues.contains("device for sdw-printer: usb://Brother/HL-L2320D%20series?serial=E12345"),
        "{queues}"
    );
    let options = cupsd.printer_options("sdw-printer");
    assert!(
        options.contains("printer-is-accepting-jobs=true"),
        "{options}"
    );
    let ppd = std::fs::read_to_string(cupsd.root.join("etc/ppd/sdw-printer.ppd")).unwrap();
    assert!(ppd.contains("brlaser"), "the queue uses the brlaser driver");
    let ppd_time = std::fs::metadata(cupsd.root.join("etc/ppd/sdw-printer.ppd"))
        .unwrap()
        .modified()
        .unwrap();
    // Idempotent: a second preflight finds the queue ready and leaves it be.
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    assert!(cupsd.logs().contains("queue already set up"));
    let again = std::fs::metadata(cupsd.root.join("etc/ppd/sdw-printer.ppd"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(ppd_time, again);
    assert!(cupsd.jobs().is_empty(), "preflight prints nothing");
}

#[test]
fn queue_setup_needs_cupsds_system_group_as_in_a_qube() {
    // Outside cupsd's SystemGroup: CUPS refuses the queue.
    let cupsd = brother();
    let run = cupsd.run_as_nobody(&archive("printer-preflight", &[]));
    run.assert_status("ERROR_PRINTER_INSTALL");
    assert!(cupsd.logs().contains("403"), "{}", cupsd.logs());
    assert!(!cupsd.queues().contains("sdw-printer"));
    // In it (as the handler's account in lpadmin would be): set up over
    // PeerCred, and printing works.
    let cupsd = Cupsd::start_with(Options {
        system_group: Some("nogroup"),
        ..Options::default()
    });
    cupsd.set_devices("usb", &[BROTHER_DEVICE]);
    cupsd.set_usb(&[BROTHER_USB]);
    cupsd
        .run_as_nobody(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    cupsd
        .run_as_nobody(&archive("printer", &[("a.txt", b"hello\n")]))
        .assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 1);
}

#[test]
fn no_printer_two_printers_and_the_real_usb_bus() {
    let cupsd = Cupsd::start();
    cupsd.set_devices("usb", &[BROTHER_DEVICE]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_NOT_FOUND");
    // Without the simulated bus, the real udev path runs: this machine has
    // no USB printer, whatever CUPS' backend claims.
    cupsd
        .run_on_real_usb(&archive("printer-preflight", &[]), &[])
        .assert_status("ERROR_PRINTER_NOT_FOUND");
    // The environment cannot fake the bus: the variable that once did
    // (naming a bus with the Brother, in its old format) changes nothing.
    // Only `--sim DIR` chooses simulated printers.
    let old_bus = cupsd.root.join("test/old-usb.json");
    std::fs::write(&old_bus, format!("[{BROTHER_USB}]")).unwrap();
    cupsd
        .run_on_real_usb(
            &archive("printer-preflight", &[]),
            &[("SDW_PRINT_SIMULATED_USB", old_bus.to_str().unwrap())],
        )
        .assert_status("ERROR_PRINTER_NOT_FOUND");
    let second = BROTHER_USB.replace("E12345", "E99999");
    cupsd.set_usb(&[BROTHER_USB, &second]);
    for device in ["printer-preflight", "printer-test"] {
        cupsd
            .run(&archive(device, &[]))
            .assert_status("ERROR_MULTIPLE_PRINTERS_FOUND");
    }
    assert!(cupsd.jobs().is_empty());
    assert!(!cupsd.queues().contains("sdw-printer"));
}

#[test]
fn a_refused_model_is_not_supported_and_gets_no_queue() {
    let cupsd = Cupsd::start();
    cupsd.set_devices("usb", &[CANON_DEVICE]);
    cupsd.set_usb(&[CANON_USB]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_NOT_SUPPORTED");
    assert!(cupsd.logs().contains("CAPT"), "the reason is logged");
    // An unknown model too.
    cupsd.set_devices(
        "usb",
        &["direct usb://Epson/ET-2720?serial=X1 \"Epson ET-2720\" \"Epson ET-2720\" \"MFG:EPSON;MDL:ET-2720 Series;\" \"\""],
    );
    cupsd.set_usb(&[r#"{"manufacturer":"EPSON","product":"ET-2720 Series","serial":"X1"}"#]);
    cupsd
        .run(&archive("printer", &[("a.pdf", b"%PDF-1.4\n%%EOF\n")]))
        .assert_status("ERROR_PRINTER_NOT_SUPPORTED");
    assert!(!cupsd.queues().contains("sdw-printer"));
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn a_missing_driver_is_driver_unavailable() {
    let cupsd = Cupsd::start_with(Options {
        without_brlaser: true,
        ..Options::default()
    });
    cupsd.set_devices("usb", &[BROTHER_DEVICE]);
    cupsd.set_usb(&[BROTHER_USB]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_DRIVER_UNAVAILABLE");
    assert!(cupsd.logs().contains("printer-driver-brlaser"));
    assert!(!cupsd.queues().contains("sdw-printer"));
}

#[test]
fn a_usb_printer_cups_does_not_report_is_a_uri_error() {
    let cupsd = Cupsd::start();
    cupsd.set_usb(&[BROTHER_USB]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_URI");
    // CUPS reporting another printer is no better.
    cupsd.set_devices("usb", &[CANON_DEVICE]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_URI");
    // Nor is a CUPS that does not answer (as `lpinfo -v` failing was for
    // the predecessor).
    let socket = cupsd.root.join("run/nothing-here.sock");
    cupsd
        .run_env(
            &archive("printer-preflight", &[]),
            &[("CUPS_SERVER", socket.to_str().unwrap())],
        )
        .assert_status("ERROR_PRINTER_URI");
    assert!(cupsd.logs().contains("cannot reach the CUPS server"));
}

#[test]
fn prints_pdf_text_and_image_in_the_nested_layout() {
    let cupsd = brother();
    let pdf = sdw_devices::print::testpage::pdf();
    let archive = sdw_testkit::ArchiveBuilder::with_metadata(r#"{"device":"printer"}"#)
        .dir("export_data")
        .dir("export_data/source-one")
        .file("export_data/source-one/1-letter", &pdf)
        .file(
            "export_data/source-one/2-notes.pdf",
            "Plain notes – ü\n".as_bytes(),
        )
        .file("export_data/source-one/3-photo.txt", &png(64))
        .gzip();
    let run = cupsd.run(&archive);
    run.assert_status("PRINTER_SUCCESS");
    // Three files, three jobs, each brlaser output for the printer.
    assert_pjl_jobs(&cupsd, 3);
    // Types came from the bytes, not the names.
    let logs = cupsd.logs();
    assert!(logs.contains("format=\"application/pdf\""));
    assert!(logs.contains("format=\"text/plain\""));
    assert!(logs.contains("format=\"image/png\""));
    assert!(!logs.contains("photo"), "file names stay out of the logs");
    eprintln!("3 jobs printed in {:?}", run.elapsed);
}

#[test]
fn the_test_page_prints() {
    let cupsd = brother();
    let run = cupsd.run(&archive("printer-test", &[]));
    run.assert_status("PRINTER_TEST_SUCCESS");
    assert_pjl_jobs(&cupsd, 1);
}

#[test]
fn office_documents_are_converted_then_printed() {
    let cupsd = brother();
    let run = cupsd.run(&archive(
        "printer",
        &[
            ("s/report.docx", &docx("Quarterly report")),
            ("s/memo.odt", &odt("Internal memo")),
        ],
    ));
    run.assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 2);
    let logs = cupsd.logs();
    assert!(logs.contains("kind=Convert(Docx)"), "{logs}");
    assert!(logs.contains("kind=Convert(OdfText)"));
    eprintln!("2 documents converted and printed in {:?}", run.elapsed);
}

#[test]
fn a_document_libreoffice_cannot_read_prints_nothing() {
    let cupsd = brother();
    // Looks like a .docx by its members, but the XML is garbage.
    let broken = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", b"\0\0not xml"),
    ]);
    cupsd
        .run(&archive(
            "printer",
            &[("a.pdf", b"%PDF-1.4\n%%EOF\n"), ("b.docx", &broken)],
        ))
        .assert_status("ERROR_PRINT");
    assert!(
        cupsd.jobs().is_empty(),
        "conversion comes before any printing"
    );
    assert!(
        cupsd.logs().contains("conversion failed"),
        "the cause is logged"
    );
}

#[test]
fn audio_video_and_archives_are_refused_and_nothing_prints() {
    let cupsd = brother();
    let pdf = sdw_devices::print::testpage::pdf();
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "song.pdf",
            b"ID3\x04\0\0\0\0\0\0 mp3 frames",
            "ERROR_UNPRINTABLE_TYPE",
        ),
        (
            "files.zip",
            &zip(&[("secret.txt", b"hello")]),
            "ERROR_UNPRINTABLE_TYPE",
        ),
        (
            "clip.mp4",
            b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2",
            "ERROR_UNPRINTABLE_TYPE",
        ),
        (
            "tool",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
            "ERROR_MIMETYPE_UNSUPPORTED",
        ),
    ];
    for (name, bytes, status) in cases {
        // The printable PDF comes first: it must not print either.
        cupsd
            .run(&archive("printer", &[("1.pdf", &pdf), (name, bytes)]))
            .assert_status(status);
    }
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn a_job_the_printer_fails_is_a_print_error_with_its_reasons_logged() {
    let cupsd = brother();
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    cupsd.fail_jobs();
    cupsd
        .run(&archive("printer", &[("a.txt", b"hello\n")]))
        .assert_status("ERROR_PRINT");
    let logs = cupsd.logs();
    assert!(logs.contains("job failed"), "{logs}");
    assert!(
        logs.contains("media-empty"),
        "printer-state-reasons are logged"
    );
    assert!(cupsd.jobs().is_empty());
    // The failed job was aborted, not left to stop the queue: once the
    // printer has paper again, the next print works.
    std::fs::remove_file(cupsd.root.join("test/fail")).unwrap();
    cupsd
        .run(&archive("printer", &[("a.txt", b"hello again\n")]))
        .assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 1);
}

#[test]
fn an_image_the_filters_cannot_read_is_a_print_error_not_a_hang() {
    let cupsd = brother();
    // A PNG signature over a broken body: recognised as an image, refused by
    // CUPS' image filter, which stops the job.
    let mut broken = png(8);
    broken.truncate(40);
    let run = cupsd.run(&archive("printer", &[("photo", &broken)]));
    run.assert_status("ERROR_PRINT");
    assert!(run.elapsed.as_secs() < 30, "{:?}", run.elapsed);
    assert!(cupsd.logs().contains("stopped"));
    assert!(cupsd.jobs().iter().all(|(_, bytes)| bytes.is_empty()));
}

#[test]
fn a_job_that_never_ends_times_out_and_is_cancelled() {
    let cupsd = brother();
    cupsd.hang_jobs();
    let run = cupsd.run_env(
        &archive("printer", &[("a.txt", b"hello\n")]),
        &[("SDW_PRINT_JOB_TIMEOUT_SECS", "3")],
    );
    run.assert_status("ERROR_PRINT");
    assert!(cupsd.logs().contains("job timed out; cancelling it"));
    assert!(run.elapsed.as_secs() < 30);
}

#[test]
fn a_printer_unplugged_after_preflight_is_not_found() {
    let cupsd = brother();
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    cupsd.unplug_all();
    cupsd
        .run(&archive("printer", &[("a.txt", b"hello\n")]))
        .assert_status("ERROR_PRINTER_NOT_FOUND");
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn an_ipp_everywhere_printer_over_usb_prints_driverless() {
    let mut cupsd = Cupsd::start();
    let uri = cupsd.start_ipp_everywhere();
    cupsd.set_devices(
        "driverless",
        &[&format!(
            "network {uri} \"Test Everywhere\" \"Test Everywhere\" \"MFG:Test;MDL:Everywhere;CMD:PDF,PWG,URF;\" \"\""
        )],
    );
    // The USB bus shows an IPP-over-USB printer (interface protocol 04).
    cupsd.set_usb(&[
        r#"{"manufacturer":"Test","product":"Everywhere","serial":"T1","ipp_usb":true}"#,
    ]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    let queues = cupsd.queues();
    assert!(
        queues.contains(&format!("device for sdw-printer: {uri}")),
        "{queues}"
    );
    let long: String = (1..=200).map(|n| format!("line {n}\n")).collect();
    let run = cupsd.run(&archive(
        "printer",
        &[
            ("a.txt", b"hello, driverless\n"),
            ("b.txt", long.as_bytes()),
        ],
    ));
    run.assert_status("PRINTER_SUCCESS");
    // The printer received PDF, one document per file, with the pages the
    // text needs.
    let documents = cupsd.ipp_documents();
    assert_eq!(documents.len(), 2, "one document per file");
    let pages = |pdf: &[u8]| {
        pdf.windows(12)
            .filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's')
            .count()
    };
    assert!(documents[0].starts_with(b"%PDF-"));
    assert_eq!(pages(&documents[0]), 1);
    assert!(pages(&documents[1]) >= 3, "{}", pages(&documents[1]));
    // Without IPP over USB the same model is unknown: there is no driver.
    cupsd.set_usb(&[r#"{"manufacturer":"Test","product":"Everywhere","serial":"T1"}"#]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_URI");
}

#[test]
fn without_a_1284_id_from_cups_the_kernels_is_used() {
    let cupsd = Cupsd::start();
    // A usb backend that could not read the device ID reports an empty one.
    cupsd.set_devices(
        "usb",
        &["direct usb://Brother/HL-L2320D%20series?serial=E12345 \"Brother HL-L2320D series\" \"Unknown\" \"\" \"\""],
    );
    // The USB strings alone do not name the model; the kernel's usblp ID does.
    cupsd.set_usb(&[
        r#"{"manufacturer":"Brother Industries, Ltd","product":"USB Printer","serial":"E12345","device_id":"MFG:Brother;MDL:HL-L2320D series;CMD:PJL,PCL;"}"#,
    ]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    assert!(cupsd
        .queues()
        .contains("device for sdw-printer: usb://Brother"));
}

/// Prints `files` in one archive on the Brother and checks, file by file in
/// archive order: a brlaser job each, the kind the classifier logged, and the
/// pages CUPS counted.
fn print_and_check(files: &[(&str, &[u8], &str, u32)]) -> Run {
    let cupsd = brother();
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(n, b, _, _)| (*n, *b)).collect();
    let run = cupsd.run(&archive("printer", &entries));
    run.assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, files.len());
    let logs = cupsd.logs();
    let kinds: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("classified"))
        .filter_map(|l| l.split("kind=").nth(1))
        .map(|k| k.split_whitespace().next().unwrap_or(""))
        .collect();
    let expected_kinds: Vec<&str> = files.iter().map(|f| f.2).collect();
    assert_eq!(kinds, expected_kinds, "{logs}");
    let expected_pages: Vec<Option<u32>> = files.iter().map(|f| Some(f.3)).collect();
    assert_eq!(cupsd.logged_pages(), expected_pages, "pages CUPS counted");
    for n in 1..=files.len() {
        assert!(
            logs.contains(&format!("printing file {n} of {}", files.len())),
            "progress is logged"
        );
    }
    run
}

#[test]
fn word_processor_files_from_libreoffice_word_and_streaming_writers_print() {
    let lo = libreoffice_files();
    // LibreOffice writes each member's size after its data: the first bytes
    // alone cannot be walked (the field report's case).
    assert!(first_member_has_data_descriptor(&lo["docx"]));
    let as_word = rezip(&lo["docx"], ZipLayout::SizesFirst);
    assert!(!first_member_has_data_descriptor(&as_word));
    let streamed = rezip(&lo["odt"], ZipLayout::Streaming);
    assert!(first_member_has_data_descriptor(&streamed));
    let run = print_and_check(&[
        ("s/report.docx", &lo["docx"], "Convert(Docx)", 1),
        ("s/report-word.docx", &as_word, "Convert(Docx)", 1),
        ("s/template.dotx", &lo["dotx"], "Convert(Docx)", 1),
        ("s/old.doc", &lo["doc"], "Convert(Ole2)", 1),
        ("s/memo.rtf", &lo["rtf"], "Convert(Rtf)", 1),
        ("s/memo.odt", &lo["odt"], "Convert(OdfText)", 1),
        ("s/streamed.odt", &streamed, "Convert(OdfText)", 1),
    ]);
    eprintln!(
        "7 word processor files converted and printed in {:?}",
        run.elapsed
    );
}

#[test]
fn spreadsheets_presentations_and_drawings_print() {
    let lo = libreoffice_files();
    let streamed = rezip(&lo["xlsx"], ZipLayout::Streaming);
    let run = print_and_check(&[
        ("s/sheet.xlsx", &lo["xlsx"], "Convert(Xlsx)", 1),
        ("s/streamed.xlsx", &streamed, "Convert(Xlsx)", 1),
        ("s/sheet.ods", &lo["ods"], "Convert(OdfSpreadsheet)", 1),
        ("s/slides.pptx", &lo["pptx"], "Convert(Pptx)", 2),
        ("s/slides.odp", &lo["odp"], "Convert(OdfPresentation)", 2),
        ("s/drawing.odg", &lo["odg"], "Convert(OdfGraphics)", 2),
    ]);
    eprintln!(
        "6 spreadsheets, presentations and drawings printed in {:?}",
        run.elapsed
    );
}

#[test]
fn pdf_images_and_text_print_as_they_are() {
    let lo = libreoffice_files();
    let pdf = sdw_devices::print::testpage::pdf();
    let text: String = (1..=80).map(|n| format!("line {n}\n")).collect();
    print_and_check(&[
        ("s/letter.pdf", &pdf, "Direct(Pdf)", 1),
        ("s/photo.jpg", &lo["jpg"], "Direct(Jpeg)", 1),
        ("s/scan.png", &lo["png"], "Direct(Png)", 1),
        ("s/fax.tif", &lo["tif"], "Direct(Tiff)", 1),
        ("s/chart.gif", &lo["gif"], "Direct(Gif)", 1),
        ("s/notes.txt", text.as_bytes(), "Direct(Text)", 2),
    ]);
}

#[test]
fn webp_images_are_refused_as_unsupported() {
    let cupsd = brother();
    let webp = &libreoffice_files()["webp"];
    assert!(webp.starts_with(b"RIFF") && &webp[8..12] == b"WEBP");
    cupsd
        .run(&archive("printer", &[("photo.webp", webp)]))
        .assert_status("ERROR_MIMETYPE_UNSUPPORTED");
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn text_in_utf16_or_windows_1252_prints_its_characters() {
    let mut cupsd = Cupsd::start();
    let uri = cupsd.start_ipp_everywhere();
    cupsd.set_devices(
        "driverless",
        &[&format!(
            "network {uri} \"Test Everywhere\" \"Test Everywhere\" \"MFG:Test;MDL:Everywhere;CMD:PDF,PWG,URF;\" \"\""
        )],
    );
    cupsd.set_usb(&[
        r#"{"manufacturer":"Test","product":"Everywhere","serial":"T1","ipp_usb":true}"#,
    ]);
    // Notepad's "Unicode": UTF-16 little endian with a byte order mark.
    let mut notepad = vec![0xff, 0xfe];
    for unit in "Interview with Zoë Müller\r\nÇa va très bien.\r\n".encode_utf16() {
        notepad.extend_from_slice(&unit.to_le_bytes());
    }
    // Excel's CSV on a German Windows: Windows-1252, ';'-separated.
    let csv_text = "Name;Größe;Preis\r\nJürgen Weiß;42;10 €\r\nKöln;17;3,50 €\r\n".repeat(3);
    let (csv, _, _) = encoding_rs::WINDOWS_1252.encode(&csv_text);
    let run = cupsd.run(&archive(
        "printer",
        &[("notes.txt", &notepad), ("prices.csv", &csv)],
    ));
    run.assert_status("PRINTER_SUCCESS");
    let logs = cupsd.logs();
    assert!(logs.contains("kind=Reencode(Utf16Le)"), "{logs}");
    assert!(logs.contains("kind=Reencode(Legacy)"));
    assert!(logs.contains("from=\"windows-1252\""), "{logs}");
    // CUPS was given the text in UTF-8, and printed a page of each.
    let received = cupsd.received_documents();
    assert_eq!(received.len(), 2);
    assert_eq!(
        String::from_utf8(received[0].clone()).unwrap(),
        "Interview with Zoë Müller\r\nÇa va très bien.\r\n"
    );
    assert_eq!(String::from_utf8(received[1].clone()).unwrap(), csv_text);
    let documents = cupsd.ipp_documents();
    assert_eq!(documents.len(), 2);
    assert!(documents.iter().all(|d| d.starts_with(b"%PDF-")));
    assert_eq!(cupsd.logged_pages(), [Some(1), Some(1)]);
}

#[test]
fn a_printer_missing_from_the_table_gets_the_driver_cups_has_for_its_1284_id() {
    let cupsd = Cupsd::start();
    cupsd.set_devices("usb", &[HL_L2310D_DEVICE]);
    cupsd.set_usb(&[HL_L2310D_USB]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    let logs = cupsd.logs();
    assert!(logs.contains("driver chosen from CUPS"), "{logs}");
    assert!(logs.contains("HL-L2310D series"), "the model is logged");
    assert!(
        logs.contains("drv:///brlaser.drv/brl2300d.ppd"),
        "the driver is logged: {logs}"
    );
    assert!(logs.contains("a model of the same family"));
    let ppd = std::fs::read_to_string(cupsd.root.join("etc/ppd/sdw-printer.ppd")).unwrap();
    assert!(
        ppd.contains("brlaser") && ppd.contains("HL-L2300D"),
        "{ppd}"
    );
    cupsd
        .run(&archive("printer", &[("a.txt", b"hello HL-L2310D\n")]))
        .assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 1);

    // A model brlaser names, though the table does not: its own driver.
    let cupsd = Cupsd::start();
    cupsd.set_devices(
        "usb",
        &["direct usb://Brother/HL-2270DW%20series?serial=B1 \"Brother HL-2270DW series\" \"Brother HL-2270DW series\" \"MFG:Brother;CMD:PJL,PCL,PCLXL;MDL:HL-2270DW series;CLS:PRINTER;\" \"\""],
    );
    cupsd.set_usb(&[r#"{"manufacturer":"Brother","product":"HL-2270DW series","serial":"B1"}"#]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("PRINTER_PREFLIGHT_SUCCESS");
    let logs = cupsd.logs();
    assert!(logs.contains("drv:///brlaser.drv/br2270dw.ppd"), "{logs}");
    assert!(logs.contains("the printer's model"));

    // A Brother inkjet: brlaser drives none of its family. Still refused.
    cupsd.set_devices(
        "usb",
        &["direct usb://Brother/MFC-J491DW?serial=J1 \"Brother MFC-J491DW\" \"Brother MFC-J491DW\" \"MFG:Brother;CMD:PJL,PCL,PCLXL,URF;MDL:MFC-J491DW;CLS:PRINTER;\" \"\""],
    );
    cupsd.set_usb(&[r#"{"manufacturer":"Brother","product":"MFC-J491DW","serial":"J1"}"#]);
    cupsd
        .run(&archive("printer-preflight", &[]))
        .assert_status("ERROR_PRINTER_NOT_SUPPORTED");
    assert!(cupsd.logs().contains("CUPS has no driver for this printer"));
}

#[test]
fn sigterm_during_conversion_stops_libreoffice_and_prints_nothing() {
    let cupsd = brother();
    let lo = libreoffice_files();
    let child = cupsd.spawn(&archive(
        "printer",
        &[("a.pdf", b"%PDF-1.4\n%%EOF\n"), ("b.pptx", &lo["pptx"])],
    ));
    let pid = child.id();
    // Wait for LibreOffice to run for us, then ask us to stop.
    let started = std::time::Instant::now();
    let office = loop {
        if let Some(&office) = children_named(pid, "soffice.bin").first() {
            break office;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "LibreOffice never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    sigterm(pid);
    let run = cupsd.finish(child, std::time::Duration::from_secs(5));
    run.assert_status("ERROR_PRINT");
    assert!(!alive(office), "LibreOffice was left running");
    assert!(cupsd.logs().contains("interrupted by a signal"));
    assert!(cupsd.jobs().is_empty(), "nothing printed");
    assert!(cupsd.active_jobs().is_empty(), "nothing queued");
}

#[test]
fn sigterm_while_a_job_prints_cancels_it() {
    let cupsd = brother();
    cupsd.hang_jobs();
    let child = cupsd.spawn(&archive("printer", &[("a.txt", b"hello\n")]));
    cupsd.wait_for_log("printing file 1 of 1");
    sigterm(child.id());
    let run = cupsd.finish(child, std::time::Duration::from_secs(5));
    run.assert_status("ERROR_PRINT");
    assert!(cupsd.logs().contains("cancelling the job"));
    // The job does not print later: cupsd holds nothing.
    let started = std::time::Instant::now();
    while !cupsd.active_jobs().is_empty() {
        assert!(started.elapsed().as_secs() < 10, "{}", cupsd.active_jobs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn with_redact_what_reaches_cups_has_no_metadata() {
    use sdw_devices::redact::corpus::{self, SECRET};
    let cupsd = brother();
    let pdf = corpus::pdf();
    let jpeg = corpus::jpeg();
    let archive =
        sdw_testkit::ArchiveBuilder::with_metadata(r#"{"device":"printer","redact":true}"#)
            .dir("export_data")
            .file("export_data/memo.pdf", &pdf)
            .file("export_data/photo.jpg", &jpeg)
            .gzip();
    let run = cupsd.run(&archive);
    run.assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 2);
    let documents = cupsd.received_documents();
    assert_eq!(documents.len(), 2);
    for document in &documents {
        assert!(
            !document
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes()),
            "CUPS received the source's name"
        );
    }
    // Without redact, CUPS gets the files as they are.
    let cupsd = brother();
    let archive = sdw_testkit::ArchiveBuilder::with_metadata(r#"{"device":"printer"}"#)
        .dir("export_data")
        .file("export_data/memo.pdf", &pdf)
        .gzip();
    cupsd.run(&archive).assert_status("PRINTER_SUCCESS");
    assert_eq!(cupsd.received_documents(), [pdf]);
}

/// `metadata.json` for `printer` with these `print_options`.
fn printer_with(options: &str) -> String {
    format!(r#"{{"device":"printer","print_options":{options}}}"#)
}

/// PDF pages in a document the IPP Everywhere printer received.
fn pdf_pages(pdf: &[u8]) -> usize {
    pdf.windows(12)
        .filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's')
        .count()
}

#[test]
fn print_options_are_set_on_every_job_as_cupsd_records_them() {
    let cupsd = brother();
    let long: String = (1..=300).map(|n| format!("line {n}\n")).collect();
    let run = cupsd.run(&archive_with_metadata(
        &printer_with(
            r#"{"copies":2,"page_ranges":"2-3","sides":"two-sided-long-edge",
                "media":"iso_a4_210x297mm","color":"monochrome","orientation":"landscape"}"#,
        ),
        &[("a.txt", long.as_bytes()), ("b.txt", long.as_bytes())],
    ));
    run.assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 2);
    let attributes = cupsd.job_attributes("sdw-printer");
    for expected in [
        "copies (integer) = 2",
        "page-ranges (rangeOfInteger) = 2-3",
        "sides (keyword) = two-sided-long-edge",
        "media (keyword) = iso_a4_210x297mm",
        "print-color-mode (keyword) = monochrome",
        "orientation-requested (enum) = landscape",
    ] {
        assert_eq!(
            attributes.matches(expected).count(),
            2,
            "{expected} on both jobs:\n{attributes}"
        );
    }
    assert!(cupsd.logs().contains("print options set on every job"));
}

#[test]
fn without_print_options_jobs_get_the_queue_defaults() {
    let cupsd = brother();
    cupsd
        .run(&archive("printer", &[("a.txt", b"hello\n")]))
        .assert_status("PRINTER_SUCCESS");
    let attributes = cupsd.job_attributes("sdw-printer");
    assert!(attributes.contains("job-id (integer) = 1"), "{attributes}");
    for absent in [
        "page-ranges (",
        "orientation-requested (",
        "copies (integer) = 2",
    ] {
        assert!(!attributes.contains(absent), "{absent}:\n{attributes}");
    }
}

#[test]
fn an_option_the_printer_cannot_honour_prints_nothing() {
    let cupsd = brother();
    for (options, logged) in [
        (r#"{"media":"iso_a0_841x1189mm"}"#, "cannot honour media"),
        (
            r#"{"copies":2,"sides":"two-sided-short-edge","orientation":"portrait","media":"na_ledger_11x17in"}"#,
            "cannot honour media",
        ),
    ] {
        let run = cupsd.run(&archive_with_metadata(
            &printer_with(options),
            &[("a.txt", b"hello\n")],
        ));
        run.assert_status("ERROR_PRINT");
        assert!(cupsd.logs().contains(logged), "{options}: {}", run.log_tail);
    }
    assert!(cupsd.jobs().is_empty(), "nothing printed");
    assert!(
        !cupsd.job_attributes("sdw-printer").contains("job-id ("),
        "no job submitted"
    );
}

#[test]
fn a_bad_print_option_is_an_archive_metadata_error_before_any_printer() {
    let cupsd = brother();
    for options in [
        r#"{"copies":0}"#,
        r#"{"copies":100}"#,
        r#"{"page_ranges":"3-1"}"#,
        r#"{"pages":"1"}"#,
        r#"{"sides":"duplex"}"#,
    ] {
        cupsd
            .run(&archive_with_metadata(
                &printer_with(options),
                &[("a.txt", b"hello\n")],
            ))
            .assert_status("ERROR_ARCHIVE_METADATA");
    }
    assert!(
        cupsd.queues().is_empty(),
        "no queue set up: {}",
        cupsd.queues()
    );
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn page_ranges_apply_to_converted_office_documents_on_an_ipp_everywhere_printer() {
    let mut cupsd = Cupsd::start();
    let uri = cupsd.start_ipp_everywhere();
    cupsd.set_devices(
        "driverless",
        &[&format!(
            "network {uri} \"Test Everywhere\" \"Test Everywhere\" \"MFG:Test;MDL:Everywhere;CMD:PDF,PWG,URF;\" \"\""
        )],
    );
    cupsd.set_usb(&[
        r#"{"manufacturer":"Test","product":"Everywhere","serial":"T1","ipp_usb":true}"#,
    ]);
    let paragraphs: Vec<String> = (1..=250).map(|n| format!("paragraph {n}")).collect();
    let document = odt(&paragraphs.join("</text:p><text:p>"));
    let long: String = (1..=300).map(|n| format!("line {n}\n")).collect();
    let run = cupsd.run(&archive_with_metadata(
        &printer_with(r#"{"page_ranges":"1,3-4","copies":1}"#),
        &[("a.odt", &document), ("b.txt", long.as_bytes())],
    ));
    run.assert_status("PRINTER_SUCCESS");
    let documents = cupsd.ipp_documents();
    assert_eq!(documents.len(), 2, "one document per file");
    for document in &documents {
        assert!(document.starts_with(b"%PDF-"));
        assert_eq!(pdf_pages(document), 3, "pages 1, 3 and 4 only");
    }
    // This printer prints on one side only: two-sided is refused up front.
    let run = cupsd.run(&archive_with_metadata(
        &printer_with(r#"{"sides":"two-sided-long-edge"}"#),
        &[("a.odt", &document)],
    ));
    run.assert_status("ERROR_PRINT");
    assert!(
        cupsd.logs().contains("cannot honour sides"),
        "{}",
        run.log_tail
    );
    assert_eq!(cupsd.ipp_documents().len(), 2, "nothing more printed");
    // The same archive without options: every page.
    let run = cupsd.run(&archive("printer", &[("a.odt", &document)]));
    run.assert_status("PRINTER_SUCCESS");
    let documents = cupsd.ipp_documents();
    assert!(pdf_pages(&documents[2]) > 4, "{}", pdf_pages(&documents[2]));
}

/// `"progress": true`: a progress line on stderr as each file is handed to
/// CUPS (and as its pages are counted), then the status word last; without
/// it, stderr is the status word alone, as the existing client expects.
#[test]
fn progress_lines_come_before_the_status_only_when_asked_for() {
    use sdw_protocol::PrintProgress;
    let pdf = sdw_devices::print::testpage::pdf();
    let files: &[(&str, &[u8])] = &[
        ("secret-name-one.pdf", &pdf),
        ("secret-name-two.txt", b"notes\n"),
    ];
    let cupsd = brother();
    let run = cupsd.run(&archive_with_metadata(
        r#"{"device":"printer","progress":true}"#,
        files,
    ));
    run.assert_status("PRINTER_SUCCESS");
    assert_pjl_jobs(&cupsd, 2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let (last, before) = lines.split_last().unwrap();
    assert_eq!(*last, "PRINTER_SUCCESS");
    let progress: Vec<PrintProgress> = before
        .iter()
        .map(|line| {
            PrintProgress::parse(line.as_bytes())
                .unwrap_or_else(|| panic!("not a progress line: {line:?}"))
        })
        .collect();
    let files_started: Vec<String> = progress
        .iter()
        .filter(|p| p.pages.is_none())
        .map(|p| p.to_string())
        .collect();
    assert_eq!(files_started, ["PROGRESS 1/2", "PROGRESS 2/2"]);
    // Page counts follow the line of their own file, in order.
    let mut current = 0;
    for p in &progress {
        match p.pages {
            None => current = p.file,
            Some(_) => assert_eq!(p.file, current, "{:?}", run.stderr),
        }
    }
    assert!(!run.stderr.contains("secret-name"));
    eprintln!("stderr with progress: {:?}", run.stderr);

    // A progress value that is not true, false or null is refused before
    // any printer, with the status word alone.
    for bad in [r#""true""#, "1", "{}"] {
        let run = cupsd.run(&archive_with_metadata(
            &format!(r#"{{"device":"printer","progress":{bad}}}"#),
            files,
        ));
        run.assert_status("ERROR_ARCHIVE_METADATA");
        assert_eq!(run.stderr, "ERROR_ARCHIVE_METADATA\n");
    }
    assert_pjl_jobs(&cupsd, 2);

    let cupsd = brother();
    let run = cupsd.run(&archive_with_metadata(r#"{"device":"printer"}"#, files));
    run.assert_status("PRINTER_SUCCESS");
    assert_eq!(run.stderr, "PRINTER_SUCCESS\n");
}
