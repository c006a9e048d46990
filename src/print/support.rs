//! Which printers are supported, and how: the table in
//! `printers/supported.json` (embedded at build time) and the pure decision
//! over it, plus the IEEE 1284 device ID parser. No I/O.
//!
//! Order of the decision (first match wins):
//! 1. a `refused` entry for the make and model: not supported, with its reason;
//! 2. the printer is reachable driverless (IPP over USB) and the table allows
//!    driverless printing: IPP Everywhere;
//! 3. a `printers` entry: its driver (a CUPS `ppd-name`) and the package that
//!    ships it;
//! 4. anything else: not supported here; the caller may still ask CUPS for a
//!    driver made for the printer's IEEE 1284 ID, and [`choose_driver`]
//!    decides which of CUPS' answers may drive it.

use serde::Deserialize;

use super::cups::Ppd;

const TABLE: &str = include_str!("../../printers/supported.json");

/// How a printer is to be set up, or why it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// IPP Everywhere: CUPS builds the queue from the printer's attributes.
    Driverless { driver: String },
    /// A classic driver, by CUPS `ppd-name` (listed by CUPS under `make`),
    /// shipped by `package`.
    Driver {
        driver: String,
        package: String,
        make: String,
    },
    /// Known, and refused.
    Refused { reason: String },
    /// Not in the table.
    Unknown,
}

/// The make and model a printer reports in its IEEE 1284 device ID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceId {
    pub make: Option<String>,
    pub model: Option<String>,
    pub command_set: Vec<String>,
}

impl DeviceId {
    /// Parses `KEY:value;KEY:value;` (keys case-insensitive; `MFG` or
    /// `MANUFACTURER`, `MDL` or `MODEL`, `CMD` or `COMMAND SET`).
    pub fn parse(id: &str) -> DeviceId {
        let mut parsed = DeviceId::default();
        for field in id.split(';') {
            let Some((key, value)) = field.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.trim().to_ascii_uppercase().as_str() {
                "MFG" | "MANUFACTURER" => parsed.make = Some(value.to_owned()),
                "MDL" | "MODEL" => parsed.model = Some(value.to_owned()),
                "CMD" | "COMMAND SET" => {
                    parsed.command_set = value.split(',').map(|c| c.trim().to_owned()).collect();
                }
                _ => {}
            }
        }
        parsed
    }

    /// The ID as `CUPS-Get-PPDs` is asked with it: make, model (when
    /// `with_model`) and command set. Separators in the values are dropped.
    pub fn to_query(&self, with_model: bool) -> String {
        let clean = |value: &str| value.replace([';', ':'], " ");
        let mut query = String::new();
        if let Some(make) = &self.make {
            query.push_str(&format!("MFG:{};", clean(make)));
        }
        if let (true, Some(model)) = (with_model, &self.model) {
            query.push_str(&format!("MDL:{};", clean(model)));
        }
        if !self.command_set.is_empty() {
            let commands: Vec<String> = self.command_set.iter().map(|c| clean(c)).collect();
            query.push_str(&format!("CMD:{};", commands.join(",")));
        }
        query
    }
}

/// How a driver CUPS offers matches a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverMatch {
    /// The driver's 1284 ID names this make and model.
    SameModel,
    /// No driver names this model; this one is for a model of the same family
    /// (same make, model number of the same length starting with the same
    /// letters and two digits, e.g. HL-L2300D for an HL-L2310D) and uses only
    /// printer languages this printer declares.
    SameFamily,
}

/// Picks the driver for a printer the table does not know, among the ones
/// CUPS offers for its 1284 ID: one made for its model, else one of its
/// family (see [`DriverMatch`]); the languages it shares with the printer
/// first, then by name, so the choice is stable. IPP Everywhere and other
/// driverless entries are never chosen (the printer is not reachable over
/// IPP). `None` when no offered driver fits.
pub fn choose_driver<'a>(printer: &DeviceId, offered: &'a [Ppd]) -> Option<(&'a Ppd, DriverMatch)> {
    let (make, model) = (printer.make.as_deref()?, printer.model.as_deref()?);
    let commands = |id: &DeviceId| -> Vec<String> {
        let mut set: Vec<String> = id
            .command_set
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect();
        set.sort();
        set.dedup();
        set
    };
    let ours = commands(printer);
    let usable = offered.iter().filter(|ppd| {
        ppd.name != "everywhere" && !ppd.name.starts_with("driverless:") && !ppd.name.is_empty()
    });
    let mut same_model: Vec<&Ppd> = usable
        .clone()
        .filter(|ppd| {
            let id = DeviceId::parse(&ppd.device_id);
            match (&id.make, &id.model) {
                (Some(their_make), Some(their_model)) => {
                    same_model(make, model, their_make, their_model)
                        && normalize_make(make) == normalize_make(their_make)
                }
                _ => false,
            }
        })
        .collect();
    same_model.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(ppd) = same_model.first() {
        return Some((ppd, DriverMatch::SameModel));
    }
    let family = model_family(&normalize_make(make), model)?;
    let mut same_family: Vec<(bool, &Ppd)> = usable
        .filter_map(|ppd| {
            let id = DeviceId::parse(&ppd.device_id);
            let their_make = normalize_make(id.make.as_deref()?);
            let theirs = commands(&id);
            let fits = their_make == normalize_make(make)
                && model_family(&their_make, id.model.as_deref()?).as_ref() == Some(&family)
                && !theirs.is_empty()
                && theirs.iter().all(|c| ours.contains(c));
            fits.then_some((theirs != ours, ppd))
        })
        .collect();
    same_family.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    same_family
        .first()
        .map(|(_, ppd)| (*ppd, DriverMatch::SameFamily))
}

/// A model's family: its normalized name up to and including the first two
/// digits of its model number, with the number's length (`hl-l2310d` ->
/// (`hl-l23`, 4)). `None` for names without letters before a number of at
/// least three digits.
fn model_family(make: &str, model: &str) -> Option<(String, usize)> {
    let model = normalize_model(make, model);
    let start = model.find(|c: char| c.is_ascii_digit())?;
    if start == 0 {
        return None;
    }
    let digits = model
        .get(start..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    if digits < 3 {
        return None;
    }
    Some((model.get(..start + 2)?.to_owned(), digits))
}

/// The table could not be read (a build with a broken data file).
#[derive(Debug, thiserror::Error)]
#[error("printers/supported.json is malformed: {0}")]
pub struct TableError(String);

/// `printers/supported.json` as written: what [`SupportTable::parse`] reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    /// Prose for people reading the file.
    #[serde(default, rename = "about")]
    _about: String,
    #[serde(default)]
    driverless: Option<DriverlessEntry>,
    printers: Vec<PrinterEntry>,
    refused: Vec<RefusedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriverlessEntry {
    supported: bool,
    #[serde(default = "everywhere")]
    driver: String,
    #[serde(default, rename = "note")]
    _note: String,
}

fn everywhere() -> String {
    "everywhere".into()
}

/// A supported model and its classic driver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrinterEntry {
    make: String,
    model: String,
    /// A CUPS `ppd-name`.
    driver: String,
    /// The Debian package that ships the driver.
    #[serde(default)]
    package: String,
    #[serde(default, rename = "note")]
    _note: String,
}

/// A model refused, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefusedEntry {
    make: String,
    model: String,
    #[serde(default = "refused")]
    reason: String,
}

fn refused() -> String {
    "refused".into()
}

/// The support table.
#[derive(Debug, Clone)]
pub struct SupportTable {
    driverless: Option<String>,
    printers: Vec<PrinterEntry>,
    refused: Vec<RefusedEntry>,
}

impl SupportTable {
    /// The table built into this program.
    pub fn builtin() -> Result<SupportTable, TableError> {
        SupportTable::parse(TABLE)
    }

    /// Reads a table in the format of `printers/supported.json`; unknown
    /// keys are refused, so a misspelt one cannot silently drop an entry.
    pub fn parse(json: &str) -> Result<SupportTable, TableError> {
        let file: TableFile = serde_json::from_str(json).map_err(|e| TableError(e.to_string()))?;
        Ok(SupportTable {
            driverless: file.driverless.filter(|d| d.supported).map(|d| d.driver),
            printers: file.printers,
            refused: file.refused,
        })
    }

    /// Decides how to set up the printer `make`/`model` (from its 1284 ID);
    /// `driverless` says whether it is reachable over IPP (ipp-usb).
    pub fn decide(&self, make: &str, model: &str, driverless: bool) -> Decision {
        let make = normalize_make(make);
        let model = normalize_model(&make, model);
        let matching = |entry_make: &str, entry_model: &str| {
            let entry_make = normalize_make(entry_make);
            entry_make == make && normalize_model(&entry_make, entry_model) == model
        };
        if let Some(entry) = self.refused.iter().find(|e| matching(&e.make, &e.model)) {
            return Decision::Refused {
                reason: entry.reason.clone(),
            };
        }
        if driverless {
            if let Some(driver) = &self.driverless {
                return Decision::Driverless {
                    driver: driver.clone(),
                };
            }
        }
        match self.printers.iter().find(|e| matching(&e.make, &e.model)) {
            Some(entry) => Decision::Driver {
                driver: entry.driver.clone(),
                package: entry.package.clone(),
                make: entry.make.clone(),
            },
            None => Decision::Unknown,
        }
    }
}

/// Whether two make/model pairs name the same printer (USB strings against
/// a 1284 ID, which may differ in case, spacing, `series` and HP's make).
pub fn same_model(make_a: &str, model_a: &str, make_b: &str, model_b: &str) -> bool {
    let (make_a, make_b) = (normalize_make(make_a), normalize_make(make_b));
    let model_a = normalize_model(&make_a, model_a);
    let model_b = normalize_model(&make_b, model_b);
    !model_a.is_empty()
        && model_a == model_b
        && (make_a.is_empty() || make_b.is_empty() || make_a == make_b)
}

fn collapse(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn normalize_make(make: &str) -> String {
    match collapse(make).as_str() {
        "hewlett-packard" | "hewlett packard" | "hp inc." => "hp".into(),
        other => other.to_owned(),
    }
}

/// Lower case, spaces collapsed, without a leading make (`HP LaserJet` ->
/// `laserjet`) or a trailing ` series`.
fn normalize_model(make: &str, model: &str) -> String {
    let model = collapse(model);
    let model = model
        .strip_prefix(make)
        .and_then(|m| m.strip_prefix(' '))
        .unwrap_or(&model);
    let model = model.strip_prefix("hewlett-packard ").unwrap_or(model);
    model.strip_suffix(" series").unwrap_or(model).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SupportTable {
        SupportTable::builtin().unwrap()
    }

    #[test]
    fn parses_device_ids() {
        let id = DeviceId::parse("MFG:Brother;MDL:HL-L2320D series;CMD:PJL,PCL,PCLXL,URF;");
        assert_eq!(id.make.as_deref(), Some("Brother"));
        assert_eq!(id.model.as_deref(), Some("HL-L2320D series"));
        assert_eq!(id.command_set, ["PJL", "PCL", "PCLXL", "URF"]);
        let long = DeviceId::parse("MANUFACTURER:HP;MODEL:LaserJet 1320;COMMAND SET:PCL");
        assert_eq!(long.make.as_deref(), Some("HP"));
        assert_eq!(DeviceId::parse("garbage"), DeviceId::default());
    }

    #[test]
    fn a_listed_classic_printer_gets_its_driver() {
        assert_eq!(
            table().decide("Brother", "HL-L2320D series", false),
            Decision::Driver {
                driver: "drv:///brlaser.drv/brl2320d.ppd".into(),
                package: "printer-driver-brlaser".into(),
                make: "Brother".into(),
            }
        );
        // HP's 1284 IDs say Hewlett-Packard and repeat the make in the model.
        assert!(matches!(
            table().decide("Hewlett-Packard", "HP LaserJet 1320 series", false),
            Decision::Driver { .. }
        ));
    }

    #[test]
    fn refused_models_are_refused_with_a_reason_even_driverless() {
        for driverless in [false, true] {
            match table().decide("Canon", "LBP2900", driverless) {
                Decision::Refused { reason } => assert!(reason.contains("CAPT")),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            table().decide("HP", "HP LaserJet 1020", false),
            Decision::Refused { .. }
        ));
    }

    #[test]
    fn ipp_over_usb_printers_are_driverless_and_unknown_ones_unsupported() {
        assert_eq!(
            table().decide("Test", "Everywhere", true),
            Decision::Driverless {
                driver: "everywhere".into()
            }
        );
        assert_eq!(
            table().decide("Test", "Everywhere", false),
            Decision::Unknown
        );
        assert_eq!(table().decide("Epson", "ET-2720", false), Decision::Unknown);
    }

    fn ppd(name: &str, id: &str) -> Ppd {
        Ppd {
            name: name.into(),
            make_and_model: String::new(),
            device_id: id.into(),
        }
    }

    /// What brlaser 6 offers (a part), as cupsd lists it for `MFG:Brother`.
    fn brlaser() -> Vec<Ppd> {
        vec![
            ppd("everywhere", ""),
            ppd(
                "drv:///brlaser.drv/br1510.ppd",
                "MFG:Brother;CMD:PJL,XL2HB;MDL:DCP-1510 series;CLS:PRINTER;",
            ),
            ppd(
                "drv:///brlaser.drv/brl2360d.ppd",
                "MFG:Brother;CMD:PJL,PCL,PCLXL,URF;MDL:HL-L2360D series;CLS:PRINTER;",
            ),
            ppd(
                "drv:///brlaser.drv/brl2340d.ppd",
                "MFG:Brother;CMD:PJL,HBP,URF;MDL:HL-L2340D series;CLS:PRINTER;",
            ),
            ppd(
                "drv:///brlaser.drv/brl2320d.ppd",
                "MFG:Brother;CMD:PJL,HBP;MDL:HL-L2320D series;CLS:PRINTER;",
            ),
            ppd(
                "drv:///brlaser.drv/brl2300d.ppd",
                "MFG:Brother;CMD:PJL,HBP;MDL:HL-L2300D series;CLS:PRINTER;",
            ),
            ppd(
                "drv:///brlaser.drv/br2270dw.ppd",
                "MFG:Brother;CMD:PJL,PCL,PCLXL;MDL:HL-2270DW series;CLS:PRINTER;",
            ),
        ]
    }

    #[test]
    fn a_driver_for_the_model_itself_wins() {
        let id = DeviceId::parse("MFG:Brother;CMD:PJL,PCL,PCLXL;MDL:HL-2270DW series;CLS:PRINTER;");
        let offered = brlaser();
        let (chosen, how) = choose_driver(&id, &offered).unwrap();
        assert_eq!(chosen.name, "drv:///brlaser.drv/br2270dw.ppd");
        assert_eq!(how, DriverMatch::SameModel);
    }

    #[test]
    fn a_model_missing_from_the_driver_gets_its_familys_driver() {
        // The Brother HL-L2310D, as its usb backend reports it: brlaser 6 has
        // no entry for it, and the HL-L2300D's drives it.
        let id = DeviceId::parse(
            "MFG:Brother;CMD:PJL,HBP;MDL:HL-L2310D series;CLS:PRINTER;CID:Brother Laser Type1;",
        );
        let offered = brlaser();
        let (chosen, how) = choose_driver(&id, &offered).unwrap();
        assert_eq!(chosen.name, "drv:///brlaser.drv/brl2300d.ppd");
        assert_eq!(how, DriverMatch::SameFamily);
        assert_eq!(
            id.to_query(true),
            "MFG:Brother;MDL:HL-L2310D series;CMD:PJL,HBP;"
        );
        assert_eq!(id.to_query(false), "MFG:Brother;CMD:PJL,HBP;");
    }

    #[test]
    fn no_driver_of_another_family_make_or_language_is_chosen() {
        for id in [
            // A Brother inkjet: no brlaser model of its family.
            "MFG:Brother;CMD:PJL,PCL,PCLXL,URF;MDL:MFC-J491DW;",
            // Same family, but a language none of the family's drivers
            // declares alone (the HL-L2360D's driver needs PCL too).
            "MFG:Brother;CMD:PCLXL;MDL:HL-L2390DW;",
            // Another make.
            "MFG:Canon;CMD:CAPT;MDL:LBP2910;",
            // No command set, no model number, no model.
            "MFG:Brother;MDL:HL-L2310D series;",
            "MFG:Brother;CMD:PJL,HBP;MDL:Laser;",
            "MFG:Brother;CMD:PJL,HBP;",
        ] {
            assert_eq!(
                choose_driver(&DeviceId::parse(id), &brlaser()),
                None,
                "{id}"
            );
        }
        // IPP Everywhere is never chosen, even when CUPS offers only that.
        let id = DeviceId::parse("MFG:Test;CMD:PDF;MDL:Everywhere 3000;");
        assert_eq!(choose_driver(&id, &[ppd("everywhere", "")]), None);
    }

    #[test]
    fn the_built_in_table_is_well_formed_and_broken_tables_are_refused() {
        assert!(table().printers.len() > 5);
        assert!(!table().refused.is_empty());
        assert!(SupportTable::parse("{}").is_err());
        assert!(
            SupportTable::parse(r#"{"printers":[{"make":"A","model":"B"}],"refused":[]}"#).is_err()
        );
        assert!(SupportTable::parse(
            r#"{"printers":[],"refused":[{"make":"A","model":"B","colour":"red"}]}"#
        )
        .is_err());
        assert!(SupportTable::parse(r#"{"printers":[],"refused":[]}"#).is_ok());
    }
}
