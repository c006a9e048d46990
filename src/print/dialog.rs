//! The print dialog for archives without `print_options`: when the qube has
//! a display, the journalist chooses copies, pages, sides, paper, colour and
//! orientation in GTK's print dialog before anything prints.
//!
//! GTK never runs in this process, which parses archives: the dialog is its
//! own program, `sdw-print-dialog` ([`DIALOG_PATH`]; under `sdw-devices --sim
//! DIR`, `DIR/sdw-print-dialog` when it exists: [`super::Printers::dialog_program`]),
//! run with the queue's name as its only argument and
//! the document's display name ([`display_name`], made printable here) on
//! its stdin. Its answer is untrusted input: at most [`MAX_ANSWER_BYTES`] of
//! stdout, one line, `cancelled` with exit 1 or
//! `{"printer":"…","print_options":{…}}` with exit 0, the options parsed by
//! [`sdw_protocol::parse_print_options`] exactly as `print_options` in
//! `metadata.json`, then checked against the queue as those are. Anything
//! else, a printer other than the queue, no answer within [`DIALOG_TIMEOUT`],
//! or a signal ([`DialogError`]) prints nothing. Its stderr (GTK's warnings)
//! goes to the log, never to our stderr, which carries the status word.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdw_protocol::{parse_print_options, PrintOptions};

use crate::archive::{ExportPlan, PlannedMember};

/// Where the package installs the dialog.
pub const DIALOG_PATH: &str = "/usr/libexec/sdw-devices/sdw-print-dialog";
/// How long the journalist has to answer the dialog.
pub const DIALOG_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The most of the dialog's stdout read.
pub const MAX_ANSWER_BYTES: u64 = 4096;
/// The most of the dialog's stderr kept for the log.
const MAX_STDERR_BYTES: u64 = 8192;
/// The longest display name shown, in characters.
const MAX_NAME_CHARS: usize = 80;

/// What the journalist chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Print pressed, with these options (possibly none).
    Print(PrintOptions),
    /// Cancel pressed or the dialog closed: print nothing.
    Cancelled,
}

/// Why the dialog gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    #[error("starting the print dialog {path:?} failed: {source}")]
    Spawn { path: PathBuf, source: io::Error },
    #[error("waiting for the print dialog failed: {0}")]
    Wait(io::Error),
    #[error("the print dialog failed ({status})")]
    Failed { status: ExitStatus },
    #[error("the print dialog's answer is not understood: {0}")]
    Answer(String),
    #[error("a printer other than the one set up was chosen")]
    OtherPrinter,
    #[error("no answer from the print dialog within {0:?}")]
    Timeout(Duration),
    #[error("interrupted by a signal while the print dialog was open")]
    Interrupted,
}

/// Shows the print dialog `program` for `queue` when the qube has a display
/// (`has_display`: [`crate::config::PrintConfig::display`]), and returns the
/// journalist's choice; `None` without a display (print with the queue's
/// defaults).
pub fn ask(
    program: &Path,
    has_display: bool,
    queue: &str,
    display_name: &str,
    interrupted: &AtomicBool,
) -> Result<Option<Choice>, DialogError> {
    if !has_display {
        tracing::info!("no display: printing with the queue's defaults");
        return Ok(None);
    }
    let path = program.to_path_buf();
    tracing::info!(dialog = ?path, queue, "showing the print dialog");
    let mut child = Command::new(&path)
        .arg("--printer")
        .arg(queue)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| DialogError::Spawn {
            path: path.clone(),
            source,
        })?;
    // The name goes through a pipe, never the command line.
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = writeln!(stdin, "{display_name}") {
            tracing::warn!(error = %e, "the print dialog did not read its document name");
        }
    }
    let stdout = read_bounded(child.stdout.take(), MAX_ANSWER_BYTES);
    let stderr = read_bounded(child.stderr.take(), MAX_STDERR_BYTES);
    let status = wait(&mut child, DIALOG_TIMEOUT, interrupted);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    if !stderr.trim().is_empty() {
        tracing::info!(stderr = %stderr.trim(), "print dialog's messages");
    }
    let choice = parse_answer(status?, &stdout, queue)?;
    tracing::info!(?choice, "print dialog answered");
    Ok(Some(choice))
}

/// Waits for the dialog, killing it on timeout or signal.
fn wait(
    child: &mut Child,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> Result<ExitStatus, DialogError> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(DialogError::Wait)? {
            return Ok(status);
        }
        let stop = if interrupted.load(Ordering::SeqCst) {
            Some(DialogError::Interrupted)
        } else if started.elapsed() >= timeout {
            Some(DialogError::Timeout(timeout))
        } else {
            None
        };
        if let Some(error) = stop {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads at most `limit` bytes of a pipe on a thread, then drains the rest
/// (so the child never blocks on a full pipe) without keeping it.
fn read_bounded<R: Read + Send + 'static>(pipe: Option<R>, limit: u64) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = (&mut pipe).take(limit).read_to_end(&mut kept);
            let _ = io::copy(&mut pipe, &mut io::sink());
        }
        kept
    })
}

/// Top-level answer of the dialog; the options are parsed from their own
/// text so that duplicate keys are seen.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    printer: String,
    print_options: Box<serde_json::value::RawValue>,
}

/// The dialog's exit status and stdout as a [`Choice`] for `queue`.
fn parse_answer(status: ExitStatus, stdout: &[u8], queue: &str) -> Result<Choice, DialogError> {
    let bad = |what: &str| DialogError::Answer(what.to_owned());
    if stdout.len() as u64 >= MAX_ANSWER_BYTES {
        return Err(bad("too long"));
    }
    let text = std::str::from_utf8(stdout).map_err(|_| bad("not UTF-8"))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.contains('\n') {
        return Err(bad("more than one line"));
    }
    match status.code() {
        Some(1) if text == "cancelled" => Ok(Choice::Cancelled),
        Some(0) => {
            let answer: Answer = serde_json::from_str(text)
                .map_err(|e| DialogError::Answer(e.to_string().chars().take(160).collect()))?;
            if answer.printer != queue {
                return Err(DialogError::OtherPrinter);
            }
            let options = parse_print_options(answer.print_options.get())
                .map_err(|e| DialogError::Answer(e.to_string()))?;
            Ok(Choice::Print(options.unwrap_or_default()))
        }
        Some(1) => Err(bad("an answer that does not match the exit code")),
        _ => Err(DialogError::Failed { status }),
    }
}

/// The name the dialog shows for what is printed: the first file's name
/// (its last path component), with "and N more" for more files; characters
/// that could hide or reorder text (controls, bidirectional overrides,
/// zero-width characters) are dropped and the name shortened.
pub fn display_name(plan: &ExportPlan) -> String {
    let mut files = plan.members().filter_map(|member| match member {
        PlannedMember::File { path, .. } => Some(path),
        PlannedMember::Dir(_) => None,
    });
    let Some(first) = files.next() else {
        return String::new();
    };
    let more = files.count();
    let name = printable_name(first.rsplit('/').next().unwrap_or_default());
    match more {
        0 => name,
        1 => format!("{name} and 1 more file"),
        n => format!("{name} and {n} more files"),
    }
}

fn printable_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|&c| {
            !c.is_control()
                && !matches!(c,
                    '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
        })
        .collect();
    if kept.chars().count() > MAX_NAME_CHARS {
        let short: String = kept.chars().take(MAX_NAME_CHARS - 1).collect();
        format!("{short}…")
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn print_answers_follow_the_metadata_rules() {
        let answer = br#"{"printer":"sdw-printer","print_options":{"copies":2,"page_ranges":"2-3"}}
"#;
        let Choice::Print(options) = parse_answer(exit(0), answer, "sdw-printer").unwrap() else {
            panic!("not a print")
        };
        assert_eq!(options.copies.map(|c| c.get()), Some(2));
        assert_eq!(options.page_ranges.unwrap().to_string(), "2-3");
        assert_eq!(
            parse_answer(
                exit(0),
                br#"{"printer":"sdw-printer","print_options":{}}"#,
                "sdw-printer"
            )
            .unwrap(),
            Choice::Print(PrintOptions::default())
        );
        for refused in [
            &br#"{"printer":"sdw-printer","print_options":{"copies":100}}"#[..],
            br#"{"printer":"sdw-printer","print_options":{"copies":2,"copies":3}}"#,
            br#"{"printer":"sdw-printer","print_options":{"pages":"1"}}"#,
            br#"{"printer":"sdw-printer","print_options":{},"x":1}"#,
            b"cancelled",
            b"",
            b"{\"printer\":\"sdw-printer\",\n\"print_options\":{}}",
            b"\xff",
        ] {
            assert!(
                matches!(
                    parse_answer(exit(0), refused, "sdw-printer"),
                    Err(DialogError::Answer(_))
                ),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        let long = [b' '; MAX_ANSWER_BYTES as usize];
        assert!(parse_answer(exit(0), &long, "sdw-printer").is_err());
    }

    #[test]
    fn another_printer_is_refused() {
        assert!(matches!(
            parse_answer(
                exit(0),
                br#"{"printer":"office","print_options":{}}"#,
                "sdw-printer"
            ),
            Err(DialogError::OtherPrinter)
        ));
    }

    #[test]
    fn cancel_needs_both_the_word_and_the_exit_code() {
        assert_eq!(
            parse_answer(exit(1), b"cancelled\n", "sdw-printer").unwrap(),
            Choice::Cancelled
        );
        assert!(parse_answer(exit(1), b"", "sdw-printer").is_err());
        assert!(parse_answer(exit(1), b"{}", "sdw-printer").is_err());
        assert!(matches!(
            parse_answer(exit(2), b"", "sdw-printer"),
            Err(DialogError::Failed { .. })
        ));
        assert!(matches!(
            parse_answer(ExitStatus::from_raw(9), b"cancelled", "sdw-printer"),
            Err(DialogError::Failed { .. })
        ));
    }

    #[test]
    fn names_are_made_printable_and_short() {
        assert_eq!(printable_name("report.pdf"), "report.pdf");
        assert_eq!(
            printable_name("fdp.\u{202E}exe\u{0007}\u{200B}.pdf"),
            "fdp.exe.pdf"
        );
        let long = "x".repeat(300);
        assert_eq!(printable_name(&long).chars().count(), MAX_NAME_CHARS);
    }
}
