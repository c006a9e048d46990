//! Names inside the archive: every file's base name is made safe (no `/`, no
//! `.` or `..`, no control characters, not empty, short enough for a drive's
//! file system) and unique within its folder, so that two files called
//! `memo.txt` both survive.
//!
//! Pure code: no I/O. The archive builder asks [`UniqueNames`] for each entry.

use std::collections::HashSet;
use std::ffi::OsStr;

/// The longest name, in bytes, that the archive will hold. Leaves room under the
/// 255-byte limit of common file systems for a ` (NNN)` suffix.
pub const MAX_NAME_BYTES: usize = 240;

/// Stands in for a character that may not appear in a name.
const REPLACEMENT: char = '_';

/// The name used when nothing usable is left of the original.
const FALLBACK_NAME: &str = "file";

/// Makes one path component safe: the bytes are read as UTF-8 (invalid bytes
/// become U+FFFD), `/`, `\`, NUL and every control character become `_`, a name
/// that is empty, `.` or `..` becomes `file` (or `_.`-style), and the result is
/// cut to [`MAX_NAME_BYTES`] keeping a short extension.
pub fn sanitize(name: &OsStr) -> String {
    let lossy = name.to_string_lossy();
    let replaced: String = lossy
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                REPLACEMENT
            } else {
                c
            }
        })
        .collect();
    let named = match replaced.as_str() {
        "" | "." | ".." => FALLBACK_NAME.to_owned(),
        _ => replaced,
    };
    truncate_keeping_extension(&named, MAX_NAME_BYTES)
}

/// Hands out names that are unique within one folder. Names differing only in
/// letter case count as the same, because export drives are often FAT or exFAT.
#[derive(Debug, Default)]
pub struct UniqueNames {
    taken: HashSet<String>,
}

impl UniqueNames {
    pub fn new() -> Self {
        Self::default()
    }

    /// The safe form of `name`, or, if that is taken, `stem (2).ext`,
    /// `stem (3).ext`, ... The returned name is then taken.
    pub fn claim(&mut self, name: &OsStr) -> String {
        let safe = sanitize(name);
        if self.taken.insert(safe.to_lowercase()) {
            return safe;
        }
        let (stem, extension) = split_extension(&safe);
        (2u64..)
            .map(|n| {
                let suffix = format!(" ({n}){extension}");
                let room = MAX_NAME_BYTES.saturating_sub(suffix.len());
                format!("{}{suffix}", truncate_at_char(stem, room))
            })
            .find(|candidate| self.taken.insert(candidate.to_lowercase()))
            .unwrap_or(safe)
    }
}

/// Splits `report.final.pdf` into `report.final` and `.pdf`. A leading dot
/// (`.bashrc`) is part of the stem, not an extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(0) | None => (name, ""),
        Some(dot) => name.split_at(dot),
    }
}

fn truncate_keeping_extension(name: &str, max_bytes: usize) -> String {
    if name.len() <= max_bytes {
        return name.to_owned();
    }
    let (stem, extension) = split_extension(name);
    if extension.len() <= 16 {
        let room = max_bytes.saturating_sub(extension.len());
        format!("{}{extension}", truncate_at_char(stem, room))
    } else {
        truncate_at_char(name, max_bytes).to_owned()
    }
}

fn truncate_at_char(s: &str, max_bytes: usize) -> &str {
    let end = s
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= max_bytes)
        .last()
        .unwrap_or(0);
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::ffi::OsStrExt;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn keeps_ordinary_names() {
        assert_eq!(sanitize(os("memo.txt")), "memo.txt");
        assert_eq!(sanitize(os("Résumé 2026.pdf")), "Résumé 2026.pdf");
        assert_eq!(sanitize(os(".bashrc")), ".bashrc");
        assert_eq!(sanitize(os("..hidden")), "..hidden");
    }

    #[test]
    fn replaces_separators_and_control_characters() {
        assert_eq!(sanitize(os("a/b")), "a_b");
        assert_eq!(sanitize(os("a\\b")), "a_b");
        assert_eq!(
            sanitize(os("line\nbreak\r\t\u{7f}\u{85}")),
            "line_break____"
        );
        assert_eq!(
            sanitize(OsStr::from_bytes(b"bad\xffbyte")),
            "bad\u{fffd}byte"
        );
    }

    #[test]
    fn refuses_empty_and_dot_names() {
        assert_eq!(sanitize(os("")), "file");
        assert_eq!(sanitize(os(".")), "file");
        assert_eq!(sanitize(os("..")), "file");
    }

    #[test]
    fn cuts_long_names_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = sanitize(os(&long));
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.pdf"));
    }

    #[test]
    fn makes_duplicates_unique() {
        let mut names = UniqueNames::new();
        assert_eq!(names.claim(os("memo.txt")), "memo.txt");
        assert_eq!(names.claim(os("memo.txt")), "memo (2).txt");
        assert_eq!(names.claim(os("MEMO.TXT")), "MEMO (3).TXT");
        assert_eq!(names.claim(os("memo (2).txt")), "memo (2) (2).txt");
        assert_eq!(names.claim(os(".bashrc")), ".bashrc");
        assert_eq!(names.claim(os(".bashrc")), ".bashrc (2)");
        assert_eq!(names.claim(os("..")), "file");
        assert_eq!(names.claim(os(".")), "file (2)");
    }

    proptest! {
        #[test]
        fn sanitized_names_are_always_safe(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let safe = sanitize(OsStr::from_bytes(&bytes));
            prop_assert!(!safe.is_empty());
            prop_assert!(safe != "." && safe != "..");
            prop_assert!(!safe.contains('/') && !safe.contains('\\'));
            prop_assert!(!safe.chars().any(char::is_control));
            prop_assert!(safe.len() <= MAX_NAME_BYTES);
        }

        #[test]
        fn safe_names_are_left_alone(name in "[a-zA-Z0-9 _.-]{1,100}") {
            prop_assume!(name != "." && name != "..");
            prop_assert_eq!(sanitize(os(&name)), name);
        }

        #[test]
        fn claimed_names_are_unique_and_safe(names in proptest::collection::vec("[a-cA-C./\n]{0,6}", 1..40)) {
            let mut unique = UniqueNames::new();
            let mut seen = HashSet::new();
            for name in &names {
                let claimed = unique.claim(os(name));
                prop_assert!(seen.insert(claimed.to_lowercase()), "{claimed:?} given twice");
                prop_assert!(!claimed.contains('/') && claimed != "." && claimed != "..");
                prop_assert!(claimed.len() <= MAX_NAME_BYTES);
            }
        }
    }
}
