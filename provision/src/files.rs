//! Files written in dom0: the qrexec policies, the `securedrop.GetSecretKeys`
//! service and the environment flag; and the superseded files removed.
//!
//! Owns their content (policies embedded from `rpc/policy/`), paths and modes,
//! and reading/writing them under a root directory (`--root`, `/` on a real
//! dom0) so that tests and dry runs touch nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::config::Environment;

pub const POLICY_ALLOW: &str = include_str!("../../rpc/policy/31-securedrop-workstation.policy");
pub const POLICY_DENY: &str = include_str!("../../rpc/policy/32-securedrop-workstation.policy");
pub const POLICY_DIR: &str = "/etc/qubes/policy.d";
pub const POLICY_ALLOW_PATH: &str = "/etc/qubes/policy.d/31-securedrop-workstation.policy";
pub const POLICY_DENY_PATH: &str = "/etc/qubes/policy.d/32-securedrop-workstation.policy";
pub const GET_SECRET_KEYS_PATH: &str = "/etc/qubes-rpc/securedrop.GetSecretKeys";
const GET_SECRET_KEYS: &str = include_str!("../files/securedrop.GetSecretKeys");
pub const FLAG_DIR: &str = "/var/lib/securedrop-workstation";
/// The `securedrop.Export` policy an earlier version had admins install by hand;
/// its rules are now in the 31 and 32 files, so apply and uninstall remove it.
pub const OBSOLETE_FILES: &[&str] = &["/etc/qubes/policy.d/50-securedrop-export.policy"];

#[derive(Debug, Error)]
pub enum FileError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A file as it must be in dom0; `path` is absolute on the target system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dom0File {
    pub path: String,
    pub mode: u32,
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// `root` + an absolute path of the target system.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Every file apply writes, in the order it writes them.
pub fn desired(env: Environment, secret_key: &Path) -> Vec<Dom0File> {
    let service = GET_SECRET_KEYS.replace("@KEY_PATH@", &sh_quote(&secret_key.to_string_lossy()));
    vec![
        Dom0File {
            path: POLICY_ALLOW_PATH.into(),
            mode: 0o664,
            content: POLICY_ALLOW.as_bytes().to_vec(),
        },
        Dom0File {
            path: POLICY_DENY_PATH.into(),
            mode: 0o664,
            content: POLICY_DENY.as_bytes().to_vec(),
        },
        Dom0File {
            path: GET_SECRET_KEYS_PATH.into(),
            mode: 0o755,
            content: service.into_bytes(),
        },
        Dom0File {
            path: format!("{FLAG_DIR}/{}", env.as_str()),
            mode: 0o644,
            content: Vec::new(),
        },
    ]
}

/// Whether the file under `root` has exactly this content and mode.
pub fn is_current(root: &Path, file: &Dom0File) -> bool {
    let path = under(root, &file.path);
    let mode_ok =
        std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o7777 == file.mode);
    mode_ok && std::fs::read(&path).is_ok_and(|c| c == file.content)
}

/// Files in the flag directory other than the environment's own flag.
pub fn stale_flags(root: &Path, env: Environment) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(under(root, FLAG_DIR)) else {
        return Vec::new();
    };
    let mut stale: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != env.as_str())
        .map(|name| format!("{FLAG_DIR}/{name}"))
        .collect();
    stale.sort();
    stale
}

/// The [`OBSOLETE_FILES`] present under `root`.
pub fn obsolete_present(root: &Path) -> Vec<String> {
    OBSOLETE_FILES
        .iter()
        .filter(|p| std::fs::symlink_metadata(under(root, p)).is_ok())
        .map(|p| (*p).to_owned())
        .collect()
}

/// What apply removes: stale flags and obsolete files.
pub fn stale(root: &Path, env: Environment) -> Vec<String> {
    let mut stale = stale_flags(root, env);
    stale.extend(obsolete_present(root));
    stale
}

/// Writes atomically (temporary file in the same directory, mode, rename).
pub fn write(root: &Path, path: &str, mode: u32, content: &[u8]) -> Result<(), FileError> {
    let target = under(root, path);
    let err = |source| FileError::Write {
        path: target.clone(),
        source,
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = target.with_extension("sdw-admin-tmp");
    std::fs::write(&tmp, content).map_err(err)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    std::fs::rename(&tmp, &target).map_err(err)
}

/// Removes a file or a directory tree; an absent one is already removed.
pub fn remove(root: &Path, path: &str) -> Result<(), FileError> {
    let target = under(root, path);
    let result = if target.is_dir() {
        std::fs::remove_dir_all(&target)
    } else {
        std::fs::remove_file(&target)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FileError::Remove {
            path: target,
            source: e,
        }),
        _ => Ok(()),
    }
}

pub fn read(root: &Path, path: &str) -> Result<Option<String>, FileError> {
    let target = under(root, path);
    match std::fs::read_to_string(&target) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Read {
            path: target,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn service(dir: &Path, key: &Path) -> PathBuf {
        let file = desired(Environment::Prod, key)
            .into_iter()
            .find(|f| f.path == GET_SECRET_KEYS_PATH);
        let content = file.map(|f| f.content).unwrap_or_default();
        let script = dir.join("GetSecretKeys");
        assert!(std::fs::write(&script, content).is_ok());
        script
    }

    fn run(script: &Path, caller: &str) -> (Option<i32>, String, String) {
        match Command::new("sh")
            .arg(script)
            .env("QREXEC_REMOTE_DOMAIN", caller)
            .output()
        {
            Ok(o) => (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into(),
                String::from_utf8_lossy(&o.stderr).into(),
            ),
            Err(e) => panic!("sh: {e}"),
        }
    }

    #[test]
    fn get_secret_keys_serves_only_sd_gpg() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let key = dir.path().join("it's sd-journalist.sec");
        let script = service(dir.path(), &key);

        let (code, out, err) = run(&script, "evil-qube");
        assert_eq!(code, Some(1));
        assert!(out.is_empty());
        assert!(err.contains("Security violation:"));

        let (code, _, err) = run(&script, "sd-gpg");
        assert_eq!(code, Some(2));
        assert!(err.contains("secret key file not found"));

        assert!(std::fs::write(&key, "-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n").is_ok());
        let (code, out, _) = run(&script, "sd-gpg");
        assert_eq!(code, Some(0));
        assert!(out.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    }

    #[test]
    fn writes_under_root_with_mode_and_detects_drift() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let files = desired(Environment::Dev, Path::new("/x/sd-journalist.sec"));
        for f in &files {
            assert!(!is_current(dir.path(), f));
            assert!(write(dir.path(), &f.path, f.mode, &f.content).is_ok());
            assert!(is_current(dir.path(), f));
        }
        let policy = under(dir.path(), POLICY_ALLOW_PATH);
        let mode = std::fs::metadata(&policy)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o664));
        assert!(std::fs::write(&policy, "tampered").is_ok());
        assert!(files.first().is_some_and(|f| !is_current(dir.path(), f)));
        assert!(write(
            dir.path(),
            "/var/lib/securedrop-workstation/prod",
            0o644,
            b""
        )
        .is_ok());
        assert_eq!(
            stale_flags(dir.path(), Environment::Dev),
            vec!["/var/lib/securedrop-workstation/prod".to_owned()]
        );
        assert!(remove(dir.path(), FLAG_DIR).is_ok());
        assert!(remove(dir.path(), FLAG_DIR).is_ok());
    }
}
