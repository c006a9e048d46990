//! The qrexec service in `rpc/service/` runs the device side's service mode,
//! and the dom0 policy that sdw-admin installs (`rpc/policy/`) lets only sd-app
//! call it, only on sd-devices and sd-printers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;

#[test]
fn the_service_execs_the_device_side_in_service_mode() {
    let path = support::workspace_root().join("rpc/service/securedrop.Export");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"));
    let commands: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(commands, ["exec /usr/bin/sdw-devices qrexec-service"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "not executable: {mode:o}");
}

#[test]
fn the_policy_allows_only_sd_app_to_the_device_qubes() {
    // qrexec reads the files in lexical order and the first matching line wins.
    let mut rules: Vec<Vec<String>> = Vec::new();
    for file in [
        "rpc/policy/31-securedrop-workstation.policy",
        "rpc/policy/32-securedrop-workstation.policy",
    ] {
        let text = std::fs::read_to_string(support::workspace_root().join(file)).unwrap();
        rules.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| l.starts_with("securedrop.Export"))
                .map(|l| l.split_whitespace().map(str::to_owned).collect()),
        );
    }
    assert_eq!(
        rules,
        [
            ["securedrop.Export", "*", "sd-app", "sd-devices", "allow"],
            ["securedrop.Export", "*", "sd-app", "sd-printers", "allow"],
            ["securedrop.Export", "*", "@anyvm", "@anyvm", "deny"],
        ]
    );
}
