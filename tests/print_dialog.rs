//! The print dialog, as a journalist uses it: `sdw-devices` runs on a print
//! archive without `print_options` with a display (a private `Xvfb`), shows
//! `sdw-print-dialog` (GTK 4) for the private cupsd's Brother queue, and the
//! test drives it with `xdotool` as a keyboard would: set copies and pages
//! and press Print, or press Cancel. What cupsd recorded for the job
//! (`Get-Jobs` through `ipptool`, independent of the code under test) must
//! be exactly what was chosen.
//!
//! Needs `Xvfb` and `xdotool` (.ci/packages/print.txt); without `Xvfb` the
//! tests say so and skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod print_support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use print_support::*;

/// A private X server on a display number no one else uses.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// `None` when Xvfb is not installed. Xvfb chooses a free display
    /// number itself (`-displayfd`: it takes the number's lock file
    /// atomically) and writes it to its stdout once it accepts clients, so
    /// tests running at the same time, in this process or another, never
    /// share a display (and so never type into each other's dialog).
    fn start() -> Option<Xvfb> {
        if !Path::new("/usr/bin/Xvfb").exists() {
            eprintln!("SKIPPED: Xvfb is not installed (package xvfb, .ci/packages/print.txt)");
            return None;
        }
        let mut child = Command::new("/usr/bin/Xvfb")
            .args(["-displayfd", "1"])
            .args(["-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut number = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut number)
            .unwrap();
        let number = number.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Xvfb started no display (it said {number:?})");
        }
        Some(Xvfb {
            display: format!(":{number}"),
            child,
        })
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let output = Command::new("/usr/bin/xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("xdotool (package xdotool) must be installed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Waits for a window whose title matches `title` (a regular
    /// expression) and returns its id.
    fn window(&self, title: &str, cupsd: &Cupsd) -> String {
        let started = Instant::now();
        loop {
            let found = self.xdotool(&["search", "--onlyvisible", "--name", title]);
            if let Some(id) = found.lines().next() {
                return id.to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no window titled {title:?}; log:\n{}",
                cupsd.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Keys typed into the focused window, one at a time with a pause (GTK
    /// reacts to some, such as a mnemonic, by moving the focus).
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.xdotool(&["key", "--clearmodifiers", key]);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn typed(&self, text: &str) {
        self.xdotool(&["type", "--delay", "80", text]);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The screen as a PNG (ImageMagick's `import`), when asked for with
    /// `SDW_TEST_DIALOG_SCREENSHOT=PATH`.
    fn screenshot(&self, window: &str) {
        let Some(path) = std::env::var_os("SDW_TEST_DIALOG_SCREENSHOT") else {
            return;
        };
        let status = Command::new("/usr/bin/import")
            .args(["-window", window])
            .arg(&path)
            .env("DISPLAY", &self.display)
            .status()
            .expect("import (package imagemagick)");
        assert!(status.success());
    }
}

impl Drop for Xvfb {
    /// SIGTERM first: Xvfb then removes its lock file and socket from
    /// `/tmp` (killed, it leaves them behind).
    fn drop(&mut self) {
        sdw_testkit::host::terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// The dialog program, `sdw-print-dialog` beside `sdw-devices` in cargo's
/// output folder. `cargo test --workspace` builds it there before any test
/// runs (cargo builds a package's binaries for that package's integration
/// tests, and `print-dialog/tests/` has some), so these tests use it as it
/// is. Run on their own (`cargo test -p sdw-devices --test print_dialog`),
/// the binary may be missing or older than its sources (those of the
/// `print-dialog` and `protocol` crates, `Cargo.toml`, `Cargo.lock`): then
/// it is built first with `cargo build -p sdw-print-dialog`, once per test
/// process (a minute or more: cargo builds GTK again, for the features of
/// that package alone).
fn dialog_program() -> PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_BIN_EXE_sdw-devices"))
                .parent()
                .unwrap();
            let program = dir.join("sdw-print-dialog");
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
            let sources = [
                workspace.join("print-dialog/src"),
                workspace.join("print-dialog/Cargo.toml"),
                workspace.join("protocol/src"),
                workspace.join("protocol/Cargo.toml"),
                workspace.join("Cargo.toml"),
                workspace.join("Cargo.lock"),
            ];
            let built = fs::metadata(&program).and_then(|m| m.modified()).ok();
            let newest_source = sources.iter().filter_map(|s| newest_change(s)).max();
            if built.is_some() && built >= newest_source {
                return program;
            }
            eprintln!(
                "building sdw-print-dialog: {} is missing or older than its sources",
                program.display()
            );
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "sdw-print-dialog"])
                .args(if dir.ends_with("release") {
                    &["--release"][..]
                } else {
                    &[][..]
                })
                .status()
                .unwrap();
            assert!(status.success(), "building sdw-print-dialog failed");
            program
        })
        .clone()
}

/// When a file, or any file under a folder, last changed (`None` when
/// there is none).
fn newest_change(path: &Path) -> Option<SystemTime> {
    let metadata = fs::metadata(path).ok()?;
    if !metadata.is_dir() {
        return metadata.modified().ok();
    }
    fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest_change(&entry.ok()?.path()))
        .max()
}

fn brother() -> Cupsd {
    let cupsd = Cupsd::start();
    cupsd.set_devices("usb", &[BROTHER_DEVICE]);
    cupsd.set_usb(&[BROTHER_USB]);
    cupsd
}

/// A text file of `pages` pages as CUPS prints text (60 lines a page).
fn text_pages(pages: usize) -> Vec<u8> {
    (1..=pages * 60)
        .map(|n| format!("line {n}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Starts `sdw-devices` on a print archive without `print_options`, with
/// the display and the built dialog, and waits for the dialog.
fn open_dialog(cupsd: &Cupsd, x: &Xvfb) -> (Child, String) {
    cupsd.install_dialog(&dialog_program());
    let child = cupsd.spawn_env(
        &archive("printer", &[("leak/report.txt", &text_pages(5))]),
        &[
            ("DISPLAY", x.display.as_str()),
            // As in a qube's session (GTK names windows in the locale's charset).
            ("LANG", "C.UTF-8"),
        ],
    );
    let window = x.window("^Print “report.txt”$", cupsd);
    x.xdotool(&["windowfocus", "--sync", &window]);
    (child, window)
}

#[test]
fn copies_and_pages_chosen_in_the_dialog_are_what_cupsd_prints() {
    let Some(x) = Xvfb::start() else { return };
    let cupsd = brother();
    let (child, window) = open_dialog(&cupsd, &x);
    // Copies: its mnemonic (Alt+S) focuses the number; select it and type.
    x.keys(&["alt+s", "ctrl+a"]);
    x.typed("2");
    // Pages: the field before Copies (Shift+Tab), then Alt+E chooses
    // "Pages:" (GTK keeps "All Pages" while only the field is typed in).
    x.keys(&["shift+Tab"]);
    x.typed("2-3");
    x.keys(&["alt+e"]);
    x.screenshot(&window);
    x.keys(&["alt+p"]);
    let run = cupsd.finish(child, Duration::from_secs(120));
    run.assert_status("PRINTER_SUCCESS");
    let attributes = cupsd.job_attributes("sdw-printer");
    assert_eq!(
        attributes.matches("job-id (integer) = ").count(),
        1,
        "one job:\n{attributes}"
    );
    for expected in [
        "copies (integer) = 2",
        "page-ranges (rangeOfInteger) = 2-3",
        // The dialog shows the queue's "Two-sided: One Sided"; Print keeps it.
        "sides (keyword) = one-sided",
        // Two pages of five, twice.
        "job-impressions-completed (integer) = 4",
    ] {
        assert!(attributes.contains(expected), "{expected}:\n{attributes}");
    }
    // Paper, colour and orientation were left as they were: not set.
    for absent in ["media (", "print-color-mode (", "orientation-requested ("] {
        assert!(!attributes.contains(absent), "{absent}:\n{attributes}");
    }
    assert!(
        cupsd.logs().contains("print options set on every job"),
        "{}",
        run.log_tail
    );
    // The file name reached the dialog's title, never the log.
    assert!(!cupsd.logs().contains("report.txt"));
    assert_eq!(cupsd.jobs().len(), 1);
}

#[test]
fn sides_paper_and_orientation_chosen_in_the_dialog_are_what_cupsd_prints() {
    let Some(x) = Xvfb::start() else { return };
    let cupsd = brother();
    let (child, _window) = open_dialog(&cupsd, &x);
    // The pointer away from where the drop-down lists open (a list item
    // under the pointer is chosen over the keyboard's).
    x.xdotool(&["mousemove", "1010", "760"]);
    // The Page Setup tab; each drop-down opens with Space, and the first
    // item is focused: Down and Return choose the second.
    x.keys(&["ctrl+Page_Down"]);
    // Two-sided (Alt+W): One Sided -> Long Edge (Standard).
    x.keys(&["alt+w", "space", "Down", "Return"]);
    // Orientation (Alt+I): Portrait -> Landscape.
    x.keys(&["alt+i", "space", "Down", "Return"]);
    // Paper size, the field before Orientation: A4 -> A5.
    x.keys(&["shift+Tab", "space", "Down", "Return"]);
    // Back to General, where Alt+P is only Print.
    x.keys(&["ctrl+Page_Up", "alt+p"]);
    let run = cupsd.finish(child, Duration::from_secs(120));
    run.assert_status("PRINTER_SUCCESS");
    let attributes = cupsd.job_attributes("sdw-printer");
    for expected in [
        "sides (keyword) = two-sided-long-edge",
        "media (keyword) = iso_a5_148x210mm",
        "orientation-requested (enum) = landscape",
    ] {
        assert!(attributes.contains(expected), "{expected}:\n{attributes}");
    }
    for absent in ["copies (", "page-ranges (", "print-color-mode ("] {
        assert!(!attributes.contains(absent), "{absent}:\n{attributes}");
    }
    assert_eq!(cupsd.jobs().len(), 1);
}

#[test]
fn cancel_in_the_dialog_prints_nothing_and_answers_error_print() {
    let Some(x) = Xvfb::start() else { return };
    let cupsd = brother();
    let (child, _window) = open_dialog(&cupsd, &x);
    x.keys(&["alt+c"]);
    let run = cupsd.finish(child, Duration::from_secs(60));
    run.assert_status("ERROR_PRINT");
    assert!(
        cupsd.logs().contains("cancelled the print dialog"),
        "{}",
        run.log_tail
    );
    assert!(
        !cupsd.job_attributes("sdw-printer").contains("job-id ("),
        "no job submitted"
    );
    assert!(cupsd.jobs().is_empty());
}

#[test]
fn without_a_display_the_queue_defaults_print_as_before() {
    let cupsd = brother();
    // A dialog program that would fail the run if it were started.
    let failing = cupsd.root.join("failing-dialog");
    fs::write(&failing, "#!/bin/sh\nexit 2\n").unwrap();
    fs::set_permissions(&failing, fs::Permissions::from_mode(0o755)).unwrap();
    cupsd.install_dialog(&failing);
    let run = cupsd.run_env(&archive("printer", &[("report.txt", &text_pages(1))]), &[]);
    run.assert_status("PRINTER_SUCCESS");
    assert!(cupsd.logs().contains("no display"), "{}", run.log_tail);
    assert_eq!(cupsd.jobs().len(), 1);
}
