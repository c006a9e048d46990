//! The requests `sdw-devices` sends the privileged helper, and its replies:
//! one JSON object a line each way, over the helper's stdin and stdout.
//!
//! The requests are narrow on purpose: a volume is named by its kernel name
//! (`sdb1`) as the helper's own scan reported it, a staging folder by the path
//! the helper itself returned, a timestamp by its `YYYYMMDD-HHMMSS` shape. No
//! path or name from the archive ever reaches the helper. The passphrase is
//! written into a zeroized buffer by [`unlock_request`] and travels only over
//! the pipe: never argv, the environment or a file.

use std::path::PathBuf;

use sdw_protocol::Passphrase;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::device::VolumeError;
use crate::device::{Drive, MountPoint, ScanError};

/// The longest request line the helper reads, passphrase included (bytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The longest reply line the client reads (bytes): a scan of many drives.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// What the unprivileged side may ask. `Unlock`'s passphrase is a
/// [`Zeroizing`] string, dropped (and zeroed) right after use.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Scan,
    Unlock {
        volume: String,
        passphrase: Zeroizing<String>,
    },
    Mount {
        volume: String,
    },
    CreateStaging {
        volume: String,
        timestamp: String,
    },
    Publish {
        volume: String,
        staging: PathBuf,
        timestamp: String,
    },
    Discard {
        volume: String,
        staging: PathBuf,
    },
    Unmount {
        volume: String,
    },
    Lock {
        volume: String,
    },
}

/// The same requests, as the client writes them (no passphrase: see
/// [`unlock_request`]).
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Outgoing<'a> {
    Scan,
    Mount {
        volume: &'a str,
    },
    CreateStaging {
        volume: &'a str,
        timestamp: &'a str,
    },
    Publish {
        volume: &'a str,
        staging: &'a std::path::Path,
        timestamp: &'a str,
    },
    Discard {
        volume: &'a str,
        staging: &'a std::path::Path,
    },
    Unmount {
        volume: &'a str,
    },
    Lock {
        volume: &'a str,
    },
}

/// What the helper answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    Drives(Vec<Drive>),
    Mounted(MountPoint),
    Path(PathBuf),
    Done,
    ScanFailed(ScanError),
    Failed(VolumeError),
    /// The request was malformed or not allowed in the helper's state.
    Refused(String),
}

/// The `unlock` request line (with its newline), built in a zeroized buffer
/// large enough that it never reallocates (which would leave a copy behind).
pub fn unlock_request(volume: &str, passphrase: &Passphrase) -> Zeroizing<Vec<u8>> {
    // JSON escaping makes a byte at most 6 bytes long (\u00XX).
    let capacity = 128 + volume.len() * 6 + passphrase.expose_bytes().len() * 6;
    let mut line = Zeroizing::new(Vec::with_capacity(capacity));
    line.extend_from_slice(b"{\"op\":\"unlock\",\"volume\":");
    // Writing JSON strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, volume);
    line.extend_from_slice(b",\"passphrase\":");
    let _ = serde_json::to_writer(&mut *line, passphrase.expose_str());
    line.extend_from_slice(b"}\n");
    line
}

/// A `YYYYMMDD-HHMMSS` timestamp, the only shape the helper names folders with.
pub fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 15
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// A kernel block device name (`sdb`, `sdb1`): what volumes are named by.
pub fn is_kernel_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unlock_request_parses_back_and_never_reallocates() {
        let secret = "pa\"ss\\wörd\n\u{1}".to_owned();
        let line = unlock_request("sdb1", &Passphrase::new(secret.clone()));
        assert!(line.ends_with(b"\n"));
        assert!(line.len() <= line.capacity());
        match serde_json::from_slice::<Request>(&line).unwrap() {
            Request::Unlock { volume, passphrase } => {
                assert_eq!(volume, "sdb1");
                assert_eq!(passphrase.as_str(), secret);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outgoing_requests_are_what_the_helper_reads() {
        let line = serde_json::to_string(&Outgoing::Publish {
            volume: "sdb1",
            staging: "/run/x/.s".as_ref(),
            timestamp: "20261129-101010",
        })
        .unwrap();
        assert!(matches!(
            serde_json::from_str::<Request>(&line).unwrap(),
            Request::Publish { .. }
        ));
        assert!(serde_json::from_str::<Request>(r#"{"op":"mount","volume":"sdb","x":1}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"op":"format"}"#).is_err());
    }

    #[test]
    fn names_and_timestamps_have_one_shape() {
        assert!(is_timestamp("20261129-101010"));
        for bad in [
            "2026112-101010",
            "20261129_101010",
            "20261129-10101a",
            "../../etc",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
        assert!(is_kernel_name("sdb1"));
        for bad in ["", "../sda", "sdb/1", "SDB", "dm-0"] {
            assert!(!is_kernel_name(bad), "{bad}");
        }
    }
}
