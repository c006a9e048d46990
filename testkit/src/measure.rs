//! Timing for the benchmarks (`benches/`): a process run to completion with its peak
//! resident memory sampled, and the best of a few rounds.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured run: wall time, and peak resident set size (`VmHWM`, KiB).
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
}

/// Runs `command` to completion, sampling its `VmHWM` from `/proc/PID/status`
/// every 5 ms. Panics when it fails or says `ERROR` on stderr (a benchmark of a
/// failed run measures nothing).
pub fn run_measured(command: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = fs::read_to_string(&status_path) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            {
                peak = kib;
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stderr.contains("ERROR"),
        "run failed: {stderr}"
    );
    Measured {
        elapsed,
        peak_rss_kib: peak,
    }
}

/// The fastest of `rounds` runs, each given a fresh folder `base/out-N` (removed
/// afterwards, and the file systems synced before each run); the peak memory is the
/// highest of all rounds.
pub fn best_of(base: &Path, rounds: usize, mut run: impl FnMut(&Path) -> Measured) -> Measured {
    let mut best: Option<Measured> = None;
    for round in 0..rounds {
        let dir = base.join(format!("out-{round}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        let _ = Command::new("sync").status();
        let m = run(&dir);
        let _ = fs::remove_dir_all(&dir);
        best = Some(match best {
            Some(b) if b.elapsed <= m.elapsed => Measured {
                peak_rss_kib: b.peak_rss_kib.max(m.peak_rss_kib),
                ..b
            },
            Some(b) => Measured {
                peak_rss_kib: b.peak_rss_kib.max(m.peak_rss_kib),
                ..m
            },
            None => m,
        });
    }
    best.unwrap_or(Measured {
        elapsed: Duration::ZERO,
        peak_rss_kib: 0,
    })
}
