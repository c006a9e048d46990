//! The `.sd-export` archive: opening it, recognising its compression by content,
//! and reading it as a stream, twice.
//!
//! Pass one, [`Archive::inspect`], validates every member before anything is
//! acted on and yields the command from `metadata.json` and an [`ExportPlan`]
//! (the files and folders of `export_data/`, with their total size). Pass two,
//! [`Archive::for_each_export_member`], streams those members again, checked
//! against the plan, straight to whoever writes them: the archive is never
//! extracted to a temporary folder, so each byte is written once.
//!
//! This module reads the archive file and nothing else; it writes nothing.

mod member;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sdw_protocol::layout::{EXPORT_DATA_DIR, METADATA_FILE};
use sdw_protocol::{Command, Metadata, MetadataError, Redaction, MAX_METADATA_BYTES};
use tar::EntryType;
use zeroize::Zeroizing;

pub use member::{MemberPath, MAX_COMPONENT_BYTES, MAX_NAME_BYTES};

/// More members than this is not an export from SecureDrop; refuse it.
pub const MAX_MEMBERS: usize = 100_000;

/// Why an archive was refused. Every variant but `NotFound`, the metadata ones
/// and `Io` is a hostile or broken archive.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    #[error("the archive {0:?} does not exist")]
    NotFound(PathBuf),
    #[error("the archive could not be read: {0}")]
    Io(String),
    #[error("not a tar archive (or a corrupt one): {0}")]
    Corrupt(String),
    #[error("the archive holds no members at all")]
    Empty,
    #[error("member name is not UTF-8: {0:?}")]
    NonUtf8Name(String),
    #[error("member name is too long: {0:?}")]
    NameTooLong(String),
    #[error("member name is absolute: {0:?}")]
    AbsolutePath(String),
    #[error("member name has a '..' component: {0:?}")]
    ParentDir(String),
    #[error("member name has a control character: {0:?}")]
    ControlCharacter(String),
    #[error("link {0:?} points outside the archive root")]
    LinkOutsideRoot(String),
    #[error("link {0:?}: links are not exported")]
    Link(String),
    #[error("member {0:?} is a device node")]
    DeviceNode(String),
    #[error("member {0:?} is a FIFO")]
    Fifo(String),
    #[error("member {name:?} has an unsupported type {kind}")]
    UnsupportedType { name: String, kind: String },
    #[error("member {0:?} appears twice, or is both a file and a folder")]
    Duplicate(String),
    #[error("more than {MAX_MEMBERS} members")]
    TooManyMembers,
    #[error("metadata.json is not a regular file")]
    MetadataNotRegular,
    #[error("metadata.json is missing")]
    MetadataMissing,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("the archive changed between reading passes at {0:?}")]
    Changed(String),
}

/// How the archive's bytes are compressed, recognised by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            _ => Compression::None,
        }
    }
}

/// One file or folder of `export_data/`, by its path below `export_data/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedMember {
    Dir(String),
    File { path: String, size: u64 },
}

/// What pass one found in `export_data/`: members in archive order and the sum
/// of the file sizes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExportPlan {
    pub members: Vec<PlannedMember>,
    pub total_bytes: u64,
}

impl ExportPlan {
    pub fn file_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| matches!(m, PlannedMember::File { .. }))
            .count()
    }
}

/// A validated archive: its command, and the plan of what `export_data/` holds.
#[derive(Debug)]
pub struct Inspected {
    pub command: Command,
    pub plan: ExportPlan,
    /// `metadata.json`'s `redact` field.
    pub redact: Option<Redaction>,
}

/// A member of `export_data/` handed to the writer in pass two.
pub enum ExportMember<'a> {
    Dir(&'a str),
    File {
        path: &'a str,
        size: u64,
        data: &'a mut dyn Read,
    },
}

/// An archive file on disk, with its compression recognised.
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    compression: Compression,
}

/// What one member is, once its header has been judged.
enum Judged {
    Root,
    Ignored,
    Metadata { size: u64 },
    Dir(MemberPath),
    File { path: MemberPath, size: u64 },
}

impl Archive {
    /// Opens the archive and recognises its compression from its first bytes.
    pub fn open(path: &Path) -> Result<Archive, ArchiveError> {
        let mut file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ArchiveError::NotFound(path.to_owned()),
            _ => ArchiveError::Io(e.to_string()),
        })?;
        let mut head = [0u8; 3];
        let read = read_up_to(&mut file, &mut head).map_err(|e| ArchiveError::Io(e.to_string()))?;
        Ok(Archive {
            path: path.to_owned(),
            compression: Compression::sniff(head.get(..read).unwrap_or_default()),
        })
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Pass one: validates every member and reads the metadata. Nothing is
    /// written anywhere.
    pub fn inspect(&self) -> Result<Inspected, ArchiveError> {
        let mut tar = tar::Archive::new(self.decompressed()?);
        let mut metadata: Option<Zeroizing<Vec<u8>>> = None;
        let mut tree = Tree::default();
        let mut plan = ExportPlan::default();
        let mut members = 0usize;
        for entry in tar.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            members += 1;
            if members > MAX_MEMBERS {
                return Err(ArchiveError::TooManyMembers);
            }
            match judge(&entry)? {
                Judged::Root | Judged::Ignored => {}
                Judged::Metadata { size } => {
                    if metadata.is_some() {
                        return Err(ArchiveError::Duplicate(METADATA_FILE.into()));
                    }
                    if size > MAX_METADATA_BYTES as u64 {
                        return Err(MetadataError::TooLarge(MAX_METADATA_BYTES).into());
                    }
                    let mut bytes =
                        Zeroizing::new(Vec::with_capacity(MAX_METADATA_BYTES.min(4096)));
                    (&mut entry)
                        .take(MAX_METADATA_BYTES as u64)
                        .read_to_end(&mut bytes)
                        .map_err(corrupt)?;
                    metadata = Some(bytes);
                }
                Judged::Dir(path) => {
                    tree.add(&path, false)?;
                    if let Some(below) = path.strip_top(EXPORT_DATA_DIR) {
                        plan.members.push(PlannedMember::Dir(below.to_owned()));
                    }
                }
                Judged::File { path, size } => {
                    tree.add(&path, true)?;
                    if let Some(below) = path.strip_top(EXPORT_DATA_DIR) {
                        plan.members.push(PlannedMember::File {
                            path: below.to_owned(),
                            size,
                        });
                        plan.total_bytes = plan.total_bytes.saturating_add(size);
                    }
                }
            }
        }
        if members == 0 {
            return Err(ArchiveError::Empty);
        }
        if tree.is_file(EXPORT_DATA_DIR) {
            return Err(ArchiveError::Duplicate(EXPORT_DATA_DIR.into()));
        }
        let metadata = metadata.ok_or(ArchiveError::MetadataMissing)?;
        let sdw_protocol::Request { command, redact } = Metadata::parse_request(&metadata)?;
        tracing::info!(
            compression = ?self.compression,
            members,
            export_files = plan.file_count(),
            export_bytes = plan.total_bytes,
            command = command.device_value(),
            "archive validated"
        );
        Ok(Inspected {
            command,
            plan,
            redact,
        })
    }

    /// Pass two: streams the members of `export_data/` in archive order to
    /// `write`, checking each against the plan of pass one.
    pub fn for_each_export_member<E: From<ArchiveError>>(
        &self,
        plan: &ExportPlan,
        mut write: impl FnMut(ExportMember<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut tar = tar::Archive::new(self.decompressed()?);
        let mut expected = plan.members.iter();
        for entry in tar.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let (path, size) = match judge(&entry)? {
                Judged::Dir(path) => (path, None),
                Judged::File { path, size } => (path, Some(size)),
                Judged::Root | Judged::Ignored | Judged::Metadata { .. } => continue,
            };
            let Some(below) = path.strip_top(EXPORT_DATA_DIR) else {
                continue;
            };
            let member = match size {
                None => PlannedMember::Dir(below.to_owned()),
                Some(size) => PlannedMember::File {
                    path: below.to_owned(),
                    size,
                },
            };
            if expected.next() != Some(&member) {
                return Err(ArchiveError::Changed(below.to_owned()).into());
            }
            match size {
                None => write(ExportMember::Dir(below))?,
                Some(size) => {
                    let mut data = ExactReader {
                        inner: &mut entry,
                        left: size,
                    };
                    write(ExportMember::File {
                        path: below,
                        size,
                        data: &mut data,
                    })?;
                    if data.left != 0 {
                        return Err(ArchiveError::Changed(below.to_owned()).into());
                    }
                }
            }
        }
        if let Some(missing) = expected.next() {
            return Err(ArchiveError::Changed(format!("{missing:?}")).into());
        }
        Ok(())
    }

    fn decompressed(&self) -> Result<Box<dyn Read>, ArchiveError> {
        let file = File::open(&self.path).map_err(|e| ArchiveError::Io(e.to_string()))?;
        let buffered = BufReader::with_capacity(256 * 1024, file);
        Ok(match self.compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)),
        })
    }
}

/// Judges one member from its header alone: the only place that knows which
/// member types and names are acceptable.
fn judge<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Judged, ArchiveError> {
    let raw_name = entry.path_bytes();
    let kind = entry.header().entry_type();
    let shown = || member::lossy(&raw_name);
    let path = match kind {
        // Global extended headers only carry defaults; they name no file.
        EntryType::XGlobalHeader => return Ok(Judged::Ignored),
        _ => MemberPath::parse(&raw_name)?,
    };
    let Some(path) = path else {
        return match kind {
            EntryType::Directory => Ok(Judged::Root),
            _ => Err(ArchiveError::UnsupportedType {
                name: shown(),
                kind: format!("{kind:?} at the root"),
            }),
        };
    };
    let is_metadata = path.as_str() == METADATA_FILE;
    match kind {
        EntryType::Regular | EntryType::Continuous if is_metadata => {
            Ok(Judged::Metadata { size: entry.size() })
        }
        _ if is_metadata => Err(ArchiveError::MetadataNotRegular),
        EntryType::Regular | EntryType::Continuous => Ok(Judged::File {
            path,
            size: entry.size(),
        }),
        EntryType::Directory => Ok(Judged::Dir(path)),
        EntryType::Symlink | EntryType::Link => {
            let target = entry.link_name_bytes().unwrap_or_default();
            if member::link_stays_inside(&path, &target, kind == EntryType::Link) {
                Err(ArchiveError::Link(shown()))
            } else {
                Err(ArchiveError::LinkOutsideRoot(shown()))
            }
        }
        EntryType::Char | EntryType::Block => Err(ArchiveError::DeviceNode(shown())),
        EntryType::Fifo => Err(ArchiveError::Fifo(shown())),
        other => Err(ArchiveError::UnsupportedType {
            name: shown(),
            kind: format!("{other:?}"),
        }),
    }
}

/// Files and folders seen so far, to refuse duplicates and file/folder clashes.
#[derive(Default)]
struct Tree {
    is_file: BTreeMap<String, bool>,
}

impl Tree {
    fn add(&mut self, path: &MemberPath, is_file: bool) -> Result<(), ArchiveError> {
        for ancestor in path.ancestors() {
            match self.is_file.get(ancestor) {
                Some(true) => return Err(ArchiveError::Duplicate(ancestor.to_owned())),
                Some(false) => {}
                None => {
                    self.is_file.insert(ancestor.to_owned(), false);
                }
            }
        }
        match self.is_file.insert(path.as_str().to_owned(), is_file) {
            Some(false) if !is_file => Ok(()),
            Some(_) => Err(ArchiveError::Duplicate(path.as_str().to_owned())),
            None => Ok(()),
        }
    }

    fn is_file(&self, path: &str) -> bool {
        self.is_file.get(path) == Some(&true)
    }
}

/// Reads a member's data and counts what is left, so that pass two can tell
/// whether the writer consumed the whole file.
struct ExactReader<'a, R> {
    inner: &'a mut R,
    left: u64,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 && want > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member is truncated",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn corrupt(e: io::Error) -> ArchiveError {
    ArchiveError::Corrupt(e.to_string())
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default())? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Entry points for fuzzing: feed arbitrary bytes through pass one.
pub mod fuzzing {
    use std::io::Write;

    /// Writes `data` to a temporary file and inspects it; must never panic.
    pub fn inspect_bytes(data: &[u8]) {
        let Ok(mut file) = tempfile::NamedTempFile::new() else {
            return;
        };
        if file.write_all(data).is_err() {
            return;
        }
        if let Ok(archive) = super::Archive::open(file.path()) {
            let _ = archive.inspect();
        }
    }

    /// Parses a member name; must never panic.
    pub fn member_path(data: &[u8]) {
        let _ = super::MemberPath::parse(data);
    }
}

#[cfg(test)]
mod tests;
