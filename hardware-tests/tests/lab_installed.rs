//! The installed product (issue 11): the lab boots a Debian 12 system made with mmdebstrap, with the
//! `sdw-devices` package that `bash scripts/package` built installed by apt, and a `user` account as in a
//! Qubes template; the archive is opened as `user` through the package's own entry points, the way Qubes
//! does: the desktop's MIME default for `application/x-sd-export` (qubes.OpenInVM), or the
//! `securedrop.Export` qrexec service with the archive on stdin. The lab's independent verifier then
//! unlocks each stick and lists every file (docs/lab.md, "The installed mode").
//!
//! The packages: `SDW_LAB_PACKAGES=DIR` if set, else this test runs `bash scripts/package` once and uses
//! `target/packages`. Each test boots the guest once (~1 min under TCG on 2 cores; the first also builds
//! the root file system: ~2-3 min with the downloads, cached by content afterwards).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Out, Result, Scenario, PASS};
use sha2::{Digest, Sha256};

/// The files of the export: nested, with unicode names (they are written by `user`).
const FILES: &[(&str, &[u8])] = &[
    (
        "Quelle 1/Übersicht – 文件.txt",
        "unicode survives\n".as_bytes(),
    ),
    ("Quelle 1/memo.txt", b"meeting on tuesday\n"),
    ("Quelle 1/data.bin", &[0xa5; 70_000]),
];

/// The folder holding the built packages (built once per test binary).
fn packages() -> Result<PathBuf> {
    static PACKAGES: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PACKAGES
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("SDW_LAB_PACKAGES") {
                return Ok(PathBuf::from(dir));
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .ok_or("no workspace root")?
                .to_path_buf();
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let out = target.join("packages");
            let status = Command::new("bash")
                .arg(root.join("scripts/package"))
                .env("PACKAGES_DIR", &out)
                .current_dir(&root)
                .status()
                .map_err(|e| format!("cannot run scripts/package: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "`bash scripts/package` failed ({status}): the installed-mode tests need the \
                     sdw-devices .deb (or set SDW_LAB_PACKAGES=DIR)"
                ));
            }
            Ok(out)
        })
        .clone()
        .map_err(Into::into)
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A scenario in the installed mode: one stick, a `disk` archive with `key`, the verifier given the
/// right passphrase.
fn installed(recipe: &str, key: &str, extra: &[&str]) -> Result<Out> {
    let mut s = Scenario::new()?.stick(recipe, "STICK")?;
    let archive = s.dir.path().join("export.sd-export");
    let command = sdw_protocol::Command::Disk {
        passphrase: Some(sdw_protocol::Passphrase::new(key.to_owned())),
    };
    sdw_testkit::write_gzip(&archive, &sdw_testkit::metadata_for(&command), FILES)?;
    s = s
        .arg("--installed")
        .arg(&packages()?.display().to_string())
        .arg("--archive")
        .arg(&archive.display().to_string())
        .arg("--passphrase")
        .arg(PASS)
        .arg("-v");
    for a in extra {
        s = s.arg(a);
    }
    s.run()
}

/// SUCCESS_EXPORT, exactly the archive's files (by size and SHA-256) in one `sd-export-*` folder, nothing
/// else new on the stick, nothing left mapped or mounted.
fn assert_exported(out: &Out) {
    assert_eq!(out.status, "SUCCESS_EXPORT", "{}\n{}", out.raw, out.stderr);
    let mut got: Vec<(String, u64, String)> = out
        .files
        .iter()
        .filter(|(v, ..)| v == "STICK")
        .filter_map(|(_, path, size, sha)| {
            let (folder, rest) = path.split_once('/')?;
            let below = rest.strip_prefix("export_data/")?;
            folder
                .starts_with("sd-export-")
                .then(|| (below.to_string(), *size, sha.clone()))
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, u64, String)> = FILES
        .iter()
        .map(|(n, d)| (n.to_string(), d.len() as u64, sha256(d)))
        .collect();
    want.sort();
    assert_eq!(got, want, "{}", out.raw);
    assert_eq!(
        out.files.len(),
        FILES.len(),
        "only the export is new: {}",
        out.raw
    );
    assert_eq!(out.leftover, "none", "{}", out.raw);
    assert_eq!(out.exit, Some(0), "{}", out.raw);
}

/// Runs CMD as `user` the way the lab runs the entry points (a guest shell command).
fn as_user(cmd: &str) -> String {
    format!("setpriv --reuid=user --regid=user --init-groups --reset-env {cmd}")
}

#[test]
fn luks2_export_through_the_mime_default_runs_as_user() -> Result {
    let out = installed(
        "luks2-ext4",
        PASS,
        &[
            // The device side logs under the home of whoever runs it.
            "--after-command",
            "stat -c 'LOGOWNER %U' /home/user/.securedrop_export/logs",
        ],
    )?;
    assert_eq!(
        out.entry.as_deref(),
        Some("send-to-usb.desktop Exec=/usr/bin/send-to-usb %f"),
        "the MIME default of application/x-sd-export is our desktop entry: {}",
        out.raw
    );
    assert_exported(&out);
    // The device side ran as user: its log folder is in user's home and belongs to user.
    assert!(out.stderr.contains("LOGOWNER user"), "{}", out.stderr);
    Ok(())
}

#[test]
fn veracrypt_export_through_the_qrexec_service_needs_only_the_package_sudoers_rule() -> Result {
    let out = installed(
        "vera-fat32",
        PASS,
        &[
            "--via",
            "qrexec-service",
            "--no-passwordless-root",
            "--tcrypt",
            "veracrypt",
            // The template's blanket rule is really gone: user cannot become root in general.
            "--shell-command",
            &format!(
                "test ! -e /etc/sudoers.d/qubes && ! {} && echo NO-BLANKET-ROOT",
                as_user("sudo --non-interactive true 2>/dev/null")
            ),
        ],
    )?;
    assert_eq!(
        out.entry.as_deref(),
        Some("securedrop.Export /etc/qubes-rpc/securedrop.Export"),
        "{}",
        out.raw
    );
    assert!(out.stderr.contains("NO-BLANKET-ROOT"), "{}", out.stderr);
    assert_eq!(
        out.volume("STICK").map(|v| v.container.as_str()),
        Some("veracrypt"),
        "{}",
        out.raw
    );
    assert_exported(&out);
    Ok(())
}

#[test]
fn a_wrong_passphrase_leaves_the_stick_locked() -> Result {
    let out = installed("luks2-ext4", "not the passphrase", &[])?;
    assert_eq!(
        out.status, "ERROR_UNLOCK_LUKS",
        "{}\n{}",
        out.raw, out.stderr
    );
    assert_eq!(out.exit, Some(0), "{}", out.raw);
    assert_eq!(
        out.leftover, "none",
        "nothing left mapped or mounted: {}",
        out.raw
    );
    // The verifier, with the right passphrase, finds the stick as it was: a LUKS volume with no files.
    assert_eq!(
        out.volume("STICK")
            .map(|v| (v.container.as_str(), v.how.as_str())),
        Some(("crypto_LUKS", "unlocked")),
        "{}",
        out.raw
    );
    assert!(out.files.is_empty(), "nothing may be written: {}", out.raw);
    Ok(())
}
