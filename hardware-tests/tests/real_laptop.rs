//! Tests for a real Qubes laptop (see `qubes-laptop/RUNBOOK.md`): built in CI,
//! ignored there, run with `--ignored` as root inside `sd-devices` with one real
//! USB stick attached. The passphrase comes from the file named by
//! `SDW_REAL_PASSPHRASE_FILE`; `SDW_DEVICES` names the device binary (default
//! `/usr/bin/sdw-devices`). The stick is checked by `cryptsetup` and mount
//! here, never by the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn devices_binary() -> PathBuf {
    std::env::var_os("SDW_DEVICES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/sdw-devices"))
}

fn passphrase() -> Result<String> {
    let file =
        std::env::var_os("SDW_REAL_PASSPHRASE_FILE").ok_or("set SDW_REAL_PASSPHRASE_FILE")?;
    Ok(std::fs::read_to_string(file)?
        .trim_end_matches('\n')
        .to_owned())
}

/// Runs `sdw-devices ARCHIVE` and returns its one status line.
fn run_device(dir: &Path, metadata: serde_json::Value, files: &[(&str, &[u8])]) -> Result<String> {
    let archive = dir.join("real.sd-export");
    sdw_testkit::write_gzip(&archive, metadata.to_string().as_bytes(), files)?;
    let output = Command::new(devices_binary()).arg(&archive).output()?;
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr)?;
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one status line: {stderr:?}");
    Ok(lines.first().copied().unwrap_or_default().to_owned())
}

fn leftovers() -> Result<Vec<String>> {
    let mut left: Vec<String> = std::fs::read_dir("/dev/mapper")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sd-export-"))
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains("/run/sdw-devices/"))
            .map(str::to_owned),
    );
    Ok(left)
}

#[test]
#[ignore = "needs a real Qubes sd-devices with one LUKS stick: see qubes-laptop/RUNBOOK.md"]
fn preflight_sees_one_locked_stick() -> Result {
    let dir = sdw_hardware_tests::lab::TempDir::new()?;
    assert_eq!(
        run_device(dir.path(), serde_json::json!({"device": "usb-test"}), &[])?,
        "DEVICE_LOCKED"
    );
    Ok(())
}

#[test]
#[ignore = "needs a real Qubes sd-devices with one plain stick: see qubes-laptop/RUNBOOK.md"]
fn plain_stick_is_invalid() -> Result {
    let dir = sdw_hardware_tests::lab::TempDir::new()?;
    assert_eq!(
        run_device(dir.path(), serde_json::json!({"device": "usb-test"}), &[])?,
        "INVALID_DEVICE_DETECTED"
    );
    Ok(())
}

#[test]
#[ignore = "needs a real Qubes sd-devices with one LUKS stick: see qubes-laptop/RUNBOOK.md"]
fn wrong_passphrase_is_refused() -> Result {
    let dir = sdw_hardware_tests::lab::TempDir::new()?;
    let metadata =
        serde_json::json!({"device": "disk", "encryption_key": "certainly not the passphrase"});
    assert_eq!(
        run_device(dir.path(), metadata, &[("a.txt", b"x")])?,
        "ERROR_UNLOCK_LUKS"
    );
    assert!(leftovers()?.is_empty());
    Ok(())
}

fn round_trip(size: usize) -> Result {
    let dir = sdw_hardware_tests::lab::TempDir::new()?;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let metadata = serde_json::json!({"device": "disk", "encryption_key": passphrase()?});
    let status = run_device(dir.path(), metadata, &[("real/Übersicht.bin", &data)])?;
    assert_eq!(status, "SUCCESS_EXPORT");
    assert!(leftovers()?.is_empty(), "left open: {:?}", leftovers()?);
    assert_eq!(
        read_back_independently(dir.path(), "real/Übersicht.bin")?,
        data
    );
    Ok(())
}

/// Opens the stick named by `SDW_REAL_STICK` (e.g. `/dev/sda`) with the
/// `cryptsetup` program, mounts it read-only, and reads the file from the
/// newest export folder.
fn read_back_independently(dir: &Path, relative: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    let stick = std::env::var_os("SDW_REAL_STICK").ok_or("set SDW_REAL_STICK, e.g. /dev/sda")?;
    let mut open = Command::new("cryptsetup")
        .args(["open", "--readonly", "--key-file", "-"])
        .arg(&stick)
        .arg("sdw-real-check")
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    open.stdin
        .take()
        .ok_or("no stdin")?
        .write_all(passphrase()?.as_bytes())?;
    assert!(open.wait()?.success(), "cryptsetup open");
    let mount_point = dir.join("check");
    std::fs::create_dir(&mount_point)?;
    let mounted = Command::new("mount")
        .args(["-o", "ro", "/dev/mapper/sdw-real-check"])
        .arg(&mount_point)
        .status()?;
    let result = (|| -> Result<Vec<u8>> {
        assert!(mounted.success(), "mount");
        let newest = std::fs::read_dir(&mount_point)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("sd-export-"))
            .max()
            .ok_or("no export folder on the stick")?;
        Ok(std::fs::read(
            mount_point.join(newest).join("export_data").join(relative),
        )?)
    })();
    let _ = Command::new("umount").arg(&mount_point).status();
    let _ = Command::new("cryptsetup")
        .args(["close", "sdw-real-check"])
        .status();
    result
}

#[test]
#[ignore = "needs a real Qubes sd-devices with one LUKS stick: see qubes-laptop/RUNBOOK.md"]
fn export_round_trip() -> Result {
    round_trip(10 * 1024 * 1024)
}

#[test]
#[ignore = "pull the stick while this runs: see qubes-laptop/RUNBOOK.md, step 5"]
fn export_round_trip_large() -> Result {
    round_trip(2 * 1024 * 1024 * 1024)
}
