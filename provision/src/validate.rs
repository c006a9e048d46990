//! Validating a configuration folder (`config.json` and `sd-journalist.sec`).
//!
//! Owns the order and messages of upstream's `SDWConfigValidator`: the config
//! file exists, parses, the secret key file exists and is armored, imports into
//! a throwaway GNUPGHOME with real `gpg` (not passphrase-protected), carries the
//! configured fingerprint, and the live private volumes are not bigger than
//! configured. Runs `gpg` (fixed path) and reads the Admin API if given one.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;
use tracing::debug;

use crate::admin::{Admin, AdminError};
use crate::config::{Dom0Config, ParseError};

pub const CONFIG_DIR: &str = "/usr/share/securedrop-workstation-dom0-config";
pub const GPG: &str = "/usr/bin/gpg";

#[derive(Debug, Error)]
pub enum ValidationError {
    #[error("Config file does not exist: {0}. Create from config.json.example")]
    NoConfig(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(#[from] ParseError),
    #[error("PGP secret key file not found: {0}")]
    NoKey(PathBuf),
    #[error("PGP secret key file provided is not an armored private key")]
    NotArmored,
    #[error("PGP key is passphrase-protected.")]
    Protected,
    #[error("PGP secret key is not valid: {0}")]
    InvalidKey(PathBuf),
    #[error("Configured fingerprint does not match key!")]
    FingerprintMismatch,
    #[error("cannot run {GPG} to cross-check the key: {0}")]
    Gpg(std::io::Error),
    #[error("{0} private volume is already bigger than configuration.")]
    VolumeTooBig(&'static str),
    #[error("cannot read the live volume sizes: {0}")]
    Admin(#[from] AdminError),
}

/// What was checked, for the report.
#[derive(Debug)]
pub struct Validated {
    pub config: Dom0Config,
    pub key_path: PathBuf,
    /// False when gpg is not installed: the key was only checked for its armor.
    pub key_cross_checked: bool,
    pub volumes_checked: bool,
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("sd-journalist.sec")
}

/// Validates the folder; `admin` enables the live volume-size check.
pub fn validate(dir: &Path, admin: Option<&Admin>) -> Result<Validated, ValidationError> {
    let path = config_path(dir);
    if !path.is_file() {
        return Err(ValidationError::NoConfig(path));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ValidationError::Read {
        path: path.clone(),
        source,
    })?;
    let config = Dom0Config::parse_str(&text)?;

    let key_path = key_path(dir);
    let fingerprints = secret_key_fingerprints(&key_path)?;
    let key_cross_checked = fingerprints.is_some();
    if let Some(fingerprints) = fingerprints {
        let wanted = config.submission_key_fpr().to_ascii_uppercase();
        if !fingerprints.contains(&wanted) {
            return Err(ValidationError::FingerprintMismatch);
        }
    }

    let mut volumes_checked = false;
    if let Some(admin) = admin {
        let sizes = config.vmsizes();
        for (qube, bytes) in [
            (sdw_protocol::layout::CLIENT_QUBE, sizes.sd_app_bytes()),
            ("sd-log", sizes.sd_log_bytes()),
        ] {
            check_volume(admin, qube, bytes)?;
        }
        volumes_checked = true;
    }
    Ok(Validated {
        config,
        key_path,
        key_cross_checked,
        volumes_checked,
    })
}

/// The submission key file's checks, in upstream's order: it exists, is armored,
/// imports with real `gpg` and is not passphrase-protected. Returns the
/// fingerprints of its primary secret keys (uppercase), or `None` when gpg is
/// not installed and only the armor was checked.
pub fn secret_key_fingerprints(key_path: &Path) -> Result<Option<Vec<String>>, ValidationError> {
    if !key_path.is_file() {
        return Err(ValidationError::NoKey(key_path.to_owned()));
    }
    let key = std::fs::read_to_string(key_path).map_err(|source| ValidationError::Read {
        path: key_path.to_owned(),
        source,
    })?;
    let first = key.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first
        .trim_start()
        .starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    {
        return Err(ValidationError::NotArmored);
    }
    if !Path::new(GPG).exists() {
        return Ok(None);
    }
    let fingerprints = gpg_secret_fingerprints(key_path)?;
    debug!(?fingerprints, "secret key fingerprints");
    Ok(Some(fingerprints))
}

/// The live check of one private volume: refused if `qube`'s is already bigger
/// than `bytes` (volumes are never shrunk); a missing qube passes.
pub fn check_volume(admin: &Admin, qube: &'static str, bytes: u64) -> Result<(), ValidationError> {
    match admin.volume_size(qube, "private") {
        Ok(size) if size > bytes => Err(ValidationError::VolumeTooBig(qube)),
        Ok(_) => Ok(()),
        Err(e) if matches!(e.qubes(), Some(crate::wire::QubesError::VmNotFound(_))) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A throwaway GNUPGHOME whose agent is stopped when it is dropped.
struct GnupgHome(tempfile::TempDir);

impl GnupgHome {
    fn new() -> Result<Self, ValidationError> {
        tempfile::Builder::new()
            .prefix("sdw-gnupg")
            .tempdir()
            .map(GnupgHome)
            .map_err(ValidationError::Gpg)
    }

    fn gpg(&self) -> Command {
        let mut cmd = Command::new(GPG);
        cmd.arg("--homedir").arg(self.0.path()).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "error",
        ]);
        cmd
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/gpgconf")
            .arg("--homedir")
            .arg(self.0.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Imports the key into a throwaway home and returns the fingerprints of its primary secret keys.
fn gpg_secret_fingerprints(key_path: &Path) -> Result<Vec<String>, ValidationError> {
    let home = GnupgHome::new()?;
    let import = home
        .gpg()
        .arg("--import")
        .arg(key_path)
        .output()
        .map_err(ValidationError::Gpg)?;
    let stderr = String::from_utf8_lossy(&import.stderr);
    if stderr.contains("No pinentry") {
        return Err(ValidationError::Protected);
    }
    if !import.status.success() {
        return Err(ValidationError::InvalidKey(key_path.to_owned()));
    }
    let listing = home
        .gpg()
        .args(["--with-colons", "--list-secret-keys"])
        .output()
        .map_err(ValidationError::Gpg)?;
    let fingerprints = primary_fingerprints(&String::from_utf8_lossy(&listing.stdout));
    if fingerprints.is_empty() {
        return Err(ValidationError::InvalidKey(key_path.to_owned()));
    }
    // gpg imports a protected key without asking; exporting it needs the passphrase.
    let export = home
        .gpg()
        .args(["--armor", "--export-secret-keys"])
        .output()
        .map_err(ValidationError::Gpg)?;
    if !export.status.success() || String::from_utf8_lossy(&export.stderr).contains("No pinentry") {
        return Err(ValidationError::Protected);
    }
    Ok(fingerprints)
}

/// The `fpr` record that follows each `sec` record of `--with-colons` output (field 10).
fn primary_fingerprints(colons: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_sec = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first().copied() {
            Some("sec") => after_sec = true,
            Some("fpr") if after_sec => {
                if let Some(f) = fields.get(9) {
                    out.push((*f).to_ascii_uppercase());
                }
                after_sec = false;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_primary_key_fingerprint_not_the_subkeys() {
        let colons = "sec:-:255:22:3133DAA33C5D7787:1795669755:::-:::scESC:::::ed25519:::0:\n\
                      fpr:::::::::D1FAFDCB48AFA61EFBAF483F3133DAA33C5D7787:\n\
                      ssb:-:255:18:29C566F3D88C353B:1795669755::::::e:::::cv25519::\n\
                      fpr:::::::::D1CC2F2483DA86FA626C54A329C566F3D88C353B:\n";
        assert_eq!(
            primary_fingerprints(colons),
            vec!["D1FAFDCB48AFA61EFBAF483F3133DAA33C5D7787".to_owned()]
        );
    }
}
