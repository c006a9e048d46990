//! The device side of SecureDrop Workstation: what runs in `sd-devices` and
//! `sd-printers` when an `.sd-export` archive arrives.
//!
//! The path of one export, top-down:
//! [`cli`] (invocation) -> [`archive`] (validate all members, read the command
//! and the plan) -> [`disk`] -> [`device`] (which drive, in which state) ->
//! [`writer`] (write, sync, verify, publish) -> [`status`] (the one status
//! word). Printing goes [`cli`] -> [`archive`] -> [`print`].
#![deny(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod device;
pub mod disk;
pub mod hardening;
pub mod log;
pub mod names;
pub mod print;
pub mod redact;
pub mod status;
pub mod text;
pub mod volume;
pub mod writer;
