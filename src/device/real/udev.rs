//! The real device scan, run by the privileged helper: enumerates block
//! devices with libudev and copies what [`classify`](crate::device::classify)
//! needs into [`Drive`] snapshots, reading sysfs
//! for dm-crypt holders, `/proc/self/mountinfo` for mounts and the first 4 KiB
//! of each volume for its signature. Reads only; changes nothing.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::device::{signature_of, Drive, Mapping, ScanError, Volume};
use crate::text::decode_escapes;

/// How many bytes of a volume are read to judge its signature.
const SNIFF_BYTES: usize = 4096;

/// Kernel name prefixes of the qube's own disks and of virtual devices.
const NOT_EXPORT_DRIVES: &[&str] = &["xvd", "loop", "zram", "dm-", "ram", "sr", "md", "nbd", "vd"];

fn udev_error(e: std::io::Error) -> ScanError {
    ScanError::Udev(e.to_string())
}

/// Enumerates the USB drives attached to this qube.
pub fn scan() -> Result<Vec<Drive>, ScanError> {
    let mounts = mount_points()?;
    let mut enumerator = ::udev::Enumerator::new().map_err(udev_error)?;
    enumerator.match_subsystem("block").map_err(udev_error)?;
    let devices: Vec<::udev::Device> = enumerator.scan_devices().map_err(udev_error)?.collect();
    let mut drives = Vec::new();
    for disk in devices
        .iter()
        .filter(|d| d.devtype().is_some_and(|t| t == "disk"))
    {
        let name = disk.sysname().to_string_lossy().into_owned();
        if NOT_EXPORT_DRIVES
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || !is_usb_storage(disk)
        {
            continue;
        }
        if read_trimmed(&disk.syspath().join("size")).as_deref() == Some("0") {
            tracing::info!(drive = %name, "skipping a USB drive without medium");
            continue;
        }
        let partitions: Vec<&::udev::Device> = devices
            .iter()
            .filter(|p| p.devtype().is_some_and(|t| t == "partition"))
            .filter(|p| {
                p.parent()
                    .is_some_and(|parent| parent.syspath() == disk.syspath())
            })
            .collect();
        let has_table =
            disk.property_value("ID_PART_TABLE_TYPE").is_some() || !partitions.is_empty();
        let mut volumes = Vec::new();
        if has_table {
            for partition in partitions {
                volumes.push(volume_of(partition, &mounts)?);
            }
        } else {
            volumes.push(volume_of(disk, &mounts)?);
        }
        let serial = disk
            .property_value("ID_SERIAL_SHORT")
            .or_else(|| disk.property_value("ID_SERIAL"))
            .map(|s| s.to_string_lossy().into_owned());
        tracing::info!(drive = %name, serial = ?serial, volumes = ?volumes, "found a USB drive");
        drives.push(Drive {
            name,
            serial,
            volumes,
        });
    }
    Ok(drives)
}

/// USB mass storage: udev says `ID_BUS=usb`, or an ancestor is a USB interface
/// of class 08 (mass storage). Works without udevd's database too.
fn is_usb_storage(disk: &::udev::Device) -> bool {
    if disk
        .property_value("ID_BUS")
        .is_some_and(|bus| bus == "usb")
    {
        return true;
    }
    let mut parent = disk.parent();
    while let Some(device) = parent {
        if device.subsystem().is_some_and(|s| s == "usb")
            && device
                .attribute_value("bInterfaceClass")
                .is_some_and(|c| c == "08")
        {
            return true;
        }
        parent = device.parent();
    }
    false
}

fn volume_of(
    device: &::udev::Device,
    mounts: &HashMap<String, PathBuf>,
) -> Result<Volume, ScanError> {
    let name = device.sysname().to_string_lossy().into_owned();
    let devnode = device
        .devnode()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/dev").join(&name));
    let first_bytes = read_head(&devnode)?;
    let fs_type = device
        .property_value("ID_FS_TYPE")
        .map(|t| t.to_string_lossy().into_owned());
    Ok(Volume {
        signature: signature_of(&first_bytes, fs_type.as_deref()),
        mapping: crypt_holder(device.syspath(), mounts),
        name,
        devnode,
    })
}

pub(super) fn read_head(devnode: &Path) -> Result<Vec<u8>, ScanError> {
    let mut buffer = Vec::with_capacity(SNIFF_BYTES);
    File::open(devnode)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut buffer))
        .map_err(|source| ScanError::Read {
            path: devnode.to_owned(),
            reason: source.to_string(),
        })?;
    Ok(buffer)
}

/// The dm-crypt mapping opened on a volume, from `holders/dm-N/dm/{uuid,name}`.
fn crypt_holder(syspath: &Path, mounts: &HashMap<String, PathBuf>) -> Option<Mapping> {
    let holders = fs::read_dir(syspath.join("holders")).ok()?;
    holders.flatten().find_map(|holder| {
        let dm = fs::canonicalize(holder.path()).ok()?;
        let uuid = read_trimmed(&dm.join("dm/uuid"))?;
        if !uuid.starts_with("CRYPT-") {
            return None;
        }
        let name = read_trimmed(&dm.join("dm/name"))?;
        let dev = read_trimmed(&dm.join("dev"))?;
        Some(Mapping {
            devnode: PathBuf::from("/dev").join(holder.file_name()),
            mount_point: mounts.get(&dev).cloned(),
            name,
        })
    })
}

/// `major:minor` -> first mount point, from `/proc/self/mountinfo`.
pub(super) fn mount_points() -> Result<HashMap<String, PathBuf>, ScanError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(path).map_err(|source| ScanError::Read {
        path: path.to_owned(),
        reason: source.to_string(),
    })?;
    Ok(parse_mountinfo(&text))
}

pub(crate) fn parse_mountinfo(text: &str) -> HashMap<String, PathBuf> {
    let mut mounts = HashMap::new();
    for (dev, mount_point) in mountinfo_entries(text) {
        mounts.entry(dev).or_insert(mount_point);
    }
    mounts
}

/// Every `(major:minor, mount point)` of a mountinfo text, in order.
fn mountinfo_entries(text: &str) -> impl Iterator<Item = (String, PathBuf)> + '_ {
    text.lines().filter_map(|line| {
        let mut fields = line.split(' ');
        match (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) {
            (Some(_id), Some(_parent), Some(dev), Some(_root), Some(mount_point)) => Some((
                dev.to_owned(),
                PathBuf::from(decode_escapes(mount_point, b'\\', 3, 8)),
            )),
            _ => None,
        }
    })
}

/// Every mount point of the device `major:minor`, last mounted first.
pub(super) fn all_mounts_of(dev: &str) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = mountinfo_entries(&text)
        .filter(|(d, _)| d == dev)
        .map(|(_, m)| m)
        .collect();
    mounts.reverse();
    mounts
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escaped_spaces() {
        let text = "36 35 98:0 / /mnt1 rw - ext3 /dev/root rw\n\
                    40 35 253:0 / /media/user/My\\040Drive rw,nosuid - ext4 /dev/mapper/x rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(
            mounts.get("253:0"),
            Some(&PathBuf::from("/media/user/My Drive"))
        );
        assert_eq!(mounts.get("98:0"), Some(&PathBuf::from("/mnt1")));
    }

    #[test]
    fn scanning_this_machine_finds_no_usb_drive_and_does_not_fail() {
        // The build machines have no USB drives; the lab tests the other rows.
        let drives = scan().unwrap();
        assert!(drives
            .iter()
            .all(|d| !d.name.starts_with("xvd") && !d.name.starts_with("loop")));
    }
}
