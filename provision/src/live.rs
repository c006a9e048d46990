//! A snapshot of the live system, read through the Admin API.
//!
//! Owns what plan and check compare against: every qube with its class, power
//! state, properties, features, tags and private volume size, plus the global
//! properties; and what the probes inside configured templates found wrong
//! (our packages, group membership). Reading only: a template a probe had to
//! start is shut down again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;

use crate::admin::{Admin, AdminError, PropValue};
use crate::plan::is_configured;
use crate::runner::{QubeRunner, RunError};
use crate::topology::{Layout, Topology};

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("probing {qube}: {source}")]
    Run { qube: String, source: RunError },
    #[error("stopping {qube} after probing it: {source}")]
    Stop { qube: String, source: AdminError },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveVm {
    pub class: String,
    pub running: bool,
    pub props: BTreeMap<String, PropValue>,
    pub features: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
    pub private_size: Option<u64>,
}

impl LiveVm {
    pub fn prop(&self, name: &str) -> Option<&PropValue> {
        self.props.get(name)
    }

    pub fn prop_value(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(|p| p.value.as_str())
    }

    /// Preloaded disposables are left out of direct management.
    pub fn is_preload(&self) -> bool {
        self.prop_value("is_preload") == Some("True")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Live {
    pub vms: BTreeMap<String, LiveVm>,
    pub global: BTreeMap<String, PropValue>,
    pub labels: Vec<String>,
    /// dom0's features (e.g. the record of the GUI user's desktop settings).
    pub dom0_features: BTreeMap<String, String>,
    /// Problems the probes found inside configured qubes (see [`Live::probe_inside`]).
    pub inside: BTreeMap<String, Vec<String>>,
}

pub const GLOBAL_PROPS: &[&str] = &["default_template", "default_dispvm", "default_netvm"];

impl Live {
    pub fn read(admin: &Admin) -> Result<Self, AdminError> {
        let mut vms = BTreeMap::new();
        for entry in admin.list_vms()? {
            if entry.class == "AdminVM" {
                continue;
            }
            let name = entry.name;
            let private_size = match admin.volume_size(&name, "private") {
                Ok(size) => Some(size),
                Err(e) if e.qubes().is_some() => None,
                Err(e) => return Err(e),
            };
            vms.insert(
                name.clone(),
                LiveVm {
                    class: entry.class,
                    running: entry.running,
                    props: admin.props(&name)?,
                    features: admin.features(&name)?,
                    tags: admin.tags(&name)?,
                    private_size,
                },
            );
        }
        let mut global = BTreeMap::new();
        for prop in GLOBAL_PROPS {
            global.insert((*prop).to_owned(), admin.global_prop(prop)?);
        }
        Ok(Live {
            vms,
            global,
            labels: admin.labels()?,
            dom0_features: admin.features(crate::inqube::DOM0)?,
            inside: BTreeMap::new(),
        })
    }

    /// Runs the probes of every qube whose recorded configuration is current
    /// (one that is not gets configured anyway) and keeps what they found wrong.
    /// A qube that was halted is shut down again afterwards (qvm-run starts it).
    pub fn probe_inside(
        &mut self,
        topology: &Topology,
        runner: &mut dyn QubeRunner,
        admin: &Admin,
    ) -> Result<(), ProbeError> {
        for q in &topology.qubes {
            let Some(config) = q.configure.as_ref().filter(|c| !c.expect.is_empty()) else {
                continue;
            };
            let Some(vm) = self.vms.get(&q.name) else {
                continue;
            };
            if config.in_dom0 || !is_configured(vm, config) {
                continue;
            }
            let mut problems = Vec::new();
            for expect in &config.expect {
                let observed = runner
                    .probe(&q.name, expect)
                    .map_err(|source| ProbeError::Run {
                        qube: q.name.clone(),
                        source,
                    })?;
                problems.extend(expect.problem(&observed));
            }
            if !vm.running {
                admin.shutdown(&q.name).map_err(|source| ProbeError::Stop {
                    qube: q.name.clone(),
                    source,
                })?;
            }
            if !problems.is_empty() {
                self.inside.insert(q.name.clone(), problems);
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&LiveVm> {
        self.vms.get(name)
    }

    pub fn global_value(&self, prop: &str) -> Option<&str> {
        self.global.get(prop).map(|p| p.value.as_str())
    }

    fn is_dispvm(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.class == "DispVM")
    }

    /// Which system qubes run as disposables, from their class.
    pub fn layout(&self) -> Layout {
        Layout {
            sys_net_disposable: self.is_dispvm("sys-net"),
            sys_firewall_disposable: self.is_dispvm("sys-firewall"),
            sys_usb_disposable: self.is_dispvm("sys-usb"),
            whonix_gateway: self.get(crate::topology::WHONIX_GATEWAY).is_some(),
        }
    }

    /// Managed qubes carrying a tag (preloaded disposables excluded).
    pub fn tagged(&self, tag: &str) -> Vec<&str> {
        self.vms
            .iter()
            .filter(|(_, vm)| vm.tags.contains(tag) && !vm.is_preload())
            .map(|(n, _)| n.as_str())
            .collect()
    }
}
