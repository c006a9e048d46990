//! The print service: `printer-preflight`, `printer-test`, `printer`.
//! For now: detection of USB printers (interface class 07) with libudev.

use sdw_protocol::{Command, Status};

use crate::archive::{Archive, ExportPlan};

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("no USB printer attached")]
    NotFound,
    #[error("{0} USB printers attached")]
    Multiple(usize),
    #[error("udev enumeration failed: {0}")]
    Udev(std::io::Error),
    #[error("printing is not available yet")]
    NotSupported,
}

impl PrintError {
    pub fn status(&self) -> Status {
        match self {
            PrintError::NotFound | PrintError::Udev(_) => Status::ErrorPrinterNotFound,
            PrintError::Multiple(_) => Status::ErrorMultiplePrintersFound,
            PrintError::NotSupported => Status::ErrorPrinterNotSupported,
        }
    }
}

/// Handles a print command.
pub fn run(
    command: &Command,
    _archive: &Archive,
    _plan: &ExportPlan,
) -> Result<Status, PrintError> {
    let printers = usb_printers()?;
    tracing::info!(command = command.device_value(), printers, "print");
    match printers {
        0 => Err(PrintError::NotFound),
        1 => Err(PrintError::NotSupported),
        n => Err(PrintError::Multiple(n)),
    }
}

/// Counts USB interfaces of class 07 (printer).
fn usb_printers() -> Result<usize, PrintError> {
    let mut enumerator = udev::Enumerator::new().map_err(PrintError::Udev)?;
    enumerator
        .match_subsystem("usb")
        .map_err(PrintError::Udev)?;
    enumerator
        .match_attribute("bInterfaceClass", "07")
        .map_err(PrintError::Udev)?;
    Ok(enumerator.scan_devices().map_err(PrintError::Udev)?.count())
}
