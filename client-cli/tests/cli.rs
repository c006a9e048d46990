//! `sdw-export` as a script would run it: JSON on stdout, exit codes, the
//! passphrase from a file only into the archive, the qrexec program from
//! `--qrexec` or `SDW_QREXEC`, Ctrl-C, and the local device side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../client/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sdw_protocol::{Metadata, Passphrase};
use support::*;

const SDW_EXPORT: &str = env!("CARGO_BIN_EXE_sdw-export");

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        let run = Run {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(run.tmp()).unwrap();
        run
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// A fake qrexec-client-vm answering `usb-test` with `probe` and anything
    /// else with `answer` (both written to stderr, with some noise first).
    fn fake(&self, probe: &str, answer: &str) -> PathBuf {
        fake_qrexec(
            self.path(),
            "qrexec-client-vm",
            &format!(
                r#"echo "$(tar -xzOf "$7" metadata.json)" >> '{log}/calls'
case "$(tar -xzOf "$7" metadata.json)" in
  *usb-test*|*printer-preflight*) echo noise >&2; echo {probe} >&2 ;;
  *) echo noise >&2; echo {answer} >&2 ;;
esac"#,
                log = self.path().display()
            ),
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(SDW_EXPORT);
        command
            .args(args)
            .env("TMPDIR", self.tmp())
            .env_remove("SDW_QREXEC")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert_eq!(
            std::fs::read_dir(self.tmp()).unwrap().count(),
            0,
            "temporary files left"
        );
        output
    }

    fn calls(&self) -> Vec<String> {
        match std::fs::read_to_string(self.path().join("calls")) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn file(&self, name: &str) -> String {
        write_file(self.path(), name, b"content")
            .display()
            .to_string()
    }
}

fn json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "not one line of JSON: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn preflight_reports_the_status_as_json_with_options_on_either_side() {
    let run = Run::new();
    let fake = run.fake("DEVICE_LOCKED", "SUCCESS_EXPORT");
    let fake = fake.to_str().unwrap();
    for args in [
        &["--json", "--qrexec", fake, "preflight"][..],
        &["preflight", "--qrexec", fake, "--json"],
    ] {
        let output = run.run(args);
        assert_eq!(code(&output), 0);
        let report = json(&output);
        assert_eq!(report["status"], "DEVICE_LOCKED");
        assert_eq!(report["exit_code"], 0);
    }
    assert_eq!(read_lines(&run.path().join("args"))[1], "sd-devices");
}

#[test]
fn the_qrexec_program_comes_from_sdw_qrexec_and_the_target_can_be_set() {
    let run = Run::new();
    let fake = run.fake("NO_DEVICE_DETECTED", "x");
    let output = run
        .command(&["preflight", "--target", "sd-devices-2"])
        .env("SDW_QREXEC", &fake)
        .output()
        .unwrap();
    assert_eq!(code(&output), 3);
    assert!(String::from_utf8_lossy(&output.stdout).contains("Plug in one encrypted export drive"));
    assert_eq!(read_lines(&run.path().join("args"))[1], "sd-devices-2");
}

#[test]
fn disk_sends_the_passphrase_file_only_inside_the_archive() {
    let run = Run::new();
    let fake = run.fake("DEVICE_LOCKED", "SUCCESS_EXPORT");
    let secret = write_file(run.path(), "passphrase", b"correct horse battery staple\n");
    let memo = run.file("memo.txt");
    let output = run.run(&[
        "disk",
        "--json",
        "--qrexec",
        fake.to_str().unwrap(),
        "--passphrase-file",
        secret.to_str().unwrap(),
        &memo,
        "/nonexistent/gone.txt",
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    assert_eq!(report["status"], "SUCCESS_EXPORT");
    assert_eq!(report["preflight"], "DEVICE_LOCKED");
    assert_eq!(report["skipped_files"][0]["path"], "/nonexistent/gone.txt");
    assert_eq!(report["skipped_files"][0]["reason"], "missing");
    let members = archive_members(&run.path().join("received.sd-export"));
    assert_eq!(
        Metadata::parse(&members["metadata.json"]).unwrap(),
        sdw_protocol::Command::Disk {
            passphrase: Some(Passphrase::new("correct horse battery staple".into()))
        }
    );
    assert_eq!(members["export_data/memo.txt"], b"content");
    for record in ["args", "env"] {
        let text = std::fs::read_to_string(run.path().join(record)).unwrap();
        assert!(
            !text.contains("horse"),
            "passphrase in the child's {record}"
        );
    }
    assert!(!String::from_utf8_lossy(&output.stderr).contains("horse"));
}

#[test]
fn the_passphrase_can_come_from_stdin() {
    use std::io::Write;
    let run = Run::new();
    let fake = run.fake("DEVICE_LOCKED", "SUCCESS_EXPORT");
    let memo = run.file("memo.txt");
    let mut child = run
        .command(&[
            "--json",
            "--qrexec",
            fake.to_str().unwrap(),
            "disk",
            "--passphrase-file",
            "-",
            &memo,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0);
    assert_eq!(
        run.calls()[1],
        r#"{"device":"disk","encryption_key":"from stdin"}"#
    );
}

#[test]
fn a_locked_drive_without_a_passphrase_source_stops_after_the_preflight() {
    let run = Run::new();
    let fake = run.fake("DEVICE_LOCKED", "SUCCESS_EXPORT");
    let memo = run.file("memo.txt");
    let output = run.run(&["--json", "--qrexec", fake.to_str().unwrap(), "disk", &memo]);
    assert_eq!(code(&output), 4);
    assert_eq!(json(&output)["status"], "DEVICE_LOCKED");
    assert_eq!(run.calls(), [r#"{"device":"usb-test"}"#]);
}

#[test]
fn a_refused_passphrase_from_a_file_is_not_retried() {
    let run = Run::new();
    let fake = run.fake("DEVICE_LOCKED", "ERROR_UNLOCK_LUKS");
    let secret = write_file(run.path(), "passphrase", b"wrong");
    let memo = run.file("memo.txt");
    let output = run.run(&[
        "--qrexec",
        fake.to_str().unwrap(),
        "disk",
        "--passphrase-file",
        secret.to_str().unwrap(),
        &memo,
    ]);
    assert_eq!(code(&output), 4);
    assert!(String::from_utf8_lossy(&output.stdout).contains("passphrase was not accepted"));
    assert_eq!(run.calls().len(), 2);
}

#[test]
fn a_writable_drive_needs_no_passphrase() {
    let run = Run::new();
    let fake = run.fake("DEVICE_WRITABLE", "SUCCESS_EXPORT");
    let memo = run.file("memo.txt");
    let output = run.run(&["--json", "--qrexec", fake.to_str().unwrap(), "disk", &memo]);
    assert_eq!(code(&output), 0);
    assert_eq!(run.calls()[1], r#"{"device":"disk"}"#);
}

#[test]
fn missing_files_fail_before_any_call() {
    let run = Run::new();
    let fake = run.fake("DEVICE_WRITABLE", "SUCCESS_EXPORT");
    for operation in ["disk", "print"] {
        let output = run.run(&[
            "--json",
            "--qrexec",
            fake.to_str().unwrap(),
            operation,
            "/nonexistent/a",
            "/nonexistent/b",
        ]);
        assert_eq!(code(&output), 5);
        let report = json(&output);
        assert_eq!(report["status"], "ERROR_MISSING_FILES");
        assert_eq!(report["skipped_files"].as_array().map(Vec::len), Some(2));
    }
    assert!(run.calls().is_empty());
}

#[test]
fn unprintable_files_are_refused_at_once_without_asking_for_a_printer() {
    let run = Run::new();
    let fake = run.fake("PRINTER_PREFLIGHT_SUCCESS", "PRINTER_SUCCESS");
    let fake = fake.to_str().unwrap();
    let song = write_file(
        run.path(),
        "song.mp3",
        b"ID3\x04\x00\x00\x00\x00\x00\x00audio",
    );
    let song = song.to_str().unwrap();
    let memo = run.file("memo.txt");
    let blob = write_file(run.path(), "blob.bin", b"\x00\x01\x02\xff\xfe binary");
    let blob = blob.to_str().unwrap();
    let cases = [
        (vec![song], "ERROR_UNPRINTABLE_TYPE", "song.mp3"),
        (vec![&memo, song], "ERROR_UNPRINTABLE_TYPE", "song.mp3"),
        (vec![blob], "ERROR_MIMETYPE_UNSUPPORTED", "blob.bin"),
    ];
    for (files, status, named) in cases {
        let mut args = vec!["--json", "--qrexec", fake, "print"];
        args.extend(&files);
        let started = Instant::now();
        let output = run.run(&args);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(code(&output), 5, "{files:?}");
        let report = json(&output);
        assert_eq!(report["status"], status, "{files:?}");
        assert_eq!(report["preflight"], serde_json::Value::Null);
        assert!(
            report["error"].as_str().unwrap().contains(named),
            "{report}"
        );
    }
    let output = run.run(&["--qrexec", fake, "print", song]);
    assert_eq!(code(&output), 5);
    assert!(String::from_utf8_lossy(&output.stdout).contains("could not be printed"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("song.mp3"));
    assert!(
        run.calls().is_empty(),
        "a printer was asked for: {:?}",
        run.calls()
    );
}

/// What a terminal would act on: ESC, CR, BEL, the 8-bit CSI and the
/// right-to-left override.
fn assert_inert(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    for c in ['\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}'] {
        assert!(!text.contains(c), "{what} carries {c:?}: {text:?}");
    }
}

#[test]
fn untrusted_text_is_neutralised_in_plain_mode() {
    let run = Run::new();
    // The device side says hostile things before its word, in both calls.
    let fake = fake_qrexec(
        run.path(),
        "qrexec-client-vm",
        r#"printf '\033[2J\033]0;pwned\007\rfake line\342\200\256gnp.exe\302\233\n' >&2
case "$(tar -xzOf "$7" metadata.json)" in
  *usb-test*) echo DEVICE_WRITABLE >&2 ;;
  *) echo SUCCESS_EXPORT >&2 ;;
esac"#,
    );
    let fake = fake.to_str().unwrap();
    let hostile = run
        .path()
        .join("\u{1b}[31mred\rinvoice\u{202e}fdp.exe")
        .display()
        .to_string();
    let persian = run
        .path()
        .join("گزارش\u{200c}نهایی.pdf")
        .display()
        .to_string();
    let memo = run.file("memo.txt");
    let output = run.run(&["-vv", "--qrexec", fake, "disk", &hostile, &persian, &memo]);
    assert_eq!(code(&output), 0);
    assert_inert(&output.stdout, "stdout");
    assert_inert(&output.stderr, "stderr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r"\u{1b}[31mred\rinvoice\u{202e}fdp.exe (missing)"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{persian} (missing)")), "{stderr}");
    assert!(
        stderr.contains("pwned"),
        "the device output was not logged: {stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("The files were exported"));

    // An error detail that carries an untrusted path.
    let missing_qrexec = run.path().join("\u{1b}[2Jqrexec\u{202e}");
    let output = run.run(&["--qrexec", missing_qrexec.to_str().unwrap(), "preflight"]);
    assert_eq!(code(&output), 8);
    assert_inert(&output.stdout, "stdout");
    assert_inert(&output.stderr, "stderr");
    assert!(String::from_utf8_lossy(&output.stderr).contains("qrexec"));
}

#[test]
fn exit_codes_follow_the_status() {
    let cases = [
        ("preflight", "NO_DEVICE_DETECTED", "x", 3),
        ("preflight", "MULTI_DEVICE_DETECTED", "x", 3),
        ("preflight", "DEVICE_ERROR", "x", 1),
        ("preflight", "ERROR_EXTRACTION", "x", 7),
        ("preflight", "garbage", "x", 8),
        ("disk", "DEVICE_WRITABLE", "ERROR_EXPORT", 1),
        ("disk", "DEVICE_WRITABLE", "ERROR_UNMOUNT_VOLUME_BUSY", 6),
        ("print-preflight", "PRINTER_PREFLIGHT_SUCCESS", "x", 0),
        ("print-preflight", "ERROR_PRINTER_NOT_FOUND", "x", 3),
        (
            "print-test",
            "PRINTER_PREFLIGHT_SUCCESS",
            "PRINTER_TEST_SUCCESS",
            0,
        ),
        (
            "print",
            "PRINTER_PREFLIGHT_SUCCESS",
            "ERROR_UNPRINTABLE_TYPE",
            5,
        ),
        ("print", "PRINTER_PREFLIGHT_SUCCESS", "PRINTER_SUCCESS", 0),
    ];
    for (operation, probe, answer, expected) in cases {
        let run = Run::new();
        let fake = run.fake(probe, answer);
        let memo = run.file("memo.txt");
        let mut args = vec!["--json", "--qrexec", fake.to_str().unwrap(), operation];
        if matches!(operation, "disk" | "print") {
            args.push(&memo);
        }
        let output = run.run(&args);
        assert_eq!(code(&output), expected, "{operation} {probe} {answer}");
        let report = json(&output);
        assert_eq!(report["exit_code"], expected);
        if probe == "garbage" {
            assert_eq!(report["status"], "UNEXPECTED_RETURN_STATUS");
        }
    }
}

#[test]
fn a_failing_or_hanging_qrexec_call_is_a_called_process_error() {
    let run = Run::new();
    let refused = fake_qrexec(
        run.path(),
        "refused",
        "echo 'Request refused' >&2; exit 126",
    );
    let output = run.run(&["--json", "--qrexec", refused.to_str().unwrap(), "preflight"]);
    assert_eq!(code(&output), 8);
    let report = json(&output);
    assert_eq!(report["status"], "CALLED_PROCESS_ERROR");
    assert!(
        report["error"].as_str().unwrap_or_default().contains("126"),
        "{report}"
    );

    let hanging = fake_qrexec(run.path(), "hanging", "sleep 60");
    let started = Instant::now();
    let output = run.run(&[
        "--json",
        "--timeout",
        "1",
        "--qrexec",
        hanging.to_str().unwrap(),
        "print-test",
    ]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(code(&output), 8);
    assert_eq!(json(&output)["status"], "CALLED_PROCESS_ERROR");
    let pid: u32 = std::fs::read_to_string(run.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_is_gone(pid));
}

#[test]
fn ctrl_c_kills_the_call_removes_the_archive_and_exits_130() {
    let run = Run::new();
    let marker = run.path().join("started");
    let hanging = fake_qrexec(
        run.path(),
        "hanging",
        &format!("touch '{}'; sleep 60", marker.display()),
    );
    let child = run
        .command(&["--json", "--qrexec", hanging.to_str().unwrap(), "preflight"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marker.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(marker.exists(), "the fake never started");
    assert_eq!(
        std::fs::read_dir(run.tmp()).unwrap().count(),
        1,
        "no archive while running?"
    );
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 130);
    let report = json(&output);
    assert_eq!(report["cancelled"], true);
    assert_eq!(
        std::fs::read_dir(run.tmp()).unwrap().count(),
        0,
        "archive left behind"
    );
    let fake_pid: u32 = std::fs::read_to_string(run.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_is_gone(fake_pid));
}

#[test]
fn service_mode_calls_securedrop_export() {
    let run = Run::new();
    let fake = fake_qrexec(
        run.path(),
        "qrexec-client-vm",
        "cat > /dev/null; echo PRINTER_PREFLIGHT_SUCCESS",
    );
    let output = run.run(&[
        "--service",
        "--qrexec",
        fake.to_str().unwrap(),
        "print-preflight",
    ]);
    assert_eq!(code(&output), 0);
    assert_eq!(
        read_lines(&run.path().join("args")),
        ["sd-printers", "securedrop.Export"]
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "The printer is ready."
    );
}

#[test]
fn local_device_side_end_to_end() {
    let run = Run::new();
    let Some(device) = device_in(run.path()) else {
        return;
    };
    let device = device.to_str().unwrap();
    let output = run.run(&["--json", "--local", device, "preflight"]);
    assert_eq!(
        (code(&output), json(&output)["status"].clone()),
        (3, "NO_DEVICE_DETECTED".into())
    );
    let output = run.run(&["--json", "--local", device, "print-test"]);
    assert_eq!(
        (code(&output), json(&output)["status"].clone()),
        (3, "ERROR_PRINTER_NOT_FOUND".into())
    );

    let drive = run.path().join("drive");
    std::fs::create_dir(&drive).unwrap();
    let memo = run.file("memo.txt");
    let output = run.run(&[
        "disk",
        "--local",
        device,
        "--to",
        drive.to_str().unwrap(),
        "--source-name",
        "Jane Doe",
        &memo,
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "The files were exported. You can unplug the drive."
    );
    let folder = only_export_folder(&drive);
    assert_eq!(
        std::fs::read(folder.join("export_data/Jane Doe/memo.txt")).unwrap(),
        b"content"
    );
}

#[test]
fn print_options_go_into_metadata_and_the_json_report() {
    let run = Run::new();
    let fake = run.fake("PRINTER_PREFLIGHT_SUCCESS", "PRINTER_SUCCESS");
    let fake = fake.to_str().unwrap();
    let pdf = write_file(run.path(), "a.pdf", b"%PDF-1.4\n%%EOF\n");
    let output = run.run(&[
        "--json",
        "--qrexec",
        fake,
        "print",
        "--copies",
        "2",
        "--pages",
        "1-3, 7",
        "--sides",
        "two-sided-long-edge",
        "--media",
        "iso_a4_210x297mm",
        "--monochrome",
        "--orientation",
        "landscape",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = serde_json::json!({"copies": 2, "page_ranges": "1-3,7",
        "sides": "two-sided-long-edge", "media": "iso_a4_210x297mm",
        "color": "monochrome", "orientation": "landscape"});
    let report = json(&output);
    assert_eq!(report["status"], "PRINTER_SUCCESS");
    assert_eq!(report["print_options"], expected);
    let members = archive_members(&run.path().join("received.sd-export"));
    let metadata: serde_json::Value = serde_json::from_slice(&members["metadata.json"]).unwrap();
    assert_eq!(
        metadata,
        serde_json::json!({"device": "printer", "print_options": expected})
    );

    // Without options: no print_options key, as the existing client sends.
    let output = run.run(&["--json", "--qrexec", fake, "print", pdf.to_str().unwrap()]);
    assert_eq!(json(&output)["print_options"], serde_json::Value::Null);
    let members = archive_members(&run.path().join("received.sd-export"));
    assert_eq!(&members["metadata.json"][..], br#"{"device":"printer"}"#);

    // A bad option is a usage error before any call.
    let calls = run.calls().len();
    let output = run.run(&[
        "--qrexec",
        fake,
        "print",
        "--copies",
        "100",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("copies must be 1 to 99"));
    assert_eq!(run.calls().len(), calls);
}

/// A `REDACTION.txt` entry, written here from one file of `--json`'s
/// `redaction.files` (the format of docs/redaction.md).
fn redaction_entry(file: &serde_json::Value) -> String {
    let text = |key: &str| file[key].as_str().unwrap_or_default().to_owned();
    let lines = |key: &str, label: &str| -> String {
        file[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| format!("  {label}: {}\n", line.as_str().unwrap()))
            .collect()
    };
    let (path, kind) = (text("path"), text("kind"));
    let body = match text("outcome").as_str() {
        "redacted" => format!(
            "  {kind}: redacted\n{}{}  checked: {}\n",
            lines("removed", "removed"),
            lines("kept", "kept"),
            text("checked")
        ),
        "no metadata found" => format!(
            "  {kind}: no metadata found; written unchanged\n{}",
            lines("kept", "kept")
        ),
        "format without metadata" => {
            format!("  {kind}: this format holds no metadata; written unchanged\n")
        }
        "NOT REDACTED" => format!(
            "  {kind}: NOT REDACTED, written unchanged: {}\n",
            text("reason")
        ),
        other => panic!("unknown outcome {other}"),
    };
    format!("{path}\n{body}")
}

#[test]
fn redact_json_lists_what_the_device_writes_in_redaction_txt() {
    let run = Run::new();
    let Some(device) = device_in(run.path()) else {
        return;
    };
    let device = device.to_str().unwrap();
    let inputs = run.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let mut files: Vec<String> = sdw_redact::corpus::all()
        .iter()
        .map(|sample| {
            let path = write_file(&inputs, sample.name, &sample.bytes);
            path.to_str().unwrap().to_owned()
        })
        .collect();
    // Two more: one without metadata, one that is not redacted.
    files.push(run.file("notes.txt"));
    let gif = write_file(&inputs, "anim.gif", b"GIF89a\x01\0\x01\0JaneSource");
    files.push(gif.to_str().unwrap().to_owned());

    let drive = run.path().join("drive");
    std::fs::create_dir(&drive).unwrap();
    let mut args = vec![
        "--json",
        "disk",
        "--redact",
        "--local",
        device,
        "--to",
        drive.to_str().unwrap(),
        "--source-name",
        "Desk",
    ];
    args.extend(files.iter().map(String::as_str));
    let output = run.run(&args);
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    let redaction = &report["redaction"];
    assert_eq!(redaction["mode"], "redact");
    assert_eq!(redaction["computed_by"], "client");
    assert_eq!(redaction["sdw_redact_version"], sdw_redact::VERSION);
    assert_eq!(redaction["files_not_listed"], 0);
    let listed = redaction["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len());
    for (entry, file) in listed.iter().zip(&files) {
        assert_eq!(entry["file"], file.as_str());
    }
    assert!(
        !redaction.to_string().contains("JaneSource"),
        "the list carries a value: {redaction}"
    );
    let photo = &listed[0];
    assert_eq!(photo["path"], "export_data/Desk/photo.jpg");
    assert_eq!(photo["outcome"], "redacted");
    assert!(photo["removed"][0]
        .as_str()
        .unwrap()
        .contains("GPSLatitude"));
    assert_eq!(listed[files.len() - 1]["outcome"], "NOT REDACTED");

    // The device's own record, on the drive: the same list, entry by entry.
    let folder = only_export_folder(&drive);
    let written = std::fs::read_to_string(folder.join("REDACTION.txt")).unwrap();
    assert!(
        written.contains(&format!("Made by sdw-redact {}.", sdw_redact::VERSION)),
        "{written}"
    );
    let (_, entries) = written.split_once("\n\n").unwrap();
    let from_json: String = listed.iter().map(redaction_entry).collect();
    assert_eq!(from_json, entries);

    // Strict, with the GIF: refused here, before any device call.
    let drive = run.path().join("strict-drive");
    std::fs::create_dir(&drive).unwrap();
    let mut args = vec![
        "--json",
        "disk",
        "--redact=strict",
        "--local",
        device,
        "--to",
        drive.to_str().unwrap(),
    ];
    args.extend(files.iter().map(String::as_str));
    let output = run.run(&args);
    assert_eq!(code(&output), 5);
    let report = json(&output);
    assert_eq!(report["status"], "ERROR_EXPORT");
    assert!(report["message"]
        .as_str()
        .unwrap()
        .starts_with("Nothing was sent"));
    assert!(
        report["error"].as_str().unwrap().contains("anim.gif"),
        "{report}"
    );
    assert_eq!(std::fs::read_dir(&drive).unwrap().count(), 0);

    // In plain mode the file that is not redacted is named on stderr.
    let drive = run.path().join("plain-drive");
    std::fs::create_dir(&drive).unwrap();
    let output = run.run(&[
        "disk",
        "--redact",
        "--local",
        device,
        "--to",
        drive.to_str().unwrap(),
        gif.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("anim.gif will not be redacted (GIF): this format is not redacted"),
        "{stderr}"
    );
}

/// `print` without `--json` asks for progress and shows it on stderr (numbers
/// only; a malformed line is not shown); with `--json` the metadata stays
/// what the existing client sends and stderr shows no progress.
#[test]
fn print_shows_the_device_sides_progress_on_stderr_unless_json() {
    let run = Run::new();
    let fake = fake_qrexec(
        run.path(),
        "qrexec-client-vm",
        r#"case "$(tar -xzOf "$7" metadata.json)" in
  *printer-preflight*) echo PRINTER_PREFLIGHT_SUCCESS >&2 ;;
  *'"progress":true'*) printf 'PROGRESS 1/2\nPROGRESS 1/2 pages=3\nPROGRESS 3/2\nPROGRESS 2/2\nPROGRESS 2/2 pages=1\nPRINTER_SUCCESS\n' >&2 ;;
  *) echo PRINTER_SUCCESS >&2 ;;
esac"#,
    );
    let fake = fake.to_str().unwrap();
    let pdf = write_file(run.path(), "a.pdf", b"%PDF-1.4\n%%EOF\n");
    let txt = write_file(run.path(), "b.txt", b"notes\n");
    let files = [pdf.to_str().unwrap(), txt.to_str().unwrap()];

    let output = run.run(&["--qrexec", fake, "print", files[0], files[1]]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(code(&output), 0, "{stderr}");
    let members = archive_members(&run.path().join("received.sd-export"));
    assert_eq!(
        &members["metadata.json"][..],
        br#"{"device":"printer","progress":true}"#
    );
    let shown: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("Printing file") || l.starts_with("File "))
        .collect();
    assert_eq!(
        shown,
        [
            "Printing file 1 of 2...",
            "File 1 of 2: 3 pages printed",
            "Printing file 2 of 2...",
            "File 2 of 2: 1 page printed",
        ],
        "{stderr}"
    );
    assert!(!stderr.contains("3 of 2"), "{stderr}");

    let output = run.run(&["--json", "--qrexec", fake, "print", files[0], files[1]]);
    assert_eq!(json(&output)["status"], "PRINTER_SUCCESS");
    let members = archive_members(&run.path().join("received.sd-export"));
    assert_eq!(&members["metadata.json"][..], br#"{"device":"printer"}"#);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("Printing file"));
}

/// `--redact strict` (a space, not `=`): with no file named `strict` it is a usage error (exit 2)
/// saying how to write the mode, before any qube is called; in a folder that has a file named
/// `strict`, that file is what is exported.
#[test]
fn redact_space_strict_is_a_usage_error_unless_a_file_is_named_strict() {
    let run = Run::new();
    let fake = run.fake("DEVICE_WRITABLE", "SUCCESS_EXPORT");
    let output = run.run(&[
        "disk",
        "--qrexec",
        fake.to_str().unwrap(),
        "--redact",
        "strict",
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--redact=strict"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!run.path().join("calls").exists(), "a qube was called");

    write_file(run.path(), "strict", b"a file named strict");
    let output = run
        .command(&[
            "--json",
            "disk",
            "--qrexec",
            fake.to_str().unwrap(),
            "--redact",
            "strict",
        ])
        .current_dir(run.path())
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    let path = report["redaction"]["files"][0]["path"]
        .as_str()
        .unwrap_or_default();
    assert!(path.ends_with("/strict"), "{report}");
}
