//! The bytes under the tar reader: the archive file read by position,
//! decompressed, watched for an interrupt on both sides of the decompressor,
//! counted, and capped while the tar reader is between members.
//!
//! The `tar` crate reads GNU long-name and long-link records, PAX extended
//! headers and GNU sparse maps whole, as part of finding the next member.
//! [`Gauge::next_header`] caps what it may read then (the padding of the
//! previous member, the headers, and [`MAX_EXTENSION_BYTES`] of such records),
//! so a hostile record fails after at most that many bytes instead of being
//! read into memory. [`Gauge::member_data`] lifts the cap for a member's data.
//!
//! [`finish`] reads what follows the last member to its very end, so that a
//! compressed stream's last checksum is checked and anything hidden or broken
//! after the tar end marker is found.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ArchiveError;

/// The most bytes of GNU long-name, long-link and PAX extension records (and
/// GNU sparse maps) one member may have, together.
pub const MAX_EXTENSION_BYTES: u64 = 64 * 1024;
/// Headers and padding read with them while finding the next member: the
/// previous member's padding, and one header block each for a long name, a
/// long link, a PAX record and the member itself, with the records' padding.
const HEADER_SLACK_BYTES: u64 = 16 * 512;
/// The tar end marker: two zero blocks.
const END_MARKER_BYTES: u64 = 2 * 512;
/// Zeros accepted after the end marker: tar pads to its record size (10 KiB
/// by default; GNU tar's largest blocking factor gives 1 MiB).
pub const MAX_PADDING_BYTES: u64 = 1024 * 1024;

/// What went wrong under the tar reader, whatever error it was reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Interrupted,
    ExtensionTooLarge,
}

/// The state shared by the readers of one pass over the archive.
pub struct Gauge<'a> {
    interrupted: &'a AtomicBool,
    stop: Cell<Option<Stop>>,
    /// Bytes of the tar stream read so far.
    read: Cell<u64>,
    /// While finding the next member: the position the tar reader may not pass.
    limit: Cell<Option<u64>>,
}

impl<'a> Gauge<'a> {
    pub fn new(interrupted: &'a AtomicBool) -> Rc<Gauge<'a>> {
        Rc::new(Gauge {
            interrupted,
            stop: Cell::new(None),
            read: Cell::new(0),
            limit: Cell::new(None),
        })
    }

    /// The tar reader is about to look for the next member.
    pub fn next_header(&self) {
        self.limit.set(Some(
            self.read.get() + HEADER_SLACK_BYTES + MAX_EXTENSION_BYTES,
        ));
    }

    /// The tar reader found a member; its data may be read in full.
    pub fn member_data(&self) {
        self.limit.set(None);
    }

    /// Bytes of the tar stream read so far.
    pub fn position(&self) -> u64 {
        self.read.get()
    }

    /// Turns a read error from anywhere in the stack into why the archive is
    /// refused: an interrupt or a capped record first, whatever the layers
    /// above made of it.
    pub fn error(&self, e: io::Error) -> ArchiveError {
        if self.interrupted.load(Ordering::Relaxed) {
            return ArchiveError::Interrupted;
        }
        match self.stop.get() {
            Some(Stop::Interrupted) => ArchiveError::Interrupted,
            Some(Stop::ExtensionTooLarge) => ArchiveError::ExtensionTooLarge(MAX_EXTENSION_BYTES),
            None => ArchiveError::Corrupt(e.to_string()),
        }
    }

    fn check_interrupt(&self) -> io::Result<()> {
        if self.interrupted.load(Ordering::Relaxed) {
            self.stop.set(Some(Stop::Interrupted));
            return Err(io::Error::other("interrupted by a signal"));
        }
        Ok(())
    }
}

/// The archive file read by position, so that each pass has its own offset
/// on the one open file.
pub struct FileAt<'f> {
    file: &'f File,
    position: u64,
}

impl<'f> FileAt<'f> {
    pub fn start(file: &'f File) -> Self {
        FileAt { file, position: 0 }
    }
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

/// Under the decompressor: stops at an interrupt, so that a decompressor
/// working through much input for little output stops too.
pub struct Watched<'a, R> {
    pub inner: R,
    pub gauge: Rc<Gauge<'a>>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.gauge.check_interrupt()?;
        self.inner.read(buf)
    }
}

/// Over the decompressor, under the tar reader: stops at an interrupt,
/// counts the tar stream, and enforces the cap between members.
pub struct Metered<'a> {
    pub inner: Box<dyn Read + 'a>,
    pub gauge: Rc<Gauge<'a>>,
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let gauge = &self.gauge;
        gauge.check_interrupt()?;
        let want = match gauge.limit.get() {
            None => buf.len(),
            Some(limit) => {
                let room = limit.saturating_sub(gauge.read.get());
                if room == 0 {
                    gauge.stop.set(Some(Stop::ExtensionTooLarge));
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "extension records too large",
                    ));
                }
                buf.len().min(usize::try_from(room).unwrap_or(usize::MAX))
            }
        };
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        gauge.read.set(gauge.read.get() + n as u64);
        Ok(n)
    }
}

/// Reads whatever is left of a member's data, checking for an interrupt
/// between reads.
pub fn drain(data: &mut impl Read, gauge: &Gauge<'_>) -> Result<(), ArchiveError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match data.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(gauge.error(e)),
        }
    }
}

/// After the tar reader saw the end (a zero block, or the end of the stream)
/// where the last member's data ended (`end_of_members`): reads the rest of
/// the stream to its end. It must be the rest of the end marker and zero
/// padding, at most [`MAX_PADDING_BYTES`] of it; reading it to its end makes
/// the decompressor check the last checksum and refuse anything after the
/// last compressed member.
pub fn finish(
    rest: &mut impl Read,
    gauge: &Gauge<'_>,
    end_of_members: u64,
) -> Result<(), ArchiveError> {
    gauge.member_data();
    let mut zeros = gauge.position().saturating_sub(end_of_members);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(gauge.error(e)),
        };
        if buf.get(..n).unwrap_or_default().iter().any(|&b| b != 0) {
            return Err(ArchiveError::TrailingData);
        }
        zeros += n as u64;
        if zeros > END_MARKER_BYTES + MAX_PADDING_BYTES {
            return Err(ArchiveError::TrailingData);
        }
    }
    if zeros < END_MARKER_BYTES {
        return Err(ArchiveError::NoEndMarker);
    }
    Ok(())
}

/// Where the data of a member starting at `data_start` with `size` bytes
/// ends, padding included.
pub fn end_of_data(data_start: u64, size: u64) -> Result<u64, ArchiveError> {
    size.checked_add(511)
        .map(|s| s & !511)
        .and_then(|s| data_start.checked_add(s))
        .ok_or_else(|| ArchiveError::Corrupt("member size overflows".into()))
}
