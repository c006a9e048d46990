//! What runs inside qubes: the package set of each template (upstream's
//! packages and our own `sdw-devices` / `sdw-client`), the print-queue right of
//! `user` in the device template, and the sys-usb auto-attach files, as ordered
//! shell commands with their input.
//!
//! Owns the content (apt sources, package lists, udev rule and helper, the
//! rc.local block), what each configured qube must then hold ([`Expect`]) and a
//! digest of it all (package files by their SHA-256), stored on the qube as the
//! feature [`CONFIGURED_FEATURE`] so that a second apply does not run it again.
//! Pure: the commands are run by a [`crate::runner::QubeRunner`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::Environment;
use crate::packages::{
    Expect, Folder, LocalPackage, LPADMIN, SDW_CLIENT, SDW_DEVICES, STAGING_DIR, TEMPLATE_USER,
};

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
/// Upstream's packages of the viewer template, which is also the template of
/// sd-devices-dvm (so of sd-devices and sd-printers). `securedrop-export` is
/// replaced by our `sdw-devices`; the disk tools it brought in stay, because
/// sd-devices' menu (`menu-items`) and SDW's test-suite name them.
pub const VIEWER_PACKAGES: &[&str] = &[
    "securedrop-log",
    "securedrop-workstation-viewer",
    "udisks2",
    "gnome-disk-utility",
];

/// Where our packages come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageSource {
    /// By name from the configured FPF apt repository.
    Repository,
    /// The newest `.deb` of each in a folder, piped into the template and installed with apt.
    Folder(Box<Folder>),
}

impl PackageSource {
    /// Our package for a template, by its name.
    pub fn package(&self, name: &'static str) -> OurPackage<'_> {
        match self {
            PackageSource::Repository => OurPackage::Named(name),
            PackageSource::Folder(folder) if name == SDW_DEVICES => {
                OurPackage::Local(&folder.devices)
            }
            PackageSource::Folder(folder) if name == SDW_CLIENT => {
                OurPackage::Local(&folder.client)
            }
            PackageSource::Folder(_) => OurPackage::Named(name),
        }
    }
}

/// One of our packages as a template gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OurPackage<'a> {
    Named(&'static str),
    Local(&'a LocalPackage),
}

/// What a command reads on its standard input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// Text written by sdw-admin itself (sources files, udev rules).
    Text(String),
    /// A file in dom0, streamed in; the runner refuses it if its bytes no longer match.
    File(FileInput),
}

impl Input {
    pub fn text(&self) -> Option<&str> {
        match self {
            Input::Text(t) => Some(t),
            Input::File(_) => None,
        }
    }
}

/// A dom0 file piped into a qube, identified by its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInput {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// What a command changes in the qube, as far as a later probe ([`Expect`]) can see it.
/// The recorder answers probes from these; a real qube is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Installs the package; `version` is None when apt picks it from the repository.
    Installs {
        package: String,
        version: Option<String>,
    },
    /// Adds a user to a group.
    JoinsGroup { user: String, group: String },
}

/// One command run by the qube's shell, as `user`, with `input` on stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QubeCommand {
    pub qube: String,
    pub user: String,
    pub command: String,
    pub input: Option<Input>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
}

impl QubeCommand {
    /// The text input, if the input is text.
    pub fn text_input(&self) -> Option<&str> {
        self.input.as_ref().and_then(Input::text)
    }
}

/// One step of a [`QubeConfig`], before the qube is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct StepSpec {
    command: String,
    input: Option<Input>,
    effects: Vec<Effect>,
}

fn step(command: impl Into<String>, input: Option<Input>) -> StepSpec {
    StepSpec {
        command: command.into(),
        input,
        effects: Vec::new(),
    }
}

/// The ordered commands for one qube (the qube name is filled in by [`QubeConfig::commands`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QubeConfig {
    pub purpose: &'static str,
    steps: Vec<StepSpec>,
    /// The commands run in dom0 (about the qube) rather than inside it.
    pub in_dom0: bool,
    /// Already done if the qube has this feature (set by Qubes itself).
    pub done_when_feature: Option<&'static str>,
    /// What the qube holds once the commands ran, probed by plan and check.
    pub expect: Vec<Expect>,
}

impl QubeConfig {
    pub fn commands(&self, qube: &str) -> Vec<QubeCommand> {
        self.steps
            .iter()
            .map(|s| QubeCommand {
                qube: if self.in_dom0 {
                    DOM0.to_owned()
                } else {
                    qube.to_owned()
                },
                user: "root".to_owned(),
                command: s.command.clone(),
                input: s.input.clone(),
                effects: s.effects.clone(),
            })
            .collect()
    }

    /// `sha256:<hex>` over every command and input, in order (a file input by its SHA-256 and size).
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for s in &self.steps {
            hasher.update(s.command.as_bytes());
            hasher.update([0]);
            match &s.input {
                None => {}
                Some(Input::Text(text)) => hasher.update(text.as_bytes()),
                Some(Input::File(file)) => {
                    hasher.update(format!("file sha256:{} size:{}", file.sha256, file.size))
                }
            }
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

    /// The armored key.
    pub fn text(&self) -> &str {
        &self.0
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

fn apt_repo_steps(env: Environment, key: &AptKey) -> Vec<StepSpec> {
    let mut steps = vec![
        step("apt-get update --allow-releaseinfo-change", None),
        step(format!("{APT} autoremove -y"), None),
    ];
    if env == Environment::Prod {
        steps.push(step(
            "rm -f /etc/apt/sources.list.d/apt-test_freedom_press.sources",
            None,
        ));
    }
    steps.push(step(
        format!(
            "install -m 0644 -o root -g root /dev/stdin /etc/apt/sources.list.d/{}",
            sources_file_name(env)
        ),
        Some(Input::Text(sources(env, key))),
    ));
    steps.push(step("apt-get update", None));
    steps.push(step(format!("{APT} dist-upgrade -y"), None));
    steps
}

fn install(packages: &[&str]) -> StepSpec {
    step(format!("{APT} install -y {}", packages.join(" ")), None)
}

/// sd-base-debian-13: the FPF repository, the base packages, paxctld enabled.
pub fn base_template(env: Environment, key: &AptKey) -> QubeConfig {
    let mut steps = apt_repo_steps(env, key);
    steps.push(install(BASE_PACKAGES));
    steps.push(step("systemctl enable paxctld", None));
    QubeConfig {
        purpose: "base template packages",
        steps,
        in_dom0: false,
        done_when_feature: None,
        expect: Vec::new(),
    }
}

/// sd-inbox-debian-13 / sd-viewer-debian-13: the FPF repository, upstream's
/// `packages` and ours, in one apt transaction (so that our package's
/// `Provides`/`Conflicts` are weighed together with the others'). A local
/// package is first piped into [`STAGING_DIR`] and removed from there after.
/// `print_queues`: `user` may set up CUPS queues (group `lpadmin`), for sd-printers.
pub fn workstation_template(
    env: Environment,
    key: &AptKey,
    packages: &[&str],
    ours: OurPackage<'_>,
    print_queues: bool,
) -> QubeConfig {
    let mut steps = apt_repo_steps(env, key);
    let mut names: Vec<&str> = [&["securedrop-keyring"], packages].concat();
    let (name, version, staged) = match ours {
        OurPackage::Named(name) => (name.to_owned(), None, None),
        OurPackage::Local(p) => (p.name.clone(), Some(p.version.clone()), Some(p)),
    };
    let staged_path = staged.map(LocalPackage::staged_path);
    if let (Some(p), Some(path)) = (staged, &staged_path) {
        steps.push(step(
            format!("install -D -m 0644 -o root -g root /dev/stdin {path}"),
            Some(p.input()),
        ));
    }
    names.push(staged_path.as_deref().unwrap_or(&name));
    let mut apt = install(&names);
    apt.effects.push(Effect::Installs {
        package: name.clone(),
        version: version.clone(),
    });
    steps.push(apt);
    if staged_path.is_some() {
        steps.push(step(format!("rm -rf {STAGING_DIR}"), None));
    }
    let mut expect = vec![Expect::Package {
        name,
        at_least: version,
    }];
    if print_queues {
        let mut usermod = step(format!("usermod -a -G {LPADMIN} {TEMPLATE_USER}"), None);
        usermod.effects.push(Effect::JoinsGroup {
            user: TEMPLATE_USER.into(),
            group: LPADMIN.into(),
        });
        steps.push(usermod);
        expect.push(Expect::Member {
            user: TEMPLATE_USER.into(),
            group: LPADMIN.into(),
        });
    }
    QubeConfig {
        purpose: "template packages",
        steps,
        in_dom0: false,
        done_when_feature: None,
        expect,
    }
}

/// fedora-43-xfce: updated once from dom0, unless Qubes already recorded an update.
pub fn fedora_update_once(template: &str) -> QubeConfig {
    QubeConfig {
        purpose: "first update",
        steps: vec![step(
            format!("qubes-vm-update --quiet --force-update --targets {template}"),
            None,
        )],
        in_dom0: true,
        done_when_feature: Some("last-update"),
        expect: Vec::new(),
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
        step("mkdir -p /rw/config/sd/etc/udev/rules.d", None),
        step(format!("install -m 0444 -o root -g root /dev/stdin {UDEV_RULES_PATH}"), Some(Input::Text(UDEV_RULES.to_owned()))),
        step(format!("install -m 0555 -o root -g root /dev/stdin {ATTACH_HELPER_PATH}"), Some(Input::Text(ATTACH_HELPER.to_owned()))),
        step(
            format!(
                "touch /rw/config/rc.local && sed -i '/^{RC_LOCAL_BEGIN}$/,/^{RC_LOCAL_END}$/d' /rw/config/rc.local && cat >> /rw/config/rc.local && chmod 0755 /rw/config/rc.local"
            ),
            Some(Input::Text(rc_local_block())),
        ),
        step(format!("ln -sf {UDEV_RULES_PATH} /etc/udev/rules.d/ && udevadm control --reload"), None),
    ];
    QubeConfig {
        purpose: "USB auto-attach files",
        steps,
        in_dom0: false,
        done_when_feature: None,
        expect: Vec::new(),
    }
}

/// The FPF signing key in the update qube (sys-firewall, or its disposable
/// template): dom0's updates are downloaded there and their repository key must
/// be there too. Kept in `/rw/config` and copied into `/etc/pki/rpm-gpg` now
/// and at each boot (an AppVM's `/etc` comes from its template).
pub fn updatevm_rpm_key(env: Environment, key: &AptKey) -> QubeConfig {
    let name = crate::files::rpm_key_name(env);
    let copy = format!("install -D -m 0644 /rw/config/{name} /etc/pki/rpm-gpg/{name}");
    let block = format!("{RC_LOCAL_BEGIN}\n{copy}\n{RC_LOCAL_END}\n");
    QubeConfig {
        purpose: "dom0 repository signing key",
        steps: vec![
            step(
                format!("install -D -m 0644 -o root -g root /dev/stdin /rw/config/{name}"),
                Some(Input::Text(format!("{}\n", key.text()))),
            ),
            step(copy, None),
            step(
                format!(
                    "touch /rw/config/rc.local && sed -i '/^{RC_LOCAL_BEGIN}$/,/^{RC_LOCAL_END}$/d' /rw/config/rc.local && cat >> /rw/config/rc.local && chmod 0755 /rw/config/rc.local"
                ),
                Some(Input::Text(block)),
            ),
        ],
        in_dom0: false,
        done_when_feature: None,
        expect: Vec::new(),
    }
}

/// The commands that undo [`updatevm_rpm_key`] (both environments' keys, as `sd-clean-all` does).
pub fn updatevm_rpm_key_removal(qube: &str) -> Vec<QubeCommand> {
    let keys = "RPM-GPG-KEY-securedrop-workstation RPM-GPG-KEY-securedrop-workstation-test";
    [
        format!("for k in {keys}; do rm -f /rw/config/$k /etc/pki/rpm-gpg/$k; done"),
        format!("sed -i '/^{RC_LOCAL_BEGIN}$/,/^{RC_LOCAL_END}$/d' /rw/config/rc.local"),
    ]
    .into_iter()
    .map(|command| QubeCommand {
        qube: qube.to_owned(),
        user: "root".to_owned(),
        command,
        input: None,
        effects: Vec::new(),
    })
    .collect()
}

/// Whonix 17 clean-up in `whonix-gateway-17` (`sd-remove-whonix-packages.sls`):
/// SDW's packages and the FPF repository left by earlier versions.
pub fn whonix_gateway_cleanup() -> QubeConfig {
    QubeConfig {
        purpose: "remove SecureDrop Workstation's Whonix packages",
        steps: vec![
            step(
                format!("{APT} purge --yes securedrop-keyring securedrop-qubesdb-tools securedrop-whonix-config || true"),
                None,
            ),
            step("rm -f /etc/apt/sources.list.d/apt_freedom_press.sources", None),
        ],
        in_dom0: false,
        done_when_feature: None,
        expect: Vec::new(),
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
        effects: Vec::new(),
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

    fn inbox(env: Environment, ours: OurPackage<'_>) -> QubeConfig {
        workstation_template(env, &key(), INBOX_PACKAGES, ours, false)
    }

    fn local(name: &str, version: &str, sha256: &str) -> LocalPackage {
        LocalPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            path: format!("/tmp/{name}_{version}_amd64.deb").into(),
            sha256: sha256.into(),
            size: 10,
        }
    }

    #[test]
    fn the_digest_changes_with_any_content() {
        let client = OurPackage::Named(SDW_CLIENT);
        let a = inbox(Environment::Prod, client).digest();
        let b = workstation_template(Environment::Prod, &key(), VIEWER_PACKAGES, client, false)
            .digest();
        let c = inbox(Environment::Dev, client).digest();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, inbox(Environment::Prod, client).digest());
        assert!(a.starts_with("sha256:") && a.len() == 71);
        // a local package: by version and by content
        let v1 = local(SDW_CLIENT, "0.1.0", "aa");
        let v1_rebuilt = local(SDW_CLIENT, "0.1.0", "bb");
        let v2 = local(SDW_CLIENT, "0.2.0", "aa");
        let d1 = inbox(Environment::Prod, OurPackage::Local(&v1)).digest();
        assert_ne!(d1, a);
        assert_ne!(
            d1,
            inbox(Environment::Prod, OurPackage::Local(&v1_rebuilt)).digest()
        );
        assert_ne!(
            d1,
            inbox(Environment::Prod, OurPackage::Local(&v2)).digest()
        );
        assert_eq!(
            d1,
            inbox(Environment::Prod, OurPackage::Local(&v1)).digest()
        );
    }

    #[test]
    fn the_device_template_gets_sdw_devices_and_never_securedrop_export() {
        let devices = local(SDW_DEVICES, "0.3.0", "cc");
        let config = workstation_template(
            Environment::Prod,
            &key(),
            VIEWER_PACKAGES,
            OurPackage::Local(&devices),
            true,
        );
        let cmds = config.commands("sd-viewer-debian-13");
        assert!(!cmds.iter().any(|c| c.command.contains("securedrop-export")));
        let staged = "/var/cache/sdw-admin/sdw-devices_0.3.0_amd64.deb";
        let tail: Vec<(&str, Option<&Input>)> = cmds[cmds.len() - 4..]
            .iter()
            .map(|c| (c.command.as_str(), c.input.as_ref()))
            .collect();
        assert_eq!(
            tail,
            [
                (
                    format!("install -D -m 0644 -o root -g root /dev/stdin {staged}").as_str(),
                    Some(&devices.input())
                ),
                (
                    format!("{APT} install -y securedrop-keyring securedrop-log securedrop-workstation-viewer udisks2 gnome-disk-utility {staged}").as_str(),
                    None
                ),
                ("rm -rf /var/cache/sdw-admin", None),
                ("usermod -a -G lpadmin user", None),
            ]
        );
        assert_eq!(
            config.expect,
            [
                Expect::Package {
                    name: SDW_DEVICES.into(),
                    at_least: Some("0.3.0".into())
                },
                Expect::Member {
                    user: "user".into(),
                    group: "lpadmin".into()
                }
            ]
        );
        // from the repository: by name, no version expected, no staging
        let named = workstation_template(
            Environment::Prod,
            &key(),
            VIEWER_PACKAGES,
            OurPackage::Named(SDW_DEVICES),
            true,
        );
        let cmds = named.commands("q");
        assert!(cmds
            .iter()
            .any(|c| c.command.ends_with(" gnome-disk-utility sdw-devices")
                && c.effects
                    == [Effect::Installs {
                        package: SDW_DEVICES.into(),
                        version: None
                    }]));
        assert!(!cmds.iter().any(|c| c.command.contains(STAGING_DIR)));
    }

    #[test]
    fn records_text_inputs_as_strings_and_files_by_digest() {
        let p = local(SDW_CLIENT, "0.1.0", "ab");
        let c = QubeCommand {
            qube: "q".into(),
            user: "root".into(),
            command: "install -D /dev/stdin x".into(),
            input: Some(p.input()),
            effects: Vec::new(),
        };
        let line = serde_json::to_string(&c).unwrap();
        assert_eq!(
            line,
            r#"{"qube":"q","user":"root","command":"install -D /dev/stdin x","input":{"path":"/tmp/sdw-client_0.1.0_amd64.deb","sha256":"ab","size":10}}"#
        );
        assert_eq!(serde_json::from_str::<QubeCommand>(&line).unwrap(), c);
        let text = QubeCommand {
            input: Some(Input::Text("a\nb".into())),
            ..c
        };
        let line = serde_json::to_string(&text).unwrap();
        assert!(line.contains(r#""input":"a\nb""#), "{line}");
        assert_eq!(serde_json::from_str::<QubeCommand>(&line).unwrap(), text);
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
            && c.text_input() == Some(UDEV_RULES)));
        assert!(cmds.iter().any(|c| c.command.contains("install -m 0555")
            && c.command.ends_with(ATTACH_HELPER_PATH)
            && c.text_input() == Some(ATTACH_HELPER)));
        let block = rc_local_block();
        assert!(block.starts_with(RC_LOCAL_BEGIN) && block.trim_end().ends_with(RC_LOCAL_END));
        assert!(block.contains("ln -sf /rw/config/sd/etc/udev/rules.d/99-sd-devices.rules /etc/udev/rules.d/\nudevadm control --reload\n"));
    }
}
