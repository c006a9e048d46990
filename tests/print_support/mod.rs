//! A private CUPS for print tests: a real `cupsd` under a temporary root, with
//! its own configuration, socket, spool, and backend folder holding a test
//! backend (installed as `usb` and as `driverless`) that reports the devices a
//! test writes and saves each job to a file. Optionally an IPP Everywhere
//! printer (`ippeveprinter` on loopback, with a private D-Bus system bus).
//! Runs `sdw-devices` against it with a simulated USB bus.
//!
//! Needs root (cupsd drops to `lp` for filters and backends), as CI runs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BROTHER_DEVICE: &str = "direct usb://Brother/HL-L2320D%20series?serial=E12345 \"Brother HL-L2320D series\" \"Brother HL-L2320D series\" \"MFG:Brother;MDL:HL-L2320D series;CMD:PJL,PCL,PCLXL,URF;\" \"\"";
pub const BROTHER_USB: &str = r#"{"vendor_id":"04f9","product_id":"00a0","manufacturer":"Brother","product":"HL-L2320D series","serial":"E12345"}"#;
pub const CANON_DEVICE: &str = "direct usb://Canon/LBP2900?serial=0000A1B2 \"Canon LBP2900\" \"Canon LBP2900\" \"MFG:Canon;MDL:LBP2900;CMD:CAPT;\" \"\"";
/// A Brother HL-L2310D as its usb backend reports it (from a field report):
/// missing from the support table and from brlaser 6's model list.
pub const HL_L2310D_DEVICE: &str = "direct usb://Brother/HL-L2310D%20series?serial=E78096K9N342067 \"Brother HL-L2310D series\" \"Brother HL-L2310D series\" \"MFG:Brother;CMD:PJL,HBP;MDL:HL-L2310D series;CLS:PRINTER;CID:Brother Laser Type1;\" \"\"";
pub const HL_L2310D_USB: &str = r#"{"vendor_id":"04f9","product_id":"00a2","manufacturer":"Brother","product":"HL-L2310D series","serial":"E78096K9N342067"}"#;
pub const CANON_USB: &str = r#"{"vendor_id":"04a9","product_id":"2676","manufacturer":"Canon","product":"LBP2900","serial":"0000A1B2"}"#;

const BACKEND: &str = r#"#!/bin/sh
# Test backend: lists the devices the test wrote; prints jobs to files.
D="$SDW_TEST_DIR"
name=$(basename "$0")
if [ $# -eq 0 ]; then
  if [ -f "$D/devices-$name" ]; then cat "$D/devices-$name"; fi
  exit 0
fi
if [ -f "$D/hang" ]; then sleep 600; fi
# Job data: the file named in argument 6, else standard input (a pipe that
# cannot be reopened as /dev/stdin by lp).
job() { if [ -n "$6" ]; then cat "$6"; else cat; fi; }
if [ -f "$D/fail" ]; then
  job "$@" > /dev/null
  echo "STATE: +media-empty-error" >&2
  echo "ERROR: the test printer is out of paper" >&2
  exit 1
fi
out="$D/out/$name-job-$1"
job "$@" > "$out.part"
mv "$out.part" "$out"
exit 0
"#;

/// How the private CUPS is built.
#[derive(Default, Clone, Copy)]
pub struct Options {
    /// Leave brlaser out of the drivers CUPS offers (as if
    /// `printer-driver-brlaser` were not installed).
    pub without_brlaser: bool,
    /// cupsd's `SystemGroup` (the group allowed to administer queues);
    /// `root` when unset.
    pub system_group: Option<&'static str>,
}

pub struct Cupsd {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    child: Child,
    ipp_printer: Option<Child>,
    dbus_pid: Option<String>,
    pub ipp_spool: Option<PathBuf>,
}

impl Cupsd {
    pub fn start() -> Cupsd {
        Cupsd::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Cupsd {
        let dir = tempfile::Builder::new()
            .prefix("sdw-cupsd-")
            .tempdir()
            .unwrap();
        let r = dir.path().to_owned();
        fs::set_permissions(&r, fs::Permissions::from_mode(0o755)).unwrap();
        for d in [
            "etc",
            "run",
            "spool/tmp",
            "cache",
            "log",
            "serverbin/backend",
            "test/out",
            "tmp",
            "home/logs",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        for d in ["serverbin", "serverbin/backend", "test"] {
            fs::set_permissions(r.join(d), fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(r.join("test/out"), fs::Permissions::from_mode(0o777)).unwrap();
        for d in [
            "cgi-bin", "daemon", "driver", "filter", "monitor", "notifier",
        ] {
            symlink(
                Path::new("/usr/lib/cups").join(d),
                r.join("serverbin").join(d),
            )
            .unwrap();
        }
        for b in ["ipp", "ipps"] {
            symlink(
                Path::new("/usr/lib/cups/backend").join(b),
                r.join("serverbin/backend").join(b),
            )
            .unwrap();
        }
        for name in ["usb", "driverless"] {
            let path = r.join("serverbin/backend").join(name);
            fs::write(&path, BACKEND).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data_dir = if options.without_brlaser {
            let data = r.join("data");
            fs::create_dir_all(data.join("drv")).unwrap();
            for entry in fs::read_dir("/usr/share/cups").unwrap() {
                let entry = entry.unwrap();
                if entry.file_name() != "drv" {
                    symlink(entry.path(), data.join(entry.file_name())).unwrap();
                }
            }
            for entry in fs::read_dir("/usr/share/cups/drv").unwrap() {
                let entry = entry.unwrap();
                if entry.file_name() != "brlaser.drv" {
                    symlink(entry.path(), data.join("drv").join(entry.file_name())).unwrap();
                }
            }
            fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
            data
        } else {
            PathBuf::from("/usr/share/cups")
        };
        let rs = r.display();
        fs::write(
            r.join("etc/cupsd.conf"),
            format!(
                "Listen {rs}/run/cups.sock\nBrowsing No\nLogLevel info\nMaxLogSize 0\nMaxJobTime 600\nPreserveJobFiles Yes\n<Location />\n</Location>\n"
            ),
        )
        .unwrap();
        fs::write(
            r.join("etc/cups-files.conf"),
            format!(
                "ServerRoot {rs}/etc\nRequestRoot {rs}/spool\nTempDir {rs}/spool/tmp\nCacheDir {rs}/cache\n\
                 StateDir {rs}/run\nServerBin {rs}/serverbin\nDataDir {}\nAccessLog {rs}/log/access_log\n\
                 ErrorLog {rs}/log/error_log\nPageLog {rs}/log/page_log\nSystemGroup {}\nUser lp\nGroup lp\n\
                 Printcap {rs}/run/printcap\nSetEnv SDW_TEST_DIR {rs}/test\n",
                data_dir.display(),
                options.system_group.unwrap_or("root"),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/cupsd")
            .arg("-f")
            .arg("-c")
            .arg(r.join("etc/cupsd.conf"))
            .arg("-s")
            .arg(r.join("etc/cups-files.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cupsd (package cups) must be installed");
        let cupsd = Cupsd {
            root: r.clone(),
            dir,
            child,
            ipp_printer: None,
            dbus_pid: None,
            ipp_spool: None,
        };
        let started = Instant::now();
        while UnixStream::connect(cupsd.socket()).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "cupsd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cupsd
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("run/cups.sock")
    }

    /// What the test backend named `backend` reports (one device line each).
    pub fn set_devices(&self, backend: &str, lines: &[&str]) {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(
            self.root.join("test").join(format!("devices-{backend}")),
            text,
        )
        .unwrap();
    }

    /// The simulated USB printers (JSON objects), as `sdw-devices --sim DIR`
    /// reads them from `DIR/printers.json`.
    pub fn set_usb(&self, printers: &[&str]) {
        fs::write(
            self.usb_file(),
            format!(r#"{{"printers": [{}]}}"#, printers.join(",")),
        )
        .unwrap();
    }

    pub fn unplug_all(&self) {
        let _ = fs::remove_file(self.usb_file());
        let _ = fs::remove_file(self.root.join("test/devices-usb"));
        let _ = fs::remove_file(self.root.join("test/devices-driverless"));
    }

    /// Puts `program` where `sdw-devices --sim DIR` looks for the print
    /// dialog (`DIR/sdw-print-dialog`, a symbolic link).
    pub fn install_dialog(&self, program: &Path) {
        let link = self.sim_dir().join("sdw-print-dialog");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(program, link).unwrap();
    }

    /// The folder `sdw-devices --sim` is given.
    fn sim_dir(&self) -> PathBuf {
        self.root.join("test")
    }

    fn usb_file(&self) -> PathBuf {
        self.sim_dir().join("printers.json")
    }

    /// Makes the test backend fail every job (as an out-of-paper printer).
    pub fn fail_jobs(&self) {
        fs::write(self.root.join("test/fail"), b"").unwrap();
    }

    /// Makes the test backend never finish a job.
    pub fn hang_jobs(&self) {
        fs::write(self.root.join("test/hang"), b"").unwrap();
    }

    /// The files the test backends wrote, in the order the jobs were
    /// submitted.
    pub fn jobs_in_order(&self) -> Vec<(String, Vec<u8>)> {
        let mut jobs = self.jobs();
        jobs.sort_by_key(|(name, _)| {
            name.rsplit('-')
                .next()
                .and_then(|id| id.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        jobs
    }

    /// The files the test backends wrote, one per job, sorted by name.
    pub fn jobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut jobs: Vec<_> = fs::read_dir(self.root.join("test/out"))
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".part"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        jobs.sort();
        jobs
    }

    /// The documents cupsd received, before its filters, in job order (it
    /// keeps them: `PreserveJobFiles Yes`).
    pub fn received_documents(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.root.join("spool"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('d'))
            })
            .collect();
        files.sort();
        files.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    /// What `lpstat -v` says about the queues (`device for Q: URI` lines).
    pub fn queues(&self) -> String {
        let output = Command::new("/usr/bin/lpstat")
            .arg("-v")
            .env_clear()
            .env("CUPS_SERVER", self.socket())
            .output()
            .expect("lpstat (package cups-client) must be installed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What `lpoptions -p QUEUE` says (the queue's attributes as options).
    pub fn printer_options(&self, queue: &str) -> String {
        let output = Command::new("/usr/bin/lpoptions")
            .args(["-p", queue])
            .env_clear()
            .env("CUPS_SERVER", self.socket())
            .env("HOME", self.root.join("home"))
            .output()
            .expect("lpoptions (package cups-client) must be installed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.root.join("log/error_log")).unwrap_or_default()
    }

    /// Starts an IPP Everywhere printer on loopback (make `Test`, model
    /// `Everywhere`) and returns its URI; jobs land in [`Cupsd::ipp_spool`].
    pub fn start_ipp_everywhere(&mut self) -> String {
        let r = self.root.clone();
        let dbus_dir = r.join("dbus");
        fs::create_dir_all(&dbus_dir).unwrap();
        let socket = dbus_dir.join("system.sock");
        fs::write(
            dbus_dir.join("system.conf"),
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy></busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let dbus = Command::new("/usr/bin/dbus-daemon")
            .arg(format!(
                "--config-file={}",
                dbus_dir.join("system.conf").display()
            ))
            .arg("--fork")
            .arg("--print-pid")
            .output()
            .expect("dbus-daemon (package dbus) must be installed");
        assert!(dbus.status.success(), "dbus-daemon failed");
        self.dbus_pid = Some(String::from_utf8_lossy(&dbus.stdout).trim().to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spool = r.join("ipp-spool");
        fs::create_dir_all(&spool).unwrap();
        let child = Command::new("/usr/sbin/ippeveprinter")
            .args([
                "-r",
                "off",
                "-n",
                "localhost",
                "-p",
                &port.to_string(),
                "-d",
            ])
            .arg(&spool)
            .args([
                "-k",
                // Each document "printed" by a command that succeeds at once:
                // without one, ippeveprinter sleeps 5 to 15 s per job to
                // simulate printing.
                "-c",
                "/bin/true",
                // Simulated speed (pages per minute): fast, not 10 ppm.
                "-s",
                "600,600",
                "-f",
                "application/pdf,image/pwg-raster,image/urf",
                "-M",
                "Test",
                "-m",
                "Everywhere",
                "Test Everywhere",
            ])
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", socket.display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ippeveprinter (package cups-ipp-utils) must be installed");
        self.ipp_printer = Some(child);
        self.ipp_spool = Some(spool);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "ippeveprinter did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        format!("ipp://localhost:{port}/ipp/print")
    }

    /// The documents the IPP Everywhere printer received (not the empty
    /// `.prn` outputs of its print command beside them).
    pub fn ipp_documents(&self) -> Vec<Vec<u8>> {
        let Some(spool) = &self.ipp_spool else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = walk(spool)
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "prn"))
            .collect();
        files.sort();
        files.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    /// Runs `sdw-devices --sim DIR ARCHIVE` against this CUPS: the USB
    /// printers of [`Cupsd::set_usb`].
    pub fn run(&self, archive: &[u8]) -> Run {
        self.run_env(archive, &[])
    }

    pub fn run_env(&self, archive: &[u8], extra: &[(&str, &str)]) -> Run {
        let inputs = tempfile::tempdir().unwrap();
        let path = inputs.path().join("print.sd-export");
        fs::write(&path, archive).unwrap();
        let mut command = self.device_side(true, &path);
        // A job here takes about a second; a broken setup fails in a minute.
        command.env("SDW_PRINT_JOB_TIMEOUT_SECS", "60");
        for (k, v) in extra {
            command.env(k, v);
        }
        let started = Instant::now();
        let output = command.output().unwrap();
        let mut run = Run::from_output(output, started.elapsed());
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        run.log_tail = lines[lines.len().saturating_sub(12)..].join("\n");
        let left: Vec<_> = fs::read_dir(self.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
        run
    }

    /// Runs as `nobody` (group `nogroup`, no other groups), as the
    /// unprivileged account of a qube would run the handler.
    pub fn run_as_nobody(&self, archive: &[u8]) -> Run {
        use std::os::unix::fs::chown;
        let path = self.root.join("test/nobody.sd-export");
        fs::write(&path, archive).unwrap();
        let (home, tmp) = (self.root.join("nobody-home"), self.root.join("nobody-tmp"));
        for dir in [&home, &tmp] {
            fs::create_dir_all(dir).unwrap();
            chown(dir, Some(65534), Some(65534)).unwrap();
        }
        let started = Instant::now();
        let output = Command::new("/usr/bin/setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sdw-devices"))
            .arg("--sim")
            .arg(self.sim_dir())
            .arg(&path)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("SDW_LOG_DIR", &home)
            .env("CUPS_SERVER", self.socket())
            .output()
            .expect("setpriv (package util-linux) must be installed");
        let run = Run::from_output(output, started.elapsed());
        let mut logs = String::new();
        for entry in fs::read_dir(&home).unwrap() {
            logs.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
        }
        fs::write(self.root.join("home/logs/nobody.log"), logs).unwrap();
        let left: Vec<_> = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
        run
    }

    /// Starts `sdw-devices ARCHIVE` as [`Cupsd::run`] does, without waiting:
    /// for tests that signal it.
    pub fn spawn(&self, archive: &[u8]) -> Child {
        self.spawn_env(archive, &[])
    }

    /// [`Cupsd::spawn`] with more environment variables.
    pub fn spawn_env(&self, archive: &[u8], extra: &[(&str, &str)]) -> Child {
        let path = self.root.join("test/spawned.sd-export");
        fs::write(&path, archive).unwrap();
        self.device_side(true, &path)
            .env("SDW_PRINT_JOB_TIMEOUT_SECS", "120")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits for a spawned run to end (at most `limit`), as [`Cupsd::run`]
    /// checks a run: the temporary folder must be empty afterwards.
    pub fn finish(&self, child: Child, limit: Duration) -> Run {
        let started = Instant::now();
        let mut child = child;
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("sdw-devices still running {limit:?} after the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        let mut run = Run::from_output(output, started.elapsed());
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        run.log_tail = lines[lines.len().saturating_sub(12)..].join("\n");
        let left: Vec<_> = fs::read_dir(self.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
        run
    }

    /// Waits until `sdw-devices` has logged `text` (at most a minute).
    pub fn wait_for_log(&self, text: &str) {
        let started = Instant::now();
        while !self.logs().contains(text) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never logged {text:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The jobs cupsd still holds (`lpstat -o`: pending, held, processing).
    pub fn active_jobs(&self) -> String {
        let output = Command::new("/usr/bin/lpstat")
            .arg("-o")
            .env_clear()
            .env("CUPS_SERVER", self.socket())
            .output()
            .expect("lpstat (package cups-client) must be installed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The attributes cupsd recorded for every job of `queue` (completed or
    /// not), as `ipptool -v` prints them (`name (type) = value` lines),
    /// asked for with `Get-Jobs` over cupsd's socket: independent of the
    /// IPP code under test.
    pub fn job_attributes(&self, queue: &str) -> String {
        let test = self.root.join("tmp/get-jobs.test");
        fs::write(
            &test,
            r#"{
  NAME "Get-Jobs"
  OPERATION Get-Jobs
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR name requesting-user-name root
  ATTR keyword which-jobs all
  ATTR keyword requested-attributes job-id,copies,page-ranges,sides,media,print-color-mode,orientation-requested,job-impressions-completed,job-state
  STATUS successful-ok
}
"#,
        )
        .unwrap();
        let socket: String = self
            .socket()
            .to_string_lossy()
            .replace('%', "%25")
            .replace('/', "%2F");
        let output = Command::new("/usr/bin/ipptool")
            .arg("-tv")
            .arg(format!("ipp://{socket}/printers/{queue}"))
            .arg(&test)
            .env_clear()
            .env("HOME", self.root.join("home"))
            .output()
            .expect("ipptool (package cups-ipp-utils) must be installed");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "ipptool failed: {text}");
        text
    }

    /// The pages CUPS counted for each completed job, in job order, from
    /// the job attributes `sdw-devices` logged (`job-impressions-completed`).
    pub fn logged_pages(&self) -> Vec<Option<u32>> {
        self.logs()
            .lines()
            .filter(|l| l.contains("job completed"))
            .map(|l| {
                l.split("pages=Some(")
                    .nth(1)
                    .and_then(|rest| rest.split(')').next())
                    .and_then(|n| n.parse().ok())
            })
            .collect()
    }

    /// Runs without `--sim`: the real udev path, with `extra` in the
    /// environment.
    pub fn run_on_real_usb(&self, archive: &[u8], extra: &[(&str, &str)]) -> Run {
        let inputs = tempfile::tempdir().unwrap();
        let path = inputs.path().join("print.sd-export");
        fs::write(&path, archive).unwrap();
        let started = Instant::now();
        let mut command = self.device_side(false, &path);
        command.envs(extra.iter().copied());
        let output = command.output().unwrap();
        Run::from_output(output, started.elapsed())
    }

    /// `sdw-devices [--sim DIR] ARCHIVE` with this cupsd's environment and
    /// nothing of the test's: `sim` picks the USB printers of
    /// [`Cupsd::set_usb`], else the real udev path.
    fn device_side(&self, sim: bool, archive: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sdw-devices"));
        if sim {
            command.arg("--sim").arg(self.sim_dir());
        }
        command
            .arg(archive)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.root.join("home"))
            .env("TMPDIR", self.root.join("tmp"))
            .env("SDW_LOG_DIR", self.root.join("home/logs"))
            .env("CUPS_SERVER", self.socket());
        command
    }

    /// Everything `sdw-devices` logged.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in fs::read_dir(self.root.join("home/logs")).unwrap() {
            all.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
        }
        all
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

impl Drop for Cupsd {
    fn drop(&mut self) {
        if let Some(mut printer) = self.ipp_printer.take() {
            let _ = printer.kill();
            let _ = printer.wait();
        }
        if let Some(pid) = self.dbus_pid.take() {
            let _ = Command::new("/bin/kill").arg(pid).status();
        }
        sdw_testkit::host::terminate(&mut self.child, Duration::from_secs(10));
        if std::env::var_os("SDW_TEST_KEEP_CUPSD").is_some() {
            eprintln!("keeping {}", self.dir.path().display());
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().unwrap(),
            ));
        }
    }
}

/// One run of the binary.
pub struct Run {
    /// The last lines `sdw-devices` logged, shown when an assertion fails.
    pub log_tail: String,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    fn from_output(output: Output, elapsed: Duration) -> Run {
        Run {
            log_tail: String::new(),
            code: output.status.code(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        }
    }

    /// The status word: the last non-empty line of stderr.
    pub fn status(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    pub fn assert_status(&self, expected: &str) {
        assert_eq!(self.code, Some(0), "exit code; stderr {:?}", self.stderr);
        assert_eq!(
            self.status(),
            expected,
            "stderr {:?}; log tail:\n{}",
            self.stderr,
            self.log_tail
        );
        assert!(self.stdout.is_empty(), "stdout must stay empty");
    }
}

/// A print archive for `device`, with files under `export_data/`.
pub fn archive(device: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    archive_with_metadata(&format!(r#"{{"device":"{device}"}}"#), files)
}

/// A print archive with this `metadata.json`, with files under `export_data/`.
pub fn archive_with_metadata(metadata: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = sdw_testkit::ArchiveBuilder::with_metadata(metadata).dir("export_data");
    for (name, data) in files {
        builder = builder.file(&format!("export_data/{name}"), data);
    }
    builder.gzip()
}

/// A stored (uncompressed) zip file, written by hand.
pub fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let offset = out.len() as u32;
        let mut local = Vec::new();
        local.extend_from_slice(b"PK\x03\x04");
        local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(data.len() as u32).to_le_bytes());
        local.extend_from_slice(&(name.len() as u16).to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&local);
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.flush().unwrap();
    out
}

/// A minimal OpenDocument text saying `text`.
pub fn odt(text: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:text><text:p>{text}</text:p></office:text></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("META-INF/manifest.xml", manifest.as_bytes()),
    ])
}

/// A minimal Office Open XML document saying `text`.
pub fn docx(text: &str) -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"#
    );
    zip(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ])
}

/// A valid `size` x `size` grey PNG.
pub fn png(size: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    let mut raw = Vec::new();
    for _ in 0..size {
        raw.push(0); // no filter
        raw.extend(std::iter::repeat_n(0x40u8, size as usize));
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", b"");
    out
}

/// Where PJL starts in a job the brlaser driver produced (it may pad with
/// NULs first), if it does.
pub fn pjl_start(job: &[u8]) -> Option<usize> {
    job.windows(13).position(|w| w == b"\x1b%-12345X@PJL")
}

/// Processes whose parent is `parent` and whose name is `name` (from /proc).
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == name && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Whether a process is still there (and not a zombie).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rfind(')')
                .and_then(|close| stat[close + 1..].split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Sends SIGTERM to a process.
pub fn sigterm(pid: u32) {
    let status = Command::new("/bin/kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

const FODP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.KIND">
<office:body><office:BODY>
<draw:page draw:name="one"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Page one</text:p></draw:text-box></draw:frame></draw:page>
<draw:page draw:name="two"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Page two</text:p></draw:text-box></draw:frame></draw:page>
</office:BODY></office:body></office:document>
"#;

/// The office fixtures: what each is converted from (file name, contents).
fn fixture_sources() -> [(&'static str, String); 4] {
    [
        (
            "writer.txt",
            "Quarterly report\n\nRevenue grew in every region.\n".to_owned(),
        ),
        (
            "calc.csv",
            "Region,Revenue\nNorth,120\nSouth,95\n".to_owned(),
        ),
        (
            "impress.fodp",
            FODP.replace("KIND", "presentation")
                .replace("BODY", "presentation"),
        ),
        (
            "draw.fodg",
            FODP.replace("KIND", "graphics").replace("BODY", "drawing"),
        ),
    ]
}

/// Each fixture: its extension (the format LibreOffice converts to) and the
/// source it is converted from.
const FIXTURES: [(&str, &str); 15] = [
    ("odt", "writer.txt"),
    ("docx", "writer.txt"),
    ("dotx", "writer.txt"),
    ("doc", "writer.txt"),
    ("rtf", "writer.txt"),
    ("ods", "calc.csv"),
    ("xlsx", "calc.csv"),
    ("odp", "impress.fodp"),
    ("pptx", "impress.fodp"),
    ("odg", "draw.fodg"),
    ("png", "draw.fodg"),
    ("jpg", "draw.fodg"),
    ("gif", "draw.fodg"),
    ("tif", "draw.fodg"),
    ("webp", "draw.fodg"),
];

/// How LibreOffice is run to make them (part of the cache key).
const SOFFICE_ARGS: [&str; 3] = ["--headless", "--norestore", "--nolockcheck"];

/// Files written by LibreOffice itself, by extension, from a text file
/// (Writer: odt, docx, dotx, doc, rtf), a CSV (Calc: ods, xlsx), a two-slide
/// presentation (Impress: odp, pptx) and a two-page drawing (Draw: odg, and
/// the images png, jpg, gif, tif, webp).
///
/// Making them takes LibreOffice about a minute, so they are made once per
/// machine and kept in the user's cache (`$XDG_CACHE_HOME`, else
/// `~/.cache`, then `sdw-devices/print-fixtures/KEY/`), keyed by
/// LibreOffice's version and everything they are made from
/// ([`fixture_sources`], [`FIXTURES`], [`SOFFICE_ARGS`]): a new LibreOffice
/// or a changed recipe makes them again, a stale entry is never used. They
/// are written under a name of their own and renamed into place, so
/// concurrent test processes each see a whole set. Without a home folder
/// they are made in a temporary folder for this process only. The tests
/// that print office files still run LibreOffice on the device side for
/// every file: only the making of these inputs is kept.
pub fn libreoffice_files() -> &'static BTreeMap<&'static str, Vec<u8>> {
    static FILES: OnceLock<BTreeMap<&'static str, Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let key = fixture_key();
        let Some(cache) =
            sdw_testkit::host::user_cache_dir().map(|d| d.join("sdw-devices/print-fixtures"))
        else {
            let dir = tempfile::Builder::new()
                .prefix("sdw-lo-fixtures-")
                .tempdir()
                .unwrap();
            make_fixtures(dir.path());
            return read_fixtures(dir.path()).unwrap();
        };
        let entry = cache.join(&key);
        if let Some(files) = read_fixtures(&entry) {
            return files;
        }
        fs::create_dir_all(&cache).unwrap();
        // Made under a name of its own, then renamed: a reader sees a whole
        // set or none, and of concurrent makers the first rename wins.
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let own = cache.join(format!(".{key}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&own);
        fs::create_dir(&own).unwrap();
        make_fixtures(&own);
        if read_fixtures(&entry).is_none() {
            // A set missing files (removed by hand) is replaced.
            let _ = fs::remove_dir_all(&entry);
        }
        if fs::rename(&own, &entry).is_err() {
            fs::remove_dir_all(&own).unwrap();
        }
        read_fixtures(&entry).expect("the cached LibreOffice fixtures")
    })
}

/// The cache key: LibreOffice's version (`soffice.bin --version`) and the
/// recipe, hashed.
fn fixture_key() -> String {
    use sha2::{Digest, Sha256};
    let output = Command::new(sdw_devices::print::convert::SOFFICE_BIN)
        .arg("--version")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("LibreOffice (.ci/packages/print.txt) must be installed");
    let version = String::from_utf8_lossy(&output.stdout);
    let version = version.trim();
    assert!(
        output.status.success() && version.starts_with("LibreOffice "),
        "soffice.bin --version said {version:?}"
    );
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    part(version.as_bytes());
    for (name, contents) in fixture_sources() {
        part(name.as_bytes());
        part(contents.as_bytes());
    }
    for (extension, source) in FIXTURES {
        part(extension.as_bytes());
        part(source.as_bytes());
    }
    for arg in SOFFICE_ARGS {
        part(arg.as_bytes());
    }
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes every fixture with LibreOffice, as `fixture.EXTENSION` in `into`.
fn make_fixtures(into: &Path) {
    let dir = tempfile::Builder::new()
        .prefix("sdw-lo-fixtures-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    for (name, contents) in fixture_sources() {
        fs::write(d.join(name), contents).unwrap();
    }
    for (extension, source) in FIXTURES {
        let out = d.join(format!("out-{extension}"));
        let stem = source.split('.').next().unwrap();
        let written = out.join(format!("{stem}.{extension}"));
        // The first run may only create the profile (exit 81): run again.
        for _ in 0..2 {
            if written.exists() {
                break;
            }
            Command::new(sdw_devices::print::convert::SOFFICE_BIN)
                .args(SOFFICE_ARGS)
                .arg(format!(
                    "-env:UserInstallation=file://{}/profile",
                    d.display()
                ))
                .args(["--convert-to", extension, "--outdir"])
                .arg(&out)
                .arg(d.join(source))
                .env_clear()
                .env("HOME", d)
                .env("PATH", "/usr/bin:/bin")
                .env("SAL_USE_VCLPLUGIN", "svp")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("LibreOffice (.ci/packages/print.txt) must be installed");
        }
        let bytes = fs::read(&written).unwrap_or_else(|e| {
            panic!("LibreOffice wrote no {extension} (is its component installed?): {e}")
        });
        fs::write(into.join(format!("fixture.{extension}")), bytes).unwrap();
    }
}

/// The fixtures in `dir`, when every one is there and not empty.
fn read_fixtures(dir: &Path) -> Option<BTreeMap<&'static str, Vec<u8>>> {
    FIXTURES
        .iter()
        .map(|(extension, _)| {
            let bytes = fs::read(dir.join(format!("fixture.{extension}"))).ok()?;
            (!bytes.is_empty()).then_some((*extension, bytes))
        })
        .collect()
}

/// How a zip is written again by [`rezip`].
#[derive(Debug, Clone, Copy)]
pub enum ZipLayout {
    /// Sizes in each local header, as Microsoft Office writes.
    SizesFirst,
    /// Sizes in a data descriptor after each member, as streaming writers do.
    Streaming,
}

/// The same members (names, order and contents) in a zip written by the
/// `zip` crate the `layout` way (the first member stored, as ODF needs).
pub fn rezip(bytes: &[u8], layout: ZipLayout) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut members = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        member.read_to_end(&mut data).unwrap();
        members.push((member.name().unwrap().into_owned(), data));
    }
    let options = |i: usize| {
        SimpleFileOptions::default().compression_method(if i == 0 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        })
    };
    match layout {
        ZipLayout::SizesFirst => {
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for (i, (name, data)) in members.iter().enumerate() {
                zip.start_file(name.as_str(), options(i)).unwrap();
                zip.write_all(data).unwrap();
            }
            zip.finish().unwrap().into_inner()
        }
        ZipLayout::Streaming => {
            let mut zip = zip::ZipWriter::new_stream(Vec::new());
            for (i, (name, data)) in members.iter().enumerate() {
                zip.start_file(name.as_str(), options(i)).unwrap();
                zip.write_all(data).unwrap();
            }
            zip.finish().unwrap().into_inner()
        }
    }
}

/// Whether the first local header of a zip says its sizes follow the data.
pub fn first_member_has_data_descriptor(zip: &[u8]) -> bool {
    zip.starts_with(b"PK\x03\x04") && zip[6] & 0x08 != 0
}
