//! Print progress through the process transports against a fake device side:
//! `"progress": true` is sent only when the client asks, the progress lines
//! the peer writes before its status word reach [`Progress::printing`] in
//! order, malformed ones are skipped (never a status), their number is capped,
//! and the status is still the last non-empty line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use sdw_client::archive::Progress;
use sdw_client::transport::{ExportService, Local, Transport};
use sdw_client::{Client, ClientConfig, Reply};
use sdw_protocol::{Command, Metadata, PrintProgress, Status, MAX_PROGRESS_LINES};
use support::*;

/// Records what the device side reported.
#[derive(Default)]
struct Recorder(Vec<String>);

impl Progress for Recorder {
    fn started(&mut self, _total_bytes: u64) {}
    fn advanced(&mut self, _bytes: u64) {}
    fn finished(&mut self) {}
    fn printing(&mut self, progress: PrintProgress) {
        self.0.push(progress.to_string());
    }
}

struct Lab {
    dir: tempfile::TempDir,
    temp_root: tempfile::TempDir,
    file: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(dir.path(), "letter.txt", b"hello\n");
        Lab {
            dir,
            temp_root: tempfile::tempdir().unwrap(),
            file,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fake device side that keeps the archive's metadata.json in
    /// `dir/metadata.json`, then runs `body`.
    fn peer(&self, body: &str) -> PathBuf {
        let keep = format!(
            "tar -xzOf \"$last\" metadata.json > '{}/metadata.json'\n{body}",
            self.path().display()
        );
        fake_qrexec(self.path(), "fake-device", &keep)
    }

    fn print(&self, transport: Box<dyn Transport>, progress: bool) -> (Status, Vec<String>) {
        let config = ClientConfig {
            temp_root: Some(self.temp_root.path().to_owned()),
            progress,
            ..ClientConfig::default()
        };
        let mut client = Client::new(transport, config);
        let mut recorder = Recorder::default();
        let reply = client
            .send(
                &Command::Printer { options: None },
                std::slice::from_ref(&self.file),
                &mut recorder,
            )
            .unwrap();
        match reply {
            Reply::Answered { status, .. } => (status, recorder.0),
            Reply::Cancelled => panic!("cancelled"),
        }
    }

    fn sent_progress(&self) -> bool {
        let metadata = std::fs::read(self.path().join("metadata.json")).unwrap();
        Metadata::parse_request(&metadata).unwrap().progress
    }
}

const PEER: &str = r#"
printf 'PROGRESS 1/2\n' >&2
printf 'PROGRESS 1/2 pages=3\r\nPROGRESS 0/2\nPROGRESS 2/2 name=letter.txt\nPRINTER_SUCCESS is not alone\n\n' >&2
printf 'PROGRESS 2/2\nPRINTER_SUCC' >&2
printf 'ESS\n\n' >&2
"#;

#[test]
fn progress_lines_reach_the_caller_in_order_and_the_status_is_the_last_line() {
    let lab = Lab::new();
    let peer = lab.peer(PEER);
    let (status, progress) = lab.print(Box::new(Local::new(peer)), true);
    assert!(lab.sent_progress());
    assert_eq!(status, Status::PrinterSuccess);
    assert_eq!(
        progress,
        ["PROGRESS 1/2", "PROGRESS 1/2 pages=3", "PROGRESS 2/2"]
    );
}

#[test]
fn without_asking_no_field_is_sent_and_nothing_is_reported() {
    let lab = Lab::new();
    let peer = lab.peer(PEER);
    let (status, progress) = lab.print(Box::new(Local::new(peer)), false);
    let metadata = std::fs::read_to_string(lab.path().join("metadata.json")).unwrap();
    assert_eq!(metadata, r#"{"device":"printer"}"#);
    assert_eq!(status, Status::PrinterSuccess);
    assert!(progress.is_empty());
}

#[test]
fn a_progress_line_is_never_a_status() {
    let lab = Lab::new();
    let peer = lab.peer("printf 'PROGRESS 1/1\\n' >&2");
    let (status, progress) = lab.print(Box::new(Local::new(peer)), true);
    assert_eq!(status, Status::UnexpectedReturnStatus);
    assert_eq!(progress, ["PROGRESS 1/1"]);
}

#[test]
fn a_flood_of_progress_lines_is_capped() {
    let lab = Lab::new();
    let peer = lab.peer(&format!(
        "yes 'PROGRESS 1/1' | head -n {} >&2; echo PRINTER_SUCCESS >&2",
        MAX_PROGRESS_LINES + 500
    ));
    let (status, progress) = lab.print(Box::new(Local::new(peer)), true);
    assert_eq!(status, Status::PrinterSuccess);
    assert_eq!(progress.len(), MAX_PROGRESS_LINES);
}

#[test]
fn the_export_service_reads_progress_on_stdout_its_status_channel() {
    let lab = Lab::new();
    // The archive arrives on stdin; stderr is not the status channel here.
    let fake = fake_qrexec(
        lab.path(),
        "qrexec-client-vm",
        &format!(
            "cat > '{dir}/received.sd-export'\n\
             tar -xzOf '{dir}/received.sd-export' metadata.json > '{dir}/metadata.json'\n\
             echo 'PROGRESS 9/9' >&2\n\
             printf 'PROGRESS 1/1\\nPROGRESS 1/1 pages=2\\nPRINTER_SUCCESS\\n'",
            dir = lab.path().display()
        ),
    );
    let (status, progress) = lab.print(Box::new(ExportService::new(fake)), true);
    assert!(lab.sent_progress());
    assert_eq!(status, Status::PrinterSuccess);
    assert_eq!(progress, ["PROGRESS 1/1", "PROGRESS 1/1 pages=2"]);
}
