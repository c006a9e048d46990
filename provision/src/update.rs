//! `sdw-admin update`: dom0 first, then every template SecureDrop Workstation
//! uses, in dependency order, then restarting only the running qubes whose
//! template really changed.
//!
//! Owns the order, the decision of what changed (the template's `last-update`
//! feature, which `qubes-vm-update` sets when it installed something), what to
//! restart and in which order, and the report. The commands run in dom0 through
//! a [`QubeRunner`] (so the order is recorded and tested against the
//! simulator); power changes go through the Admin API.

use serde::Serialize;
use thiserror::Error;

use crate::admin::{Admin, AdminError};
use crate::inqube::{QubeCommand, DOM0};
use crate::live::Live;
use crate::runner::{QubeRunner, RunError};
use crate::topology::{Class, Topology};

/// Checks dom0 for updates: fails (non-zero) when some are available.
pub const DOM0_CHECK: &str = "qubes-dom0-update --check-only";
pub const DOM0_UPDATE: &str = "qubes-dom0-update -y";

#[derive(Debug, Error)]
pub enum UpdateError {
    #[error("updating {what}: {source}")]
    Run { what: String, source: RunError },
    #[error("{0}")]
    Admin(#[from] AdminError),
}

/// What happened to one template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateReport {
    pub template: String,
    /// `updated`, `no_updates` or `failed: REASON`.
    pub status: String,
    pub changed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `updated`, `no_updates` or `failed: REASON`.
    pub dom0: String,
    pub templates: Vec<TemplateReport>,
    /// Qubes shut down and started again because their template changed.
    pub restarted: Vec<String>,
    /// dom0 was updated: reboot before using the workstation.
    pub reboot_required: bool,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.dom0.starts_with("failed")
            || self
                .templates
                .iter()
                .any(|t| t.status.starts_with("failed"))
    }
}

fn dom0(command: &str) -> QubeCommand {
    QubeCommand {
        qube: DOM0.to_owned(),
        user: "root".to_owned(),
        command: command.to_owned(),
        input: None,
        effects: Vec::new(),
    }
}

/// `qubes-vm-update` for one template (it starts and stops the template itself).
pub fn template_update(template: &str) -> String {
    format!("qubes-vm-update --force-update --quiet --targets {template}")
}

/// The templates to update, in dependency order: every template of the topology
/// that exists and that some qube uses (directly, or through a disposable template).
pub fn templates(topology: &Topology, live: &Live) -> Vec<String> {
    topology
        .qubes
        .iter()
        .filter(|q| q.class == Class::TemplateVM && live.get(&q.name).is_some())
        .filter(|q| {
            live.vms
                .values()
                .any(|vm| vm.prop_value("template") == Some(q.name.as_str()))
        })
        .map(|q| q.name.clone())
        .collect()
}

/// The template a qube finally runs on (a DispVM through its disposable template).
fn base_template<'a>(live: &'a Live, name: &'a str) -> Option<&'a str> {
    let vm = live.get(name)?;
    let template = vm.prop_value("template").filter(|t| !t.is_empty())?;
    match live.get(template) {
        Some(t) if t.class == "TemplateVM" => Some(template),
        Some(_) => base_template(live, template),
        None => None,
    }
}

/// Running qubes on a changed template, in the topology's order (network
/// providers before their clients); qubes outside the topology last, by name.
pub fn restarts(topology: &Topology, live: &Live, changed: &[String]) -> Vec<String> {
    let affected = |name: &str| {
        live.get(name)
            .is_some_and(|vm| vm.running && vm.class != "TemplateVM" && !vm.is_preload())
            && base_template(live, name).is_some_and(|t| changed.iter().any(|c| c == t))
    };
    let mut out: Vec<String> = topology
        .qubes
        .iter()
        .map(|q| q.name.clone())
        .filter(|n| affected(n))
        .collect();
    for name in live.vms.keys() {
        if affected(name) && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// Something to show while it runs.
pub trait Progress {
    fn step(&mut self, index: usize, total: usize, what: &str);
}

/// Updates dom0, then the templates, then restarts what needs it.
pub fn update(
    topology: &Topology,
    live: &Live,
    admin: &Admin,
    runner: &mut dyn QubeRunner,
    progress: &mut dyn Progress,
) -> Result<Report, UpdateError> {
    let templates = templates(topology, live);
    let total = templates.len().saturating_add(2);
    let mut report = Report::default();

    progress.step(1, total, "dom0");
    report.dom0 = match runner.run(&dom0(DOM0_CHECK)) {
        Ok(()) => "no_updates".into(),
        Err(RunError::Failed { .. }) => match runner.run(&dom0(DOM0_UPDATE)) {
            Ok(()) => {
                report.reboot_required = true;
                "updated".into()
            }
            Err(e) => format!("failed: {e}"),
        },
        Err(source) => {
            return Err(UpdateError::Run {
                what: "dom0".into(),
                source,
            })
        }
    };

    let mut changed = Vec::new();
    for (i, template) in templates.iter().enumerate() {
        progress.step(i.saturating_add(2), total, template);
        let before = admin.feature(template, "last-update")?;
        let result = runner.run(&dom0(&template_update(template)));
        let after = admin.feature(template, "last-update")?;
        let was_changed = before != after;
        if was_changed {
            changed.push(template.clone());
        }
        let status = match result {
            Ok(()) if was_changed => "updated".into(),
            Ok(()) => "no_updates".into(),
            Err(e) => format!("failed: {e}"),
        };
        report.templates.push(TemplateReport {
            template: template.clone(),
            status,
            changed: was_changed,
        });
    }

    progress.step(total, total, "restarting qubes on changed templates");
    let restart = restarts(topology, live, &changed);
    // clients first when stopping, providers first when starting
    for name in restart.iter().rev() {
        admin.shutdown(name)?;
    }
    for name in &restart {
        admin.start(name)?;
    }
    report.restarted = restart;
    Ok(report)
}

/// The summary printed at the end.
pub fn summary(report: &Report) -> String {
    let mut out = format!("dom0: {}\n", report.dom0.replace('_', " "));
    for t in &report.templates {
        out.push_str(&format!("{}: {}\n", t.template, t.status.replace('_', " ")));
    }
    if report.restarted.is_empty() {
        out.push_str("No qube needed a restart.\n");
    } else {
        out.push_str(&format!(
            "Restarted on their updated template: {}\n",
            report.restarted.join(", ")
        ));
    }
    if report.reboot_required {
        out.push_str("dom0 was updated: reboot to complete the update.\n");
    }
    out
}
