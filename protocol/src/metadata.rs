//! `metadata.json`: the schema, parsed from untrusted bytes into a [`Command`],
//! and written back by the client.
//!
//! Keys: `device` (required string, the command), `encryption_key` (optional
//! string, only kept for `disk`). Unknown keys (e.g. `encryption_method`) are
//! ignored. An empty `encryption_key` counts as none.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

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
    /// `printer`: print every file in `export_data/`.
    Printer,
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
}

/// The raw shape of `metadata.json`. `device` and `encryption_key` are kept as
/// JSON values so that a wrong type is an unknown command, not a parse failure.
#[derive(Deserialize)]
struct RawMetadata {
    device: Option<serde_json::Value>,
    encryption_key: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct OutgoingMetadata<'a> {
    device: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_key: Option<&'a str>,
}

/// Writes and reads `metadata.json`.
pub struct Metadata;

impl Metadata {
    /// Parses untrusted `metadata.json` bytes.
    pub fn parse(bytes: &[u8]) -> Result<Command, MetadataError> {
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
            "printer" => Command::Printer,
            other => return Err(MetadataError::UnknownCommand(truncated(other))),
        };
        Ok(command)
    }

    /// Serializes a command as the client sends it. The buffer is zeroed on drop
    /// because it may hold the passphrase.
    pub fn to_json(command: &Command) -> Zeroizing<Vec<u8>> {
        let outgoing = OutgoingMetadata {
            device: command.device_value(),
            encryption_key: match command {
                Command::Disk {
                    passphrase: Some(p),
                } => Some(p.expose_str()),
                _ => None,
            },
        };
        let mut buffer = Zeroizing::new(Vec::with_capacity(128));
        // Writing a struct of two strings into a Vec cannot fail.
        if serde_json::to_writer(&mut *buffer, &outgoing).is_err() {
            buffer.clear();
        }
        buffer
    }
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
            Command::Printer => "printer",
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
        assert_eq!(parse(r#"{"device":"printer"}"#), Ok(Command::Printer));
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
            Command::Printer,
        ];
        for command in commands {
            let json = Metadata::to_json(&command);
            assert_eq!(Metadata::parse(&json).as_ref(), Ok(&command));
        }
    }

    #[test]
    fn errors_never_carry_the_passphrase() {
        let err = parse(r#"{"device":"nope","encryption_key":"topsecret"}"#).err();
        assert!(!format!("{err:?}").contains("topsecret"));
    }
}
