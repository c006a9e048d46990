//! The device side's front door, run as a process: every archive, benign or
//! hostile, ends in exactly one status word on stderr, nothing on stdout,
//! exit 0, and nothing written outside the places it may write.

#![allow(clippy::unwrap_used)]

mod support;

use std::ffi::OsStr;
use std::fs;

use sdw_devices::testkit::ArchiveBuilder;
use support::{Run, Sandbox};

const DISK: &str = r#"{"device":"disk","encryption_key":"a passphrase"}"#;

#[test]
fn a_missing_archive_is_file_not_found() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[sandbox.root.join("nope.sd-export").as_os_str()]);
    run.assert_status("ERROR_FILE_NOT_FOUND");
}

#[test]
fn probe_on_a_machine_without_usb_drives_is_no_device_detected() {
    let sandbox = Sandbox::new();
    for device in ["usb-test", "disk-test"] {
        let archive = sandbox.archive(
            "probe.sd-export",
            &ArchiveBuilder::with_metadata(&format!(r#"{{"device":"{device}"}}"#)).gzip(),
        );
        sandbox
            .run(&[archive.as_os_str()])
            .assert_status("NO_DEVICE_DETECTED");
    }
}

#[test]
fn disk_export_without_a_drive_is_no_device_detected() {
    let sandbox = Sandbox::new();
    let archive = sandbox.archive(
        "disk.sd-export",
        &ArchiveBuilder::with_metadata(DISK)
            .file("export_data/a", b"1")
            .gzip(),
    );
    sandbox
        .run(&[archive.as_os_str()])
        .assert_status("NO_DEVICE_DETECTED");
}

#[test]
fn printer_commands_without_a_printer_are_printer_not_found() {
    let sandbox = Sandbox::new();
    for device in ["printer-preflight", "printer-test", "printer"] {
        let json = format!(r#"{{"device":"{device}"}}"#);
        let archive = sandbox.archive(
            "p.sd-export",
            &ArchiveBuilder::with_metadata(&json)
                .file("export_data/a.pdf", b"%PDF-1.4\n")
                .gzip(),
        );
        sandbox
            .run(&[archive.as_os_str()])
            .assert_status("ERROR_PRINTER_NOT_FOUND");
    }
}

#[test]
fn the_empty_command_says_nothing() {
    let sandbox = Sandbox::new();
    let archive = sandbox.archive(
        "start.sd-export",
        &ArchiveBuilder::with_metadata(r#"{"device":""}"#).gzip(),
    );
    let run = sandbox.run(&[archive.as_os_str()]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn metadata_errors_have_their_words() {
    let sandbox = Sandbox::new();
    for (json, status) in [
        ("not json", "ERROR_METADATA_PARSING"),
        (r#"["disk"]"#, "ERROR_METADATA_PARSING"),
        (r#"{"device":"floppy"}"#, "ERROR_ARCHIVE_METADATA"),
        (r#"{"encryption_key":"x"}"#, "ERROR_ARCHIVE_METADATA"),
    ] {
        let archive = sandbox.archive("m.sd-export", &ArchiveBuilder::with_metadata(json).gzip());
        sandbox.run(&[archive.as_os_str()]).assert_status(status);
    }
    let archive = sandbox.archive(
        "nometa.sd-export",
        &ArchiveBuilder::new().file("export_data/a", b"1").gzip(),
    );
    sandbox
        .run(&[archive.as_os_str()])
        .assert_status("ERROR_METADATA_PARSING");
}

const HOSTILE: &[&str] = &[
    "absolute",
    "parent",
    "symlink out",
    "symlink abs",
    "hardlink out",
    "char device",
    "block device",
    "fifo",
    "metadata dir",
    "metadata link",
    "non-utf8",
    "late bad member",
];

/// One hostile archive by name, asking for `device`.
fn hostile_archive(name: &str, device: &str) -> Vec<u8> {
    let json = format!(r#"{{"device":"{device}","encryption_key":"pw"}}"#);
    let b = ArchiveBuilder::with_metadata(&json);
    let builder = match name {
        "absolute" => b.file("/tmp/evil", b"x"),
        "parent" => b.file("export_data/../../evil", b"x"),
        "symlink out" => b.symlink("export_data/l", "../../../../etc/passwd"),
        "symlink abs" => b.symlink("export_data/l", "/etc"),
        "hardlink out" => b.hardlink("export_data/l", "../outside"),
        "char device" => b.raw(b"export_data/tty", tar::EntryType::Char, b"", b""),
        "block device" => b.raw(b"export_data/sda", tar::EntryType::Block, b"", b""),
        "fifo" => b.raw(b"export_data/fifo", tar::EntryType::Fifo, b"", b""),
        "metadata dir" => ArchiveBuilder::new()
            .dir("metadata.json")
            .file("export_data/a", b"1"),
        "metadata link" => ArchiveBuilder::new().symlink("metadata.json", "/etc/passwd"),
        "non-utf8" => b.raw(b"export_data/\xff\xfe", tar::EntryType::Regular, b"", b"x"),
        "late bad member" => (0..20)
            .fold(b, |b, i| {
                b.file(&format!("export_data/{i}"), &[1u8; 10_000])
            })
            .file("../late", b"x"),
        other => panic!("no hostile archive {other}"),
    };
    builder.gzip()
}

/// Hostile archives are refused with `ERROR_EXTRACTION` whatever the command,
/// with nothing written anywhere: not in the export target, not in TMPDIR.
#[test]
fn hostile_archives_are_refused_and_leave_nothing_behind() {
    let sandbox = Sandbox::new();
    for name in HOSTILE {
        for device in ["disk", "usb-test", "printer", ""] {
            let archive = sandbox.archive("hostile.sd-export", &hostile_archive(name, device));
            sandbox
                .run(&[archive.as_os_str()])
                .assert_status("ERROR_EXTRACTION");
            sandbox.assert_nothing_written(name);
        }
        let archive = sandbox.archive("hostile.sd-export", &hostile_archive(name, "disk"));
        let target = sandbox.target();
        sandbox
            .run(&[
                OsStr::new("export"),
                archive.as_os_str(),
                OsStr::new("--to"),
                target.as_os_str(),
            ])
            .assert_status("ERROR_EXTRACTION");
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            0,
            "{name}: the target must stay empty"
        );
        sandbox.assert_nothing_written(name);
    }
}

#[test]
fn export_to_a_folder_writes_both_layouts_with_unicode_names() {
    let sandbox = Sandbox::new();
    let archive = sandbox.archive(
        "layouts.sd-export",
        &ArchiveBuilder::new()
            .file("./metadata.json", DISK.as_bytes())
            .file("./export_data/flat.txt", b"flat")
            .dir("./export_data/Quelle – 1/")
            .file(
                "./export_data/Quelle – 1/Übersicht 文件.txt",
                "nested ü".as_bytes(),
            )
            .tar(),
    );
    let target = sandbox.target();
    let run = sandbox.run(&[
        OsStr::new("export"),
        archive.as_os_str(),
        OsStr::new("--to"),
        target.as_os_str(),
    ]);
    run.assert_status("SUCCESS_EXPORT");
    let exports: Vec<_> = fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exports.len(), 1, "exactly one new folder: {exports:?}");
    let folder = &exports[0];
    let name = folder.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("sd-export-") && name.len() == "sd-export-YYYYMMDD-HHMMSS".len(),
        "{name}"
    );
    assert_eq!(
        fs::read(folder.join("export_data/flat.txt")).unwrap(),
        b"flat"
    );
    assert_eq!(
        fs::read_to_string(folder.join("export_data/Quelle – 1/Übersicht 文件.txt")).unwrap(),
        "nested ü"
    );
    sandbox.assert_nothing_written("export");
}

#[test]
fn export_into_a_missing_folder_is_an_export_error() {
    let sandbox = Sandbox::new();
    let archive = sandbox.archive(
        "a.sd-export",
        &ArchiveBuilder::with_metadata(DISK)
            .file("export_data/a", b"1")
            .gzip(),
    );
    let missing = sandbox.root.join("no-such-drive");
    sandbox
        .run(&[
            OsStr::new("export"),
            archive.as_os_str(),
            OsStr::new("--to"),
            missing.as_os_str(),
        ])
        .assert_status("ERROR_EXPORT");
}

#[test]
fn works_the_same_under_the_historical_name_send_to_usb() {
    let sandbox = Sandbox::new();
    let link = sandbox.root.join("send-to-usb");
    std::os::unix::fs::symlink(support::binary(), &link).unwrap();
    let archive = sandbox.archive(
        "probe.sd-export",
        &ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#).gzip(),
    );
    Run::of(
        std::process::Command::new(&link)
            .arg(&archive)
            .envs(sandbox.env()),
    )
    .assert_status("NO_DEVICE_DETECTED");
    let bad = sandbox.archive(
        "bad.sd-export",
        &ArchiveBuilder::with_metadata(DISK)
            .file("../x", b"1")
            .gzip(),
    );
    Run::of(
        std::process::Command::new(&link)
            .arg(&bad)
            .envs(sandbox.env()),
    )
    .assert_status("ERROR_EXTRACTION");
}

#[test]
fn the_qrexec_service_reads_stdin_and_answers_on_stdout() {
    let sandbox = Sandbox::new();
    let bytes = ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#).gzip();
    let run = sandbox.run_with_stdin(&[OsStr::new("qrexec-service")], &bytes);
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stdout, "NO_DEVICE_DETECTED\n");
    assert!(run.stderr.is_empty());
    sandbox.assert_nothing_written("qrexec-service");
    let hostile = ArchiveBuilder::with_metadata(DISK)
        .file("/abs", b"1")
        .gzip();
    assert_eq!(
        sandbox
            .run_with_stdin(&[OsStr::new("qrexec-service")], &hostile)
            .stdout,
        "ERROR_EXTRACTION\n"
    );
}

#[test]
fn the_passphrase_never_reaches_the_logs() {
    let sandbox = Sandbox::new();
    let secret = "correct-horse-battery-staple-4711";
    let json = format!(r#"{{"device":"disk","encryption_key":"{secret}"}}"#);
    let archive = sandbox.archive(
        "s.sd-export",
        &ArchiveBuilder::with_metadata(&json)
            .file("export_data/a", b"1")
            .gzip(),
    );
    sandbox
        .run(&[archive.as_os_str()])
        .assert_status("NO_DEVICE_DETECTED");
    let bad = sandbox.archive(
        "s2.sd-export",
        &ArchiveBuilder::with_metadata(&json)
            .file("../a", b"1")
            .gzip(),
    );
    sandbox
        .run(&[bad.as_os_str()])
        .assert_status("ERROR_EXTRACTION");
    let logs = sandbox.logs();
    assert!(
        logs.contains("archive validated"),
        "the log is written: {logs}"
    );
    assert!(!logs.contains(secret), "the passphrase leaked into the log");
}

#[test]
fn an_unwritable_log_folder_is_error_logging() {
    let sandbox = Sandbox::new();
    let archive = sandbox.archive(
        "probe.sd-export",
        &ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#).gzip(),
    );
    let file_in_the_way = sandbox.root.join("not-a-dir");
    fs::write(&file_in_the_way, b"").unwrap();
    let run = Run::of(
        std::process::Command::new(support::binary())
            .arg(&archive)
            .envs(sandbox.env())
            .env("SDW_LOG_DIR", file_in_the_way.join("logs")),
    );
    run.assert_status("ERROR_LOGGING");
}
