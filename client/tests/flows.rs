//! The export and print state machines against a scripted transport: each
//! transition of the protocol, what each status leads to, cancellation, and the
//! archives each step sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sdw_client::archive::NoProgress;
use sdw_client::flow::{ExportAttempt, ExportPreflight, PrintAttempt, PrintPreflight};
use sdw_client::transport::{Answer, Delivery, Transport, TransportError};
use sdw_client::{CancelToken, Client, ClientConfig};
use sdw_protocol::{Command, Metadata, Passphrase, Status};

/// What the scripted device does for one delivery.
enum Scripted {
    Say(Status),
    Fail,
    HangUntilCancelled,
}

/// One delivery as the device saw it.
#[derive(Debug)]
struct Seen {
    target: String,
    command: Command,
    members: Vec<String>,
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn new(answers: Vec<Scripted>) -> Self {
        Script {
            answers: Arc::new(Mutex::new(answers.into())),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<(String, &'static str)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| (s.target.clone(), s.command.device_value()))
            .collect()
    }
}

impl Transport for Script {
    fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cancel: &CancelToken,
    ) -> Result<Answer, TransportError> {
        let members = support::archive_members(delivery.archive);
        let command = Metadata::parse(&members["metadata.json"]).unwrap();
        assert_eq!(command.device_value(), delivery.device);
        self.seen.lock().unwrap().push(Seen {
            target: delivery.target.to_owned(),
            command,
            members: members.into_keys().collect(),
        });
        match self.answers.lock().unwrap().pop_front() {
            Some(Scripted::Say(status)) => Ok(Answer::Status(status)),
            Some(Scripted::Fail) => Err(TransportError::Failed {
                program: "fake".into(),
                code: 1,
            }),
            Some(Scripted::HangUntilCancelled) => {
                while !cancel.wait_timeout(Duration::from_secs(10)) {}
                Ok(Answer::Cancelled)
            }
            None => panic!("the device was called more often than scripted"),
        }
    }
}

struct Setup {
    script: Script,
    client: Client,
    temp_root: tempfile::TempDir,
    inputs: tempfile::TempDir,
}

fn setup(answers: Vec<Scripted>) -> Setup {
    let script = Script::new(answers);
    let temp_root = tempfile::tempdir().unwrap();
    let config = ClientConfig {
        temp_root: Some(temp_root.path().to_owned()),
        ..ClientConfig::default()
    };
    let client = Client::new(Box::new(script.clone()), config);
    Setup {
        script,
        client,
        temp_root,
        inputs: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn file(&self, name: &str) -> Vec<PathBuf> {
        vec![support::write_file(self.inputs.path(), name, b"content")]
    }

    fn assert_clean(&self) {
        assert_eq!(std::fs::read_dir(self.temp_root.path()).unwrap().count(), 0);
    }
}

fn passphrase(text: &str) -> Option<Passphrase> {
    Some(Passphrase::new(text.to_owned()))
}

fn sd_devices(device: &'static str) -> (String, &'static str) {
    ("sd-devices".to_owned(), device)
}

fn sd_printers(device: &'static str) -> (String, &'static str) {
    ("sd-printers".to_owned(), device)
}

#[test]
fn export_goes_preflight_then_disk_to_done() {
    let mut s = setup(vec![
        Scripted::Say(Status::DeviceLocked),
        Scripted::Say(Status::SuccessExport),
    ]);
    let files = s.file("memo.txt");
    let ready = match s.client.export().preflight() {
        ExportPreflight::Ready(ready) => ready,
        other => panic!("{other:?}"),
    };
    assert_eq!(ready.state().preflight_status(), Status::DeviceLocked);
    assert!(ready.state().needs_passphrase());
    match ready.export(&files, passphrase("pw"), &mut NoProgress) {
        ExportAttempt::Done(done) => {
            assert_eq!(done.state().status(), Status::SuccessExport);
            assert!(done.state().skipped().is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.script.seen(),
        [sd_devices("usb-test"), sd_devices("disk")]
    );
    let seen = s.script.seen.lock().unwrap();
    assert_eq!(
        seen[1].command,
        Command::Disk {
            passphrase: passphrase("pw")
        }
    );
    assert!(seen[1].members.contains(&"export_data/memo.txt".to_owned()));
    drop(seen);
    s.assert_clean();
}

#[test]
fn a_refused_passphrase_returns_to_drive_ready_for_another_try() {
    for refusal in [Status::ErrorUnlockLuks, Status::ErrorUnlockGeneric] {
        let mut s = setup(vec![
            Scripted::Say(Status::DeviceLocked),
            Scripted::Say(refusal),
            Scripted::Say(Status::SuccessExport),
        ]);
        let files = s.file("memo.txt");
        let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
            panic!()
        };
        let ready = match ready.export(&files, passphrase("wrong"), &mut NoProgress) {
            ExportAttempt::RetryPassphrase(ready, status) => {
                assert_eq!(status, refusal);
                ready
            }
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            ready.export(&files, passphrase("right"), &mut NoProgress),
            ExportAttempt::Done(_)
        ));
        assert_eq!(
            s.script.seen(),
            [
                sd_devices("usb-test"),
                sd_devices("disk"),
                sd_devices("disk")
            ]
        );
    }
}

#[test]
fn a_writable_drive_needs_no_passphrase() {
    let mut s = setup(vec![
        Scripted::Say(Status::DeviceWritable),
        Scripted::Say(Status::SuccessExport),
    ]);
    let files = s.file("a.pdf");
    let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
        panic!()
    };
    assert!(!ready.state().needs_passphrase());
    assert!(matches!(
        ready.export(&files, None, &mut NoProgress),
        ExportAttempt::Done(_)
    ));
}

#[test]
fn every_other_preflight_status_fails_and_can_be_retried_from_idle() {
    let not_ready = [
        Status::NoDeviceDetected,
        Status::MultiDeviceDetected,
        Status::InvalidDeviceDetected,
        Status::UnknownDeviceDetected,
        Status::DeviceError,
        Status::ErrorUsbConfiguration,
        Status::UnexpectedReturnStatus,
    ];
    for status in not_ready {
        let mut s = setup(vec![
            Scripted::Say(status),
            Scripted::Say(Status::DeviceWritable),
        ]);
        let failed = match s.client.export().preflight() {
            ExportPreflight::Failed(failed) => failed,
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(failed.state().status(), status);
        assert!(failed.state().error().is_none());
        assert!(matches!(
            failed.cancel().preflight(),
            ExportPreflight::Ready(_)
        ));
    }
}

#[test]
fn export_failures_other_than_unlock_end_in_failed() {
    for status in [
        Status::ErrorMount,
        Status::ErrorExport,
        Status::ErrorExportCleanup,
        Status::ErrorExtraction,
    ] {
        let mut s = setup(vec![
            Scripted::Say(Status::DeviceWritable),
            Scripted::Say(status),
        ]);
        let files = s.file("x");
        let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
            panic!()
        };
        match ready.export(&files, None, &mut NoProgress) {
            ExportAttempt::Failed(failed) => assert_eq!(failed.state().status(), status),
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn a_transport_failure_is_a_called_process_error_with_its_cause() {
    let mut s = setup(vec![Scripted::Fail]);
    match s.client.export().preflight() {
        ExportPreflight::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::CalledProcessError);
            assert!(failed.state().error().is_some());
        }
        other => panic!("{other:?}"),
    }
    s.assert_clean();
}

#[test]
fn missing_files_fail_the_export_without_a_disk_call() {
    let mut s = setup(vec![Scripted::Say(Status::DeviceWritable)]);
    let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
        panic!()
    };
    let missing = [PathBuf::from("/nonexistent/memo.txt")];
    match ready.export(&missing, None, &mut NoProgress) {
        ExportAttempt::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::ErrorMissingFiles)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.script.seen(), [sd_devices("usb-test")]);
}

#[test]
fn some_missing_files_are_reported_with_the_result() {
    let mut s = setup(vec![
        Scripted::Say(Status::DeviceWritable),
        Scripted::Say(Status::SuccessExport),
    ]);
    let mut files = s.file("here.txt");
    files.push(PathBuf::from("/nonexistent/gone.txt"));
    let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
        panic!()
    };
    match ready.export(&files, None, &mut NoProgress) {
        ExportAttempt::Done(done) => {
            let skipped: Vec<_> = done
                .state()
                .skipped()
                .iter()
                .map(|s| s.path.clone())
                .collect();
            assert_eq!(skipped, [PathBuf::from("/nonexistent/gone.txt")]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cancel_while_running_lands_in_idle_and_the_next_run_works() {
    let mut s = setup(vec![
        Scripted::Say(Status::DeviceWritable),
        Scripted::HangUntilCancelled,
        Scripted::Say(Status::DeviceWritable),
    ]);
    let files = s.file("x");
    let cancel = s.client.cancel_token();
    let ExportPreflight::Ready(ready) = s.client.export().preflight() else {
        panic!()
    };
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let idle = match ready.export(&files, None, &mut NoProgress) {
        ExportAttempt::Cancelled(idle) => idle,
        other => panic!("{other:?}"),
    };
    canceller.join().unwrap();
    assert!(matches!(idle.preflight(), ExportPreflight::Ready(_)));
    s.assert_clean();
}

#[test]
fn print_goes_preflight_then_printer_to_done_on_sd_printers() {
    let mut s = setup(vec![
        Scripted::Say(Status::PrinterPreflightSuccess),
        Scripted::Say(Status::PrinterSuccess),
        Scripted::Say(Status::PrinterPreflightSuccess),
        Scripted::Say(Status::PrinterTestSuccess),
    ]);
    let files = s.file("letter.pdf");
    let PrintPreflight::Ready(ready) = s.client.print().preflight() else {
        panic!()
    };
    match ready.print(&files, &mut NoProgress) {
        PrintAttempt::Done(done) => assert_eq!(done.state().status(), Status::PrinterSuccess),
        other => panic!("{other:?}"),
    }
    let PrintPreflight::Ready(ready) = s.client.print().preflight() else {
        panic!()
    };
    assert!(matches!(ready.print_test_page(), PrintAttempt::Done(_)));
    assert_eq!(
        s.script.seen(),
        [
            sd_printers("printer-preflight"),
            sd_printers("printer"),
            sd_printers("printer-preflight"),
            sd_printers("printer-test")
        ]
    );
    s.assert_clean();
}

#[test]
fn a_file_the_printer_qube_would_refuse_fails_without_a_round_trip() {
    let mut s = setup(vec![Scripted::Say(Status::PrinterPreflightSuccess)]);
    let mut files = s.file("memo.txt");
    files.push(support::write_file(
        s.inputs.path(),
        "song.mp3",
        b"ID3\x04\x00\x00\x00\x00\x00\x00audio",
    ));
    let PrintPreflight::Ready(ready) = s.client.print().preflight() else {
        panic!()
    };
    match ready.print(&files, &mut NoProgress) {
        PrintAttempt::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::ErrorUnprintableType);
            let error = failed.state().error().map(ToString::to_string);
            assert!(error.is_some_and(|e| e.contains("song.mp3")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.script.seen(), [sd_printers("printer-preflight")]);
    s.assert_clean();
}

#[test]
fn print_failures_end_in_failed() {
    let mut s = setup(vec![Scripted::Say(Status::ErrorPrinterNotFound)]);
    match s.client.print().preflight() {
        PrintPreflight::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::ErrorPrinterNotFound)
        }
        other => panic!("{other:?}"),
    }
    let mut s = setup(vec![
        Scripted::Say(Status::PrinterPreflightSuccess),
        Scripted::Say(Status::ErrorUnprintableType),
    ]);
    let files = s.file("song.mp3");
    let PrintPreflight::Ready(ready) = s.client.print().preflight() else {
        panic!()
    };
    match ready.print(&files, &mut NoProgress) {
        PrintAttempt::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::ErrorUnprintableType)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_source_name_nests_files_and_the_target_can_be_changed() {
    let script = Script::new(vec![
        Scripted::Say(Status::DeviceWritable),
        Scripted::Say(Status::SuccessExport),
    ]);
    let temp_root = tempfile::tempdir().unwrap();
    let config = ClientConfig {
        export_target: "sd-devices-dvm".into(),
        source_name: Some("furious ewok".into()),
        temp_root: Some(temp_root.path().to_owned()),
        ..ClientConfig::default()
    };
    let mut client = Client::new(Box::new(script.clone()), config);
    let inputs = tempfile::tempdir().unwrap();
    let files = vec![support::write_file(inputs.path(), "memo.txt", b"m")];
    let ExportPreflight::Ready(ready) = client.export().preflight() else {
        panic!()
    };
    assert!(matches!(
        ready.export(&files, None, &mut NoProgress),
        ExportAttempt::Done(_)
    ));
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen[1].target, "sd-devices-dvm");
    assert!(
        seen[1]
            .members
            .contains(&"export_data/furious ewok/memo.txt".to_owned()),
        "{:?}",
        seen[1].members
    );
}
