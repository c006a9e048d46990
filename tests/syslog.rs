//! Logs reach syslog as upstream's do (the template's securedrop-log then
//! forwards syslog to sd-log): the device side sends RFC 3164 datagrams to
//! `/dev/log`. Run in a private mount namespace whose `/dev/log` is a socket
//! of the test's own, so nothing of the host's logging is touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use sdw_testkit::ArchiveBuilder;

#[test]
fn the_device_side_logs_to_syslog_and_never_the_passphrase() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("needs root for a private mount namespace: run by CI as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let archive = dir.path().join("a.sd-export");
    std::fs::write(
        &archive,
        ArchiveBuilder::with_metadata(r#"{"device":"disk","encryption_key":"correct horse"}"#)
            .file("export_data/a.txt", b"alpha")
            .gzip(),
    )
    .unwrap();
    let script = format!(
        "mount -t tmpfs sdw-test-dev /dev && ln -s {} /dev/log && exec {} {}",
        socket_path.display(),
        env!("CARGO_BIN_EXE_sdw-devices"),
        archive.display()
    );
    let output = Command::new("/usr/bin/unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            &script,
        ])
        .env("HOME", dir.path())
        .output()
        .expect("unshare (package util-linux) must be installed");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = stderr.lines().last().unwrap_or_default().to_owned();
    let mut records = Vec::new();
    let mut buffer = vec![0u8; 65536];
    socket.set_nonblocking(true).unwrap();
    while let Ok(n) = socket.recv(&mut buffer) {
        records.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    assert!(
        records
            .iter()
            .all(|r| r.starts_with("<14>sdw-devices[") || r.starts_with("<14>sdw-devices-helper[")),
        "{records:#?}"
    );
    assert!(
        records.iter().any(|r| r.contains("start")),
        "the start is logged: {records:#?}"
    );
    assert!(
        records.iter().any(|r| r.contains(&status)),
        "the status {status} is logged: {records:#?}"
    );
    assert!(records.iter().all(|r| !r.contains("horse")), "{records:#?}");
}
