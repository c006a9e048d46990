//! The probe (`usb-test` / `disk-test`) on real emulated sticks: one test per row of the detection table.
//! Each test boots the QEMU lab once (~10-20 s under TCG); cargo runs them 2 at a time on 2 cores.
//! Every test also checks that the probe left no mapping or mount behind and wrote nothing to the stick
//! (the independent verifier unlocks the stick after the run and finds no files).

mod common;

use common::{Result, Scenario, PASS};

fn pass_args() -> [&'static str; 2] {
    ["--passphrase", PASS]
}

fn assert_untouched(out: &common::Out) {
    // The protocol: sdw-devices always exits 0.
    assert_eq!(out.exit, Some(0), "{}", out.raw);
    assert_eq!(out.leftover, "none", "{}", out.raw);
    assert!(out.files.is_empty(), "a probe wrote files: {}", out.raw);
}

#[test]
fn no_stick_is_no_device_detected() -> Result {
    let out = Scenario::new()?.probe("usb-test")?.run()?;
    assert_eq!(out.status, "NO_DEVICE_DETECTED", "{}", out.raw);
    assert_eq!(out.exit, Some(0), "{}", out.raw);
    assert_eq!(out.leftover, "none");
    Ok(())
}

#[test]
fn two_sticks_are_multi_device_detected() -> Result {
    let [p, pw] = pass_args();
    let out = Scenario::new()?
        .stick("luks2-ext4", "ONE")?
        .stick("luks1-ext4", "TWO")?
        .probe("usb-test")?
        .arg(p)
        .arg(pw)
        .run()?;
    assert_eq!(out.status, "MULTI_DEVICE_DETECTED", "{}", out.raw);
    assert_eq!(out.volume("ONE").map(|v| v.how.as_str()), Some("unlocked"));
    assert_eq!(out.volume("TWO").map(|v| v.how.as_str()), Some("unlocked"));
    assert_untouched(&out);
    Ok(())
}

#[test]
fn unencrypted_ext4_stick_is_invalid() -> Result {
    let out = Scenario::new()?
        .stick("ext4", "PLAIN")?
        .probe("usb-test")?
        .run()?;
    assert_eq!(out.status, "INVALID_DEVICE_DETECTED", "{}", out.raw);
    assert_eq!(
        out.volume("PLAIN").map(|v| v.filesystem.as_str()),
        Some("ext4")
    );
    assert_untouched(&out);
    Ok(())
}

#[test]
fn blank_stick_is_invalid() -> Result {
    let out = Scenario::new()?
        .stick("blank", "BLANK")?
        .probe("usb-test")?
        .run()?;
    assert_eq!(out.status, "INVALID_DEVICE_DETECTED", "{}", out.raw);
    assert_untouched(&out);
    Ok(())
}

fn locked(recipe: &str, device: &str, expect_volume: &str, container: &str) -> Result {
    let [p, pw] = pass_args();
    let out = Scenario::new()?
        .stick(recipe, "STICK")?
        .probe(device)?
        .arg(p)
        .arg(pw)
        .run()?;
    assert_eq!(out.status, "DEVICE_LOCKED", "{recipe}: {}", out.raw);
    // The fixture is what we think: the verifier unlocked exactly that volume.
    let v = out
        .volume(expect_volume)
        .ok_or_else(|| format!("no volume {expect_volume}: {}", out.raw))?;
    assert_eq!(
        (v.container.as_str(), v.how.as_str()),
        (container, "unlocked")
    );
    assert_untouched(&out);
    Ok(())
}

#[test]
fn luks1_whole_disk_is_locked() -> Result {
    locked("luks1-ext4", "usb-test", "STICK", "crypto_LUKS")
}

#[test]
fn luks2_whole_disk_is_locked() -> Result {
    locked("luks2-ext4", "usb-test", "STICK", "crypto_LUKS")
}

#[test]
fn luks2_whole_disk_is_locked_for_the_old_disk_test_name() -> Result {
    locked("luks2-exfat", "disk-test", "STICK", "crypto_LUKS")
}

#[test]
fn luks_partition_among_plain_ones_on_mbr_is_locked() -> Result {
    locked(
        "mbr:ext4@40,luks2-ext4,fat32@40",
        "usb-test",
        "STICK#2",
        "crypto_LUKS",
    )
}

#[test]
fn luks_partition_among_plain_ones_on_gpt_is_locked() -> Result {
    locked(
        "gpt:fat32@40,exfat@16,luks1-fat32",
        "usb-test",
        "STICK#3",
        "crypto_LUKS",
    )
}

fn veracrypt_locked(recipe: &str, pim: &str) -> Result {
    // To the probe any PIM looks the same (random bytes); the verifier needs it to unlock.
    let [p, pw] = pass_args();
    let out = Scenario::new()?
        .stick(recipe, "VERA")?
        .probe("usb-test")?
        .arg("--tcrypt")
        .arg("fast")
        .arg("--pim")
        .arg(pim)
        .arg(p)
        .arg(pw)
        .run()?;
    assert_eq!(out.status, "DEVICE_LOCKED", "{}", out.raw);
    assert_eq!(
        out.volume("VERA")
            .map(|v| (v.container.as_str(), v.how.as_str())),
        Some(("veracrypt", "unlocked"))
    );
    assert_untouched(&out);
    Ok(())
}

#[test]
fn veracrypt_stick_with_a_small_pim_is_locked() -> Result {
    veracrypt_locked("vera1-ext4", "1")
}

#[test]
fn veracrypt_stick_with_the_default_pim_is_locked() -> Result {
    // PIM 0: 500,000 PBKDF2-SHA512 iterations, ~10 s for the verifier's unlock under TCG.
    veracrypt_locked("vera-exfat", "0")
}

#[test]
fn two_luks_partitions_are_invalid() -> Result {
    let [p, pw] = pass_args();
    let out = Scenario::new()?
        .stick("gpt:luks2-ext4,luks1-fat32", "TWOLUKS")?
        .probe("usb-test")?
        .arg(p)
        .arg(pw)
        .run()?;
    assert_eq!(out.status, "INVALID_DEVICE_DETECTED", "{}", out.raw);
    assert_eq!(
        out.volume("TWOLUKS#1").map(|v| v.how.as_str()),
        Some("unlocked")
    );
    assert_eq!(
        out.volume("TWOLUKS#2").map(|v| v.how.as_str()),
        Some("unlocked")
    );
    assert_untouched(&out);
    Ok(())
}

#[test]
fn stick_unlocked_and_mounted_by_hand_is_writable() -> Result {
    // The guest unlocks and mounts the stick before the probe (as a user would in the file manager).
    let out = Scenario::new()?
        .stick("luks2-ext4", "OPEN")?
        .probe("usb-test")?
        .arg("--shell-command")
        .arg(&format!(
            "printf %s '{PASS}' | cryptsetup open --key-file - $(lab_dev OPEN) byhand && \
             mkdir -p /media/byhand && mount /dev/mapper/byhand /media/byhand && echo mounted"
        ))
        .run()?;
    assert_eq!(out.status, "DEVICE_WRITABLE", "{}", out.raw);
    // The verifier read it through the mapping the guest script opened.
    assert_eq!(
        out.volume("OPEN")
            .map(|v| (v.container.as_str(), v.how.as_str())),
        Some(("mapped", "already-unlocked,already-mounted"))
    );
    assert_untouched(&out);
    Ok(())
}
