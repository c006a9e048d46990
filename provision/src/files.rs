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
pub const YUM_REPO_DIR: &str = "/etc/yum.repos.d";
pub const RPM_KEY_DIR: &str = "/etc/pki/rpm-gpg";
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

/// A Python string literal (JSON's string syntax is a subset of Python's).
fn py_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `securedrop-workstation-dom0{,-dev,-staging}.repo`: dom0's yum repository of SDW's RPMs.
pub fn yum_repo_path(env: Environment) -> String {
    let suffix = match env {
        Environment::Prod => "",
        Environment::Dev => "-dev",
        Environment::Staging => "-staging",
    };
    format!("{YUM_REPO_DIR}/securedrop-workstation-dom0{suffix}.repo")
}

/// The key that signs the repository: the release key in prod, the test key otherwise.
pub fn rpm_key_name(env: Environment) -> &'static str {
    match env {
        Environment::Prod => "RPM-GPG-KEY-securedrop-workstation",
        Environment::Dev | Environment::Staging => "RPM-GPG-KEY-securedrop-workstation-test",
    }
}

/// The repository file, exactly the seven lines `test_dom0_rpm_repo.py` reads.
pub fn yum_repo(env: Environment) -> String {
    let url = match env {
        Environment::Prod => "https://yum.securedrop.org/workstation/dom0/r$releasever",
        Environment::Dev => {
            "https://yum-test.securedrop.org/workstation/dom0/r$releasever-nightlies"
        }
        Environment::Staging => "https://yum-test.securedrop.org/workstation/dom0/r$releasever",
    };
    format!(
        "[securedrop-workstation-dom0]\ngpgcheck=1\nskip_if_unavailable=False\ngpgkey=file://{RPM_KEY_DIR}/{}\nenabled=1\nbaseurl={url}\nname=SecureDrop Workstation Qubes dom0 repo\n",
        rpm_key_name(env)
    )
}

/// The launcher of `sdw-admin update` on the GUI user's desktop (the path SDW's tests check).
pub fn launcher_path(gui_user: &str) -> String {
    format!("/home/{gui_user}/Desktop/press.freedom.SecureDropUpdater.desktop")
}

pub const LAUNCHER: &str = "[Desktop Entry]\nVersion=1.0\nType=Application\nTerminal=true\nIcon=securedrop\nName=Update SecureDrop Workstation\nExec=sudo sdw-admin update\n";

/// The command that marks the launcher trusted for Xfce, as SDW's
/// `update-xfce-settings dismiss-desktop-icon-prompt` does: the file's SHA-256 as
/// its `metadata::xfce-exe-checksum`, set by the user (gvfs metadata is per user).
pub fn trust_launcher(gui_user: &str) -> String {
    use sha2::{Digest, Sha256};
    let sum: String = Sha256::digest(LAUNCHER.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "runuser -u {gui_user} -- gio set -t string {} metadata::xfce-exe-checksum {sum}",
        launcher_path(gui_user)
    )
}

/// Every file apply writes, in the order it writes them. `signing_key` is the
/// armored FPF key that signs the packages (apt and yum) of this environment.
pub fn desired(env: Environment, secret_key: &Path, signing_key: &str) -> Vec<Dom0File> {
    let service = GET_SECRET_KEYS.replace("@KEY_PATH@", &py_str(&secret_key.to_string_lossy()));
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
        Dom0File {
            path: format!("{RPM_KEY_DIR}/{}", rpm_key_name(env)),
            mode: 0o644,
            content: format!("{}\n", signing_key.trim_end()).into_bytes(),
        },
        Dom0File {
            path: yum_repo_path(env),
            mode: 0o644,
            content: yum_repo(env).into_bytes(),
        },
    ]
}

/// The repository files and keys of the other environments, present under `root`.
pub fn stale_repos(root: &Path, env: Environment) -> Vec<String> {
    let mut out = Vec::new();
    for other in [Environment::Prod, Environment::Staging, Environment::Dev] {
        if other == env {
            continue;
        }
        out.push(yum_repo_path(other));
        if rpm_key_name(other) != rpm_key_name(env) {
            out.push(format!("{RPM_KEY_DIR}/{}", rpm_key_name(other)));
        }
    }
    out.sort();
    out.dedup();
    out.retain(|p| std::fs::symlink_metadata(under(root, p)).is_ok());
    out
}

/// Every repository file and key of any environment (what uninstall removes).
pub fn all_repo_files() -> Vec<String> {
    let mut out = Vec::new();
    for env in [Environment::Prod, Environment::Staging, Environment::Dev] {
        out.push(yum_repo_path(env));
        out.push(format!("{RPM_KEY_DIR}/{}", rpm_key_name(env)));
    }
    out.sort();
    out.dedup();
    out
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
    stale.extend(stale_repos(root, env));
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
        let file = desired(Environment::Prod, key, "KEY")
            .into_iter()
            .find(|f| f.path == GET_SECRET_KEYS_PATH);
        let content = file.map(|f| f.content).unwrap_or_default();
        let script = dir.join("GetSecretKeys");
        assert!(std::fs::write(&script, content).is_ok());
        script
    }

    fn run(script: &Path, caller: &str) -> (Option<i32>, String, String) {
        match Command::new("python3")
            .arg(script)
            .env("QREXEC_REMOTE_DOMAIN", caller)
            .output()
        {
            Ok(o) => (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into(),
                String::from_utf8_lossy(&o.stderr).into(),
            ),
            Err(e) => panic!("python3: {e}"),
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
        let (code, out, err) = run(&script, "sd-gpg");
        assert_eq!(code, Some(0));
        assert_eq!(out, "-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n");
        assert_eq!(err, "");
    }

    /// SDW's `tests/test_rpc_service_getsecretkeys.py`, as it loads the service: a module
    /// from a file without `.py`, `SECRET_KEY_PATH` replaced, `main()` called.
    #[test]
    fn get_secret_keys_loads_as_the_module_sdw_tests_import() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = service(dir.path(), Path::new("/nonexistent/sd-journalist.sec"));
        let check = r#"
import importlib.machinery, importlib.util, io, logging, os, sys, contextlib
from pathlib import Path
loader = importlib.machinery.SourceFileLoader("securedrop_GetSecretKeys", sys.argv[1])
spec = importlib.util.spec_from_loader("securedrop_GetSecretKeys", loader)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
mod.logger.addHandler(Keep())
def call(caller, key):
    os.environ["QREXEC_REMOTE_DOMAIN"] = caller
    mod.SECRET_KEY_PATH = key
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            mod.main()
        return 0, out.getvalue()
    except SystemExit as e:
        return e.code, out.getvalue()
tmp = Path(sys.argv[2])
assert call("evil-qube", tmp / "k.sec") == (1, ""), "caller"
assert any("Security violation:" in r for r in records), records
assert call("sd-gpg", tmp / "does-not-exist.sec")[0] == 2
assert any("secret key file not found" in r for r in records), records
text = "-----BEGIN PGP PRIVATE KEY BLOCK-----fakekey-----END PGP PRIVATE KEY BLOCK-----"
(tmp / "sd-journalist.sec").write_text(text)
code, out = call("sd-gpg", tmp / "sd-journalist.sec")
assert code == 0 and text in out, (code, out)
print("ok")
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(check)
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_yum_repo_file_is_the_seven_lines_sdw_tests_expect() {
        assert_eq!(
            yum_repo(Environment::Prod).lines().collect::<Vec<_>>(),
            [
                "[securedrop-workstation-dom0]",
                "gpgcheck=1",
                "skip_if_unavailable=False",
                "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation",
                "enabled=1",
                "baseurl=https://yum.securedrop.org/workstation/dom0/r$releasever",
                "name=SecureDrop Workstation Qubes dom0 repo",
            ]
        );
        assert!(yum_repo(Environment::Dev).contains(
            "\nbaseurl=https://yum-test.securedrop.org/workstation/dom0/r$releasever-nightlies\n"
        ));
        assert!(yum_repo(Environment::Staging)
            .contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation-test\n"));
        assert_eq!(
            yum_repo_path(Environment::Staging),
            "/etc/yum.repos.d/securedrop-workstation-dom0-staging.repo"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        for f in desired(Environment::Prod, Path::new("/k"), "KEY") {
            write(dir.path(), &f.path, f.mode, &f.content).expect("write");
        }
        assert_eq!(
            stale_repos(dir.path(), Environment::Dev),
            [
                "/etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation",
                "/etc/yum.repos.d/securedrop-workstation-dom0.repo"
            ]
        );
        assert_eq!(
            stale_repos(dir.path(), Environment::Prod),
            Vec::<String>::new()
        );
    }

    #[test]
    fn writes_under_root_with_mode_and_detects_drift() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let files = desired(Environment::Dev, Path::new("/x/sd-journalist.sec"), "KEY");
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
