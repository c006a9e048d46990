//! A Qubes Admin API client: transports and typed calls.
//!
//! Owns the two transports of qubesadmin ([`LocalSocket`] to qubesd's socket in
//! dom0, [`Qrexec`] with `qrexec-client-vm` from a management qube) and the
//! calls provisioning needs, with their payload formats. Framing is in
//! [`crate::wire`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;
use tracing::debug;

use crate::wire::{decode_response, QubesError, Request};

pub const QUBESD_SOCKET: &str = "/var/run/qubesd.sock";
pub const QREXEC_CLIENT_VM: &str = "/usr/bin/qrexec-client-vm";

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("cannot connect to qubesd at {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to qubesd: {0}")]
    Io(std::io::Error),
    #[error("cannot run qrexec-client-vm: {0}")]
    Qrexec(std::io::Error),
    #[error("{call}: {source}")]
    Qubes { call: String, source: QubesError },
    #[error("{call}: unexpected reply {reply:?}")]
    Unexpected { call: String, reply: String },
}

impl AdminError {
    /// The Qubes exception behind this error, if qubesd sent one.
    pub fn qubes(&self) -> Option<&QubesError> {
        match self {
            AdminError::Qubes { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Carries one request and returns the raw response bytes.
pub trait Transport {
    fn exchange(&self, request: &Request) -> Result<Vec<u8>, AdminError>;
}

/// dom0: qubesd's unix socket (`QubesLocal`).
#[derive(Debug, Clone)]
pub struct LocalSocket {
    pub path: PathBuf,
}

impl Transport for LocalSocket {
    fn exchange(&self, request: &Request) -> Result<Vec<u8>, AdminError> {
        let mut stream = UnixStream::connect(&self.path).map_err(|source| AdminError::Connect {
            path: self.path.clone(),
            source,
        })?;
        let sent = stream
            .write_all(&request.encode())
            .and_then(|()| stream.shutdown(Shutdown::Write));
        let mut response = Vec::new();
        match sent.and_then(|()| stream.read_to_end(&mut response)) {
            Ok(_) => Ok(response),
            // qubesd aborts the connection (too long, denied): the same as an empty response.
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                Ok(Vec::new())
            }
            Err(e) => Err(AdminError::Io(e)),
        }
    }
}

/// A management qube: `qrexec-client-vm <dest> <method>+<arg>` (`QubesRemote`).
#[derive(Debug, Clone)]
pub struct Qrexec {
    pub program: PathBuf,
}

impl Default for Qrexec {
    fn default() -> Self {
        Qrexec {
            program: PathBuf::from(QREXEC_CLIENT_VM),
        }
    }
}

impl Transport for Qrexec {
    fn exchange(&self, request: &Request) -> Result<Vec<u8>, AdminError> {
        let mut child = Command::new(&self.program)
            .arg(&request.dest)
            .arg(format!("{}+{}", request.method, request.arg))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(AdminError::Qrexec)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&request.payload).map_err(AdminError::Io)?;
        }
        let output = child.wait_with_output().map_err(AdminError::Qrexec)?;
        if !output.status.success() {
            // qubesadmin raises QubesDaemonAccessError for a failed qrexec call.
            return Ok(Vec::new());
        }
        Ok(output.stdout)
    }
}

/// A property as `admin.vm.property.Get` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PropValue {
    pub is_default: bool,
    pub ty: String,
    pub value: String,
}

impl PropValue {
    /// Parses `default=<True|False> type=<T> <value>`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ' ');
        let is_default = match parts.next()? {
            "default=True" => true,
            "default=False" => false,
            _ => return None,
        };
        let ty = parts.next()?.strip_prefix("type=")?.to_owned();
        let value = parts.next().unwrap_or("").to_owned();
        Some(PropValue {
            is_default,
            ty,
            value,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmEntry {
    pub name: String,
    pub class: String,
    pub running: bool,
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Typed Admin API calls over one transport.
pub struct Admin {
    transport: Box<dyn Transport>,
}

impl Admin {
    pub fn new(transport: Box<dyn Transport>) -> Self {
        Admin { transport }
    }

    pub fn local(path: &Path) -> Self {
        Admin::new(Box::new(LocalSocket {
            path: path.to_owned(),
        }))
    }

    /// One call; the success payload as text.
    pub fn call(
        &self,
        method: &str,
        arg: &str,
        dest: &str,
        payload: &[u8],
    ) -> Result<String, AdminError> {
        let request = Request::new(method, arg, dest, payload);
        debug!(method, arg, dest, "admin call");
        let response = self.transport.exchange(&request)?;
        let describe = || {
            if arg.is_empty() {
                format!("{method} on {dest}")
            } else {
                format!("{method}+{arg} on {dest}")
            }
        };
        let payload = decode_response(&response).map_err(|source| AdminError::Qubes {
            call: describe(),
            source,
        })?;
        String::from_utf8(payload).map_err(|e| AdminError::Unexpected {
            call: describe(),
            reply: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    pub fn list_vms(&self) -> Result<Vec<VmEntry>, AdminError> {
        let text = self.call("admin.vm.List", "", "dom0", b"")?;
        text.lines()
            .map(|line| {
                let mut fields = line.split(' ');
                let name = fields.next().unwrap_or_default().to_owned();
                let mut class = None;
                let mut state = None;
                for f in fields {
                    if let Some(c) = f.strip_prefix("class=") {
                        class = Some(c.to_owned());
                    } else if let Some(s) = f.strip_prefix("state=") {
                        state = Some(s.to_owned());
                    }
                }
                match (name.is_empty(), class, state) {
                    (false, Some(class), Some(state)) => Ok(VmEntry {
                        name,
                        class,
                        running: state != "Halted",
                    }),
                    _ => Err(AdminError::Unexpected {
                        call: "admin.vm.List".into(),
                        reply: line.to_owned(),
                    }),
                }
            })
            .collect()
    }

    pub fn labels(&self) -> Result<Vec<String>, AdminError> {
        Ok(self
            .call("admin.label.List", "", "dom0", b"")?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    fn parse_prop(call: &str, text: &str) -> Result<PropValue, AdminError> {
        PropValue::parse(text).ok_or_else(|| AdminError::Unexpected {
            call: call.to_owned(),
            reply: text.to_owned(),
        })
    }

    pub fn global_prop(&self, prop: &str) -> Result<PropValue, AdminError> {
        Self::parse_prop(
            "admin.property.Get",
            &self.call("admin.property.Get", prop, "dom0", b"")?,
        )
    }

    pub fn set_global_prop(&self, prop: &str, value: &str) -> Result<(), AdminError> {
        self.call("admin.property.Set", prop, "dom0", value.as_bytes())
            .map(drop)
    }

    pub fn prop(&self, vm: &str, prop: &str) -> Result<PropValue, AdminError> {
        Self::parse_prop(
            "admin.vm.property.Get",
            &self.call("admin.vm.property.Get", prop, vm, b"")?,
        )
    }

    /// Every property of a qube (`admin.vm.property.GetAll`), unescaped.
    pub fn props(&self, vm: &str) -> Result<BTreeMap<String, PropValue>, AdminError> {
        let text = self.call("admin.vm.property.GetAll", "", vm, b"")?;
        text.lines()
            .map(|line| {
                let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
                let mut value = Self::parse_prop("admin.vm.property.GetAll", rest)?;
                value.value = unescape(&value.value);
                Ok((name.to_owned(), value))
            })
            .collect()
    }

    pub fn set_prop(&self, vm: &str, prop: &str, value: &str) -> Result<(), AdminError> {
        self.call("admin.vm.property.Set", prop, vm, value.as_bytes())
            .map(drop)
    }

    pub fn reset_prop(&self, vm: &str, prop: &str) -> Result<(), AdminError> {
        self.call("admin.vm.property.Reset", prop, vm, b"")
            .map(drop)
    }

    pub fn features(&self, vm: &str) -> Result<BTreeMap<String, String>, AdminError> {
        let names = self.call("admin.vm.feature.List", "", vm, b"")?;
        names
            .lines()
            .map(|name| {
                Ok((
                    name.to_owned(),
                    self.call("admin.vm.feature.Get", name, vm, b"")?,
                ))
            })
            .collect()
    }

    pub fn feature(&self, vm: &str, name: &str) -> Result<Option<String>, AdminError> {
        match self.call("admin.vm.feature.Get", name, vm, b"") {
            Ok(v) => Ok(Some(v)),
            Err(e) if matches!(e.qubes(), Some(QubesError::FeatureNotFound(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn set_feature(&self, vm: &str, name: &str, value: &str) -> Result<(), AdminError> {
        self.call("admin.vm.feature.Set", name, vm, value.as_bytes())
            .map(drop)
    }

    /// Removes a feature; an absent feature is already removed.
    pub fn remove_feature(&self, vm: &str, name: &str) -> Result<(), AdminError> {
        match self.call("admin.vm.feature.Remove", name, vm, b"") {
            Err(e) if matches!(e.qubes(), Some(QubesError::FeatureNotFound(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    pub fn tags(&self, vm: &str) -> Result<BTreeSet<String>, AdminError> {
        Ok(self
            .call("admin.vm.tag.List", "", vm, b"")?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    pub fn set_tag(&self, vm: &str, tag: &str) -> Result<(), AdminError> {
        self.call("admin.vm.tag.Set", tag, vm, b"").map(drop)
    }

    /// Removes a tag; an absent tag is already removed.
    pub fn remove_tag(&self, vm: &str, tag: &str) -> Result<(), AdminError> {
        match self.call("admin.vm.tag.Remove", tag, vm, b"") {
            Err(e) if matches!(e.qubes(), Some(QubesError::TagNotFound(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    /// `size=` of `admin.vm.volume.Info`.
    pub fn volume_size(&self, vm: &str, volume: &str) -> Result<u64, AdminError> {
        let info = self.call("admin.vm.volume.Info", volume, vm, b"")?;
        info.lines()
            .find_map(|l| l.strip_prefix("size="))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| AdminError::Unexpected {
                call: "admin.vm.volume.Info".into(),
                reply: info.clone(),
            })
    }

    pub fn resize(&self, vm: &str, volume: &str, bytes: u64) -> Result<(), AdminError> {
        self.call(
            "admin.vm.volume.Resize",
            volume,
            vm,
            bytes.to_string().as_bytes(),
        )
        .map(drop)
    }

    pub fn create(
        &self,
        class: &str,
        template: Option<&str>,
        name: &str,
        label: &str,
    ) -> Result<(), AdminError> {
        let payload = format!("name={name} label={label}");
        self.call(
            &format!("admin.vm.Create.{class}"),
            template.unwrap_or(""),
            "dom0",
            payload.as_bytes(),
        )
        .map(drop)
    }

    /// `qvm-clone`, as qubesadmin's `clone_vm` does it; the new qube is removed if a step fails.
    pub fn clone_vm(&self, source: &str, name: &str, label: &str) -> Result<(), AdminError> {
        let entry = self
            .list_vms()?
            .into_iter()
            .find(|v| v.name == source)
            .ok_or_else(|| AdminError::Qubes {
                call: format!("clone {source}"),
                source: QubesError::VmNotFound(format!("No such domain: '{source}'")),
            })?;
        let props = self.props(source)?;
        let template = props
            .get("template")
            .map(|p| p.value.clone())
            .filter(|t| !t.is_empty());
        let src_label = props
            .get("label")
            .map(|p| p.value.clone())
            .unwrap_or_else(|| label.to_owned());
        self.create(&entry.class, template.as_deref(), name, &src_label)?;
        let copied = self.copy_into_clone(source, name, &props);
        if let Err(e) = copied {
            let _ = self.call("admin.vm.Remove", "", name, b"");
            return Err(e);
        }
        self.set_prop(name, "label", label)
    }

    fn copy_into_clone(
        &self,
        source: &str,
        name: &str,
        props: &BTreeMap<String, PropValue>,
    ) -> Result<(), AdminError> {
        // qubesadmin's skip list for clones
        const SKIP: &[&str] = &[
            "name",
            "qid",
            "template",
            "label",
            "uuid",
            "installed_by_rpm",
            "klass",
            // read-only runtime properties of qubesd
            "xid",
            "stubdom_xid",
            "start_time",
            "backup_timestamp",
            "dispid",
            "icon",
            "updateable",
            "is_preload",
        ];
        for (prop, value) in props {
            if !value.is_default && !SKIP.contains(&prop.as_str()) {
                self.set_prop(name, prop, &value.value)?;
            }
        }
        for tag in self.tags(source)? {
            if !tag.starts_with("created-by-") {
                self.set_tag(name, &tag)?;
            }
        }
        for (feature, value) in self.features(source)? {
            if !feature.starts_with("preload-dispvm") || feature == "preload-dispvm-max" {
                self.set_feature(name, &feature, &value)?;
            }
        }
        for volume in ["root", "private"] {
            let info = self.call("admin.vm.volume.Info", volume, source, b"")?;
            if info.lines().any(|l| l == "save_on_stop=True") {
                let token = self.call("admin.vm.volume.CloneFrom", volume, source, b"")?;
                self.call("admin.vm.volume.CloneTo", volume, name, token.as_bytes())?;
            }
        }
        Ok(())
    }

    pub fn start(&self, vm: &str) -> Result<(), AdminError> {
        self.call("admin.vm.Start", "", vm, b"").map(drop)
    }

    /// `Shutdown+force+wait`; a qube that is already halted is fine.
    pub fn shutdown(&self, vm: &str) -> Result<(), AdminError> {
        match self.call("admin.vm.Shutdown", "force+wait", vm, b"") {
            Err(e) if matches!(e.qubes(), Some(QubesError::VmNotStarted(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    pub fn kill(&self, vm: &str) -> Result<(), AdminError> {
        match self.call("admin.vm.Kill", "", vm, b"") {
            Err(e) if matches!(e.qubes(), Some(QubesError::VmNotStarted(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    pub fn remove(&self, vm: &str) -> Result<(), AdminError> {
        self.call("admin.vm.Remove", "", vm, b"").map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_property_replies() {
        assert_eq!(
            PropValue::parse("default=False type=vm "),
            Some(PropValue {
                is_default: false,
                ty: "vm".into(),
                value: String::new()
            })
        );
        assert_eq!(
            PropValue::parse("default=True type=str a b"),
            Some(PropValue {
                is_default: true,
                ty: "str".into(),
                value: "a b".into()
            })
        );
        assert_eq!(PropValue::parse("nonsense"), None);
    }

    /// A stand-in for qrexec-client-vm that records its arguments and input and answers `reply`.
    fn fake_qrexec(dir: &Path, reply: &str, exit: i32) -> Qrexec {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("qrexec-client-vm");
        let log = dir.join("log");
        let script = format!(
            "#!/bin/sh\necho \"$@\" > {0}\ncat >> {0}\nprintf '{reply}'\nexit {exit}\n",
            log.display()
        );
        assert!(std::fs::write(&program, script).is_ok());
        assert!(std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).is_ok());
        // A process forked by another test while the script was open for writing keeps
        // a writer until it execs: running it then fails with ETXTBSY. Wait that out.
        for _ in 0..100 {
            match std::process::Command::new(&program)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .status()
            {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
        Qrexec { program }
    }

    #[test]
    fn qrexec_transport_sends_method_and_payload_and_reads_the_same_framing() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let admin = Admin::new(Box::new(fake_qrexec(dir.path(), "0\\000", 0)));
        assert!(admin.resize("sd-app", "private", 10_737_418_240).is_ok());
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        assert_eq!(log, "sd-app admin.vm.volume.Resize+private\n10737418240");

        let admin = Admin::new(Box::new(fake_qrexec(
            dir.path(),
            "2\\000QubesVMNotFoundError\\000\\000No such domain: x\\000",
            0,
        )));
        let err = admin.start("x").err();
        assert_eq!(
            err.as_ref().and_then(AdminError::qubes),
            Some(&QubesError::VmNotFound("No such domain: x".into()))
        );
    }

    #[test]
    fn a_failed_qrexec_call_is_an_access_error() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let admin = Admin::new(Box::new(fake_qrexec(dir.path(), "", 126)));
        let err = admin.list_vms().err();
        assert_eq!(
            err.as_ref().and_then(AdminError::qubes),
            Some(&QubesError::Access)
        );
        assert!(err.is_some_and(|e| e
            .to_string()
            .ends_with("Got empty response from qubesd. See journalctl in dom0 for details.")));
    }

    #[test]
    fn unescapes_get_all_values() {
        assert_eq!(unescape("a\\nb\\\\c"), "a\nb\\c");
    }
}
