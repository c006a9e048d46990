//! The demo behind the README's first command: builds a sample `.sd-export`
//! archive as the SecureDrop client would, exports it with the real
//! `sdw-devices export ARCHIVE --to DIR` into a local folder standing in for an
//! unlocked drive, then asks the device side, as the MIME handler, to probe for
//! an export drive on this machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdw_testkit::{sample_export_archive, ArchiveBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let binary = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("sdw-devices"))
        .ok_or("cannot locate target/release/sdw-devices")?;
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("demo-drive"));
    let work = PathBuf::from("target/demo");
    fs::create_dir_all(&work)?;
    fs::create_dir_all(&out)?;

    let archive = work.join("sample.sd-export");
    fs::write(&archive, sample_export_archive())?;
    println!(
        "built {} ({} bytes)",
        archive.display(),
        fs::metadata(&archive)?.len()
    );

    let status = run(Command::new(&binary)
        .arg("export")
        .arg(&archive)
        .arg("--to")
        .arg(&out))?;
    println!(
        "$ sdw-devices export {} --to {}\n  status: {status}",
        archive.display(),
        out.display()
    );
    for path in walk(&out)? {
        println!("  {}", path.display());
    }

    let probe = work.join("preflight.sd-export");
    fs::write(
        &probe,
        ArchiveBuilder::for_command(&sdw_protocol::Command::UsbTest).gzip(),
    )?;
    let status = run(Command::new(&binary).arg(&probe))?;
    println!(
        "$ sdw-devices {}   (usb-test: is an export drive attached?)\n  status: {status}",
        probe.display()
    );
    println!("logs: ~/.securedrop_export/logs/");
    Ok(())
}

/// Runs the device side and returns its one status line.
fn run(command: &mut Command) -> Result<String, Box<dyn std::error::Error>> {
    let output = command.output()?;
    Ok(String::from_utf8_lossy(&output.stderr).trim().to_owned())
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        found.push(path.clone());
        if path.is_dir() {
            found.extend(walk(&path)?);
        }
    }
    found.sort();
    Ok(found)
}
