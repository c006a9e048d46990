//! The one place where outcomes and errors become status words. Everything
//! below keeps typed errors; only [`Error::status`] picks a word.

use sdw_protocol::{MetadataError, Status};

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
    #[error("`export --to DIR` cannot do {0:?}: it exports disk archives into a folder")]
    NotForAFolder(String),
}

impl Error {
    /// The status word the client is told.
    pub fn status(&self) -> Status {
        match self {
            Error::Archive(e) => archive_status(e),
            Error::Disk(e) => disk_status(e),
            Error::Write(e) => write_status(e),
            Error::Print(e) => print_status(e),
            Error::Logging(_) => Status::ErrorLogging,
            Error::Usage(_) => Status::ErrorGeneric,
            // The request does not fit the invocation: say it was not understood.
            Error::NotForAFolder(_) => Status::ErrorArchiveMetadata,
        }
    }
}

fn archive_status(e: &ArchiveError) -> Status {
    match e {
        ArchiveError::NotFound(_) => Status::ErrorFileNotFound,
        ArchiveError::Metadata(m) => metadata_status(m),
        ArchiveError::MetadataMissing => Status::ErrorMetadataParsing,
        // Stopped by SIGTERM/SIGINT/SIGHUP before any device was touched:
        // nothing about the archive or a device is known to be wrong.
        ArchiveError::Interrupted => Status::ErrorGeneric,
        ArchiveError::Io(_)
        | ArchiveError::Corrupt(_)
        | ArchiveError::Empty
        | ArchiveError::NonUtf8Name(_)
        | ArchiveError::NameTooLong(_)
        | ArchiveError::NameTooDeep(_)
        | ArchiveError::NamesOverBudget
        | ArchiveError::ExtensionTooLarge(_)
        | ArchiveError::TrailingData
        | ArchiveError::NoEndMarker
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

fn metadata_status(e: &MetadataError) -> Status {
    match e {
        MetadataError::TooLarge(_) | MetadataError::NotJsonObject(_) => {
            Status::ErrorMetadataParsing
        }
        MetadataError::MissingDevice
        | MetadataError::UnknownCommand(_)
        | MetadataError::PrintOptions(_)
        | MetadataError::InvalidProgress(_)
        | MetadataError::UnknownRedaction(_) => Status::ErrorArchiveMetadata,
    }
}

fn print_status(e: &PrintError) -> Status {
    match e {
        PrintError::NotFound | PrintError::Usb(_) => Status::ErrorPrinterNotFound,
        PrintError::Multiple(_) => Status::ErrorMultiplePrintersFound,
        PrintError::NoUri(_) | PrintError::Discovery(_) => Status::ErrorPrinterUri,
        PrintError::NotSupported { .. } | PrintError::Table(_) => Status::ErrorPrinterNotSupported,
        PrintError::DriverUnavailable { .. } | PrintError::DriverLookup(_) => {
            Status::ErrorPrinterDriverUnavailable
        }
        PrintError::Install(_) | PrintError::InstallCheck(_) => Status::ErrorPrinterInstall,
        PrintError::Unprintable { .. } => Status::ErrorUnprintableType,
        PrintError::MimetypeUnsupported { .. } => Status::ErrorMimetypeUnsupported,
        PrintError::NothingToPrint
        | PrintError::NotAPrintCommand(_)
        | PrintError::Capabilities(_)
        | PrintError::OptionUnsupported { .. }
        | PrintError::Archive(_)
        | PrintError::Staging(_)
        // Strict redaction refused a file before anything printed.
        | PrintError::Redaction(_)
        | PrintError::Convert { .. }
        | PrintError::Reencode { .. }
        | PrintError::Interrupted
        // The print dialog gave no usable answer.
        | PrintError::Dialog(_)
        // Cancel in the print dialog: a print that did not happen. Both
        // existing clients show ERROR_PRINT as "printing failed" (never as
        // success); docs/printing.md says why this word.
        | PrintError::Cancelled
        | PrintError::Submit { .. }
        | PrintError::Follow { .. }
        | PrintError::JobFailed { .. }
        | PrintError::PrinterStopped { .. }
        | PrintError::Timeout { .. } => Status::ErrorPrint,
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
        | WriteError::Limit(_)
        | WriteError::Interrupted
        // Strict redaction refused a file: nothing was published.
        | WriteError::Redaction(_) => Status::ErrorExport,
    }
}

/// The status of a drive probe in `export --to DIR`, where the folder plays an
/// unlocked, mounted drive: writable when it is a folder, absent otherwise
/// (as the client's folder mode answers).
pub fn folder_probe_status(is_dir: bool) -> Status {
    if is_dir {
        Status::DeviceWritable
    } else {
        Status::NoDeviceDetected
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
            ArchiveError::NameTooDeep("d/d".into()),
            ArchiveError::NamesOverBudget,
            ArchiveError::ExtensionTooLarge(1),
            ArchiveError::TrailingData,
            ArchiveError::NoEndMarker,
            ArchiveError::Corrupt("crc".into()),
        ] {
            assert_eq!(Error::from(e).status(), Status::ErrorExtraction);
        }
    }

    #[test]
    fn an_interrupted_intake_is_a_generic_error() {
        assert_eq!(
            Error::from(ArchiveError::Interrupted).status(),
            Status::ErrorGeneric
        );
    }

    #[test]
    fn export_to_a_folder_refuses_printer_commands_as_not_understood() {
        assert_eq!(
            Error::NotForAFolder("printer".into()).status(),
            Status::ErrorArchiveMetadata
        );
        assert_eq!(folder_probe_status(true), Status::DeviceWritable);
        assert_eq!(folder_probe_status(false), Status::NoDeviceDetected);
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
