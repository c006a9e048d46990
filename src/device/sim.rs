//! Simulated drives, for tests (stratisd's sim engine): [`SimDevices`] keeps
//! each drive's volumes as folders under one directory, with passphrases and
//! switches that make a step fail, and records what it unlocked and mounted in
//! `state.json` beside them, so a test sees whether an export left the drive
//! locked. Chosen only explicitly (`sdw-devices --sim DIR ...`), never from
//! the environment. The writer writes into the volume folders for real.
//!
//! `DIR/drives.json`:
//! ```json
//! {"drives": [{"name": "sdb", "serial": "S1", "volumes": [
//!     {"name": "sdb1", "kind": "luks", "passphrase": "pass", "filesystem": "vfat",
//!      "unlocked_by_hand": false, "mounted_by_hand": false}]}],
//!  "faults": {"unlock": "reason", "mount": "reason", "unmount_busy": true,
//!             "lock": "reason", "publish": "reason"}}
//! ```
//! `kind` is `luks`, `veracrypt`, `plain` or `blank`; a volume's files live in
//! `DIR/volumes/NAME/`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;
use serde::{Deserialize, Serialize};

use crate::device::real::crypt::mapping_name;
use crate::device::VolumeError;
use crate::device::{Devices, Drive, Mapping, MountPoint, ScanError, Signature, Volume};
use crate::filesystem::Filesystem;
use crate::writer;

/// The simulated drives of one directory.
#[derive(Debug)]
pub struct SimDevices {
    dir: PathBuf,
    config: SimConfig,
    state: SimState,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimConfig {
    #[serde(default)]
    drives: Vec<SimDrive>,
    #[serde(default)]
    faults: SimFaults,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimDrive {
    name: String,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    volumes: Vec<SimVolume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimVolume {
    name: String,
    kind: SimKind,
    #[serde(default)]
    passphrase: String,
    filesystem: Filesystem,
    #[serde(default)]
    unlocked_by_hand: bool,
    #[serde(default)]
    mounted_by_hand: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SimKind {
    Luks,
    Veracrypt,
    Plain,
    Blank,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimFaults {
    unlock: Option<String>,
    mount: Option<String>,
    #[serde(default)]
    unmount_busy: bool,
    lock: Option<String>,
    publish: Option<String>,
}

/// What the simulator has done, as `DIR/state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SimState {
    /// Volumes this simulator unlocked and has not locked again.
    pub unlocked: BTreeSet<String>,
    /// Volumes this simulator mounted and has not unmounted again.
    pub mounted: BTreeSet<String>,
}

impl SimDevices {
    /// Reads `DIR/drives.json` (absent: no drive) and `DIR/state.json`.
    pub fn open(dir: &Path) -> Result<SimDevices, ScanError> {
        let read = |name: &str| fs::read(dir.join(name)).ok();
        let config = match read("drives.json") {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ScanError::Read {
                path: dir.join("drives.json"),
                reason: e.to_string(),
            })?,
            None => SimConfig::default(),
        };
        let state = read("state.json")
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Ok(SimDevices {
            dir: dir.to_owned(),
            config,
            state,
        })
    }

    /// The state a finished run left in `dir`.
    pub fn state_of(dir: &Path) -> SimState {
        fs::read(dir.join("state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self) {
        if let Ok(json) = serde_json::to_vec_pretty(&self.state) {
            if let Err(e) = fs::write(self.dir.join("state.json"), json) {
                tracing::error!(error = %e, "sim: could not save the state");
            }
        }
    }

    fn volume(&self, name: &str) -> Option<&SimVolume> {
        self.config
            .drives
            .iter()
            .flat_map(|d| d.volumes.iter())
            .find(|v| v.name == name)
    }

    fn folder(&self, name: &str) -> PathBuf {
        self.dir.join("volumes").join(name)
    }

    fn is_unlocked(&self, volume: &SimVolume) -> bool {
        volume.unlocked_by_hand || self.state.unlocked.contains(&volume.name)
    }

    fn mounted_root(&self, volume: &str) -> Result<PathBuf, VolumeError> {
        let v = self
            .volume(volume)
            .ok_or_else(|| VolumeError::ExportFolder {
                reason: format!("sim: no volume {volume}"),
            })?;
        if v.mounted_by_hand || self.state.mounted.contains(volume) {
            Ok(self.folder(volume))
        } else {
            Err(VolumeError::ExportFolder {
                reason: format!("sim: {volume} is not mounted"),
            })
        }
    }
}

fn folder_error(e: std::io::Error) -> VolumeError {
    VolumeError::ExportFolder {
        reason: e.to_string(),
    }
}

impl Devices for SimDevices {
    fn scan(&mut self) -> Result<Vec<Drive>, ScanError> {
        Ok(self
            .config
            .drives
            .iter()
            .map(|drive| Drive {
                name: drive.name.clone(),
                serial: drive.serial.clone(),
                volumes: drive
                    .volumes
                    .iter()
                    .map(|v| Volume {
                        name: v.name.clone(),
                        devnode: self.dir.join("dev").join(&v.name),
                        signature: match v.kind {
                            SimKind::Luks => Signature::Luks,
                            SimKind::Veracrypt => Signature::Random,
                            SimKind::Plain => Signature::Other("ext4".into()),
                            SimKind::Blank => Signature::Blank,
                        },
                        mapping: self.is_unlocked(v).then(|| Mapping {
                            name: mapping_name(&v.name),
                            devnode: self.dir.join("dev/mapper").join(mapping_name(&v.name)),
                            mount_point: v.mounted_by_hand.then(|| self.folder(&v.name)),
                        }),
                    })
                    .collect(),
            })
            .collect())
    }

    fn unlock(&mut self, volume: &str, passphrase: &Passphrase) -> Result<(), VolumeError> {
        let device = self.dir.join("dev").join(volume);
        let v = self.volume(volume).ok_or_else(|| VolumeError::Unlock {
            device: device.clone(),
            reason: "sim: no such volume".into(),
        })?;
        if let Some(reason) = &self.config.faults.unlock {
            return Err(VolumeError::Unlock {
                device,
                reason: reason.clone(),
            });
        }
        if !matches!(v.kind, SimKind::Luks | SimKind::Veracrypt)
            || Passphrase::new(v.passphrase.clone()) != *passphrase
        {
            return Err(VolumeError::WrongPassphrase(device));
        }
        self.state.unlocked.insert(volume.to_owned());
        self.save();
        Ok(())
    }

    fn mount(&mut self, volume: &str) -> Result<MountPoint, VolumeError> {
        let device = self.dir.join("dev").join(volume);
        let v = self.volume(volume).ok_or_else(|| VolumeError::Mount {
            device: device.clone(),
            reason: "sim: no such volume".into(),
        })?;
        if !self.is_unlocked(v) {
            return Err(VolumeError::Mount {
                device,
                reason: "sim: locked".into(),
            });
        }
        let (filesystem, by_hand) = (v.filesystem, v.mounted_by_hand);
        if by_hand {
            return Ok(MountPoint {
                path: self.folder(volume),
                filesystem,
                mounted_by_us: false,
            });
        }
        if let Some(reason) = &self.config.faults.mount {
            return Err(VolumeError::Mount {
                device,
                reason: reason.clone(),
            });
        }
        let path = self.folder(volume);
        fs::create_dir_all(&path).map_err(|e| VolumeError::Mount {
            device,
            reason: e.to_string(),
        })?;
        self.state.mounted.insert(volume.to_owned());
        self.save();
        Ok(MountPoint {
            path,
            filesystem,
            mounted_by_us: true,
        })
    }

    fn create_staging(&mut self, volume: &str, timestamp: &str) -> Result<PathBuf, VolumeError> {
        writer::create_staging_in(&self.mounted_root(volume)?, timestamp).map_err(folder_error)
    }

    fn publish(
        &mut self,
        volume: &str,
        staging: &Path,
        timestamp: &str,
    ) -> Result<PathBuf, VolumeError> {
        let root = self.mounted_root(volume)?;
        if let Some(reason) = &self.config.faults.publish {
            return Err(VolumeError::ExportFolder {
                reason: reason.clone(),
            });
        }
        writer::publish_in(&root, staging, timestamp).map_err(folder_error)
    }

    fn discard(&mut self, volume: &str, staging: &Path) -> Result<(), VolumeError> {
        if !staging.starts_with(self.mounted_root(volume)?) {
            return Err(VolumeError::ExportFolder {
                reason: "sim: not a staging folder of this volume".into(),
            });
        }
        fs::remove_dir_all(staging).map_err(folder_error)
    }

    fn unmount(&mut self, volume: &str) -> Result<(), VolumeError> {
        if !self.state.mounted.contains(volume) {
            return Ok(());
        }
        if self.config.faults.unmount_busy {
            return Err(VolumeError::UnmountBusy(self.folder(volume)));
        }
        self.state.mounted.remove(volume);
        self.save();
        Ok(())
    }

    fn lock(&mut self, volume: &str) -> Result<(), VolumeError> {
        if !self.state.unlocked.contains(volume) {
            return Ok(());
        }
        if let Some(reason) = &self.config.faults.lock {
            return Err(VolumeError::Lock {
                mapping: mapping_name(volume),
                reason: reason.clone(),
            });
        }
        if self.state.mounted.contains(volume) {
            return Err(VolumeError::Lock {
                mapping: mapping_name(volume),
                reason: "sim: still mounted".into(),
            });
        }
        self.state.unlocked.remove(volume);
        self.save();
        Ok(())
    }
}
