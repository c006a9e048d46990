//! dom0 provisioning for SecureDrop Workstation on Qubes OS 4.3.
//!
//! * [`config`] and [`validate`]: `config.json` and the submission key.
//! * [`wire`] and [`admin`]: the Qubes Admin API, over qubesd's socket or qrexec.
//! * [`topology`]: every qube SecureDrop Workstation manages, as data.
//! * [`live`], [`plan`], [`apply`], [`check`], [`uninstall`]: converge, verify, remove.
//! * [`files`], [`policy`]: what is written in dom0; [`inqube`], [`runner`]: what runs inside qubes.
//! * [`sim`]: `qubesd-sim`, the simulator the tests run against.

#![forbid(unsafe_code)]

pub mod admin;
pub mod apply;
pub mod check;
pub mod cli;
pub mod config;
pub mod files;
pub mod fuzzing;
pub mod inqube;
pub mod live;
pub mod packages;
pub mod plan;
pub mod policy;
pub mod runner;
pub mod sim;
pub mod topology;
pub mod uninstall;
pub mod validate;
pub mod wire;
