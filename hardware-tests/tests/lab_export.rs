//! The `disk` export on real emulated sticks (issue 4): every status, every
//! container and filesystem the fixture builder makes, both archive layouts,
//! unicode names, faults (full, read-only, pulled, SIGTERM), drives unlocked by
//! hand, and a 500 MB export. After each run an independent verifier
//! (`cryptsetup` in the guest, never our code) unlocks the stick and lists every
//! file with its SHA-256, and the lab reports any mapping or mount left behind.
//! Each test boots the QEMU lab once (~15-60 s under TCG).

mod common;
#[path = "../../tests/scenarios/mod.rs"]
mod scenarios;

use common::{exported, Out, Result, Scenario, PASS};
use scenarios::{expected, slow_files, FILES};

/// SUCCESS_EXPORT, exactly the files of the archive in one export folder,
/// nothing else new on the stick, and nothing left open.
fn assert_exported(out: &Out, volume: &str, files: &[(&str, &[u8])]) {
    assert_eq!(out.status, "SUCCESS_EXPORT", "{}", out.raw);
    assert_eq!(exported(out, volume), expected(files), "{}", out.raw);
    let all_on_volume = out.files.iter().filter(|(v, ..)| v == volume).count();
    assert_eq!(
        all_on_volume,
        files.len(),
        "only the export folder is new: {}",
        out.raw
    );
    assert_eq!(out.leftover, "none", "{}", out.raw);
}

/// An error status, no file written, the drive locked again.
fn assert_failed_cleanly(out: &Out, status: &str) {
    assert_eq!(out.status, status, "{}", out.raw);
    assert!(out.files.is_empty(), "nothing may be written: {}", out.raw);
    assert_eq!(out.leftover, "none", "{}", out.raw);
}

fn export_to(recipe: &str, volume_suffix: &str) -> Result {
    let out = Scenario::new()?
        .stick(recipe, "S")?
        .disk(Some(PASS), FILES)?
        .run()?;
    assert_exported(&out, &format!("S{volume_suffix}"), FILES);
    Ok(())
}

#[test]
fn exports_to_luks1_exfat() -> Result {
    export_to("luks1-exfat", "")
}

#[test]
fn exports_to_luks2_fat32_with_unicode_names() -> Result {
    export_to("luks2-fat32", "")
}

#[test]
fn exports_to_luks2_with_the_default_argon2id() -> Result {
    export_to("luks2argon-ext4", "")
}

#[test]
fn exports_to_the_luks_partition_of_a_gpt_stick_and_touches_no_other() -> Result {
    export_to("gpt:ext4@40,luks2-exfat,fat32", "#2")
}

#[test]
fn exports_to_the_luks_partition_of_an_mbr_stick() -> Result {
    export_to("mbr:fat32@30,luks1-ext4", "#2")
}

#[test]
fn exports_to_truecrypt() -> Result {
    let out = Scenario::new()?
        .stick("true-ext4", "S")?
        .disk(Some(PASS), FILES)?
        .arg("--tcrypt")
        .arg("truecrypt")
        .run()?;
    assert_exported(&out, "S", FILES);
    Ok(())
}

#[test]
fn exports_the_flat_layout() -> Result {
    let flat: &[(&str, &[u8])] = &[("a.txt", b"flat layout"), ("b.pdf", b"%PDF-1.4 not really")];
    let out = Scenario::new()?
        .stick("luks2-ext4", "S")?
        .disk(Some(PASS), flat)?
        .run()?;
    assert_exported(&out, "S", flat);
    Ok(())
}

#[test]
fn no_passphrase_for_a_locked_drive_is_device_locked() -> Result {
    let out = Scenario::new()?
        .stick("luks1-ext4", "S")?
        .disk(None, FILES)?
        .run()?;
    assert_failed_cleanly(&out, "DEVICE_LOCKED");
    Ok(())
}

#[test]
fn no_drive_is_no_device_detected() -> Result {
    let out = Scenario::new()?.disk(Some(PASS), FILES)?.run()?;
    assert_failed_cleanly(&out, "NO_DEVICE_DETECTED");
    Ok(())
}

#[test]
fn two_drives_are_multi_device_detected_and_both_stay_untouched() -> Result {
    let out = Scenario::new()?
        .stick("luks2-ext4", "A")?
        .stick("luks2-exfat", "B")?
        .disk(Some(PASS), FILES)?
        .run()?;
    assert_failed_cleanly(&out, "MULTI_DEVICE_DETECTED");
    Ok(())
}

#[test]
fn an_unencrypted_drive_is_invalid_and_untouched() -> Result {
    let out = Scenario::new()?
        .stick("exfat", "S")?
        .disk(Some(PASS), FILES)?
        .run()?;
    assert_failed_cleanly(&out, "INVALID_DEVICE_DETECTED");
    Ok(())
}

#[test]
fn an_encrypted_volume_without_a_filesystem_is_error_mount() -> Result {
    let out = Scenario::new()?
        .stick("luks2-none", "S")?
        .disk(Some(PASS), FILES)?
        .run()?;
    assert_failed_cleanly(&out, "ERROR_MOUNT");
    Ok(())
}

#[test]
fn a_read_only_drive_is_error_mount_and_left_locked() -> Result {
    let scenario = Scenario::new()?.stick("luks2-ext4", "S")?;
    let args: Vec<String> = scenario
        .args
        .iter()
        .map(|a| {
            if a.ends_with(":S") {
                format!("{a}:ro")
            } else {
                a.clone()
            }
        })
        .collect();
    let out = Scenario { args, ..scenario }
        .disk(Some(PASS), FILES)?
        .run()?;
    assert_failed_cleanly(&out, "ERROR_MOUNT");
    Ok(())
}

#[test]
fn a_full_drive_is_refused_before_writing() -> Result {
    let big: Vec<u8> = (0..30u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let files: &[(&str, &[u8])] = &[("big.bin", &big)];
    let out = Scenario::new()?
        .stick("luks2-ext4@24", "S")?
        .disk(Some(PASS), files)?
        .run()?;
    assert_failed_cleanly(&out, "ERROR_EXPORT");
    Ok(())
}

/// 120 MB of incompressible data, so that the write is under way when it happens.

#[test]
fn sigterm_mid_export_is_error_export_with_nothing_left_behind() -> Result {
    let files = slow_files();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let out = Scenario::new()?
        .stick("luks2-ext4@256", "S")?
        .disk(Some(PASS), &files)?
        .arg("--shell-command")
        .arg(
            "(while ! ls /run/sdw-devices/export-*/.sd-export-*.partial/export_data/big1.bin >/dev/null 2>&1; \
             do sleep 0.1; done; killall -TERM sdw-devices) &",
        )
        .run()?;
    assert_failed_cleanly(&out, "ERROR_EXPORT");
    Ok(())
}

#[test]
fn a_drive_unlocked_by_hand_but_not_mounted_is_written_and_stays_unlocked() -> Result {
    let out = Scenario::new()?
        .stick("luks2-exfat", "S")?
        .disk(None, FILES)?
        .arg("--shell-command")
        .arg(&format!(
            "printf %s '{PASS}' | cryptsetup open --key-file - $(lab_dev S) byhand"
        ))
        .run()?;
    assert_exported(&out, "S", FILES);
    assert_eq!(
        out.volume("S").map(|v| v.how.as_str()),
        Some("already-unlocked"),
        "{}",
        out.raw
    );
    Ok(())
}

#[test]
fn an_unlock_failure_other_than_the_passphrase_is_error_unlock_generic() -> Result {
    // Our mapping's name is already taken by another device-mapper device.
    let out = Scenario::new()?
        .stick("luks2-ext4", "S")?
        .disk(Some(PASS), FILES)?
        .arg("--shell-command")
        .arg("d=$(lab_dev S); dmsetup create sd-export-$(basename $d) --table \"0 8 linear $d 0\"")
        .run()?;
    assert_failed_cleanly(&out, "ERROR_UNLOCK_GENERIC");
    Ok(())
}

#[test]
fn a_mapping_that_cannot_be_closed_is_error_export_cleanup_after_a_complete_export() -> Result {
    // A process holds the unlocked device open, so the mapping cannot be closed.
    let out = Scenario::new()?
        .stick("luks2-ext4", "S")?
        .disk(Some(PASS), FILES)?
        .arg("--shell-command")
        .arg(
            "(while ! ls /dev/mapper/sd-export-* >/dev/null 2>&1; do sleep 0.02; done; \
             m=$(ls /dev/mapper/sd-export-*); exec 3<\"$m\"; sleep 120) &",
        )
        .run()?;
    assert_eq!(out.status, "ERROR_EXPORT_CLEANUP", "{}", out.raw);
    assert_eq!(
        exported(&out, "S"),
        expected(FILES),
        "the files were written: {}",
        out.raw
    );
    Ok(())
}

#[test]
fn exports_500_megabytes() -> Result {
    // Compressible text keeps the archive small for the guest's control disk.
    let line = b"SecureDrop export lab: 500 MB of source material, line after line.\n";
    let chunk: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(50 * 1024 * 1024)
        .collect();
    let names: Vec<String> = (0..10).map(|i| format!("part-{i:02}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), chunk.as_slice()))
        .collect();
    let out = Scenario::new()?
        .stick("luks2-ext4@640", "S")?
        .disk(Some(PASS), &files)?
        .run()?;
    assert_exported(&out, "S", &files);
    Ok(())
}

#[test]
fn a_key_slot_needing_more_memory_than_the_qube_has_is_error_unlock_generic_and_left_locked(
) -> Result {
    // cryptsetup's default on a big machine: argon2id with 1 GiB. In a qube
    // with less free memory the derivation would get the process killed; the
    // slot is not tried, and the export says so with one status word.
    let out = Scenario::new()?
        .stick("luks2argon1g-ext4", "S")?
        .disk(Some(PASS), FILES)?
        .arg("--memory")
        .arg("768")
        .run()?;
    assert_failed_cleanly(&out, "ERROR_UNLOCK_GENERIC");
    assert_eq!(out.exit, Some(0), "{}", out.raw);
    Ok(())
}

#[test]
fn a_desktop_automounter_mounting_our_mapping_mid_export_is_unmounted_before_locking() -> Result {
    // As udisks would: as soon as our mapping appears, mount it elsewhere too.
    let files = slow_files();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .take(4)
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let out = Scenario::new()?
        .stick("luks2-ext4@160", "S")?
        .disk(Some(PASS), &files)?
        .arg("--shell-command")
        .arg(
            "(while ! ls /dev/mapper/sd-export-* >/dev/null 2>&1; do sleep 0.02; done; \
             mkdir -p /media/auto; m=$(ls /dev/mapper/sd-export-*); \
             until mount -o ro \"$m\" /media/auto 2>/dev/null; do sleep 0.05; done) &",
        )
        .run()?;
    assert_exported(&out, "S", &files);
    Ok(())
}

#[test]
fn names_fat32_cannot_hold_are_renamed_and_every_file_reaches_the_stick() -> Result {
    let sent: &[(&str, &[u8])] = &[
        ("Interview 10:30.txt", b"one"),
        ("Was it legal?.pdf", b"two"),
        ("notes.txt", b"three"),
        ("Report.pdf", b"four"),
        ("report.pdf", b"five"),
    ];
    let out = Scenario::new()?
        .stick("luks2-fat32", "S")?
        .disk(Some(PASS), sent)?
        .run()?;
    assert_eq!(out.status, "SUCCESS_EXPORT", "{}", out.raw);
    let on_stick: &[(&str, &[u8])] = &[
        ("Interview 10_30.txt", b"one"),
        ("Was it legal_.pdf", b"two"),
        ("notes.txt", b"three"),
        ("Report.pdf", b"four"),
        ("report (2).pdf", b"five"),
    ];
    assert_eq!(exported(&out, "S"), expected(on_stick), "{}", out.raw);
    assert!(
        out.files
            .iter()
            .any(|(v, path, ..)| v == "S" && path.ends_with("/RENAMED.txt")),
        "the renames are listed beside export_data/: {}",
        out.raw
    );
    assert_eq!(out.leftover, "none", "{}", out.raw);
    Ok(())
}
