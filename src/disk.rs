//! The disk service: `usb-test`/`disk-test` (probe the export drive) and `disk`
//! (export `export_data/` to it). Finds the drive with [`device`](crate::device),
//! and writes with [`writer`](crate::writer).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use sdw_protocol::{Passphrase, Status};

use crate::archive::{Archive, ExportPlan};
use crate::device::udev::{self, ScanError};
use crate::device::{classify, Probe};
use crate::status::probe_status;
use crate::writer::{self, LogProgress, WriteError};

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("no single exportable drive: {0:?}")]
    NotExportable(Box<Probe>),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// `usb-test` / `disk-test`: the state of the export drive.
pub fn preflight() -> Result<Status, DiskError> {
    let probe = classify(&udev::scan()?);
    tracing::info!(?probe, "preflight");
    Ok(probe_status(&probe))
}

/// `disk`: exports to the one attached drive.
pub fn export(
    archive: &Archive,
    plan: &ExportPlan,
    passphrase: Option<&Passphrase>,
    timestamp: &str,
    interrupted: &AtomicBool,
) -> Result<Status, DiskError> {
    let probe = classify(&udev::scan()?);
    tracing::info!(?probe, has_passphrase = passphrase.is_some(), "export");
    match &probe {
        Probe::Unlocked { mapping, .. } => match &mapping.mount_point {
            Some(mount_point) => write_to(archive, plan, mount_point, timestamp, interrupted),
            None => Err(DiskError::NotExportable(Box::new(probe))),
        },
        _ => Err(DiskError::NotExportable(Box::new(probe))),
    }
}

fn write_to(
    archive: &Archive,
    plan: &ExportPlan,
    mount_point: &Path,
    timestamp: &str,
    interrupted: &AtomicBool,
) -> Result<Status, DiskError> {
    let written = writer::write_export(
        archive,
        plan,
        mount_point,
        timestamp,
        &mut LogProgress::default(),
        interrupted,
    )?;
    tracing::info!(?written, "export written");
    Ok(Status::SuccessExport)
}
