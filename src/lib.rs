//! The device side of SecureDrop Workstation: what runs in `sd-devices` and
//! `sd-printers` when an `.sd-export` archive arrives.
//!
//! The path of one export, top-down:
//! [`cli`] (invocation) -> [`archive`] (validate all members, read the command
//! and the plan) -> [`disk`] -> [`device`] (which drive, in which state) ->
//! [`writer`] (write, sync, verify, publish) -> [`status`] (the one status
//! word). Printing goes [`cli`] -> [`archive`] -> [`print`]. [`config`] is
//! the environment, read once by `main` and passed down.
//!
//! Public are the modules the binaries, tests, benchmarks and fuzz targets
//! reach into; the rest is crate-private. Test archives come from the
//! dev-only `sdw-testkit` crate, not from this library.
#![deny(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod config;
pub mod device;
pub(crate) mod disk;
pub(crate) mod filesystem;
pub mod hardening;
pub mod log;
pub(crate) mod names;
pub mod print;
pub mod redact;
pub(crate) mod status;
pub(crate) mod text;
pub(crate) mod volume;
pub(crate) mod writer;
