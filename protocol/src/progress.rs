//! Print progress lines: the opt-in extension of the status channel
//! (`metadata.json` `"progress": true`, only for `printer`).
//!
//! With the opt-in, the device side may write, on the status channel and
//! before the final status word, lines of exactly one of two shapes:
//!
//! - `PROGRESS N/M`: file N of M has been handed to the printer;
//! - `PROGRESS N/M pages=P`: file N of M has printed P pages so far.
//!
//! N, M and P are decimal numbers without sign or leading zero, with
//! `1 <= N <= M <= MAX_PROGRESS_FILES` and `1 <= P <= MAX_PROGRESS_PAGES`.
//! Nothing else is ever on such a line (no file names, nothing from the
//! archive). The status is still the last non-empty line, so a reader that
//! knows nothing of progress lines (the existing client takes the last line)
//! still reads the status word; without the opt-in none are written.
//!
//! [`PrintProgress::parse`] reads one line of untrusted output: anything not of
//! these shapes is `None`, never a status and never an error.

use std::fmt;

/// The largest file count a progress line may carry.
pub const MAX_PROGRESS_FILES: u32 = 1_000_000;
/// The largest page count a progress line may carry.
pub const MAX_PROGRESS_PAGES: u32 = 10_000_000;
/// The longest progress line: `PROGRESS 1000000/1000000 pages=10000000`.
pub const MAX_PROGRESS_LINE_BYTES: usize = 39;
/// How many progress lines a reader hands on; later ones are dropped.
pub const MAX_PROGRESS_LINES: usize = 100_000;

const PREFIX: &str = "PROGRESS ";
const PAGES: &str = " pages=";

/// How far a print has got: file `file` of `files`, and its pages so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintProgress {
    /// 1-based position of the file being printed.
    pub file: u32,
    /// How many files the print has.
    pub files: u32,
    /// Pages of this file printed so far, when the printer reports them.
    pub pages: Option<u32>,
}

impl PrintProgress {
    /// Progress for file `file` of `files` (1-based), or `None` when the
    /// numbers fall outside the bounds of the wire format.
    pub fn new(file: usize, files: usize, pages: Option<u32>) -> Option<PrintProgress> {
        let file = u32::try_from(file).ok()?;
        let files = u32::try_from(files).ok()?;
        let progress = PrintProgress { file, files, pages };
        progress.is_valid().then_some(progress)
    }

    fn is_valid(&self) -> bool {
        (1..=self.files).contains(&self.file)
            && self.files <= MAX_PROGRESS_FILES
            && self
                .pages
                .is_none_or(|p| (1..=MAX_PROGRESS_PAGES).contains(&p))
    }

    /// Reads one line of untrusted output (without its `\n`; one trailing
    /// `\r` is tolerated). `None` for anything that is not exactly a
    /// progress line within bounds.
    pub fn parse(line: &[u8]) -> Option<PrintProgress> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_PROGRESS_LINE_BYTES {
            return None;
        }
        let text = std::str::from_utf8(line).ok()?.strip_prefix(PREFIX)?;
        let (counts, pages) = match text.split_once(PAGES) {
            Some((counts, pages)) => (counts, Some(number(pages)?)),
            None => (text, None),
        };
        let (file, files) = counts.split_once('/')?;
        let progress = PrintProgress {
            file: number(file)?,
            files: number(files)?,
            pages,
        };
        progress.is_valid().then_some(progress)
    }
}

/// A decimal number without sign or leading zero that fits a `u32`.
fn number(text: &str) -> Option<u32> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// The line on the wire, without its `\n`.
impl fmt::Display for PrintProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}/{}", self.file, self.files)?;
        if let Some(pages) = self.pages {
            write!(f, "{PAGES}{pages}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_two_shapes_parse() {
        assert_eq!(
            PrintProgress::parse(b"PROGRESS 2/5"),
            Some(PrintProgress {
                file: 2,
                files: 5,
                pages: None
            })
        );
        assert_eq!(
            PrintProgress::parse(b"PROGRESS 1/1 pages=3\r"),
            Some(PrintProgress {
                file: 1,
                files: 1,
                pages: Some(3)
            })
        );
        let longest = PrintProgress {
            file: MAX_PROGRESS_FILES,
            files: MAX_PROGRESS_FILES,
            pages: Some(MAX_PROGRESS_PAGES),
        };
        assert_eq!(longest.to_string().len(), MAX_PROGRESS_LINE_BYTES);
        assert_eq!(
            PrintProgress::parse(longest.to_string().as_bytes()),
            Some(longest)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "PROGRESS",
            "PROGRESS ",
            "PROGRESS 2",
            "PROGRESS 2/",
            "PROGRESS /5",
            "PROGRESS 0/5",
            "PROGRESS 6/5",
            "PROGRESS 02/5",
            "PROGRESS +2/5",
            "PROGRESS -1/5",
            "PROGRESS 2/5 ",
            " PROGRESS 2/5",
            "PROGRESS  2/5",
            "PROGRESS 2/5/7",
            "progress 2/5",
            "PROGRESS 2/5 pages=",
            "PROGRESS 2/5 pages=0",
            "PROGRESS 2/5 pages=03",
            "PROGRESS 2/5 pages=3 ",
            "PROGRESS 2/5 pages=3 pages=4",
            "PROGRESS 2/5 file=secret.pdf",
            "PROGRESS 2/1000001",
            "PROGRESS 1/1 pages=10000001",
            "PROGRESS 1/99999999999999999999",
            "PROGRESS 2/5\u{0}",
            "PROGRESS ２/5",
            "PRINTER_SUCCESS",
        ] {
            assert_eq!(PrintProgress::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(PrintProgress::parse(b"PROGRESS 1/2\xff"), None);
    }

    #[test]
    fn new_refuses_numbers_outside_the_format() {
        assert_eq!(PrintProgress::new(0, 2, None), None);
        assert_eq!(PrintProgress::new(3, 2, None), None);
        assert_eq!(PrintProgress::new(1, 2, Some(0)), None);
        assert_eq!(PrintProgress::new(1, usize::MAX, None), None);
        assert_eq!(
            PrintProgress::new(1, 2, Some(7)).map(|p| p.to_string()),
            Some("PROGRESS 1/2 pages=7".to_owned())
        );
    }

    proptest! {
        #[test]
        fn every_valid_progress_round_trips(
            files in 1u32..=MAX_PROGRESS_FILES,
            file_seed in any::<u32>(),
            pages in proptest::option::of(1u32..=MAX_PROGRESS_PAGES),
        ) {
            let file = file_seed % files + 1;
            let progress = PrintProgress { file, files, pages };
            let line = progress.to_string();
            prop_assert!(line.len() <= MAX_PROGRESS_LINE_BYTES);
            prop_assert_eq!(PrintProgress::parse(line.as_bytes()), Some(progress));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(progress) = PrintProgress::parse(&bytes) {
                prop_assert!(progress.file >= 1 && progress.file <= progress.files);
            }
        }
    }
}
