//! Our own packages in the templates: `sdw-devices` (the template of
//! sd-devices / sd-printers) and `sdw-client` (sd-app's template).
//!
//! Owns finding the newest of each in a folder of built packages (by the
//! canonical file name `NAME_VERSION_ARCH.deb` that `bash scripts/package`
//! writes), Debian version order, and what a configured template must hold
//! ([`Expect`]): the read-only command that observes it inside the qube, the
//! parser of that command's output, and the same answer worked out from the
//! [`Effect`]s of recorded commands (for `--record-qube-commands`).

use std::cmp::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::inqube::{Effect, FileInput, Input};

/// The device side (export and print), for the template of sd-devices and sd-printers.
pub const SDW_DEVICES: &str = "sdw-devices";
/// The client CLI `sdw-export`, for sd-app's template.
pub const SDW_CLIENT: &str = "sdw-client";
/// The account that runs everything in a Qubes qube.
pub const TEMPLATE_USER: &str = "user";
/// CUPS's group of users allowed to set up print queues (sd-printers needs it).
pub const LPADMIN: &str = "lpadmin";
/// Where a package file is put inside the template before apt installs it.
pub const STAGING_DIR: &str = "/var/cache/sdw-admin";
/// Architectures a template can install.
const ARCHES: &[&str] = &["amd64", "all"];
/// Longest version accepted (dpkg has no limit; ours are short).
const MAX_VERSION: usize = 128;

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("cannot read the package folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {name} package in {dir}: expected a file named {name}_VERSION_amd64.deb (`bash scripts/package` writes them to target/packages/)")]
    Missing { name: &'static str, dir: PathBuf },
}

/// A built `.deb` in the package folder, identified by its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl LocalPackage {
    /// `NAME_VERSION_ARCH.deb`, built from validated parts (safe in a shell command).
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version, self.arch)
    }

    /// Where the file is put inside the template before apt installs it.
    pub fn staged_path(&self) -> String {
        format!("{STAGING_DIR}/{}", self.file_name())
    }

    /// The file as the standard input of the command that stages it.
    pub fn input(&self) -> Input {
        Input::File(FileInput {
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            size: self.size,
        })
    }
}

/// The packages `apply --packages DIR` installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Folder {
    pub devices: LocalPackage,
    pub client: LocalPackage,
}

/// A Debian version as dpkg accepts it: `[epoch:]upstream[-revision]`, starting
/// with a digit, of ASCII letters, digits and `.+~-:` only.
pub fn is_version(v: &str) -> bool {
    let upstream = match v.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            rest
        }
        None => v,
    };
    !v.is_empty()
        && v.len() <= MAX_VERSION
        && upstream.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-".contains(&b))
}

/// Debian's version order (dpkg's `verrevcmp`), or None if either is not a version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    // `deb_version` indexes by character position: only ASCII may reach it.
    (is_version(a) && is_version(b)).then(|| deb_version::compare_versions(a, b))
}

/// `NAME_VERSION_ARCH.deb` → (name, version, arch), for names and arches we install.
fn parse_file_name(file_name: &str) -> Option<(&'static str, &str, &str)> {
    let stem = file_name.strip_suffix(".deb")?;
    let mut parts = stem.split('_');
    let (name, version, arch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !ARCHES.contains(&arch) {
        return None;
    }
    // A file name carries no epoch (dpkg-name drops it).
    if !is_version(version) || version.contains(':') {
        return None;
    }
    let name = [SDW_DEVICES, SDW_CLIENT].into_iter().find(|n| *n == name)?;
    Some((name, version, arch))
}

/// SHA-256 and size of a file, read in blocks (any size, bounded memory).
pub fn sha256_file(path: &Path) -> Result<(String, u64), std::io::Error> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        size = size.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    Ok((hex(&hasher.finalize()), size))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The newest `sdw-devices` and `sdw-client` in `dir` (other files are ignored).
pub fn find(dir: &Path) -> Result<Folder, PackageError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PackageError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut newest: Vec<(&'static str, String, String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| PackageError::ReadDir {
            path: dir.to_owned(),
            source,
        })?;
        let file_name = entry.file_name();
        let Some((name, version, arch)) = file_name.to_str().and_then(parse_file_name) else {
            continue;
        };
        let path = entry.path();
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let candidate = (name, version.to_owned(), arch.to_owned(), path);
        match newest.iter_mut().find(|(n, ..)| *n == name) {
            None => newest.push(candidate),
            Some(best) => {
                // Newer version wins; equal versions: the first file name in byte order, so the pick is stable.
                let order = compare(&candidate.1, &best.1).unwrap_or(Ordering::Equal);
                if order == Ordering::Greater
                    || (order == Ordering::Equal && candidate.3.file_name() < best.3.file_name())
                {
                    *best = candidate;
                }
            }
        }
    }
    let take = |wanted: &'static str| -> Result<LocalPackage, PackageError> {
        let (name, version, arch, path) = newest
            .iter()
            .find(|(n, ..)| *n == wanted)
            .cloned()
            .ok_or_else(|| PackageError::Missing {
                name: wanted,
                dir: dir.to_owned(),
            })?;
        let (sha256, size) = sha256_file(&path).map_err(|source| PackageError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(LocalPackage {
            name: name.to_owned(),
            version,
            arch,
            path,
            sha256,
            size,
        })
    };
    Ok(Folder {
        devices: take(SDW_DEVICES)?,
        client: take(SDW_CLIENT)?,
    })
}

/// Something a configured template must hold, checked inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "expect", rename_all = "snake_case")]
pub enum Expect {
    /// The package is installed; at `at_least` or newer when given.
    Package {
        name: String,
        at_least: Option<String>,
    },
    /// `user` is a member of `group`.
    Member { user: String, group: String },
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// Installed (dpkg state `installed`), with its version; None when the
    /// recorded install took it from the repository without naming a version.
    Installed(Option<String>),
    NotInstalled,
    Member(bool),
}

impl Expect {
    /// The read-only command that observes it (run as root in the qube; exits 0 either way).
    pub fn command(&self) -> String {
        match self {
            Expect::Package { name, .. } => format!(
                "dpkg-query -W -f='${{db:Status-Status}}\\t${{Version}}\\n' {name} 2>/dev/null || true"
            ),
            Expect::Member { user, .. } => format!("id -nG {user} 2>/dev/null || true"),
        }
    }

    /// Reads the output of [`Expect::command`].
    pub fn parse(&self, stdout: &str) -> Observed {
        match self {
            Expect::Package { .. } => {
                let line = stdout.lines().next().unwrap_or_default();
                match line.split_once('\t') {
                    Some(("installed", version)) => Observed::Installed(Some(
                        version.trim().chars().take(MAX_VERSION).collect(),
                    )),
                    _ => Observed::NotInstalled,
                }
            }
            Expect::Member { group, .. } => {
                Observed::Member(stdout.split_whitespace().any(|g| g == group))
            }
        }
    }

    /// The answer from the effects of the commands recorded for the qube, in order.
    pub fn observe_effects<'a>(&self, effects: impl IntoIterator<Item = &'a Effect>) -> Observed {
        let mut observed = match self {
            Expect::Package { .. } => Observed::NotInstalled,
            Expect::Member { .. } => Observed::Member(false),
        };
        for effect in effects {
            match (self, effect) {
                (Expect::Package { name, .. }, Effect::Installs { package, version })
                    if package == name =>
                {
                    observed = Observed::Installed(version.clone());
                }
                (Expect::Member { user, group }, Effect::JoinsGroup { user: u, group: g })
                    if u == user && g == group =>
                {
                    observed = Observed::Member(true);
                }
                _ => {}
            }
        }
        observed
    }

    /// What is wrong, if anything.
    pub fn problem(&self, observed: &Observed) -> Option<String> {
        match (self, observed) {
            (Expect::Package { name, .. }, Observed::NotInstalled) => {
                Some(format!("{name} is not installed"))
            }
            (Expect::Package { name, at_least }, Observed::Installed(version)) => {
                let min = at_least.as_deref()?;
                match version.as_deref() {
                    None => Some(format!(
                        "{name} is installed in a version that was not recorded, expected {min} or newer"
                    )),
                    Some(v) => match compare(v, min) {
                        Some(Ordering::Less) => {
                            Some(format!("{name} {v} is older than {min}"))
                        }
                        Some(_) => None,
                        None => Some(format!(
                            "{name} reports version {v:?}, which is not a Debian version"
                        )),
                    },
                }
            }
            (Expect::Member { user, group }, Observed::Member(false)) => {
                Some(format!("{user} is not in group {group}"))
            }
            (Expect::Member { .. }, Observed::Member(true)) => None,
            (expect, other) => Some(format!("probe for {expect:?} answered {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(dir: &Path, name: &str, content: &[u8]) {
        assert!(std::fs::write(dir.join(name), content).is_ok());
    }

    #[test]
    fn debian_version_order() {
        for (a, b) in [
            ("0.1.0", "0.2.0"),
            ("0.9.0", "0.10.0"),
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-2"),
            ("1.0+b1", "1.0.1"),
            ("9.9", "1:0.1"),
        ] {
            assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        }
        assert_eq!(compare("1.0", "1.0"), Some(Ordering::Equal));
        for bad in ["", "a1.0", "1.0 ", "1.ü", "1;rm", ":1", "x:1"] {
            assert!(!is_version(bad), "{bad:?}");
            assert_eq!(compare(bad, "1.0"), None);
        }
    }

    #[test]
    fn picks_the_newest_of_each_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        deb(dir.path(), "sdw-devices_0.9.0_amd64.deb", b"old");
        deb(dir.path(), "sdw-devices_0.10.0_amd64.deb", b"new");
        deb(dir.path(), "sdw-devices_1.0.0_arm64.deb", b"other arch");
        deb(dir.path(), "sdw-devices_0.11.0_amd64.deb.part", b"partial");
        deb(dir.path(), "sdw-client_0.1.0-1_amd64.deb", b"client");
        deb(dir.path(), "sdw-admin-0.1.0-1.x86_64.rpm", b"rpm");
        deb(dir.path(), "securedrop-export_0.99_all.deb", b"upstream");
        assert!(std::fs::create_dir(dir.path().join("sdw-client_9.0_amd64.deb")).is_ok());
        let folder = find(dir.path()).unwrap();
        assert_eq!(folder.devices.version, "0.10.0");
        assert_eq!(folder.devices.file_name(), "sdw-devices_0.10.0_amd64.deb");
        assert_eq!(
            folder.devices.staged_path(),
            "/var/cache/sdw-admin/sdw-devices_0.10.0_amd64.deb"
        );
        assert_eq!(folder.devices.size, 3);
        assert_eq!(
            folder.devices.sha256,
            hex(&Sha256::digest(b"new")),
            "the digest is of the file's bytes"
        );
        assert_eq!(folder.client.version, "0.1.0-1");
    }

    #[test]
    fn a_folder_without_one_of_them_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        deb(dir.path(), "sdw-devices_0.1.0_amd64.deb", b"x");
        let err = find(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("no sdw-client package in {}: expected a file named sdw-client_VERSION_amd64.deb (`bash scripts/package` writes them to target/packages/)", dir.path().display())
        );
        let missing = find(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(
            missing.starts_with("cannot read the package folder "),
            "{missing}"
        );
    }

    #[test]
    fn file_names_that_could_reach_a_shell_are_not_packages() {
        for name in [
            "sdw-devices_1.0;reboot_amd64.deb",
            "sdw-devices_1.0 x_amd64.deb",
            "sdw-devices_$(id)_amd64.deb",
            "sdw-devices_1:1.0_amd64.deb",
            "sdw-devices_1.0_amd64_x.deb",
            "sdw-devices__amd64.deb",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
        assert_eq!(
            parse_file_name("sdw-client_0.1.0~rc1+git2_all.deb"),
            Some((SDW_CLIENT, "0.1.0~rc1+git2", "all"))
        );
    }

    fn package(at_least: Option<&str>) -> Expect {
        Expect::Package {
            name: SDW_DEVICES.into(),
            at_least: at_least.map(str::to_owned),
        }
    }

    #[test]
    fn reads_dpkg_query_output_and_says_what_is_wrong() {
        let want = package(Some("0.2.0"));
        let installed = want.parse("installed\t0.2.0\n");
        assert_eq!(installed, Observed::Installed(Some("0.2.0".into())));
        assert_eq!(want.problem(&installed), None);
        let old = want.parse("installed\t0.1.9\n");
        assert_eq!(
            want.problem(&old).as_deref(),
            Some("sdw-devices 0.1.9 is older than 0.2.0")
        );
        // removed with its configuration kept: dpkg still prints the version
        assert_eq!(want.parse("config-files\t0.2.0\n"), Observed::NotInstalled);
        assert_eq!(want.parse(""), Observed::NotInstalled);
        assert_eq!(
            want.problem(&Observed::NotInstalled).as_deref(),
            Some("sdw-devices is not installed")
        );
        assert_eq!(
            package(None).problem(&want.parse("installed\t0.0.1\n")),
            None
        );
        let odd = want.parse("installed\t$(reboot)\n");
        assert!(want
            .problem(&odd)
            .is_some_and(|p| p.contains("not a Debian version")));
    }

    #[test]
    fn reads_group_membership() {
        let want = Expect::Member {
            user: TEMPLATE_USER.into(),
            group: LPADMIN.into(),
        };
        assert_eq!(want.parse("user qubes lpadmin\n"), Observed::Member(true));
        assert_eq!(want.parse("user lpadmins\n"), Observed::Member(false));
        assert_eq!(
            want.problem(&Observed::Member(false)).as_deref(),
            Some("user is not in group lpadmin")
        );
    }

    #[test]
    fn answers_from_recorded_effects_the_last_one_winning() {
        let want = package(Some("0.2.0"));
        let effects = [
            Effect::Installs {
                package: SDW_DEVICES.into(),
                version: Some("0.2.0".into()),
            },
            Effect::Installs {
                package: SDW_CLIENT.into(),
                version: Some("0.1.0".into()),
            },
        ];
        assert_eq!(
            want.observe_effects(&effects),
            Observed::Installed(Some("0.2.0".into()))
        );
        assert_eq!(want.observe_effects(&[]), Observed::NotInstalled);
        let by_name = [Effect::Installs {
            package: SDW_DEVICES.into(),
            version: None,
        }];
        assert_eq!(
            package(None).problem(&package(None).observe_effects(&by_name)),
            None
        );
        assert!(want.problem(&want.observe_effects(&by_name)).is_some());
    }

    /// The real path of the probe: dpkg-query and id on this (Debian) machine.
    #[test]
    fn the_probe_commands_work_with_the_real_tools() {
        let sh = |cmd: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .output()
                .unwrap();
            assert!(out.status.success(), "{cmd}");
            String::from_utf8(out.stdout).unwrap()
        };
        let dpkg = Expect::Package {
            name: "dpkg".into(),
            at_least: Some("1.0".into()),
        };
        let real_version = sh("dpkg-query -W -f='${Version}' dpkg");
        assert_eq!(
            dpkg.parse(&sh(&dpkg.command())),
            Observed::Installed(Some(real_version))
        );
        let absent = Expect::Package {
            name: "sdw-no-such-package".into(),
            at_least: None,
        };
        assert_eq!(absent.parse(&sh(&absent.command())), Observed::NotInstalled);
        let me = sh("id -un");
        let group = sh("id -gn");
        let member = Expect::Member {
            user: me.trim().into(),
            group: group.trim().into(),
        };
        assert_eq!(member.parse(&sh(&member.command())), Observed::Member(true));
        let nobody = Expect::Member {
            user: "sdw-no-such-user".into(),
            group: group.trim().into(),
        };
        assert_eq!(
            nobody.parse(&sh(&nobody.command())),
            Observed::Member(false)
        );
    }
}
