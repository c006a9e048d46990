//! The one boundary through which anything runs inside a qube.
//!
//! [`QvmRun`] runs a [`QubeCommand`] with `qvm-run --pass-io` from dom0 (or
//! with `/bin/sh` in dom0 itself for the few dom0-side commands, e.g.
//! `qubes-vm-update`);
//! [`Recorder`] appends it as a JSON line to a file instead (tests and dry
//! runs), so the order and content of in-qube work can be checked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;
use tracing::info;

use crate::inqube::{QubeCommand, DOM0};

pub const QVM_RUN: &str = "/usr/bin/qvm-run";
pub const SH: &str = "/bin/sh";

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("in {qube}, `{command}` failed ({status}): {stderr}")]
    Failed {
        qube: String,
        command: String,
        status: String,
        stderr: String,
    },
    #[error("cannot record to {path}: {source}")]
    Record {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub trait QubeRunner {
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError>;
}

/// Runs commands in qubes with `qvm-run --pass-io` (starting the qube if needed).
#[derive(Debug, Default)]
pub struct QvmRun;

impl QvmRun {
    pub fn argv(command: &QubeCommand) -> Vec<String> {
        [
            "--pass-io",
            "--no-gui",
            "--no-color-output",
            "--user",
            &command.user,
            &command.qube,
            "--",
            &command.command,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl QubeRunner for QvmRun {
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError> {
        info!(qube = %command.qube, command = %command.command, "running in qube");
        let mut process = if command.qube == DOM0 {
            let mut sh = Command::new(SH);
            sh.arg("-c").arg(&command.command);
            sh
        } else {
            let mut qvm_run = Command::new(QVM_RUN);
            qvm_run.args(Self::argv(command));
            qvm_run
        };
        let mut child = process
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RunError::Spawn {
                program: QVM_RUN.to_owned(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let input = command.input.as_deref().unwrap_or("");
            // A command that does not read its input closes the pipe early: not an error.
            let _ = stdin.write_all(input.as_bytes());
        }
        let output = child.wait_with_output().map_err(|source| RunError::Spawn {
            program: QVM_RUN.to_owned(),
            source,
        })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(RunError::Failed {
                qube: command.qube.clone(),
                command: command.command.clone(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }
}

/// Appends each command as one JSON line to a file and runs nothing.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
}

impl Recorder {
    pub fn new(path: &Path) -> Self {
        Recorder {
            path: path.to_owned(),
        }
    }

    pub fn read(path: &Path) -> Result<Vec<QubeCommand>, RunError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RunError::Record {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        text.lines()
            .map(|l| {
                serde_json::from_str(l).map_err(|e| RunError::Record {
                    path: path.to_owned(),
                    source: std::io::Error::other(e),
                })
            })
            .collect()
    }
}

impl QubeRunner for Recorder {
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError> {
        let err = |source| RunError::Record {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_string(command).map_err(|e| err(std::io::Error::other(e)))?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        file.write_all(line.as_bytes()).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(c: &str) -> QubeCommand {
        QubeCommand {
            qube: "sd-base-debian-13".into(),
            user: "root".into(),
            command: c.into(),
            input: Some("x\ny".into()),
        }
    }

    #[test]
    fn qvm_run_gets_user_qube_and_command_as_separate_arguments() {
        assert_eq!(
            QvmRun::argv(&cmd("apt-get update")),
            [
                "--pass-io",
                "--no-gui",
                "--no-color-output",
                "--user",
                "root",
                "sd-base-debian-13",
                "--",
                "apt-get update"
            ]
        );
    }

    #[test]
    fn recorder_keeps_order_and_input() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("cmds.jsonl"))
            .unwrap_or_default();
        let mut r = Recorder::new(&path);
        assert!(r.run(&cmd("one")).is_ok());
        assert!(r.run(&cmd("two")).is_ok());
        let read = Recorder::read(&path).ok().unwrap_or_default();
        assert_eq!(read, vec![cmd("one"), cmd("two")]);
    }
}
