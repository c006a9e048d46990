//! Verifying the live system against the topology.
//!
//! Owns the list of assertions: everything the topology says (qubes, classes,
//! templates, properties, features, tags, volume sizes, in-qube configuration,
//! dom0 files) plus what SecureDrop Workstation's own dom0 test-suite asserts
//! about qubes, prefs, features, tags and qrexec policy edges. Pure: it reads a
//! [`Live`] snapshot and the installed policy text.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::inqube::CONFIGURED_FEATURE;
use crate::live::Live;
use crate::plan::{is_configured, FileState};
use crate::policy::{self, Tags};
use crate::topology::{Feature, Pref, Topology, FEDORA_TEMPLATE, SDW_TAG};
use sdw_protocol::layout::{CLIENT_QUBE, DEVICES_QUBE, PRINTERS_QUBE, QREXEC_EXPORT_SERVICE};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub qube: String,
    pub problem: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.qube, self.problem)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: usize,
    pub drift: Vec<Drift>,
}

impl Report {
    fn require(&mut self, ok: bool, qube: &str, problem: impl FnOnce() -> String) {
        self.checks = self.checks.saturating_add(1);
        if !ok {
            self.drift.push(Drift {
                qube: qube.to_owned(),
                problem: problem(),
            });
        }
    }
}

fn show(v: Option<&str>) -> String {
    match v {
        None => "missing".into(),
        Some("") => "None".into(),
        Some(v) => v.into(),
    }
}

/// Checks the system. `policy_text` is the content of the installed 31 and 32 files.
/// `today` is the current date in days since 1970-01-01 (for the `os-eol` check).
pub fn check(
    topology: &Topology,
    live: &Live,
    files: &[FileState],
    policy_text: &str,
    today: i64,
) -> Report {
    let mut r = Report::default();
    for f in files {
        r.require(f.current, "dom0", || {
            format!(
                "{} is missing or differs from what sdw-admin installs",
                f.file.path
            )
        });
    }
    if let Some(desktop) = &topology.desktop {
        r.require(desktop.is_applied(live), "dom0", || {
            format!(
                "{}'s Xfce settings (icon size, power-management menu) are not applied",
                desktop.user
            )
        });
    }
    check_topology(&mut r, topology, live);
    check_test_suite(&mut r, topology, live);
    check_templates_current(&mut r, live, today);
    check_policy(&mut r, live, policy_text);
    r
}

fn check_topology(r: &mut Report, topology: &Topology, live: &Live) {
    for q in &topology.qubes {
        let name = q.name.as_str();
        let Some(vm) = live.get(name) else {
            r.require(false, name, || "does not exist".into());
            continue;
        };
        r.require(vm.class == q.class.as_str(), name, || {
            format!("is a {}, expected {}", vm.class, q.class.as_str())
        });
        for (prop, want) in &q.prefs {
            let p = vm.prop(prop);
            match want {
                Pref::Set(v) => r.require(
                    p.is_some_and(|p| !p.is_default && p.value == *v),
                    name,
                    || {
                        let default = if p.is_some_and(|p| p.is_default) {
                            " (default)"
                        } else {
                            ""
                        };
                        format!(
                            "{prop} is {}{default}, expected {}",
                            show(p.map(|p| p.value.as_str())),
                            show(Some(v))
                        )
                    },
                ),
                Pref::Default => r.require(p.is_some_and(|p| p.is_default), name, || {
                    format!("{prop} is not at its default")
                }),
            }
        }
        for (feature, want) in &q.features {
            let current = vm.features.get(feature).map(String::as_str);
            match want {
                Feature::Set(v) => r.require(current == Some(v.as_str()), name, || {
                    format!(
                        "feature {feature} is {}, expected {v:?}",
                        current.map_or("unset".into(), |c| format!("{c:?}"))
                    )
                }),
                Feature::Absent => r.require(current.is_none(), name, || {
                    format!("feature {feature} is set, expected unset")
                }),
            }
        }
        for tag in &q.tags {
            r.require(vm.tags.contains(tag), name, || {
                format!("tag {tag} is missing")
            });
        }
        if let Some(bytes) = q.private_size {
            r.require(vm.private_size == Some(bytes), name, || {
                format!(
                    "private volume is {} bytes, expected {bytes}",
                    vm.private_size.unwrap_or_default()
                )
            });
        }
        if let Some(config) = &q.configure {
            r.require(is_configured(vm, config), name, || {
                format!(
                    "{} not applied (feature {CONFIGURED_FEATURE} differs)",
                    config.purpose
                )
            });
            // Probed inside the qube (only where the configuration is recorded as applied).
            let problems = live.inside.get(name).map(Vec::as_slice).unwrap_or_default();
            r.checks = r.checks.saturating_add(config.expect.len());
            for problem in problems {
                r.drift.push(Drift {
                    qube: name.to_owned(),
                    problem: problem.clone(),
                });
            }
        }
    }
    for (prop, value) in &topology.global {
        let current = live.global.get(prop);
        r.require(
            current.is_some_and(|c| !c.is_default && c.value == *value),
            "dom0",
            || {
                format!(
                    "global {prop} is {}, expected {value}",
                    show(current.map(|c| c.value.as_str()))
                )
            },
        );
    }
    for name in &topology.obsolete {
        r.require(live.get(name).is_none(), name, || "must not exist".into());
    }
    for name in &topology.reset_kernelopts {
        if let Some(p) = live.get(name).and_then(|vm| vm.prop("kernelopts")) {
            r.require(p.is_default, name, || {
                format!("kernelopts is {:?}, expected its default", p.value)
            });
        }
    }
}

/// The assertions of `sdw:tests/test_vms_exist.py`, `test_qubes_vms.py` and the per-qube tests.
fn check_test_suite(r: &mut Report, topology: &Topology, live: &Live) {
    let expected: BTreeSet<&str> = topology
        .workstation_qubes()
        .map(|q| q.name.as_str())
        .collect();
    let tagged: BTreeSet<&str> = live
        .tagged(SDW_TAG)
        .into_iter()
        .filter(|n| *n != "sd-viewer-disposable")
        .collect();
    for extra in tagged.difference(&expected) {
        r.require(false, extra, || {
            format!("is tagged {SDW_TAG} but not part of SecureDrop Workstation")
        });
    }
    for missing in expected.difference(&tagged) {
        r.require(false, missing, || format!("is not tagged {SDW_TAG}"));
    }
    for name in &tagged {
        let Some(vm) = live.get(name) else { continue };
        let dvm_template = vm.prop_value("template_for_dispvms") == Some("True");
        match vm.class.as_str() {
            "AppVM" if !dvm_template => {
                let persist = vm
                    .features
                    .get("service.custom-persist")
                    .is_some_and(|v| !v.is_empty());
                let paths = vm.features.keys().any(|k| k.starts_with("custom-persist."));
                r.require(persist && paths, name, || {
                    "persistent AppVM without service.custom-persist and custom-persist.* features"
                        .into()
                });
            }
            "AppVM" | "DispVM" | "TemplateVM" => {}
            other => r.require(false, name, || {
                format!("unexpected class {other} for a SecureDrop Workstation qube")
            }),
        }
        let want = if *name == CLIENT_QUBE {
            "sd-viewer"
        } else {
            ""
        };
        let dd = vm.prop_value("default_dispvm");
        r.require(dd == Some(want), name, || {
            format!(
                "default_dispvm is {}, expected {}",
                show(dd),
                show(Some(want))
            )
        });
    }
    if let Some(app) = live.get(CLIENT_QUBE) {
        r.require(
            app.prop_value("template_for_dispvms") != Some("True"),
            CLIENT_QUBE,
            || "must not be a disposable template".into(),
        );
        r.require(
            !app.features.contains_key("service.securedrop-log-server"),
            CLIENT_QUBE,
            || "must not run the log server".into(),
        );
    }
    for name in [CLIENT_QUBE, "sd-gpg", "sd-log", "sd-viewer", "sd-proxy"] {
        if let Some(vm) = live.get(name) {
            r.require(
                vm.prop_value("provides_network") == Some("False"),
                name,
                || "provides_network must be False".into(),
            );
        }
    }
    for name in ["sd-inbox-debian-13", "sd-viewer-debian-13"] {
        if let Some(vm) = live.get(name) {
            r.require(vm.prop_value("netvm") == Some(""), name, || {
                "netvm must be None".into()
            });
        }
    }
    // grsec kernel in every SDW qube but sd-base
    for name in tagged.iter().filter(|n| **n != "sd-base-debian-13") {
        if let Some(vm) = live.get(name) {
            let ok = vm.prop_value("virt_mode") == Some("pvh")
                && vm.prop_value("kernel") == Some("pvgrub2-pvh");
            r.require(ok, name, || {
                format!(
                    "virt_mode/kernel are {}/{}, expected pvh/pvgrub2-pvh",
                    show(vm.prop_value("virt_mode")),
                    show(vm.prop_value("kernel"))
                )
            });
        }
    }
    // vm-config keys, exactly
    for (name, keys) in [
        (
            CLIENT_QUBE,
            &[
                "QUBES_GPG_DOMAIN",
                "SD_MIME_HANDLING",
                "SD_SUBMISSION_KEY_FPR",
            ][..],
        ),
        (
            "sd-proxy",
            &["SD_MIME_HANDLING", "SD_PROXY_ORIGIN", "SD_PROXY_ORIGIN_KEY"][..],
        ),
        (DEVICES_QUBE, &["SD_MIME_HANDLING"][..]),
        (PRINTERS_QUBE, &["SD_MIME_HANDLING"][..]),
        ("sd-gpg", &[][..]),
        ("sd-log", &[][..]),
        ("sys-usb", &[][..]),
    ] {
        if let Some(vm) = live.get(name) {
            let found: Vec<&str> = vm
                .features
                .keys()
                .filter_map(|k| k.strip_prefix("vm-config."))
                .collect();
            r.require(found == keys, name, || {
                format!("vm-config keys are {found:?}, expected {keys:?}")
            });
        }
    }
    // system qubes on the Fedora template (directly, or through their disposable template)
    for name in ["sys-firewall", "sys-net", "sys-usb", "default-mgmt-dvm"] {
        let Some(vm) = live.get(name) else { continue };
        let template = vm.prop_value("template");
        let base = if vm.class == "DispVM" {
            template
                .and_then(|t| live.get(t))
                .and_then(|t| t.prop_value("template"))
        } else {
            template
        };
        r.require(base == Some(FEDORA_TEMPLATE), name, || {
            format!("is not based on {FEDORA_TEMPLATE} (found {})", show(base))
        });
    }
}

/// `test_vms_platform.py`: the Fedora template was updated, and no template is within 30 days of its end of life.
fn check_templates_current(r: &mut Report, live: &Live, today: i64) {
    if let Some(fedora) = live.get(FEDORA_TEMPLATE) {
        for feature in ["last-update", "last-updates-check"] {
            let set = fedora.features.get(feature).is_some_and(|v| !v.is_empty());
            r.require(set, FEDORA_TEMPLATE, || {
                format!("feature {feature} is not set: the template was never updated")
            });
        }
    }
    for name in [FEDORA_TEMPLATE, "sd-viewer-debian-13", "sd-inbox-debian-13"] {
        let Some(eol) = live.get(name).and_then(|vm| vm.features.get("os-eol")) else {
            continue;
        };
        let days = days_from_date(eol);
        r.require(days.is_some_and(|d| d - today > 30), name, || {
            format!("os-eol {eol} is less than 30 days away")
        });
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
pub fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The edges of `sdw:tests/test_rpc_policy.py`, evaluated on the installed files.
fn check_policy(r: &mut Report, live: &Live, policy_text: &str) {
    let rules = policy::parse(policy_text);
    let tags: Tags = live
        .vms
        .iter()
        .filter(|(_, vm)| !vm.is_preload())
        .map(|(n, vm)| (n.clone(), vm.tags.clone()))
        .collect();
    let tagged = live.tagged(SDW_TAG);
    let mut edge = |service: &str, src: &str, dst: &str, want: bool| {
        let ok = policy::allows(&rules, service, src, dst, &tags) == want;
        let verb = if want { "must" } else { "must not" };
        r.require(ok, "policy", || {
            format!("{src} {verb} be allowed {service} to {dst}")
        });
    };
    for name in live.vms.keys() {
        if name == "sd-log" || name == "sd-viewer-disposable" {
            continue;
        }
        edge(
            "securedrop.Log",
            name,
            "sd-log",
            tagged.contains(&name.as_str()),
        );
    }
    edge("securedrop.Proxy", CLIENT_QUBE, "sd-proxy", true);
    for target in [DEVICES_QUBE, PRINTERS_QUBE] {
        for name in live.vms.keys().filter(|n| n.as_str() != target) {
            edge(QREXEC_EXPORT_SERVICE, name, target, name == CLIENT_QUBE);
        }
    }
    for src in ["sys-net", "sys-firewall"] {
        edge("securedrop.Proxy", src, "sd-proxy", false);
        for s in ["qubes.Gpg", "qubes.GpgImportKey", "qubes.Gpg2"] {
            edge(s, src, "sd-gpg", false);
        }
    }
    for name in &tagged {
        edge("securedrop.GetSecretKeys", name, "dom0", *name == "sd-gpg");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_dates_to_days_since_the_epoch() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("2000-03-01"), Some(11_017));
        assert_eq!(days_from_date("2026-11-26"), Some(20_783));
        assert_eq!(days_from_date("2026-13-01"), None);
        assert_eq!(days_from_date("soon"), None);
    }

    #[test]
    fn flags_a_template_close_to_its_end_of_life() {
        let mut live = Live::default();
        let mut fedora = crate::live::LiveVm {
            class: "TemplateVM".into(),
            running: false,
            props: Default::default(),
            features: Default::default(),
            tags: Default::default(),
            private_size: None,
        };
        fedora.features.insert("os-eol".into(), "2026-12-09".into());
        live.vms.insert(FEDORA_TEMPLATE.into(), fedora);
        let mut r = Report::default();
        check_templates_current(
            &mut r,
            &live,
            days_from_date("2026-11-26").unwrap_or_default(),
        );
        let problems: Vec<String> = r.drift.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            problems,
            [
                "fedora-43-xfce: feature last-update is not set: the template was never updated",
                "fedora-43-xfce: feature last-updates-check is not set: the template was never updated",
                "fedora-43-xfce: os-eol 2026-12-09 is less than 30 days away",
            ]
        );
    }
}
