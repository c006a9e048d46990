//! The sd-app side of SecureDrop Workstation export and print.
//!
//! - [`archive`]: builds one `.sd-export` archive in a private temporary directory.
//! - [`names`]: safe, unique names inside the archive.
//! - [`printable`]: the printable-type check, before a print round trip.
//! - [`redaction`]: with `--redact`, what the device side's redaction code
//!   (`sdw-redact`) will remove from each file, listed before sending.
//! - [`transport`]: hands the archive to the device qube and reads the status
//!   back (`qubes.OpenInVM`, the dedicated `securedrop.Export` service, or a
//!   local device binary for tests and demos).
//! - [`flow`]: the export and print state machines, typed so that only the
//!   transitions of the protocol can be written.
//! - [`Client`]: one transport, the targets, one operation at a time.
//! - [`messages`]: what to tell the user for every status word.
//! - [`Error`] and its one mapping to a status word.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cancel;
mod client;
mod error;
pub mod flow;
pub mod messages;
pub mod names;
pub mod printable;
pub mod redaction;
pub mod transport;

pub use cancel::CancelToken;
pub use client::{Client, ClientConfig, Reply};
pub use error::Error;
