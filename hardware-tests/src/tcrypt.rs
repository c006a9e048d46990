//! VeraCrypt and TrueCrypt volume writer (test fixtures only): no program on Debian creates VeraCrypt
//! volumes, and the format is public. Layout of a normal (non-system, non-hidden) volume of size S:
//!
//! - 0: header: salt (64 bytes), then 448 bytes encrypted with AES-256-XTS (data unit 0) under a key
//!   PBKDF2-HMAC-SHA512(passphrase, salt); the rest of the 64 KiB header area random;
//! - 64 KiB: the hidden-volume header area, random (no hidden volume);
//! - 128 KiB .. S-128 KiB: the data area, AES-256-XTS under the master key, data unit numbers counted
//!   from the start of the volume (the first data unit is 256);
//! - S-128 KiB: the backup header (own salt, same master key); S-64 KiB: backup hidden header area, random.
//!
//! Decrypted header (big-endian integers): magic "VERA"/"TRUE" at 64, version 5, minimum program version,
//! CRC32 of the key area (bytes 256..512) at 72, volume size at 100, master-key scope offset at 108 and
//! size at 116, sector size 512 at 128, CRC32 of bytes 64..252 at 252, master keys at 256.
//! Iterations: VeraCrypt PIM 0 = 500,000; PIM N = 15,000 + 1,000 N; TrueCrypt (SHA-512) 1,000.

use crate::xts::{self, XtsError};
use sha2::Sha512;

/// Errors of the writer.
#[derive(Debug, thiserror::Error)]
pub enum TcryptError {
    /// The volume is too small for two header areas and some data.
    #[error("a volume of {0} bytes is too small (the headers take 256 KiB)")]
    TooSmall(u64),
    /// The data does not match the volume's data area size.
    #[error("the data area is {want} bytes, the data given {got}")]
    DataSize {
        /// The data area size.
        want: u64,
        /// What was given.
        got: u64,
    },
    /// Encryption failed.
    #[error(transparent)]
    Xts(#[from] XtsError),
}

/// Which format, with its key-derivation cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// VeraCrypt, PBKDF2-HMAC-SHA512 with this PIM (0: the default, 500,000 iterations).
    VeraCrypt {
        /// The PIM.
        pim: u32,
    },
    /// TrueCrypt 7, PBKDF2-HMAC-SHA512, 1,000 iterations.
    TrueCrypt,
}

impl Flavor {
    /// PBKDF2 iterations for this flavor.
    pub fn iterations(self) -> u32 {
        match self {
            Self::VeraCrypt { pim: 0 } => 500_000,
            Self::VeraCrypt { pim } => 15_000u32.saturating_add(pim.saturating_mul(1000)),
            Self::TrueCrypt => 1000,
        }
    }

    fn magic(self) -> &'static [u8; 4] {
        match self {
            Self::VeraCrypt { .. } => b"VERA",
            Self::TrueCrypt => b"TRUE",
        }
    }

    fn min_version(self) -> u16 {
        match self {
            Self::VeraCrypt { .. } => 0x010b,
            Self::TrueCrypt => 0x0700,
        }
    }
}

/// Header area size (normal or hidden).
pub const HEADER_AREA: u64 = 64 * 1024;
/// Where the data area starts.
pub const DATA_OFFSET: u64 = 2 * HEADER_AREA;

/// The data area size of a volume of `volume_size` bytes.
pub fn data_size(volume_size: u64) -> Result<u64, TcryptError> {
    volume_size
        .checked_sub(4 * HEADER_AREA)
        .filter(|s| *s >= 512 && s % 512 == 0)
        .ok_or(TcryptError::TooSmall(volume_size))
}

/// Builds the 512-byte on-disk header: salt + encrypted header.
pub fn header(
    flavor: Flavor,
    passphrase: &[u8],
    salt: &[u8; 64],
    master_key: &[u8; 64],
    data_size: u64,
) -> Result<[u8; 512], TcryptError> {
    let mut h = [0u8; 512];
    h[..64].copy_from_slice(salt);
    h[64..68].copy_from_slice(flavor.magic());
    h[68..70].copy_from_slice(&5u16.to_be_bytes());
    h[70..72].copy_from_slice(&flavor.min_version().to_be_bytes());
    // 92: hidden volume size 0.
    h[100..108].copy_from_slice(&data_size.to_be_bytes());
    h[108..116].copy_from_slice(&DATA_OFFSET.to_be_bytes());
    h[116..124].copy_from_slice(&data_size.to_be_bytes());
    // 124: flags 0.
    h[128..132].copy_from_slice(&512u32.to_be_bytes());
    h[256..320].copy_from_slice(master_key);
    let key_crc = crc32fast::hash(&h[256..512]);
    h[72..76].copy_from_slice(&key_crc.to_be_bytes());
    let header_crc = crc32fast::hash(&h[64..252]);
    h[252..256].copy_from_slice(&header_crc.to_be_bytes());
    let mut header_key = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(passphrase, salt, flavor.iterations(), &mut header_key);
    xts::encrypt_one_unit(&header_key, &mut h[64..512], 0)?;
    Ok(h)
}

/// Writes a whole volume: `plain` is the data area's content (a filesystem image of [`data_size`] bytes);
/// `random` supplies salts, the master key and the filler.
pub fn volume(
    flavor: Flavor,
    passphrase: &[u8],
    mut plain: Vec<u8>,
    volume_size: u64,
    random: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, TcryptError> {
    let dsize = data_size(volume_size)?;
    if plain.len() as u64 != dsize {
        return Err(TcryptError::DataSize {
            want: dsize,
            got: plain.len() as u64,
        });
    }
    let mut master = [0u8; 64];
    random(&mut master);
    let mut salt = [0u8; 64];
    let mut backup_salt = [0u8; 64];
    random(&mut salt);
    random(&mut backup_salt);
    xts::encrypt_units(&master, &mut plain, DATA_OFFSET / 512)?;

    let mut head = vec![0u8; DATA_OFFSET as usize];
    random(&mut head);
    head[..512].copy_from_slice(&header(flavor, passphrase, &salt, &master, dsize)?);
    let mut tail = vec![0u8; DATA_OFFSET as usize];
    random(&mut tail);
    tail[..512].copy_from_slice(&header(flavor, passphrase, &backup_salt, &master, dsize)?);

    let mut out = head;
    out.append(&mut plain);
    out.append(&mut tail);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decrypt_header(flavor: Flavor, pass: &[u8], disk: &[u8]) -> Vec<u8> {
        let mut h = disk.get(..512).unwrap_or_default().to_vec();
        let mut key = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(pass, &h[..64], flavor.iterations(), &mut key);
        let _ = xts::decrypt_one_unit(&key, &mut h[64..512], 0);
        h
    }

    #[test]
    fn pim_iterations_follow_the_veracrypt_rule() {
        assert_eq!(Flavor::VeraCrypt { pim: 0 }.iterations(), 500_000);
        assert_eq!(Flavor::VeraCrypt { pim: 1 }.iterations(), 16_000);
        assert_eq!(Flavor::VeraCrypt { pim: 485 }.iterations(), 500_000);
        assert_eq!(Flavor::TrueCrypt.iterations(), 1000);
    }

    #[test]
    fn can_round_trip_a_truecrypt_volume() -> Result<(), TcryptError> {
        let size = 512 * 1024;
        let plain = vec![0x5a; data_size(size)? as usize];
        let mut n = 0u8;
        let mut rnd = |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_mul(31).wrapping_add(7);
                *x = n;
            }
        };
        let disk = volume(Flavor::TrueCrypt, b"pw", plain, size, &mut rnd)?;
        assert_eq!(disk.len() as u64, size);
        for at in [0usize, (size - DATA_OFFSET) as usize] {
            let h = decrypt_header(Flavor::TrueCrypt, b"pw", &disk[at..]);
            assert_eq!(&h[64..68], b"TRUE");
            assert_eq!(crc32fast::hash(&h[64..252]).to_be_bytes(), h[252..256]);
            assert_eq!(crc32fast::hash(&h[256..512]).to_be_bytes(), h[72..76]);
            let mut data = disk[DATA_OFFSET as usize..DATA_OFFSET as usize + 512].to_vec();
            xts::decrypt_units(&h[256..320], &mut data, 256)?;
            assert!(data.iter().all(|b| *b == 0x5a));
        }
        let wrong = decrypt_header(Flavor::TrueCrypt, b"px", &disk);
        assert_ne!(&wrong[64..68], b"TRUE");
        Ok(())
    }

    #[test]
    fn refuses_a_volume_too_small_for_its_headers() {
        assert!(data_size(256 * 1024).is_err());
    }
}
