//! Builds one `.sd-export` archive (tar + gzip): `metadata.json`, then
//! `export_data/` (or `export_data/SOURCE-NAME/`) with the given files streamed
//! in under safe, unique names. The member names come from
//! [`sdw_protocol::layout`] and `metadata.json` from [`Metadata::to_json_with`],
//! as the device side reads them.
//!
//! Effects: creates a fresh 0700 temporary directory holding the archive (0600);
//! [`BuiltArchive`] removes it when dropped, and every error path drops it too.
//! Symbolic links are never followed; missing or unreadable inputs are skipped
//! and reported, and if nothing is left to send, [`ArchiveError::AllFilesMissing`]
//! is returned before any device is called. The passphrase only ever goes into
//! `metadata.json` inside that directory.

use std::fmt;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use rustix::fs::{Mode, OFlags};
use sdw_protocol::{layout, Command, Metadata, PrintProgress, Redaction};
use tempfile::TempDir;

use crate::cancel::CancelToken;
use crate::names::{sanitize, UniqueNames};

/// The archive's file name inside its temporary directory.
pub const ARCHIVE_FILE_NAME: &str = "archive.sd-export";

const CHUNK_BYTES: usize = 256 * 1024;

/// Most exported files (PDF, images, audio, video) are compressed already: the
/// fastest gzip level keeps large exports quick.
const ARCHIVE_COMPRESSION: Compression = Compression::new(1);

/// What to put in the archive.
pub struct ArchiveRequest<'a> {
    pub command: &'a Command,
    pub files: &'a [PathBuf],
    /// When given (and not empty), the files go under `export_data/SOURCE-NAME/`.
    pub source_name: Option<&'a str>,
    /// Where to create the temporary directory; the system default if `None`.
    pub temp_root: Option<&'a Path>,
    /// The `redact` field of `metadata.json`; only sent with `disk` and `printer`.
    pub redact: Option<Redaction>,
    /// `"progress": true` in `metadata.json`; only sent with `printer`.
    pub progress: bool,
}

/// Why an input file was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// It does not exist.
    Missing,
    /// It is a symbolic link, a directory, a FIFO, a device...
    NotARegularFile,
    /// It exists but could not be opened (permissions, ...).
    Unreadable,
}

impl SkipReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::Missing => "missing",
            SkipReason::NotARegularFile => "not a regular file",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input file that is not in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// An input file that is in the archive, and under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedFile {
    pub path: PathBuf,
    /// The member name, e.g. `export_data/memo (2).txt`.
    pub archive_name: String,
    pub bytes: u64,
}

/// Reports how far the build has got (the CLI draws a progress bar from it)
/// and, for a print that asked for it, how far the device side has got.
pub trait Progress {
    /// The build is about to stream `total_bytes` of file content.
    fn started(&mut self, total_bytes: u64);
    /// `bytes` more have been streamed.
    fn advanced(&mut self, bytes: u64);
    /// The archive is complete (or abandoned).
    fn finished(&mut self);
    /// The device side reported how far a print has got (only when the
    /// client asked for it, [`crate::ClientConfig::progress`]). Called on the
    /// thread that sends, while the device call runs.
    fn printing(&mut self, _progress: PrintProgress) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&mut self, _total_bytes: u64) {}
    fn advanced(&mut self, _bytes: u64) {}
    fn finished(&mut self) {}
}

/// Why no archive could be built.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Nothing to send: every file was missing or unusable.
    #[error("none of the {} file(s) to send can be read", skipped.len())]
    AllFilesMissing { skipped: Vec<SkippedFile> },
    #[error("could not create a private temporary directory: {0}")]
    TempDir(#[source] io::Error),
    #[error("could not write the archive: {0}")]
    Write(#[source] io::Error),
    #[error("could not read {path:?}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path:?} changed size while it was being archived")]
    FileChanged { path: PathBuf },
    #[error("cancelled while building the archive")]
    Cancelled,
}

/// A finished archive in its own temporary directory, removed on drop.
#[derive(Debug)]
pub struct BuiltArchive {
    dir: TempDir,
    path: PathBuf,
    included: Vec<IncludedFile>,
    skipped: Vec<SkippedFile>,
}

impl BuiltArchive {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary directory that holds the archive (and nothing else).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn included(&self) -> &[IncludedFile] {
        &self.included
    }

    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }

    /// Removes the temporary directory now, reporting a failure to do so.
    pub fn remove(self) -> io::Result<Vec<SkippedFile>> {
        let BuiltArchive { dir, skipped, .. } = self;
        dir.close()?;
        Ok(skipped)
    }
}

/// Checks, before any device is called, that at least one of `files` is a
/// regular file; the same check [`build`] makes.
pub fn precheck(files: &[PathBuf]) -> Result<Vec<SkippedFile>, ArchiveError> {
    let (candidates, skipped) = classify(files);
    if candidates.is_empty() {
        return Err(ArchiveError::AllFilesMissing { skipped });
    }
    Ok(skipped)
}

/// Splits inputs into regular files (with their sizes) and skipped ones,
/// without following symbolic links.
pub(crate) fn classify(files: &[PathBuf]) -> (Vec<(&PathBuf, u64)>, Vec<SkippedFile>) {
    let mut skipped = Vec::new();
    let mut candidates = Vec::new();
    for path in files {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_file() => candidates.push((path, meta.len())),
            Ok(_) => skipped.push(skip(path, SkipReason::NotARegularFile)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                skipped.push(skip(path, SkipReason::Missing))
            }
            Err(_) => skipped.push(skip(path, SkipReason::Unreadable)),
        }
    }
    (candidates, skipped)
}

/// Builds the archive for `request`.
pub fn build(
    request: &ArchiveRequest<'_>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<BuiltArchive, ArchiveError> {
    let carries_files = matches!(
        request.command,
        Command::Disk { .. } | Command::Printer { .. }
    );
    let (candidates, mut skipped) = if carries_files {
        classify(request.files)
    } else {
        (Vec::new(), Vec::new())
    };
    if carries_files && candidates.is_empty() {
        return Err(ArchiveError::AllFilesMissing { skipped });
    }

    let dir = private_temp_dir(request.temp_root)?;
    let path = dir.path().join(ARCHIVE_FILE_NAME);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(ArchiveError::Write)?;
    let mut writer = ArchiveWriter::new(file);
    let redact = request.redact.filter(|_| carries_files);
    writer.append_bytes(
        layout::METADATA_FILE,
        &Metadata::to_json_with_progress(request.command, redact, request.progress),
    )?;
    let mut folder = layout::export_data_member("");
    writer.append_dir(&folder)?;
    if let Some(source) = request.source_name.filter(|name| !name.is_empty()) {
        folder = layout::export_data_member(&format!("{}/", sanitize(source.as_ref())));
        writer.append_dir(&folder)?;
    }

    progress.started(candidates.iter().map(|(_, len)| len).sum());
    let mut names = UniqueNames::new();
    let mut included = Vec::new();
    let streamed = candidates.into_iter().try_for_each(|(path, _)| {
        let Some(opened) = open_no_follow(path, &mut skipped) else {
            return Ok(());
        };
        let base = path.file_name().unwrap_or_default();
        let archive_name = format!("{folder}{}", names.claim(base));
        let bytes = writer.append_file(path, opened, &archive_name, progress, cancel)?;
        included.push(IncludedFile {
            path: path.clone(),
            archive_name,
            bytes,
        });
        Ok(())
    });
    progress.finished();
    streamed?;
    if carries_files && included.is_empty() {
        return Err(ArchiveError::AllFilesMissing { skipped });
    }
    writer.finish()?;
    tracing::debug!(
        files = included.len(),
        skipped = skipped.len(),
        "archive built"
    );
    Ok(BuiltArchive {
        dir,
        path,
        included,
        skipped,
    })
}

fn skip(path: &Path, reason: SkipReason) -> SkippedFile {
    SkippedFile {
        path: path.to_owned(),
        reason,
    }
}

fn private_temp_dir(root: Option<&Path>) -> Result<TempDir, ArchiveError> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix("sdw-export-")
        .permissions(Permissions::from_mode(0o700));
    match root {
        Some(root) => builder.tempdir_in(root),
        None => builder.tempdir(),
    }
    .map_err(ArchiveError::TempDir)
}

/// Opens a file without following a symbolic link and without blocking on a
/// FIFO, and checks that what was opened is a regular file.
pub(crate) fn open_no_follow(path: &Path, skipped: &mut Vec<SkippedFile>) -> Option<(File, u64)> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(rustix::io::Errno::NOENT) => {
            skipped.push(skip(path, SkipReason::Missing));
            return None;
        }
        Err(rustix::io::Errno::LOOP) => {
            skipped.push(skip(path, SkipReason::NotARegularFile));
            return None;
        }
        Err(_) => {
            skipped.push(skip(path, SkipReason::Unreadable));
            return None;
        }
    };
    match file.metadata() {
        Ok(meta) if meta.file_type().is_file() => Some((file, meta.len())),
        Ok(_) => {
            skipped.push(skip(path, SkipReason::NotARegularFile));
            None
        }
        Err(_) => {
            skipped.push(skip(path, SkipReason::Unreadable));
            None
        }
    }
}

struct ArchiveWriter {
    tar: tar::Builder<GzEncoder<BufWriter<File>>>,
    mtime: u64,
}

impl ArchiveWriter {
    fn new(file: File) -> Self {
        let gzip = GzEncoder::new(BufWriter::new(file), ARCHIVE_COMPRESSION);
        let mtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ArchiveWriter {
            tar: tar::Builder::new(gzip),
            mtime,
        }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    fn append_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let size =
            u64::try_from(bytes.len()).map_err(|e| ArchiveError::Write(io::Error::other(e)))?;
        let mut header = self.header(tar::EntryType::Regular, 0o600, size);
        self.tar
            .append_data(&mut header, name, bytes)
            .map_err(ArchiveError::Write)
    }

    fn append_dir(&mut self, name: &str) -> Result<(), ArchiveError> {
        let mut header = self.header(tar::EntryType::Directory, 0o700, 0);
        self.tar
            .append_data(&mut header, name, io::empty())
            .map_err(ArchiveError::Write)
    }

    fn append_file(
        &mut self,
        path: &Path,
        (file, size): (File, u64),
        name: &str,
        progress: &mut dyn Progress,
        cancel: &CancelToken,
    ) -> Result<u64, ArchiveError> {
        let mut header = self.header(tar::EntryType::Regular, 0o600, size);
        let mut reader = WatchedReader {
            inner: file.take(size),
            read: 0,
            progress,
            cancel,
            path,
            failure: None,
        };
        let appended = self.tar.append_data(&mut header, name, &mut reader);
        if let Some(failure) = reader.failure.take() {
            return Err(failure);
        }
        appended.map_err(ArchiveError::Write)?;
        if reader.read != size {
            return Err(ArchiveError::FileChanged {
                path: path.to_owned(),
            });
        }
        Ok(size)
    }

    fn finish(self) -> Result<(), ArchiveError> {
        let gzip = self.tar.into_inner().map_err(ArchiveError::Write)?;
        let mut buffered = gzip.finish().map_err(ArchiveError::Write)?;
        buffered.flush().map_err(ArchiveError::Write)?;
        let file = buffered
            .into_inner()
            .map_err(|e| ArchiveError::Write(e.into_error()))?;
        file.sync_all().map_err(ArchiveError::Write)
    }
}

/// Streams one input file, counting bytes, reporting progress and stopping on
/// cancellation. The cause of a failure is kept so that it is not mistaken
/// for a write error.
struct WatchedReader<'a, R> {
    inner: R,
    read: u64,
    progress: &'a mut dyn Progress,
    cancel: &'a CancelToken,
    path: &'a Path,
    failure: Option<ArchiveError>,
}

impl<R: Read> Read for WatchedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            self.failure = Some(ArchiveError::Cancelled);
            return Err(io::Error::other("cancelled"));
        }
        let limit = buf.len().min(CHUNK_BYTES);
        let chunk = buf.get_mut(..limit).unwrap_or_default();
        match self.inner.read(chunk) {
            Ok(n) => {
                let n64 = u64::try_from(n).unwrap_or(u64::MAX);
                self.read = self.read.saturating_add(n64);
                self.progress.advanced(n64);
                Ok(n)
            }
            Err(source) => {
                let kind = source.kind();
                self.failure = Some(ArchiveError::Read {
                    path: self.path.to_owned(),
                    source,
                });
                Err(io::Error::new(kind, "read failed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use sdw_protocol::Passphrase;
    use std::collections::BTreeMap;
    use std::os::unix::fs::symlink;

    struct Member {
        kind: tar::EntryType,
        mode: u32,
        data: Vec<u8>,
    }

    fn read_members(archive: &Path) -> BTreeMap<String, Member> {
        let file = File::open(archive).unwrap_or_else(|e| panic!("open {archive:?}: {e}"));
        let mut tar = tar::Archive::new(GzDecoder::new(file));
        let mut members = BTreeMap::new();
        for entry in tar.entries().unwrap_or_else(|e| panic!("entries: {e}")) {
            let mut entry = entry.unwrap_or_else(|e| panic!("entry: {e}"));
            let name = entry
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = entry.header().entry_type();
            let mode = entry.header().mode().unwrap_or(0);
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .unwrap_or_else(|e| panic!("read: {e}"));
            members.insert(name, Member { kind, mode, data });
        }
        members
    }

    fn write(dir: &Path, rel: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write: {e}"));
        path
    }

    fn build_in(
        root: &Path,
        command: &Command,
        files: &[PathBuf],
        source: Option<&str>,
    ) -> Result<BuiltArchive, ArchiveError> {
        let request = ArchiveRequest {
            command,
            files,
            source_name: source,
            temp_root: Some(root),
            redact: None,
            progress: false,
        };
        build(&request, &mut NoProgress, &CancelToken::new())
    }

    fn entries_of(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| d.count())
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn archives_metadata_and_files_under_unique_safe_names() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![
            write(inputs.path(), "a/memo.txt", b"first memo"),
            write(inputs.path(), "b/memo.txt", b"second memo"),
            write(inputs.path(), "c/line\nbreak.pdf", b"%PDF"),
        ];
        let command = Command::Disk {
            passphrase: Some(Passphrase::new("hunter2 horse".into())),
        };
        let built =
            build_in(temp_root.path(), &command, &files, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(built.skipped().is_empty());
        let members = read_members(built.path());
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "export_data/",
                "export_data/line_break.pdf",
                "export_data/memo (2).txt",
                "export_data/memo.txt",
                "metadata.json"
            ]
        );
        let member = |name: &str| members.get(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(member("export_data/memo.txt").data, b"first memo");
        assert_eq!(member("export_data/memo (2).txt").data, b"second memo");
        assert_eq!(member("export_data/").kind, tar::EntryType::Directory);
        assert_eq!(member("export_data/memo.txt").mode, 0o600);
        assert_eq!(
            Metadata::parse(&member("metadata.json").data).ok(),
            Some(command)
        );
    }

    #[test]
    fn metadata_asks_for_redaction_only_on_commands_that_carry_files() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![write(inputs.path(), "photo.jpg", b"\xff\xd8\xff")];
        for (command, redact, expected) in [
            (
                Command::Disk { passphrase: None },
                Some(Redaction::Strict),
                Some(Redaction::Strict),
            ),
            (
                Command::Printer { options: None },
                Some(Redaction::BestEffort),
                Some(Redaction::BestEffort),
            ),
            (Command::Disk { passphrase: None }, None, None),
            (Command::UsbTest, Some(Redaction::Strict), None),
        ] {
            let request = ArchiveRequest {
                command: &command,
                files: &files,
                source_name: None,
                temp_root: Some(temp_root.path()),
                redact,
                progress: false,
            };
            let built = build(&request, &mut NoProgress, &CancelToken::new())
                .unwrap_or_else(|e| panic!("{e}"));
            let members = read_members(built.path());
            let metadata = &members
                .get("metadata.json")
                .unwrap_or_else(|| panic!("no metadata"))
                .data;
            let parsed = Metadata::parse_request(metadata).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.redact, expected, "{command:?}");
            assert_eq!(parsed.command, command);
        }
    }

    #[test]
    fn nests_files_under_a_safe_source_name() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![write(inputs.path(), "doc.odt", b"x")];
        let built = build_in(
            temp_root.path(),
            &Command::Printer { options: None },
            &files,
            Some("../furious/ewok"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let members = read_members(built.path());
        assert!(
            members.contains_key("export_data/.._furious_ewok/"),
            "{:?}",
            members.keys()
        );
        assert!(members.contains_key("export_data/.._furious_ewok/doc.odt"));
        assert_eq!(
            built.included()[0].archive_name,
            "export_data/.._furious_ewok/doc.odt"
        );
    }

    #[test]
    fn an_empty_source_name_means_no_nesting() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![write(inputs.path(), "doc.odt", b"x")];
        let built = build_in(
            temp_root.path(),
            &Command::Printer { options: None },
            &files,
            Some(""),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.included()[0].archive_name, "export_data/doc.odt");
    }

    #[test]
    fn skips_missing_files_symlinks_and_fifos_and_reports_them() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = write(inputs.path(), "real.txt", b"kept");
        let secret = write(inputs.path(), "secret.txt", b"never follow me");
        let link = inputs.path().join("link.txt");
        symlink(&secret, &link).unwrap_or_else(|e| panic!("{e}"));
        let fifo = inputs.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let missing = inputs.path().join("gone.txt");
        let files = vec![
            missing.clone(),
            link.clone(),
            real,
            fifo.clone(),
            inputs.path().to_owned(),
        ];
        let built = build_in(
            temp_root.path(),
            &Command::Disk { passphrase: None },
            &files,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            built.skipped(),
            [
                skip(&missing, SkipReason::Missing),
                skip(&link, SkipReason::NotARegularFile),
                skip(&fifo, SkipReason::NotARegularFile),
                skip(inputs.path(), SkipReason::NotARegularFile),
            ]
        );
        let members = read_members(built.path());
        assert_eq!(
            members
                .keys()
                .filter(|k| k.starts_with("export_data/") && k.len() > 12)
                .count(),
            1
        );
        assert!(members.values().all(|m| m.data != b"never follow me"));
    }

    #[test]
    fn refuses_when_every_file_is_missing_without_creating_anything() {
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![
            PathBuf::from("/nonexistent/a"),
            PathBuf::from("/nonexistent/b"),
        ];
        let result = build_in(
            temp_root.path(),
            &Command::Printer { options: None },
            &files,
            None,
        );
        match result {
            Err(ArchiveError::AllFilesMissing { skipped }) => assert_eq!(skipped.len(), 2),
            other => panic!("expected AllFilesMissing, got {other:?}"),
        }
        let empty = build_in(
            temp_root.path(),
            &Command::Disk { passphrase: None },
            &[],
            None,
        );
        assert!(matches!(empty, Err(ArchiveError::AllFilesMissing { .. })));
        assert_eq!(entries_of(temp_root.path()), 0);
    }

    #[test]
    fn probes_need_no_files() {
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let built = build_in(temp_root.path(), &Command::UsbTest, &[], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let members = read_members(built.path());
        assert_eq!(
            members.keys().map(String::as_str).collect::<Vec<_>>(),
            ["export_data/", "metadata.json"]
        );
        assert_eq!(
            members.get("metadata.json").map(|m| m.data.as_slice()),
            Some(&br#"{"device":"usb-test"}"#[..])
        );
    }

    #[test]
    fn the_temporary_directory_is_private_and_removed_on_drop() {
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let built = build_in(temp_root.path(), &Command::PrinterTest, &[], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let dir_mode = std::fs::metadata(built.dir()).map(|m| m.permissions().mode() & 0o777);
        let file_mode = std::fs::metadata(built.path()).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(dir_mode.ok(), Some(0o700));
        assert_eq!(file_mode.ok(), Some(0o600));
        assert_eq!(entries_of(temp_root.path()), 1);
        drop(built);
        assert_eq!(entries_of(temp_root.path()), 0);
    }

    #[test]
    fn cancelling_removes_the_partial_archive() {
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![write(inputs.path(), "big.bin", &vec![7u8; 1024 * 1024])];
        let cancel = CancelToken::new();
        cancel.cancel();
        let command = Command::Disk { passphrase: None };
        let request = ArchiveRequest {
            command: &command,
            files: &files,
            source_name: None,
            temp_root: Some(temp_root.path()),
            redact: None,
            progress: false,
        };
        let result = build(&request, &mut NoProgress, &cancel);
        assert!(matches!(result, Err(ArchiveError::Cancelled)), "{result:?}");
        assert_eq!(entries_of(temp_root.path()), 0);
    }

    #[test]
    fn reports_progress_for_every_byte() {
        struct Counter(u64, u64, bool);
        impl Progress for Counter {
            fn started(&mut self, total: u64) {
                self.0 = total;
            }
            fn advanced(&mut self, bytes: u64) {
                self.1 += bytes;
            }
            fn finished(&mut self) {
                self.2 = true;
            }
        }
        let inputs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let temp_root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = vec![
            write(inputs.path(), "a", &[1u8; 700_000]),
            write(inputs.path(), "b", &[2u8; 3]),
        ];
        let command = Command::Printer { options: None };
        let request = ArchiveRequest {
            command: &command,
            files: &files,
            source_name: None,
            temp_root: Some(temp_root.path()),
            redact: None,
            progress: false,
        };
        let mut counter = Counter(0, 0, false);
        let built = build(&request, &mut counter, &CancelToken::new());
        assert!(built.is_ok());
        assert_eq!((counter.0, counter.1, counter.2), (700_003, 700_003, true));
    }
}
