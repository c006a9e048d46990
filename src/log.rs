//! Where the device side's words go, other than the one status line: a daily
//! rotated file in the configured folder (`~/.securedrop_export/logs/`, or
//! `SDW_LOG_DIR`: [`crate::config::Config::log_dir`]) and syslog when `/dev/log` exists. Never stderr or stdout,
//! which belong to the protocol. Also turns panics into log records.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How many daily log files are kept.
const KEEP_LOG_FILES: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no log folder: HOME and SDW_LOG_DIR are unset")]
    NoLogDir,
    #[error("could not open the log in {dir:?}: {reason}")]
    Open { dir: PathBuf, reason: String },
}

/// Installs the file logger (in `dir`, the configured log folder) and the
/// syslog logger, and a panic hook that logs instead of printing. Fails
/// (-> `ERROR_LOGGING`) only if there is no log folder or the log file cannot
/// be opened.
pub fn init(dir: Option<&Path>) -> Result<(), LogError> {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
    let dir = dir.ok_or(LogError::NoLogDir)?.to_owned();
    std::fs::create_dir_all(&dir).map_err(|e| LogError::Open {
        dir: dir.clone(),
        reason: e.to_string(),
    })?;
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("sdw-devices")
        .filename_suffix("log")
        .max_log_files(KEEP_LOG_FILES)
        .build(&dir)
        .map_err(|e| LogError::Open {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(file)
        .with_ansi(false);
    let syslog_layer = Syslog::connect("sdw-devices").map(|syslog| {
        tracing_subscriber::fmt::layer()
            .with_writer(syslog)
            .with_ansi(false)
            .without_time()
            .with_target(false)
    });
    // A second init (tests calling in-process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(syslog_layer)
        .try_init();
    Ok(())
}

/// The privileged helper's logger: syslog only (it has no home of its own,
/// and its stderr goes to `sdw-devices`' log), and panics logged.
pub fn init_helper() {
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
    let syslog_layer = Syslog::connect("sdw-devices-helper").map(|syslog| {
        tracing_subscriber::fmt::layer()
            .with_writer(syslog)
            .with_ansi(false)
            .without_time()
            .with_target(false)
    });
    let _ = tracing_subscriber::registry().with(syslog_layer).try_init();
}

/// Sends each formatted event as one RFC 3164 datagram to `/dev/log`.
struct Syslog {
    socket: UnixDatagram,
    prefix: String,
}

impl Syslog {
    fn connect(ident: &str) -> Option<Syslog> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect("/dev/log").ok()?;
        // <14> = facility user (1) * 8 + severity info (6).
        Some(Syslog {
            socket,
            prefix: format!("<14>{ident}[{}]: ", std::process::id()),
        })
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogRecord<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogRecord { syslog: self }
    }
}

struct SyslogRecord<'a> {
    syslog: &'a Syslog,
}

impl io::Write for SyslogRecord<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut datagram = Vec::with_capacity(self.syslog.prefix.len() + buf.len());
        datagram.extend_from_slice(self.syslog.prefix.as_bytes());
        datagram.extend_from_slice(buf.strip_suffix(b"\n").unwrap_or(buf));
        // Syslog is best effort: a full or vanished socket must not fail the export.
        let _ = self.syslog.socket.send(&datagram);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
