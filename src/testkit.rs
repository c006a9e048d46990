//! Archive builders for tests, benchmarks, fuzz corpora and the demo: benign
//! archives as the SecureDrop client makes them, and hostile ones that no tar
//! tool would write (raw names with `..`, links, device nodes). Writes nothing
//! to disk itself.

use std::io::Write;

use tar::{EntryType, Header};

/// Builds a tar archive member by member, with raw, unvalidated names.
pub struct ArchiveBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for ArchiveBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ArchiveBuilder {
    pub fn new() -> Self {
        ArchiveBuilder {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    /// An archive with `metadata.json` holding `json`.
    pub fn with_metadata(json: &str) -> Self {
        Self::new().file("metadata.json", json.as_bytes())
    }

    /// A regular file, mode 0644.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }

    /// A folder, mode 0755.
    pub fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Symlink, target.as_bytes(), b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Link, target.as_bytes(), b"")
    }

    /// Any member, with raw name and link bytes; names over 100 bytes get a
    /// GNU long-name record, as GNU tar writes them.
    pub fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> Self {
        if name.len() > 100 {
            let mut long = Header::new_gnu();
            long.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
            long.set_entry_type(EntryType::GNULongName);
            long.set_mode(0o644);
            long.set_size(name.len() as u64 + 1);
            long.set_cksum();
            let mut data = name.to_vec();
            data.push(0);
            self.append(&long, &data);
        }
        let mut header = Header::new_gnu();
        let short = &name[..name.len().min(100)];
        header.as_mut_bytes()[..short.len()].copy_from_slice(short);
        let link = &link[..link.len().min(100)];
        header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
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

    pub fn gzip(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(&self.tar());
        gz.finish().unwrap_or_default()
    }

    pub fn bzip2(self) -> Vec<u8> {
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        let _ = bz.write_all(&self.tar());
        bz.finish().unwrap_or_default()
    }
}

/// The archive the demo exports: a few documents as the client would send them,
/// in the nested layout, with a unicode name.
pub fn sample_export_archive() -> Vec<u8> {
    ArchiveBuilder::with_metadata(r#"{"device": "disk", "encryption_method": "luks"}"#)
        .dir("export_data")
        .dir("export_data/demo-source")
        .file(
            "export_data/demo-source/1-memo.txt",
            b"Meeting notes: bring the documents on Tuesday.\n",
        )
        .file(
            "export_data/demo-source/2-Übersicht – 文件.txt",
            "Unicode names survive the export.\n".as_bytes(),
        )
        .file(
            "export_data/demo-source/3-data.csv",
            b"id,value\n1,42\n2,7\n",
        )
        .gzip()
}
