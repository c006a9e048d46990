//! What `sdw-export` shows on stderr while it works: the progress bar while a
//! large archive is built (only on a terminal, and only for builds big enough
//! to take a while), and, for `print` without `--json`, a line for each file
//! the printing qube hands to the printer and each page count it reports
//! (`Printing file 2 of 5...`, `File 2 of 5: 3 pages printed`). Those carry
//! numbers only, parsed from the device side's progress lines.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sdw_client::archive::Progress;
use sdw_protocol::PrintProgress;

/// Below this many bytes the archive is built too fast for a bar to help.
const MIN_BYTES_FOR_A_BAR: u64 = 16 * 1024 * 1024;

pub struct ArchiveBar {
    enabled: bool,
    bar: Option<ProgressBar>,
    show_printing: bool,
}

impl ArchiveBar {
    pub fn on_stderr_terminal() -> Self {
        ArchiveBar {
            enabled: std::io::stderr().is_terminal(),
            bar: None,
            show_printing: false,
        }
    }

    /// Also shows the print progress the device side reports.
    pub fn showing_print_progress(mut self, show: bool) -> Self {
        self.show_printing = show;
        self
    }
}

/// The line shown for one progress report.
pub fn print_progress_line(progress: PrintProgress) -> String {
    let PrintProgress { file, files, pages } = progress;
    match pages {
        None => format!("Printing file {file} of {files}..."),
        Some(1) => format!("File {file} of {files}: 1 page printed"),
        Some(pages) => format!("File {file} of {files}: {pages} pages printed"),
    }
}

impl Progress for ArchiveBar {
    fn started(&mut self, total_bytes: u64) {
        if !self.enabled || total_bytes < MIN_BYTES_FOR_A_BAR {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("Preparing {bar:40} {bytes}/{total_bytes} ({eta} left)")
        {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    fn advanced(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn printing(&mut self, progress: PrintProgress) {
        if self.show_printing {
            eprintln!("{}", print_progress_line(progress));
        }
    }
}
