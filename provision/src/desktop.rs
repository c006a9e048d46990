//! dom0's desktop side for the GUI user (`--gui-user USER`): the update
//! launcher, the login autostart entry and the Xfce settings SecureDrop
//! Workstation sets, and the user timer of the update reminder
//! ([`crate::notify`]).
//!
//! Owns the user name check, the autostart file, and the settings as
//! `xfconf-query` commands run in dom0 **as that user, in their D-Bus session**
//! (`runuser -u USER -- env DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/UID/bus
//! xfconf-query …`, what upstream's `update-xfce-settings` does from the user's
//! systemd units): desktop icons 64 px (`adjust-icon-size`); outside `dev`, the
//! Actions menu trimmed to lock/restart/shut down and suspend/hibernate hidden
//! (`disable-unsafe-power-management`). Applied settings are recorded as dom0's
//! feature [`CONFIGURED_FEATURE`] (their digest), so apply runs them again only
//! when they change and check reports them missing; uninstall resets them
//! (`reset-icon-size`, `reset-power-management`) and removes the feature.

use serde::Serialize;
use thiserror::Error;

use crate::config::Environment;
use crate::files::Dom0File;
use crate::inqube::{QubeCommand, CONFIGURED_FEATURE, DOM0};
use crate::live::Live;
use crate::notify;
use crate::plan::Step;

/// The name of the autostart entry and the launcher (upstream's).
pub const DESKTOP_FILE: &str = "press.freedom.SecureDropUpdater.desktop";
/// Upstream's `ICONSIZE`.
pub const ICON_SIZE: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DesktopError {
    #[error("--gui-user {0:?} is not a user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32)")]
    BadUser(String),
}

/// The GUI user's desktop as SecureDrop Workstation sets it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desktop {
    pub user: String,
    /// Whether the power-management menu is trimmed (every environment but `dev`).
    pub power_management: bool,
}

/// A user name that is safe in a path and a shell word (POSIX portable, as useradd accepts by default).
fn is_user_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks `--gui-user` before it reaches a path or a command.
pub fn check_user(name: &str) -> Result<(), DesktopError> {
    if is_user_name(name) {
        Ok(())
    } else {
        Err(DesktopError::BadUser(name.to_owned()))
    }
}

/// `~/.config/autostart/press.freedom.SecureDropUpdater.desktop`.
pub fn autostart_path(user: &str) -> String {
    format!("/home/{user}/.config/autostart/{DESKTOP_FILE}")
}

/// The login autostart entry (upstream's `dom0-xfce-desktop-file.j2` with its
/// name and comment): it opens a terminal that runs `sdw-admin update` unless
/// the last successful update is less than 8 hours old (upstream's `sdw-login`
/// interval); sudo is passwordless for dom0's user; the terminal shows progress.
pub const AUTOSTART: &str = "[Desktop Entry]\nEncoding=UTF-8\nVersion=0.9.4\nType=Application\nName=SDWLogin\nComment=Updates SecureDrop Workstation DispVMs at login\nExec=xfce4-terminal --title=\"SecureDrop Workstation update\" --hold --command=\"sudo sdw-admin update --unless-updated-within 8\"\nOnlyShowIn=XFCE;\nStartupNotify=false\nTerminal=false\nHidden=false\n";

/// The Qubes OS default of the Actions menu, which upstream's
/// `reset-power-management` writes back (xfce4-panel keeps no default for it).
const QUBES_PANEL_ITEMS: &[&str] = &[
    "+lock-screen",
    "+switch-user",
    "+separator",
    "+suspend",
    "-hibernate",
    "-separator",
    "+shutdown",
    "-restart",
    "+separator",
    "+logout",
    "-logout-dialog",
];
/// The trimmed Actions menu: no suspend or hibernate (unsafe with full-disk
/// encryption), no switch user, no log out (it saves the session).
const SDW_PANEL_ITEMS: &[&str] = &["+lock-screen", "+separator", "+restart", "+shutdown"];
const PANEL_ITEMS: &str = "-c xfce4-panel -p /plugins/plugin-2/items";

fn panel_items(items: &[&str], create: bool) -> String {
    let values: Vec<String> = items.iter().map(|i| format!("-t string -s {i}")).collect();
    let n = if create { " -n" } else { "" };
    format!("{PANEL_ITEMS}{n} {}", values.join(" "))
}

impl Desktop {
    pub fn new(user: &str, environment: Environment) -> Result<Self, DesktopError> {
        check_user(user)?;
        Ok(Desktop {
            user: user.to_owned(),
            power_management: environment != Environment::Dev,
        })
    }

    /// The files apply writes: in the user's home, and the reminder's user units.
    pub fn files(&self) -> Vec<Dom0File> {
        vec![
            Dom0File {
                path: crate::files::launcher_path(&self.user),
                mode: 0o755,
                content: crate::files::LAUNCHER.as_bytes().to_vec(),
            },
            Dom0File {
                path: autostart_path(&self.user),
                mode: 0o664,
                content: AUTOSTART.as_bytes().to_vec(),
            },
            Dom0File {
                path: notify::SERVICE_PATH.into(),
                mode: 0o644,
                content: notify::SERVICE_UNIT.as_bytes().to_vec(),
            },
            Dom0File {
                path: notify::TIMER_PATH.into(),
                mode: 0o644,
                content: notify::TIMER_UNIT.as_bytes().to_vec(),
            },
        ]
    }

    /// One `xfconf-query` as the user in their session; fails with a clear
    /// message when the user has no running session bus.
    fn xfconf(&self, args: &str) -> QubeCommand {
        let user = &self.user;
        QubeCommand {
            qube: DOM0.into(),
            user: "root".into(),
            command: format!(
                "bus=/run/user/$(id -u {user})/bus; if [ ! -S \"$bus\" ]; then echo \"{user} has no running desktop session ($bus): log in to the desktop and run sdw-admin again\" >&2; exit 1; fi; runuser -u {user} -- env DBUS_SESSION_BUS_ADDRESS=unix:path=$bus xfconf-query {args}"
            ),
            input: None,
            effects: Vec::new(),
        }
    }

    /// Hands the autostart folder and the files written as root to the user.
    fn chown(&self) -> QubeCommand {
        let user = &self.user;
        QubeCommand {
            qube: DOM0.into(),
            user: "root".into(),
            command: format!(
                "chown {user}: /home/{user}/.config/autostart {} {}",
                autostart_path(user),
                crate::files::launcher_path(user)
            ),
            input: None,
            effects: Vec::new(),
        }
    }

    /// What apply runs, in order.
    pub fn apply_commands(&self) -> Vec<QubeCommand> {
        let mut commands = vec![
            self.chown(),
            dom0_root(&format!("systemctl --global enable {}", notify::TIMER)),
            self.xfconf(&format!(
                "-c xfce4-desktop -n -p /desktop-icons/icon-size -t int -s {ICON_SIZE}"
            )),
        ];
        if self.power_management {
            commands.push(self.xfconf(&panel_items(SDW_PANEL_ITEMS, true)));
            commands
                .push(self.xfconf("-c xfce4-session -n -p /shutdown/ShowSuspend -t bool -s false"));
            commands.push(
                self.xfconf("-c xfce4-session -n -p /shutdown/ShowHibernate -t bool -s false"),
            );
        }
        commands
    }

    /// `sha256:<hex>` of the user and the apply commands.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for c in self.apply_commands() {
            h.update(c.command.as_bytes());
            h.update([0]);
        }
        format!("sha256:{}", crate::packages::hex(&h.finalize()))
    }

    /// Whether dom0 records that these settings were applied.
    pub fn is_applied(&self, live: &Live) -> bool {
        live.dom0_features
            .get(CONFIGURED_FEATURE)
            .is_some_and(|v| *v == self.digest())
    }

    /// The apply step, when the settings are not applied yet.
    pub fn step(&self, live: &Live) -> Option<Step> {
        (!self.is_applied(live)).then(|| Step::Configure {
            qube: DOM0.into(),
            purpose: format!("{}'s desktop: Xfce settings", self.user),
            digest: self.digest(),
            shutdown_after: false,
            commands: self.apply_commands(),
        })
    }
}

/// A command run in dom0 as root.
fn dom0_root(command: &str) -> QubeCommand {
    QubeCommand {
        qube: DOM0.into(),
        user: "root".into(),
        command: command.into(),
        input: None,
        effects: Vec::new(),
    }
}

/// What uninstall runs for `user`'s desktop, before the files go: the reminder
/// timer disabled (when `timer_installed`); when dom0 records applied settings,
/// the icon size reset and, when `power_management` was trimmed, the Actions
/// menu and session buttons, then dom0's record removed.
pub fn uninstall_steps(
    user: &str,
    power_management: bool,
    timer_installed: bool,
    live: &Live,
) -> Vec<Step> {
    let mut commands = Vec::new();
    if timer_installed {
        commands.push(dom0_root(&format!(
            "systemctl --global disable {}",
            notify::TIMER
        )));
    }
    let was = live.dom0_features.get(CONFIGURED_FEATURE).cloned();
    let desktop = Desktop {
        user: user.to_owned(),
        power_management,
    };
    if was.is_some() {
        commands.push(desktop.xfconf("-c xfce4-desktop -p /desktop-icons/icon-size -r"));
    }
    if was.is_some() && power_management {
        // created if missing (upstream's reset fails on a panel without the property)
        commands.push(desktop.xfconf(&panel_items(QUBES_PANEL_ITEMS, true)));
        commands.push(desktop.xfconf("-c xfce4-session -p /shutdown/ShowSuspend -r"));
        commands.push(desktop.xfconf("-c xfce4-session -p /shutdown/ShowHibernate -r"));
    }
    let mut steps = Vec::new();
    if !commands.is_empty() {
        steps.push(Step::Configure {
            qube: DOM0.into(),
            purpose: format!(
                "{user}'s desktop: update reminder off, Xfce settings back to Qubes' defaults"
            ),
            digest: String::new(),
            shutdown_after: false,
            commands,
        });
    }
    if let Some(was) = was {
        steps.push(Step::RemoveFeature {
            qube: DOM0.into(),
            feature: CONFIGURED_FEATURE.into(),
            was: Some(was),
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_user_names_reach_paths_and_commands() {
        for ok in ["user", "alice", "_svc", "a-b_c9"] {
            assert_eq!(check_user(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "9user",
            "a b",
            "a;rm",
            "../root",
            "a/b",
            &"a".repeat(33),
        ] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_power_menu_is_trimmed_except_in_dev_and_the_digest_follows_the_user() {
        let prod = Desktop::new("alice", Environment::Prod).map(|d| d.apply_commands());
        let dev = Desktop::new("alice", Environment::Dev).map(|d| d.apply_commands());
        let prod = prod.unwrap_or_default();
        let dev = dev.unwrap_or_default();
        assert_eq!(prod.len(), 6);
        assert_eq!(dev.len(), 3);
        assert!(prod.iter().all(|c| c.qube == DOM0));
        assert_eq!(
            prod[1].command,
            "systemctl --global enable sdw-notify.timer"
        );
        assert!(prod[2].command.ends_with("runuser -u alice -- env DBUS_SESSION_BUS_ADDRESS=unix:path=$bus xfconf-query -c xfce4-desktop -n -p /desktop-icons/icon-size -t int -s 64"));
        assert!(prod[3].command.ends_with("xfconf-query -c xfce4-panel -p /plugins/plugin-2/items -n -t string -s +lock-screen -t string -s +separator -t string -s +restart -t string -s +shutdown"));
        let a = Desktop::new("alice", Environment::Prod).map(|d| d.digest());
        let b = Desktop::new("bob", Environment::Prod).map(|d| d.digest());
        assert_ne!(a, b);
    }
}
