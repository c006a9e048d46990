//! The guided first run's result: a configuration folder written from answers.
//!
//! Owns writing `config.json` (only ever from a [`Dom0Config`], so only a
//! configuration that parses is written) and putting the submission key beside
//! it as `sd-journalist.sec`: each file 0600 (both hold secrets), written to a
//! temporary file in the folder and renamed over the old one, so a folder never
//! holds half a file. The folder is then validated as `sdw-admin validate` does.
//! The questions themselves are asked by the command line (`sdw-admin configure`);
//! each answer is checked with [`crate::config::answer`] and
//! [`crate::validate::secret_key_fingerprints`] / [`crate::validate::check_volume`].

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::admin::Admin;
use crate::config::Dom0Config;
use crate::validate::{self, Validated, ValidationError};

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the submission key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the written configuration does not validate: {0}")]
    Invalid(#[from] ValidationError),
}

/// Writes `bytes` to `path` (0600) through a temporary file in the same folder.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".sdw-admin-configure")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.as_file().sync_all().map_err(err)?;
    file.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Writes `dir/config.json` from `config` and copies `key_source` to
/// `dir/sd-journalist.sec` (unless it is that file), then validates the folder.
pub fn write(
    dir: &Path,
    config: &Dom0Config,
    key_source: &Path,
    admin: Option<&Admin>,
) -> Result<Validated, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::Create {
        path: dir.to_owned(),
        source,
    })?;
    let key_path = validate::key_path(dir);
    let same = match (key_source.canonicalize(), key_path.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        let key = zeroize::Zeroizing::new(std::fs::read(key_source).map_err(|source| {
            WriteError::ReadKey {
                path: key_source.to_owned(),
                source,
            }
        })?);
        write_private(&key_path, &key)?;
    }
    let text = zeroize::Zeroizing::new(config.to_json());
    write_private(&validate::config_path(dir), text.as_bytes())?;
    Ok(validate::validate(dir, admin)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, HiddenService, VmSizes};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn config() -> Dom0Config {
        // the fingerprint of tests/fixtures/test_key.sec
        let parsed = Dom0Config::from_parts(
            "D1FAFDCB48AFA61EFBAF483F3133DAA33C5D7787",
            HiddenService {
                hostname: "sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion".into(),
                key: "5U4JPYSZ34N2ZDSOUAL2YLEX2NPI5BLL2Y66QJW24KLSH7R3FEPQ".into(),
            },
            Environment::Staging,
            VmSizes {
                sd_app: 12,
                sd_log: 6,
            },
        );
        assert!(parsed.is_ok(), "{parsed:?}");
        parsed.unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn writes_a_folder_that_validates_with_private_files_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let folder = dir.path().join("config");
        let key = Path::new(FIXTURES).join("test_key.sec");
        let validated = write(&folder, &config(), &key, None);
        assert!(validated.is_ok(), "{validated:?}");
        for name in ["config.json", "sd-journalist.sec"] {
            let mode = std::fs::metadata(folder.join(name)).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600), "{name}");
        }
        assert_eq!(
            std::fs::read(folder.join("sd-journalist.sec")).ok(),
            std::fs::read(&key).ok()
        );
        // again, with the key already in place: nothing else is left in the folder
        let again = write(&folder, &config(), &folder.join("sd-journalist.sec"), None);
        assert!(again.is_ok(), "{again:?}");
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        assert_eq!(names, ["config.json", "sd-journalist.sec"]);
    }
}
