//! `docs/protocol.md` against this crate: every status word has its row, in
//! the order of `Status::ALL` and with who may send it; every `device` command
//! has its row, and each row is a command the parser accepts; the doc names no
//! status-like word the crate does not know; the names of `layout` are those
//! the doc gives. Each check returns its problems, so the tests at the end can
//! show that a doctored page fails.

use std::collections::BTreeSet;

use sdw_protocol::{layout, Command, Metadata, Origin, Status};

fn protocol_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of the `## ` section whose heading starts with `heading`, up to
/// the next `## ` heading (its `### ` subsections included).
fn section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = doc.lines().skip_while(|line| !line.starts_with(heading));
    match lines.next() {
        Some(_) => lines.take_while(|line| !line.starts_with("## ")).collect(),
        None => Vec::new(),
    }
}

/// Table rows whose first cell is one backticked value: the value (`""` read
/// as the empty string) and the other cells, trimmed.
fn rows(lines: &[&str]) -> Vec<(String, Vec<String>)> {
    lines
        .iter()
        .filter_map(|line| {
            let mut cells = line.trim().strip_prefix('|')?.split('|').map(str::trim);
            let first = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            if first.contains('`') {
                return None;
            }
            let value = if first == "\"\"" { "" } else { first };
            let rest = cells.filter(|cell| !cell.is_empty()).map(String::from);
            Some((value.to_owned(), rest.collect()))
        })
        .collect()
}

fn origin_name(status: Status) -> &'static str {
    match status.origin() {
        Origin::Device => "device",
        Origin::Client => "client",
    }
}

/// The status tables: one row per word of `Status::ALL`, in that order, whose
/// "sent by" cell is the word's origin.
fn status_table_problems(doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let table = rows(&section(doc, "## Status words"));
    let listed: Vec<&str> = table.iter().map(|(word, _)| word.as_str()).collect();
    let ours: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    for word in &ours {
        if !listed.contains(word) {
            problems.push(format!("status word {word} has no row"));
        }
    }
    for (word, cells) in &table {
        match Status::from_word(word) {
            None => problems.push(format!("row for {word}, which is no status word")),
            Some(status) => {
                let sent_by = cells.first().map(String::as_str);
                if sent_by != Some(origin_name(status)) {
                    problems.push(format!(
                        "{word} is sent by {}, the doc says {sent_by:?}",
                        origin_name(status)
                    ));
                }
            }
        }
    }
    if problems.is_empty() && listed != ours {
        problems.push(format!(
            "the rows are not in the order of Status::ALL (or repeat a word): {listed:?}"
        ));
    }
    problems
}

/// The Rust name of each command: an exhaustive match, so that a new command
/// does not compile until it is named here, and `COMMANDS` counts it.
fn variant(command: &Command) -> &'static str {
    match command {
        Command::Start => "Start",
        Command::UsbTest => "UsbTest",
        Command::DiskTest => "DiskTest",
        Command::Disk { .. } => "Disk",
        Command::PrinterPreflight => "PrinterPreflight",
        Command::PrinterTest => "PrinterTest",
        Command::Printer { .. } => "Printer",
    }
}

/// How many variants `variant` names.
const COMMANDS: usize = 7;

/// The commands table: each row's value is a command `Metadata::parse`
/// accepts, named by its `Command::` variant, whose success words are the
/// crate's; every command has one row; the success words of all rows are
/// exactly the words `Status::is_success` knows.
fn command_table_problems(doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut success_words = BTreeSet::new();
    for (value, cells) in rows(&section(doc, "## Commands")) {
        let metadata = serde_json::json!({ "device": value }).to_string();
        let command = match Metadata::parse(metadata.as_bytes()) {
            Ok(command) => command,
            Err(e) => {
                problems.push(format!("row {value:?} is no command: {e}"));
                continue;
            }
        };
        if command.device_value() != value {
            problems.push(format!(
                "row {value:?} parses as {:?}",
                command.device_value()
            ));
        }
        if !seen.insert(variant(&command)) {
            problems.push(format!("command {value:?} has two rows"));
        }
        let named = format!("`Command::{}`", variant(&command));
        if cells.first() != Some(&named) {
            problems.push(format!(
                "row {value:?} names {:?}, not {named}",
                cells.first()
            ));
        }
        for word in cells
            .last()
            .into_iter()
            .flat_map(|cell| cell.split('`'))
            .skip(1)
            .step_by(2)
        {
            match Status::from_word(word) {
                Some(status) if status.is_success() => {
                    success_words.insert(word.to_owned());
                }
                _ => problems.push(format!("row {value:?}: {word} is no success word")),
            }
        }
    }
    if seen.len() != COMMANDS {
        problems.push(format!(
            "{} commands have a row, of {COMMANDS}: {seen:?}",
            seen.len()
        ));
    }
    let ours: BTreeSet<String> = Status::ALL
        .iter()
        .filter(|s| s.is_success())
        .map(|s| s.as_str().to_owned())
        .collect();
    if success_words != ours {
        problems.push(format!(
            "success words {success_words:?}, the crate's are {ours:?}"
        ));
    }
    problems
}

/// Names the doc may use that look like status words (upper case with an
/// underscore) and are not: items of this crate. Each is named in code, so
/// a renamed or removed one fails to compile here.
macro_rules! crate_items {
    ($($($segment:ident)::+),* $(,)?) => {{
        $(let _ = &sdw_protocol::$($segment)::+;)*
        [$(stringify!($($segment)::+).rsplit("::").next().unwrap_or_default().trim()),*]
    }};
}

/// Every upper-case word with an underscore in the doc is a status word the
/// crate knows, or one of the crate's items.
fn unknown_word_problems(doc: &str) -> Vec<String> {
    let items = crate_items!(
        MAX_STATUS_LINE_BYTES,
        MAX_METADATA_BYTES,
        layout::QREXEC_OPEN_IN_VM,
        layout::QOPEN_IN_VM,
        layout::QREXEC_EXPORT_SERVICE,
        layout::MIME_TYPE,
        layout::ARCHIVE_EXTENSION,
        layout::DEVICES_QUBE,
        layout::PRINTERS_QUBE,
        layout::METADATA_FILE,
        layout::EXPORT_DATA_DIR,
        layout::EXPORT_FOLDER_PREFIX,
    );
    let unknown: BTreeSet<&str> = doc
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            word.contains('_')
                && word.starts_with(|c: char| c.is_ascii_uppercase())
                && !word.ends_with('_')
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .filter(|word| Status::from_word(word).is_none() && !items.contains(word))
        .collect();
    unknown
        .into_iter()
        .map(|word| format!("{word} is neither a status word nor an item of sdw-protocol"))
        .collect()
}

/// The names `layout` spells appear as the doc gives them.
fn layout_problems(doc: &str) -> Vec<String> {
    let open_in_vm = format!(
        "qrexec-client-vm -- TARGET {} {} --view-only -- ARCHIVE",
        layout::QREXEC_OPEN_IN_VM,
        layout::QOPEN_IN_VM
    );
    let service = format!("qrexec-client-vm TARGET {} ", layout::QREXEC_EXPORT_SERVICE);
    let folder = format!("`{}YYYYMMDD-HHMMSS`", layout::EXPORT_FOLDER_PREFIX);
    let expected = [
        open_in_vm,
        service,
        folder,
        format!("`{}`", layout::METADATA_FILE),
        format!("`{}/`", layout::EXPORT_DATA_DIR),
        format!("`{}`", layout::MIME_TYPE),
        format!("`.{}`", layout::ARCHIVE_EXTENSION),
        format!("`{}`", layout::DEVICES_QUBE),
        format!("`{}`", layout::PRINTERS_QUBE),
        format!("`{}`", layout::CLIENT_QUBE),
    ];
    expected
        .into_iter()
        .filter(|text| !doc.contains(text.as_str()))
        .map(|text| format!("the doc does not say {text}"))
        .collect()
}

fn all_problems(doc: &str) -> Vec<String> {
    [
        status_table_problems(doc),
        command_table_problems(doc),
        unknown_word_problems(doc),
        layout_problems(doc),
    ]
    .concat()
}

#[test]
fn protocol_doc_matches_the_crate() {
    let problems = all_problems(&protocol_doc());
    assert!(
        problems.is_empty(),
        "docs/protocol.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_status_word_and_command_value_is_in_the_doc() {
    let doc = protocol_doc();
    for status in Status::ALL {
        assert!(doc.contains(&format!("`{status}`")), "{status}");
    }
    for command in [
        Command::Start,
        Command::UsbTest,
        Command::DiskTest,
        Command::Disk { passphrase: None },
        Command::PrinterPreflight,
        Command::PrinterTest,
        Command::Printer { options: None },
    ] {
        let value = match command.device_value() {
            "" => "\"\"",
            value => value,
        };
        assert!(doc.contains(&format!("| `{value}` |")), "{value}");
    }
}

// The checks fail on a page that is wrong.

fn doctored(find: &str, replace: &str) -> String {
    let doc = protocol_doc();
    assert!(doc.contains(find), "{find:?} is not in the doc");
    doc.replacen(find, replace, 1)
}

#[test]
fn a_missing_status_row_is_found() {
    let doc = doctored("| `ERROR_MOUNT` | device |", "| ERROR_MOUNT | device |");
    let problems = status_table_problems(&doc);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ERROR_MOUNT has no row")),
        "{problems:?}"
    );
}

#[test]
fn a_wrong_origin_is_found() {
    let doc = doctored(
        "| `ERROR_MISSING_FILES` | client |",
        "| `ERROR_MISSING_FILES` | device |",
    );
    assert!(!status_table_problems(&doc).is_empty());
}

#[test]
fn rows_out_of_order_are_found() {
    let doc = doctored("| `NO_DEVICE_DETECTED` |", "| `MULTI_DEVICE_DETECTED` |");
    let doc = doc.replacen(
        "| `MULTI_DEVICE_DETECTED` | device | more",
        "| `NO_DEVICE_DETECTED` | device | more",
        1,
    );
    assert!(!status_table_problems(&doc).is_empty());
}

#[test]
fn an_unknown_status_like_word_is_found() {
    let doc = doctored("`ERROR_LOGGING`", "`ERROR_LOGGING_FAILED`");
    let problems = unknown_word_problems(&doc);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("ERROR_LOGGING_FAILED"));
    // Outside any table, too.
    let doc = format!("{}\nThe device may also say DEVICE_BUSY.\n", protocol_doc());
    assert_eq!(unknown_word_problems(&doc).len(), 1);
}

#[test]
fn a_missing_or_unknown_command_row_is_found() {
    let doc = doctored("| `disk-test` |", "| disk-test |");
    assert!(!command_table_problems(&doc).is_empty());
    let doc = doctored("| `printer-test` |", "| `print-test` |");
    assert!(!command_table_problems(&doc).is_empty());
    let doc = doctored("`Command::UsbTest`", "`Command::DiskTest`");
    assert!(!command_table_problems(&doc).is_empty());
}

#[test]
fn a_wrong_success_word_is_found() {
    let doc = doctored("| `PRINTER_TEST_SUCCESS` |\n", "| `ERROR_PRINT` |\n");
    assert!(!command_table_problems(&doc).is_empty());
}

#[test]
fn a_wrong_layout_name_is_found() {
    for wrong in ["securedrop.Exporter", "securedrop.export"] {
        let doc = protocol_doc().replace("securedrop.Export", wrong);
        assert!(!layout_problems(&doc).is_empty(), "{wrong}");
    }
    let doc = protocol_doc().replace("`metadata.json`", "`meta.json`");
    assert!(!layout_problems(&doc).is_empty());
}
