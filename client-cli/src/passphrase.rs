//! Where the drive's passphrase comes from: a file (or stdin with `-`), or a
//! prompt on the terminal. Never argv, never the environment.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};

use sdw_protocol::Passphrase;

/// How to get the passphrase when the drive is locked.
pub enum PassphraseSource {
    File(PathBuf),
    Prompt,
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    #[error("could not read the passphrase from {path:?}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not read the passphrase from the terminal: {0}")]
    Prompt(#[source] io::Error),
}

/// The longest passphrase file read; a passphrase is far shorter.
const MAX_PASSPHRASE_BYTES: u64 = 4096;

impl PassphraseSource {
    pub fn new(file: Option<PathBuf>) -> Self {
        match file {
            Some(path) => PassphraseSource::File(path),
            None if io::stdin().is_terminal() && io::stderr().is_terminal() => {
                PassphraseSource::Prompt
            }
            None => PassphraseSource::Unavailable,
        }
    }

    /// Whether asking again after a refused passphrase can help.
    pub fn can_retry(&self) -> bool {
        matches!(self, PassphraseSource::Prompt)
    }

    /// The passphrase, or `None` when there is no way to get one.
    pub fn get(&self) -> Result<Option<Passphrase>, PassphraseError> {
        match self {
            PassphraseSource::File(path) => read_file(path).map(Some),
            PassphraseSource::Prompt => {
                rpassword::prompt_password("Passphrase for the export drive: ")
                    .map(|secret| Some(Passphrase::new(secret)))
                    .map_err(PassphraseError::Prompt)
            }
            PassphraseSource::Unavailable => Ok(None),
        }
    }
}

fn read_file(path: &Path) -> Result<Passphrase, PassphraseError> {
    let failed = |source| PassphraseError::Read {
        path: path.to_owned(),
        source,
    };
    let mut secret = String::with_capacity(256);
    if path == Path::new("-") {
        io::stdin()
            .take(MAX_PASSPHRASE_BYTES)
            .read_to_string(&mut secret)
            .map_err(failed)?;
    } else {
        File::open(path)
            .and_then(|file| file.take(MAX_PASSPHRASE_BYTES).read_to_string(&mut secret))
            .map_err(failed)?;
    }
    let mut passphrase = Passphrase::new(secret);
    strip_line_end(&mut passphrase);
    Ok(passphrase)
}

/// Drops one trailing `\n` or `\r\n`, which editors and `echo` add.
fn strip_line_end(passphrase: &mut Passphrase) {
    let text = passphrase.expose_str();
    let kept = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if kept.len() != text.len() {
        *passphrase = Passphrase::new(kept.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_dropping_one_line_end() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (content, expected) in [
            ("s3cret\n", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("two words \n\n", "two words \n"),
            ("none", "none"),
        ] {
            let path = dir.path().join("p");
            std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
            let passphrase = read_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(passphrase.expose_str(), expected);
        }
        assert!(read_file(&dir.path().join("absent")).is_err());
    }
}
