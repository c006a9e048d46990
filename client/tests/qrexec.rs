//! The real qrexec transports against a fake `qrexec-client-vm`: exact
//! arguments, the archive received, no passphrase in argv or environment,
//! hostile output, hangs, timeouts, cancellation and non-zero exits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sdw_client::archive::NoProgress;
use sdw_client::flow::{ExportAttempt, ExportPreflight};
use sdw_client::transport::{ExportService, OpenInVm, Transport, TransportError};
use sdw_client::{Client, ClientConfig, Error, Reply};
use sdw_protocol::{Command, Metadata, Passphrase, Status};
use support::*;

const SECRET: &str = "correct horse battery staple";

struct Lab {
    dir: tempfile::TempDir,
    temp_root: tempfile::TempDir,
}

impl Lab {
    fn new() -> Self {
        Lab {
            dir: tempfile::tempdir().unwrap(),
            temp_root: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn client(&self, transport: Box<dyn Transport>, timeout: Option<Duration>) -> Client {
        let config = ClientConfig {
            temp_root: Some(self.temp_root.path().to_owned()),
            probe_timeout: timeout,
            transfer_timeout: timeout,
            ..ClientConfig::default()
        };
        Client::new(transport, config)
    }

    fn open_in_vm(&self, body: &str, timeout: Option<Duration>) -> Client {
        let fake = fake_qrexec(self.path(), "qrexec-client-vm", body);
        self.client(Box::new(OpenInVm::new(fake)), timeout)
    }

    fn send(&self, client: &mut Client, command: &Command) -> Result<Reply, Error> {
        client.send(command, &[], &mut NoProgress)
    }

    /// No temporary archive is left behind.
    fn assert_clean(&self) {
        let left: Vec<_> = std::fs::read_dir(self.temp_root.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

fn answered(reply: Result<Reply, Error>) -> Status {
    match reply {
        Ok(Reply::Answered { status, .. }) => status,
        other => panic!("expected a status, got {other:?}"),
    }
}

#[test]
fn open_in_vm_gets_exactly_the_protocol_arguments_and_the_archive() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm("echo 'starting' >&2; echo DEVICE_LOCKED >&2", None);
    assert_eq!(
        answered(lab.send(&mut client, &Command::UsbTest)),
        Status::DeviceLocked
    );
    let args = read_lines(&lab.path().join("args"));
    assert_eq!(
        args[..6],
        [
            "--",
            "sd-devices",
            "qubes.OpenInVM",
            "/usr/lib/qubes/qopen-in-vm",
            "--view-only",
            "--"
        ]
    );
    assert_eq!(args.len(), 7);
    assert!(args[6].ends_with(".sd-export"), "{}", args[6]);
    let members = archive_members(&lab.path().join("received.sd-export"));
    assert_eq!(members["metadata.json"], br#"{"device":"usb-test"}"#);
    lab.assert_clean();
}

#[test]
fn the_passphrase_reaches_the_archive_and_nothing_else() {
    let lab = Lab::new();
    let files = vec![write_file(lab.path(), "memo.txt", b"to export")];
    let mut client = lab.open_in_vm(
        r#"case "$(tar -xzOf "$7" metadata.json)" in
  *usb-test*) echo DEVICE_LOCKED >&2 ;;
  *) echo SUCCESS_EXPORT >&2 ;;
esac"#,
        None,
    );
    let ready = match client.export().preflight() {
        ExportPreflight::Ready(ready) => ready,
        other => panic!("{other:?}"),
    };
    assert!(ready.state().needs_passphrase());
    let passphrase = Passphrase::new(SECRET.to_owned());
    match ready.export(&files, Some(passphrase), &mut NoProgress) {
        ExportAttempt::Done(done) => assert_eq!(done.state().status(), Status::SuccessExport),
        other => panic!("{other:?}"),
    }
    let members = archive_members(&lab.path().join("received.sd-export"));
    let command = Metadata::parse(&members["metadata.json"]).unwrap();
    assert_eq!(
        command,
        Command::Disk {
            passphrase: Some(Passphrase::new(SECRET.to_owned()))
        }
    );
    assert_eq!(members["export_data/memo.txt"], b"to export");
    for record in ["args", "env"] {
        let text = std::fs::read_to_string(lab.path().join(record)).unwrap();
        assert!(
            !text.contains("horse"),
            "passphrase found in the child's {record}"
        );
    }
    lab.assert_clean();
}

#[test]
fn only_the_last_non_empty_line_counts_and_garbage_is_unexpected() {
    let cases: &[(&str, Status)] = &[
        (
            "printf 'noise\\nNO_DEVICE_DETECTED\\n\\n' >&2",
            Status::NoDeviceDetected,
        ),
        ("printf 'DEVICE_WRITABLE\\r\\n' >&2", Status::DeviceWritable),
        (
            "printf 'SUCCESS_EXPORT\\nrm -rf /\\n' >&2",
            Status::UnexpectedReturnStatus,
        ),
        (
            "printf 'ERROR_MISSING_FILES\\n' >&2",
            Status::UnexpectedReturnStatus,
        ),
        (
            "printf '\\377\\376DEVICE_LOCKED\\n' >&2",
            Status::UnexpectedReturnStatus,
        ),
        (
            "printf ' DEVICE_LOCKED\\n' >&2",
            Status::UnexpectedReturnStatus,
        ),
        ("echo DEVICE_LOCKED", Status::UnexpectedReturnStatus),
        (":", Status::UnexpectedReturnStatus),
        (
            "head -c 3000000 /dev/urandom >&2; printf '\\nPRINTER_SUCCESS\\n' >&2",
            Status::PrinterSuccess,
        ),
        (
            "head -c 3000000 /dev/zero >&2",
            Status::UnexpectedReturnStatus,
        ),
        // The word, then 5,000 empty lines: still the last non-empty line.
        (
            "printf 'noise\\nSUCCESS_EXPORT' >&2; head -c 5000 /dev/zero | tr '\\0' '\\n' >&2",
            Status::SuccessExport,
        ),
        (
            "printf 'DEVICE_LOCKED' >&2; i=0; while [ $i -lt 3000 ]; do printf '\\r\\n' >&2; i=$((i+1)); done",
            Status::DeviceLocked,
        ),
        // Garbage and a word on one line, then 4,081 newlines: not a word.
        (
            "head -c 100 /dev/zero | tr '\\0' x >&2; printf SUCCESS_EXPORT >&2; head -c 4081 /dev/zero | tr '\\0' '\\n' >&2",
            Status::UnexpectedReturnStatus,
        ),
    ];
    for (body, expected) in cases {
        let lab = Lab::new();
        let mut client = lab.open_in_vm(body, Some(Duration::from_secs(30)));
        assert_eq!(
            answered(lab.send(&mut client, &Command::UsbTest)),
            *expected,
            "{body}"
        );
        lab.assert_clean();
    }
}

#[test]
fn a_non_zero_exit_without_a_status_is_a_called_process_error() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm("echo 'Request refused' >&2; exit 126", None);
    let error = lab.send(&mut client, &Command::UsbTest).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport(TransportError::Failed { code: 126, .. })
        ),
        "{error}"
    );
    assert_eq!(Status::from(&error), Status::CalledProcessError);
    lab.assert_clean();
}

#[test]
fn a_non_zero_exit_with_a_status_keeps_the_status() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm("echo DEVICE_WRITABLE >&2; exit 1", None);
    assert_eq!(
        answered(lab.send(&mut client, &Command::UsbTest)),
        Status::DeviceWritable
    );
}

#[test]
fn a_hanging_call_times_out_and_is_killed_with_its_children() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm(
        &format!(
            "sleep 60 & echo $! > '{}/child'; wait",
            lab.path().display()
        ),
        Some(Duration::from_millis(500)),
    );
    let started = Instant::now();
    let error = lab.send(&mut client, &Command::UsbTest).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, Error::Transport(TransportError::TimedOut { .. })),
        "{error}"
    );
    assert_eq!(Status::from(&error), Status::CalledProcessError);
    for record in ["pid", "child"] {
        let pid: u32 = std::fs::read_to_string(lab.path().join(record))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(process_is_gone(pid), "{record} {pid} still running");
    }
    lab.assert_clean();
}

#[test]
fn cancelling_kills_the_call_and_the_client_can_go_again() {
    let lab = Lab::new();
    let marker = lab.path().join("second-run");
    let mut client = lab.open_in_vm(
        &format!(
            "if [ -e '{m}' ]; then echo DEVICE_WRITABLE >&2; exit 0; fi; touch '{m}'; sleep 60",
            m = marker.display()
        ),
        None,
    );
    let cancel = client.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.cancel();
    });
    let started = Instant::now();
    let flow = match client.export().preflight() {
        ExportPreflight::Cancelled(idle) => idle,
        other => panic!("expected Cancelled, got {other:?}"),
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.join().unwrap();
    let pid: u32 = std::fs::read_to_string(lab.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_is_gone(pid), "qrexec-client-vm {pid} still running");
    lab.assert_clean();
    match flow.preflight() {
        ExportPreflight::Ready(ready) => {
            assert_eq!(ready.state().preflight_status(), Status::DeviceWritable)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn output_held_open_by_a_leftover_child_does_not_hang_the_client() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm(
        &format!(
            "sleep 60 & echo $! > '{}/child'; echo PRINTER_PREFLIGHT_SUCCESS >&2; exit 0",
            lab.path().display()
        ),
        None,
    );
    let started = Instant::now();
    assert_eq!(
        answered(lab.send(&mut client, &Command::PrinterPreflight)),
        Status::PrinterPreflightSuccess
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let args = read_lines(&lab.path().join("args"));
    assert_eq!(args[1], "sd-printers");
    let pid: u32 = std::fs::read_to_string(lab.path().join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_is_gone(pid), "leftover {pid} still running");
}

#[test]
fn a_missing_qrexec_client_is_a_called_process_error() {
    let lab = Lab::new();
    let mut client = lab.client(
        Box::new(OpenInVm::new("/nonexistent/qrexec-client-vm")),
        None,
    );
    let error = lab.send(&mut client, &Command::UsbTest).unwrap_err();
    assert!(
        matches!(error, Error::Transport(TransportError::Spawn { .. })),
        "{error}"
    );
    assert_eq!(Status::from(&error), Status::CalledProcessError);
    lab.assert_clean();
}

#[test]
fn all_files_missing_never_calls_the_device() {
    let lab = Lab::new();
    let mut client = lab.open_in_vm("echo SUCCESS_EXPORT >&2", None);
    let files = vec![
        PathBuf::from("/nonexistent/one"),
        PathBuf::from("/nonexistent/two"),
    ];
    let error = client
        .send(&Command::Disk { passphrase: None }, &files, &mut NoProgress)
        .unwrap_err();
    assert_eq!(Status::from(&error), Status::ErrorMissingFiles);
    assert!(!lab.path().join("args").exists(), "the device was called");
    lab.assert_clean();
}

#[test]
fn export_service_sends_the_archive_on_stdin_and_reads_stdout() {
    let lab = Lab::new();
    let received = lab.path().join("stdin.sd-export");
    let fake = fake_qrexec(
        lab.path(),
        "qrexec-client-vm",
        &format!(
            "cat > '{}'; echo 'log noise' >&2; echo ERROR_PRINTER_NOT_FOUND >&2; echo PRINTER_TEST_SUCCESS",
            received.display()
        ),
    );
    let mut client = lab.client(Box::new(ExportService::new(fake)), None);
    let files = vec![write_file(lab.path(), "a.txt", b"print me")];
    let status = answered(client.send(&Command::PrinterTest, &files, &mut NoProgress));
    assert_eq!(status, Status::PrinterTestSuccess);
    assert_eq!(
        read_lines(&lab.path().join("args")),
        ["sd-printers", "securedrop.Export"]
    );
    let members = archive_members(&received);
    assert_eq!(members["metadata.json"], br#"{"device":"printer-test"}"#);
    lab.assert_clean();
}

#[test]
fn export_service_status_on_stderr_only_is_unexpected() {
    let lab = Lab::new();
    let fake = fake_qrexec(
        lab.path(),
        "qrexec-client-vm",
        "cat > /dev/null; echo DEVICE_LOCKED >&2",
    );
    let mut client = lab.client(Box::new(ExportService::new(fake)), None);
    assert_eq!(
        answered(lab.send(&mut client, &Command::UsbTest)),
        Status::UnexpectedReturnStatus
    );
}

#[test]
fn export_service_that_never_reads_stdin_still_finishes() {
    let lab = Lab::new();
    let fake = fake_qrexec(lab.path(), "qrexec-client-vm", "echo DEVICE_WRITABLE");
    let mut client = lab.client(
        Box::new(ExportService::new(fake)),
        Some(Duration::from_secs(20)),
    );
    let big = write_file(lab.path(), "big.bin", &vec![0x5a; 4 * 1024 * 1024]);
    let reply = client.send(&Command::Disk { passphrase: None }, &[big], &mut NoProgress);
    assert_eq!(answered(reply), Status::DeviceWritable);
    lab.assert_clean();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Whatever the fake writes on stderr, the client reads the status exactly
    /// as `Status::from_untrusted_stderr` reads the whole output.
    #[test]
    fn any_output_through_the_pipe_reads_as_the_protocol_rule(
        pieces in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                Just(b"\n".to_vec()),
                proptest::sample::select(Status::ALL).prop_map(|s| s.as_str().as_bytes().to_vec()),
                (0usize..20_000).prop_map(|n| vec![b'#'; n]),
                (0usize..6000).prop_map(|n| vec![b'\n'; n]),
            ],
            0..10,
        ),
        code in prop_oneof![Just(0), 1i32..5],
    ) {
        let output = pieces.concat();
        let lab = Lab::new();
        let said = write_file(lab.path(), "said", &output);
        let mut client = lab.open_in_vm(&format!("cat '{}' >&2; exit {code}", said.display()), None);
        let expected = Status::from_untrusted_stderr(&output);
        match lab.send(&mut client, &Command::UsbTest) {
            Ok(Reply::Answered { status, .. }) => prop_assert_eq!(status, expected),
            Err(error) => {
                prop_assert!(code != 0 && expected == Status::UnexpectedReturnStatus, "{error}");
                prop_assert_eq!(Status::from(&error), Status::CalledProcessError);
            }
            Ok(Reply::Cancelled) => prop_assert!(false, "cancelled"),
        }
        lab.assert_clean();
    }
}
