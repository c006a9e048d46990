//! plan / apply / check / uninstall as processes against `qubesd-sim`.
//!
//! Assertions read the simulator's persisted state (what qubesd would report),
//! the files under `--root` and the recorded in-qube commands.

mod common;

use common::{config_dir, converge, sdw_admin, vm, Sim};
use sdw_provision::inqube::{QubeCommand, ATTACH_HELPER, UDEV_RULES};
use sdw_provision::runner::Recorder;
use serde_json::Value;

const GIB: u64 = 1024 * 1024 * 1024;

fn apply_clean(sim: &Sim, config: &std::path::Path) {
    let run = converge("apply", sim, config, &[]);
    assert!(run.ok(), "apply failed: {}\n{}", run.stdout, run.stderr);
}

fn prop<'a>(state: &'a Value, qube: &str, name: &str) -> Option<&'a str> {
    vm(state, qube)["props"][name].as_str()
}

fn feature<'a>(state: &'a Value, qube: &str, name: &str) -> Option<&'a str> {
    vm(state, qube)["features"][name].as_str()
}

fn has_tag(state: &Value, qube: &str, tag: &str) -> bool {
    vm(state, qube)["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == tag))
}

#[test]
fn apply_on_a_stock_system_converges_and_a_second_apply_changes_nothing() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    apply_clean(&sim, config.path());

    let s = sim.state();
    let sdw: Vec<&String> = s["vms"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(n, _)| has_tag(&s, n, "sd-workstation"))
                .map(|(n, _)| n)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(sdw.len(), 12, "{sdw:?}");
    assert_eq!(s["global"]["default_dispvm"], "sd-viewer");
    assert_eq!(s["global"]["default_template"], "fedora-43-xfce");
    // sd-app
    assert_eq!(vm(&s, "sd-app")["class"], "AppVM");
    assert_eq!(prop(&s, "sd-app", "template"), Some("sd-inbox-debian-13"));
    assert_eq!(prop(&s, "sd-app", "netvm"), Some(""));
    assert_eq!(prop(&s, "sd-app", "default_dispvm"), Some("sd-viewer"));
    assert_eq!(prop(&s, "sd-app", "label"), Some("yellow"));
    assert_eq!(vm(&s, "sd-app")["volumes"]["private"]["size"], 10 * GIB);
    assert_eq!(vm(&s, "sd-log")["volumes"]["private"]["size"], 5 * GIB);
    assert_eq!(
        feature(&s, "sd-app", "vm-config.SD_SUBMISSION_KEY_FPR"),
        Some(include_str!("../../provision/tests/fixtures/test_key.fpr").trim())
    );
    assert!(has_tag(&s, "sd-app", "sd-client"));
    // the named disposables
    for q in ["sd-devices", "sd-printers", "sd-proxy"] {
        assert_eq!(vm(&s, q)["class"], "DispVM", "{q}");
    }
    assert_eq!(feature(&s, "sd-devices", "service.cups"), None);
    assert_eq!(feature(&s, "sd-devices", "service.avahi"), None);
    assert_eq!(feature(&s, "sd-printers", "service.cups"), Some("1"));
    assert!(has_tag(&s, "sd-printers", "sd-export-target"));
    assert_eq!(prop(&s, "sd-proxy", "netvm"), Some("sys-firewall"));
    assert_eq!(
        feature(&s, "sd-proxy", "vm-config.SD_PROXY_ORIGIN"),
        Some("http://sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion")
    );
    assert_eq!(feature(&s, "sd-viewer", "internal"), Some("1"));
    assert_eq!(
        prop(&s, "sd-inbox-debian-13", "kernel"),
        Some("pvgrub2-pvh")
    );
    // sys-usb runs on the SDW disposable template
    assert_eq!(prop(&s, "sys-usb", "template"), Some("sd-fedora-43-dvm"));
    assert_eq!(vm(&s, "sys-usb")["running"], true);

    // dom0 files, byte for byte, with their modes
    use std::os::unix::fs::PermissionsExt;
    let policy = sim
        .root()
        .join("etc/qubes/policy.d/31-securedrop-workstation.policy");
    assert_eq!(
        std::fs::read_to_string(&policy).ok().as_deref(),
        Some(include_str!(
            "../../rpc/policy/31-securedrop-workstation.policy"
        ))
    );
    let mode = std::fs::metadata(&policy)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o664));
    assert!(sim
        .root()
        .join("etc/qubes/policy.d/32-securedrop-workstation.policy")
        .is_file());
    assert!(sim
        .root()
        .join("var/lib/securedrop-workstation/prod")
        .is_file());

    // in-qube work: sys-usb files in its disposable template, then each template in clone order
    let recorded: Vec<QubeCommand> = Recorder::read(&sim.recorded()).unwrap_or_default();
    let mut order: Vec<&str> = recorded.iter().map(|c| c.qube.as_str()).collect();
    order.dedup();
    assert_eq!(
        order,
        [
            "sd-fedora-43-dvm",
            "sys-firewall",
            "sd-base-debian-13",
            "sd-inbox-debian-13",
            "sd-viewer-debian-13"
        ]
    );
    // dom0's repository of SDW's RPMs, with its key, and the same key in the update qube
    let repo = std::fs::read_to_string(
        sim.root()
            .join("etc/yum.repos.d/securedrop-workstation-dom0.repo"),
    )
    .unwrap_or_default();
    assert_eq!(repo.lines().count(), 7, "{repo}");
    assert!(repo.contains("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation\n"));
    let key = std::fs::read_to_string(
        sim.root()
            .join("etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation"),
    )
    .unwrap_or_default();
    assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let fw: Vec<&QubeCommand> = recorded
        .iter()
        .filter(|c| c.qube == "sys-firewall")
        .collect();
    assert!(fw.first().is_some_and(|c| c
        .command
        .ends_with("/dev/stdin /rw/config/RPM-GPG-KEY-securedrop-workstation")
        && c.text_input() == Some(key.as_str())));
    assert!(fw.iter().any(|c| c.text_input().is_some_and(|t| t.contains("install -D -m 0644 /rw/config/RPM-GPG-KEY-securedrop-workstation /etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation\n"))), "copied at each boot");
    assert!(recorded.iter().all(|c| c.user == "root"));
    assert!(recorded.iter().any(|c| c.text_input() == Some(UDEV_RULES)));
    assert!(recorded
        .iter()
        .any(|c| c.text_input() == Some(ATTACH_HELPER)));
    assert!(recorded
        .iter()
        .any(|c| c.qube == "sd-viewer-debian-13" && c.command.ends_with("install -y securedrop-keyring securedrop-log securedrop-workstation-viewer udisks2 gnome-disk-utility sdw-devices")));
    assert!(recorded.iter().any(|c| c.qube == "sd-inbox-debian-13"
        && c.command.ends_with(" securedrop-gpg-config sdw-client")));
    assert!(recorded
        .iter()
        .any(|c| c.qube == "sd-viewer-debian-13" && c.command == "usermod -a -G lpadmin user"));
    assert!(!recorded
        .iter()
        .any(|c| c.command.contains("securedrop-export")));

    let plan = converge("plan", &sim, config.path(), &[]);
    assert!(plan.ok());
    assert_eq!(
        plan.stdout,
        "No changes: the system matches the SecureDrop Workstation topology.\n"
    );
    let check = converge("check", &sim, config.path(), &[]);
    assert!(check.ok(), "{}", check.stdout);
    assert!(check.stdout.starts_with("OK: "));

    let before = sim.state();
    let again = converge("apply", &sim, config.path(), &[]);
    assert!(again.ok());
    assert!(again.stdout.contains("Applied 0 changes."));
    assert_eq!(sim.state(), before);
    assert_eq!(
        Recorder::read(&sim.recorded()).map(|r| r.len()).ok(),
        Some(recorded.len())
    );
}

#[test]
fn check_reports_drift_and_apply_repairs_it() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    apply_clean(&sim, config.path());
    let admin = sim.admin();
    assert!(admin.set_prop("sd-app", "netvm", "sys-firewall").is_ok());
    assert!(admin
        .remove_feature("sd-proxy", "vm-config.SD_PROXY_ORIGIN")
        .is_ok());
    assert!(admin
        .set_feature("sd-devices", "service.avahi", "1")
        .is_ok());
    assert!(admin.remove_tag("sd-app", "sd-client").is_ok());
    assert!(admin.reset_prop("sd-gpg", "autostart").is_ok());
    assert!(admin
        .set_global_prop("default_dispvm", "default-dvm")
        .is_ok());
    let policy = sim
        .root()
        .join("etc/qubes/policy.d/31-securedrop-workstation.policy");
    assert!(std::fs::write(&policy, "qubes.USBAttach * @anyvm @anyvm allow\n").is_ok());

    let check = converge("check", &sim, config.path(), &[]);
    assert_eq!(check.code, Some(1));
    for expected in [
        "  sd-app: netvm is sys-firewall, expected None",
        "  sd-proxy: feature vm-config.SD_PROXY_ORIGIN is unset, expected \"http://sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion\"",
        "  sd-devices: feature service.avahi is set, expected unset",
        "  sd-app: tag sd-client is missing",
        "  sd-gpg: autostart is False (default), expected True",
        "  dom0: global default_dispvm is default-dvm, expected sd-viewer",
        "  dom0: /etc/qubes/policy.d/31-securedrop-workstation.policy is missing or differs from what sdw-admin installs",
        "  policy: sd-app must be allowed securedrop.Log to sd-log",
        "  policy: sd-gpg must be allowed securedrop.GetSecretKeys to dom0",
    ] {
        assert!(check.stdout.contains(&format!("{expected}\n")), "missing {expected:?} in\n{}", check.stdout);
    }
    assert!(check.stdout.starts_with("Drift ("), "{}", check.stdout);

    let plan = converge("plan", &sim, config.path(), &[]);
    assert!(plan.stdout.starts_with("7 changes:\n"), "{}", plan.stdout);
    assert!(plan
        .stdout
        .contains("  set    sd-app netvm = None (was sys-firewall)\n"));
    assert!(plan
        .stdout
        .contains("  remove sd-devices feature service.avahi\n"));

    let json = converge("plan", &sim, config.path(), &["--json"]);
    let parsed: Value = serde_json::from_str(&json.stdout).unwrap_or_default();
    assert_eq!(parsed["steps"].as_array().map(Vec::len), Some(7));
    assert!(parsed["steps"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["action"] == "set"
            && s["qube"] == "sd-app"
            && s["property"] == "netvm"
            && s["value"] == "")));

    apply_clean(&sim, config.path());
    let check = converge("check", &sim, config.path(), &[]);
    assert!(check.ok(), "{}", check.stdout);
}

#[test]
fn apply_repairs_a_partly_provisioned_system() {
    let sim = Sim::start();
    let admin = sim.admin();
    // an sd-app from an earlier attempt, on the wrong template and running; an old sd-log; sd-whonix
    assert!(admin
        .create("AppVM", Some("fedora-43-xfce"), "sd-app", "red")
        .is_ok());
    assert!(admin.start("sd-app").is_ok());
    assert!(admin
        .create("AppVM", Some("fedora-43-xfce"), "sd-log", "red")
        .is_ok());
    assert!(admin
        .create("AppVM", Some("fedora-43-xfce"), "sd-whonix", "black")
        .is_ok());
    assert!(admin.create("AppVM", None, "work2", "red").is_ok());
    let config = config_dir("testconfig");

    let plan = converge("plan", &sim, config.path(), &[]);
    assert!(plan.ok(), "{}", plan.stderr);
    for expected in [
        "  stop   sd-app (its template changes)\n",
        "  set    sd-app template = sd-inbox-debian-13 (was fedora-43-xfce)\n",
        "  remove sd-log (install epoch unset is not 1001: recreated, its logs are lost)\n",
        "  remove sd-whonix (no longer used by SecureDrop Workstation)\n",
    ] {
        assert!(
            plan.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            plan.stdout
        );
    }
    apply_clean(&sim, config.path());
    let s = sim.state();
    assert_eq!(prop(&s, "sd-app", "template"), Some("sd-inbox-debian-13"));
    assert_eq!(
        prop(&s, "sd-app", "label"),
        Some("red"),
        "the label is set at creation only"
    );
    assert_eq!(feature(&s, "sd-log", "sd-install-epoch"), Some("1001"));
    assert!(vm(&s, "sd-whonix").is_null());
    let check = converge("check", &sim, config.path(), &[]);
    assert!(check.ok(), "{}", check.stdout);
}

#[test]
fn check_lists_a_foreign_qube_tagged_sd_workstation() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    apply_clean(&sim, config.path());
    assert!(sim.admin().set_tag("work", "sd-workstation").is_ok());
    let check = converge("check", &sim, config.path(), &[]);
    assert_eq!(check.code, Some(1));
    assert!(check
        .stdout
        .contains("  work: is tagged sd-workstation but not part of SecureDrop Workstation\n"));
    assert!(
        check
            .stdout
            .contains("  work: default_dispvm is sd-viewer, expected None\n"),
        "{}",
        check.stdout
    );
}

#[test]
fn uninstall_removes_what_apply_made_and_restores_sys_usb() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    apply_clean(&sim, config.path());
    let admin = sim.admin();
    assert!(admin.set_tag("work", "sd-receive-logs").is_ok());
    assert!(admin.set_tag("vault", "sd-send-app-clipboard").is_ok());
    assert!(admin.start("sd-proxy").is_ok());
    // a running disposable of sd-viewer that disappears when killed (like Qubes 4.3's preloaded ones)
    assert!(admin
        .create("DispVM", Some("sd-viewer"), "disp1234", "red")
        .is_ok());
    assert!(admin.set_prop("disp1234", "auto_cleanup", "True").is_ok());
    assert!(admin.start("disp1234").is_ok());

    let socket = sim.socket();
    let root = sim.root();
    let recorded = sim.recorded();
    let before = Recorder::read(&recorded).unwrap_or_default().len();
    let run = sdw_admin(&[
        "uninstall",
        "--force",
        "--root",
        root.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
        "--record-qube-commands",
        recorded.to_str().unwrap_or_default(),
    ]);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let removal = Recorder::read(&recorded).unwrap_or_default();
    assert!(
        removal[before..].iter().all(|c| c.qube == "sys-firewall"),
        "only the update qube's key goes"
    );
    assert!(removal[before..].first().is_some_and(|c| c
        .command
        .contains("rm -f /rw/config/$k /etc/pki/rpm-gpg/$k")));
    let at = |line: &str| {
        run.stdout
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} not in\n{}", run.stdout))
    };
    assert!(at("  kill   sd-proxy (before removal)") < at("  remove sd-proxy "));
    assert!(
        at("  remove sd-proxy ") < at("  remove sd-app "),
        "disposables first"
    );
    assert!(
        at("  remove sd-app ") < at("  remove sd-viewer "),
        "then AppVMs, disposable templates last"
    );
    assert!(
        at("  remove sd-viewer ") < at("  remove sd-base-debian-13 "),
        "then templates"
    );

    let s = sim.state();
    let names: Vec<&String> = s["vms"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(!names.iter().any(|n| n.starts_with("sd-")), "{names:?}");
    assert_eq!(s["global"]["default_dispvm"], "default-dvm");
    assert_eq!(prop(&s, "sys-usb", "template"), Some("default-dvm"));
    assert_eq!(vm(&s, "sys-usb")["running"], true);
    assert!(!has_tag(&s, "work", "sd-receive-logs"));
    assert!(!has_tag(&s, "vault", "sd-send-app-clipboard"));
    assert!(!root
        .join("etc/qubes/policy.d/31-securedrop-workstation.policy")
        .exists());
    assert!(!root.join("var/lib/securedrop-workstation").exists());
    assert!(!root
        .join("etc/yum.repos.d/securedrop-workstation-dom0.repo")
        .exists());
    assert!(!root
        .join("etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation")
        .exists());
    assert!(vm(&s, "sys-firewall")["features"]["sdw-admin-configured"].is_null());

    // nothing left to remove
    let again = sdw_admin(&[
        "uninstall",
        "--force",
        "--root",
        root.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ]);
    assert!(again.ok());
    assert!(!again.stdout.contains("remove sd-"));
}

#[test]
fn uninstall_without_force_needs_a_terminal() {
    let sim = Sim::start();
    let socket = sim.socket();
    let run = sdw_admin(&[
        "uninstall",
        "--root",
        "/nonexistent",
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("confirm on a terminal or pass --force"));
}

#[test]
fn staging_writes_the_test_repository_and_no_internal_flag() {
    let sim = Sim::start();
    let config = config_dir("staging");
    apply_clean(&sim, config.path());
    let s = sim.state();
    assert_eq!(feature(&s, "sd-viewer", "internal"), Some(""));
    assert!(sim
        .root()
        .join("var/lib/securedrop-workstation/staging")
        .is_file());
    let recorded = Recorder::read(&sim.recorded()).unwrap_or_default();
    let sources: Vec<&QubeCommand> = recorded
        .iter()
        .filter(|c| c.command.contains("apt-test_freedom_press.sources"))
        .collect();
    assert!(sources.iter().all(|c| c
        .text_input()
        .is_some_and(|i| i.contains("URIs: https://apt-test.freedom.press\n"))));
    assert_eq!(sources.len(), 3);
}

#[test]
fn an_empty_response_is_reported_as_an_access_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let socket = dir.path().join("deny.sock");
    let listener =
        std::os::unix::net::UnixListener::bind(&socket).unwrap_or_else(|e| panic!("{e}"));
    // A qubesd that refuses every call: it closes the connection without a byte.
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            if let Ok((mut stream, _)) = listener.accept() {
                use std::io::Read;
                let mut request = Vec::new();
                let _ = stream.read_to_end(&mut request);
            }
        }
    });
    let config = config_dir("testconfig");
    let run = sdw_admin(&[
        "plan",
        "--config",
        config.path().to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
    ]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("Got empty response from qubesd. See journalctl in dom0 for details."),
        "{}",
        run.stderr
    );
    let _ = std::os::unix::net::UnixStream::connect(&socket);
    let _ = server.join();
}

#[test]
fn plan_without_the_apt_key_says_which_file_is_missing() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let key = config.path().join("apt-signing-key.asc");
    assert!(std::fs::remove_file(&key).is_ok());
    let run = converge("plan", &sim, config.path(), &[]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.starts_with(&format!(
        "sdw-admin: cannot read the apt signing key {}",
        key.display()
    )));
}

#[test]
fn the_simulator_speaks_the_wire_format_over_its_socket() {
    let sim = Sim::start();
    assert_eq!(
        sim.raw(b"admin.label.List+ dom0 name dom0\x00"),
        b"0\x00red\norange\nyellow\ngreen\ngray\nblue\npurple\nblack\n"
    );
    assert_eq!(
        sim.raw(b"admin.vm.property.Get+netvm dom0 name sd-nope\x00"),
        b"2\x00QubesVMNotFoundError\x00\x00No such domain: 'sd-nope'\x00"
    );
    assert_eq!(
        sim.raw(b"admin.vm.Create.AppVM+fedora-43-xfce dom0 name dom0\x00name=sd-app label=yellow"),
        b"0\x00"
    );
    assert_eq!(
        sim.raw(b"admin.vm.property.Get+label dom0 name sd-app\x00"),
        b"0\x00default=False type=label yellow"
    );
    // framing errors and unknown methods: the connection is closed without a byte
    assert_eq!(sim.raw(b"admin.vm.List+ dom0 name dom0"), b"");
    assert_eq!(sim.raw(b"admin.vm.Frobnicate+ dom0 name dom0\x00"), b"");
    let mut too_long = b"admin.vm.feature.Set+x dom0 name sd-app\x00".to_vec();
    too_long.resize(70_000, b'a');
    assert_eq!(sim.raw(&too_long), b"");
    // the state survives a restart of the simulator
    let state = sim.state();
    drop(sim);
    let sim = Sim::start_from(Some(&state));
    assert_eq!(
        sim.raw(b"admin.vm.tag.Get+created-by-dom0 dom0 name sd-app\x00"),
        b"0\x001"
    );
}

#[test]
fn a_never_updated_fedora_template_is_updated_once_from_dom0() {
    let sim = Sim::start();
    assert!(sim
        .admin()
        .remove_feature("fedora-43-xfce", "last-update")
        .is_ok());
    let config = config_dir("testconfig");
    let check = converge("check", &sim, config.path(), &[]);
    assert!(check.stdout.contains(
        "  fedora-43-xfce: feature last-update is not set: the template was never updated\n"
    ));
    apply_clean(&sim, config.path());
    let recorded = Recorder::read(&sim.recorded()).unwrap_or_default();
    assert_eq!(
        recorded
            .first()
            .map(|c| (c.qube.as_str(), c.command.as_str())),
        Some((
            "dom0",
            "qubes-vm-update --quiet --force-update --targets fedora-43-xfce"
        ))
    );
    let again = converge("apply", &sim, config.path(), &[]);
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
}

#[test]
fn topology_prints_the_target_for_review_without_qubesd() {
    let config = config_dir("testconfig");
    let run = sdw_admin(&[
        "topology",
        "--config",
        config.path().to_str().unwrap_or_default(),
        "--json",
    ]);
    assert!(run.ok(), "{}", run.stderr);
    let topology: Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    let qubes = topology["qubes"].as_array().cloned().unwrap_or_default();
    let sd_app = qubes
        .iter()
        .find(|q| q["name"] == "sd-app")
        .cloned()
        .unwrap_or_default();
    assert_eq!(sd_app["class"], "AppVM");
    assert_eq!(sd_app["private_size"], 10 * GIB);
    assert!(sd_app["features"].as_array().is_some_and(|f| f
        .iter()
        .any(|f| f[0] == "vm-config.QUBES_GPG_DOMAIN" && f[1]["set"] == "sd-gpg")));
    let text = sdw_admin(&[
        "topology",
        "--config",
        config.path().to_str().unwrap_or_default(),
    ]);
    assert!(text
        .stdout
        .contains("sd-proxy (DispVM on sd-proxy-dvm, label blue, Workstation)\n"));
    assert!(text
        .stdout
        .contains("dom0: default_template=fedora-43-xfce default_dispvm=sd-viewer\n"));
}

#[test]
fn a_persistent_sys_usb_gets_the_files_itself_and_loses_them_on_uninstall() {
    let sim = Sim::start();
    let admin = sim.admin();
    assert!(admin.shutdown("sys-usb").is_ok());
    assert!(admin.remove("sys-usb").is_ok());
    assert!(admin
        .create("AppVM", Some("fedora-43-xfce"), "sys-usb", "red")
        .is_ok());
    assert!(admin.start("sys-usb").is_ok());
    let config = config_dir("testconfig");
    apply_clean(&sim, config.path());

    let s = sim.state();
    assert!(
        vm(&s, "sd-fedora-43-dvm").is_null(),
        "no disposable template for a persistent sys-usb"
    );
    assert_eq!(vm(&s, "sys-usb")["running"], true, "sys-usb keeps running");
    let recorded = Recorder::read(&sim.recorded()).unwrap_or_default();
    assert!(recorded
        .iter()
        .any(|c| c.qube == "sys-usb" && c.text_input() == Some(UDEV_RULES)));
    assert!(converge("check", &sim, config.path(), &[]).ok());

    let root = sim.root();
    let socket = sim.socket();
    let recorded_path = sim.recorded();
    let run = sdw_admin(&[
        "uninstall",
        "--force",
        "--root",
        root.to_str().unwrap_or_default(),
        "--qubesd-socket",
        socket.to_str().unwrap_or_default(),
        "--record-qube-commands",
        recorded_path.to_str().unwrap_or_default(),
    ]);
    assert!(run.ok(), "{}", run.stderr);
    let after = Recorder::read(&sim.recorded()).unwrap_or_default();
    let removal: Vec<&str> = after[recorded.len()..]
        .iter()
        .map(|c| c.command.as_str())
        .collect();
    assert_eq!(
        removal,
        [
            "rm -f /etc/udev/rules.d/99-sd-devices.rules /rw/config/sd/etc/udev/rules.d/99-sd-devices.rules /usr/local/bin/sd-attach-export-device",
            "sed -i '/^### BEGIN securedrop-workstation ###$/,/^### END securedrop-workstation ###$/d' /rw/config/rc.local",
            "udevadm control --reload",
            "for k in RPM-GPG-KEY-securedrop-workstation RPM-GPG-KEY-securedrop-workstation-test; do rm -f /rw/config/$k /etc/pki/rpm-gpg/$k; done",
            "sed -i '/^### BEGIN securedrop-workstation ###$/,/^### END securedrop-workstation ###$/d' /rw/config/rc.local",
        ]
    );
    assert!(vm(&sim.state(), "sys-usb")["features"]["sdw-admin-configured"].is_null());
    assert!(vm(&sim.state(), "sys-firewall")["features"]["sdw-admin-configured"].is_null());
}

#[test]
fn the_sdw_admin_py_spellings_run_the_same_commands() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let (socket, root, recorded) = (sim.socket(), sim.root(), sim.recorded());
    let s = |p: &std::path::Path| p.to_str().unwrap_or_default().to_owned();
    let (socket, root, recorded, cfg) = (s(&socket), s(&root), s(&recorded), s(config.path()));
    let common = [
        "--config",
        cfg.as_str(),
        "--root",
        root.as_str(),
        "--qubesd-socket",
        socket.as_str(),
        "--record-qube-commands",
        recorded.as_str(),
    ];
    let run = |first: &[&str], rest: &[&str]| sdw_admin(&[first, rest].concat());

    let validate = run(
        &["--validate", cfg.as_str()],
        &["--qubesd-socket", socket.as_str()],
    );
    assert!(validate.ok(), "{}", validate.stderr);
    assert!(validate.stdout.ends_with("Validating...OK\n"));

    let apply = run(&["-v", "--apply"], &common);
    assert!(apply.ok(), "{}", apply.stderr);
    assert!(
        apply.stdout.starts_with("156 changes:\n"),
        "{}",
        apply.stdout
    );
    assert_eq!(vm(&sim.state(), "sd-app")["class"], "AppVM");

    let check = run(&["--check"], &common);
    assert!(check.ok(), "{}", check.stdout);
    assert!(check.stdout.starts_with("OK: "));
    let again = run(&["--apply"], &common);
    assert!(again.stdout.contains("Applied 0 changes."));

    let uninstall = run(
        &["--uninstall", "--force"],
        &[
            "--root",
            root.as_str(),
            "--qubesd-socket",
            socket.as_str(),
            "--record-qube-commands",
            recorded.as_str(),
        ],
    );
    assert!(uninstall.ok(), "{}", uninstall.stderr);
    assert!(vm(&sim.state(), "sd-app").is_null());
    // without --force it asks, as the subcommand does
    let refused = run(&["--uninstall"], &["--qubesd-socket", socket.as_str()]);
    assert!(refused
        .stderr
        .contains("confirm on a terminal or pass --force"));

    let help = sdw_admin(&["--help"]);
    assert!(help.stdout.contains(
        "`sdw-admin --apply`, `--validate`, `--uninstall`, `--check`, `--update` and `--configure`"
    ));
}

#[test]
fn whonix_17_leftovers_are_removed_from_the_gateway_template() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let admin = sim.admin();
    assert!(admin
        .create("TemplateVM", None, "whonix-gateway-17", "black")
        .is_ok());
    assert!(admin
        .set_prop("whonix-gateway-17", "kernelopts", "nopat")
        .is_ok());
    let run = converge("apply", &sim, config.path(), &[]);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let recorded = Recorder::read(&sim.recorded()).unwrap_or_default();
    let gateway: Vec<&str> = recorded
        .iter()
        .filter(|c| c.qube == "whonix-gateway-17")
        .map(|c| c.command.as_str())
        .collect();
    assert_eq!(
        gateway,
        [
            "DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Options::=--force-confold purge --yes securedrop-keyring securedrop-qubesdb-tools securedrop-whonix-config || true",
            "rm -f /etc/apt/sources.list.d/apt_freedom_press.sources",
        ]
    );
    let s = sim.state();
    assert!(
        prop(&s, "whonix-gateway-17", "kernelopts").is_none(),
        "kernelopts reset"
    );
    assert_eq!(
        vm(&s, "whonix-gateway-17")["running"],
        false,
        "the template is stopped to keep the change"
    );
    let check = converge("check", &sim, config.path(), &[]);
    assert!(check.ok(), "{}", check.stdout);
    let again = converge("apply", &sim, config.path(), &[]);
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
}
