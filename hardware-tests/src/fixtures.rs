//! Stick images for the lab, built on the host from a recipe and cached by it.
//!
//! Recipe grammar: `[mbr:|gpt:]PART[,PART...]` (several parts need a partition table), where `PART` is
//! `KIND[@MiB]` and `KIND` is one of
//! `blank` (zeros), `random` (random bytes), `ext4`, `fat32`, `exfat`, `ntfs` (unencrypted),
//! `luks1-FS`, `luks2-FS` (PBKDF2 with 1,000 iterations: fast), `luks2argon-FS` (argon2id, 128 MiB,
//! 4 passes, 4 lanes: the default algorithm; its default 1 GiB cost takes ~47 s per unlock under TCG),
//! `luks2argon1g-FS` (argon2id with cryptsetup's default 1 GiB, as formatted on a big machine), `vera-FS` (VeraCrypt, PIM 0 = 500,000 iterations),
//! `veraN-FS` (VeraCrypt, PIM N), `true-FS` (TrueCrypt), with `FS` one of `ext4`, `fat32`, `exfat`,
//! `ntfs`, `none`. Sizes default to 64 MiB per part.
//!
//! The host has no device-mapper, so an encrypted volume is made the other way round: the filesystem is
//! made in a plain file (mkfs), then encrypted here with AES-256-XTS under a volume key we chose
//! (LUKS: `cryptsetup luksFormat --volume-key-file` writes the header; VeraCrypt/TrueCrypt: [`crate::tcrypt`]).
//! Effects: runs `mkfs.*`, `cryptsetup luksFormat` and `sfdisk` on files; writes under the cache dir.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::tcrypt::{self, Flavor};
use crate::xts;

/// Bump when the images a recipe yields change.
const FIXTURE_VERSION: &str = "3";
const MIB: u64 = 1 << 20;

/// Errors of the fixture builder.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The recipe did not parse.
    #[error("bad recipe {0:?}: {1}")]
    Recipe(String, &'static str),
    /// A program failed.
    #[error("{program} failed: {detail}")]
    Program {
        /// The program.
        program: String,
        /// Its exit status and stderr.
        detail: String,
    },
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// VeraCrypt/TrueCrypt writing failed.
    #[error(transparent)]
    Tcrypt(#[from] tcrypt::TcryptError),
    /// Payload encryption failed.
    #[error(transparent)]
    Xts(#[from] xts::XtsError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FixtureError + '_ {
    move |source| FixtureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    /// ext4.
    Ext4,
    /// FAT32.
    Fat32,
    /// exFAT.
    Exfat,
    /// NTFS (mkntfs).
    Ntfs,
    /// None: zeros.
    None,
}

/// What one volume (the whole disk or a partition) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Zeros.
    Blank,
    /// Random bytes (looks like a locked VeraCrypt volume with an unknown passphrase).
    Random,
    /// An unencrypted filesystem.
    Plain(Fs),
    /// LUKS1 or LUKS2.
    Luks {
        /// 1 or 2.
        version: u8,
        /// argon2id with this much memory (KiB, 4 passes) instead of fast PBKDF2.
        argon2_kib: Option<u32>,
        /// The filesystem inside.
        fs: Fs,
    },
    /// VeraCrypt or TrueCrypt.
    Tcrypt {
        /// Which.
        flavor: Flavor,
        /// The filesystem inside.
        fs: Fs,
    },
}

/// A partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// None: one volume on the whole disk.
    Whole,
    /// MBR (DOS).
    Mbr,
    /// GPT.
    Gpt,
}

/// A parsed recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The partition table.
    pub table: Table,
    /// The volumes: kind and size in MiB.
    pub parts: Vec<(Kind, u64)>,
}

fn parse_fs(s: &str) -> Option<Fs> {
    Some(match s {
        "ext4" => Fs::Ext4,
        "fat32" => Fs::Fat32,
        "exfat" => Fs::Exfat,
        "ntfs" => Fs::Ntfs,
        "none" => Fs::None,
        _ => return None,
    })
}

fn parse_kind(s: &str) -> Option<Kind> {
    match s {
        "blank" => return Some(Kind::Blank),
        "random" => return Some(Kind::Random),
        _ => {}
    }
    if let Some(fs) = parse_fs(s) {
        return (fs != Fs::None).then_some(Kind::Plain(fs));
    }
    let (outer, fs) = s.split_once('-')?;
    let fs = parse_fs(fs)?;
    Some(match outer {
        "luks1" => Kind::Luks {
            version: 1,
            argon2_kib: None,
            fs,
        },
        "luks2" => Kind::Luks {
            version: 2,
            argon2_kib: None,
            fs,
        },
        "luks2argon" => Kind::Luks {
            version: 2,
            argon2_kib: Some(128 * 1024),
            fs,
        },
        // What cryptsetup's default gives on a machine with plenty of memory.
        "luks2argon1g" => Kind::Luks {
            version: 2,
            argon2_kib: Some(1024 * 1024),
            fs,
        },
        "true" => Kind::Tcrypt {
            flavor: Flavor::TrueCrypt,
            fs,
        },
        "vera" => Kind::Tcrypt {
            flavor: Flavor::VeraCrypt { pim: 0 },
            fs,
        },
        v => Kind::Tcrypt {
            flavor: Flavor::VeraCrypt {
                pim: v.strip_prefix("vera")?.parse().ok()?,
            },
            fs,
        },
    })
}

impl Recipe {
    /// Parses the grammar in the module doc.
    pub fn parse(spec: &str) -> Result<Self, FixtureError> {
        let bad = |why| FixtureError::Recipe(spec.to_string(), why);
        let (table, rest) = if let Some(r) = spec.strip_prefix("mbr:") {
            (Table::Mbr, r)
        } else if let Some(r) = spec.strip_prefix("gpt:") {
            (Table::Gpt, r)
        } else {
            (Table::Whole, spec)
        };
        let mut parts = Vec::new();
        for p in rest.split(',') {
            let (name, size) = match p.split_once('@') {
                Some((n, s)) => (
                    n,
                    s.parse().map_err(|_| bad("size is not a number of MiB"))?,
                ),
                None => (p, 64),
            };
            if !(1..=4096).contains(&size) {
                return Err(bad("size must be 1..4096 MiB"));
            }
            let kind = parse_kind(name).ok_or_else(|| bad("unknown volume kind"))?;
            parts.push((kind, size));
        }
        if table == Table::Whole && parts.len() != 1 {
            return Err(bad("several volumes need mbr: or gpt:"));
        }
        if parts.len() > 4 {
            return Err(bad("at most 4 partitions"));
        }
        Ok(Self { table, parts })
    }
}

fn random(buf: &mut [u8]) {
    // /dev/urandom never fails short on Linux; a failure leaves zeros, which only weakens a test fixture.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(buf);
    }
}

fn run(cmd: &mut Command) -> Result<(), FixtureError> {
    let out = cmd.output().map_err(|e| FixtureError::Program {
        program: format!("{cmd:?}"),
        detail: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FixtureError::Program {
            program: format!("{cmd:?}"),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Makes a filesystem image of `size` bytes in memory (via a file in `work`).
fn fs_image(fs: Fs, size: u64, work: &Path) -> Result<Vec<u8>, FixtureError> {
    let path = work.join("fs.img");
    let _ = std::fs::remove_file(&path);
    let f = std::fs::File::create(&path).map_err(io_err(&path))?;
    f.set_len(size).map_err(io_err(&path))?;
    drop(f);
    match fs {
        Fs::None => {}
        Fs::Ext4 => run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-E", "root_owner=0:0"])
            .arg(&path))?,
        Fs::Fat32 => run(Command::new("mkfs.vfat")
            .args(["-F", "32", "-S", "512", "-s", "1", "-n", "SDWLAB"])
            .arg(&path))?,
        Fs::Exfat => run(Command::new("mkfs.exfat").args(["-L", "SDWLAB"]).arg(&path))?,
        Fs::Ntfs => run(Command::new("mkntfs")
            .args(["-F", "-Q", "-q", "-L", "SDWLAB"])
            .arg(&path))?,
    }
    std::fs::read(&path).map_err(io_err(&path))
}

/// Builds one volume of `size` bytes.
fn volume(kind: Kind, size: u64, passphrase: &str, work: &Path) -> Result<Vec<u8>, FixtureError> {
    match kind {
        Kind::Blank => Ok(vec![0; usize::try_from(size).unwrap_or(0)]),
        Kind::Random => {
            let mut v = vec![0; usize::try_from(size).unwrap_or(0)];
            random(&mut v);
            Ok(v)
        }
        Kind::Plain(fs) => fs_image(fs, size, work),
        Kind::Luks {
            version,
            argon2_kib,
            fs,
        } => {
            let offset = if version == 1 { 2 * MIB } else { 16 * MIB };
            let payload_size =
                size.checked_sub(offset)
                    .filter(|s| *s >= MIB)
                    .ok_or(FixtureError::Recipe(
                        format!("{size} bytes"),
                        "too small for LUKS",
                    ))?;
            let mut payload = fs_image(fs, payload_size, work)?;
            let mut key = [0u8; 64];
            random(&mut key);
            let key_file = work.join("volume.key");
            std::fs::write(&key_file, key).map_err(io_err(&key_file))?;
            let pass_file = work.join("passphrase");
            std::fs::write(&pass_file, passphrase).map_err(io_err(&pass_file))?;
            let img = work.join("luks.img");
            let _ = std::fs::remove_file(&img);
            let f = std::fs::File::create(&img).map_err(io_err(&img))?;
            f.set_len(size).map_err(io_err(&img))?;
            drop(f);
            let mut cmd = Command::new("cryptsetup");
            cmd.args(["luksFormat", "--batch-mode", "--type"])
                .arg(format!("luks{version}"))
                .args(["--cipher", "aes-xts-plain64", "--key-size", "512"])
                .arg("--offset")
                .arg((offset / 512).to_string())
                .arg("--volume-key-file")
                .arg(&key_file)
                .arg("--key-file")
                .arg(&pass_file);
            if version == 2 {
                cmd.args(["--sector-size", "512"]);
            }
            if let Some(kib) = argon2_kib {
                cmd.args(["--pbkdf", "argon2id", "--pbkdf-memory"])
                    .arg(kib.to_string())
                    .args(["--pbkdf-parallel", "4", "--pbkdf-force-iterations", "4"]);
            } else {
                cmd.args(["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]);
            }
            cmd.arg(&img);
            let result = run(&mut cmd);
            let _ = std::fs::remove_file(&key_file);
            let _ = std::fs::remove_file(&pass_file);
            result?;
            xts::encrypt_units(&key, &mut payload, 0)?;
            let mut out = std::fs::read(&img).map_err(io_err(&img))?;
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            match out.get_mut(start..) {
                Some(dest) if dest.len() == payload.len() => dest.copy_from_slice(&payload),
                _ => return Err(FixtureError::Recipe(format!("{size} bytes"), "LUKS layout")),
            }
            Ok(out)
        }
        Kind::Tcrypt { flavor, fs } => {
            let plain = fs_image(fs, tcrypt::data_size(size)?, work)?;
            Ok(tcrypt::volume(
                flavor,
                passphrase.as_bytes(),
                plain,
                size,
                &mut random,
            )?)
        }
    }
}

fn table_type(table: Table, kind: Kind) -> &'static str {
    let fs = match kind {
        Kind::Plain(fs) => fs,
        _ => Fs::Ext4,
    };
    match (table, fs) {
        (Table::Gpt, Fs::Fat32 | Fs::Exfat | Fs::Ntfs) => "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        (Table::Gpt, _) => "0FC63DAF-8483-4772-8E3D-0693D8E47DE4",
        (_, Fs::Fat32) => "c",
        (_, Fs::Exfat | Fs::Ntfs) => "7",
        _ => "83",
    }
}

/// Builds the image of `recipe` at `out` (replacing it).
pub fn build(recipe: &Recipe, passphrase: &str, out: &Path) -> Result<(), FixtureError> {
    let work = out.with_extension("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(io_err(&work))?;
    let result = build_in(recipe, passphrase, out, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_in(
    recipe: &Recipe,
    passphrase: &str,
    out: &Path,
    work: &Path,
) -> Result<(), FixtureError> {
    let tmp = out.with_extension("tmp");
    if recipe.table == Table::Whole {
        let Some(&(kind, mib)) = recipe.parts.first() else {
            return Err(FixtureError::Recipe(String::new(), "no volume"));
        };
        let data = volume(kind, mib * MIB, passphrase, work)?;
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.set_len(mib * MIB).map_err(io_err(&tmp))?;
        write_sparse(&mut f, 0, &data).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    } else {
        let total: u64 = recipe.parts.iter().map(|(_, m)| m * MIB).sum::<u64>() + 2 * MIB;
        let f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.set_len(total).map_err(io_err(&tmp))?;
        drop(f);
        let mut script = String::from(if recipe.table == Table::Gpt {
            "label: gpt\n"
        } else {
            "label: dos\n"
        });
        let mut start = MIB;
        for &(kind, mib) in &recipe.parts {
            let _ = writeln!(
                script,
                "start={}, size={}, type={}",
                start / 512,
                mib * MIB / 512,
                table_type(recipe.table, kind)
            );
            start += mib * MIB;
        }
        let script_path = work.join("sfdisk");
        std::fs::write(&script_path, &script).map_err(io_err(&script_path))?;
        let stdin = std::fs::File::open(&script_path).map_err(io_err(&script_path))?;
        run(Command::new("sfdisk")
            .args(["--quiet", "--no-reread", "--no-tell-kernel"])
            .arg(&tmp)
            .stdin(stdin))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let mut start = MIB;
        for &(kind, mib) in &recipe.parts {
            let data = volume(kind, mib * MIB, passphrase, work)?;
            write_sparse(&mut f, start, &data).map_err(io_err(&tmp))?;
            start += mib * MIB;
        }
        f.sync_all().map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, out).map_err(io_err(out))
}

/// Writes `data` at `offset` of `file`, whose length already covers it, leaving every all-zero 64 KiB
/// chunk unwritten: the file's hole there reads as zeros, so a mostly empty filesystem takes disk
/// only for what mkfs wrote (encrypted volumes are written whole: their ciphertext is not zero).
fn write_sparse(file: &mut std::fs::File, offset: u64, data: &[u8]) -> std::io::Result<()> {
    const CHUNK: usize = 64 << 10;
    let mut at = offset;
    for chunk in data.chunks(CHUNK) {
        if chunk.iter().any(|&b| b != 0) {
            file.seek(SeekFrom::Start(at))?;
            file.write_all(chunk)?;
        }
        at += chunk.len() as u64;
    }
    Ok(())
}

/// The cache file for `spec` with `passphrase`.
pub fn cache_path(spec: &str, passphrase: &str) -> PathBuf {
    let mut h = Sha256::new();
    for part in [FIXTURE_VERSION, spec, passphrase] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let safe: String = spec
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::lab::cache_dir()
        .join("sticks")
        .join(format!("{safe}-{hex}.img"))
}

/// The cached image of `spec` (built first if missing). Never hand it to a run that writes: copy it.
pub fn cached(spec: &str, passphrase: &str) -> Result<PathBuf, FixtureError> {
    let recipe = Recipe::parse(spec)?;
    let path = cache_path(spec, passphrase);
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        // Concurrent builders of one recipe (processes or test threads) each build under their own
        // name, then rename: the last one wins, and every reader sees a whole image.
        static BUILDS: AtomicU64 = AtomicU64::new(0);
        let n = BUILDS.fetch_add(1, Ordering::Relaxed);
        let own = path.with_extension(format!("{}-{n}.img", std::process::id()));
        build(&recipe, passphrase, &own)?;
        std::fs::rename(&own, &path).map_err(io_err(&path))?;
    }
    Ok(path)
}

/// A private, writable copy of the image of `spec` in `dir`, named `name`: a qcow2 overlay whose
/// backing file is the cached raw image (`qemu-img create -f qcow2 -F raw -b`), so the guest's writes
/// land in the overlay (a few hundred KiB for an export) and the cache is never written; the lab
/// attaches it with `format=qcow2` ([`crate::lab::Stick`]). A whole copy of every stick of every run
/// filled the CI machine's disk. Errors: the image could not be built, or `qemu-img` failed.
pub fn copy_of(
    spec: &str,
    passphrase: &str,
    dir: &Path,
    name: &str,
) -> Result<PathBuf, FixtureError> {
    let src = cached(spec, passphrase)?;
    let src = std::fs::canonicalize(&src).map_err(io_err(&src))?;
    let dest = dir.join(name);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&src)
        .arg(&dest))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recipes() -> Result<(), FixtureError> {
        let r = Recipe::parse("gpt:ext4@40,luks2-exfat,fat32")?;
        assert_eq!(r.table, Table::Gpt);
        assert_eq!(r.parts.len(), 3);
        assert_eq!(r.parts.first(), Some(&(Kind::Plain(Fs::Ext4), 40)));
        assert_eq!(
            Recipe::parse("vera1-ext4")?.parts.first(),
            Some(&(
                Kind::Tcrypt {
                    flavor: Flavor::VeraCrypt { pim: 1 },
                    fs: Fs::Ext4
                },
                64
            ))
        );
        Ok(())
    }

    #[test]
    fn refuses_bad_recipes() {
        for bad in [
            "",
            "ext5",
            "ext4,ext4",
            "luks3-ext4",
            "ext4@0",
            "ext4@x",
            "none",
            "mbr:a,b",
        ] {
            assert!(Recipe::parse(bad).is_err(), "{bad}");
        }
    }

    /// Disk use, as an admin would check it with `du`: an unencrypted image in the cache takes disk only
    /// for what mkfs wrote, and a run's private copy is an overlay of a few hundred KiB, not a copy.
    #[test]
    fn cached_images_are_sparse_and_private_copies_are_overlays() -> Result<(), FixtureError> {
        use std::os::unix::fs::MetadataExt;
        let image = cached("ext4@16", "pass")?;
        let meta = std::fs::metadata(&image).map_err(io_err(&image))?;
        assert_eq!(meta.len(), 16 * MIB);
        assert!(
            meta.blocks() * 512 < 8 * MIB,
            "{} takes {} bytes of disk",
            image.display(),
            meta.blocks() * 512
        );
        let dir = std::env::temp_dir().join(format!("sdw-fixtures-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let copy = copy_of("ext4@16", "pass", &dir, "S.img");
        let copy_meta = copy.as_ref().ok().and_then(|c| {
            std::fs::metadata(c)
                .ok()
                .map(|m| (m.len(), std::fs::read(c).ok()))
        });
        let _ = std::fs::remove_dir_all(&dir);
        copy?;
        let Some((len, Some(bytes))) = copy_meta else {
            panic!("the private copy was not written");
        };
        assert!(len < MIB, "the private copy is {len} bytes");
        assert!(bytes.starts_with(b"QFI\xfb"), "not a qcow2 overlay");
        Ok(())
    }
}
