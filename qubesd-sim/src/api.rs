//! The Admin API methods of the simulator: one request in, one response frame out.
//!
//! Owns argument and payload checking per method (what qubesd treats as a
//! protocol error and aborts, versus a Qubes exception it reports) and the
//! response payload formats. The data rules are in [`crate::model`].

use tracing::warn;

use crate::model::{PropType, System, VmClass};
use sdw_provision::wire::{encode_success, QubesError, Request};

/// What the server does with the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Write this frame (success or exception).
    Reply(Vec<u8>),
    /// Close without a byte, as qubesd does on protocol errors and denials.
    Abort(String),
}

enum Fail {
    Protocol(String),
    Qubes(QubesError),
}

impl From<QubesError> for Fail {
    fn from(e: QubesError) -> Self {
        Fail::Qubes(e)
    }
}

fn protocol(msg: impl Into<String>) -> Fail {
    Fail::Protocol(msg.into())
}

fn enforce(cond: bool, msg: &str) -> Result<(), Fail> {
    if cond {
        Ok(())
    } else {
        Err(protocol(msg))
    }
}

/// Methods that change the system; the server persists the state after them.
pub fn is_mutating(method: &str) -> bool {
    [
        ".Set",
        ".Reset",
        ".Remove",
        ".Create",
        ".CreateInPool",
        ".Start",
        ".Shutdown",
        ".Kill",
        ".Resize",
        ".CloneFrom",
        ".CloneTo",
    ]
    .iter()
    .any(|m| method.contains(m))
        || method.starts_with("admin.vm.Create")
}

pub fn handle(sys: &mut System, req: &Request) -> Outcome {
    let resolved = resolve_uuids(sys, req);
    match resolved.and_then(|req| dispatch(sys, &req)) {
        Ok(payload) => Outcome::Reply(encode_success(payload.as_bytes())),
        Err(Fail::Qubes(e)) => Outcome::Reply(e.encode()),
        Err(Fail::Protocol(reason)) => {
            warn!(method = %req.method, dest = %req.dest, %reason, "protocol error, aborting");
            Outcome::Abort(reason)
        }
    }
}

/// `uuid:<uuid>` as source or destination names the qube with that uuid.
fn resolve_uuids(sys: &System, req: &Request) -> Result<Request, Fail> {
    let resolve = |name: &str| -> Result<String, Fail> {
        match name.strip_prefix("uuid:") {
            None => Ok(name.to_owned()),
            Some(uuid) => sys
                .vms
                .iter()
                .find(|(_, vm)| vm.uuid == uuid)
                .map(|(n, _)| n.clone())
                .ok_or_else(|| Fail::Qubes(crate::model::not_found(name))),
        }
    };
    Ok(Request {
        src: resolve(&req.src)?,
        dest: resolve(&req.dest)?,
        ..req.clone()
    })
}

fn payload_str(req: &Request) -> Result<&str, Fail> {
    std::str::from_utf8(&req.payload)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| protocol("payload is not ASCII"))
}

fn no_payload(req: &Request) -> Result<(), Fail> {
    enforce(req.payload.is_empty(), "unexpected payload")
}

fn no_arg(req: &Request) -> Result<(), Fail> {
    enforce(req.arg.is_empty(), "unexpected argument")
}

fn to_global(req: &Request) -> Result<(), Fail> {
    enforce(req.dest == "dom0", "global call must target dom0")
}

fn is_feature_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

fn prop_line(is_default: bool, ty: PropType, value: Option<&str>) -> String {
    let default = if is_default { "True" } else { "False" };
    format!(
        "default={default} type={} {}",
        ty.as_str(),
        value.unwrap_or("")
    )
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

fn dispatch(sys: &mut System, req: &Request) -> Result<String, Fail> {
    if !sys.vms.contains_key(&req.src) {
        return Err(protocol("unknown source"));
    }
    let method = req.method.as_str();
    if let Some(class) = method.strip_prefix("admin.vm.Create.") {
        return create(sys, req, class);
    }
    match method {
        "admin.vmclass.List" => {
            to_global(req)?;
            no_arg(req)?;
            Ok("AdminVM\nAppVM\nDispVM\nStandaloneVM\nTemplateVM\n".into())
        }
        "admin.label.List" => {
            to_global(req)?;
            no_arg(req)?;
            Ok(sys.labels.iter().map(|(l, _)| format!("{l}\n")).collect())
        }
        "admin.label.Get" => {
            to_global(req)?;
            sys.labels
                .iter()
                .find(|(l, _)| *l == req.arg)
                .map(|(_, c)| c.clone())
                .ok_or_else(|| {
                    Fail::Qubes(QubesError::Value {
                        exc_type: "QubesLabelNotFoundError".into(),
                        message: format!("Label does not exist: {}", req.arg),
                    })
                })
        }
        "admin.vm.List" => {
            no_arg(req)?;
            no_payload(req)?;
            let line = |name: &str| {
                sys.vms.get(name).map(|vm| {
                    let state = if vm.running { "Running" } else { "Halted" };
                    format!(
                        "{name} class={} state={state} uuid={}\n",
                        vm.class.as_str(),
                        vm.uuid
                    )
                })
            };
            if req.dest == "dom0" {
                Ok(sys.vms.keys().filter_map(|n| line(n)).collect())
            } else {
                sys.vm(&req.dest)?;
                Ok(line(&req.dest).unwrap_or_default())
            }
        }
        "admin.vm.CurrentState" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            let state = if vm.running { "Running" } else { "Halted" };
            let mem = if vm.running { 400 * 1024 } else { 0 };
            Ok(format!(
                "mem={mem} mem_static_max={} cputime=0 power_state={state}",
                4000 * 1024
            ))
        }
        "admin.property.List" => {
            to_global(req)?;
            Ok(System::global_names()
                .iter()
                .map(|p| format!("{p}\n"))
                .collect())
        }
        "admin.property.Get" | "admin.property.GetDefault" => {
            to_global(req)?;
            let ty = System::global_def(&req.arg).ok_or_else(|| {
                QubesError::NoSuchProperty(format!("Invalid property '{}' of dom0", req.arg))
            })?;
            if method.ends_with("GetDefault") {
                return Ok(System::global_default(&req.arg)
                    .map(|v| format!("type={} {v}", ty.as_str()))
                    .unwrap_or_default());
            }
            let (is_default, value) = sys.global_prop(&req.arg).unwrap_or((true, String::new()));
            Ok(prop_line(is_default, ty, Some(&value)))
        }
        "admin.property.GetAll" => {
            to_global(req)?;
            Ok(System::global_names()
                .iter()
                .filter_map(|p| {
                    let ty = System::global_def(p)?;
                    let (d, v) = sys.global_prop(p)?;
                    Some(format!("{p} {}\n", prop_line(d, ty, Some(&escape(&v)))))
                })
                .collect())
        }
        "admin.property.Set" => {
            to_global(req)?;
            let value = payload_str(req)?.to_owned();
            sys.set_global(&req.arg, &value)?;
            Ok(String::new())
        }
        "admin.property.Reset" => {
            to_global(req)?;
            no_payload(req)?;
            System::global_def(&req.arg).ok_or_else(|| {
                QubesError::NoSuchProperty(format!("Invalid property '{}' of dom0", req.arg))
            })?;
            sys.global.remove(&req.arg);
            Ok(String::new())
        }
        "admin.vm.property.List" => {
            let vm = sys.vm(&req.dest)?;
            Ok(System::prop_names(vm.class)
                .iter()
                .map(|p| format!("{p}\n"))
                .collect())
        }
        "admin.vm.property.Get" => {
            no_payload(req)?;
            let vm = sys.vm(&req.dest)?;
            let def = System::prop_def(vm.class, &req.arg).ok_or_else(|| {
                QubesError::NoSuchProperty(format!(
                    "Invalid property '{}' of {}",
                    req.arg, req.dest
                ))
            })?;
            let (d, v) = sys.prop(&req.dest, &req.arg)?;
            Ok(prop_line(d, def.ty, v.as_deref()))
        }
        "admin.vm.property.GetAll" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            let mut out = String::new();
            for p in System::prop_names(vm.class) {
                let Some(def) = System::prop_def(vm.class, p) else {
                    continue;
                };
                let (d, v) = sys.prop(&req.dest, p)?;
                let v = v.map(|v| escape(&v));
                out.push_str(&format!("{p} {}\n", prop_line(d, def.ty, v.as_deref())));
            }
            Ok(out)
        }
        "admin.vm.property.GetDefault" => {
            let vm = sys.vm(&req.dest)?;
            let def = System::prop_def(vm.class, &req.arg).ok_or_else(|| {
                QubesError::NoSuchProperty(format!(
                    "Invalid property '{}' of {}",
                    req.arg, req.dest
                ))
            })?;
            Ok(sys
                .prop_default(&req.dest, vm, &req.arg)
                .map(|v| format!("type={} {v}", def.ty.as_str()))
                .unwrap_or_default())
        }
        "admin.vm.property.Set" => {
            let value = payload_str(req)?.to_owned();
            sys.set_prop(&req.dest, &req.arg, &value)?;
            Ok(String::new())
        }
        "admin.vm.property.Reset" => {
            no_payload(req)?;
            sys.reset_prop(&req.dest, &req.arg)?;
            Ok(String::new())
        }
        "admin.vm.feature.List" => {
            no_arg(req)?;
            Ok(sys
                .vm(&req.dest)?
                .features
                .keys()
                .map(|k| format!("{k}\n"))
                .collect())
        }
        "admin.vm.feature.Get" => {
            let vm = sys.vm(&req.dest)?;
            vm.features.get(&req.arg).cloned().ok_or_else(|| {
                Fail::Qubes(QubesError::FeatureNotFound(format!(
                    "Feature not set for domain {}: {}",
                    req.dest, req.arg
                )))
            })
        }
        "admin.vm.feature.CheckWithTemplate" => {
            let mut name = req.dest.clone();
            loop {
                let vm = sys.vm(&name)?;
                if let Some(v) = vm.features.get(&req.arg) {
                    return Ok(v.clone());
                }
                match vm.props.get("template") {
                    Some(t) => name = t.clone(),
                    None => {
                        return Err(Fail::Qubes(QubesError::FeatureNotFound(format!(
                            "Feature not set for domain {}: {}",
                            req.dest, req.arg
                        ))))
                    }
                }
            }
        }
        "admin.vm.feature.Set" => {
            enforce(is_feature_name(&req.arg), "invalid feature name")?;
            let value = payload_str(req)?;
            enforce(
                value.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "invalid feature value",
            )?;
            let value = value.to_owned();
            sys.vm_mut(&req.dest)?
                .features
                .insert(req.arg.clone(), value);
            Ok(String::new())
        }
        "admin.vm.feature.Remove" => {
            no_payload(req)?;
            let vm = sys.vm_mut(&req.dest)?;
            match vm.features.remove(&req.arg) {
                Some(_) => Ok(String::new()),
                None => Err(Fail::Qubes(QubesError::FeatureNotFound(format!(
                    "Feature not set for domain {}: {}",
                    req.dest, req.arg
                )))),
            }
        }
        "admin.vm.tag.List" => {
            no_arg(req)?;
            Ok(sys
                .vm(&req.dest)?
                .tags
                .iter()
                .map(|t| format!("{t}\n"))
                .collect())
        }
        "admin.vm.tag.Get" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            let has = sys.vm(&req.dest)?.tags.contains(&req.arg);
            Ok(if has { "1" } else { "0" }.into())
        }
        "admin.vm.tag.Set" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            no_payload(req)?;
            sys.vm_mut(&req.dest)?.tags.insert(req.arg.clone());
            Ok(String::new())
        }
        "admin.vm.tag.Remove" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            no_payload(req)?;
            if sys.vm_mut(&req.dest)?.tags.remove(&req.arg) {
                Ok(String::new())
            } else {
                Err(Fail::Qubes(QubesError::TagNotFound(format!(
                    "Tag not set for domain {}: {}",
                    req.dest, req.arg
                ))))
            }
        }
        "admin.vm.volume.List" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            Ok(["root", "private", "volatile", "kernel"]
                .iter()
                .filter(|v| vm.volumes.contains_key(**v))
                .map(|v| format!("{v}\n"))
                .collect())
        }
        "admin.vm.volume.Info" => {
            let vm = sys.vm(&req.dest)?;
            let vol = vm
                .volumes
                .get(&req.arg)
                .ok_or_else(|| protocol("no such volume"))?;
            let py = |b: bool| if b { "True" } else { "False" };
            Ok(format!(
                "pool=vm-pool\nvid=qubes_dom0/vm-{}-{}\nsize={}\nusage={}\nrw={}\nsource=\npath=/dev/qubes_dom0/vm-{}-{}\nsave_on_stop={}\nsnap_on_start={}\nrevisions_to_keep=2\nephemeral=False\n",
                req.dest, req.arg, vol.size, vol.size / 10, py(vol.rw), req.dest, req.arg,
                py(vol.save_on_stop), py(vol.snap_on_start)
            ))
        }
        "admin.vm.volume.Resize" => {
            let size: u64 = payload_str(req)?
                .parse()
                .map_err(|_| protocol("size is not a decimal number"))?;
            let dest = req.dest.clone();
            let vm = sys.vm_mut(&dest)?;
            let vol = vm
                .volumes
                .get_mut(&req.arg)
                .ok_or_else(|| protocol("no such volume"))?;
            if size < vol.size {
                return Err(Fail::Qubes(QubesError::Storage(format!(
                    "For your own safety, shrinking of {} is disabled ({size} < {}). If you really know what you are doing, use `lvresize` on qubes_dom0/vm-{dest}-{} manually.",
                    req.arg, vol.size, req.arg
                ))));
            }
            vol.size = size;
            Ok(String::new())
        }
        "admin.vm.volume.CloneFrom" => {
            no_payload(req)?;
            let vm = sys.vm(&req.dest)?;
            enforce(vm.volumes.contains_key(&req.arg), "no such volume")?;
            sys.token_counter = sys.token_counter.saturating_add(1);
            let token = format!(
                "{:032x}",
                sys.token_counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            sys.clone_tokens
                .insert(token.clone(), (req.dest.clone(), req.arg.clone()));
            Ok(token)
        }
        "admin.vm.volume.CloneTo" => {
            let token = payload_str(req)?.to_owned();
            let (src, vol) = sys
                .clone_tokens
                .remove(&token)
                .ok_or_else(|| protocol("invalid clone token"))?;
            let size = sys
                .vm(&src)?
                .volumes
                .get(&vol)
                .map(|v| v.size)
                .unwrap_or_default();
            let dest = sys.vm_mut(&req.dest)?;
            if dest.running {
                return Err(Fail::Qubes(QubesError::VmNotHalted(format!(
                    "Domain is not powered off: '{}'",
                    req.dest
                ))));
            }
            let target = dest
                .volumes
                .get_mut(&req.arg)
                .ok_or_else(|| protocol("no such volume"))?;
            target.size = size;
            Ok(String::new())
        }
        "admin.vm.Start" => {
            no_arg(req)?;
            sys.start(&req.dest)?;
            Ok(String::new())
        }
        "admin.vm.Shutdown" => {
            no_payload(req)?;
            let force = match req.arg.as_str() {
                "" | "wait" => false,
                "force" | "force+wait" => true,
                _ => return Err(protocol("invalid shutdown argument")),
            };
            sys.shutdown(&req.dest, force)?;
            Ok(String::new())
        }
        "admin.vm.Kill" => {
            no_arg(req)?;
            sys.shutdown(&req.dest, true)?;
            Ok(String::new())
        }
        "admin.vm.Remove" => {
            no_arg(req)?;
            no_payload(req)?;
            sys.remove(&req.dest)?;
            Ok(String::new())
        }
        _ => Err(protocol(format!("no such method: {method}"))),
    }
}

fn create(sys: &mut System, req: &Request, class: &str) -> Result<String, Fail> {
    to_global(req)?;
    let class = VmClass::parse(class).ok_or_else(|| protocol("unknown class"))?;
    let template = match (class, req.arg.as_str()) {
        (VmClass::TemplateVM | VmClass::StandaloneVM, "") => None,
        (VmClass::TemplateVM | VmClass::StandaloneVM, _) => {
            return Err(protocol("this class does not take a template"))
        }
        (_, "") => None,
        (_, t) => Some(t.to_owned()),
    };
    let mut name = None;
    let mut label = None;
    for pair in payload_str(req)?.split(' ').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| protocol("malformed payload"))?;
        match k {
            "name" if name.is_none() => name = Some(v.to_owned()),
            "label" if label.is_none() => label = Some(v.to_owned()),
            _ => return Err(protocol("unexpected or repeated key")),
        }
    }
    let name = name.ok_or_else(|| protocol("name is mandatory"))?;
    let label = label.ok_or_else(|| protocol("label is mandatory"))?;
    sys.create(&name, class, template.as_deref(), &label, &req.src)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends raw request bytes through framing and dispatch, as the server does.
    fn call(sys: &mut System, raw: &[u8]) -> Vec<u8> {
        match Request::decode(raw) {
            Ok(req) => match handle(sys, &req) {
                Outcome::Reply(frame) => frame,
                Outcome::Abort(_) => Vec::new(),
            },
            Err(_) => Vec::new(),
        }
    }

    #[test]
    fn answers_the_spec_examples_byte_for_byte() {
        let mut sys = System::stock();
        assert_eq!(
            call(&mut sys, b"admin.label.List+ dom0 name dom0\x00"),
            b"0\x00red\norange\nyellow\ngreen\ngray\nblue\npurple\nblack\n"
        );
        assert_eq!(
            call(
                &mut sys,
                b"admin.property.Get+default_template dom0 name dom0\x00"
            ),
            b"0\x00default=False type=vm fedora-43-xfce"
        );
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.property.Get+netvm dom0 name sd-nope\x00"
            ),
            b"2\x00QubesVMNotFoundError\x00\x00No such domain: 'sd-nope'\x00"
        );
        let list = call(&mut sys, b"admin.vm.List+ dom0 name dom0\x00");
        assert!(list.starts_with(b"0\x00debian-13-minimal class=TemplateVM state=Halted uuid="));
        assert!(String::from_utf8_lossy(&list).contains(
            "\ndom0 class=AdminVM state=Running uuid=00000000-0000-0000-0000-000000000000\n"
        ));
    }

    #[test]
    fn walks_through_the_spec_provisioning_examples() {
        let mut sys = System::stock();
        let ok: &[u8] = b"0\x00";
        for raw in [
            &b"admin.vm.Create.TemplateVM+ dom0 name dom0\x00name=sd-base-debian-13 label=red"[..],
            b"admin.vm.Create.TemplateVM+ dom0 name dom0\x00name=sd-inbox-debian-13 label=red",
            b"admin.vm.Create.AppVM+sd-inbox-debian-13 dom0 name dom0\x00name=sd-app label=yellow",
            b"admin.vm.property.Set+netvm dom0 name sd-app\x00",
            b"admin.vm.property.Set+virt_mode dom0 name sd-inbox-debian-13\x00pvh",
            b"admin.vm.property.Set+kernel dom0 name sd-inbox-debian-13\x00pvgrub2-pvh",
            b"admin.vm.Create.AppVM+sd-inbox-debian-13 dom0 name dom0\x00name=sd-viewer label=green",
            b"admin.vm.property.Set+template_for_dispvms dom0 name sd-viewer\x00True",
            b"admin.vm.property.Set+default_dispvm dom0 name sd-app\x00sd-viewer",
            b"admin.property.Set+default_dispvm dom0 name dom0\x00sd-viewer",
            b"admin.vm.Create.AppVM+sd-inbox-debian-13 dom0 name dom0\x00name=sd-devices-dvm label=red",
            b"admin.vm.property.Set+template_for_dispvms dom0 name sd-devices-dvm\x00True",
            b"admin.vm.Create.DispVM+sd-devices-dvm dom0 name dom0\x00name=sd-devices label=red",
            b"admin.vm.feature.Set+service.securedrop-mime-handling dom0 name sd-devices\x001",
            b"admin.vm.feature.Set+vm-config.SD_MIME_HANDLING dom0 name sd-devices\x00sd-devices",
            b"admin.vm.feature.Set+internal dom0 name sd-app\x00",
            b"admin.vm.tag.Set+sd-export-target dom0 name sd-devices\x00",
            b"admin.vm.Create.AppVM+sd-inbox-debian-13 dom0 name dom0\x00name=sd-gpg label=purple",
            b"admin.vm.property.Set+devices_denied dom0 name sd-gpg\x00*******",
            b"admin.vm.feature.Set+custom-persist.gnupg_dir dom0 name sd-gpg\x00dir:user:user:0700:/home/user/.gnupg",
            b"admin.vm.volume.Resize+private dom0 name sd-app\x0010737418240",
            b"admin.vm.Start+ dom0 name sys-usb\x00",
        ] {
            assert_eq!(call(&mut sys, raw), ok, "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.property.Get+netvm dom0 name sd-app\x00"
            ),
            b"0\x00default=False type=vm "
        );
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.property.Get+template dom0 name sd-app\x00"
            ),
            b"0\x00default=False type=vm sd-inbox-debian-13"
        );
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.property.Get+label dom0 name sd-app\x00"
            ),
            b"0\x00default=False type=label yellow"
        );
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.tag.Get+created-by-dom0 dom0 name sd-app\x00"
            ),
            b"0\x001"
        );
        assert_eq!(
            call(&mut sys, b"admin.vm.feature.Remove+service.cups dom0 name sd-devices\x00"),
            b"2\x00QubesFeatureNotFoundError\x00\x00Feature not set for domain sd-devices: service.cups\x00"
        );
        let info = call(
            &mut sys,
            b"admin.vm.volume.Info+private dom0 name sd-app\x00",
        );
        assert!(info.starts_with(
            b"0\x00pool=vm-pool\nvid=qubes_dom0/vm-sd-app-private\nsize=10737418240\n"
        ));
        // shrinking is refused
        let shrink = call(
            &mut sys,
            b"admin.vm.volume.Resize+private dom0 name sd-app\x001073741824",
        );
        assert!(shrink.starts_with(b"2\x00StoragePoolException\x00\x00For your own safety"));
        assert_eq!(
            call(
                &mut sys,
                b"admin.vm.Shutdown+force+wait dom0 name sys-usb\x00"
            ),
            ok
        );
        assert_eq!(call(&mut sys, b"admin.vm.Remove+ dom0 name sd-app\x00"), ok);
    }

    #[test]
    fn aborts_where_qubesd_aborts() {
        let mut sys = System::stock();
        for raw in [
            &b"admin.vm.Create.TemplateVM+fedora-43-xfce dom0 name dom0\x00name=x label=red"[..],
            b"admin.vm.Create.AppVM+ dom0 name dom0\x00name=x",
            b"admin.vm.Create.AppVM+ dom0 name dom0\x00name=x label=red pool=p",
            b"admin.vm.feature.Set+bad/name dom0 name work\x001",
            b"admin.vm.tag.Set+bad.tag dom0 name work\x00",
            b"admin.vm.NoSuchMethod+ dom0 name work\x00",
            b"admin.vm.List+ nobody name dom0\x00",
            b"admin.vm.List+ dom0 name dom0",
        ] {
            assert_eq!(call(&mut sys, raw), b"", "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn reports_qubes_exceptions() {
        let mut sys = System::stock();
        let r = call(
            &mut sys,
            b"admin.vm.Create.DispVM+work dom0 name dom0\x00name=d label=red",
        );
        assert!(r.starts_with(b"2\x00QubesValueError\x00\x00template for disposable (work) needs"));
        let r = call(
            &mut sys,
            b"admin.vm.Create.AppVM+ dom0 name dom0\x00name=work label=red",
        );
        assert!(r.starts_with(b"2\x00QubesVMAlreadyExistsError\x00"));
        let r = call(
            &mut sys,
            b"admin.vm.property.Set+template dom0 name sys-net\x00debian-13-minimal",
        );
        assert!(r.starts_with(b"2\x00QubesVMNotHaltedError\x00"));
        let r = call(&mut sys, b"admin.vm.property.Get+foo dom0 name work\x00");
        assert_eq!(
            r,
            b"2\x00QubesNoSuchPropertyError\x00\x00Invalid property 'foo' of work\x00"
        );
        let r = call(&mut sys, b"admin.vm.tag.Remove+nope dom0 name work\x00");
        assert_eq!(
            r,
            b"2\x00QubesTagNotFoundError\x00\x00Tag not set for domain work: nope\x00"
        );
    }

    #[test]
    fn get_all_escapes_and_lists_every_property() {
        let mut sys = System::stock();
        let r = call(&mut sys, b"admin.vm.property.GetAll+ dom0 name sys-usb\x00");
        let text = String::from_utf8_lossy(&r);
        assert!(text.contains("\nnetvm default=False type=vm \n"));
        assert!(text.contains("\ntemplate default=False type=vm default-dvm\n"));
        assert!(text.starts_with("0\0auto_cleanup default=True type=bool False\n"));
    }

    #[test]
    fn accepts_uuids_for_source_and_destination() {
        let mut sys = System::stock();
        assert_eq!(
            call(&mut sys, b"admin.vm.property.Get+label uuid:00000000-0000-0000-0000-000000000000 name uuid:00000000-0000-0000-0000-000000000000\x00"),
            b"0\x00default=False type=label black"
        );
        let r = call(
            &mut sys,
            b"admin.vm.property.Get+label dom0 name uuid:11111111-0000-0000-0000-000000000000\x00",
        );
        assert!(r.starts_with(b"2\x00QubesVMNotFoundError\x00"));
    }

    #[test]
    fn mutating_methods_are_recognised() {
        assert!(is_mutating("admin.vm.Create.AppVM"));
        assert!(is_mutating("admin.vm.feature.Set"));
        assert!(!is_mutating("admin.vm.property.GetAll"));
        assert!(!is_mutating("admin.vm.List"));
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::model::PropType;
    use proptest::prelude::*;

    const NAMES: &[&str] = &[
        "work",
        "vault",
        "sys-usb",
        "default-dvm",
        "fedora-43-xfce",
        "x",
        "y",
        "dom0",
        "sys-net",
    ];
    const METHODS: &[&str] = &[
        "admin.vm.Create.AppVM",
        "admin.vm.Create.DispVM",
        "admin.vm.Create.TemplateVM",
        "admin.vm.Remove",
        "admin.vm.property.Set",
        "admin.vm.property.Reset",
        "admin.vm.Start",
        "admin.vm.Shutdown",
        "admin.vm.feature.Set",
        "admin.vm.tag.Set",
        "admin.property.Set",
        "admin.vm.volume.Resize",
    ];
    const PROPS: &[&str] = &[
        "template",
        "netvm",
        "default_dispvm",
        "template_for_dispvms",
        "provides_network",
        "label",
    ];

    fn request() -> impl Strategy<Value = Request> {
        (
            0..METHODS.len(),
            0..NAMES.len(),
            0..NAMES.len(),
            0..PROPS.len(),
            prop_oneof![
                Just(""),
                Just("True"),
                Just("False"),
                Just("force"),
                Just("red")
            ],
        )
            .prop_map(|(m, dest, other, prop, word)| {
                let method = METHODS[m];
                let (dest_name, other_name, prop) = (NAMES[dest], NAMES[other], PROPS[prop]);
                let (arg, dest, payload) = match method {
                    "admin.vm.Create.AppVM" | "admin.vm.Create.DispVM" => (
                        other_name.to_owned(),
                        "dom0".to_owned(),
                        format!("name={dest_name} label=red"),
                    ),
                    "admin.vm.Create.TemplateVM" => (
                        String::new(),
                        "dom0".into(),
                        format!("name={dest_name} label=red"),
                    ),
                    "admin.vm.property.Set" => {
                        let value = if ["template", "netvm", "default_dispvm"].contains(&prop) {
                            other_name
                        } else {
                            word
                        };
                        (prop.to_owned(), dest_name.to_owned(), value.to_owned())
                    }
                    "admin.vm.property.Reset" => {
                        (prop.to_owned(), dest_name.to_owned(), String::new())
                    }
                    "admin.property.Set" => (
                        "default_dispvm".into(),
                        "dom0".into(),
                        other_name.to_owned(),
                    ),
                    "admin.vm.Shutdown" => (word.to_owned(), dest_name.to_owned(), String::new()),
                    "admin.vm.feature.Set" | "admin.vm.tag.Set" => {
                        ("k".into(), dest_name.to_owned(), String::new())
                    }
                    "admin.vm.volume.Resize" => {
                        ("private".into(), dest_name.to_owned(), "4294967296".into())
                    }
                    _ => (String::new(), dest_name.to_owned(), String::new()),
                };
                Request::new(method, &arg, &dest, payload.as_bytes())
            })
    }

    proptest! {
        /// Whatever sequence of calls: no panic, and no qube or global property names a qube that does not exist.
        #[test]
        fn no_call_sequence_leaves_a_dangling_reference(calls in proptest::collection::vec(request(), 1..40)) {
            let mut sys = System::stock();
            for call in &calls {
                let _ = handle(&mut sys, call);
            }
            for (name, vm) in &sys.vms {
                for (prop, value) in &vm.props {
                    let is_vm = System::prop_def(vm.class, prop).is_some_and(|d| d.ty == PropType::Vm);
                    if is_vm && !value.is_empty() {
                        prop_assert!(sys.vms.contains_key(value), "{name}.{prop} = {value}");
                    }
                }
                if vm.class == VmClass::DispVM {
                    let template = vm.props.get("template").cloned().unwrap_or_default();
                    prop_assert!(sys.vms.get(&template).is_some_and(|t| t.class == VmClass::AppVM), "{name} on {template}");
                    prop_assert!(sys.bool_prop(&template, "template_for_dispvms"), "{name} on {template}");
                }
            }
            for value in sys.global.values() {
                prop_assert!(value.is_empty() || sys.vms.contains_key(value));
            }
        }
    }
}
