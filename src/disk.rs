//! The disk service: `usb-test`/`disk-test` (probe the export drive) and `disk`
//! (export `export_data/` to it). Reads top-down: probe the drive
//! ([`device`](crate::device)), unlock and mount it ([`volume`](crate::volume)),
//! write ([`writer`](crate::writer)), then unmount and lock, reporting what
//! failed. On every error path the guards unmount and lock what we opened.
//! Every step on the drive goes through the [`Devices`] seam: the real drives
//! through the privileged helper, or the simulator.

use std::sync::atomic::AtomicBool;

use sdw_protocol::{Passphrase, Redaction};

use crate::archive::{Archive, ExportPlan};
use crate::device::{classify, Devices, Probe, ScanError};
use crate::redact::Redactor;
use crate::volume::{Unlocked, VolumeError};
use crate::writer::{self, ExportRoot, LogProgress, WriteError, Written};

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("no single exportable drive: {0:?}")]
    NotExportable(Box<Probe>),
    #[error("the drive is locked and the archive carries no passphrase")]
    NoPassphrase,
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The files were written and verified, but unmounting or locking failed.
    #[error("export written to {written:?}, but cleanup failed: {cleanup}")]
    Cleanup {
        written: Box<Written>,
        cleanup: VolumeError,
    },
}

/// `usb-test` / `disk-test`: the state of the export drive (its status word is
/// chosen in [`status::probe_status`](crate::status::probe_status)).
pub fn preflight(devices: &mut dyn Devices) -> Result<Probe, DiskError> {
    let probe = classify(&devices.scan()?);
    tracing::info!(?probe, "preflight");
    Ok(probe)
}

/// `disk`: exports to the one attached drive, unlocking it if needed, and
/// leaves it as locked as it was found. With `redact`, each file's metadata
/// is redacted on the way ([`crate::redact`]).
pub fn export(
    devices: &mut dyn Devices,
    archive: &Archive,
    plan: &ExportPlan,
    passphrase: Option<&Passphrase>,
    redact: Option<Redaction>,
    timestamp: &str,
    interrupted: &AtomicBool,
) -> Result<Written, DiskError> {
    let probe = classify(&devices.scan()?);
    tracing::info!(?probe, has_passphrase = passphrase.is_some(), "export");
    let unlocked = match probe {
        Probe::Locked(volume) => Unlocked::unlock(
            devices,
            &volume.name,
            passphrase.ok_or(DiskError::NoPassphrase)?,
        )?,
        Probe::Unlocked { volume, .. } => Unlocked::found(devices, &volume.name),
        other => return Err(DiskError::NotExportable(Box::new(other))),
    };
    let mut mounted = unlocked.mount()?;
    let written = write_to(archive, plan, &mut mounted, redact, timestamp, interrupted)?;
    let cleanup = |cleanup| DiskError::Cleanup {
        written: Box::new(written.clone()),
        cleanup,
    };
    let unlocked = mounted.unmount().map_err(cleanup)?;
    unlocked.lock().map_err(cleanup)?;
    tracing::info!(
        ?written,
        "export complete; the drive is unmounted and locked"
    );
    Ok(written)
}

fn write_to(
    archive: &Archive,
    plan: &ExportPlan,
    root: &mut dyn ExportRoot,
    redact: Option<Redaction>,
    timestamp: &str,
    interrupted: &AtomicBool,
) -> Result<Written, DiskError> {
    Ok(write_redacted(
        archive,
        plan,
        root,
        redact,
        timestamp,
        interrupted,
    )?)
}

/// Writes the export, through a [`Redactor`] when `redact` asks for one.
pub fn write_redacted(
    archive: &Archive,
    plan: &ExportPlan,
    root: &mut dyn ExportRoot,
    redact: Option<Redaction>,
    timestamp: &str,
    interrupted: &AtomicBool,
) -> Result<Written, WriteError> {
    let mut progress = LogProgress::default();
    match redact {
        None => {
            writer::write_export_into(archive, plan, root, timestamp, &mut progress, interrupted)
        }
        Some(mode) => {
            tracing::info!(mode = mode.name(), "redacting metadata on export");
            let mut redactor = Redactor::new(mode);
            writer::write_export_transformed(
                archive,
                plan,
                root,
                timestamp,
                &mut progress,
                interrupted,
                &mut redactor,
            )
        }
    }
}
