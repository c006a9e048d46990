//! The one place where outcomes and errors become status words. Everything
//! below keeps typed errors; only [`Error::status`] picks a word.

use sdw_protocol::Status;

use crate::archive::ArchiveError;
use crate::device::{InvalidReason, Probe, ScanError};
use crate::disk::DiskError;
use crate::log::LogError;
use crate::print::PrintError;
use crate::volume::VolumeError;
use crate::writer::WriteError;

/// Every way handling an archive can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Print(#[from] PrintError),
    #[error(transparent)]
    Logging(#[from] LogError),
    #[error("usage: {0}")]
    Usage(String),
}

impl Error {
    /// The status word the client is told.
    pub fn status(&self) -> Status {
        match self {
            Error::Archive(e) => archive_status(e),
            Error::Disk(e) => disk_status(e),
            Error::Write(e) => write_status(e),
            Error::Print(e) => e.status(),
            Error::Logging(_) => Status::ErrorLogging,
            Error::Usage(_) => Status::ErrorGeneric,
        }
    }
}

fn archive_status(e: &ArchiveError) -> Status {
    match e {
        ArchiveError::NotFound(_) => Status::ErrorFileNotFound,
        ArchiveError::Metadata(m) => m.status(),
        ArchiveError::MetadataMissing => Status::ErrorMetadataParsing,
        ArchiveError::Io(_)
        | ArchiveError::Corrupt(_)
        | ArchiveError::Empty
        | ArchiveError::NonUtf8Name(_)
        | ArchiveError::NameTooLong(_)
        | ArchiveError::AbsolutePath(_)
        | ArchiveError::ParentDir(_)
        | ArchiveError::ControlCharacter(_)
        | ArchiveError::LinkOutsideRoot(_)
        | ArchiveError::Link(_)
        | ArchiveError::DeviceNode(_)
        | ArchiveError::Fifo(_)
        | ArchiveError::UnsupportedType { .. }
        | ArchiveError::Duplicate(_)
        | ArchiveError::TooManyMembers
        | ArchiveError::MetadataNotRegular
        | ArchiveError::Changed(_) => Status::ErrorExtraction,
    }
}

fn write_status(e: &WriteError) -> Status {
    match e {
        // The archive was validated before writing began; reaching a bad member
        // now means it changed under us: an export error, not an extraction one.
        WriteError::Archive(_)
        | WriteError::NotAFolder(_)
        | WriteError::NotEnoughSpace { .. }
        | WriteError::Statvfs { .. }
        | WriteError::Io { .. }
        | WriteError::VerifyMismatch(_)
        | WriteError::Interrupted => Status::ErrorExport,
    }
}

/// The status of a probe, for `usb-test` / `disk-test`.
pub fn probe_status(probe: &Probe) -> Status {
    match probe {
        Probe::NoDevice => Status::NoDeviceDetected,
        Probe::MultiDevice => Status::MultiDeviceDetected,
        Probe::Invalid(
            InvalidReason::NoEncryptedVolume | InvalidReason::SeveralEncryptedVolumes,
        ) => Status::InvalidDeviceDetected,
        Probe::Locked(_) => Status::DeviceLocked,
        Probe::Unlocked { .. } => Status::DeviceWritable,
    }
}

fn disk_status(e: &DiskError) -> Status {
    match e {
        DiskError::Scan(ScanError::Udev(_) | ScanError::Read { .. } | ScanError::Helper(_)) => {
            Status::DeviceError
        }
        DiskError::NotExportable(probe) => probe_status(probe),
        DiskError::NoPassphrase => Status::DeviceLocked,
        DiskError::Volume(v) => volume_status(v),
        DiskError::Write(w) => write_status(w),
        DiskError::Cleanup {
            cleanup: VolumeError::UnmountBusy(_),
            ..
        } => Status::ErrorUnmountVolumeBusy,
        DiskError::Cleanup { .. } => Status::ErrorExportCleanup,
    }
}

fn volume_status(e: &VolumeError) -> Status {
    match e {
        VolumeError::WrongPassphrase(_) => Status::ErrorUnlockLuks,
        VolumeError::Unlock { .. } => Status::ErrorUnlockGeneric,
        VolumeError::Mount { .. } => Status::ErrorMount,
        VolumeError::ExportFolder { .. } => Status::ErrorExport,
        VolumeError::UnmountBusy(_) => Status::ErrorUnmountVolumeBusy,
        VolumeError::Unmount { .. } | VolumeError::Lock { .. } => Status::ErrorExportCleanup,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::writer::Written;

    #[test]
    fn hostile_archives_are_extraction_errors() {
        for e in [
            ArchiveError::AbsolutePath("/x".into()),
            ArchiveError::ParentDir("../x".into()),
            ArchiveError::LinkOutsideRoot("l".into()),
            ArchiveError::DeviceNode("d".into()),
            ArchiveError::Fifo("f".into()),
            ArchiveError::MetadataNotRegular,
            ArchiveError::Empty,
        ] {
            assert_eq!(Error::from(e).status(), Status::ErrorExtraction);
        }
    }

    #[test]
    fn archive_lookup_and_metadata_errors_have_their_own_words() {
        assert_eq!(
            Error::from(ArchiveError::NotFound(PathBuf::from("/x"))).status(),
            Status::ErrorFileNotFound
        );
        assert_eq!(
            Error::from(ArchiveError::MetadataMissing).status(),
            Status::ErrorMetadataParsing
        );
        let unknown = sdw_protocol::MetadataError::UnknownCommand("x".into());
        assert_eq!(
            Error::from(ArchiveError::Metadata(unknown)).status(),
            Status::ErrorArchiveMetadata
        );
    }

    #[test]
    fn write_failures_are_export_errors() {
        let e = WriteError::NotEnoughSpace {
            needed: 2,
            available: 1,
        };
        assert_eq!(Error::from(e).status(), Status::ErrorExport);
        assert_eq!(
            Error::from(WriteError::Interrupted).status(),
            Status::ErrorExport
        );
    }

    #[test]
    fn unlock_and_mount_failures_have_their_words() {
        let disk = |v| Error::from(DiskError::Volume(v)).status();
        assert_eq!(
            disk(VolumeError::WrongPassphrase("/dev/sdb".into())),
            Status::ErrorUnlockLuks
        );
        assert_eq!(
            disk(VolumeError::Unlock {
                device: "/dev/sdb".into(),
                reason: "ENOMEM".into()
            }),
            Status::ErrorUnlockGeneric
        );
        assert_eq!(
            disk(VolumeError::Mount {
                device: "/dev/dm-0".into(),
                reason: "EINVAL".into()
            }),
            Status::ErrorMount
        );
        assert_eq!(
            Error::from(DiskError::NoPassphrase).status(),
            Status::DeviceLocked
        );
    }

    #[test]
    fn cleanup_failures_after_a_written_export_say_so() {
        let written = || {
            Box::new(Written {
                folder: "/m/sd-export-x".into(),
                files: 1,
                bytes: 1,
            })
        };
        let busy = DiskError::Cleanup {
            written: written(),
            cleanup: VolumeError::UnmountBusy("/m".into()),
        };
        assert_eq!(Error::from(busy).status(), Status::ErrorUnmountVolumeBusy);
        let lock = DiskError::Cleanup {
            written: written(),
            cleanup: VolumeError::Lock {
                mapping: "m".into(),
                reason: "EBUSY".into(),
            },
        };
        assert_eq!(Error::from(lock).status(), Status::ErrorExportCleanup);
    }

    #[test]
    fn a_disk_export_without_a_usable_drive_reports_the_probe() {
        assert_eq!(
            Error::from(DiskError::NotExportable(Box::new(Probe::NoDevice))).status(),
            Status::NoDeviceDetected
        );
        assert_eq!(
            Error::from(DiskError::NotExportable(Box::new(Probe::MultiDevice))).status(),
            Status::MultiDeviceDetected
        );
    }
}
