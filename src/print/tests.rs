//! Unit tests of the pure parts of the print service: pairing USB printers
//! with CUPS devices, the job template, and the status of every error.

use std::time::Duration;

use sdw_protocol::PrintOptions;

use super::cups::{Capabilities, Device, JobTemplate};
use super::detect::{is_loopback_ipp, pair, uri_serial, UsbPrinter};
use super::service::job_template;
use super::*;

fn brother_usb() -> UsbPrinter {
    UsbPrinter {
        path: "sim".into(),
        vendor_id: "04f9".into(),
        product_id: "00a0".into(),
        manufacturer: Some("Brother".into()),
        product: Some("HL-L2320D series".into()),
        serial: Some("E12345".into()),
        ipp_usb: false,
        device_id: None,
    }
}

fn device(class: &str, uri: &str, id: &str) -> Device {
    Device {
        class: class.into(),
        uri: uri.into(),
        info: String::new(),
        make_and_model: String::new(),
        device_id: id.into(),
    }
}

const BROTHER_ID: &str = "MFG:Brother;MDL:HL-L2320D series;CMD:PJL,PCL,PCLXL,URF;";

#[test]
fn pairs_a_usb_printer_with_its_cups_device_by_serial() {
    let devices = [
        device("network", "ipp://printer.example/ipp/print", BROTHER_ID),
        device(
            "direct",
            "usb://Brother/HL-L2320D%20series?serial=OTHER",
            BROTHER_ID,
        ),
        device(
            "direct",
            "usb://Brother/HL-L2320D%20series?serial=E12345",
            BROTHER_ID,
        ),
    ];
    let found = pair(&brother_usb(), &devices).unwrap();
    assert_eq!(found.uri, "usb://Brother/HL-L2320D%20series?serial=E12345");
}

#[test]
fn without_serials_pairs_by_make_and_model_and_never_a_network_printer() {
    let mut usb = brother_usb();
    usb.serial = None;
    let devices = [
        device("network", "ipp://192.0.2.7/ipp/print", BROTHER_ID),
        device("direct", "usb://Brother/HL-L2320D%20series", BROTHER_ID),
    ];
    assert_eq!(
        pair(&usb, &devices).unwrap().uri,
        "usb://Brother/HL-L2320D%20series"
    );
    assert!(pair(&usb, &devices[..1]).is_none());
    let other = [device(
        "direct",
        "usb://HP/LaserJet",
        "MFG:HP;MDL:LaserJet 1320;",
    )];
    assert!(pair(&usb, &other).is_none());
}

#[test]
fn an_ipp_over_usb_printer_prefers_its_loopback_endpoint() {
    let mut usb = brother_usb();
    usb.ipp_usb = true;
    let devices = [
        device(
            "direct",
            "usb://Brother/HL-L2320D%20series?serial=E12345",
            BROTHER_ID,
        ),
        device("network", "ipp://localhost:60000/ipp/print", BROTHER_ID),
    ];
    assert_eq!(
        pair(&usb, &devices).unwrap().uri,
        "ipp://localhost:60000/ipp/print"
    );
    // Not IPP over USB: a loopback IPP device is someone else's.
    assert_eq!(
        pair(&brother_usb(), &devices).unwrap().uri,
        "usb://Brother/HL-L2320D%20series?serial=E12345"
    );
}

#[test]
fn reads_uri_parts() {
    assert_eq!(
        uri_serial("usb://A/B?serial=X%2FY&interface=1").as_deref(),
        Some("X/Y")
    );
    assert_eq!(uri_serial("usb://A/B"), None);
    assert!(is_loopback_ipp("ipp://localhost:60000/ipp/print"));
    assert!(is_loopback_ipp("ipps://[::1]:60000/ipp/print"));
    assert!(is_loopback_ipp("ipp://127.0.0.1/ipp/print"));
    assert!(!is_loopback_ipp("ipp://localhost.evil.example/ipp/print"));
    assert!(!is_loopback_ipp("usb://localhost/x"));
}

#[test]
fn every_error_has_its_status_word() {
    let cups = || CupsError::Http {
        operation: "x",
        code: 500,
    };
    let cases: Vec<(PrintError, Status)> = vec![
        (PrintError::NotFound, Status::ErrorPrinterNotFound),
        (PrintError::Multiple(2), Status::ErrorMultiplePrintersFound),
        (PrintError::NoUri("x".into()), Status::ErrorPrinterUri),
        (PrintError::Discovery(cups()), Status::ErrorPrinterUri),
        (
            PrintError::NotSupported {
                make: "Canon".into(),
                model: "LBP2900".into(),
                reason: "CAPT".into(),
            },
            Status::ErrorPrinterNotSupported,
        ),
        (
            PrintError::DriverUnavailable {
                model: "m".into(),
                driver: "d".into(),
                package: "p".into(),
            },
            Status::ErrorPrinterDriverUnavailable,
        ),
        (PrintError::Install(cups()), Status::ErrorPrinterInstall),
        (
            PrintError::Unprintable {
                index: 0,
                kind: Refusal::Audio,
            },
            Status::ErrorUnprintableType,
        ),
        (
            PrintError::MimetypeUnsupported { index: 0 },
            Status::ErrorMimetypeUnsupported,
        ),
        (
            PrintError::JobFailed {
                job: 1,
                state: "aborted",
                reasons: String::new(),
                printer_reasons: String::new(),
            },
            Status::ErrorPrint,
        ),
        (
            PrintError::Timeout {
                job: 1,
                timeout: Duration::from_secs(1),
                printer_reasons: "media-empty".into(),
            },
            Status::ErrorPrint,
        ),
        (PrintError::Interrupted, Status::ErrorPrint),
        (
            PrintError::Reencode {
                index: 0,
                source: ConvertError::Interrupted,
            },
            Status::ErrorPrint,
        ),
        (
            PrintError::PrinterStopped {
                job: 1,
                printer_reasons: "media-empty".into(),
            },
            Status::ErrorPrint,
        ),
    ];
    for (error, status) in cases {
        let shown = error.to_string();
        assert_eq!(
            crate::status::Error::from(error).status(),
            status,
            "{shown}"
        );
    }
}

fn brother_capabilities() -> Capabilities {
    // What cupsd reports for the brlaser HL-L2320D queue.
    Capabilities {
        copies: Some((1, 9999)),
        page_ranges: true,
        sides: vec![
            "one-sided".into(),
            "two-sided-long-edge".into(),
            "two-sided-short-edge".into(),
        ],
        media: vec!["iso_a4_210x297mm".into(), "na_letter_8.5x11in".into()],
        color_modes: vec!["monochrome".into()],
        orientations: vec![3, 4, 5, 6],
    }
}

fn options(json: &str) -> PrintOptions {
    match sdw_protocol::Metadata::parse(
        format!(r#"{{"device":"printer","print_options":{json}}}"#).as_bytes(),
    ) {
        Ok(Command::Printer { options: Some(o) }) => o,
        other => panic!("{json}: {other:?}"),
    }
}

#[test]
fn a_job_template_carries_every_option_the_printer_supports() {
    let template = job_template(
        &options(
            r#"{"copies":3,"page_ranges":"1-2,5","sides":"two-sided-short-edge",
                "media":"na_letter_8.5x11in","color":"monochrome","orientation":"reverse-portrait"}"#,
        ),
        &brother_capabilities(),
    )
    .unwrap();
    assert_eq!(
        template,
        JobTemplate {
            copies: Some(3),
            page_ranges: vec![(1, 2), (5, 5)],
            sides: Some("two-sided-short-edge".into()),
            media: Some("na_letter_8.5x11in".into()),
            print_color_mode: Some("monochrome".into()),
            orientation_requested: Some(6),
        }
    );
    assert_eq!(
        job_template(&PrintOptions::default(), &Capabilities::default()).unwrap(),
        JobTemplate::default()
    );
}

#[test]
fn an_option_the_printer_does_not_list_is_refused_as_a_print_error() {
    let mono_simplex = Capabilities {
        copies: Some((1, 1)),
        page_ranges: false,
        sides: vec!["one-sided".into()],
        color_modes: vec!["color".into()],
        orientations: vec![3],
        ..brother_capabilities()
    };
    for (json, option) in [
        (r#"{"copies":2}"#, "copies"),
        (r#"{"page_ranges":"1"}"#, "page_ranges"),
        (r#"{"sides":"two-sided-long-edge"}"#, "sides"),
        (r#"{"media":"iso_a3_297x420mm"}"#, "media"),
        (r#"{"color":"monochrome"}"#, "color"),
        (r#"{"orientation":"landscape"}"#, "orientation"),
    ] {
        match job_template(&options(json), &mono_simplex) {
            Err(e @ PrintError::OptionUnsupported { option: o, .. }) if o == option => {
                assert_eq!(crate::status::Error::from(e).status(), Status::ErrorPrint)
            }
            other => panic!("{json}: {other:?}"),
        }
    }
    // auto leaves colour to the printer; one copy needs no copies-supported.
    let none = Capabilities::default();
    let template = job_template(&options(r#"{"color":"auto","copies":1}"#), &none).unwrap();
    assert_eq!(template.print_color_mode.as_deref(), Some("auto"));
    assert_eq!(template.copies, Some(1));
    assert!(job_template(&options(r#"{"copies":2}"#), &none).is_err());
}
