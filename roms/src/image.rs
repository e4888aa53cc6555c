//! Option ROM image layout helpers: the legacy header, the PCI Data Structure
//! (PCIR) with a PCI 3.0 device list, a `$VBT` block and the checksum.
//!
//! Layouts from the PCI Firmware Specification 3.0 §5.1 (ROM header: 0x55AA,
//! size in 512-byte units at +2, entry at +3, PCIR pointer at +0x18; PCIR:
//! signature, vendor, device, device-list pointer, length, revision, class code,
//! image length, code revision, code type, indicator) and, for the VBT header,
//! Linux i915 `display/intel_vbt_defs.h` (`struct vbt_header`, `struct bdb_header`).

/// Offset of the PCIR structure in images this crate builds.
pub const PCIR_OFFSET: usize = 0x40;
/// Offset of the PCI 3.0 device list (u16 IDs, 0-terminated).
pub const DEVICE_LIST_OFFSET: usize = 0x60;
/// Most device IDs a built image lists.
pub const DEVICE_LIST_MAX: usize = 15;
/// Length of the PCIR structure for revision 3.
pub const PCIR_LEN: u16 = 0x1C;

/// Code types (x86 = 0, EFI = 3) and the byte sum, as the emulator's ROM loader defines them.
pub use igdemu::cpu::rom::{checksum, CODE_TYPE_EFI, CODE_TYPE_X86};

/// Write the 0x55AA signature, the size byte for `len` bytes and a near jump at
/// +3 to `entry`.
pub fn write_header(img: &mut [u8], entry: u16) {
    img[0] = 0x55;
    img[1] = 0xAA;
    img[2] = (img.len() / 512) as u8;
    img[3] = 0xE9; // jmp rel16
    let rel = entry.wrapping_sub(6);
    img[4..6].copy_from_slice(&rel.to_le_bytes());
    img[0x18..0x1A].copy_from_slice(&(PCIR_OFFSET as u16).to_le_bytes());
}

/// Fields of a PCIR structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcir {
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Extra device IDs for the PCI 3.0 device list.
    pub device_list: Vec<u16>,
    /// Class code (base, sub, prog-if as 0xBBSSPP).
    pub class_code: u32,
    /// Code type (0 = x86).
    pub code_type: u8,
    /// Whether this is the last image.
    pub last: bool,
}

impl Pcir {
    /// The last image of an Intel (0x8086) VGA-compatible display controller (class 0x030000).
    #[must_use]
    pub fn intel_display(device: u16, device_list: Vec<u16>, code_type: u8) -> Self {
        Self {
            vendor: 0x8086,
            device,
            device_list,
            class_code: 0x030000,
            code_type,
            last: true,
        }
    }
}

/// Write a PCIR (and its device list) into `img` at [`PCIR_OFFSET`].
pub fn write_pcir(img: &mut [u8], pcir: &Pcir) {
    let p = PCIR_OFFSET;
    img[p..p + 4].copy_from_slice(b"PCIR");
    img[p + 4..p + 6].copy_from_slice(&pcir.vendor.to_le_bytes());
    img[p + 6..p + 8].copy_from_slice(&pcir.device.to_le_bytes());
    let list_ptr = (DEVICE_LIST_OFFSET - p) as u16;
    img[p + 8..p + 10].copy_from_slice(&list_ptr.to_le_bytes());
    img[p + 0xA..p + 0xC].copy_from_slice(&PCIR_LEN.to_le_bytes());
    img[p + 0xC] = 3; // PCI 3.0 structure revision
    img[p + 0xD] = pcir.class_code as u8;
    img[p + 0xE] = (pcir.class_code >> 8) as u8;
    img[p + 0xF] = (pcir.class_code >> 16) as u8;
    let units = (img.len() / 512) as u16;
    img[p + 0x10..p + 0x12].copy_from_slice(&units.to_le_bytes());
    img[p + 0x12..p + 0x14].copy_from_slice(&1u16.to_le_bytes());
    img[p + 0x14] = pcir.code_type;
    img[p + 0x15] = if pcir.last { 0x80 } else { 0 };
    img[p + 0x16..p + 0x18].copy_from_slice(&units.to_le_bytes());
    for (i, id) in pcir.device_list.iter().take(DEVICE_LIST_MAX).enumerate() {
        let at = DEVICE_LIST_OFFSET + 2 * i;
        img[at..at + 2].copy_from_slice(&id.to_le_bytes());
    }
    let end = DEVICE_LIST_OFFSET + 2 * pcir.device_list.len().min(DEVICE_LIST_MAX);
    img[end..end + 2].copy_from_slice(&0u16.to_le_bytes());
}

/// Write a minimal Video BIOS Table at `at`: the `$VBT` header (signature,
/// version, header size, VBT size, checksum, BDB offset) followed by a BDB
/// header (`BIOS_DATA_BLOCK `, version, header size, BDB size) with no blocks.
pub fn write_vbt(img: &mut [u8], at: usize, product: &str, bdb_version: u16) {
    const VBT_HEADER: usize = 0x30;
    const BDB_HEADER: usize = 0x16;
    let total = VBT_HEADER + BDB_HEADER;
    let v = &mut img[at..at + total];
    v.fill(0);
    let mut sig = [b' '; 20];
    let text = format!("$VBT {product}");
    for (d, s) in sig.iter_mut().zip(text.bytes()) {
        *d = s;
    }
    v[..20].copy_from_slice(&sig);
    v[20..22].copy_from_slice(&100u16.to_le_bytes()); // VBT version
    v[22..24].copy_from_slice(&(VBT_HEADER as u16).to_le_bytes());
    v[24..26].copy_from_slice(&(total as u16).to_le_bytes());
    v[28..32].copy_from_slice(&(VBT_HEADER as u32).to_le_bytes()); // bdb_offset
    let b = &mut v[VBT_HEADER..];
    b[..16].copy_from_slice(b"BIOS_DATA_BLOCK ");
    b[16..18].copy_from_slice(&bdb_version.to_le_bytes());
    b[18..20].copy_from_slice(&(BDB_HEADER as u16).to_le_bytes());
    b[20..22].copy_from_slice(&(BDB_HEADER as u16).to_le_bytes());
    v[26] = 0u8.wrapping_sub(checksum(v)); // vbt_checksum
}

/// Set the last byte so the whole image sums to zero modulo 256.
pub fn fix_checksum(img: &mut [u8]) {
    let Some((last, rest)) = img.split_last_mut() else {
        return;
    };
    *last = 0u8.wrapping_sub(checksum(rest));
}

/// Write a GDT at `gdt` (null descriptor, then `desc`) and a GDTR at `gdtr`
/// (limit 15, linear base `0xC0000 + gdt`).
pub fn write_gdt(img: &mut [u8], gdt: u16, gdtr: u16, desc: &[u8; 8]) {
    let (gdt, gdtr) = (usize::from(gdt), usize::from(gdtr));
    img[gdt..gdt + 8].fill(0);
    img[gdt + 8..gdt + 16].copy_from_slice(desc);
    img[gdtr..gdtr + 2].copy_from_slice(&15u16.to_le_bytes());
    img[gdtr + 2..gdtr + 6].copy_from_slice(&(0xC0000 + gdt as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_pcir_and_checksum() {
        let mut img = vec![0u8; 4096];
        write_header(&mut img, 0x400);
        write_pcir(
            &mut img,
            &Pcir {
                vendor: 0x8086,
                device: 0x0126,
                device_list: vec![0x0126, 0x0116],
                class_code: 0x030000,
                code_type: CODE_TYPE_X86,
                last: true,
            },
        );
        write_vbt(&mut img, 0xB00, "SNB", 170);
        fix_checksum(&mut img);
        assert_eq!(&img[..3], &[0x55, 0xAA, 8]);
        // jmp rel16 from +6 lands on 0x400.
        let rel = u16::from_le_bytes([img[4], img[5]]);
        assert_eq!(6u16.wrapping_add(rel), 0x400);
        assert_eq!(&img[0x40..0x44], b"PCIR");
        assert_eq!(
            u16::from_le_bytes([img[0x48], img[0x49]]) as usize + 0x40,
            DEVICE_LIST_OFFSET
        );
        assert_eq!(&img[0x60..0x66], &[0x26, 0x01, 0x16, 0x01, 0, 0]);
        assert_eq!(img[0x55], 0x80, "last image");
        assert_eq!(&img[0xB00..0xB04], b"$VBT");
        assert_eq!(checksum(&img[0xB00..0xB00 + 0x46]), 0, "VBT checksum");
        assert_eq!(checksum(&img), 0);
    }
}
