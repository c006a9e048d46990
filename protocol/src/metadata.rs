//! `metadata.json`: the schema, parsed from untrusted bytes into a [`Command`],
//! and written back by the client.
//!
//! Keys: `device` (required string, the command), `encryption_key` (optional
//! string, only kept for `disk`), `print_options` (optional object, only kept
//! for `printer`: [`PrintOptions`]), `redact` (optional: `true` or
//! `"strict"`, see [`Redaction`]; `false` and `null` count as absent, any other
//! value is refused), `progress` (optional: `true` asks a `printer` command
//! for progress lines before its status word, see [`crate::PrintProgress`];
//! `false` and `null` count as absent, any other value is refused). Unknown top-level keys (e.g. `encryption_method`) are
//! ignored; unknown keys inside `print_options` are refused. An empty
//! `encryption_key` counts as none; an absent or `null` `print_options` is
//! none (the printer's defaults).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::print_options::PrintOptions;
use crate::Passphrase;

/// Metadata larger than this is refused unparsed: the real thing is a few bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// What the archive asks the device side to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// `""`: the qube was only started; do nothing, say nothing.
    Start,
    /// `usb-test`: probe for an export drive.
    UsbTest,
    /// `disk-test`: the older name of the same probe.
    DiskTest,
    /// `disk`: export `export_data/`, unlocking with the passphrase if needed.
    Disk { passphrase: Option<Passphrase> },
    /// `printer-preflight`: is a supported printer attached and ready?
    PrinterPreflight,
    /// `printer-test`: print a test page.
    PrinterTest,
    /// `printer`: print every file in `export_data/`, with the options the
    /// archive asks for (`None`: the printer's defaults).
    Printer { options: Option<PrintOptions> },
}

/// Metadata redaction asked for by `metadata.json`'s `redact` field
/// (absent: files are exported as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redaction {
    /// `true`: redact what can be redacted; a file that cannot be redacted
    /// safely is exported unchanged and named in the report.
    BestEffort,
    /// `"strict"`: every file must be redacted (or hold no metadata at all);
    /// otherwise the whole export fails and nothing is published.
    Strict,
}

impl Redaction {
    /// The JSON value that asks for this redaction.
    pub fn json_value(&self) -> serde_json::Value {
        match self {
            Redaction::BestEffort => serde_json::Value::Bool(true),
            Redaction::Strict => serde_json::Value::String("strict".into()),
        }
    }

    /// How it is named to people and in logs: `redact` or `strict`.
    pub const fn name(&self) -> &'static str {
        match self {
            Redaction::BestEffort => "redact",
            Redaction::Strict => "strict",
        }
    }
}

/// Everything `metadata.json` asks for: the command and its options.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub command: Command,
    /// Only meaningful for `disk` and `printer`; ignored by the other commands.
    pub redact: Option<Redaction>,
    /// `"progress": true`: write progress lines before the status word.
    /// Only meaningful for `printer`; ignored by the other commands.
    pub progress: bool,
}

/// Why `metadata.json` could not become a [`Command`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    /// metadata.json is larger than {0} bytes
    #[error("metadata.json is larger than {0} bytes")]
    TooLarge(usize),
    /// not a JSON object
    #[error("metadata.json is not a JSON object: {0}")]
    NotJsonObject(String),
    /// `device` is absent
    #[error("metadata.json has no \"device\"")]
    MissingDevice,
    /// `device` names no known command
    #[error("metadata.json asks for an unknown command {0:?}")]
    UnknownCommand(String),
    /// `redact` is neither `true`, `"strict"`, `false` nor `null`
    #[error("metadata.json asks for an unknown redaction {0:?}")]
    UnknownRedaction(String),
    /// `progress` is neither `true`, `false` nor `null`
    #[error("metadata.json has an invalid progress {0:?}")]
    InvalidProgress(String),
    /// `print_options` is not an object of known keys with valid values
    #[error("metadata.json has invalid print_options: {0}")]
    PrintOptions(String),
}

/// The raw shape of `metadata.json`. `device` and `encryption_key` are kept as
/// JSON values so that a wrong type is an unknown command, not a parse failure.
#[derive(Deserialize)]
struct RawMetadata {
    device: Option<serde_json::Value>,
    encryption_key: Option<serde_json::Value>,
    redact: Option<serde_json::Value>,
    progress: Option<serde_json::Value>,
    print_options: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Serialize)]
struct OutgoingMetadata<'a> {
    device: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redact: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    print_options: Option<&'a PrintOptions>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    progress: bool,
}

/// Writes and reads `metadata.json`.
pub struct Metadata;

impl Metadata {
    /// Parses untrusted `metadata.json` bytes into the command alone.
    pub fn parse(bytes: &[u8]) -> Result<Command, MetadataError> {
        Metadata::parse_request(bytes).map(|request| request.command)
    }

    /// Parses untrusted `metadata.json` bytes into the command and its options.
    pub fn parse_request(bytes: &[u8]) -> Result<Request, MetadataError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge(MAX_METADATA_BYTES));
        }
        // A derived struct would also accept a JSON array: insist on an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(MetadataError::NotJsonObject(
                "does not start with '{'".into(),
            ));
        }
        let raw: RawMetadata = serde_json::from_slice(bytes)
            .map_err(|e| MetadataError::NotJsonObject(e.to_string()))?;
        let device = match raw.device {
            Some(serde_json::Value::String(device)) => device,
            Some(other) => {
                return Err(MetadataError::UnknownCommand(truncated(&other.to_string())))
            }
            None => return Err(MetadataError::MissingDevice),
        };
        let command = match device.as_str() {
            "" => Command::Start,
            "usb-test" => Command::UsbTest,
            "disk-test" => Command::DiskTest,
            "disk" => Command::Disk {
                passphrase: match raw.encryption_key {
                    Some(serde_json::Value::String(key)) if !key.is_empty() => {
                        Some(Passphrase::new(key))
                    }
                    Some(serde_json::Value::String(_)) | Some(serde_json::Value::Null) | None => {
                        None
                    }
                    Some(_) => {
                        return Err(MetadataError::UnknownCommand(
                            "disk with a non-string encryption_key".into(),
                        ))
                    }
                },
            },
            "printer-preflight" => Command::PrinterPreflight,
            "printer-test" => Command::PrinterTest,
            "printer" => Command::Printer {
                options: print_options(raw.print_options.as_deref())?,
            },
            other => return Err(MetadataError::UnknownCommand(truncated(other))),
        };
        let redact = match raw.redact {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => None,
            Some(serde_json::Value::Bool(true)) => Some(Redaction::BestEffort),
            Some(serde_json::Value::String(s)) if s == "strict" => Some(Redaction::Strict),
            Some(other) => {
                return Err(MetadataError::UnknownRedaction(truncated(
                    &other.to_string(),
                )))
            }
        };
        let progress = match raw.progress {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => false,
            Some(serde_json::Value::Bool(true)) => true,
            Some(other) => {
                return Err(MetadataError::InvalidProgress(truncated(
                    &other.to_string(),
                )))
            }
        };
        Ok(Request {
            command,
            redact,
            progress,
        })
    }

    /// Serializes a command as the client sends it. The buffer is zeroed on drop
    /// because it may hold the passphrase.
    pub fn to_json(command: &Command) -> Zeroizing<Vec<u8>> {
        Metadata::to_json_with(command, None)
    }

    /// Serializes a command with its `redact` option (left out when `None`, so
    /// that a device side which does not know the field sees today's metadata).
    pub fn to_json_with(command: &Command, redact: Option<Redaction>) -> Zeroizing<Vec<u8>> {
        Metadata::to_json_with_progress(command, redact, false)
    }

    /// Serializes a command with its `redact` option and, when `progress` is
    /// set and the command is `printer`, `"progress": true` (left out
    /// otherwise, so that the metadata is exactly today's).
    pub fn to_json_with_progress(
        command: &Command,
        redact: Option<Redaction>,
        progress: bool,
    ) -> Zeroizing<Vec<u8>> {
        let outgoing = OutgoingMetadata {
            progress: progress && matches!(command, Command::Printer { .. }),
            redact: redact.map(|r| r.json_value()),
            device: command.device_value(),
            encryption_key: match command {
                Command::Disk {
                    passphrase: Some(p),
                } => Some(p.expose_str()),
                _ => None,
            },
            print_options: match command {
                Command::Printer { options } => options.as_ref(),
                _ => None,
            },
        };
        let mut buffer = Zeroizing::new(Vec::with_capacity(128));
        // Writing strings, small numbers and keywords into a Vec cannot fail.
        if serde_json::to_writer(&mut *buffer, &outgoing).is_err() {
            buffer.clear();
        }
        buffer
    }
}

/// `print_options` given on their own (as the device side's print dialog
/// answers them), with exactly the rules of `print_options` in
/// `metadata.json`: `null` is none; anything else must be an object of known
/// keys, each at most once, with valid values.
pub fn parse_print_options(text: &str) -> Result<Option<PrintOptions>, MetadataError> {
    if text.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::PrintOptions("too long".into()));
    }
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str(text)
        .map_err(|e| MetadataError::PrintOptions(e.to_string().chars().take(160).collect()))?;
    print_options(Some(&raw))
}

/// `print_options`: absent or `null` is none; anything else must be an
/// object of known keys, each at most once, with valid values.
fn print_options(
    raw: Option<&serde_json::value::RawValue>,
) -> Result<Option<PrintOptions>, MetadataError> {
    let text = match raw.map(|raw| raw.get().trim()) {
        None | Some("null") => return Ok(None),
        Some(text) => text,
    };
    if !text.starts_with('{') {
        return Err(MetadataError::PrintOptions("not a JSON object".into()));
    }
    serde_json::from_str::<PrintOptions>(text)
        .map(Some)
        .map_err(|e| MetadataError::PrintOptions(e.to_string().chars().take(160).collect()))
}

impl Command {
    /// The `device` value that names this command.
    pub const fn device_value(&self) -> &'static str {
        match self {
            Command::Start => "",
            Command::UsbTest => "usb-test",
            Command::DiskTest => "disk-test",
            Command::Disk { .. } => "disk",
            Command::PrinterPreflight => "printer-preflight",
            Command::PrinterTest => "printer-test",
            Command::Printer { .. } => "printer",
        }
    }
}

fn truncated(untrusted: &str) -> String {
    untrusted.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, MetadataError> {
        Metadata::parse(s.as_bytes())
    }

    #[test]
    fn accepts_every_command() {
        assert_eq!(parse(r#"{"device":""}"#), Ok(Command::Start));
        assert_eq!(parse(r#"{"device":"usb-test"}"#), Ok(Command::UsbTest));
        assert_eq!(parse(r#"{"device":"disk-test"}"#), Ok(Command::DiskTest));
        assert_eq!(
            parse(r#"{"device":"printer-preflight"}"#),
            Ok(Command::PrinterPreflight)
        );
        assert_eq!(
            parse(r#"{"device":"printer-test"}"#),
            Ok(Command::PrinterTest)
        );
        assert_eq!(
            parse(r#"{"device":"printer"}"#),
            Ok(Command::Printer { options: None })
        );
    }

    #[test]
    fn keeps_the_passphrase_only_for_disk() {
        let cmd =
            parse(r#"{"device":"disk","encryption_key":"s3cret","encryption_method":"luks"}"#);
        assert_eq!(
            cmd,
            Ok(Command::Disk {
                passphrase: Some(Passphrase::new("s3cret".into()))
            })
        );
        assert_eq!(
            parse(r#"{"device":"disk"}"#),
            Ok(Command::Disk { passphrase: None })
        );
        assert_eq!(
            parse(r#"{"device":"disk","encryption_key":""}"#),
            Ok(Command::Disk { passphrase: None })
        );
        assert_eq!(
            parse(r#"{"device":"usb-test","encryption_key":"x"}"#),
            Ok(Command::UsbTest)
        );
    }

    #[test]
    fn refuses_unknown_or_missing_commands_as_archive_metadata() {
        for bad in [
            r#"{}"#,
            r#"{"device":"Disk"}"#,
            r#"{"device":7}"#,
            r#"{"device":"disk","encryption_key":1}"#,
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(MetadataError::MissingDevice | MetadataError::UnknownCommand(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_non_json_as_metadata_parsing() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            "\"disk\"",
            r#"{"device":"disk""#,
            r#"{"device":"a","device":"b"}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(MetadataError::NotJsonObject(_))),
                "{bad}"
            );
        }
        let huge = format!(
            r#"{{"device":"disk","pad":"{}"}}"#,
            "x".repeat(MAX_METADATA_BYTES)
        );
        assert!(matches!(parse(&huge), Err(MetadataError::TooLarge(_))));
    }

    #[test]
    fn can_round_trip_every_command() {
        let commands = [
            Command::Start,
            Command::UsbTest,
            Command::DiskTest,
            Command::Disk { passphrase: None },
            Command::Disk {
                passphrase: Some(Passphrase::new("a \"quoted\" pässphrase\n".into())),
            },
            Command::PrinterPreflight,
            Command::PrinterTest,
            Command::Printer { options: None },
            Command::Printer {
                options: Some(PrintOptions::default()),
            },
            Command::Printer {
                options: Some(all_options()),
            },
        ];
        for command in commands {
            let json = Metadata::to_json(&command);
            assert_eq!(Metadata::parse(&json).as_ref(), Ok(&command));
        }
    }

    fn all_options() -> PrintOptions {
        use crate::print_options::*;
        PrintOptions {
            copies: Some(Copies::new(3).unwrap()),
            page_ranges: Some(PageRanges::parse("1-3,7").unwrap()),
            sides: Some(Sides::TwoSidedLongEdge),
            media: Some(Media::new("iso_a4_210x297mm").unwrap()),
            color: Some(ColorMode::Monochrome),
            orientation: Some(Orientation::Landscape),
        }
    }

    #[test]
    fn print_options_are_read_for_printer_only() {
        let json = r#"{"device":"printer","print_options":{"copies":3,"page_ranges":"1-3, 7",
            "sides":"two-sided-long-edge","media":"iso_a4_210x297mm","color":"monochrome",
            "orientation":"landscape"}}"#;
        assert_eq!(
            parse(json),
            Ok(Command::Printer {
                options: Some(all_options())
            })
        );
        assert_eq!(
            parse(r#"{"device":"printer","print_options":null}"#),
            Ok(Command::Printer { options: None })
        );
        assert_eq!(
            parse(r#"{"device":"printer","print_options":{"copies":null}}"#),
            Ok(Command::Printer {
                options: Some(PrintOptions::default())
            })
        );
        // Ignored for other commands, like encryption_key outside disk.
        assert_eq!(
            parse(r#"{"device":"printer-test","print_options":{"copies":0}}"#),
            Ok(Command::PrinterTest)
        );
    }

    #[test]
    fn bad_print_options_are_archive_metadata_errors() {
        for bad in [
            r#"{"device":"printer","print_options":[]}"#,
            r#"{"device":"printer","print_options":"copies=2"}"#,
            r#"{"device":"printer","print_options":{"copies":0}}"#,
            r#"{"device":"printer","print_options":{"copies":100}}"#,
            r#"{"device":"printer","print_options":{"copies":-1}}"#,
            r#"{"device":"printer","print_options":{"copies":2.5}}"#,
            r#"{"device":"printer","print_options":{"copies":"2"}}"#,
            r#"{"device":"printer","print_options":{"page_ranges":"3-1"}}"#,
            r#"{"device":"printer","print_options":{"page_ranges":5}}"#,
            r#"{"device":"printer","print_options":{"sides":"two-sided"}}"#,
            r#"{"device":"printer","print_options":{"media":"A4"}}"#,
            r#"{"device":"printer","print_options":{"color":"color"}}"#,
            r#"{"device":"printer","print_options":{"orientation":"upside-down"}}"#,
            r#"{"device":"printer","print_options":{"copie":2}}"#,
            r#"{"device":"printer","print_options":{"copies":2,"copies":3}}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(MetadataError::PrintOptions(_))),
                "{bad}"
            );
        }
    }

    fn options_strategy() -> impl proptest::strategy::Strategy<Value = PrintOptions> {
        use crate::print_options::*;
        use proptest::prelude::*;
        let ranges = proptest::collection::vec((1u32..1000, 0u32..1000), 1..MAX_PAGE_RANGES)
            .prop_map(|steps| {
                let mut next = 0u32;
                let text = steps
                    .iter()
                    .map(|&(gap, len)| {
                        let first = next + gap;
                        next = first + len;
                        format!("{first}-{next}")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                PageRanges::parse(&text).unwrap()
            });
        (
            proptest::option::of(1u64..=99),
            proptest::option::of(ranges),
            proptest::option::of(prop_oneof![
                Just(Sides::OneSided),
                Just(Sides::TwoSidedLongEdge),
                Just(Sides::TwoSidedShortEdge)
            ]),
            proptest::option::of("[a-z0-9._-]{1,64}"),
            proptest::option::of(prop_oneof![
                Just(ColorMode::Auto),
                Just(ColorMode::Monochrome)
            ]),
            proptest::option::of(prop_oneof![
                Just(Orientation::Portrait),
                Just(Orientation::Landscape),
                Just(Orientation::ReverseLandscape),
                Just(Orientation::ReversePortrait)
            ]),
        )
            .prop_map(|(copies, page_ranges, sides, media, color, orientation)| {
                PrintOptions {
                    copies: copies.map(|c| Copies::new(c).unwrap()),
                    page_ranges,
                    sides,
                    media: media.map(|m| Media::new(&m).unwrap()),
                    color,
                    orientation,
                }
            })
    }

    proptest::proptest! {
        #[test]
        fn any_valid_print_options_round_trip(options in options_strategy()) {
            let command = Command::Printer { options: Some(options) };
            let json = Metadata::to_json(&command);
            proptest::prop_assert_eq!(Metadata::parse(&json), Ok(command));
        }

        #[test]
        fn any_print_options_value_parses_or_is_refused_as_archive_metadata(
            copies in proptest::num::i64::ANY,
            ranges in "[0-9, -]{0,40}",
            media in "\\PC{0,80}",
        ) {
            let json = serde_json::json!({
                "device": "printer",
                "print_options": {"copies": copies, "page_ranges": ranges, "media": media},
            });
            match Metadata::parse(json.to_string().as_bytes()) {
                Ok(Command::Printer { options: Some(options) }) => {
                    let copies_ok = (1..=99).contains(&copies);
                    proptest::prop_assert!(copies_ok);
                    proptest::prop_assert_eq!(options.copies.map(|c| i64::from(c.get())), Some(copies));
                    let ranges_seen = options.page_ranges.as_ref().map(|r| r.ranges().to_vec()).unwrap_or_default();
                    proptest::prop_assert!(ranges_seen.windows(2).all(|w| w[0].1 < w[1].0));
                    proptest::prop_assert!(ranges_seen.iter().all(|&(a, b)| 1 <= a && a <= b));
                }
                Ok(other) => proptest::prop_assert!(false, "parsed as {:?}", other),
                Err(e) => proptest::prop_assert!(matches!(e, MetadataError::PrintOptions(_)), "{:?}", e),
            }
        }
    }

    #[test]
    fn reads_the_redaction() {
        let redact = |s: &str| Metadata::parse_request(s.as_bytes()).map(|r| r.redact);
        assert_eq!(redact(r#"{"device":"disk"}"#), Ok(None));
        assert_eq!(redact(r#"{"device":"disk","redact":null}"#), Ok(None));
        assert_eq!(redact(r#"{"device":"disk","redact":false}"#), Ok(None));
        assert_eq!(
            redact(r#"{"device":"disk","redact":true}"#),
            Ok(Some(Redaction::BestEffort))
        );
        assert_eq!(
            redact(r#"{"device":"printer","redact":"strict"}"#),
            Ok(Some(Redaction::Strict))
        );
        for bad in [
            r#"{"device":"disk","redact":"true"}"#,
            r#"{"device":"disk","redact":"STRICT"}"#,
            r#"{"device":"disk","redact":1}"#,
            r#"{"device":"disk","redact":{"strict":true}}"#,
            r#"{"device":"disk","redact":["strict"]}"#,
        ] {
            assert!(
                matches!(
                    Metadata::parse_request(bad.as_bytes()),
                    Err(MetadataError::UnknownRedaction(_))
                ),
                "{bad}"
            );
        }
        // A duplicate key is refused like any other malformed JSON.
        assert!(matches!(
            parse(r#"{"device":"disk","redact":true,"redact":"strict"}"#),
            Err(MetadataError::NotJsonObject(_))
        ));
    }

    #[test]
    fn round_trips_the_redaction_and_leaves_it_out_when_absent() {
        for redact in [None, Some(Redaction::BestEffort), Some(Redaction::Strict)] {
            let command = Command::Disk {
                passphrase: Some(Passphrase::new("pw".into())),
            };
            let json = Metadata::to_json_with(&command, redact);
            let request = Metadata::parse_request(&json).unwrap();
            assert_eq!(request.redact, redact);
            assert_eq!(request.command, command);
            assert_eq!(
                std::str::from_utf8(&json).unwrap().contains("redact"),
                redact.is_some()
            );
        }
        assert_eq!(
            &*Metadata::to_json_with(&Command::Printer { options: None }, Some(Redaction::Strict)),
            br#"{"device":"printer","redact":"strict"}"#
        );
    }

    #[test]
    fn reads_the_progress_opt_in_strictly() {
        let progress = |s: &str| Metadata::parse_request(s.as_bytes()).map(|r| r.progress);
        assert_eq!(progress(r#"{"device":"printer"}"#), Ok(false));
        assert_eq!(
            progress(r#"{"device":"printer","progress":null}"#),
            Ok(false)
        );
        assert_eq!(
            progress(r#"{"device":"printer","progress":false}"#),
            Ok(false)
        );
        assert_eq!(
            progress(r#"{"device":"printer","progress":true}"#),
            Ok(true)
        );
        for bad in [
            r#"{"device":"printer","progress":"true"}"#,
            r#"{"device":"printer","progress":1}"#,
            r#"{"device":"printer","progress":{}}"#,
            r#"{"device":"printer","progress":[true]}"#,
        ] {
            assert!(
                matches!(
                    Metadata::parse_request(bad.as_bytes()),
                    Err(MetadataError::InvalidProgress(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(r#"{"device":"printer","progress":true,"progress":false}"#),
            Err(MetadataError::NotJsonObject(_))
        ));
    }

    #[test]
    fn writes_progress_only_for_printer_and_only_when_asked() {
        let printer = Command::Printer { options: None };
        assert_eq!(
            &*Metadata::to_json_with_progress(&printer, None, true),
            br#"{"device":"printer","progress":true}"#
        );
        assert_eq!(
            &*Metadata::to_json_with_progress(&printer, None, false),
            br#"{"device":"printer"}"#
        );
        assert_eq!(
            &*Metadata::to_json_with_progress(&Command::PrinterTest, None, true),
            br#"{"device":"printer-test"}"#
        );
        let request =
            Metadata::parse_request(&Metadata::to_json_with_progress(&printer, None, true))
                .unwrap();
        assert!(request.progress);
    }

    #[test]
    fn errors_never_carry_the_passphrase() {
        let err = parse(r#"{"device":"nope","encryption_key":"topsecret"}"#).err();
        assert!(!format!("{err:?}").contains("topsecret"));
    }

    #[test]
    fn print_options_on_their_own_follow_the_metadata_rules() {
        let options = parse_print_options(r#"{"copies":2,"page_ranges":"1-3"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(options.copies.map(|c| c.get()), Some(2));
        assert_eq!(options.page_ranges.unwrap().to_string(), "1-3");
        assert_eq!(parse_print_options("null"), Ok(None));
        for refused in [
            r#"{"copies":2,"copies":3}"#,
            r#"{"pages":"1"}"#,
            r#"{"copies":0}"#,
            r#"[1]"#,
            "",
            "{",
        ] {
            assert!(
                matches!(
                    parse_print_options(refused),
                    Err(MetadataError::PrintOptions(_))
                ),
                "{refused}"
            );
        }
    }
}
