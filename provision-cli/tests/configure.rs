//! `sdw-admin configure` (and the `--configure` spelling) driven through a
//! pseudo-terminal as a person would type: each invalid answer is refused with
//! `validate`'s message and asked again, the client-auth key is never echoed or
//! printed, and the folder it writes validates.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{fixture, sdw_admin, Sim, ADMIN};
use rexpect::session::PtySession;

const HOSTNAME: &str = "sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion";
const AUTH_KEY: &str = "5U4JPYSZ34N2ZDSOUAL2YLEX2NPI5BLL2Y66QJW24KLSH7R3FEPQ";
const WRONG_AUTH_KEY: &str = "5U4JPYSZ34N2ZDSOUAL";
const FINGERPRINT: &str = "D1FAFDCB48AFA61EFBAF483F3133DAA33C5D7787";

/// A pty session that keeps everything the terminal showed.
struct Terminal {
    session: PtySession,
    shown: String,
}

impl Terminal {
    fn spawn(args: &[&str]) -> Terminal {
        let mut command = Command::new(ADMIN);
        command
            .args(args)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR");
        let session = rexpect::session::spawn_command(command, Some(20_000))
            .unwrap_or_else(|e| panic!("cannot spawn sdw-admin on a pty: {e}"));
        Terminal {
            session,
            shown: String::new(),
        }
    }

    /// Waits until `text` is shown.
    fn expect(&mut self, text: &str) {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.shown.push_str(&before);
                self.shown.push_str(text);
            }
            Err(e) => panic!("waiting for {text:?}: {e}\nshown so far:\n{}", self.shown),
        }
    }

    fn answer(&mut self, line: &str) {
        self.session
            .send_line(line)
            .unwrap_or_else(|e| panic!("typing {line:?}: {e}"));
    }

    /// Reads to the end and returns the exit status.
    fn finish(mut self) -> (String, Option<i32>) {
        let rest = self.session.exp_eof().unwrap_or_default();
        self.shown.push_str(&rest);
        let status = self.session.process_mut().wait().ok();
        let code = match status {
            Some(rexpect::process::WaitStatus::Exited(_, code)) => Some(code),
            _ => None,
        };
        (self.shown, code)
    }
}

#[test]
fn a_person_answers_every_question_wrong_once_and_gets_a_folder_that_validates() {
    let sim = Sim::start();
    // an sd-app whose private volume (20 GiB) is bigger than the default size
    let admin = sim.admin();
    admin
        .create("AppVM", Some("fedora-43-xfce"), "sd-app", "yellow")
        .unwrap_or_else(|e| panic!("{e}"));
    admin
        .resize("sd-app", "private", 20 * 1024 * 1024 * 1024)
        .unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = work.path().join("config");
    let socket = sim.socket();
    let mut t = Terminal::spawn(&[
        "--configure",
        "--config",
        dir.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ]);

    t.expect("Submission key: path");
    t.answer("/nonexistent/sd-journalist.sec");
    t.expect("error: PGP secret key file not found: /nonexistent/sd-journalist.sec");
    t.expect("Submission key: path");
    t.answer(
        fixture("test_key.sec.malformed")
            .to_str()
            .unwrap_or_default(),
    );
    t.expect("error: PGP secret key file provided is not an armored private key");
    t.answer(fixture("protected_key.sec").to_str().unwrap_or_default());
    t.expect("error: PGP key is passphrase-protected.");
    t.answer(fixture("test_key.sec").to_str().unwrap_or_default());
    t.expect(&format!("Submission key fingerprint: {FINGERPRINT}"));

    t.expect("onion address");
    t.answer("sdolvtfhatvsysc6l34d65ymdwxcuj.onion");
    t.expect("error: Invalid hidden service hostname specified");
    t.answer(HOSTNAME);

    t.expect("client authentication key");
    t.answer(WRONG_AUTH_KEY);
    t.expect("error: Invalid hidden service key specified");
    t.expect("client authentication key");
    t.answer(AUTH_KEY);

    t.expect("Environment (prod, staging or dev)");
    t.answer("production");
    t.expect("error: Invalid environment: production");
    t.answer("staging");

    t.expect("Private volume size of sd-app in GiB");
    t.answer("ten");
    t.expect("error: Private volume size of sd-app must be an integer value.");
    t.answer("10");
    t.expect("error: sd-app private volume is already bigger than configuration.");
    t.answer("20");

    t.expect("Private volume size of sd-log in GiB");
    t.answer(""); // the default, 5
    t.expect("Validating...OK");
    let (shown, code) = t.finish();
    assert_eq!(code, Some(0), "{shown}");
    // the secret was typed twice and shown never, valid or not
    assert!(!shown.contains(AUTH_KEY), "{shown}");
    assert!(!shown.contains(WRONG_AUTH_KEY), "{shown}");

    // what the person typed is what was written, and the folder validates
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        written,
        serde_json::json!({
            "submission_key_fpr": FINGERPRINT,
            "hidserv": {"hostname": HOSTNAME, "key": AUTH_KEY},
            "environment": "staging",
            "vmsizes": {"sd_app": 20, "sd_log": 5}
        })
    );
    assert_eq!(
        std::fs::read(dir.join("sd-journalist.sec")).ok(),
        std::fs::read(fixture("test_key.sec")).ok()
    );
    for name in ["config.json", "sd-journalist.sec"] {
        let mode = std::fs::metadata(dir.join(name)).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600), "{name}");
    }
    let run = sdw_admin(&[
        "validate",
        dir.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(run.stdout.ends_with("Validating...OK\n"), "{}", run.stdout);
}

#[test]
fn a_folder_that_validates_is_left_alone_and_without_a_terminal_nothing_is_asked() {
    let valid = common::config_dir("testconfig");
    let before = std::fs::read(valid.path().join("config.json")).ok();
    let mut t = Terminal::spawn(&[
        "configure",
        "--config",
        valid.path().to_str().unwrap_or_default(),
        "--qubesd-socket",
        "/nonexistent/qubesd.sock",
    ]);
    t.expect("already holds a valid configuration");
    let (shown, code) = t.finish();
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(std::fs::read(valid.path().join("config.json")).ok(), before);

    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = sdw_admin(&[
        "configure",
        "--config",
        empty.path().to_str().unwrap_or_default(),
        "--qubesd-socket",
        "/nonexistent/qubesd.sock",
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("configure asks questions: run it on a terminal"),
        "{}",
        run.stderr
    );
    assert!(!empty.path().join("config.json").exists());
}
