//! Runs one child process for a transport: spawns it in its own process group,
//! optionally streams a file into its stdin, reads its stdout and stderr through
//! a [`StatusReader`] each (bounded memory: the last non-empty line, capped;
//! what it says is logged, truncated), and waits for it while
//! watching the cancel token and the deadline. On cancellation or timeout the
//! whole process group is killed, so nothing the child started is left behind.
//!
//! When the caller wants progress, each complete line of the status stream
//! that is exactly a progress line ([`PrintProgress::parse`]; anything else is
//! skipped, never an error) is handed to it on the calling thread, at most
//! [`MAX_PROGRESS_LINES`] of them. The status is read as before: the last
//! non-empty line, so a progress line is never taken for a status.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};
use sdw_protocol::{PrintProgress, Status, StatusReader, MAX_PROGRESS_LINES};

use super::{Answer, TransportError};
use crate::CancelToken;

/// How often the child is polled while waiting.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the output pipes to close once the child has exited.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How much of one chunk of untrusted output is logged.
const LOGGED_CHARS: usize = 200;

/// Which output stream carries the status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusStream {
    Stderr,
    Stdout,
}

/// One child to run.
pub(super) struct ChildSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// A file to stream into the child's stdin; stdin is `/dev/null` otherwise.
    pub stdin_file: Option<PathBuf>,
    pub status_stream: StatusStream,
    pub timeout: Option<Duration>,
}

/// Runs the child and reads the status from its status stream.
///
/// A child that exits with a known status word is believed whatever its exit
/// code; one that exits non-zero without one is a [`TransportError::Failed`];
/// one that exits 0 with anything else gives [`Status::UnexpectedReturnStatus`].
pub(super) fn run(
    spec: &ChildSpec,
    cancel: &CancelToken,
    progress: Option<&dyn Fn(PrintProgress)>,
) -> Result<Answer, TransportError> {
    let program = spec.program.to_string_lossy().into_owned();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(if spec.stdin_file.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    tracing::debug!(program = %program, "starting device hand-over");
    let mut child = command.spawn().map_err(|source| TransportError::Spawn {
        program: program.clone(),
        source,
    })?;

    if let (Some(stdin), Some(path)) = (child.stdin.take(), spec.stdin_file.clone()) {
        feed_stdin(stdin, path);
    }
    let (progress_tx, progress_rx) = mpsc::channel();
    let wanted =
        |stream| (progress.is_some() && spec.status_stream == stream).then(|| progress_tx.clone());
    let stdout = child
        .stdout
        .take()
        .map(|pipe| read_status(pipe, "stdout", wanted(StatusStream::Stdout)));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| read_status(pipe, "stderr", wanted(StatusStream::Stderr)));
    drop(progress_tx);
    let hand_on = || {
        if let Some(report) = progress {
            progress_rx.try_iter().for_each(report);
        }
    };

    let deadline = spec
        .timeout
        .map(|timeout| (Instant::now() + timeout, timeout));
    let exit = loop {
        match child.try_wait() {
            Ok(Some(exit)) => break exit,
            Ok(None) => hand_on(),
            Err(source) => {
                kill_group(&mut child);
                return Err(TransportError::Wait { program, source });
            }
        }
        if cancel.is_cancelled() {
            tracing::info!(program = %program, "cancelled: killing the hand-over");
            kill_group(&mut child);
            return Ok(Answer::Cancelled);
        }
        if let Some((at, timeout)) = deadline {
            if Instant::now() >= at {
                tracing::warn!(program = %program, ?timeout, "timed out: killing the hand-over");
                kill_group(&mut child);
                return Err(TransportError::TimedOut { program, timeout });
            }
        }
        cancel.wait_timeout(POLL);
    };

    let drained_before = Instant::now() + DRAIN_GRACE;
    let mut all_drained = true;
    for stream in [&stdout, &stderr].into_iter().flatten() {
        all_drained &= stream.wait_until(drained_before);
    }
    if !all_drained {
        tracing::warn!(program = %program, "output still open after exit: killing what is left");
        kill_group(&mut child);
    }
    hand_on();
    let status = match spec.status_stream {
        StatusStream::Stderr => stderr,
        StatusStream::Stdout => stdout,
    }
    .map_or(Status::UnexpectedReturnStatus, |stream| stream.status());
    answer(&program, exit, status)
}

fn answer(program: &str, exit: ExitStatus, status: Status) -> Result<Answer, TransportError> {
    tracing::debug!(program, ?exit, %status, "device hand-over finished");
    if exit.success() || status != Status::UnexpectedReturnStatus {
        return Ok(Answer::Status(status));
    }
    match exit.code() {
        Some(code) => Err(TransportError::Failed {
            program: program.to_owned(),
            code,
        }),
        None => Err(TransportError::Killed {
            program: program.to_owned(),
        }),
    }
}

/// Kills the child's whole process group and reaps the child.
fn kill_group(child: &mut Child) {
    if let Err(e) = kill_process_group(Pid::from_child(child), Signal::KILL) {
        tracing::debug!(error = %e, "process group already gone");
    }
    if let Err(e) = child.kill() {
        tracing::debug!(error = %e, "child already gone");
    }
    if let Err(e) = child.wait() {
        tracing::warn!(error = %e, "could not reap the child");
    }
}

/// Streams the archive into the child's stdin on a detached thread; the pipe is
/// closed when the file ends, and a child that dies early just ends the copy.
fn feed_stdin(mut stdin: ChildStdin, path: PathBuf) {
    std::thread::spawn(move || {
        let copied = File::open(&path).and_then(|mut file| io::copy(&mut file, &mut stdin));
        match copied {
            Ok(bytes) => tracing::debug!(bytes, "archive written to stdin"),
            Err(e) => tracing::warn!(error = %e, "could not write the archive to stdin"),
        }
    });
}

/// A pipe being read into a [`StatusReader`], and whether it is closed.
struct StatusPipe {
    reader: Arc<Mutex<StatusReader>>,
    closed: Receiver<()>,
}

impl StatusPipe {
    /// Waits for the pipe to close, until `deadline`. Returns whether it closed.
    fn wait_until(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        !matches!(
            self.closed.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    /// The status of everything the pipe carried so far.
    fn status(&self) -> Status {
        self.reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status()
    }
}

/// Reads `pipe` into a [`StatusReader`] on a thread; with `progress`, sends
/// it the pipe's progress lines, at most [`MAX_PROGRESS_LINES`].
fn read_status(
    mut pipe: impl Read + Send + 'static,
    label: &'static str,
    progress: Option<mpsc::Sender<PrintProgress>>,
) -> StatusPipe {
    let reader = Arc::new(Mutex::new(StatusReader::new()));
    let (closed_tx, closed) = mpsc::channel();
    let shared = Arc::clone(&reader);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut sent = 0usize;
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let fresh = chunk.get(..n).unwrap_or_default();
                    let shown: String = String::from_utf8_lossy(fresh)
                        .chars()
                        .take(LOGGED_CHARS)
                        .collect();
                    tracing::debug!(stream = label, output = ?shown, "device side said");
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_lines(fresh, |line| {
                            let Some(tx) = progress.as_ref().filter(|_| sent < MAX_PROGRESS_LINES)
                            else {
                                return;
                            };
                            if let Some(p) = PrintProgress::parse(line) {
                                sent += 1;
                                // The receiver may be gone after a kill.
                                let _ = tx.send(p);
                            }
                        });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // The receiver may be gone already; nothing to do then.
        let _ = closed_tx.send(());
    });
    StatusPipe { reader, closed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::process::ExitStatusExt;

    proptest! {
        #[test]
        fn a_known_word_is_believed_whatever_the_exit(
            status in proptest::sample::select(Status::ALL),
            code in 0i32..256,
        ) {
            let exit = ExitStatus::from_raw(code << 8);
            match answer("fake", exit, status) {
                Ok(Answer::Status(answered)) => {
                    prop_assert_eq!(answered, status);
                    prop_assert!(code == 0 || status != Status::UnexpectedReturnStatus);
                }
                Ok(Answer::Cancelled) => prop_assert!(false, "cancelled without a cancel"),
                Err(TransportError::Failed { code: failed, .. }) => {
                    prop_assert_eq!(failed, code);
                    prop_assert_eq!(status, Status::UnexpectedReturnStatus);
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }

    #[test]
    fn a_child_killed_by_a_signal_without_a_word_is_killed() {
        let killed = ExitStatus::from_raw(9);
        assert!(matches!(
            answer("fake", killed, Status::UnexpectedReturnStatus),
            Err(TransportError::Killed { .. })
        ));
    }
}
