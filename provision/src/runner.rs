//! The one boundary through which anything runs inside a qube.
//!
//! [`QvmRun`] runs a [`QubeCommand`] with `qvm-run --pass-io` from dom0 (or
//! with `/bin/sh` in dom0 itself for the few dom0-side commands, e.g.
//! `qubes-vm-update`), streaming its input (text, or a dom0 file whose SHA-256
//! must still match), and runs the read-only probes of [`Expect`];
//! [`Recorder`] appends each command as a JSON line to a file instead (tests
//! and dry runs), so the order and content of in-qube work can be checked, and
//! answers probes from the [`crate::inqube::Effect`]s recorded there.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use thiserror::Error;
use tracing::info;

use crate::inqube::{Input, QubeCommand, DOM0};
use crate::packages::{hex, Expect, Observed};

pub const QVM_RUN: &str = "/usr/bin/qvm-run";
pub const SH: &str = "/bin/sh";
/// How much of a command's stderr (and a probe's stdout) is kept.
const OUTPUT_LIMIT: u64 = 64 * 1024;

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
    #[error("cannot read {path} to send it to {qube}: {source}")]
    Input {
        qube: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} changed while sdw-admin ran (SHA-256 {found}, expected {expected}); nothing was installed from it: run apply again")]
    InputChanged {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("cannot record to {path}: {source}")]
    Record {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub trait QubeRunner {
    /// Runs a command that changes the qube.
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError>;
    /// Observes `expect` in `qube` (read-only).
    fn probe(&mut self, qube: &str, expect: &Expect) -> Result<Observed, RunError>;
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

    /// Runs the command with its input; returns its stdout when `capture` (else it goes to ours).
    fn execute(command: &QubeCommand, capture: bool) -> Result<Vec<u8>, RunError> {
        let (program, mut process) = if command.qube == DOM0 {
            let mut sh = Command::new(SH);
            sh.arg("-c").arg(&command.command);
            (SH, sh)
        } else {
            let mut qvm_run = Command::new(QVM_RUN);
            qvm_run.args(Self::argv(command));
            (QVM_RUN, qvm_run)
        };
        let mut child = process
            .stdin(Stdio::piped())
            .stdout(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RunError::Spawn {
                program: program.to_owned(),
                source,
            })?;
        let stdin = child.stdin.take();
        let input = command.input.clone();
        let writer = std::thread::spawn(move || feed(stdin, input.as_ref()));
        let stdout = child
            .stdout
            .take()
            .map(|out| std::thread::spawn(move || read_bounded(out)));
        let stderr = child
            .stderr
            .take()
            .map(|err| std::thread::spawn(move || read_bounded(err)));
        let status = child.wait().map_err(|source| RunError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
        let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        let fed = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("input writer panicked")));
        if !status.success() {
            return Err(RunError::Failed {
                qube: command.qube.clone(),
                command: command.command.clone(),
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
            });
        }
        if let Some(Input::File(file)) = &command.input {
            let found = fed.map_err(|source| RunError::Input {
                qube: command.qube.clone(),
                path: file.path.clone(),
                source,
            })?;
            if found.as_deref() != Some(file.sha256.as_str()) {
                return Err(RunError::InputChanged {
                    path: file.path.clone(),
                    expected: file.sha256.clone(),
                    found: found.unwrap_or_default(),
                });
            }
        }
        Ok(stdout)
    }
}

/// Writes the input to the command's stdin, then closes it. For a file, returns
/// the SHA-256 of the bytes sent. A command that does not read its text input
/// closes the pipe early: not an error.
fn feed(
    stdin: Option<std::process::ChildStdin>,
    input: Option<&Input>,
) -> Result<Option<String>, std::io::Error> {
    let Some(mut stdin) = stdin else {
        return Ok(None);
    };
    match input {
        None => Ok(None),
        Some(Input::Text(text)) => {
            let _ = stdin.write_all(text.as_bytes());
            Ok(None)
        }
        Some(Input::File(file)) => {
            let mut source = std::fs::File::open(&file.path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = source.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                hasher.update(chunk);
                stdin.write_all(chunk)?;
            }
            drop(stdin);
            Ok(Some(hex(&hasher.finalize())))
        }
    }
}

/// Reads to the end, keeping the first [`OUTPUT_LIMIT`] bytes (the rest is drained).
fn read_bounded(mut reader: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = (&mut reader).take(OUTPUT_LIMIT).read_to_end(&mut kept);
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    kept
}

/// A probe as the root command that runs it.
fn probe_command(qube: &str, expect: &Expect) -> QubeCommand {
    QubeCommand {
        qube: qube.to_owned(),
        user: "root".to_owned(),
        command: expect.command(),
        input: None,
        effects: Vec::new(),
    }
}

impl QubeRunner for QvmRun {
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError> {
        info!(qube = %command.qube, command = %command.command, "running in qube");
        Self::execute(command, false).map(drop)
    }

    fn probe(&mut self, qube: &str, expect: &Expect) -> Result<Observed, RunError> {
        let command = probe_command(qube, expect);
        info!(qube, command = %command.command, "probing qube");
        let stdout = Self::execute(&command, true)?;
        Ok(expect.parse(&String::from_utf8_lossy(&stdout)))
    }
}

/// Appends each command as one JSON line to a file and runs nothing; answers
/// probes from the effects of the commands recorded there for that qube.
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

    /// Probes are read-only, so they are answered, not recorded.
    fn probe(&mut self, qube: &str, expect: &Expect) -> Result<Observed, RunError> {
        let recorded = Self::read(&self.path)?;
        Ok(expect.observe_effects(
            recorded
                .iter()
                .filter(|c| c.qube == qube)
                .flat_map(|c| c.effects.iter()),
        ))
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
            input: Some(Input::Text("x\ny".into())),
            effects: Vec::new(),
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

    fn in_dom0(command: &str, input: Option<Input>) -> QubeCommand {
        QubeCommand {
            qube: DOM0.into(),
            user: "root".into(),
            command: command.into(),
            input,
            effects: Vec::new(),
        }
    }

    fn file_input(path: &Path) -> Input {
        let (sha256, size) = crate::packages::sha256_file(path).unwrap();
        Input::File(crate::inqube::FileInput {
            path: path.to_owned(),
            sha256,
            size,
        })
    }

    /// The real path (sh in dom0 stands in for qvm-run's stdin pipe): binary bytes
    /// arrive unchanged, while the command floods stderr before reading (no deadlock).
    #[test]
    fn a_binary_file_reaches_the_command_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let deb = dir.path().join("sdw-devices_0.1.0_amd64.deb");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&deb, &bytes).unwrap();
        let out = dir.path().join("received");
        let command = format!(
            "head -c 1000000 /dev/zero | tr '\\0' x >&2; cat > {}",
            out.display()
        );
        QvmRun
            .run(&in_dom0(&command, Some(file_input(&deb))))
            .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
    }

    #[test]
    fn a_file_that_changed_since_it_was_hashed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let deb = dir.path().join("p.deb");
        std::fs::write(&deb, b"first build").unwrap();
        let input = file_input(&deb);
        std::fs::write(&deb, b"other build").unwrap();
        let err = QvmRun
            .run(&in_dom0("cat > /dev/null", Some(input)))
            .unwrap_err();
        assert!(matches!(err, RunError::InputChanged { .. }), "{err}");
        assert!(err.to_string().contains("nothing was installed from it"));
        std::fs::remove_file(&deb).unwrap();
        let err = QvmRun
            .run(&in_dom0("cat > /dev/null", Some(file_input_missing(&deb))))
            .unwrap_err();
        assert!(matches!(err, RunError::Input { .. }), "{err}");
    }

    fn file_input_missing(path: &Path) -> Input {
        Input::File(crate::inqube::FileInput {
            path: path.to_owned(),
            sha256: "00".into(),
            size: 0,
        })
    }

    #[test]
    fn a_failing_command_reports_its_stderr_bounded() {
        let err = QvmRun
            .run(&in_dom0(
                "head -c 1000000 /dev/zero | tr '\\0' e >&2; exit 3",
                None,
            ))
            .unwrap_err();
        match err {
            RunError::Failed { stderr, status, .. } => {
                assert_eq!(stderr.len(), 64 * 1024);
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn qvm_run_probes_with_the_real_command_and_parser() {
        let dpkg = Expect::Package {
            name: "dpkg".into(),
            at_least: None,
        };
        assert!(matches!(
            QvmRun.probe(DOM0, &dpkg),
            Ok(Observed::Installed(Some(v))) if !v.is_empty()
        ));
    }

    #[test]
    fn the_recorder_answers_probes_from_the_effects_recorded_for_that_qube() {
        use crate::inqube::Effect;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmds.jsonl");
        let mut r = Recorder::new(&path);
        let want = Expect::Package {
            name: "sdw-devices".into(),
            at_least: Some("0.2.0".into()),
        };
        assert_eq!(r.probe("tpl", &want).unwrap(), Observed::NotInstalled);
        let mut install =
            cmd("apt-get install -y /var/cache/sdw-admin/sdw-devices_0.2.0_amd64.deb");
        install.qube = "tpl".into();
        install.effects = vec![Effect::Installs {
            package: "sdw-devices".into(),
            version: Some("0.2.0".into()),
        }];
        r.run(&install).unwrap();
        assert_eq!(
            r.probe("tpl", &want).unwrap(),
            Observed::Installed(Some("0.2.0".into()))
        );
        assert_eq!(r.probe("other", &want).unwrap(), Observed::NotInstalled);
        assert_eq!(
            Recorder::read(&path).unwrap().len(),
            1,
            "probes are not recorded"
        );
    }
}
