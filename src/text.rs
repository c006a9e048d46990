//! Decoding of escaped text that the system hands us: `\ooo` in
//! `/proc/self/mountinfo`, `%hh` in CUPS device URIs. Pure functions.

/// Replaces every `marker` followed by `digits` digits in `radix` with the
/// byte they encode; anything else (a lone marker, bad digits) is kept as is.
/// Invalid UTF-8 in the result is replaced, not trusted.
pub fn decode_escapes(text: &str, marker: u8, digits: usize, radix: u32) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let value = bytes
            .get(i + 1..i + 1 + digits)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, radix).ok());
        match value {
            Some(value) if b == marker => {
                out.push(value);
                i += 1 + digits;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_octal_and_percent_escapes() {
        assert_eq!(
            decode_escapes("My\\040Drive\\134x", b'\\', 3, 8),
            "My Drive\\x"
        );
        assert_eq!(
            decode_escapes("HL-L2320D%20series", b'%', 2, 16),
            "HL-L2320D series"
        );
    }

    #[test]
    fn keeps_what_is_not_an_escape() {
        assert_eq!(decode_escapes("100%", b'%', 2, 16), "100%");
        assert_eq!(decode_escapes("a%zz\\9", b'%', 2, 16), "a%zz\\9");
        assert_eq!(decode_escapes("end\\04", b'\\', 3, 8), "end\\04");
    }
}
