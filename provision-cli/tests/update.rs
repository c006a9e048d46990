//! `sdw-admin update` against `qubesd-sim`: dom0 first, then the templates in
//! dependency order, and only the running qubes of a changed template restarted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config_dir, converge, fixture, vm, Sim};
use sdw_provision::inqube::{AptKey, PackageSource, QubeCommand};
use sdw_provision::live::Live;
use sdw_provision::packages::{Expect, Observed};
use sdw_provision::runner::{QubeRunner, Recorder, RunError};
use sdw_provision::update::{self, Progress, DOM0_CHECK, DOM0_UPDATE};
use serde_json::Value;

#[test]
fn update_runs_dom0_first_then_the_templates_in_dependency_order() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    assert!(converge("apply", &sim, config.path(), &[]).ok());
    let before = Recorder::read(&sim.recorded()).unwrap().len();
    let run = converge(
        "update",
        &sim,
        config.path(),
        &[
            "--json",
            "--record-qube-commands",
            sim.recorded().to_str().unwrap(),
        ],
    );
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let commands: Vec<(String, String)> = Recorder::read(&sim.recorded()).unwrap()[before..]
        .iter()
        .map(|c| (c.qube.clone(), c.command.clone()))
        .collect();
    let dom0 = |c: &str| ("dom0".to_owned(), c.to_owned());
    assert_eq!(
        commands,
        [
            dom0(DOM0_CHECK),
            dom0(&update::template_update("fedora-43-xfce")),
            dom0(&update::template_update("sd-inbox-debian-13")),
            dom0(&update::template_update("sd-viewer-debian-13")),
        ]
    );
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["dom0"], "no_updates");
    assert_eq!(report["reboot_required"], false);
    assert_eq!(report["restarted"], Value::Array(vec![]));
    assert_eq!(report["templates"][1]["template"], "sd-inbox-debian-13");
    assert_eq!(report["templates"][1]["changed"], false);
    // progress on stderr, one line per step
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with('['))
            .collect::<Vec<_>>(),
        [
            "[1/5] dom0",
            "[2/5] fedora-43-xfce",
            "[3/5] sd-inbox-debian-13",
            "[4/5] sd-viewer-debian-13",
            "[5/5] restarting qubes on changed templates"
        ]
    );
    // without --json: the summary
    let plain = converge(
        "update",
        &sim,
        config.path(),
        &["--record-qube-commands", sim.recorded().to_str().unwrap()],
    );
    assert!(
        plain
            .stdout
            .starts_with("dom0: no updates\nfedora-43-xfce: no updates\n"),
        "{}",
        plain.stdout
    );
    assert!(plain.stdout.ends_with("No qube needed a restart.\n"));
}

/// Answers like a real dom0 whose updates installed something in sd-inbox-debian-13:
/// dom0 has updates, and `qubes-vm-update` sets the template's `last-update`.
struct UpdatingRunner {
    admin: sdw_provision::admin::Admin,
    ran: Vec<String>,
}

impl QubeRunner for UpdatingRunner {
    fn run(&mut self, command: &QubeCommand) -> Result<(), RunError> {
        self.ran.push(command.command.clone());
        if command.command == DOM0_CHECK {
            return Err(RunError::Failed {
                qube: "dom0".into(),
                command: command.command.clone(),
                status: "exit status: 100".into(),
                stderr: String::new(),
            });
        }
        if command.command == update::template_update("sd-inbox-debian-13") {
            self.admin
                .set_feature("sd-inbox-debian-13", "last-update", "2026-12-01 10:00:00")
                .unwrap();
        }
        Ok(())
    }

    fn probe(&mut self, _qube: &str, _expect: &Expect) -> Result<Observed, RunError> {
        Ok(Observed::NotInstalled)
    }
}

struct Quiet;
impl Progress for Quiet {
    fn step(&mut self, _: usize, _: usize, _: &str) {}
}

#[test]
fn only_the_running_qubes_of_a_changed_template_are_restarted_and_dom0_asks_for_a_reboot() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    assert!(converge("apply", &sim, config.path(), &[]).ok());
    let admin = sim.admin();
    for q in ["sd-proxy", "sd-gpg", "sd-devices"] {
        admin.start(q).unwrap();
    }
    let text = std::fs::read_to_string(config.path().join("config.json")).unwrap();
    let cfg = sdw_provision::config::Dom0Config::parse_str(&text).unwrap();
    let key = AptKey::parse(&std::fs::read_to_string(fixture("test_key.pub")).unwrap()).unwrap();
    let live = Live::read(&admin).unwrap();
    let topology =
        sdw_provision::topology::topology(&cfg, live.layout(), &key, &PackageSource::Repository);
    let mut runner = UpdatingRunner {
        admin: sim.admin(),
        ran: Vec::new(),
    };
    let report = update::update(&topology, &live, &admin, &mut runner, &mut Quiet).unwrap();

    assert_eq!(
        runner.ran[..2],
        [DOM0_CHECK.to_owned(), DOM0_UPDATE.to_owned()]
    );
    assert_eq!(report.dom0, "updated");
    assert!(report.reboot_required);
    let changed: Vec<&str> = report
        .templates
        .iter()
        .filter(|t| t.changed)
        .map(|t| t.template.as_str())
        .collect();
    assert_eq!(changed, ["sd-inbox-debian-13"]);
    // sd-proxy (disposable of sd-proxy-dvm, on sd-inbox) and sd-gpg; not sd-devices (sd-viewer's), not sys-*
    assert_eq!(report.restarted, ["sd-proxy", "sd-gpg"]);
    let s = sim.state();
    for q in [
        "sd-proxy",
        "sd-gpg",
        "sd-devices",
        "sys-net",
        "sys-firewall",
        "sys-usb",
    ] {
        assert_eq!(vm(&s, q)["running"], true, "{q}");
    }
    // a stop leaves a revision of a save_on_stop volume: sd-gpg was stopped, sys-firewall was not
    assert_eq!(
        vm(&s, "sd-gpg")["volumes"]["private"]["revisions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        vm(&s, "sys-firewall")["volumes"]["private"]["revisions"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert!(update::summary(&report).contains("Restarted on their updated template: sd-proxy, sd-gpg\ndom0 was updated: reboot to complete the update.\n"));
}

#[test]
fn the_update_launcher_is_on_the_desktop_marked_trusted_and_goes_with_uninstall() {
    use sha2::{Digest, Sha256};
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let user = ["--gui-user", "alice"];
    let run = converge("apply", &sim, config.path(), &user);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let launcher = sim
        .root()
        .join("home/alice/Desktop/press.freedom.SecureDropUpdater.desktop");
    let content = std::fs::read(&launcher).unwrap();
    assert!(String::from_utf8_lossy(&content).contains("\nExec=sudo sdw-admin update\n"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&launcher).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // trusted the way SDW's test reads it: gio metadata::xfce-exe-checksum = the file's sha256
    let sum: String = Sha256::digest(&content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let recorded = Recorder::read(&sim.recorded()).unwrap();
    assert!(
        recorded.iter().any(|c| c.qube == "dom0"
            && c.command == format!("runuser -u alice -- gio set -t string /home/alice/Desktop/press.freedom.SecureDropUpdater.desktop metadata::xfce-exe-checksum {sum}")),
        "trust not recorded"
    );
    assert!(converge("check", &sim, config.path(), &user).ok());
    let again = converge("apply", &sim, config.path(), &user);
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
    std::fs::write(&launcher, b"tampered").unwrap();
    assert!(
        !converge("check", &sim, config.path(), &user).ok(),
        "a changed launcher is drift"
    );
    assert!(converge("apply", &sim, config.path(), &user).ok());
    let root = sim.root();
    let out = common::sdw_admin(&[
        "uninstall",
        "--force",
        "--gui-user",
        "alice",
        "--root",
        root.to_str().unwrap(),
        "--qubesd-socket",
        sim.socket().to_str().unwrap(),
        "--record-qube-commands",
        sim.recorded().to_str().unwrap(),
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert!(!launcher.exists());
}
