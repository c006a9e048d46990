//! `apply --packages DIR` against `qubesd-sim`: our packages go into the right
//! templates (piped in, installed with apt), never `securedrop-export`; a
//! second apply changes nothing; check reports a template that lacks them, holds
//! an older version, or whose `user` cannot set up print queues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{config_dir, converge, Sim};
use sdw_provision::inqube::{Effect, Input, QubeCommand};
use sdw_provision::packages::sha256_file;
use sdw_provision::runner::{QubeRunner, Recorder};

const DEVICES_TEMPLATE: &str = "sd-viewer-debian-13";
const CLIENT_TEMPLATE: &str = "sd-inbox-debian-13";

/// A folder with stand-ins for the built packages (their bytes only travel, the
/// recorder installs nothing).
fn packages(versions: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, version) in versions {
        let file = dir.path().join(format!("{name}_{version}_amd64.deb"));
        std::fs::write(
            &file,
            format!("!<arch>\n{name} {version}\0\u{1}\u{2}").as_bytes(),
        )
        .unwrap();
    }
    dir
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sdw-admin COMMAND` with `--packages DIR`.
fn with_packages(command: &str, sim: &Sim, config: &Path, dir: &Path) -> common::Run {
    converge(command, sim, config, &["--packages", arg(dir)])
}

fn recorded(sim: &Sim) -> Vec<QubeCommand> {
    Recorder::read(&sim.recorded()).unwrap()
}

/// The commands that stage a package file, with the file they send.
fn staged<'a>(cmds: &'a [QubeCommand], qube: &str) -> Vec<(&'a str, &'a Input)> {
    cmds.iter()
        .filter(|c| c.qube == qube && c.command.contains("/dev/stdin /var/cache/sdw-admin/"))
        .filter_map(|c| c.input.as_ref().map(|i| (c.command.as_str(), i)))
        .collect()
}

#[test]
fn apply_installs_our_packages_from_a_folder_and_a_second_apply_changes_nothing() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let dir = packages(&[
        ("sdw-devices", "0.1.0"),
        ("sdw-devices", "0.2.0"),
        ("sdw-client", "0.2.0"),
    ]);
    let run = with_packages("apply", &sim, config.path(), dir.path());
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let devices_deb = dir.path().join("sdw-devices_0.2.0_amd64.deb");
    let (sha, size) = sha256_file(&devices_deb).unwrap();
    assert!(
        run.stderr.contains(&format!(
            "sdw-admin: sdw-devices 0.2.0 from {} (sha256 {sha})\n",
            devices_deb.display()
        )),
        "{}",
        run.stderr
    );

    let cmds = recorded(&sim);
    assert!(!cmds.iter().any(|c| c.command.contains("securedrop-export")));
    // sdw-devices, the newest one, into the template of sd-devices / sd-printers
    let devices = staged(&cmds, DEVICES_TEMPLATE);
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(
        devices[0].0,
        "install -D -m 0644 -o root -g root /dev/stdin /var/cache/sdw-admin/sdw-devices_0.2.0_amd64.deb"
    );
    match devices[0].1 {
        Input::File(f) => {
            assert_eq!(
                (f.path.as_path(), f.sha256.as_str(), f.size),
                (devices_deb.as_path(), sha.as_str(), size)
            );
        }
        other => panic!("{other:?}"),
    }
    let apt = cmds
        .iter()
        .find(|c| c.qube == DEVICES_TEMPLATE && c.command.contains(" install -y "))
        .unwrap();
    assert!(apt
        .command
        .starts_with("DEBIAN_FRONTEND=noninteractive apt-get "));
    assert!(apt
        .command
        .ends_with(" securedrop-workstation-viewer udisks2 gnome-disk-utility /var/cache/sdw-admin/sdw-devices_0.2.0_amd64.deb"));
    assert!(cmds
        .iter()
        .any(|c| c.qube == DEVICES_TEMPLATE && c.command == "usermod -a -G lpadmin user"));
    // sdw-client into sd-app's template, and only there
    let client = staged(&cmds, CLIENT_TEMPLATE);
    assert_eq!(client.len(), 1);
    assert!(client[0]
        .0
        .ends_with("/var/cache/sdw-admin/sdw-client_0.2.0_amd64.deb"));
    for q in ["sd-base-debian-13", "sd-fedora-43-dvm"] {
        assert!(staged(&cmds, q).is_empty(), "{q}");
    }
    assert!(!cmds
        .iter()
        .any(|c| c.qube == CLIENT_TEMPLATE && c.command.contains("lpadmin")));

    // converged: plan, check (with the same folder), and a second apply
    let plan = with_packages("plan", &sim, config.path(), dir.path());
    assert_eq!(
        plan.stdout,
        "No changes: the system matches the SecureDrop Workstation topology.\n"
    );
    let check = with_packages("check", &sim, config.path(), dir.path());
    assert!(check.ok(), "{}", check.stdout);
    let state = sim.state();
    let again = with_packages("apply", &sim, config.path(), dir.path());
    assert!(again.ok());
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
    assert_eq!(recorded(&sim).len(), cmds.len(), "no new in-qube command");
    assert_eq!(sim.state(), state);

    // check without the folder sees the applied configuration differ from the repository one
    let check = converge("check", &sim, config.path(), &[]);
    assert_eq!(check.code, Some(1));
    for q in [DEVICES_TEMPLATE, CLIENT_TEMPLATE] {
        assert!(check.stdout.contains(&format!(
            "  {q}: template packages not applied (feature sdw-admin-configured differs)\n"
        )));
    }
}

#[test]
fn a_newer_package_reinstalls_only_in_its_template() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let old = packages(&[("sdw-devices", "0.2.0"), ("sdw-client", "0.2.0")]);
    assert!(with_packages("apply", &sim, config.path(), old.path()).ok());
    let before = recorded(&sim).len();
    let new = packages(&[("sdw-devices", "0.2.0"), ("sdw-client", "0.3.0~rc1")]);
    let check = with_packages("check", &sim, config.path(), new.path());
    assert_eq!(check.code, Some(1));
    assert!(check.stdout.contains(&format!(
        "  {CLIENT_TEMPLATE}: template packages not applied"
    )));
    assert!(!check.stdout.contains(DEVICES_TEMPLATE), "{}", check.stdout);
    let run = with_packages("apply", &sim, config.path(), new.path());
    assert!(run.ok(), "{}", run.stderr);
    let cmds = recorded(&sim);
    let added: Vec<&str> = cmds[before..].iter().map(|c| c.qube.as_str()).collect();
    assert!(
        !added.is_empty() && added.iter().all(|q| *q == CLIENT_TEMPLATE),
        "{added:?}"
    );
    assert!(staged(&cmds[before..], CLIENT_TEMPLATE)[0]
        .0
        .ends_with("sdw-client_0.3.0~rc1_amd64.deb"));
    assert!(with_packages("check", &sim, config.path(), new.path()).ok());
}

#[test]
fn check_reports_an_older_or_missing_package_and_apply_puts_it_back() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let dir = packages(&[("sdw-devices", "0.2.0"), ("sdw-client", "0.2.0")]);
    assert!(with_packages("apply", &sim, config.path(), dir.path()).ok());

    // someone installs an older sdw-devices in the template by hand
    let mut recorder = Recorder::new(&sim.recorded());
    recorder
        .run(&QubeCommand {
            qube: DEVICES_TEMPLATE.into(),
            user: "root".into(),
            command: "apt-get install -y --allow-downgrades ./sdw-devices_0.1.0_amd64.deb".into(),
            input: None,
            effects: vec![Effect::Installs {
                package: "sdw-devices".into(),
                version: Some("0.1.0".into()),
            }],
        })
        .unwrap();
    let check = with_packages("check", &sim, config.path(), dir.path());
    assert_eq!(check.code, Some(1));
    assert!(
        check.stdout.contains(&format!(
            "  {DEVICES_TEMPLATE}: sdw-devices 0.1.0 is older than 0.2.0\n"
        )),
        "{}",
        check.stdout
    );
    let plan = with_packages("plan", &sim, config.path(), dir.path());
    assert!(plan.stdout.contains(&format!(
        "commands in {DEVICES_TEMPLATE} (template packages: sdw-devices 0.1.0 is older than 0.2.0)\n"
    )), "{}", plan.stdout);
    let before = recorded(&sim).len();
    assert!(with_packages("apply", &sim, config.path(), dir.path()).ok());
    assert_eq!(staged(&recorded(&sim)[before..], DEVICES_TEMPLATE).len(), 1);
    assert!(with_packages("check", &sim, config.path(), dir.path()).ok());

    // a template whose record lost the install and the lpadmin membership (as if they never ran)
    let kept: Vec<String> = std::fs::read_to_string(sim.recorded())
        .unwrap()
        .lines()
        .filter(|l| !(l.contains(DEVICES_TEMPLATE) && l.contains("\"effects\"")))
        .map(str::to_owned)
        .collect();
    std::fs::write(sim.recorded(), kept.join("\n") + "\n").unwrap();
    let check = with_packages("check", &sim, config.path(), dir.path());
    for expected in [
        format!("  {DEVICES_TEMPLATE}: sdw-devices is not installed\n"),
        format!("  {DEVICES_TEMPLATE}: user is not in group lpadmin\n"),
    ] {
        assert!(
            check.stdout.contains(&expected),
            "{expected:?} not in\n{}",
            check.stdout
        );
    }
}

#[test]
fn a_folder_without_our_packages_is_refused_before_anything_changes() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let dir = packages(&[("sdw-client", "0.2.0"), ("securedrop-export", "0.9.0")]);
    let state = sim.state();
    let run = with_packages("apply", &sim, config.path(), dir.path());
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr,
        format!("sdw-admin: no sdw-devices package in {}: expected a file named sdw-devices_VERSION_amd64.deb (`bash scripts/package` writes them to target/packages/)\n", dir.path().display())
    );
    assert_eq!(sim.state(), state);
    assert!(recorded(&sim).is_empty());
    assert!(!sim.root().exists(), "no dom0 file written");
}

#[test]
fn apply_installs_the_export_policy_and_removes_the_hand_installed_one() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let old = sim
        .root()
        .join("etc/qubes/policy.d/50-securedrop-export.policy");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, "securedrop.Export * sd-app sd-devices allow\n").unwrap();
    let run = converge("apply", &sim, config.path(), &[]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(run
        .stdout
        .contains("  remove /etc/qubes/policy.d/50-securedrop-export.policy\n"));
    assert!(!old.exists());
    let allow = std::fs::read_to_string(
        sim.root()
            .join("etc/qubes/policy.d/31-securedrop-workstation.policy"),
    )
    .unwrap();
    assert!(allow.contains("securedrop.Export        *  sd-app                     sd-printers                    allow\n"));
    assert!(converge("check", &sim, config.path(), &[]).ok());

    // check evaluates the installed files: a 32 file without the deny lets others in
    let deny = sim
        .root()
        .join("etc/qubes/policy.d/32-securedrop-workstation.policy");
    let text = std::fs::read_to_string(&deny).unwrap();
    std::fs::write(
        &deny,
        text.replace(
            "securedrop.Export        *  @anyvm               @anyvm               deny\n",
            "securedrop.Export        *  @anyvm               @anyvm               allow\n",
        ),
    )
    .unwrap();
    let check = converge("check", &sim, config.path(), &[]);
    assert_eq!(check.code, Some(1));
    assert!(check
        .stdout
        .contains("  policy: sd-viewer must not be allowed securedrop.Export to sd-devices\n"));
    assert!(check
        .stdout
        .contains("  policy: sd-devices must not be allowed securedrop.Export to sd-printers\n"));
}
