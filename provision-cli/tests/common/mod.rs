//! Shared by the process-level tests: a `qubesd-sim` server on a temporary
//! socket (run on a thread of the test process, from the `qubesd-sim` crate),
//! a configuration folder, and running the `sdw-admin` binary against both.
#![allow(dead_code)]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ADMIN: &str = env!("CARGO_BIN_EXE_sdw-admin");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../provision/tests/fixtures")
        .join(name)
}

/// A temporary directory with a running simulator; stopped and removed on drop.
pub struct Sim {
    server: Option<qubesd_sim::server::Running>,
    pub dir: tempfile::TempDir,
}

impl Sim {
    pub fn start() -> Sim {
        Self::start_from(None)
    }

    /// Starts from a state file written by an earlier simulator (or stock if None).
    pub fn start_from(state: Option<&Value>) -> Sim {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        if let Some(state) = state {
            std::fs::write(dir.path().join("state.json"), state.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let socket = dir.path().join("qubesd.sock");
        let server = qubesd_sim::server::Server::bind(&socket, Some(dir.path().join("state.json")))
            .unwrap_or_else(|e| panic!("cannot start qubesd-sim: {e}"))
            .spawn();
        let sim = Sim {
            server: Some(server),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(sim.socket()).is_err() {
            assert!(
                Instant::now() < deadline,
                "qubesd-sim did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        sim
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("qubesd.sock")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn recorded(&self) -> PathBuf {
        self.dir.path().join("qube-commands.jsonl")
    }

    /// The simulator's persisted state: what qubesd would report, read without our client.
    pub fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("state.json"))
            .unwrap_or_else(|e| panic!("state: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("state: {e}"))
    }

    pub fn admin(&self) -> sdw_provision::admin::Admin {
        sdw_provision::admin::Admin::local(&self.socket())
    }

    /// Raw request bytes in, raw response bytes out, over the real socket.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = UnixStream::connect(self.socket()).unwrap_or_else(|e| panic!("{e}"));
        // qubesd stops reading an oversized request and closes: writing may then fail.
        let _ = s.write_all(request);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Stop the server before its folder goes.
        self.server.take();
    }
}

/// A configuration folder: a fixture config.json, the test key and the apt key.
pub fn config_dir(config_fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let copy = |from: &str, to: &str| {
        std::fs::copy(fixture(from), dir.path().join(to)).unwrap_or_else(|e| panic!("{from}: {e}"));
    };
    copy(&format!("config/{config_fixture}.json"), "config.json");
    copy("test_key.sec", "sd-journalist.sec");
    copy("test_key.pub", "apt-signing-key.asc");
    dir
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn sdw_admin(args: &[&str]) -> Run {
    Command::new(ADMIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run sdw-admin: {e}"))
        .into()
}

/// `sdw-admin <command> --config CONFIG --root ROOT --qubesd-socket SOCK [extra]`.
pub fn converge(command: &str, sim: &Sim, config: &Path, extra: &[&str]) -> Run {
    let socket = sim.socket();
    let root = sim.root();
    let recorded = sim.recorded();
    let mut args = vec![
        command,
        "--config",
        config.to_str().unwrap_or_default(),
        "--root",
        root.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ];
    // apply records what it would run; plan and check answer their probes from that record.
    if matches!(command, "apply" | "plan" | "check") {
        args.extend([
            "--record-qube-commands",
            recorded.to_str().unwrap_or_default(),
        ]);
    }
    args.extend(extra);
    sdw_admin(&args)
}

pub fn vm<'a>(state: &'a Value, name: &str) -> &'a Value {
    &state["vms"][name]
}
