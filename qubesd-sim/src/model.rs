//! The simulated Qubes system: qubes, their classes, properties (with defaults
//! and inheritance), features, tags, volumes and power state, plus the global
//! properties and labels.
//!
//! Owns the data and the rules qubesd enforces on it (what may be set, when a
//! qube may be removed, what a DispVM copies from its template). Persisted as
//! JSON by [`crate::server`]; the API calls are in [`crate::api`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use sdw_provision::wire::QubesError;

pub const GIB: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_KERNEL: &str = "6.12.59-1.fc41";
/// Properties whose default is the template's value.
const TEMPLATE_INHERITED: &[&str] = &[
    "kernel",
    "kernelopts",
    "virt_mode",
    "memory",
    "maxmem",
    "vcpus",
];
const KNOWN_KERNELS: &[&str] = &[DEFAULT_KERNEL, "pvgrub2-pvh", "pvgrub2"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmClass {
    AdminVM,
    AppVM,
    DispVM,
    TemplateVM,
    StandaloneVM,
}

impl VmClass {
    pub fn as_str(self) -> &'static str {
        match self {
            VmClass::AdminVM => "AdminVM",
            VmClass::AppVM => "AppVM",
            VmClass::DispVM => "DispVM",
            VmClass::TemplateVM => "TemplateVM",
            VmClass::StandaloneVM => "StandaloneVM",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AppVM" => VmClass::AppVM,
            "DispVM" => VmClass::DispVM,
            "TemplateVM" => VmClass::TemplateVM,
            "StandaloneVM" => VmClass::StandaloneVM,
            _ => return None,
        })
    }
}

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

/// How a property behaves: its type, whether it may be written, may be None,
/// and whether a DispVM copies it from its template.
#[derive(Debug, Clone, Copy)]
pub struct PropDef {
    pub ty: PropType,
    pub writable: bool,
    pub allow_none: bool,
    pub clone: bool,
}

const fn def(ty: PropType, writable: bool, allow_none: bool, clone: bool) -> PropDef {
    PropDef {
        ty,
        writable,
        allow_none,
        clone,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub size: u64,
    pub save_on_stop: bool,
    pub snap_on_start: bool,
    pub rw: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vm {
    pub class: VmClass,
    pub qid: u32,
    pub uuid: String,
    pub running: bool,
    /// Properties that are not at their default, as their wire value (`""` = None).
    pub props: BTreeMap<String, String>,
    pub features: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
    pub volumes: BTreeMap<String, Volume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    pub vms: BTreeMap<String, Vm>,
    /// Global (dom0) properties that are not at their default.
    pub global: BTreeMap<String, String>,
    pub labels: Vec<(String, String)>,
    pub next_qid: u32,
    pub clone_tokens: BTreeMap<String, (String, String)>,
    pub token_counter: u64,
}

pub fn not_found(name: &str) -> QubesError {
    QubesError::VmNotFound(format!("No such domain: '{name}'"))
}

fn value_error(message: impl Into<String>) -> QubesError {
    QubesError::Value {
        exc_type: "QubesValueError".into(),
        message: message.into(),
    }
}

fn property_value_error(vm: &str, prop: &str, value: &str, why: &str) -> QubesError {
    QubesError::Value {
        exc_type: "QubesPropertyValueError".into(),
        message: format!("Invalid value '{value}' for property '{prop}' of {vm}: {why}"),
    }
}

pub fn is_valid_vm_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 31
        && !["none", "default", "Domain-0"].contains(&name)
        && !name.ends_with("-dm")
}

impl System {
    /// A stock Qubes OS 4.3 system as the installer leaves it.
    pub fn stock() -> Self {
        let mut sys = System {
            vms: BTreeMap::new(),
            global: BTreeMap::new(),
            labels: [
                ("red", "0xcc0000"),
                ("orange", "0xf57900"),
                ("yellow", "0xedd400"),
                ("green", "0x73d216"),
                ("gray", "0x555753"),
                ("blue", "0x3465a4"),
                ("purple", "0x75507b"),
                ("black", "0x000000"),
            ]
            .iter()
            .map(|(l, c)| ((*l).to_owned(), (*c).to_owned()))
            .collect(),
            next_qid: 1,
            clone_tokens: BTreeMap::new(),
            token_counter: 0,
        };
        sys.vms.insert(
            "dom0".into(),
            Vm {
                class: VmClass::AdminVM,
                qid: 0,
                uuid: "00000000-0000-0000-0000-000000000000".into(),
                running: true,
                props: [("label".to_owned(), "black".to_owned())].into(),
                features: BTreeMap::new(),
                tags: BTreeSet::new(),
                volumes: BTreeMap::new(),
            },
        );
        let stock: &[StockQube] = &[
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
        for (name, class, template, label, props, features, running) in stock {
            let created = sys.create(name, *class, *template, label, "dom0");
            debug_assert!(created.is_ok());
            if let Some(vm) = sys.vms.get_mut(*name) {
                vm.tags.remove("created-by-dom0");
                for (k, v) in *props {
                    vm.props.insert((*k).into(), (*v).into());
                }
                for (k, v) in *features {
                    vm.features.insert((*k).into(), (*v).into());
                }
                vm.running = *running;
            }
        }
        for (k, v) in [
            ("default_template", "fedora-43-xfce"),
            ("default_dispvm", "default-dvm"),
            ("default_netvm", "sys-firewall"),
            ("updatevm", "sys-firewall"),
            ("clockvm", "sys-net"),
            ("management_dispvm", "default-mgmt-dvm"),
        ] {
            sys.global.insert(k.into(), v.into());
        }
        let usb = sys.create(
            "sys-usb",
            VmClass::DispVM,
            Some("default-dvm"),
            "red",
            "dom0",
        );
        debug_assert!(usb.is_ok());
        if let Some(vm) = sys.vms.get_mut("sys-usb") {
            vm.tags.remove("created-by-dom0");
            vm.props.insert("netvm".into(), String::new());
            vm.props.insert("autostart".into(), "True".into());
            vm.running = true;
        }
        sys
    }

    pub fn vm(&self, name: &str) -> Result<&Vm, QubesError> {
        self.vms.get(name).ok_or_else(|| not_found(name))
    }

    pub fn vm_mut(&mut self, name: &str) -> Result<&mut Vm, QubesError> {
        self.vms.get_mut(name).ok_or_else(|| not_found(name))
    }

    pub fn label_exists(&self, label: &str) -> bool {
        self.labels.iter().any(|(l, _)| l == label)
    }

    // ---- properties -------------------------------------------------------

    pub fn prop_def(class: VmClass, prop: &str) -> Option<PropDef> {
        use PropType::*;
        let common = match prop {
            "name" | "uuid" | "klass" => Some(def(Str, false, false, false)),
            "qid" => Some(def(Int, false, false, false)),
            "label" => Some(def(Label, true, false, true)),
            _ => None,
        };
        if common.is_some() || class == VmClass::AdminVM {
            return common;
        }
        let any_qube = match prop {
            "netvm" | "default_dispvm" | "management_dispvm" => Some(def(Vm, true, true, true)),
            "provides_network" | "autostart" | "include_in_backups" | "installed_by_rpm"
            | "debug" => Some(def(Bool, true, false, true)),
            "virt_mode" | "kernel" | "kernelopts" | "devices_denied" => {
                Some(def(Str, true, false, true))
            }
            "memory" | "maxmem" | "vcpus" => Some(def(Int, true, false, true)),
            _ => None,
        };
        if any_qube.is_some() {
            return any_qube;
        }
        match (class, prop) {
            (VmClass::AppVM | VmClass::DispVM, "template") => Some(def(Vm, true, false, false)),
            (VmClass::AppVM, "template_for_dispvms") => Some(def(Bool, true, false, true)),
            (VmClass::DispVM, "auto_cleanup") => Some(def(Bool, true, false, false)),
            (VmClass::DispVM, "is_preload") => Some(def(Bool, false, false, false)),
            _ => None,
        }
    }

    pub fn prop_names(class: VmClass) -> Vec<&'static str> {
        [
            "auto_cleanup",
            "autostart",
            "debug",
            "default_dispvm",
            "devices_denied",
            "include_in_backups",
            "installed_by_rpm",
            "is_preload",
            "kernel",
            "kernelopts",
            "klass",
            "label",
            "management_dispvm",
            "maxmem",
            "memory",
            "name",
            "netvm",
            "provides_network",
            "qid",
            "template",
            "template_for_dispvms",
            "uuid",
            "vcpus",
            "virt_mode",
        ]
        .into_iter()
        .filter(|p| Self::prop_def(class, p).is_some())
        .collect()
    }

    /// The default value of a property of a qube, or None if it has none.
    pub fn prop_default(&self, name: &str, vm: &Vm, prop: &str) -> Option<String> {
        let global = |p: &str| self.global_prop(p).map(|(_, v)| v);
        // qubesd's `_default_with_template`: template-based qubes follow their template.
        if TEMPLATE_INHERITED.contains(&prop) {
            if let Some(template) = vm.props.get("template").filter(|t| *t != name) {
                if let Some(v) = self.prop_value(template, prop) {
                    return Some(v);
                }
            }
        }
        match prop {
            "name" => Some(name.to_owned()),
            "qid" => Some(vm.qid.to_string()),
            "uuid" => Some(vm.uuid.clone()),
            "klass" => Some(vm.class.as_str().to_owned()),
            "netvm" => Some(match vm.class {
                VmClass::TemplateVM => String::new(),
                _ if self.bool_prop(name, "provides_network") => String::new(),
                _ => global("default_netvm").unwrap_or_default(),
            }),
            "default_dispvm" => Some(match vm.class {
                VmClass::DispVM => vm.props.get("template").cloned().unwrap_or_default(),
                _ => global("default_dispvm").unwrap_or_default(),
            }),
            "management_dispvm" => Some(global("management_dispvm").unwrap_or_default()),
            "provides_network"
            | "autostart"
            | "installed_by_rpm"
            | "debug"
            | "template_for_dispvms"
            | "auto_cleanup"
            | "is_preload" => Some("False".into()),
            "include_in_backups" => Some(
                if vm.class == VmClass::DispVM && self.bool_prop(name, "auto_cleanup") {
                    "False"
                } else {
                    "True"
                }
                .into(),
            ),
            "virt_mode" => Some("pvh".into()),
            "kernel" => Some(global("default_kernel").unwrap_or_default()),
            "kernelopts" | "devices_denied" => Some(String::new()),
            "memory" => Some("400".into()),
            "maxmem" => Some("4000".into()),
            "vcpus" => Some("2".into()),
            _ => None,
        }
    }

    /// `(is_default, value)`; value None when unreadable (no default, never set).
    pub fn prop(&self, name: &str, prop: &str) -> Result<(bool, Option<String>), QubesError> {
        let vm = self.vm(name)?;
        let def = Self::prop_def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        let _ = def;
        if let Some(v) = vm.props.get(prop) {
            return Ok((false, Some(v.clone())));
        }
        Ok((true, self.prop_default(name, vm, prop)))
    }

    pub fn prop_value(&self, name: &str, prop: &str) -> Option<String> {
        self.prop(name, prop).ok().and_then(|(_, v)| v)
    }

    pub fn bool_prop(&self, name: &str, prop: &str) -> bool {
        self.vms
            .get(name)
            .and_then(|vm| vm.props.get(prop))
            .is_some_and(|v| v == "True")
    }

    /// Sanitizes and sets a property, enforcing qubesd's rules.
    pub fn set_prop(&mut self, name: &str, prop: &str, raw: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        let def = Self::prop_def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        if !def.writable {
            return Err(value_error(format!("Property '{prop}' is read-only")));
        }
        let value = self.sanitize(name, prop, def, raw)?;
        self.check_set(name, prop, &value)?;
        self.vm_mut(name)?.props.insert(prop.to_owned(), value);
        Ok(())
    }

    pub fn reset_prop(&mut self, name: &str, prop: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        let def = Self::prop_def(vm.class, prop).ok_or_else(|| no_such_property(name, prop))?;
        let default = self
            .prop_default(name, vm, prop)
            .filter(|_| def.writable)
            .ok_or_else(|| value_error(format!("Property '{prop}' has no default")))?;
        // Going back to the default is a change of value like any other.
        self.check_set(name, prop, &default)?;
        self.vm_mut(name)?.props.remove(prop);
        Ok(())
    }

    fn sanitize(
        &self,
        vm: &str,
        prop: &str,
        def: PropDef,
        raw: &str,
    ) -> Result<String, QubesError> {
        if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(value_error(format!("Invalid value for property '{prop}'")));
        }
        match def.ty {
            PropType::Bool => match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok("True".into()),
                "0" | "false" | "no" | "off" => Ok("False".into()),
                _ => Err(value_error(format!(
                    "Invalid literal for boolean property: '{raw}'"
                ))),
            },
            PropType::Int => raw
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| value_error(format!("Invalid literal for int property: '{raw}'"))),
            PropType::Vm => {
                if raw.is_empty() {
                    return if def.allow_none {
                        Ok(String::new())
                    } else {
                        Err(property_value_error(
                            vm,
                            prop,
                            raw,
                            "property does not allow None",
                        ))
                    };
                }
                self.vm(raw)?;
                Ok(raw.to_owned())
            }
            PropType::Label => {
                if self.label_exists(raw) {
                    Ok(raw.to_owned())
                } else {
                    Err(QubesError::Value {
                        exc_type: "QubesLabelNotFoundError".into(),
                        message: format!("Label does not exist: {raw}"),
                    })
                }
            }
            PropType::Str => {
                match prop {
                    "virt_mode" if !["hvm", "pv", "pvh"].contains(&raw) => {
                        return Err(property_value_error(
                            vm,
                            prop,
                            raw,
                            "Invalid virtualization mode, supported values: hvm, pv, pvh",
                        ));
                    }
                    "kernel" if !raw.is_empty() && !KNOWN_KERNELS.contains(&raw) => {
                        return Err(property_value_error(vm, prop, raw, "Kernel does not exist"));
                    }
                    "devices_denied" if !is_device_interface_list(raw) => {
                        return Err(property_value_error(
                            vm,
                            prop,
                            raw,
                            "expected a list of 7-character device interface codes",
                        ));
                    }
                    _ => {}
                }
                Ok(raw.to_owned())
            }
        }
    }

    fn check_set(&self, name: &str, prop: &str, value: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        match prop {
            "template" => {
                if vm.running {
                    return Err(QubesError::VmNotHalted(format!(
                        "Domain is not powered off: '{name}'"
                    )));
                }
                let target = self.vm(value)?;
                match vm.class {
                    VmClass::AppVM if target.class != VmClass::TemplateVM => Err(
                        property_value_error(name, prop, value, "template must be a TemplateVM"),
                    ),
                    VmClass::DispVM if !self.bool_prop(value, "template_for_dispvms") => {
                        Err(property_value_error(
                            name,
                            prop,
                            value,
                            "template for disposable must have template_for_dispvms=True",
                        ))
                    }
                    _ => Ok(()),
                }
            }
            "netvm" if !value.is_empty() => {
                if value == name {
                    return Err(property_value_error(
                        name,
                        prop,
                        value,
                        "loops in network are unsupported",
                    ));
                }
                if !self.bool_prop(value, "provides_network") {
                    return Err(property_value_error(
                        name,
                        prop,
                        value,
                        &format!("VM {value} does not provide network"),
                    ));
                }
                Ok(())
            }
            "default_dispvm"
                if !value.is_empty() && !self.bool_prop(value, "template_for_dispvms") =>
            {
                Err(property_value_error(
                    name,
                    prop,
                    value,
                    &format!("VM {value} is not a disposable template"),
                ))
            }
            "template_for_dispvms" if value == "False" => {
                let users: Vec<&String> = self
                    .vms
                    .iter()
                    .filter(|(_, v)| {
                        v.class == VmClass::DispVM
                            && v.props.get("template").is_some_and(|t| t == name)
                    })
                    .map(|(n, _)| n)
                    .collect();
                if users.is_empty() {
                    Ok(())
                } else {
                    Err(QubesError::VmInUse(format!(
                        "Domain is in use: '{name}'; disposables based on it exist"
                    )))
                }
            }
            _ => Ok(()),
        }
    }

    // ---- global properties ------------------------------------------------

    pub fn global_def(prop: &str) -> Option<PropType> {
        match prop {
            "default_template" | "default_dispvm" | "default_netvm" | "updatevm" | "clockvm"
            | "management_dispvm" => Some(PropType::Vm),
            "default_kernel" | "default_pool" | "default_pool_private" => Some(PropType::Str),
            _ => None,
        }
    }

    pub fn global_names() -> Vec<&'static str> {
        vec![
            "clockvm",
            "default_dispvm",
            "default_kernel",
            "default_netvm",
            "default_pool",
            "default_pool_private",
            "default_template",
            "management_dispvm",
            "updatevm",
        ]
    }

    pub fn global_default(prop: &str) -> Option<String> {
        match prop {
            "default_kernel" => Some(DEFAULT_KERNEL.into()),
            "default_pool" | "default_pool_private" => Some("vm-pool".into()),
            "default_template" | "default_dispvm" | "default_netvm" | "updatevm" | "clockvm"
            | "management_dispvm" => Some(String::new()),
            _ => None,
        }
    }

    pub fn global_prop(&self, prop: &str) -> Option<(bool, String)> {
        Self::global_def(prop)?;
        match self.global.get(prop) {
            Some(v) => Some((false, v.clone())),
            None => Some((true, Self::global_default(prop).unwrap_or_default())),
        }
    }

    pub fn set_global(&mut self, prop: &str, raw: &str) -> Result<(), QubesError> {
        let ty = Self::global_def(prop).ok_or_else(|| no_such_property("dom0", prop))?;
        if ty == PropType::Vm && !raw.is_empty() {
            let target = self.vm(raw)?;
            let fits = match prop {
                "default_template" => target.class == VmClass::TemplateVM,
                "default_dispvm" | "management_dispvm" => {
                    self.bool_prop(raw, "template_for_dispvms")
                }
                "default_netvm" | "updatevm" => self.bool_prop(raw, "provides_network"),
                _ => true,
            };
            if !fits {
                return Err(property_value_error("dom0", prop, raw, "unsuitable qube"));
            }
        }
        if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(value_error(format!("Invalid value for property '{prop}'")));
        }
        self.global.insert(prop.to_owned(), raw.to_owned());
        Ok(())
    }

    // ---- lifecycle --------------------------------------------------------

    /// `admin.vm.Create.<class>`: a new qube with the label and template, tagged `created-by-<src>`.
    /// A DispVM copies properties, features and tags of its disposable template.
    pub fn create(
        &mut self,
        name: &str,
        class: VmClass,
        template: Option<&str>,
        label: &str,
        src: &str,
    ) -> Result<(), QubesError> {
        if !is_valid_vm_name(name) {
            return Err(value_error(format!("Invalid VM name: '{name}'")));
        }
        if self.vms.contains_key(name) {
            return Err(QubesError::VmAlreadyExists(format!(
                "VM {name} already exists"
            )));
        }
        if !self.label_exists(label) {
            return Err(QubesError::Value {
                exc_type: "QubesLabelNotFoundError".into(),
                message: format!("Label does not exist: {label}"),
            });
        }
        let template = match (class, template) {
            (VmClass::AppVM, t) => {
                let t = match t {
                    Some(t) => t.to_owned(),
                    None => self
                        .global_prop("default_template")
                        .map(|(_, v)| v)
                        .unwrap_or_default(),
                };
                if self.vm(&t)?.class != VmClass::TemplateVM {
                    return Err(value_error(format!("{t} is not a TemplateVM")));
                }
                Some(t)
            }
            (VmClass::DispVM, t) => {
                let t = match t {
                    Some(t) => t.to_owned(),
                    None => self
                        .global_prop("default_dispvm")
                        .map(|(_, v)| v)
                        .unwrap_or_default(),
                };
                self.vm(&t)?;
                if !self.bool_prop(&t, "template_for_dispvms") {
                    return Err(value_error(format!(
                        "template for disposable ({t}) needs to be an AppVM with template_for_dispvms=True"
                    )));
                }
                Some(t)
            }
            (_, None) => None,
            (_, Some(_)) => return Err(value_error("this class does not take a template")),
        };
        let qid = self.next_qid;
        self.next_qid = self.next_qid.saturating_add(1);
        let private = 2 * GIB;
        let root = template
            .as_deref()
            .and_then(|t| self.vms.get(t))
            .and_then(|t| t.volumes.get("root"))
            .map_or(20 * GIB, |v| v.size);
        let disposable = class == VmClass::DispVM;
        let mut vm = Vm {
            class,
            qid,
            uuid: format!(
                "5d3a{qid:04x}-51b0-4e1f-8a6c-{:012x}",
                u64::from(qid) * 7919
            ),
            running: false,
            props: [("label".to_owned(), label.to_owned())].into(),
            features: BTreeMap::new(),
            tags: [format!("created-by-{src}")].into(),
            volumes: [
                (
                    "root",
                    root,
                    class == VmClass::TemplateVM || class == VmClass::StandaloneVM,
                    matches!(class, VmClass::AppVM | VmClass::DispVM),
                ),
                ("private", private, !disposable, disposable),
                ("volatile", 12 * GIB, false, false),
                ("kernel", 0, false, false),
            ]
            .into_iter()
            .map(|(n, size, save_on_stop, snap_on_start)| {
                (
                    n.to_owned(),
                    Volume {
                        size,
                        save_on_stop,
                        snap_on_start,
                        rw: n != "kernel",
                    },
                )
            })
            .collect(),
        };
        if let Some(t) = &template {
            vm.props.insert("template".into(), t.clone());
        }
        if let (true, Some(t)) = (
            disposable,
            template.as_deref().and_then(|t| self.vms.get(t)),
        ) {
            for (prop, value) in &t.props {
                let clonable = Self::prop_def(t.class, prop).is_some_and(|d| d.clone)
                    && Self::prop_def(VmClass::DispVM, prop).is_some();
                if clonable && prop != "template" && !vm.props.contains_key(prop) {
                    vm.props.insert(prop.clone(), value.clone());
                }
            }
            vm.props.insert("label".into(), label.to_owned());
            for (k, v) in &t.features {
                if !k.starts_with("preload-dispvm") {
                    vm.features.insert(k.clone(), v.clone());
                }
            }
            vm.tags.extend(t.tags.iter().cloned());
            if let Some(p) = t.volumes.get("private") {
                if let Some(own) = vm.volumes.get_mut("private") {
                    own.size = p.size;
                }
            }
        }
        self.vms.insert(name.to_owned(), vm);
        Ok(())
    }

    /// Qubes that refer to `name` through an explicitly set property, and global properties set to it.
    pub fn dependants(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .vms
            .iter()
            .filter(|(other, _)| other.as_str() != name)
            .flat_map(|(other, vm)| {
                vm.props
                    .iter()
                    .filter(|(p, v)| {
                        v.as_str() == name
                            && Self::prop_def(vm.class, p).is_some_and(|d| d.ty == PropType::Vm)
                    })
                    .map(move |(p, _)| format!("{other}.{p}"))
            })
            .collect();
        out.extend(
            self.global
                .iter()
                .filter(|(p, v)| v.as_str() == name && Self::global_def(p) == Some(PropType::Vm))
                .map(|(p, _)| format!("@GLOBAL.{p}")),
        );
        out
    }

    pub fn remove(&mut self, name: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if vm.class == VmClass::AdminVM {
            return Err(QubesError::VmInUse("Cannot remove dom0".into()));
        }
        if vm.running {
            return Err(QubesError::VmNotHalted(format!(
                "Domain is not powered off: '{name}'"
            )));
        }
        if self.bool_prop(name, "installed_by_rpm") {
            return Err(QubesError::VmInUse(format!(
                "VM installed by package manager: {name}"
            )));
        }
        let users = self.dependants(name);
        if !users.is_empty() {
            return Err(QubesError::VmInUse(format!(
                "Domain is in use: '{name}'; see /var/log/qubes/qubes.log in dom0 for more details ({})",
                users.join(", ")
            )));
        }
        self.vms.remove(name);
        Ok(())
    }

    pub fn start(&mut self, name: &str) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if vm.running {
            return Ok(());
        }
        let mut chain = vec![name.to_owned()];
        let mut next = self.prop_value(name, "netvm").unwrap_or_default();
        while !next.is_empty() && !chain.contains(&next) {
            chain.push(next.clone());
            next = self.prop_value(&next, "netvm").unwrap_or_default();
        }
        for n in chain {
            if let Some(vm) = self.vms.get_mut(&n) {
                vm.running = true;
            }
        }
        Ok(())
    }

    pub fn shutdown(&mut self, name: &str, force: bool) -> Result<(), QubesError> {
        let vm = self.vm(name)?;
        if !vm.running {
            return Err(QubesError::VmNotStarted(format!(
                "Domain is powered off: '{name}'"
            )));
        }
        if vm.class == VmClass::AdminVM {
            return Err(value_error("Cannot shutdown dom0"));
        }
        if !force {
            let connected: Vec<String> = self
                .vms
                .keys()
                .filter(|n| {
                    self.vms.get(*n).is_some_and(|v| v.running)
                        && self.prop_value(n, "netvm").as_deref() == Some(name)
                })
                .cloned()
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
        if let Some(vm) = self.vms.get_mut(name) {
            vm.running = false;
        }
        if cleanup {
            self.vms.remove(name);
        }
        Ok(())
    }
}

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

fn no_such_property(vm: &str, prop: &str) -> QubesError {
    QubesError::NoSuchProperty(format!("Invalid property '{prop}' of {vm}"))
}

/// A concatenation of 7-character device interface codes (hex digits or `*`).
fn is_device_interface_list(s: &str) -> bool {
    s.len().checked_rem(7) == Some(0) && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "dom0"
            ),
            Ok(())
        );
        assert_eq!(sys.set_prop("dvm", "template_for_dispvms", "True"), Ok(()));
        assert_eq!(sys.set_prop("dvm", "devices_denied", "*******"), Ok(()));
        assert_eq!(sys.set_prop("dvm", "netvm", ""), Ok(()));
        if let Ok(vm) = sys.vm_mut("dvm") {
            vm.features.insert("service.cups".into(), "1".into());
            vm.features.insert("preload-dispvm-max".into(), "2".into());
            vm.tags.insert("sd-trixie".into());
        }
        assert_eq!(
            sys.create("disp", VmClass::DispVM, Some("dvm"), "blue", "dom0"),
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
        // the template_for_dispvms property does not exist on a DispVM
        assert!(disp.is_ok_and(|d| !d.props.contains_key("template_for_dispvms")));
    }

    #[test]
    fn template_based_qubes_follow_their_template_kernel() {
        let mut sys = System::stock();
        assert_eq!(
            sys.set_prop("fedora-43-xfce", "kernel", "pvgrub2-pvh"),
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
            Ok((true, Some(DEFAULT_KERNEL.into())))
        );
    }

    #[test]
    fn refuses_a_dispvm_from_a_template_without_template_for_dispvms() {
        let mut sys = System::stock();
        let err = sys.create("d", VmClass::DispVM, Some("work"), "red", "dom0");
        assert!(matches!(err, Err(QubesError::Value { .. })));
    }

    #[test]
    fn refuses_template_change_on_a_running_qube() {
        let mut sys = System::stock();
        assert!(matches!(
            sys.set_prop("sys-net", "template", "debian-13-minimal"),
            Err(QubesError::VmNotHalted(_))
        ));
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
    fn sanitizes_property_values() {
        let mut sys = System::stock();
        assert_eq!(sys.set_prop("work", "autostart", "yes"), Ok(()));
        assert_eq!(
            sys.prop("work", "autostart"),
            Ok((false, Some("True".into())))
        );
        assert!(sys.set_prop("work", "autostart", "maybe").is_err());
        assert!(sys.set_prop("work", "netvm", "work").is_err());
        assert!(sys.set_prop("work", "netvm", "vault").is_err());
        assert!(sys.set_prop("work", "default_dispvm", "work").is_err());
        assert!(sys.set_prop("work", "devices_denied", "******").is_err());
        assert_eq!(sys.set_prop("work", "devices_denied", "*******"), Ok(()));
        assert!(matches!(
            sys.set_prop("work", "foo", "1"),
            Err(QubesError::NoSuchProperty(_))
        ));
        assert!(sys.set_prop("work", "qid", "7").is_err());
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
}
