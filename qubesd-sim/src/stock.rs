//! The stock system: a Qubes OS 4.3 dom0 as the installer leaves it.
//!
//! Owns the installer's qubes (templates, sys-net, sys-firewall, a disposable
//! sys-usb, the default disposable templates, work, vault), their explicit
//! properties and features, the global properties, labels and storage pools,
//! and what qubesd adds by itself (`servicevm` on network providers,
//! `service.clocksync` on the clock qube, the `guivm-dom0` / `audiovm-dom0`
//! tags, dom0's `preload-dispvm-max`).

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

impl System {
    /// A stock Qubes OS 4.3 system as the installer leaves it.
    pub fn stock() -> Self {
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
        // 4.3 preloads disposables of the default disposable template.
        dom0_features.insert("preload-dispvm-max".to_owned(), "1".to_owned());
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
}
