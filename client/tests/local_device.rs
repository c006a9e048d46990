//! End to end on one machine: the client builds an archive, the local transport
//! runs the real device side (`sdw-devices`), and the parsed status comes back.
//! No drive and no printer are expected on the test machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sdw_client::archive::NoProgress;
use sdw_client::flow::{ExportAttempt, ExportPreflight, PrintPreflight};
use sdw_client::names::UniqueNames;
use sdw_client::transport::{ExportService, Local, Transport};
use sdw_client::{Client, ClientConfig, Reply};
use sdw_protocol::{Command, Passphrase, Redaction, Status};
use support::*;

struct Bench {
    dir: tempfile::TempDir,
    device: PathBuf,
}

impl Bench {
    /// `None` (the test then returns) only when sdw-devices cannot be built.
    fn new() -> Option<Bench> {
        let dir = tempfile::tempdir().unwrap();
        let device = device_in(dir.path())?;
        std::fs::create_dir(dir.path().join("inputs")).unwrap();
        std::fs::create_dir(dir.path().join("drive")).unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        Some(Bench { dir, device })
    }

    fn drive(&self) -> PathBuf {
        self.dir.path().join("drive")
    }

    fn input(&self, name: impl AsRef<OsStr>, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join("inputs").join(name.as_ref());
        std::fs::write(&path, content).unwrap();
        path
    }

    fn client(&self, transport: Box<dyn Transport>, source_name: Option<&str>) -> Client {
        let config = ClientConfig {
            source_name: source_name.map(str::to_owned),
            temp_root: Some(self.dir.path().join("tmp")),
            ..ClientConfig::default()
        };
        Client::new(transport, config)
    }

    fn usb(&self) -> Client {
        self.client(Box::new(Local::new(&self.device)), None)
    }

    fn folder(&self, source_name: Option<&str>) -> Client {
        self.client(
            Box::new(Local::new(&self.device).exporting_to(self.drive())),
            source_name,
        )
    }

    fn assert_clean(&self) {
        assert_eq!(
            std::fs::read_dir(self.dir.path().join("tmp"))
                .unwrap()
                .count(),
            0
        );
    }
}

fn status_of(reply: Result<Reply, sdw_client::Error>) -> Status {
    match reply {
        Ok(Reply::Answered { status, .. }) => status,
        other => panic!("{other:?}"),
    }
}

/// Every regular file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn preflight_without_a_drive_is_no_device_detected() {
    let Some(bench) = Bench::new() else { return };
    let mut client = bench.usb();
    match client.export().preflight() {
        ExportPreflight::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::NoDeviceDetected)
        }
        other => panic!("{other:?}"),
    }
    bench.assert_clean();
}

#[test]
fn printing_without_a_printer_is_printer_not_found() {
    let Some(bench) = Bench::new() else { return };
    let mut client = bench.usb();
    match client.print().preflight() {
        PrintPreflight::Failed(failed) => {
            assert_eq!(failed.state().status(), Status::ErrorPrinterNotFound)
        }
        other => panic!("{other:?}"),
    }
    let files = [bench.input("letter.txt", b"Dear editor")];
    assert_eq!(
        status_of(client.send(&Command::Printer { options: None }, &files, &mut NoProgress)),
        Status::ErrorPrinterNotFound
    );
    assert_eq!(
        status_of(client.send(&Command::PrinterTest, &[], &mut NoProgress)),
        Status::ErrorPrinterNotFound
    );
    bench.assert_clean();
}

#[test]
fn the_device_side_accepts_every_archive_the_client_builds() {
    let Some(bench) = Bench::new() else { return };
    let files = [
        bench.input("memo.txt", b"a"),
        bench.input(OsStr::from_bytes(b"we\nird\x01 n\xffame"), b"b"),
        bench.input("...", b"dots"),
        bench.input(format!("{}.txt", "long".repeat(62)), b"c"),
    ];
    let commands = [
        Command::UsbTest,
        Command::DiskTest,
        Command::Disk {
            passphrase: Some(Passphrase::new("pw".into())),
        },
        Command::Disk { passphrase: None },
        Command::PrinterPreflight,
        Command::PrinterTest,
        Command::Printer { options: None },
    ];
    for source in [None, Some("../../etc"), Some("Jane\nDoe")] {
        let mut client = bench.client(Box::new(Local::new(&bench.device)), source);
        for command in &commands {
            let status = status_of(client.send(command, &files, &mut NoProgress));
            assert!(
                !matches!(
                    status,
                    Status::ErrorExtraction
                        | Status::ErrorMetadataParsing
                        | Status::ErrorArchiveMetadata
                        | Status::UnexpectedReturnStatus
                ),
                "{} with source {source:?}: {status}",
                command.device_value()
            );
        }
    }
    bench.assert_clean();
}

#[test]
fn exports_into_a_folder_with_every_file_on_disk() {
    let Some(bench) = Bench::new() else { return };
    let first = bench.input("memo.txt", b"first");
    std::fs::create_dir(bench.dir.path().join("inputs/other")).unwrap();
    let second = bench.dir.path().join("inputs/other/memo.txt");
    std::fs::write(&second, b"second").unwrap();
    let files = [
        first,
        second,
        bench.input("photo.jpg", &[0xff, 0xd8, 0xff]),
        PathBuf::from("/nonexistent/x"),
    ];
    let mut client = bench.folder(None);
    let ready = match client.export().preflight() {
        ExportPreflight::Ready(ready) => ready,
        other => panic!("{other:?}"),
    };
    assert_eq!(ready.state().preflight_status(), Status::DeviceWritable);
    match ready.export(&files, None, &mut NoProgress) {
        ExportAttempt::Done(done) => {
            assert_eq!(done.state().status(), Status::SuccessExport);
            assert_eq!(done.state().skipped().len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let folder = only_export_folder(&bench.drive());
    let exported = tree(&folder);
    let expected: BTreeMap<String, Vec<u8>> = [
        ("export_data/memo.txt", &b"first"[..]),
        ("export_data/memo (2).txt", b"second"),
        ("export_data/photo.jpg", &[0xff, 0xd8, 0xff]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_vec()))
    .collect();
    assert_eq!(exported, expected);
    let mode = std::fs::metadata(folder.join("export_data/memo.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o444, 0o444, "not readable by everyone: {mode:o}");
    bench.assert_clean();
}

#[test]
fn redaction_asked_by_the_client_reaches_the_device_side() {
    let Some(bench) = Bench::new() else { return };
    let files = [
        bench.input("notes.txt", b"plain notes\n"),
        bench.input("clip.gif", b"GIF89a\x01\0\x01\0\0\0\0;"),
    ];
    let export = |redact| {
        let mut config = bench.folder(None).config().clone();
        config.redact = Some(redact);
        let mut client = Client::new(
            Box::new(Local::new(&bench.device).exporting_to(bench.drive())),
            config,
        );
        status_of(client.send(&Command::Disk { passphrase: None }, &files, &mut NoProgress))
    };
    // Strict: the GIF cannot be redacted, so nothing is written.
    assert_eq!(export(Redaction::Strict), Status::ErrorExport);
    assert_eq!(std::fs::read_dir(bench.drive()).unwrap().count(), 0);
    // Best effort: exported, the GIF unchanged and named in the report.
    assert_eq!(export(Redaction::BestEffort), Status::SuccessExport);
    let exported = tree(&only_export_folder(&bench.drive()));
    assert_eq!(exported["export_data/notes.txt"], b"plain notes\n");
    let report = String::from_utf8(exported["REDACTION.txt"].clone()).unwrap();
    assert!(
        report.contains("export_data/clip.gif\n  GIF: NOT REDACTED"),
        "{report}"
    );
    assert!(
        report.contains("export_data/notes.txt\n  plain text"),
        "{report}"
    );
    bench.assert_clean();
}

#[test]
fn exports_nested_under_the_source_name() {
    let Some(bench) = Bench::new() else { return };
    let files = [bench.input("interview.ogg", b"ogg")];
    let mut client = bench.folder(Some("furious ewok"));
    let ExportPreflight::Ready(ready) = client.export().preflight() else {
        panic!()
    };
    assert!(matches!(
        ready.export(&files, None, &mut NoProgress),
        ExportAttempt::Done(_)
    ));
    let exported = tree(&only_export_folder(&bench.drive()));
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        ["export_data/furious ewok/interview.ogg"]
    );
}

#[test]
fn the_securedrop_export_service_file_runs_the_device_side_on_stdin() {
    let Some(bench) = Bench::new() else { return };
    let service =
        std::fs::read_to_string(workspace_root().join("rpc/service/securedrop.Export")).unwrap();
    assert!(
        service.contains("exec /usr/bin/sdw-devices qrexec-service"),
        "{service}"
    );
    let patched = bench.dir.path().join("securedrop.Export");
    std::fs::write(
        &patched,
        service.replace("/usr/bin/sdw-devices", &bench.device.display().to_string()),
    )
    .unwrap();
    std::fs::set_permissions(&patched, std::fs::Permissions::from_mode(0o755)).unwrap();
    // qrexec-client-vm TARGET securedrop.Export: connects our stdin/stdout to the service.
    let qrexec = fake_qrexec(
        bench.dir.path(),
        "qrexec-client-vm",
        &format!("exec '{}'", patched.display()),
    );
    let mut client = bench.client(Box::new(ExportService::new(qrexec)), None);
    assert_eq!(
        status_of(client.send(&Command::UsbTest, &[], &mut NoProgress)),
        Status::NoDeviceDetected
    );
    assert_eq!(
        status_of(client.send(&Command::PrinterPreflight, &[], &mut NoProgress)),
        Status::ErrorPrinterNotFound
    );
    bench.assert_clean();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_files_round_trip_through_the_device_side(
        files in proptest::collection::vec(
            (proptest::collection::vec(1u8..=255, 1..40), proptest::collection::vec(any::<u8>(), 0..2000)),
            1..6,
        )
    ) {
        let Some(bench) = Bench::new() else { return Ok(()) };
        let mut names = UniqueNames::new();
        let mut paths = Vec::new();
        let mut expected = BTreeMap::new();
        for (index, (name, content)) in files.iter().enumerate() {
            let name: Vec<u8> = name.iter().map(|&b| if b == b'/' { b'x' } else { b }).collect();
            let dir = bench.dir.path().join("inputs").join(index.to_string());
            std::fs::create_dir(&dir).unwrap();
            let base = OsStr::from_bytes(&name);
            let base = if base == "." || base == ".." { OsStr::new("dots") } else { base };
            let path = dir.join(base);
            std::fs::write(&path, content).unwrap();
            expected.insert(format!("export_data/{}", names.claim(base)), content.clone());
            paths.push(path);
        }
        let mut client = bench.folder(None);
        let ExportPreflight::Ready(ready) = client.export().preflight() else { panic!() };
        match ready.export(&paths, None, &mut NoProgress) {
            ExportAttempt::Done(_) => {}
            ExportAttempt::Failed(failed) => prop_assert!(false, "{}", failed.state().status()),
            other => prop_assert!(false, "{other:?}"),
        }
        prop_assert_eq!(tree(&only_export_folder(&bench.drive())), expected);
    }
}
