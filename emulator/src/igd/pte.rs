//! GTT page-table entries (PTEs) per generation: encode and decode.
//!
//! Layouts from Linux i915 `gt/intel_gtt.h` and `gt/intel_ggtt.c`
//! (`GEN6_GTT_ADDR_ENCODE`, `HSW_GTT_ADDR_ENCODE`, `snb/ivb/byt/hsw_pte_encode`,
//! `gen8_ggtt_pte_encode`, `GEN12_GGTT_PTE_ADDR_MASK`); see
//! `shared/research/igd-anchors.md` §6.

use super::generation::PteFormat;

/// GTT pages are 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

/// `GEN6_PTE_VALID` / `GEN8_PAGE_PRESENT`: bit 0.
pub const PTE_VALID: u64 = 1 << 0;
/// `GEN6_PTE_UNCACHED`: cache control 01 in bits 2:1 (SNB/IVB).
pub const GEN6_PTE_UNCACHED: u64 = 1 << 1;
/// `GEN6_PTE_CACHE_LLC`: cache control 10 in bits 2:1 (SNB/IVB).
pub const GEN6_PTE_CACHE_LLC: u64 = 2 << 1;
/// `GEN7_PTE_CACHE_L3_LLC`: cache control 11 in bits 2:1 (IVB).
pub const GEN7_PTE_CACHE_L3_LLC: u64 = 3 << 1;
/// `BYT_PTE_WRITEABLE`: bit 1 (VLV).
pub const BYT_PTE_WRITEABLE: u64 = 1 << 1;
/// `BYT_PTE_SNOOPED_BY_CPU_CACHES`: bit 2 (VLV).
pub const BYT_PTE_SNOOPED: u64 = 1 << 2;
/// `HSW_WB_LLC_AGE3` = `HSW_CACHEABILITY_CONTROL(0x2)`.
pub const HSW_WB_LLC_AGE3: u64 = 0x004;
/// `HSW_WB_ELLC_LLC_AGE3` = `HSW_CACHEABILITY_CONTROL(0x8)`: uses PTE bit 11.
pub const HSW_WB_ELLC_LLC_AGE3: u64 = 0x800;
/// `GEN8_PAGE_RW`: bit 1.
pub const GEN8_PAGE_RW: u64 = 1 << 1;

/// A decoded PTE.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Pte {
    /// Valid / present bit.
    pub valid: bool,
    /// The 4 KiB-aligned page address the entry maps (a DMA address / IOVA).
    pub addr: u64,
    /// Every bit of the raw entry that is not an address bit (valid bit included).
    pub flags: u64,
}

/// Encoding errors: an address the format cannot carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PteError {
    /// Address not 4 KiB aligned.
    #[error("PTE address {0:#x} is not 4 KiB aligned")]
    Unaligned(u64),
    /// Address above what the format can express.
    #[error("PTE address {addr:#x} does not fit the {format:?} format")]
    TooHigh {
        /// The address.
        addr: u64,
        /// The format.
        format: PteFormat,
    },
    /// Flag bits that collide with address bits.
    #[error("flags {flags:#x} overlap the address field of the {format:?} format")]
    FlagsOverlap {
        /// The flags.
        flags: u64,
        /// The format.
        format: PteFormat,
    },
}

impl PteFormat {
    /// Bits of the raw entry that carry address bits.
    #[must_use]
    pub const fn addr_field_mask(self) -> u64 {
        match self {
            PteFormat::Snb | PteFormat::Vlv => 0xFFFF_FFF0,
            PteFormat::Hsw => 0xFFFF_F7F0,
            PteFormat::Gen8 => 0x0000_007F_FFFF_F000,
            PteFormat::Gen12 => 0x0000_3FFF_FFFF_F000,
        }
    }

    /// Bits of the raw entry that are flags (cache control, valid, PAT...).
    #[must_use]
    pub const fn flag_mask(self) -> u64 {
        match self {
            PteFormat::Snb | PteFormat::Vlv | PteFormat::Hsw => {
                0xFFFF_FFFF & !self.addr_field_mask()
            }
            PteFormat::Gen8 | PteFormat::Gen12 => !self.addr_field_mask(),
        }
    }

    /// Exclusive upper bound of addresses the format can express.
    #[must_use]
    pub const fn addr_limit(self) -> u64 {
        match self {
            PteFormat::Snb | PteFormat::Vlv => 1 << 40,
            PteFormat::Hsw => 1 << 39,
            PteFormat::Gen8 => 1 << 39,
            PteFormat::Gen12 => 1 << 46,
        }
    }

    /// Decode a raw entry. 32-bit formats ignore bits 63:32.
    #[must_use]
    pub const fn decode(self, raw: u64) -> Pte {
        let addr = match self {
            PteFormat::Snb | PteFormat::Vlv => (raw & 0xFFFF_F000) | ((raw & 0xFF0) << 28),
            PteFormat::Hsw => (raw & 0xFFFF_F000) | ((raw & 0x7F0) << 28),
            PteFormat::Gen8 | PteFormat::Gen12 => raw & self.addr_field_mask(),
        };
        Pte {
            valid: raw & PTE_VALID != 0,
            addr,
            flags: raw & self.flag_mask(),
        }
    }

    /// Encode a page address and flag bits into a raw entry.
    pub const fn encode(self, addr: u64, flags: u64) -> Result<u64, PteError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(PteError::Unaligned(addr));
        }
        if addr >= self.addr_limit() {
            return Err(PteError::TooHigh { addr, format: self });
        }
        if flags & !self.flag_mask() != 0 {
            return Err(PteError::FlagsOverlap {
                flags,
                format: self,
            });
        }
        let field = match self {
            PteFormat::Snb | PteFormat::Vlv => (addr & 0xFFFF_F000) | ((addr >> 28) & 0xFF0),
            PteFormat::Hsw => (addr & 0xFFFF_F000) | ((addr >> 28) & 0x7F0),
            PteFormat::Gen8 | PteFormat::Gen12 => addr,
        };
        Ok(field | flags)
    }

    /// The flags a vBIOS typically sets on a stolen-memory page: valid plus the
    /// format's cached setting (LLC on SNB/IVB, writeable+snooped on VLV,
    /// WB_LLC_AGE3 on HSW, present+RW on gen8+).
    #[must_use]
    pub const fn typical_flags(self) -> u64 {
        match self {
            PteFormat::Snb => PTE_VALID | GEN6_PTE_CACHE_LLC,
            PteFormat::Vlv => PTE_VALID | BYT_PTE_WRITEABLE | BYT_PTE_SNOOPED,
            PteFormat::Hsw => PTE_VALID | HSW_WB_LLC_AGE3,
            PteFormat::Gen8 | PteFormat::Gen12 => PTE_VALID | GEN8_PAGE_RW,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [PteFormat; 5] = [
        PteFormat::Snb,
        PteFormat::Vlv,
        PteFormat::Hsw,
        PteFormat::Gen8,
        PteFormat::Gen12,
    ];

    #[test]
    fn snb_carries_pa_39_32_in_bits_11_4() {
        // i915 GEN6_GTT_ADDR_ENCODE(0x12_3456_7000) = 0x34567000 | 0x120.
        let raw = PteFormat::Snb
            .encode(0x12_3456_7000, PTE_VALID | GEN6_PTE_CACHE_LLC)
            .unwrap();
        assert_eq!(raw, 0x3456_7125);
        let pte = PteFormat::Snb.decode(raw);
        assert_eq!(pte.addr, 0x12_3456_7000);
        assert!(pte.valid);
        assert_eq!(pte.flags, 0x5);
    }

    #[test]
    fn hsw_carries_pa_38_32_in_bits_10_4_and_cache_bit_11() {
        let raw = PteFormat::Hsw
            .encode(0x7F_0000_0000, PTE_VALID | HSW_WB_ELLC_LLC_AGE3)
            .unwrap();
        assert_eq!(raw, 0x0000_0FF1);
        let pte = PteFormat::Hsw.decode(raw);
        assert_eq!((pte.addr, pte.flags), (0x7F_0000_0000, 0x801));
        assert!(
            PteFormat::Hsw.encode(0x80_0000_0000, 1).is_err(),
            "PA bit 39 does not fit"
        );
    }

    #[test]
    fn gen8_is_address_or_present() {
        let raw = PteFormat::Gen8.encode(0x1_8B00_0000, PTE_VALID).unwrap();
        assert_eq!(raw, 0x1_8B00_0001);
        assert_eq!(PteFormat::Gen8.decode(raw).addr, 0x1_8B00_0000);
        assert!(PteFormat::Gen8.encode(1 << 39, 1).is_err());
        assert!(PteFormat::Gen12.encode(1 << 45, 1).is_ok());
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            PteFormat::Snb.encode(0x1001, 0),
            Err(PteError::Unaligned(0x1001))
        );
        assert_eq!(
            PteFormat::Snb.encode(0x1000, 0x10),
            Err(PteError::FlagsOverlap {
                flags: 0x10,
                format: PteFormat::Snb
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip_every_format(page in 0u64..(1 << 34), flags in any::<u64>()) {
            for fmt in ALL {
                let addr = (page << 12) % fmt.addr_limit();
                let flags = flags & fmt.flag_mask();
                let raw = fmt.encode(addr, flags).unwrap();
                let pte = fmt.decode(raw);
                prop_assert_eq!(pte.addr, addr);
                prop_assert_eq!(pte.flags, flags);
                prop_assert_eq!(pte.valid, flags & 1 == 1);
                prop_assert_eq!(fmt.encode(pte.addr, pte.flags).unwrap(), raw);
            }
        }

        #[test]
        fn decode_then_encode_is_identity_on_raw(raw in any::<u64>()) {
            for fmt in ALL {
                let raw = if fmt.size() == 4 { raw & 0xFFFF_FFFF } else { raw };
                let pte = fmt.decode(raw);
                prop_assert_eq!(fmt.encode(pte.addr, pte.flags).unwrap(), raw);
            }
        }
    }
}
