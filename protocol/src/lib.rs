//! The contract between the SecureDrop client in `sd-app` and the device side in
//! `sd-devices` / `sd-printers`, as described in `docs/protocol.md` (which
//! `tests/docs.rs` checks against this crate).
//!
//! This crate owns the *words* of the protocol and nothing else: no I/O of its
//! own ([`printable::classify_file`] reads from a file the caller opened).
//!
//! - [`Status`]: every status word, with its exact string, and
//!   [`Status::from_untrusted_stderr`] / [`StatusReader`], the one rule for
//!   reading a status back (the last non-empty line, in bounded memory);
//!   [`Origin`] says whether the device side or only the client may say it.
//! - [`Command`] and [`Metadata`]: the `metadata.json` schema, parsed from untrusted
//!   bytes into a command; the passphrase exists only inside [`Command::Disk`],
//!   the [`PrintOptions`] only inside [`Command::Printer`].
//!   [`Metadata::parse_request`] also reads the `redact` option ([`Redaction`]).
//! - [`PrintProgress`]: the opt-in progress lines (`"progress": true`) a
//!   `printer` command may write before its status word.
//! - [`Passphrase`]: a secret that redacts itself and is zeroed on drop.
//! - [`layout`]: the names inside an `.sd-export` archive.
//!
//! Both the device side and the client depend on this crate, so the two cannot
//! drift apart.
#![forbid(unsafe_code)]

pub mod layout;
mod metadata;
mod passphrase;
pub mod print_options;
pub mod printable;
mod progress;
mod status;

pub use metadata::{
    parse_print_options, Command, Metadata, MetadataError, Redaction, Request, MAX_METADATA_BYTES,
};
pub use passphrase::Passphrase;
pub use print_options::PrintOptions;
pub use progress::{
    PrintProgress, MAX_PROGRESS_FILES, MAX_PROGRESS_LINES, MAX_PROGRESS_LINE_BYTES,
    MAX_PROGRESS_PAGES,
};
pub use status::{Origin, Status, StatusReader, MAX_STATUS_LINE_BYTES};
