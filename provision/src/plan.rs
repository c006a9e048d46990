//! The changes that converge the live system on the topology.
//!
//! Owns the decision of what to create, set, reset, resize (never shrink),
//! configure, restart and remove, and in which order. Pure: it compares a
//! [`Live`] snapshot and the dom0 file state with the [`Topology`]; executing
//! the steps is [`crate::apply`].

use std::fmt;

use serde::Serialize;

use crate::files::Dom0File;
use crate::inqube::{QubeCommand, QubeConfig, CONFIGURED_FEATURE};
use crate::live::{Live, LiveVm};
use crate::topology::{Class, Feature, Origin, Owner, Pref, Qube, Topology, SD_LOG_EPOCH};

/// One change, in wire terms. `was` carries the live value for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    WriteFile {
        path: String,
        mode: u32,
        #[serde(skip)]
        content: Vec<u8>,
    },
    RemoveFile {
        path: String,
    },
    Create {
        qube: String,
        class: String,
        template: Option<String>,
        label: String,
    },
    Clone {
        qube: String,
        source: String,
        label: String,
    },
    Set {
        qube: String,
        property: String,
        value: String,
        was: Option<String>,
    },
    Reset {
        qube: String,
        property: String,
        was: String,
    },
    SetFeature {
        qube: String,
        feature: String,
        value: String,
        was: Option<String>,
    },
    RemoveFeature {
        qube: String,
        feature: String,
        was: Option<String>,
    },
    SetTag {
        qube: String,
        tag: String,
    },
    RemoveTag {
        qube: String,
        tag: String,
    },
    /// Grow to exactly `bytes`; refused at execution if the volume is bigger.
    Resize {
        qube: String,
        volume: String,
        bytes: u64,
        was: Option<u64>,
    },
    Configure {
        qube: String,
        purpose: String,
        digest: String,
        shutdown_after: bool,
        commands: Vec<QubeCommand>,
    },
    Shutdown {
        qube: String,
        reason: String,
    },
    Kill {
        qube: String,
        reason: String,
    },
    Start {
        qube: String,
    },
    Remove {
        qube: String,
        reason: String,
    },
    SetGlobal {
        property: String,
        value: String,
        was: Option<String>,
    },
}

/// `10 GiB`, or the exact byte count when it is not whole GiB.
fn size_text(bytes: u64) -> String {
    let gib = crate::config::GIB;
    if bytes.checked_rem(gib) == Some(0) {
        format!("{} GiB", bytes / gib)
    } else {
        format!("{bytes} bytes")
    }
}

fn none_if_empty(v: &str) -> &str {
    if v.is_empty() {
        "None"
    } else {
        v
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let was = |w: &Option<String>| match w {
            Some(w) => format!(" (was {})", none_if_empty(w)),
            None => String::new(),
        };
        match self {
            Step::WriteFile { path, mode, .. } => write!(f, "write  {path} (mode {mode:o})"),
            Step::RemoveFile { path } => write!(f, "remove {path}"),
            Step::Create {
                qube,
                class,
                template,
                label,
            } => match template {
                Some(t) => write!(f, "create {class} {qube} on {t}, label {label}"),
                None => write!(f, "create {class} {qube}, label {label}"),
            },
            Step::Clone {
                qube,
                source,
                label,
            } => write!(f, "create {qube} as a clone of {source}, label {label}"),
            Step::Set {
                qube,
                property,
                value,
                was: w,
            } => {
                write!(
                    f,
                    "set    {qube} {property} = {}{}",
                    none_if_empty(value),
                    was(w)
                )
            }
            Step::Reset {
                qube,
                property,
                was: w,
            } => {
                write!(
                    f,
                    "reset  {qube} {property} to its default (was {})",
                    none_if_empty(w)
                )
            }
            Step::SetFeature {
                qube,
                feature,
                value,
                was: w,
            } => {
                let was = w
                    .as_ref()
                    .map_or(String::new(), |w| format!(" (was {w:?})"));
                write!(f, "set    {qube} feature {feature} = {value:?}{was}")
            }
            Step::RemoveFeature { qube, feature, .. } => {
                write!(f, "remove {qube} feature {feature}")
            }
            Step::SetTag { qube, tag } => write!(f, "set    {qube} tag {tag}"),
            Step::RemoveTag { qube, tag } => write!(f, "remove {qube} tag {tag}"),
            Step::Resize {
                qube,
                volume,
                bytes,
                was: w,
            } => {
                let gib = size_text;
                match w {
                    Some(w) => write!(
                        f,
                        "resize {qube}:{volume} to {} (was {})",
                        gib(*bytes),
                        gib(*w)
                    ),
                    None => write!(f, "resize {qube}:{volume} to {}", gib(*bytes)),
                }
            }
            Step::Configure {
                qube,
                purpose,
                commands,
                ..
            } => {
                write!(
                    f,
                    "run    {} commands in {qube} ({purpose})",
                    commands.len()
                )
            }
            Step::Shutdown { qube, reason } => write!(f, "stop   {qube} ({reason})"),
            Step::Kill { qube, reason } => write!(f, "kill   {qube} ({reason})"),
            Step::Start { qube } => write!(f, "start  {qube}"),
            Step::Remove { qube, reason } => write!(f, "remove {qube} ({reason})"),
            Step::SetGlobal {
                property,
                value,
                was: w,
            } => {
                write!(
                    f,
                    "set    dom0 global {property} = {}{}",
                    none_if_empty(value),
                    was(w)
                )
            }
        }
    }
}

/// Something provisioning cannot fix by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub qube: String,
    pub problem: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.qube, self.problem)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub blockers: Vec<Blocker>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The dom0 files and their state, as [`crate::files`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub file: Dom0File,
    pub current: bool,
}

/// Why an existing qube must be removed and created again, if it must.
fn must_recreate(q: &Qube, live: &LiveVm) -> Option<String> {
    if q.owner == Owner::System {
        return None;
    }
    if live.class != q.class.as_str() {
        return Some(format!(
            "is a {}, must be a {}",
            live.class,
            q.class.as_str()
        ));
    }
    if q.name == "sd-log" {
        let epoch = live.features.get("sd-install-epoch");
        if epoch.map(String::as_str) != Some(SD_LOG_EPOCH) {
            return Some(format!(
                "install epoch {} is not {SD_LOG_EPOCH}: recreated, its logs are lost",
                epoch.map_or("unset", String::as_str)
            ));
        }
    }
    None
}

/// The in-qube configuration is applied: its digest is recorded, or Qubes recorded it as done.
pub fn is_configured(vm: &LiveVm, config: &QubeConfig) -> bool {
    let digest_ok = vm.features.get(CONFIGURED_FEATURE) == Some(&config.digest());
    let done = config
        .done_when_feature
        .is_some_and(|f| vm.features.get(f).is_some_and(|v| !v.is_empty()));
    digest_ok || done
}

fn pref_converged(live: &LiveVm, prop: &str, want: &Pref) -> bool {
    match (live.prop(prop), want) {
        (Some(p), Pref::Set(v)) => !p.is_default && p.value == *v,
        (Some(p), Pref::Default) => p.is_default,
        (None, _) => false,
    }
}

struct Planner<'a> {
    live: &'a Live,
    plan: Plan,
    /// Qubes configured by this plan (their dependants restart).
    configured: Vec<String>,
}

/// The steps that converge `live` on `topology` and `files`.
pub fn plan(topology: &Topology, live: &Live, files: &[FileState], stale_files: &[String]) -> Plan {
    let mut p = Planner {
        live,
        plan: Plan::default(),
        configured: Vec::new(),
    };
    for f in files.iter().filter(|f| !f.current) {
        p.push(Step::WriteFile {
            path: f.file.path.clone(),
            mode: f.file.mode,
            content: f.file.content.clone(),
        });
        // a (re)written desktop launcher is marked trusted again, as its user
        let user =
            f.file.path.strip_prefix("/home/").and_then(|rest| {
                rest.strip_suffix("/Desktop/press.freedom.SecureDropUpdater.desktop")
            });
        if let Some(user) = user {
            p.push(Step::Configure {
                qube: crate::inqube::DOM0.into(),
                purpose: "mark the update launcher trusted".into(),
                digest: String::new(),
                shutdown_after: false,
                commands: vec![QubeCommand {
                    qube: crate::inqube::DOM0.into(),
                    user: "root".into(),
                    command: crate::files::trust_launcher(user),
                    input: None,
                    effects: Vec::new(),
                }],
            });
        }
    }
    if let Some(step) = topology.desktop.as_ref().and_then(|d| d.step(live)) {
        p.push(step);
    }
    for path in stale_files {
        p.push(Step::RemoveFile { path: path.clone() });
    }
    for q in &topology.qubes {
        p.qube(q);
    }
    for (prop, value) in &topology.global {
        let live_value = live.global.get(prop);
        if !live_value.is_some_and(|v| !v.is_default && v.value == *value) {
            p.push(Step::SetGlobal {
                property: prop.clone(),
                value: value.clone(),
                was: live_value.map(|v| v.value.clone()),
            });
        }
    }
    for name in &topology.obsolete {
        if let Some(vm) = live.get(name) {
            if vm.running {
                p.push(Step::Shutdown {
                    qube: name.clone(),
                    reason: "before removal".into(),
                });
            }
            p.push(Step::Remove {
                qube: name.clone(),
                reason: "no longer used by SecureDrop Workstation".into(),
            });
        }
    }
    for name in &topology.reset_kernelopts {
        if let Some(p_live) = live.get(name).and_then(|vm| vm.prop("kernelopts")) {
            if !p_live.is_default {
                p.push(Step::Reset {
                    qube: name.clone(),
                    property: "kernelopts".into(),
                    was: p_live.value.clone(),
                });
            }
        }
    }
    p.plan
}

impl Planner<'_> {
    fn push(&mut self, step: Step) {
        self.plan.steps.push(step);
    }

    fn block(&mut self, qube: &str, problem: String) {
        self.plan.blockers.push(Blocker {
            qube: qube.to_owned(),
            problem,
        });
    }

    fn qube(&mut self, q: &Qube) {
        let name = q.name.as_str();
        let mut live = self.live.get(name).filter(|vm| !vm.is_preload());
        if let Some(vm) = live {
            if let Some(reason) = must_recreate(q, vm) {
                if vm.running {
                    self.push(Step::Shutdown {
                        qube: name.into(),
                        reason: "before removal".into(),
                    });
                }
                self.push(Step::Remove {
                    qube: name.into(),
                    reason,
                });
                live = None;
            }
        }
        let mut was_running = false;
        let created = live.is_none();
        match live {
            Some(vm) => {
                was_running = vm.running;
                self.adjust(q, vm);
            }
            None => {
                if !self.create(q) {
                    return;
                }
                self.initialise(q);
            }
        }
        if let Some(config) = &q.configure {
            let digest = config.digest();
            // A probe inside the qube found the result gone (e.g. our package removed or downgraded).
            let found_wrong = live
                .is_some()
                .then(|| self.live.inside.get(name))
                .flatten()
                .filter(|p| !p.is_empty());
            if !live.is_some_and(|vm| is_configured(vm, config)) || found_wrong.is_some() {
                let purpose = match found_wrong {
                    Some(problems) => format!("{}: {}", config.purpose, problems.join("; ")),
                    None => config.purpose.to_owned(),
                };
                // Disposables see a change of their disposable template only after a restart.
                if q.class != Class::TemplateVM {
                    self.configured.push(name.to_owned());
                }
                self.push(Step::Configure {
                    qube: name.into(),
                    purpose,
                    digest,
                    shutdown_after: q.class == Class::TemplateVM || q.owner == Owner::Support,
                    commands: config.commands(name),
                });
            }
        }
        // A system qube whose template changed, or whose disposable template was
        // reconfigured, is started again if it was running.
        let template_changed = !created
            && q.template.as_ref().is_some_and(|t| {
                live.is_some_and(|vm| !pref_converged(vm, "template", &Pref::Set(t.clone())))
            });
        let base_reconfigured = q
            .template
            .as_ref()
            .is_some_and(|t| self.configured.contains(t));
        if q.restart_on_change && was_running && (template_changed || base_reconfigured) {
            if !template_changed {
                self.push(Step::Shutdown {
                    qube: name.into(),
                    reason: "to pick up its template's changes".into(),
                });
            }
            self.push(Step::Start { qube: name.into() });
        }
    }

    /// Creates a missing qube; false if it cannot be created.
    fn create(&mut self, q: &Qube) -> bool {
        let name = q.name.as_str();
        if q.origin != Origin::Preinstalled && !self.live.labels.iter().any(|l| l == q.label) {
            self.block(
                name,
                format!(
                    "cannot be created: label {} does not exist in this system",
                    q.label
                ),
            );
            return false;
        }
        match &q.origin {
            Origin::Preinstalled => {
                self.block(name, format!("missing: it comes with Qubes OS (install it with `qvm-template install {name}` or the Qubes installer)"));
                false
            }
            Origin::Clone(source) => {
                let planned = self
                    .plan
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::Clone { qube, .. } if qube == source));
                if self.live.get(source).is_none() && !planned {
                    self.block(name, format!("cannot be created: its source template {source} is missing (`qvm-template install {source}`)"));
                    return false;
                }
                self.push(Step::Clone {
                    qube: name.into(),
                    source: source.clone(),
                    label: q.label.into(),
                });
                true
            }
            Origin::Create => {
                self.push(Step::Create {
                    qube: name.into(),
                    class: q.class.as_str().into(),
                    template: q.template.clone(),
                    label: q.label.into(),
                });
                true
            }
        }
    }

    /// Everything a new qube needs after creation.
    fn initialise(&mut self, q: &Qube) {
        let name = &q.name;
        for (prop, want) in &q.prefs {
            match want {
                Pref::Set(v) if prop != "template" => self.push(Step::Set {
                    qube: name.clone(),
                    property: prop.clone(),
                    value: v.clone(),
                    was: None,
                }),
                Pref::Default => self.push(Step::Reset {
                    qube: name.clone(),
                    property: prop.clone(),
                    was: String::new(),
                }),
                _ => {}
            }
        }
        for (feature, want) in &q.features {
            match want {
                Feature::Set(v) => self.push(Step::SetFeature {
                    qube: name.clone(),
                    feature: feature.clone(),
                    value: v.clone(),
                    was: None,
                }),
                // A DispVM or a clone inherits features at creation.
                Feature::Absent
                    if q.class == Class::DispVM || matches!(q.origin, Origin::Clone(_)) =>
                {
                    self.push(Step::RemoveFeature {
                        qube: name.clone(),
                        feature: feature.clone(),
                        was: None,
                    })
                }
                Feature::Absent => {}
            }
        }
        for tag in &q.tags {
            self.push(Step::SetTag {
                qube: name.clone(),
                tag: tag.clone(),
            });
        }
        if let Some(bytes) = q.private_size {
            self.push(Step::Resize {
                qube: name.clone(),
                volume: "private".into(),
                bytes,
                was: None,
            });
        }
    }

    /// The changes an existing qube needs.
    fn adjust(&mut self, q: &Qube, vm: &LiveVm) {
        let name = &q.name;
        let mut halted = !vm.running;
        for (prop, want) in &q.prefs {
            if pref_converged(vm, prop, want) {
                continue;
            }
            let was = vm.prop_value(prop).unwrap_or_default().to_owned();
            match want {
                Pref::Set(v) => {
                    if prop == "template" && !halted {
                        self.push(Step::Shutdown {
                            qube: name.clone(),
                            reason: "its template changes".into(),
                        });
                        halted = true;
                    }
                    self.push(Step::Set {
                        qube: name.clone(),
                        property: prop.clone(),
                        value: v.clone(),
                        was: Some(was),
                    });
                }
                Pref::Default => self.push(Step::Reset {
                    qube: name.clone(),
                    property: prop.clone(),
                    was,
                }),
            }
        }
        for (feature, want) in &q.features {
            let current = vm.features.get(feature);
            match want {
                Feature::Set(v) if current != Some(v) => self.push(Step::SetFeature {
                    qube: name.clone(),
                    feature: feature.clone(),
                    value: v.clone(),
                    was: current.cloned(),
                }),
                Feature::Absent if current.is_some() => self.push(Step::RemoveFeature {
                    qube: name.clone(),
                    feature: feature.clone(),
                    was: current.cloned(),
                }),
                _ => {}
            }
        }
        for tag in &q.tags {
            if !vm.tags.contains(tag) {
                self.push(Step::SetTag {
                    qube: name.clone(),
                    tag: tag.clone(),
                });
            }
        }
        if let Some(bytes) = q.private_size {
            match vm.private_size {
                Some(size) if size > bytes => self.block(
                    name,
                    format!("{name} private volume is already bigger than configuration ({size} > {bytes} bytes); volumes are never shrunk"),
                ),
                Some(size) if size == bytes => {}
                was => self.push(Step::Resize { qube: name.clone(), volume: "private".into(), bytes, was }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::PropValue;
    use crate::topology::{topology, Layout};

    fn topo() -> Topology {
        let config = crate::topology::tests::config("prod");
        let layout = Layout {
            sys_usb_disposable: true,
            ..Layout::default()
        };
        topology(
            &config,
            layout,
            &crate::topology::tests::apt_key(),
            &crate::inqube::PackageSource::Repository,
        )
    }

    fn vm(class: &str, running: bool) -> LiveVm {
        LiveVm {
            class: class.into(),
            running,
            props: Default::default(),
            features: Default::default(),
            tags: Default::default(),
            private_size: Some(2 * crate::config::GIB),
        }
    }

    fn set(vm: &mut LiveVm, prop: &str, value: &str) {
        vm.props.insert(
            prop.into(),
            PropValue {
                is_default: false,
                ty: "str".into(),
                value: value.into(),
            },
        );
    }

    fn stock() -> Live {
        let mut live = Live {
            labels: [
                "red", "orange", "yellow", "green", "gray", "blue", "purple", "black",
            ]
            .map(str::to_owned)
            .to_vec(),
            ..Live::default()
        };
        for name in ["fedora-43-xfce", "debian-13-minimal"] {
            live.vms.insert(name.into(), vm("TemplateVM", false));
        }
        for name in ["sys-net", "sys-firewall", "default-mgmt-dvm", "default-dvm"] {
            let mut v = vm("AppVM", name.starts_with("sys"));
            set(&mut v, "template", "fedora-43-xfce");
            live.vms.insert(name.into(), v);
        }
        let mut usb = vm("DispVM", true);
        set(&mut usb, "template", "default-dvm");
        live.vms.insert("sys-usb".into(), usb);
        live
    }

    fn position(plan: &Plan, pred: impl Fn(&Step) -> bool) -> Option<usize> {
        plan.steps.iter().position(pred)
    }

    #[test]
    fn creates_everything_in_dependency_order_on_a_stock_system() {
        let plan = plan(&topo(), &stock(), &[], &[]);
        assert_eq!(plan.blockers, vec![]);
        let created: Vec<&str> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Create { qube, .. } | Step::Clone { qube, .. } => Some(qube.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            created,
            [
                "fedora-43-dvm",
                "sd-fedora-43-dvm",
                "sd-base-debian-13",
                "sd-inbox-debian-13",
                "sd-viewer-debian-13",
                "sd-viewer",
                "sd-devices-dvm",
                "sd-devices",
                "sd-printers",
                "sd-proxy-dvm",
                "sd-proxy",
                "sd-gpg",
                "sd-log",
                "sd-app"
            ]
        );
        // sd-base is configured before it is cloned into the other templates
        let configure_base = position(
            &plan,
            |s| matches!(s, Step::Configure { qube, .. } if qube == "sd-base-debian-13"),
        );
        let clone_inbox = position(
            &plan,
            |s| matches!(s, Step::Clone { qube, .. } if qube == "sd-inbox-debian-13"),
        );
        assert!(matches!((configure_base, clone_inbox), (Some(a), Some(b)) if a < b));
        // template_for_dispvms before the named DispVM
        let tfd = position(
            &plan,
            |s| matches!(s, Step::Set { qube, property, .. } if qube == "sd-devices-dvm" && property == "template_for_dispvms"),
        );
        let disp = position(
            &plan,
            |s| matches!(s, Step::Create { qube, .. } if qube == "sd-devices"),
        );
        assert!(matches!((tfd, disp), (Some(a), Some(b)) if a < b));
        // sys-usb: stopped, re-templated, started after its new template got the files
        let usb: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| format!("{s}").contains("sys-usb"))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            usb,
            [
                "stop   sys-usb (its template changes)",
                "set    sys-usb template = sd-fedora-43-dvm (was default-dvm)",
                "start  sys-usb"
            ]
        );
        assert!(plan.steps.last().is_some_and(
            |s| matches!(s, Step::SetGlobal { property, .. } if property == "default_dispvm")
        ));
    }

    #[test]
    fn is_empty_when_nothing_differs_except_for_missing_qubes() {
        let mut live = stock();
        live.vms.remove("fedora-43-xfce");
        let plan = plan(&topo(), &live, &[], &[]);
        assert_eq!(
            plan.blockers.first().map(|b| b.qube.as_str()),
            Some("fedora-43-xfce")
        );
    }

    #[test]
    fn refuses_to_create_with_a_label_the_system_does_not_have() {
        let mut live = stock();
        live.labels.retain(|l| l != "purple");
        let plan = plan(&topo(), &live, &[], &[]);
        assert_eq!(
            plan.blockers
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>(),
            ["sd-gpg: cannot be created: label purple does not exist in this system"]
        );
    }

    #[test]
    fn restarts_sys_usb_when_its_disposable_template_changes_but_not_sys_net_for_a_template_update()
    {
        let t = topo();
        let mut live = stock();
        if let Some(fedora) = live.vms.get_mut("fedora-43-xfce") {
            fedora.features.remove("last-update");
        }
        let mut usb_dvm = vm("AppVM", false);
        set(&mut usb_dvm, "template", "fedora-43-xfce");
        live.vms.insert("sd-fedora-43-dvm".into(), usb_dvm);
        if let Some(usb) = live.vms.get_mut("sys-usb") {
            set(usb, "template", "sd-fedora-43-dvm");
        }
        let plan = plan(&t, &live, &[], &[]);
        let text: Vec<String> = plan.steps.iter().map(|s| s.to_string()).collect();
        assert!(text.contains(&"run    1 commands in fedora-43-xfce (first update)".to_owned()));
        assert!(text
            .contains(&"run    5 commands in sd-fedora-43-dvm (USB auto-attach files)".to_owned()));
        assert!(text.contains(&"stop   sys-usb (to pick up its template's changes)".to_owned()));
        assert!(text.contains(&"start  sys-usb".to_owned()));
        for q in ["sys-net", "sys-firewall"] {
            let stopped = text.iter().any(|t| t.starts_with("stop") && t.contains(q));
            assert!(!stopped, "{q} must be left running");
        }
    }

    #[test]
    fn never_shrinks_and_grows_to_the_exact_size() {
        let t = topo();
        let mut live = stock();
        let mut app = vm("AppVM", false);
        app.private_size = Some(20 * crate::config::GIB);
        live.vms.insert("sd-app".into(), app);
        let mut log = vm("AppVM", false);
        log.features
            .insert("sd-install-epoch".into(), "1001".into());
        log.private_size = Some(crate::config::GIB);
        live.vms.insert("sd-log".into(), log);
        let plan = plan(&t, &live, &[], &[]);
        assert!(plan.blockers.iter().any(|b| b
            .problem
            .starts_with("sd-app private volume is already bigger than configuration")));
        assert!(plan.steps.iter().any(|s| matches!(s, Step::Resize { qube, bytes, .. } if qube == "sd-log" && *bytes == 5 * crate::config::GIB)));
        assert!(!plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::Resize { qube, .. } if qube == "sd-app")));
    }

    #[test]
    fn recreates_sd_log_with_an_old_epoch_and_a_qube_of_the_wrong_class() {
        let mut live = stock();
        live.vms.insert("sd-log".into(), vm("AppVM", true));
        live.vms.insert("sd-proxy".into(), vm("AppVM", false));
        let plan = plan(&topo(), &live, &[], &[]);
        let text: Vec<String> = plan.steps.iter().map(|s| s.to_string()).collect();
        assert!(text.contains(&"stop   sd-log (before removal)".to_owned()));
        assert!(text
            .iter()
            .any(|t| t.starts_with("remove sd-log (install epoch unset is not 1001")));
        assert!(text
            .iter()
            .any(|t| t == "remove sd-proxy (is a AppVM, must be a DispVM)"));
        assert!(text
            .iter()
            .any(|t| t == "create DispVM sd-proxy on sd-proxy-dvm, label blue"));
    }

    #[test]
    fn removes_obsolete_qubes_and_resets_whonix_kernelopts() {
        let mut live = stock();
        live.vms.insert("sd-whonix".into(), vm("AppVM", true));
        let mut gw = vm("TemplateVM", false);
        set(&mut gw, "kernelopts", "nopat");
        live.vms.insert("whonix-gateway-17".into(), gw);
        let plan = plan(&topo(), &live, &[], &[]);
        let text: Vec<String> = plan.steps.iter().map(|s| s.to_string()).collect();
        assert!(text.contains(&"stop   sd-whonix (before removal)".to_owned()));
        assert!(text
            .contains(&"remove sd-whonix (no longer used by SecureDrop Workstation)".to_owned()));
        assert!(text.contains(
            &"reset  whonix-gateway-17 kernelopts to its default (was nopat)".to_owned()
        ));
    }

    #[test]
    fn reconfigures_a_template_whose_probe_found_our_package_missing() {
        let t = topo();
        let mut live = stock();
        for q in &t.qubes {
            if live.get(&q.name).is_none() && q.class == Class::TemplateVM {
                let mut v = vm("TemplateVM", false);
                for (prop, want) in &q.prefs {
                    if let Pref::Set(value) = want {
                        set(&mut v, prop, value);
                    }
                }
                for (f, want) in &q.features {
                    if let Feature::Set(value) = want {
                        v.features.insert(f.clone(), value.clone());
                    }
                }
                v.tags = q.tags.iter().cloned().collect();
                if let Some(c) = &q.configure {
                    v.features.insert(CONFIGURED_FEATURE.into(), c.digest());
                }
                live.vms.insert(q.name.clone(), v);
            }
        }
        let configured = |plan: &Plan| -> Vec<String> {
            plan.steps
                .iter()
                .filter(|s| matches!(s, Step::Configure { qube, .. } if qube.starts_with("sd-") && qube.ends_with("-debian-13")))
                .map(|s| s.to_string())
                .collect()
        };
        assert_eq!(configured(&plan(&t, &live, &[], &[])), Vec::<String>::new());
        live.inside.insert(
            "sd-viewer-debian-13".into(),
            vec![
                "sdw-devices is not installed".into(),
                "user is not in group lpadmin".into(),
            ],
        );
        assert_eq!(
            configured(&plan(&t, &live, &[], &[])),
            ["run    8 commands in sd-viewer-debian-13 (template packages: sdw-devices is not installed; user is not in group lpadmin)"]
        );
    }
}
