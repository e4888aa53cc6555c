//! The guest physical memory map of a PC (real-mode view and e820).
//!
//! ```text
//! 0x00000-0x003FF  IVT            0x00400-0x004FF  BDA
//! 0x07000          host-call stack (grows down)
//! 0x9FC00-0x9FFFF  EBDA (1 KiB)   0xA0000-0xBFFFF  VGA window (RAM)
//! 0xC0000-0xDFFFF  option ROM shadow (writable during init, then protected)
//! 0xE0000-0xEFFFF  BIOS (RAM)     0xF0000-0xFFFFF  BIOS: IVT stubs, trampolines
//! 0x100000-low end RAM            PCI hole from 0xC000_0000 to 4 GiB
//! 4 GiB-           RAM above the hole
//! ```

use serde::Serialize;

/// Start of the extended BIOS data area.
pub const EBDA: u64 = 0x9_FC00;
/// The VGA window.
pub const VGA_WINDOW: (u64, u64) = (0xA_0000, 0x2_0000);
/// The option ROM shadow.
pub const SHADOW: (u64, u64) = (0xC_0000, 0x2_0000);
/// The BIOS segment F000.
pub const BIOS: (u64, u64) = (0xF_0000, 0x1_0000);
/// Start of the PCI hole (32-bit MMIO window).
pub const PCI_HOLE: u64 = 0xC000_0000;
/// End of the 32-bit MMIO window handed to BARs (below the IOAPIC/LAPIC/flash).
pub const PCI_MMIO_END: u64 = 0xFEC0_0000;
/// 4 GiB.
pub const FOUR_GIB: u64 = 1 << 32;

/// BIOS data area offsets (linear addresses).
pub mod bda {
    /// COM1-COM4 I/O bases.
    pub const COM: u64 = 0x400;
    /// LPT1-LPT3 I/O bases.
    pub const LPT: u64 = 0x408;
    /// EBDA segment.
    pub const EBDA_SEG: u64 = 0x40E;
    /// Equipment word.
    pub const EQUIPMENT: u64 = 0x410;
    /// Base memory size in KiB.
    pub const MEM_KIB: u64 = 0x413;
    /// Current video mode.
    pub const VIDEO_MODE: u64 = 0x449;
    /// Text columns.
    pub const VIDEO_COLS: u64 = 0x44A;
    /// CRTC base port.
    pub const CRTC_BASE: u64 = 0x463;
    /// Timer tick count (dword) since midnight.
    pub const TICKS: u64 = 0x46C;
    /// Midnight rollover flag.
    pub const TICKS_ROLLOVER: u64 = 0x470;
    /// Text rows minus one.
    pub const VIDEO_ROWS: u64 = 0x484;
    /// Character height.
    pub const CHAR_HEIGHT: u64 = 0x485;
}

/// The e820 memory type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(u32)]
pub enum E820Type {
    /// Usable RAM.
    Ram = 1,
    /// Reserved.
    Reserved = 2,
    /// ACPI reclaimable.
    Acpi = 3,
    /// ACPI NVS.
    Nvs = 4,
}

/// One e820 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct E820Entry {
    /// Base address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// Type.
    pub kind: E820Type,
}

/// The 20-byte layout INT 15h E820 returns (ACPI 6.5 §15.1).
#[repr(C, packed)]
struct E820Raw {
    base: u64,
    len: u64,
    kind: u32,
}
const _: () = assert!(std::mem::size_of::<E820Raw>() == 20);

impl E820Entry {
    /// The entry as the guest receives it.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b
    }

    fn end(&self) -> u64 {
        self.base.saturating_add(self.len)
    }
}

/// The e820 table, kept sorted and free of overlaps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct E820 {
    entries: Vec<E820Entry>,
}

impl From<Vec<E820Entry>> for E820 {
    /// Wrap `entries` as given (the caller keeps them sorted and disjoint).
    fn from(entries: Vec<E820Entry>) -> Self {
        Self { entries }
    }
}

impl E820 {
    /// The table of a PC with `low` bytes of RAM below the hole and `high`
    /// bytes above 4 GiB.
    #[must_use]
    pub fn for_ram(low: u64, high: u64) -> Self {
        let mut t = Self::default();
        t.entries.push(E820Entry {
            base: 0,
            len: EBDA,
            kind: E820Type::Ram,
        });
        t.entries.push(E820Entry {
            base: EBDA,
            len: 0xA_0000 - EBDA,
            kind: E820Type::Reserved,
        });
        t.entries.push(E820Entry {
            base: 0xE_0000,
            len: 0x2_0000,
            kind: E820Type::Reserved,
        });
        if low > 0x10_0000 {
            t.entries.push(E820Entry {
                base: 0x10_0000,
                len: low - 0x10_0000,
                kind: E820Type::Ram,
            });
        }
        t.entries.push(E820Entry {
            base: 0xFEC0_0000,
            len: 0x140_0000,
            kind: E820Type::Reserved,
        });
        if high > 0 {
            t.entries.push(E820Entry {
                base: FOUR_GIB,
                len: high,
                kind: E820Type::Ram,
            });
        }
        t
    }

    /// The entries, ascending.
    #[must_use]
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries
    }

    /// Mark `[base, base + len)` with `kind`, carving it out of whatever it
    /// overlaps (firmware reserving the guest stolen region, say).
    pub fn set(&mut self, base: u64, len: u64, kind: E820Type) {
        let end = base.saturating_add(len);
        let mut out = Vec::with_capacity(self.entries.len() + 2);
        for e in &self.entries {
            if e.end() <= base || e.base >= end {
                out.push(*e);
                continue;
            }
            if e.base < base {
                out.push(E820Entry {
                    len: base - e.base,
                    ..*e
                });
            }
            if e.end() > end {
                out.push(E820Entry {
                    base: end,
                    len: e.end() - end,
                    kind: e.kind,
                });
            }
        }
        out.push(E820Entry { base, len, kind });
        out.sort_by_key(|e| e.base);
        self.entries = out;
    }

    /// Total RAM between `from` and `to`.
    #[must_use]
    pub fn ram_between(&self, from: u64, to: u64) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == E820Type::Ram)
            .map(|e| e.end().min(to).saturating_sub(e.base.max(from)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserving_a_region_splits_ram() {
        let mut t = E820::for_ram(0x8000_0000, 0);
        t.set(0x7800_0000, 0x400_0000, E820Type::Reserved);
        let ram: Vec<_> = t
            .entries()
            .iter()
            .filter(|e| e.kind == E820Type::Ram)
            .map(|e| (e.base, e.len))
            .collect();
        assert_eq!(
            ram,
            vec![
                (0, EBDA),
                (0x10_0000, 0x7800_0000 - 0x10_0000),
                (0x7C00_0000, 0x400_0000)
            ]
        );
        assert_eq!(
            t.ram_between(0x10_0000, FOUR_GIB),
            0x8000_0000 - 0x10_0000 - 0x400_0000
        );
    }

    #[test]
    fn entry_bytes_are_little_endian() {
        let e = E820Entry {
            base: 0x10_0000,
            len: 0x20,
            kind: E820Type::Reserved,
        };
        let b = e.to_bytes();
        assert_eq!(&b[..8], &0x10_0000u64.to_le_bytes());
        assert_eq!(b[16], 2);
    }
}
