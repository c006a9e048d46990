//! An export volume's life: locked -> [`Unlocked`] -> [`Mounted`], each state
//! a value, each undo a guard, all through the [`Devices`] seam. Dropping a
//! `Mounted` unmounts it; dropping an `Unlocked` locks it, so an error anywhere
//! still leaves the drive locked. The explicit [`Mounted::unmount`] and
//! [`Unlocked::lock`] report what failed, which a drop cannot. What we did not
//! do, we do not undo: the [`Devices`] implementation remembers what it opened
//! and mounted, and leaves a volume the user had unlocked or mounted by hand
//! as it was found.
//!
//! A [`Mounted`] volume is also the [`ExportRoot`] the writer publishes into.

use std::io;
use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;

pub use crate::device::VolumeError;
use crate::device::{Devices, MountPoint};
pub use crate::filesystem::Filesystem;
use crate::writer::ExportRoot;

/// An unlocked volume (by us or by hand); locked again on drop if we unlocked it.
pub struct Unlocked<'d> {
    devices: &'d mut dyn Devices,
    volume: String,
    released: bool,
}

/// A mounted unlocked volume; unmounted on drop if we mounted it. The volume
/// is then dropped too, and so locked.
pub struct Mounted<'d> {
    /// Always `Some` until [`Mounted::unmount`] hands it back.
    unlocked: Option<Unlocked<'d>>,
    mount: MountPoint,
}

impl<'d> Unlocked<'d> {
    /// Unlocks a locked volume with the passphrase: LUKS by its header; a
    /// volume without signature as VeraCrypt, then TrueCrypt.
    pub fn unlock(
        devices: &'d mut dyn Devices,
        volume: &str,
        passphrase: &Passphrase,
    ) -> Result<Unlocked<'d>, VolumeError> {
        devices.unlock(volume, passphrase)?;
        tracing::info!(volume, "unlocked");
        Ok(Unlocked {
            devices,
            volume: volume.to_owned(),
            released: false,
        })
    }

    /// A volume the user unlocked by hand (possibly mounted): it stays open.
    pub fn found(devices: &'d mut dyn Devices, volume: &str) -> Unlocked<'d> {
        Unlocked {
            devices,
            volume: volume.to_owned(),
            released: false,
        }
    }

    /// Mounts the unlocked file system, or finds where it is mounted.
    pub fn mount(self) -> Result<Mounted<'d>, VolumeError> {
        let mount = self.devices.mount(&self.volume)?;
        tracing::info!(volume = %self.volume, ?mount, "mounted");
        Ok(Mounted {
            unlocked: Some(self),
            mount,
        })
    }

    /// Locks the volume if we unlocked it.
    pub fn lock(mut self) -> Result<(), VolumeError> {
        self.released = true;
        self.devices.lock(&self.volume)
    }
}

impl Drop for Unlocked<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Err(error) = self.devices.lock(&self.volume) {
            tracing::error!(%error, "could not lock the volume");
        }
    }
}

impl<'d> Mounted<'d> {
    /// Syncs, and unmounts if we mounted it; gives back the unlocked volume.
    /// On failure the volume is still dropped, and so locked if we can.
    pub fn unmount(mut self) -> Result<Unlocked<'d>, VolumeError> {
        let unlocked = self.unlocked.take().ok_or_else(|| VolumeError::Unmount {
            mount_point: self.mount.path.clone(),
            reason: "already released".into(),
        })?;
        unlocked.devices.unmount(&unlocked.volume)?;
        Ok(unlocked)
    }

    fn unlocked(&mut self) -> io::Result<&mut Unlocked<'d>> {
        self.unlocked
            .as_mut()
            .ok_or_else(|| io::Error::other("the volume was already unmounted"))
    }
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if let Some(unlocked) = self.unlocked.as_mut() {
            if let Err(error) = unlocked.devices.unmount(&unlocked.volume) {
                tracing::error!(%error, "could not unmount the volume");
            }
        }
    }
}

/// The writer publishes into the mounted volume through the seam, because the
/// volume's root may belong to root.
impl ExportRoot for Mounted<'_> {
    fn folder(&self) -> &Path {
        &self.mount.path
    }

    fn filesystem(&self) -> Option<Filesystem> {
        Some(self.mount.filesystem)
    }

    fn create_staging(&mut self, timestamp: &str) -> io::Result<PathBuf> {
        let unlocked = self.unlocked()?;
        unlocked
            .devices
            .create_staging(&unlocked.volume, timestamp)
            .map_err(io::Error::other)
    }

    fn publish(&mut self, staging: &Path, timestamp: &str) -> io::Result<PathBuf> {
        let unlocked = self.unlocked()?;
        unlocked
            .devices
            .publish(&unlocked.volume, staging, timestamp)
            .map_err(io::Error::other)
    }

    fn discard(&mut self, staging: &Path) -> io::Result<()> {
        let unlocked = self.unlocked()?;
        unlocked
            .devices
            .discard(&unlocked.volume, staging)
            .map_err(io::Error::other)
    }
}
