//! Removing what apply made, in the safe order.
//!
//! Owns the uninstall plan: reset `default_dispvm`, remove every qube tagged
//! `sd-workstation` (disposables, then AppVMs, then templates; running ones are
//! killed first), put sys-usb back on `default-dvm` (or strip the auto-attach
//! files from a persistent sys-usb), remove the opt-in tags from other qubes
//! and the dom0 files. Pure; executed by [`crate::apply::apply`].

use crate::files::{FLAG_DIR, GET_SECRET_KEYS_PATH, POLICY_ALLOW_PATH, POLICY_DENY_PATH};
use crate::inqube::sys_usb_files_removal;
use crate::live::Live;
use crate::plan::{Plan, Step};
use crate::topology::{OPT_IN_TAGS, SDW_TAG, SYS_USB_DVM};

/// Upstream's `sd-remove-unused-qubes`.
const UNUSED: &[&str] = &["sd-retain-logvm", "sd-whonix"];

fn removal_rank(live: &Live, name: &str) -> u8 {
    match live.get(name) {
        Some(vm) if vm.class == "DispVM" => 0,
        Some(vm)
            if vm.class == "AppVM" && vm.prop_value("template_for_dispvms") != Some("True") =>
        {
            1
        }
        Some(vm) if vm.class == "AppVM" => 2,
        _ => 3,
    }
}

/// `obsolete_files`: the superseded dom0 files present (removed too).
pub fn plan(live: &Live, obsolete_files: &[String]) -> Plan {
    let mut p = Plan::default();
    let fallback = if live.get("default-dvm").is_some() {
        "default-dvm"
    } else {
        ""
    };
    let current = live.global_value("default_dispvm");
    if current.is_some_and(|c| live.get(c).is_some_and(|vm| vm.tags.contains(SDW_TAG))) {
        p.steps.push(Step::SetGlobal {
            property: "default_dispvm".into(),
            value: fallback.into(),
            was: current.map(str::to_owned),
        });
    }

    let mut doomed: Vec<&str> = live
        .vms
        .iter()
        .filter(|(n, vm)| {
            (vm.tags.contains(SDW_TAG) || UNUSED.contains(&n.as_str()))
                && !(vm.class == "TemplateVM" && vm.prop_value("installed_by_rpm") == Some("True"))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    doomed.sort_by_key(|n| removal_rank(live, n));
    for name in &doomed {
        if live.get(name).is_some_and(|vm| vm.running) {
            p.steps.push(Step::Kill {
                qube: (*name).into(),
                reason: "before removal".into(),
            });
        }
        p.steps.push(Step::Remove {
            qube: (*name).into(),
            reason: "SecureDrop Workstation qube".into(),
        });
    }

    if let Some(usb) = live.get("sys-usb") {
        let on_sdw_template = usb.prop_value("template") == Some(SYS_USB_DVM);
        if usb.class == "DispVM" && on_sdw_template && live.get("default-dvm").is_some() {
            if usb.running {
                p.steps.push(Step::Kill {
                    qube: "sys-usb".into(),
                    reason: "its template changes".into(),
                });
            }
            p.steps.push(Step::Set {
                qube: "sys-usb".into(),
                property: "template".into(),
                value: "default-dvm".into(),
                was: Some(SYS_USB_DVM.into()),
            });
            p.steps.push(Step::Start {
                qube: "sys-usb".into(),
            });
        } else if usb.class != "DispVM" {
            p.steps.push(Step::Configure {
                qube: "sys-usb".into(),
                purpose: "remove USB auto-attach files".into(),
                digest: String::new(),
                shutdown_after: false,
                commands: sys_usb_files_removal("sys-usb"),
            });
            p.steps.push(Step::RemoveFeature {
                qube: "sys-usb".into(),
                feature: crate::inqube::CONFIGURED_FEATURE.into(),
                was: None,
            });
        }
    }
    if live.get(SYS_USB_DVM).is_some() {
        p.steps.push(Step::Remove {
            qube: SYS_USB_DVM.into(),
            reason: "sys-usb disposable template made by SecureDrop Workstation".into(),
        });
    }

    // the dom0 repository key in the update qube (or its disposable template)
    for qube in ["sys-firewall", "fedora-43-dvm"] {
        if live
            .get(qube)
            .is_some_and(|vm| vm.features.contains_key(crate::inqube::CONFIGURED_FEATURE))
        {
            p.steps.push(Step::Configure {
                qube: qube.into(),
                purpose: "remove the dom0 repository signing key".into(),
                digest: String::new(),
                shutdown_after: false,
                commands: crate::inqube::updatevm_rpm_key_removal(qube),
            });
            p.steps.push(Step::RemoveFeature {
                qube: qube.into(),
                feature: crate::inqube::CONFIGURED_FEATURE.into(),
                was: None,
            });
        }
    }
    for (name, vm) in &live.vms {
        for tag in OPT_IN_TAGS {
            if vm.tags.contains(*tag) && !doomed.contains(&name.as_str()) {
                p.steps.push(Step::RemoveTag {
                    qube: name.clone(),
                    tag: (*tag).into(),
                });
            }
        }
    }
    for path in [
        POLICY_ALLOW_PATH,
        POLICY_DENY_PATH,
        GET_SECRET_KEYS_PATH,
        FLAG_DIR,
    ] {
        p.steps.push(Step::RemoveFile { path: path.into() });
    }
    for path in crate::files::all_repo_files() {
        p.steps.push(Step::RemoveFile { path });
    }
    for path in obsolete_files {
        p.steps.push(Step::RemoveFile { path: path.clone() });
    }
    // the time of the last update (upstream removes ~/.securedrop_updater)
    if let Some(was) = live.dom0_features.get(crate::notify::LAST_UPDATE_FEATURE) {
        p.steps.push(Step::RemoveFeature {
            qube: crate::inqube::DOM0.into(),
            feature: crate::notify::LAST_UPDATE_FEATURE.into(),
            was: Some(was.clone()),
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveVm;

    fn vm(class: &str, tags: &[&str], props: &[(&str, &str)]) -> LiveVm {
        LiveVm {
            class: class.into(),
            running: false,
            props: props
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).into(),
                        crate::admin::PropValue {
                            is_default: false,
                            ty: "str".into(),
                            value: (*v).into(),
                        },
                    )
                })
                .collect(),
            features: Default::default(),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            private_size: None,
        }
    }

    #[test]
    fn removes_disposables_then_appvms_then_templates() {
        let mut live = Live::default();
        live.vms.insert(
            "sd-base-debian-13".into(),
            vm("TemplateVM", &[SDW_TAG], &[]),
        );
        live.vms
            .insert("sd-app".into(), vm("AppVM", &[SDW_TAG], &[]));
        live.vms.insert(
            "sd-viewer".into(),
            vm("AppVM", &[SDW_TAG], &[("template_for_dispvms", "True")]),
        );
        live.vms
            .insert("sd-proxy".into(), vm("DispVM", &[SDW_TAG], &[]));
        live.vms.insert("default-dvm".into(), vm("AppVM", &[], &[]));
        live.vms
            .insert("work".into(), vm("AppVM", &["sd-receive-logs"], &[]));
        live.global.insert(
            "default_dispvm".into(),
            crate::admin::PropValue {
                is_default: false,
                ty: "vm".into(),
                value: "sd-viewer".into(),
            },
        );
        let obsolete = ["/etc/qubes/policy.d/50-securedrop-export.policy".to_owned()];
        let text: Vec<String> = plan(&live, &obsolete)
            .steps
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            text,
            [
                "set    dom0 global default_dispvm = default-dvm (was sd-viewer)",
                "remove sd-proxy (SecureDrop Workstation qube)",
                "remove sd-app (SecureDrop Workstation qube)",
                "remove sd-viewer (SecureDrop Workstation qube)",
                "remove sd-base-debian-13 (SecureDrop Workstation qube)",
                "remove work tag sd-receive-logs",
                "remove /etc/qubes/policy.d/31-securedrop-workstation.policy",
                "remove /etc/qubes/policy.d/32-securedrop-workstation.policy",
                "remove /etc/qubes-rpc/securedrop.GetSecretKeys",
                "remove /var/lib/securedrop-workstation",
                "remove /etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation",
                "remove /etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation-test",
                "remove /etc/yum.repos.d/securedrop-workstation-dom0-dev.repo",
                "remove /etc/yum.repos.d/securedrop-workstation-dom0-staging.repo",
                "remove /etc/yum.repos.d/securedrop-workstation-dom0.repo",
                "remove /etc/qubes/policy.d/50-securedrop-export.policy",
            ]
        );
    }
}
