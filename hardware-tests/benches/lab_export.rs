//! Benchmark (not a test): in the QEMU lab, export throughput of
//! `sdw-devices ARCHIVE` into a locked LUKS2 stick (unlock, mount, write,
//! syncfs, read-back verify, unmount, lock) against `cp -r` of the same files
//! onto the same stick unlocked and mounted by `cryptsetup`/`mount`, then
//! `sync`. Both run in the same guest, one after the other, timed there.
//! Absolute figures are TCG emulation speed; the ratio is the point.
//!
//! Run: `cargo bench -p sdw-hardware-tests --bench lab_export` (SDW_LAB_BENCH_MIB, default 256).

use std::io::Write;
use std::process::Command;

const PASS: &str = "correct horse battery staple";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::var("SDW_LAB_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = sdw_hardware_tests::lab::TempDir::new()?;
    let stick_mib = mib * 2 + 128;
    let stick = sdw_hardware_tests::fixtures::copy_of(
        &format!("luks2-ext4@{stick_mib}"),
        PASS,
        dir.path(),
        "S.img",
    )?;

    // Incompressible files of mixed sizes, as exports mostly are (PDFs, images, archives).
    let archive = dir.path().join("bench.sd-export");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&archive)?,
        flate2::Compression::fast(),
    );
    let command = sdw_protocol::Command::Disk {
        passphrase: Some(sdw_protocol::Passphrase::new(PASS.to_owned())),
    };
    let mut tar = sdw_testkit::ExportWriter::for_command(gz, &command)?;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let (mut written, mut index) = (0usize, 0usize);
    while written < mib * 1024 * 1024 {
        let size = if index % 10 == 0 {
            16 * 1024 * 1024
        } else {
            512 * 1024
        };
        let data: Vec<u8> = (0..size / 8)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()
            })
            .collect();
        tar.file(&format!("source/file-{index:04}.bin"), &data)?;
        written += size;
        index += 1;
    }
    tar.finish()?.finish()?.flush()?;

    let script = dir.path().join("bench.sh");
    std::fs::write(
        &script,
        format!(
            r#"now() {{ cut -d' ' -f1 /proc/uptime; }}
dev=$(lab_dev S)
t0=$(now); sdw-devices /bench/archive 2>/tmp/status; t1=$(now)
echo "BENCH sdw-devices $(awk "BEGIN {{print $t1 - $t0}}") $(cat /tmp/status)"
mkdir -p /tmp/src && tar -xzf /bench/archive -C /tmp/src
printf %s '{PASS}' | cryptsetup open --key-file - "$dev" cpbench && mkdir -p /mnt/cp && mount /dev/mapper/cpbench /mnt/cp
t0=$(now); cp -r /tmp/src/export_data /mnt/cp/cp-copy && sync; t1=$(now)
echo "BENCH cp $(awk "BEGIN {{print $t1 - $t0}}") $(du -sm /mnt/cp/cp-copy | cut -f1)MiB"
umount /mnt/cp; cryptsetup close cpbench
grep -hE 'start|validated|unlocked|mounted|progress 100|verified|published|locked|done' /root/.securedrop_export/logs/* | sed 's/^/PHASE /'
"#
        ),
    )?;
    let lab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/run");
    let output = Command::new("bash")
        .arg(lab)
        .arg("--stick")
        .arg(format!("{}:S", stick.display()))
        .arg("--extra-file")
        .arg(format!("{}:/bench/archive", archive.display()))
        .arg("--guest-script")
        .arg(&script)
        .arg("--passphrase")
        .arg(PASS)
        .arg("-v")
        .env("SDW_LAB_BIN", env!("CARGO_BIN_EXE_sdw-lab"))
        .env("SDW_LAB_NO_BUILD", "1")
        .output()?;
    // With -v the guest script's output comes on stderr, after the result lines on stdout.
    let stdout = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: Vec<(String, f64, String)> = stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "BENCH").then_some(())?;
            Some((
                words.next()?.to_owned(),
                words.next()?.parse().ok()?,
                words.collect::<Vec<_>>().join(" "),
            ))
        })
        .collect();
    let [(_, ours, status), (_, cp, _)] = figures.as_slice() else {
        return Err(format!(
            "no figures in the lab output:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    };
    println!("# lab: {mib} MiB in {index} files into a LUKS2 (pbkdf2) ext4 stick, QEMU TCG, usb-storage on qemu-xhci");
    println!("sdw-devices ARCHIVE (unlock+mount+write+syncfs+verify+unmount+lock): {ours:.1} s, {:.1} MiB/s, {status}", mib as f64 / ours);
    println!(
        "cp -r + sync onto the same stick unlocked by cryptsetup:          {cp:.1} s, {:.1} MiB/s",
        mib as f64 / cp
    );
    println!("ratio sdw-devices / cp = {:.2}x time", ours / cp);
    println!("phases of the sdw-devices run (guest clock):");
    for line in stdout.lines().filter_map(|l| l.strip_prefix("PHASE ")) {
        println!("  {line}");
    }
    Ok(())
}
