//! `sdw-print-dialog`: the GTK 4 print dialog of `sd-printers`, in a process
//! of its own so that GTK never runs in the process that parses archives.
//!
//! `sdw-print-dialog --printer QUEUE` reads one line from stdin, the name of
//! what is printed as the device side shows it (already made printable
//! there; it is not put on the command line, where other processes could
//! read it), and shows GTK's print dialog (`GtkPrintUnixDialog`, GTK 4.8)
//! with `QUEUE` preselected. It prints nothing itself. Its answer, on stdout:
//!
//! - exit 0 and one JSON line `{"printer":"…","print_options":{…}}` when the
//!   journalist pressed Print: the choices as `print_options` of
//!   `metadata.json` ([`sdw_protocol::PrintOptions`]), only those that differ
//!   from the dialog's defaults;
//! - exit 1 and `cancelled` when the journalist pressed Cancel or closed it;
//! - exit 2 (nothing on stdout, the reason on stderr) when it could not run:
//!   no display, bad arguments.
//!
//! Choices the device side cannot carry out (only even or odd pages, reverse
//! order, several pages per sheet, scaling) are not silently dropped: the
//! dialog says so and stays open.

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;

use gtk4::prelude::*;
use gtk4::{glib, PageOrientation, PageSet, PrintDuplex, PrintPages, ResponseType, Unit};
use sdw_protocol::print_options::{
    ColorMode, Copies, Media, Orientation, PageRanges, PrintOptions, Sides,
};

/// Exit code: Print pressed, options on stdout.
const EXIT_PRINT: u8 = 0;
/// Exit code: cancelled.
const EXIT_CANCELLED: u8 = 1;
/// Exit code: the dialog could not run.
const EXIT_FAILED: u8 = 2;
/// How long the dialog waits for the printer before showing anyway.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest name line read from stdin.
const MAX_NAME_BYTES: usize = 1024;

/// What the journalist did.
enum Answer {
    Print {
        printer: String,
        options: PrintOptions,
    },
    Cancelled,
}

fn main() -> ExitCode {
    let printer = match parse_args(std::env::args().skip(1)) {
        Ok(printer) => printer,
        Err(message) => {
            eprintln!("sdw-print-dialog: {message}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let name = read_name();
    if let Err(e) = gtk4::init() {
        eprintln!("sdw-print-dialog: GTK cannot start (no display?): {e}");
        return ExitCode::from(EXIT_FAILED);
    }
    let answer = run_dialog(&printer, &name);
    let mut stdout = std::io::stdout().lock();
    let (line, code) = match answer {
        Answer::Print { printer, options } => (
            serde_json::json!({ "printer": printer, "print_options": options }).to_string(),
            EXIT_PRINT,
        ),
        Answer::Cancelled => ("cancelled".to_owned(), EXIT_CANCELLED),
    };
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(EXIT_FAILED);
    }
    ExitCode::from(code)
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--printer"), Some(printer), None) if !printer.is_empty() => Ok(printer),
        _ => Err("usage: sdw-print-dialog --printer QUEUE (the document's name on stdin)".into()),
    }
}

/// The document's name from stdin: one line, bounded, control characters
/// dropped (the device side already sends a printable name).
fn read_name() -> String {
    let mut line = Vec::new();
    let stdin = std::io::stdin();
    let mut limited = std::io::Read::take(stdin.lock(), MAX_NAME_BYTES as u64);
    let _ = BufRead::read_until(&mut std::io::BufReader::new(&mut limited), b'\n', &mut line);
    String::from_utf8_lossy(&line)
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Shows the dialog and waits for Print or Cancel.
fn run_dialog(printer: &str, name: &str) -> Answer {
    // Only CUPS' printers: no "Print to File", which this service cannot do.
    if let Some(settings) = gtk4::Settings::default() {
        settings.set_property("gtk-print-backends", "cups");
    }
    let title = if name.is_empty() {
        "Print".to_owned()
    } else {
        format!("Print “{name}”")
    };
    let dialog = gtk4::PrintUnixDialog::new(Some(&title), None::<&gtk4::Window>);
    let settings = gtk4::PrintSettings::new();
    settings.set_printer(printer);
    dialog.set_settings(Some(&settings));
    dialog.set_embed_page_setup(true);
    dialog.set_modal(true);

    let main_loop = glib::MainLoop::new(None, false);
    let answer: Rc<RefCell<Option<Answer>>> = Rc::new(RefCell::new(None));
    {
        let main_loop = main_loop.clone();
        let answer = answer.clone();
        dialog.connect_response(move |dialog, response| {
            let chosen = match response {
                ResponseType::Ok => match read_choices(dialog) {
                    Ok(chosen) => chosen,
                    Err(reason) => {
                        explain(dialog, &reason);
                        return;
                    }
                },
                _ => Answer::Cancelled,
            };
            answer.replace(Some(chosen));
            dialog.set_visible(false);
            main_loop.quit();
        });
    }
    present_when_ready(&dialog, printer);
    main_loop.run();
    answer.take().unwrap_or(Answer::Cancelled)
}

/// Shows the dialog once it has selected `printer` and read its options
/// (so the journalist never sees it switch printers under the pointer), or
/// after [`READY_TIMEOUT`] when the printer does not appear.
fn present_when_ready(dialog: &gtk4::PrintUnixDialog, printer: &str) {
    let shown = Rc::new(std::cell::Cell::new(false));
    let show = {
        let dialog = dialog.clone();
        let shown = shown.clone();
        move || {
            if !shown.replace(true) {
                dialog.present();
            }
        }
    };
    let wanted = printer.to_owned();
    let on_selected = {
        let show = show.clone();
        move |dialog: &gtk4::PrintUnixDialog| {
            let Some(selected) = dialog.selected_printer() else {
                return;
            };
            if selected.name() != wanted.as_str() {
                return;
            }
            if selected.has_details() {
                let show = show.clone();
                glib::idle_add_local_once(show);
            } else {
                let show = show.clone();
                selected.connect_details_acquired(move |_, _| {
                    let show = show.clone();
                    glib::idle_add_local_once(show);
                });
            }
        }
    };
    on_selected(dialog);
    dialog.connect_selected_printer_notify(on_selected);
    glib::timeout_add_local_once(READY_TIMEOUT, show);
}

/// Shows why a choice cannot be honoured; the print dialog stays open.
fn explain(parent: &gtk4::PrintUnixDialog, reason: &str) {
    let message = gtk4::MessageDialog::builder()
        .transient_for(parent)
        .modal(true)
        .message_type(gtk4::MessageType::Error)
        .buttons(gtk4::ButtonsType::Ok)
        .title("Cannot print this way")
        .text("This choice cannot be printed")
        .secondary_text(reason)
        .build();
    message.connect_response(|message, _| message.destroy());
    message.present();
}

/// The journalist's choices as print options, or why they cannot be
/// printed.
fn read_choices(dialog: &gtk4::PrintUnixDialog) -> Result<Answer, String> {
    let printer = dialog
        .selected_printer()
        .map(|p| p.name().to_string())
        .ok_or("No printer is selected.")?;
    let settings = dialog.settings();
    let page_setup = dialog.page_setup();
    refuse_unsupported(&settings)?;
    let mut options = PrintOptions::default();

    let copies = settings.n_copies();
    if copies > 1 {
        options.copies = Some(
            Copies::new(u64::try_from(copies).unwrap_or(0)).map_err(|e| format!("Copies: {e}."))?,
        );
    }
    if settings.print_pages() == PrintPages::Ranges {
        options.page_ranges = Some(page_ranges(&settings.page_ranges())?);
    }
    if settings.get("duplex").is_some() {
        options.sides = Some(match settings.duplex() {
            PrintDuplex::Simplex => Sides::OneSided,
            PrintDuplex::Horizontal => Sides::TwoSidedLongEdge,
            _ => Sides::TwoSidedShortEdge,
        });
    }
    if !settings.uses_color() || is_gray(&settings) {
        options.color = Some(ColorMode::Monochrome);
    }
    options.orientation = match page_setup.orientation() {
        PageOrientation::Portrait => None,
        PageOrientation::Landscape => Some(Orientation::Landscape),
        PageOrientation::ReversePortrait => Some(Orientation::ReversePortrait),
        _ => Some(Orientation::ReverseLandscape),
    };
    let paper = page_setup.paper_size();
    let default_paper = dialog
        .selected_printer()
        .map(|p| p.default_page_size())
        .map(|setup| setup.paper_size());
    if default_paper.is_none_or(|d| d != paper) {
        let name = media_name(&paper).ok_or_else(|| {
            format!(
                "The paper size {} has no standard name.",
                paper.display_name()
            )
        })?;
        options.media = Some(Media::new(&name).map_err(|e| format!("Paper: {e}."))?);
    }
    Ok(Answer::Print { printer, options })
}

/// Choices GTK offers that the device side cannot carry out.
fn refuse_unsupported(settings: &gtk4::PrintSettings) -> Result<(), String> {
    if settings.page_set() != PageSet::All {
        return Err("Printing only even or only odd pages is not supported.".into());
    }
    if settings.is_reverse() {
        return Err("Printing in reverse order is not supported.".into());
    }
    if settings.number_up() > 1 {
        return Err("Printing several pages per sheet is not supported.".into());
    }
    if (settings.scale() - 100.0).abs() > 0.01 {
        return Err("Scaling is not supported: leave it at 100%.".into());
    }
    Ok(())
}

/// Whether a printer's own colour option asks for gray (GTK keeps a CUPS
/// printer's options as `cups-…` keys).
fn is_gray(settings: &gtk4::PrintSettings) -> bool {
    ["cups-ColorModel", "cups-print-color-mode"]
        .iter()
        .filter_map(|key| settings.get(key))
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v == "gray" || v == "grayscale" || v == "monochrome"
        })
}

/// GTK's page ranges (0-based, inclusive) as IPP's 1-based ranges.
fn page_ranges(ranges: &[gtk4::PageRange]) -> Result<PageRanges, String> {
    let text = ranges
        .iter()
        .map(|r| {
            let (first, last) = (r.start() + 1, r.end() + 1);
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    if text.is_empty() {
        return Err("Type the pages to print, such as 1-3,7.".into());
    }
    PageRanges::parse(&text).map_err(|e| format!("Pages “{text}”: {e}."))
}

/// The PWG 5101.1 self-describing name (`iso_a4_210x297mm`) of the paper
/// GTK chose; `None` for a custom size.
fn media_name(paper: &gtk4::PaperSize) -> Option<String> {
    if paper.is_custom() {
        return None;
    }
    pwg_media(&paper.name(), paper.width(Unit::Mm), paper.height(Unit::Mm))
}

/// A paper size GTK names by its standard name (`iso_a4`) with its size in
/// millimetres as a PWG self-describing name, or the name itself when it is
/// one already (paper sizes read over IPP).
fn pwg_media(name: &str, width_mm: f64, height_mm: f64) -> Option<String> {
    if (name.ends_with("mm") || name.ends_with("in")) && name.matches('_').count() >= 2 {
        return Some(name.to_owned());
    }
    let class = name.split('_').next()?;
    let (scale, suffix) = match class {
        "na" | "asme" | "oe" => (1.0 / 25.4, "in"),
        "iso" | "jis" | "jpn" | "prc" | "roc" | "om" => (1.0, "mm"),
        _ => return None,
    };
    let dimension = |mm: f64| {
        let text = format!("{:.2}", mm * scale);
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    Some(format!(
        "{name}_{}x{}{suffix}",
        dimension(width_mm),
        dimension(height_mm)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_exactly_one_printer() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(
            args(&["--printer", "sdw-printer"]),
            Ok("sdw-printer".into())
        );
        assert!(args(&[]).is_err());
        assert!(args(&["--printer"]).is_err());
        assert!(args(&["--printer", ""]).is_err());
        assert!(args(&["--printer", "a", "b"]).is_err());
        assert!(args(&["sdw-printer"]).is_err());
    }

    #[test]
    fn page_ranges_become_one_based() {
        let ranges = [gtk4::PageRange::new(0, 2), gtk4::PageRange::new(6, 6)];
        assert_eq!(page_ranges(&ranges).unwrap().to_string(), "1-3,7");
        assert!(page_ranges(&[]).is_err());
        // Overlapping ranges are refused as in metadata.json.
        let overlapping = [gtk4::PageRange::new(0, 4), gtk4::PageRange::new(2, 6)];
        assert!(page_ranges(&overlapping).is_err());
    }

    #[test]
    fn standard_paper_sizes_get_pwg_names() {
        assert_eq!(
            pwg_media("iso_a4", 210.0, 297.0).as_deref(),
            Some("iso_a4_210x297mm")
        );
        assert_eq!(
            pwg_media("na_letter", 215.9, 279.4).as_deref(),
            Some("na_letter_8.5x11in")
        );
        assert_eq!(
            pwg_media("iso_a5_148x210mm", 148.0, 210.0).as_deref(),
            Some("iso_a5_148x210mm")
        );
        // A PPD's own name is not an IPP media name.
        assert_eq!(pwg_media("A4", 210.0, 297.0), None);
    }
}
