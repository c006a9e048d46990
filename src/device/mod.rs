//! Which export drive is attached, and in what state: a snapshot of the
//! drives ([`Drive`], copied out of udev and sysfs by [`udev::scan`]) and a
//! pure decision over it ([`classify`] -> [`Probe`]).
//!
//! The decision table (one row per outcome, first match wins):
//!
//! | drives on the USB bus | candidate volumes on the one drive        | probe         | status                    |
//! |-----------------------|-------------------------------------------|---------------|---------------------------|
//! | none                  | –                                         | `NoDevice`    | `NO_DEVICE_DETECTED`      |
//! | two or more           | –                                         | `MultiDevice` | `MULTI_DEVICE_DETECTED`   |
//! | one                   | none, or two or more                      | `Invalid`     | `INVALID_DEVICE_DETECTED` |
//! | one                   | one, with an open dm-crypt mapping        | `Unlocked`    | `DEVICE_WRITABLE`         |
//! | one                   | one, locked                               | `Locked`      | `DEVICE_LOCKED`           |
//! | udev or sysfs failed  | –                                         | (error)       | `DEVICE_ERROR`            |
//!
//! A *volume* is the whole drive when it has no partition table, else each
//! partition. A volume is a *candidate* when it is LUKS (by its magic), when a
//! dm-crypt mapping is open on it (LUKS or VeraCrypt unlocked by hand), or when
//! its first sectors carry no signature and look random: a locked VeraCrypt or
//! TrueCrypt volume looks exactly like that, and only the passphrase can tell.
//! Zero-filled (blank) volumes and plain filesystems are never candidates.
//! An unlocked volume counts as writable whether or not it is mounted yet: the
//! export mounts it without needing the passphrase.
//!
//! Everything an export does to a drive goes through one seam, the [`Devices`]
//! trait (stratisd's engine): [`real::RealDevices`] asks the privileged helper
//! (`sdw-devices-helper`, [`real::helper`]) to scan, unlock, mount, publish,
//! unmount and lock; [`sim::SimDevices`] keeps drives as folders, for tests.

pub mod real;
pub mod sim;

use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;
use serde::{Deserialize, Serialize};

use crate::filesystem::Filesystem;

/// Why a volume could not be unlocked, mounted, unmounted or locked. Crosses
/// the pipe from the privileged helper, so every field is plain data.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum VolumeError {
    #[error("no key slot of {0:?} opens with this passphrase")]
    WrongPassphrase(PathBuf),
    #[error("could not unlock {device:?}: {reason}")]
    Unlock { device: PathBuf, reason: String },
    #[error("could not mount {device:?}: {reason}")]
    Mount { device: PathBuf, reason: String },
    #[error("could not make, publish or remove the export folder: {reason}")]
    ExportFolder { reason: String },
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

/// The drive scan failed: the state of the export drive is unknown.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum ScanError {
    #[error("udev enumeration failed: {0}")]
    Udev(String),
    #[error("could not read {path:?}: {reason}")]
    Read { path: PathBuf, reason: String },
    /// The privileged helper could not be started, or died, or refused.
    #[error("the privileged helper: {0}")]
    Helper(String),
}

/// A mounted export volume: where, which file system, and whether this
/// export mounted it (and so unmounts it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub path: PathBuf,
    pub filesystem: Filesystem,
    pub mounted_by_us: bool,
}

/// Everything an export does to a drive. Volumes are named by the kernel name
/// that [`Devices::scan`] reported (`sdb1`); an implementation remembers what
/// it unlocked and mounted itself, and [`Devices::unmount`] and
/// [`Devices::lock`] undo only that: a volume the user unlocked or mounted by
/// hand is left as it was found (only synced).
///
/// Export folders are made through the seam too, because the mount's root may
/// belong to root: [`Devices::create_staging`] makes a hidden staging folder
/// the caller can write, [`Devices::publish`] renames it to
/// `sd-export-TIMESTAMP` without replacing anything, [`Devices::discard`]
/// removes it. `timestamp` is `YYYYMMDD-HHMMSS`.
pub trait Devices {
    /// The drives on the USB bus, as they are now.
    fn scan(&mut self) -> Result<Vec<Drive>, ScanError>;
    /// Opens a dm-crypt mapping on a locked volume with the passphrase.
    fn unlock(&mut self, volume: &str, passphrase: &Passphrase) -> Result<(), VolumeError>;
    /// Mounts the unlocked volume `nosuid,nodev,noexec`, writable by the
    /// caller, or finds where it is already mounted.
    fn mount(&mut self, volume: &str) -> Result<MountPoint, VolumeError>;
    /// Makes a new hidden staging folder at the root of the mounted volume.
    fn create_staging(&mut self, volume: &str, timestamp: &str) -> Result<PathBuf, VolumeError>;
    /// Renames a staging folder to `sd-export-TIMESTAMP` (or `-1`, `-2`, ...)
    /// and returns the final path.
    fn publish(
        &mut self,
        volume: &str,
        staging: &Path,
        timestamp: &str,
    ) -> Result<PathBuf, VolumeError>;
    /// Removes an unpublished staging folder and everything in it.
    fn discard(&mut self, volume: &str, staging: &Path) -> Result<(), VolumeError>;
    /// Syncs; unmounts if this export mounted it.
    fn unmount(&mut self, volume: &str) -> Result<(), VolumeError>;
    /// Unmounts every mount of the mapping and closes it, if this export
    /// opened it.
    fn lock(&mut self, volume: &str) -> Result<(), VolumeError>;
}

/// One drive on the USB bus, with its volumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drive {
    /// Kernel name, e.g. `sdb`.
    pub name: String,
    pub serial: Option<String>,
    pub volumes: Vec<Volume>,
}

/// A whole unpartitioned drive, or one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Kernel name, e.g. `sdb1`.
    pub name: String,
    pub devnode: PathBuf,
    pub signature: Signature,
    /// An open dm-crypt mapping on this volume, if any.
    pub mapping: Option<Mapping>,
}

/// What the first sectors of a volume say about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signature {
    Luks,
    /// A recognised filesystem or other signature (`ext4`, `vfat`, `swap`, ...).
    Other(String),
    /// No signature, random-looking bytes: possibly VeraCrypt or TrueCrypt.
    Random,
    /// All zeros.
    Blank,
    /// No signature, not random: unusable.
    Unrecognised,
}

/// An open dm-crypt mapping, e.g. `/dev/mapper/luks-…` on `/dev/dm-0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The mapping's name under `/dev/mapper/`.
    pub name: String,
    pub devnode: PathBuf,
    /// Where the unlocked filesystem is mounted, if it is.
    pub mount_point: Option<PathBuf>,
}

/// The state of the export drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    NoDevice,
    MultiDevice,
    Invalid(InvalidReason),
    Locked(Volume),
    Unlocked { volume: Volume, mapping: Mapping },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    NoEncryptedVolume,
    SeveralEncryptedVolumes,
}

impl Volume {
    fn is_candidate(&self) -> bool {
        self.mapping.is_some() || matches!(self.signature, Signature::Luks | Signature::Random)
    }
}

/// Decides the state of the export drive from a snapshot: the table above.
pub fn classify(drives: &[Drive]) -> Probe {
    let drive = match drives {
        [] => return Probe::NoDevice,
        [one] => one,
        _ => return Probe::MultiDevice,
    };
    let mut candidates = drive.volumes.iter().filter(|v| v.is_candidate());
    let (Some(volume), None) = (candidates.next(), candidates.next()) else {
        let reason = if drive.volumes.iter().any(Volume::is_candidate) {
            InvalidReason::SeveralEncryptedVolumes
        } else {
            InvalidReason::NoEncryptedVolume
        };
        return Probe::Invalid(reason);
    };
    match &volume.mapping {
        Some(mapping) => Probe::Unlocked {
            volume: volume.clone(),
            mapping: mapping.clone(),
        },
        None => Probe::Locked(volume.clone()),
    }
}

/// Reads a signature from a volume's first bytes, given what udev's blkid
/// found (`ID_FS_TYPE`), if anything.
pub fn signature_of(first_bytes: &[u8], udev_fs_type: Option<&str>) -> Signature {
    const LUKS_MAGIC: &[u8] = b"LUKS\xba\xbe";
    if first_bytes.starts_with(LUKS_MAGIC) || udev_fs_type == Some("crypto_LUKS") {
        return Signature::Luks;
    }
    if let Some(fs_type) = udev_fs_type.filter(|t| !t.is_empty()) {
        return Signature::Other(fs_type.to_owned());
    }
    if first_bytes.iter().all(|&b| b == 0) {
        return Signature::Blank;
    }
    if looks_random(first_bytes) {
        return Signature::Random;
    }
    Signature::Unrecognised
}

/// Shannon entropy above 7.5 bits per byte over at least 2 KiB: ciphertext
/// gives ~7.95 on 4 KiB, filesystem headers give far less.
fn looks_random(bytes: &[u8]) -> bool {
    if bytes.len() < 2048 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let total = bytes.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / total;
            -p * p.log2()
        })
        .sum();
    entropy > 7.5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, signature: Signature, mapping: Option<Mapping>) -> Volume {
        Volume {
            name: name.into(),
            devnode: format!("/dev/{name}").into(),
            signature,
            mapping,
        }
    }

    fn drive(volumes: Vec<Volume>) -> Drive {
        Drive {
            name: "sdb".into(),
            serial: None,
            volumes,
        }
    }

    fn mapping(mounted: bool) -> Mapping {
        Mapping {
            name: "sd-export".into(),
            devnode: "/dev/dm-0".into(),
            mount_point: mounted.then(|| "/media/x".into()),
        }
    }

    #[test]
    fn no_drive_is_no_device() {
        assert_eq!(classify(&[]), Probe::NoDevice);
    }

    #[test]
    fn two_drives_are_multi_device() {
        let d = drive(vec![volume("sdb", Signature::Luks, None)]);
        assert_eq!(classify(&[d.clone(), d]), Probe::MultiDevice);
    }

    #[test]
    fn one_locked_luks_volume_is_locked() {
        let v = volume("sdb", Signature::Luks, None);
        assert_eq!(classify(&[drive(vec![v.clone()])]), Probe::Locked(v));
    }

    #[test]
    fn one_luks_partition_among_plain_ones_is_locked() {
        let luks = volume("sdb2", Signature::Luks, None);
        let d = drive(vec![
            volume("sdb1", Signature::Other("vfat".into()), None),
            luks.clone(),
        ]);
        assert_eq!(classify(&[d]), Probe::Locked(luks));
    }

    #[test]
    fn random_looking_volume_may_be_veracrypt_and_is_locked() {
        let v = volume("sdb", Signature::Random, None);
        assert_eq!(classify(&[drive(vec![v.clone()])]), Probe::Locked(v));
    }

    #[test]
    fn unencrypted_blank_or_unrecognised_drives_are_invalid() {
        for signature in [
            Signature::Other("ext4".into()),
            Signature::Blank,
            Signature::Unrecognised,
        ] {
            assert_eq!(
                classify(&[drive(vec![volume("sdb", signature, None)])]),
                Probe::Invalid(InvalidReason::NoEncryptedVolume)
            );
        }
        assert_eq!(
            classify(&[drive(vec![])]),
            Probe::Invalid(InvalidReason::NoEncryptedVolume)
        );
    }

    #[test]
    fn two_encrypted_volumes_are_invalid() {
        let d = drive(vec![
            volume("sdb1", Signature::Luks, None),
            volume("sdb2", Signature::Luks, None),
        ]);
        assert_eq!(
            classify(&[d]),
            Probe::Invalid(InvalidReason::SeveralEncryptedVolumes)
        );
    }

    #[test]
    fn an_open_mapping_is_unlocked_mounted_or_not() {
        for mounted in [true, false] {
            let v = volume("sdb1", Signature::Luks, Some(mapping(mounted)));
            assert_eq!(
                classify(&[drive(vec![v.clone()])]),
                Probe::Unlocked {
                    volume: v,
                    mapping: mapping(mounted)
                }
            );
        }
    }

    #[test]
    fn signatures_are_read_from_bytes_and_udev() {
        let mut luks = b"LUKS\xba\xbe\x00\x02".to_vec();
        luks.resize(4096, 0);
        assert_eq!(signature_of(&luks, None), Signature::Luks);
        assert_eq!(
            signature_of(&[0; 4096], Some("crypto_LUKS")),
            Signature::Luks
        );
        assert_eq!(
            signature_of(&[0; 4096], Some("ext4")),
            Signature::Other("ext4".into())
        );
        assert_eq!(signature_of(&[0; 4096], None), Signature::Blank);
        assert_eq!(signature_of(&[0; 4096], Some("")), Signature::Blank);
        let mut text = b"hello world ".repeat(400);
        text.truncate(4096);
        assert_eq!(signature_of(&text, None), Signature::Unrecognised);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let pseudo_random: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        assert_eq!(signature_of(&pseudo_random, None), Signature::Random);
    }
}
