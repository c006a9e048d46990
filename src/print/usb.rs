//! Which printers are plugged in, as the qube sees its USB bus: a snapshot of
//! each USB device with a printer interface (class 07), copied out of udev.
//!
//! [`UsbBus`] is the boundary: [`Udev`] reads the real bus (read-only: sysfs
//! attributes through libudev, no device is opened), [`Simulated`] reads a
//! described bus from a JSON file and exists for tests on machines without a
//! USB printer. The binary uses the simulated bus only when
//! `SDW_PRINT_SIMULATED_USB` names such a file, and logs that it does.
//!
//! The URI and the IEEE 1284 device ID are not read here: CUPS' own device
//! discovery (its `usb` backend, or `ipp-usb` for IPP-over-USB printers)
//! reports them, and [`super::detect`] pairs its devices with these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming a simulated USB bus (tests only).
pub const SIMULATED_ENV: &str = "SDW_PRINT_SIMULATED_USB";

/// One USB device with at least one printer interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsbPrinter {
    /// The device's sysfs path (or a simulated name), for logs.
    pub path: String,
    pub vendor_id: String,
    pub product_id: String,
    /// The USB manufacturer string, e.g. `Brother`.
    pub manufacturer: Option<String>,
    /// The USB product string, e.g. `HL-L2320D series`.
    pub product: Option<String>,
    pub serial: Option<String>,
    /// One of its printer interfaces speaks IPP over USB (protocol 04).
    pub ipp_usb: bool,
    /// The IEEE 1284 device ID, when the kernel's `usblp` driver is bound
    /// and exposes it (`ieee1284_id`); CUPS' discovery is the main source.
    pub device_id: Option<String>,
}

/// A failure reading the bus.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    #[error("udev enumeration failed: {0}")]
    Udev(std::io::Error),
    #[error("the simulated USB bus {path:?} cannot be read: {detail}")]
    Simulated { path: PathBuf, detail: String },
}

/// Lists the USB printers attached now.
pub trait UsbBus {
    fn printers(&self) -> Result<Vec<UsbPrinter>, UsbError>;
}

/// The bus the binary uses: simulated when [`SIMULATED_ENV`] is set, else udev.
pub fn from_env() -> Box<dyn UsbBus> {
    match std::env::var_os(SIMULATED_ENV) {
        Some(path) if !path.is_empty() => {
            tracing::warn!(path = ?path, "using a SIMULATED USB bus for printer detection");
            Box::new(Simulated {
                path: PathBuf::from(path),
            })
        }
        _ => Box::new(Udev),
    }
}

/// The real bus, through libudev.
pub struct Udev;

impl UsbBus for Udev {
    fn printers(&self) -> Result<Vec<UsbPrinter>, UsbError> {
        let mut enumerator = udev::Enumerator::new().map_err(UsbError::Udev)?;
        enumerator.match_subsystem("usb").map_err(UsbError::Udev)?;
        enumerator
            .match_attribute("bInterfaceClass", "07")
            .map_err(UsbError::Udev)?;
        // A printer may show several printer interfaces (IPP-over-USB ones
        // have two or three): count devices, not interfaces.
        let mut devices: BTreeMap<PathBuf, UsbPrinter> = BTreeMap::new();
        for interface in enumerator.scan_devices().map_err(UsbError::Udev)? {
            if interface.devtype().and_then(|t| t.to_str()) != Some("usb_interface") {
                continue;
            }
            let Some(device) = interface
                .parent_with_subsystem_devtype("usb", "usb_device")
                .ok()
                .flatten()
            else {
                continue;
            };
            let attr = |name: &str| {
                device
                    .attribute_value(name)
                    .and_then(|v| v.to_str())
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            let ipp_usb = interface
                .attribute_value("bInterfaceProtocol")
                .and_then(|v| v.to_str())
                .is_some_and(|p| p.trim() == "04");
            let device_id = interface
                .attribute_value("ieee1284_id")
                .and_then(|v| v.to_str())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            let entry = devices
                .entry(device.syspath().to_owned())
                .or_insert_with(|| UsbPrinter {
                    path: device.syspath().display().to_string(),
                    vendor_id: attr("idVendor").unwrap_or_default(),
                    product_id: attr("idProduct").unwrap_or_default(),
                    manufacturer: attr("manufacturer"),
                    product: attr("product"),
                    serial: attr("serial"),
                    ipp_usb: false,
                    device_id: None,
                });
            entry.ipp_usb |= ipp_usb;
            if entry.device_id.is_none() {
                entry.device_id = device_id;
            }
        }
        Ok(devices.into_values().collect())
    }
}

/// A described bus: a JSON array of printers, e.g.
/// `[{"manufacturer": "Brother", "product": "HL-L2320D series", "serial": "E12345"}]`
/// (also `vendor_id`, `product_id`, `ipp_usb`, `device_id`). A missing file is an empty bus,
/// so a test can unplug the printer by removing it.
pub struct Simulated {
    pub path: PathBuf,
}

impl UsbBus for Simulated {
    fn printers(&self) -> Result<Vec<UsbPrinter>, UsbError> {
        read_simulated(&self.path)
    }
}

fn read_simulated(path: &Path) -> Result<Vec<UsbPrinter>, UsbError> {
    let fail = |detail: String| UsbError::Simulated {
        path: path.to_owned(),
        detail,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
    let entries = value
        .as_array()
        .ok_or_else(|| fail("not a JSON array".into()))?;
    Ok(entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            UsbPrinter {
                path: format!("simulated/{i}"),
                vendor_id: field("vendor_id").unwrap_or_default(),
                product_id: field("product_id").unwrap_or_default(),
                manufacturer: field("manufacturer"),
                product: field("product"),
                serial: field("serial"),
                ipp_usb: entry
                    .get("ipp_usb")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                device_id: field("device_id"),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_bus_can_be_read() {
        // The real udev path runs here; this machine has no USB printer, and
        // whatever it has, every entry must be a printer device, once.
        let printers = Udev.printers().unwrap();
        let mut paths: Vec<_> = printers.iter().map(|p| p.path.clone()).collect();
        paths.dedup();
        assert_eq!(paths.len(), printers.len());
    }

    #[test]
    fn a_simulated_bus_reads_its_file_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usb.json");
        let bus = Simulated { path: path.clone() };
        assert!(bus.printers().unwrap().is_empty());
        std::fs::write(
            &path,
            r#"[{"manufacturer":"Brother","product":"HL-L2320D series","serial":"E1","ipp_usb":true}]"#,
        )
        .unwrap();
        let printers = bus.printers().unwrap();
        assert_eq!(printers.len(), 1);
        assert_eq!(printers[0].serial.as_deref(), Some("E1"));
        assert!(printers[0].ipp_usb);
        std::fs::write(&path, "{").unwrap();
        assert!(bus.printers().is_err());
    }
}
