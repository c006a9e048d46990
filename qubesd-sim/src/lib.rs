//! `qubesd-sim`: a protocol-faithful stand-in for Qubes OS 4.3's qubesd, for
//! tests and dry runs.
//!
//! It listens on a unix socket ([`server`]), speaks the Admin API framing of
//! [`sdw_provision::wire`] with qubesd's methods, exceptions and payload formats
//! ([`api`]), streams `admin.Events`, and models a Qubes system: the data
//! ([`model`]), the stock system the installer leaves ([`stock`]), the property
//! rules ([`props`]) and the life of a qube ([`lifecycle`]). It never touches a
//! real system.

pub mod api;
pub mod fuzzing;
pub mod lifecycle;
pub mod model;
pub mod props;
pub mod server;
pub mod stock;
