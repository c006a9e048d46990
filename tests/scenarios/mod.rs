//! One body per disk-export scenario, run against any [`Rig`]: the simulated
//! drives (`tests/disk_sim.rs`, seconds) and the emulated hardware lab
//! (`hardware-tests/tests/lab_scenarios.rs`, real udev, dm-crypt and mount),
//! through [`disk_scenarios!`]. A rig builds one drive, may arrange a fault,
//! runs one `disk` export and reports what a user would check: the status
//! word, the files of the new export folder, and whether anything was left
//! unlocked or mounted.
#![allow(dead_code, clippy::unwrap_used)]

use sha2::{Digest, Sha256};

/// The passphrase of every scenario's drive.
pub const PASS: &str = "correct horse battery staple";

/// The files of the standard export: the nested layout, unicode names.
pub const FILES: &[(&str, &[u8])] = &[
    (
        "Quelle 1/Übersicht – 文件.txt",
        "unicode survives\n".as_bytes(),
    ),
    ("Quelle 1/memo.txt", b"meeting on tuesday\n"),
    ("Quelle 1/data.bin", &[0xa5; 70_000]),
];

/// Which encrypted drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    Luks2,
    VeraCrypt,
}

/// What one export left.
#[derive(Debug)]
pub struct Outcome {
    pub status: String,
    /// (path below `export_data/`, size, sha256) of the one new
    /// `sd-export-YYYYMMDD-HHMMSS` folder, sorted; empty when there is none.
    pub exported: Vec<(String, u64, String)>,
    /// How many files are on the volume outside any finished export folder
    /// (a half-written export would show here).
    pub stray_files: usize,
    /// Something this export unlocked or mounted is still unlocked or mounted.
    pub left_open: bool,
    /// The drive is still unlocked and mounted as the user left it.
    pub as_found: bool,
    /// Everything the rig saw, for failure messages.
    pub raw: String,
}

/// A way to run `sdw-devices` against one drive.
pub trait Rig: Sized {
    fn new(drive: Drive) -> Self;
    /// The user unlocked (and mounted) the drive by hand before the export.
    fn unlocked_by_hand(self) -> Self;
    /// A process sits in the mounted volume from the moment it is mounted.
    fn keep_busy(self) -> Self;
    /// The drive is pulled while the files are being written.
    fn pull_mid_export(self) -> Self;
    /// Runs one `disk` export of `files` with this passphrase.
    fn export(self, passphrase: Option<&str>, files: &[(&str, &[u8])]) -> Outcome;
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn expected(files: &[(&str, &[u8])]) -> Vec<(String, u64, String)> {
    let mut want: Vec<_> = files
        .iter()
        .map(|(n, d)| (n.to_string(), d.len() as u64, sha256(d)))
        .collect();
    want.sort();
    want
}

/// Fifteen 8 MiB files of incompressible bytes: long enough to pull a drive
/// in the middle.
pub fn slow_files() -> Vec<(String, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..15)
        .map(|i| {
            let data = (0..8 * 1024 * 1024 / 8)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect();
            (format!("big{i}.bin"), data)
        })
        .collect()
}

fn assert_written_and_locked(out: &Outcome, files: &[(&str, &[u8])]) {
    assert_eq!(out.status, "SUCCESS_EXPORT", "{}", out.raw);
    assert_eq!(out.exported, expected(files), "{}", out.raw);
    assert_eq!(out.stray_files, 0, "{}", out.raw);
    assert!(!out.left_open, "left unlocked or mounted: {}", out.raw);
}

fn assert_failed_cleanly(out: &Outcome, status: &str) {
    assert_eq!(out.status, status, "{}", out.raw);
    assert!(
        out.exported.is_empty(),
        "nothing may be exported: {}",
        out.raw
    );
    assert_eq!(out.stray_files, 0, "no half-written export: {}", out.raw);
    assert!(!out.left_open, "left unlocked or mounted: {}", out.raw);
}

pub fn writes_verifies_and_locks_luks<R: Rig>() {
    let out = R::new(Drive::Luks2).export(Some(PASS), FILES);
    assert_written_and_locked(&out, FILES);
}

pub fn writes_verifies_and_locks_veracrypt<R: Rig>() {
    let out = R::new(Drive::VeraCrypt).export(Some(PASS), FILES);
    assert_written_and_locked(&out, FILES);
}

pub fn a_wrong_passphrase_writes_nothing_and_leaves_the_drive_locked<R: Rig>() {
    let out = R::new(Drive::Luks2).export(Some("not the passphrase"), FILES);
    assert_failed_cleanly(&out, "ERROR_UNLOCK_LUKS");
}

pub fn a_busy_volume_is_error_unmount_volume_busy_after_a_complete_export<R: Rig>() {
    let out = R::new(Drive::Luks2).keep_busy().export(Some(PASS), FILES);
    assert_eq!(out.status, "ERROR_UNMOUNT_VOLUME_BUSY", "{}", out.raw);
    assert_eq!(out.exported, expected(FILES), "{}", out.raw);
}

pub fn a_drive_unlocked_and_mounted_by_hand_is_written_and_left_as_found<R: Rig>() {
    let out = R::new(Drive::Luks2).unlocked_by_hand().export(None, FILES);
    assert_eq!(out.status, "SUCCESS_EXPORT", "{}", out.raw);
    assert_eq!(out.exported, expected(FILES), "{}", out.raw);
    assert!(out.as_found, "still unlocked and mounted: {}", out.raw);
}

pub fn a_drive_pulled_mid_export_is_error_export_with_nothing_left_open<R: Rig>() {
    let files = slow_files();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let out = R::new(Drive::Luks2)
        .pull_mid_export()
        .export(Some(PASS), &files);
    assert_failed_cleanly(&out, "ERROR_EXPORT");
}

/// One `#[test]` per scenario body, for the rig `$rig`.
#[macro_export]
macro_rules! disk_scenarios {
    ($rig:ty) => {
        #[test]
        fn writes_verifies_and_locks_luks() {
            scenarios::writes_verifies_and_locks_luks::<$rig>()
        }
        #[test]
        fn writes_verifies_and_locks_veracrypt() {
            scenarios::writes_verifies_and_locks_veracrypt::<$rig>()
        }
        #[test]
        fn a_wrong_passphrase_writes_nothing_and_leaves_the_drive_locked() {
            scenarios::a_wrong_passphrase_writes_nothing_and_leaves_the_drive_locked::<$rig>()
        }
        #[test]
        fn a_busy_volume_is_error_unmount_volume_busy_after_a_complete_export() {
            scenarios::a_busy_volume_is_error_unmount_volume_busy_after_a_complete_export::<$rig>()
        }
        #[test]
        fn a_drive_unlocked_and_mounted_by_hand_is_written_and_left_as_found() {
            scenarios::a_drive_unlocked_and_mounted_by_hand_is_written_and_left_as_found::<$rig>()
        }
        #[test]
        fn a_drive_pulled_mid_export_is_error_export_with_nothing_left_open() {
            scenarios::a_drive_pulled_mid_export_is_error_export_with_nothing_left_open::<$rig>()
        }
    };
}
