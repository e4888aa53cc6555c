//! The guest firmware's half of the IGD contract, as SeaBIOS
//! `intel_igd_setup` (`src/fw/pciinit.c`, `04259c5817ed`, igd-anchors §2) and
//! QEMU `docs/igd-assign.txt` (§1.8) describe it:
//!
//! * `etc/igd-bdsm-size` non-zero: reserve a 1 MiB aligned block of that size
//!   below 4 GiB (SeaBIOS `memalign_tmphigh(1 MiB, size)`, top of RAM downward),
//!   `e820_add(addr, size, E820_RESERVED)`, write the base to BDSM
//!   (SeaBIOS: `pci_config_writel(bdf, 0x5C, addr)` only; 0xC0 on gen 11+ is
//!   what the QEMU doc asks for and what [`BdsmWrite::Generation`] does).
//! * `etc/igd-opregion`: reserve a 4 KiB aligned block, copy the OpRegion,
//!   write its address to ASLS (0xFC).
//!
//! The result is values: the regions, the new e820, the config writes and the
//! bytes to place in guest memory. The machine applies them.

use crate::addr::{GuestPhys, Region};
use crate::igd::generation::BdsmLocation;

use super::remap::{CFG_ASLS, MIB};

const FOUR_GIB: u64 = 1 << 32;

/// OpRegion size (8 KiB, the base OpRegion without extended VBT).
pub const OPREGION_SIZE: usize = 8192;
/// OpRegion header signature.
pub const OPREGION_SIGNATURE: &[u8; 16] = b"IntelGraphicsMem";
/// Header: size in KiB (u32).
pub const OPREGION_SIZE_OFFSET: usize = 0x10;
/// Header: OpRegion version, major.minor in the u16 at +0x16 (Linux
/// `vfio_pci_igd.c` reads it there).
pub const OPREGION_VERSION_OFFSET: usize = 0x16;
/// Header: supported mailboxes (u32).
pub const OPREGION_MBOX_OFFSET: usize = 0x58;
/// Mailbox 4 (VBT) offset.
pub const OPREGION_VBT_OFFSET: usize = 0x400;
/// `MBOX_ACPI | MBOX_SWSCI | MBOX_ASLE` (i915 `intel_opregion.c`).
pub const OPREGION_MBOX: u32 = 0b111;
const _: () = assert!(OPREGION_VBT_OFFSET + VBT_LEN <= OPREGION_SIZE);
const VBT_LEN: usize = 0x30 + 0x16;

use crate::machine::memory::E820;
pub use crate::machine::memory::{E820Entry, E820Type};

/// Where firmware writes the guest BDSM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BdsmWrite {
    /// SeaBIOS: always 32-bit at 0x5C, whatever the generation.
    SeaBios,
    /// At the generation's register (64-bit 0xC0 on gen 11+).
    Generation(BdsmLocation),
}

/// What the firmware step needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareInput {
    /// End of RAM below 4 GiB.
    pub ram_top_below_4g: u64,
    /// The e820 map before the step.
    pub e820: Vec<E820Entry>,
    /// `etc/igd-bdsm-size` (0 = none).
    pub bdsm_size: u64,
    /// `etc/igd-opregion` content (None = no OpRegion file).
    pub opregion: Option<Vec<u8>>,
    /// Where BDSM goes.
    pub bdsm_write: BdsmWrite,
}

/// A config write the firmware does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigPoke {
    /// Config offset.
    pub offset: u16,
    /// Bytes.
    pub data: Vec<u8>,
}

/// What the firmware step produced.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FirmwareLayout {
    /// Guest stolen region, if one was reserved.
    pub stolen: Option<Region<GuestPhys>>,
    /// OpRegion placement, if any.
    pub opregion: Option<Region<GuestPhys>>,
    /// OpRegion bytes to place at `opregion.base`.
    pub opregion_bytes: Vec<u8>,
    /// The e820 map after the step.
    pub e820: Vec<E820Entry>,
    /// Config writes, in order (ASLS, then BDSM, as SeaBIOS does).
    pub config_writes: Vec<ConfigPoke>,
}

/// Why the firmware step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// Not enough RAM below 4 GiB.
    #[error("no room below {top:#x} for {size:#x} bytes")]
    NoRoom {
        /// Top of RAM.
        top: u64,
        /// Size asked for.
        size: u64,
    },
}

/// A valid 8 KiB OpRegion: header signature, size 8 KiB, version 2.0,
/// mailboxes 1-3, and a minimal VBT (`$VBT` header, BDB header) at 0x400.
#[must_use]
pub fn default_opregion() -> Vec<u8> {
    let mut r = vec![0u8; OPREGION_SIZE];
    put(&mut r, 0, OPREGION_SIGNATURE);
    put(
        &mut r,
        OPREGION_SIZE_OFFSET,
        &((OPREGION_SIZE / 1024) as u32).to_le_bytes(),
    );
    put(&mut r, OPREGION_VERSION_OFFSET, &0x0200u16.to_le_bytes());
    put(&mut r, OPREGION_MBOX_OFFSET, &OPREGION_MBOX.to_le_bytes());
    // VBT header (i915 `struct vbt_header`): signature[20], version, header
    // size, vbt size, checksum, reserved, bdb offset, aim offsets[4].
    let v = OPREGION_VBT_OFFSET;
    put(&mut r, v, b"$VBT IGDEMU         ");
    put(&mut r, v + 0x14, &100u16.to_le_bytes());
    put(&mut r, v + 0x16, &0x30u16.to_le_bytes());
    put(&mut r, v + 0x18, &(VBT_LEN as u16).to_le_bytes());
    put(&mut r, v + 0x1C, &0x30u32.to_le_bytes());
    // BDB header: signature[16], version, header size, bdb size.
    put(&mut r, v + 0x30, b"BIOS_DATA_BLOCK ");
    put(&mut r, v + 0x40, &209u16.to_le_bytes());
    put(&mut r, v + 0x42, &0x16u16.to_le_bytes());
    put(&mut r, v + 0x44, &0x16u16.to_le_bytes());
    let sum = r
        .get(v..v + VBT_LEN)
        .map_or(0u8, |s| s.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
    if let Some(c) = r.get_mut(v + 0x1A) {
        *c = 0u8.wrapping_sub(sum);
    }
    r
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(s) = buf.get_mut(at..at + bytes.len()) {
        s.copy_from_slice(bytes);
    }
}

/// SeaBIOS `intel_igd_setup` for the IGD at 00:02.0.
pub fn intel_igd_setup(input: &FirmwareInput) -> Result<FirmwareLayout, FirmwareError> {
    let mut top = input.ram_top_below_4g.min(FOUR_GIB);
    let mut e820 = E820::from(input.e820.clone());
    let mut pokes = Vec::new();
    let mut opregion = None;
    let mut opregion_bytes = Vec::new();
    let mut stolen = None;
    if let Some(bytes) = &input.opregion {
        let size = (bytes.len() as u64 + 0xFFF) & !0xFFF;
        let base = top
            .checked_sub(size)
            .map(|b| b & !0xFFF)
            .filter(|&b| b > 0)
            .ok_or(FirmwareError::NoRoom { top, size })?;
        e820.set(base, size, E820Type::Reserved);
        pokes.push(ConfigPoke {
            offset: CFG_ASLS,
            data: (base as u32).to_le_bytes().to_vec(),
        });
        opregion = Some(Region::new(GuestPhys(base), size));
        opregion_bytes.clone_from(bytes);
        top = base;
    }
    if input.bdsm_size != 0 {
        let size = input.bdsm_size;
        let base = top
            .checked_sub(size)
            .map(|b| b & !(MIB - 1))
            .filter(|&b| b > 0)
            .ok_or(FirmwareError::NoRoom { top, size })?;
        e820.set(base, size, E820Type::Reserved);
        let data = match input.bdsm_write {
            BdsmWrite::SeaBios => ConfigPoke {
                offset: 0x5C,
                data: (base as u32).to_le_bytes().to_vec(),
            },
            BdsmWrite::Generation(loc) if loc.width() == 8 => ConfigPoke {
                offset: loc.offset(),
                data: base.to_le_bytes().to_vec(),
            },
            BdsmWrite::Generation(loc) => ConfigPoke {
                offset: loc.offset(),
                data: (base as u32).to_le_bytes().to_vec(),
            },
        };
        pokes.push(data);
        stolen = Some(Region::new(GuestPhys(base), size));
    }
    Ok(FirmwareLayout {
        stolen,
        opregion,
        opregion_bytes,
        e820: e820.entries().to_vec(),
        config_writes: pokes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_stolen_and_opregion_like_seabios() {
        let input = FirmwareInput {
            ram_top_below_4g: 0x8000_0000,
            e820: vec![E820Entry {
                base: 0,
                len: 0x8000_0000,
                kind: E820Type::Ram,
            }],
            bdsm_size: 64 * MIB,
            opregion: Some(default_opregion()),
            bdsm_write: BdsmWrite::SeaBios,
        };
        let l = intel_igd_setup(&input).unwrap();
        assert_eq!(
            l.opregion,
            Some(Region::new(GuestPhys(0x7FFF_E000), 0x2000))
        );
        assert_eq!(
            l.stolen,
            Some(Region::new(GuestPhys(0x7BF0_0000), 64 * MIB))
        );
        assert_eq!(l.config_writes[0].offset, 0xFC);
        assert_eq!(
            l.config_writes[1],
            ConfigPoke {
                offset: 0x5C,
                data: vec![0, 0, 0xF0, 0x7B]
            }
        );
        assert!(l.e820.contains(&E820Entry {
            base: 0x7BF0_0000,
            len: 64 * MIB,
            kind: E820Type::Reserved
        }));
        assert!(l.e820.contains(&E820Entry {
            base: 0,
            len: 0x7BF0_0000,
            kind: E820Type::Ram
        }));
        let op = &l.opregion_bytes;
        assert_eq!(&op[..16], b"IntelGraphicsMem");
        assert_eq!(op[0x10], 8);
        assert_eq!(&op[0x400..0x404], b"$VBT");
        let vbt_sum = op[0x400..0x400 + VBT_LEN]
            .iter()
            .fold(0u8, |a, b| a.wrapping_add(*b));
        assert_eq!(vbt_sum, 0);
    }

    #[test]
    fn gen11_generation_write_is_64_bit_and_no_room_is_an_error() {
        let input = FirmwareInput {
            ram_top_below_4g: 0x10_0000,
            e820: vec![],
            bdsm_size: 64 * MIB,
            opregion: None,
            bdsm_write: BdsmWrite::Generation(BdsmLocation::ConfigC0),
        };
        assert_eq!(
            intel_igd_setup(&input),
            Err(FirmwareError::NoRoom {
                top: 0x10_0000,
                size: 64 * MIB
            })
        );
        let l = intel_igd_setup(&FirmwareInput {
            ram_top_below_4g: 0x4000_0000,
            ..input
        })
        .unwrap();
        assert_eq!(l.config_writes[0].offset, 0xC0);
        assert_eq!(l.config_writes[0].data.len(), 8);
    }
}
