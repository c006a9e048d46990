//! Benchmark (not a test): `sdw-devices export ARCHIVE --to DIR` against GNU
//! `tar -xzf` on the same generated archive, on the same machine.
//!
//! Generates an archive of mixed small and large files (half compressible
//! text, half incompressible bytes), then times each tool `ROUNDS` times into
//! fresh folders on the same filesystem, and samples the peak RSS of our
//! process (VmHWM) at two archive sizes to show that memory stays flat.
//!
//! Run: `cargo bench --bench export_throughput` (SDW_BENCH_MIB=1024 by default,
//! SDW_BENCH_DIR to choose the filesystem, default `target/bench`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sdw_testkit::measure::{best_of, run_measured, Measured};
use sdw_testkit::ExportWriter;

const ROUNDS: usize = 3;

fn main() {
    let mib: u64 = std::env::var("SDW_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let base = std::env::var_os("SDW_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench"));
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {base:?}: {e}"));
    let sizes = [mib / 8, mib];
    println!("# export throughput: sdw-devices export --to vs tar -xzf (same archive, same filesystem {base:?})");
    for &size in &sizes {
        let archive = base.join(format!("bench-{size}MiB.sd-export"));
        let (files, bytes) = generate(&archive, size * 1024 * 1024);
        let archive_size = fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
        println!(
            "\narchive: {files} files, {:.1} MiB of data, {:.1} MiB compressed",
            mib_of(bytes),
            mib_of(archive_size)
        );
        let ours = best_of(&base, ROUNDS, |dir| {
            run_measured(
                Command::new(env!("CARGO_BIN_EXE_sdw-devices"))
                    .arg("export")
                    .arg(&archive)
                    .arg("--to")
                    .arg(dir)
                    .env("SDW_LOG_DIR", base.join("logs")),
            )
        });
        let tar = best_of(&base, ROUNDS, |dir| {
            run_measured(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(dir),
            )
        });
        let tar_sync = best_of(&base, ROUNDS, |dir| {
            let m = run_measured(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(dir),
            );
            let start = Instant::now();
            let _ = Command::new("sync").arg("-f").arg(dir).status();
            Measured {
                elapsed: m.elapsed + start.elapsed(),
                peak_rss_kib: m.peak_rss_kib,
            }
        });
        report(
            "sdw-devices export --to (fsync + read-back verify)",
            bytes,
            &ours,
        );
        report("tar -xzf", bytes, &tar);
        report("tar -xzf; sync -f", bytes, &tar_sync);
        println!(
            "ratio: sdw-devices / tar -xzf = {:.2}x time; / (tar -xzf; sync) = {:.2}x time",
            ours.elapsed.as_secs_f64() / tar.elapsed.as_secs_f64(),
            ours.elapsed.as_secs_f64() / tar_sync.elapsed.as_secs_f64()
        );
        let _ = fs::remove_file(&archive);
    }
    let _ = fs::remove_dir_all(base.join("logs"));
}

fn report(name: &str, bytes: u64, m: &Measured) {
    println!(
        "{name:<52} {:>7.2} s {:>8.1} MiB/s   peak RSS {:>7} KiB",
        m.elapsed.as_secs_f64(),
        mib_of(bytes) / m.elapsed.as_secs_f64(),
        m.peak_rss_kib
    );
}

/// Writes a gzip archive of about `target_bytes` of data in mixed file sizes.
fn generate(path: &Path, target_bytes: u64) -> (usize, u64) {
    let file = fs::File::create(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    let command = sdw_protocol::Command::Disk {
        passphrase: Some(sdw_protocol::Passphrase::new("bench".into())),
    };
    let mut archive = ExportWriter::for_command(gz, &command).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut files, mut bytes) = (0usize, 0u64);
    // ~2,000 files per GiB: 95% between 1 KiB and 256 KiB, 5% between 1 and 14 MiB.
    let mut data = Vec::new();
    while bytes < target_bytes {
        let size = if next() % 20 == 0 {
            1_048_576 + next() % (13 * 1_048_576)
        } else {
            1024 + next() % (255 * 1024)
        };
        let size = size.min(target_bytes - bytes).max(1);
        data.clear();
        let compressible = files % 2 == 0;
        while (data.len() as u64) < size {
            if compressible {
                data.extend_from_slice(
                    b"The quick brown fox jumps over the lazy dog; source notes line. ",
                );
            } else {
                data.extend_from_slice(&next().to_le_bytes());
            }
        }
        data.truncate(size as usize);
        let name = format!(
            "source-{}/file-{files:05}.{}",
            files % 7,
            if compressible { "txt" } else { "bin" }
        );
        archive.file(&name, &data).unwrap_or_else(|e| panic!("{e}"));
        files += 1;
        bytes += size;
    }
    let gz = archive.finish().unwrap_or_else(|e| panic!("{e}"));
    let mut out = gz.finish().unwrap_or_else(|e| panic!("{e}"));
    out.flush().unwrap_or_else(|e| panic!("{e}"));
    (files, bytes)
}

fn mib_of(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
