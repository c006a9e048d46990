//! dom0 provisioning for SecureDrop Workstation on Qubes OS 4.3.
//!
//! * [`config`] and [`validate`]: `config.json` and the submission key.
//! * [`wire`] and [`admin`]: the Qubes Admin API, over qubesd's socket or qrexec.
//! * [`topology`]: every qube SecureDrop Workstation manages, as data.
//! * [`live`], [`plan`], [`apply`], [`check`], [`uninstall`]: converge, verify, remove.
//! * [`files`], [`runner`]: what is written in dom0 and what runs inside qubes.
//! * [`sim`]: `qubesd-sim`, the simulator the tests run against.

#![forbid(unsafe_code)]

pub mod config;
pub mod sim;
pub mod wire;
