//! What runs inside qubes: the package set of each template and the sys-usb
//! auto-attach files, as ordered shell commands with their input.
//!
//! Owns the content (apt sources, package lists, udev rule and helper, the
//! rc.local block) and a digest of it, stored on the qube as the feature
//! [`CONFIGURED_FEATURE`] so that a second apply does not run it again. Pure:
//! the commands are run by a [`crate::runner::QubeRunner`].

use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::Environment;

/// The qube name of a [`QubeCommand`] that runs in dom0 itself.
pub const DOM0: &str = "dom0";

/// Feature holding the digest of the in-qube configuration last applied.
pub const CONFIGURED_FEATURE: &str = "sdw-admin-configured";

pub const UDEV_RULES: &str = include_str!("../../udev-rules/99-sd-devices.rules");
pub const ATTACH_HELPER: &str = include_str!("../../udev-rules/sd-attach-export-device");
pub const UDEV_RULES_PATH: &str = "/rw/config/sd/etc/udev/rules.d/99-sd-devices.rules";
pub const ATTACH_HELPER_PATH: &str = "/usr/local/bin/sd-attach-export-device";
pub const RC_LOCAL_BEGIN: &str = "### BEGIN securedrop-workstation ###";
pub const RC_LOCAL_END: &str = "### END securedrop-workstation ###";

pub const BASE_PACKAGES: &[&str] = &[
    "qubes-vm-recommended",
    "securedrop-workstation-config",
    "securedrop-workstation-grsec",
    "securedrop-keyring",
];
pub const INBOX_PACKAGES: &[&str] = &[
    "securedrop-log",
    "redis-server",
    "redis",
    "securedrop-app",
    "securedrop-proxy",
    "securedrop-gpg-config",
];
pub const VIEWER_PACKAGES: &[&str] = &[
    "securedrop-log",
    "securedrop-export",
    "securedrop-workstation-viewer",
];

/// One command run by the qube's shell, as `user`, with `input` on stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct QubeCommand {
    pub qube: String,
    pub user: String,
    pub command: String,
    pub input: Option<String>,
}

/// The ordered commands for one qube (the qube name is filled in by [`QubeConfig::commands`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QubeConfig {
    pub purpose: &'static str,
    steps: Vec<(String, Option<String>)>,
    /// The commands run in dom0 (about the qube) rather than inside it.
    pub in_dom0: bool,
    /// Already done if the qube has this feature (set by Qubes itself).
    pub done_when_feature: Option<&'static str>,
}

impl QubeConfig {
    pub fn commands(&self, qube: &str) -> Vec<QubeCommand> {
        self.steps
            .iter()
            .map(|(command, input)| QubeCommand {
                qube: if self.in_dom0 {
                    DOM0.to_owned()
                } else {
                    qube.to_owned()
                },
                user: "root".to_owned(),
                command: command.clone(),
                input: input.clone(),
            })
            .collect()
    }

    /// `sha256:<hex>` over every command and input, in order.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (command, input) in &self.steps {
            hasher.update(command.as_bytes());
            hasher.update([0]);
            hasher.update(input.as_deref().unwrap_or("").as_bytes());
            hasher.update([0]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AptKeyError {
    #[error("the apt signing key is not an armored OpenPGP public key (no '-----BEGIN PGP PUBLIC KEY BLOCK-----')")]
    NotArmored,
}

/// The armored public key that signs the FPF apt repository (prod, or apt-test for staging/dev).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptKey(String);

impl AptKey {
    pub fn parse(text: &str) -> Result<Self, AptKeyError> {
        let text = text.trim();
        let armored = text.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
            && text.ends_with("-----END PGP PUBLIC KEY BLOCK-----");
        if armored
            && text
                .bytes()
                .all(|b| b == b'\n' || (0x20..0x7f).contains(&b))
        {
            Ok(AptKey(text.to_owned()))
        } else {
            Err(AptKeyError::NotArmored)
        }
    }

    /// The key as a deb822 multi-line field value: each line indented, empty lines as ` .`.
    fn deb822(&self) -> String {
        self.0
            .lines()
            .map(|l| {
                if l.trim().is_empty() {
                    " .".to_owned()
                } else {
                    format!(" {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn sources_file_name(env: Environment) -> &'static str {
    match env {
        Environment::Prod => "apt_freedom_press.sources",
        Environment::Staging | Environment::Dev => "apt-test_freedom_press.sources",
    }
}

/// The deb822 sources file of the FPF repository for this environment.
pub fn sources(env: Environment, key: &AptKey) -> String {
    let (uri, components) = match env {
        Environment::Prod => ("https://apt.freedom.press", "main"),
        Environment::Staging => ("https://apt-test.freedom.press", "main"),
        Environment::Dev => ("https://apt-test.freedom.press", "main nightlies"),
    };
    format!(
        "Types: deb\nURIs: {uri}\nSuites: trixie\nComponents: {components}\nSigned-By:\n{}\n",
        key.deb822()
    )
}

const APT: &str = "DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Options::=--force-confold";

fn apt_repo_steps(env: Environment, key: &AptKey) -> Vec<(String, Option<String>)> {
    let mut steps = vec![
        ("apt-get update --allow-releaseinfo-change".to_owned(), None),
        (format!("{APT} autoremove -y"), None),
    ];
    if env == Environment::Prod {
        steps.push((
            "rm -f /etc/apt/sources.list.d/apt-test_freedom_press.sources".to_owned(),
            None,
        ));
    }
    steps.push((
        format!(
            "install -m 0644 -o root -g root /dev/stdin /etc/apt/sources.list.d/{}",
            sources_file_name(env)
        ),
        Some(sources(env, key)),
    ));
    steps.push(("apt-get update".to_owned(), None));
    steps.push((format!("{APT} dist-upgrade -y"), None));
    steps
}

fn install(packages: &[&str]) -> (String, Option<String>) {
    (format!("{APT} install -y {}", packages.join(" ")), None)
}

/// sd-base-debian-13: the FPF repository, the base packages, paxctld enabled.
pub fn base_template(env: Environment, key: &AptKey) -> QubeConfig {
    let mut steps = apt_repo_steps(env, key);
    steps.push(install(BASE_PACKAGES));
    steps.push(("systemctl enable paxctld".to_owned(), None));
    QubeConfig {
        purpose: "base template packages",
        steps,
        in_dom0: false,
        done_when_feature: None,
    }
}

/// sd-inbox-debian-13 / sd-viewer-debian-13: the FPF repository and their packages.
pub fn workstation_template(env: Environment, key: &AptKey, packages: &[&str]) -> QubeConfig {
    let mut steps = apt_repo_steps(env, key);
    steps.push(install(&[&["securedrop-keyring"], packages].concat()));
    QubeConfig {
        purpose: "template packages",
        steps,
        in_dom0: false,
        done_when_feature: None,
    }
}

/// fedora-43-xfce: updated once from dom0, unless Qubes already recorded an update.
pub fn fedora_update_once(template: &str) -> QubeConfig {
    QubeConfig {
        purpose: "first update",
        steps: vec![(
            format!("qubes-vm-update --quiet --force-update --targets {template}"),
            None,
        )],
        in_dom0: true,
        done_when_feature: Some("last-update"),
    }
}

/// The rc.local block that links the rule into place at each boot.
pub fn rc_local_block() -> String {
    format!(
        "{RC_LOCAL_BEGIN}\nln -sf {UDEV_RULES_PATH} /etc/udev/rules.d/\nudevadm control --reload\n{RC_LOCAL_END}\n"
    )
}

/// The sys-usb side of USB auto-attach, written where it persists (the disposable
/// template's private volume, or sys-usb's own).
pub fn sys_usb_files() -> QubeConfig {
    let steps = vec![
        ("mkdir -p /rw/config/sd/etc/udev/rules.d".to_owned(), None),
        (format!("install -m 0444 -o root -g root /dev/stdin {UDEV_RULES_PATH}"), Some(UDEV_RULES.to_owned())),
        (format!("install -m 0555 -o root -g root /dev/stdin {ATTACH_HELPER_PATH}"), Some(ATTACH_HELPER.to_owned())),
        (
            format!(
                "touch /rw/config/rc.local && sed -i '/^{RC_LOCAL_BEGIN}$/,/^{RC_LOCAL_END}$/d' /rw/config/rc.local && cat >> /rw/config/rc.local && chmod 0755 /rw/config/rc.local"
            ),
            Some(rc_local_block()),
        ),
        (format!("ln -sf {UDEV_RULES_PATH} /etc/udev/rules.d/ && udevadm control --reload"), None),
    ];
    QubeConfig {
        purpose: "USB auto-attach files",
        steps,
        in_dom0: false,
        done_when_feature: None,
    }
}

/// The commands that undo [`sys_usb_files`] in a persistent sys-usb.
pub fn sys_usb_files_removal(qube: &str) -> Vec<QubeCommand> {
    [
        format!(
            "rm -f /etc/udev/rules.d/99-sd-devices.rules {UDEV_RULES_PATH} {ATTACH_HELPER_PATH}"
        ),
        format!("sed -i '/^{RC_LOCAL_BEGIN}$/,/^{RC_LOCAL_END}$/d' /rw/config/rc.local"),
        "udevadm control --reload".to_owned(),
    ]
    .into_iter()
    .map(|command| QubeCommand {
        qube: qube.to_owned(),
        user: "root".to_owned(),
        command,
        input: None,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AptKey {
        match AptKey::parse(include_str!("../tests/fixtures/test_key.pub")) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn sources_match_what_the_sdw_tests_read() {
        let prod = sources(Environment::Prod, &key());
        assert!(prod.starts_with("Types: deb\nURIs: https://apt.freedom.press\nSuites: trixie\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"));
        assert!(sources(Environment::Dev, &key()).contains(
            "URIs: https://apt-test.freedom.press\nSuites: trixie\nComponents: main nightlies\n"
        ));
        assert!(sources(Environment::Staging, &key())
            .contains("URIs: https://apt-test.freedom.press\nSuites: trixie\nComponents: main\n"));
        assert_eq!(
            sources_file_name(Environment::Staging),
            "apt-test_freedom_press.sources"
        );
    }

    #[test]
    fn prod_removes_the_test_sources_before_writing_its_own() {
        let cmds: Vec<String> = base_template(Environment::Prod, &key())
            .commands("q")
            .into_iter()
            .map(|c| c.command)
            .collect();
        let rm = cmds.iter().position(|c| {
            c.contains("rm -f /etc/apt/sources.list.d/apt-test_freedom_press.sources")
        });
        let write = cmds
            .iter()
            .position(|c| c.ends_with("/etc/apt/sources.list.d/apt_freedom_press.sources"));
        assert!(matches!((rm, write), (Some(r), Some(w)) if r < w));
        assert_eq!(
            cmds.first().map(String::as_str),
            Some("apt-get update --allow-releaseinfo-change")
        );
        assert!(cmds.iter().any(|c| c.ends_with("install -y qubes-vm-recommended securedrop-workstation-config securedrop-workstation-grsec securedrop-keyring")));
        let dev: Vec<String> = base_template(Environment::Dev, &key())
            .commands("q")
            .into_iter()
            .map(|c| c.command)
            .collect();
        assert!(!dev.iter().any(|c| c.starts_with("rm -f")));
    }

    #[test]
    fn the_digest_changes_with_any_content() {
        let a = workstation_template(Environment::Prod, &key(), INBOX_PACKAGES).digest();
        let b = workstation_template(Environment::Prod, &key(), VIEWER_PACKAGES).digest();
        let c = workstation_template(Environment::Dev, &key(), INBOX_PACKAGES).digest();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            workstation_template(Environment::Prod, &key(), INBOX_PACKAGES).digest()
        );
        assert!(a.starts_with("sha256:") && a.len() == 71);
    }

    #[test]
    fn refuses_a_key_that_is_not_an_armored_public_key() {
        assert_eq!(AptKey::parse("hello"), Err(AptKeyError::NotArmored));
        assert_eq!(
            AptKey::parse(include_str!("../tests/fixtures/test_key.sec")),
            Err(AptKeyError::NotArmored)
        );
    }

    #[test]
    fn sys_usb_files_install_rule_helper_and_boot_block() {
        let cmds = sys_usb_files().commands("sd-fedora-43-dvm");
        assert!(cmds
            .iter()
            .all(|c| c.user == "root" && c.qube == "sd-fedora-43-dvm"));
        assert!(cmds.iter().any(|c| c.command.contains("install -m 0444")
            && c.command.ends_with(UDEV_RULES_PATH)
            && c.input.as_deref() == Some(UDEV_RULES)));
        assert!(cmds.iter().any(|c| c.command.contains("install -m 0555")
            && c.command.ends_with(ATTACH_HELPER_PATH)
            && c.input.as_deref() == Some(ATTACH_HELPER)));
        let block = rc_local_block();
        assert!(block.starts_with(RC_LOCAL_BEGIN) && block.trim_end().ends_with(RC_LOCAL_END));
        assert!(block.contains("ln -sf /rw/config/sd/etc/udev/rules.d/99-sd-devices.rules /etc/udev/rules.d/\nudevadm control --reload\n"));
    }
}
