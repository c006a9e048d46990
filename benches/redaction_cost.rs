//! Benchmark (not a test): what metadata redaction costs per MiB, against
//! the plain export of the same archive (`sdw-devices export ARCHIVE --to
//! DIR`, with `"redact": true` and without), for each kind of file: 6 MP
//! JPEG photos, 40-page PDFs, DOCX letters, and incompressible plain bytes
//! (sniffed and streamed unchanged). Peak RSS (VmHWM) shows the memory bound.
//!
//! Run: `cargo bench --bench redaction_cost` (SDW_BENCH_MIB=64 per kind by
//! default, SDW_BENCH_DIR to choose the filesystem, default `target/bench`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdw_devices::redact::corpus;
use sdw_testkit::measure::{best_of, run_measured, Measured};
use sdw_testkit::ArchiveBuilder;

const ROUNDS: usize = 3;

fn main() {
    let mib: u64 = std::env::var("SDW_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let base = std::env::var_os("SDW_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench"));
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {base:?}: {e}"));
    let noise = {
        // xorshift: incompressible, and the same every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..4 * 1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    let kinds: [(&str, &str, Vec<u8>); 4] = [
        ("JPEG 3000x2000", "jpg", corpus::jpeg_of_size(3000, 2000)),
        ("PDF 40 pages", "pdf", corpus::pdf_with_pages(40)),
        ("DOCX", "docx", corpus::docx()),
        ("other (streamed as is)", "bin", noise),
    ];
    println!("# redaction cost: sdw-devices export --to, with \"redact\": true and without, same archive ({mib} MiB per kind)");
    println!(
        "| files | count | MiB | plain export | redacted export | extra per MiB | extra per file | peak RSS plain / redacted |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, ext, sample) in kinds {
        let count = ((mib * 1024 * 1024) / sample.len() as u64).max(1);
        let bytes = count * sample.len() as u64;
        let archive = |metadata: &str| {
            let mut builder = ArchiveBuilder::with_metadata(metadata);
            for i in 0..count {
                builder = builder.export_file(&format!("f{i}.{ext}"), &sample);
            }
            builder.gzip()
        };
        let plain_path = base.join(format!("bench-plain-{ext}.sd-export"));
        let redact_path = base.join(format!("bench-redact-{ext}.sd-export"));
        for (path, metadata) in [
            (&plain_path, r#"{"device":"disk"}"#),
            (&redact_path, r#"{"device":"disk","redact":true}"#),
        ] {
            fs::write(path, archive(metadata)).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        }
        let plain = best_of(&base, ROUNDS, |dir| export(&plain_path, dir, &base));
        let redacted = best_of(&base, ROUNDS, |dir| export(&redact_path, dir, &base));
        let extra = redacted.elapsed.as_secs_f64() - plain.elapsed.as_secs_f64();
        let data_mib = bytes as f64 / (1024.0 * 1024.0);
        println!(
            "| {label} | {count} | {data_mib:.1} | {:.2} s | {:.2} s | {:.3} s | {:.1} ms | {:.1} / {:.1} MiB |",
            plain.elapsed.as_secs_f64(),
            redacted.elapsed.as_secs_f64(),
            extra / data_mib,
            extra * 1000.0 / count as f64,
            plain.peak_rss_kib as f64 / 1024.0,
            redacted.peak_rss_kib as f64 / 1024.0,
        );
        let _ = fs::remove_file(&plain_path);
        let _ = fs::remove_file(&redact_path);
    }
    let _ = fs::remove_dir_all(base.join("logs"));
}

/// `sdw-devices export ARCHIVE --to DIR`, measured; exactly one export folder must result.
fn export(archive: &Path, dir: &Path, base: &Path) -> Measured {
    let m = run_measured(
        Command::new(env!("CARGO_BIN_EXE_sdw-devices"))
            .arg("export")
            .arg(archive)
            .arg("--to")
            .arg(dir)
            .env("SDW_LOG_DIR", base.join("logs")),
    );
    let written = fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 1, "the export did not happen in {dir:?}");
    m
}
