//! Shared by the process-level tests: fake `qrexec-client-vm` scripts, reading
//! an archive back, and finding the device-side binary `sdw-devices`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::read::GzDecoder;

/// Writes an executable `/bin/sh` script named `name` in `dir`. The script
/// first records its arguments (one per line) in `dir/args`, its environment in
/// `dir/env`, its pid in `dir/pid`, and, for the `qubes.OpenInVM` form, copies
/// the archive (its last argument) to `dir/received.sd-export`; then runs `body`.
pub fn fake_qrexec(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let record = dir.display();
    let script = format!(
        r#"#!/bin/sh
printf '%s\n' "$@" > '{record}/args'
env > '{record}/env'
echo $$ > '{record}/pid'
for last in "$@"; do :; done
if [ "$#" -gt 2 ] && [ -f "$last" ]; then cp "$last" '{record}/received.sd-export'; fi
{body}
"#
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every member of a `.sd-export` archive: name -> content.
pub fn archive_members(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut members = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        members.insert(name, data);
    }
    members
}

pub fn write_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Whether the process is gone (or a zombie nobody will run again).
pub fn process_is_gone(pid: u32) -> bool {
    // SIGKILL is delivered asynchronously: on a loaded machine the target can
    // still show as running for a moment after kill(2) returned.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        };
        if gone || std::time::Instant::now() >= deadline {
            return gone;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The device-side binary, `target/release/sdw-devices`. When it is absent it is
/// built (into a separate target directory, so as not to wait on the lock of
/// the `cargo test` that runs us). `None`, with a loud message, only if that
/// build fails.
pub fn device_binary() -> Option<PathBuf> {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let built = target.join("release/sdw-devices");
    if built.is_file() {
        return Some(built);
    }
    let own_target = root.join("target/sdw-client-e2e");
    let fallback = own_target.join("release/sdw-devices");
    if fallback.is_file() {
        return Some(fallback);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "sdw-devices", "--target-dir"])
        .arg(&own_target)
        .current_dir(&root)
        .status();
    match status {
        Ok(s) if s.success() && fallback.is_file() => Some(fallback),
        other => {
            eprintln!(
                "\n!!!!!!!! SKIPPING: sdw-devices is not built and `cargo build --release -p sdw-devices` failed ({other:?}) !!!!!!!!\n"
            );
            None
        }
    }
}

/// A wrapper around the device binary that keeps its logs in `dir/logs`
/// instead of the user's home: `dir/sdw-devices`.
pub fn device_in(dir: &Path) -> Option<PathBuf> {
    let binary = device_binary()?;
    let logs = dir.join("logs");
    let wrapper = dir.join("sdw-devices");
    let script = format!(
        "#!/bin/sh\nSDW_LOG_DIR='{}' exec '{}' \"$@\"\n",
        logs.display(),
        binary.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(wrapper)
}

/// The one `sd-export-YYYYMMDD-HHMMSS` folder an export created in `dir`.
pub fn only_export_folder(dir: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = folders.into_iter().next().unwrap();
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let stamp = name
        .strip_prefix("sd-export-")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        stamp.len() == 15
            && stamp.char_indices().all(|(i, c)| if i == 8 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{name}"
    );
    folder
}
