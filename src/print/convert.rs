//! (fx) Turning files into what CUPS prints: office documents to PDF with
//! headless LibreOffice ([`to_pdf`]), and text in another encoding than UTF-8
//! to UTF-8 ([`to_utf8`]), both inside the caller's private work folder.
//!
//! LibreOffice runs by fixed path with an empty environment, a private profile
//! and an output folder of its own, in a process group of its own. It exits 0
//! even when it converted nothing, so the result is checked: a PDF must exist
//! and look whole (`%PDF-` header, `%%EOF` trailer). Runs are bounded in time,
//! and killed (the whole group) when over or when the caller is interrupted.
//! Removing the work folder is the caller's job.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use encoding_rs::Encoding;
use sdw_protocol::printable::TextEncoding;

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
    #[error("interrupted by a signal")]
    Interrupted,
}

/// How much of a text file the encoding guess reads.
const GUESS_BYTES: u64 = 1024 * 1024;
/// Chunk size for streaming conversions.
const CHUNK: usize = 64 * 1024;

/// Re-encodes the text file `input` (in `encoding`) to UTF-8 at `output`
/// (created 0600), streaming in bounded memory. A legacy 8-bit encoding is
/// guessed from the first MiB of the text (`chardetng`, as Firefox guesses
/// unlabelled pages); a byte order mark is dropped. Returns the encoding's
/// name.
pub fn to_utf8(
    input: &Path,
    output: &Path,
    encoding: TextEncoding,
    interrupted: &AtomicBool,
) -> Result<&'static str, ConvertError> {
    let mut file = File::open(input).map_err(ConvertError::Io)?;
    let encoding: &'static Encoding = match encoding {
        TextEncoding::Utf16Le => encoding_rs::UTF_16LE,
        TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
        TextEncoding::Legacy => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            let mut chunk = vec![0u8; CHUNK];
            let mut sample = Read::by_ref(&mut file).take(GUESS_BYTES);
            loop {
                let n = read_some(&mut sample, &mut chunk)?;
                if n == 0 {
                    break;
                }
                detector.feed(chunk.get(..n).unwrap_or_default(), false);
            }
            detector.feed(&[], true);
            file.seek(SeekFrom::Start(0)).map_err(ConvertError::Io)?;
            detector.guess(None, chardetng::Utf8Detection::Deny)
        }
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .map_err(ConvertError::Io)?;
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut chunk = vec![0u8; CHUNK];
    let mut text = String::new();
    loop {
        if interrupted.load(Ordering::Relaxed) {
            return Err(ConvertError::Interrupted);
        }
        let n = read_some(&mut file, &mut chunk)?;
        let last = n == 0;
        let input = chunk.get(..n).unwrap_or_default();
        text.clear();
        let needed = decoder
            .max_utf8_buffer_length(input.len())
            .unwrap_or(4 * CHUNK + 16);
        text.reserve(needed);
        // With room for the worst case, one call decodes the whole chunk
        // (malformed sequences become U+FFFD).
        let _ = decoder.decode_to_string(input, &mut text, last);
        out.write_all(text.as_bytes()).map_err(ConvertError::Io)?;
        if last {
            break;
        }
    }
    out.sync_all().map_err(ConvertError::Io)?;
    Ok(encoding.name())
}

fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, ConvertError> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ConvertError::Io(e)),
        }
    }
}

/// Converts `input` (named with the extension of its kind) to PDF; `work` is a
/// private, empty folder for LibreOffice's profile and output. LibreOffice is
/// killed when `timeout` passes or `interrupted` is set.
pub fn to_pdf(
    input: &Path,
    work: &Path,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> Result<PathBuf, ConvertError> {
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
    let mut status = run_once(input, &profile, &out, &home, timeout, interrupted)?;
    if status == Some(RESTART_REQUESTED) {
        let left = timeout.saturating_sub(started.elapsed());
        status = run_once(input, &profile, &out, &home, left, interrupted)?;
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
    interrupted: &AtomicBool,
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
        // Its own process group, so that whatever it starts is stopped with it.
        .process_group(0)
        .spawn()
        .map_err(ConvertError::Spawn)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(ConvertError::Spawn)? {
            return Ok(status.code());
        }
        if interrupted.load(Ordering::Relaxed) {
            kill_group(&mut child);
            tracing::warn!("LibreOffice stopped: interrupted by a signal");
            return Err(ConvertError::Interrupted);
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            return Err(ConvertError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills LibreOffice's whole process group and reaps it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
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

    fn recode(bytes: &[u8], encoding: TextEncoding) -> (String, &'static str) {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("in"), dir.path().join("out"));
        fs::write(&input, bytes).unwrap();
        let never = AtomicBool::new(false);
        let name = to_utf8(&input, &output, encoding, &never).unwrap();
        (fs::read_to_string(&output).unwrap(), name)
    }

    #[test]
    fn utf16_from_notepad_becomes_utf8_without_its_byte_order_mark() {
        let text = "Interview – Zoë 😀\r\nline two\r\n";
        let mut le = vec![0xff, 0xfe];
        let mut be = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(
            recode(&le, TextEncoding::Utf16Le),
            (text.to_owned(), "UTF-16LE")
        );
        assert_eq!(
            recode(&be, TextEncoding::Utf16Be),
            (text.to_owned(), "UTF-16BE")
        );
    }

    #[test]
    fn an_excel_csv_in_windows_1252_becomes_utf8() {
        let csv = "Name;Größe;Preis;Straße\r\nMüller;42;10 €;Hauptstraße 5\r\nJürgen Weiß;17;3,50 €;Kölner Ring\r\n"
            .repeat(20);
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&csv);
        assert!(!unmappable);
        assert_eq!(recode(&bytes, TextEncoding::Legacy), (csv, "windows-1252"));
    }

    #[test]
    fn a_long_text_is_streamed_whole_across_chunks() {
        // Characters cut by chunk boundaries come out whole.
        let text = "äöü€ and 😀, ".repeat(20_000);
        let mut le = vec![0xff, 0xfe];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
        }
        assert!(le.len() > 3 * CHUNK);
        assert_eq!(recode(&le, TextEncoding::Utf16Le).0, text);
    }

    #[test]
    fn an_interrupted_conversion_stops_libreoffice() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("doc.rtf");
        fs::write(&input, b"{\\rtf1\\ansi Hello\\par}").unwrap();
        let interrupted = AtomicBool::new(true);
        let started = Instant::now();
        let err = to_pdf(
            &input,
            &dir.path().join("work"),
            Duration::from_secs(120),
            &interrupted,
        )
        .unwrap_err();
        assert!(matches!(err, ConvertError::Interrupted), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let output = dir.path().join("out.txt");
        let err = to_utf8(&input, &output, TextEncoding::Legacy, &interrupted).unwrap_err();
        assert!(matches!(err, ConvertError::Interrupted), "{err:?}");
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
        let never = AtomicBool::new(false);
        let pdf = to_pdf(
            &input,
            &dir.path().join("work"),
            Duration::from_secs(120),
            &never,
        )
        .unwrap();
        check_pdf(&pdf).unwrap();
        let bad = dir.path().join("bad.docx");
        fs::write(&bad, b"PK\x03\x04 not really a document").unwrap();
        let err = to_pdf(
            &bad,
            &dir.path().join("work2"),
            Duration::from_secs(120),
            &never,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConvertError::NoOutput | ConvertError::Failed(_) | ConvertError::InvalidPdf(_)
            ),
            "{err:?}"
        );
    }
}
