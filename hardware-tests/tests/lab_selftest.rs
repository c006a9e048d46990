//! Tests of the lab itself, independent of `sdw-devices`: the fixtures are what their recipes say (the
//! guest opens each by hand with cryptsetup, writes a file, and the verifier finds it with the right hash),
//! read-only sticks are read-only, and hotplug pulls a stick mid-run and puts it back for the verifier.

mod common;

use common::{Result, Scenario, PASS};
use sdw_hardware_tests::lab::TempDir;
use std::os::unix::fs::PermissionsExt;

/// sha256("lab\n")
const LAB_SHA: &str = "b76025a9ca630b026d630d59a18cf414f5724d2bbf5dc4b11dd165c9c1ea8e01";

/// Boots once with these sticks; the guest unlocks each by hand (cryptsetup), mounts it, writes
/// `lab.txt`; then the verifier must see each volume as `(container, filesystem, unlocked)` with that file.
/// Sticks: (recipe, serial, device expression, cryptsetup options, verifier volume, container, fs).
fn fixtures_open_by_hand(
    sticks: &[(&str, &str, &str, &str, &str, &str, &str)],
) -> Result<common::Out> {
    let mut s = Scenario::new()?;
    let mut script = String::from("set -x\n");
    for (i, (recipe, serial, dev, opts, ..)) in sticks.iter().enumerate() {
        s = s.stick(recipe, serial)?;
        script.push_str(&format!(
            "printf %s '{PASS}' | cryptsetup open {opts} {dev} fx{i} && mkdir -p /mnt/fx{i} && \
             mount /dev/mapper/fx{i} /mnt/fx{i} && echo lab > /mnt/fx{i}/lab.txt && umount /mnt/fx{i} && \
             cryptsetup close fx{i} && echo OK {serial}\n"
        ));
    }
    let script_path = s.dir.path().join("script.sh");
    std::fs::write(&script_path, &script)?;
    let out = s
        .arg("--guest-script")
        .arg(&script_path.display().to_string())
        .arg("--passphrase")
        .arg(PASS)
        .arg("--pim")
        .arg("1")
        .arg("--tcrypt")
        .arg("fast")
        .run()?;
    for (.., volume, container, fs) in sticks {
        let v = out
            .volume(volume)
            .ok_or_else(|| format!("{volume}: {}", out.raw))?;
        assert_eq!(
            (v.container.as_str(), v.filesystem.as_str(), v.how.as_str()),
            (*container, *fs, "unlocked"),
            "{}",
            out.raw
        );
        let files: Vec<_> = out.files.iter().filter(|f| f.0 == *volume).collect();
        assert_eq!(files.len(), 1, "{volume}: {}", out.raw);
        let f = files.first().ok_or("no file")?;
        assert_eq!((f.1.as_str(), f.2), ("lab.txt", 4), "{}", out.raw);
        assert_eq!(f.3, LAB_SHA, "{}", out.raw);
    }
    assert_eq!(out.leftover, "none");
    Ok(out)
}

#[test]
fn luks_fixtures_whole_and_partitioned_open_and_the_verifier_reads_them() -> Result {
    let out = fixtures_open_by_hand(&[
        (
            "luks1-fat32",
            "LONEFAT",
            "$(lab_dev LONEFAT)",
            "--type luks",
            "LONEFAT",
            "crypto_LUKS",
            "vfat",
        ),
        (
            "luks2-exfat",
            "LTWOEXFAT",
            "$(lab_dev LTWOEXFAT)",
            "--type luks",
            "LTWOEXFAT",
            "crypto_LUKS",
            "exfat",
        ),
        (
            "mbr:fat32@40,luks2-ext4",
            "MBR",
            "$(lab_part MBR 2)",
            "--type luks",
            "MBR#2",
            "crypto_LUKS",
            "ext4",
        ),
        (
            "gpt:luks1-exfat,ext4@16",
            "GPT",
            "$(lab_part GPT 1)",
            "--type luks",
            "GPT#1",
            "crypto_LUKS",
            "exfat",
        ),
    ])?;
    // The plain partitions are read directly.
    assert_eq!(
        out.volume("MBR#1")
            .map(|v| (v.how.as_str(), v.filesystem.as_str())),
        Some(("direct", "vfat"))
    );
    assert_eq!(
        out.volume("GPT#2")
            .map(|v| (v.how.as_str(), v.filesystem.as_str())),
        Some(("direct", "ext4"))
    );
    Ok(())
}

#[test]
fn argon2id_truecrypt_and_veracrypt_fixtures_open_and_the_verifier_reads_them() -> Result {
    fixtures_open_by_hand(&[
        (
            "luks2argon-ext4",
            "ARGON",
            "$(lab_dev ARGON)",
            "--type luks",
            "ARGON",
            "crypto_LUKS",
            "ext4",
        ),
        (
            "true-ext4",
            "TC",
            "$(lab_dev TC)",
            "--type tcrypt --disable-veracrypt",
            "TC",
            "truecrypt",
            "ext4",
        ),
        (
            "vera1-fat32",
            "VC",
            "$(lab_dev VC)",
            "--type tcrypt --veracrypt-pim 1",
            "VC",
            "veracrypt",
            "vfat",
        ),
    ])?;
    Ok(())
}

#[test]
fn read_only_sticks_refuse_writes_and_hotplug_pulls_and_restores_a_stick() -> Result {
    // A stand-in for sdw-devices that watches for the pull: the lab pulls the first stick 1 s after it
    // started, and puts it back (same image, same serial) before the verifier runs.
    let tmp = TempDir::new()?;
    let fake = tmp.path().join("fake-devices");
    std::fs::write(
        &fake,
        "#!/bin/sh\n. /lab-lib.sh\nlab_dev PULLME >/dev/null && echo present-at-start >&2\n\
         i=0; while lab_dev PULLME >/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done\n\
         lab_dev PULLME >/dev/null && echo NOT_PULLED >&2 || echo PULLED >&2\n",
    )?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let s = Scenario::new()?.stick("ext4@16", "PULLME")?;
    let ro_img = sdw_hardware_tests::fixtures::copy_of("ext4@16", PASS, s.dir.path(), "ro.img")?;
    let out = s
        .probe("usb-test")?
        .arg("--stick")
        .arg(&format!("{}:RO:ro", ro_img.display()))
        .arg("--devices-binary")
        .arg(&fake.display().to_string())
        .arg("--hotplug-remove-after")
        .arg("1")
        .arg("--shell-command")
        .arg("d=$(lab_dev RO); cat /sys/block/${d##*/}/ro; mount $d /mnt && { touch /mnt/x && echo WROTE || echo REFUSED; umount /mnt; }")
        .arg("--shell-command")
        .arg("d=$(lab_dev PULLME); mount $d /mnt && echo pulled-stick-data > /mnt/before.txt && umount /mnt")
        .run()?;
    assert_eq!(out.status, "PULLED", "{}", out.raw);
    // Put back: the verifier reads the pulled stick, with the file written before the run.
    assert!(
        out.files
            .iter()
            .any(|f| f.0 == "PULLME" && f.1 == "before.txt"),
        "{}",
        out.raw
    );
    // Nothing was written to the read-only stick.
    assert!(!out.files.iter().any(|f| f.0 == "RO"), "{}", out.raw);
    assert_eq!(
        out.volume("RO").map(|v| v.filesystem.as_str()),
        Some("ext4")
    );
    Ok(())
}

#[test]
fn a_guest_pull_marker_pulls_the_stick_at_once() -> Result {
    // The stand-in waits (up to 20 s) for its stick to vanish; the guest watcher asks for the pull when
    // the stand-in has started; the time limit (300 s) would be far too late.
    let tmp = TempDir::new()?;
    let fake = tmp.path().join("fake-devices");
    std::fs::write(
        &fake,
        "#!/bin/sh\n. /lab-lib.sh\ntouch /tmp/started\n\
         i=0; while lab_dev PULLME >/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done\n\
         lab_dev PULLME >/dev/null && echo NOT_PULLED >&2 || echo PULLED >&2\n",
    )?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let out = Scenario::new()?
        .stick("ext4@16", "PULLME")?
        .probe("usb-test")?
        .arg("--devices-binary")
        .arg(&fake.display().to_string())
        .arg("--hotplug-remove-after")
        .arg("300")
        .arg("--shell-command")
        .arg("(while [ ! -e /tmp/started ]; do sleep 0.1; done; echo @@LAB:PULL@@ >/dev/console) &")
        .run()?;
    assert_eq!(out.status, "PULLED", "{}", out.raw);
    assert_eq!(out.volume("PULLME").map(|v| v.how.as_str()), Some("direct"));
    Ok(())
}

#[test]
fn mappings_and_mounts_left_by_the_run_are_reported() -> Result {
    // A stand-in that unlocks and mounts the stick and leaves both behind; the guest script's own
    // mount (made before the run) is not counted.
    let tmp = TempDir::new()?;
    let fake = tmp.path().join("fake-devices");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n. /lab-lib.sh\nprintf %s '{PASS}' | cryptsetup open --key-file - $(lab_dev LEAK) leaked \
             && mkdir -p /media/leak && mount /dev/mapper/leaked /media/leak && echo leaked > /media/leak/l.txt \
             && echo LEFT_OPEN >&2\n"
        ),
    )?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let out = Scenario::new()?
        .stick("luks2-ext4", "LEAK")?
        .stick("ext4@16", "OTHER")?
        .probe("usb-test")?
        .arg("--devices-binary")
        .arg(&fake.display().to_string())
        .arg("--shell-command")
        .arg("mkdir -p /media/other && mount $(lab_dev OTHER) /media/other")
        .run()?;
    assert_eq!(out.status, "LEFT_OPEN", "{}", out.raw);
    let mut left: Vec<&str> = out.leftover.split(' ').collect();
    left.sort_unstable();
    assert_eq!(
        left,
        ["mapping:leaked", "mount:/dev/mapper/leaked@/media/leak"],
        "{}",
        out.raw
    );
    // The verifier reads the leaked volume where it is, and the file written through it.
    assert_eq!(
        out.volume("LEAK")
            .map(|v| (v.container.as_str(), v.how.as_str())),
        Some(("mapped", "already-unlocked,already-mounted"))
    );
    assert!(
        out.files
            .iter()
            .any(|f| f.0 == "LEAK" && f.1 == "l.txt" && f.2 == 7),
        "{}",
        out.raw
    );
    Ok(())
}
