//! `sdw-devices-helper`: the privileged side of `sdw-devices`, installed as
//! `/usr/libexec/sdw-devices/sdw-devices-helper` and reached through sudo.
//! Takes no arguments; serves requests on stdin until it closes (see
//! `sdw_devices::device::real::helper`). Exits 0 after cleaning up, 2 when
//! started with arguments.
#![deny(unsafe_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() {
    // A crash must never write a key or passphrase to disk.
    let _ = nix::sys::prctl::set_dumpable(false);
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    if std::env::args_os().len() > 1 {
        eprintln!("sdw-devices-helper takes no arguments: it is started by sdw-devices");
        std::process::exit(2);
    }
    // Our lifetime is our stdin's: a signal must not stop us before we have
    // locked what we unlocked. Registered handlers that nobody reads ignore them.
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&ignored));
    }
    sdw_devices::log::init_helper();
    let owner = sdw_devices::device::real::helper::caller();
    tracing::info!(?owner, "serving");
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    sdw_devices::device::real::helper::serve(&mut stdin.lock(), &mut stdout.lock(), owner);
    tracing::info!("stdin closed; cleaned up");
}
