//! Every status word of the protocol, with its exact string, and the rule for
//! reading one back from the device side's untrusted stderr: the last non-empty
//! line of the whole output ([`StatusReader`], in bounded memory).

use std::fmt;

/// The longest line a reader keeps. A status word is far shorter, so a longer
/// line is remembered only as "too long" (never a word) and its bytes dropped:
/// a reader holds at most two lines of this size, whatever the output.
pub const MAX_STATUS_LINE_BYTES: usize = 4096;

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
            /// Every status word, in the order of the tables of `docs/protocol.md`.
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
    /// The bytes are hostile. The rule (`docs/protocol.md`): only the
    /// last non-empty line of the whole output counts, however many empty lines
    /// follow it (a trailing `\r` is tolerated, so `\r\n` endings work and a
    /// line of only `\r` is empty); it must be valid UTF-8 and exactly one word
    /// that the *device side* may send. Anything else, including empty output,
    /// is [`Status::UnexpectedReturnStatus`]. The same as feeding the output to
    /// a [`StatusReader`] in any number of pieces.
    pub fn from_untrusted_stderr(output: &[u8]) -> Status {
        let mut reader = StatusReader::new();
        reader.push(output);
        reader.status()
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

/// One line of untrusted output, kept up to [`MAX_STATUS_LINE_BYTES`].
#[derive(Debug, Clone, Default)]
struct Line {
    bytes: Vec<u8>,
    /// More than [`MAX_STATUS_LINE_BYTES`] bytes came; `bytes` holds only the start.
    too_long: bool,
}

impl Line {
    fn extend(&mut self, fresh: &[u8]) {
        let room = MAX_STATUS_LINE_BYTES.saturating_sub(self.bytes.len());
        if fresh.len() > room {
            self.too_long = true;
        }
        self.bytes
            .extend_from_slice(fresh.get(..room.min(fresh.len())).unwrap_or_default());
    }

    /// The line without one trailing `\r`.
    fn content(&self) -> &[u8] {
        self.bytes.strip_suffix(b"\r").unwrap_or(&self.bytes)
    }

    fn is_empty(&self) -> bool {
        !self.too_long && self.content().is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.too_long = false;
    }

    fn status(&self) -> Status {
        if self.too_long {
            return Status::UnexpectedReturnStatus;
        }
        std::str::from_utf8(self.content())
            .ok()
            .and_then(Status::from_word)
            .filter(|status| status.origin() == Origin::Device)
            .unwrap_or(Status::UnexpectedReturnStatus)
    }
}

/// Reads the status out of untrusted output as it streams in: keeps the line
/// being read and the last complete non-empty line, each cut at
/// [`MAX_STATUS_LINE_BYTES`], so memory stays bounded however much the device
/// side writes and however many empty lines follow its word. Pieces may split
/// lines anywhere; the answer is [`Status::from_untrusted_stderr`] of all the
/// pieces joined.
///
/// ```
/// use sdw_protocol::{Status, StatusReader};
/// let mut reader = StatusReader::new();
/// reader.push(b"noise\nSUCCESS_EX");
/// reader.push(b"PORT\r\n");
/// reader.push(&[b'\n'; 5000]);
/// assert_eq!(reader.status(), Status::SuccessExport);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StatusReader {
    /// The line being read (no `\n` seen yet).
    current: Line,
    /// The last complete non-empty line.
    last: Option<Line>,
}

impl StatusReader {
    pub fn new() -> Self {
        StatusReader::default()
    }

    /// Reads the next piece of output.
    pub fn push(&mut self, fresh: &[u8]) {
        self.push_lines(fresh, |_| {});
    }

    /// Reads the next piece of output like [`StatusReader::push`], and hands
    /// each line it completes to `on_line` (without its `\n`; a line cut at
    /// [`MAX_STATUS_LINE_BYTES`] is not handed on). For the progress lines
    /// ([`crate::PrintProgress`]) that may come before the status word.
    pub fn push_lines(&mut self, mut fresh: &[u8], mut on_line: impl FnMut(&[u8])) {
        while let Some(end) = fresh.iter().position(|&b| b == b'\n') {
            self.current.extend(fresh.get(..end).unwrap_or_default());
            if !self.current.too_long {
                on_line(&self.current.bytes);
            }
            if !self.current.is_empty() {
                let finished = std::mem::take(&mut self.current);
                let mut spare = self.last.replace(finished).unwrap_or_default();
                spare.clear();
                self.current = spare;
            }
            self.current.clear();
            fresh = fresh.get(end + 1..).unwrap_or_default();
        }
        self.current.extend(fresh);
    }

    /// The status the output read so far gives, were it to end here.
    pub fn status(&self) -> Status {
        if !self.current.is_empty() {
            return self.current.status();
        }
        self.last
            .as_ref()
            .map_or(Status::UnexpectedReturnStatus, Line::status)
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
    fn a_word_followed_by_any_number_of_empty_lines_is_read() {
        for blank in ["\n", "\r\n", "\r\n\n\r\n"] {
            let mut out = b"log noise\nSUCCESS_EXPORT\n".to_vec();
            out.extend_from_slice(blank.repeat(5000).as_bytes());
            assert_eq!(
                Status::from_untrusted_stderr(&out),
                Status::SuccessExport,
                "{blank:?}"
            );
        }
    }

    #[test]
    fn a_word_at_the_end_of_a_long_garbage_line_is_not_believed() {
        // Garbage and a word on one line, then 4,081 newlines: a 4 KiB tail
        // window would start inside that line and see only the word.
        let mut out = vec![b'x'; 100];
        out.extend_from_slice(b"SUCCESS_EXPORT");
        out.extend_from_slice(&[b'\n'; 4081]);
        assert_eq!(
            Status::from_untrusted_stderr(&out),
            Status::UnexpectedReturnStatus
        );
        let mut out = vec![b'x'; 3 * MAX_STATUS_LINE_BYTES];
        out.extend_from_slice(b"PRINTER_SUCCESS\n\n");
        assert_eq!(
            Status::from_untrusted_stderr(&out),
            Status::UnexpectedReturnStatus
        );
    }

    #[test]
    fn a_word_after_huge_output_is_read() {
        let mut out = vec![b'x'; 10 * MAX_STATUS_LINE_BYTES];
        out.extend_from_slice(b"\nPRINTER_SUCCESS\n");
        assert_eq!(Status::from_untrusted_stderr(&out), Status::PrinterSuccess);
    }

    #[test]
    fn the_reader_keeps_at_most_two_capped_lines() {
        let mut reader = StatusReader::new();
        for _ in 0..64 {
            reader.push(&[b'y'; 100_000]);
            reader.push(b"\n");
            reader.push(&[b'z'; 100_000]);
        }
        assert!(reader.current.bytes.capacity() <= 2 * MAX_STATUS_LINE_BYTES);
        let last = reader.last.as_ref().map_or(0, |l| l.bytes.capacity());
        assert!(last <= 2 * MAX_STATUS_LINE_BYTES);
        assert_eq!(reader.status(), Status::UnexpectedReturnStatus);
    }

    /// The rule as `docs/protocol.md` states it, over the whole output, unbounded.
    fn spec_rule(output: &[u8]) -> Status {
        output
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .rfind(|line| !line.is_empty())
            .and_then(|line| std::str::from_utf8(line).ok())
            .and_then(Status::from_word)
            .filter(|status| status.origin() == Origin::Device)
            .unwrap_or(Status::UnexpectedReturnStatus)
    }

    /// Untrusted output: random bytes, runs of empty lines, long lines and
    /// real status words, mixed.
    fn output() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            proptest::sample::select(Status::ALL).prop_map(|s| s.as_str().as_bytes().to_vec()),
            (0usize..6000).prop_map(|n| vec![b'\n'; n]),
            (0usize..3 * MAX_STATUS_LINE_BYTES).prop_map(|n| vec![b'x'; n]),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    #[test]
    fn progress_lines_are_handed_on_and_the_status_is_still_the_last_line() {
        let mut reader = StatusReader::new();
        let mut lines = Vec::new();
        let output = b"PROGRESS 1/2\nPROGRESS 1/2 pages=1\r\n\nPROGRESS 2/2\nPRINTER_SUC";
        for piece in output.chunks(5) {
            reader.push_lines(piece, |line| lines.push(line.to_vec()));
        }
        reader.push_lines(b"CESS\n", |line| lines.push(line.to_vec()));
        assert_eq!(reader.status(), Status::PrinterSuccess);
        let progress: Vec<_> = lines
            .iter()
            .filter_map(|line| crate::PrintProgress::parse(line))
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            progress,
            ["PROGRESS 1/2", "PROGRESS 1/2 pages=1", "PROGRESS 2/2"]
        );
        // A progress line is never a status: ending on one is unexpected.
        assert_eq!(
            Status::from_untrusted_stderr(b"PROGRESS 2/2\n"),
            Status::UnexpectedReturnStatus
        );
        // A line cut for length is not handed on.
        let mut handed = 0;
        let long = vec![b'A'; MAX_STATUS_LINE_BYTES + 1];
        reader.push_lines(&long, |_| handed += 1);
        reader.push_lines(b"\n", |_| handed += 1);
        assert_eq!(handed, 0);
    }

    proptest! {
        #[test]
        fn never_panics_and_only_returns_device_words_or_unexpected(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let status = Status::from_untrusted_stderr(&bytes);
            prop_assert!(status == Status::UnexpectedReturnStatus || status.origin() == Origin::Device);
        }

        #[test]
        fn any_prefix_then_a_word_then_empty_lines_yields_that_word(
            prefix in "[ -~\n]{0,200}",
            idx in 0usize..34,
            blank in prop_oneof![Just("\n"), Just("\r\n")],
            blanks in 0usize..6000,
        ) {
            let status = Status::ALL[idx];
            prop_assume!(status.origin() == Origin::Device);
            let out = format!("{prefix}\n{}{}", status.as_str(), blank.repeat(blanks));
            prop_assert_eq!(Status::from_untrusted_stderr(out.as_bytes()), status);
        }

        #[test]
        fn streaming_in_any_pieces_gives_the_spec_rule_on_the_whole_output(
            bytes in output(),
            cuts in proptest::collection::vec(1usize..9000, 1..8),
        ) {
            let mut reader = StatusReader::new();
            let mut rest = bytes.as_slice();
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, after) = rest.split_at((*cut).min(rest.len()));
                reader.push(piece);
                rest = after;
            }
            let expected = spec_rule(&bytes);
            prop_assert_eq!(reader.status(), expected);
            prop_assert_eq!(Status::from_untrusted_stderr(&bytes), expected);
            prop_assert!(reader.current.bytes.len() <= MAX_STATUS_LINE_BYTES);
        }
    }
}
