//! Writes the files of `export_data/` into a folder that is already mounted,
//! as one all-or-nothing export.
//!
//! Everything goes under a hidden staging folder (`.sd-export-….partial`) next to
//! where the export will live. Each file is streamed once from the archive,
//! hashed while written and made readable by everyone (`ugo+r`); then the whole
//! filesystem is synced once (syncfs), every file is read back from the device
//! (its clean pages dropped from the cache first) and compared with what was
//! written, and only then is the staging folder renamed to
//! `sd-export-YYYYMMDD-HHMMSS` and its parent folder fsynced. Any failure
//! on the way (a bad member late in the archive, a full disk, an I/O error, an
//! interrupt) removes the staging folder, so the volume holds either the whole
//! export or none of it. The disk service and `export --to DIR` share this code.
//!
//! A [`Transform`] may change each file's bytes on their way from the archive
//! to the drive (metadata redaction, [`crate::redact`]) and add files beside
//! `export_data/`; what it gives is what is hashed, written and read back.
//!
//! Effects: creates, writes, renames and removes under the target folder only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use nix::sys::statvfs::statvfs;
use sdw_protocol::layout::{EXPORT_DATA_DIR, EXPORT_FOLDER_PREFIX};

use crate::archive::{Archive, ArchiveError, ExportMember, ExportPlan, PlannedMember};
use crate::filesystem::Filesystem;
use crate::names::{LimitError, Member, NamePlan};

const COPY_BUFFER_BYTES: usize = 1024 * 1024;
/// Space kept free beyond the data itself: folders, metadata, rounding.
const SPACE_MARGIN_BYTES: u64 = 1024 * 1024;

/// Why an export into a folder failed. Every variant leaves no export behind.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the export target {0:?} is not a folder")]
    NotAFolder(PathBuf),
    #[error("not enough free space: the export needs {needed} bytes, the volume has {available}")]
    NotEnoughSpace { needed: u64, available: u64 },
    #[error("could not check free space on {path:?}: {source}")]
    Statvfs { path: PathBuf, source: nix::Error },
    #[error("could not write {path:?}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("read-back of {0:?} does not match what was written")]
    VerifyMismatch(PathBuf),
    #[error("interrupted by a signal")]
    Interrupted,
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Redaction(#[from] sdw_redact::RedactError),
}

/// Receives write progress: bytes written so far out of the total.
pub trait Progress {
    fn advanced(&mut self, done: u64, total: u64);
}

/// Logs progress at every tenth of the way.
#[derive(Default)]
pub struct LogProgress {
    last_tenth: u64,
}

impl Progress for LogProgress {
    fn advanced(&mut self, done: u64, total: u64) {
        let tenth = (done.saturating_mul(10)).checked_div(total).unwrap_or(10);
        if tenth > self.last_tenth {
            self.last_tenth = tenth;
            tracing::info!(done, total, "export progress {}%", tenth * 10);
        }
    }
}

/// A finished export.
#[derive(Debug, Clone)]
pub struct Written {
    pub folder: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// The folder an export is published into, and how staging folders are made,
/// published and removed there: [`LocalFolder`] for a folder we may write
/// ourselves (`export --to DIR`, and the privileged helper's own side), a
/// [`Mounted`](crate::volume::Mounted) volume for the disk service, whose
/// staging goes through the helper because the volume's root may belong to root.
pub trait ExportRoot {
    /// The folder itself, for free-space checks.
    fn folder(&self) -> &Path;
    /// Its file system, which decides what names and sizes it holds
    /// (`None`: unknown, names kept as they are).
    fn filesystem(&self) -> Option<Filesystem>;
    /// A new hidden staging folder (see [`create_staging_in`]) we can write.
    fn create_staging(&mut self, timestamp: &str) -> io::Result<PathBuf>;
    /// Renames the staging folder into place (see [`publish_in`]).
    fn publish(&mut self, staging: &Path, timestamp: &str) -> io::Result<PathBuf>;
    /// Removes an unpublished staging folder and its contents.
    fn discard(&mut self, staging: &Path) -> io::Result<()>;
}

/// A folder on a mounted file system that this process may write.
#[derive(Debug, Clone)]
pub struct LocalFolder(pub PathBuf);

impl ExportRoot for LocalFolder {
    fn folder(&self) -> &Path {
        &self.0
    }

    fn filesystem(&self) -> Option<Filesystem> {
        filesystem_of(&self.0)
    }

    fn create_staging(&mut self, timestamp: &str) -> io::Result<PathBuf> {
        create_staging_in(&self.0, timestamp)
    }

    fn publish(&mut self, staging: &Path, timestamp: &str) -> io::Result<PathBuf> {
        publish_in(&self.0, staging, timestamp)
    }

    fn discard(&mut self, staging: &Path) -> io::Result<()> {
        fs::remove_dir_all(staging)
    }
}

/// The file system a folder is on, from statfs(2)'s magic number.
pub fn filesystem_of(folder: &Path) -> Option<Filesystem> {
    use nix::sys::statfs::{statfs, EXT4_SUPER_MAGIC, MSDOS_SUPER_MAGIC};
    const EXFAT_SUPER_MAGIC: i64 = 0x2011_BAB0;
    const NTFS3_SUPER_MAGIC: i64 = 0x7366_746e;
    let kind = statfs(folder).ok()?.filesystem_type();
    if kind == EXT4_SUPER_MAGIC {
        Some(Filesystem::Ext)
    } else if kind == MSDOS_SUPER_MAGIC {
        Some(Filesystem::Vfat)
    } else if kind.0 == EXFAT_SUPER_MAGIC {
        Some(Filesystem::Exfat)
    } else if kind.0 == NTFS3_SUPER_MAGIC {
        Some(Filesystem::Ntfs)
    } else {
        None
    }
}

/// Makes `.sd-export-TIMESTAMP.PID.N.partial` (0700) in `root`, taking the
/// first free `N`.
pub fn create_staging_in(root: &Path, timestamp: &str) -> io::Result<PathBuf> {
    for attempt in 0u32..100 {
        let path = root.join(format!(
            ".{EXPORT_FOLDER_PREFIX}{timestamp}.{}.{attempt}.partial",
            std::process::id()
        ));
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::ErrorKind::AlreadyExists.into())
}

/// Makes `staging` readable by all (0755) and renames it to
/// `sd-export-TIMESTAMP` in `root`, or `-1`, `-2`, ... when that exists:
/// `renameat2(RENAME_NOREPLACE)` never replaces a folder that appeared in the
/// meantime (another export in the same second). Then fsyncs `root`.
pub fn publish_in(root: &Path, staging: &Path, timestamp: &str) -> io::Result<PathBuf> {
    if let Err(e) = fs::set_permissions(staging, fs::Permissions::from_mode(0o755)) {
        // FAT and exFAT have no modes: everything is readable there anyway.
        if e.kind() != io::ErrorKind::PermissionDenied {
            return Err(e);
        }
    }
    let base = format!("{EXPORT_FOLDER_PREFIX}{timestamp}");
    for attempt in 0u32..1000 {
        let name = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        };
        let folder = root.join(name);
        match rename_no_replace(staging, &folder) {
            Ok(()) => {
                File::open(root)?.sync_all()?;
                tracing::info!(folder = ?folder, "export published");
                return Ok(folder);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // ENOTEMPTY: rename(2) onto an existing empty-or-not folder.
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOTEMPTY as i32) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::ErrorKind::AlreadyExists.into())
}

/// `renameat2(RENAME_NOREPLACE)`; where the file system refuses the flag
/// (EINVAL), a check then a plain rename.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            if to.symlink_metadata().is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(from, to)
        }
        Err(errno) => Err(errno.into()),
    }
}

/// Writes the planned members of `archive` into a new export folder under
/// `target`, a folder this process may write, named for `timestamp`
/// (`YYYYMMDD-HHMMSS`). The tests' way in; `sdw-devices export --to` goes
/// through [`crate::disk`].
#[cfg(test)]
pub fn write_export(
    archive: &Archive,
    plan: &ExportPlan,
    target: &Path,
    timestamp: &str,
    progress: &mut dyn Progress,
    interrupted: &AtomicBool,
) -> Result<Written, WriteError> {
    if !target.is_dir() {
        return Err(WriteError::NotAFolder(target.to_owned()));
    }
    let mut root = LocalFolder(target.to_owned());
    write_export_into(archive, plan, &mut root, timestamp, progress, interrupted)
}

/// Changes what is written for each file of an export, before it is hashed
/// and written: [`crate::redact::Redactor`], or [`Unchanged`].
pub trait Transform {
    /// The bytes to write for the file `path` (below `export_data/`, as it is
    /// named on the drive) of
    /// `size` bytes, read from `data`, which must be read to its end. An error
    /// stops the export, and nothing is published.
    fn file<'a>(
        &mut self,
        path: &str,
        size: u64,
        data: &'a mut dyn Read,
    ) -> Result<Box<dyn Read + 'a>, WriteError>;

    /// Files to write beside `export_data/` once every file is written:
    /// (name, content).
    fn beside_export_data(&mut self) -> Vec<(&'static str, Vec<u8>)>;
}

/// Writes every file as it is in the archive.
pub struct Unchanged;

impl Transform for Unchanged {
    fn file<'a>(
        &mut self,
        _path: &str,
        _size: u64,
        data: &'a mut dyn Read,
    ) -> Result<Box<dyn Read + 'a>, WriteError> {
        Ok(Box::new(data))
    }

    fn beside_export_data(&mut self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }
}

/// Writes the planned members of `archive` into a new export folder published
/// into `root`, named for `timestamp` (`YYYYMMDD-HHMMSS`).
pub fn write_export_into(
    archive: &Archive,
    plan: &ExportPlan,
    root: &mut dyn ExportRoot,
    timestamp: &str,
    progress: &mut dyn Progress,
    interrupted: &AtomicBool,
) -> Result<Written, WriteError> {
    write_export_transformed(
        archive,
        plan,
        root,
        timestamp,
        progress,
        interrupted,
        &mut Unchanged,
    )
}

/// [`write_export_into`], with each file's bytes given by `transform`.
pub fn write_export_transformed(
    archive: &Archive,
    plan: &ExportPlan,
    root: &mut dyn ExportRoot,
    timestamp: &str,
    progress: &mut dyn Progress,
    interrupted: &AtomicBool,
    transform: &mut dyn Transform,
) -> Result<Written, WriteError> {
    let target = root.folder().to_owned();
    // Every name and size is checked against the file system before a byte is written.
    let names = plan_names(plan, root.filesystem(), &target)?;
    check_free_space(&target, plan)?;
    let staging = Staging::create(root, timestamp)?;
    let export_data = staging.path.join(EXPORT_DATA_DIR);
    make_dir(&export_data)?;
    let on_drive = |relative: &str| {
        export_data.join(
            names
                .disk_path(relative)
                .unwrap_or_else(|| relative.to_owned()),
        )
    };

    // Only the hashes are kept: the paths are made again from the plan to
    // verify, so memory does not grow with the names.
    let mut hashes: Vec<blake3::Hash> = Vec::with_capacity(plan.file_count());
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut done = 0u64;
    archive.for_each_export_member(plan, |member| -> Result<(), WriteError> {
        match member {
            ExportMember::Dir(relative) => {
                make_dir_all(&on_drive(relative), &export_data)?;
            }
            ExportMember::File {
                path: relative,
                data,
                size,
            } => {
                let path = on_drive(relative);
                if let Some(parent) = path.parent() {
                    make_dir_all(parent, &export_data)?;
                }
                // The transform names the file as it is on the drive.
                let on_disk = names
                    .disk_path(relative)
                    .unwrap_or_else(|| relative.to_owned());
                let mut data = transform.file(&on_disk, size, data)?;
                let hash = copy_file(&mut data, &path, &mut buffer, interrupted, &mut |n| {
                    done += n;
                    progress.advanced(done, plan.total_bytes);
                })?;
                hashes.push(hash);
            }
        }
        Ok(())
    })?;
    if let Some(report) = names.report() {
        let path = staging.path.join(RENAMED_REPORT);
        let hash = copy_file(
            &mut report.as_bytes(),
            &path,
            &mut buffer,
            interrupted,
            &mut |_| {},
        )?;
        tracing::info!(
            renamed = names.renamed().len(),
            "names the drive cannot hold were changed; see {RENAMED_REPORT}"
        );
        hashes.push(hash);
    }
    // Files the transform adds beside export_data/ (REDACTION.txt).
    let mut beside = Vec::new();
    for (name, content) in transform.beside_export_data() {
        let path = staging.path.join(name);
        let hash = copy_file(
            &mut content.as_slice(),
            &path,
            &mut buffer,
            interrupted,
            &mut |_| {},
        )?;
        hashes.push(hash);
        beside.push(path);
    }

    // One syncfs flushes every file and folder of the export at once: a flush
    // per file would stall the stream (and costs a cache flush each on USB sticks).
    sync_filesystem(&staging.path)?;
    let files = plan.members().filter_map(|m| match m {
        PlannedMember::File { path, .. } => Some(on_drive(&path)),
        PlannedMember::Dir(_) => None,
    });
    let report = names.report().map(|_| staging.path.join(RENAMED_REPORT));
    let mut verified = 0usize;
    for (path, hash) in files.chain(report).chain(beside).zip(&hashes) {
        verify_file(&path, hash, &mut buffer)?;
        verified += 1;
    }
    if verified != hashes.len() {
        return Err(WriteError::VerifyMismatch(staging.path.clone()));
    }
    tracing::info!(
        files = verified,
        bytes = done,
        "every file read back from the device and verified"
    );
    let folder = staging.publish(timestamp)?;
    Ok(Written {
        folder,
        files: plan.file_count(),
        bytes: done,
    })
}

/// The file beside `export_data/` that lists renamed files.
pub const RENAMED_REPORT: &str = "RENAMED.txt";

/// Plans every member's name on the drive, refusing what the file system cannot hold.
fn plan_names(
    plan: &ExportPlan,
    filesystem: Option<Filesystem>,
    target: &Path,
) -> Result<NamePlan, WriteError> {
    let mut names = NamePlan::new(filesystem, target.as_os_str().len());
    for member in plan.members() {
        let added = match &member {
            PlannedMember::Dir(path) => names.add(Member::Dir(path)),
            PlannedMember::File { path, size } => names.add(Member::File { path, size: *size }),
        };
        if let Err(limit) = added {
            tracing::warn!(%limit, "refusing the export before writing: the drive cannot hold this");
            return Err(WriteError::Limit(limit));
        }
    }
    Ok(names)
}

fn check_free_space(target: &Path, plan: &ExportPlan) -> Result<(), WriteError> {
    let stats = statvfs(target).map_err(|source| WriteError::Statvfs {
        path: target.to_owned(),
        source,
    })?;
    let block = stats.fragment_size().max(512);
    let available = stats.blocks_available().saturating_mul(block);
    // Each file wastes up to one block; each folder takes at least one.
    let rounding = (plan.member_count() as u64 + 2).saturating_mul(block);
    let needed = plan
        .total_bytes
        .saturating_add(rounding)
        .saturating_add(SPACE_MARGIN_BYTES);
    if needed > available {
        tracing::warn!(needed, available, "refusing export: not enough free space");
        return Err(WriteError::NotEnoughSpace { needed, available });
    }
    Ok(())
}

/// The hidden folder an export is written into; removed on drop unless published.
struct Staging<'r> {
    root: &'r mut dyn ExportRoot,
    path: PathBuf,
    published: bool,
}

impl<'r> Staging<'r> {
    fn create(root: &'r mut dyn ExportRoot, timestamp: &str) -> Result<Staging<'r>, WriteError> {
        let path = root
            .create_staging(timestamp)
            .map_err(|source| WriteError::Io {
                path: root.folder().to_owned(),
                source,
            })?;
        Ok(Staging {
            root,
            path,
            published: false,
        })
    }

    /// Renames the staging folder to its final name, never replacing anything.
    fn publish(mut self, timestamp: &str) -> Result<PathBuf, WriteError> {
        let folder = self
            .root
            .publish(&self.path, timestamp)
            .map_err(|source| WriteError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.published = true;
        Ok(folder)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        match self.root.discard(&self.path) {
            Ok(()) => tracing::info!(staging = ?self.path, "removed the unfinished export"),
            Err(e) => {
                tracing::error!(staging = ?self.path, error = %e, "could not remove the unfinished export")
            }
        }
    }
}

fn copy_file(
    data: &mut dyn Read,
    path: &Path,
    buffer: &mut [u8],
    interrupted: &AtomicBool,
    advanced: &mut dyn FnMut(u64),
) -> Result<blake3::Hash, WriteError> {
    let io_err = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(io_err)?;
    set_mode_of(&file, path)?;
    let mut hasher = blake3::Hasher::new();
    loop {
        if interrupted.load(Ordering::Relaxed) {
            return Err(WriteError::Interrupted);
        }
        let n = match data.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ArchiveError::Corrupt(e.to_string()).into()),
        };
        let chunk = buffer.get(..n).unwrap_or_default();
        file.write_all(chunk).map_err(io_err)?;
        hasher.update(chunk);
        advanced(n as u64);
    }
    Ok(hasher.finalize())
}

fn verify_file(path: &Path, expected: &blake3::Hash, buffer: &mut [u8]) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    // The pages are clean after fsync: dropping them makes the read hit the device.
    if let Err(e) = posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED) {
        tracing::debug!(error = %e, "posix_fadvise(DONTNEED) failed; reading back through the cache");
    }
    let mut hasher = blake3::Hasher::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(buffer.get(..n).unwrap_or_default());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(WriteError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    if hasher.finalize() != *expected {
        return Err(WriteError::VerifyMismatch(path.to_owned()));
    }
    Ok(())
}

fn make_dir(path: &Path) -> Result<(), WriteError> {
    fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(|source| WriteError::Io {
            path: path.to_owned(),
            source,
        })?;
    set_mode(path, 0o755)
}

/// Creates `path` and its missing ancestors up to `root`.
fn make_dir_all(path: &Path, root: &Path) -> Result<(), WriteError> {
    if path == root || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        make_dir_all(parent, root)?;
    }
    make_dir(path)
}

fn sync_filesystem(path: &Path) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = File::open(path).map_err(io_err)?;
    nix::unistd::syncfs(&dir).map_err(|errno| io_err(io::Error::from(errno)))
}

/// Sets permissions regardless of the umask. Filesystems without Unix modes
/// (FAT, exFAT) refuse or ignore this; their files are readable by all anyway.
fn set_mode(path: &Path, mode: u32) -> Result<(), WriteError> {
    match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        Err(e) if e.kind() != io::ErrorKind::PermissionDenied => Err(WriteError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn set_mode_of(file: &File, path: &Path) -> Result<(), WriteError> {
    match file.set_permissions(fs::Permissions::from_mode(0o644)) {
        Err(e) if e.kind() != io::ErrorKind::PermissionDenied => Err(WriteError::Io {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use sdw_testkit::ArchiveBuilder;

    static RUNNING: AtomicBool = AtomicBool::new(false);

    fn archive(bytes: &[u8]) -> (tempfile::NamedTempFile, Archive) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let archive = Archive::open(file.path()).unwrap();
        (file, archive)
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(root).unwrap().display().to_string());
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn writes_a_readable_export_folder() {
        let (_f, archive) = archive(
            &ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#)
                .export_dir("src")
                .export_file("src/a.txt", b"alpha")
                .export_file("b.txt", b"beta")
                .gzip(),
        );
        let plan = archive.inspect().unwrap().plan;
        let target = tempfile::tempdir().unwrap();
        let written = write_export(
            &archive,
            &plan,
            target.path(),
            "20261126-101112",
            &mut LogProgress::default(),
            &RUNNING,
        )
        .unwrap();
        assert_eq!(
            written.folder,
            target.path().join("sd-export-20261126-101112")
        );
        assert_eq!((written.files, written.bytes), (2, 9));
        assert_eq!(
            listing(target.path()),
            [
                "sd-export-20261126-101112",
                "sd-export-20261126-101112/export_data",
                "sd-export-20261126-101112/export_data/b.txt",
                "sd-export-20261126-101112/export_data/src",
                "sd-export-20261126-101112/export_data/src/a.txt",
            ]
        );
        let a = written.folder.join("export_data/src/a.txt");
        assert_eq!(fs::read(&a).unwrap(), b"alpha");
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(&written.folder).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn a_second_export_in_the_same_second_gets_its_own_folder() {
        let (_f, archive) = archive(
            &ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#)
                .export_file("a", b"1")
                .gzip(),
        );
        let plan = archive.inspect().unwrap().plan;
        let target = tempfile::tempdir().unwrap();
        let first = write_export(
            &archive,
            &plan,
            target.path(),
            "20260101-000000",
            &mut LogProgress::default(),
            &RUNNING,
        )
        .unwrap();
        let second = write_export(
            &archive,
            &plan,
            target.path(),
            "20260101-000000",
            &mut LogProgress::default(),
            &RUNNING,
        )
        .unwrap();
        assert_ne!(first.folder, second.folder);
        assert!(second.folder.ends_with("sd-export-20260101-000000-1"));
    }

    #[test]
    fn refuses_early_when_the_volume_is_too_small() {
        let (_f, archive) = archive(
            &ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#)
                .export_file("a", b"1")
                .gzip(),
        );
        let mut plan = archive.inspect().unwrap().plan;
        plan.total_bytes = u64::MAX / 2;
        let target = tempfile::tempdir().unwrap();
        let err = write_export(
            &archive,
            &plan,
            target.path(),
            "x",
            &mut LogProgress::default(),
            &RUNNING,
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::NotEnoughSpace { .. }), "{err:?}");
        assert!(listing(target.path()).is_empty());
    }

    #[test]
    fn an_interrupt_leaves_nothing_behind() {
        let (_f, archive) = archive(
            &ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#)
                .export_file("a", b"1")
                .gzip(),
        );
        let plan = archive.inspect().unwrap().plan;
        let target = tempfile::tempdir().unwrap();
        let err = write_export(
            &archive,
            &plan,
            target.path(),
            "x",
            &mut LogProgress::default(),
            &AtomicBool::new(true),
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::Interrupted), "{err:?}");
        assert!(listing(target.path()).is_empty());
    }

    #[test]
    fn reports_progress_up_to_the_total() {
        struct Record(Vec<(u64, u64)>);
        impl Progress for Record {
            fn advanced(&mut self, done: u64, total: u64) {
                self.0.push((done, total));
            }
        }
        let big = vec![5u8; 3 * COPY_BUFFER_BYTES + 17];
        let (_f, archive) = archive(
            &ArchiveBuilder::with_metadata(r#"{"device":"disk"}"#)
                .export_file("big", &big)
                .gzip(),
        );
        let plan = archive.inspect().unwrap().plan;
        let target = tempfile::tempdir().unwrap();
        let mut record = Record(Vec::new());
        write_export(&archive, &plan, target.path(), "x", &mut record, &RUNNING).unwrap();
        assert_eq!(record.0.last(), Some(&(big.len() as u64, big.len() as u64)));
        assert!(record.0.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn exports_finishing_in_the_same_second_each_get_their_own_folder() {
        // Many publishes of the same timestamp at once: each takes the next
        // free suffix, none fails and none replaces another (RENAME_NOREPLACE).
        let root = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let stagings: Vec<PathBuf> = (0..8)
                .map(|_| create_staging_in(root.path(), "20261129-101010").unwrap())
                .collect();
            for (i, staging) in stagings.iter().enumerate() {
                fs::write(staging.join("marker"), format!("{round}-{i}")).unwrap();
            }
            let published: Vec<PathBuf> = std::thread::scope(|scope| {
                let handles: Vec<_> = stagings
                    .iter()
                    .map(|staging| {
                        let root = root.path();
                        scope.spawn(move || publish_in(root, staging, "20261129-101010"))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap().unwrap())
                    .collect()
            });
            let mut unique = published.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 8, "{published:?}");
            for (i, folder) in published.iter().enumerate() {
                assert_eq!(
                    fs::read_to_string(folder.join("marker")).unwrap(),
                    format!("{round}-{i}")
                );
            }
        }
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 160);
    }
}
