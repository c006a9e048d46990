//! The disk-export scenarios (`tests/scenarios/mod.rs`) against the
//! simulated drives: `sdw-devices --sim DIR ARCHIVE`, the real binary and
//! writer, with drives as folders (`src/device/sim.rs`). The same bodies run
//! on the emulated hardware in `hardware-tests/tests/lab_scenarios.rs`.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod scenarios;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use scenarios::{sha256, Drive, Outcome, Rig};
use sdw_devices::device::sim::SimDevices;
use sdw_testkit::ArchiveBuilder;
use serde_json::json;

struct SimRig {
    dir: tempfile::TempDir,
    volume: serde_json::Value,
    faults: serde_json::Value,
}

impl SimRig {
    fn volume_dir(&self) -> PathBuf {
        self.dir.path().join("sim/volumes/sdb")
    }
}

impl Rig for SimRig {
    fn new(drive: Drive) -> SimRig {
        let dir = tempfile::tempdir().unwrap();
        let kind = match drive {
            Drive::Luks2 => "luks",
            Drive::VeraCrypt => "veracrypt",
        };
        let volume = json!({"name": "sdb", "kind": kind, "passphrase": scenarios::PASS,
                            "filesystem": "vfat"});
        fs::create_dir_all(dir.path().join("sim/volumes/sdb")).unwrap();
        // Something already on the drive, which must stay as it is.
        fs::write(dir.path().join("sim/volumes/sdb/notes.txt"), b"mine").unwrap();
        SimRig {
            dir,
            volume,
            faults: json!({}),
        }
    }

    fn unlocked_by_hand(mut self) -> SimRig {
        self.volume["unlocked_by_hand"] = json!(true);
        self.volume["mounted_by_hand"] = json!(true);
        self
    }

    fn keep_busy(mut self) -> SimRig {
        self.faults["unmount_busy"] = json!(true);
        self
    }

    fn pull_mid_export(mut self) -> SimRig {
        self.faults["publish"] = json!("the drive was pulled");
        self
    }

    fn export(self, passphrase: Option<&str>, files: &[(&str, &[u8])]) -> Outcome {
        let sim = self.dir.path().join("sim");
        let config = json!({"drives": [{"name": "sdb", "serial": "S", "volumes": [self.volume]}],
                            "faults": self.faults});
        fs::write(sim.join("drives.json"), config.to_string()).unwrap();
        let command = sdw_protocol::Command::Disk {
            passphrase: passphrase.map(|p| sdw_protocol::Passphrase::new(p.to_owned())),
        };
        let mut archive = ArchiveBuilder::for_command(&command);
        for (name, data) in files {
            archive = archive.export_file(name, data);
        }
        let archive_path = self.dir.path().join("export.sd-export");
        fs::write(&archive_path, archive.gzip()).unwrap();
        let home = self.dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_sdw-devices"))
            .arg("--sim")
            .arg(&sim)
            .arg(&archive_path)
            .env_clear()
            .env("HOME", &home)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let (exported, stray_files) = listing(&self.volume_dir());
        let state = SimDevices::state_of(&sim);
        let by_hand = self.volume["unlocked_by_hand"] == json!(true);
        Outcome {
            status: stderr
                .trim_end()
                .rsplit('\n')
                .next()
                .unwrap_or("")
                .to_owned(),
            exported,
            stray_files,
            left_open: !state.unlocked.is_empty() || !state.mounted.is_empty(),
            // The simulator never touches what it did not unlock or mount.
            as_found: by_hand && state.unlocked.is_empty() && state.mounted.is_empty(),
            raw: format!("stderr {stderr:?}, state {state:?}"),
        }
    }
}

/// The files of the one `sd-export-YYYYMMDD-HHMMSS/export_data/`, and how
/// many other files (besides the drive's own `notes.txt`) are on the volume.
fn listing(volume: &Path) -> (Vec<(String, u64, String)>, usize) {
    let mut exported = Vec::new();
    let mut stray = 0;
    for entry in fs::read_dir(volume).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "notes.txt" {
            continue;
        }
        let is_export =
            name.starts_with("sd-export-") && name.len() == "sd-export-YYYYMMDD-HHMMSS".len();
        let mut files = Vec::new();
        walk(&path, &mut files);
        if is_export && exported.is_empty() {
            let data = path.join("export_data");
            exported = files
                .iter()
                .map(|f| {
                    let bytes = fs::read(f).unwrap();
                    let below = f
                        .strip_prefix(&data)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    (below, bytes.len() as u64, sha256(&bytes))
                })
                .collect();
        } else {
            stray += files.len().max(1);
        }
    }
    exported.sort();
    (exported, stray)
}

fn walk(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            walk(&entry.unwrap().path(), files);
        }
    } else {
        files.push(path.to_owned());
    }
}

disk_scenarios!(SimRig);

/// Runs one `disk` export of `files` to a simulated LUKS drive holding
/// `filesystem`; returns the status and the drive's folder.
fn export_to_sim(filesystem: &str, archive: &[u8]) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    fs::create_dir_all(sim.join("volumes/sdb")).unwrap();
    let config = json!({"drives": [{"name": "sdb", "volumes": [
        {"name": "sdb", "kind": "luks", "passphrase": scenarios::PASS, "filesystem": filesystem}]}]});
    fs::write(sim.join("drives.json"), config.to_string()).unwrap();
    let archive_path = dir.path().join("export.sd-export");
    fs::write(&archive_path, archive).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sdw-devices"))
        .arg("--sim")
        .arg(&sim)
        .arg(&archive_path)
        .env_clear()
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_owned();
    (stderr, dir)
}

fn only_export_folder(volume: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = fs::read_dir(volume)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders.into_iter().next().unwrap()
}

#[test]
fn names_fat_cannot_hold_are_renamed_every_file_exported_and_the_renames_listed() {
    let disk = json!({"device": "disk", "encryption_key": scenarios::PASS}).to_string();
    let archive = ArchiveBuilder::with_metadata(&disk)
        .export_file("Interview 10:30.txt", b"one")
        .export_file("Was it legal?.pdf", b"two")
        .export_file("notes.txt", b"three")
        .export_file("Report.pdf", b"four")
        .export_file("report.pdf", b"five")
        .export_file("Dir/a.txt", b"six")
        .export_file("dir/a.txt", b"seven")
        .export_file("trailing dot.", b"eight")
        .export_file("CON.txt", b"nine")
        .gzip();
    let (status, dir) = export_to_sim("vfat", &archive);
    assert_eq!(status, "SUCCESS_EXPORT");
    let folder = only_export_folder(&dir.path().join("sim/volumes/sdb"));
    let data = folder.join("export_data");
    for (name, content) in [
        ("Interview 10_30.txt", "one"),
        ("Was it legal_.pdf", "two"),
        ("notes.txt", "three"),
        ("Report.pdf", "four"),
        ("report (2).pdf", "five"),
        ("Dir/a.txt", "six"),
        ("dir (2)/a.txt", "seven"),
        ("trailing dot", "eight"),
        ("CON_.txt", "nine"),
    ] {
        assert_eq!(
            fs::read_to_string(data.join(name)).unwrap(),
            content,
            "{name}"
        );
    }
    let report = fs::read_to_string(folder.join("RENAMED.txt")).unwrap();
    assert!(
        report.contains("Interview 10:30.txt\n  -> Interview 10_30.txt"),
        "{report}"
    );
    assert!(
        report.contains("report.pdf\n  -> report (2).pdf"),
        "{report}"
    );
    assert!(!report.contains("notes.txt"), "{report}");
}

#[test]
fn ext4_keeps_every_name_and_writes_no_rename_list() {
    let disk = json!({"device": "disk", "encryption_key": scenarios::PASS}).to_string();
    let archive = ArchiveBuilder::with_metadata(&disk)
        .export_file("Interview 10:30.txt", b"one")
        .export_file("Report.pdf", b"four")
        .export_file("report.pdf", b"five")
        .gzip();
    let (status, dir) = export_to_sim("ext", &archive);
    assert_eq!(status, "SUCCESS_EXPORT");
    let folder = only_export_folder(&dir.path().join("sim/volumes/sdb"));
    for name in ["Interview 10:30.txt", "Report.pdf", "report.pdf"] {
        assert!(folder.join("export_data").join(name).is_file(), "{name}");
    }
    assert!(!folder.join("RENAMED.txt").exists());
}

#[test]
fn a_file_over_4_gib_is_refused_on_fat32_before_anything_is_written() {
    // 4 GiB + 1 MiB of zeros: a few MiB of gzip.
    let size = 4 * 1024 * 1024 * 1024 + 1024 * 1024;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let disk = json!({"device": "disk", "encryption_key": scenarios::PASS}).to_string();
    let mut header = tar::Header::new_gnu();
    header.set_size(disk.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "metadata.json", disk.as_bytes())
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(
            &mut header,
            "export_data/film.mov",
            std::io::Read::take(std::io::repeat(0), size),
        )
        .unwrap();
    let archive = builder.into_inner().unwrap().finish().unwrap();
    let (status, dir) = export_to_sim("vfat", &archive);
    assert_eq!(status, "ERROR_EXPORT");
    let left: Vec<_> = fs::read_dir(dir.path().join("sim/volumes/sdb"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
    let logs = fs::read_dir(dir.path().join(".securedrop_export/logs"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        logs.contains("film.mov") && logs.contains("4294967295"),
        "the log names the file and the limit: {logs}"
    );
}
