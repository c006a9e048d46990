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
mod stream;
mod tree;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sdw_protocol::layout::{EXPORT_DATA_DIR, METADATA_FILE};
use sdw_protocol::{Command, Metadata, MetadataError, Redaction, MAX_METADATA_BYTES};
use tar::EntryType;
use zeroize::Zeroizing;

pub use member::{
    MemberPath, MAX_COMPONENT_BYTES, MAX_DEPTH, MAX_NAME_BYTES, PATH_MAX, RESERVED_PATH_BYTES,
};
pub use stream::{MAX_EXTENSION_BYTES, MAX_PADDING_BYTES};
pub use tree::{MAX_TREE_NAME_BYTES, MAX_TREE_NODES};

use stream::{FileAt, Gauge, Metered, Watched};
use tree::{Kind, NameTree, NodeId};

/// More members than this is not an export from SecureDrop; refuse it.
pub const MAX_MEMBERS: usize = 100_000;

/// Why an archive was refused. Every variant but `NotFound`, the metadata ones,
/// `Io` and `Interrupted` is a hostile or broken archive.
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
    #[error("member name is too long (over {MAX_NAME_BYTES} bytes, or a component over {MAX_COMPONENT_BYTES}): {0:?}")]
    NameTooLong(String),
    #[error("member name is more than {MAX_DEPTH} folders deep: {0:?}")]
    NameTooDeep(String),
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
    #[error("the member names name more than {MAX_TREE_NODES} files and folders, or take more than {MAX_TREE_NAME_BYTES} bytes")]
    NamesOverBudget,
    #[error("a member's long-name, long-link, PAX or sparse records are over {0} bytes")]
    ExtensionTooLarge(u64),
    #[error(
        "data after the end of the tar archive (or more than {MAX_PADDING_BYTES} bytes of padding)"
    )]
    TrailingData,
    #[error("the tar end marker is missing: the archive is cut short")]
    NoEndMarker,
    #[error("metadata.json is not a regular file")]
    MetadataNotRegular,
    #[error("metadata.json is missing")]
    MetadataMissing,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("the archive changed between reading passes at {0:?}")]
    Changed(String),
    #[error("interrupted by a signal")]
    Interrupted,
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

/// One member of `export_data/` in the plan: its node in the name tree, and
/// its size if it is a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlanEntry {
    node: NodeId,
    size: Option<u64>,
}

/// What pass one found in `export_data/`: members in archive order and the sum
/// of the file sizes. Names are kept once each, in a tree of components.
#[derive(Default)]
pub struct ExportPlan {
    tree: NameTree,
    entries: Vec<PlanEntry>,
    pub total_bytes: u64,
}

impl ExportPlan {
    /// The members of `export_data/` in archive order, each with its path
    /// below `export_data/` (made when asked for: the plan stores names once).
    pub fn members(&self) -> impl Iterator<Item = PlannedMember> + '_ {
        let top = self.tree.find_top(EXPORT_DATA_DIR).unwrap_or_default();
        self.entries.iter().map(move |entry| {
            let path = self.tree.path_below(entry.node, top);
            match entry.size {
                None => PlannedMember::Dir(path),
                Some(size) => PlannedMember::File { path, size },
            }
        })
    }

    /// Files and folders of `export_data/` (a folder named twice counts twice).
    pub fn member_count(&self) -> usize {
        self.entries.len()
    }

    pub fn file_count(&self) -> usize {
        self.entries.iter().filter(|e| e.size.is_some()).count()
    }
}

impl fmt::Debug for ExportPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportPlan")
            .field("members", &self.member_count())
            .field("files", &self.file_count())
            .field("total_bytes", &self.total_bytes)
            .finish()
    }
}

/// A validated archive: its command, and the plan of what `export_data/` holds.
#[derive(Debug)]
pub struct Inspected {
    pub command: Command,
    pub plan: ExportPlan,
    /// `metadata.json`'s `redact` field.
    pub redact: Option<Redaction>,
    /// `metadata.json`'s `progress` field: write progress lines before the
    /// status word ([`sdw_protocol::PrintProgress`]; `printer` only).
    pub progress: bool,
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

/// An open archive file, with its compression recognised. The file stays
/// open between the passes: both read the same bytes, whatever happens to the
/// name it was opened by.
#[derive(Debug)]
pub struct Archive {
    file: File,
    name: PathBuf,
    compression: Compression,
    interrupted: Arc<AtomicBool>,
}

/// What one member is, once its header has been judged.
enum Judged {
    Root,
    Ignored,
    Metadata { size: u64 },
    Dir(MemberPath),
    File { path: MemberPath, size: u64 },
}

/// One pass's reading stack: the tar reader over the metered stream.
struct Pass<'s> {
    gauge: Rc<Gauge<'s>>,
    tar: tar::Archive<Metered<'s>>,
}

impl Archive {
    /// Opens the archive and recognises its compression from its first bytes.
    pub fn open(path: &Path) -> Result<Archive, ArchiveError> {
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ArchiveError::NotFound(path.to_owned()),
            _ => ArchiveError::Io(e.to_string()),
        })?;
        Archive::from_file(file, path.to_owned())
    }

    /// An archive already open (e.g. an unnamed file holding stdin); `name`
    /// is only for the log.
    pub fn from_file(file: File, name: PathBuf) -> Result<Archive, ArchiveError> {
        let mut head = [0u8; 3];
        let read = read_up_to(&mut FileAt::start(&file), &mut head)
            .map_err(|e| ArchiveError::Io(e.to_string()))?;
        Ok(Archive {
            file,
            name,
            compression: Compression::sniff(head.get(..read).unwrap_or_default()),
            interrupted: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Both passes stop, with [`ArchiveError::Interrupted`], at their next
    /// read once `flag` is set (by SIGTERM, SIGINT or SIGHUP).
    pub fn interrupted_by(self, flag: &Arc<AtomicBool>) -> Archive {
        Archive {
            interrupted: Arc::clone(flag),
            ..self
        }
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Pass one: validates every member and reads the metadata. Nothing is
    /// written anywhere.
    pub fn inspect(&self) -> Result<Inspected, ArchiveError> {
        let mut metadata: Option<Zeroizing<Vec<u8>>> = None;
        let mut plan = ExportPlan::default();
        let mut members = 0usize;
        self.for_each_entry(|entry, gauge| -> Result<(), ArchiveError> {
            members += 1;
            if members > MAX_MEMBERS {
                return Err(ArchiveError::TooManyMembers);
            }
            match judge(entry)? {
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
                    entry
                        .take(MAX_METADATA_BYTES as u64)
                        .read_to_end(&mut bytes)
                        .map_err(|e| gauge.error(e))?;
                    metadata = Some(bytes);
                }
                Judged::Dir(path) => {
                    let node = plan.tree.add(&path, false)?;
                    if path.strip_top(EXPORT_DATA_DIR).is_some() {
                        plan.entries.push(PlanEntry { node, size: None });
                    }
                }
                Judged::File { path, size } => {
                    let node = plan.tree.add(&path, true)?;
                    if path.strip_top(EXPORT_DATA_DIR).is_some() {
                        plan.entries.push(PlanEntry {
                            node,
                            size: Some(size),
                        });
                        plan.total_bytes = plan.total_bytes.saturating_add(size);
                    }
                }
            }
            Ok(())
        })?;
        if members == 0 {
            return Err(ArchiveError::Empty);
        }
        if let Some(top) = plan.tree.find_top(EXPORT_DATA_DIR) {
            if plan.tree.kind(top) == Kind::File {
                return Err(ArchiveError::Duplicate(EXPORT_DATA_DIR.into()));
            }
        }
        let metadata = metadata.ok_or(ArchiveError::MetadataMissing)?;
        let sdw_protocol::Request {
            command,
            redact,
            progress,
        } = Metadata::parse_request(&metadata)?;
        let (names, name_bytes) = plan.tree.usage();
        tracing::info!(
            archive = ?self.name,
            compression = ?self.compression,
            members,
            names,
            name_bytes,
            export_files = plan.file_count(),
            export_bytes = plan.total_bytes,
            command = command.device_value(),
            "archive validated"
        );
        Ok(Inspected {
            command,
            plan,
            redact,
            progress,
        })
    }

    /// Pass two: streams the members of `export_data/` in archive order to
    /// `write`, checking each against the plan of pass one, and the stream to
    /// its end as pass one did.
    pub fn for_each_export_member<E: From<ArchiveError>>(
        &self,
        plan: &ExportPlan,
        mut write: impl FnMut(ExportMember<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut expected = plan.entries.iter();
        self.for_each_entry(|entry, _| -> Result<(), E> {
            let (path, size) = match judge(entry)? {
                Judged::Dir(path) => (path, None),
                Judged::File { path, size } => (path, Some(size)),
                Judged::Root | Judged::Ignored | Judged::Metadata { .. } => return Ok(()),
            };
            let Some(below) = path.strip_top(EXPORT_DATA_DIR) else {
                return Ok(());
            };
            let planned = expected.next();
            let found = plan.tree.find(&path).map(|node| PlanEntry { node, size });
            if found.is_none() || planned != found.as_ref() {
                return Err(ArchiveError::Changed(below.to_owned()).into());
            }
            match size {
                None => write(ExportMember::Dir(below)),
                Some(size) => {
                    let mut data = ExactReader {
                        inner: entry,
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
                    Ok(())
                }
            }
        })?;
        if let Some(missing) = expected.next() {
            return Err(ArchiveError::Changed(plan.tree.path(missing.node)).into());
        }
        Ok(())
    }

    /// Reads the archive once: hands each member to `visit`, reads whatever
    /// `visit` left of its data, and at the end reads the stream to its end
    /// (see [`stream::finish`]). Returns how many members there were.
    fn for_each_entry<E: From<ArchiveError>>(
        &self,
        mut visit: impl FnMut(&mut tar::Entry<'_, Metered<'_>>, &Gauge<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let Pass { gauge, mut tar } = self.pass()?;
        let mut count = 0usize;
        let mut end_of_members = 0u64;
        {
            let mut entries = tar.entries().map_err(|e| gauge.error(e))?;
            loop {
                gauge.next_header();
                let Some(entry) = entries.next() else { break };
                gauge.member_data();
                let mut entry = entry.map_err(|e| gauge.error(e))?;
                count += 1;
                end_of_members = stream::end_of_data(entry.raw_file_position(), entry.size())?;
                visit(&mut entry, &gauge)?;
                stream::drain(&mut entry, &gauge)?;
            }
        }
        if count > 0 {
            stream::finish(&mut tar.into_inner(), &gauge, end_of_members)?;
        }
        Ok(count)
    }

    fn pass(&self) -> Result<Pass<'_>, ArchiveError> {
        let gauge = Gauge::new(&self.interrupted);
        let watched = Watched {
            inner: FileAt::start(&self.file),
            gauge: Rc::clone(&gauge),
        };
        let buffered = BufReader::with_capacity(256 * 1024, watched);
        let decompressed: Box<dyn Read + '_> = match self.compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)),
        };
        let metered = Metered {
            inner: decompressed,
            gauge: Rc::clone(&gauge),
        };
        Ok(Pass {
            gauge,
            tar: tar::Archive::new(metered),
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
