//! The process itself, observed from outside while it runs: where the
//! archive arriving on stdin is kept (no name in TMPDIR, even when killed),
//! how it ends on SIGTERM in the middle of validation (promptly, with one
//! status word, nothing left), and that core dumps are off.

#![allow(clippy::unwrap_used)]

mod support;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sdw_testkit::ArchiveBuilder;
use support::{Run, Sandbox};

const SECRET: &str = "correct-horse-battery-staple-4711";

fn listing(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Waits up to `limit` for `check` to hold; returns whether it did.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// The open files of a process that have no name left: `(link, size)`.
/// `None` when /proc/PID/fd cannot be read (another user, not root).
fn unnamed_files(pid: u32) -> Option<Vec<(String, u64)>> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        fds.filter_map(|fd| {
            let fd = fd.ok()?.path();
            let link = fs::read_link(&fd).ok()?.display().to_string();
            let unnamed = link.ends_with(" (deleted)") || link.starts_with("/memfd:");
            unnamed.then(|| (link, fs::metadata(&fd).map(|m| m.len()).unwrap_or(0)))
        })
        .collect(),
    )
}

/// `qrexec-service` keeps what it has read of stdin in a file without a name
/// in TMPDIR: nothing is listed there while it waits for the rest, and
/// nothing is left when it is killed with SIGKILL (no cleanup code runs).
#[test]
fn the_qrexec_service_keeps_stdin_in_an_unnamed_file_that_dies_with_it() {
    let sandbox = Sandbox::new();
    let archive = ArchiveBuilder::with_metadata(&format!(
        r#"{{"device":"disk","encryption_key":"{SECRET}"}}"#
    ))
    .file("export_data/a", &[9u8; 300_000])
    .tar();
    let sent = &archive[..200_000];
    let mut child = sandbox
        .command(&[OsStr::new("qrexec-service")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(sent).unwrap();
    stdin.flush().unwrap();
    let pid = child.id();
    // Wait until everything sent has been received (the log says where it goes).
    assert!(
        eventually(Duration::from_secs(20), || {
            sandbox
                .logs()
                .contains("receiving the archive into an unnamed file")
                && match unnamed_files(pid) {
                    // Not readable (not root): the log line is all there is.
                    None => true,
                    Some(files) => files.iter().any(|(_, size)| *size == sent.len() as u64),
                }
        }),
        "the service did not receive the archive: {:?}\n{}",
        unnamed_files(pid),
        sandbox.logs()
    );
    if let Some(files) = unnamed_files(pid) {
        let tmp = sandbox.tmp().display().to_string();
        assert!(
            files
                .iter()
                .any(|(link, size)| link.starts_with(&tmp) && *size == sent.len() as u64),
            "the received bytes are in an unnamed file in TMPDIR: {files:?}"
        );
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for stdin"
    );
    assert_eq!(
        listing(sandbox.tmp()),
        Vec::<PathBuf>::new(),
        "TMPDIR while running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(
        listing(sandbox.tmp()),
        Vec::<PathBuf>::new(),
        "TMPDIR after SIGKILL"
    );
    sandbox.assert_nothing_written("killed qrexec-service");
    assert!(!sandbox.logs().contains(SECRET));
}

/// Where TMPDIR cannot hold an unnamed file (here: it does not exist), the
/// service keeps the archive in memory (a memfd) and still answers.
#[test]
fn without_a_usable_tmpdir_the_qrexec_service_keeps_stdin_in_memory() {
    let sandbox = Sandbox::new();
    let bytes = ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#).gzip();
    let mut child = sandbox
        .command(&[OsStr::new("qrexec-service")])
        .env("TMPDIR", sandbox.root.join("no-such-tmp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let run = Run::from_output(child.wait_with_output().unwrap());
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "NO_DEVICE_DETECTED\n")
    );
    assert!(
        sandbox
            .logs()
            .contains("receiving the archive into memory (memfd)"),
        "{}",
        sandbox.logs()
    );
    assert!(!sandbox.root.join("no-such-tmp").exists());
    sandbox.assert_nothing_written("memfd");
}

/// A bomb: `metadata.json`, then one member declaring `gib` GiB of zeros,
/// each compressed chunk repeated (concatenated streams are one stream).
fn bomb(compress: fn(&[u8]) -> Vec<u8>, gib: u64) -> Vec<u8> {
    let mut head = ArchiveBuilder::with_metadata(&format!(
        r#"{{"device":"disk","encryption_key":"{SECRET}"}}"#
    ))
    .tar();
    head.truncate(head.len() - 1024);
    let mut header = tar::Header::new_gnu();
    header.set_path("export_data/zeros").unwrap();
    header.set_size(gib << 30);
    header.set_mode(0o644);
    header.set_cksum();
    head.extend_from_slice(header.as_bytes());
    let chunk_bytes = 4u64 << 20;
    let chunk = compress(&vec![0u8; chunk_bytes as usize]);
    let mut bytes = compress(&head);
    for _ in 0..(gib << 30) / chunk_bytes {
        bytes.extend_from_slice(&chunk);
    }
    bytes.extend(compress(&[0u8; 1024]));
    bytes
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Sends SIGTERM once the process has been busy a while, and returns how
/// long it took to end after that, and its output.
fn terminate_while_busy(mut child: Child) -> (Duration, Run) {
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process must still be validating when SIGTERM is sent"
    );
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let ended = eventually(Duration::from_secs(10), || {
        child.try_wait().unwrap().is_some()
    });
    let took = sent.elapsed();
    if !ended {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    stdout.read_to_string(&mut out).unwrap();
    stderr.read_to_string(&mut err).unwrap();
    (
        took,
        Run {
            code: status.code(),
            stdout: out,
            stderr: err,
        },
    )
}

/// SIGTERM in the middle of validating a huge archive (a few KB of bzip2 or
/// a few MB of gzip that inflate to 20 GiB of zeros; a plain tar with a
/// 20 GiB hole): the answer comes within 2 s, is `ERROR_GENERIC`, and
/// nothing is left behind.
#[test]
fn sigterm_during_validation_is_answered_promptly() {
    let sandbox = Sandbox::new();
    let mut archives = vec![
        (
            "bzip2",
            sandbox.archive("bomb.bz2.sd-export", &bomb(bzip2, 20)),
        ),
        (
            "gzip",
            sandbox.archive("bomb.gz.sd-export", &bomb(gzip, 20)),
        ),
    ];
    // Plain tar: the member's 20 GiB of data is a hole in a sparse file.
    let mut head = ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#).tar();
    head.truncate(head.len() - 1024);
    let mut header = tar::Header::new_gnu();
    header.set_path("export_data/zeros").unwrap();
    header.set_size(20 << 30);
    header.set_cksum();
    head.extend_from_slice(header.as_bytes());
    let plain = sandbox.archive("hole.sd-export", &head);
    let file = fs::OpenOptions::new().append(true).open(&plain).unwrap();
    file.set_len(head.len() as u64 + (20 << 30) + 1024).unwrap();
    archives.push(("plain tar", plain));
    for (name, archive) in &archives {
        let size = fs::metadata(archive).unwrap().len();
        let child = sandbox
            .command(&[archive.as_os_str()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (took, run) = terminate_while_busy(child);
        eprintln!("{name} ({size} bytes on disk): answered {took:?} after SIGTERM");
        run.assert_status("ERROR_GENERIC");
        assert!(
            took < Duration::from_secs(2),
            "{name}: {took:?} after SIGTERM"
        );
        sandbox.assert_nothing_written(name);
    }
    assert!(sandbox.logs().contains("interrupted by a signal"));
    assert!(!sandbox.logs().contains(SECRET));
}

/// The qrexec service: SIGTERM while it validates what it received, and
/// while it is still waiting for stdin, is answered on stdout within 2 s.
#[test]
fn sigterm_stops_the_qrexec_service_in_every_phase() {
    let sandbox = Sandbox::new();
    let start = |sandbox: &Sandbox| {
        sandbox
            .command(&[OsStr::new("qrexec-service")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Validating: the whole bomb was sent and stdin closed.
    let mut child = start(&sandbox);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&bomb(bzip2, 20))
        .unwrap();
    let (took, run) = terminate_while_busy(child);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "ERROR_GENERIC\n")
    );
    assert!(run.stderr.is_empty(), "{:?}", run.stderr);
    assert!(took < Duration::from_secs(2), "validating: {took:?}");
    // Receiving: stdin stays open and silent.
    let mut child = start(&sandbox);
    let stdin = child.stdin.take().unwrap();
    let (took, run) = terminate_while_busy(child);
    drop(stdin);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "ERROR_GENERIC\n")
    );
    assert!(took < Duration::from_secs(2), "receiving: {took:?}");
    sandbox.assert_nothing_written("qrexec-service");
}

/// Core dumps are off in the running process: `RLIMIT_CORE` is 0 (soft and
/// hard) and the process is not dumpable, which the kernel shows by handing
/// its /proc files to root (proc(5)). Run as another user when the tests run
/// as root, so that the owner tells; a process that does not change its
/// dumpable flag (`sleep`), run the same way, is the control.
#[test]
fn core_dumps_are_off_in_the_running_process() {
    let root = nix::unistd::geteuid().is_root();
    let nobody = 65534;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let tmp = dir.path().join("tmp");
    for d in [&home, &tmp] {
        fs::create_dir(d).unwrap();
    }
    if root {
        use std::os::unix::fs::PermissionsExt;
        for d in [dir.path(), home.as_path(), tmp.as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
        }
    }
    let spawn = |program: &str, args: &[&str]| {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("SDW_LOG_DIR", home.join("logs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            use std::os::unix::process::CommandExt;
            command.uid(nobody).gid(nobody);
        }
        command.spawn().unwrap()
    };
    let owner = |pid: u32| fs::metadata(format!("/proc/{pid}/status")).map(|m| m.uid());
    let user = if root {
        nobody
    } else {
        nix::unistd::geteuid().as_raw()
    };

    let mut control = spawn("sleep", &["30"]);
    assert!(
        eventually(Duration::from_secs(5), || owner(control.id()).ok()
            == Some(user)),
        "the control's /proc files belong to its user"
    );
    control.kill().unwrap();
    control.wait().unwrap();

    let mut child = spawn(support::binary(), &["qrexec-service"]);
    let pid = child.id();
    let dumpable_off = eventually(Duration::from_secs(10), || owner(pid).ok() == Some(0));
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(running, "the service was waiting for stdin while observed");
    assert!(
        dumpable_off,
        "/proc/{pid} still belongs to uid {user}: dumpable"
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
}
