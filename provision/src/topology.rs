//! Every qube SecureDrop Workstation creates or adjusts, as data.
//!
//! Owns the single declarative description of the target system: classes,
//! templates, labels, tags, properties, features (including the `vm-config.*`
//! values derived from `config.json`), private volume sizes, the dependency
//! order, the dom0 global properties and the qubes that must go. Pure: how to
//! get there is [`crate::plan`], how to verify it is [`crate::check`].

use serde::Serialize;

use crate::config::{Dom0Config, Environment, GIB};
use crate::inqube::{self, AptKey, PackageSource, QubeConfig};
use crate::packages::{SDW_CLIENT, SDW_DEVICES};
use sdw_protocol::layout::{CLIENT_QUBE, DEVICES_QUBE, PRINTERS_QUBE};

pub const SDW_TAG: &str = "sd-workstation";
pub const FEDORA_TEMPLATE: &str = "fedora-43-xfce";
pub const BASE_TEMPLATE_SOURCE: &str = "debian-13-minimal";
pub const SYS_USB_DVM: &str = "sd-fedora-43-dvm";
/// The Whonix 17 gateway template, cleaned of SDW's packages when present.
pub const WHONIX_GATEWAY: &str = "whonix-gateway-17";
/// The template under sd-devices-dvm, so under sd-devices and sd-printers (it
/// also serves sd-viewer): it gets `sdw-devices` and `user` in `lpadmin`.
pub const DEVICES_TEMPLATE: &str = "sd-viewer-debian-13";
/// sd-app's template: it gets `sdw-client`.
pub const CLIENT_TEMPLATE: &str = "sd-inbox-debian-13";
/// Opt-in tags the user puts on non-SDW qubes; removed on uninstall.
pub const OPT_IN_TAGS: &[&str] = &[
    "sd-send-app-clipboard",
    "sd-receive-app-clipboard",
    "sd-receive-logs",
];
/// The install epoch of sd-log: a different value means sd-log is recreated.
pub const SD_LOG_EPOCH: &str = "1001";
/// `devices_denied`: deny manual attachment of any device class.
pub const DENY_ALL_DEVICES: &str = "*******";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Class {
    TemplateVM,
    AppVM,
    DispVM,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::TemplateVM => "TemplateVM",
            Class::AppVM => "AppVM",
            Class::DispVM => "DispVM",
        }
    }
}

/// How a missing qube comes to exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `qvm-clone SOURCE NAME` (templates).
    Clone(String),
    /// `admin.vm.Create.<class>+<template>`.
    Create,
    /// Installed by Qubes (or `qvm-template`); provisioning only adjusts it.
    Preinstalled,
}

/// Who owns a qube, which decides what uninstall does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Tagged `sd-workstation`; removed on uninstall.
    Workstation,
    /// Created for SecureDrop Workstation but untagged (e.g. the sys-usb disposable template).
    Support,
    /// A Qubes system qube; adjusted, never removed.
    System,
}

/// A property's target, in wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pref {
    /// Set explicitly to this value (`""` means None for qube-valued properties).
    Set(String),
    /// Back to the Qubes default (`admin.vm.property.Reset`).
    Default,
}

/// A feature's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Set(String),
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qube {
    pub name: String,
    pub class: Class,
    pub template: Option<String>,
    pub origin: Origin,
    pub owner: Owner,
    /// Set at creation only: the user may recolour a qube.
    pub label: &'static str,
    pub tags: Vec<String>,
    pub prefs: Vec<(String, Pref)>,
    pub features: Vec<(String, Feature)>,
    /// Exact private volume size in bytes; grown, never shrunk.
    pub private_size: Option<u64>,
    /// Restart after a template change (system qubes that must keep running).
    pub restart_on_change: bool,
    /// What runs inside the qube (packages, files), if anything.
    pub configure: Option<QubeConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// In dependency order: a qube only refers to qubes listed before it.
    pub qubes: Vec<Qube>,
    /// dom0 global properties.
    pub global: Vec<(String, String)>,
    /// Qubes from earlier versions that must not exist.
    pub obsolete: Vec<String>,
    /// Qubes whose `kernelopts` must be at its default if they exist (Whonix 17 clean-up).
    pub reset_kernelopts: Vec<String>,
    pub environment: Environment,
    /// dom0's GUI user's desktop (`--gui-user`), set by the caller; `None`: left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desktop: Option<crate::desktop::Desktop>,
}

/// Which system qubes are disposables; read from the live system and used everywhere
/// (upstream reads two different pillar defaults for this, see docs/provisioning.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub sys_net_disposable: bool,
    pub sys_firewall_disposable: bool,
    pub sys_usb_disposable: bool,
    /// `whonix-gateway-17` exists (earlier versions put packages there).
    pub whonix_gateway: bool,
}

struct Builder {
    qube: Qube,
}

fn qube(name: &str, class: Class, owner: Owner, label: &'static str) -> Builder {
    let tags = match owner {
        Owner::Workstation => vec![SDW_TAG.to_owned()],
        _ => Vec::new(),
    };
    Builder {
        qube: Qube {
            name: name.to_owned(),
            class,
            template: None,
            origin: Origin::Create,
            owner,
            label,
            tags,
            prefs: Vec::new(),
            features: Vec::new(),
            private_size: None,
            restart_on_change: false,
            configure: None,
        },
    }
}

impl Builder {
    fn template(mut self, template: &str) -> Self {
        self.qube.template = Some(template.to_owned());
        self.qube
            .prefs
            .push(("template".into(), Pref::Set(template.to_owned())));
        self
    }
    fn cloned_from(mut self, source: &str) -> Self {
        self.qube.origin = Origin::Clone(source.to_owned());
        self
    }
    fn preinstalled(mut self) -> Self {
        self.qube.origin = Origin::Preinstalled;
        self
    }
    fn tags(mut self, tags: &[&str]) -> Self {
        self.qube.tags.extend(tags.iter().map(|t| (*t).to_owned()));
        self
    }
    fn pref(mut self, name: &str, value: &str) -> Self {
        self.qube
            .prefs
            .push((name.to_owned(), Pref::Set(value.to_owned())));
        self
    }
    fn pref_none(self, name: &str) -> Self {
        self.pref(name, "")
    }
    fn enable(self, feature: &str) -> Self {
        self.feature(feature, "1")
    }
    fn feature(mut self, feature: &str, value: &str) -> Self {
        self.qube
            .features
            .push((feature.to_owned(), Feature::Set(value.to_owned())));
        self
    }
    fn without(mut self, feature: &str) -> Self {
        self.qube
            .features
            .push((feature.to_owned(), Feature::Absent));
        self
    }
    fn private_gib(mut self, gib: u64) -> Self {
        self.qube.private_size = Some(gib.saturating_mul(GIB));
        self
    }
    fn restart_on_change(mut self) -> Self {
        self.qube.restart_on_change = true;
        self
    }
    fn configure(mut self, config: QubeConfig) -> Self {
        self.qube.configure = Some(config);
        self
    }
    /// Every SDW qube: no default disposable, manual device attachment denied.
    fn sdw_defaults(self) -> Self {
        self.pref_none("default_dispvm")
            .pref("devices_denied", DENY_ALL_DEVICES)
    }
    fn done(self) -> Qube {
        self.qube
    }
}

/// The target system for this configuration, with our packages from `packages`.
pub fn topology(
    config: &Dom0Config,
    layout: Layout,
    apt_key: &AptKey,
    packages: &PackageSource,
) -> Topology {
    use Class::{AppVM, DispVM, TemplateVM};
    use Owner::{Support, System, Workstation};
    let env = config.environment();
    let internal_in_prod = if env == Environment::Prod { "1" } else { "" };
    let sizes = config.vmsizes();
    let hidserv = config.hidserv();

    let mut qubes = vec![
        // ---- Qubes system qubes (sd-sys-vms) ---------------------------------
        qube(FEDORA_TEMPLATE, TemplateVM, System, "black")
            .preinstalled()
            .configure(inqube::fedora_update_once(FEDORA_TEMPLATE))
            .done(),
        {
            let dvm = qube("fedora-43-dvm", AppVM, Support, "red")
                .template(FEDORA_TEMPLATE)
                .pref("template_for_dispvms", "True");
            // a disposable sys-firewall takes the key from its disposable template
            if layout.sys_firewall_disposable {
                dvm.configure(inqube::updatevm_rpm_key(env, apt_key)).done()
            } else {
                dvm.done()
            }
        },
    ];
    if layout.sys_usb_disposable {
        qubes.push(
            qube(SYS_USB_DVM, AppVM, Support, "red")
                .template(FEDORA_TEMPLATE)
                .pref_none("netvm")
                .pref("template_for_dispvms", "True")
                .configure(inqube::sys_usb_files())
                .done(),
        );
    }
    qubes.extend([
        net_qube("sys-net", "red", layout.sys_net_disposable),
        {
            let mut fw = net_qube("sys-firewall", "green", layout.sys_firewall_disposable);
            if !layout.sys_firewall_disposable {
                fw.configure = Some(inqube::updatevm_rpm_key(env, apt_key));
            }
            fw
        },
        if layout.sys_usb_disposable {
            qube("sys-usb", DispVM, System, "red")
                .preinstalled()
                .template(SYS_USB_DVM)
                .restart_on_change()
                .done()
        } else {
            qube("sys-usb", AppVM, System, "red")
                .preinstalled()
                .template(FEDORA_TEMPLATE)
                .restart_on_change()
                .configure(inqube::sys_usb_files())
                .done()
        },
        qube("default-mgmt-dvm", AppVM, System, "black")
            .preinstalled()
            .template(FEDORA_TEMPLATE)
            .done(),
        qube("default-dvm", AppVM, System, "red")
            .preinstalled()
            .pref("template_for_dispvms", "True")
            .enable("appmenus-dispvm")
            .done(),
        // ---- templates ------------------------------------------------------
        qube("sd-base-debian-13", TemplateVM, Workstation, "red")
            .cloned_from(BASE_TEMPLATE_SOURCE)
            .tags(&["sd-trixie"])
            .pref_none("netvm")
            .sdw_defaults()
            .enable("service.paxctld")
            .configure(inqube::base_template(env, apt_key))
            .done(),
    ]);
    for (name, upstream, ours, print_queues) in [
        (CLIENT_TEMPLATE, inqube::INBOX_PACKAGES, SDW_CLIENT, false),
        (DEVICES_TEMPLATE, inqube::VIEWER_PACKAGES, SDW_DEVICES, true),
    ] {
        qubes.push(
            qube(name, TemplateVM, Workstation, "red")
                .cloned_from("sd-base-debian-13")
                .tags(&["sd-trixie"])
                .pref_none("netvm")
                .pref("virt_mode", "pvh")
                .pref("kernel", "pvgrub2-pvh")
                .sdw_defaults()
                .enable("service.paxctld")
                .configure(inqube::workstation_template(
                    env,
                    apt_key,
                    upstream,
                    packages.package(ours),
                    print_queues,
                ))
                .done(),
        );
    }
    qubes.extend([
        // ---- disposable viewer (also the global default_dispvm) --------------
        qube("sd-viewer", AppVM, Workstation, "green")
            .template("sd-viewer-debian-13")
            .tags(&["sd-viewer-vm", "sd-trixie"])
            .pref_none("netvm")
            .pref("template_for_dispvms", "True")
            .sdw_defaults()
            .feature("vm-config.SD_MIME_HANDLING", "sd-viewer")
            .feature("internal", internal_in_prod)
            .enable("service.paxctld")
            .enable("service.securedrop-mime-handling")
            .done(),
        // ---- export and print -----------------------------------------------
        qube("sd-devices-dvm", AppVM, Workstation, "red")
            .template(DEVICES_TEMPLATE)
            .tags(&["sd-trixie"])
            .pref_none("netvm")
            .pref("template_for_dispvms", "True")
            .sdw_defaults()
            .enable("service.paxctld")
            .without("service.cups")
            .without("service.avahi")
            .without("service.securedrop-mime-handling")
            .done(),
        qube(DEVICES_QUBE, DispVM, Workstation, "red")
            .template("sd-devices-dvm")
            .tags(&["sd-export-target", "sd-trixie"])
            .pref_none("netvm")
            .pref_none("default_dispvm")
            .enable("service.securedrop-mime-handling")
            .feature("vm-config.SD_MIME_HANDLING", "sd-devices")
            .feature(
                "menu-items",
                "org.gnome.Nautilus.desktop org.gnome.DiskUtility.desktop",
            )
            .without("service.avahi")
            .without("service.cups")
            .done(),
        qube(PRINTERS_QUBE, DispVM, Workstation, "red")
            .template("sd-devices-dvm")
            .tags(&["sd-export-target", "sd-trixie"])
            .pref_none("netvm")
            .pref_none("default_dispvm")
            .enable("service.securedrop-mime-handling")
            .enable("service.avahi")
            .enable("service.cups")
            .feature("vm-config.SD_MIME_HANDLING", "sd-devices")
            .feature("menu-items", "")
            .done(),
        // ---- network --------------------------------------------------------
        qube("sd-proxy-dvm", AppVM, Workstation, "blue")
            .template("sd-inbox-debian-13")
            .tags(&["sd-trixie"])
            .pref("netvm", "sys-firewall")
            .pref("template_for_dispvms", "True")
            .pref("autostart", "False")
            .sdw_defaults()
            .feature("internal", internal_in_prod)
            .without("service.securedrop-mime-handling")
            .done(),
        qube("sd-proxy", DispVM, Workstation, "blue")
            .template("sd-proxy-dvm")
            .tags(&["sd-trixie"])
            .pref("netvm", "sys-firewall")
            .pref("autostart", "True")
            .sdw_defaults()
            .enable("service.securedrop-mime-handling")
            .enable("service.securedrop-arti")
            .feature("vm-config.SD_MIME_HANDLING", "default")
            .enable("servicevm")
            .feature("internal", "")
            .feature(
                "vm-config.SD_PROXY_ORIGIN",
                &format!("http://{}", hidserv.hostname),
            )
            .feature("vm-config.SD_PROXY_ORIGIN_KEY", &hidserv.key)
            .done(),
        // ---- keys and logs --------------------------------------------------
        qube("sd-gpg", AppVM, Workstation, "purple")
            .template("sd-inbox-debian-13")
            .pref_none("netvm")
            .pref("autostart", "True")
            .sdw_defaults()
            .enable("service.securedrop-logging-disabled")
            .enable("service.securedrop-gpg-dismiss-prompt")
            .enable("service.securedrop-get-secret-keys")
            .feature("internal", "")
            .enable("service.custom-persist")
            .feature(
                "custom-persist.gnupg_dir",
                "dir:user:user:0700:/home/user/.gnupg",
            )
            .done(),
        qube("sd-log", AppVM, Workstation, "red")
            .template("sd-inbox-debian-13")
            .pref_none("netvm")
            .pref("autostart", "True")
            .sdw_defaults()
            .enable("service.paxctld")
            .enable("service.redis")
            .enable("service.securedrop-logging-disabled")
            .enable("service.securedrop-log-server")
            .enable("service.custom-persist")
            .feature("sd-install-epoch", SD_LOG_EPOCH)
            .feature("menu-items", "org.gnome.Nautilus.desktop")
            .feature(
                "custom-persist.logs",
                "dir:user:user:0755:/home/user/QubesIncomingLogs",
            )
            .private_gib(sizes.sd_log)
            .done(),
        // ---- the client -----------------------------------------------------
        qube(CLIENT_QUBE, AppVM, Workstation, "yellow")
            .template(CLIENT_TEMPLATE)
            .tags(&["sd-client"])
            .pref_none("netvm")
            .pref("default_dispvm", "sd-viewer")
            .pref("devices_denied", DENY_ALL_DEVICES)
            .feature("vm-config.SD_MIME_HANDLING", "sd-app")
            .feature("internal", "")
            .enable("service.paxctld")
            .enable("service.securedrop-mime-handling")
            .enable("service.custom-persist")
            .feature(
                "custom-persist.client_dir",
                "dir:user:user:0700:/home/user/.securedrop_client",
            )
            .feature(
                "custom-persist.app_db",
                "file:user:user:0600:/home/user/.config/SecureDrop/db.sqlite",
            )
            .feature(
                "custom-persist.app_db_wal",
                "file:user:user:0600:/home/user/.config/SecureDrop/db.sqlite-wal",
            )
            .feature(
                "custom-persist.app_db_shm",
                "file:user:user:0600:/home/user/.config/SecureDrop/db.sqlite-shm",
            )
            .feature(
                "custom-persist.app_downloaded_files",
                "dir:user:user:0700:/home/user/.config/SecureDrop/files",
            )
            .feature("vm-config.QUBES_GPG_DOMAIN", "sd-gpg")
            .feature(
                "vm-config.SD_SUBMISSION_KEY_FPR",
                config.submission_key_fpr(),
            )
            .private_gib(sizes.sd_app)
            .done(),
    ]);

    if layout.whonix_gateway {
        qubes.push(
            qube(WHONIX_GATEWAY, TemplateVM, System, "black")
                .preinstalled()
                .configure(inqube::whonix_gateway_cleanup())
                .done(),
        );
    }

    Topology {
        qubes,
        global: vec![
            ("default_template".into(), FEDORA_TEMPLATE.into()),
            ("default_dispvm".into(), "sd-viewer".into()),
        ],
        obsolete: [
            "sd-whonix",
            "sd-retain-logvm",
            "fedora-42-dvm",
            "sd-fedora-42-dvm",
            "sd-inbox-bookworm-template",
            "sd-viewer-bookworm-template",
        ]
        .map(str::to_owned)
        .to_vec(),
        reset_kernelopts: [
            "whonix-gateway-17",
            "whonix-workstation-17",
            "sys-whonix",
            "anon-whonix",
            "whonix-workstation-17-dvm",
        ]
        .map(str::to_owned)
        .to_vec(),
        environment: env,
        desktop: None,
    }
}

/// sys-net and sys-firewall: AppVMs on the Fedora template, or DispVMs on its disposable template.
fn net_qube(name: &str, label: &'static str, disposable: bool) -> Qube {
    let (class, template) = if disposable {
        (Class::DispVM, "fedora-43-dvm")
    } else {
        (Class::AppVM, FEDORA_TEMPLATE)
    };
    qube(name, class, Owner::System, label)
        .preinstalled()
        .template(template)
        .restart_on_change()
        .done()
}

impl Topology {
    pub fn get(&self, name: &str) -> Option<&Qube> {
        self.qubes.iter().find(|q| q.name == name)
    }

    /// The qubes tagged `sd-workstation`, in dependency order.
    pub fn workstation_qubes(&self) -> impl Iterator<Item = &Qube> {
        self.qubes.iter().filter(|q| q.owner == Owner::Workstation)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn config(env: &str) -> Dom0Config {
        let v = json!({
            "submission_key_fpr": "65A1B5FF195B56353CC63DFFCC40EF1228271441",
            "hidserv": {
                "hostname": "sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion",
                "key": "5U4JPYSZ34N2ZDSOUAL2YLEX2NPI5BLL2Y66QJW24KLSH7R3FEPQ"
            },
            "environment": env,
            "vmsizes": {"sd_app": 10, "sd_log": 5}
        });
        match Dom0Config::parse(&v) {
            Ok(c) => c,
            Err(e) => panic!("test config: {e}"),
        }
    }

    pub fn apt_key() -> AptKey {
        match AptKey::parse(include_str!("../tests/fixtures/test_key.pub")) {
            Ok(k) => k,
            Err(e) => panic!("test key: {e}"),
        }
    }

    pub fn topo(env: &str, layout: Layout) -> Topology {
        topology(&config(env), layout, &apt_key(), &PackageSource::Repository)
    }

    const DISPOSABLE_USB: Layout = Layout {
        sys_net_disposable: false,
        sys_firewall_disposable: false,
        sys_usb_disposable: true,
        whonix_gateway: false,
    };

    fn feature<'a>(t: &'a Topology, vm: &str, f: &str) -> Option<&'a Feature> {
        t.get(vm)?
            .features
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, v)| v)
    }

    #[test]
    fn manages_exactly_the_twelve_qubes_of_the_sdw_test_suite() {
        let t = topo("prod", DISPOSABLE_USB);
        let mut names: Vec<&str> = t.workstation_qubes().map(|q| q.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "sd-app",
                "sd-base-debian-13",
                "sd-devices",
                "sd-devices-dvm",
                "sd-gpg",
                "sd-inbox-debian-13",
                "sd-log",
                "sd-printers",
                "sd-proxy",
                "sd-proxy-dvm",
                "sd-viewer",
                "sd-viewer-debian-13"
            ]
        );
    }

    #[test]
    fn every_qube_refers_only_to_qubes_listed_before_it() {
        let t = topo("prod", DISPOSABLE_USB);
        for (i, q) in t.qubes.iter().enumerate() {
            let earlier: Vec<&str> = t.qubes[..i].iter().map(|q| q.name.as_str()).collect();
            let refs = q.prefs.iter().filter_map(|(p, v)| match (p.as_str(), v) {
                ("template" | "default_dispvm", Pref::Set(v)) if !v.is_empty() => Some(v.as_str()),
                _ => None,
            });
            for r in refs.chain(match &q.origin {
                Origin::Clone(s) if s != BASE_TEMPLATE_SOURCE => Some(s.as_str()),
                _ => None,
            }) {
                assert!(
                    earlier.contains(&r),
                    "{} refers to {r} listed later",
                    q.name
                );
            }
        }
    }

    #[test]
    fn derives_vm_config_from_config_json() {
        let t = topo("prod", DISPOSABLE_USB);
        assert_eq!(
            feature(&t, "sd-proxy", "vm-config.SD_PROXY_ORIGIN"),
            Some(&Feature::Set(
                "http://sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion".into()
            ))
        );
        assert_eq!(
            feature(&t, "sd-app", "vm-config.SD_SUBMISSION_KEY_FPR"),
            Some(&Feature::Set(
                "65A1B5FF195B56353CC63DFFCC40EF1228271441".into()
            ))
        );
        assert_eq!(t.get("sd-app").and_then(|q| q.private_size), Some(10 * GIB));
        assert_eq!(t.get("sd-log").and_then(|q| q.private_size), Some(5 * GIB));
    }

    #[test]
    fn internal_is_set_on_viewer_and_proxy_dvm_only_in_prod() {
        let prod = topo("prod", DISPOSABLE_USB);
        let dev = topo("dev", DISPOSABLE_USB);
        for vm in ["sd-viewer", "sd-proxy-dvm"] {
            assert_eq!(
                feature(&prod, vm, "internal"),
                Some(&Feature::Set("1".into()))
            );
            assert_eq!(
                feature(&dev, vm, "internal"),
                Some(&Feature::Set(String::new()))
            );
        }
    }

    #[test]
    fn sys_usb_files_go_to_its_disposable_template_or_to_sys_usb_itself() {
        let disp = topo("prod", DISPOSABLE_USB);
        assert!(disp.get(SYS_USB_DVM).is_some_and(|q| q.configure.is_some()));
        assert!(disp
            .get("sys-usb")
            .is_some_and(|q| q.configure.is_none() && q.class == Class::DispVM));
        let pers = topo("prod", Layout::default());
        assert!(pers.get(SYS_USB_DVM).is_none());
        assert!(pers
            .get("sys-usb")
            .is_some_and(|q| q.configure.is_some() && q.class == Class::AppVM));
    }

    /// The template a qube finally runs on, following DispVM → disposable template → template.
    fn base_template<'a>(t: &'a Topology, name: &'a str) -> &'a str {
        let mut name = name;
        while let Some(next) = t.get(name).and_then(|q| q.template.as_deref()) {
            name = next;
        }
        name
    }

    #[test]
    fn our_packages_go_to_the_templates_under_the_device_qubes_and_sd_app() {
        use crate::packages::{Expect, LocalPackage};
        let t = topo("prod", DISPOSABLE_USB);
        for q in ["sd-devices", "sd-printers"] {
            assert_eq!(base_template(&t, q), DEVICES_TEMPLATE, "{q}");
        }
        assert_eq!(base_template(&t, "sd-app"), CLIENT_TEMPLATE);
        let expect = |t: &Topology, q: &str| {
            t.get(q)
                .and_then(|q| q.configure.as_ref())
                .map(|c| c.expect.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            expect(&t, DEVICES_TEMPLATE),
            [
                Expect::Package {
                    name: "sdw-devices".into(),
                    at_least: None
                },
                Expect::Member {
                    user: "user".into(),
                    group: "lpadmin".into()
                }
            ]
        );
        assert_eq!(
            expect(&t, CLIENT_TEMPLATE),
            [Expect::Package {
                name: "sdw-client".into(),
                at_least: None
            }]
        );
        // nowhere securedrop-export
        for q in &t.qubes {
            for c in q.configure.iter().flat_map(|c| c.commands(&q.name)) {
                assert!(
                    !c.command.contains("securedrop-export"),
                    "{}: {}",
                    q.name,
                    c.command
                );
            }
        }
        // from a folder: the versions found there are the minimum
        let local = |name: &str, version: &str| LocalPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            path: "/x".into(),
            sha256: "00".into(),
            size: 1,
        };
        let folder = PackageSource::Folder(Box::new(crate::packages::Folder {
            devices: local("sdw-devices", "0.4.0"),
            client: local("sdw-client", "0.5.0"),
        }));
        let t = topology(&config("prod"), DISPOSABLE_USB, &apt_key(), &folder);
        assert_eq!(
            expect(&t, CLIENT_TEMPLATE),
            [Expect::Package {
                name: "sdw-client".into(),
                at_least: Some("0.5.0".into())
            }]
        );
    }
}
