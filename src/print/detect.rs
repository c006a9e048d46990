//! Which printer is attached and how to drive it: the USB printers ([`UsbPrinter`],
//! copied out of udev by [`scan_udev`], or described by the simulator),
//! paired with the device CUPS' own discovery reports for the one printer
//! ([`pair`]), and the decision over the support table ([`detect`]).
//!
//! The IEEE 1284 device ID of a printer is read by one rule,
//! [`device_id`]: the one CUPS reports for its device, else the kernel's
//! (`ieee1284_id` when `usblp` is bound). The URI always comes from CUPS
//! (its `usb` backend, or `ipp-usb` for IPP-over-USB printers).
//!
//! Effects: udev reads in [`scan_udev`]; the rest asks CUPS through the
//! [`Printers`] seam and decides in pure code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::cups::Device;
use super::support::{self, Decision, DeviceId, DriverMatch, SupportTable};
use super::{check, pause, PrintError, Printers};
use crate::text::decode_escapes;

/// How long CUPS' backends may take to list devices.
const DISCOVERY_TIMEOUT_SECS: i32 = 10;
/// How many times CUPS is asked for devices before the printer is declared
/// unaddressable.
const DISCOVERY_ATTEMPTS: u32 = 5;

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
    #[error("the simulated printers {path:?} cannot be read: {detail}")]
    Simulated { path: PathBuf, detail: String },
}

/// The printer found and how to drive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub make: String,
    pub model: String,
    pub uri: String,
    pub driver: String,
}

/// The USB printers on the real bus, through libudev (read-only: sysfs
/// attributes, no device is opened).
pub fn scan_udev() -> Result<Vec<UsbPrinter>, UsbError> {
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

/// The one USB printer, its CUPS device, and how to drive it.
pub fn detect(
    printers: &dyn Printers,
    table: &SupportTable,
    interrupted: &AtomicBool,
) -> Result<Ready, PrintError> {
    let attached = printers.scan()?;
    tracing::info!(count = attached.len(), "USB printers");
    let usb = match attached.as_slice() {
        [] => return Err(PrintError::NotFound),
        [one] => one,
        more => return Err(PrintError::Multiple(more.len())),
    };
    // cups-deviced now and then answers before a backend's list has been
    // read (seen under load): ask again before concluding.
    let mut attempt = 1;
    let device = loop {
        check(interrupted)?;
        let devices = printers
            .devices(DISCOVERY_TIMEOUT_SECS)
            .map_err(PrintError::Discovery)?;
        tracing::info!(
            attempt,
            devices = devices.len(),
            schemes = ?devices.iter().map(|d| d.uri.split(':').next().unwrap_or_default()).collect::<Vec<_>>(),
            "CUPS devices"
        );
        match pair(usb, &devices) {
            Some(device) => break device.clone(),
            None if attempt >= DISCOVERY_ATTEMPTS => return Err(PrintError::NoUri(describe(usb))),
            None => {
                attempt += 1;
                pause(interrupted, Duration::from_millis(500 * u64::from(attempt)))?;
            }
        }
    };
    let id = device_id(usb, &device);
    let make = id
        .make
        .clone()
        .or_else(|| usb.manufacturer.clone())
        .unwrap_or_default();
    let model = id
        .model
        .clone()
        .or_else(|| usb.product.clone())
        .unwrap_or_default();
    let driverless = is_loopback_ipp(&device.uri);
    let decision = table.decide(&make, &model, driverless);
    tracing::info!(make = ?make, model = ?model, driverless, decision = ?decision, "printer");
    let driver = match decision {
        Decision::Refused { reason } => {
            return Err(PrintError::NotSupported {
                make,
                model,
                reason,
            })
        }
        Decision::Unknown => {
            let id = DeviceId {
                make: Some(make.clone()),
                model: Some(model.clone()),
                command_set: id.command_set,
            };
            match driver_from_cups(printers, &id)? {
                Some(driver) => driver,
                None => {
                    return Err(PrintError::NotSupported {
                        make,
                        model,
                        reason: "not in printers/supported.json, and CUPS has no driver \
                                     for its IEEE 1284 ID"
                            .into(),
                    })
                }
            }
        }
        Decision::Driverless { driver } => driver,
        Decision::Driver {
            driver,
            package,
            make: driver_make,
        } => {
            let installed = printers
                .driver_names(&driver_make)
                .map_err(PrintError::DriverLookup)?;
            if !installed.iter().any(|name| name == &driver) {
                return Err(PrintError::DriverUnavailable {
                    model,
                    driver,
                    package,
                });
            }
            driver
        }
    };
    Ok(Ready {
        make,
        model,
        uri: device.uri.clone(),
        driver,
    })
}

/// A driver CUPS offers for a printer the table does not know: one made
/// for this model (`CUPS-Get-PPDs` with its 1284 ID), else one for a model
/// of the same family ([`support::choose_driver`]). Never IPP Everywhere:
/// this printer is not reachable over IPP.
fn driver_from_cups(printers: &dyn Printers, id: &DeviceId) -> Result<Option<String>, PrintError> {
    let named = |field: &Option<String>| field.as_deref().is_some_and(|f| !f.trim().is_empty());
    if !named(&id.make) || !named(&id.model) {
        return Ok(None);
    }
    let exact = printers
        .drivers_for_device_id(&id.to_query(true))
        .map_err(PrintError::DriverLookup)?;
    let mut chosen = support::choose_driver(id, &exact);
    let family;
    if chosen.is_none() && !id.command_set.is_empty() {
        // cupsd matches a model exactly; without the model it lists every
        // driver of the make.
        family = printers
            .drivers_for_device_id(&id.to_query(false))
            .map_err(PrintError::DriverLookup)?;
        chosen = support::choose_driver(id, &family);
    }
    match chosen {
        Some((ppd, how)) => {
            tracing::info!(
                make = ?id.make,
                model = ?id.model,
                driver = %ppd.name,
                driver_model = %ppd.make_and_model,
                matched = match how {
                    DriverMatch::SameModel => "the printer's model",
                    DriverMatch::SameFamily => "a model of the same family",
                },
                "driver chosen from CUPS for a printer not in the table"
            );
            Ok(Some(ppd.name.clone()))
        }
        None => {
            tracing::warn!(make = ?id.make, model = ?id.model, candidates = exact.len(), "CUPS has no driver for this printer");
            Ok(None)
        }
    }
}

/// The IEEE 1284 device ID of the printer `usb` whose CUPS device is
/// `device`: the one CUPS reports, else the kernel's (usblp) when CUPS has
/// none. The one place this rule is written.
pub fn device_id(usb: &UsbPrinter, device: &Device) -> DeviceId {
    match (device.device_id.trim(), &usb.device_id) {
        ("", Some(kernel)) => DeviceId::parse(kernel),
        (cups, _) => DeviceId::parse(cups),
    }
}

/// The CUPS device for the USB printer: a `usb://` device with its serial (or,
/// without serials, its make and model), or, for an IPP-over-USB printer, the
/// loopback IPP endpoint `ipp-usb` serves for it, preferred when present.
/// Network printers are never chosen.
pub fn pair<'a>(usb: &UsbPrinter, devices: &'a [Device]) -> Option<&'a Device> {
    let same_printer = |device: &&Device| {
        let id = device_id(usb, device);
        let same_model = || match (&usb.product, &id.model) {
            (Some(product), Some(model)) => support::same_model(
                usb.manufacturer.as_deref().unwrap_or_default(),
                product,
                id.make.as_deref().unwrap_or_default(),
                model,
            ),
            _ => false,
        };
        if device.uri.starts_with("usb://") {
            match (uri_serial(&device.uri), &usb.serial) {
                (Some(theirs), Some(ours)) => theirs.eq_ignore_ascii_case(ours),
                _ => same_model(),
            }
        } else {
            usb.ipp_usb && is_loopback_ipp(&device.uri) && same_model()
        }
    };
    let candidates: Vec<&Device> = devices.iter().filter(same_printer).collect();
    candidates
        .iter()
        .find(|d| is_loopback_ipp(&d.uri))
        .or_else(|| candidates.first())
        .copied()
}

/// The `serial=` of a CUPS `usb://` URI.
pub fn uri_serial(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("serial="))
        .map(|serial| decode_escapes(serial, b'%', 2, 16))
}

/// An `ipp://` or `ipps://` URI on this machine, as `ipp-usb` serves.
pub fn is_loopback_ipp(uri: &str) -> bool {
    let Some(rest) = uri
        .strip_prefix("ipp://")
        .or_else(|| uri.strip_prefix("ipps://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn describe(usb: &UsbPrinter) -> String {
    format!(
        "{} {} ({}:{})",
        usb.manufacturer.as_deref().unwrap_or("?"),
        usb.product.as_deref().unwrap_or("?"),
        usb.vendor_id,
        usb.product_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brother_usb() -> UsbPrinter {
        UsbPrinter {
            path: "sim".into(),
            vendor_id: "04f9".into(),
            product_id: "00a0".into(),
            manufacturer: Some("Brother".into()),
            product: Some("HL-L2320D series".into()),
            serial: Some("E12345".into()),
            ipp_usb: false,
            device_id: None,
        }
    }

    fn device(class: &str, uri: &str, id: &str) -> Device {
        Device {
            class: class.into(),
            uri: uri.into(),
            info: String::new(),
            make_and_model: String::new(),
            device_id: id.into(),
        }
    }

    const BROTHER_ID: &str = "MFG:Brother;MDL:HL-L2320D series;CMD:PJL,PCL,PCLXL,URF;";

    #[test]
    fn pairs_a_usb_printer_with_its_cups_device_by_serial() {
        let devices = [
            device("network", "ipp://printer.example/ipp/print", BROTHER_ID),
            device(
                "direct",
                "usb://Brother/HL-L2320D%20series?serial=OTHER",
                BROTHER_ID,
            ),
            device(
                "direct",
                "usb://Brother/HL-L2320D%20series?serial=E12345",
                BROTHER_ID,
            ),
        ];
        let found = pair(&brother_usb(), &devices).unwrap();
        assert_eq!(found.uri, "usb://Brother/HL-L2320D%20series?serial=E12345");
    }

    #[test]
    fn without_serials_pairs_by_make_and_model_and_never_a_network_printer() {
        let mut usb = brother_usb();
        usb.serial = None;
        let devices = [
            device("network", "ipp://192.0.2.7/ipp/print", BROTHER_ID),
            device("direct", "usb://Brother/HL-L2320D%20series", BROTHER_ID),
        ];
        assert_eq!(
            pair(&usb, &devices).unwrap().uri,
            "usb://Brother/HL-L2320D%20series"
        );
        assert!(pair(&usb, &devices[..1]).is_none());
        let other = [device(
            "direct",
            "usb://HP/LaserJet",
            "MFG:HP;MDL:LaserJet 1320;",
        )];
        assert!(pair(&usb, &other).is_none());
    }

    #[test]
    fn an_ipp_over_usb_printer_prefers_its_loopback_endpoint() {
        let mut usb = brother_usb();
        usb.ipp_usb = true;
        let devices = [
            device(
                "direct",
                "usb://Brother/HL-L2320D%20series?serial=E12345",
                BROTHER_ID,
            ),
            device("network", "ipp://localhost:60000/ipp/print", BROTHER_ID),
        ];
        assert_eq!(
            pair(&usb, &devices).unwrap().uri,
            "ipp://localhost:60000/ipp/print"
        );
        // Not IPP over USB: a loopback IPP device is someone else's.
        assert_eq!(
            pair(&brother_usb(), &devices).unwrap().uri,
            "usb://Brother/HL-L2320D%20series?serial=E12345"
        );
    }

    #[test]
    fn reads_uri_parts() {
        assert_eq!(
            uri_serial("usb://A/B?serial=X%2FY&interface=1").as_deref(),
            Some("X/Y")
        );
        assert_eq!(uri_serial("usb://A/B"), None);
        assert!(is_loopback_ipp("ipp://localhost:60000/ipp/print"));
        assert!(is_loopback_ipp("ipps://[::1]:60000/ipp/print"));
        assert!(is_loopback_ipp("ipp://127.0.0.1/ipp/print"));
        assert!(!is_loopback_ipp("ipp://localhost.evil.example/ipp/print"));
        assert!(!is_loopback_ipp("usb://localhost/x"));
    }
}
