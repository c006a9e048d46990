//! The privilege split, run as processes: `sdw-devices` as an unprivileged
//! user reaches the drives only through `sudo` and the helper, and without
//! that privilege answers one clear status word and logs what is missing;
//! the helper itself takes no arguments and answers requests on stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use sdw_testkit::ArchiveBuilder;

const NOBODY: &str = "65534";

fn helper() -> &'static str {
    env!("CARGO_BIN_EXE_sdw-devices-helper")
}

fn open_to_all(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
}

/// Runs `sdw-devices ARCHIVE` as the user `nobody`, as Qubes runs the MIME
/// handler as `user`; returns (stderr, log text).
fn run_as_nobody(metadata: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    open_to_all(dir.path());
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    open_to_all(&home);
    let archive = dir.path().join("a.sd-export");
    fs::write(
        &archive,
        ArchiveBuilder::with_metadata(metadata)
            .file("export_data/a.txt", b"alpha")
            .gzip(),
    )
    .unwrap();
    fs::set_permissions(&archive, fs::Permissions::from_mode(0o644)).unwrap();
    let output = Command::new("/usr/bin/setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_sdw-devices"),
        ])
        .arg(&archive)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .current_dir(dir.path())
        .output()
        .expect("setpriv (package util-linux) must be installed");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let logs = home.join(".securedrop_export/logs");
    let mut log = String::new();
    for entry in fs::read_dir(&logs).unwrap() {
        log.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    (String::from_utf8_lossy(&output.stderr).into_owned(), log)
}

#[test]
fn an_unprivileged_probe_without_the_sudoers_rule_is_device_error_and_says_why() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("needs root to switch to nobody: run by CI as root");
        return;
    }
    assert!(
        Path::new("/usr/bin/sudo").exists(),
        "sudo must be installed (.ci/packages/base.txt)"
    );
    let (stderr, log) = run_as_nobody(r#"{"device":"usb-test"}"#);
    assert_eq!(stderr, "DEVICE_ERROR\n");
    assert!(
        log.contains("the privileged helper") && log.contains("/etc/sudoers.d/sdw-devices"),
        "the log names what is missing: {log}"
    );
}

#[test]
fn an_unprivileged_export_without_the_sudoers_rule_is_device_error_and_leaks_no_passphrase() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("needs root to switch to nobody: run by CI as root");
        return;
    }
    let (stderr, log) =
        run_as_nobody(r#"{"device":"disk","encryption_key":"correct horse battery"}"#);
    assert_eq!(stderr, "DEVICE_ERROR\n");
    assert!(!log.contains("horse"), "{log}");
}

#[test]
fn the_helper_takes_no_arguments() {
    let output = Command::new(helper()).arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}

#[test]
fn the_helper_answers_requests_and_exits_when_its_input_closes() {
    let mut child = Command::new(helper())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"op\":\"scan\"}\n{\"op\":\"unmount\",\"volume\":\"/etc\"}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("{\"drives\":["), "{stdout}");
    assert_eq!(lines[1], r#"{"refused":"not a kernel device name"}"#);
}
