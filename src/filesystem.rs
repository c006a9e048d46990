//! Which file system an unlocked volume holds, recognised from the fixed magic
//! numbers in its first 4 KiB (no length or offset is read from the data), and
//! how the kernel names it. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// How many bytes of an unlocked volume [`Filesystem::recognise`] looks at.
pub const HEAD_BYTES: usize = 4096;

/// File systems an export can be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    Ext,
    Vfat,
    Exfat,
    Ntfs,
}

impl Filesystem {
    /// Recognises the file system from the first [`HEAD_BYTES`] of the
    /// unlocked device: the ext2/3/4 superblock magic at 1080, the exFAT and
    /// NTFS OEM names at 3, and a FAT12/16/32 type label with the boot
    /// signature `55 AA` at 510.
    pub fn recognise(head: &[u8]) -> Option<Filesystem> {
        let at =
            |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
        if at(1080, &[0x53, 0xef]) {
            Some(Filesystem::Ext)
        } else if at(3, b"EXFAT   ") {
            Some(Filesystem::Exfat)
        } else if at(3, b"NTFS    ") {
            Some(Filesystem::Ntfs)
        } else if at(510, &[0x55, 0xaa])
            && (at(82, b"FAT32   ") || at(54, b"FAT16   ") || at(54, b"FAT12   "))
        {
            Some(Filesystem::Vfat)
        } else {
            None
        }
    }

    /// The name mount(2) takes.
    pub fn kernel_type(self) -> &'static str {
        match self {
            Filesystem::Ext => "ext4",
            Filesystem::Vfat => "vfat",
            Filesystem::Exfat => "exfat",
            Filesystem::Ntfs => "ntfs3",
        }
    }

    /// Whether files carry an owner of their own; on the others the owner is
    /// a mount option.
    pub fn has_owners(self) -> bool {
        matches!(self, Filesystem::Ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(offset: usize, magic: &[u8]) -> Vec<u8> {
        let mut head = vec![0u8; HEAD_BYTES];
        head[offset..offset + magic.len()].copy_from_slice(magic);
        head
    }

    #[test]
    fn recognises_the_supported_filesystems() {
        assert_eq!(
            Filesystem::recognise(&with(1080, &[0x53, 0xef])),
            Some(Filesystem::Ext)
        );
        assert_eq!(
            Filesystem::recognise(&with(3, b"EXFAT   ")),
            Some(Filesystem::Exfat)
        );
        assert_eq!(
            Filesystem::recognise(&with(3, b"NTFS    ")),
            Some(Filesystem::Ntfs)
        );
        let mut fat32 = with(82, b"FAT32   ");
        fat32[510] = 0x55;
        fat32[511] = 0xaa;
        assert_eq!(Filesystem::recognise(&fat32), Some(Filesystem::Vfat));
    }

    #[test]
    fn refuses_unknown_or_short_heads() {
        assert_eq!(Filesystem::recognise(&[0u8; HEAD_BYTES]), None);
        assert_eq!(Filesystem::recognise(&[0u8; 100]), None);
        assert_eq!(
            Filesystem::recognise(&with(82, b"FAT32   ")),
            None,
            "no boot signature"
        );
    }
}
