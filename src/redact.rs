//! Metadata redaction on export, device side: the `sdw-redact` crate (which
//! owns the formats, the checks and the report; re-exported here) wrapped as
//! the writer's [`Transform`], so that `REDACTION.txt` is written beside
//! `export_data/` with the files. See `docs/redaction.md`.

use std::io::Read;

use sdw_protocol::Redaction;
pub use sdw_redact::*;

use crate::archive::ArchiveError;
use crate::writer::{Transform, WriteError};

/// [`sdw_redact::Redactor`] for the writer and for printing: a file that
/// cannot be read is a corrupt archive, a strict refusal stops the export.
pub struct Redactor(sdw_redact::Redactor);

impl Redactor {
    pub fn new(mode: Redaction) -> Redactor {
        Redactor(sdw_redact::Redactor::new(mode))
    }

    /// What happened to the last file.
    pub fn last(&self) -> Option<&FileReport> {
        self.0.last()
    }

    /// How many files had each outcome so far.
    pub fn counts(&self) -> Counts {
        self.0.counts()
    }

    /// The text of `REDACTION.txt`.
    pub fn report(&self) -> String {
        self.0.report()
    }

    /// Redacts one file; see [`sdw_redact::Redactor::redact`].
    pub fn redact<'a>(
        &mut self,
        path: &str,
        size: u64,
        data: &'a mut dyn Read,
    ) -> Result<Box<dyn Read + 'a>, WriteError> {
        self.0.redact(path, size, data).map_err(|e| match e {
            RedactFileError::Read(e) => WriteError::Archive(ArchiveError::Corrupt(e.to_string())),
            RedactFileError::Refused(refused) => WriteError::Redaction(refused),
        })
    }
}

impl Transform for Redactor {
    fn file<'a>(
        &mut self,
        path: &str,
        size: u64,
        data: &'a mut dyn Read,
    ) -> Result<Box<dyn Read + 'a>, WriteError> {
        self.redact(path, size, data)
    }

    fn beside_export_data(&mut self) -> Vec<(&'static str, Vec<u8>)> {
        vec![(REPORT_FILE, self.report().into_bytes())]
    }
}
