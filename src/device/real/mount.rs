//! Mounting an unlocked volume: recognising its filesystem from its first
//! sectors, mounting it `nosuid,nodev,noexec` under a private folder, syncing,
//! unmounting (with a short wait for a busy volume), and removing the folder.
//! Effects: mount(2), umount2(2), syncfs(2), mkdir/rmdir of the mount folder.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::device::VolumeError;
use crate::filesystem::Filesystem;
use crate::filesystem::HEAD_BYTES;

/// Where private mount folders are made. Mode 0711: the unprivileged caller must be able to pass through
/// it to the mount point it was given (the folders themselves have random names and cannot be listed).
const MOUNT_BASE: &str = "/run/sdw-devices";
const UNMOUNT_ATTEMPTS: u32 = 5;

/// Who may write the mounted file system: the uid and gid of the unprivileged
/// process that asked the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Names in UTF-8; on file systems without owners, everything belongs to
/// `owner` and is readable by all.
fn options(filesystem: Filesystem, owner: Owner) -> String {
    let Owner { uid, gid } = owner;
    match filesystem {
        Filesystem::Ext => String::new(),
        Filesystem::Vfat => {
            format!("utf8=1,shortname=mixed,uid={uid},gid={gid},umask=0022")
        }
        Filesystem::Exfat | Filesystem::Ntfs => {
            format!("iocharset=utf8,uid={uid},gid={gid},umask=0022")
        }
    }
}

/// Reads the first bytes of an unlocked device and recognises its file system.
pub fn recognise(device: &Path) -> Result<Filesystem, VolumeError> {
    let failed = |reason: String| VolumeError::Mount {
        device: device.to_owned(),
        reason,
    };
    let mut head = Vec::with_capacity(HEAD_BYTES);
    File::open(device)
        .and_then(|f| f.take(HEAD_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| failed(format!("cannot read the unlocked volume: {e}")))?;
    Filesystem::recognise(&head).ok_or_else(|| failed("no supported filesystem inside".into()))
}

/// Mounts `device` under a new private folder and returns the folder.
pub fn mount_private(
    device: &Path,
    filesystem: Filesystem,
    owner: Owner,
) -> Result<PathBuf, VolumeError> {
    let failed = |reason: String| VolumeError::Mount {
        device: device.to_owned(),
        reason,
    };
    let base = PathBuf::from(MOUNT_BASE);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&base)
        .and_then(|()| fs::set_permissions(&base, fs::Permissions::from_mode(0o711)))
        .map_err(|e| failed(format!("{base:?}: {e}")))?;
    let folder = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(&base)
        .map_err(|e| failed(format!("{base:?}: {e}")))?
        .keep();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(errno) = mount(
        Some(device),
        &folder,
        Some(filesystem.kernel_type()),
        flags,
        Some(options(filesystem, owner).as_str()),
    ) {
        let _ = fs::remove_dir(&folder);
        let busy = if errno == Errno::EBUSY { BUSY_MARK } else { "" };
        return Err(failed(format!(
            "mount as {}: {errno}{busy}",
            filesystem.kernel_type()
        )));
    }
    tracing::info!(?device, ?filesystem, mount_point = ?folder, "mounted");
    Ok(folder)
}

/// Whether a [`mount_private`] failure was the device being busy (EBUSY:
/// mounted elsewhere with other flags, or a mount under way).
pub fn is_busy(error: &VolumeError) -> bool {
    matches!(error, VolumeError::Mount { reason, .. } if reason.ends_with(BUSY_MARK))
}

const BUSY_MARK: &str = " (busy)";

/// Flushes a mounted file system.
pub fn sync(mount_point: &Path) -> Result<(), VolumeError> {
    let unmount_error = |reason: String| VolumeError::Unmount {
        mount_point: mount_point.to_owned(),
        reason,
    };
    let dir = File::open(mount_point).map_err(|e| unmount_error(e.to_string()))?;
    nix::unistd::syncfs(&dir).map_err(|e| unmount_error(format!("syncfs: {e}")))
}

/// Syncs, unmounts (waiting briefly while the volume is busy) and removes the
/// private folder.
pub fn unmount_private(mount_point: &Path) -> Result<(), VolumeError> {
    unmount(mount_point)?;
    // Only an empty folder is removed: never anything on the volume.
    if let Err(e) = fs::remove_dir(mount_point) {
        tracing::warn!(?mount_point, error = %e, "could not remove the mount folder");
    }
    Ok(())
}

/// Syncs and unmounts, waiting briefly while the volume is busy; leaves the
/// folder (someone else's, e.g. an automounter's) where it is.
pub fn unmount(mount_point: &Path) -> Result<(), VolumeError> {
    // A failed sync (a pulled drive) must not keep the volume mounted.
    if let Err(error) = sync(mount_point) {
        tracing::warn!(%error, "sync before unmount failed");
    }
    let mut attempt = 0;
    loop {
        match umount2(mount_point, MntFlags::empty()) {
            Ok(()) => break,
            Err(Errno::EBUSY) if attempt + 1 < UNMOUNT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(Errno::EBUSY) => return Err(VolumeError::UnmountBusy(mount_point.to_owned())),
            Err(errno) => {
                return Err(VolumeError::Unmount {
                    mount_point: mount_point.to_owned(),
                    reason: errno.to_string(),
                })
            }
        }
    }
    tracing::info!(?mount_point, "unmounted");
    Ok(())
}

/// Last resort after a failed unmount: detach the mount lazily.
pub fn detach(mount_point: &Path) {
    match umount2(mount_point, MntFlags::MNT_DETACH) {
        Ok(()) => {
            tracing::warn!(?mount_point, "detached the mount lazily");
            let _ = fs::remove_dir(mount_point);
        }
        Err(e) => tracing::error!(?mount_point, error = %e, "could not detach the mount"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_a_mount_option_only_where_files_have_no_owner() {
        let owner = Owner {
            uid: 1000,
            gid: 1001,
        };
        assert_eq!(options(Filesystem::Ext, owner), "");
        assert_eq!(
            options(Filesystem::Vfat, owner),
            "utf8=1,shortname=mixed,uid=1000,gid=1001,umask=0022"
        );
        assert_eq!(
            options(Filesystem::Exfat, owner),
            "iocharset=utf8,uid=1000,gid=1001,umask=0022"
        );
    }
}
