//! `.sd-export` archives for the lab tests: a gzip-compressed tar with `metadata.json` and `export_data/`.
//! Effects: writes one file.

use std::path::Path;

/// Errors of the archive builder.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Writing failed.
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
}

/// Writes an archive at `path` with this metadata JSON and these `export_data/` files (relative names).
pub fn write(
    path: &Path,
    metadata: &serde_json::Value,
    files: &[(&str, &[u8])],
) -> Result<(), ArchiveError> {
    let wrap = |e| ArchiveError::Io(path.to_path_buf(), e);
    let file = std::fs::File::create(path).map_err(wrap)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let meta = metadata.to_string();
    let mut add = |name: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_ustar();
        h.set_size(if dir { 0 } else { data.len() as u64 });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, data)
    };
    add("metadata.json", meta.as_bytes(), false).map_err(wrap)?;
    add("export_data/", &[], true).map_err(wrap)?;
    for (name, data) in files {
        add(&format!("export_data/{name}"), data, false).map_err(wrap)?;
    }
    let gz = b.into_inner().map_err(wrap)?;
    gz.finish().map_err(wrap)?;
    Ok(())
}

/// A `usb-test` probe archive.
pub fn probe(path: &Path) -> Result<(), ArchiveError> {
    write(path, &serde_json::json!({"device": "usb-test"}), &[])
}

/// A `disk` export archive with a passphrase and files.
pub fn export(path: &Path, passphrase: &str, files: &[(&str, &[u8])]) -> Result<(), ArchiveError> {
    write(
        path,
        &serde_json::json!({"device": "disk", "encryption_key": passphrase}),
        files,
    )
}
