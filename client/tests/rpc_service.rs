//! The files in `rpc/service/`: the qrexec service runs the device side's
//! service mode, and the dom0 policy lets only sd-app call it, only on
//! sd-devices and sd-printers.
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
    let path = support::workspace_root().join("rpc/service/securedrop.Export.policy");
    let text = std::fs::read_to_string(path).unwrap();
    let rules: Vec<Vec<&str>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rules,
        [
            ["securedrop.Export", "*", "sd-app", "sd-devices", "allow"],
            ["securedrop.Export", "*", "sd-app", "sd-printers", "allow"],
            ["securedrop.Export", "*", "@anyvm", "@anyvm", "deny"],
        ]
    );
}
