//! The privileged helper (`/usr/libexec/sdw-devices/sdw-devices-helper`, run
//! as root through `sudo` by [`RealDevices`](super::RealDevices)): the only
//! code of this project that runs as root. It reads one [`Request`] a line
//! from stdin and answers one [`Reply`] a line on stdout; it never sees the
//! archive, parses no file from it, and takes no arguments.
//!
//! It checks every request against its own state: a volume must be one its own
//! udev scan found on the USB bus; it mounts only mappings it opened or found
//! on such a volume; it publishes and removes only staging folders it made,
//! and names folders only after a `YYYYMMDD-HHMMSS` timestamp. It undoes only
//! what it did. When stdin closes (the export finished, or `sdw-devices` died)
//! it removes unpublished staging folders, unmounts what it mounted and locks
//! what it unlocked, so no failure of the unprivileged side leaves a drive
//! unlocked.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;
use zeroize::Zeroizing;

use super::mount::Owner;
use super::wire::{is_kernel_name, is_timestamp, Reply, Request, MAX_REQUEST_BYTES};
use super::{crypt, mount, udev};
use crate::device::VolumeError;
use crate::device::{Drive, MountPoint, ScanError, Signature, Volume};
use crate::writer;

/// A mapping this helper opened.
#[derive(Debug)]
struct Opened {
    mapping: String,
}

/// What the helper did, so that it undoes exactly that.
#[derive(Debug)]
pub struct Helper {
    owner: Owner,
    drives: Vec<Drive>,
    opened: BTreeMap<String, Opened>,
    mounts: BTreeMap<String, MountPoint>,
    staging: BTreeMap<PathBuf, String>,
}

/// Serves requests from `input` until it closes, then cleans up.
pub fn serve(input: &mut impl BufRead, output: &mut impl Write, owner: Owner) {
    let mut helper = Helper::new(owner);
    loop {
        let line = match read_line(input) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                tracing::error!(error = %e, "reading requests failed");
                break;
            }
        };
        let reply = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => helper.handle(request),
            // serde's message may quote the input: never log it.
            Err(_) => Reply::Refused("not a request".into()),
        };
        drop(line);
        let written = serde_json::to_writer(&mut *output, &reply)
            .map_err(io::Error::other)
            .and_then(|()| output.write_all(b"\n"))
            .and_then(|()| output.flush());
        if let Err(e) = written {
            tracing::error!(error = %e, "writing the reply failed");
            break;
        }
    }
    helper.clean_up();
}

/// One request line, in a zeroized buffer (it may hold the passphrase);
/// `None` at end of input. A line longer than [`MAX_REQUEST_BYTES`] is an error.
fn read_line(input: &mut impl BufRead) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_REQUEST_BYTES + 1));
    let limit = u64::try_from(MAX_REQUEST_BYTES + 1).unwrap_or(u64::MAX);
    input.take(limit).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.len() > MAX_REQUEST_BYTES {
        return Err(io::Error::other("request too long"));
    }
    Ok(Some(line))
}

impl Helper {
    pub fn new(owner: Owner) -> Helper {
        Helper {
            owner,
            drives: Vec::new(),
            opened: BTreeMap::new(),
            mounts: BTreeMap::new(),
            staging: BTreeMap::new(),
        }
    }

    /// Answers one request.
    pub fn handle(&mut self, request: Request) -> Reply {
        let name = request_name(&request);
        tracing::info!(request = name, "request");
        let reply = match request {
            Request::Scan => match self.rescan() {
                Ok(()) => Reply::Drives(self.drives.clone()),
                Err(e) => Reply::ScanFailed(e),
            },
            Request::Unlock { volume, passphrase } => {
                let passphrase = Passphrase::new(passphrase.as_str().to_owned());
                self.checked(&volume, |h| h.unlock(&volume, &passphrase))
            }
            Request::Mount { volume } => self.checked(&volume, |h| h.mount(&volume)),
            Request::CreateStaging { volume, timestamp } => {
                if !is_timestamp(&timestamp) {
                    return Reply::Refused("not a timestamp".into());
                }
                self.checked(&volume, |h| h.create_staging(&volume, &timestamp))
            }
            Request::Publish {
                volume,
                staging,
                timestamp,
            } => {
                if !is_timestamp(&timestamp) {
                    return Reply::Refused("not a timestamp".into());
                }
                self.checked(&volume, |h| h.publish(&volume, &staging, &timestamp))
            }
            Request::Discard { volume, staging } => {
                self.checked(&volume, |h| h.discard(&volume, &staging))
            }
            Request::Unmount { volume } => self.checked(&volume, |h| h.unmount(&volume)),
            Request::Lock { volume } => self.checked(&volume, |h| h.lock(&volume)),
        };
        match &reply {
            Reply::Failed(error) => tracing::warn!(request = name, %error, "failed"),
            Reply::ScanFailed(error) => tracing::warn!(request = name, %error, "failed"),
            _ => {}
        }
        reply
    }

    fn checked(
        &mut self,
        volume: &str,
        action: impl FnOnce(&mut Helper) -> Result<Reply, Refusal>,
    ) -> Reply {
        if !is_kernel_name(volume) {
            return Reply::Refused("not a kernel device name".into());
        }
        match action(self) {
            Ok(reply) => reply,
            Err(Refusal::Failed(e)) => Reply::Failed(e),
            Err(Refusal::Refused(why)) => {
                tracing::warn!(volume, why, "refused");
                Reply::Refused(why.into())
            }
        }
    }

    fn rescan(&mut self) -> Result<(), ScanError> {
        self.drives = udev::scan()?;
        Ok(())
    }

    /// The volume as the helper's own fresh scan sees it.
    fn usb_volume(&mut self, volume: &str) -> Result<Volume, Refusal> {
        self.rescan().map_err(|e| {
            Refusal::Failed(VolumeError::Unlock {
                device: PathBuf::from("/dev").join(volume),
                reason: e.to_string(),
            })
        })?;
        self.drives
            .iter()
            .flat_map(|d| d.volumes.iter())
            .find(|v| v.name == volume)
            .cloned()
            .ok_or(Refusal::Refused("no such volume on the USB bus"))
    }

    fn unlock(&mut self, volume: &str, passphrase: &Passphrase) -> Result<Reply, Refusal> {
        let found = self.usb_volume(volume)?;
        if found.mapping.is_some() || self.opened.contains_key(volume) {
            return Err(Refusal::Refused("the volume is already unlocked"));
        }
        if !matches!(found.signature, Signature::Luks | Signature::Random) {
            return Err(Refusal::Refused("not an encrypted volume"));
        }
        let mapping = crypt::mapping_name(volume);
        crypt::open(&found, &mapping, passphrase)?;
        tracing::info!(device = ?found.devnode, %mapping, "unlocked");
        self.opened.insert(volume.to_owned(), Opened { mapping });
        Ok(Reply::Done)
    }

    fn mount(&mut self, volume: &str) -> Result<Reply, Refusal> {
        if let Some(mount) = self.mounts.get(volume) {
            return Ok(Reply::Mounted(mount.clone()));
        }
        let (devnode, existing) = match self.opened.get(volume) {
            Some(opened) => (Path::new("/dev/mapper").join(&opened.mapping), None),
            None => {
                let found = self.usb_volume(volume)?;
                let mapping = found
                    .mapping
                    .ok_or(Refusal::Refused("the volume is not unlocked"))?;
                (mapping.devnode, mapping.mount_point)
            }
        };
        let filesystem = mount::recognise(&devnode)?;
        let mount = match existing {
            Some(path) => MountPoint {
                path,
                filesystem,
                mounted_by_us: false,
            },
            None => MountPoint {
                path: mount_ours(&devnode, filesystem, self.owner)?,
                filesystem,
                mounted_by_us: true,
            },
        };
        tracing::info!(?devnode, ?mount, "mounted");
        self.mounts.insert(volume.to_owned(), mount.clone());
        Ok(Reply::Mounted(mount))
    }

    fn mounted(&self, volume: &str) -> Result<&MountPoint, Refusal> {
        self.mounts
            .get(volume)
            .ok_or(Refusal::Refused("the volume is not mounted"))
    }

    fn create_staging(&mut self, volume: &str, timestamp: &str) -> Result<Reply, Refusal> {
        let mount = self.mounted(volume)?.clone();
        let staging = writer::create_staging_in(&mount.path, timestamp).map_err(folder_error)?;
        self.staging.insert(staging.clone(), volume.to_owned());
        let owner = self.owner;
        let chown = nix::unistd::chown(
            &staging,
            Some(nix::unistd::Uid::from_raw(owner.uid)),
            Some(nix::unistd::Gid::from_raw(owner.gid)),
        );
        match chown {
            Ok(()) => {}
            // FAT and exFAT have no owners: the mount options gave them to the caller.
            Err(_) if !mount.filesystem.has_owners() => {}
            Err(e) => return Err(folder_error(e.into())),
        }
        Ok(Reply::Path(staging))
    }

    fn own_staging(&self, volume: &str, staging: &Path) -> Result<(), Refusal> {
        match self.staging.get(staging) {
            Some(owner) if owner == volume => Ok(()),
            _ => Err(Refusal::Refused("not a staging folder of this export")),
        }
    }

    fn publish(&mut self, volume: &str, staging: &Path, timestamp: &str) -> Result<Reply, Refusal> {
        self.own_staging(volume, staging)?;
        let root = self.mounted(volume)?.path.clone();
        let folder = writer::publish_in(&root, staging, timestamp).map_err(folder_error)?;
        self.staging.remove(staging);
        Ok(Reply::Path(folder))
    }

    fn discard(&mut self, volume: &str, staging: &Path) -> Result<Reply, Refusal> {
        self.own_staging(volume, staging)?;
        fs::remove_dir_all(staging).map_err(folder_error)?;
        self.staging.remove(staging);
        Ok(Reply::Done)
    }

    fn unmount(&mut self, volume: &str) -> Result<Reply, Refusal> {
        let Some(mount) = self.mounts.remove(volume) else {
            return Ok(Reply::Done);
        };
        if mount.mounted_by_us {
            if let Err(e) = mount::unmount_private(&mount.path) {
                // Still mounted: detach so that no mount outlives the export.
                mount::detach(&mount.path);
                return Err(e.into());
            }
        } else {
            mount::sync(&mount.path)?;
        }
        Ok(Reply::Done)
    }

    /// Unmounts every mount of our mapping (a desktop automounter may have
    /// mounted it too), then closes it.
    fn lock(&mut self, volume: &str) -> Result<Reply, Refusal> {
        let Some(opened) = self.opened.get(volume) else {
            return Ok(Reply::Done);
        };
        let mapping = opened.mapping.clone();
        unmount_others(&Path::new("/dev/mapper").join(&mapping))?;
        crypt::close(&mapping)?;
        // Forgotten only once closed: a failure is retried at clean-up.
        self.opened.remove(volume);
        tracing::info!(%mapping, "locked");
        Ok(Reply::Done)
    }

    /// Undoes what is left: removes unpublished staging folders, unmounts
    /// what it mounted, locks what it unlocked. Run when stdin closes.
    pub fn clean_up(&mut self) {
        for (staging, _) in std::mem::take(&mut self.staging) {
            if let Err(e) = fs::remove_dir_all(&staging) {
                tracing::error!(?staging, error = %e, "could not remove a staging folder");
            }
        }
        let volumes: Vec<String> = self.mounts.keys().cloned().collect();
        for volume in volumes {
            if let Err(e) = self.unmount(&volume) {
                tracing::error!(volume, error = ?e, "clean-up: could not unmount");
            }
        }
        let volumes: Vec<String> = self.opened.keys().cloned().collect();
        for volume in volumes {
            if let Err(e) = self.lock(&volume) {
                tracing::error!(volume, error = ?e, "clean-up: could not lock");
            }
        }
    }
}

/// Mounts our own mapping. Someone else may have mounted it first (a desktop
/// automounter), or do so while we try: a second mount could not be
/// read-write (EBUSY), so theirs is unmounted first, and again a few times
/// while the device stays busy.
fn mount_ours(
    devnode: &Path,
    filesystem: crate::filesystem::Filesystem,
    owner: Owner,
) -> Result<PathBuf, VolumeError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 0;
    loop {
        unmount_others(devnode)?;
        match mount::mount_private(devnode, filesystem, owner) {
            Ok(path) => return Ok(path),
            Err(e) if attempt + 1 < ATTEMPTS && mount::is_busy(&e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "our mapping was mounted by someone else meanwhile; again");
                std::thread::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The mount points of a device node, from `/proc/self/mountinfo`.
fn mounts_of(devnode: &Path) -> Vec<PathBuf> {
    let Ok(meta) = fs::metadata(devnode) else {
        return Vec::new();
    };
    let rdev = meta.rdev();
    let dev = format!(
        "{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    udev::all_mounts_of(&dev)
}

/// Unmounts every mount of a mapping we opened that we did not make
/// ourselves (an automounter's), so that it can be mounted or closed.
fn unmount_others(devnode: &Path) -> Result<(), VolumeError> {
    for mount_point in mounts_of(devnode) {
        tracing::warn!(?mount_point, "unmounting another mount of our mapping");
        mount::unmount(&mount_point)?;
    }
    Ok(())
}

/// Why a request was not done: it failed, or it was not allowed.
#[derive(Debug)]
enum Refusal {
    Failed(VolumeError),
    Refused(&'static str),
}

impl From<VolumeError> for Refusal {
    fn from(e: VolumeError) -> Refusal {
        Refusal::Failed(e)
    }
}

fn folder_error(e: io::Error) -> Refusal {
    Refusal::Failed(VolumeError::ExportFolder {
        reason: e.to_string(),
    })
}

fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Scan => "scan",
        Request::Unlock { .. } => "unlock",
        Request::Mount { .. } => "mount",
        Request::CreateStaging { .. } => "create-staging",
        Request::Publish { .. } => "publish",
        Request::Discard { .. } => "discard",
        Request::Unmount { .. } => "unmount",
        Request::Lock { .. } => "lock",
    }
}

/// Who asked: `SUDO_UID`/`SUDO_GID` when run through sudo (sudo sets them and
/// the sudoers rule allows no environment of the caller's), else our own ids.
pub fn caller() -> Owner {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let root = nix::unistd::geteuid().is_root();
    match (root, from_env("SUDO_UID"), from_env("SUDO_GID")) {
        (true, Some(uid), Some(gid)) => Owner { uid, gid },
        _ => Owner {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        }
    }

    fn ask(lines: &str) -> Vec<serde_json::Value> {
        let mut output = Vec::new();
        serve(&mut lines.as_bytes(), &mut output, owner());
        output
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn refuses_what_is_not_a_request_and_names_no_input() {
        let replies = ask("{\"op\":\"format\",\"volume\":\"sda\"}\nnot json secret\n");
        assert_eq!(replies.len(), 2);
        for reply in &replies {
            assert_eq!(reply["refused"], "not a request", "{reply}");
        }
    }

    #[test]
    fn refuses_paths_and_names_that_are_not_kernel_names() {
        let replies = ask(concat!(
            "{\"op\":\"mount\",\"volume\":\"../../dev/sda\"}\n",
            "{\"op\":\"lock\",\"volume\":\"sda/1\"}\n",
            "{\"op\":\"create-staging\",\"volume\":\"sdb\",\"timestamp\":\"../x\"}\n",
        ));
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[0]["refused"], "not a kernel device name");
        assert_eq!(replies[1]["refused"], "not a kernel device name");
        assert_eq!(replies[2]["refused"], "not a timestamp");
    }

    #[test]
    fn touches_only_what_it_made_and_mounted() {
        let replies = ask(concat!(
            "{\"op\":\"create-staging\",\"volume\":\"sdb\",\"timestamp\":\"20261129-101010\"}\n",
            "{\"op\":\"discard\",\"volume\":\"sdb\",\"staging\":\"/etc\"}\n",
            "{\"op\":\"publish\",\"volume\":\"sdb\",\"staging\":\"/home\",\"timestamp\":\"20261129-101010\"}\n",
            "{\"op\":\"unlock\",\"volume\":\"sdzz\",\"passphrase\":\"x\"}\n",
            "{\"op\":\"unmount\",\"volume\":\"sdb\"}\n",
            "{\"op\":\"lock\",\"volume\":\"sdb\"}\n",
        ));
        assert_eq!(replies[0]["refused"], "the volume is not mounted");
        assert_eq!(replies[1]["refused"], "not a staging folder of this export");
        assert_eq!(replies[2]["refused"], "not a staging folder of this export");
        assert_eq!(replies[3]["refused"], "no such volume on the USB bus");
        assert_eq!(replies[4], "done", "nothing of ours to unmount");
        assert_eq!(replies[5], "done", "nothing of ours to lock");
        assert!(Path::new("/etc").is_dir());
    }

    #[test]
    fn a_request_longer_than_the_limit_ends_the_session() {
        let long = format!(
            "{{\"op\":\"scan\",\"pad\":\"{}\"}}\n",
            "x".repeat(MAX_REQUEST_BYTES)
        );
        assert!(ask(&long).is_empty());
    }

    #[test]
    fn scans_this_machine_without_failing() {
        let replies = ask("{\"op\":\"scan\"}\n");
        assert!(replies[0].get("drives").is_some(), "{}", replies[0]);
    }
}
