//! Peak memory of `sdw-devices` on hostile archives, measured by the kernel:
//! each run goes through GNU `time -f %M`, which reports the largest resident
//! set of the process it started (`wait4`'s `ru_maxrss`). A small process in
//! between is needed: a child's `ru_maxrss` starts from the peak of whatever
//! process it was spawned from, and this test process holds the archives.
//! Each run must stay under 64 MiB and answer its status word. A control run
//! that does take memory shows that the measurement sees it.

#![allow(clippy::unwrap_used)]

mod support;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use sdw_testkit::ArchiveBuilder;
use support::{Run, Sandbox};

const LIMIT_KIB: u64 = 64 * 1024;
const GNU_TIME: &str = "/usr/bin/time";

/// Runs `command` under GNU time; returns its run and its peak RSS in KiB.
fn measured(sandbox: &Sandbox, command: Command, stdin: Option<&[u8]>) -> (Run, u64) {
    let report = sandbox.root.join("maxrss");
    let mut timed = Command::new(GNU_TIME);
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let mut child = timed.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let run = Run::from_output(child.wait_with_output().unwrap());
    let kib = fs::read_to_string(&report).unwrap().trim().parse().unwrap();
    (run, kib)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip archive: `head` (tar bytes), then `repeat` MiB of `fill` as
/// concatenated gzip members, then `tail`.
fn gzip_stream(head: &[u8], fill: u8, repeat: usize, tail: &[u8]) -> Vec<u8> {
    let chunk = gzip(&vec![fill; 1 << 20]);
    let mut bytes = gzip(head);
    for _ in 0..repeat {
        bytes.extend_from_slice(&chunk);
    }
    bytes.extend(gzip(tail));
    bytes
}

/// A tar header announcing `size` bytes of data of type `kind`.
fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header.as_bytes().to_vec()
}

fn metadata_tar(json: &str) -> Vec<u8> {
    let mut tar = ArchiveBuilder::with_metadata(json).tar();
    tar.truncate(tar.len() - 1024);
    tar
}

/// One 256 MiB extension record of `kind` before a member.
fn huge_record(kind: tar::EntryType) -> Vec<u8> {
    let mut head = metadata_tar(r#"{"device":"disk"}"#);
    head.extend(header("././@LongLink", kind, 256 << 20));
    let tail = ArchiveBuilder::new().file("export_data/a", b"1").tar();
    gzip_stream(&head, b'a', 256, &tail)
}

#[test]
fn peak_memory_stays_under_64_mib_whatever_the_archive() {
    let started = std::time::Instant::now();
    let sandbox = Sandbox::new();
    let disk = r#"{"device":"disk","encryption_key":"pw"}"#;
    let deep = |depth: usize| vec!["d"; depth].join("/");
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    // 200 files, each 2,000 folders deep (3.4 KB; 831 MB before).
    let builder = (0..200).fold(ArchiveBuilder::with_metadata(disk), |b, i| {
        b.file(&format!("export_data/{}/{i}", deep(2000)), b"x")
    });
    cases.push(("200 files 2000 deep", builder.gzip(), "ERROR_EXTRACTION"));
    // As deep as allowed, each member in its own folder tree: the node budget.
    let builder = (0..2000).fold(ArchiveBuilder::with_metadata(disk), |b, i| {
        b.file(&format!("export_data/{i}/{}/f", deep(125)), b"x")
    });
    cases.push(("127 deep x 2000", builder.gzip(), "ERROR_EXTRACTION"));
    // Long distinct names, 15 components of 250 bytes each: the name-byte
    // budget (8 MiB) is reached after about 2,240 members.
    let builder = (0..3_000).fold(ArchiveBuilder::with_metadata(disk), |b, i| {
        let components: Vec<String> = (0..15).map(|c| format!("{c:02}{i:0248}")).collect();
        b.file(&format!("export_data/{}", components.join("/")), b"")
    });
    cases.push(("3,000 x 3.7 KB names", builder.gzip(), "ERROR_EXTRACTION"));
    // Near both budgets and still accepted: 49,999 files, each in its own
    // folder (100,000 names, 8 MB of them), validated in full, then probed.
    let builder = (0..49_999).fold(
        ArchiveBuilder::with_metadata(r#"{"device":"usb-test"}"#),
        |b, i| b.file(&format!("export_data/{i:080}/{i:080}"), b"x"),
    );
    cases.push((
        "49,999 files in their own folders, accepted",
        builder.gzip(),
        "NO_DEVICE_DETECTED",
    ));
    // Extension records of 256 MiB: GNU long name, long link, PAX.
    cases.push((
        "256 MiB long-name record",
        huge_record(tar::EntryType::GNULongName),
        "ERROR_EXTRACTION",
    ));
    cases.push((
        "256 MiB long-link record",
        huge_record(tar::EntryType::GNULongLink),
        "ERROR_EXTRACTION",
    ));
    cases.push((
        "256 MiB PAX record",
        huge_record(tar::EntryType::XHeader),
        "ERROR_EXTRACTION",
    ));
    // A GNU sparse map that never ends (256 MiB of extension blocks).
    let mut head = metadata_tar(disk);
    let mut sparse = header("export_data/sparse", tar::EntryType::GNUSparse, 0);
    sparse[482] = 1; // isextended
    let mut sparse_header = tar::Header::new_old();
    sparse_header.as_mut_bytes().copy_from_slice(&sparse);
    sparse_header.set_cksum();
    head.extend_from_slice(sparse_header.as_bytes());
    let mut block = vec![0u8; 512];
    block[504] = 1;
    let extension_blocks: Vec<u8> = block.repeat(2048);
    let chunk = gzip(&extension_blocks);
    let mut bytes = gzip(&head);
    for _ in 0..256 {
        bytes.extend_from_slice(&chunk);
    }
    cases.push(("endless sparse map", bytes, "ERROR_EXTRACTION"));
    // A member of 512 MiB of data, streamed through the decompressor.
    let mut head = metadata_tar(r#"{"device":"usb-test"}"#);
    head.extend(header(
        "export_data/big",
        tar::EntryType::Regular,
        512 << 20,
    ));
    cases.push((
        "512 MiB member",
        gzip_stream(&head, 0, 512, &[0u8; 1024]),
        "NO_DEVICE_DETECTED",
    ));

    eprintln!("archives built in {:?}", started.elapsed());
    for (name, bytes, status) in &cases {
        let run_started = std::time::Instant::now();
        let archive = sandbox.archive("m.sd-export", bytes);
        let (run, peak) = measured(&sandbox, sandbox.command(&[archive.as_os_str()]), None);
        eprintln!(
            "{name}: {} KB archive, {status}, peak RSS {peak} KiB, {:?}",
            bytes.len() / 1000,
            run_started.elapsed()
        );
        if run.stderr != format!("{status}\n") {
            let logs = sandbox.logs();
            eprintln!("{}", &logs[logs.len().saturating_sub(3000)..]);
        }
        run.assert_status(status);
        assert!(peak > 0, "the measurement sees the process");
        assert!(peak < LIMIT_KIB, "{name}: peak RSS {peak} KiB");
    }
    // The qrexec service on the name and record cases (the archive on stdin).
    for (name, bytes, status) in cases.iter().filter(|c| c.1.len() < 4_000_000) {
        let command = sandbox.command(&[OsStr::new("qrexec-service")]);
        let (run, peak) = measured(&sandbox, command, Some(bytes));
        eprintln!("qrexec-service, {name}: peak RSS {peak} KiB");
        assert_eq!(run.stdout, format!("{status}\n"), "{name}");
        assert!(
            peak < LIMIT_KIB,
            "qrexec-service, {name}: peak RSS {peak} KiB"
        );
    }

    // Control: a process that holds 100 MiB is seen as such.
    let mut control = Command::new("sh");
    control.args([
        "-c",
        "head -c 104857600 /dev/zero | tail -c 104857600 >/dev/null",
    ]);
    let (run, peak) = measured(&sandbox, control, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(peak > 100 * 1024, "the control's 100 MiB shows: {peak} KiB");
}
