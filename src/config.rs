//! The configuration of one run, read from the environment once, at start
//! ([`Config::from_env`], called by `main`), and passed down from there: no
//! module below reads an environment variable. Tests build a [`Config`]
//! directly.
//!
//! | variable                     | what                               | default                          |
//! |------------------------------|------------------------------------|----------------------------------|
//! | `SDW_LOG_DIR`                | the log folder                     | `$HOME/.securedrop_export/logs`  |
//! | `CUPS_SERVER`                | cupsd: a socket path or `host[:port]` | `/run/cups/cups.sock` when it exists, else `localhost:631` |
//! | `SDW_PRINT_JOB_TIMEOUT_SECS` | how long one print job may take    | 300                              |
//! | `TMPDIR`                     | where private work folders go      | `/tmp`                           |
//! | `DISPLAY`, `WAYLAND_DISPLAY` | whether a print without `print_options` opens the print dialog | neither: no dialog |
//!
//! Which drives and printers are used (real or simulated) is no part of the
//! configuration: only the `--sim DIR` argument chooses the simulator. Where
//! the privileged helper mounts drives (`/run/sdw-devices`) is a constant of
//! that helper, never configurable: it runs as root through sudo, which passes
//! it no environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The system's CUPS domain socket (Debian's libcups default).
pub const SYSTEM_SOCKET: &str = "/run/cups/cups.sock";
/// Where cupsd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    Socket(PathBuf),
    Tcp { host: String, port: u16 },
}

impl Server {
    /// The server libcups uses without `CUPS_SERVER`: the system socket
    /// when it exists, else `localhost:631`.
    pub fn system_default() -> Server {
        if Path::new(SYSTEM_SOCKET).exists() {
            Server::Socket(PathBuf::from(SYSTEM_SOCKET))
        } else {
            Server::Tcp {
                host: "localhost".into(),
                port: 631,
            }
        }
    }

    /// Parses a `CUPS_SERVER` value: `/path/to/socket`, `host`, `host:port`,
    /// `[v6]:port`, each optionally followed by `/version=...`.
    pub fn parse(value: &str) -> Server {
        if value.starts_with('/') {
            return Server::Socket(PathBuf::from(value));
        }
        let value = value.split('/').next().unwrap_or(value);
        let (host, port) = if let Some(rest) = value.strip_prefix('[') {
            match rest.split_once(']') {
                Some((host, tail)) => (host, tail.strip_prefix(':')),
                None => (rest, None),
            }
        } else {
            match value.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (value, None),
            }
        };
        Server::Tcp {
            host: host.to_owned(),
            port: port.and_then(|p| p.parse().ok()).unwrap_or(631),
        }
    }

    /// The server as logs and errors name it.
    pub fn describe(&self) -> String {
        match self {
            Server::Socket(path) => path.display().to_string(),
            Server::Tcp { host, port } => format!("{host}:{port}"),
        }
    }
}

/// How long one print job may take to reach a final state, unless
/// `SDW_PRINT_JOB_TIMEOUT_SECS` says otherwise.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything a run takes from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The log folder; `None` when neither `SDW_LOG_DIR` nor `HOME` is set
    /// (logging then fails with `ERROR_LOGGING`).
    pub log_dir: Option<PathBuf>,
    /// Where private work folders (print staging, the received archive) go.
    pub temp_dir: PathBuf,
    pub print: PrintConfig,
}

/// What the print service takes from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintConfig {
    /// The CUPS server.
    pub cups_server: Server,
    /// How long one job may take to reach a final state.
    pub job_timeout: Duration,
    /// Whether the qube has a display (`DISPLAY` or `WAYLAND_DISPLAY` set and
    /// not empty): a print without `print_options` then opens the print dialog.
    pub display: bool,
}

impl Config {
    /// Reads the process environment (see the table above).
    pub fn from_env() -> Config {
        Config::from_vars(|name| std::env::var_os(name))
    }

    /// Builds the configuration from a lookup of variables (the environment,
    /// or a test's map).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Config {
        let text = |name: &str| var(name).and_then(|v| v.into_string().ok());
        let log_dir = match (var("SDW_LOG_DIR"), var("HOME")) {
            (Some(dir), _) => Some(PathBuf::from(dir)),
            (None, Some(home)) => Some(PathBuf::from(home).join(".securedrop_export/logs")),
            (None, None) => None,
        };
        let temp_dir = var("TMPDIR")
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let cups_server = match text("CUPS_SERVER") {
            Some(value) if !value.trim().is_empty() => Server::parse(value.trim()),
            _ => Server::system_default(),
        };
        let job_timeout = text("SDW_PRINT_JOB_TIMEOUT_SECS")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(JOB_TIMEOUT, Duration::from_secs);
        let display = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|name| var(name).is_some_and(|v| !v.is_empty()));
        Config {
            log_dir,
            temp_dir,
            print: PrintConfig {
                cups_server,
                job_timeout,
                display,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cups_server_values_parse_like_libcups() {
        assert_eq!(
            Server::parse("/tmp/x/cups.sock"),
            Server::Socket("/tmp/x/cups.sock".into())
        );
        assert_eq!(
            Server::parse("printhost"),
            Server::Tcp {
                host: "printhost".into(),
                port: 631
            }
        );
        assert_eq!(
            Server::parse("localhost:8631/version=1.1"),
            Server::Tcp {
                host: "localhost".into(),
                port: 8631
            }
        );
        assert_eq!(
            Server::parse("[::1]:6310"),
            Server::Tcp {
                host: "::1".into(),
                port: 6310
            }
        );
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Config::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn reads_each_variable_once_with_its_default() {
        let all = config(&[
            ("SDW_LOG_DIR", "/var/log/x"),
            ("HOME", "/home/user"),
            ("TMPDIR", "/tmp/t"),
            ("CUPS_SERVER", "/run/x/cups.sock"),
            ("SDW_PRINT_JOB_TIMEOUT_SECS", "60"),
        ]);
        assert_eq!(all.log_dir, Some("/var/log/x".into()));
        assert_eq!(all.temp_dir, PathBuf::from("/tmp/t"));
        assert_eq!(
            all.print.cups_server,
            Server::Socket("/run/x/cups.sock".into())
        );
        assert_eq!(all.print.job_timeout, Duration::from_secs(60));
        let home = config(&[("HOME", "/home/user"), ("SDW_PRINT_JOB_TIMEOUT_SECS", "0")]);
        assert_eq!(
            home.log_dir,
            Some("/home/user/.securedrop_export/logs".into())
        );
        assert_eq!(home.temp_dir, PathBuf::from("/tmp"));
        assert_eq!(home.print.job_timeout, JOB_TIMEOUT);
        assert_eq!(home.print.cups_server, Server::system_default());
        assert_eq!(config(&[]).log_dir, None);
    }
}
