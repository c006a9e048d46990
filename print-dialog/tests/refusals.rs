//! `sdw-print-dialog` as the device side runs it, where it cannot show a
//! dialog: with bad arguments, or without a display, it exits 2 with nothing
//! on stdout (so no answer can be read from it) and says why on stderr, as
//! its module documentation promises; the device side takes exit 2 as a
//! dialog that failed and prints nothing (`src/print/dialog.rs`).
//!
//! The dialog itself (Print and Cancel under `Xvfb`) is tested through the
//! device side in the workspace's `tests/print_dialog.rs`, which runs the
//! binary that `cargo test --workspace` builds here: cargo builds a
//! package's binaries when that package has integration tests, as this one.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the dialog program with `args`, an environment with no display,
/// and `name` on stdin.
fn dialog(args: &[&str], name: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdw-print-dialog"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It may exit before reading stdin: a closed pipe is not a failure here.
    let _ = child.stdin.take().unwrap().write_all(name.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn bad_arguments_exit_2_with_the_usage_and_no_answer() {
    for args in [
        &[][..],
        &["--printer"][..],
        &["--printer", ""][..],
        &["--printer", "sdw-printer", "extra"][..],
        &["--queue", "sdw-printer"][..],
    ] {
        let output = dialog(args, "report.txt\n");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: no answer on stdout");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("sdw-print-dialog: usage: sdw-print-dialog --printer QUEUE"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn without_a_display_it_exits_2_and_says_why() {
    let output = dialog(&["--printer", "sdw-printer"], "report.txt\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "no answer on stdout");
    assert!(
        stderr.contains("GTK cannot start (no display?)"),
        "{stderr}"
    );
    // The document's name stays out of what it says.
    assert!(!stderr.contains("report.txt"), "{stderr}");
}
