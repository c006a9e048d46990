//! Host plumbing the test suites share: where a test may cache what is slow
//! to make, and how a helper process it started is stopped.
//!
//! Effects: [`user_cache_dir`] reads `XDG_CACHE_HOME` and `HOME`;
//! [`terminate`] sends signals to the given child and waits for it.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The user's cache folder: `$XDG_CACHE_HOME`, else `$HOME/.cache` (the XDG
/// base directory rule); `None` when neither is set (or both are empty).
/// Callers add their own `sdw-devices/...` folder below it.
pub fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })
}

/// Stops `child`: SIGTERM first, so that a server (Xvfb, cupsd) removes its
/// lock files and sockets, then SIGKILL if it is still running after
/// `grace`; always reaped. Errors are ignored: the child may be gone already.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = Command::new("/bin/kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_stops_a_process_that_ignores_nothing_and_one_that_ignores_sigterm() {
        let mut polite = Command::new("sleep").arg("60").spawn().unwrap();
        let start = Instant::now();
        terminate(&mut polite, Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(polite.try_wait().unwrap().is_some());

        let mut stubborn = Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 60 & wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        terminate(&mut stubborn, Duration::from_millis(500));
        assert!(start.elapsed() >= Duration::from_millis(500));
        assert!(stubborn.try_wait().unwrap().is_some());
    }
}
