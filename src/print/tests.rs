//! The status word of every print error (the mapping itself is
//! [`crate::status`]'s).

use std::time::Duration;

use super::cups::CupsError;
use super::*;

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
