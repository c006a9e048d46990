//! Dev-only `.sd-export` archives for the tests, the hardware lab, the
//! benchmarks, the examples and the fuzz seeds; never a dependency of the
//! device side or the client.
//!
//! The archive format is not written here: member names come from
//! [`sdw_protocol::layout`] and `metadata.json` from
//! [`sdw_protocol::Metadata::to_json`], the same items the client's archive
//! builder and the device side's reader use. What this crate adds is the tar
//! plumbing, and members no client would write.
//!
//! - [`ExportWriter`]: streams a well-formed archive (`metadata.json`, then
//!   `export_data/` and its files) into any writer, for archives of any size;
//!   [`write_gzip`] writes one to a file.
//! - [`ArchiveBuilder`]: builds an archive in memory member by member, with
//!   raw, unvalidated names and any member type: benign archives as the client
//!   makes them, and hostile ones no tar tool would write (`..`, links, device
//!   nodes, long names).
//! - [`sample_export_archive`]: the archive the demo exports.
//! - [`host`]: the user cache folder and stopping a helper process, shared by
//!   the print tests and the lab.
//!
//! Effects: only [`write_gzip`] touches the file system (it creates one file).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sdw_protocol::layout::{export_data_member, EXPORT_DATA_DIR, METADATA_FILE};
use sdw_protocol::{Command, Metadata};
pub use tar::EntryType;
use tar::Header;

/// The modification time of every member (2023-11-14), so that archives are
/// the same bytes on every run.
pub const MTIME: u64 = 1_700_000_000;

/// `metadata.json` for `command`, as the client writes it.
pub fn metadata_for(command: &Command) -> Vec<u8> {
    Metadata::to_json(command).to_vec()
}

/// Streams a well-formed export archive into `out`: `metadata.json` first,
/// then the `export_data/` folder, then files and folders below it, named
/// relative to `export_data/`.
pub struct ExportWriter<W: Write> {
    tar: tar::Builder<W>,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an archive with this `metadata.json` (any bytes, so tests can
    /// send metadata the client never would) and the `export_data/` folder.
    pub fn new(out: W, metadata_json: &[u8]) -> io::Result<Self> {
        let mut writer = ExportWriter {
            tar: tar::Builder::new(out),
        };
        writer.append(EntryType::Regular, METADATA_FILE, metadata_json)?;
        writer.append(EntryType::Directory, &export_data_member(""), b"")?;
        Ok(writer)
    }

    /// Starts an archive for `command` ([`Metadata::to_json`]).
    pub fn for_command(out: W, command: &Command) -> io::Result<Self> {
        Self::new(out, &Metadata::to_json(command))
    }

    /// The folder `export_data/BELOW/`.
    pub fn folder(&mut self, below: &str) -> io::Result<()> {
        let name = export_data_member(&format!("{}/", below.trim_end_matches('/')));
        self.append(EntryType::Directory, &name, b"")
    }

    /// The file `export_data/BELOW` holding `data`.
    pub fn file(&mut self, below: &str, data: &[u8]) -> io::Result<()> {
        self.append(EntryType::Regular, &export_data_member(below), data)
    }

    /// The file `export_data/BELOW` holding the `size` bytes read from `data`.
    pub fn file_from(&mut self, below: &str, size: u64, data: impl Read) -> io::Result<()> {
        let mut header = header(EntryType::Regular, size);
        self.tar
            .append_data(&mut header, export_data_member(below), data)
    }

    /// Ends the archive and gives back the writer (for a compressor: still
    /// to be finished).
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()
    }

    fn append(&mut self, kind: EntryType, name: &str, data: &[u8]) -> io::Result<()> {
        let mut header = header(kind, data.len() as u64);
        self.tar.append_data(&mut header, name, data)
    }
}

/// A GNU header for `kind` (mode 0644, folders 0755) of `size` bytes; names
/// over 100 bytes get a GNU long-name record when appended.
fn header(kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_mtime(MTIME);
    header.set_size(size);
    header.set_cksum();
    header
}

/// Writes a gzip-compressed export archive at `path` with this
/// `metadata.json` and these files below `export_data/` (folders in a name
/// such as `source/memo.txt` are added before their first file).
pub fn write_gzip(path: &Path, metadata_json: &[u8], files: &[(&str, &[u8])]) -> io::Result<()> {
    let gz = flate2::write::GzEncoder::new(
        BufWriter::new(File::create(path)?),
        flate2::Compression::fast(),
    );
    let mut writer = ExportWriter::new(gz, metadata_json)?;
    let mut folders: Vec<&str> = Vec::new();
    for (below, data) in files {
        let mut end = 0;
        while let Some(slash) = below[end..].find('/') {
            end += slash;
            let folder = &below[..end];
            if !folders.contains(&folder) {
                writer.folder(folder)?;
                folders.push(folder);
            }
            end += 1;
        }
        writer.file(below, data)?;
    }
    writer.finish()?.finish()?.flush()
}

/// Builds a tar archive in memory member by member, with raw, unvalidated
/// names and link targets.
pub struct ArchiveBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for ArchiveBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ArchiveBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        ArchiveBuilder {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    /// An archive whose first member is `metadata.json` holding `json`.
    pub fn with_metadata(json: &str) -> Self {
        Self::new().file(METADATA_FILE, json.as_bytes())
    }

    /// An archive whose first member is `metadata.json` for `command`, as
    /// the client writes it, then the `export_data/` folder.
    pub fn for_command(command: &Command) -> Self {
        Self::new()
            .file(METADATA_FILE, &Metadata::to_json(command))
            .dir(EXPORT_DATA_DIR)
    }

    /// The folder `export_data/BELOW`.
    pub fn export_dir(self, below: &str) -> Self {
        self.dir(&export_data_member(below))
    }

    /// The file `export_data/BELOW`.
    pub fn export_file(self, below: &str, data: &[u8]) -> Self {
        self.file(&export_data_member(below), data)
    }

    /// A regular file, mode 0644, by its full member name.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }

    /// A folder, mode 0755, by its full member name.
    pub fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"")
    }

    /// A symbolic link `name` -> `target`.
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Symlink, target.as_bytes(), b"")
    }

    /// A hard link `name` -> `target`.
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Link, target.as_bytes(), b"")
    }

    /// Any member, with raw name and link bytes (link targets cut at 100
    /// bytes); names over 100 bytes get a GNU long-name record, as GNU tar
    /// writes them.
    pub fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> Self {
        if name.len() > 100 {
            let mut long = header(EntryType::GNULongName, name.len() as u64 + 1);
            long.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
            long.set_cksum();
            let mut data = name.to_vec();
            data.push(0);
            self.append(&long, &data);
        }
        let mut header = header(kind, data.len() as u64);
        let short = &name[..name.len().min(100)];
        header.as_mut_bytes()[..short.len()].copy_from_slice(short);
        let link = &link[..link.len().min(100)];
        header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link);
        header.set_cksum();
        self.append(&header, data);
        self
    }

    fn append(&mut self, header: &Header, data: &[u8]) {
        // Appending to a Vec cannot fail.
        let _ = self.tar.append(header, data);
    }

    /// The plain tar bytes.
    pub fn tar(self) -> Vec<u8> {
        self.tar.into_inner().unwrap_or_default()
    }

    /// The tar, gzip-compressed.
    pub fn gzip(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(&self.tar());
        gz.finish().unwrap_or_default()
    }

    /// The tar, bzip2-compressed.
    pub fn bzip2(self) -> Vec<u8> {
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        let _ = bz.write_all(&self.tar());
        bz.finish().unwrap_or_default()
    }
}

/// The archive the demo exports: a few documents as the client would send
/// them (a `disk` export with no passphrase), in the nested layout, with a
/// unicode name.
pub fn sample_export_archive() -> Vec<u8> {
    ArchiveBuilder::for_command(&Command::Disk { passphrase: None })
        .export_dir("demo-source")
        .export_file(
            "demo-source/1-memo.txt",
            b"Meeting notes: bring the documents on Tuesday.\n",
        )
        .export_file(
            "demo-source/2-Übersicht – 文件.txt",
            "Unicode names survive the export.\n".as_bytes(),
        )
        .export_file("demo-source/3-data.csv", b"id,value\n1,42\n2,7\n")
        .gzip()
}

pub mod host;
pub mod measure;

#[cfg(test)]
mod tests {
    use super::*;
    use sdw_protocol::Passphrase;

    /// (name, type, data) of every member of a plain tar.
    fn members(tar: &[u8]) -> Vec<(String, EntryType, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = String::from_utf8(entry.path_bytes().to_vec()).unwrap();
                let kind = entry.header().entry_type();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (name, kind, data)
            })
            .collect()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_export_writer_writes_the_protocol_layout() {
        let command = Command::Disk {
            passphrase: Some(Passphrase::new("correct horse".into())),
        };
        let mut writer = ExportWriter::for_command(Vec::new(), &command).unwrap();
        writer.folder("source").unwrap();
        writer.file("source/memo.txt", b"memo").unwrap();
        writer.file_from("big.bin", 3, &b"abc"[..]).unwrap();
        let members = members(&writer.finish().unwrap());
        let names: Vec<&str> = members.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "metadata.json",
                "export_data/",
                "export_data/source/",
                "export_data/source/memo.txt",
                "export_data/big.bin"
            ]
        );
        assert_eq!(Metadata::parse(&members[0].2).unwrap(), command);
        assert_eq!(members[1].1, EntryType::Directory);
        assert_eq!(members[3].2, b"memo");
        assert_eq!(members[4].2, b"abc");
    }

    #[test]
    fn write_gzip_adds_each_folder_once_before_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sd-export");
        write_gzip(
            &path,
            br#"{"device":"usb-test"}"#,
            &[("s/t/a", b"1"), ("s/t/b", b"2"), ("c", b"3")],
        )
        .unwrap();
        let members = members(&gunzip(&std::fs::read(&path).unwrap()));
        let names: Vec<&str> = members.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "metadata.json",
                "export_data/",
                "export_data/s/",
                "export_data/s/t/",
                "export_data/s/t/a",
                "export_data/s/t/b",
                "export_data/c"
            ]
        );
        assert_eq!(members[0].2, br#"{"device":"usb-test"}"#);
    }

    #[test]
    fn the_builder_keeps_raw_names_links_and_long_names() {
        let long = format!("export_data/{}", "n".repeat(150));
        let tar = ArchiveBuilder::with_metadata("{}")
            .file("export_data/../x", b"x")
            .symlink("export_data/l", "../../etc")
            .file(&long, b"y")
            .tar();
        let members = members(&tar);
        assert_eq!(members[1].0, "export_data/../x");
        assert_eq!(members[2].1, EntryType::Symlink);
        assert_eq!(members[3].0, long);
    }

    #[test]
    fn the_sample_is_a_disk_export_in_the_nested_layout() {
        let members = members(&gunzip(&sample_export_archive()));
        assert_eq!(
            Metadata::parse(&members[0].2).unwrap(),
            Command::Disk { passphrase: None }
        );
        assert_eq!(members[1].0, "export_data");
        assert_eq!(members[2].0, "export_data/demo-source");
        assert_eq!(members.len(), 6);
    }
}
