//! `sdw-devices` (also `send-to-usb`): one status word, exit 0, always.
#![deny(unsafe_code)]

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sdw_devices::cli::{self, Channel, Invocation};
use sdw_devices::config::Config;
use sdw_devices::{hardening, log};
use sdw_protocol::Status;

fn main() {
    // First of all: a crash from here on must not write memory to disk.
    let core_dumps = hardening::forbid_core_dumps();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // The one read of the environment; everything below is handed this.
    let config = Config::from_env();
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        // Registration only fails for forbidden signals, which these are not.
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let invocation = Invocation::parse(&args);
    if let Some(text) = invocation.as_ref().ok().and_then(Invocation::information) {
        let _ = std::io::stdout().write_all(text.as_bytes());
        std::process::exit(0);
    }
    let channel = invocation
        .as_ref()
        .map_or(Channel::Stderr, Invocation::channel);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let result = match invocation {
            Ok(invocation) => cli::run(&invocation, &config, &interrupted),
            Err(error) => {
                // A usage error: cli::run, which sets up the log, never ran.
                // Set it up here so that the log says why (the usage), since
                // stderr carries only the status word.
                let _ = log::init(config.log_dir.as_deref());
                Err(error)
            }
        };
        result.unwrap_or_else(|error| {
            tracing::error!(%error, "failed");
            Some(error.status())
        })
    }));
    if let Err(error) = core_dumps {
        tracing::warn!(%error, "core dumps could not be switched off");
    }
    let status = outcome.unwrap_or(Some(Status::ErrorGeneric));
    if let Some(status) = status {
        tracing::info!(%status, "done");
        let line = format!("{status}\n");
        let _ = match channel {
            Channel::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Channel::Stdout => std::io::stdout().write_all(line.as_bytes()),
        };
    }
    std::process::exit(0);
}
