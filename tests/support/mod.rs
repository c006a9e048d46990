//! Running `sdw-devices` as a process in a sandbox: its own HOME, log folder,
//! TMPDIR and working folder, so a test can check that nothing was written
//! outside the places it names.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_sdw-devices")
}

pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    inputs: PathBuf,
    tmp: PathBuf,
    home: PathBuf,
    cwd: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let sandbox = Sandbox {
            inputs: root.join("inputs"),
            tmp: root.join("tmp"),
            home: root.join("home"),
            cwd: root.join("cwd"),
            root,
            _dir: dir,
        };
        for d in [&sandbox.inputs, &sandbox.tmp, &sandbox.home, &sandbox.cwd] {
            fs::create_dir(d).unwrap();
        }
        sandbox
    }

    /// Writes an archive among the inputs.
    pub fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.inputs.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    /// A fresh, empty export target folder.
    pub fn target(&self) -> PathBuf {
        let dir = tempfile::Builder::new()
            .prefix("target-")
            .tempdir_in(&self.root)
            .unwrap();
        dir.keep()
    }

    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HOME", self.home.clone()),
            ("TMPDIR", self.tmp.clone()),
            ("SDW_LOG_DIR", self.log_dir()),
        ]
    }

    fn log_dir(&self) -> PathBuf {
        self.home.join("logs")
    }

    /// TMPDIR of the sandbox.
    pub fn tmp(&self) -> &std::path::Path {
        &self.tmp
    }

    /// What HOME holds.
    pub fn home_entries(&self) -> Vec<std::ffi::OsString> {
        fs::read_dir(&self.home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    /// The command, set up with the sandbox's environment, not started.
    pub fn command(&self, args: &[&OsStr]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(self.env())
            .current_dir(&self.cwd);
        command
    }

    pub fn run(&self, args: &[&OsStr]) -> Run {
        Run::of(&mut self.command(args))
    }

    pub fn run_with_stdin(&self, args: &[&OsStr], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        Run::from_output(child.wait_with_output().unwrap())
    }

    /// TMPDIR and the working folder are empty; HOME holds only the logs.
    pub fn assert_nothing_written(&self, context: &str) {
        for dir in [&self.tmp, &self.cwd] {
            let left: Vec<_> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert!(left.is_empty(), "{context}: left behind {left:?}");
        }
        let home: Vec<_> = fs::read_dir(&self.home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            home.iter().all(|n| n == "logs"),
            "{context}: HOME holds {home:?}"
        );
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in fs::read_dir(self.log_dir()).unwrap() {
            all.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        all
    }
}

/// A finished process.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(command: &mut Command) -> Run {
        Run::from_output(command.output().unwrap())
    }

    pub fn from_output(output: std::process::Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Exactly one line on stderr, the expected word; nothing on stdout; exit 0.
    pub fn assert_status(&self, word: &str) {
        assert_eq!(self.code, Some(0), "exit code; stderr {:?}", self.stderr);
        assert_eq!(
            self.stderr,
            format!("{word}\n"),
            "stderr must be exactly the status line"
        );
        assert!(
            self.stdout.is_empty(),
            "stdout must stay empty: {:?}",
            self.stdout
        );
    }
}
