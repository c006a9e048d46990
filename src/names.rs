//! What names and sizes the drive's file system can hold, decided for every
//! member of an export before a byte is written.
//!
//! FAT32, exFAT and NTFS (as Windows and macOS read them) cannot hold every
//! name a journalist's source sent: the characters `" * / : < > ? \ |` and
//! control characters, trailing dots and spaces (the drivers drop them
//! silently), the names Windows reserves (`CON`, `NUL`, `COM1`, ...), and two
//! names that differ only in case. [`NamePlan`] maps each such name to a safe
//! spelling the way GNOME Files and Windows do: each forbidden character
//! becomes `_`, trailing dots and spaces go, a reserved name gets `_`
//! appended, and a name already taken in its folder (without regard to case)
//! gets ` (2)`, ` (3)`, ... before its extension. Every file is exported; every
//! rename is recorded. ext4 keeps names as they are.
//!
//! It also checks what renaming cannot fix, and refuses the export before
//! writing when a member exceeds the file system: a file over FAT32's
//! 4 GiB − 1, a name over 255 UTF-16 units, a folder with more entries than the
//! file system's directory can hold, or a path longer than Linux's `PATH_MAX`.
//! Memory: one entry per distinct folder or file name (the archive's name
//! budget bounds it), plus the renamed paths.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::filesystem::Filesystem;

/// Linux's `PATH_MAX` (bytes, with the terminating NUL).
pub const PATH_MAX: usize = 4096;
/// The longest name FAT (long names), exFAT and NTFS hold, in UTF-16 units.
pub const MAX_NAME_UTF16: usize = 255;
/// The largest file FAT32 holds: 4 GiB − 1 bytes.
pub const FAT32_MAX_FILE: u64 = 0xFFFF_FFFF;
/// Directory entries of 32 bytes a FAT directory may hold (FAT spec).
pub const FAT_MAX_DIR_ENTRIES: u64 = 65_536;
/// Directory entries of 32 bytes an exFAT directory may hold (256 MiB).
pub const EXFAT_MAX_DIR_ENTRIES: u64 = 8_388_608;
/// Room kept for `.sd-export-YYYYMMDD-HHMMSS.PID.N.partial/export_data/`.
const STAGING_PREFIX_BYTES: usize = 80;

/// A member the file system cannot hold, whatever its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{path:?} has {size} bytes; the drive's {filesystem} holds at most {limit} per file")]
    FileTooLarge {
        path: String,
        size: u64,
        limit: u64,
        filesystem: &'static str,
    },
    #[error("a name in {path:?} is {units} UTF-16 units long; {filesystem} holds at most {limit}")]
    NameTooLong {
        path: String,
        units: usize,
        limit: usize,
        filesystem: &'static str,
    },
    #[error("folder {path:?} would need {entries} directory entries; {filesystem} holds at most {limit}")]
    FolderTooFull {
        path: String,
        entries: u64,
        limit: u64,
        filesystem: &'static str,
    },
    #[error("{path:?} on the drive would be {bytes} bytes long; Linux paths hold at most {limit}")]
    PathTooLong {
        path: String,
        bytes: usize,
        limit: usize,
    },
}

/// The naming rules of one file system.
#[derive(Debug, Clone, Copy)]
struct Rules {
    name: &'static str,
    /// Windows-style names: forbidden characters, trailing dots and spaces,
    /// reserved device names, case-insensitive uniqueness.
    windows: bool,
    max_file: Option<u64>,
    /// How many entries a folder holds, and how many one name takes.
    directory: Option<DirectoryLimit>,
}

/// (entries a folder holds, entries a name of `units` UTF-16 units takes)
type DirectoryLimit = (u64, fn(usize) -> u64);

fn fat_entries(units: usize) -> u64 {
    // One 8.3 entry plus one long-name entry per 13 UTF-16 units.
    1 + (units as u64).div_ceil(13)
}

fn exfat_entries(units: usize) -> u64 {
    // A file entry, a stream extension, one name entry per 15 units.
    2 + (units as u64).div_ceil(15)
}

fn rules(filesystem: Option<Filesystem>) -> Rules {
    match filesystem {
        Some(Filesystem::Vfat) => Rules {
            name: "FAT32",
            windows: true,
            max_file: Some(FAT32_MAX_FILE),
            directory: Some((FAT_MAX_DIR_ENTRIES, fat_entries)),
        },
        Some(Filesystem::Exfat) => Rules {
            name: "exFAT",
            windows: true,
            max_file: None,
            directory: Some((EXFAT_MAX_DIR_ENTRIES, exfat_entries)),
        },
        Some(Filesystem::Ntfs) => Rules {
            name: "NTFS",
            windows: true,
            max_file: None,
            directory: None,
        },
        Some(Filesystem::Ext) | None => Rules {
            name: "file system",
            windows: false,
            max_file: None,
            directory: None,
        },
    }
}

/// Names Windows reserves for devices, with or without an extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A name a Windows-style file system can hold, spelled as close to `name`
/// as it can be: forbidden characters become `_`, trailing dots and spaces
/// go, a reserved device name gets `_` appended to its stem.
pub fn windows_safe(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .map(|c| match c {
            '"' | '*' | '/' | ':' | '<' | '>' | '?' | '\\' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let kept = safe.trim_end_matches(['.', ' ']).len();
    safe.truncate(kept);
    if safe.is_empty() {
        safe.push('_');
    }
    let stem_len = safe.find('.').unwrap_or(safe.len());
    let stem = safe.get(..stem_len).unwrap_or("");
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        safe.insert(stem_len, '_');
    }
    safe
}

/// `name` with ` (n)` before its extension: `report (2).pdf`.
fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => {
            let (stem, ext) = name.split_at(dot);
            format!("{stem} ({n}){ext}")
        }
        None => format!("{name} ({n})"),
    }
}

/// How names compare in a folder: without regard to case on Windows-style
/// file systems.
fn folded(name: &str, windows: bool) -> String {
    if windows {
        name.to_lowercase()
    } else {
        name.to_owned()
    }
}

/// A folder on the drive, as far as its directory's size goes.
#[derive(Debug)]
struct Folder {
    /// Directory entries used so far (`.` and `..` included).
    entries: u64,
}

/// The on-drive name of every member of one export, and the renames.
#[derive(Debug)]
pub struct NamePlan {
    rules: Rules,
    root_bytes: usize,
    /// (parent folder id, name in the archive) -> (id, name on the drive)
    members: HashMap<(u32, String), (u32, String)>,
    /// (parent folder id, folded name on the drive): taken.
    taken: HashMap<(u32, String), ()>,
    folders: HashMap<u32, Folder>,
    next_id: u32,
    /// (path in the archive, path on the drive) of every renamed member.
    renamed: Vec<(String, String)>,
}

/// A member of `export_data/` as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    Dir(&'a str),
    File { path: &'a str, size: u64 },
}

impl NamePlan {
    /// An empty plan for `filesystem` (`None`: keep names as they are).
    /// `root_bytes` is the length of the drive's mount point, for the path
    /// limit.
    pub fn new(filesystem: Option<Filesystem>, root_bytes: usize) -> NamePlan {
        let mut folders = HashMap::new();
        folders.insert(0, Folder { entries: 2 });
        NamePlan {
            rules: rules(filesystem),
            root_bytes,
            members: HashMap::new(),
            taken: HashMap::new(),
            folders,
            next_id: 1,
            renamed: Vec::new(),
        }
    }

    /// Plans every member, in archive order (the tests' way in; the writer
    /// adds members one by one).
    #[cfg(test)]
    pub fn of<'a>(
        filesystem: Option<Filesystem>,
        root_bytes: usize,
        members: impl IntoIterator<Item = Member<'a>>,
    ) -> Result<NamePlan, LimitError> {
        let mut plan = NamePlan::new(filesystem, root_bytes);
        for member in members {
            plan.add(member)?;
        }
        Ok(plan)
    }

    /// Plans the next member of the archive.
    pub fn add(&mut self, member: Member<'_>) -> Result<(), LimitError> {
        let rules = self.rules;
        let (path, size) = match member {
            Member::Dir(path) => (path, None),
            Member::File { path, size } => (path, Some(size)),
        };
        if let (Some(size), Some(limit)) = (size, rules.max_file) {
            if size > limit {
                return Err(LimitError::FileTooLarge {
                    path: path.to_owned(),
                    size,
                    limit,
                    filesystem: rules.name,
                });
            }
        }
        let disk = self.place(path)?;
        let bytes = self.root_bytes + STAGING_PREFIX_BYTES + disk.len();
        if bytes >= PATH_MAX {
            return Err(LimitError::PathTooLong {
                path: path.to_owned(),
                bytes,
                limit: PATH_MAX,
            });
        }
        if disk != path {
            tracing::info!(from = ?truncated(path), to = ?truncated(&disk),
                "renamed for the drive's {}", rules.name);
            self.renamed.push((path.to_owned(), disk));
        }
        Ok(())
    }

    /// Gives each component of `path` its on-drive name (making folders as
    /// needed) and returns the on-drive path.
    fn place(&mut self, path: &str) -> Result<String, LimitError> {
        let mut parent = 0u32;
        let mut disk = String::with_capacity(path.len());
        for component in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let key = (parent, component.to_owned());
            let (id, name) = match self.members.get(&key) {
                Some(found) => found.clone(),
                None => {
                    let name = self.new_name(parent, component, path)?;
                    let id = self.next_id;
                    self.next_id = self.next_id.saturating_add(1);
                    self.folders.insert(id, Folder { entries: 2 });
                    self.members.insert(key, (id, name.clone()));
                    (id, name)
                }
            };
            if !disk.is_empty() {
                disk.push('/');
            }
            disk.push_str(&name);
            parent = id;
        }
        Ok(disk)
    }

    /// A name for `component` in folder `parent` that the file system holds
    /// and no sibling has.
    fn new_name(&mut self, parent: u32, component: &str, path: &str) -> Result<String, LimitError> {
        let windows = self.rules.windows;
        let base = if windows {
            windows_safe(component)
        } else {
            component.to_owned()
        };
        let mut name = base.clone();
        let mut n = 1;
        while self.taken.contains_key(&(parent, folded(&name, windows))) {
            n += 1;
            name = numbered(&base, n);
        }
        let units = name.encode_utf16().count();
        if windows && units > MAX_NAME_UTF16 {
            return Err(LimitError::NameTooLong {
                path: path.to_owned(),
                units,
                limit: MAX_NAME_UTF16,
                filesystem: self.rules.name,
            });
        }
        if let Some((limit, per_name)) = self.rules.directory {
            let rules_name = self.rules.name;
            if let Some(folder) = self.folders.get_mut(&parent) {
                folder.entries = folder.entries.saturating_add(per_name(units));
                if folder.entries > limit {
                    return Err(LimitError::FolderTooFull {
                        path: path.rsplit_once('/').map_or("", |(p, _)| p).to_owned(),
                        entries: folder.entries,
                        limit,
                        filesystem: rules_name,
                    });
                }
            }
        }
        self.taken.insert((parent, folded(&name, windows)), ());
        Ok(name)
    }

    /// The on-drive path of a member the plan has seen (`None`: not planned).
    pub fn disk_path(&self, path: &str) -> Option<String> {
        let mut parent = 0u32;
        let mut disk = String::with_capacity(path.len());
        for component in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let (id, name) = self.members.get(&(parent, component.to_owned()))?;
            if !disk.is_empty() {
                disk.push('/');
            }
            disk.push_str(name);
            parent = *id;
        }
        Some(disk)
    }

    /// Every renamed member: (path in the archive, path on the drive).
    pub fn renamed(&self) -> &[(String, String)] {
        &self.renamed
    }

    /// The text of `RENAMED.txt`, or `None` when nothing was renamed.
    pub fn report(&self) -> Option<String> {
        if self.renamed.is_empty() {
            return None;
        }
        let mut text = format!(
            "The drive's file system ({}) cannot hold some names exactly as they were sent.\n\
             These files were exported under the name after the arrow:\n\n",
            self.rules.name
        );
        for (from, to) in &self.renamed {
            let _ = writeln!(text, "{from}\n  -> {to}");
        }
        Some(text)
    }
}

fn truncated(text: &str) -> &str {
    match text.char_indices().nth(120) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fs: Filesystem, members: &[Member<'_>]) -> NamePlan {
        NamePlan::of(Some(fs), 30, members.iter().copied()).unwrap()
    }

    fn file(path: &str) -> Member<'_> {
        Member::File { path, size: 1 }
    }

    #[test]
    fn fat_names_lose_what_fat_cannot_hold() {
        assert_eq!(windows_safe("Interview 10:30.txt"), "Interview 10_30.txt");
        assert_eq!(windows_safe("Was it legal?.pdf"), "Was it legal_.pdf");
        assert_eq!(windows_safe("a\"*<>|\\b"), "a______b");
        assert_eq!(windows_safe("tab\there"), "tab_here");
        assert_eq!(windows_safe("notes. . ."), "notes");
        assert_eq!(windows_safe("..."), "_");
        assert_eq!(windows_safe("CON"), "CON_");
        assert_eq!(windows_safe("nul.txt"), "nul_.txt");
        assert_eq!(windows_safe("com1.tar.gz"), "com1_.tar.gz");
        assert_eq!(windows_safe("CONSOLE.txt"), "CONSOLE.txt");
        assert_eq!(windows_safe("Übersicht – 文件.txt"), "Übersicht – 文件.txt");
    }

    #[test]
    fn every_file_is_exported_under_a_unique_name_without_regard_to_case() {
        let p = plan(
            Filesystem::Vfat,
            &[
                file("Report.pdf"),
                file("report.pdf"),
                file("REPORT.pdf"),
                file("a:b"),
                file("a_b"),
                Member::Dir("Dir"),
                file("Dir/x"),
                Member::Dir("dir"),
                file("dir/x"),
            ],
        );
        assert_eq!(p.disk_path("Report.pdf").unwrap(), "Report.pdf");
        assert_eq!(p.disk_path("report.pdf").unwrap(), "report (2).pdf");
        assert_eq!(p.disk_path("REPORT.pdf").unwrap(), "REPORT (3).pdf");
        assert_eq!(p.disk_path("a:b").unwrap(), "a_b");
        assert_eq!(p.disk_path("a_b").unwrap(), "a_b (2)");
        assert_eq!(p.disk_path("Dir/x").unwrap(), "Dir/x");
        assert_eq!(
            p.disk_path("dir/x").unwrap(),
            "dir (2)/x",
            "folders are not merged"
        );
        assert_eq!(p.renamed().len(), 6, "dir, and dir/x below it");
        let report = p.report().unwrap();
        assert!(
            report.contains("report.pdf\n  -> report (2).pdf"),
            "{report}"
        );
    }

    #[test]
    fn ext4_keeps_names_as_they_are() {
        let p = plan(
            Filesystem::Ext,
            &[file("Report.pdf"), file("report.pdf"), file("a:b?")],
        );
        assert_eq!(p.disk_path("report.pdf").unwrap(), "report.pdf");
        assert_eq!(p.disk_path("a:b?").unwrap(), "a:b?");
        assert!(p.report().is_none());
    }

    #[test]
    fn a_file_over_4_gib_is_refused_on_fat32_only() {
        let big = [Member::File {
            path: "film.mov",
            size: FAT32_MAX_FILE + 1,
        }];
        assert!(matches!(
            NamePlan::of(Some(Filesystem::Vfat), 30, big),
            Err(LimitError::FileTooLarge { .. })
        ));
        assert!(NamePlan::of(Some(Filesystem::Exfat), 30, big).is_ok());
        let just = [Member::File {
            path: "film.mov",
            size: FAT32_MAX_FILE,
        }];
        assert!(NamePlan::of(Some(Filesystem::Vfat), 30, just).is_ok());
    }

    #[test]
    fn names_over_255_utf16_units_are_refused_on_windows_file_systems() {
        let long = "文".repeat(200) + &"a".repeat(56);
        let members = [Member::File {
            path: &long,
            size: 1,
        }];
        assert!(matches!(
            NamePlan::of(Some(Filesystem::Exfat), 30, members),
            Err(LimitError::NameTooLong { units: 256, .. })
        ));
        let fits = "文".repeat(200) + &"a".repeat(55);
        let members = [Member::File {
            path: &fits,
            size: 1,
        }];
        assert!(NamePlan::of(Some(Filesystem::Exfat), 30, members).is_ok());
    }

    #[test]
    fn a_fat_folder_holds_at_most_65536_entries() {
        // 20-unit names take 3 entries each: 21,845 of them fit beside . and ..
        let names: Vec<String> = (0..21_846).map(|i| format!("file-{i:015}")).collect();
        let members: Vec<Member<'_>> = names.iter().map(|n| file(n)).collect();
        assert!(matches!(
            NamePlan::of(Some(Filesystem::Vfat), 30, members.iter().copied()),
            Err(LimitError::FolderTooFull { .. })
        ));
        assert!(NamePlan::of(
            Some(Filesystem::Vfat),
            30,
            members[..21_844].iter().copied()
        )
        .is_ok());
        assert!(NamePlan::of(Some(Filesystem::Exfat), 30, members.iter().copied()).is_ok());
    }

    #[test]
    fn paths_past_path_max_are_refused() {
        let deep = vec!["d".repeat(200); 20].join("/");
        let members = [Member::File {
            path: &deep,
            size: 1,
        }];
        assert!(matches!(
            NamePlan::of(Some(Filesystem::Ext), 30, members),
            Err(LimitError::PathTooLong { .. })
        ));
    }
}
