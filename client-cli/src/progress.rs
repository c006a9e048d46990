//! The progress bar drawn on stderr while a large archive is built; only on a
//! terminal, and only for builds big enough to take a while.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sdw_client::archive::Progress;

/// Below this many bytes the archive is built too fast for a bar to help.
const MIN_BYTES_FOR_A_BAR: u64 = 16 * 1024 * 1024;

pub struct ArchiveBar {
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl ArchiveBar {
    pub fn on_stderr_terminal() -> Self {
        ArchiveBar {
            enabled: std::io::stderr().is_terminal(),
            bar: None,
        }
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
}
