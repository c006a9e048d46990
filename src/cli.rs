//! The command line, and the handling of one archive from start to status.
//!
//! - `sdw-devices ARCHIVE` (also installed as `send-to-usb`): the
//!   `application/x-sd-export` handler; one status word on stderr.
//! - `sdw-devices export ARCHIVE --to DIR`: export into a folder already mounted.
//! - `sdw-devices qrexec-service`: the `securedrop.Export` qrexec service;
//!   the archive on stdin, the status word on stdout.
//! - `sdw-devices --version`, `sdw-devices --help`: print, exit 0, no status.
//! - `sdw-devices --sim DIR ...`: any of the above against simulated drives
//!   (`device::sim`) and simulated USB printers (`print::printers`, with the
//!   configured CUPS server), for tests; the only way the simulator is chosen.
//!
//! The configuration ([`Config`]) is read by `main` once and passed down.
//!
//! Arguments are parsed by hand rather than with clap: a usage error must still
//! end in exactly one status word, and clap would print help text. An archive
//! literally named `--help`, `-h`, `--version`, `-V` or `export` is read as the
//! option (or, for `export` alone, as a usage error): the handler
//! is always given an absolute path (`qopen-in-vm` hands it a file in a fresh
//! temporary folder), and `./--help` names such a file by hand.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;
use sdw_protocol::{Command, PrintProgress, Status};

use crate::archive::{Archive, ArchiveError, Inspected};
use crate::config::Config;
use crate::device::real::RealDevices;
use crate::device::sim::SimDevices;
use crate::device::Devices;
use crate::disk::DiskError;
use crate::print::cups::Cups;
use crate::print::{Printers, RealPrinters, SimPrinters};
use crate::status::{self, Error};
use crate::{disk, log, print, writer};

/// What the process was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    HandleArchive(PathBuf),
    ExportTo {
        archive: PathBuf,
        target: PathBuf,
    },
    QrexecService,
    Version,
    Help,
    /// `--sim DIR` before any other form: the drives and USB printers are
    /// simulated in `DIR`.
    Simulated {
        dir: PathBuf,
        inner: Box<Invocation>,
    },
}

/// Which drives an invocation works on.
#[derive(Debug, Clone, Copy)]
enum Engine<'a> {
    Real,
    Simulated(&'a Path),
}

impl Engine<'_> {
    fn devices(self) -> Result<Box<dyn Devices>, Error> {
        Ok(match self {
            Engine::Real => Box::new(RealDevices::new()),
            Engine::Simulated(dir) => Box::new(SimDevices::open(dir).map_err(DiskError::Scan)?),
        })
    }

    fn printers(self, config: &Config) -> Box<dyn Printers> {
        let cups = Cups::new(config.print.cups_server.clone());
        match self {
            Engine::Real => Box::new(RealPrinters::new(cups)),
            Engine::Simulated(dir) => Box::new(SimPrinters::new(dir, cups)),
        }
    }
}

const USAGE: &str =
    "sdw-devices ARCHIVE | sdw-devices export ARCHIVE --to DIR | sdw-devices qrexec-service | sdw-devices --version | sdw-devices --help";

/// Where the status word goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stderr,
    Stdout,
}

impl Invocation {
    pub fn parse(args: &[OsString]) -> Result<Invocation, Error> {
        let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
        if let (["--sim", ..], [_, dir, rest @ ..]) = (words.as_slice(), args) {
            return Ok(Invocation::Simulated {
                dir: dir.into(),
                inner: Box::new(Invocation::parse(rest)?),
            });
        }
        match (words.as_slice(), args) {
            (["export", _, "--to", _], [_, archive, _, target]) => Ok(Invocation::ExportTo {
                archive: archive.into(),
                target: target.into(),
            }),
            (["qrexec-service"], _) => Ok(Invocation::QrexecService),
            (["--version" | "-V"], _) => Ok(Invocation::Version),
            (["--help" | "-h"], _) => Ok(Invocation::Help),
            // `export` alone is a mistyped `export ARCHIVE --to DIR`, not an archive.
            (["export"], _) => Err(Error::Usage(USAGE.into())),
            (_, [archive]) => Ok(Invocation::HandleArchive(archive.into())),
            _ => Err(Error::Usage(USAGE.into())),
        }
    }

    /// What `--version` and `--help` print on stdout; `None` for the others.
    pub fn information(&self) -> Option<String> {
        let version = format!("sdw-devices {}\n", env!("CARGO_PKG_VERSION"));
        match self {
            Invocation::Version => Some(version),
            Invocation::Help => Some(format!(
                "{version}{}\n\n\
                 Usage:\n\
                 \x20 sdw-devices ARCHIVE                  handle an .sd-export archive (the MIME handler;\n\
                 \x20                                      also installed as send-to-usb)\n\
                 \x20 sdw-devices export ARCHIVE --to DIR  export a disk archive into a folder already mounted\n\
                 \x20 sdw-devices qrexec-service           the securedrop.Export service: archive on stdin\n\
                 \x20 sdw-devices --sim DIR ...            any of the above against simulated drives and\n\
                 \x20                                      printers in DIR (tests; docs/lab.md, docs/printing.md)\n\
                 \x20 sdw-devices --version | --help\n\n\
                 One status word is written on stderr (on stdout for qrexec-service), last, and the\n\
                 exit code is always 0. A printer archive with \"progress\": true also gets\n\
                 PROGRESS N/M [pages=P] lines before it. Logs: ~/.securedrop_export/logs/ (SDW_LOG_DIR) and syslog.\n",
                env!("CARGO_PKG_DESCRIPTION"),
            )),
            _ => None,
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            Invocation::QrexecService => Channel::Stdout,
            Invocation::Simulated { inner, .. } => inner.channel(),
            _ => Channel::Stderr,
        }
    }
}

/// Runs one invocation to its status word (`None`: say nothing).
pub fn run(
    invocation: &Invocation,
    config: &Config,
    interrupted: &Arc<AtomicBool>,
) -> Result<Option<Status>, Error> {
    log::init(config.log_dir.as_deref())?;
    tracing::info!(?invocation, version = env!("CARGO_PKG_VERSION"), "start");
    run_on(invocation, Engine::Real, config, interrupted)
}

fn run_on(
    invocation: &Invocation,
    engine: Engine<'_>,
    config: &Config,
    interrupted: &Arc<AtomicBool>,
) -> Result<Option<Status>, Error> {
    match invocation {
        Invocation::HandleArchive(path) => {
            handle_archive(path, engine, config, invocation.channel(), interrupted)
        }
        Invocation::ExportTo { archive, target } => export_to(archive, target, interrupted),
        Invocation::QrexecService => {
            let received = receive_stdin(&config.temp_dir, interrupted)?;
            let archive = Archive::from_file(received, "stdin".into())?;
            handle(
                archive.interrupted_by(interrupted),
                engine,
                config,
                invocation.channel(),
                interrupted,
            )
        }
        Invocation::Version | Invocation::Help => Ok(None),
        Invocation::Simulated { dir, inner } => {
            run_on(inner, Engine::Simulated(dir), config, interrupted)
        }
    }
}

/// The MIME handler: validate the whole archive, then do what it asks.
fn handle_archive(
    path: &Path,
    engine: Engine<'_>,
    config: &Config,
    channel: Channel,
    interrupted: &Arc<AtomicBool>,
) -> Result<Option<Status>, Error> {
    handle(
        Archive::open(path)?.interrupted_by(interrupted),
        engine,
        config,
        channel,
        interrupted,
    )
}

/// Writes one progress line on the status channel, before the status word
/// (`main` writes that). Only when the archive asked with `"progress": true`.
fn write_progress(channel: Channel, progress: PrintProgress) {
    let line = format!("{progress}\n");
    let written = match channel {
        Channel::Stderr => std::io::stderr().write_all(line.as_bytes()),
        Channel::Stdout => {
            let mut stdout = std::io::stdout();
            stdout
                .write_all(line.as_bytes())
                .and_then(|()| stdout.flush())
        }
    };
    if let Err(error) = written {
        tracing::warn!(%error, "could not write a progress line");
    }
}

fn handle(
    archive: Archive,
    engine: Engine<'_>,
    config: &Config,
    channel: Channel,
    interrupted: &AtomicBool,
) -> Result<Option<Status>, Error> {
    let Inspected {
        command,
        plan,
        redact,
        progress,
    } = archive.inspect()?;
    let report = move |p: PrintProgress| write_progress(channel, p);
    let progress: Option<&dyn Fn(PrintProgress)> = match &command {
        Command::Printer { .. } if progress => Some(&report),
        _ => None,
    };
    let status = match &command {
        Command::Start => return Ok(None),
        Command::UsbTest | Command::DiskTest => {
            status::probe_status(&disk::preflight(engine.devices()?.as_mut())?)
        }
        Command::Disk { passphrase } => {
            disk::export(
                engine.devices()?.as_mut(),
                &archive,
                &plan,
                passphrase.as_ref(),
                redact,
                &timestamp(),
                interrupted,
            )?;
            Status::SuccessExport
        }
        Command::PrinterPreflight | Command::PrinterTest | Command::Printer { .. } => print::run(
            engine.printers(config).as_ref(),
            config,
            &command,
            &archive,
            &plan,
            redact,
            progress,
            interrupted,
        )?,
    };
    Ok(Some(status))
}

/// `export ARCHIVE --to DIR`: the folder plays an unlocked, mounted drive.
/// A `disk` archive is written into it (redacted when `metadata.json` asks);
/// the drive probes answer for the folder (as the client's folder mode does);
/// `""` says nothing; printer commands are not for a folder and are refused
/// before anything is done.
fn export_to(
    archive: &Path,
    target: &Path,
    interrupted: &Arc<AtomicBool>,
) -> Result<Option<Status>, Error> {
    let archive = Archive::open(archive)?.interrupted_by(interrupted);
    let Inspected {
        command,
        plan,
        redact,
        ..
    } = archive.inspect()?;
    tracing::info!(command = command.device_value(), target = ?target, "export into a mounted folder");
    match command {
        Command::Disk { .. } => {}
        Command::Start => return Ok(None),
        Command::UsbTest | Command::DiskTest => {
            return Ok(Some(status::folder_probe_status(target.is_dir())))
        }
        Command::PrinterPreflight | Command::PrinterTest | Command::Printer { .. } => {
            return Err(Error::NotForAFolder(command.device_value().to_owned()))
        }
    }
    if !target.is_dir() {
        return Err(writer::WriteError::NotAFolder(target.to_owned()).into());
    }
    let mut root = writer::LocalFolder(target.to_owned());
    let written = disk::write_redacted(
        &archive,
        &plan,
        &mut root,
        redact,
        &timestamp(),
        interrupted,
    )?;
    tracing::info!(?written, "export written");
    Ok(Some(Status::SuccessExport))
}

/// Saves the archive arriving on stdin to an unnamed file, so that it (and
/// the passphrase in it) never outlives the process, however it ends.
/// Reading stops at an interrupt even while stdin is silent.
fn receive_stdin(temp_dir: &Path, interrupted: &AtomicBool) -> Result<File, Error> {
    let io_error = |e: io::Error| Error::Archive(ArchiveError::Io(e.to_string()));
    let mut file = unnamed_file(temp_dir).map_err(io_error)?;
    let stdin = io::stdin();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    loop {
        if interrupted.load(Ordering::Relaxed) {
            return Err(ArchiveError::Interrupted.into());
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(io_error(e.into())),
        }
        let n = match nix::unistd::read(stdin.as_fd(), &mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return Err(io_error(e.into())),
        };
        file.write_all(buffer.get(..n).unwrap_or_default())
            .map_err(io_error)?;
        received += n as u64;
    }
    tracing::info!(bytes = received, "archive received on stdin");
    Ok(file)
}

/// A file with no name: `O_TMPFILE` in `dir` (`TMPDIR`: on disk, so a large
/// archive does not take memory), or, where the file system cannot do that,
/// a memfd (in memory). Either is gone with the process.
fn unnamed_file(dir: &Path) -> io::Result<File> {
    let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_EXCL | OFlag::O_CLOEXEC;
    match nix::fcntl::open(dir, flags, Mode::S_IRUSR | Mode::S_IWUSR) {
        Ok(fd) => {
            tracing::info!(
                ?dir,
                "receiving the archive into an unnamed file (O_TMPFILE)"
            );
            Ok(File::from(fd))
        }
        Err(error) => {
            tracing::warn!(?dir, %error, "O_TMPFILE refused: receiving the archive into memory (memfd)");
            let fd = memfd_create(c"sdw-export", MFdFlags::MFD_CLOEXEC)?;
            Ok(File::from(fd))
        }
    }
}

/// The device qube's local time, as the export folder names it.
fn timestamp() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            Invocation::parse(&args(&["/tmp/a.sd-export"])).unwrap(),
            Invocation::HandleArchive("/tmp/a.sd-export".into())
        );
        assert_eq!(
            Invocation::parse(&args(&["export", "a", "--to", "/media/x"])).unwrap(),
            Invocation::ExportTo {
                archive: "a".into(),
                target: "/media/x".into()
            }
        );
        assert_eq!(
            Invocation::parse(&args(&["qrexec-service"])).unwrap(),
            Invocation::QrexecService
        );
        assert_eq!(
            Invocation::parse(&args(&["--version"])).unwrap(),
            Invocation::Version
        );
        assert_eq!(
            Invocation::parse(&args(&["--help"])).unwrap(),
            Invocation::Help
        );
        assert_eq!(
            Invocation::parse(&args(&["--sim", "/tmp/drives", "/tmp/a.sd-export"])).unwrap(),
            Invocation::Simulated {
                dir: "/tmp/drives".into(),
                inner: Box::new(Invocation::HandleArchive("/tmp/a.sd-export".into()))
            }
        );
        assert!(Invocation::parse(&args(&["--sim", "/tmp/drives"])).is_err());
        assert!(Invocation::parse(&args(&[])).is_err());
        assert!(Invocation::parse(&args(&["--help", "x"])).is_err());
        assert_eq!(Invocation::parse(&args(&["-h"])).unwrap(), Invocation::Help);
        assert_eq!(
            Invocation::parse(&args(&["-V"])).unwrap(),
            Invocation::Version
        );
        assert!(Invocation::parse(&args(&["export"])).is_err());
        assert!(Invocation::parse(&args(&["a", "b"])).is_err());
    }
}
