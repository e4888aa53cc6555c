//! PCI option ROM images (PCI Firmware Specification 3.0, §5.1): the 0x55AA
//! header, the PCI data structure (PCIR), multi-image ROMs (an x86 legacy image
//! followed by an EFI image) and the checksum. Parsing is pure; every malformed
//! input is a typed [`RomError`] naming the byte offset at fault.

use serde::Serialize;

/// ROM header signature bytes.
pub const ROM_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// Offset of the size byte (units of 512 bytes).
pub const HDR_SIZE: usize = 2;
/// Offset of the PCIR pointer (16-bit, relative to the image start).
pub const HDR_PCIR_PTR: usize = 0x18;
/// PCIR signature.
pub const PCIR_SIGNATURE: [u8; 4] = *b"PCIR";
/// Length of the PCIR fields this loader reads.
pub const PCIR_LEN: usize = 0x18;

/// PCIR field offsets.
mod pcir {
    pub const VENDOR: usize = 4;
    pub const DEVICE: usize = 6;
    pub const DEVICE_LIST: usize = 8;
    pub const CLASS: usize = 0xD;
    pub const IMAGE_LEN: usize = 0x10;
    pub const CODE_TYPE: usize = 0x14;
    pub const INDICATOR: usize = 0x15;
}

/// Code type of an x86 (legacy BIOS) image.
pub const CODE_TYPE_X86: u8 = 0;
/// Code type of an EFI image.
pub const CODE_TYPE_EFI: u8 = 3;

/// What is wrong with a ROM image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RomError {
    /// The data ends before a structure does.
    #[error("ROM truncated: {needed} bytes needed at offset {offset:#x}, image has {len}")]
    Truncated {
        /// Where the structure starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes available in total.
        len: usize,
    },
    /// No 0x55AA at an image start.
    #[error("bad ROM signature {found:#06x} at offset {offset:#x}")]
    BadSignature {
        /// Image start.
        offset: usize,
        /// The two bytes found (first byte in the low half).
        found: u16,
    },
    /// The image bytes do not sum to 0 mod 256.
    #[error("bad checksum in image at offset {offset:#x}: sum is {sum:#04x}")]
    BadChecksum {
        /// Image start.
        offset: usize,
        /// The sum found.
        sum: u8,
    },
    /// The PCIR pointer points outside the image.
    #[error("PCIR pointer {pcir:#x} at offset {offset:#x} points outside the image")]
    PcirOutOfBounds {
        /// Where the pointer is stored.
        offset: usize,
        /// The absolute offset it points to.
        pcir: usize,
    },
    /// No "PCIR" where the pointer points.
    #[error("bad PCIR signature {found:?} at offset {offset:#x}")]
    BadPcirSignature {
        /// Where the PCIR structure should start.
        offset: usize,
        /// The bytes found.
        found: [u8; 4],
    },
    /// No image with code type 0.
    #[error("no x86 image among {images} image(s)")]
    NoX86Image {
        /// Images seen.
        images: usize,
    },
    /// Only UEFI images (PCIR code type 3): a UEFI GOP driver, no legacy BIOS
    /// code to run.
    #[error("the ROM is a UEFI GOP driver for {vendor:04x}:{device:04x} (PCIR code type 3, {images} image(s)), not a legacy vBIOS: igdemu runs x86 legacy images (code type 0); use the legacy option ROM of the same device")]
    UefiOnly {
        /// PCIR vendor of the first image.
        vendor: u16,
        /// PCIR device of the first image.
        device: u16,
        /// Images seen.
        images: usize,
    },
    /// The x86 image does not fit the 128 KiB shadow.
    #[error("x86 image of {size:#x} bytes does not fit the shadow")]
    TooLarge {
        /// Image size.
        size: usize,
    },
}

/// One image of a (possibly multi-image) ROM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RomImage {
    /// Offset of the image in the ROM.
    pub offset: usize,
    /// Size from the header size byte, in bytes.
    pub size: usize,
    /// PCIR vendor ID.
    pub vendor: u16,
    /// PCIR device ID.
    pub device: u16,
    /// PCI 3.0 device list (empty when absent).
    pub device_list: Vec<u16>,
    /// Class code (24-bit).
    pub class_code: u32,
    /// Code type (0 = x86, 3 = EFI).
    pub code_type: u8,
    /// Image length from PCIR, in bytes.
    pub image_len: usize,
    /// Last-image indicator.
    pub last: bool,
}

impl RomImage {
    /// Whether this image claims the function with these IDs.
    #[must_use]
    pub fn matches(&self, vendor: u16, device: u16) -> bool {
        vendor == self.vendor && (device == self.device || self.device_list.contains(&device))
    }
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn need(b: &[u8], offset: usize, needed: usize) -> Result<(), RomError> {
    if offset.checked_add(needed).is_some_and(|e| e <= b.len()) {
        Ok(())
    } else {
        Err(RomError::Truncated {
            offset,
            needed,
            len: b.len(),
        })
    }
}

fn rd8(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Parse the image starting at `offset`.
pub fn parse_image(rom: &[u8], offset: usize) -> Result<RomImage, RomError> {
    need(rom, offset, HDR_PCIR_PTR + 2)?;
    // In bounds from here on (checked by `need`); `rd8`/`rd16` never default.
    let sig = [rd8(rom, offset), rd8(rom, offset + 1)];
    if sig != ROM_SIGNATURE {
        return Err(RomError::BadSignature {
            offset,
            found: u16::from_le_bytes(sig),
        });
    }
    let size = usize::from(rd8(rom, offset + HDR_SIZE)) * 512;
    let ptr_at = offset + HDR_PCIR_PTR;
    let ptr = usize::from(rd16(rom, ptr_at).unwrap_or(0));
    let p = offset + ptr;
    let limit = if size > 0 { offset + size } else { rom.len() };
    if ptr < HDR_PCIR_PTR + 2 || p + PCIR_LEN > limit {
        return Err(RomError::PcirOutOfBounds {
            offset: ptr_at,
            pcir: p,
        });
    }
    need(rom, p, PCIR_LEN)?;
    let found = [
        rd8(rom, p),
        rd8(rom, p + 1),
        rd8(rom, p + 2),
        rd8(rom, p + 3),
    ];
    if found != PCIR_SIGNATURE {
        return Err(RomError::BadPcirSignature { offset: p, found });
    }
    let r16 = |o: usize| rd16(rom, p + o).unwrap_or(0);
    let mut device_list = Vec::new();
    let list = usize::from(r16(pcir::DEVICE_LIST));
    if list != 0 {
        let mut at = p + list;
        while let Some(id) = rd16(rom, at) {
            if id == 0 || device_list.len() >= 256 {
                break;
            }
            device_list.push(id);
            at += 2;
        }
    }
    let class_code = u32::from(rd8(rom, p + pcir::CLASS))
        | u32::from(rd8(rom, p + pcir::CLASS + 1)) << 8
        | u32::from(rd8(rom, p + pcir::CLASS + 2)) << 16;
    Ok(RomImage {
        offset,
        size,
        vendor: r16(pcir::VENDOR),
        device: r16(pcir::DEVICE),
        device_list,
        class_code,
        code_type: rd8(rom, p + pcir::CODE_TYPE),
        image_len: usize::from(r16(pcir::IMAGE_LEN)) * 512,
        last: rd8(rom, p + pcir::INDICATOR) & 0x80 != 0,
    })
}

/// Walk all images of a ROM (bounded: at most 16 images).
pub fn parse_images(rom: &[u8]) -> Result<Vec<RomImage>, RomError> {
    let mut images = Vec::new();
    let mut offset = 0;
    for _ in 0..16 {
        let img = parse_image(rom, offset)?;
        let step = if img.image_len > 0 {
            img.image_len
        } else {
            img.size
        };
        let last = img.last || step == 0;
        images.push(img);
        if last || offset + step >= rom.len() {
            break;
        }
        offset += step;
    }
    Ok(images)
}

/// Sum of the bytes, mod 256 (0 for a valid image).
#[must_use]
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// The x86 image of a ROM, its bytes, and whether its checksum holds.
pub fn select_x86(rom: &[u8]) -> Result<(RomImage, &[u8], bool), RomError> {
    let images = parse_images(rom)?;
    let n = images.len();
    let uefi_only = images.iter().all(|i| i.code_type == CODE_TYPE_EFI);
    let first = images.first().map(|i| (i.vendor, i.device));
    let img = images
        .into_iter()
        .find(|i| i.code_type == CODE_TYPE_X86)
        .ok_or(match first {
            Some((vendor, device)) if uefi_only => RomError::UefiOnly {
                vendor,
                device,
                images: n,
            },
            _ => RomError::NoX86Image { images: n },
        })?;
    if img.size > super::super::machine::memory::SHADOW.1 as usize {
        return Err(RomError::TooLarge { size: img.size });
    }
    let bytes = img
        .offset
        .checked_add(img.size)
        .and_then(|end| rom.get(img.offset..end))
        .ok_or(RomError::Truncated {
            offset: img.offset,
            needed: img.size,
            len: rom.len(),
        })?;
    let ok = checksum(bytes) == 0;
    Ok((img, bytes, ok))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal image: `blocks` × 512 bytes, PCIR at 0x20, fixed checksum.
    pub(crate) fn image(blocks: u8, code_type: u8, last: bool) -> Vec<u8> {
        let mut r = vec![0u8; usize::from(blocks) * 512];
        r[0] = 0x55;
        r[1] = 0xAA;
        r[2] = blocks;
        r[3] = 0xCB; // retf
        r[0x18] = 0x20;
        r[0x20..0x24].copy_from_slice(b"PCIR");
        r[0x24..0x26].copy_from_slice(&0x1234u16.to_le_bytes());
        r[0x26..0x28].copy_from_slice(&0x1111u16.to_le_bytes());
        r[0x2D..0x30].copy_from_slice(&[0, 0, 3]);
        r[0x30..0x32].copy_from_slice(&u16::from(blocks).to_le_bytes());
        r[0x34] = code_type;
        r[0x35] = if last { 0x80 } else { 0 };
        fix(&mut r);
        r
    }

    pub(crate) fn fix(r: &mut [u8]) {
        let n = r.len();
        r[n - 1] = 0;
        r[n - 1] = 0u8.wrapping_sub(checksum(r));
    }

    #[test]
    fn parses_a_valid_image() {
        let r = image(2, 0, true);
        let (img, bytes, ok) = select_x86(&r).unwrap();
        assert!(ok);
        assert_eq!(bytes.len(), 1024);
        assert_eq!(
            (img.vendor, img.device, img.class_code),
            (0x1234, 0x1111, 0x030000)
        );
        assert!(img.matches(0x1234, 0x1111));
    }

    #[test]
    fn truncated() {
        let r = image(2, 0, true);
        assert_eq!(
            select_x86(&r[..0x10]),
            Err(RomError::Truncated {
                offset: 0,
                needed: 0x1A,
                len: 0x10
            })
        );
        assert_eq!(
            select_x86(&r[..600]),
            Err(RomError::Truncated {
                offset: 0,
                needed: 1024,
                len: 600
            })
        );
    }

    #[test]
    fn bad_signature() {
        let mut r = image(1, 0, true);
        r[1] = 0xBB;
        assert_eq!(
            select_x86(&r),
            Err(RomError::BadSignature {
                offset: 0,
                found: 0xBB55
            })
        );
    }

    #[test]
    fn bad_checksum_is_reported_not_fatal() {
        let mut r = image(1, 0, true);
        r[0x100] ^= 1;
        let (_, _, ok) = select_x86(&r).unwrap();
        assert!(!ok);
    }

    #[test]
    fn pcir_out_of_bounds() {
        let mut r = image(1, 0, true);
        r[0x18..0x1A].copy_from_slice(&0x1F0u16.to_le_bytes());
        assert_eq!(
            select_x86(&r),
            Err(RomError::PcirOutOfBounds {
                offset: 0x18,
                pcir: 0x1F0
            })
        );
    }

    #[test]
    fn bad_pcir_signature() {
        let mut r = image(1, 0, true);
        r[0x20] = b'X';
        assert_eq!(
            select_x86(&r),
            Err(RomError::BadPcirSignature {
                offset: 0x20,
                found: *b"XCIR"
            })
        );
    }

    #[test]
    fn efi_only_image_is_a_gop_driver() {
        let r = image(1, CODE_TYPE_EFI, true);
        let e = select_x86(&r).unwrap_err();
        assert_eq!(
            e,
            RomError::UefiOnly {
                vendor: 0x1234,
                device: 0x1111,
                images: 1
            }
        );
        assert!(e.to_string().contains("UEFI GOP driver"), "{e}");
        assert!(e.to_string().contains("not a legacy vBIOS"), "{e}");
        // An image of another code type (e.g. Open Firmware, 1) is not UEFI.
        let r = image(1, 1, true);
        assert_eq!(select_x86(&r), Err(RomError::NoX86Image { images: 1 }));
    }

    #[test]
    fn multi_image_picks_the_x86_one() {
        let mut r = image(1, CODE_TYPE_EFI, false);
        r.extend(image(2, CODE_TYPE_X86, true));
        let (img, bytes, ok) = select_x86(&r).unwrap();
        assert_eq!(img.offset, 512);
        assert_eq!(bytes.len(), 1024);
        assert!(ok);
        assert_eq!(parse_images(&r).unwrap().len(), 2);
    }

    #[test]
    fn device_list_is_read() {
        let mut r = image(1, 0, true);
        r[0x28..0x2A].copy_from_slice(&0x20u16.to_le_bytes()); // list at PCIR+0x20
        r[0x40..0x46].copy_from_slice(&[0x02, 0x01, 0x26, 0x01, 0, 0]);
        fix(&mut r);
        let (img, _, _) = select_x86(&r).unwrap();
        assert_eq!(img.device_list, vec![0x0102, 0x0126]);
        assert!(img.matches(0x1234, 0x0126));
    }
}
