//! The stock system: a Qubes OS 4.3 dom0 as the installer leaves it.
//!
//! Owns the installer's qubes (templates, sys-net, sys-firewall, a disposable
//! sys-usb, the default disposable templates, work, vault), their explicit
//! properties and features, the global properties, labels and storage pools,
//! and what qubesd adds by itself (`servicevm` on network providers,
//! `service.clocksync` on the clock qube, the `guivm-dom0` / `audiovm-dom0`
//! tags) and what the installer's `qvm.disposable-preload` state sets on dom0
//! for the machine's memory (`preload-dispvm-threshold`, `preload-dispvm-max`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Ordered, Pool, System, Vm, VmClass, GIB};

/// name, class, template, label, properties, features, running
type StockQube = (
    &'static str,
    VmClass,
    Option<&'static str>,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
    bool,
);

const QUBES: &[StockQube] = &[
    (
        "fedora-43-xfce",
        VmClass::TemplateVM,
        None,
        "black",
        &[("installed_by_rpm", "True")],
        &[
            ("os-distribution", "fedora"),
            ("qubes-agent-version", "4.3"),
            ("last-update", "2026-11-20 09:12:44"),
            ("last-updates-check", "2026-11-25 08:00:03"),
        ],
        false,
    ),
    (
        "debian-13-minimal",
        VmClass::TemplateVM,
        None,
        "black",
        &[("installed_by_rpm", "True")],
        &[
            ("os-distribution", "debian"),
            ("qubes-agent-version", "4.3"),
            ("last-update", "2026-11-20 09:14:02"),
            ("last-updates-check", "2026-11-25 08:00:03"),
            ("os-eol", "2028-06-30"),
        ],
        false,
    ),
    (
        "sys-net",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "red",
        &[
            ("provides_network", "True"),
            ("netvm", ""),
            ("autostart", "True"),
        ],
        &[],
        true,
    ),
    (
        "sys-firewall",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "green",
        &[
            ("provides_network", "True"),
            ("netvm", "sys-net"),
            ("autostart", "True"),
        ],
        &[],
        true,
    ),
    (
        "default-dvm",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "red",
        &[("template_for_dispvms", "True")],
        &[("appmenus-dispvm", "1")],
        false,
    ),
    (
        "default-mgmt-dvm",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "black",
        &[("template_for_dispvms", "True"), ("netvm", "")],
        &[("internal", "1")],
        false,
    ),
    (
        "work",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "blue",
        &[],
        &[],
        false,
    ),
    (
        "vault",
        VmClass::AppVM,
        Some("fedora-43-xfce"),
        "black",
        &[("netvm", "")],
        &[],
        false,
    ),
];

const LABELS: &[(&str, &str)] = &[
    ("red", "0xcc0000"),
    ("orange", "0xf57900"),
    ("yellow", "0xedd400"),
    ("green", "0x73d216"),
    ("gray", "0x555753"),
    ("blue", "0x3465a4"),
    ("purple", "0x75507b"),
    ("black", "0x000000"),
];

const GLOBALS: &[(&str, &str)] = &[
    ("default_template", "fedora-43-xfce"),
    ("default_dispvm", "default-dvm"),
    ("default_netvm", "sys-firewall"),
    ("updatevm", "sys-firewall"),
    ("clockvm", "sys-net"),
    ("management_dispvm", "default-mgmt-dvm"),
];

/// The default LVM install: the thin pool, the file pool and the kernels.
fn pools() -> Vec<Pool> {
    let pool = |name: &str, config: &[(&str, &str)], size: u64, usage: u64| Pool {
        name: name.to_owned(),
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("name".to_owned(), name.to_owned())])
            .collect(),
        size,
        usage,
    };
    vec![
        pool(
            "linux-kernel",
            &[
                ("dir_path", "/var/lib/qubes/vm-kernels"),
                ("driver", "linux-kernel"),
            ],
            0,
            0,
        ),
        pool(
            "varlibqubes",
            &[
                ("dir_path", "/var/lib/qubes"),
                ("driver", "file-reflink"),
                ("ephemeral_volatile", "False"),
                ("revisions_to_keep", "1"),
                ("setup_check", "True"),
            ],
            20 * GIB,
            3 * GIB,
        ),
        pool(
            "vm-pool",
            &[
                ("driver", "lvm_thin"),
                ("ephemeral_volatile", "False"),
                ("revisions_to_keep", "1"),
                ("thin_pool", "vm-pool"),
                ("volume_group", "qubes_dom0"),
            ],
            400 * GIB,
            48 * GIB,
        ),
    ]
}

/// `xl info total_memory` of the stock machine, in MiB: a 16 GiB laptop (SecureDrop
/// Workstation's minimum) less what Xen and the firmware keep.
pub const STOCK_TOTAL_MEMORY_MIB: u64 = 16_259;

/// The features Qubes OS 4.3's installer sets on dom0 for a machine with
/// `total_memory_mib` (`xl info total_memory`), in the order it sets them.
///
/// initial-setup (qubes-anaconda-addon `is_disp_preload_available`) offers, and
/// preselects, preloaded disposables only when `int(MiB / 1000) >= 15`; its
/// choice enables the pillar `qvm:dom0:preload`. The salt state
/// `qvm.disposable-preload` (included by `qvm.default-dispvm`) always sets
/// `preload-dispvm-threshold` (5 % of the memory in MiB, within 1500..=6000;
/// 500 at 8 GB or less) and, with the pillar, `preload-dispvm-max` = 2 from 32 GB
/// (10⁹ bytes, rounded) up, else 1. qubesd itself sets neither.
pub fn installer_preload_features(total_memory_mib: u64) -> Vec<(&'static str, String)> {
    // Jinja's `round` rounds half away from zero; f64 keeps these small values exact enough.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let round = |x: f64| x.round() as u64;
    #[allow(clippy::cast_precision_loss)]
    let mib = total_memory_mib as f64;
    let total_gb = round(mib * 1_048_576.0 / 1e9);
    let threshold = if total_gb <= 8 {
        500
    } else {
        round(mib * 0.05).clamp(1500, 6000)
    };
    let mut features = vec![("preload-dispvm-threshold", threshold.to_string())];
    if total_memory_mib / 1000 >= 15 {
        let max = if total_gb >= 32 { 2 } else { 1 };
        features.push(("preload-dispvm-max", max.to_string()));
    }
    features
}

impl System {
    /// A stock Qubes OS 4.3 system as the installer leaves it on the stock machine
    /// ([`STOCK_TOTAL_MEMORY_MIB`]), with the installer's defaults chosen.
    pub fn stock() -> Self {
        Self::stock_for_memory(STOCK_TOTAL_MEMORY_MIB)
    }

    /// A stock system installed on a machine with `total_memory_mib` (which decides
    /// dom0's preload features, see [`installer_preload_features`]).
    pub fn stock_for_memory(total_memory_mib: u64) -> Self {
        let mut sys = System {
            vms: BTreeMap::new(),
            global: BTreeMap::new(),
            labels: LABELS
                .iter()
                .map(|(l, c)| ((*l).to_owned(), (*c).to_owned()))
                .collect(),
            pools: pools(),
            next_qid: 1,
            clone_tokens: BTreeMap::new(),
            token_counter: 0,
            events: Vec::new(),
        };
        let mut dom0_features = Ordered::default();
        for (feature, value) in installer_preload_features(total_memory_mib) {
            dom0_features.insert(feature.to_owned(), value);
        }
        sys.vms.insert(
            "dom0".into(),
            Vm {
                class: VmClass::AdminVM,
                qid: 0,
                uuid: "00000000-0000-0000-0000-000000000000".into(),
                running: true,
                props: [("label".to_owned(), "black".to_owned())].into(),
                features: dom0_features,
                tags: BTreeSet::new(),
                volumes: Ordered::default(),
            },
        );
        for (name, class, template, label, props, features, running) in QUBES {
            let created = sys.create(name, *class, *template, label, "dom0", None);
            debug_assert!(created.is_ok(), "{name}: {created:?}");
            if let Some(vm) = sys.vms.get_mut(*name) {
                vm.tags.remove("created-by-dom0");
                for (k, v) in *props {
                    vm.props.insert((*k).into(), (*v).into());
                }
                for (k, v) in *features {
                    vm.features.insert((*k).into(), (*v).into());
                }
                vm.running = *running;
                if vm
                    .props
                    .get("provides_network")
                    .is_some_and(|v| v == "True")
                {
                    vm.features.insert("servicevm".into(), "1".into());
                }
            }
        }
        for (k, v) in GLOBALS {
            sys.global.insert((*k).into(), (*v).into());
        }
        if let Some(vm) = sys.vms.get_mut("sys-net") {
            vm.features.insert("service.clocksync".into(), "1".into());
        }
        let usb = sys.create(
            "sys-usb",
            VmClass::DispVM,
            Some("default-dvm"),
            "red",
            "dom0",
            None,
        );
        debug_assert!(usb.is_ok(), "{usb:?}");
        if let Some(vm) = sys.vms.get_mut("sys-usb") {
            vm.tags.remove("created-by-dom0");
            vm.props.insert("netvm".into(), String::new());
            vm.props.insert("autostart".into(), "True".into());
            vm.running = true;
        }
        let names: Vec<String> = sys.vms.keys().cloned().collect();
        for name in names {
            sys.retag_gui(&name);
        }
        // The installer's history is not news to a listener.
        sys.events.clear();
        sys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdw_provision::wire::QubesError;

    #[test]
    fn stock_system_has_the_installer_qubes() {
        let sys = System::stock();
        let names: Vec<&str> = sys.vms.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "debian-13-minimal",
                "default-dvm",
                "default-mgmt-dvm",
                "dom0",
                "fedora-43-xfce",
                "sys-firewall",
                "sys-net",
                "sys-usb",
                "vault",
                "work"
            ]
        );
        assert_eq!(sys.vm("sys-usb").map(|v| v.class), Ok(VmClass::DispVM));
        assert_eq!(
            sys.prop_value("sys-usb", "template").as_deref(),
            Some("default-dvm")
        );
        assert_eq!(
            sys.prop("work", "netvm"),
            Ok((true, Some("sys-firewall".into())))
        );
        assert_eq!(
            sys.prop("fedora-43-xfce", "netvm"),
            Ok((true, Some(String::new())))
        );
        assert!(matches!(sys.vm("nope"), Err(QubesError::VmNotFound(_))));
    }

    #[test]
    fn qubesd_adds_its_own_features_and_tags() {
        let sys = System::stock();
        let feature = |q: &str, f: &str| sys.vms.get(q).and_then(|v| v.features.get(f)).cloned();
        assert_eq!(feature("dom0", "preload-dispvm-max").as_deref(), Some("1"));
        assert_eq!(
            feature("dom0", "preload-dispvm-threshold").as_deref(),
            Some("1500")
        );
        assert_eq!(feature("sys-net", "servicevm").as_deref(), Some("1"));
        assert_eq!(feature("sys-firewall", "servicevm").as_deref(), Some("1"));
        assert_eq!(
            feature("sys-net", "service.clocksync").as_deref(),
            Some("1")
        );
        assert_eq!(feature("work", "servicevm"), None);
        for (name, vm) in &sys.vms {
            let tagged = vm.tags.contains("guivm-dom0") && vm.tags.contains("audiovm-dom0");
            assert_eq!(tagged, name != "dom0", "{name}");
        }
    }

    #[test]
    fn dom0_preload_features_follow_the_installer_for_the_machine_s_memory() {
        let features = |mib| {
            installer_preload_features(mib)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        // 8 GiB: no preload offered; the low threshold
        assert_eq!(features(7_900), ["preload-dispvm-threshold=500"]);
        // 14.9 GB: still not offered (int(14_900 / 1000) = 14)
        assert_eq!(features(14_900), ["preload-dispvm-threshold=1500"]);
        // 16 GiB: one preloaded disposable, threshold at its floor
        assert_eq!(
            features(16_259),
            ["preload-dispvm-threshold=1500", "preload-dispvm-max=1"]
        );
        // 32 GiB: two, 5 % of the memory
        assert_eq!(
            features(32_600),
            ["preload-dispvm-threshold=1630", "preload-dispvm-max=2"]
        );
        // 30 000 MiB is 31.46 GB: rounds to 31, one
        assert_eq!(
            features(30_000),
            ["preload-dispvm-threshold=1500", "preload-dispvm-max=1"]
        );
        // 256 GiB: the threshold's ceiling
        assert_eq!(
            features(262_000),
            ["preload-dispvm-threshold=6000", "preload-dispvm-max=2"]
        );
        let small = System::stock_for_memory(7_900);
        let dom0 = small.vms.get("dom0").map(|v| v.features.clone());
        assert_eq!(
            dom0.as_ref().and_then(|f| f.get("preload-dispvm-max")),
            None
        );
    }
}
