//! The Admin API methods of the simulator: one request in, one response out.
//!
//! Owns argument and payload checking per method (what qubesd treats as a
//! protocol error or a permission denial and aborts, versus a Qubes exception it
//! reports) and the response payload formats, in qubesd 4.3's order. The rules
//! on the data are in [`crate::props`] and [`crate::lifecycle`]; `admin.Events`
//! is answered here with [`Outcome::Subscribe`] and streamed by the server.

use tracing::warn;

use sdw_provision::wire::{encode_success, QubesError, Request};

use crate::lifecycle::PoolChoice;
use crate::model::{is_feature_name, is_tag, value_error, System, VmClass};
use crate::props::{self, PropType};

/// What the server does with the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Write this frame (success or exception).
    Reply(Vec<u8>),
    /// Close without a byte, as qubesd does on protocol errors and denials.
    Abort(String),
    /// `admin.Events`: stream the events of every qube (dest `dom0`) or of one.
    Subscribe { dest: String },
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

impl From<Option<QubesError>> for Fail {
    fn from(e: Option<QubesError>) -> Self {
        match e {
            Some(e) => Fail::Qubes(e),
            None => Fail::Protocol("write to a read-only property".into()),
        }
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
    sys.events.clear();
    let resolved = resolve_uuids(sys, req);
    match resolved.and_then(|req| dispatch(sys, &req)) {
        Ok(Answer::Payload(payload)) => Outcome::Reply(encode_success(payload.as_bytes())),
        Ok(Answer::Subscribe(dest)) => Outcome::Subscribe { dest },
        Err(Fail::Qubes(e)) => Outcome::Reply(e.encode()),
        Err(Fail::Protocol(reason)) => {
            warn!(method = %req.method, dest = %req.dest, %reason, "protocol error, aborting");
            sys.events.clear();
            Outcome::Abort(reason)
        }
    }
}

enum Answer {
    Payload(String),
    Subscribe(String),
}

impl From<String> for Answer {
    fn from(s: String) -> Self {
        Answer::Payload(s)
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

fn ascii(req: &Request) -> Result<&str, Fail> {
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

/// `validate_size`: ASCII digits (a leading `-` if allowed), no spurious leading zero, under 20 digits.
fn validate_size(text: &str, allow_negative: bool) -> Result<i64, Fail> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) if allow_negative => (-1, rest),
        _ => (1, text),
    };
    enforce(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "Size must be ASCII digits (only)",
    )?;
    enforce(digits.len() < 20, "Sizes limited to 19 decimal digits")?;
    enforce(
        !(digits.starts_with('0') && digits != "0"),
        "Spurious leading zeros not allowed",
    )?;
    digits
        .parse::<i64>()
        .map(|n| n * sign)
        .map_err(|_| protocol("size out of range"))
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

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A JSON string as Python's `json.dumps` writes it (non-ASCII escaped).
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty())
        .map_or_else(|| "null".to_owned(), json_str)
}

/// `internal.GetSystemInfo`: what qrexec's policy tools read about every qube.
fn system_info(sys: &System) -> String {
    let domains: Vec<String> = sys
        .vms
        .iter()
        .map(|(name, vm)| {
            let tags: Vec<String> = vm.tags.iter().map(|t| json_str(t)).collect();
            let value = |p: &str| sys.prop_value(name, p);
            let label = vm.props.get("label").cloned().unwrap_or_default();
            format!(
                "{}: {{\"internal\": {}, \"tags\": [{}], \"type\": {}, \"template_for_dispvms\": {}, \"default_dispvm\": {}, \"icon\": {}, \"label\": {}, \"guivm\": {}, \"relayvm\": null, \"transport_rpc\": null, \"power_state\": {}, \"uuid\": {}}}",
                json_str(name),
                vm.features.get("internal").map_or_else(|| "null".to_owned(), |v| json_str(v)),
                tags.join(", "),
                json_str(vm.class.as_str()),
                if sys.bool_prop(name, "template_for_dispvms") { "true" } else { "false" },
                json_opt(value("default_dispvm").as_deref()),
                json_str(&value("icon").unwrap_or_default()),
                json_str(sys.label_color(&label).unwrap_or_default()),
                json_opt(value("guivm").as_deref()),
                json_str(if vm.running { "Running" } else { "Halted" }),
                json_str(&vm.uuid),
            )
        })
        .collect();
    format!("{{\"domains\": {{{}}}}}", domains.join(", "))
}

fn volume_info(sys: &System, qube: &str, name: &str) -> Result<String, Fail> {
    let vm = sys.vm(qube)?;
    let vol = vm
        .volumes
        .get(name)
        .ok_or_else(|| protocol("no such volume"))?;
    let kernel = sys.prop_value(qube, "kernel").unwrap_or_default();
    let (vid, path) = match vol.pool.as_str() {
        "linux-kernel" => (
            kernel.clone(),
            format!("/var/lib/qubes/vm-kernels/{kernel}"),
        ),
        "varlibqubes" => (
            format!("appvms/{qube}/{name}"),
            format!("/var/lib/qubes/appvms/{qube}/{name}.img"),
        ),
        _ => (
            format!("qubes_dom0/vm-{qube}-{name}"),
            format!("/dev/qubes_dom0/vm-{qube}-{name}"),
        ),
    };
    let source = vol
        .source
        .as_deref()
        .and_then(|s| s.split_once(':'))
        .map(|(q, v)| format!("qubes_dom0/vm-{q}-{v}"))
        .unwrap_or_default();
    let usage = if vol.save_on_stop { vol.size / 10 } else { 0 };
    let mut out = format!(
        "pool={}\nvid={vid}\nsize={}\nusage={usage}\nrw={}\nsource={source}\npath={path}\nsave_on_stop={}\nsnap_on_start={}\nrevisions_to_keep={}\nephemeral={}\n",
        vol.pool,
        vol.size,
        py_bool(vol.rw),
        py_bool(vol.save_on_stop),
        py_bool(vol.snap_on_start),
        vol.revisions_to_keep,
        py_bool(vol.ephemeral),
    );
    if vol.pool != "linux-kernel" {
        out.push_str("is_outdated=False\n");
    }
    Ok(out)
}

/// `name=N label=L [pool=P | pool:VOLUME=P ...]` of `admin.vm.Create*`.
fn create(sys: &mut System, req: &Request, class: &str, allow_pool: bool) -> Result<Answer, Fail> {
    to_global(req)?;
    let class = VmClass::parse(class).ok_or_else(|| protocol("unknown class"))?;
    let mut name = None;
    let mut label = None;
    let mut pools = PoolChoice::default();
    for pair in ascii(req)?.split(' ') {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| protocol("malformed payload"))?;
        match k {
            "name" if name.is_none() => name = Some(v.to_owned()),
            "label" if label.is_none() => {
                enforce(!v.bytes().all(|b| b.is_ascii_digit()), "label index")?;
                enforce(
                    v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                    "label characters",
                )?;
                label = Some(v.to_owned());
            }
            "pool" if allow_pool && pools.all.is_none() => pools.all = Some(v.to_owned()),
            _ if allow_pool && k.starts_with("pool:") => {
                let volume = k.trim_start_matches("pool:");
                enforce(
                    ["root", "private", "volatile", "kernel"].contains(&volume),
                    "volume name",
                )?;
                enforce(
                    !pools.per_volume.iter().any(|(x, _)| x == volume),
                    "duplicated pool parameter",
                )?;
                pools.per_volume.push((volume.to_owned(), v.to_owned()));
            }
            _ => return Err(protocol("Invalid param name")),
        }
    }
    let name = name.ok_or_else(|| protocol("Missing name or label"))?;
    let label = label.ok_or_else(|| protocol("Missing name or label"))?;
    enforce(
        pools.all.is_none() || pools.per_volume.is_empty(),
        "Only one of 'pool=' and 'pool:volume=' can be used",
    )?;
    let template = (!req.arg.is_empty()).then_some(req.arg.as_str());
    sys.create(
        &name,
        class,
        template,
        &label,
        &req.src,
        allow_pool.then_some(&pools),
    )?;
    Ok(Answer::Payload(String::new()))
}

fn feature_not_found(qube: &str, feature: &str) -> Fail {
    Fail::Qubes(QubesError::FeatureNotFound(format!(
        "Feature not set for domain {qube}: {feature}"
    )))
}

/// `custom-persist.KEY` values as qubesd's custom_persist extension checks them.
fn custom_persist_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() {
        return Some("custom-persist key cannot be empty".into());
    }
    if key.len() > 63 - "/persist/".len() {
        return Some(format!(
            "custom-persist key is too long (max 54), ignoring: {key}"
        ));
    }
    let path = if value.starts_with('/') {
        value.to_owned()
    } else {
        let options: Vec<&str> = value.split(':').collect();
        let (Some(kind), Some(mode), Some(path)) =
            (options.first(), options.get(3), options.get(4))
        else {
            return Some(format!("invalid value format: '{value}'"));
        };
        if !path.starts_with('/') {
            return Some(format!("invalid value format: '{value}'"));
        }
        if !["file", "dir"].contains(kind) {
            return Some(format!(
                "invalid resource type option '{kind}' in value '{value}'"
            ));
        }
        if !u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o7777) {
            return Some(format!("invalid mode option '{mode}' in value '{value}'"));
        }
        options.get(4..).map(|p| p.join(":")).unwrap_or_default()
    };
    if path.starts_with('/') {
        None
    } else {
        Some(format!("invalid path '{path}'"))
    }
}

fn dispatch(sys: &mut System, req: &Request) -> Result<Answer, Fail> {
    if !sys.vms.contains_key(&req.src) {
        return Err(protocol("unknown source"));
    }
    let method = req.method.as_str();
    if let Some(class) = method.strip_prefix("admin.vm.CreateInPool.") {
        return create(sys, req, class, true);
    }
    if let Some(class) = method.strip_prefix("admin.vm.Create.") {
        return create(sys, req, class, false);
    }
    if !sys.vms.contains_key(&req.dest) {
        return Err(Fail::Qubes(crate::model::not_found(&req.dest)));
    }
    // every other method takes the payload it names; the rest take none
    let takes_payload = method.ends_with(".Set")
        || method.ends_with(".Resize")
        || method.ends_with(".CloneTo")
        || method.starts_with("admin.vm.volume.Set.");
    if !takes_payload {
        no_payload(req)?;
    }
    let text = match method {
        "admin.Events" => {
            no_arg(req)?;
            return Ok(Answer::Subscribe(req.dest.clone()));
        }
        "internal.GetSystemInfo" => {
            to_global(req)?;
            no_arg(req)?;
            system_info(sys)
        }
        "admin.vmclass.List" => {
            to_global(req)?;
            no_arg(req)?;
            "AdminVM\nAppVM\nDispVM\nStandaloneVM\nTemplateVM\n".into()
        }
        "admin.label.List" => {
            to_global(req)?;
            no_arg(req)?;
            sys.labels.iter().map(|(l, _)| format!("{l}\n")).collect()
        }
        "admin.label.Get" => {
            to_global(req)?;
            sys.label_color(&req.arg)
                .map(str::to_owned)
                .ok_or_else(|| Fail::Qubes(crate::model::label_not_found(&req.arg)))?
        }
        "admin.pool.List" => {
            to_global(req)?;
            no_arg(req)?;
            sys.pools.iter().map(|p| format!("{}\n", p.name)).collect()
        }
        "admin.pool.Info" => {
            to_global(req)?;
            let pool = sys.pool(&req.arg).ok_or_else(|| protocol("no such pool"))?;
            let mut out: String = pool
                .config
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            if pool
                .config
                .get("driver")
                .is_some_and(|d| d != "linux-kernel")
            {
                out.push_str(&format!("size={}\nusage={}\n", pool.size, pool.usage));
            }
            out
        }
        "admin.vm.List" => {
            no_arg(req)?;
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
                sys.vms.keys().filter_map(|n| line(n)).collect()
            } else {
                line(&req.dest).unwrap_or_default()
            }
        }
        "admin.vm.CurrentState" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            let state = if vm.running { "Running" } else { "Halted" };
            let mem = if vm.running { 400 * 1024 } else { 0 };
            format!(
                "mem={mem} mem_static_max={} cputime=0 power_state={state}",
                4000 * 1024
            )
        }
        "admin.property.List" => {
            to_global(req)?;
            no_arg(req)?;
            props::global_props()
                .iter()
                .map(|p| format!("{}\n", p.name))
                .collect()
        }
        "admin.property.Get" | "admin.property.GetDefault" | "admin.property.Help" => {
            to_global(req)?;
            let def = props::global_def(&req.arg).ok_or_else(|| {
                QubesError::NoSuchProperty(format!("Invalid property '{}' of dom0", req.arg))
            })?;
            if method.ends_with("Help") {
                return Ok(def.doc.to_owned().into());
            }
            if method.ends_with("GetDefault") {
                return Ok(sys
                    .global_default(&req.arg)
                    .map(|v| format!("type={} {v}", def.ty.as_str()))
                    .unwrap_or_default()
                    .into());
            }
            let (is_default, value) = sys.global_prop(&req.arg).unwrap_or((true, String::new()));
            prop_line(is_default, def.ty, Some(&value))
        }
        "admin.property.GetAll" => {
            to_global(req)?;
            no_arg(req)?;
            props::global_props()
                .iter()
                .filter_map(|p| {
                    let (d, v) = sys.global_prop(p.name)?;
                    Some(format!(
                        "{} {}\n",
                        p.name,
                        prop_line(d, p.ty, Some(&escape(&v)))
                    ))
                })
                .collect()
        }
        "admin.property.Set" => {
            to_global(req)?;
            sys.set_global(&req.arg, &req.payload)?;
            String::new()
        }
        "admin.property.Reset" => {
            to_global(req)?;
            sys.reset_global(&req.arg)?;
            String::new()
        }
        "admin.vm.property.List" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            props::class_props(vm.class)
                .iter()
                .map(|p| format!("{}\n", p.name))
                .collect()
        }
        "admin.vm.property.Get" | "admin.vm.property.GetDefault" | "admin.vm.property.Help" => {
            let vm = sys.vm(&req.dest)?;
            let def = props::def(vm.class, &req.arg)
                .ok_or_else(|| crate::model::no_such_property(&req.dest, &req.arg))?;
            if method.ends_with("Help") {
                return Ok(def.doc.to_owned().into());
            }
            if method.ends_with("GetDefault") {
                return Ok(sys
                    .prop_default(&req.dest, vm, &req.arg)
                    .map(|v| format!("type={} {v}", def.ty.as_str()))
                    .unwrap_or_default()
                    .into());
            }
            let (d, v) = sys.prop(&req.dest, &req.arg)?;
            prop_line(d, def.ty, v.as_deref())
        }
        "admin.vm.property.GetAll" => {
            no_arg(req)?;
            let vm = sys.vm(&req.dest)?;
            let mut out = String::new();
            for def in props::class_props(vm.class) {
                let (d, v) = sys.prop(&req.dest, def.name)?;
                let v = v.map(|v| escape(&v));
                out.push_str(&format!(
                    "{} {}\n",
                    def.name,
                    prop_line(d, def.ty, v.as_deref())
                ));
            }
            out
        }
        "admin.vm.property.Set" => {
            sys.set_prop(&req.dest, &req.arg, &req.payload)?;
            String::new()
        }
        "admin.vm.property.Reset" => {
            sys.reset_prop(&req.dest, &req.arg)?;
            String::new()
        }
        "admin.vm.feature.List" => {
            no_arg(req)?;
            sys.vm(&req.dest)?
                .features
                .keys()
                .map(|k| format!("{k}\n"))
                .collect()
        }
        "admin.vm.feature.Get" => sys
            .vm(&req.dest)?
            .features
            .get(&req.arg)
            .cloned()
            .ok_or_else(|| feature_not_found(&req.dest, &req.arg))?,
        "admin.vm.feature.CheckWithTemplate"
        | "admin.vm.feature.CheckWithNetvm"
        | "admin.vm.feature.CheckWithAdminVM"
        | "admin.vm.feature.CheckWithTemplateAndAdminVM" => {
            let next = |name: &str| -> Option<String> {
                match method {
                    "admin.vm.feature.CheckWithNetvm" => {
                        Some(sys.netvm_of(name)).filter(|n| !n.is_empty())
                    }
                    "admin.vm.feature.CheckWithAdminVM" => None,
                    _ => sys
                        .vms
                        .get(name)
                        .and_then(|v| v.template())
                        .map(str::to_owned),
                }
            };
            let mut name = req.dest.clone();
            let mut seen = Vec::new();
            loop {
                if let Some(v) = sys.vm(&name)?.features.get(&req.arg) {
                    return Ok(v.clone().into());
                }
                seen.push(name.clone());
                match next(&name).filter(|n| !seen.contains(n)) {
                    Some(n) => name = n,
                    None => break,
                }
            }
            let with_admin = method.ends_with("AdminVM");
            match sys.vm("dom0")?.features.get(&req.arg) {
                Some(v) if with_admin => v.clone(),
                _ => return Err(feature_not_found(&req.dest, &req.arg)),
            }
        }
        "admin.vm.feature.Set" => {
            if !is_feature_name(&req.arg) {
                return Err(value_error("feature name contains illegal characters").into());
            }
            let value = ascii(req)?;
            if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(
                    value_error(format!("{} value contains illegal characters", req.arg)).into(),
                );
            }
            if req.arg == "preload-dispvm-max"
                && !value.is_empty()
                && !value.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(value_error("Invalid preload-dispvm-max value: not a digit").into());
            }
            // adminvm.py validates the threshold on dom0 only ("" counts as 0)
            if req.dest == "dom0"
                && req.arg == "preload-dispvm-threshold"
                && !value.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(
                    value_error("Invalid preload-dispvm-threshold value: not a digit").into(),
                );
            }
            let value = value.to_owned();
            sys.set_feature(&req.dest, &req.arg, &value)?;
            // The custom_persist extension checks after the value is stored (qubesd keeps it in
            // memory, unsaved, and reports the error).
            if let Some(key) = req.arg.strip_prefix("custom-persist.") {
                if let Some(problem) = custom_persist_problem(key, &value) {
                    return Err(value_error(problem).into());
                }
            }
            String::new()
        }
        "admin.vm.feature.Remove" => {
            sys.vm(&req.dest)?;
            sys.remove_feature(&req.dest, &req.arg)?;
            String::new()
        }
        "admin.vm.tag.List" => {
            no_arg(req)?;
            sys.vm(&req.dest)?
                .tags
                .iter()
                .map(|t| format!("{t}\n"))
                .collect()
        }
        "admin.vm.tag.Get" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            let has = sys.vm(&req.dest)?.tags.contains(&req.arg);
            if has { "1" } else { "0" }.into()
        }
        "admin.vm.tag.Set" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            sys.add_tag(&req.dest, &req.arg)?;
            String::new()
        }
        "admin.vm.tag.Remove" => {
            enforce(is_tag(&req.arg), "invalid tag")?;
            sys.remove_tag(&req.dest, &req.arg)?;
            String::new()
        }
        "admin.vm.volume.List" => {
            no_arg(req)?;
            sys.vm(&req.dest)?
                .volumes
                .keys()
                .map(|v| format!("{v}\n"))
                .collect()
        }
        "admin.vm.volume.Info" => volume_info(sys, &req.dest, &req.arg)?,
        "admin.vm.volume.ListSnapshots" => {
            let vm = sys.vm(&req.dest)?;
            let vol = vm
                .volumes
                .get(&req.arg)
                .ok_or_else(|| protocol("no such volume"))?;
            vol.revisions.iter().map(|r| format!("{r}\n")).collect()
        }
        "admin.vm.volume.Set.revisions_to_keep" => {
            let value = validate_size(ascii(req)?, true)?;
            let dest = req.dest.clone();
            let running = sys.vm(&dest)?.running;
            let vm = sys.vm_mut(&dest)?;
            let vol = vm
                .volumes
                .get_mut(&req.arg)
                .ok_or_else(|| protocol("no such volume"))?;
            if value < -1 {
                return Err(value_error("Invalid value for revisions_to_keep").into());
            }
            let toggles =
                value != vol.revisions_to_keep && (value == -1 || vol.revisions_to_keep == -1);
            if running && toggles {
                return Err(Fail::Qubes(QubesError::VmNotHalted(format!(
                    "Domain is not powered off: '{dest}'"
                ))));
            }
            vol.revisions_to_keep = value;
            let keep = usize::try_from(value.max(0)).unwrap_or(usize::MAX);
            let excess = vol.revisions.len().saturating_sub(keep);
            vol.revisions.drain(..excess);
            String::new()
        }
        "admin.vm.volume.Resize" => {
            let size = validate_size(ascii(req)?.trim(), false)?;
            let size = u64::try_from(size).map_err(|_| protocol("negative size"))?;
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
            String::new()
        }
        "admin.vm.volume.CloneFrom" => {
            let vm = sys.vm(&req.dest)?;
            enforce(vm.volumes.contains_key(&req.arg), "no such volume")?;
            sys.token_counter = sys.token_counter.saturating_add(1);
            let token = format!(
                "{:032x}",
                sys.token_counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            sys.clone_tokens
                .insert(token.clone(), (req.dest.clone(), req.arg.clone()));
            token
        }
        "admin.vm.volume.CloneTo" => {
            enforce(
                sys.vm(&req.dest)?.volumes.contains_key(&req.arg),
                "no such volume",
            )?;
            let token = ascii(req)?.trim().to_owned();
            let (src, vol) = sys
                .clone_tokens
                .remove(&token)
                .ok_or_else(|| protocol("invalid clone token"))?;
            enforce(
                sys.vms
                    .get(&src)
                    .is_some_and(|v| v.volumes.contains_key(&vol)),
                "source volume gone",
            )?;
            sys.clone_volume(&src, &vol, &req.dest, &req.arg)?;
            String::new()
        }
        "admin.vm.Start" => {
            no_arg(req)?;
            sys.start(&req.dest)?;
            String::new()
        }
        "admin.vm.Shutdown" => {
            let args: Vec<&str> = if req.arg.is_empty() {
                Vec::new()
            } else {
                req.arg.split('+').collect()
            };
            enforce(
                args.iter().all(|a| ["force", "wait"].contains(a)),
                "invalid shutdown argument",
            )?;
            sys.shutdown(&req.dest, args.contains(&"force"))?;
            String::new()
        }
        "admin.vm.Kill" => {
            no_arg(req)?;
            sys.shutdown(&req.dest, true)?;
            String::new()
        }
        "admin.vm.Remove" => {
            no_arg(req)?;
            sys.remove(&req.dest)?;
            String::new()
        }
        _ => return Err(protocol(format!("no such method: {method}"))),
    };
    Ok(Answer::Payload(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends raw request bytes through framing and dispatch, as the server does.
    fn call(sys: &mut System, raw: &[u8]) -> Vec<u8> {
        match Request::decode(raw) {
            Ok(req) => match handle(sys, &req) {
                Outcome::Reply(frame) => frame,
                Outcome::Abort(_) | Outcome::Subscribe { .. } => Vec::new(),
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
            &b"admin.vm.Create.AppVM+ dom0 name dom0\x00name=x"[..],
            b"admin.vm.Create.AppVM+ dom0 name dom0\x00name=x label=red pool=p",
            b"admin.vm.volume.Resize+private dom0 name work\x00010",
            b"admin.vm.feature.Set+x dom0 name work\x00\xc3\xa9",
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
        assert_eq!(r, b"2\x00QubesValueError\x00\x00VM work already exists\x00");
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
        assert!(text.starts_with(
            "0\0audiovm default=True type=vm dom0\nauto_cleanup default=True type=bool False\n"
        ));
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
    use crate::props::PropType;
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
                    let is_vm = crate::props::def(vm.class, prop).is_some_and(|d| d.ty == PropType::Vm);
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
