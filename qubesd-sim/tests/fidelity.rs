//! `qubesd-sim` answers as Qubes OS 4.3's qubesd does: one test per line of the
//! simulator list of issue 15, run against the `qubesd-sim` binary over its
//! socket, byte for byte where qubesd's format is fixed (qubes-core-admin
//! release4.3: `qubes/api/admin.py`, `qubes/vm/*`, `qubes/ext/*`, `qubes/exc.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Sim {
    dir: tempfile::TempDir,
    child: Child,
}

impl Sim {
    fn start() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qubesd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_qubesd-sim"))
            .arg("--socket")
            .arg(&socket)
            .arg("--state")
            .arg(dir.path().join("state.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sim = Sim { dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(sim.socket()).is_err() {
            assert!(Instant::now() < deadline, "qubesd-sim did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        sim
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("qubesd.sock")
    }

    /// One call as `QubesLocal` makes it: `method+arg dom0 name dest\0payload`, then EOF.
    fn call(&self, method: &str, arg: &str, dest: &str, payload: &[u8]) -> Vec<u8> {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        let mut request = format!("{method}+{arg} dom0 name {dest}\0").into_bytes();
        request.extend_from_slice(payload);
        s.write_all(&request).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    fn ok(&self, method: &str, arg: &str, dest: &str, payload: &str) -> String {
        let r = self.call(method, arg, dest, payload.as_bytes());
        assert!(
            r.starts_with(b"0\0"),
            "{method}+{arg} {dest}: {:?}",
            String::from_utf8_lossy(&r)
        );
        String::from_utf8(r[2..].to_vec()).unwrap()
    }

    /// An `admin.Events` connection, as qubesadmin's EventsDispatcher opens it.
    fn events(&self, dest: &str) -> Events {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.write_all(format!("admin.Events+ dom0 name {dest}\0").as_bytes())
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Events(BufReader::new(s))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Events(BufReader<UnixStream>);

impl Events {
    fn field(&mut self) -> String {
        let mut buf = Vec::new();
        self.0.read_until(0, &mut buf).unwrap();
        assert_eq!(buf.pop(), Some(0), "truncated event stream");
        String::from_utf8(buf).unwrap()
    }

    /// (subject, event, kwargs), parsed as qubesadmin's `_listen_for_events` does.
    fn next(&mut self) -> (String, String, Vec<(String, String)>) {
        assert_eq!(self.field(), "1", "not an event frame");
        let subject = self.field();
        let event = self.field();
        let mut kwargs = Vec::new();
        loop {
            let key = self.field();
            if key.is_empty() {
                break;
            }
            kwargs.push((key, self.field()));
        }
        (subject, event, kwargs)
    }

    /// Reads until `event` about `subject`; returns the events seen before it.
    fn wait_for(&mut self, subject: &str, event: &str) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        loop {
            let (s, e, _) = self.next();
            if s == subject && e == event {
                return seen;
            }
            seen.push((s, e));
        }
    }
}

fn exception(reply: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(reply);
    let parts: Vec<&str> = text.split('\0').collect();
    assert_eq!(parts.first(), Some(&"2"), "not an exception: {text:?}");
    assert_eq!(parts.len(), 5, "exception frame: {text:?}");
    (parts[1].to_owned(), parts[3].to_owned())
}

// ---- Events --------------------------------------------------------------

#[test]
fn events_announce_the_connection_then_start_shutdown_and_removal_so_waiting_tools_work() {
    let sim = Sim::start();
    let mut all = sim.events("dom0");
    assert_eq!(
        all.next(),
        (String::new(), "connection-established".into(), vec![])
    );
    let mut one = sim.events("work");
    assert_eq!(one.next().1, "connection-established");

    // qvm-start work: sys-firewall and sys-net already run
    sim.ok("admin.vm.Start", "", "work", "");
    assert_eq!(
        all.wait_for("work", "domain-start"),
        [("work".into(), "domain-pre-start".into())]
    );
    // qvm-shutdown --wait work: the waiter sees domain-shutdown
    sim.ok("admin.vm.Shutdown", "", "work", "");
    all.wait_for("work", "domain-shutdown");
    one.wait_for("work", "domain-start");
    one.wait_for("work", "domain-shutdown");

    // a qube's own connection does not get other qubes' events; the system one gets domain-add/-delete
    sim.ok("admin.vm.Create.AppVM", "", "dom0", "name=extra label=red");
    let (subject, event, kwargs) = all.next();
    assert_eq!((subject.as_str(), event.as_str()), ("", "domain-add"));
    assert_eq!(kwargs, [("vm".to_owned(), "extra".to_owned())]);
    sim.ok("admin.vm.feature.Set", "x", "work", "1");
    let (subject, event, kwargs) = one.next();
    assert_eq!(
        (subject.as_str(), event.as_str()),
        ("work", "domain-feature-set:x")
    );
    assert_eq!(
        kwargs,
        [("feature".into(), "x".into()), ("value".into(), "1".into())]
    );
    assert_eq!(
        exception(&sim.call("admin.vm.Remove", "", "dom0", b"")).0,
        "QubesVMInUseError"
    );
    sim.ok("admin.vm.Remove", "", "extra", "");
    all.wait_for("", "domain-delete");
}

#[test]
fn an_auto_cleanup_disposable_disappears_when_it_is_shut_down() {
    let sim = Sim::start();
    let mut events = sim.events("dom0");
    events.next();
    sim.ok(
        "admin.vm.Create.DispVM",
        "default-dvm",
        "dom0",
        "name=disp42 label=red",
    );
    sim.ok("admin.vm.property.Set", "auto_cleanup", "disp42", "True");
    sim.ok("admin.vm.Start", "", "disp42", "");
    sim.ok("admin.vm.Shutdown", "force+wait", "disp42", "");
    events.wait_for("disp42", "domain-shutdown");
    let (subject, event, kwargs) = events.next();
    assert_eq!((subject.as_str(), event.as_str()), ("", "domain-delete"));
    assert_eq!(kwargs, [("vm".to_owned(), "disp42".to_owned())]);
    assert!(!sim.ok("admin.vm.List", "", "dom0", "").contains("disp42"));
    let (class, _) = exception(&sim.call("admin.vm.property.Get", "name", "disp42", b""));
    assert_eq!(class, "QubesVMNotFoundError");
}

// ---- Validation qubesd does ----------------------------------------------

#[test]
fn refuses_what_qubesd_4_3_refuses_with_its_exception() {
    let sim = Sim::start();
    let refuse = |method: &str, arg: &str, dest: &str, payload: &[u8]| {
        exception(&sim.call(method, arg, dest, payload))
    };
    // custom-persist.* values, checked by the custom_persist extension
    for bad in [
        "dir:user:user:0700",
        "dir:user:user:0999:/x",
        "pipe:user:user:0700:/x",
        "relative/path",
        "dir:user:user:0700:relative",
    ] {
        let (class, message) = refuse(
            "admin.vm.feature.Set",
            "custom-persist.x",
            "work",
            bad.as_bytes(),
        );
        assert_eq!(class, "QubesValueError", "{bad}");
        assert!(message.starts_with("invalid"), "{bad}: {message}");
    }
    sim.ok(
        "admin.vm.feature.Set",
        "custom-persist.home",
        "work",
        "dir:user:user:0700:/home/user/x",
    );
    sim.ok(
        "admin.vm.feature.Set",
        "custom-persist.bare",
        "work",
        "/home/user/y",
    );
    // provides_network off while others use the qube as netvm
    assert_eq!(
        refuse(
            "admin.vm.property.Set",
            "provides_network",
            "sys-firewall",
            b"False"
        ),
        (
            "QubesValueError".into(),
            "The qube is still used by other qubes, change theirs 'netvm' first".into()
        )
    );
    // negative memory / maxmem, unparsable numbers
    assert_eq!(
        refuse("admin.vm.property.Set", "memory", "work", b"-1"),
        (
            "QubesPropertyValueError".into(),
            "Invalid value '-1' for property 'memory' of work: memory must be positive".into()
        )
    );
    assert_eq!(
        refuse("admin.vm.property.Set", "maxmem", "work", b"-5").0,
        "QubesPropertyValueError"
    );
    sim.ok("admin.vm.property.Set", "maxmem", "work", "0");
    assert_eq!(
        refuse("admin.vm.property.Set", "vcpus", "work", b"two"),
        (
            "QubesValueError".into(),
            "Failed to parse property value as int".into()
        )
    );
    // feature names with forbidden characters, values with control characters: an exception, not a closed connection
    assert_eq!(
        refuse("admin.vm.feature.Set", "bad/name", "work", b"1"),
        (
            "QubesValueError".into(),
            "feature name contains illegal characters".into()
        )
    );
    assert_eq!(
        refuse("admin.vm.feature.Set", "note", "work", b"a\nb"),
        (
            "QubesValueError".into(),
            "note value contains illegal characters".into()
        )
    );
    // sizes with leading zeros (and other non-sizes) are protocol errors: qubesd closes without a byte
    for size in ["010737418240", "+5", "1e9", "12345678901234567890", ""] {
        assert_eq!(
            sim.call("admin.vm.volume.Resize", "private", "work", size.as_bytes()),
            b"",
            "{size:?}"
        );
    }
    sim.ok("admin.vm.volume.Resize", "private", "work", "4294967296");
    // non-ASCII is refused before any rule
    assert_eq!(
        sim.call("admin.vm.feature.Set", "note", "work", "é".as_bytes()),
        b""
    );
}

#[test]
fn a_refused_custom_persist_value_is_not_saved() {
    let sim = Sim::start();
    let state = || std::fs::read_to_string(sim.dir.path().join("state.json")).unwrap();
    let before = state();
    exception(&sim.call(
        "admin.vm.feature.Set",
        "custom-persist.x",
        "work",
        b"nonsense",
    ));
    assert_eq!(
        state(),
        before,
        "qubesd saves qubes.xml only after a call succeeds"
    );
}

// ---- Validation the simulator must not add ---------------------------------

#[test]
fn accepts_what_qubesd_4_3_accepts() {
    let sim = Sim::start();
    // default_dispvm (per qube and global) and management_dispvm: any qube, not only disposable templates
    sim.ok("admin.vm.property.Set", "default_dispvm", "vault", "work");
    sim.ok("admin.property.Set", "default_dispvm", "dom0", "work");
    sim.ok("admin.property.Set", "management_dispvm", "dom0", "vault");
    sim.ok(
        "admin.vm.property.Set",
        "management_dispvm",
        "work",
        "vault",
    );
    // kernelopts: any of Python's string.printable, up to 512 characters
    sim.ok(
        "admin.vm.property.Set",
        "kernelopts",
        "work",
        "nopat\tiommu=off apparmor=1 security=apparmor ~!@#$%^&*()",
    );
    let long = "x".repeat(512);
    sim.ok("admin.vm.property.Set", "kernelopts", "work", &long);
    let (class, message) = exception(&sim.call(
        "admin.vm.property.Set",
        "kernelopts",
        "work",
        "y".repeat(513).as_bytes(),
    ));
    assert_eq!(class, "QubesPropertyValueError");
    assert!(
        message.ends_with("Kernelopts value too long (512 chars max)"),
        "{message}"
    );
}

// ---- The stock system --------------------------------------------------------

#[test]
fn the_stock_system_has_qubesd_s_own_features_tags_and_every_property_with_its_default() {
    let sim = Sim::start();
    // dom0's features as the 4.3 installer's `qvm.disposable-preload` leaves them on a
    // 16 GiB machine with the preselected "preload disposables": qubesd adds none itself
    assert_eq!(
        sim.ok("admin.vm.feature.List", "", "dom0", ""),
        "preload-dispvm-threshold\npreload-dispvm-max\n"
    );
    assert_eq!(
        sim.ok("admin.vm.feature.Get", "preload-dispvm-max", "dom0", ""),
        "1"
    );
    assert_eq!(
        sim.ok(
            "admin.vm.feature.Get",
            "preload-dispvm-threshold",
            "dom0",
            ""
        ),
        "1500"
    );
    // adminvm.py refuses a threshold that is not a digit, with an exception
    let r = sim.call(
        "admin.vm.feature.Set",
        "preload-dispvm-threshold",
        "dom0",
        b"1.5",
    );
    assert!(
        r.starts_with(b"2\0QubesValueError\0")
            && String::from_utf8_lossy(&r)
                .contains("Invalid preload-dispvm-threshold value: not a digit"),
        "{:?}",
        String::from_utf8_lossy(&r)
    );
    sim.ok(
        "admin.vm.feature.Set",
        "preload-dispvm-threshold",
        "dom0",
        "",
    );
    assert_eq!(
        sim.ok("admin.vm.feature.Get", "servicevm", "sys-net", ""),
        "1"
    );
    assert_eq!(
        sim.ok("admin.vm.feature.Get", "servicevm", "sys-firewall", ""),
        "1"
    );
    assert_eq!(
        sim.ok("admin.vm.feature.Get", "service.clocksync", "sys-net", ""),
        "1"
    );
    assert_eq!(
        sim.ok("admin.vm.tag.List", "", "work", ""),
        "audiovm-dom0\nguivm-dom0\n"
    );
    // a new qube gets them too; a new network provider becomes a service qube
    sim.ok("admin.vm.Create.AppVM", "", "dom0", "name=net2 label=red");
    assert_eq!(
        sim.ok("admin.vm.tag.List", "", "net2", ""),
        "audiovm-dom0\ncreated-by-dom0\nguivm-dom0\n"
    );
    sim.ok("admin.vm.property.Set", "provides_network", "net2", "True");
    assert_eq!(sim.ok("admin.vm.feature.Get", "servicevm", "net2", ""), "1");

    // qvm-prefs QUBE: every property of 4.3's AppVM, sorted, with its default
    let names: Vec<String> = sim
        .ok("admin.vm.property.List", "", "work", "")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        names,
        [
            "audiovm",
            "autostart",
            "backup_timestamp",
            "bootmode",
            "debug",
            "default_dispvm",
            "default_user",
            "devices_denied",
            "dns",
            "gateway",
            "gateway6",
            "guivm",
            "icon",
            "include_in_backups",
            "installed_by_rpm",
            "ip",
            "ip6",
            "kernel",
            "kernelopts",
            "keyboard_layout",
            "klass",
            "label",
            "mac",
            "management_dispvm",
            "maxmem",
            "memory",
            "name",
            "netvm",
            "provides_network",
            "qid",
            "qrexec_timeout",
            "shutdown_timeout",
            "start_time",
            "stubdom_mem",
            "stubdom_uuid",
            "stubdom_xid",
            "template",
            "template_for_dispvms",
            "updateable",
            "uuid",
            "vcpus",
            "virt_mode",
            "visible_gateway",
            "visible_gateway6",
            "visible_ip",
            "visible_ip6",
            "visible_netmask",
            "xid",
        ]
    );
    let all = sim.ok("admin.vm.property.GetAll", "", "work", "");
    for line in [
        "guivm default=True type=vm dom0",
        "audiovm default=True type=vm dom0",
        "qrexec_timeout default=True type=int 60",
        "shutdown_timeout default=True type=int 60",
        "updateable default=True type=bool False",
        "keyboard_layout default=True type=str us++",
        "netvm default=True type=vm sys-firewall",
        "template default=False type=vm fedora-43-xfce",
        "memory default=True type=int 400",
        "stubdom_mem default=True type=int ",
    ] {
        assert!(all.lines().any(|l| l == line), "{line} in\n{all}");
    }
    assert_eq!(all.lines().count(), names.len());
    assert!(sim
        .ok("admin.vm.property.GetAll", "", "fedora-43-xfce", "")
        .lines()
        .any(|l| l == "updateable default=True type=bool True"));
    let global: Vec<String> = sim
        .ok("admin.property.List", "", "dom0", "")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        global,
        [
            "check_updates_vm",
            "clockvm",
            "default_audiovm",
            "default_dispvm",
            "default_guivm",
            "default_kernel",
            "default_netvm",
            "default_pool",
            "default_pool_kernel",
            "default_pool_private",
            "default_pool_root",
            "default_pool_volatile",
            "default_qrexec_timeout",
            "default_shutdown_timeout",
            "default_template",
            "management_dispvm",
            "stats_interval",
            "updatevm",
        ]
    );
    assert_eq!(
        sim.ok("admin.property.Get", "default_guivm", "dom0", ""),
        "default=True type=vm dom0"
    );
    assert_eq!(
        sim.ok("admin.property.Get", "default_pool_private", "dom0", ""),
        "default=True type=str vm-pool"
    );
}

// ---- Methods the tools call ---------------------------------------------------

#[test]
fn volume_and_pool_methods_answer_as_qvm_volume_and_qvm_pool_expect() {
    let sim = Sim::start();
    assert_eq!(
        sim.ok("admin.vm.volume.List", "", "work", ""),
        "root\nprivate\nvolatile\nkernel\n"
    );
    assert_eq!(
        sim.ok("admin.vm.volume.Info", "private", "work", ""),
        "pool=vm-pool\nvid=qubes_dom0/vm-work-private\nsize=2147483648\nusage=214748364\nrw=True\nsource=\npath=/dev/qubes_dom0/vm-work-private\nsave_on_stop=True\nsnap_on_start=False\nrevisions_to_keep=1\nephemeral=False\nis_outdated=False\n"
    );
    let root = sim.ok("admin.vm.volume.Info", "root", "work", "");
    assert!(
        root.contains("\nsource=qubes_dom0/vm-fedora-43-xfce-root\n")
            && root.contains("\nsnap_on_start=True\n"),
        "{root}"
    );
    let volatile = sim.ok("admin.vm.volume.Info", "volatile", "work", "");
    assert!(volatile.contains("\nsize=10737418240\n"), "{volatile}");
    // a revision is kept when a save_on_stop volume is stopped
    assert_eq!(
        sim.ok("admin.vm.volume.ListSnapshots", "private", "work", ""),
        ""
    );
    sim.ok("admin.vm.Start", "", "work", "");
    sim.ok("admin.vm.Shutdown", "wait", "work", "");
    assert_eq!(
        sim.ok("admin.vm.volume.ListSnapshots", "private", "work", "")
            .lines()
            .count(),
        1
    );
    sim.ok(
        "admin.vm.volume.Set.revisions_to_keep",
        "private",
        "work",
        "0",
    );
    assert_eq!(
        sim.ok("admin.vm.volume.ListSnapshots", "private", "work", ""),
        ""
    );
    assert!(sim
        .ok("admin.vm.volume.Info", "private", "work", "")
        .contains("\nrevisions_to_keep=0\n"));
    assert_eq!(
        exception(&sim.call(
            "admin.vm.volume.Set.revisions_to_keep",
            "private",
            "work",
            b"-2"
        ))
        .0,
        "QubesValueError"
    );
    assert_eq!(sim.call("admin.vm.volume.Info", "nope", "work", b""), b"");

    assert_eq!(
        sim.ok("admin.pool.List", "", "dom0", ""),
        "linux-kernel\nvarlibqubes\nvm-pool\n"
    );
    assert_eq!(
        sim.ok("admin.pool.Info", "vm-pool", "dom0", ""),
        "driver=lvm_thin\nephemeral_volatile=False\nname=vm-pool\nrevisions_to_keep=1\nthin_pool=vm-pool\nvolume_group=qubes_dom0\nsize=429496729600\nusage=51539607552\n"
    );
    assert_eq!(sim.call("admin.pool.Info", "nope", "dom0", b""), b"");
}

#[test]
fn create_in_pool_clone_and_property_help_work_for_qvm_create_qvm_clone_and_qvm_prefs() {
    let sim = Sim::start();
    // qvm-create -P varlibqubes
    sim.ok(
        "admin.vm.CreateInPool.AppVM",
        "fedora-43-xfce",
        "dom0",
        "name=filed label=red pool=varlibqubes",
    );
    let info = sim.ok("admin.vm.volume.Info", "private", "filed", "");
    assert!(
        info.starts_with("pool=varlibqubes\nvid=appvms/filed/private\n"),
        "{info}"
    );
    assert!(sim
        .ok("admin.vm.volume.Info", "kernel", "filed", "")
        .starts_with("pool=linux-kernel\n"));
    sim.ok(
        "admin.vm.CreateInPool.AppVM",
        "",
        "dom0",
        "name=mixed label=red pool:private=varlibqubes",
    );
    assert!(sim
        .ok("admin.vm.volume.Info", "private", "mixed", "")
        .starts_with("pool=varlibqubes\n"));
    assert!(sim
        .ok("admin.vm.volume.Info", "root", "mixed", "")
        .starts_with("pool=vm-pool\n"));
    assert_eq!(
        exception(&sim.call(
            "admin.vm.CreateInPool.AppVM",
            "",
            "dom0",
            b"name=x label=red pool=nope"
        ))
        .1,
        "Unknown storage pool nope"
    );
    assert_eq!(
        sim.call(
            "admin.vm.CreateInPool.AppVM",
            "",
            "dom0",
            b"name=x label=red pool=vm-pool pool:root=vm-pool"
        ),
        b""
    );
    assert_eq!(
        sim.call(
            "admin.vm.Create.AppVM",
            "",
            "dom0",
            b"name=x label=red pool=vm-pool"
        ),
        b""
    );

    // qvm-clone: the volume content (size) follows the token
    sim.ok("admin.vm.volume.Resize", "private", "work", "5368709120");
    sim.ok(
        "admin.vm.Create.AppVM",
        "fedora-43-xfce",
        "dom0",
        "name=work2 label=blue",
    );
    let token = sim.ok("admin.vm.volume.CloneFrom", "private", "work", "");
    assert_eq!(token.len(), 32);
    sim.ok("admin.vm.volume.CloneTo", "private", "work2", &token);
    assert!(sim
        .ok("admin.vm.volume.Info", "private", "work2", "")
        .contains("\nsize=5368709120\n"));
    assert_eq!(
        sim.call(
            "admin.vm.volume.CloneTo",
            "private",
            "work2",
            token.as_bytes()
        ),
        b"",
        "a token is used once"
    );

    // qvm-prefs --help-properties
    assert_eq!(
        sim.ok("admin.vm.property.Help", "netvm", "work", ""),
        "VM that provides network connection to this domain. When `None`, machine is disconnected. When absent, domain uses default NetVM."
    );
    assert_eq!(
        sim.ok("admin.property.Help", "default_dispvm", "dom0", ""),
        "Default DispVM base for service calls"
    );
    assert_eq!(
        exception(&sim.call("admin.vm.property.Help", "nope", "work", b"")).0,
        "QubesNoSuchPropertyError"
    );
}

// ---- Exception classes and payload formats -------------------------------------

#[test]
fn exception_classes_and_payload_orders_are_qubesd_s() {
    let sim = Sim::start();
    // a netvm loop
    assert_eq!(
        exception(&sim.call("admin.vm.property.Set", "netvm", "sys-net", b"sys-firewall")),
        (
            "QubesValueError".into(),
            "Loops in network are unsupported".into()
        )
    );
    assert_eq!(
        exception(&sim.call("admin.vm.property.Set", "netvm", "work", b"vault")),
        (
            "QubesValueError".into(),
            "The vault qube does not provide network".into()
        )
    );
    // creating a qube that exists
    assert_eq!(
        exception(&sim.call("admin.vm.Create.AppVM", "", "dom0", b"name=work label=red")),
        ("QubesValueError".into(), "VM work already exists".into())
    );
    assert_eq!(
        exception(&sim.call(
            "admin.vm.Create.TemplateVM",
            "fedora-43-xfce",
            "dom0",
            b"name=t label=red"
        )),
        (
            "QubesValueError".into(),
            "TemplateVM cannot be based on template".into()
        )
    );
    // removing a template in use (and one installed by rpm)
    sim.ok(
        "admin.vm.Create.TemplateVM",
        "",
        "dom0",
        "name=tpl label=red",
    );
    sim.ok(
        "admin.vm.Create.AppVM",
        "tpl",
        "dom0",
        "name=user1 label=red",
    );
    assert_eq!(
        exception(&sim.call("admin.vm.Remove", "", "tpl", b"")),
        (
            "QubesVMInUseError".into(),
            "Domain is in use: 'tpl';  see 'journalctl -u qubesd -e' in dom0 for details".into()
        )
    );
    assert_eq!(
        exception(&sim.call("admin.vm.Remove", "", "fedora-43-xfce", b"")),
        (
            "QubesVMInUseError".into(),
            "VM installed by package manager: fedora-43-xfce".into()
        )
    );
    assert_eq!(
        exception(&sim.call("admin.vm.property.Set", "template", "sys-net", b"tpl")),
        (
            "QubesVMNotHaltedError".into(),
            "Cannot change template while qube is running".into()
        )
    );

    // admin.vm.List sorted by name; feature.List in the order set; tag.List sorted
    let list = sim.ok("admin.vm.List", "", "dom0", "");
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(list.contains(
        "\ndom0 class=AdminVM state=Running uuid=00000000-0000-0000-0000-000000000000\n"
    ));
    for f in ["zz", "aa", "mm"] {
        sim.ok("admin.vm.feature.Set", f, "user1", "1");
    }
    assert_eq!(
        sim.ok("admin.vm.feature.List", "", "user1", ""),
        "zz\naa\nmm\n"
    );
    sim.ok("admin.vm.feature.Set", "zz", "user1", "2");
    assert_eq!(
        sim.ok("admin.vm.feature.List", "", "user1", ""),
        "zz\naa\nmm\n",
        "a new value keeps the place"
    );
    sim.ok("admin.vm.tag.Set", "b-tag", "user1", "");
    sim.ok("admin.vm.tag.Set", "a-tag", "user1", "");
    assert_eq!(
        sim.ok("admin.vm.tag.List", "", "user1", ""),
        "a-tag\naudiovm-dom0\nb-tag\ncreated-by-dom0\nguivm-dom0\n"
    );
    // property.GetAll: sorted, escaped
    let all = sim.ok("admin.vm.property.GetAll", "", "user1", "");
    let keys: Vec<&str> = all
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    sim.ok("admin.vm.property.Set", "kernelopts", "user1", "a\\b\nc");
    assert!(sim
        .ok("admin.vm.property.GetAll", "", "user1", "")
        .contains("\nkernelopts default=False type=str a\\\\b\\nc\n"));
}

// ---- internal.GetSystemInfo --------------------------------------------------------

#[test]
fn system_info_is_the_json_qrexec_policy_tools_read() {
    let sim = Sim::start();
    sim.ok("admin.vm.tag.Set", "sd-workstation", "work", "");
    sim.ok("admin.vm.feature.Set", "internal", "vault", "1");
    let text = sim.ok("internal.GetSystemInfo", "", "dom0", "");
    // Python's json.dumps layout: ", " and ": " separators, keys in qubesd's order
    assert!(text.starts_with("{\"domains\": {\"debian-13-minimal\": {\"internal\": null, \"tags\": [\"audiovm-dom0\", \"guivm-dom0\"], \"type\": \"TemplateVM\", \"template_for_dispvms\": false, \"default_dispvm\": \"default-dvm\", \"icon\": \"templatevm-black\", \"label\": \"0x000000\", \"guivm\": \"dom0\", \"relayvm\": null, \"transport_rpc\": null, \"power_state\": \"Halted\", \"uuid\": "), "{text}");
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    let work = &info["domains"]["work"];
    assert_eq!(work["type"], "AppVM");
    assert_eq!(work["default_dispvm"], "default-dvm");
    assert!(work["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "sd-workstation"));
    assert_eq!(info["domains"]["vault"]["internal"], "1");
    assert_eq!(info["domains"]["default-dvm"]["template_for_dispvms"], true);
    assert_eq!(info["domains"]["sys-net"]["power_state"], "Running");
    assert_eq!(info["domains"]["dom0"]["type"], "AdminVM");
    assert_eq!(info["domains"].as_object().unwrap().len(), 10);
    assert_eq!(
        sim.call("internal.GetSystemInfo", "", "work", b""),
        b"",
        "only for dom0"
    );
}
