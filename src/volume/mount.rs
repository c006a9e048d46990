//! Mounting an unlocked volume: recognising its filesystem from its first
//! sectors, mounting it `nosuid,nodev,noexec` under a private folder, syncing,
//! unmounting (with a short wait for a busy volume), and removing the folder.
//! Effects: mount(2), umount2(2), syncfs(2), mkdir/rmdir of the mount folder.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::VolumeError;

/// Where private mount folders are made, unless `SDW_MOUNT_BASE` says otherwise.
const MOUNT_BASE: &str = "/run/sdw-devices";
const UNMOUNT_ATTEMPTS: u32 = 5;

/// Filesystems an export can be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    Ext,
    Vfat,
    Exfat,
    Ntfs,
}

impl Filesystem {
    /// Recognises the filesystem from the first 4 KiB of the unlocked device.
    pub fn recognise(head: &[u8]) -> Option<Filesystem> {
        let at =
            |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
        if at(1080, &[0x53, 0xef]) {
            Some(Filesystem::Ext)
        } else if at(3, b"EXFAT   ") {
            Some(Filesystem::Exfat)
        } else if at(3, b"NTFS    ") {
            Some(Filesystem::Ntfs)
        } else if at(510, &[0x55, 0xaa])
            && (at(82, b"FAT32   ") || at(54, b"FAT16   ") || at(54, b"FAT12   "))
        {
            Some(Filesystem::Vfat)
        } else {
            None
        }
    }

    fn kernel_type(self) -> &'static str {
        match self {
            Filesystem::Ext => "ext4",
            Filesystem::Vfat => "vfat",
            Filesystem::Exfat => "exfat",
            Filesystem::Ntfs => "ntfs3",
        }
    }

    /// Names in UTF-8, files readable by all on filesystems without modes.
    fn options(self) -> &'static str {
        match self {
            Filesystem::Ext => "",
            Filesystem::Vfat => "utf8=1,shortname=mixed,umask=0022",
            Filesystem::Exfat => "iocharset=utf8,umask=0022",
            Filesystem::Ntfs => "iocharset=utf8,umask=0022",
        }
    }
}

/// Mounts `device` under a new private folder and returns the folder.
pub fn mount_private(device: &Path) -> Result<PathBuf, VolumeError> {
    let failed = |reason: String| VolumeError::Mount {
        device: device.to_owned(),
        reason,
    };
    let mut head = Vec::with_capacity(4096);
    File::open(device)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| failed(format!("cannot read the unlocked volume: {e}")))?;
    let filesystem = Filesystem::recognise(&head)
        .ok_or_else(|| failed("no supported filesystem inside".into()))?;
    let base = std::env::var_os("SDW_MOUNT_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(MOUNT_BASE));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
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
        Some(filesystem.options()),
    ) {
        let _ = fs::remove_dir(&folder);
        return Err(failed(format!(
            "mount as {}: {errno}",
            filesystem.kernel_type()
        )));
    }
    tracing::info!(?device, ?filesystem, mount_point = ?folder, "mounted");
    Ok(folder)
}

/// Flushes a mounted filesystem we did not mount ourselves.
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
    // Only an empty folder is removed: never anything on the volume.
    if let Err(e) = fs::remove_dir(mount_point) {
        tracing::warn!(?mount_point, error = %e, "could not remove the mount folder");
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

    fn with(offset: usize, magic: &[u8]) -> Vec<u8> {
        let mut head = vec![0u8; 4096];
        head[offset..offset + magic.len()].copy_from_slice(magic);
        head
    }

    #[test]
    fn recognises_the_supported_filesystems() {
        assert_eq!(
            Filesystem::recognise(&with(1080, &[0x53, 0xef])),
            Some(Filesystem::Ext)
        );
        assert_eq!(
            Filesystem::recognise(&with(3, b"EXFAT   ")),
            Some(Filesystem::Exfat)
        );
        assert_eq!(
            Filesystem::recognise(&with(3, b"NTFS    ")),
            Some(Filesystem::Ntfs)
        );
        let mut fat32 = with(82, b"FAT32   ");
        fat32[510] = 0x55;
        fat32[511] = 0xaa;
        assert_eq!(Filesystem::recognise(&fat32), Some(Filesystem::Vfat));
    }

    #[test]
    fn refuses_unknown_or_short_heads() {
        assert_eq!(Filesystem::recognise(&[0u8; 4096]), None);
        assert_eq!(Filesystem::recognise(&[0u8; 100]), None);
        assert_eq!(
            Filesystem::recognise(&with(82, b"FAT32   ")),
            None,
            "no boot signature"
        );
    }
}
