//! The sys-usb side of USB auto-attach: which devices the udev rules send where,
//! and what the helper writes to qubes.USBAttach.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sdw_provision::inqube::{ATTACH_HELPER, ATTACH_HELPER_PATH, UDEV_RULES};

/// udev's glob: `*`, `?` (enough for these rules).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            glob(rest, text) || text.split_first().is_some_and(|(_, t)| glob(pattern, t))
        }
        (Some((b'?', rest)), Some((_, t))) => glob(rest, t),
        (Some((p, rest)), Some((c, t))) if p == c => glob(rest, t),
        _ => false,
    }
}

/// The RUN commands of every rule whose `==` keys all match the event.
fn run_for(event: &BTreeMap<&str, &str>) -> Vec<String> {
    let mut runs = Vec::new();
    for line in UDEV_RULES
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
    {
        let mut matched = true;
        let mut run = None;
        for clause in line.split(", ") {
            if let Some((key, value)) = clause.split_once("==") {
                let key = key.trim().trim_start_matches("ENV{").trim_end_matches('}');
                let value = value.trim().trim_matches('"');
                matched &= event
                    .get(key)
                    .is_some_and(|v| glob(value.as_bytes(), v.as_bytes()));
            } else if let Some((_, value)) = clause.split_once("+=") {
                run = Some(value.trim().trim_matches('"').to_owned());
            }
        }
        if matched {
            runs.extend(run);
        }
    }
    runs
}

fn event<'a>(action: &'a str, devtype: &'a str, interfaces: &'a str) -> BTreeMap<&'a str, &'a str> {
    [
        ("ACTION", action),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", devtype),
        ("ID_USB_INTERFACES", interfaces),
    ]
    .into()
}

#[test]
fn mass_storage_goes_to_sd_devices_and_printers_to_sd_printers() {
    let helper = ATTACH_HELPER_PATH;
    assert_eq!(
        run_for(&event("add", "usb_device", ":080650:")),
        [format!("{helper} sd-devices")]
    );
    assert_eq!(
        run_for(&event("add", "usb_device", ":080662:")),
        [format!("{helper} sd-devices")]
    );
    assert_eq!(
        run_for(&event("add", "usb_device", ":070102:")),
        [format!("{helper} sd-printers")]
    );
    // a multi-function printer with a card reader matches both rules
    assert_eq!(
        run_for(&event("add", "usb_device", ":070102:080650:ffffff:")),
        [
            format!("{helper} sd-devices"),
            format!("{helper} sd-printers")
        ]
    );
}

#[test]
fn other_devices_and_events_are_left_alone() {
    for ev in [
        event("add", "usb_device", ":030102:"), // keyboard
        event("add", "usb_device", ":080250:"), // mass storage, other subclass
        event("add", "usb_interface", ":080650:"),
        event("remove", "usb_device", ":080650:"),
        event("add", "usb_device", ""),
    ] {
        assert_eq!(run_for(&ev), Vec::<String>::new(), "{ev:?}");
    }
}

/// Runs the helper with a stand-in for qrexec-client-vm that records its arguments and input.
fn helper(dir: &Path, target: &str, devpath: &str) -> (Option<i32>, String) {
    let script = dir.join("sd-attach-export-device");
    let fake = dir.join("qrexec-client-vm");
    let log = dir.join("calls");
    std::fs::write(&script, ATTACH_HELPER).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> {0}\ncat >> {0}\n", log.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&log);
    let out = Command::new("sh")
        .arg(&script)
        .arg(target)
        .env("DEVPATH", devpath)
        .env("SD_QREXEC_CLIENT_VM", &fake)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn the_helper_asks_the_target_to_attach_the_bus_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, calls) = helper(
        dir.path(),
        "sd-devices",
        "/devices/pci0000:00/0000:00:06.0/usb2/2-1",
    );
    assert_eq!(code, Some(0));
    assert_eq!(calls, "sd-devices qubes.USBAttach\nsys-usb 2-1\n");
    let (code, calls) = helper(
        dir.path(),
        "sd-printers",
        "/devices/pci0000:00/0000:00:06.0/usb2/2-1/2-1.4",
    );
    assert_eq!(code, Some(0));
    assert_eq!(calls, "sd-printers qubes.USBAttach\nsys-usb 2-1.4\n");
}

#[test]
fn the_helper_refuses_other_targets_and_odd_device_paths() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        helper(dir.path(), "sd-gpg", "/devices/usb2/2-1"),
        (Some(64), String::new())
    );
    assert_eq!(
        helper(dir.path(), "sd-devices", "/devices/usb2"),
        (Some(65), String::new())
    );
    assert_eq!(
        helper(dir.path(), "sd-devices", "/devices/usb2/2-1;reboot"),
        (Some(65), String::new())
    );
}
