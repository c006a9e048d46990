//! The GUI user's desktop (`--gui-user`): the update launcher and login
//! autostart written, the Xfce settings run in dom0 as that user in their
//! session (checked in the simulator's record of dom0 commands), recorded on
//! dom0 so check sees them and a second apply does not repeat them, and reset
//! by uninstall.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{config_dir, converge, sdw_admin, vm, Sim};
use sdw_provision::runner::Recorder;

const SESSION: &str =
    "runuser -u alice -- env DBUS_SESSION_BUS_ADDRESS=unix:path=$bus xfconf-query ";

/// The xfconf-query arguments of the dom0 commands recorded from `from` on, as alice in her session.
fn xfconf(sim: &Sim, from: usize) -> Vec<String> {
    Recorder::read(&sim.recorded())
        .unwrap()
        .into_iter()
        .skip(from)
        .filter(|c| c.qube == "dom0")
        .filter_map(|c| {
            let (guard, args) = c.command.split_once(SESSION)?;
            assert!(guard.contains("if [ ! -S \"$bus\" ]"), "{guard}");
            Some(args.to_owned())
        })
        .collect()
}

fn uninstall(sim: &Sim, user: &str) -> common::Run {
    let root = sim.root();
    sdw_admin(&[
        "uninstall",
        "--force",
        "--gui-user",
        user,
        "--root",
        root.to_str().unwrap(),
        "--qubesd-socket",
        sim.socket().to_str().unwrap(),
        "--record-qube-commands",
        sim.recorded().to_str().unwrap(),
    ])
}

#[test]
fn apply_sets_up_the_gui_user_s_desktop_check_sees_it_and_uninstall_resets_it() {
    let sim = Sim::start();
    let config = config_dir("testconfig"); // prod
    let user = ["--gui-user", "alice"];
    let run = converge("apply", &sim, config.path(), &user);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("alice's desktop: Xfce settings"),
        "{}",
        run.stdout
    );

    let autostart = sim
        .root()
        .join("home/alice/.config/autostart/press.freedom.SecureDropUpdater.desktop");
    let text = std::fs::read_to_string(&autostart).unwrap();
    assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
    assert!(text.contains("\nName=SDWLogin\n"));
    assert!(
        text.contains("--command=\"sudo sdw-admin update --unless-updated-within 8\""),
        "{text}"
    );
    assert!(text.contains("\nOnlyShowIn=XFCE;\n"));
    assert_eq!(
        std::fs::metadata(&autostart).unwrap().permissions().mode() & 0o777,
        0o664
    );
    let recorded = Recorder::read(&sim.recorded()).unwrap();
    assert!(recorded.iter().any(|c| c.qube == "dom0"
        && c.command
            == "chown alice: /home/alice/.config/autostart /home/alice/.config/autostart/press.freedom.SecureDropUpdater.desktop /home/alice/Desktop/press.freedom.SecureDropUpdater.desktop"));
    assert_eq!(
        xfconf(&sim, 0),
        [
            "-c xfce4-desktop -n -p /desktop-icons/icon-size -t int -s 64",
            "-c xfce4-panel -p /plugins/plugin-2/items -n -t string -s +lock-screen -t string -s +separator -t string -s +restart -t string -s +shutdown",
            "-c xfce4-session -n -p /shutdown/ShowSuspend -t bool -s false",
            "-c xfce4-session -n -p /shutdown/ShowHibernate -t bool -s false",
        ]
    );
    // the update reminder: user units for every user, enabled globally
    let units = sim.root().join("etc/systemd/user");
    let timer = std::fs::read_to_string(units.join("sdw-notify.timer")).unwrap();
    assert!(timer.contains("\nOnUnitActiveSec=2h\n"), "{timer}");
    let service = std::fs::read_to_string(units.join("sdw-notify.service")).unwrap();
    assert!(
        service.contains("\nExecStart=/usr/bin/sdw-admin notify\n"),
        "{service}"
    );
    assert!(recorded
        .iter()
        .any(|c| c.qube == "dom0" && c.command == "systemctl --global enable sdw-notify.timer"));
    let digest = vm(&sim.state(), "dom0")["features"]["sdw-admin-configured"].clone();
    assert!(
        digest.as_str().is_some_and(|d| d.starts_with("sha256:")),
        "{digest}"
    );

    // converged: check is clean, a second apply runs nothing
    let check = converge("check", &sim, config.path(), &user);
    assert!(check.ok(), "{}", check.stdout);
    let count = Recorder::read(&sim.recorded()).unwrap().len();
    let again = converge("apply", &sim, config.path(), &user);
    assert!(
        again.stdout.contains("Applied 0 changes."),
        "{}",
        again.stdout
    );
    assert_eq!(Recorder::read(&sim.recorded()).unwrap().len(), count);

    // dom0 without the record: check says so, apply runs the settings again
    sim.admin()
        .remove_feature("dom0", "sdw-admin-configured")
        .unwrap();
    let drift = converge("check", &sim, config.path(), &user);
    assert!(!drift.ok());
    assert!(
        drift
            .stdout
            .contains("alice's Xfce settings (icon size, power-management menu) are not applied"),
        "{}",
        drift.stdout
    );
    assert!(converge("apply", &sim, config.path(), &user).ok());
    assert_eq!(xfconf(&sim, count).len(), 4);
    assert!(converge("check", &sim, config.path(), &user).ok());

    // uninstall resets the settings to Qubes' defaults and removes both files and the record
    let count = Recorder::read(&sim.recorded()).unwrap().len();
    let out = uninstall(&sim, "alice");
    assert!(out.ok(), "{}\n{}", out.stdout, out.stderr);
    // the timer is disabled first, while its unit file is still there
    let after = Recorder::read(&sim.recorded()).unwrap();
    assert_eq!(
        after.get(count).map(|c| c.command.as_str()),
        Some("systemctl --global disable sdw-notify.timer")
    );
    assert!(!units.join("sdw-notify.timer").exists());
    assert!(!units.join("sdw-notify.service").exists());
    assert_eq!(
        xfconf(&sim, count),
        [
            "-c xfce4-desktop -p /desktop-icons/icon-size -r",
            "-c xfce4-panel -p /plugins/plugin-2/items -n -t string -s +lock-screen -t string -s +switch-user -t string -s +separator -t string -s +suspend -t string -s -hibernate -t string -s -separator -t string -s +shutdown -t string -s -restart -t string -s +separator -t string -s +logout -t string -s -logout-dialog",
            "-c xfce4-session -p /shutdown/ShowSuspend -r",
            "-c xfce4-session -p /shutdown/ShowHibernate -r",
        ]
    );
    assert!(!autostart.exists());
    assert!(!sim
        .root()
        .join("home/alice/Desktop/press.freedom.SecureDropUpdater.desktop")
        .exists());
    assert!(vm(&sim.state(), "dom0")["features"]
        .get("sdw-admin-configured")
        .is_none());
}

#[test]
fn in_dev_the_power_menu_is_left_alone_and_a_bad_user_name_is_refused() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let path = config.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"prod\"", "\"dev\"")).unwrap();
    let run = converge("apply", &sim, config.path(), &["--gui-user", "alice"]);
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        xfconf(&sim, 0),
        ["-c xfce4-desktop -n -p /desktop-icons/icon-size -t int -s 64"]
    );
    let count = Recorder::read(&sim.recorded()).unwrap().len();
    assert!(uninstall(&sim, "alice").ok());
    assert_eq!(
        xfconf(&sim, count),
        ["-c xfce4-desktop -p /desktop-icons/icon-size -r"]
    );

    // a user name that is not one never reaches a path or a command
    let before = sim.state();
    for bad in ["../root", "alice; reboot"] {
        let run = converge("apply", &sim, config.path(), &["--gui-user", bad]);
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("is not a user name"), "{}", run.stderr);
        assert!(!uninstall(&sim, bad).ok());
    }
    assert_eq!(sim.state(), before);
}

/// A stand-in `notify-send` on PATH that records its arguments, one per line.
fn stand_in_notify_send(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("notify-send");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n",
            dir.join("shown").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn notify(sim: &Sim, path: &std::path::Path) -> common::Run {
    std::process::Command::new(common::ADMIN)
        .args(["notify", "--qubesd-socket", sim.socket().to_str().unwrap()])
        .env("PATH", path)
        .output()
        .unwrap()
        .into()
}

fn uptime_secs() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    sdw_provision::notify::parse_uptime(&text).unwrap()
}

#[test]
fn update_records_its_time_and_notify_reminds_only_when_it_is_five_days_old() {
    let sim = Sim::start();
    let config = config_dir("testconfig");
    let work = tempfile::tempdir().unwrap();
    let bin = stand_in_notify_send(work.path());
    let shown = work.path().join("shown");

    // never updated: a reminder (once the machine has been up for half an hour)
    let run = notify(&sim, &bin);
    if uptime_secs() > 1_800 {
        assert!(run.ok(), "{}", run.stderr);
        assert!(run
            .stdout
            .starts_with("SecureDrop Workstation has never been updated."));
        let args = std::fs::read_to_string(&shown).unwrap();
        assert!(args.starts_with("--app-name=SecureDrop Workstation\n--urgency=critical\n--icon=securedrop\nSecureDrop Workstation needs an update\nSecureDrop Workstation has never been updated."), "{args}");
        std::fs::remove_file(&shown).unwrap();
    }

    // a successful update records its time on dom0 (UTC, upstream's format)
    assert!(converge("apply", &sim, config.path(), &[]).ok());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let recorded = sim.recorded();
    let run = converge(
        "update",
        &sim,
        config.path(),
        &["--record-qube-commands", recorded.to_str().unwrap()],
    );
    assert!(run.ok(), "{}\n{}", run.stdout, run.stderr);
    let last = vm(&sim.state(), "dom0")["features"]["sdw-last-update"]
        .as_str()
        .map(str::to_owned)
        .unwrap();
    let when = sdw_provision::notify::parse_utc(&last).unwrap();
    assert!(when >= before && when <= before + 60, "{last}");
    let run = notify(&sim, &bin);
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "SecureDrop Workstation was updated 0 hours ago: no reminder.\n"
    );
    assert!(!shown.exists());
    // the login autostart's update: nothing to do within 8 hours
    let count = Recorder::read(&recorded).unwrap().len();
    let run = converge(
        "update",
        &sim,
        config.path(),
        &[
            "--unless-updated-within",
            "8",
            "--record-qube-commands",
            recorded.to_str().unwrap(),
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "SecureDrop Workstation was updated 0 hours ago (less than 8): nothing to do.\n"
    );
    assert_eq!(Recorder::read(&recorded).unwrap().len(), count);

    // six days later
    let old = sdw_provision::notify::format_utc(before - 6 * 86_400);
    sim.admin()
        .set_feature("dom0", "sdw-last-update", &old)
        .unwrap();
    let run = notify(&sim, &bin);
    assert!(run.ok(), "{}", run.stderr);
    if uptime_secs() > 1_800 {
        assert!(
            run.stdout.starts_with(&format!(
                "SecureDrop Workstation was last updated 6 days ago ({old} UTC)."
            )),
            "{}",
            run.stdout
        );
        assert!(std::fs::read_to_string(&shown)
            .unwrap()
            .contains("6 days ago"));
        // without notify-send the reminder fails visibly (the timer's unit shows it)
        let run = notify(&sim, work.path());
        assert_eq!(run.code, Some(1));
        assert!(
            run.stderr
                .contains("cannot show the reminder with notify-send"),
            "{}",
            run.stderr
        );
    } else {
        assert!(run.stdout.contains("no reminder yet"), "{}", run.stdout);
    }
    // and the login autostart's update runs again
    let run = converge(
        "update",
        &sim,
        config.path(),
        &[
            "--unless-updated-within",
            "8",
            "--record-qube-commands",
            recorded.to_str().unwrap(),
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert!(Recorder::read(&recorded).unwrap().len() > count);

    // uninstall takes the record away
    let root = sim.root();
    let out = sdw_admin(&[
        "uninstall",
        "--force",
        "--root",
        root.to_str().unwrap(),
        "--qubesd-socket",
        sim.socket().to_str().unwrap(),
        "--record-qube-commands",
        recorded.to_str().unwrap(),
    ]);
    assert!(out.ok(), "{}", out.stderr);
    assert!(vm(&sim.state(), "dom0")["features"]
        .get("sdw-last-update")
        .is_none());
}
