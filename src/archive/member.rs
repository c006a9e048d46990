//! The rules for one tar member's name and type: pure functions over the header,
//! so that both passes over an archive (validate, then write) decide alike, and
//! so that the rules can be fuzzed and tested without an archive.

use std::fmt;

use super::ArchiveError;

/// Linux `PATH_MAX`: no path longer than this (with its final NUL) can be
/// handed to the kernel.
pub const PATH_MAX: usize = 4096;
/// Room kept in a path on the drive for what comes before the member's name:
/// the mount point and the export folder
/// (`/run/sdw-devices/export-…/.sd-export-YYYYMMDD-HHMMSS.PID.N.partial/`).
pub const RESERVED_PATH_BYTES: usize = 128;
/// The longest member name accepted, in bytes, as written in the archive: a
/// name that fits leaves the file's path on the drive under `PATH_MAX`.
pub const MAX_NAME_BYTES: usize = PATH_MAX - RESERVED_PATH_BYTES;
/// The longest single component accepted, in bytes (`NAME_MAX` on ext4, FAT, exFAT).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// The most components a member name may have. SecureDrop's exports are two
/// or three deep; the bound keeps the work per member small.
pub const MAX_DEPTH: usize = 128;

/// A validated, normalised relative member name: UTF-8, no empty, `.` or `..`
/// components, no leading `/` or `./`, no control characters, within
/// [`MAX_NAME_BYTES`], [`MAX_COMPONENT_BYTES`] and [`MAX_DEPTH`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberPath(String);

impl MemberPath {
    /// Validates a raw member name from a tar header. `Ok(None)` is the archive
    /// root itself (`.` or `./`), which carries nothing.
    pub fn parse(raw: &[u8]) -> Result<Option<MemberPath>, ArchiveError> {
        let name = std::str::from_utf8(raw).map_err(|_| ArchiveError::NonUtf8Name(lossy(raw)))?;
        if name.len() > MAX_NAME_BYTES {
            return Err(ArchiveError::NameTooLong(lossy(raw)));
        }
        if name.starts_with('/') {
            return Err(ArchiveError::AbsolutePath(lossy(raw)));
        }
        if name.chars().any(char::is_control) {
            return Err(ArchiveError::ControlCharacter(lossy(raw)));
        }
        let mut components = Vec::new();
        for component in name.split('/') {
            match component {
                "" | "." => continue,
                ".." => return Err(ArchiveError::ParentDir(lossy(raw))),
                c if c.len() > MAX_COMPONENT_BYTES => {
                    return Err(ArchiveError::NameTooLong(lossy(raw)))
                }
                c => components.push(c),
            }
        }
        if components.is_empty() {
            return Ok(None);
        }
        if components.len() > MAX_DEPTH {
            return Err(ArchiveError::NameTooDeep(lossy(raw)));
        }
        Ok(Some(MemberPath(components.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The path below `top` (a single component), if this path is strictly inside it.
    pub fn strip_top(&self, top: &str) -> Option<&str> {
        self.0.strip_prefix(top)?.strip_prefix('/')
    }
}

impl fmt::Debug for MemberPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Whether a link target, resolved from the directory of the link `at`, stays
/// inside the archive root.
pub fn link_stays_inside(at: &MemberPath, target: &[u8], hard: bool) -> bool {
    if target.first() == Some(&b'/') || target.is_empty() {
        return false;
    }
    // A hard link's target is a member name (relative to the root); a symbolic
    // link's target is relative to the directory holding the link.
    let mut depth: usize = if hard {
        0
    } else {
        at.components().count().saturating_sub(1)
    };
    for component in target.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// An untrusted name, shortened and made printable for errors and logs.
pub fn lossy(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut shown: String = text.chars().take(120).collect();
    if text.chars().nth(120).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<String>, ArchiveError> {
        MemberPath::parse(s.as_bytes()).map(|p| p.map(|p| p.0))
    }

    #[test]
    fn accepts_and_normalises_relative_names() {
        assert_eq!(
            parse("export_data/a.txt"),
            Ok(Some("export_data/a.txt".into()))
        );
        assert_eq!(
            parse("./export_data/a.txt"),
            Ok(Some("export_data/a.txt".into()))
        );
        assert_eq!(
            parse("././export_data//x/./y/"),
            Ok(Some("export_data/x/y".into()))
        );
        assert_eq!(
            parse("export_data/Übersicht – 文件.pdf"),
            Ok(Some("export_data/Übersicht – 文件.pdf".into()))
        );
    }

    #[test]
    fn the_root_itself_is_nothing() {
        assert_eq!(parse("."), Ok(None));
        assert_eq!(parse("./"), Ok(None));
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn refuses_absolute_parent_and_control_names() {
        assert!(matches!(
            parse("/etc/passwd"),
            Err(ArchiveError::AbsolutePath(_))
        ));
        assert!(matches!(parse("../x"), Err(ArchiveError::ParentDir(_))));
        assert!(matches!(
            parse("export_data/../../x"),
            Err(ArchiveError::ParentDir(_))
        ));
        assert!(matches!(parse("a/.."), Err(ArchiveError::ParentDir(_))));
        assert!(matches!(
            parse("a\nb"),
            Err(ArchiveError::ControlCharacter(_))
        ));
        assert!(matches!(
            parse("a\u{1b}[31mred"),
            Err(ArchiveError::ControlCharacter(_))
        ));
        assert!(matches!(
            MemberPath::parse(b"a\xff"),
            Err(ArchiveError::NonUtf8Name(_))
        ));
    }

    #[test]
    fn refuses_overlong_names() {
        assert!(matches!(
            parse(&"a".repeat(256)),
            Err(ArchiveError::NameTooLong(_))
        ));
        assert!(parse(&"a".repeat(255)).is_ok());
        // A path whose every component fits, but not the whole: refused
        // before any folder of it is made.
        let long = vec!["c".repeat(200); MAX_NAME_BYTES / 201 + 1].join("/");
        assert!(long.len() > MAX_NAME_BYTES && long.len() < PATH_MAX);
        assert!(matches!(parse(&long), Err(ArchiveError::NameTooLong(_))));
        let fits = vec!["c".repeat(200); MAX_NAME_BYTES / 201].join("/");
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn refuses_names_too_deep() {
        let deepest = vec!["d"; MAX_DEPTH].join("/");
        assert!(parse(&deepest).is_ok());
        assert!(matches!(
            parse(&format!("{deepest}/x")),
            Err(ArchiveError::NameTooDeep(_))
        ));
    }

    #[test]
    fn strips_the_top_folder() {
        let p = MemberPath::parse(b"a/b/c").unwrap().unwrap();
        assert_eq!(p.components().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(p.strip_top("a"), Some("b/c"));
        assert_eq!(p.strip_top("a/b/c"), None);
    }

    #[test]
    fn link_targets_are_resolved_from_the_right_place() {
        let at = MemberPath::parse(b"export_data/dir/link").unwrap().unwrap();
        assert!(link_stays_inside(&at, b"../file", false));
        assert!(link_stays_inside(&at, b"../../metadata.json", false));
        assert!(!link_stays_inside(&at, b"../../../etc/passwd", false));
        assert!(!link_stays_inside(&at, b"/etc/passwd", false));
        assert!(link_stays_inside(&at, b"export_data/x", true));
        assert!(!link_stays_inside(&at, b"../x", true));
    }
}
