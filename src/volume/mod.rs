//! An export volume's life: [`Locked`] -> [`Unlocked`] -> [`Mounted`], each
//! state a value, each undo a guard. Dropping a `Mounted` unmounts it; dropping
//! an `Unlocked` locks it, so an error anywhere still leaves the drive locked.
//! The explicit [`Mounted::unmount`] and [`Unlocked::lock`] report what
//! failed, which a drop cannot. What we did not do, we do not undo: a volume
//! that the user had unlocked or mounted by hand is left as it was found.
//!
//! [`crypt`] owns libcryptsetup (LUKS, VeraCrypt, TrueCrypt); [`mount`] owns
//! mount(2), umount(2) and filesystem recognition.

pub mod crypt;
pub mod mount;

use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;

use crate::device::{Mapping, Volume};

/// Why a volume could not be unlocked, mounted, unmounted or locked.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no key slot of {0:?} opens with this passphrase")]
    WrongPassphrase(PathBuf),
    #[error("could not unlock {device:?}: {reason}")]
    Unlock { device: PathBuf, reason: String },
    #[error("could not mount {device:?}: {reason}")]
    Mount { device: PathBuf, reason: String },
    #[error("{0:?} is busy and could not be unmounted")]
    UnmountBusy(PathBuf),
    #[error("could not unmount {mount_point:?}: {reason}")]
    Unmount {
        mount_point: PathBuf,
        reason: String,
    },
    #[error("could not lock {mapping:?}: {reason}")]
    Lock { mapping: String, reason: String },
}

/// A locked encrypted volume.
#[derive(Debug)]
pub struct Locked {
    volume: Volume,
}

/// An open dm-crypt mapping; locked again on drop if we opened it.
#[derive(Debug)]
pub struct Unlocked {
    mapping: String,
    devnode: PathBuf,
    mounted_at: Option<PathBuf>,
    opened_by_us: bool,
}

/// A mounted unlocked volume; unmounted on drop if we mounted it. The mapping
/// is dropped (and so locked) after the unmount.
#[derive(Debug)]
pub struct Mounted {
    mount_point: PathBuf,
    mounted_by_us: bool,
    released: bool,
    unlocked: Option<Unlocked>,
}

impl Locked {
    pub fn new(volume: Volume) -> Locked {
        Locked { volume }
    }

    /// Unlocks with the passphrase: LUKS by its header; a volume without
    /// signature as VeraCrypt, then TrueCrypt.
    pub fn unlock(self, passphrase: &Passphrase) -> Result<Unlocked, VolumeError> {
        let mapping = crypt::mapping_name(&self.volume.name);
        crypt::open(&self.volume, &mapping, passphrase)?;
        tracing::info!(device = ?self.volume.devnode, %mapping, "unlocked");
        Ok(Unlocked {
            devnode: Path::new("/dev/mapper").join(&mapping),
            mapping,
            mounted_at: None,
            opened_by_us: true,
        })
    }
}

impl Unlocked {
    /// A mapping the user opened by hand (possibly mounted): it stays open.
    pub fn found(mapping: &Mapping) -> Unlocked {
        Unlocked {
            mapping: mapping.name.clone(),
            devnode: mapping.devnode.clone(),
            mounted_at: mapping.mount_point.clone(),
            opened_by_us: false,
        }
    }

    /// Mounts the unlocked filesystem `nosuid,nodev,noexec` under a private
    /// folder, or uses the existing mount point.
    pub fn mount(mut self) -> Result<Mounted, VolumeError> {
        if let Some(existing) = self.mounted_at.take() {
            tracing::info!(mount_point = ?existing, "writing to the volume where it is already mounted");
            return Ok(Mounted {
                mount_point: existing,
                mounted_by_us: false,
                released: false,
                unlocked: Some(self),
            });
        }
        let mount_point = mount::mount_private(&self.devnode)?;
        Ok(Mounted {
            mount_point,
            mounted_by_us: true,
            released: false,
            unlocked: Some(self),
        })
    }

    /// Closes the mapping if we opened it.
    pub fn lock(mut self) -> Result<(), VolumeError> {
        self.lock_now()
    }

    fn lock_now(&mut self) -> Result<(), VolumeError> {
        if !self.opened_by_us {
            return Ok(());
        }
        self.opened_by_us = false;
        crypt::close(&self.mapping)?;
        tracing::info!(mapping = %self.mapping, "locked");
        Ok(())
    }
}

impl Drop for Unlocked {
    fn drop(&mut self) {
        if let Err(error) = self.lock_now() {
            tracing::error!(%error, "could not lock the volume");
        }
    }
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Syncs and unmounts if we mounted it; gives back the unlocked volume.
    pub fn unmount(mut self) -> Result<Unlocked, VolumeError> {
        self.unmount_now()?;
        self.unlocked.take().ok_or_else(|| VolumeError::Unmount {
            mount_point: self.mount_point.clone(),
            reason: "already released".into(),
        })
    }

    fn unmount_now(&mut self) -> Result<(), VolumeError> {
        if self.released {
            return Ok(());
        }
        if self.mounted_by_us {
            mount::unmount_private(&self.mount_point)?;
        } else {
            mount::sync(&self.mount_point)?;
        }
        self.released = true;
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(error) = self.unmount_now() {
            tracing::error!(%error, "could not unmount the volume");
            if self.mounted_by_us && !self.released {
                // Still mounted: locking would fail and lose nothing; detach so
                // that no mount outlives us, then let the mapping close.
                mount::detach(&self.mount_point);
            }
        }
    }
}
