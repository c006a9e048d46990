//! The built packages, read back as an admin or a reviewer would: names,
//! versions, relations, every shipped file with its owner and mode, the
//! content of the files that decide behaviour (sudoers, desktop entry, MIME
//! type, udev rule, qrexec service, policies, maintainer scripts), the man
//! pages and completions against the shipped binaries' own `--help`, lintian,
//! and that a second build of the same tree gave the same bytes.
//!
//! Needs the packages: `bash scripts/package` writes `target/packages/`, and
//! `PACKAGES_DIR=target/packages-rebuilt bash scripts/package` the second build;
//! `scripts/test` does both before `cargo test`. Needs dpkg-deb, rpm, rpm2cpio,
//! cpio, lintian and visudo (`.ci/packages/packaging.txt`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdw_packaging::{
    find_one, gunzip, packages_dir, rebuilt_dir, run, workspace_root, workspace_versions, Deb,
    Entry, Kind, Rpm,
};

fn ok<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn version(package: &str) -> String {
    let versions = ok(workspace_versions());
    versions
        .get(package)
        .unwrap_or_else(|| panic!("no workspace package {package}"))
        .clone()
}

fn deb(name: &str) -> Deb {
    let path = ok(find_one(&packages_dir(), &format!("{name}_"), ".deb"));
    ok(Deb::read(&path))
}

fn rpm() -> Rpm {
    let path = ok(find_one(&packages_dir(), "sdw-admin-", ".rpm"));
    ok(Rpm::read(&path))
}

fn workspace_file(path: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of a text that are neither blank nor comments.
fn rules(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every entry is root's, and each non-folder has exactly the expected kind and mode.
fn assert_files(entries: &[Entry], expected: &BTreeMap<&str, (Kind, u32)>) {
    let actual: BTreeMap<&str, (Kind, u32)> = entries
        .iter()
        .filter(|e| e.kind != Kind::Dir)
        .map(|e| (e.path.as_str(), (e.kind.clone(), e.mode)))
        .collect();
    for (path, want) in expected {
        match actual.get(path) {
            Some(got) if got == want => {}
            Some(got) => panic!(
                "{path}: {:?} mode {:o}, expected {:?} mode {:o}",
                got.0, got.1, want.0, want.1
            ),
            None => panic!("{path} is not packaged"),
        }
    }
    let extra: Vec<&&str> = actual
        .keys()
        .filter(|p| !expected.contains_key(*p))
        .collect();
    assert!(extra.is_empty(), "packaged but not expected: {extra:?}");
    for entry in entries {
        assert!(
            entry.is_root_owned(),
            "{} is owned by {}:{}, not root",
            entry.path,
            entry.owner,
            entry.group
        );
        if entry.kind == Kind::Dir {
            assert_eq!(
                entry.mode, 0o755,
                "folder {} mode {:o}",
                entry.path, entry.mode
            );
        }
    }
}

fn file(mode: u32) -> (Kind, u32) {
    (Kind::File, mode)
}

fn link(target: &str) -> (Kind, u32) {
    (Kind::Symlink(target.to_owned()), 0o777)
}

/// Writes `bytes` as an executable in `dir` and returns its path.
fn executable(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The subcommands a clap binary lists in its `--help` ("help" left out).
fn subcommands(binary: &Path) -> Vec<String> {
    let help = String::from_utf8(ok(run(Command::new(binary).arg("--help")))).unwrap();
    let mut lines = help.lines().skip_while(|l| l.trim() != "Commands:").skip(1);
    let mut names = Vec::new();
    for line in lines.by_ref() {
        let Some(name) = line.split_whitespace().next() else {
            break;
        };
        if name != "help" {
            names.push(name.to_owned());
        }
    }
    assert!(
        !names.is_empty(),
        "{} --help lists no commands:\n{help}",
        binary.display()
    );
    names
}

/// `TOOL.1.gz` and `TOOL-SUB.1.gz` for each subcommand, under `/usr/share/man/man1/`.
fn man_pages(tool: &str, subcommands: &[String]) -> Vec<String> {
    std::iter::once(format!("/usr/share/man/man1/{tool}.1.gz"))
        .chain(
            subcommands
                .iter()
                .map(|s| format!("/usr/share/man/man1/{tool}-{s}.1.gz")),
        )
        .collect()
}

/// The top entry of a Debian changelog names the package and its version.
fn assert_changelog(deb: &Deb, name: &str, version: &str) {
    let changelog = ok(gunzip(&ok(
        deb.contents(&format!("/usr/share/doc/{name}/changelog.Debian.gz"))
    )));
    let first = changelog.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!("{name} ({version}) ")),
        "changelog's top entry is {first:?}, the package is {name} {version}: add an entry"
    );
}

fn assert_copyright(deb: &Deb, name: &str) {
    let copyright =
        String::from_utf8(ok(deb.contents(&format!("/usr/share/doc/{name}/copyright")))).unwrap();
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    let full_text = copyright
        .split("\nLicense: AGPL-3+\n")
        .nth(2)
        .unwrap_or_else(|| panic!("no License paragraph with the full text:\n{copyright}"));
    assert_eq!(
        full_text.lines().next().map(str::trim),
        Some("GNU AFFERO GENERAL PUBLIC LICENSE")
    );
    assert!(copyright.contains(" END OF TERMS AND CONDITIONS\n"));
}

#[test]
fn sdw_devices_deb_takes_over_from_securedrop_export() {
    let deb = deb("sdw-devices");
    let version = format!("{}-1", version("sdw-devices"));
    assert_eq!(
        deb.path.file_name().unwrap().to_str().unwrap(),
        format!("sdw-devices_{version}_amd64.deb")
    );
    assert_eq!(deb.field("Package"), "sdw-devices");
    assert_eq!(deb.field("Version"), version);
    assert_eq!(deb.field("Architecture"), "amd64");
    for relation in ["Provides", "Replaces", "Conflicts"] {
        assert_eq!(deb.relations(relation), ["securedrop-export"], "{relation}");
    }
    let depends: BTreeSet<String> = deb.relation_names("Depends").into_iter().collect();
    let expected: BTreeSet<String> = [
        // from the binaries' libraries (dpkg-shlibdeps)
        "libc6",
        "libcryptsetup12",
        "libudev1",
        // sdw-print-dialog (GTK 4)
        "libglib2.0-0",
        "libgtk-4-1",
        // declared
        "sudo",
        "cups",
        "cups-client",
        "ipp-usb",
        "printer-driver-brlaser",
        "printer-driver-hpcups",
        "desktop-file-utils",
        "shared-mime-info",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(depends, expected, "Depends: {}", deb.field("Depends"));
    assert_eq!(
        deb.relations("Recommends"),
        [
            "libreoffice-writer-nogui",
            "libreoffice-calc-nogui",
            "libreoffice-impress-nogui",
            "libreoffice-draw-nogui"
        ]
    );

    let expected: BTreeMap<&str, (Kind, u32)> = [
        ("/usr/bin/sdw-devices", file(0o755)),
        ("/usr/bin/send-to-usb", link("sdw-devices")),
        ("/usr/libexec/sdw-devices/sdw-devices-helper", file(0o755)),
        ("/usr/libexec/sdw-devices/sdw-print-dialog", file(0o755)),
        ("/etc/sudoers.d/sdw-devices", file(0o440)),
        ("/etc/qubes-rpc/securedrop.Export", file(0o755)),
        ("/usr/share/applications/send-to-usb.desktop", file(0o644)),
        (
            "/usr/share/mime/packages/application-x-sd-export.xml",
            file(0o644),
        ),
        ("/usr/lib/udev/rules.d/80-sdw-devices.rules", file(0o644)),
        ("/usr/share/man/man1/sdw-devices.1.gz", file(0o644)),
        (
            "/usr/share/man/man1/send-to-usb.1.gz",
            link("sdw-devices.1.gz"),
        ),
        (
            "/usr/share/doc/sdw-devices/supported-printers.json",
            file(0o644),
        ),
        ("/usr/share/doc/sdw-devices/copyright", file(0o644)),
        (
            "/usr/share/doc/sdw-devices/changelog.Debian.gz",
            file(0o644),
        ),
        ("/usr/share/lintian/overrides/sdw-devices", file(0o644)),
    ]
    .into_iter()
    .collect();
    assert_files(&deb.entries, &expected);
    assert_changelog(&deb, "sdw-devices", &version);
    assert_copyright(&deb, "sdw-devices");

    let conffiles: BTreeSet<String> = ok(deb.control_file("conffiles"))
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        conffiles,
        [
            "/etc/qubes-rpc/securedrop.Export",
            "/etc/sudoers.d/sdw-devices"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    assert_eq!(
        ok(deb.contents("/etc/qubes-rpc/securedrop.Export")),
        workspace_file("rpc/service/securedrop.Export")
    );
    assert_eq!(
        ok(deb.contents("/usr/share/doc/sdw-devices/supported-printers.json")),
        workspace_file("printers/supported.json")
    );
    let man = ok(gunzip(&ok(
        deb.contents("/usr/share/man/man1/sdw-devices.1.gz")
    )));
    assert!(man.contains(".TH SDW-DEVICES 1"), "{man}");
}

#[test]
fn sudoers_lets_user_run_only_the_helper_without_arguments() {
    let deb = deb("sdw-devices");
    let sudoers = String::from_utf8(ok(deb.contents("/etc/sudoers.d/sdw-devices"))).unwrap();
    assert_eq!(
        rules(&sudoers),
        [r#"user ALL=(root) NOPASSWD: /usr/libexec/sdw-devices/sdw-devices-helper """#]
    );
    // sudo's own parser accepts it (a file it cannot parse would break all of sudo).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sdw-devices");
    std::fs::write(&path, &sudoers).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
    ok(run(Command::new("/usr/sbin/visudo")
        .arg("-c")
        .arg("-f")
        .arg(&path)));
    // The helper it names is shipped, root's, and not writable by anyone else.
    let helper = deb
        .entry("/usr/libexec/sdw-devices/sdw-devices-helper")
        .unwrap();
    assert!(
        helper.is_root_owned() && helper.mode & 0o022 == 0,
        "{helper:?}"
    );
}

#[test]
fn desktop_entry_routes_sd_export_archives_to_send_to_usb_without_sudo() {
    let deb = deb("sdw-devices");
    let text = String::from_utf8(ok(
        deb.contents("/usr/share/applications/send-to-usb.desktop")
    ))
    .unwrap();
    assert_eq!(rules(&text).first(), Some(&"[Desktop Entry]"));
    let keys: BTreeMap<&str, &str> = rules(&text)
        .into_iter()
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(keys.get("Type"), Some(&"Application"));
    assert!(
        keys.get("Name").is_some_and(|n| !n.is_empty()),
        "no Name: {text}"
    );
    assert_eq!(keys.get("Exec"), Some(&"/usr/bin/send-to-usb %f"));
    assert_eq!(keys.get("MimeType"), Some(&"application/x-sd-export;"));
    assert_eq!(keys.get("NoDisplay"), Some(&"true"));
    assert!(!keys.values().any(|v| v.contains("sudo")), "{text}");
    // The program it runs is the shipped binary.
    assert_eq!(
        deb.entry("/usr/bin/send-to-usb").map(|e| &e.kind),
        Some(&Kind::Symlink("sdw-devices".into()))
    );

    let mime = String::from_utf8(ok(
        deb.contents("/usr/share/mime/packages/application-x-sd-export.xml")
    ))
    .unwrap();
    assert!(
        mime.contains(r#"<mime-type type="application/x-sd-export">"#),
        "{mime}"
    );
    assert!(mime.contains(r#"<glob pattern="*.sd-export"/>"#), "{mime}");
    // What securedrop-mime-handling makes the default names this entry.
    let mimeapps = String::from_utf8(workspace_file("rpc/open-in-vm/mimeapps.list")).unwrap();
    assert!(rules(&mimeapps).contains(&"application/x-sd-export=send-to-usb.desktop"));
}

#[test]
fn udev_rule_hides_our_mappings_from_udisks() {
    let deb = deb("sdw-devices");
    let text = String::from_utf8(ok(
        deb.contents("/usr/lib/udev/rules.d/80-sdw-devices.rules")
    ))
    .unwrap();
    assert_eq!(
        rules(&text),
        [
            r#"SUBSYSTEM=="block", ENV{DM_NAME}=="sd-export-*", ENV{UDISKS_IGNORE}="1", ENV{UDISKS_AUTO}="0""#
        ]
    );
}

/// Runs a maintainer script with `sh SCRIPT ARGS` and only `path` in PATH.
fn run_script(script: &Path, args: &[&str], path: &Path) -> std::process::Output {
    Command::new("/bin/sh")
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn maintainer_scripts_refresh_the_desktop_and_mime_databases_and_tolerate_their_absence() {
    let deb = deb("sdw-devices");
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let calls = dir.path().join("calls");
    for tool in ["update-desktop-database", "update-mime-database"] {
        let body = format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n", calls.display());
        executable(&tools, tool, body.as_bytes());
    }
    for name in ["postinst", "postrm"] {
        let text = ok(deb.control_file(name));
        assert_eq!(
            text.as_bytes(),
            workspace_file(&format!("packaging/sdw-devices/{name}"))
        );
        let script = executable(dir.path(), name, text.as_bytes());
        let actions: &[&str] = if name == "postinst" {
            &["configure", "abort-upgrade"]
        } else {
            &["remove", "purge"]
        };
        for action in actions {
            let _ = std::fs::remove_file(&calls);
            let output = run_script(&script, &[action], &tools);
            assert!(output.status.success(), "{name} {action}: {output:?}");
            assert_eq!(
                std::fs::read_to_string(&calls).unwrap_or_default(),
                "update-desktop-database -q /usr/share/applications\nupdate-mime-database /usr/share/mime\n",
                "{name} {action}"
            );
            // The tools may be gone (postrm after their removal): still success.
            let output = run_script(&script, &[action], &empty);
            assert!(
                output.status.success(),
                "{name} {action} without the tools: {output:?}"
            );
        }
        let output = run_script(&script, &["no-such-action"], &tools);
        assert!(
            !output.status.success(),
            "{name} accepted an unknown action"
        );
    }
    let _ = std::fs::remove_file(&calls);
    let postrm = dir.path().join("postrm");
    assert!(run_script(&postrm, &["upgrade", "0.2.0-1"], &tools)
        .status
        .success());
    assert!(!calls.exists(), "postrm upgrade refreshed the databases");
}

#[test]
fn sdw_client_deb_ships_sdw_export_with_man_pages_and_completions() {
    let deb = deb("sdw-client");
    let version = format!("{}-1", version("sdw-export"));
    assert_eq!(
        deb.path.file_name().unwrap().to_str().unwrap(),
        format!("sdw-client_{version}_amd64.deb")
    );
    assert_eq!(deb.field("Package"), "sdw-client");
    assert_eq!(deb.field("Version"), version);
    assert_eq!(deb.field("Architecture"), "amd64");
    assert_eq!(deb.relation_names("Depends"), ["libc6"]);
    for relation in ["Provides", "Replaces", "Conflicts"] {
        assert_eq!(deb.field(relation), "", "{relation}");
    }

    let dir = tempfile::tempdir().unwrap();
    let binary = executable(
        dir.path(),
        "sdw-export",
        &ok(deb.contents("/usr/bin/sdw-export")),
    );
    let subcommands = subcommands(&binary);
    let pages = man_pages("sdw-export", &subcommands);
    let mut expected: BTreeMap<&str, (Kind, u32)> = [
        ("/usr/bin/sdw-export", file(0o755)),
        (
            "/usr/share/bash-completion/completions/sdw-export",
            file(0o644),
        ),
        ("/usr/share/zsh/vendor-completions/_sdw-export", file(0o644)),
        (
            "/usr/share/fish/vendor_completions.d/sdw-export.fish",
            file(0o644),
        ),
        ("/usr/share/doc/sdw-client/copyright", file(0o644)),
        ("/usr/share/doc/sdw-client/changelog.Debian.gz", file(0o644)),
        ("/usr/share/lintian/overrides/sdw-client", file(0o644)),
    ]
    .into_iter()
    .collect();
    for page in &pages {
        expected.insert(page, file(0o644));
    }
    assert_files(&deb.entries, &expected);
    assert_changelog(&deb, "sdw-client", &version);
    assert_copyright(&deb, "sdw-client");

    let top = ok(gunzip(&ok(
        deb.contents("/usr/share/man/man1/sdw-export.1.gz")
    )));
    assert!(top.contains(".TH sdw-export 1"), "{top}");
    assert!(
        top.contains("Exit codes: 0 success"),
        "the description is missing:\n{top}"
    );
    let disk = ok(gunzip(&ok(
        deb.contents("/usr/share/man/man1/sdw-export-disk.1.gz")
    )));
    assert!(disk.contains(r"\-\-passphrase\-file"), "{disk}");

    let bash = String::from_utf8(ok(
        deb.contents("/usr/share/bash-completion/completions/sdw-export")
    ))
    .unwrap();
    let zsh = String::from_utf8(ok(
        deb.contents("/usr/share/zsh/vendor-completions/_sdw-export")
    ))
    .unwrap();
    let fish = String::from_utf8(ok(
        deb.contents("/usr/share/fish/vendor_completions.d/sdw-export.fish")
    ))
    .unwrap();
    assert!(
        bash.lines()
            .any(|l| l.trim().starts_with("complete -F ") && l.trim_end().ends_with(" sdw-export")),
        "bash completion does not register for sdw-export"
    );
    assert!(
        zsh.starts_with("#compdef sdw-export\n"),
        "zsh completion lacks #compdef"
    );
    assert!(
        fish.contains("complete -c sdw-export"),
        "fish completion does not register"
    );
    for sub in &subcommands {
        for (shell, text) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
            assert!(
                text.contains(sub.as_str()),
                "{shell} completion lacks {sub}"
            );
        }
    }
    assert!(bash.contains("--passphrase-file"));
}

#[test]
fn sdw_admin_rpm_ships_the_dom0_tool_and_its_data_but_not_the_simulator() {
    let rpm = rpm();
    let version = version("sdw-admin");
    assert_eq!(
        rpm.path.file_name().unwrap().to_str().unwrap(),
        format!("sdw-admin-{version}-1.x86_64.rpm")
    );
    assert_eq!(
        ok(rpm.query("%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}")),
        format!("sdw-admin|{version}|1|x86_64|AGPL-3.0-or-later")
    );
    assert_eq!(
        ok(rpm.query("%{SUMMARY}")),
        "Provision SecureDrop Workstation in a Qubes OS 4.3 dom0"
    );
    let requires = ok(rpm.relations("requires"));
    for wanted in [
        "gnupg2",
        "qubes-core-admin-client",
        "/bin/sh",
        "libc.so.6()(64bit)",
    ] {
        assert!(
            requires.iter().any(|r| r == wanted),
            "Requires lacks {wanted}: {requires:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let binary = executable(
        dir.path(),
        "sdw-admin",
        &ok(rpm.contents("/usr/bin/sdw-admin")),
    );
    let pages = man_pages("sdw-admin", &subcommands(&binary));
    let mut expected: BTreeMap<&str, (Kind, u32)> = [
        ("/usr/bin/sdw-admin", file(0o755)),
        (
            "/usr/share/sdw-admin/policy/31-securedrop-workstation.policy",
            file(0o644),
        ),
        (
            "/usr/share/sdw-admin/policy/32-securedrop-workstation.policy",
            file(0o644),
        ),
        (
            "/usr/share/sdw-admin/sys-usb/99-sd-devices.rules",
            file(0o644),
        ),
        (
            "/usr/share/sdw-admin/sys-usb/sd-attach-export-device",
            file(0o755),
        ),
        ("/usr/share/doc/sdw-admin/config.json.example", file(0o644)),
        ("/usr/share/doc/sdw-admin/README.md", file(0o644)),
        ("/usr/share/doc/sdw-admin/provisioning.md", file(0o644)),
        ("/usr/share/licenses/sdw-admin/LICENSE", file(0o644)),
    ]
    .into_iter()
    .collect();
    for page in &pages {
        expected.insert(page, file(0o644));
    }
    assert_files(&rpm.entries, &expected);
    assert!(rpm.entries.iter().all(|e| !e.path.contains("qubesd-sim")));

    for (packaged, source) in [
        (
            "/usr/share/sdw-admin/policy/31-securedrop-workstation.policy",
            "rpc/policy/31-securedrop-workstation.policy",
        ),
        (
            "/usr/share/sdw-admin/policy/32-securedrop-workstation.policy",
            "rpc/policy/32-securedrop-workstation.policy",
        ),
        (
            "/usr/share/sdw-admin/sys-usb/99-sd-devices.rules",
            "udev-rules/99-sd-devices.rules",
        ),
        (
            "/usr/share/sdw-admin/sys-usb/sd-attach-export-device",
            "udev-rules/sd-attach-export-device",
        ),
        ("/usr/share/licenses/sdw-admin/LICENSE", "LICENSE"),
    ] {
        assert_eq!(
            ok(rpm.contents(packaged)),
            workspace_file(source),
            "{packaged}"
        );
    }
    let docs: BTreeSet<String> = ok(rpm.docs()).into_iter().collect();
    for doc in pages.iter().map(String::as_str).chain([
        "/usr/share/doc/sdw-admin/config.json.example",
        "/usr/share/doc/sdw-admin/README.md",
    ]) {
        assert!(docs.contains(doc), "{doc} is not marked as documentation");
    }
    let man = ok(gunzip(&ok(
        rpm.contents("/usr/share/man/man1/sdw-admin-apply.1.gz")
    )));
    assert!(man.contains(".TH sdw-admin-apply 1"), "{man}");
    assert!(man.contains(r"\-\-record\-qube\-commands"), "{man}");

    // Erasing (not upgrading) removes the folders the package cannot own.
    let scripts = ok(rpm.query("%{POSTUN}"));
    assert!(
        scripts.contains(r#"if [ "$1" -eq 0 ]; then"#)
            && scripts.contains("/usr/share/sdw-admin/policy"),
        "{scripts}"
    );
}

#[test]
fn config_json_example_passes_validate_apart_from_the_key() {
    let rpm = rpm();
    let dir = tempfile::tempdir().unwrap();
    let binary = executable(
        dir.path(),
        "sdw-admin",
        &ok(rpm.contents("/usr/bin/sdw-admin")),
    );
    let example = String::from_utf8(ok(
        rpm.contents("/usr/share/doc/sdw-admin/config.json.example")
    ))
    .unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("config.json"), &example).unwrap();

    // Every config.json rule passes: validate reaches the key file, which is missing.
    let output = Command::new(&binary)
        .arg("validate")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("PGP secret key file not found"), "{stderr}");

    // With the test key and its fingerprint in place, validate accepts it all.
    let fixtures = workspace_root().join("provision/tests/fixtures");
    let fingerprint = std::fs::read_to_string(fixtures.join("test_key.fpr")).unwrap();
    let example_fingerprint = "65A1B5FF195B56353CC63DFFCC40EF1228271441";
    assert!(example.contains(example_fingerprint));
    std::fs::write(
        config.join("config.json"),
        example.replace(example_fingerprint, fingerprint.trim()),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("test_key.sec"),
        config.join("sd-journalist.sec"),
    )
    .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let output = Command::new(&binary)
        .arg("validate")
        .arg(&config)
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn lintian_reports_no_errors_or_warnings() {
    for name in ["sdw-devices", "sdw-client"] {
        let path = ok(find_one(&packages_dir(), &format!("{name}_"), ".deb"));
        let output = Command::new("lintian")
            .args([
                "--fail-on",
                "error,warning",
                "--tag-display-limit",
                "0",
                "--display-info",
            ])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("lintian: {e} (apt package lintian)"));
        let report = String::from_utf8_lossy(&output.stdout);
        println!("lintian {name}:\n{report}");
        assert!(
            output.status.success(),
            "lintian {}: {}\n{report}{}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_time_stamp_is_the_last_commits_time() {
    let git = String::from_utf8(ok(run(Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(workspace_root()))))
    .unwrap();
    let epoch: u64 = git.trim().parse().unwrap();
    for name in ["sdw-devices", "sdw-client"] {
        let deb = deb(name);
        assert_eq!(
            ok(deb.mtimes()),
            BTreeSet::from([epoch]),
            "{}: file times other than the last commit's ({epoch})",
            deb.path.display()
        );
    }
    let rpm = rpm();
    assert_eq!(ok(rpm.query("%{BUILDTIME}")), epoch.to_string());
    let mtimes: BTreeSet<String> = ok(rpm.query("[%{FILEMTIMES}\\n]"))
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        mtimes,
        BTreeSet::from([epoch.to_string()]),
        "{}: file times other than the last commit's",
        rpm.path.display()
    );
}

#[test]
fn building_twice_gives_the_same_bytes() {
    let first = packages_dir();
    let second = rebuilt_dir();
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; build twice first: bash scripts/package && \
                     PACKAGES_DIR=target/packages-rebuilt bash scripts/package",
                    dir.display()
                )
            })
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let files = names(&first);
    assert_eq!(files, names(&second));
    assert_eq!(
        files
            .iter()
            .filter(|n| n.ends_with(".deb") || n.ends_with(".rpm"))
            .count(),
        3,
        "{files:?}"
    );
    // The packages first, so a difference names one; SHA256SUMS follows from them.
    let mut ordered: Vec<&String> = files.iter().filter(|n| *n != "SHA256SUMS").collect();
    ordered.extend(files.iter().filter(|n| *n == "SHA256SUMS"));
    for name in ordered {
        let a = std::fs::read(first.join(name)).unwrap();
        let b = std::fs::read(second.join(name)).unwrap();
        assert!(
            a == b,
            "{name} differs between {} and {} (both must be built from the same commit: \
             SOURCE_DATE_EPOCH is its time)",
            first.display(),
            second.display()
        );
    }
    // SHA256SUMS describes what is there.
    let sums = std::fs::read_to_string(first.join("SHA256SUMS")).unwrap();
    ok(run(Command::new("sha256sum")
        .arg("--check")
        .arg("--quiet")
        .arg("SHA256SUMS")
        .current_dir(&first)));
    assert_eq!(sums.lines().count(), 3, "{sums}");
}
