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
        .run_on_real_usb(&archive("printer-preflight", &[]))
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
    let archive = sdw_devices::testkit::ArchiveBuilder::with_metadata(r#"{"device":"printer"}"#)
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
    let broken = zip(&[("word/document.xml", b"\0\0not xml")]);
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
