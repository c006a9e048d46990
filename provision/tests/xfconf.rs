//! The GUI user's Xfce settings run for real: each command `sdw-admin apply` and
//! `uninstall` record for dom0 is run with `/bin/sh`, `runuser` and the real
//! `xfconf-query` against a real `xfconfd` in a private D-Bus session
//! (`dbus-run-session`, settings kept in a temporary XDG_CONFIG_HOME), only the
//! session bus path swapped for the private one; then the settings are read
//! back as Xfce reads them. Needs `xfconf` and `dbus-daemon`
//! (`.ci/packages/provision.txt`); `runuser` needs root (CI runs as root).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sdw_provision::config::Environment;
use sdw_provision::desktop::{uninstall_steps, Desktop};
use sdw_provision::inqube::{QubeCommand, CONFIGURED_FEATURE};
use sdw_provision::live::Live;
use sdw_provision::plan::Step;

/// Runs `script` in a private session bus; returns (success, stdout, stderr).
fn in_session(config_home: &std::path::Path, script: &str) -> (bool, String, String) {
    let out = Command::new("dbus-run-session")
        .args(["--", "/bin/sh", "-c", script])
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .expect("dbus-run-session (package dbus-daemon) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The recorded command with the user's session bus replaced by the private session's.
fn with_private_bus(command: &QubeCommand, user: &str) -> String {
    let real = format!("bus=/run/user/$(id -u {user})/bus;");
    assert!(command.command.starts_with(&real), "{}", command.command);
    command.command.replacen(
        &real,
        "bus=${DBUS_SESSION_BUS_ADDRESS#unix:path=}; bus=${bus%%,*};",
        1,
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Reads the four settings back; an unset one prints its error on stderr.
const READ_BACK: &str = "xfconf-query -c xfce4-desktop -p /desktop-icons/icon-size || true; \
     xfconf-query -c xfce4-panel -p /plugins/plugin-2/items || true; \
     xfconf-query -c xfce4-session -p /shutdown/ShowSuspend || true; \
     xfconf-query -c xfce4-session -p /shutdown/ShowHibernate || true";

#[test]
fn the_recorded_xfconf_commands_set_and_reset_the_settings_in_a_real_session() {
    assert!(
        is_root(),
        "runs the commands through runuser, as sdw-admin does: run as root (CI does)"
    );
    let home = tempfile::tempdir().unwrap();
    let desktop = Desktop::new("root", Environment::Prod).unwrap();
    // only the Xfce settings (chown and systemctl --global are for the files apply writes)
    let apply: Vec<String> = desktop
        .apply_commands()
        .iter()
        .filter(|c| c.command.contains("xfconf-query"))
        .map(|c| with_private_bus(c, "root"))
        .collect();
    assert_eq!(apply.len(), 4);
    let mut live = Live::default();
    live.dom0_features
        .insert(CONFIGURED_FEATURE.into(), desktop.digest());
    let steps = uninstall_steps("root", true, false, &live);
    let Some(Step::Configure { commands, .. }) = steps.first() else {
        panic!("{steps:?}")
    };
    let reset: Vec<String> = commands
        .iter()
        .map(|c| with_private_bus(c, "root"))
        .collect();
    assert_eq!(reset.len(), 4);
    // one session (xfconfd saves lazily): apply, read back, uninstall, read back
    let (ok, out, err) = in_session(
        home.path(),
        &format!(
            "set -e; {}; {READ_BACK}; echo ---; {}; {READ_BACK}",
            apply.join("; "),
            reset.join("; ")
        ),
    );
    assert!(ok, "{err}");
    let (applied, reset) = out.split_once("---\n").unwrap();
    assert_eq!(
        applied,
        "64\n\
         Value is an array with 4 items:\n\n+lock-screen\n+separator\n+restart\n+shutdown\n\
         false\n\
         false\n"
    );
    // the icon size and both buttons are back to Xfce's defaults (unset), the menu to Qubes'
    assert_eq!(
        reset,
        "Value is an array with 11 items:\n\n+lock-screen\n+switch-user\n+separator\n+suspend\n-hibernate\n-separator\n+shutdown\n-restart\n+separator\n+logout\n-logout-dialog\n"
    );
    assert!(
        err.contains(
            "Property \"/desktop-icons/icon-size\" does not exist on channel \"xfce4-desktop\""
        ),
        "{err}"
    );
}

#[test]
fn without_a_desktop_session_the_command_fails_with_a_clear_message() {
    let desktop = Desktop::new("sdw-no-such-user", Environment::Dev).unwrap();
    let commands = desktop.apply_commands();
    let command = commands
        .iter()
        .find(|c| c.command.contains("xfconf-query"))
        .unwrap();
    let out = Command::new("/bin/sh")
        .args(["-c", &command.command])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sdw-no-such-user has no running desktop session (/run/user//bus): log in to the desktop and run sdw-admin again"),
        "{stderr}"
    );
}
