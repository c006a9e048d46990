//! `print_options` in `metadata.json`: how the files of a `printer` command
//! are printed (copies, page ranges, sides, media, colour, orientation),
//! parsed from untrusted JSON and written back by the client.
//!
//! Every key is optional; an absent (or `null`) key leaves the printer's
//! default. A key this crate does not know is refused, as is a value out of
//! range: a mistyped option must not silently print 200 pages the journalist
//! did not ask for. The values are the IPP keywords (RFC 8011, PWG 5100.x)
//! the device side sets on each job; nothing here knows what a given printer
//! supports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most copies one job may ask for.
pub const MAX_COPIES: u32 = 99;
/// Most ranges in `page_ranges`.
pub const MAX_PAGE_RANGES: usize = 32;
/// Highest page number `page_ranges` may name.
pub const MAX_PAGE: u32 = 1_000_000;
/// Longest `media` name (the longest PWG 5101.1 self-describing names are
/// about 40 characters).
pub const MAX_MEDIA_BYTES: usize = 64;
/// Longest `page_ranges` string.
pub const MAX_PAGE_RANGES_BYTES: usize = 1024;

/// How a `printer` command prints. `Default` is the printer's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrintOptions {
    /// `copies`: 1 to [`MAX_COPIES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<Copies>,
    /// `page_ranges`: e.g. `"1-3,7"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_ranges: Option<PageRanges>,
    /// `sides`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sides: Option<Sides>,
    /// `media`: an IPP media name such as `iso_a4_210x297mm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// `color`: `auto` or `monochrome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorMode>,
    /// `orientation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
}

impl PrintOptions {
    /// Whether nothing is asked for (every job gets the printer's defaults).
    pub fn is_default(&self) -> bool {
        *self == PrintOptions::default()
    }
}

/// Why a `print_options` value is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PrintOptionError {
    #[error("copies must be 1 to {MAX_COPIES}, not {0}")]
    Copies(u64),
    #[error("copies must be a number from 1 to {MAX_COPIES}")]
    CopiesNotANumber,
    #[error("page_ranges {0}")]
    PageRanges(&'static str),
    #[error("media must be 1 to {MAX_MEDIA_BYTES} of a-z, 0-9, '.', '_', '-'")]
    Media,
    #[error("{option} must be one of {allowed}")]
    Keyword {
        option: &'static str,
        allowed: &'static str,
    },
}

/// A number of copies, 1 to [`MAX_COPIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct Copies(u32);

impl Copies {
    pub fn new(copies: u64) -> Result<Copies, PrintOptionError> {
        match u32::try_from(copies) {
            Ok(n) if (1..=MAX_COPIES).contains(&n) => Ok(Copies(n)),
            _ => Err(PrintOptionError::Copies(copies)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for Copies {
    type Error = PrintOptionError;
    fn try_from(copies: u64) -> Result<Copies, PrintOptionError> {
        Copies::new(copies)
    }
}

impl From<Copies> for u32 {
    fn from(copies: Copies) -> u32 {
        copies.0
    }
}

/// Page ranges as IPP `page-ranges` wants them: 1-based, each `first <=
/// last`, in ascending order and not overlapping, at most
/// [`MAX_PAGE_RANGES`] of them, no page above [`MAX_PAGE`]. Written
/// `"1-3,7,10-12"` (spaces around numbers allowed when parsing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PageRanges(Vec<(u32, u32)>);

impl PageRanges {
    /// Parses `"1-3,7"`.
    pub fn parse(text: &str) -> Result<PageRanges, PrintOptionError> {
        use PrintOptionError::PageRanges as Bad;
        if text.len() > MAX_PAGE_RANGES_BYTES {
            return Err(Bad("is too long"));
        }
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for part in text.split(',') {
            if ranges.len() == MAX_PAGE_RANGES {
                return Err(Bad("has too many ranges"));
            }
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (page(first)?, page(last)?),
                None => {
                    let only = page(part)?;
                    (only, only)
                }
            };
            if first > last {
                return Err(Bad("has a range that ends before it starts"));
            }
            if ranges.last().is_some_and(|&(_, end)| first <= end) {
                return Err(Bad("must be in ascending order without overlaps"));
            }
            ranges.push((first, last));
        }
        Ok(PageRanges(ranges))
    }

    /// The ranges, `(first, last)`, both included.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }
}

fn page(text: &str) -> Result<u32, PrintOptionError> {
    use PrintOptionError::PageRanges as Bad;
    let text = text.trim_matches(' ');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bad(
            "must be page numbers or ranges like 1-3, separated by commas",
        ));
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(Bad("names a page below 1 or above 1000000")),
    }
}

impl fmt::Display for PageRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if first == last {
                write!(f, "{first}")?;
            } else {
                write!(f, "{first}-{last}")?;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for PageRanges {
    type Error = PrintOptionError;
    fn try_from(text: String) -> Result<PageRanges, PrintOptionError> {
        PageRanges::parse(&text)
    }
}

impl From<PageRanges> for String {
    fn from(ranges: PageRanges) -> String {
        ranges.to_string()
    }
}

/// An IPP media name (`media` keyword), e.g. `iso_a4_210x297mm`: 1 to
/// [`MAX_MEDIA_BYTES`] of `a-z 0-9 . _ -`. Whether the printer has it is the
/// device side's question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Media(String);

impl Media {
    pub fn new(name: &str) -> Result<Media, PrintOptionError> {
        let valid = (1..=MAX_MEDIA_BYTES).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if valid {
            Ok(Media(name.to_owned()))
        } else {
            Err(PrintOptionError::Media)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Media {
    type Error = PrintOptionError;
    fn try_from(name: String) -> Result<Media, PrintOptionError> {
        Media::new(&name)
    }
}

impl From<Media> for String {
    fn from(media: Media) -> String {
        media.0
    }
}

/// IPP `sides`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sides {
    OneSided,
    TwoSidedLongEdge,
    TwoSidedShortEdge,
}

impl Sides {
    /// The IPP keyword (the same as the JSON value).
    pub const fn keyword(self) -> &'static str {
        match self {
            Sides::OneSided => "one-sided",
            Sides::TwoSidedLongEdge => "two-sided-long-edge",
            Sides::TwoSidedShortEdge => "two-sided-short-edge",
        }
    }
}

/// IPP `print-color-mode`, the two values every printer can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorMode {
    Auto,
    Monochrome,
}

impl ColorMode {
    /// The IPP keyword (the same as the JSON value).
    pub const fn keyword(self) -> &'static str {
        match self {
            ColorMode::Auto => "auto",
            ColorMode::Monochrome => "monochrome",
        }
    }
}

/// IPP `orientation-requested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Orientation {
    Portrait,
    Landscape,
    ReverseLandscape,
    ReversePortrait,
}

impl Orientation {
    /// The JSON value.
    pub const fn name(self) -> &'static str {
        match self {
            Orientation::Portrait => "portrait",
            Orientation::Landscape => "landscape",
            Orientation::ReverseLandscape => "reverse-landscape",
            Orientation::ReversePortrait => "reverse-portrait",
        }
    }

    /// The IPP enum value (RFC 8011 5.2.10).
    pub const fn ipp_enum(self) -> i32 {
        match self {
            Orientation::Portrait => 3,
            Orientation::Landscape => 4,
            Orientation::ReverseLandscape => 5,
            Orientation::ReversePortrait => 6,
        }
    }
}

// The command line's spellings: the same as the JSON values.

impl FromStr for Copies {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<Copies, PrintOptionError> {
        match text.trim().parse::<u64>() {
            Ok(n) => Copies::new(n),
            Err(_) => Err(PrintOptionError::CopiesNotANumber),
        }
    }
}

impl FromStr for PageRanges {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<PageRanges, PrintOptionError> {
        PageRanges::parse(text)
    }
}

impl FromStr for Media {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<Media, PrintOptionError> {
        Media::new(text)
    }
}

impl FromStr for Sides {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<Sides, PrintOptionError> {
        [
            Sides::OneSided,
            Sides::TwoSidedLongEdge,
            Sides::TwoSidedShortEdge,
        ]
        .into_iter()
        .find(|s| s.keyword() == text)
        .ok_or(PrintOptionError::Keyword {
            option: "sides",
            allowed: "one-sided, two-sided-long-edge, two-sided-short-edge",
        })
    }
}

impl FromStr for ColorMode {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<ColorMode, PrintOptionError> {
        [ColorMode::Auto, ColorMode::Monochrome]
            .into_iter()
            .find(|c| c.keyword() == text)
            .ok_or(PrintOptionError::Keyword {
                option: "color",
                allowed: "auto, monochrome",
            })
    }
}

impl FromStr for Orientation {
    type Err = PrintOptionError;
    fn from_str(text: &str) -> Result<Orientation, PrintOptionError> {
        [
            Orientation::Portrait,
            Orientation::Landscape,
            Orientation::ReverseLandscape,
            Orientation::ReversePortrait,
        ]
        .into_iter()
        .find(|o| o.name() == text)
        .ok_or(PrintOptionError::Keyword {
            option: "orientation",
            allowed: "portrait, landscape, reverse-landscape, reverse-portrait",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges_parse_and_print_canonically() {
        let ranges = PageRanges::parse("1-3, 7 ,10-10").unwrap();
        assert_eq!(ranges.ranges(), &[(1, 3), (7, 7), (10, 10)]);
        assert_eq!(ranges.to_string(), "1-3,7,10");
        assert_eq!(
            PageRanges::parse("1000000").unwrap().ranges(),
            &[(1_000_000, 1_000_000)]
        );
    }

    #[test]
    fn page_ranges_refuse_what_ipp_would() {
        for bad in [
            "",
            ",",
            "0",
            "1-",
            "-3",
            "3-1",
            "1-3,2",
            "7,1",
            "1,1",
            "a",
            "1.5",
            "+1",
            "1000001",
            "99999999999",
            "1--3",
            "1-2-3",
            " ",
            "1,,2",
        ] {
            assert!(PageRanges::parse(bad).is_err(), "{bad:?}");
        }
        let many = (1..=33)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(PageRanges::parse(&many).is_err());
        let long = format!("1{}", " ".repeat(MAX_PAGE_RANGES_BYTES));
        assert!(PageRanges::parse(&long).is_err());
    }

    #[test]
    fn copies_are_1_to_99() {
        assert!(Copies::new(0).is_err());
        assert_eq!(Copies::new(1).map(Copies::get), Ok(1));
        assert_eq!(Copies::new(99).map(Copies::get), Ok(99));
        assert!(Copies::new(100).is_err());
        assert!(Copies::new(u64::MAX).is_err());
    }

    #[test]
    fn command_line_spellings_are_the_json_values() {
        assert_eq!("two-sided-short-edge".parse(), Ok(Sides::TwoSidedShortEdge));
        assert_eq!(
            "reverse-landscape".parse(),
            Ok(Orientation::ReverseLandscape)
        );
        assert_eq!("monochrome".parse(), Ok(ColorMode::Monochrome));
        assert_eq!("7".parse::<Copies>().map(Copies::get), Ok(7));
        for bad in ["0", "100", "x", "-1"] {
            assert!(bad.parse::<Copies>().is_err(), "{bad}");
        }
        assert!("duplex".parse::<Sides>().is_err());
        assert!("Portrait".parse::<Orientation>().is_err());
    }

    #[test]
    fn media_names_are_ipp_keywords() {
        for good in ["iso_a4_210x297mm", "na_letter_8.5x11in", "a"] {
            assert!(Media::new(good).is_ok(), "{good}");
        }
        for bad in ["", "A4", "iso a4", "iso/a4", "ä", &"a".repeat(65)] {
            assert!(Media::new(bad).is_err(), "{bad:?}");
        }
    }
}
