//! Names inside an `.sd-export` archive and on the export drive: the one
//! place they are spelled. The client's archive builder, the device side's
//! reader and writer, and the dev-only test kit (`testkit/`) all use these.

/// The metadata member at the archive root.
pub const METADATA_FILE: &str = "metadata.json";
/// The folder holding the files to export or print.
pub const EXPORT_DATA_DIR: &str = "export_data";
/// The MIME type the device side is registered for.
pub const MIME_TYPE: &str = "application/x-sd-export";
/// The extension of an export archive.
pub const ARCHIVE_EXTENSION: &str = "sd-export";
/// Prefix of the folder a successful export creates at the root of the volume:
/// `sd-export-YYYYMMDD-HHMMSS`.
pub const EXPORT_FOLDER_PREFIX: &str = "sd-export-";
/// The qrexec service the existing client uses to hand over an archive.
pub const QREXEC_OPEN_IN_VM: &str = "qubes.OpenInVM";
/// The program `qubes.OpenInVM` is asked to run in the target qube.
pub const QOPEN_IN_VM: &str = "/usr/lib/qubes/qopen-in-vm";
/// The dedicated qrexec service that receives the archive on stdin.
pub const QREXEC_EXPORT_SERVICE: &str = "securedrop.Export";
/// The qube that exports to USB drives.
pub const DEVICES_QUBE: &str = "sd-devices";
/// The qube that prints.
pub const PRINTERS_QUBE: &str = "sd-printers";
/// The qube of the SecureDrop client, the one caller allowed to send archives.
pub const CLIENT_QUBE: &str = "sd-app";

/// The archive member name of `below` inside [`EXPORT_DATA_DIR`]:
/// `export_data/memo.txt` for `memo.txt`, the folder `export_data/` itself for
/// `""`. Folder members end in `/` (pass `"source/"` for `export_data/source/`).
pub fn export_data_member(below: &str) -> String {
    format!("{EXPORT_DATA_DIR}/{below}")
}

/// The name of the export folder for a local time, e.g. `sd-export-20261126-050312`.
pub fn export_folder_name(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
) -> String {
    format!("{EXPORT_FOLDER_PREFIX}{year:04}{month:02}{day:02}-{hour:02}{min:02}{sec:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_data_members_are_below_the_export_data_folder() {
        assert_eq!(export_data_member(""), "export_data/");
        assert_eq!(export_data_member("source/"), "export_data/source/");
        assert_eq!(
            export_data_member("source/memo.txt"),
            "export_data/source/memo.txt"
        );
    }

    #[test]
    fn export_folder_name_is_zero_padded() {
        assert_eq!(
            export_folder_name(2026, 1, 2, 3, 4, 5),
            "sd-export-20260102-030405"
        );
    }
}
