//! The real drives: [`RealDevices`] implements [`Devices`] by asking the
//! privileged helper, `sdw-devices-helper`, which alone runs as root and
//! alone touches udev's block devices, libcryptsetup ([`crypt`]) and mount(2)
//! ([`mount`]). `sdw-devices` itself runs as the qube's `user` and parses every
//! untrusted byte of the archive there.
//!
//! The helper is started on the first request and lives as long as the
//! export: `sudo --non-interactive HELPER` when we are not root (the package's
//! sudoers drop-in allows exactly that command with no arguments), the helper
//! itself when we are. Requests and replies are JSON lines over its stdin and
//! stdout ([`wire`]); its stderr (sudo's complaints) goes to our log. If the
//! helper cannot be started, the request fails with a reason naming what is
//! missing; if it dies mid-request (e.g. killed by the kernel for memory
//! during a key derivation), the request fails with the signal, and the helper
//! being gone means it held nothing open past its death but the kernel's own.
//! Closing its stdin (dropping [`RealDevices`]) makes it clean up and exit.

pub mod crypt;
pub mod helper;
pub mod mount;
pub mod udev;
pub mod wire;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use sdw_protocol::Passphrase;

use crate::device::VolumeError;
use crate::device::{Devices, Drive, MountPoint, ScanError};
use wire::{Outgoing, Reply, MAX_REPLY_BYTES};

/// Where the package installs the helper (see `packaging/`).
pub const HELPER_PATH: &str = "/usr/libexec/sdw-devices/sdw-devices-helper";
/// The sudo the helper is reached through, never looked up in `PATH`.
pub const SUDO_PATH: &str = "/usr/bin/sudo";

/// The drives on this qube's USB bus, through the privileged helper.
#[derive(Default)]
pub struct RealDevices {
    helper: Option<HelperProcess>,
}

struct HelperProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The last 4 KiB the helper (or sudo) wrote to stderr.
    stderr_tail: Arc<Mutex<Vec<u8>>>,
}

/// Why a request got no reply.
#[derive(Debug)]
struct NoReply(String);

impl RealDevices {
    pub fn new() -> RealDevices {
        RealDevices::default()
    }

    fn request(&mut self, line: &[u8]) -> Result<Reply, NoReply> {
        if self.helper.is_none() {
            self.helper = Some(HelperProcess::start()?);
        }
        let helper = self
            .helper
            .as_mut()
            .ok_or_else(|| NoReply("the helper is not running".into()))?;
        match helper.exchange(line) {
            Ok(reply) => Ok(reply),
            Err(e) => {
                let why = helper.death(e);
                self.helper = None;
                tracing::error!(why, "the privileged helper gave no reply");
                Err(NoReply(why))
            }
        }
    }

    fn send(&mut self, request: &Outgoing<'_>) -> Result<Reply, NoReply> {
        let mut line =
            serde_json::to_vec(request).map_err(|e| NoReply(format!("encoding: {e}")))?;
        line.push(b'\n');
        self.request(&line)
    }

    /// Sends a volume request; a reply other than what `accept` takes is a
    /// failure of the kind `failed` builds.
    fn volume_request<T>(
        &mut self,
        request: &Outgoing<'_>,
        failed: impl Fn(String) -> VolumeError,
        accept: impl FnOnce(Reply) -> Option<T>,
    ) -> Result<T, VolumeError> {
        let reply = self.send(request).map_err(|NoReply(why)| failed(why))?;
        volume_reply(reply, failed, accept)
    }
}

fn volume_reply<T>(
    reply: Reply,
    failed: impl Fn(String) -> VolumeError,
    accept: impl FnOnce(Reply) -> Option<T>,
) -> Result<T, VolumeError> {
    match reply {
        Reply::Failed(e) => Err(e),
        Reply::Refused(why) => Err(failed(format!("the helper refused: {why}"))),
        other => {
            let shown = format!("{other:?}");
            accept(other).ok_or_else(|| failed(format!("unexpected reply {shown:.200}")))
        }
    }
}

impl Devices for RealDevices {
    fn scan(&mut self) -> Result<Vec<Drive>, ScanError> {
        match self
            .send(&Outgoing::Scan)
            .map_err(|NoReply(why)| ScanError::Helper(why))?
        {
            Reply::Drives(drives) => Ok(drives),
            Reply::ScanFailed(e) => Err(e),
            other => Err(ScanError::Helper(format!("unexpected reply {other:?}"))),
        }
    }

    fn unlock(&mut self, volume: &str, passphrase: &Passphrase) -> Result<(), VolumeError> {
        let device = PathBuf::from("/dev").join(volume);
        let failed = |reason| VolumeError::Unlock {
            device: device.clone(),
            reason,
        };
        let line = wire::unlock_request(volume, passphrase);
        let reply = self.request(&line).map_err(|NoReply(why)| failed(why))?;
        volume_reply(reply, failed, |r| matches!(r, Reply::Done).then_some(()))
    }

    fn mount(&mut self, volume: &str) -> Result<MountPoint, VolumeError> {
        let device = PathBuf::from("/dev").join(volume);
        self.volume_request(
            &Outgoing::Mount { volume },
            |reason| VolumeError::Mount {
                device: device.clone(),
                reason,
            },
            |r| match r {
                Reply::Mounted(m) => Some(m),
                _ => None,
            },
        )
    }

    fn create_staging(&mut self, volume: &str, timestamp: &str) -> Result<PathBuf, VolumeError> {
        self.volume_request(
            &Outgoing::CreateStaging { volume, timestamp },
            |reason| VolumeError::ExportFolder { reason },
            path_reply,
        )
    }

    fn publish(
        &mut self,
        volume: &str,
        staging: &Path,
        timestamp: &str,
    ) -> Result<PathBuf, VolumeError> {
        self.volume_request(
            &Outgoing::Publish {
                volume,
                staging,
                timestamp,
            },
            |reason| VolumeError::ExportFolder { reason },
            path_reply,
        )
    }

    fn discard(&mut self, volume: &str, staging: &Path) -> Result<(), VolumeError> {
        self.volume_request(
            &Outgoing::Discard { volume, staging },
            |reason| VolumeError::ExportFolder { reason },
            done_reply,
        )
    }

    fn unmount(&mut self, volume: &str) -> Result<(), VolumeError> {
        let mount_point = PathBuf::from("/dev").join(volume);
        self.volume_request(
            &Outgoing::Unmount { volume },
            |reason| VolumeError::Unmount {
                mount_point: mount_point.clone(),
                reason,
            },
            done_reply,
        )
    }

    fn lock(&mut self, volume: &str) -> Result<(), VolumeError> {
        self.volume_request(
            &Outgoing::Lock { volume },
            |reason| VolumeError::Lock {
                mapping: volume.to_owned(),
                reason,
            },
            done_reply,
        )
    }
}

fn path_reply(reply: Reply) -> Option<PathBuf> {
    match reply {
        Reply::Path(path) => Some(path),
        _ => None,
    }
}

fn done_reply(reply: Reply) -> Option<()> {
    matches!(reply, Reply::Done).then_some(())
}

impl HelperProcess {
    /// Starts the helper: through sudo unless we are root.
    fn start() -> Result<HelperProcess, NoReply> {
        let root = nix::unistd::geteuid().is_root();
        let helper = helper_path(root);
        let mut command = if root {
            let mut c = Command::new(&helper);
            // Files on the drive belong to whoever runs the export: us.
            c.env_remove("SUDO_UID").env_remove("SUDO_GID");
            c
        } else {
            let mut c = Command::new(SUDO_PATH);
            c.arg("--non-interactive").arg(&helper);
            c
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                NoReply(if root {
                    format!("cannot run the helper {helper:?}: {e}")
                } else {
                    format!(
                        "cannot run {SUDO_PATH} (unlocking and mounting need root; is sudo installed?): {e}"
                    )
                })
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(NoReply("the helper's pipes could not be opened".into()));
        };
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || collect_tail(stderr, &tail));
        tracing::info!(
            ?helper,
            through_sudo = !root,
            "started the privileged helper"
        );
        Ok(HelperProcess {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr_tail,
        })
    }

    fn exchange(&mut self, line: &[u8]) -> std::io::Result<Reply> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("closed"))?;
        stdin.write_all(line)?;
        stdin.flush()?;
        let mut reply = Vec::new();
        let limit = u64::try_from(MAX_REPLY_BYTES).unwrap_or(u64::MAX);
        (&mut self.stdout)
            .take(limit)
            .read_until(b'\n', &mut reply)?;
        if reply.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        serde_json::from_slice(&reply).map_err(std::io::Error::other)
    }

    /// Why the helper stopped answering: its exit, and what it or sudo said.
    fn death(&mut self, error: std::io::Error) -> String {
        self.stdin = None;
        let exit = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown exit ({e})"),
        };
        // Give the stderr reader a moment to take the last words.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let said = self
            .stderr_tail
            .lock()
            .map(|tail| String::from_utf8_lossy(&tail).trim().to_owned())
            .unwrap_or_default();
        let hint = if said.contains("password is required") || said.contains("not allowed") {
            " (the sudoers rule /etc/sudoers.d/sdw-devices, installed by the sdw-devices package, is missing)"
        } else {
            ""
        };
        format!("the privileged helper stopped ({error}; {exit}){hint}: {said:?}")
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        // EOF on its stdin: the helper cleans up what is left and exits.
        self.stdin = None;
        match self.child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => tracing::warn!(%status, "the privileged helper exited"),
            Err(e) => tracing::warn!(error = %e, "waiting for the privileged helper"),
        }
    }
}

/// Keeps the last 4 KiB of a stream, and logs each line.
fn collect_tail(stream: impl Read, tail: &Mutex<Vec<u8>>) {
    const KEEP: usize = 4096;
    let mut reader = BufReader::new(stream.take(1024 * 1024));
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line);
        tracing::warn!(target: "sdw-devices-helper", "{:.500}", text.trim_end());
        if let Ok(mut tail) = tail.lock() {
            tail.extend_from_slice(&line);
            let excess = tail.len().saturating_sub(KEEP);
            tail.drain(..excess);
        }
        line.clear();
    }
}

/// The installed helper; when root runs a build that is not installed (the
/// lab, a developer), the `sdw-devices-helper` beside our own executable.
fn helper_path(root: bool) -> PathBuf {
    let installed = PathBuf::from(HELPER_PATH);
    if !root || installed.exists() {
        return installed;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("sdw-devices-helper")))
        .filter(|beside| beside.exists())
        .unwrap_or(installed)
}
