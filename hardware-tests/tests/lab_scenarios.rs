//! The disk-export scenarios (`tests/scenarios/mod.rs`, shared with the
//! simulator's `tests/disk_sim.rs`) on the emulated hardware: real USB
//! sticks, udev, dm-crypt and mount in the QEMU lab, with the guest's own
//! `cryptsetup` reading back what reached the stick.

#[path = "../../tests/scenarios/mod.rs"]
#[macro_use]
mod scenarios;
mod common;

use common::Scenario;
use scenarios::{Drive, Outcome, Rig, PASS};

struct LabRig {
    recipe: &'static str,
    args: Vec<String>,
}

// VeraCrypt with the default PIM (what the protocol can unlock); the verifier
// is told it is VeraCrypt so it does not try TrueCrypt first.

/// A guest watcher that prints the lab's `PULL` marker (the host then pulls
/// the stick at once) when the export's second file is being written.
const PULL_WHEN_WRITING: &str =
    "(while ! ls /run/sdw-devices/export-*/.sd-export-*.partial/export_data/big1.bin \
     >/dev/null 2>&1; do sleep 0.1; done; echo @@LAB:PULL@@ >/dev/console) &";

/// From the moment the volume is mounted, a process sits in it.
const KEEP_BUSY: &str =
    "(while ! grep -q ' /run/sdw-devices/export-' /proc/mounts; do sleep 0.02; done; \
     cd $(awk '$2 ~ /^\\/run\\/sdw-devices\\/export-/ {print $2}' /proc/mounts) && sleep 120) &";

impl Rig for LabRig {
    fn new(drive: Drive) -> LabRig {
        match drive {
            Drive::Luks2 => LabRig {
                recipe: "luks2-ext4@256",
                args: Vec::new(),
            },
            Drive::VeraCrypt => LabRig {
                recipe: "vera-exfat@128",
                args: vec!["--tcrypt".into(), "veracrypt".into()],
            },
        }
    }

    fn unlocked_by_hand(mut self) -> LabRig {
        self.args.push("--shell-command".into());
        self.args.push(format!(
            "printf %s '{PASS}' | cryptsetup open --key-file - $(lab_dev S) byhand && \
             mkdir -p /media/byhand && mount /dev/mapper/byhand /media/byhand"
        ));
        self
    }

    fn keep_busy(mut self) -> LabRig {
        self.args.push("--shell-command".into());
        self.args.push(KEEP_BUSY.into());
        self
    }

    fn pull_mid_export(mut self) -> LabRig {
        self.args.push("--shell-command".into());
        self.args.push(PULL_WHEN_WRITING.into());
        // The time limit is a fallback only: the watcher pulls while writing.
        self.args.push("--hotplug-remove-after".into());
        self.args.push("300".into());
        self
    }

    fn export(self, passphrase: Option<&str>, files: &[(&str, &[u8])]) -> Outcome {
        let mut scenario = Scenario::new()
            .and_then(|s| s.stick(self.recipe, "S"))
            .and_then(|s| common::with_disk_archive(s, passphrase, files))
            .unwrap_or_else(|e| panic!("lab set-up: {e}"));
        for arg in &self.args {
            scenario = scenario.arg(arg);
        }
        let out = scenario.run().unwrap_or_else(|e| panic!("lab: {e}"));
        let exported = common::exported(&out, "S");
        let stray_files = out
            .files
            .iter()
            .filter(|(v, path, ..)| {
                v == "S"
                    && !path
                        .split_once('/')
                        .is_some_and(|(folder, _)| common::is_export_folder(folder))
            })
            .count();
        let how = out.volume("S").map(|v| v.how.clone()).unwrap_or_default();
        Outcome {
            status: out.status.clone(),
            exported,
            stray_files,
            left_open: out.leftover != "none",
            as_found: how == "already-unlocked,already-mounted",
            raw: out.raw,
        }
    }
}

disk_scenarios!(LabRig);
