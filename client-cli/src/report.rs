//! What `sdw-export` says when it is done: one human message on stdout (details
//! and skipped files on stderr), or one JSON object on stdout; and the exit
//! code, one per kind of outcome so that scripts can act on it.

use std::path::Path;

use sdw_client::archive::SkippedFile;
use sdw_client::flow::{Done, Failed};
use sdw_client::messages;
use sdw_client::redaction::{Listed, Listing};
use sdw_protocol::{PrintOptions, Redaction, Status};
use sdw_redact::Outcome;

use crate::neutral::neutralise;

/// Exit codes (documented in `docs/client.md` and `--help`).
pub mod code {
    pub const SUCCESS: u8 = 0;
    pub const DEVICE_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NO_USABLE_DEVICE: u8 = 3;
    pub const PASSPHRASE: u8 = 4;
    pub const FILES: u8 = 5;
    pub const WRITTEN_NOT_LOCKED: u8 = 6;
    pub const ARCHIVE_REFUSED: u8 = 7;
    pub const UNREACHABLE: u8 = 8;
    pub const CANCELLED: u8 = 130;
}

/// The exit code for a final status.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::SuccessExport
        | Status::DeviceLocked
        | Status::DeviceWritable
        | Status::PrinterPreflightSuccess
        | Status::PrinterTestSuccess
        | Status::PrinterSuccess => code::SUCCESS,
        Status::NoDeviceDetected
        | Status::MultiDeviceDetected
        | Status::InvalidDeviceDetected
        | Status::UnknownDeviceDetected
        | Status::ErrorPrinterNotFound
        | Status::ErrorPrinterNotSupported
        | Status::ErrorMultiplePrintersFound => code::NO_USABLE_DEVICE,
        Status::ErrorUnlockLuks | Status::ErrorUnlockGeneric => code::PASSPHRASE,
        Status::ErrorMissingFiles
        | Status::ErrorUnprintableType
        | Status::ErrorMimetypeUnsupported
        | Status::ErrorMimetypeDiscovery => code::FILES,
        Status::ErrorUnmountVolumeBusy | Status::ErrorExportCleanup => code::WRITTEN_NOT_LOCKED,
        Status::ErrorFileNotFound
        | Status::ErrorExtraction
        | Status::ErrorMetadataParsing
        | Status::ErrorArchiveMetadata => code::ARCHIVE_REFUSED,
        Status::CalledProcessError | Status::UnexpectedReturnStatus => code::UNREACHABLE,
        Status::ErrorUsbConfiguration
        | Status::ErrorLogging
        | Status::ErrorGeneric
        | Status::DeviceError
        | Status::ErrorMount
        | Status::ErrorExport
        | Status::ErrorPrinterDriverUnavailable
        | Status::ErrorPrinterInstall
        | Status::ErrorPrinterUri
        | Status::ErrorPrint => code::DEVICE_FAILED,
    }
}

/// Why the client stopped before the device could finish.
#[derive(Debug)]
pub enum Stop {
    /// The device answered; its status is final.
    Answered,
    /// The user cancelled (Ctrl-C).
    Cancelled,
    /// The drive is locked and no passphrase can be had (no file, no terminal).
    PassphraseMissing,
    /// The passphrase file could not be read.
    PassphraseUnreadable(String),
    /// `--redact=strict`, and a file would not be redacted: nothing was sent.
    RedactionRefused(String),
}

/// The outcome of one `sdw-export` run.
#[derive(Debug)]
pub struct Report {
    pub operation: &'static str,
    pub status: Status,
    pub preflight: Option<Status>,
    pub skipped: Vec<SkippedFile>,
    pub detail: Option<String>,
    pub stop: Stop,
    /// The redaction asked for (`--redact`).
    pub redact: Option<Redaction>,
    /// What that redaction does to each file, computed here with the device
    /// side's code (`None`: not computed, e.g. no file could be read).
    pub redaction: Option<Listing>,
    /// `print FILE...` only: the print options sent (`Some(None)`: none, the
    /// printer's defaults).
    pub print_options: Option<Option<PrintOptions>>,
}

/// Where the device side's own per-file redaction record is: the protocol
/// answers one status word, so the list the device side made stays on the
/// drive (or with the printer qube's log), beside `export_data/`. `--json`'s
/// `files` is the same code's list, computed here ([`COMPUTED_BY`]).
pub const REDACTION_REPORT_LOCATION: &str =
    "REDACTION.txt beside export_data/ in the export folder on the drive";

impl Report {
    pub fn new(operation: &'static str, status: Status) -> Self {
        Report {
            operation,
            status,
            preflight: None,
            skipped: Vec::new(),
            detail: None,
            stop: Stop::Answered,
            redact: None,
            redaction: None,
            print_options: None,
        }
    }

    pub fn done(operation: &'static str, done: &Done) -> Self {
        Report {
            skipped: done.skipped().to_vec(),
            ..Report::new(operation, done.status())
        }
    }

    pub fn failed(operation: &'static str, failed: &Failed) -> Self {
        Report {
            skipped: failed.skipped().to_vec(),
            detail: failed.error().map(|e| e.to_string()),
            ..Report::new(operation, failed.status())
        }
    }

    /// Cancelled: the device call was killed, so the closest word is
    /// `CALLED_PROCESS_ERROR`; `"cancelled": true` and exit 130 tell it apart.
    pub fn cancelled(operation: &'static str) -> Self {
        Report {
            stop: Stop::Cancelled,
            ..Report::new(operation, Status::CalledProcessError)
        }
    }

    pub fn with_preflight(mut self, preflight: Status) -> Self {
        self.preflight = Some(preflight);
        self
    }

    pub fn exit_code(&self) -> u8 {
        match self.stop {
            Stop::Answered => exit_code(self.status),
            Stop::Cancelled => code::CANCELLED,
            Stop::PassphraseMissing => code::PASSPHRASE,
            Stop::PassphraseUnreadable(_) => code::USAGE,
            Stop::RedactionRefused(_) => code::FILES,
        }
    }

    pub fn message(&self) -> &'static str {
        match self.stop {
            Stop::Answered => messages::for_status(self.status),
            Stop::Cancelled => "Cancelled. Nothing more was sent to the device qube.",
            Stop::PassphraseMissing => "The export drive is locked. Give its passphrase with --passphrase-file FILE, or run sdw-export on a terminal to be asked for it.",
            Stop::PassphraseUnreadable(_) => "The passphrase file could not be read. Check the path given to --passphrase-file.",
            Stop::RedactionRefused(_) => "Nothing was sent: with --redact=strict every file must be redactable, and one is not (see the details). Leave that file out, or export with --redact to send it unchanged and flagged.",
        }
    }

    fn detail(&self) -> Option<&str> {
        match &self.stop {
            Stop::PassphraseUnreadable(why) | Stop::RedactionRefused(why) => Some(why),
            _ => self.detail.as_deref(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let skipped: Vec<serde_json::Value> = self
            .skipped
            .iter()
            .map(|s| serde_json::json!({"path": shown(&s.path), "reason": s.reason.as_str()}))
            .collect();
        let mut json = serde_json::json!({
            "operation": self.operation,
            "status": self.status.as_str(),
            "message": self.message(),
            "exit_code": self.exit_code(),
            "preflight": self.preflight.map(Status::as_str),
            "cancelled": matches!(self.stop, Stop::Cancelled),
            "skipped_files": skipped,
            "error": self.detail(),
            "redaction": self.redact.map(|mode| serde_json::json!({
                "mode": mode.name(),
                "files": self.redaction.as_ref().map(|listing| {
                    listing.files.iter().map(listed_json).collect::<Vec<_>>()
                }),
                "files_not_listed": self.redaction.as_ref().map(|listing| listing.omitted),
                "computed_by": COMPUTED_BY,
                "sdw_redact_version": sdw_redact::VERSION,
                "report": REDACTION_REPORT_LOCATION,
            })),
        });
        if let (Some(options), Some(object)) = (&self.print_options, json.as_object_mut()) {
            let options = serde_json::to_value(options).unwrap_or(serde_json::Value::Null);
            object.insert("print_options".into(), options);
        }
        json
    }

    /// Writes the report: JSON on stdout, or the message on stdout and the
    /// rest on stderr, with untrusted text (file names, error details)
    /// neutralised.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json());
            return;
        }
        for skipped in &self.skipped {
            eprintln!(
                "sdw-export: skipped {} ({})",
                neutralise(&shown(&skipped.path)),
                skipped.reason
            );
        }
        if let Some(detail) = self.detail() {
            eprintln!("sdw-export: {}", neutralise(detail));
        }
        if let Some(listing) = &self.redaction {
            for listed in listing.not_redacted() {
                if let Outcome::NotRedacted { reason } = &listed.report.outcome {
                    eprintln!(
                        "sdw-export: {} will not be redacted ({}): {}",
                        neutralise(&shown(&listed.file)),
                        listed.report.kind.name(),
                        neutralise(reason)
                    );
                }
            }
        }
        println!("{}", self.message());
        if self.redact.is_some() && self.status == Status::SuccessExport {
            println!("What was redacted in each file: {REDACTION_REPORT_LOCATION}.");
        }
    }
}

/// Who made the `files` list of `--json`'s `redaction`.
pub const COMPUTED_BY: &str = "client";

/// One file of the redaction list, as `--json` carries it: the fields of its
/// `REDACTION.txt` entry.
fn listed_json(listed: &Listed) -> serde_json::Value {
    let report = &listed.report;
    let (outcome, removed, kept, checked, reason): (_, &[String], &[String], _, _) =
        match &report.outcome {
            Outcome::Redacted {
                removed,
                kept,
                checked,
            } => ("redacted", removed, kept, Some(checked), None),
            Outcome::NothingFound { kept } => ("no metadata found", &[], kept, None, None),
            Outcome::NoMetadataFormat => ("format without metadata", &[], &[], None, None),
            Outcome::NotRedacted { reason } => ("NOT REDACTED", &[], &[], None, Some(reason)),
        };
    serde_json::json!({
        "file": shown(&listed.file),
        "path": format!("{}/{}", sdw_protocol::layout::EXPORT_DATA_DIR, report.path),
        "kind": report.kind.name(),
        "outcome": outcome,
        "removed": removed,
        "kept": kept,
        "checked": checked,
        "reason": reason,
    })
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successes_exit_zero() {
        for &status in Status::ALL {
            let zero = exit_code(status) == code::SUCCESS;
            assert_eq!(zero, status.is_success(), "{status}");
        }
    }

    #[test]
    fn json_always_carries_the_status_word() {
        let report = Report::cancelled("disk");
        let json = report.to_json();
        assert_eq!(json["status"], "CALLED_PROCESS_ERROR");
        assert_eq!(json["cancelled"], true);
        assert_eq!(json["exit_code"], 130);
        let json = Report::new("preflight", Status::NoDeviceDetected).to_json();
        assert_eq!(json["status"], "NO_DEVICE_DETECTED");
        assert_eq!(json["exit_code"], 3);
        assert_eq!(json["redaction"], serde_json::Value::Null);
    }

    #[test]
    fn json_says_where_the_redaction_list_is() {
        let report = Report {
            redact: Some(Redaction::Strict),
            ..Report::new("disk", Status::SuccessExport)
        };
        let json = report.to_json();
        assert_eq!(json["redaction"]["mode"], "strict");
        // No list computed (e.g. no file could be read): null, never [].
        assert_eq!(json["redaction"]["files"], serde_json::Value::Null);
        assert_eq!(json["redaction"]["computed_by"], "client");
        assert_eq!(json["redaction"]["sdw_redact_version"], sdw_redact::VERSION);
        assert!(json["redaction"]["report"]
            .as_str()
            .is_some_and(|r| r.contains("REDACTION.txt")));
    }
}
