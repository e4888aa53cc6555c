//! Per-generation facts about Intel integrated graphics, as data keyed by
//! [`Platform`] (DESIGN.md: "per-generation differences live in data").
//!
//! Sources: device IDs from Linux `include/drm/intel/pciids.h`; GGC (GMCH
//! Graphics Control, config 0x50) field layout from `include/drm/intel/i915_drm.h`
//! (`SNB_GMCH_*`, `BDW_GMCH_*`); stolen-size formulas from Linux
//! `arch/x86/kernel/early-quirks.c` (`gen6_stolen_size`, `gen8_stolen_size`,
//! `chv_stolen_size`, `gen9_stolen_size`); GTT size from
//! `drivers/gpu/drm/i915/gt/intel_ggtt.c` (`gen6/gen8/chv_get_total_gtt_size`);
//! BDSM location from `INTEL_BSM` (0x5C) and `INTEL_GEN11_BSM_DW0/DW1` (0xC0/0xC4);
//! GTTMMADR size and GTT offset from `gen6_gttmmadr_size()`/`gen6_gttadr_offset()`.
//! See `shared/research/igd-anchors.md` §6-§8.

use std::fmt;

use super::devices::DeviceInfo;

const MIB: u64 = 1 << 20;

/// A graphics generation as i915 numbers them (HSW is 7.5, written 75).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
pub enum Gen {
    /// Sandy Bridge.
    Gen6,
    /// Ivy Bridge, Valleyview/Bay Trail.
    Gen7,
    /// Haswell.
    Gen7_5,
    /// Broadwell, Cherryview/Braswell.
    Gen8,
    /// Skylake, Kaby Lake, Coffee Lake, Comet Lake, Broxton, Gemini Lake.
    Gen9,
    /// Ice Lake, Elkhart Lake, Jasper Lake.
    Gen11,
    /// Tiger Lake, Rocket Lake, Alder Lake, Raptor Lake.
    Gen12,
}

impl Gen {
    /// The integer generation QEMU's `igd_gen()` compares against (HSW and VLV
    /// are 7; QEMU after `0bb758e97ace` aligns with i915 this way).
    #[must_use]
    pub const fn number(self) -> u32 {
        match self {
            Gen::Gen6 => 6,
            Gen::Gen7 | Gen::Gen7_5 => 7,
            Gen::Gen8 => 8,
            Gen::Gen9 => 9,
            Gen::Gen11 => 11,
            Gen::Gen12 => 12,
        }
    }

    /// Parse "6", "7", "7.5", "8", "9", "11", "12".
    #[must_use]
    pub fn parse(s: &str) -> Option<Gen> {
        Some(match s.trim().trim_start_matches("gen") {
            "6" => Gen::Gen6,
            "7" => Gen::Gen7,
            "7.5" | "75" => Gen::Gen7_5,
            "8" => Gen::Gen8,
            "9" => Gen::Gen9,
            "11" => Gen::Gen11,
            "12" => Gen::Gen12,
            _ => return None,
        })
    }
}

impl fmt::Display for Gen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gen::Gen7_5 => write!(f, "gen7.5"),
            g => write!(f, "gen{}", g.number()),
        }
    }
}

/// A platform (code name). Several platforms share a generation but differ in a
/// fact that matters here (VLV's PTE bits, CHV's GGC layout).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
#[allow(missing_docs)]
pub enum Platform {
    SandyBridge,
    IvyBridge,
    Valleyview,
    Haswell,
    Broadwell,
    Cherryview,
    Skylake,
    Broxton,
    KabyLake,
    GeminiLake,
    CoffeeLake,
    CometLake,
    IceLake,
    ElkhartLake,
    JasperLake,
    TigerLake,
    RocketLake,
    AlderLakeS,
    AlderLakeP,
    RaptorLake,
}

/// GTT page-table-entry format (i915 `gt/intel_gtt.h`, `intel_ggtt.c` encoders).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub enum PteFormat {
    /// SNB/IVB `snb_pte_encode`/`ivb_pte_encode`: 32-bit; PA[31:12] in 31:12,
    /// PA[39:32] in 11:4, cache control in 3:1, valid in 0.
    Snb,
    /// VLV/BYT `byt_pte_encode`: SNB address layout, bit 1 writeable, bit 2 snooped.
    Vlv,
    /// HSW `hsw_pte_encode`: 32-bit; PA[38:32] in 10:4; cacheability in 11 and 3:1.
    Hsw,
    /// gen8-11 `gen8_ggtt_pte_encode`: 64-bit; present bit 0, PA[38:12].
    Gen8,
    /// gen12: 64-bit; present bit 0, LM bit 1, PA[45:12] (`GEN12_GGTT_PTE_ADDR_MASK`).
    Gen12,
}

impl PteFormat {
    /// Bytes per PTE.
    #[must_use]
    pub const fn size(self) -> u64 {
        match self {
            PteFormat::Snb | PteFormat::Vlv | PteFormat::Hsw => 4,
            PteFormat::Gen8 | PteFormat::Gen12 => 8,
        }
    }
}

/// Where GGC keeps its fields (i915_drm.h).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub enum GgcLayout {
    /// `SNB_GMCH_*`: GMS bits 7:3 (× 32 MiB), GGMS bits 9:8 (MiB).
    Snb,
    /// CHV: SNB positions, `chv_stolen_size` GMS table, `chv_get_total_gtt_size`.
    Chv,
    /// `BDW_GMCH_*`: GMS bits 15:8 (× 32 MiB), GGMS bits 7:6 (1 << v MiB).
    Bdw,
    /// gen9+: BDW positions; GMS 0xF0-0xFE mean (v - 0xF0 + 1) × 4 MiB.
    Gen9,
}

/// Where BDSM (Base Data of Stolen Memory) lives in config space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub enum BdsmLocation {
    /// `INTEL_BSM`: config 0x5C, 32-bit, base in bits 31:20, bit 0 lock.
    Config5C,
    /// `INTEL_GEN11_BSM_DW0/DW1`: config 0xC0, 64-bit, base in bits 63:20.
    ConfigC0,
}

impl BdsmLocation {
    /// Config offset of the register.
    #[must_use]
    pub const fn offset(self) -> u16 {
        match self {
            BdsmLocation::Config5C => 0x5C,
            BdsmLocation::ConfigC0 => 0xC0,
        }
    }

    /// Register width in bytes.
    #[must_use]
    pub const fn width(self) -> u16 {
        match self {
            BdsmLocation::Config5C => 4,
            BdsmLocation::ConfigC0 => 8,
        }
    }
}

/// How a function-level reset is offered (DOMAIN.md item 6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub enum FlrCapability {
    /// Advanced Features capability (cap ID 0x13) only.
    AdvancedFeatures,
    /// Advanced Features and a PCIe capability (Device Capabilities FLR bit).
    AdvancedFeaturesAndPcie,
}

/// Everything per-platform that the device model and the remappers ask about.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct PlatformInfo {
    /// Code name.
    pub platform: Platform,
    /// Generation.
    pub gen: Gen,
    /// Short name as i915 prints it.
    pub name: &'static str,
    /// Representative device IDs (pciids.h): what built-in ROMs list in their
    /// PCIR and what `--gen` picks (the first). Every ID i915 knows is in
    /// [`super::devices::DEVICES`].
    pub device_ids: &'static [u16],
    /// GGC field layout.
    pub ggc: GgcLayout,
    /// GTT entry format.
    pub pte: PteFormat,
    /// BDSM register location.
    pub bdsm: BdsmLocation,
    /// BAR0 (GTTMMADR) size in bytes; the GTT occupies its upper half.
    pub gttmmadr_size: u64,
    /// Whether BAR4 MMIO_Index Sel=1 reaches the GTT (pre-gen11; QEMU's removal
    /// commit `5aed8b0f0be2` reports the I/O BAR does not work on gen11+).
    pub iobar_gtt: bool,
    /// Whether BAR0 mirrors BDSM at 0x1080C0 (`GEN6_DSMBASE`, gen 6 and later).
    pub bdsm_mirror: bool,
    /// Highest physical address bit a PTE can carry (PA width - 1).
    pub pte_addr_high_bit: u32,
    /// FLR mechanism.
    pub flr: FlrCapability,
}

impl PlatformInfo {
    /// GTT offset inside BAR0 (`gen6_gttadr_offset`: half of GTTMMADR).
    #[must_use]
    pub const fn gtt_offset_in_bar0(&self) -> u64 {
        self.gttmmadr_size / 2
    }

    /// Decode GGC into stolen (DSM) size and GTT (GSM) size.
    pub fn decode_ggc(&self, ggc: u16) -> Result<GgcDecode, GenError> {
        let (gms, ggms) = match self.ggc {
            GgcLayout::Snb | GgcLayout::Chv => ((ggc >> 3) & 0x1F, (ggc >> 8) & 0x3),
            GgcLayout::Bdw | GgcLayout::Gen9 => ((ggc >> 8) & 0xFF, (ggc >> 6) & 0x3),
        };
        let gms = gms as u8;
        let stolen = match self.ggc {
            GgcLayout::Snb | GgcLayout::Bdw => u64::from(gms) * 32 * MIB,
            GgcLayout::Chv => match gms {
                0..=0x10 => u64::from(gms) * 32 * MIB,
                0x11..=0x16 => u64::from(gms - 0x11) * 4 * MIB + 8 * MIB,
                0x17..=0x1D => u64::from(gms - 0x17) * 4 * MIB + 36 * MIB,
                _ => {
                    return Err(GenError::ReservedGms {
                        platform: self.platform,
                        gms,
                    })
                }
            },
            GgcLayout::Gen9 => match gms {
                0..=0xEF => u64::from(gms) * 32 * MIB,
                0xF0..=0xFE => u64::from(gms - 0xF0 + 1) * 4 * MIB,
                0xFF => {
                    return Err(GenError::ReservedGms {
                        platform: self.platform,
                        gms,
                    })
                }
            },
        };
        let gtt = match self.ggc {
            GgcLayout::Snb => u64::from(ggms) * MIB,
            GgcLayout::Chv | GgcLayout::Bdw | GgcLayout::Gen9 => {
                if ggms == 0 {
                    0
                } else {
                    (1u64 << ggms) * MIB
                }
            }
        };
        Ok(GgcDecode {
            gms,
            ggms: ggms as u8,
            stolen_size: stolen,
            gtt_size: gtt,
        })
    }

    /// Encode a GGC value for the given GMS and GGMS field values (fields only;
    /// the lock and VGA-disable bits are left clear).
    #[must_use]
    pub const fn encode_ggc(&self, gms: u8, ggms: u8) -> u16 {
        match self.ggc {
            GgcLayout::Snb | GgcLayout::Chv => {
                ((gms as u16 & 0x1F) << 3) | ((ggms as u16 & 3) << 8)
            }
            GgcLayout::Bdw | GgcLayout::Gen9 => ((gms as u16) << 8) | ((ggms as u16 & 3) << 6),
        }
    }

    /// The GMS encoding for a stolen size, if the layout can express it.
    #[must_use]
    pub fn gms_for_size(&self, size: u64) -> Option<u8> {
        (0..=255u8).find(|&g| {
            let ggc = self.encode_ggc(g, 0);
            self.decode_ggc(ggc)
                .is_ok_and(|d| d.stolen_size == size && d.gms == g)
        })
    }

    /// The GGMS encoding for a GTT size.
    #[must_use]
    pub fn ggms_for_size(&self, size: u64) -> Option<u8> {
        (0..=3u8).find(|&v| {
            self.decode_ggc(self.encode_ggc(0, v))
                .is_ok_and(|d| d.gtt_size == size)
        })
    }

    /// Number of PTEs a GTT of `gtt_size` bytes holds.
    #[must_use]
    pub const fn pte_count(&self, gtt_size: u64) -> u64 {
        gtt_size / self.pte.size()
    }
}

/// GGC decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct GgcDecode {
    /// Raw GMS field.
    pub gms: u8,
    /// Raw GGMS field.
    pub ggms: u8,
    /// Data stolen memory (DSM) size in bytes.
    pub stolen_size: u64,
    /// GTT stolen memory (GSM) size in bytes.
    pub gtt_size: u64,
}

/// Errors about generations and register encodings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    /// A device ID no table row knows.
    #[error("unknown Intel graphics device ID {0:#06x}: not in igdemu's device table (every gen 6-12 IGD ID Linux i915 knows); choose a device with --gen N (6, 7, 7.5, 8, 9, 11, 12) or a known --device-id")]
    UnknownDeviceId(u16),
    /// A GMS value the platform reserves.
    #[error("GMS value {gms:#04x} is reserved on {platform:?}")]
    ReservedGms {
        /// The platform.
        platform: Platform,
        /// The reserved field value.
        gms: u8,
    },
}

const KIB4: u64 = 4 << 20;
const MIB16: u64 = 16 << 20;

macro_rules! row {
    ($p:ident, $g:ident, $name:literal, $ids:expr, $ggc:ident, $pte:ident, $bdsm:ident, $bar0:expr,
     $iobar:expr, $hi:expr, $flr:ident) => {
        PlatformInfo {
            platform: Platform::$p,
            gen: Gen::$g,
            name: $name,
            device_ids: $ids,
            ggc: GgcLayout::$ggc,
            pte: PteFormat::$pte,
            bdsm: BdsmLocation::$bdsm,
            gttmmadr_size: $bar0,
            iobar_gtt: $iobar,
            bdsm_mirror: true,
            pte_addr_high_bit: $hi,
            flr: FlrCapability::$flr,
        }
    };
}

/// The platform table. The host and LPC bridges that go with each device are
/// in [`crate::machine::chipset`]; every device ID in [`super::devices`].
pub static PLATFORMS: &[PlatformInfo] = &[
    row!(
        SandyBridge,
        Gen6,
        "SNB",
        &[0x0102, 0x0106, 0x010A, 0x0112, 0x0116, 0x0122, 0x0126],
        Snb,
        Snb,
        Config5C,
        KIB4,
        true,
        39,
        AdvancedFeatures
    ),
    row!(
        IvyBridge,
        Gen7,
        "IVB",
        &[0x0152, 0x0156, 0x015A, 0x0162, 0x0166, 0x016A],
        Snb,
        Snb,
        Config5C,
        KIB4,
        true,
        39,
        AdvancedFeatures
    ),
    row!(
        Valleyview,
        Gen7,
        "VLV",
        &[0x0F30, 0x0F31, 0x0F32, 0x0F33],
        Snb,
        Vlv,
        Config5C,
        KIB4,
        true,
        39,
        AdvancedFeatures
    ),
    row!(
        Haswell,
        Gen7_5,
        "HSW",
        &[
            0x0402, 0x0406, 0x040A, 0x0412, 0x0416, 0x041A, 0x0422, 0x0426, 0x0A06, 0x0A16, 0x0A26,
            0x0A2E, 0x0D22, 0x0D26
        ],
        Snb,
        Hsw,
        Config5C,
        KIB4,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        Broadwell,
        Gen8,
        "BDW",
        &[0x1602, 0x1606, 0x160A, 0x1612, 0x1616, 0x161E, 0x1622, 0x1626, 0x162B],
        Bdw,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        Cherryview,
        Gen8,
        "CHV",
        &[0x22B0, 0x22B1, 0x22B2, 0x22B3],
        Chv,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        Skylake,
        Gen9,
        "SKL",
        &[0x1902, 0x1906, 0x1912, 0x1916, 0x191B, 0x191E, 0x1926, 0x1927],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        Broxton,
        Gen9,
        "BXT",
        &[0x0A84, 0x1A84, 0x1A85, 0x5A84, 0x5A85],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        KabyLake,
        Gen9,
        "KBL",
        &[0x5902, 0x5906, 0x5912, 0x5916, 0x591B, 0x591E, 0x5926, 0x87C0],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        GeminiLake,
        Gen9,
        "GLK",
        &[0x3184, 0x3185],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        CoffeeLake,
        Gen9,
        "CFL",
        &[0x3E90, 0x3E91, 0x3E92, 0x3E96, 0x3E98, 0x3E9B, 0x3EA0, 0x3EA5],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        CometLake,
        Gen9,
        "CML",
        &[0x9B21, 0x9B41, 0x9BA4, 0x9BC4, 0x9BC5, 0x9BC8, 0x9BE6],
        Gen9,
        Gen8,
        Config5C,
        MIB16,
        true,
        38,
        AdvancedFeatures
    ),
    row!(
        IceLake,
        Gen11,
        "ICL",
        &[0x8A50, 0x8A51, 0x8A52, 0x8A53, 0x8A56, 0x8A5A, 0x8A5C],
        Gen9,
        Gen8,
        ConfigC0,
        MIB16,
        false,
        38,
        AdvancedFeaturesAndPcie
    ),
    row!(
        ElkhartLake,
        Gen11,
        "EHL",
        &[0x4541, 0x4551, 0x4555, 0x4557, 0x4570, 0x4571],
        Gen9,
        Gen8,
        ConfigC0,
        MIB16,
        false,
        38,
        AdvancedFeaturesAndPcie
    ),
    row!(
        JasperLake,
        Gen11,
        "JSL",
        &[0x4E51, 0x4E55, 0x4E57, 0x4E61, 0x4E71],
        Gen9,
        Gen8,
        ConfigC0,
        MIB16,
        false,
        38,
        AdvancedFeaturesAndPcie
    ),
    row!(
        TigerLake,
        Gen12,
        "TGL",
        &[0x9A40, 0x9A49, 0x9A60, 0x9A68, 0x9A70, 0x9A78],
        Gen9,
        Gen12,
        ConfigC0,
        MIB16,
        false,
        45,
        AdvancedFeaturesAndPcie
    ),
    row!(
        RocketLake,
        Gen12,
        "RKL",
        &[0x4C80, 0x4C8A, 0x4C8B, 0x4C8C, 0x4C90, 0x4C9A],
        Gen9,
        Gen12,
        ConfigC0,
        MIB16,
        false,
        45,
        AdvancedFeaturesAndPcie
    ),
    row!(
        AlderLakeS,
        Gen12,
        "ADL-S",
        &[0x4680, 0x4682, 0x4688, 0x468A, 0x4690, 0x4692, 0x4693],
        Gen9,
        Gen12,
        ConfigC0,
        MIB16,
        false,
        45,
        AdvancedFeaturesAndPcie
    ),
    row!(
        AlderLakeP,
        Gen12,
        "ADL-P",
        &[0x46A0, 0x46A1, 0x46A6, 0x46A8, 0x46AA, 0x4626, 0x4628],
        Gen9,
        Gen12,
        ConfigC0,
        MIB16,
        false,
        45,
        AdvancedFeaturesAndPcie
    ),
    row!(
        RaptorLake,
        Gen12,
        "RPL",
        &[0xA780, 0xA781, 0xA782, 0xA788, 0xA7A0, 0xA7A1, 0xA720],
        Gen9,
        Gen12,
        ConfigC0,
        MIB16,
        false,
        45,
        AdvancedFeaturesAndPcie
    ),
];

/// Look a device ID up in the device table ([`super::devices::DEVICES`]) and
/// return its platform's row.
pub fn lookup(device_id: u16) -> Result<&'static PlatformInfo, GenError> {
    device(device_id).map(|d| info(d.platform))
}

/// The device table row of a device ID.
pub fn device(device_id: u16) -> Result<&'static DeviceInfo, GenError> {
    super::devices::device(device_id).ok_or(GenError::UnknownDeviceId(device_id))
}

/// The table row of a platform.
#[must_use]
// PLATFORMS is a constant, non-empty table: index 0 always exists.
#[allow(clippy::indexing_slicing)]
pub fn info(platform: Platform) -> &'static PlatformInfo {
    // Every Platform variant has exactly one row (checked by a test).
    PLATFORMS
        .iter()
        .find(|p| p.platform == platform)
        .unwrap_or(&PLATFORMS[0])
}

/// The first platform of a generation, with its first device ID: what `--gen N`
/// picks.
#[must_use]
// PLATFORMS is a constant, non-empty table: index 0 always exists.
#[allow(clippy::indexing_slicing)]
pub fn default_for_gen(gen: Gen) -> &'static PlatformInfo {
    PLATFORMS
        .iter()
        .find(|p| p.gen == gen)
        .unwrap_or(&PLATFORMS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pl: Platform) -> &'static PlatformInfo {
        info(pl)
    }

    #[test]
    fn representative_ids_are_in_the_device_table_under_their_platform() {
        for row in PLATFORMS {
            for id in row.device_ids {
                assert_eq!(device(*id).unwrap().platform, row.platform, "{id:#06x}");
            }
        }
        assert_eq!(lookup(0x5917).unwrap().platform, Platform::KabyLake);
        assert_eq!(lookup(0x3E90).unwrap().platform, Platform::CoffeeLake);
        assert_eq!(lookup(0x0A0E).unwrap().platform, Platform::Haswell);
    }

    #[test]
    fn every_platform_has_one_row_and_ids_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for row in PLATFORMS {
            assert_eq!(info(row.platform).platform, row.platform);
            for id in row.device_ids {
                assert!(seen.insert(*id), "device id {id:#06x} listed twice");
            }
        }
        assert_eq!(PLATFORMS.len(), 20);
    }

    #[test]
    fn lookup_by_device_id() {
        assert_eq!(lookup(0x0126).unwrap().platform, Platform::SandyBridge);
        assert_eq!(lookup(0x0166).unwrap().gen, Gen::Gen7);
        assert_eq!(lookup(0x0416).unwrap().gen, Gen::Gen7_5);
        assert_eq!(
            lookup(0x0A84).unwrap().platform,
            Platform::Broxton,
            "not HSW-ULT 0x0Axx"
        );
        assert_eq!(lookup(0x0A16).unwrap().platform, Platform::Haswell);
        assert_eq!(lookup(0x5912).unwrap().gen, Gen::Gen9);
        assert_eq!(lookup(0x8A52).unwrap().bdsm, BdsmLocation::ConfigC0);
        assert_eq!(lookup(0x1234), Err(GenError::UnknownDeviceId(0x1234)));
        assert_eq!(
            lookup(0x7D55),
            Err(GenError::UnknownDeviceId(0x7D55)),
            "MTL has no BDSM"
        );
    }

    /// GGC values and sizes checked against early-quirks.c / intel_ggtt.c formulas.
    #[test]
    fn ggc_decode_snb_layout() {
        // GMS=0x5 (160 MiB), GGMS=2 (2 MiB): a common SNB/IVB setting.
        let d = p(Platform::SandyBridge).decode_ggc(0x0228).unwrap();
        assert_eq!((d.gms, d.ggms), (5, 2));
        assert_eq!(d.stolen_size, 160 * MIB);
        assert_eq!(d.gtt_size, 2 * MIB);
        // GMS=0x2 (64 MiB), GGMS=1 (1 MiB) on IVB.
        let d = p(Platform::IvyBridge).decode_ggc(0x0110).unwrap();
        assert_eq!((d.stolen_size, d.gtt_size), (64 * MIB, MIB));
        // HSW uses the SNB layout too (gen6_stolen_size).
        let d = p(Platform::Haswell).decode_ggc(0x0210).unwrap();
        assert_eq!((d.stolen_size, d.gtt_size), (64 * MIB, 2 * MIB));
    }

    #[test]
    fn ggc_decode_bdw_and_gen9() {
        // BDW GMS=0x01 (32 MiB), GGMS=3 (8 MiB): GGC 0x01C0.
        let d = p(Platform::Broadwell).decode_ggc(0x01C0).unwrap();
        assert_eq!((d.stolen_size, d.gtt_size), (32 * MIB, 8 * MIB));
        // GGMS=0 on gen8+ means no GTT (QEMU 03828b00 fix).
        assert_eq!(
            p(Platform::Broadwell).decode_ggc(0x0100).unwrap().gtt_size,
            0
        );
        // SKL GMS=0x02 (64 MiB), GGMS=3.
        let d = p(Platform::Skylake).decode_ggc(0x02C0).unwrap();
        assert_eq!((d.stolen_size, d.gtt_size), (64 * MIB, 8 * MIB));
        // gen9 4 MiB encodings: 0xF0 = 4 MiB, 0xF1 = 8 MiB, 0xFE = 60 MiB.
        assert_eq!(
            p(Platform::KabyLake)
                .decode_ggc(0xF0C0)
                .unwrap()
                .stolen_size,
            4 * MIB
        );
        assert_eq!(
            p(Platform::KabyLake)
                .decode_ggc(0xF1C0)
                .unwrap()
                .stolen_size,
            8 * MIB
        );
        assert_eq!(
            p(Platform::IceLake).decode_ggc(0xFEC0).unwrap().stolen_size,
            60 * MIB
        );
        assert!(p(Platform::TigerLake).decode_ggc(0xFFC0).is_err());
        // BDW has no 4 MiB encodings: 0xF0 is 0xF0 * 32 MiB.
        assert_eq!(
            p(Platform::Broadwell)
                .decode_ggc(0xF0C0)
                .unwrap()
                .stolen_size,
            0xF0 * 32 * MIB
        );
    }

    #[test]
    fn ggc_decode_chv_uses_snb_positions_and_its_own_table() {
        let chv = p(Platform::Cherryview);
        // GMS 0x11 = 8 MiB, 0x16 = 28 MiB, 0x17 = 36 MiB, 0x1D = 60 MiB.
        assert_eq!(
            chv.decode_ggc(chv.encode_ggc(0x11, 1)).unwrap().stolen_size,
            8 * MIB
        );
        assert_eq!(
            chv.decode_ggc(chv.encode_ggc(0x16, 1)).unwrap().stolen_size,
            28 * MIB
        );
        assert_eq!(
            chv.decode_ggc(chv.encode_ggc(0x17, 1)).unwrap().stolen_size,
            36 * MIB
        );
        assert_eq!(
            chv.decode_ggc(chv.encode_ggc(0x1D, 3)).unwrap().stolen_size,
            60 * MIB
        );
        // GGMS in bits 9:8, 1 << (20 + v).
        assert_eq!(
            chv.decode_ggc(chv.encode_ggc(0x2, 3)).unwrap().gtt_size,
            8 * MIB
        );
        assert!(chv.decode_ggc(chv.encode_ggc(0x1E, 1)).is_err());
    }

    #[test]
    fn size_inverses() {
        for row in PLATFORMS {
            let gms = row.gms_for_size(64 * MIB).unwrap();
            assert_eq!(
                row.decode_ggc(row.encode_ggc(gms, 0)).unwrap().stolen_size,
                64 * MIB
            );
            let ggms = row.ggms_for_size(2 * MIB).unwrap();
            assert_eq!(
                row.decode_ggc(row.encode_ggc(0, ggms)).unwrap().gtt_size,
                2 * MIB
            );
        }
        assert_eq!(p(Platform::Skylake).gms_for_size(4 * MIB), Some(0xF0));
        assert_eq!(p(Platform::Broadwell).gms_for_size(4 * MIB), None);
    }

    #[test]
    fn bar0_layout() {
        assert_eq!(p(Platform::IvyBridge).gtt_offset_in_bar0(), 2 << 20);
        assert_eq!(p(Platform::Skylake).gtt_offset_in_bar0(), 8 << 20);
        assert_eq!(p(Platform::Haswell).pte.size(), 4);
        assert_eq!(p(Platform::Broadwell).pte.size(), 8);
        assert_eq!(p(Platform::Broadwell).pte_count(8 * MIB), 1 << 20);
    }

    #[test]
    fn gen_parse_and_numbers() {
        assert_eq!(Gen::parse("7.5"), Some(Gen::Gen7_5));
        assert_eq!(Gen::parse("gen12"), Some(Gen::Gen12));
        assert_eq!(Gen::parse("10"), None);
        assert_eq!(Gen::Gen7_5.number(), 7);
        assert_eq!(default_for_gen(Gen::Gen9).platform, Platform::Skylake);
    }
}
