//! The property rules of Qubes OS 4.3's qubesd, for qubes and for the system.
//!
//! Owns which properties each class has (the list `qvm-prefs QUBE` shows), their
//! wire type, documentation (`admin.vm.property.Help`), defaults (including
//! "follow the template" and the global defaults), how a written value is
//! sanitized, and the checks qubesd makes before it accepts a value (netvm
//! loops, network providers in use, template changes of running qubes, positive
//! memory, ...). Errors carry qubesd's exception class and message.

use sdw_provision::wire::QubesError;

use crate::model::{
    invalid_vm_name, label_not_found, no_such_property, not_found, property_value_error,
    value_error, Event, System, Vm, VmClass,
};

/// The kernel stock qubes use (`default_kernel`).
pub const DEFAULT_KERNEL: &str = "6.12.59-1.fc41";
const KNOWN_KERNELS: &[&str] = &[DEFAULT_KERNEL, "pvgrub2-pvh", "pvgrub2"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    Str,
    Int,
    Bool,
    Vm,
    Label,
}

impl PropType {
    pub fn as_str(self) -> &'static str {
        match self {
            PropType::Str => "str",
            PropType::Int => "int",
            PropType::Bool => "bool",
            PropType::Vm => "vm",
            PropType::Label => "label",
        }
    }
}

/// How a property may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Set and reset through the Admin API.
    Writable,
    /// Set once at creation (`name`, `qid`, `uuid`, `dispid`): qubesd aborts a write.
    WriteOnce,
    /// Computed (`klass`, `xid`, `ip`, ...): qubesd aborts a write.
    Stateless,
    /// Refused with `QubesPropertyValueError` (`updateable`).
    Forbidden,
}

#[derive(Debug, Clone, Copy)]
pub struct PropDef {
    pub name: &'static str,
    pub ty: PropType,
    pub access: Access,
    pub allow_none: bool,
    /// Copied into a disposable (and by `qvm-clone`) when not at its default.
    pub clone: bool,
    pub doc: &'static str,
}

const fn p(name: &'static str, ty: PropType, access: Access, doc: &'static str) -> PropDef {
    PropDef {
        name,
        ty,
        access,
        allow_none: false,
        clone: matches!(access, Access::Writable),
        doc,
    }
}

const fn vmp(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        ty: PropType::Vm,
        access: Access::Writable,
        allow_none: true,
        clone: true,
        doc,
    }
}

use Access::{Forbidden, Stateless, Writable, WriteOnce};
use PropType::{Bool, Int, Label, Str};

/// Every property of a BaseVM.
const BASE: &[PropDef] = &[
    p("uuid", Str, WriteOnce, "UUID from libvirt."),
    p("name", Str, WriteOnce, "User-specified name of the domain."),
    p("qid", Int, WriteOnce, "Internal, persistent identificator of particular domain. Note this is different from Xen domid."),
    p("label", Label, Writable, "Colourful label assigned to VM. This is where the colour of the padlock is set."),
    p("klass", Str, Stateless, "Domain class name"),
    p("icon", Str, Stateless, "freedesktop icon name, suitable for use in :py:meth:`PyQt4.QtGui.QIcon.fromTheme`"),
];

/// dom0's own properties besides [`BASE`].
const ADMIN: &[PropDef] = &[
    vmp(
        "default_dispvm",
        "Default VM to be used as Disposable VM for service calls.",
    ),
    p(
        "include_in_backups",
        Bool,
        Writable,
        "If this domain is to be included in default backup.",
    ),
    p(
        "updateable",
        Bool,
        Forbidden,
        "True if this machine may be updated on its own.",
    ),
    p(
        "devices_denied",
        Str,
        Writable,
        "List of device interface codes that are denied for this VM.",
    ),
    p(
        "keyboard_layout",
        Str,
        Writable,
        "Keyboard layout for this VM",
    ),
];

/// Every QubesVM (AppVM, DispVM, TemplateVM, StandaloneVM).
const QUBES_VM: &[PropDef] = &[
    p("bootmode", Str, Writable, "Active boot mode for this domain"),
    vmp("guivm", "VM used for Gui"),
    vmp("audiovm", "VM used for Audio"),
    p("virt_mode", Str, Writable, "Virtualisation mode: full virtualisation (\"HVM\"), or paravirtualisation (\"PV\"), or hybrid (\"PVH\"). TemplateBasedVMs use its template's value by default."),
    p("installed_by_rpm", Bool, Writable, "If this domain's image was installed from package tracked by package manager."),
    p("memory", Int, Writable, "Memory currently available for this VM. TemplateBasedVMs use its template's value by default."),
    p("maxmem", Int, Writable, "Maximum amount of memory available for this VM (for the purpose of the memory balancer). Set to 0 to disable memory balancing for this qube. TemplateBasedVMs use its template's value by default (unless memory balancing not supported for this qube)."),
    p("stubdom_mem", Int, Writable, "Memory amount allocated for the stubdom"),
    p("vcpus", Int, Writable, "Number of virtual CPUs for a qube. TemplateBasedVMs use its template's value by default."),
    p("kernel", Str, Writable, "Kernel used by this domain. TemplateBasedVMs use its template's value by default."),
    p("kernelopts", Str, Writable, "Kernel command line passed to domain. TemplateBasedVMs use its template's value by default."),
    p("debug", Bool, Writable, "Turns on debugging features."),
    p("default_user", Str, Writable, "Default user to start applications as. TemplateBasedVMs use its template's value by default."),
    p("qrexec_timeout", Int, Writable, "Time in seconds after which qrexec connection attempt is deemed failed. Operating system inside VM should be able to boot in this time."),
    p("shutdown_timeout", Int, Writable, "Time in seconds for shutdown of the VM, after which VM may be forcefully powered off. Operating system inside VM should be able to fully shutdown in this time."),
    p("autostart", Bool, Writable, "Setting this to `True` means that VM should be autostarted on dom0 boot."),
    p("include_in_backups", Bool, Writable, "If this domain is to be included in default backup."),
    p("backup_timestamp", Int, Writable, "Time of last backup of the qube, in seconds since unix epoch"),
    vmp("default_dispvm", "Default VM to be used as Disposable VM for service calls."),
    vmp("management_dispvm", "Default DVM template for Disposable VM for managing this VM."),
    p("updateable", Bool, Forbidden, "True if this machine may be updated on its own."),
    p("devices_denied", Str, Writable, "List of device interface codes that are denied for this VM."),
    p("keyboard_layout", Str, Writable, "Keyboard layout for this VM"),
    p("xid", Int, Stateless, "Xen ID. Or not Xen, but ID."),
    p("stubdom_uuid", Str, Stateless, ""),
    p("stubdom_xid", Int, Stateless, ""),
    p("start_time", Str, Stateless, "Tell when machine was started."),
    // the network mixin
    p("mac", Str, Writable, "MAC address of the NIC emulated inside VM"),
    p("ip", Str, Writable, "IP address of this domain."),
    p("ip6", Str, Writable, "IPv6 address of this domain."),
    vmp("netvm", "VM that provides network connection to this domain. When `None`, machine is disconnected. When absent, domain uses default NetVM."),
    p("provides_network", Bool, Writable, "If this domain can act as network provider (formerly known as NetVM or ProxyVM)"),
    p("visible_ip", Str, Stateless, "IP address of this domain as seen by the domain."),
    p("visible_ip6", Str, Stateless, "IPv6 address of this domain as seen by the domain."),
    p("visible_gateway", Str, Stateless, "Default gateway of this domain as seen by the domain."),
    p("visible_gateway6", Str, Stateless, "Default (IPv6) gateway of this domain as seen by the domain."),
    p("visible_netmask", Str, Stateless, "Netmask as seen by the domain."),
    p("gateway", Str, Stateless, "Gateway for other domains that use this domain as netvm."),
    p("gateway6", Str, Stateless, "Gateway (IPv6) for other domains that use this domain as netvm."),
    p("dns", Str, Stateless, "Secondary DNS server set up for this domain."),
];

const TEMPLATE: PropDef = PropDef {
    name: "template",
    ty: PropType::Vm,
    access: Writable,
    allow_none: false,
    clone: false,
    doc: "Template, on which this AppVM is based.",
};
const DISP_TEMPLATE: PropDef = PropDef {
    doc: "AppVM, on which this disposable is based.",
    ..TEMPLATE
};
const TEMPLATE_FOR_DISPVMS: PropDef = p(
    "template_for_dispvms",
    Bool,
    Writable,
    "Should this VM be allowed to start as Disposable VM",
);

/// A property of a qube of this class.
pub fn def(class: VmClass, prop: &str) -> Option<PropDef> {
    class_props(class).into_iter().find(|d| d.name == prop)
}

/// The properties of a class, sorted by name (as `property.List` and `GetAll` list them).
pub fn class_props(class: VmClass) -> Vec<PropDef> {
    let mut out: Vec<PropDef> = BASE.to_vec();
    match class {
        VmClass::AdminVM => out.extend_from_slice(ADMIN),
        _ => out.extend_from_slice(QUBES_VM),
    }
    match class {
        VmClass::AppVM => out.extend([TEMPLATE, TEMPLATE_FOR_DISPVMS]),
        VmClass::StandaloneVM => out.push(TEMPLATE_FOR_DISPVMS),
        VmClass::TemplateVM => out.push(p(
            "appvm_default_bootmode",
            Str,
            Writable,
            "Default bootmode for AppVMs based on this template",
        )),
        VmClass::DispVM => out.extend([
            DISP_TEMPLATE,
            p(
                "dispid",
                Int,
                WriteOnce,
                "Internal, persistent identifier of particular disposable.",
            ),
            p(
                "auto_cleanup",
                Bool,
                Writable,
                "automatically remove this VM upon shutdown",
            ),
            p(
                "is_preload",
                Bool,
                Stateless,
                "Whether this disposable is preloaded.",
            ),
        ]),
        VmClass::AdminVM => {}
    }
    out.sort_by_key(|d| d.name);
    out
}

/// The global (dom0) properties, sorted by name.
pub fn global_props() -> Vec<PropDef> {
    let mut out = vec![
        vmp("clockvm", "Which VM to use as NTP proxy for updating AdminVM"),
        vmp("default_audiovm", "Default AudioVM for VMs."),
        vmp("default_dispvm", "Default DispVM base for service calls"),
        vmp("default_guivm", "Default GuiVM for VMs."),
        p("default_kernel", Str, Writable, "Which kernel to use when not overriden in VM"),
        vmp("default_netvm", "Default NetVM for AppVMs. Initial state is `None`, which means that AppVMs are not connected to the Internet."),
        p("default_pool", Str, Writable, "Default storage pool"),
        p("default_pool_kernel", Str, Writable, "Default storage pool for kernel volumes"),
        p("default_pool_private", Str, Writable, "Default storage pool for private volumes"),
        p("default_pool_root", Str, Writable, "Default storage pool for root volumes"),
        p("default_pool_volatile", Str, Writable, "Default storage pool for volatile volumes"),
        p("default_qrexec_timeout", Int, Writable, "Default time in seconds after which qrexec connection attempt is deemed failed"),
        p("default_shutdown_timeout", Int, Writable, "Default time in seconds for VM shutdown to complete"),
        PropDef { allow_none: true, ..vmp("default_template", "Default template for new AppVMs") },
        vmp("management_dispvm", "Default DispVM base for managing VMs"),
        p("stats_interval", Int, Writable, "Interval in seconds for VM stats reporting (memory, CPU usage)"),
        p("updatevm", PropType::Vm, Writable, "Which VM to use as `yum` proxy for updating AdminVM and TemplateVMs"),
        p("check_updates_vm", Bool, Writable, "Check for updates inside qubes"),
    ];
    if let Some(u) = out.iter_mut().find(|d| d.name == "updatevm") {
        u.allow_none = true;
    }
    out.sort_by_key(|d| d.name);
    out
}

pub fn global_def(prop: &str) -> Option<PropDef> {
    global_props().into_iter().find(|d| d.name == prop)
}

/// Properties whose default is the template's value (qubesd's `_default_with_template`).
const TEMPLATE_INHERITED: &[&str] = &[
    "virt_mode",
    "memory",
    "maxmem",
    "vcpus",
    "kernel",
    "kernelopts",
    "default_user",
    "qrexec_timeout",
    "shutdown_timeout",
    "management_dispvm",
];

fn bool_text(b: bool) -> String {
    if b { "True" } else { "False" }.to_owned()
}

impl System {
    /// The default value of a global property ("" = None).
    pub fn global_default(&self, prop: &str) -> Option<String> {
        Some(match prop {
            "default_guivm" | "default_audiovm" => "dom0".into(),
            "default_kernel" => DEFAULT_KERNEL.into(),
            "default_pool" => "vm-pool".into(),
            "default_pool_kernel"
            | "default_pool_private"
            | "default_pool_root"
            | "default_pool_volatile" => self.global_value("default_pool"),
            "default_qrexec_timeout" | "default_shutdown_timeout" => "60".into(),
            "stats_interval" => "3".into(),
            "check_updates_vm" => "True".into(),
            "clockvm" | "default_dispvm" | "default_netvm" | "default_template"
            | "management_dispvm" | "updatevm" => String::new(),
            _ => return None,
        })
    }

    /// `(is_default, value)` of a global property.
    pub fn global_prop(&self, prop: &str) -> Option<(bool, String)> {
        global_def(prop)?;
        match self.global.get(prop) {
            Some(v) => Some((false, v.clone())),
            None => Some((true, self.global_default(prop).unwrap_or_default())),
        }
    }

    pub fn global_value(&self, prop: &str) -> String {
        self.global_prop(prop).map(|(_, v)| v).unwrap_or_default()
    }

    /// The effective netvm of a qube ("" = none).
    pub fn netvm_of(&self, name: &str) -> String {
        self.prop_value(name, "netvm").unwrap_or_default()
    }

    /// Qubes whose (effective) netvm is `name`: qubesd's `connected_vms`.
    pub fn connected_vms(&self, name: &str) -> Vec<String> {
        self.vms
            .iter()
            .filter(|(n, vm)| vm.class != VmClass::AdminVM && n.as_str() != name)
            .filter(|(n, _)| self.netvm_of(n) == name)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The default value of a property of a qube, or None when it has none (unreadable).
    pub fn prop_default(&self, name: &str, vm: &Vm, prop: &str) -> Option<String> {
        if TEMPLATE_INHERITED.contains(&prop) {
            if let Some(template) = vm.template().filter(|t| *t != name) {
                if let Some(v) = self.prop_value(template, prop) {
                    return Some(v);
                }
            }
        }
        let networked = |s: &System| !s.netvm_of(name).is_empty();
        let ip = |qid: u32| format!("10.137.{}.{}", (qid >> 8) & 0xff, qid & 0xff);
        Some(match prop {
            "name" => name.to_owned(),
            "qid" => vm.qid.to_string(),
            "uuid" => vm.uuid.clone(),
            "klass" => vm.class.as_str().to_owned(),
            "icon" => {
                let label = vm.props.get("label").cloned().unwrap_or_default();
                match vm.class {
                    VmClass::AdminVM => "adminvm-black".into(),
                    VmClass::TemplateVM => format!("templatevm-{label}"),
                    VmClass::DispVM => format!("dispvm-{label}"),
                    _ if vm.features.contains_key("servicevm") => format!("servicevm-{label}"),
                    _ => format!("appvm-{label}"),
                }
            }
            "label" => return None,
            "bootmode" | "appvm_default_bootmode" => "default".into(),
            "guivm" => self.global_value("default_guivm"),
            "audiovm" => self.global_value("default_audiovm"),
            "virt_mode" => "pvh".into(),
            "memory" => "400".into(),
            "maxmem" => "4000".into(),
            "vcpus" => "2".into(),
            "kernel" => self.global_value("default_kernel"),
            "kernelopts" => {
                let kernel = self.prop_value(name, "kernel").unwrap_or_default();
                if kernel.is_empty() || kernel.starts_with("pvgrub2") {
                    String::new()
                } else {
                    "swiotlb=2048".into()
                }
            }
            "default_user" => "user".into(),
            "qrexec_timeout" => self.global_value("default_qrexec_timeout"),
            "shutdown_timeout" => self.global_value("default_shutdown_timeout"),
            "management_dispvm" => self.global_value("management_dispvm"),
            "default_dispvm" => match vm.class {
                VmClass::DispVM => vm.template().unwrap_or_default().to_owned(),
                _ => self.global_value("default_dispvm"),
            },
            "netvm" => match vm.class {
                VmClass::TemplateVM => String::new(),
                _ if self.bool_prop(name, "provides_network") => String::new(),
                _ => self.global_value("default_netvm"),
            },
            "installed_by_rpm"
            | "debug"
            | "autostart"
            | "template_for_dispvms"
            | "auto_cleanup"
            | "is_preload"
            | "provides_network" => "False".into(),
            "include_in_backups" => {
                bool_text(!(vm.class == VmClass::DispVM && self.bool_prop(name, "auto_cleanup")))
            }
            "updateable" => bool_text(!vm.class.has_template()),
            "devices_denied" | "stubdom_uuid" => String::new(),
            "keyboard_layout" => "us++".into(),
            "stubdom_mem" | "backup_timestamp" | "start_time" | "ip6" | "visible_ip6"
            | "gateway6" | "visible_gateway6" => String::new(),
            "xid" => {
                if vm.running {
                    vm.qid.to_string()
                } else {
                    "-1".into()
                }
            }
            "stubdom_xid" => "-1".into(),
            "dispid" => vm.qid.to_string(),
            "mac" => "00:16:3e:5e:6c:00".into(),
            "ip" | "visible_ip" => {
                if networked(self) {
                    ip(vm.qid)
                } else {
                    String::new()
                }
            }
            "visible_netmask" => {
                if networked(self) {
                    "255.255.255.255".into()
                } else {
                    String::new()
                }
            }
            "gateway" => {
                if self.bool_prop(name, "provides_network") {
                    ip(vm.qid)
                } else {
                    String::new()
                }
            }
            "visible_gateway" => {
                let netvm = self.netvm_of(name);
                self.vms.get(&netvm).map(|n| ip(n.qid)).unwrap_or_default()
            }
            "dns" => {
                if networked(self) {
                    "10.139.1.1 10.139.1.2".into()
                } else {
                    String::new()
                }
            }
            _ => return None,
        })
    }

    /// `(is_default, value)`; value None when unreadable (no default, never set).
    pub fn prop(&self, name: &str, prop: &str) -> Result<(bool, Option<String>), QubesError> {
        let vm = self.vm(name)?;
        def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        if let Some(v) = vm.props.get(prop) {
            return Ok((false, Some(v.clone())));
        }
        Ok((true, self.prop_default(name, vm, prop)))
    }

    pub fn prop_value(&self, name: &str, prop: &str) -> Option<String> {
        self.prop(name, prop).ok().and_then(|(_, v)| v)
    }

    /// A boolean property's effective value.
    pub fn bool_prop(&self, name: &str, prop: &str) -> bool {
        let Some(vm) = self.vms.get(name) else {
            return false;
        };
        match vm.props.get(prop) {
            Some(v) => v == "True",
            None => {
                matches!(prop, "include_in_backups" | "updateable")
                    && self.prop_default(name, vm, prop).as_deref() == Some("True")
            }
        }
    }

    /// `admin.vm.property.Set`: sanitizes, checks and sets, as qubesd does.
    /// `Err(None)` means qubesd aborts the connection (a write to a read-only property).
    pub fn set_prop(
        &mut self,
        name: &str,
        prop: &str,
        raw: &[u8],
    ) -> Result<(), Option<QubesError>> {
        let vm = self.vm(name)?;
        let def = def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        let value = sanitize(def, raw)?;
        match def.access {
            Writable => {}
            WriteOnce | Stateless => return Err(None),
            Forbidden => {
                return Err(Some(property_value_error(format!(
                    "Invalid value '{value}' for property '{prop}' of {name}: property is read-only"
                ))))
            }
        }
        let value = self.setter(name, def, &value)?;
        self.check_set(name, prop, &value)?;
        let old = self.prop_value(name, prop).unwrap_or_default();
        self.vm_mut(name)?
            .props
            .insert(prop.to_owned(), value.clone());
        self.after_set(name, prop);
        self.emit(Event::new(
            name,
            format!("property-set:{prop}"),
            &[("name", prop), ("newvalue", &value), ("oldvalue", &old)],
        ));
        Ok(())
    }

    /// `admin.vm.property.Reset`.
    pub fn reset_prop(&mut self, name: &str, prop: &str) -> Result<(), Option<QubesError>> {
        let vm = self.vm(name)?;
        let def = def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        if def.access != Writable {
            return Err(None);
        }
        let default = self
            .prop_default(name, vm, prop)
            .ok_or_else(|| value_error(format!("Property '{prop}' has no default")))?;
        // Going back to the default is a change of value like any other.
        self.check_set(name, prop, &default)?;
        let old = self.prop_value(name, prop).unwrap_or_default();
        self.vm_mut(name)?.props.remove(prop);
        self.after_set(name, prop);
        self.emit(Event::new(
            name,
            format!("property-reset:{prop}"),
            &[("name", prop), ("oldvalue", &old)],
        ));
        Ok(())
    }

    /// What qubesd's extensions do after a property changed.
    fn after_set(&mut self, name: &str, prop: &str) {
        match prop {
            // core_features: a network provider is a service qube.
            "provides_network" => {
                let provides = self.bool_prop(name, "provides_network");
                if let Some(vm) = self.vms.get_mut(name) {
                    if provides {
                        vm.features.insert("servicevm".into(), "1".into());
                    } else {
                        vm.features.remove("servicevm");
                    }
                }
            }
            // gui and audio extensions: one guivm-<qube> / audiovm-<qube> tag.
            "guivm" | "audiovm" => self.retag_gui(name),
            _ => {}
        }
    }

    /// The `guivm-X` and `audiovm-X` tags qubesd keeps on every qube.
    pub fn retag_gui(&mut self, name: &str) {
        let guivm = self.prop_value(name, "guivm").unwrap_or_default();
        let audiovm = self.prop_value(name, "audiovm").unwrap_or_default();
        if let Some(vm) = self.vms.get_mut(name) {
            if vm.class == VmClass::AdminVM {
                return;
            }
            vm.tags
                .retain(|t| !t.starts_with("guivm-") && !t.starts_with("audiovm-"));
            if !guivm.is_empty() {
                vm.tags.insert(format!("guivm-{guivm}"));
            }
            if !audiovm.is_empty() {
                vm.tags.insert(format!("audiovm-{audiovm}"));
            }
        }
    }

    /// The property's setter: existence of qubes, labels and the value rules.
    fn setter(&self, name: &str, def: PropDef, value: &str) -> Result<String, QubesError> {
        let prop = def.name;
        let bad = |why: &str| {
            property_value_error(format!(
                "Invalid value '{value}' for property '{prop}' of {name}: {why}"
            ))
        };
        match def.ty {
            PropType::Vm => {
                if value.is_empty() {
                    return if def.allow_none {
                        Ok(String::new())
                    } else {
                        Err(property_value_error(format!(
                            "Invalid value '' for property '{prop}' of {name}"
                        )))
                    };
                }
                let Some(target) = self.vms.get(value) else {
                    return Err(property_value_error(format!(
                        "Can't set {prop} to non-existing qube {value}"
                    )));
                };
                let wrong_class = match (prop, self.vm(name).map(|v| v.class)) {
                    ("template", Ok(VmClass::AppVM)) => target.class != VmClass::TemplateVM,
                    ("template", Ok(VmClass::DispVM)) => false,
                    _ => false,
                };
                if wrong_class {
                    return Err(property_value_error(format!(
                        "wrong VM class: domains['{value}'] is of type {} and not TemplateVM",
                        target.class.as_str()
                    )));
                }
                if prop == "template" && self.vm(name).map(|v| v.class) == Ok(VmClass::DispVM)
                    && !self.bool_prop(value, "template_for_dispvms")
                {
                    return Err(bad("template for disposable must have template_for_dispvms=True"));
                }
                Ok(value.to_owned())
            }
            PropType::Label => {
                if self.label_exists(value) {
                    Ok(value.to_owned())
                } else {
                    Err(label_not_found(value))
                }
            }
            PropType::Bool => Ok(value.to_owned()),
            PropType::Int => {
                let n: i64 = value.parse().map_err(|_| {
                    value_error("Failed to parse property value as int")
                })?;
                match prop {
                    "memory" | "vcpus" | "qrexec_timeout" | "shutdown_timeout" | "stubdom_mem"
                        if n <= 0 =>
                    {
                        Err(bad(&format!("{prop} must be positive")))
                    }
                    "maxmem" if n < 0 => Err(bad(&format!("{prop} must be positive or zero"))),
                    _ => Ok(n.to_string()),
                }
            }
            PropType::Str => match prop {
                "virt_mode" => {
                    let v = value.to_ascii_lowercase();
                    if ["hvm", "pv", "pvh"].contains(&v.as_str()) {
                        Ok(v)
                    } else {
                        Err(bad("Invalid virtualization mode, supported values: hvm, pv, pvh"))
                    }
                }
                "kernel" if !value.is_empty() && !KNOWN_KERNELS.contains(&value) => Err(
                    bad(&format!("Kernel '{value}' not installed")),
                ),
                "kernelopts" if value.len() > 512 => {
                    Err(bad("Kernelopts value too long (512 chars max)"))
                }
                "default_user"
                    if !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-+,.".contains(&b)) =>
                {
                    Err(bad("Username can contain only those characters: abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+,."))
                }
                "devices_denied" => denied_list(value).ok_or_else(|| {
                    bad("Interface code list should be in the form chhhhhhchhhhhh...,where c is one of \"b\", \"u\", \"m\", \"p\", \"*\" and h is a hexdigit or \"*\".")
                }),
                _ => Ok(value.to_owned()),
            },
        }
    }

    /// The checks qubesd's event handlers make before a property changes.
    fn check_set(&self, name: &str, prop: &str, value: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        match prop {
            "template" => {
                if vm.running {
                    return Err(QubesError::VmNotHalted(
                        "Cannot change template while qube is running".into(),
                    ));
                }
                Ok(())
            }
            "netvm" if !value.is_empty() => {
                if !self.bool_prop(value, "provides_network") {
                    return Err(value_error(format!(
                        "The {value} qube does not provide network"
                    )));
                }
                // a loop: the new netvm is this qube or reaches it through its own netvms
                let mut next = value.to_owned();
                let mut seen = Vec::new();
                while !next.is_empty() && !seen.contains(&next) {
                    if next == name {
                        return Err(value_error("Loops in network are unsupported"));
                    }
                    seen.push(next.clone());
                    next = self.netvm_of(&next);
                }
                Ok(())
            }
            "provides_network" if value == "False" && !self.connected_vms(name).is_empty() => Err(
                value_error("The qube is still used by other qubes, change theirs 'netvm' first"),
            ),
            "template_for_dispvms" if value == "False" => {
                let users: Vec<&String> = self
                    .vms
                    .iter()
                    .filter(|(_, v)| v.class == VmClass::DispVM && v.template() == Some(name))
                    .map(|(n, _)| n)
                    .collect();
                if users.is_empty() {
                    Ok(())
                } else {
                    Err(QubesError::VmInUse(
                        "('Cannot change template_for_dispvms to False while there are some disposables based on this disposable template',)".into(),
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// `admin.property.Set`.
    pub fn set_global(&mut self, prop: &str, raw: &[u8]) -> Result<(), QubesError> {
        let def = global_def(prop).ok_or_else(|| no_such_property("dom0", prop))?;
        let value = sanitize(def, raw)?;
        if def.ty == PropType::Vm && !value.is_empty() {
            let target = self.vms.get(&value).ok_or_else(|| {
                property_value_error(format!("Can't set {prop} to non-existing qube {value}"))
            })?;
            if prop == "default_template" && target.class != VmClass::TemplateVM {
                return Err(property_value_error(format!(
                    "wrong VM class: domains['{value}'] is of type {} and not TemplateVM",
                    target.class.as_str()
                )));
            }
            if prop == "default_netvm" {
                // qubesd refuses a default netvm that would close a loop for a qube using the default
                for (other, vm) in &self.vms {
                    if vm.class == VmClass::AdminVM || vm.props.contains_key("netvm") {
                        continue;
                    }
                    let mut next = value.clone();
                    let mut seen = Vec::new();
                    while !next.is_empty() && !seen.contains(&next) {
                        if &next == other {
                            return Err(property_value_error(format!("Network loop on '{other}'")));
                        }
                        seen.push(next.clone());
                        next = self
                            .vms
                            .get(&next)
                            .and_then(|v| v.props.get("netvm"))
                            .cloned()
                            .unwrap_or_default();
                    }
                }
            }
        } else if def.ty == PropType::Vm && !def.allow_none {
            return Err(property_value_error(format!(
                "Invalid value '' for property '{prop}' of dom0"
            )));
        }
        if prop.starts_with("default_pool") && self.pool(&value).is_none() {
            return Err(value_error(format!("No such storage pool: {value}")));
        }
        let value = match def.ty {
            PropType::Int => value
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| value_error("Failed to parse property value as int"))?,
            _ => value,
        };
        let old = self.global_value(prop);
        self.global.insert(prop.to_owned(), value.clone());
        self.after_global(prop, &old);
        self.emit(Event::new(
            "",
            format!("property-set:{prop}"),
            &[("name", prop), ("newvalue", &value), ("oldvalue", &old)],
        ));
        Ok(())
    }

    pub fn reset_global(&mut self, prop: &str) -> Result<(), QubesError> {
        global_def(prop).ok_or_else(|| no_such_property("dom0", prop))?;
        let old = self.global_value(prop);
        self.global.remove(prop);
        self.after_global(prop, &old);
        self.emit(Event::new(
            "",
            format!("property-reset:{prop}"),
            &[("name", prop), ("oldvalue", &old)],
        ));
        Ok(())
    }

    /// The clock service follows `clockvm`; guivm/audiovm tags follow their defaults.
    fn after_global(&mut self, prop: &str, old: &str) {
        match prop {
            "clockvm" => {
                let new = self.global_value("clockvm");
                if new == old {
                    return;
                }
                if let Some(vm) = self.vms.get_mut(old) {
                    if vm
                        .features
                        .get("service.clocksync")
                        .is_some_and(|v| !v.is_empty())
                    {
                        vm.features.remove("service.clocksync");
                    }
                }
                if let Some(vm) = self.vms.get_mut(&new) {
                    if !vm.features.contains_key("service.clocksync") {
                        vm.features.insert("service.clocksync".into(), "1".into());
                    }
                }
            }
            "default_guivm" | "default_audiovm" => {
                let names: Vec<String> = self.vms.keys().cloned().collect();
                for n in names {
                    self.retag_gui(&n);
                }
            }
            _ => {}
        }
    }

    /// Checks a qube name for `admin.vm.Create` and VM-valued properties.
    pub fn check_name(name: &str) -> Result<(), QubesError> {
        match invalid_vm_name(name) {
            Some(why) => Err(value_error(why)),
            None => Ok(()),
        }
    }

    pub fn existing(&self, name: &str) -> Result<&Vm, QubesError> {
        self.vms.get(name).ok_or_else(|| not_found(name))
    }
}

/// `property.sanitize`: ASCII, then by type; a VM name is checked as a name.
fn sanitize(def: PropDef, raw: &[u8]) -> Result<String, QubesError> {
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| value_error("Non-ASCII bytes in property value"))?;
    match def.ty {
        PropType::Bool => match text.to_ascii_lowercase().as_str() {
            "0" | "no" | "false" | "off" => Ok("False".into()),
            "1" | "yes" | "true" | "on" => Ok("True".into()),
            _ => Err(value_error(format!(
                "Invalid literal for boolean property: '{text}'"
            ))),
        },
        PropType::Int => text
            .trim()
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| value_error("Failed to parse property value as int")),
        PropType::Vm => {
            if !text.is_empty() {
                System::check_name(text)?;
            }
            Ok(text.to_owned())
        }
        PropType::Str | PropType::Label => {
            // Python's string.printable
            if text
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) || b"\t\n\r\x0b\x0c".contains(&b))
            {
                Ok(text.to_owned())
            } else {
                Err(value_error("Invalid characters in property value"))
            }
        }
    }
}

/// `_setter_denied_list`: 7-character codes (class `b`/`u`/`m`/`p`/`*`, six hex
/// digits or `*`), duplicates removed and sorted; None if malformed.
fn denied_list(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(String::new());
    }
    if !value.len().is_multiple_of(7) {
        return None;
    }
    let mut codes: Vec<&str> = Vec::new();
    for i in (0..value.len()).step_by(7) {
        let code = value.get(i..i + 7)?;
        let mut bytes = code.bytes();
        let class_ok = bytes.next().is_some_and(|c| b"bump*".contains(&c));
        let rest_ok = bytes.all(|b| b"0123456789abcdef*".contains(&b));
        if !(class_ok && rest_ok) {
            return None;
        }
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes.sort_unstable();
    Some(codes.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_lists_are_sorted_and_complete() {
        let names: Vec<&str> = class_props(VmClass::AppVM).iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for p in [
            "guivm",
            "audiovm",
            "qrexec_timeout",
            "updateable",
            "template",
            "template_for_dispvms",
            "ip",
            "keyboard_layout",
        ] {
            assert!(names.contains(&p), "{p}");
        }
        assert!(def(VmClass::TemplateVM, "template").is_none());
        assert!(def(VmClass::DispVM, "auto_cleanup").is_some());
        assert!(def(VmClass::AdminVM, "netvm").is_none());
    }

    #[test]
    fn denied_lists_are_normalised() {
        assert_eq!(denied_list("*******").as_deref(), Some("*******"));
        assert_eq!(
            denied_list("u******b******u******").as_deref(),
            Some("b******u******")
        );
        assert_eq!(denied_list("******"), None);
        assert_eq!(denied_list("x******"), None);
    }
}
