//! `qubesd-sim`: a protocol-faithful stand-in for qubesd, for tests and dry runs.
//!
//! It listens on a unix socket, speaks the Admin API framing of
//! [`sdw_provision::wire`],
//! and models a Qubes OS 4.3 system ([`model`]) with the errors qubesd raises
//! ([`api`]). It never touches a real system.

pub mod api;
pub mod fuzzing;
pub mod model;
pub mod server;
