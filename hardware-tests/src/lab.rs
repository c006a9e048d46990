//! The QEMU lab runner: boots Debian's kernel (TCG) with the lab initramfs and emulated USB sticks, runs
//! `sdw-devices ARCHIVE` in the guest, and collects what the guest's independent verifier saw. In the
//! installed mode ([`Installed`]) the guest's root is a Debian 12 system with the `sdw-devices` package
//! installed by apt, and the archive is opened as `user` through the package's own entry points.
//!
//! Owns: the QEMU command line, the per-run control disk (a raw tar the guest unpacks: config, archive,
//! passphrase, scripts, extra files), the results disk (a raw tar the guest writes), the serial-console
//! markers, and hotplug through the QEMU monitor. The initramfs itself is built (and cached) by
//! `lab/build-initramfs`, the installed root disk by `lab/build-rootfs`; stick images come from anywhere
//! (see [`crate::fixtures`]).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Errors of a lab run (the lab could not run; a status of `sdw-devices` is data, never an error).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A stick argument was malformed.
    #[error("bad --stick {0:?}: expected IMAGE[:SERIAL[:ro]], SERIAL of letters and digits")]
    BadStick(String),
    /// An extra-file argument was malformed.
    #[error("bad --extra-file {0:?}: expected SOURCE:ABSOLUTE_GUEST_PATH")]
    BadExtraFile(String),
    /// A file the run needs is missing.
    #[error("{0}: not found")]
    Missing(PathBuf),
    /// Reading or writing a file of the run failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Building the initramfs failed.
    #[error("build-initramfs failed: {0}")]
    Build(String),
    /// Building the installed mode's root disk failed.
    #[error("build-rootfs failed: {0}")]
    Rootfs(String),
    /// The packages folder does not hold exactly one `sdw-devices_*.deb`.
    #[error(
        "{0}: expected exactly one sdw-devices_*.deb (from `bash scripts/package`), found {1}"
    )]
    Package(PathBuf, String),
    /// QEMU could not be started.
    #[error("cannot start qemu-system-x86_64: {0}")]
    Qemu(std::io::Error),
    /// The guest did not power off in time.
    #[error("the guest did not finish within {0:?} (console: {1})")]
    Timeout(Duration, PathBuf),
    /// The guest reported a failure of the lab itself.
    #[error("the guest failed: {0} (console: {1})")]
    Guest(String, PathBuf),
    /// The guest wrote no results.
    #[error("the guest wrote no results (console: {0})")]
    NoResults(PathBuf),
    /// The archive's metadata could not be read to find its passphrase.
    #[error("cannot read {0}: {1}")]
    Archive(PathBuf, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |source| LabError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One emulated USB stick.
#[derive(Debug, Clone)]
pub struct Stick {
    /// The disk image (whole disk, partitioned or not; raw, or a qcow2 overlay). The guest writes to it
    /// unless `read_only`.
    pub image: PathBuf,
    /// The USB serial number (udev `ID_SERIAL_SHORT`).
    pub serial: String,
    /// Attach write-protected.
    pub read_only: bool,
}

impl Stick {
    /// Parses `IMAGE[:SERIAL[:ro]]`; `index` names the default serial (`LABSTICK1`...).
    pub fn parse(arg: &str, index: usize) -> Result<Self, LabError> {
        let mut parts = arg.split(':');
        let image = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| LabError::BadStick(arg.to_string()))?;
        let serial = match parts.next() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => format!("LABSTICK{}", index + 1),
        };
        let read_only = match parts.next() {
            None => false,
            Some("ro") => true,
            Some(_) => return Err(LabError::BadStick(arg.to_string())),
        };
        if parts.next().is_some()
            || serial.len() > 32
            || !serial.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(LabError::BadStick(arg.to_string()));
        }
        Ok(Self {
            image: PathBuf::from(image),
            serial,
            read_only,
        })
    }
}

/// How the verifier tries signature-less volumes (TrueCrypt, then VeraCrypt at the given PIM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcryptVerify {
    /// Every hash and cipher chain cryptsetup knows (a failed guess costs minutes under TCG).
    Auto,
    /// PBKDF2-SHA512 and AES only: VeraCrypt's defaults, and what the fixtures write.
    #[default]
    Fast,
    /// Never.
    None,
}

impl TcryptVerify {
    fn word(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fast => "fast",
            Self::None => "none",
        }
    }
}

/// How the installed mode hands the archive to the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryPoint {
    /// As `qubes.OpenInVM`: the desktop's default application for the archive's MIME type (resolved with
    /// xdg-mime), its `Exec` line run as `user`; the status is its last stderr line.
    #[default]
    MimeDefault,
    /// As qrexec runs `securedrop.Export`: `/etc/qubes-rpc/securedrop.Export` as `user`, the archive on
    /// stdin; the status is its last stdout line.
    QrexecService,
}

impl EntryPoint {
    fn word(self) -> &'static str {
        match self {
            Self::MimeDefault => "mime",
            Self::QrexecService => "qrexec-service",
        }
    }
}

/// The installed mode: the guest boots a Debian 12 root disk (mmdebstrap, cached by content) with the
/// built `sdw-devices` package installed by apt and a `user` account as in a Qubes template.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The folder holding `sdw-devices_*.deb` (what `bash scripts/package` writes to `target/packages`).
    pub packages: PathBuf,
    /// How the archive is handed over.
    pub via: EntryPoint,
    /// Keep `/etc/sudoers.d/qubes` (`user ALL=(ALL:ALL) NOPASSWD: ALL`, as
    /// qubes-core-agent-passwordless-root); `false` removes it before the scenario, so only the package's
    /// own sudoers drop-in is left.
    pub passwordless_root: bool,
}

/// Everything one boot does.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// The sticks, attached in order.
    pub sticks: Vec<Stick>,
    /// The archive given to `sdw-devices`; `None` boots, runs the scripts and verifies only.
    pub archive: Option<PathBuf>,
    /// The verifier's passphrase; `None` takes `encryption_key` from the archive's metadata.
    pub passphrase: Option<String>,
    /// PIM for the verifier's VeraCrypt attempt.
    pub pim: Option<u32>,
    /// How the verifier tries signature-less volumes.
    pub tcrypt: TcryptVerify,
    /// Pull the first stick this long after `sdw-devices` started, or when the guest prints `@@LAB:PULL@@`
    /// on the console (whichever comes first); it is put back before verifying.
    pub hotplug_remove_after: Option<Duration>,
    /// Shell script run in the guest before `sdw-devices` (after the sticks appeared).
    pub guest_script: Option<String>,
    /// Shell script run in the guest after `sdw-devices`, before the verifier.
    pub after_script: Option<String>,
    /// Extra files: (host source, absolute guest path).
    pub extra_files: Vec<(PathBuf, String)>,
    /// The device binary (default: `sdw-devices` beside this executable). In the installed mode it
    /// replaces the package's `/usr/bin/sdw-devices` when given (and an `sdw-devices-helper` beside it
    /// replaces the package's helper).
    pub devices_binary: Option<PathBuf>,
    /// Boot the installed Debian system instead of the initramfs alone.
    pub installed: Option<Installed>,
    /// Guest memory in MiB (default 2048: argon2id's default cost is up to 1 GiB).
    pub memory_mib: Option<u32>,
    /// Kill `sdw-devices` after this long (default 300 s; it then reports exit code 137).
    pub devices_timeout: Option<Duration>,
    /// Give up on the whole boot after this long (default 600 s).
    pub timeout: Option<Duration>,
    /// Keep the run directory (console log, results) here instead of a temporary one.
    pub keep_dir: Option<PathBuf>,
}

/// One file the verifier saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The stick's serial, with `#N` for partition N.
    pub volume: String,
    /// Path relative to the volume root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// One volume the verifier looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeEntry {
    /// The stick's serial, with `#N` for partition N.
    pub volume: String,
    /// `crypto_LUKS`, `veracrypt`, `truecrypt`, `mapped` (already unlocked), `plain`, `missing`.
    pub container: String,
    /// The filesystem type blkid saw inside, or `none`/`unknown`.
    pub filesystem: String,
    /// How it was read: `unlocked`, `direct`, `locked` (could not unlock), `...,already-mounted`.
    pub how: String,
}

/// What a run produced.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// The last non-empty line of `sdw-devices`' status channel: stderr, or stdout for the qrexec service
    /// (`None`: it printed nothing or did not run).
    pub status: Option<String>,
    /// The installed mode's entry point: `send-to-usb.desktop Exec=...`, `securedrop.Export PATH`, or
    /// `none type=... default=...` when the MIME default could not be resolved.
    pub entry: Option<String>,
    /// Its whole stderr.
    pub stderr: String,
    /// Its whole stdout.
    pub stdout: String,
    /// The device side's own log file(s) from the guest.
    pub devices_log: String,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// Mappings (`mapping:NAME`) and mounts (`mount:DEV@DIR`) the run left behind.
    pub leftover: Vec<String>,
    /// The volumes the verifier looked at.
    pub volumes: Vec<VolumeEntry>,
    /// The files the verifier saw.
    pub files: Vec<FileEntry>,
    /// Output of the guest script, if any.
    pub guest_script_log: String,
    /// Output of the after script, if any.
    pub after_script_log: String,
    /// How long the boot took.
    pub elapsed: Duration,
}

impl RunReport {
    /// The lines `lab/run` prints: `STATUS`, `EXIT` (when sdw-devices ran), `ENTRY` (installed mode),
    /// `VOLUME`, `FILE`, `LEFTOVER`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "STATUS {}", self.status.as_deref().unwrap_or("-"));
        if let Some(code) = self.exit_code {
            let _ = writeln!(out, "EXIT {code}");
        }
        if let Some(entry) = &self.entry {
            let _ = writeln!(out, "ENTRY {entry}");
        }
        for v in &self.volumes {
            let _ = writeln!(
                out,
                "VOLUME {} {} {} {}",
                v.volume, v.container, v.filesystem, v.how
            );
            for f in self.files.iter().filter(|f| f.volume == v.volume) {
                let _ = writeln!(out, "FILE {} {} {} {}", f.volume, f.path, f.size, f.sha256);
            }
        }
        if self.leftover.is_empty() {
            out.push_str("LEFTOVER none\n");
        } else {
            let _ = writeln!(out, "LEFTOVER {}", self.leftover.join(" "));
        }
        out
    }

    /// The files on one volume (`SERIAL` or `SERIAL#N`).
    pub fn files_on<'a>(&'a self, volume: &'a str) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.files.iter().filter(move |f| f.volume == volume)
    }
}

/// Where the lab's files live (`hardware-tests/lab`), overridable with `SDW_LAB_DIR`.
pub fn lab_dir() -> PathBuf {
    std::env::var_os("SDW_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("lab"))
}

/// The cache directory: `SDW_LAB_CACHE`, else `$XDG_CACHE_HOME/sdw-devices/lab` (else
/// `$HOME/.cache/sdw-devices/lab`), else `hardware-tests/lab/cache`. It lives outside the
/// checkout so that a fresh clone on the same machine (CI) reuses the kernel, the Debian root
/// and the stick images; every entry is keyed by the content it was built from, so a stale
/// entry is never used.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SDW_LAB_CACHE") {
        return PathBuf::from(dir);
    }
    match sdw_testkit::host::user_cache_dir() {
        Some(dir) => dir.join("sdw-devices").join("lab"),
        None => lab_dir().join("cache"),
    }
}

fn default_devices_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("sdw-devices")))
        .unwrap_or_else(|| PathBuf::from("target/release/sdw-devices"))
}

/// Builds (or finds cached) the kernel and initramfs for `devices_binary` (`None`: the base alone, for the
/// installed mode).
pub fn build_initramfs(devices_binary: Option<&Path>) -> Result<(PathBuf, PathBuf), LabError> {
    let script = lab_dir().join("build-initramfs");
    let out = Command::new("bash")
        .arg(&script)
        .arg(cache_dir())
        .arg(devices_binary.unwrap_or(Path::new("-")))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| LabError::Build(e.to_string()))?;
    if !out.status.success() {
        return Err(LabError::Build(format!("{}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(k), Some(i)) => Ok((PathBuf::from(k), PathBuf::from(i))),
        _ => Err(LabError::Build(format!("unexpected output {text:?}"))),
    }
}

/// The one `sdw-devices_*.deb` in `dir`.
pub fn find_package(dir: &Path) -> Result<PathBuf, LabError> {
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sdw-devices_") && n.ends_with(".deb"))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(LabError::Package(dir.to_path_buf(), "none".into())),
        many => Err(LabError::Package(
            dir.to_path_buf(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Builds (or finds cached) the installed mode's root disk image with this package installed.
pub fn build_rootfs(deb: &Path) -> Result<PathBuf, LabError> {
    let script = lab_dir().join("build-rootfs");
    let out = Command::new("bash")
        .arg(&script)
        .arg(cache_dir())
        .arg(deb)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| LabError::Rootfs(e.to_string()))?;
    if !out.status.success() {
        return Err(LabError::Rootfs(format!("{}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().rfind(|l| !l.is_empty()) {
        Some(image) => Ok(PathBuf::from(image)),
        None => Err(LabError::Rootfs(format!("unexpected output {text:?}"))),
    }
}

/// The passphrase of a `disk` archive's `metadata.json`, read by [`sdw_protocol::Metadata::parse`]
/// (host side, for the verifier only); `None` for any other command or metadata it refuses.
pub fn archive_passphrase(archive: &Path) -> Result<Option<String>, LabError> {
    let file = std::fs::File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .map_err(|e| LabError::Archive(archive.to_path_buf(), e.to_string()))?;
    for entry in entries {
        let Ok(mut entry) = entry else { break };
        let is_meta = entry
            .path()
            .map(|p| {
                p.strip_prefix(".").unwrap_or(&p) == Path::new(sdw_protocol::layout::METADATA_FILE)
            })
            .unwrap_or(false);
        if !is_meta {
            continue;
        }
        let mut bytes = Vec::new();
        if entry.read_to_end(&mut bytes).is_err() {
            return Ok(None);
        }
        return Ok(match sdw_protocol::Metadata::parse(&bytes) {
            Ok(sdw_protocol::Command::Disk {
                passphrase: Some(passphrase),
            }) => Some(passphrase.expose_str().to_owned()),
            _ => None,
        });
    }
    Ok(None)
}

fn add_file(
    builder: &mut tar::Builder<std::fs::File>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> Result<(), std::io::Error> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, path, data)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_control(spec: &RunSpec, passphrase: Option<&str>, path: &Path) -> Result<(), LabError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut b = tar::Builder::new(file);
    let serials: Vec<&str> = spec.sticks.iter().map(|s| s.serial.as_str()).collect();
    let archive_name = spec
        .archive
        .as_ref()
        .and_then(|a| a.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = format!(
        "LAB_SERIALS={}\nLAB_HOTPLUG={}\nLAB_VERIFY_TCRYPT={}\nLAB_PIM={}\nLAB_DEVICES_TIMEOUT={}\n\
         LAB_MODE={}\nLAB_PASSWORDLESS_ROOT={}\nLAB_ARCHIVE_NAME={}\n",
        shell_quote(&serials.join(" ")),
        u8::from(spec.hotplug_remove_after.is_some()),
        spec.tcrypt.word(),
        spec.pim.map(|p| p.to_string()).unwrap_or_default(),
        spec.devices_timeout.map_or(300, |d| d.as_secs().max(1)),
        spec.installed
            .as_ref()
            .map_or("initramfs", |i| i.via.word()),
        u8::from(!matches!(&spec.installed, Some(i) if !i.passwordless_root)),
        shell_quote(&archive_name),
    );
    let wrap = |e| LabError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    add_file(&mut b, "lab/config", config.as_bytes(), 0o644).map_err(wrap)?;
    if let Some(p) = passphrase {
        add_file(&mut b, "lab/passphrase", p.as_bytes(), 0o600).map_err(wrap)?;
    }
    if let Some(s) = &spec.guest_script {
        add_file(&mut b, "lab/guest-script", s.as_bytes(), 0o755).map_err(wrap)?;
    }
    if let Some(s) = &spec.after_script {
        add_file(&mut b, "lab/after-script", s.as_bytes(), 0o755).map_err(wrap)?;
    }
    if let Some(a) = &spec.archive {
        let data = std::fs::read(a).map_err(io_err(a))?;
        add_file(&mut b, "lab/archive", &data, 0o644).map_err(wrap)?;
    }
    for (src, dest) in &spec.extra_files {
        let data = std::fs::read(src).map_err(io_err(src))?;
        let mode = std::fs::metadata(src)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        add_file(&mut b, dest.trim_start_matches('/'), &data, mode).map_err(wrap)?;
    }
    let mut file = b.into_inner().map_err(wrap)?;
    // Round up to a whole MiB so it is a well-sized disk.
    let len = file.metadata().map_err(wrap)?.len();
    file.set_len(len.div_ceil(1 << 20).max(1) << 20)
        .map_err(wrap)?;
    file.flush().map_err(wrap)?;
    Ok(())
}

/// Talks HMP to the QEMU monitor socket.
struct Monitor {
    path: PathBuf,
}

impl Monitor {
    /// Sends one command; returns what the monitor answered (empty when unreachable).
    fn command(&self, cmd: &str, log: &mut dyn Write) -> String {
        let _ = writeln!(log, "[lab] monitor: {cmd}");
        let mut answer = String::new();
        match UnixStream::connect(&self.path) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = s.write_all(format!("{cmd}\n").as_bytes());
                std::thread::sleep(Duration::from_millis(300));
                let mut buf = [0u8; 8192];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    answer.push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or_default()));
                    if answer.matches("(qemu)").count() >= 2 {
                        break;
                    }
                }
                // Drop the echo of the typed command (HMP redraws it with escape sequences).
                let said: String = answer
                    .lines()
                    .filter(|l| !l.contains('\u{1b}') && !l.starts_with("QEMU "))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let _ = writeln!(log, "[lab] monitor said: {said}");
                said
            }
            Err(e) => {
                let _ = writeln!(log, "[lab] monitor unreachable: {e}");
                answer
            }
        }
    }

    /// Sends a command until the monitor answers without an error (a pulled drive's image lock goes a
    /// moment after the pull).
    fn command_retrying(&self, cmd: &str, log: &mut dyn Write) {
        for _ in 0..10 {
            let said = self.command(cmd, log);
            let failed = ["rror", "ailed", "Duplicate", "lock"]
                .iter()
                .any(|w| said.contains(w));
            if !failed {
                return;
            }
            std::thread::sleep(Duration::from_millis(700));
        }
    }
}

/// `qcow2` when the image starts with qcow2's magic (a private overlay from
/// [`crate::fixtures::copy_of`]), `raw` otherwise (any disk image given by hand).
fn image_format(image: &Path) -> &'static str {
    let mut magic = [0u8; 4];
    let is_qcow2 = std::fs::File::open(image)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"QFI\xfb";
    if is_qcow2 {
        "qcow2"
    } else {
        "raw"
    }
}

fn stick_args(stick: &Stick, drive_id: &str, dev_id: &str) -> (String, String) {
    let ro = if stick.read_only { ",readonly=on" } else { "" };
    (
        format!(
            "if=none,id={drive_id},file={},format={}{ro}",
            stick.image.display(),
            image_format(&stick.image)
        ),
        format!(
            "usb-storage,bus=xhci.0,drive={drive_id},id={dev_id},removable=on,serial={}",
            stick.serial
        ),
    )
}

/// Where the package installs the privileged helper.
const INSTALLED_HELPER: &str = "/usr/libexec/sdw-devices/sdw-devices-helper";

/// Boots the guest once and returns what it saw. Errors only when the lab itself failed.
pub fn run(spec: &RunSpec) -> Result<RunReport, LabError> {
    let start = Instant::now();
    let mut devices = match (&spec.devices_binary, &spec.installed) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(default_devices_binary()),
        (None, Some(_)) => None,
    };
    if let Some(d) = devices.as_ref().filter(|d| !d.exists()) {
        return Err(LabError::Missing(d.clone()));
    }
    for s in &spec.sticks {
        if !s.image.exists() {
            return Err(LabError::Missing(s.image.clone()));
        }
    }
    let mut spec = spec.clone();
    let root_disk = match &spec.installed {
        Some(installed) => {
            let deb = find_package(&installed.packages)?;
            if let Some(d) = devices.take() {
                // A binary given beside the package replaces the package's, and so does the privileged
                // helper built beside it.
                let helper = d.with_file_name("sdw-devices-helper");
                if helper.exists() {
                    spec.extra_files
                        .push((helper, INSTALLED_HELPER.to_string()));
                }
                spec.extra_files
                    .push((d, "/usr/bin/sdw-devices".to_string()));
            }
            Some(build_rootfs(&deb)?)
        }
        None => None,
    };
    let spec = &spec;
    let (kernel, initrd) = build_initramfs(devices.as_deref())?;

    let tmp;
    let dir = match &spec.keep_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
            d.clone()
        }
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let passphrase = match (&spec.passphrase, &spec.archive) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(a)) => archive_passphrase(a)?,
        (None, None) => None,
    };
    let control = dir.join("control.tar");
    write_control(spec, passphrase.as_deref(), &control)?;
    let results = dir.join("results.img");
    {
        let f = std::fs::File::create(&results).map_err(io_err(&results))?;
        f.set_len(256 << 20).map_err(io_err(&results))?;
    }
    let monitor_path = dir.join("monitor.sock");
    let _ = std::fs::remove_file(&monitor_path);
    let console_path = dir.join("console.log");
    let mut console = std::fs::File::create(&console_path).map_err(io_err(&console_path))?;

    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-nodefaults"])
        .args(["-m", &spec.memory_mib.unwrap_or(2048).to_string()])
        .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-monitor")
        .arg(format!(
            "unix:{},server=on,wait=off",
            monitor_path.display()
        ))
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            // no_timer_check: on a loaded host the emulated IO-APIC timer check can fail and panic the boot.
            "console=ttyS0 panic=-1 quiet loglevel=3 no_timer_check rdinit=/init",
        ])
        .arg("-drive")
        .arg(format!(
            "if=none,id=labctl,file={},format=raw,readonly=on",
            control.display()
        ))
        .args(["-device", "virtio-blk-pci,drive=labctl,serial=labctl"])
        .arg("-drive")
        .arg(format!(
            "if=none,id=labout,file={},format=raw",
            results.display()
        ))
        .args(["-device", "virtio-blk-pci,drive=labout,serial=labout"]);
    if let Some(root) = &root_disk {
        // snapshot=on: the guest's writes go to a throwaway overlay; the cached image stays as built.
        cmd.arg("-drive")
            .arg(format!(
                "if=none,id=labroot,file={},format=raw,snapshot=on",
                root.display()
            ))
            .args(["-device", "virtio-blk-pci,drive=labroot,serial=labroot"]);
    }
    cmd.args(["-device", "qemu-xhci,id=xhci"]);
    for (i, s) in spec.sticks.iter().enumerate() {
        let (drive, device) = stick_args(s, &format!("stick{i}"), &format!("usb{i}"));
        cmd.arg("-drive").arg(drive).arg("-device").arg(device);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let _ = writeln!(console, "[lab] {cmd:?}");
    let mut child = cmd.spawn().map_err(LabError::Qemu)?;
    let spawned = Instant::now();

    let (tx, rx) = mpsc::channel::<String>();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(format!("[qemu stderr] {line}")).is_err() {
                    break;
                }
            }
        });
    }

    let monitor = Monitor {
        path: monitor_path.clone(),
    };
    let timeout = spec.timeout.unwrap_or(Duration::from_secs(600));
    let mut pull_at: Option<Instant> = None;
    let mut pulled = false;
    let mut guest_fail: Option<String> = None;
    let mut finished = false;
    loop {
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let _ = console.flush();
            print_console_tail(&console_path);
            return Err(LabError::Timeout(timeout, console_path));
        }
        if let Some(at) = pull_at {
            if Instant::now() >= at && !pulled {
                let _ = monitor.command("device_del usb0", &mut console);
                pulled = true;
            }
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let _ = writeln!(console, "[{:6.1}] {line}", spawned.elapsed().as_secs_f64());
                if line.contains("@@LAB:DEVICES_START@@") {
                    if let Some(after) = spec.hotplug_remove_after {
                        pull_at = Some(Instant::now() + after);
                    }
                } else if line.contains("@@LAB:PULL@@")
                    && spec.hotplug_remove_after.is_some()
                    && !pulled
                {
                    // A guest script saw the moment it waited for (e.g. the export being written).
                    pull_at = Some(Instant::now());
                } else if line.contains("@@LAB:PULL@@") {
                    // A guest script asks for the pull now (e.g. when a given file is being written).
                    if spec.hotplug_remove_after.is_some() && !pulled {
                        let _ = monitor.command("device_del usb0", &mut console);
                        pulled = true;
                    }
                } else if line.contains("@@LAB:DEVICES_DONE@@") && !pulled {
                    // sdw-devices returned before the pull: pull now so the scenario still is a pull.
                    pull_at = None;
                } else if line.contains("@@LAB:REATTACH@@") {
                    if let Some(stick) = spec.sticks.first() {
                        if !pulled {
                            let _ = monitor.command("device_del usb0", &mut console);
                            pulled = true;
                        }
                        std::thread::sleep(Duration::from_millis(1500));
                        let (drive, device) = stick_args(stick, "stickhot", "usbhot");
                        monitor.command_retrying(&format!("drive_add 0 {drive}"), &mut console);
                        monitor.command_retrying(&format!("device_add {device}"), &mut console);
                    }
                } else if let Some(rest) = line.split("@@LAB:FAIL ").nth(1) {
                    guest_fail = Some(rest.trim_end_matches("@@").to_string());
                } else if line.contains("@@LAB:POWEROFF@@") {
                    finished = true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(_)) = child.try_wait() {
                    // Drain what is left: the readers end at EOF (disconnecting); a loaded host may
                    // take a while to hand over the last lines.
                    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
                        let _ = writeln!(console, "{line}");
                        if line.contains("@@LAB:POWEROFF@@") {
                            finished = true;
                        }
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                break;
            }
        }
    }
    let _ = console.flush();
    drop(console);
    let result = match (guest_fail, finished) {
        (Some(msg), _) => Err(LabError::Guest(msg, console_path.clone())),
        (None, false) => Err(LabError::NoResults(console_path.clone())),
        (None, true) => read_results(&results, &console_path),
    };
    let mut report = result.inspect_err(|_| print_console_tail(&console_path))?;
    report.elapsed = start.elapsed();
    if let Some(d) = spec.keep_dir.as_ref() {
        let _ = std::fs::write(d.join("report.txt"), report.render());
    }
    Ok(report)
}

/// On a lab failure the run directory may be temporary: show the console's end on stderr.
fn print_console_tail(console: &Path) {
    let text = std::fs::read_to_string(console).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines
        .get(lines.len().saturating_sub(40)..)
        .unwrap_or_default();
    eprintln!("sdw-lab: the console's last lines:\n{}", tail.join("\n"));
}

fn read_results(results: &Path, console: &Path) -> Result<RunReport, LabError> {
    let file = std::fs::File::open(results).map_err(io_err(results))?;
    let mut tar = tar::Archive::new(file);
    let mut report = RunReport::default();
    let mut any = false;
    let mut status_on_stdout = false;
    let entries = tar
        .entries()
        .map_err(|_| LabError::NoResults(console.to_path_buf()))?;
    for entry in entries {
        let Ok(mut entry) = entry else { break };
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_string())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        if entry.read_to_end(&mut bytes).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        any = true;
        match name.as_str() {
            "stderr" => report.stderr = text,
            "stdout" => report.stdout = text,
            "status-channel" => status_on_stdout = text.trim() == "stdout",
            "entry" => report.entry = Some(text.trim().to_string()),
            "devices.log" => report.devices_log = text,
            "rc" => report.exit_code = text.trim().parse().ok(),
            "leftover" => {
                report.leftover = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "files" => parse_files(&text, &mut report),
            "guest-script.log" => report.guest_script_log = text,
            "after-script.log" => report.after_script_log = text,
            "lab-error" => {
                return Err(LabError::Guest(
                    text.trim().to_string(),
                    console.to_path_buf(),
                ))
            }
            _ => {}
        }
    }
    if !any {
        return Err(LabError::NoResults(console.to_path_buf()));
    }
    let channel = if status_on_stdout {
        &report.stdout
    } else {
        &report.stderr
    };
    report.status = last_line(channel);
    Ok(report)
}

/// The last non-empty line, trimmed.
fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn parse_files(text: &str, report: &mut RunReport) {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("FILE ") {
            // FILE <volume> <path...> <size> <sha256>: the path may hold spaces.
            let mut right = rest.rsplitn(3, ' ');
            let (Some(sha), Some(size), Some(left)) = (right.next(), right.next(), right.next())
            else {
                continue;
            };
            let Some((volume, path)) = left.split_once(' ') else {
                continue;
            };
            let Ok(size) = size.parse() else { continue };
            report.files.push(FileEntry {
                volume: volume.to_string(),
                path: path.to_string(),
                size,
                sha256: sha.to_string(),
            });
        } else if let Some(rest) = line.strip_prefix("VOLUME ") {
            let f: Vec<&str> = rest.split(' ').collect();
            if let [volume, container, filesystem, how] = f.as_slice() {
                report.volumes.push(VolumeEntry {
                    volume: volume.to_string(),
                    container: container.to_string(),
                    filesystem: filesystem.to_string(),
                    how: how.to_string(),
                });
            }
        }
    }
}

/// A temporary directory removed on drop (the lab keeps no state between runs but its cache).
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new() -> Result<Self, LabError> {
        let base = std::env::temp_dir();
        for n in 0..1000u32 {
            let p = base.join(format!("sdw-lab-{}-{n}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(Self(p));
            }
        }
        Err(LabError::Io {
            path: base,
            source: std::io::Error::other("cannot create a temporary directory"),
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stick_arguments() -> Result<(), LabError> {
        let s = Stick::parse("a.img", 0)?;
        assert_eq!((s.serial.as_str(), s.read_only), ("LABSTICK1", false));
        let s = Stick::parse("a.img:ABC1:ro", 3)?;
        assert_eq!((s.serial.as_str(), s.read_only), ("ABC1", true));
        assert!(Stick::parse("a.img:bad serial", 0).is_err());
        assert!(Stick::parse("a.img:S:rw", 0).is_err());
        assert!(Stick::parse(":S", 0).is_err());
        Ok(())
    }

    #[test]
    fn finds_exactly_one_device_package() -> Result<(), LabError> {
        let dir = TempDir::new()?;
        assert!(matches!(
            find_package(dir.path()),
            Err(LabError::Package(..))
        ));
        for name in [
            "sdw-client_0.1.0-1_amd64.deb",
            "sdw-devices_0.1.0-1_amd64.deb",
        ] {
            std::fs::write(dir.path().join(name), b"").map_err(io_err(dir.path()))?;
        }
        assert_eq!(
            find_package(dir.path())?,
            dir.path().join("sdw-devices_0.1.0-1_amd64.deb")
        );
        std::fs::write(dir.path().join("sdw-devices_0.2.0-1_amd64.deb"), b"")
            .map_err(io_err(dir.path()))?;
        assert!(matches!(
            find_package(dir.path()),
            Err(LabError::Package(..))
        ));
        Ok(())
    }

    /// A results tar as the guest writes it.
    fn results(files: &[(&str, &str)]) -> Result<(TempDir, PathBuf), LabError> {
        let dir = TempDir::new()?;
        let path = dir.path().join("results.img");
        let file = std::fs::File::create(&path).map_err(io_err(&path))?;
        let mut b = tar::Builder::new(file);
        for (name, text) in files {
            add_file(&mut b, &format!("./{name}"), text.as_bytes(), 0o644)
                .map_err(io_err(&path))?;
        }
        b.into_inner().map_err(io_err(&path))?;
        Ok((dir, path))
    }

    #[test]
    fn the_status_is_read_from_the_channel_the_entry_point_uses() -> Result<(), LabError> {
        // The MIME handler: the last stderr line; stdout is not the protocol.
        let (_d, path) = results(&[
            ("stdout", "noise\n"),
            ("stderr", "warning\nSUCCESS_EXPORT\n\n"),
            (
                "entry",
                "send-to-usb.desktop Exec=/usr/bin/send-to-usb %f\n",
            ),
        ])?;
        let r = read_results(&path, Path::new("console.log"))?;
        assert_eq!(r.status.as_deref(), Some("SUCCESS_EXPORT"));
        assert!(r
            .render()
            .contains("ENTRY send-to-usb.desktop Exec=/usr/bin/send-to-usb %f\n"));
        // The qrexec service: the last stdout line.
        let (_d, path) = results(&[
            ("stderr", "a log line\n"),
            ("stdout", "ERROR_UNLOCK_LUKS\n"),
            ("status-channel", "stdout\n"),
        ])?;
        let r = read_results(&path, Path::new("console.log"))?;
        assert_eq!(r.status.as_deref(), Some("ERROR_UNLOCK_LUKS"));
        Ok(())
    }

    #[test]
    fn parses_verifier_lines_with_spaces_in_paths() {
        let mut r = RunReport::default();
        parse_files(
            "VOLUME S#2 crypto_LUKS ext4 unlocked\nFILE S#2 a dir/b c.txt 12 abcd\nFILE bad\n",
            &mut r,
        );
        assert_eq!(r.volumes.len(), 1);
        assert_eq!(
            r.files,
            vec![FileEntry {
                volume: "S#2".into(),
                path: "a dir/b c.txt".into(),
                size: 12,
                sha256: "abcd".into()
            }]
        );
        assert!(r.render().contains("FILE S#2 a dir/b c.txt 12 abcd\n"));
        assert!(r.render().ends_with("LEFTOVER none\n"));
    }
}
