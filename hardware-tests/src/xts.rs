//! AES-256-XTS with 512-byte data units, as dm-crypt's `aes-xts-plain64` and VeraCrypt use it: the tweak
//! of a data unit is its number, little-endian. Used to encrypt a filesystem image built on the host into a
//! LUKS or TrueCrypt/VeraCrypt container (the host cannot open dm-crypt). No crypto of our own: RustCrypto.

use aes::cipher::KeyInit;
use aes::Aes256;
use xts_mode::{get_tweak_default, Xts128};

/// Errors of the XTS helpers.
#[derive(Debug, thiserror::Error)]
pub enum XtsError {
    /// The key was not 64 bytes (two AES-256 keys).
    #[error("an AES-256-XTS key is 64 bytes, not {0}")]
    KeyLength(usize),
    /// The data was not a whole number of data units (or a unit was shorter than one block).
    #[error("{0} bytes is not a whole number of {1}-byte data units")]
    Length(usize, usize),
}

/// The data unit size (bytes).
pub const UNIT: usize = 512;

fn cipher(key: &[u8]) -> Result<Xts128<Aes256>, XtsError> {
    if key.len() != 64 {
        return Err(XtsError::KeyLength(key.len()));
    }
    let (k1, k2) = key.split_at(32);
    let c1 = Aes256::new_from_slice(k1).map_err(|_| XtsError::KeyLength(key.len()))?;
    let c2 = Aes256::new_from_slice(k2).map_err(|_| XtsError::KeyLength(key.len()))?;
    Ok(Xts128::new(c1, c2))
}

/// Encrypts `data` in place as consecutive 512-byte units numbered from `first_unit`.
pub fn encrypt_units(key: &[u8], data: &mut [u8], first_unit: u64) -> Result<(), XtsError> {
    if data.len().checked_rem(UNIT) != Some(0) {
        return Err(XtsError::Length(data.len(), UNIT));
    }
    cipher(key)?.encrypt_area(data, UNIT, u128::from(first_unit), get_tweak_default);
    Ok(())
}

/// Decrypts `data` in place (the inverse of [`encrypt_units`]).
pub fn decrypt_units(key: &[u8], data: &mut [u8], first_unit: u64) -> Result<(), XtsError> {
    if data.len().checked_rem(UNIT) != Some(0) {
        return Err(XtsError::Length(data.len(), UNIT));
    }
    cipher(key)?.decrypt_area(data, UNIT, u128::from(first_unit), get_tweak_default);
    Ok(())
}

/// Encrypts `data` in place as ONE data unit of any length >= 16 (a VeraCrypt header is one 448-byte unit).
pub fn encrypt_one_unit(key: &[u8], data: &mut [u8], unit: u64) -> Result<(), XtsError> {
    if data.len() < 16 {
        return Err(XtsError::Length(data.len(), 16));
    }
    cipher(key)?.encrypt_sector(data, get_tweak_default(u128::from(unit)));
    Ok(())
}

/// Decrypts one data unit (the inverse of [`encrypt_one_unit`]).
pub fn decrypt_one_unit(key: &[u8], data: &mut [u8], unit: u64) -> Result<(), XtsError> {
    if data.len() < 16 {
        return Err(XtsError::Length(data.len(), 16));
    }
    cipher(key)?.decrypt_sector(data, get_tweak_default(u128::from(unit)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // IEEE P1619 XTS-AES-256 test vector 10: key1 = 2718281828..., key2 = 3141592653..., unit 0xff,
    // plaintext 00..ff twice (512 bytes); first 16 bytes of the ciphertext.
    #[test]
    fn matches_ieee_p1619_vector_10() -> Result<(), XtsError> {
        let k1 = "2718281828459045235360287471352662497757247093699959574966967627";
        let k2 = "3141592653589793238462643383279502884197169399375105820974944592";
        let key: Vec<u8> = (0..64)
            .map(|i| {
                let s = if i < 32 { k1 } else { k2 };
                let j = (i % 32) * 2;
                u8::from_str_radix(s.get(j..j + 2).unwrap_or("00"), 16).unwrap_or(0)
            })
            .collect();
        let mut data: Vec<u8> = (0..512u32).map(|i| (i % 256) as u8).collect();
        encrypt_units(&key, &mut data, 0xff)?;
        let want = [
            0x1c, 0x3b, 0x3a, 0x10, 0x2f, 0x77, 0x03, 0x86, 0xe4, 0x83, 0x6c, 0x99, 0xe3, 0x70,
            0xcf, 0x9b,
        ];
        assert_eq!(data.get(..16), Some(&want[..]));
        decrypt_units(&key, &mut data, 0xff)?;
        assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 256) as u8));
        Ok(())
    }

    #[test]
    fn refuses_partial_units_and_short_keys() {
        assert!(encrypt_units(&[0; 64], &mut [0; 100], 0).is_err());
        assert!(encrypt_units(&[0; 32], &mut [0; 512], 0).is_err());
    }
}
