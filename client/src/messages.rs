//! What to tell a person for every status word: what happened and what to do.
//! A few sentences, no jargon beyond "export drive", "printer" and "device
//! qube". Each says only what the word is known to mean: where one word covers
//! several causes (`ERROR_EXPORT`: a full, failing or too-small drive format, or
//! a stopped export; `ERROR_PRINT`: a document that cannot be opened, such as a
//! password-protected one, or a printer problem), the message names them and
//! points to the log instead of sending the journalist after one of them.

use sdw_protocol::Status;

/// The message for `status`.
pub fn for_status(status: Status) -> &'static str {
    match status {
        Status::ErrorFileNotFound => "The device qube could not find the archive it was sent. Try again; if it keeps failing, contact your administrator.",
        Status::ErrorExtraction => "The device qube refused the archive as malformed. Try again; if it keeps failing, contact your administrator.",
        Status::ErrorMetadataParsing => "The device qube could not read the archive's instructions. Contact your administrator: the client and device qube may not match.",
        Status::ErrorArchiveMetadata => "The device qube did not understand the request. Contact your administrator: the client and device qube may not match.",
        Status::ErrorUsbConfiguration => "The device qube has no USB controller. Contact your administrator to attach one to sd-devices.",
        Status::ErrorLogging => "The device qube could not start its log. Contact your administrator.",
        Status::ErrorGeneric => "The device qube failed unexpectedly. Try again; if it keeps failing, contact your administrator.",
        Status::NoDeviceDetected => "No export drive found. Plug in one encrypted export drive and try again.",
        Status::MultiDeviceDetected => "More than one drive is plugged in. Leave only the export drive plugged in and try again.",
        Status::InvalidDeviceDetected => "The drive is not a supported export drive: it needs exactly one LUKS or VeraCrypt encrypted volume. Use a drive prepared for export.",
        Status::UnknownDeviceDetected => "The drive is not formatted in a way the device qube understands. Use a drive prepared for export.",
        Status::DeviceLocked => "The export drive is ready and locked: its passphrase will be needed.",
        Status::DeviceWritable => "The export drive is ready and already unlocked.",
        Status::DeviceError => "The export drive's state could not be determined. Unplug it, plug it back in and try again.",
        Status::ErrorUnlockLuks => "The passphrase was not accepted. Check it and try again.",
        Status::ErrorUnlockGeneric => "The drive could not be unlocked, and the device qube did not report a wrong passphrase; the reason is in its log (a drive prepared on another computer can need more memory to unlock than the device qube has). Unplug it, plug it back in and try again; if it keeps failing, contact your administrator.",
        Status::ErrorMount => "The drive was unlocked, but its contents could not be opened for writing: it may be write-protected (check for a lock switch) or formatted in a way the device qube cannot write. Unplug it, plug it back in and try again; if it keeps failing, contact your administrator.",
        Status::ErrorExport => "The export did not complete: the files could not all be written to the drive. The reason is in the device qube's log: the drive may be full or failing, a file may be too large for the drive's format, or the export was stopped. If trying again does not help, contact your administrator.",
        Status::ErrorUnmountVolumeBusy => "The files were written, but the drive is still in use and was not locked. Close anything using it, then unplug it safely.",
        Status::ErrorExportCleanup => "The files were written, but the drive could not be cleaned up and locked. Unplug it and plug it back in before using it again.",
        Status::SuccessExport => "The files were exported. You can unplug the drive.",
        Status::ErrorPrinterNotFound => "No printer found. Plug in a supported USB printer, switch it on and try again.",
        Status::ErrorPrinterNotSupported => "This printer is not supported. Use a supported USB printer.",
        Status::ErrorMultiplePrintersFound => "More than one printer is plugged in. Leave only one printer plugged in and try again.",
        Status::ErrorPrinterDriverUnavailable => "The printer's driver is not available in the printing qube. Contact your administrator.",
        Status::ErrorPrinterInstall => "The printer could not be set up. Unplug it, plug it back in and try again.",
        Status::ErrorPrinterUri => "The printer could not be addressed. Unplug it, plug it back in and try again.",
        Status::ErrorPrint => "Printing did not complete. A document protected by a password, or damaged, cannot be printed; otherwise check the printer (paper, power, any error on its display) and try again. The reason is in the printer qube's log; if it keeps failing, contact your administrator.",
        Status::ErrorUnprintableType => "A file could not be printed: audio, video and archive files cannot be. Export such files to a drive instead.",
        Status::ErrorMimetypeUnsupported => "A file could not be printed: its type is not one the printer qube prints (an empty file is not either). Export it to a drive instead.",
        Status::ErrorMimetypeDiscovery => "A file could not be printed: its type could not be determined. Export it to a drive instead.",
        Status::PrinterPreflightSuccess => "The printer is ready.",
        Status::PrinterTestSuccess => "The test page was sent to the printer.",
        Status::PrinterSuccess => "The files were sent to the printer.",
        Status::CalledProcessError => "The device qube could not be reached, or the request could not be prepared. Try again; if it keeps failing, contact your administrator.",
        Status::UnexpectedReturnStatus => "The device qube gave an answer that was not understood. Try again; if it keeps failing, contact your administrator.",
        Status::ErrorMissingFiles => "None of the files to send could be found. Check that they still exist (download them again if needed).",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn words_with_several_causes_name_them_and_point_to_the_log() {
        let export = for_status(Status::ErrorExport);
        for cause in ["full", "failing", "too large", "stopped", "log"] {
            assert!(export.contains(cause), "ERROR_EXPORT: {cause}: {export}");
        }
        let print = for_status(Status::ErrorPrint);
        for cause in ["password", "damaged", "paper", "log"] {
            assert!(print.contains(cause), "ERROR_PRINT: {cause}: {print}");
        }
        let unlock = for_status(Status::ErrorUnlockGeneric);
        assert!(
            unlock.contains("did not report a wrong passphrase"),
            "{unlock}"
        );
        let mount = for_status(Status::ErrorMount);
        assert!(mount.contains("write-protected"), "{mount}");
    }

    #[test]
    fn refused_print_jobs_say_a_file_could_not_be_printed() {
        for status in [
            Status::ErrorUnprintableType,
            Status::ErrorMimetypeUnsupported,
            Status::ErrorMimetypeDiscovery,
        ] {
            assert!(
                for_status(status).starts_with("A file could not be printed"),
                "{status}"
            );
        }
    }

    #[test]
    fn every_status_has_its_own_message_ending_in_a_full_stop() {
        let mut seen = HashSet::new();
        for &status in Status::ALL {
            let message = for_status(status);
            assert!(message.ends_with('.'), "{status}: {message}");
            assert!(seen.insert(message), "{status} shares its message");
        }
    }
}
