//! The seam between the print service and the system (stratisd's engine, as
//! [`crate::device::Devices`] is for drives): the [`Printers`] trait lists the
//! USB printers attached and does the CUPS operations printing needs.
//!
//! - [`RealPrinters`]: the USB bus through udev ([`super::detect::scan_udev`])
//!   and the configured CUPS server.
//! - [`SimPrinters`]: the USB printers described in `DIR/printers.json`, for
//!   tests on machines without a printer, and the same configured CUPS server
//!   (tests run a private cupsd with a test backend). Chosen only by
//!   `sdw-devices --sim DIR ...`, never from the environment.
//!
//! `DIR/printers.json` (a missing file is an empty bus, so a test unplugs the
//! printer by removing it):
//! ```json
//! {"printers": [{"manufacturer": "Brother", "product": "HL-L2320D series",
//!                "serial": "E12345", "vendor_id": "04f9", "product_id": "00a0",
//!                "ipp_usb": false, "device_id": "MFG:Brother;MDL:HL-L2320D series;"}]}
//! ```
//! Every field may be left out; `device_id` is the IEEE 1284 ID the kernel's
//! `usblp` would expose.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::cups::{Capabilities, Cups, CupsError, Device, JobStatus, JobTemplate, Ppd, QueueState};
use super::detect::{self, UsbError, UsbPrinter};

/// What printing does to the system: find USB printers, and talk to CUPS.
/// The CUPS operations are those of [`Cups`], which documents each.
pub trait Printers {
    /// The USB printers attached now.
    fn scan(&self) -> Result<Vec<UsbPrinter>, UsbError>;
    /// The CUPS server, as logs name it.
    fn server(&self) -> String;
    /// `CUPS-Get-Devices`.
    fn devices(&self, timeout_secs: i32) -> Result<Vec<Device>, CupsError>;
    /// `CUPS-Get-PPDs` for one make: the installed drivers' names.
    fn driver_names(&self, make: &str) -> Result<Vec<String>, CupsError>;
    /// `CUPS-Get-PPDs` for an IEEE 1284 device ID.
    fn drivers_for_device_id(&self, device_id: &str) -> Result<Vec<Ppd>, CupsError>;
    /// The state of a queue; `None` when there is none.
    fn queue(&self, name: &str) -> Result<Option<QueueState>, CupsError>;
    /// What a queue supports for a job.
    fn capabilities(&self, queue: &str) -> Result<Capabilities, CupsError>;
    /// `CUPS-Add-Modify-Printer`.
    fn set_up_queue(
        &self,
        name: &str,
        device_uri: &str,
        driver: Option<&str>,
        info: &str,
    ) -> Result<(), CupsError>;
    /// `Print-Job`; the job id.
    fn print_file(
        &self,
        queue: &str,
        file: File,
        format: &str,
        title: &str,
        template: &JobTemplate,
    ) -> Result<i32, CupsError>;
    /// `Get-Job-Attributes`.
    fn job(&self, job_id: i32) -> Result<JobStatus, CupsError>;
    /// `Cancel-Job`, purging its files.
    fn cancel(&self, job_id: i32) -> Result<(), CupsError>;
    /// The print dialog program ([`super::dialog`]): the installed
    /// [`super::dialog::DIALOG_PATH`].
    fn dialog_program(&self) -> PathBuf {
        PathBuf::from(super::dialog::DIALOG_PATH)
    }
}

/// The real USB bus (udev) and a CUPS server.
#[derive(Debug)]
pub struct RealPrinters {
    cups: Cups,
}

impl RealPrinters {
    /// The USB bus as udev sees it, and the CUPS server `cups`.
    pub fn new(cups: Cups) -> RealPrinters {
        RealPrinters { cups }
    }
}

/// USB printers described in a folder, and a (real) CUPS server.
#[derive(Debug)]
pub struct SimPrinters {
    file: PathBuf,
    dialog: PathBuf,
    cups: Cups,
}

impl SimPrinters {
    /// The printers described in `dir/printers.json`, read at each scan.
    pub fn new(dir: &Path, cups: Cups) -> SimPrinters {
        tracing::warn!(?dir, "SIMULATED USB printers (--sim)");
        SimPrinters {
            file: dir.join("printers.json"),
            dialog: dir.join("sdw-print-dialog"),
            cups,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimConfig {
    #[serde(default)]
    printers: Vec<SimPrinter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SimPrinter {
    vendor_id: String,
    product_id: String,
    manufacturer: Option<String>,
    product: Option<String>,
    serial: Option<String>,
    ipp_usb: bool,
    device_id: Option<String>,
}

fn read_sim(path: &Path) -> Result<Vec<UsbPrinter>, UsbError> {
    let fail = |detail: String| UsbError::Simulated {
        path: path.to_owned(),
        detail,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let config: SimConfig = serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
    Ok(config
        .printers
        .into_iter()
        .enumerate()
        .map(|(i, p)| UsbPrinter {
            path: format!("simulated/{i}"),
            vendor_id: p.vendor_id,
            product_id: p.product_id,
            manufacturer: p.manufacturer,
            product: p.product,
            serial: p.serial,
            ipp_usb: p.ipp_usb,
            device_id: p.device_id,
        })
        .collect())
}

/// The CUPS half of [`Printers`], the same for both: `self.cups` does it.
macro_rules! cups_operations {
    () => {
        fn server(&self) -> String {
            self.cups.server().describe()
        }
        fn devices(&self, timeout_secs: i32) -> Result<Vec<Device>, CupsError> {
            self.cups.devices(timeout_secs)
        }
        fn driver_names(&self, make: &str) -> Result<Vec<String>, CupsError> {
            self.cups.driver_names(make)
        }
        fn drivers_for_device_id(&self, device_id: &str) -> Result<Vec<Ppd>, CupsError> {
            self.cups.drivers_for_device_id(device_id)
        }
        fn queue(&self, name: &str) -> Result<Option<QueueState>, CupsError> {
            self.cups.queue(name)
        }
        fn capabilities(&self, queue: &str) -> Result<Capabilities, CupsError> {
            self.cups.capabilities(queue)
        }
        fn set_up_queue(
            &self,
            name: &str,
            device_uri: &str,
            driver: Option<&str>,
            info: &str,
        ) -> Result<(), CupsError> {
            self.cups.set_up_queue(name, device_uri, driver, info)
        }
        fn print_file(
            &self,
            queue: &str,
            file: File,
            format: &str,
            title: &str,
            template: &JobTemplate,
        ) -> Result<i32, CupsError> {
            self.cups.print_file(queue, file, format, title, template)
        }
        fn job(&self, job_id: i32) -> Result<JobStatus, CupsError> {
            self.cups.job(job_id)
        }
        fn cancel(&self, job_id: i32) -> Result<(), CupsError> {
            self.cups.cancel(job_id)
        }
    };
}

impl Printers for RealPrinters {
    fn scan(&self) -> Result<Vec<UsbPrinter>, UsbError> {
        detect::scan_udev()
    }
    cups_operations!();
}

impl Printers for SimPrinters {
    fn scan(&self) -> Result<Vec<UsbPrinter>, UsbError> {
        read_sim(&self.file)
    }
    /// `DIR/sdw-print-dialog` when the test put one there, else the
    /// installed dialog.
    fn dialog_program(&self) -> PathBuf {
        if self.dialog.exists() {
            self.dialog.clone()
        } else {
            PathBuf::from(super::dialog::DIALOG_PATH)
        }
    }
    cups_operations!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print::cups::Server;

    fn cups() -> Cups {
        Cups::new(Server::Socket("/nonexistent/cups.sock".into()))
    }

    #[test]
    fn the_real_bus_can_be_read() {
        // The real udev path runs here; this machine has no USB printer, and
        // whatever it has, every entry must be a printer device, once.
        let printers = RealPrinters::new(cups()).scan().unwrap();
        let mut paths: Vec<_> = printers.iter().map(|p| p.path.clone()).collect();
        paths.dedup();
        assert_eq!(paths.len(), printers.len());
    }

    #[test]
    fn simulated_printers_are_read_from_their_file_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimPrinters::new(dir.path(), cups());
        assert!(sim.scan().unwrap().is_empty());
        std::fs::write(
            dir.path().join("printers.json"),
            r#"{"printers": [{"manufacturer":"Brother","product":"HL-L2320D series","serial":"E1",
                "ipp_usb":true,"device_id":"MFG:Brother;MDL:HL-L2320D series;"}]}"#,
        )
        .unwrap();
        let printers = sim.scan().unwrap();
        assert_eq!(printers.len(), 1);
        assert_eq!(printers[0].serial.as_deref(), Some("E1"));
        assert!(printers[0].ipp_usb);
        assert_eq!(
            printers[0].device_id.as_deref(),
            Some("MFG:Brother;MDL:HL-L2320D series;")
        );
        for broken in [
            "{",
            r#"{"printers": {}}"#,
            r#"{"printers": [{"colour": "red"}]}"#,
        ] {
            std::fs::write(dir.path().join("printers.json"), broken).unwrap();
            assert!(sim.scan().is_err(), "{broken}");
        }
    }
}
