//! The command line, and the handling of one archive from start to status.
//!
//! - `sdw-devices ARCHIVE` (also installed as `send-to-usb`): the
//!   `application/x-sd-export` handler; one status word on stderr.
//! - `sdw-devices export ARCHIVE --to DIR`: export into a folder already mounted.
//! - `sdw-devices qrexec-service`: the `securedrop.Export` qrexec service;
//!   the archive on stdin, the status word on stdout.
//! - `sdw-devices --sim DIR ...`: any of the above against simulated drives
//!   (`device::sim`), for tests; the only way the simulator is chosen.
//!
//! Arguments are parsed by hand rather than with clap: a usage error must still
//! end in exactly one status word, and clap would print help text.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use sdw_protocol::{Command, Status};

use crate::archive::{Archive, Inspected};
use crate::device::real::RealDevices;
use crate::device::sim::SimDevices;
use crate::device::Devices;
use crate::disk::DiskError;
use crate::status::Error;
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
    /// `--sim DIR` before any other form: the drives are simulated in `DIR`.
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
}

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
            (["export", _, "--to", _], [_, archive, _, target]) => {
                Ok(Invocation::ExportTo { archive: archive.into(), target: target.into() })
            }
            (["qrexec-service"], _) => Ok(Invocation::QrexecService),
            (_, [archive]) => Ok(Invocation::HandleArchive(archive.into())),
            _ => Err(Error::Usage(
                "sdw-devices ARCHIVE | sdw-devices export ARCHIVE --to DIR | sdw-devices qrexec-service".into(),
            )),
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
pub fn run(invocation: &Invocation, interrupted: &AtomicBool) -> Result<Option<Status>, Error> {
    log::init()?;
    tracing::info!(?invocation, version = env!("CARGO_PKG_VERSION"), "start");
    run_on(invocation, Engine::Real, interrupted)
}

fn run_on(
    invocation: &Invocation,
    engine: Engine<'_>,
    interrupted: &AtomicBool,
) -> Result<Option<Status>, Error> {
    match invocation {
        Invocation::HandleArchive(path) => handle_archive(path, engine, interrupted),
        Invocation::ExportTo { archive, target } => {
            export_to(archive, target, interrupted).map(Some)
        }
        Invocation::QrexecService => {
            let received = receive_stdin()?;
            handle_archive(received.path(), engine, interrupted)
        }
        Invocation::Simulated { dir, inner } => run_on(inner, Engine::Simulated(dir), interrupted),
    }
}

/// The MIME handler: validate the whole archive, then do what it asks.
fn handle_archive(
    path: &Path,
    engine: Engine<'_>,
    interrupted: &AtomicBool,
) -> Result<Option<Status>, Error> {
    let archive = Archive::open(path)?;
    let Inspected { command, plan } = archive.inspect()?;
    let status = match &command {
        Command::Start => return Ok(None),
        Command::UsbTest | Command::DiskTest => disk::preflight(engine.devices()?.as_mut())?,
        Command::Disk { passphrase } => disk::export(
            engine.devices()?.as_mut(),
            &archive,
            &plan,
            passphrase.as_ref(),
            &timestamp(),
            interrupted,
        )?,
        Command::PrinterPreflight | Command::PrinterTest | Command::Printer => {
            print::run(&command, &archive, &plan)?
        }
    };
    Ok(Some(status))
}

fn export_to(archive: &Path, target: &Path, interrupted: &AtomicBool) -> Result<Status, Error> {
    let archive = Archive::open(archive)?;
    let Inspected { command, plan } = archive.inspect()?;
    tracing::info!(command = command.device_value(), target = ?target, "export into a mounted folder");
    let written = writer::write_export(
        &archive,
        &plan,
        target,
        &timestamp(),
        &mut writer::LogProgress::default(),
        interrupted,
    )?;
    tracing::info!(?written, "export written");
    Ok(Status::SuccessExport)
}

/// Saves the archive arriving on stdin to a private temporary file (0600 in
/// `TMPDIR`), removed when dropped.
fn receive_stdin() -> Result<tempfile::NamedTempFile, Error> {
    let io_error = |e: io::Error| Error::Archive(crate::archive::ArchiveError::Io(e.to_string()));
    let mut file = tempfile::Builder::new()
        .prefix("sdw-export-")
        .suffix(".sd-export")
        .tempfile()
        .map_err(io_error)?;
    io::copy(&mut io::stdin().lock(), &mut file).map_err(io_error)?;
    file.flush().map_err(io_error)?;
    Ok(file)
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
            Invocation::parse(&args(&["--sim", "/tmp/drives", "/tmp/a.sd-export"])).unwrap(),
            Invocation::Simulated {
                dir: "/tmp/drives".into(),
                inner: Box::new(Invocation::HandleArchive("/tmp/a.sd-export".into()))
            }
        );
        assert!(Invocation::parse(&args(&["--sim", "/tmp/drives"])).is_err());
        assert!(Invocation::parse(&args(&[])).is_err());
        assert!(Invocation::parse(&args(&["a", "b"])).is_err());
    }
}
