//! The simulated Qubes system as data: qubes, their classes, explicitly set
//! properties, features (in the order they were set, as qubesd keeps them),
//! tags, volumes and power state, plus the global properties, labels, pools and
//! the events the last change produced.
//!
//! Owns the data and the small rules that belong to it (names of features and
//! tags, the exception constructors of qubesd). The property rules are in
//! [`crate::props`], the stock system in [`crate::stock`], creating, starting,
//! stopping and removing qubes in [`crate::lifecycle`]. Persisted as JSON by
//! [`crate::server`]; the API methods are in [`crate::api`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use sdw_provision::wire::QubesError;

pub const GIB: u64 = 1024 * 1024 * 1024;

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

    /// The classes `admin.vm.Create.<class>` accepts.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AppVM" => VmClass::AppVM,
            "DispVM" => VmClass::DispVM,
            "TemplateVM" => VmClass::TemplateVM,
            "StandaloneVM" => VmClass::StandaloneVM,
            _ => return None,
        })
    }

    /// Whether qubes of this class have a `template` property.
    pub fn has_template(self) -> bool {
        matches!(self, VmClass::AppVM | VmClass::DispVM)
    }
}

/// A map that keeps insertion order and serializes as a JSON object (qubesd's
/// features and volumes are Python dicts: listed in the order they were added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V> Ordered<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Replaces the value in place, or appends a new key; returns the old value.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut out = Ordered::default();
                while let Some((k, v)) = access.next_entry::<String, V>()? {
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub size: u64,
    pub save_on_stop: bool,
    pub snap_on_start: bool,
    pub rw: bool,
    pub pool: String,
    /// The volume it is a snapshot of (`snap_on_start`), as `qube:volume`.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default = "one")]
    pub revisions_to_keep: i64,
    #[serde(default)]
    pub ephemeral: bool,
    /// Revisions kept of a `save_on_stop` volume, oldest first (names as LVM's timestamps).
    #[serde(default)]
    pub revisions: Vec<String>,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vm {
    pub class: VmClass,
    pub qid: u32,
    pub uuid: String,
    pub running: bool,
    /// Properties that are not at their default, as their wire value (`""` = None).
    pub props: BTreeMap<String, String>,
    pub features: Ordered<String>,
    pub tags: BTreeSet<String>,
    pub volumes: Ordered<Volume>,
}

impl Vm {
    pub fn template(&self) -> Option<&str> {
        self.props.get("template").map(String::as_str)
    }
}

/// A storage pool: its name, driver and `admin.pool.Info` lines (sorted by key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub size: u64,
    pub usage: u64,
}

/// One event as `admin.Events` sends it; `subject` empty for the system itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub subject: String,
    pub name: String,
    pub kwargs: Vec<(String, String)>,
}

impl Event {
    pub fn new(subject: &str, name: impl Into<String>, kwargs: &[(&str, &str)]) -> Self {
        Event {
            subject: subject.to_owned(),
            name: name.into(),
            kwargs: kwargs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// `1\0subject\0event\0(key\0value\0)*\0`, as qubesd's `send_event` writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"1\0".to_vec();
        out.extend_from_slice(self.subject.as_bytes());
        out.push(0);
        out.extend_from_slice(self.name.as_bytes());
        out.push(0);
        for (k, v) in &self.kwargs {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out.push(0);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    pub vms: BTreeMap<String, Vm>,
    /// Global (dom0) properties that are not at their default.
    pub global: BTreeMap<String, String>,
    pub labels: Vec<(String, String)>,
    #[serde(default)]
    pub pools: Vec<Pool>,
    pub next_qid: u32,
    pub clone_tokens: BTreeMap<String, (String, String)>,
    pub token_counter: u64,
    /// Events of the current call, handed to `admin.Events` listeners by the server.
    #[serde(skip)]
    pub events: Vec<Event>,
}

pub fn not_found(name: &str) -> QubesError {
    QubesError::VmNotFound(format!("No such domain: '{name}'"))
}

pub fn value_error(message: impl Into<String>) -> QubesError {
    QubesError::Value {
        exc_type: "QubesValueError".into(),
        message: message.into(),
    }
}

/// `QubesPropertyValueError` with its own message.
pub fn property_value_error(message: impl Into<String>) -> QubesError {
    QubesError::Value {
        exc_type: "QubesPropertyValueError".into(),
        message: message.into(),
    }
}

pub fn label_not_found(label: &str) -> QubesError {
    QubesError::Value {
        exc_type: "QubesLabelNotFoundError".into(),
        message: format!("Label does not exist: {label}"),
    }
}

pub fn no_such_property(holder: &str, prop: &str) -> QubesError {
    QubesError::NoSuchProperty(format!("Invalid property '{prop}' of {holder}"))
}

/// qubesd's `validate_name`: the reason a qube name is refused, if it is.
pub fn invalid_vm_name(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let first = chars.next();
    if name.len() > 31 {
        return Some("VM name must be shorter than 32 characters");
    }
    if first.is_some_and(|c| c.is_ascii_digit() || "_.-".contains(c)) {
        return Some("VM name cannot start with hyphen, underscore, dot or numbers");
    }
    if !(first.is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
    {
        return Some("VM name contains illegal characters");
    }
    match name {
        "Domain-0" => Some("VM name cannot be 'Domain-0'"),
        "none" | "default" => Some("VM name cannot be 'none' nor 'default'"),
        _ if name.ends_with("-dm") => Some("VM name cannot end with -dm"),
        _ => None,
    }
}

/// `[a-zA-Z0-9_.-]+`, what `admin.vm.feature.Set` accepts as a name.
pub fn is_feature_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `Tags.validate_tag`: `[a-zA-Z0-9_-]+`.
pub fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

impl System {
    pub fn vm(&self, name: &str) -> Result<&Vm, QubesError> {
        self.vms.get(name).ok_or_else(|| not_found(name))
    }

    pub fn vm_mut(&mut self, name: &str) -> Result<&mut Vm, QubesError> {
        self.vms.get_mut(name).ok_or_else(|| not_found(name))
    }

    pub fn label_exists(&self, label: &str) -> bool {
        self.labels.iter().any(|(l, _)| l == label)
    }

    pub fn label_color(&self, label: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, c)| c.as_str())
    }

    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Sets a feature as `Features.__setitem__` does (events included).
    pub fn set_feature(
        &mut self,
        name: &str,
        feature: &str,
        value: &str,
    ) -> Result<(), QubesError> {
        let old = self
            .vm_mut(name)?
            .features
            .insert(feature.to_owned(), value.to_owned());
        let mut kwargs = vec![("feature", feature), ("value", value)];
        if let Some(old) = old.as_deref() {
            kwargs.push(("oldvalue", old));
        }
        self.emit(Event::new(
            name,
            format!("domain-feature-set:{feature}"),
            &kwargs,
        ));
        Ok(())
    }

    pub fn remove_feature(&mut self, name: &str, feature: &str) -> Result<(), QubesError> {
        match self.vm_mut(name)?.features.remove(feature) {
            Some(_) => {
                self.emit(Event::new(
                    name,
                    format!("domain-feature-delete:{feature}"),
                    &[("feature", feature)],
                ));
                Ok(())
            }
            None => Err(QubesError::FeatureNotFound(format!(
                "Feature not set for domain {name}: {feature}"
            ))),
        }
    }

    pub fn add_tag(&mut self, name: &str, tag: &str) -> Result<(), QubesError> {
        if self.vm_mut(name)?.tags.insert(tag.to_owned()) {
            self.emit(Event::new(
                name,
                format!("domain-tag-add:{tag}"),
                &[("tag", tag)],
            ));
        }
        Ok(())
    }

    pub fn remove_tag(&mut self, name: &str, tag: &str) -> Result<(), QubesError> {
        if self.vm_mut(name)?.tags.remove(tag) {
            self.emit(Event::new(
                name,
                format!("domain-tag-delete:{tag}"),
                &[("tag", tag)],
            ));
            Ok(())
        } else {
            Err(QubesError::TagNotFound(format!(
                "Tag not set for domain {name}: {tag}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_maps_keep_insertion_order_through_json() {
        let mut m = Ordered::default();
        m.insert("zeta".to_owned(), "1".to_owned());
        m.insert("alpha".to_owned(), "2".to_owned());
        m.insert("zeta".to_owned(), "3".to_owned());
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(json, r#"{"zeta":"3","alpha":"2"}"#);
        let back: Ordered<String> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, m);
    }

    #[test]
    fn names_are_checked_as_qubesd_checks_them() {
        assert_eq!(invalid_vm_name("sd-app"), None);
        assert!(invalid_vm_name("1abc").is_some());
        assert!(invalid_vm_name("a b").is_some());
        assert!(invalid_vm_name("x-dm").is_some());
        assert!(invalid_vm_name(&"a".repeat(32)).is_some());
        assert!(is_feature_name("vm-config.SD_X"));
        assert!(!is_feature_name("bad/name"));
        assert!(is_tag("sd-workstation"));
        assert!(!is_tag("bad.tag"));
    }

    #[test]
    fn events_are_framed_as_qubesd_sends_them() {
        let e = Event::new("sys-usb", "domain-shutdown", &[("xid", "7")]);
        assert_eq!(e.encode(), b"1\0sys-usb\0domain-shutdown\0xid\x007\0\0");
        assert_eq!(
            Event::new("", "connection-established", &[]).encode(),
            b"1\0\0connection-established\0\0"
        );
    }
}
