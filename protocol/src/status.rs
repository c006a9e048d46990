//! Every status word of the protocol, with its exact string, and the rule for
//! reading one back from the device side's untrusted stderr.

use std::fmt;

/// The most bytes of device-side output a reader needs to keep: a status word is
/// short, so only the tail of a longer output can matter.
pub const MAX_STATUS_OUTPUT_BYTES: usize = 4096;

/// Who may say a status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Sent by the device side in `sd-devices` / `sd-printers`.
    Device,
    /// Made up by the client itself; never accepted from the device side.
    Client,
}

macro_rules! statuses {
    ($($variant:ident = $word:literal, $origin:ident;)+) => {
        /// A status word. `as_str` gives the exact bytes on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Status {
            $($variant,)+
        }

        impl Status {
            /// Every status word, in the order of the specification.
            pub const ALL: &'static [Status] = &[$(Status::$variant,)+];

            /// The exact word on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Status::$variant => $word,)+
                }
            }

            /// Whether the device side or only the client may say this word.
            pub const fn origin(self) -> Origin {
                match self {
                    $(Status::$variant => Origin::$origin,)+
                }
            }

            /// The status for an exact word, or `None` for anything else.
            pub fn from_word(word: &str) -> Option<Status> {
                match word {
                    $($word => Some(Status::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    // General
    ErrorFileNotFound = "ERROR_FILE_NOT_FOUND", Device;
    ErrorExtraction = "ERROR_EXTRACTION", Device;
    ErrorMetadataParsing = "ERROR_METADATA_PARSING", Device;
    ErrorArchiveMetadata = "ERROR_ARCHIVE_METADATA", Device;
    ErrorUsbConfiguration = "ERROR_USB_CONFIGURATION", Device;
    ErrorLogging = "ERROR_LOGGING", Device;
    ErrorGeneric = "ERROR_GENERIC", Device;
    // Disk probe and export
    NoDeviceDetected = "NO_DEVICE_DETECTED", Device;
    MultiDeviceDetected = "MULTI_DEVICE_DETECTED", Device;
    InvalidDeviceDetected = "INVALID_DEVICE_DETECTED", Device;
    UnknownDeviceDetected = "UNKNOWN_DEVICE_DETECTED", Device;
    DeviceLocked = "DEVICE_LOCKED", Device;
    DeviceWritable = "DEVICE_WRITABLE", Device;
    DeviceError = "DEVICE_ERROR", Device;
    ErrorUnlockLuks = "ERROR_UNLOCK_LUKS", Device;
    ErrorUnlockGeneric = "ERROR_UNLOCK_GENERIC", Device;
    ErrorMount = "ERROR_MOUNT", Device;
    ErrorExport = "ERROR_EXPORT", Device;
    ErrorUnmountVolumeBusy = "ERROR_UNMOUNT_VOLUME_BUSY", Device;
    ErrorExportCleanup = "ERROR_EXPORT_CLEANUP", Device;
    SuccessExport = "SUCCESS_EXPORT", Device;
    // Printing
    ErrorPrinterNotFound = "ERROR_PRINTER_NOT_FOUND", Device;
    ErrorPrinterNotSupported = "ERROR_PRINTER_NOT_SUPPORTED", Device;
    ErrorMultiplePrintersFound = "ERROR_MULTIPLE_PRINTERS_FOUND", Device;
    ErrorPrinterDriverUnavailable = "ERROR_PRINTER_DRIVER_UNAVAILABLE", Device;
    ErrorPrinterInstall = "ERROR_PRINTER_INSTALL", Device;
    ErrorPrinterUri = "ERROR_PRINTER_URI", Device;
    ErrorPrint = "ERROR_PRINT", Device;
    ErrorUnprintableType = "ERROR_UNPRINTABLE_TYPE", Device;
    ErrorMimetypeUnsupported = "ERROR_MIMETYPE_UNSUPPORTED", Device;
    ErrorMimetypeDiscovery = "ERROR_MIMETYPE_DISCOVERY", Device;
    PrinterPreflightSuccess = "PRINTER_PREFLIGHT_SUCCESS", Device;
    PrinterTestSuccess = "PRINTER_TEST_SUCCESS", Device;
    PrinterSuccess = "PRINTER_SUCCESS", Device;
    // Client side only
    CalledProcessError = "CALLED_PROCESS_ERROR", Client;
    UnexpectedReturnStatus = "UNEXPECTED_RETURN_STATUS", Client;
    ErrorMissingFiles = "ERROR_MISSING_FILES", Client;
}

impl Status {
    /// Reads the status out of everything the device side wrote on stderr.
    ///
    /// The bytes are hostile. The rule: only the last non-empty line counts
    /// (a trailing `\r` is tolerated); it must be valid UTF-8 and exactly one
    /// word that the *device side* may send. Anything else, including empty
    /// output, is [`Status::UnexpectedReturnStatus`]. Only the last
    /// [`MAX_STATUS_OUTPUT_BYTES`] are looked at, so a caller may keep just that tail.
    pub fn from_untrusted_stderr(output: &[u8]) -> Status {
        let tail_start = output.len().saturating_sub(MAX_STATUS_OUTPUT_BYTES);
        let tail = output.get(tail_start..).unwrap_or_default();
        let last_line = tail
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .rfind(|line| !line.is_empty());
        last_line
            .and_then(|line| std::str::from_utf8(line).ok())
            .and_then(Status::from_word)
            .filter(|status| status.origin() == Origin::Device)
            .unwrap_or(Status::UnexpectedReturnStatus)
    }

    /// True for the words that report a finished, successful operation or a
    /// healthy preflight.
    pub const fn is_success(self) -> bool {
        matches!(
            self,
            Status::SuccessExport
                | Status::DeviceLocked
                | Status::DeviceWritable
                | Status::PrinterPreflightSuccess
                | Status::PrinterTestSuccess
                | Status::PrinterSuccess
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_word_round_trips() {
        for &status in Status::ALL {
            assert_eq!(Status::from_word(status.as_str()), Some(status));
        }
        assert_eq!(Status::ALL.len(), 37);
    }

    #[test]
    fn words_are_the_exact_strings_of_the_spec() {
        let spec = "ERROR_FILE_NOT_FOUND ERROR_EXTRACTION ERROR_METADATA_PARSING ERROR_ARCHIVE_METADATA \
            ERROR_USB_CONFIGURATION ERROR_LOGGING ERROR_GENERIC NO_DEVICE_DETECTED MULTI_DEVICE_DETECTED \
            INVALID_DEVICE_DETECTED UNKNOWN_DEVICE_DETECTED DEVICE_LOCKED DEVICE_WRITABLE DEVICE_ERROR \
            ERROR_UNLOCK_LUKS ERROR_UNLOCK_GENERIC ERROR_MOUNT ERROR_EXPORT ERROR_UNMOUNT_VOLUME_BUSY \
            ERROR_EXPORT_CLEANUP SUCCESS_EXPORT ERROR_PRINTER_NOT_FOUND ERROR_PRINTER_NOT_SUPPORTED \
            ERROR_MULTIPLE_PRINTERS_FOUND ERROR_PRINTER_DRIVER_UNAVAILABLE ERROR_PRINTER_INSTALL \
            ERROR_PRINTER_URI ERROR_PRINT ERROR_UNPRINTABLE_TYPE ERROR_MIMETYPE_UNSUPPORTED \
            ERROR_MIMETYPE_DISCOVERY PRINTER_PREFLIGHT_SUCCESS PRINTER_TEST_SUCCESS PRINTER_SUCCESS \
            CALLED_PROCESS_ERROR UNEXPECTED_RETURN_STATUS ERROR_MISSING_FILES";
        let ours: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(ours, spec.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn takes_the_last_non_empty_line() {
        let out = b"some noise\nDEVICE_LOCKED\n\n\r\n";
        assert_eq!(Status::from_untrusted_stderr(out), Status::DeviceLocked);
        assert_eq!(
            Status::from_untrusted_stderr(b"SUCCESS_EXPORT"),
            Status::SuccessExport
        );
        assert_eq!(
            Status::from_untrusted_stderr(b"SUCCESS_EXPORT\r\n"),
            Status::SuccessExport
        );
    }

    #[test]
    fn rejects_empty_unknown_and_padded_words() {
        for out in [
            &b""[..],
            b"\n\n",
            b"SUCCESS",
            b"success_export",
            b" SUCCESS_EXPORT",
            b"SUCCESS_EXPORT extra",
            b"SUCCESS_EXPORT\nnoise",
            b"\xffSUCCESS_EXPORT",
        ] {
            assert_eq!(
                Status::from_untrusted_stderr(out),
                Status::UnexpectedReturnStatus,
                "{out:?}"
            );
        }
    }

    #[test]
    fn rejects_client_only_words_from_the_device() {
        for word in [
            "CALLED_PROCESS_ERROR",
            "UNEXPECTED_RETURN_STATUS",
            "ERROR_MISSING_FILES",
        ] {
            assert_eq!(
                Status::from_untrusted_stderr(word.as_bytes()),
                Status::UnexpectedReturnStatus
            );
        }
    }

    #[test]
    fn only_the_tail_of_huge_output_is_read() {
        let mut out = vec![b'x'; 10 * MAX_STATUS_OUTPUT_BYTES];
        out.extend_from_slice(b"\nPRINTER_SUCCESS\n");
        assert_eq!(Status::from_untrusted_stderr(&out), Status::PrinterSuccess);
    }

    proptest! {
        #[test]
        fn never_panics_and_only_returns_device_words_or_unexpected(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let status = Status::from_untrusted_stderr(&bytes);
            prop_assert!(status == Status::UnexpectedReturnStatus || status.origin() == Origin::Device);
        }

        #[test]
        fn any_prefix_then_a_word_yields_that_word(prefix in "[ -~\n]{0,200}", idx in 0usize..34) {
            let status = Status::ALL[idx];
            prop_assume!(status.origin() == Origin::Device);
            let out = format!("{prefix}\n{}\n", status.as_str());
            prop_assert_eq!(Status::from_untrusted_stderr(out.as_bytes()), status);
        }
    }
}
