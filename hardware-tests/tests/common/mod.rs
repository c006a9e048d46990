//! Shared helpers of the lab tests: build fixtures, run `hardware-tests/lab/run`, parse its lines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sdw_hardware_tests::{fixtures, lab::TempDir};

/// The passphrase of every encrypted fixture.
pub const PASS: &str = "correct horse battery staple";

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A volume line of `run`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volume: String,
    pub container: String,
    pub filesystem: String,
    pub how: String,
}

/// What `run` printed.
#[derive(Debug, Default)]
pub struct Out {
    pub status: String,
    /// sdw-devices' exit code (`EXIT` line), if it ran.
    pub exit: Option<i32>,
    pub volumes: Vec<Volume>,
    /// (volume, path, size, sha256)
    pub files: Vec<(String, String, u64, String)>,
    pub leftover: String,
    /// The `ENTRY` line (installed mode), if any.
    pub entry: Option<String>,
    pub raw: String,
    /// What `run` wrote to stderr (with `-v`: the guest scripts' output, sdw-devices' stderr and log).
    pub stderr: String,
}

impl Out {
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.volume == name)
    }
}

/// One scenario: sticks (recipe, serial, extra flags), an archive, extra `run` arguments.
pub struct Scenario {
    pub dir: TempDir,
    pub args: Vec<String>,
}

impl Scenario {
    pub fn new() -> Result<Self> {
        Ok(Self {
            dir: TempDir::new()?,
            args: Vec::new(),
        })
    }

    /// Attaches a private copy of the fixture `recipe` as a stick with `serial`.
    pub fn stick(mut self, recipe: &str, serial: &str) -> Result<Self> {
        let img = fixtures::copy_of(recipe, PASS, self.dir.path(), &format!("{serial}.img"))?;
        self.args.push("--stick".into());
        self.args.push(format!("{}:{serial}", img.display()));
        Ok(self)
    }

    /// A probe archive with this `device` value.
    pub fn probe(mut self, device: &str) -> Result<Self> {
        let path = self.dir.path().join("probe.sd-export");
        sdw_testkit::write_gzip(
            &path,
            serde_json::json!({ "device": device })
                .to_string()
                .as_bytes(),
            &[],
        )?;
        self.args.push("--archive".into());
        self.args.push(path.display().to_string());
        Ok(self)
    }

    /// A `disk` archive with these `export_data/` files; the verifier always
    /// gets the right passphrase, whatever the archive says.
    pub fn disk(self, passphrase: Option<&str>, files: &[(&str, &[u8])]) -> Result<Self> {
        let archive = disk_archive(self.dir.path(), passphrase, files)?;
        Ok(self
            .arg("--archive")
            .arg(&archive.display().to_string())
            .arg("--passphrase")
            .arg(PASS))
    }

    /// A `disk` archive with this `metadata.json` (e.g. with `redact`).
    pub fn disk_with(self, metadata: &serde_json::Value, files: &[(&str, &[u8])]) -> Result<Self> {
        let path = self.dir.path().join("export.sd-export");
        sdw_testkit::write_gzip(&path, metadata.to_string().as_bytes(), files)?;
        Ok(self
            .arg("--archive")
            .arg(&path.display().to_string())
            .arg("--passphrase")
            .arg(PASS))
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// Runs the lab's `run` command and parses its output.
    pub fn run(self) -> Result<Out> {
        let out = run_lab(&self.args)?;
        Ok(out)
    }
}

fn lab_run_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/run")
}

/// Runs `hardware-tests/lab/run ARGS` with the binaries cargo built for this test.
pub fn run_lab(args: &[String]) -> Result<Out> {
    let lab_bin = PathBuf::from(env!("CARGO_BIN_EXE_sdw-lab"));
    let devices = lab_bin
        .parent()
        .map(|d| d.join("sdw-devices"))
        .ok_or("no target dir")?;
    // The installed mode runs the package's binaries, not the ones cargo built.
    if !devices.exists() && !args.iter().any(|a| a == "--installed") {
        return Err(format!(
            "{} is missing: run `cargo build --release -p sdw-devices` (cargo test --workspace builds it)",
            devices.display()
        )
        .into());
    }
    let output = Command::new("bash")
        .arg(lab_run_script())
        .args(args)
        .env("SDW_LAB_NO_BUILD", "1")
        .env("SDW_LAB_BIN", &lab_bin)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!("lab/run failed ({}): {stderr}\n{stdout}", output.status).into());
    }
    eprintln!("lab/run {args:?}:\n{stdout}");
    let mut out = Out {
        raw: stdout.clone(),
        stderr,
        ..Out::default()
    };
    for line in stdout.lines() {
        if let Some(s) = line.strip_prefix("STATUS ") {
            out.status = s.to_string();
        } else if let Some(e) = line.strip_prefix("EXIT ") {
            out.exit = Some(e.parse()?);
        } else if let Some(e) = line.strip_prefix("ENTRY ") {
            out.entry = Some(e.to_string());
        } else if let Some(l) = line.strip_prefix("LEFTOVER ") {
            out.leftover = l.to_string();
        } else if let Some(v) = line.strip_prefix("VOLUME ") {
            if let [volume, container, filesystem, how] = v.split(' ').collect::<Vec<_>>()[..] {
                out.volumes.push(Volume {
                    volume: volume.into(),
                    container: container.into(),
                    filesystem: filesystem.into(),
                    how: how.into(),
                });
            }
        } else if let Some(f) = line.strip_prefix("FILE ") {
            let mut right = f.rsplitn(3, ' ');
            if let (Some(sha), Some(size), Some(left)) = (right.next(), right.next(), right.next())
            {
                if let Some((vol, path)) = left.split_once(' ') {
                    out.files
                        .push((vol.into(), path.into(), size.parse()?, sha.into()));
                }
            }
        }
    }
    if out.status.is_empty() || out.leftover.is_empty() {
        return Err(format!("unexpected lab output: {stdout}").into());
    }
    Ok(out)
}

/// [`Scenario::disk`] as a function.
pub fn with_disk_archive(
    scenario: Scenario,
    passphrase: Option<&str>,
    files: &[(&str, &[u8])],
) -> Result<Scenario> {
    scenario.disk(passphrase, files)
}

/// Writes a `disk` archive with these `export_data/` files (folders created
/// as needed) and returns its path.
pub fn disk_archive(
    dir: &Path,
    passphrase: Option<&str>,
    files: &[(&str, &[u8])],
) -> Result<PathBuf> {
    let path = dir.join("export.sd-export");
    let metadata = match passphrase {
        Some(p) => {
            serde_json::json!({"device": "disk", "encryption_key": p, "encryption_method": "luks"})
        }
        None => serde_json::json!({"device": "disk"}),
    };
    sdw_testkit::write_gzip(&path, metadata.to_string().as_bytes(), files)?;
    Ok(path)
}

/// `sd-export-YYYYMMDD-HHMMSS` (with or without a `-N` suffix).
pub fn is_export_folder(name: &str) -> bool {
    name.strip_prefix("sd-export-").is_some_and(|rest| {
        let stamp = rest.get(..15).unwrap_or("");
        stamp.len() == 15
            && stamp.bytes().enumerate().all(|(i, b)| {
                if i == 8 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && rest.get(15..).is_some_and(|suffix| {
                suffix.is_empty()
                    || suffix
                        .strip_prefix('-')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    })
}

/// The export folder's files on `volume`, as (path below export_data, size, sha256), sorted.
pub fn exported(out: &Out, volume: &str) -> Vec<(String, u64, String)> {
    let mut files: Vec<_> = out
        .files
        .iter()
        .filter(|(v, ..)| v == volume)
        .filter_map(|(_, path, size, sha)| {
            let (folder, rest) = path.split_once('/')?;
            let below = rest.strip_prefix("export_data/")?;
            is_export_folder(folder).then(|| (below.to_string(), *size, sha.clone()))
        })
        .collect();
    files.sort();
    files
}
