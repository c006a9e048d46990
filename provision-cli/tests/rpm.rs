//! The proof that the product installs as shipped: the built `sdw-admin` RPM is
//! installed into a scratch root, and THAT `sdw-admin apply --packages
//! target/packages` runs against `qubesd-sim`: the recorded in-qube commands
//! install our packages (sdw-devices into the template of sd-devices /
//! sd-printers, sdw-client into sd-app's), never `securedrop-export`, and a
//! second apply records nothing new.
//!
//! The packages come from `bash scripts/package` (`target/packages/`, or
//! `SDW_PACKAGES_DIR`). When they are missing the test fails under CI (CI builds
//! them first); elsewhere it runs `bash scripts/package` itself, and fails with
//! the reason if that is not possible. It never passes without the RPM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{config_dir, Run, Sim};
use sdw_provision::inqube::{Input, QubeCommand};
use sdw_provision::packages;
use sdw_provision::runner::Recorder;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn packages_dir() -> PathBuf {
    std::env::var_os("SDW_PACKAGES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/packages"))
}

/// `sdw-admin-<this crate's version>-*.rpm`, if built.
fn find_rpm(dir: &Path) -> Option<PathBuf> {
    let prefix = format!("sdw-admin-{}-", env!("CARGO_PKG_VERSION"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".rpm"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The RPM and the folder of .debs, built if needed (see the module doc).
fn built_packages() -> (PathBuf, PathBuf) {
    let dir = packages_dir();
    let present = |dir: &Path| find_rpm(dir).filter(|_| packages::find(dir).is_ok());
    if let Some(rpm) = present(&dir) {
        return (rpm, dir);
    }
    let what = format!(
        "{} must hold sdw-admin-{}-*.rpm, sdw-devices_*_amd64.deb and sdw-client_*_amd64.deb",
        dir.display(),
        env!("CARGO_PKG_VERSION")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{what}: CI must run `bash scripts/package` before the tests");
    }
    let script = workspace_root().join("scripts/package");
    assert!(
        script.is_file(),
        "{what}, and there is no {} to build them: run the packaging first",
        script.display()
    );
    eprintln!("rpm test: building the packages with `bash scripts/package` ({what})");
    let status = Command::new("bash")
        .arg(&script)
        .current_dir(workspace_root())
        .status()
        .unwrap();
    assert!(status.success(), "`bash scripts/package` failed ({status})");
    match present(&dir) {
        Some(rpm) => (rpm, dir),
        None => panic!("`bash scripts/package` ran but {what}"),
    }
}

/// Installs the RPM under `root` the way it is meant to be installed: `rpm --root`
/// (as root; scriptlets left out, dom0's dependencies are not here), or unpacked
/// with rpm2cpio and cpio for a non-root user.
fn install_rpm(rpm: &Path, root: &Path) {
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let output = if as_root {
        Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args(["-i", "--nodeps", "--noscripts"])
            .arg(rpm)
            .output()
            .unwrap()
    } else {
        Command::new("sh")
            .arg("-c")
            .arg(r#"rpm2cpio "$1" | cpio -idm --no-absolute-filenames --quiet -D "$2""#)
            .args(["sh"])
            .arg(rpm)
            .arg(root)
            .output()
            .unwrap()
    };
    assert!(
        output.status.success(),
        "installing {} failed: {}",
        rpm.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn installed_admin(admin: &Path, args: &[&str]) -> Run {
    Command::new(admin)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
        .into()
}

fn staged_file<'a>(cmds: &'a [QubeCommand], qube: &str, name: &str) -> Vec<&'a Input> {
    cmds.iter()
        .filter(|c| {
            c.qube == qube
                && c.command
                    .contains(&format!("/dev/stdin /var/cache/sdw-admin/{name}_"))
        })
        .filter_map(|c| c.input.as_ref())
        .collect()
}

#[test]
fn the_installed_rpm_provisions_our_packages_and_never_securedrop_export() {
    let (rpm, dir) = built_packages();
    let scratch = tempfile::tempdir().unwrap();
    install_rpm(&rpm, scratch.path());
    let admin = scratch.path().join("usr/bin/sdw-admin");
    assert!(admin.is_file(), "the RPM installed no /usr/bin/sdw-admin");

    let sim = Sim::start();
    let config = config_dir("testconfig");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (socket, root, recorded) = (s(&sim.socket()), s(&sim.root()), s(&sim.recorded()));
    let (cfg, pkgs) = (s(config.path()), s(&dir));
    let args = |command: &'static str| {
        vec![
            command.to_owned(),
            "--config".into(),
            cfg.clone(),
            "--root".into(),
            root.clone(),
            "--qubesd-socket".into(),
            socket.clone(),
            "--record-qube-commands".into(),
            recorded.clone(),
            "--packages".into(),
            pkgs.clone(),
        ]
    };
    let run = |command: &'static str| {
        let a = args(command);
        installed_admin(&admin, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let apply = run("apply");
    assert!(apply.ok(), "{}\n{}", apply.stdout, apply.stderr);
    let cmds = Recorder::read(&sim.recorded()).unwrap();
    let expected = packages::find(&dir).unwrap();
    for (qube, package) in [
        ("sd-viewer-debian-13", &expected.devices),
        ("sd-inbox-debian-13", &expected.client),
    ] {
        let sent = staged_file(&cmds, qube, &package.name);
        assert_eq!(sent.len(), 1, "{} into {qube}: {sent:?}", package.name);
        match sent[0] {
            Input::File(f) => {
                assert_eq!(f.path, package.path);
                assert_eq!(
                    f.sha256,
                    packages::sha256_file(&package.path).unwrap().0,
                    "the bytes of {}",
                    package.path.display()
                );
            }
            other => panic!("{other:?}"),
        }
        let staged = package.staged_path();
        assert!(
            cmds.iter().any(|c| c.qube == qube
                && c.command.contains("apt-get ")
                && c.command.contains(" install -y ")
                && c.command.ends_with(&format!(" {staged}"))),
            "no apt install of {staged} in {qube}"
        );
    }
    // only there
    for c in &cmds {
        if c.command.contains("/var/cache/sdw-admin/sdw-devices_") {
            assert_eq!(c.qube, "sd-viewer-debian-13", "{}", c.command);
        }
        if c.command.contains("/var/cache/sdw-admin/sdw-client_") {
            assert_eq!(c.qube, "sd-inbox-debian-13", "{}", c.command);
        }
        assert!(
            !c.command.contains("securedrop-export"),
            "{}: {}",
            c.qube,
            c.command
        );
    }
    assert!(cmds
        .iter()
        .any(|c| c.qube == "sd-viewer-debian-13" && c.command == "usermod -a -G lpadmin user"));

    let state = sim.state();
    let again = run("apply");
    assert!(again.ok(), "{}", again.stderr);
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
    assert_eq!(
        Recorder::read(&sim.recorded()).unwrap(),
        cmds,
        "a second apply records nothing new"
    );
    assert_eq!(sim.state(), state);
    let check = run("check");
    assert!(check.ok(), "{}", check.stdout);
}
