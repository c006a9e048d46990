//! What to tell a person for every status word: what happened and what to do.
//! One sentence or two, no jargon beyond "export drive" and "printer".

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
        Status::ErrorUnlockGeneric => "The drive could not be unlocked. Check the passphrase, unplug and replug the drive, and try again.",
        Status::ErrorMount => "The drive was unlocked but could not be opened. Unplug it, plug it back in and try again.",
        Status::ErrorExport => "Writing the files to the drive failed. Check that the drive has enough free space and try again.",
        Status::ErrorUnmountVolumeBusy => "The files were written, but the drive is still in use and was not locked. Close anything using it, then unplug it safely.",
        Status::ErrorExportCleanup => "The files were written, but the drive could not be cleaned up and locked. Unplug it and plug it back in before using it again.",
        Status::SuccessExport => "The files were exported. You can unplug the drive.",
        Status::ErrorPrinterNotFound => "No printer found. Plug in a supported USB printer, switch it on and try again.",
        Status::ErrorPrinterNotSupported => "This printer is not supported. Use a supported USB printer.",
        Status::ErrorMultiplePrintersFound => "More than one printer is plugged in. Leave only one printer plugged in and try again.",
        Status::ErrorPrinterDriverUnavailable => "The printer's driver is not available in the printing qube. Contact your administrator.",
        Status::ErrorPrinterInstall => "The printer could not be set up. Unplug it, plug it back in and try again.",
        Status::ErrorPrinterUri => "The printer could not be addressed. Unplug it, plug it back in and try again.",
        Status::ErrorPrint => "Printing failed. Check the printer (paper, power, errors on its display) and try again.",
        Status::ErrorUnprintableType => "This kind of file cannot be printed (audio, video and archives cannot). Export it to a drive instead.",
        Status::ErrorMimetypeUnsupported => "This file type is not supported for printing. Export it to a drive instead.",
        Status::ErrorMimetypeDiscovery => "The file's type could not be determined, so it was not printed. Export it to a drive instead.",
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
    fn every_status_has_its_own_message_ending_in_a_full_stop() {
        let mut seen = HashSet::new();
        for &status in Status::ALL {
            let message = for_status(status);
            assert!(message.ends_with('.'), "{status}: {message}");
            assert!(seen.insert(message), "{status} shares its message");
        }
    }
}
