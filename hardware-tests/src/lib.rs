//! The emulated hardware lab (issue 3): a QEMU (TCG) guest running Debian's kernel with emulated USB
//! sticks, in which `sdw-devices` runs against real usb-storage, udev, dm-crypt and mount; and the builder
//! of the stick images it uses.
//!
//! - [`lab`]: boots the guest for one scenario and reports what an independent verifier saw.
//! - [`fixtures`]: builds (and caches) stick images from a recipe: plain, LUKS1/2, VeraCrypt, TrueCrypt,
//!   whole-disk or MBR/GPT-partitioned.
//! - [`tcrypt`]: writes VeraCrypt / TrueCrypt volume headers and encrypts their data area.
//! - [`xts`]: AES-256-XTS payload encryption shared by the LUKS and TrueCrypt writers.
//!
//! The tests' `.sd-export` archives come from the dev-only `sdw-testkit` crate.

pub mod fixtures;
pub mod lab;
pub mod tcrypt;
pub mod xts;
