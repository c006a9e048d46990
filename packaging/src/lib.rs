//! Reads built packages back, for the tests in `tests/`: a .deb's control
//! fields, maintainer scripts and file list (`dpkg-deb`), an RPM's tags and file
//! list (`rpm -qp`), the bytes of one packaged file, and where
//! `scripts/package` writes them. Build-time only; nothing here is shipped.
//!
//! Every reader returns `Err` with the command and its stderr when a tool is
//! missing or refuses the package, so a test fails saying why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Where `bash scripts/package` writes the packages.
pub fn packages_dir() -> PathBuf {
    workspace_root().join("target/packages")
}

/// Where `scripts/test` writes the second build of the same tree
/// (`PACKAGES_DIR=target/packages-rebuilt bash scripts/package`).
pub fn rebuilt_dir() -> PathBuf {
    workspace_root().join("target/packages-rebuilt")
}

/// The one file in `dir` whose name starts with `prefix` and ends with `suffix`.
pub fn find_one(dir: &Path, prefix: &str, suffix: &str) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{}: {e}; build the packages first: bash scripts/package",
            dir.display()
        )
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "no {prefix}*{suffix} in {}; build the packages first: bash scripts/package",
            dir.display()
        )),
        _ => Err(format!(
            "more than one {prefix}*{suffix} in {}: {found:?}",
            dir.display()
        )),
    }
}

/// The version of each workspace package, from `cargo metadata`.
pub fn workspace_versions() -> Result<BTreeMap<String, String>, String> {
    let metadata = cargo_metadata(&["--no-deps"])?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// `cargo metadata --format-version 1 --locked ARGS` in the workspace root, parsed.
pub fn cargo_metadata(args: &[&str]) -> Result<Value, String> {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(args)
        .current_dir(workspace_root());
    let stdout = run(&mut command)?;
    serde_json::from_slice(&stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// Runs `command`, returns its stdout; `Err` names the command and carries its stderr.
pub fn run(command: &mut Command) -> Result<Vec<u8>, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(failure(command, &output))
    }
}

/// What a failed command said: its status, stderr, and stdout when it is short text.
fn failure(command: &Command, output: &std::process::Output) -> String {
    let stdout = match std::str::from_utf8(&output.stdout) {
        Ok(text) if text.len() <= 4096 => text,
        _ => "(stdout not shown)\n",
    };
    format!(
        "{command:?}: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_text(command: &mut Command) -> Result<String, String> {
    let stdout = run(command)?;
    String::from_utf8(stdout).map_err(|e| format!("{command:?}: not UTF-8: {e}"))
}

/// What a packaged path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
}

/// One packaged path: absolute, as it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Permission bits, e.g. `0o755` (set-id and sticky bits included).
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

impl Entry {
    /// Owned by root: user and group root, by name (rpm) or by id (a .deb's tar
    /// records ids 0 and no names).
    pub fn is_root_owned(&self) -> bool {
        matches!(self.owner.as_str(), "root" | "0") && matches!(self.group.as_str(), "root" | "0")
    }
}

/// `-rwsr-x---` (as `ls`, `tar tv`, `dpkg-deb -c` and rpm's `:perms` print it)
/// -> the kind letter and the permission bits.
pub fn parse_mode(text: &str) -> Result<(char, u32), String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != 10 {
        return Err(format!("not a mode string: {text:?}"));
    }
    let mut mode = 0;
    for (i, c) in chars[1..].iter().enumerate() {
        let bit = 1 << (8 - i);
        let (set, special) = match (i % 3, c) {
            (_, '-') => (false, false),
            (0, 'r') | (1, 'w') | (2, 'x') => (true, false),
            (2, 's') | (2, 't') => (true, true),
            (2, 'S') | (2, 'T') => (false, true),
            _ => return Err(format!("not a mode string: {text:?}")),
        };
        if set {
            mode |= bit;
        }
        if special {
            // setuid for the owner triple, setgid for the group's, sticky for the others'.
            mode |= 0o4000 >> (i / 3);
        }
    }
    Ok((chars[0], mode))
}

/// A .deb, read with `dpkg-deb`.
#[derive(Debug)]
pub struct Deb {
    pub path: PathBuf,
    /// Control fields; a multi-line value keeps its continuation lines.
    pub control: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

impl Deb {
    pub fn read(path: &Path) -> Result<Self, String> {
        let fields = run_text(Command::new("dpkg-deb").arg("--field").arg(path))?;
        let mut control = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in fields.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = last.as_ref().and_then(|k| control.get_mut(k)) {
                    let value: &mut String = value;
                    value.push('\n');
                    value.push_str(line);
                }
            } else if let Some((key, value)) = line.split_once(':') {
                control.insert(key.to_owned(), value.trim().to_owned());
                last = Some(key.to_owned());
            }
        }

        let listing = run_text(Command::new("dpkg-deb").arg("--contents").arg(path))?;
        let mut entries = Vec::new();
        for line in listing.lines() {
            // -rwxr-xr-x root/root   1234 2026-11-26 08:02 ./usr/bin/x [-> target]
            let mut parts = line.split_whitespace();
            let (Some(mode), Some(owner), Some(_size), Some(_date), Some(_time)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                return Err(format!(
                    "{}: unexpected listing line {line:?}",
                    path.display()
                ));
            };
            let rest: Vec<&str> = parts.collect();
            let (name, link) = match rest.as_slice() {
                [name] => (*name, None),
                [name, "->", target] => (*name, Some((*target).to_owned())),
                _ => {
                    return Err(format!(
                        "{}: unexpected listing line {line:?}",
                        path.display()
                    ))
                }
            };
            let (letter, mode) = parse_mode(mode)?;
            let kind = match (letter, link) {
                ('-', None) => Kind::File,
                ('d', None) => Kind::Dir,
                ('l', Some(target)) => Kind::Symlink(target),
                _ => return Err(format!("{}: unexpected entry {line:?}", path.display())),
            };
            let (owner, group) = owner.split_once('/').unwrap_or((owner, ""));
            let name = name.trim_start_matches('.').trim_end_matches('/');
            entries.push(Entry {
                path: if name.is_empty() {
                    "/".to_owned()
                } else {
                    name.to_owned()
                },
                kind,
                mode,
                owner: owner.to_owned(),
                group: group.to_owned(),
            });
        }
        Ok(Deb {
            path: path.to_path_buf(),
            control,
            entries,
        })
    }

    /// A control field, or "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.control.get(name).map_or("", String::as_str)
    }

    /// A comma-separated relation field (Depends, Provides, ...), one relation each.
    pub fn relations(&self, name: &str) -> Vec<String> {
        self.field(name)
            .split(',')
            .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The package names a relation field mentions, versions dropped.
    pub fn relation_names(&self, name: &str) -> Vec<String> {
        self.relations(name)
            .iter()
            .map(|r| r.split([' ', '(']).next().unwrap_or("").to_owned())
            .collect()
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// The paths of everything but folders, sorted.
    pub fn non_dirs(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.kind != Kind::Dir)
            .map(|e| e.path.as_str())
            .collect();
        paths.sort_unstable();
        paths
    }

    /// A control-archive member (`postinst`, `conffiles`, ...).
    pub fn control_file(&self, name: &str) -> Result<String, String> {
        run_text(
            Command::new("dpkg-deb")
                .arg("--info")
                .arg(&self.path)
                .arg(name),
        )
    }

    /// The modification times of all entries of the data archive.
    pub fn mtimes(&self) -> Result<BTreeSet<u64>, String> {
        let tar = run(Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(&self.path))?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut mtimes = BTreeSet::new();
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            mtimes.insert(entry.header().mtime().map_err(|e| e.to_string())?);
        }
        Ok(mtimes)
    }

    /// The bytes of a packaged file (absolute path).
    pub fn contents(&self, path: &str) -> Result<Vec<u8>, String> {
        let tar = run(Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(&self.path))?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let wanted = format!(".{path}");
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let mut entry = entry.map_err(|e| e.to_string())?;
            let name = entry
                .path()
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned();
            if name == wanted {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| e.to_string())?;
                return Ok(bytes);
            }
        }
        Err(format!("{}: no {path}", self.path.display()))
    }
}

/// An RPM, read with `rpm -qp` and `rpm2cpio`.
#[derive(Debug)]
pub struct Rpm {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

impl Rpm {
    pub fn read(path: &Path) -> Result<Self, String> {
        let listing = Self::query_path(
            path,
            "[%{FILEMODES:perms}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t%{FILENAMES}\\t%{FILELINKTOS}\\n]",
        )?;
        let mut entries = Vec::new();
        for line in listing.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [mode, owner, group, name, link] = fields.as_slice() else {
                return Err(format!(
                    "{}: unexpected listing line {line:?}",
                    path.display()
                ));
            };
            let (letter, mode) = parse_mode(mode)?;
            let kind = match letter {
                '-' => Kind::File,
                'd' => Kind::Dir,
                'l' => Kind::Symlink((*link).to_owned()),
                _ => return Err(format!("{}: unexpected entry {line:?}", path.display())),
            };
            entries.push(Entry {
                path: (*name).to_owned(),
                kind,
                mode,
                owner: (*owner).to_owned(),
                group: (*group).to_owned(),
            });
        }
        Ok(Rpm {
            path: path.to_path_buf(),
            entries,
        })
    }

    fn query_path(path: &Path, format: &str) -> Result<String, String> {
        run_text(
            Command::new("rpm")
                .args(["--query", "--package", "--queryformat", format])
                .arg(path),
        )
    }

    /// `rpm -qp --queryformat FORMAT`, e.g. `%{NAME}`.
    pub fn query(&self, format: &str) -> Result<String, String> {
        Self::query_path(&self.path, format)
    }

    /// One line per relation of `kind` (`requires`, `provides`, `conflicts`, ...).
    pub fn relations(&self, kind: &str) -> Result<Vec<String>, String> {
        let text = run_text(
            Command::new("rpm")
                .args(["--query", "--package", &format!("--{kind}")])
                .arg(&self.path),
        )?;
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// The files rpm marks as documentation.
    pub fn docs(&self) -> Result<Vec<String>, String> {
        let text = run_text(
            Command::new("rpm")
                .args(["--query", "--package", "--docfiles"])
                .arg(&self.path),
        )?;
        Ok(text.lines().map(str::to_owned).collect())
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// The paths of everything but folders, sorted.
    pub fn non_dirs(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.kind != Kind::Dir)
            .map(|e| e.path.as_str())
            .collect();
        paths.sort_unstable();
        paths
    }

    /// The bytes of a packaged file (absolute path), through `rpm2cpio | cpio`.
    pub fn contents(&self, path: &str) -> Result<Vec<u8>, String> {
        if self.entry(path).is_none() {
            return Err(format!("{}: no {path}", self.path.display()));
        }
        // rpm2cpio (4.18) exits 1 when the header has no payload size, which the
        // rpm crate does not write; the payload is whole, and cpio checks its end.
        let mut rpm2cpio = Command::new("rpm2cpio");
        let output = rpm2cpio
            .arg(&self.path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("rpm2cpio: {e}"))?;
        if output.stdout.is_empty() {
            return Err(failure(&rpm2cpio, &output));
        }
        let cpio = output.stdout;
        let mut child = Command::new("cpio")
            .args(["--extract", "--quiet", "--to-stdout"])
            .arg(format!(".{path}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cpio: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("cpio: no stdin")?;
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &cpio));
        let output = child.wait_with_output().map_err(|e| format!("cpio: {e}"))?;
        let _ = writer.join();
        if !output.status.success() {
            return Err(format!(
                "{}: cpio could not extract {path} ({})",
                self.path.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(output.stdout)
    }
}

/// Decompresses a gzip file's bytes (man pages).
pub fn gunzip(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text)
        .map_err(|e| format!("gunzip: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mode_strings() {
        assert_eq!(parse_mode("-rwxr-xr-x"), Ok(('-', 0o755)));
        assert_eq!(parse_mode("-r--r-----"), Ok(('-', 0o440)));
        assert_eq!(parse_mode("drwxr-xr-x"), Ok(('d', 0o755)));
        assert_eq!(parse_mode("lrwxrwxrwx"), Ok(('l', 0o777)));
        assert_eq!(parse_mode("-rwsr-xr-x"), Ok(('-', 0o4755)));
        assert_eq!(parse_mode("-rwxr-Sr-T"), Ok(('-', 0o3744)));
        assert!(parse_mode("-rwxr-xr-").is_err());
        assert!(parse_mode("-rwxq-xr-x").is_err());
    }
}
