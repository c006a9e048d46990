//! libcryptsetup, and nothing else: opening a LUKS1/LUKS2 volume by its header,
//! trying only the key slots whose key derivation fits in the memory the qube
//! has free (an argon2id slot made on a big machine may need 1 GiB: deriving it
//! in a small qube gets the process killed), or a signature-less volume as
//! VeraCrypt then TrueCrypt (they cannot be
//! recognised without the passphrase; only the default PIM can be tried, as the
//! protocol carries no PIM), and closing a mapping. libcryptsetup's own
//! messages go to our log, never to stderr. The passphrase is handed to the
//! library and to no one else. Effects: dm-crypt mappings.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use libcryptsetup_rs::consts::flags::{CryptActivate, CryptDeactivate, CryptTcrypt};
use libcryptsetup_rs::consts::vals::{CryptLogLevel, EncryptionFormat, KeyslotInfo};
use libcryptsetup_rs::{CryptInit, CryptParamsTcrypt, CryptParamsTcryptRef, LibcryptErr};
use sdw_protocol::Passphrase;
use zeroize::Zeroize;

use crate::device::VolumeError;
use crate::device::{Signature, Volume};

const CLOSE_ATTEMPTS: u32 = 10;

/// The name of our mapping for a volume, e.g. `sd-export-sdb1`.
pub fn mapping_name(volume_name: &str) -> String {
    let safe: String = volume_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("sd-export-{safe}")
}

/// Opens `volume` as `/dev/mapper/{mapping}`.
pub fn open(volume: &Volume, mapping: &str, passphrase: &Passphrase) -> Result<(), VolumeError> {
    route_library_logs();
    let device = &volume.devnode;
    let unlock_error = |e: LibcryptErr| classify(device, e);
    let mut crypt = CryptInit::init(device).map_err(unlock_error)?;
    match volume.signature {
        Signature::Luks => {
            crypt
                .context_handle()
                .load::<()>(None, None)
                .map_err(unlock_error)?;
            let slots = key_slots(&mut crypt);
            let plan = plan_key_slots(&slots, available_memory_kib());
            tracing::info!(
                ?slots,
                ?plan,
                "LUKS key slots (slot, KiB of memory to derive)"
            );
            for slot in &plan.fitting {
                match crypt.activate_handle().activate_by_passphrase(
                    Some(mapping),
                    Some(*slot),
                    passphrase.expose_bytes(),
                    CryptActivate::empty(),
                ) {
                    Ok(_) => return Ok(()),
                    Err(e) => match classify(device, e) {
                        VolumeError::WrongPassphrase(_) => continue,
                        other => return Err(other),
                    },
                }
            }
            return Err(match plan.too_big.first() {
                None => VolumeError::WrongPassphrase(device.to_owned()),
                Some((slot, needed)) => VolumeError::Unlock {
                    device: device.to_owned(),
                    reason: format!(
                        "key slot {slot} needs {} MiB to derive its key, more than this qube has free ({} MiB); no other slot opened",
                        needed / 1024,
                        plan.available_kib / 1024
                    ),
                },
            });
        }
        _ => {
            load_tcrypt(&mut crypt, device, passphrase)?;
            crypt
                .activate_handle()
                .activate_by_volume_key(Some(mapping), None, CryptActivate::empty())
                .map_err(unlock_error)?;
        }
    }
    Ok(())
}

/// Memory kept free beside a key derivation (KiB).
const DERIVATION_MARGIN_KIB: u64 = 64 * 1024;

/// A key slot and the memory its key derivation needs (KiB).
type SlotNeed = (u32, u64);

/// Which key slots to try, in order, and which were left out for memory.
#[derive(Debug, PartialEq, Eq)]
pub struct SlotPlan {
    pub fitting: Vec<u32>,
    pub too_big: Vec<(u32, u64)>,
    pub available_kib: u64,
}

/// Splits `(slot, KiB needed)` into those whose derivation fits in
/// `available_kib` (with a margin) and those that do not. Pure.
pub fn plan_key_slots(slots: &[(u32, u64)], available_kib: u64) -> SlotPlan {
    let (fit, too_big): (Vec<SlotNeed>, Vec<SlotNeed>) = slots
        .iter()
        .partition(|(_, kib)| kib.saturating_add(DERIVATION_MARGIN_KIB) <= available_kib);
    SlotPlan {
        fitting: fit.into_iter().map(|(slot, _)| slot).collect(),
        too_big,
        available_kib,
    }
}

/// The active key slots and the memory each one's key derivation needs (KiB;
/// 0 for PBKDF2).
fn key_slots(crypt: &mut libcryptsetup_rs::CryptDevice) -> Vec<(u32, u64)> {
    let max =
        libcryptsetup_rs::CryptKeyslotHandle::max_keyslots(EncryptionFormat::Luks2).unwrap_or(32);
    let mut slots = Vec::new();
    for slot in 0..max {
        let mut handle = crypt.keyslot_handle();
        if matches!(
            handle.status(slot),
            Ok(KeyslotInfo::Active | KeyslotInfo::ActiveLast)
        ) {
            let kib = handle
                .get_pbkdf(slot)
                .map(|p| u64::from(p.max_memory_kb))
                .unwrap_or(0);
            slots.push((slot, kib));
        }
    }
    slots
}

/// `MemAvailable` from /proc/meminfo (KiB); unknown is taken as plenty.
fn available_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemAvailable:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(u64::MAX)
}

/// The header hashes of VeraCrypt and TrueCrypt, most likely first.
/// libcryptsetup-rs cannot pass "any hash" (a NULL name), so each is named.
const TCRYPT_HASHES: &[&str] = &["sha512", "whirlpool", "sha256", "streebog", "ripemd160"];

/// Loads a VeraCrypt (default PIM) or TrueCrypt header by trying the passphrase
/// with each header hash.
fn load_tcrypt(
    crypt: &mut libcryptsetup_rs::CryptDevice,
    device: &Path,
    passphrase: &Passphrase,
) -> Result<(), VolumeError> {
    let mut last_error = None;
    for hash in TCRYPT_HASHES {
        let mut params = CryptParamsTcrypt {
            passphrase: Some(passphrase.expose_bytes().to_vec()),
            keyfiles: None,
            hash_name: (*hash).to_owned(),
            cipher: String::new(),
            mode: String::new(),
            key_size: 0,
            flags: CryptTcrypt::VERA_MODES | CryptTcrypt::LEGACY_MODES,
            veracrypt_pim: 0,
        };
        let loaded =
            TryInto::<CryptParamsTcryptRef<'_>>::try_into(&params).and_then(|mut params_ref| {
                crypt
                    .context_handle()
                    .load(Some(EncryptionFormat::Tcrypt), Some(&mut params_ref))
            });
        if let Some(secret) = params.passphrase.as_mut() {
            secret.zeroize();
        }
        match loaded {
            Ok(()) => {
                tracing::info!(hash, "opened a VeraCrypt/TrueCrypt header");
                return Ok(());
            }
            Err(e) => {
                tracing::debug!(hash, error = %e, "no VeraCrypt/TrueCrypt header with this hash");
                last_error = Some(e);
            }
        }
    }
    Err(match last_error {
        Some(e) => classify(device, e),
        None => VolumeError::Unlock {
            device: device.to_owned(),
            reason: "no header hash to try".into(),
        },
    })
}

/// Closes a mapping, retrying while udev still holds it open.
pub fn close(mapping: &str) -> Result<(), VolumeError> {
    let lock_error = |reason: String| VolumeError::Lock {
        mapping: mapping.to_owned(),
        reason,
    };
    let path = Path::new("/dev/mapper").join(mapping);
    let mut attempt = 0;
    loop {
        let result = CryptInit::init_by_name_and_header(mapping, None).and_then(|mut crypt| {
            crypt
                .activate_handle()
                .deactivate(mapping, CryptDeactivate::empty())
        });
        match result {
            Ok(()) => return Ok(()),
            Err(e) if errno_of(&e) == Some(libc_ebusy()) && attempt + 1 < CLOSE_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
            }
            Err(e) if !path.exists() => {
                tracing::warn!(mapping, error = %e, "mapping already gone");
                return Ok(());
            }
            Err(e) => return Err(lock_error(e.to_string())),
        }
    }
}

fn libc_ebusy() -> i32 {
    nix::errno::Errno::EBUSY as i32
}

fn errno_of(e: &LibcryptErr) -> Option<i32> {
    match e {
        LibcryptErr::IOError(io) => io.raw_os_error(),
        _ => None,
    }
}

/// EPERM is libcryptsetup's "no key available with this passphrase" (also
/// when a signature-less volume is not VeraCrypt or TrueCrypt at all).
fn classify(device: &Path, e: LibcryptErr) -> VolumeError {
    match errno_of(&e) {
        Some(errno) if errno == nix::errno::Errno::EPERM as i32 => {
            VolumeError::WrongPassphrase(device.to_owned())
        }
        _ => VolumeError::Unlock {
            device: device.to_owned(),
            reason: e.to_string(),
        },
    }
}

fn route_library_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| libcryptsetup_rs::set_log_callback::<()>(Some(library_log), None));
}

libcryptsetup_rs::c_logging_callback!(library_log, (), forward_to_tracing);

fn forward_to_tracing(level: CryptLogLevel, message: &str, _: Option<&mut ()>) {
    match level {
        CryptLogLevel::Error => tracing::warn!(target: "libcryptsetup", "{message}"),
        _ => tracing::debug!(target: "libcryptsetup", "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn tries_only_key_slots_whose_derivation_fits_in_free_memory() {
        let gib = 1024 * 1024;
        let plan = plan_key_slots(&[(0, gib), (1, 0), (2, 64 * 1024)], 600 * 1024);
        assert_eq!(plan.fitting, vec![1, 2]);
        assert_eq!(plan.too_big, vec![(0, gib)]);
        let plenty = plan_key_slots(&[(0, gib)], 4 * gib);
        assert_eq!(plenty.fitting, vec![0]);
        assert!(plenty.too_big.is_empty());
    }

    #[test]
    fn mapping_names_are_safe_for_device_mapper() {
        assert_eq!(mapping_name("sdb1"), "sd-export-sdb1");
        assert_eq!(mapping_name("../x y"), "sd-export-xy");
    }

    #[test]
    fn eperm_is_a_wrong_passphrase_and_anything_else_is_generic() {
        let eperm = LibcryptErr::IOError(io::Error::from_raw_os_error(
            nix::errno::Errno::EPERM as i32,
        ));
        assert!(matches!(
            classify("/dev/sdb".as_ref(), eperm),
            VolumeError::WrongPassphrase(_)
        ));
        let enomem = LibcryptErr::IOError(io::Error::from_raw_os_error(
            nix::errno::Errno::ENOMEM as i32,
        ));
        assert!(matches!(
            classify("/dev/sdb".as_ref(), enomem),
            VolumeError::Unlock { .. }
        ));
    }

    /// The real library on a real LUKS2 image (no device-mapper needed):
    /// the right passphrase passes the key-slot check, a wrong one is
    /// `WrongPassphrase`. Activation itself is tested in the QEMU lab.
    #[test]
    fn checks_passphrases_against_a_real_luks2_header() {
        use libcryptsetup_rs::consts::flags::{CryptPbkdf, CryptVolumeKey};
        use libcryptsetup_rs::consts::vals::CryptKdf;
        use libcryptsetup_rs::{CryptPbkdfType, Either};

        let image = tempfile::NamedTempFile::new().unwrap();
        image.as_file().set_len(32 * 1024 * 1024).unwrap();
        let mut crypt = CryptInit::init(image.path()).unwrap();
        let cheap = CryptPbkdfType {
            type_: CryptKdf::Pbkdf2,
            hash: Some("sha256".into()),
            time_ms: 0,
            iterations: 1000,
            max_memory_kb: 0,
            parallel_threads: 0,
            flags: CryptPbkdf::NO_BENCHMARK,
        };
        crypt.settings_handle().set_pbkdf_type(&cheap).unwrap();
        crypt
            .context_handle()
            .format::<()>(
                EncryptionFormat::Luks2,
                ("aes", "xts-plain64"),
                None,
                Either::Right(64),
                None,
            )
            .unwrap();
        crypt
            .keyslot_handle()
            .add_by_key(None, None, b"right horse", CryptVolumeKey::empty())
            .unwrap();
        drop(crypt);

        let check = |pass: &[u8]| {
            let mut crypt = CryptInit::init(image.path()).unwrap();
            crypt.context_handle().load::<()>(None, None).unwrap();
            crypt
                .activate_handle()
                .activate_by_passphrase(None, None, pass, CryptActivate::empty())
                .map_err(|e| classify(image.path(), e))
        };
        assert!(check(b"right horse").is_ok());
        assert!(matches!(
            check(b"wrong horse"),
            Err(VolumeError::WrongPassphrase(_))
        ));
    }
}
