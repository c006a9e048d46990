//! dom0 provisioning for SecureDrop Workstation on Qubes OS 4.3.
//!
//! * [`config`] and [`validate`]: `config.json` and the submission key; [`configure`]: writing them from a guided first run.
//! * [`wire`] and [`admin`]: the Qubes Admin API, over qubesd's socket or qrexec.
//! * [`topology`]: every qube SecureDrop Workstation manages, as data.
//! * [`live`], [`plan`], [`apply`], [`check`], [`uninstall`]: converge, verify, remove.
//! * [`update`]: dom0, then the templates, then the qubes on changed templates; [`notify`]: the reminder when that is overdue.
//! * [`files`], [`policy`], [`desktop`]: what is written and set in dom0; [`inqube`], [`runner`]: what runs inside qubes.
//!
//! The command line is the `sdw-admin` crate (`provision-cli/`); the simulator
//! the tests run it against is the `qubesd-sim` crate (`qubesd-sim/`).

#![forbid(unsafe_code)]

pub mod admin;
pub mod apply;
pub mod check;
pub mod config;
pub mod configure;
pub mod desktop;
pub mod files;
pub mod fuzzing;
pub mod inqube;
pub mod live;
pub mod notify;
pub mod packages;
pub mod plan;
pub mod policy;
pub mod runner;
pub mod topology;
pub mod uninstall;
pub mod update;
pub mod validate;
pub mod wire;
