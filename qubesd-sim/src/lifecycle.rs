//! The life of a qube: creation (with its volumes, in a chosen pool, and the
//! copy a disposable takes of its template), volume clones, start, shutdown
//! (an auto-cleanup disposable disappears), kill and removal, with the events
//! qubesd fires for each and the checks it makes (a qube still used by others
//! is not removed, a running one is not removed).

use sdw_provision::wire::QubesError;

use crate::model::{
    label_not_found, not_found, value_error, Event, Ordered, System, Vm, VmClass, Volume, GIB,
};
use crate::props::{self, PropType};

/// Where the volumes of a new qube go (`admin.vm.CreateInPool`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolChoice {
    /// `pool=P`: every volume (but the kernel) in P.
    pub all: Option<String>,
    /// `pool:VOLUME=P`.
    pub per_volume: Vec<(String, String)>,
}

impl PoolChoice {
    fn for_volume(&self, volume: &str) -> Option<&str> {
        self.per_volume
            .iter()
            .find(|(v, _)| v == volume)
            .map(|(_, p)| p.as_str())
            .or(if volume == "kernel" {
                None
            } else {
                self.all.as_deref()
            })
    }
}

fn unknown_pool(pool: &str) -> QubesError {
    QubesError::Other {
        exc_type: "QubesException".into(),
        message: format!("Unknown storage pool {pool}"),
    }
}

impl System {
    fn volume(
        &self,
        pool: String,
        size: u64,
        save_on_stop: bool,
        snap_on_start: bool,
        source: Option<String>,
    ) -> Volume {
        Volume {
            size,
            save_on_stop,
            snap_on_start,
            rw: true,
            revisions_to_keep: if pool == "linux-kernel" { 0 } else { 1 },
            pool,
            source,
            ephemeral: false,
            revisions: Vec::new(),
        }
    }

    /// The volumes of a new qube of `class`, as qubesd's volume_config lays them out.
    fn new_volumes(
        &self,
        class: VmClass,
        template: Option<&str>,
        pools: &PoolChoice,
    ) -> Ordered<Volume> {
        let pool_for = |volume: &str| {
            pools
                .for_volume(volume)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    if volume == "kernel" {
                        "linux-kernel".to_owned()
                    } else {
                        self.global_value(&format!("default_pool_{volume}"))
                    }
                })
        };
        let template_vm = template.and_then(|t| self.vms.get(t));
        let template_vol = |v: &str| template_vm.and_then(|t| t.volumes.get(v));
        let mut out = Ordered::default();
        match class {
            VmClass::TemplateVM | VmClass::StandaloneVM => {
                out.insert(
                    "root".into(),
                    self.volume(pool_for("root"), 10 * GIB, true, false, None),
                );
                out.insert(
                    "private".into(),
                    self.volume(pool_for("private"), 2 * GIB, true, false, None),
                );
            }
            VmClass::AppVM | VmClass::DispVM => {
                let t = template.unwrap_or_default();
                // a disposable's root follows its disposable template's root, which is a snapshot too
                let (root_size, root_source) = match template_vol("root") {
                    Some(v) if v.snap_on_start => (v.size, v.source.clone()),
                    Some(v) => (v.size, Some(format!("{t}:root"))),
                    None => (10 * GIB, None),
                };
                out.insert(
                    "root".into(),
                    self.volume(pool_for("root"), root_size, false, true, root_source),
                );
                if class == VmClass::DispVM {
                    let size = template_vol("private").map_or(2 * GIB, |v| v.size);
                    out.insert(
                        "private".into(),
                        self.volume(
                            pool_for("private"),
                            size,
                            false,
                            true,
                            Some(format!("{t}:private")),
                        ),
                    );
                } else {
                    out.insert(
                        "private".into(),
                        self.volume(pool_for("private"), 2 * GIB, true, false, None),
                    );
                }
            }
            VmClass::AdminVM => return out,
        }
        out.insert(
            "volatile".into(),
            self.volume(pool_for("volatile"), 10 * GIB, false, false, None),
        );
        let mut kernel = self.volume(pool_for("kernel"), 0, false, false, None);
        kernel.rw = false;
        out.insert("kernel".into(), kernel);
        out
    }

    /// `admin.vm.Create.<class>` / `CreateInPool`: a new qube with the label and
    /// template, tagged `created-by-<src>`. A DispVM copies properties, features
    /// and tags of its disposable template.
    pub fn create(
        &mut self,
        name: &str,
        class: VmClass,
        template: Option<&str>,
        label: &str,
        src: &str,
        pools: Option<&PoolChoice>,
    ) -> Result<(), QubesError> {
        if let Some(t) = template {
            if !class.has_template() {
                return Err(value_error(format!(
                    "{} cannot be based on template",
                    class.as_str()
                )));
            }
            if !self.vms.contains_key(t) {
                return Err(not_found(t));
            }
        }
        System::check_name(name)?;
        if !self.label_exists(label) {
            return Err(label_not_found(label));
        }
        let pools = pools.cloned().unwrap_or_default();
        for p in pools
            .all
            .iter()
            .chain(pools.per_volume.iter().map(|(_, p)| p))
        {
            if self.pool(p).is_none() {
                return Err(unknown_pool(p));
            }
        }
        if self.vms.contains_key(name) {
            return Err(value_error(format!("VM {name} already exists")));
        }
        let template = match class {
            VmClass::AppVM => {
                let t = template
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.global_value("default_template"));
                let target = self.vms.get(&t).ok_or_else(|| {
                    crate::model::property_value_error(
                        "Invalid value '' for property 'template' of AppVM",
                    )
                })?;
                if target.class != VmClass::TemplateVM {
                    return Err(crate::model::property_value_error(format!(
                        "wrong VM class: domains['{t}'] is of type {} and not TemplateVM",
                        target.class.as_str()
                    )));
                }
                Some(t)
            }
            VmClass::DispVM => {
                let t = template
                    .map(str::to_owned)
                    .unwrap_or_else(|| self.global_value("default_dispvm"));
                if !self.bool_prop(&t, "template_for_dispvms") {
                    return Err(value_error(format!(
                        "template for disposable ({t}) needs to be an AppVM with template_for_dispvms=True"
                    )));
                }
                Some(t)
            }
            _ => None,
        };
        let qid = self.next_qid;
        self.next_qid = self.next_qid.saturating_add(1);
        let mut vm = Vm {
            class,
            qid,
            uuid: format!(
                "5d3a{qid:04x}-51b0-4e1f-8a6c-{:012x}",
                u64::from(qid) * 7919
            ),
            running: false,
            props: [("label".to_owned(), label.to_owned())].into(),
            features: Ordered::default(),
            tags: [format!("created-by-{src}")].into(),
            volumes: self.new_volumes(class, template.as_deref(), &pools),
        };
        if let Some(t) = &template {
            vm.props.insert("template".into(), t.clone());
        }
        if let (VmClass::DispVM, Some(t)) =
            (class, template.as_deref().and_then(|t| self.vms.get(t)))
        {
            // dispvm.py __init__: clonable properties, features but preload-dispvm*, tags
            for (prop, value) in &t.props {
                let clonable = props::def(t.class, prop).is_some_and(|d| d.clone)
                    && props::def(VmClass::DispVM, prop).is_some_and(|d| d.clone);
                if clonable && prop != "template" && !vm.props.contains_key(prop) {
                    vm.props.insert(prop.clone(), value.clone());
                }
            }
            vm.props.insert("label".into(), label.to_owned());
            for (k, v) in t.features.iter() {
                if !k.starts_with("preload-dispvm") {
                    vm.features.insert(k.clone(), v.clone());
                }
            }
            vm.tags.extend(t.tags.iter().cloned());
        }
        self.vms.insert(name.to_owned(), vm);
        self.retag_gui(name);
        self.emit(Event::new("", "domain-add", &[("vm", name)]));
        Ok(())
    }

    /// Qubes that refer to `name` through an explicitly set property, then global properties.
    pub fn dependants(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .global
            .iter()
            .filter(|(p, v)| {
                v.as_str() == name && props::global_def(p).is_some_and(|d| d.ty == PropType::Vm)
            })
            .map(|(p, _)| format!("@GLOBAL:{p}"))
            .collect();
        for (other, vm) in self.vms.iter().filter(|(other, _)| other.as_str() != name) {
            for (p, v) in &vm.props {
                if v.as_str() == name
                    && props::def(vm.class, p).is_some_and(|d| d.ty == PropType::Vm)
                {
                    out.push(format!("{other}:{p}"));
                }
            }
        }
        out
    }

    /// `admin.vm.Remove`.
    pub fn remove(&mut self, name: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if vm.class == VmClass::AdminVM {
            return Err(QubesError::VmInUse("'dom0' cannot be removed".into()));
        }
        if self.bool_prop(name, "installed_by_rpm") {
            return Err(QubesError::VmInUse(format!(
                "VM installed by package manager: {name}"
            )));
        }
        if vm.running {
            return Err(QubesError::VmNotHalted(format!(
                "Domain is not powered off: '{name}'"
            )));
        }
        if !self.dependants(name).is_empty() {
            return Err(QubesError::VmInUse(format!(
                "Domain is in use: '{name}';  see 'journalctl -u qubesd -e' in dom0 for details"
            )));
        }
        self.vms.remove(name);
        self.clone_tokens.retain(|_, (src, _)| src != name);
        self.emit(Event::new("", "domain-delete", &[("vm", name)]));
        Ok(())
    }

    /// `admin.vm.Start`: the netvm chain first, each with its events.
    pub fn start(&mut self, name: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if vm.running {
            // qubesvm.start: a qube that is not halted is left as it is
            return Ok(());
        }
        let mut chain = vec![name.to_owned()];
        let mut next = self.netvm_of(name);
        while !next.is_empty() && !chain.contains(&next) {
            chain.push(next.clone());
            next = self.netvm_of(&next);
        }
        for n in chain.into_iter().rev() {
            let already = self.vms.get(&n).is_none_or(|v| v.running);
            if already {
                continue;
            }
            self.emit(Event::new(&n, "domain-pre-start", &[]));
            if let Some(vm) = self.vms.get_mut(&n) {
                vm.running = true;
            }
            self.emit(Event::new(&n, "domain-start", &[("start_guid", "True")]));
        }
        Ok(())
    }

    /// `admin.vm.Shutdown` / `Kill`: a qube with running clients needs force.
    pub fn shutdown(&mut self, name: &str, force: bool) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if vm.class == VmClass::AdminVM {
            return Err(QubesError::Other {
                exc_type: "QubesVMError".into(),
                message: "Cannot shutdown dom0".into(),
            });
        }
        if !vm.running {
            return Err(QubesError::VmNotStarted(format!(
                "Domain is powered off: '{name}'"
            )));
        }
        if !force {
            let connected: Vec<String> = self
                .connected_vms(name)
                .into_iter()
                .filter(|n| self.vms.get(n).is_some_and(|v| v.running))
                .collect();
            if !connected.is_empty() {
                return Err(QubesError::Other {
                    exc_type: "QubesVMError".into(),
                    message: format!(
                        "There are other VMs connected to this VM: {}",
                        connected.join(", ")
                    ),
                });
            }
        }
        let cleanup = vm.class == VmClass::DispVM && self.bool_prop(name, "auto_cleanup");
        self.emit(Event::new(
            name,
            "domain-pre-shutdown",
            &[("force", if force { "True" } else { "False" })],
        ));
        self.token_counter = self.token_counter.saturating_add(1);
        let stamp = format!(
            "{}-back",
            1_764_000_000u64.saturating_add(self.token_counter)
        );
        if let Some(vm) = self.vms.get_mut(name) {
            vm.running = false;
            // LVM keeps the previous content of each save_on_stop volume as a revision
            for (_, vol) in vm.volumes.0.iter_mut() {
                if vol.save_on_stop && vol.revisions_to_keep > 0 {
                    vol.revisions.push(stamp.clone());
                    let keep = usize::try_from(vol.revisions_to_keep).unwrap_or(usize::MAX);
                    let excess = vol.revisions.len().saturating_sub(keep);
                    vol.revisions.drain(..excess);
                }
            }
        }
        self.emit(Event::new(name, "domain-shutdown", &[]));
        if cleanup {
            // dispvm.py on_domain_shutdown: an auto-cleanup disposable removes itself
            self.vms.remove(name);
            self.emit(Event::new("", "domain-delete", &[("vm", name)]));
        }
        Ok(())
    }

    /// `admin.vm.volume.CloneTo`: the destination's volume takes the source's content (size).
    pub fn clone_volume(
        &mut self,
        src: &str,
        src_volume: &str,
        dest: &str,
        volume: &str,
    ) -> Result<(), QubesError> {
        let size = self
            .vm(src)?
            .volumes
            .get(src_volume)
            .map(|v| v.size)
            .unwrap_or_default();
        let dest_vm = self.vm_mut(dest)?;
        if dest_vm.running {
            return Err(QubesError::VmNotHalted(format!(
                "Domain is not powered off: '{dest}'"
            )));
        }
        if let Some(target) = dest_vm.volumes.get_mut(volume) {
            target.size = size;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(sys: &mut System, vm: &str, prop: &str, value: &str) -> Result<(), Option<QubesError>> {
        sys.set_prop(vm, prop, value.as_bytes())
    }

    #[test]
    fn a_dispvm_copies_properties_features_and_tags_of_its_template() {
        let mut sys = System::stock();
        assert_eq!(
            sys.create(
                "dvm",
                VmClass::AppVM,
                Some("debian-13-minimal"),
                "red",
                "dom0",
                None
            ),
            Ok(())
        );
        assert_eq!(set(&mut sys, "dvm", "template_for_dispvms", "True"), Ok(()));
        assert_eq!(set(&mut sys, "dvm", "devices_denied", "*******"), Ok(()));
        assert_eq!(set(&mut sys, "dvm", "netvm", ""), Ok(()));
        if let Ok(vm) = sys.vm_mut("dvm") {
            vm.features.insert("service.cups".into(), "1".into());
            vm.features.insert("preload-dispvm-max".into(), "2".into());
            vm.tags.insert("sd-trixie".into());
        }
        assert_eq!(
            sys.create("disp", VmClass::DispVM, Some("dvm"), "blue", "dom0", None),
            Ok(())
        );
        assert_eq!(
            sys.prop("disp", "devices_denied"),
            Ok((false, Some("*******".into())))
        );
        assert_eq!(sys.prop("disp", "netvm"), Ok((false, Some(String::new()))));
        assert_eq!(sys.prop("disp", "label"), Ok((false, Some("blue".into()))));
        assert_eq!(
            sys.prop("disp", "default_dispvm"),
            Ok((true, Some("dvm".into())))
        );
        let disp = sys.vm("disp").cloned();
        assert!(disp
            .as_ref()
            .is_ok_and(|d| d.features.get("service.cups").is_some_and(|v| v == "1")));
        assert!(disp
            .as_ref()
            .is_ok_and(|d| !d.features.contains_key("preload-dispvm-max")));
        assert!(disp.as_ref().is_ok_and(|d| d.tags.contains("sd-trixie")));
        assert!(disp.is_ok_and(|d| !d.props.contains_key("template_for_dispvms")));
    }

    #[test]
    fn template_based_qubes_follow_their_template_kernel() {
        let mut sys = System::stock();
        assert_eq!(
            set(&mut sys, "fedora-43-xfce", "kernel", "pvgrub2-pvh"),
            Ok(())
        );
        assert_eq!(
            sys.prop("default-dvm", "kernel"),
            Ok((true, Some("pvgrub2-pvh".into())))
        );
        assert_eq!(
            sys.prop("sys-usb", "kernel"),
            Ok((true, Some("pvgrub2-pvh".into())))
        );
        assert_eq!(
            sys.prop("debian-13-minimal", "kernel"),
            Ok((true, Some(props::DEFAULT_KERNEL.into())))
        );
    }

    #[test]
    fn refuses_to_remove_a_qube_in_use_or_running() {
        let mut sys = System::stock();
        assert!(matches!(
            sys.remove("default-dvm"),
            Err(QubesError::VmInUse(_))
        ));
        assert!(matches!(
            sys.remove("sys-usb"),
            Err(QubesError::VmNotHalted(_))
        ));
        assert!(matches!(
            sys.remove("fedora-43-xfce"),
            Err(QubesError::VmInUse(_))
        ));
        assert_eq!(sys.remove("work"), Ok(()));
        assert!(matches!(sys.remove("work"), Err(QubesError::VmNotFound(_))));
    }

    #[test]
    fn shutting_down_a_netvm_with_running_clients_needs_force() {
        let mut sys = System::stock();
        assert!(sys.shutdown("sys-net", false).is_err());
        assert_eq!(sys.shutdown("sys-net", true), Ok(()));
        assert!(matches!(
            sys.shutdown("sys-net", true),
            Err(QubesError::VmNotStarted(_))
        ));
    }

    #[test]
    fn sanitizes_property_values() {
        let mut sys = System::stock();
        assert_eq!(set(&mut sys, "work", "autostart", "yes"), Ok(()));
        assert_eq!(
            sys.prop("work", "autostart"),
            Ok((false, Some("True".into())))
        );
        assert!(set(&mut sys, "work", "autostart", "maybe").is_err());
        assert!(set(&mut sys, "work", "netvm", "work").is_err());
        assert!(set(&mut sys, "work", "netvm", "vault").is_err());
        assert!(set(&mut sys, "work", "devices_denied", "******").is_err());
        assert_eq!(set(&mut sys, "work", "devices_denied", "*******"), Ok(()));
        assert!(matches!(
            set(&mut sys, "work", "foo", "1"),
            Err(Some(QubesError::NoSuchProperty(_)))
        ));
        assert_eq!(set(&mut sys, "work", "qid", "7"), Err(None));
    }
}
