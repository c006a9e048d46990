//! (fx) Office documents to PDF with headless LibreOffice, run by fixed path
//! with an empty environment, a private profile and an output folder of its
//! own, all inside the caller's private work folder. LibreOffice exits 0 even
//! when it converted nothing, so the result is checked: a PDF must exist and
//! look whole (`%PDF-` header, `%%EOF` trailer). Runs are bounded in time and
//! killed when over. Removing the work folder is the caller's job.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// LibreOffice's program itself (not the `soffice` wrapper script, which
/// forks it and could not be killed as one process).
pub const SOFFICE_BIN: &str = "/usr/lib/libreoffice/program/soffice.bin";
/// Exit code of a first run that created the profile and wants a restart.
const RESTART_REQUESTED: i32 = 81;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("LibreOffice ({SOFFICE_BIN}) is not installed")]
    NotInstalled,
    #[error("could not run LibreOffice: {0}")]
    Spawn(std::io::Error),
    #[error("LibreOffice took longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("LibreOffice failed with {0}")]
    Failed(String),
    #[error("LibreOffice produced no PDF")]
    NoOutput,
    #[error("LibreOffice produced an invalid PDF ({0})")]
    InvalidPdf(&'static str),
    #[error("conversion folder: {0}")]
    Io(std::io::Error),
}

/// Converts `input` (named with the extension of its kind) to PDF; `work` is a
/// private, empty folder for LibreOffice's profile and output.
pub fn to_pdf(input: &Path, work: &Path, timeout: Duration) -> Result<PathBuf, ConvertError> {
    if !Path::new(SOFFICE_BIN).exists() {
        return Err(ConvertError::NotInstalled);
    }
    let profile = work.join("profile");
    let out = work.join("out");
    let home = work.join("home");
    for dir in [&profile, &out, &home] {
        fs::create_dir_all(dir).map_err(ConvertError::Io)?;
    }
    let started = Instant::now();
    let mut status = run_once(input, &profile, &out, &home, timeout)?;
    if status == Some(RESTART_REQUESTED) {
        let left = timeout.saturating_sub(started.elapsed());
        status = run_once(input, &profile, &out, &home, left)?;
    }
    tracing::info!(exit = ?status, elapsed_ms = started.elapsed().as_millis() as u64, "LibreOffice finished");
    if status != Some(0) {
        return Err(ConvertError::Failed(match status {
            Some(code) => format!("exit code {code}"),
            None => "a signal".into(),
        }));
    }
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pdf = out.join(format!("{stem}.pdf"));
    check_pdf(&pdf)?;
    Ok(pdf)
}

fn run_once(
    input: &Path,
    profile: &Path,
    out: &Path,
    home: &Path,
    timeout: Duration,
) -> Result<Option<i32>, ConvertError> {
    let mut child = Command::new(SOFFICE_BIN)
        .arg("--headless")
        .arg("--norestore")
        .arg("--nolockcheck")
        .arg("--nodefault")
        .arg(format!("-env:UserInstallation={}", file_url(profile)))
        .arg("--convert-to")
        .arg("pdf")
        .arg("--outdir")
        .arg(out)
        .arg(input)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", home)
        .env("SAL_USE_VCLPLUGIN", "svp")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(ConvertError::Spawn)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(ConvertError::Spawn)? {
            return Ok(status.code());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ConvertError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `file://` URL for a local path, percent-encoding all but unreserved bytes.
fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// A PDF that exists, starts with `%PDF-` and ends with `%%EOF`.
pub fn check_pdf(path: &Path) -> Result<(), ConvertError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConvertError::NoOutput),
        Err(e) => return Err(ConvertError::Io(e)),
    };
    let mut head = [0u8; 5];
    file.read_exact(&mut head)
        .map_err(|_| ConvertError::InvalidPdf("too short"))?;
    if &head != b"%PDF-" {
        return Err(ConvertError::InvalidPdf("no %PDF- header"));
    }
    let len = file.metadata().map_err(ConvertError::Io)?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(1024)))
        .map_err(ConvertError::Io)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(ConvertError::Io)?;
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(ConvertError::InvalidPdf("no %%EOF trailer"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/ü")),
            "file:///tmp/a%20b/%C3%BC"
        );
    }

    #[test]
    fn truncated_or_fake_pdfs_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pdf");
        assert!(matches!(check_pdf(&path), Err(ConvertError::NoOutput)));
        fs::write(&path, b"%PDF-1.4\n1 0 obj\n").unwrap();
        assert!(matches!(check_pdf(&path), Err(ConvertError::InvalidPdf(_))));
        fs::write(&path, b"<html>").unwrap();
        assert!(matches!(check_pdf(&path), Err(ConvertError::InvalidPdf(_))));
        fs::write(&path, b"%PDF-1.4\n...\n%%EOF\n").unwrap();
        assert!(check_pdf(&path).is_ok());
    }

    #[test]
    fn converts_a_document_and_reports_garbage() {
        assert!(
            Path::new(SOFFICE_BIN).exists(),
            "LibreOffice is missing: install .ci/packages/print.txt"
        );
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("doc.rtf");
        fs::write(&input, b"{\\rtf1\\ansi Hello from RTF\\par}").unwrap();
        let pdf = to_pdf(&input, &dir.path().join("work"), Duration::from_secs(120)).unwrap();
        check_pdf(&pdf).unwrap();
        let bad = dir.path().join("bad.docx");
        fs::write(&bad, b"PK\x03\x04 not really a document").unwrap();
        let err = to_pdf(&bad, &dir.path().join("work2"), Duration::from_secs(120)).unwrap_err();
        assert!(
            matches!(
                err,
                ConvertError::NoOutput | ConvertError::Failed(_) | ConvertError::InvalidPdf(_)
            ),
            "{err:?}"
        );
    }
}
