//! Untrusted text made harmless on a terminal: file names, error details and
//! everything logged (which carries what the device side said). Characters that
//! act on a terminal or reorder what it shows are written escaped, the way Rust
//! writes them (`\u{1b}`, `\r`, `\u{202e}`), instead of being sent as they are:
//!
//! - every control character: C0 (ESC sequences, CR, BEL, backspace, tab,
//!   newline), DEL and C1 (including the 8-bit CSI U+009B);
//! - the bidirectional controls (Unicode's `Bidi_Control`: U+061C, U+200E,
//!   U+200F, U+202A to U+202E, U+2066 to U+2069), which can make `exe.txt`
//!   look like `txt.exe`;
//! - the line and paragraph separators U+2028 and U+2029.
//!
//! Everything else, including every script and the zero-width joiners that
//! Persian, Arabic and Indic names need, is shown as it is.

use std::borrow::Cow;
use std::io::{self, Write};

/// Whether `c` is written escaped.
pub fn is_neutralised(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with every [neutralised](is_neutralised) character escaped.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_neutralised) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_neutralised(c) {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Standard error for the log: each write is one formatted log line (as
/// `tracing_subscriber::fmt` writes them), neutralised except for its final
/// newline. Invalid UTF-8 is shown as U+FFFD.
#[derive(Debug, Default, Clone, Copy)]
pub struct NeutralStderr;

impl Write for NeutralStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut stderr = io::stderr().lock();
        stderr.write_all(neutralise(line).as_bytes())?;
        stderr.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_shown_escaped() {
        let cases = [
            ("\u{1b}[31mred\u{1b}[0m", r"\u{1b}[31mred\u{1b}[0m"),
            ("\u{1b}]0;title\u{7}", r"\u{1b}]0;title\u{7}"),
            ("done\rfake", r"done\rfake"),
            ("two\nlines\ttab", r"two\nlines\ttab"),
            ("back\u{8}space\u{7f}", r"back\u{8}space\u{7f}"),
            ("csi\u{9b}2J", r"csi\u{9b}2J"),
        ];
        for (raw, shown) in cases {
            assert_eq!(neutralise(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn bidirectional_controls_and_separators_are_shown_escaped() {
        assert_eq!(
            neutralise("invoice\u{202e}fdp.exe"),
            r"invoice\u{202e}fdp.exe"
        );
        for c in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ] {
            let raw = format!("a{c}b");
            assert_eq!(neutralise(&raw), format!("a\\u{{{:x}}}b", u32::from(c)));
        }
    }

    #[test]
    fn ordinary_names_in_any_script_are_left_alone() {
        for name in [
            "memo (2).txt",
            "Interview 10:30.txt",
            "отчёт.pdf",
            "گزارش\u{200c}نهایی.pdf",
            "तस्वीर.jpg",
            "报告 😀.docx",
            r"C:\not\a\control.txt",
        ] {
            assert!(matches!(neutralise(name), Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn nothing_neutralised_survives() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!neutralise(&all).chars().any(is_neutralised));
    }
}
