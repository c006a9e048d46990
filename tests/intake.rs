//! The device side's front door, run as a process: every archive, benign or
//! hostile, ends in exactly one status word on stderr, nothing on stdout,
//! exit 0, and nothing written outside the places it may write.

#![allow(clippy::unwrap_used)]

mod support;

use std::ffi::OsStr;
use std::fs;

use sdw_testkit::ArchiveBuilder;
use support::{Run, Sandbox};

const DISK: &str = r#"{"device":"disk","encryption_key":"a passphrase"}"#;

#[test]
fn a_missing_archive_is_file_not_found() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[sandbox.root.join("nope.sd-export").as_os_str()]);
    run.assert_status("ERROR_FILE_NOT_FOUND");
}

#[test]
fn a_usage_error_is_error_generic_and_the_log_gives_the_usage() {
    for args in [&[][..], &["export"][..], &["export", "a.sd-export"][..]] {
        let sandbox = Sandbox::new();
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        sandbox.run(&args).assert_status("ERROR_GENERIC");
        let logs = sandbox.logs();
        assert!(
            logs.contains("usage: sdw-devices ARCHIVE"),
            "{args:?}: the log says why: {logs}"
        );
    }
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
    "component over 255 bytes",
    "path over PATH_MAX",
    "too deep",
    "200 files 2000 folders deep",
    "long-name record of 1 MiB",
    "PAX record of 1 MiB",
    "gzip bad crc",
    "gzip cut trailer",
    "gzip damage after the last member",
    "gzip trailing garbage",
    "bzip2 corrupt block",
    "bzip2 cut trailer",
    "bzip2 trailing garbage",
    "tar without end marker",
    "tar with a member after the end",
];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// One hostile or damaged archive by name, asking for `device`.
fn hostile_archive(name: &str, device: &str) -> Vec<u8> {
    let json = format!(r#"{{"device":"{device}","encryption_key":"pw"}}"#);
    let b = ArchiveBuilder::with_metadata(&json);
    let benign = || {
        ArchiveBuilder::with_metadata(&json)
            .file("export_data/a.txt", b"hello")
            .file("export_data/b.txt", &[7u8; 20_000])
    };
    let deep = |depth: usize| vec!["d"; depth].join("/");
    let builder = match name {
        "component over 255 bytes" => b.file(&format!("export_data/{}", "c".repeat(256)), b"x"),
        "path over PATH_MAX" => b.file(
            &format!("export_data/{}", vec!["p".repeat(200); 20].join("/")),
            b"x",
        ),
        "too deep" => b.file(&format!("export_data/{}/f", deep(127)), b"x"),
        "200 files 2000 folders deep" => (0..200).fold(b, |b, i| {
            b.file(&format!("export_data/{}/{i}", deep(2000)), b"x")
        }),
        "long-name record of 1 MiB" => b
            .raw(
                b"././@LongLink",
                tar::EntryType::GNULongName,
                b"",
                &[b'n'; 1 << 20],
            )
            .file("export_data/a", b"1"),
        "PAX record of 1 MiB" => b
            .raw(
                b"././@PaxHeader",
                tar::EntryType::XHeader,
                b"",
                &[b'x'; 1 << 20],
            )
            .file("export_data/a", b"1"),
        "gzip bad crc" => {
            let mut bytes = benign().gzip();
            let n = bytes.len();
            bytes[n - 8] ^= 0xff;
            return bytes;
        }
        "gzip cut trailer" => {
            let bytes = benign().gzip();
            return bytes[..bytes.len() - 4].to_vec();
        }
        "gzip damage after the last member" => {
            let mut bytes = benign().gzip();
            let mut padding = gzip(&[0u8; 10240]);
            let n = padding.len();
            padding[n - 8] ^= 0x01;
            bytes.extend(padding);
            return bytes;
        }
        "gzip trailing garbage" => {
            let mut bytes = benign().gzip();
            bytes.extend_from_slice(b"trailing garbage");
            return bytes;
        }
        "bzip2 corrupt block" => {
            let mut bytes = benign().bzip2();
            let n = bytes.len();
            bytes[n / 2] ^= 0x10;
            return bytes;
        }
        "bzip2 cut trailer" => {
            let bytes = benign().bzip2();
            return bytes[..bytes.len() - 6].to_vec();
        }
        "bzip2 trailing garbage" => {
            let mut bytes = benign().bzip2();
            bytes.extend_from_slice(b"trailing garbage");
            return bytes;
        }
        "tar without end marker" => {
            let bytes = benign().tar();
            return bytes[..bytes.len() - 1024].to_vec();
        }
        "tar with a member after the end" => {
            let mut bytes = benign().tar();
            bytes.extend(ArchiveBuilder::new().file("export_data/hidden", b"x").tar());
            return bytes;
        }
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

/// `export ARCHIVE --to DIR` does what the archive asks, with the folder as
/// the drive: `disk` is exported, the probes answer for the folder, `""` says
/// nothing, printer commands are refused; only `disk` writes anything.
#[test]
fn export_to_a_folder_honours_the_archive_command() {
    let sandbox = Sandbox::new();
    let cases = [
        (r#"{"device":"usb-test"}"#, Some("DEVICE_WRITABLE")),
        (r#"{"device":"disk-test"}"#, Some("DEVICE_WRITABLE")),
        (r#"{"device":""}"#, None),
        (
            r#"{"device":"printer-preflight"}"#,
            Some("ERROR_ARCHIVE_METADATA"),
        ),
        (
            r#"{"device":"printer-test"}"#,
            Some("ERROR_ARCHIVE_METADATA"),
        ),
        (r#"{"device":"printer"}"#, Some("ERROR_ARCHIVE_METADATA")),
        (r#"{"device":"floppy"}"#, Some("ERROR_ARCHIVE_METADATA")),
    ];
    for (json, status) in cases {
        let archive = sandbox.archive(
            "c.sd-export",
            &ArchiveBuilder::with_metadata(json)
                .file("export_data/a.pdf", b"%PDF-1.4\n")
                .gzip(),
        );
        let target = sandbox.target();
        let run = sandbox.run(&[
            OsStr::new("export"),
            archive.as_os_str(),
            OsStr::new("--to"),
            target.as_os_str(),
        ]);
        match status {
            Some(word) => run.assert_status(word),
            None => {
                assert_eq!(run.code, Some(0));
                assert!(
                    run.stderr.is_empty() && run.stdout.is_empty(),
                    "{json}: {:?}",
                    run.stderr
                );
            }
        }
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            0,
            "{json}: nothing may be written"
        );
        sandbox.assert_nothing_written(json);
    }
    let probe = sandbox.archive(
        "probe.sd-export",
        &ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#).gzip(),
    );
    let missing = sandbox.root.join("no-such-drive");
    sandbox
        .run(&[
            OsStr::new("export"),
            probe.as_os_str(),
            OsStr::new("--to"),
            missing.as_os_str(),
        ])
        .assert_status("NO_DEVICE_DETECTED");
    assert!(!missing.exists());
}

#[test]
fn version_and_help_print_on_stdout_and_exit_zero() {
    let sandbox = Sandbox::new();
    let version = format!("sdw-devices {}\n", env!("CARGO_PKG_VERSION"));
    let run = sandbox.run(&[OsStr::new("--version")]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (Some(0), version.as_str(), "")
    );
    let run = sandbox.run(&[OsStr::new("--help")]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
    assert!(run.stdout.starts_with(&version), "{}", run.stdout);
    for form in ["ARCHIVE", "export ARCHIVE --to DIR", "qrexec-service"] {
        assert!(
            run.stdout.contains(form),
            "help names {form}: {}",
            run.stdout
        );
    }
    assert!(
        sandbox.home_entries().is_empty(),
        "no log for --version/--help: {:?}",
        sandbox.home_entries()
    );
    // Anything else is still a usage error with one status word.
    sandbox
        .run(&[OsStr::new("--help"), OsStr::new("extra")])
        .assert_status("ERROR_GENERIC");
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
