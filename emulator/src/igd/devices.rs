//! Every IGD PCI device ID Linux's i915 driver knows for generations 6 to 9,
//! 11 and 12, with its platform, GT tier and market segment.
//!
//! Source: Linux `include/drm/intel/pciids.h` (the `INTEL_*_IDS` macros: the
//! macro a device sits in gives its platform, GT tier and ULT/ULX grouping; the
//! comments name desktop/mobile/server/halo/workstation). i915 files Whiskey
//! Lake and Amber Lake (CFL) under Coffee Lake, Amber Lake (KBL) under Kaby
//! Lake, Alder Lake-N under Alder Lake-P, and Raptor Lake-U/-P next to
//! Raptor Lake-S; so does this table. GT1.5 parts sit in the GT1 macros and
//! GT2F parts in the GT2 macros, as in i915.

use serde::Serialize;

use super::generation::Platform;

/// The market segment of a device, as pciids.h groups and comments it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum Segment {
    /// Desktop ("DT", S-series).
    Desktop,
    /// Mobile (M, mainstream mobile).
    Mobile,
    /// Halo (H-series, high-end mobile).
    Halo,
    /// Server ("SRV").
    Server,
    /// Workstation ("WKS").
    Workstation,
    /// ULT (U-series: processor and low-power PCH on one package).
    Ult,
    /// ULX (Y-series: processor and low-power PCH on one package).
    Ulx,
    /// pciids.h names no segment (reserved IDs, SoCs, later platforms).
    Unspecified,
}

impl Segment {
    /// Whether the processor pairs with the on-package low-power PCH (LP PCH):
    /// i915's `IS_HASWELL_ULT`/`IS_BROADWELL_ULT` and the `*_ULT_*`/`*_ULX_*`
    /// macro groups.
    #[must_use]
    pub const fn low_power_pch(self) -> bool {
        matches!(self, Segment::Ult | Segment::Ulx)
    }

    /// Short name for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Segment::Desktop => "desktop",
            Segment::Mobile => "mobile",
            Segment::Halo => "halo",
            Segment::Server => "server",
            Segment::Workstation => "workstation",
            Segment::Ult => "ULT",
            Segment::Ulx => "ULX",
            Segment::Unspecified => "",
        }
    }
}

/// One IGD PCI device ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct DeviceInfo {
    /// PCI device ID (vendor 0x8086).
    pub id: u16,
    /// Platform (code name).
    pub platform: Platform,
    /// GT tier (1..=4) where pciids.h groups the platform's IDs by GT.
    pub gt: Option<u8>,
    /// Market segment.
    pub segment: Segment,
}

impl DeviceInfo {
    /// "GT2 ULT", "GT1 desktop", "" for a device with neither.
    #[must_use]
    pub fn variant(&self) -> String {
        let gt = self.gt.map(|g| format!("GT{g}"));
        let seg = Some(self.segment.name()).filter(|s| !s.is_empty());
        [gt.as_deref(), seg]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

const fn d(id: u16, platform: Platform, gt: Option<u8>, segment: Segment) -> DeviceInfo {
    DeviceInfo {
        id,
        platform,
        gt,
        segment,
    }
}

use Platform::*;
use Segment::*;

/// The device table, in pciids.h order.
pub static DEVICES: &[DeviceInfo] = &[
    d(0x0102, SandyBridge, Some(1), Desktop),
    d(0x010A, SandyBridge, Some(1), Server),
    d(0x0112, SandyBridge, Some(2), Desktop),
    d(0x0122, SandyBridge, Some(2), Desktop),
    d(0x0106, SandyBridge, Some(1), Mobile),
    d(0x0116, SandyBridge, Some(2), Mobile),
    d(0x0126, SandyBridge, Some(2), Mobile),
    d(0x0156, IvyBridge, Some(1), Mobile),
    d(0x0166, IvyBridge, Some(2), Mobile),
    d(0x0152, IvyBridge, Some(1), Desktop),
    d(0x015A, IvyBridge, Some(1), Server),
    d(0x0162, IvyBridge, Some(2), Desktop),
    d(0x016A, IvyBridge, Some(2), Server),
    d(0x0A02, Haswell, Some(1), Ult),
    d(0x0A06, Haswell, Some(1), Ult),
    d(0x0A0A, Haswell, Some(1), Ult),
    d(0x0A0B, Haswell, Some(1), Ult),
    d(0x0A0E, Haswell, Some(1), Ulx),
    d(0x0402, Haswell, Some(1), Desktop),
    d(0x0406, Haswell, Some(1), Mobile),
    d(0x040A, Haswell, Some(1), Server),
    d(0x040B, Haswell, Some(1), Unspecified),
    d(0x040E, Haswell, Some(1), Unspecified),
    d(0x0C02, Haswell, Some(1), Desktop),
    d(0x0C06, Haswell, Some(1), Mobile),
    d(0x0C0A, Haswell, Some(1), Server),
    d(0x0C0B, Haswell, Some(1), Unspecified),
    d(0x0C0E, Haswell, Some(1), Unspecified),
    d(0x0D02, Haswell, Some(1), Desktop),
    d(0x0D06, Haswell, Some(1), Mobile),
    d(0x0D0A, Haswell, Some(1), Server),
    d(0x0D0B, Haswell, Some(1), Unspecified),
    d(0x0D0E, Haswell, Some(1), Unspecified),
    d(0x0A12, Haswell, Some(2), Ult),
    d(0x0A16, Haswell, Some(2), Ult),
    d(0x0A1A, Haswell, Some(2), Ult),
    d(0x0A1B, Haswell, Some(2), Ult),
    d(0x0A1E, Haswell, Some(2), Ulx),
    d(0x0412, Haswell, Some(2), Desktop),
    d(0x0416, Haswell, Some(2), Mobile),
    d(0x041A, Haswell, Some(2), Server),
    d(0x041B, Haswell, Some(2), Unspecified),
    d(0x041E, Haswell, Some(2), Unspecified),
    d(0x0C12, Haswell, Some(2), Desktop),
    d(0x0C16, Haswell, Some(2), Mobile),
    d(0x0C1A, Haswell, Some(2), Server),
    d(0x0C1B, Haswell, Some(2), Unspecified),
    d(0x0C1E, Haswell, Some(2), Unspecified),
    d(0x0D12, Haswell, Some(2), Desktop),
    d(0x0D16, Haswell, Some(2), Mobile),
    d(0x0D1A, Haswell, Some(2), Server),
    d(0x0D1B, Haswell, Some(2), Unspecified),
    d(0x0D1E, Haswell, Some(2), Unspecified),
    d(0x0A22, Haswell, Some(3), Ult),
    d(0x0A26, Haswell, Some(3), Ult),
    d(0x0A2A, Haswell, Some(3), Ult),
    d(0x0A2B, Haswell, Some(3), Ult),
    d(0x0A2E, Haswell, Some(3), Ult),
    d(0x0422, Haswell, Some(3), Desktop),
    d(0x0426, Haswell, Some(3), Mobile),
    d(0x042A, Haswell, Some(3), Server),
    d(0x042B, Haswell, Some(3), Unspecified),
    d(0x042E, Haswell, Some(3), Unspecified),
    d(0x0C22, Haswell, Some(3), Desktop),
    d(0x0C26, Haswell, Some(3), Mobile),
    d(0x0C2A, Haswell, Some(3), Server),
    d(0x0C2B, Haswell, Some(3), Unspecified),
    d(0x0C2E, Haswell, Some(3), Unspecified),
    d(0x0D22, Haswell, Some(3), Desktop),
    d(0x0D26, Haswell, Some(3), Mobile),
    d(0x0D2A, Haswell, Some(3), Server),
    d(0x0D2B, Haswell, Some(3), Unspecified),
    d(0x0D2E, Haswell, Some(3), Unspecified),
    d(0x0F30, Valleyview, None, Unspecified),
    d(0x0F31, Valleyview, None, Unspecified),
    d(0x0F32, Valleyview, None, Unspecified),
    d(0x0F33, Valleyview, None, Unspecified),
    d(0x1606, Broadwell, Some(1), Ult),
    d(0x160B, Broadwell, Some(1), Ult),
    d(0x160E, Broadwell, Some(1), Ulx),
    d(0x1602, Broadwell, Some(1), Unspecified),
    d(0x160A, Broadwell, Some(1), Server),
    d(0x160D, Broadwell, Some(1), Workstation),
    d(0x1616, Broadwell, Some(2), Ult),
    d(0x161B, Broadwell, Some(2), Ult),
    d(0x161E, Broadwell, Some(2), Ulx),
    d(0x1612, Broadwell, Some(2), Halo),
    d(0x161A, Broadwell, Some(2), Server),
    d(0x161D, Broadwell, Some(2), Workstation),
    d(0x1626, Broadwell, Some(3), Ult),
    d(0x162B, Broadwell, Some(3), Ult),
    d(0x162E, Broadwell, Some(3), Ulx),
    d(0x1622, Broadwell, Some(3), Halo),
    d(0x162A, Broadwell, Some(3), Server),
    d(0x162D, Broadwell, Some(3), Workstation),
    d(0x1636, Broadwell, None, Ult),
    d(0x163B, Broadwell, None, Ult),
    d(0x163E, Broadwell, None, Ulx),
    d(0x1632, Broadwell, None, Unspecified),
    d(0x163A, Broadwell, None, Server),
    d(0x163D, Broadwell, None, Workstation),
    d(0x22B0, Cherryview, None, Unspecified),
    d(0x22B1, Cherryview, None, Unspecified),
    d(0x22B2, Cherryview, None, Unspecified),
    d(0x22B3, Cherryview, None, Unspecified),
    d(0x1906, Skylake, Some(1), Ult),
    d(0x1913, Skylake, Some(1), Ult),
    d(0x190E, Skylake, Some(1), Ulx),
    d(0x1915, Skylake, Some(1), Ulx),
    d(0x1902, Skylake, Some(1), Desktop),
    d(0x190A, Skylake, Some(1), Server),
    d(0x190B, Skylake, Some(1), Halo),
    d(0x1917, Skylake, Some(1), Desktop),
    d(0x1916, Skylake, Some(2), Ult),
    d(0x1921, Skylake, Some(2), Ult),
    d(0x191E, Skylake, Some(2), Ulx),
    d(0x1912, Skylake, Some(2), Desktop),
    d(0x191A, Skylake, Some(2), Server),
    d(0x191B, Skylake, Some(2), Halo),
    d(0x191D, Skylake, Some(2), Workstation),
    d(0x1923, Skylake, Some(3), Ult),
    d(0x1926, Skylake, Some(3), Ult),
    d(0x1927, Skylake, Some(3), Ult),
    d(0x192A, Skylake, Some(3), Server),
    d(0x192B, Skylake, Some(3), Halo),
    d(0x192D, Skylake, Some(3), Server),
    d(0x1932, Skylake, Some(4), Desktop),
    d(0x193A, Skylake, Some(4), Server),
    d(0x193B, Skylake, Some(4), Halo),
    d(0x193D, Skylake, Some(4), Workstation),
    d(0x0A84, Broxton, None, Unspecified),
    d(0x1A84, Broxton, None, Unspecified),
    d(0x1A85, Broxton, None, Unspecified),
    d(0x5A84, Broxton, None, Unspecified),
    d(0x5A85, Broxton, None, Unspecified),
    d(0x3184, GeminiLake, None, Unspecified),
    d(0x3185, GeminiLake, None, Unspecified),
    d(0x5906, KabyLake, Some(1), Ult),
    d(0x5913, KabyLake, Some(1), Ult),
    d(0x590E, KabyLake, Some(1), Ulx),
    d(0x5915, KabyLake, Some(1), Ulx),
    d(0x5902, KabyLake, Some(1), Desktop),
    d(0x5908, KabyLake, Some(1), Halo),
    d(0x590A, KabyLake, Some(1), Server),
    d(0x590B, KabyLake, Some(1), Halo),
    d(0x5916, KabyLake, Some(2), Ult),
    d(0x5921, KabyLake, Some(2), Ult),
    d(0x591E, KabyLake, Some(2), Ulx),
    d(0x5912, KabyLake, Some(2), Desktop),
    d(0x5917, KabyLake, Some(2), Mobile),
    d(0x591A, KabyLake, Some(2), Server),
    d(0x591B, KabyLake, Some(2), Halo),
    d(0x591D, KabyLake, Some(2), Workstation),
    d(0x5926, KabyLake, Some(3), Ult),
    d(0x5923, KabyLake, Some(3), Ult),
    d(0x5927, KabyLake, Some(3), Ult),
    d(0x593B, KabyLake, Some(4), Halo),
    d(0x591C, KabyLake, Some(2), Ulx),
    d(0x87C0, KabyLake, Some(2), Ulx),
    d(0x3E90, CoffeeLake, Some(1), Desktop),
    d(0x3E93, CoffeeLake, Some(1), Desktop),
    d(0x3E99, CoffeeLake, Some(1), Desktop),
    d(0x3E91, CoffeeLake, Some(2), Desktop),
    d(0x3E92, CoffeeLake, Some(2), Desktop),
    d(0x3E96, CoffeeLake, Some(2), Desktop),
    d(0x3E98, CoffeeLake, Some(2), Desktop),
    d(0x3E9A, CoffeeLake, Some(2), Desktop),
    d(0x3E9C, CoffeeLake, Some(1), Halo),
    d(0x3E94, CoffeeLake, Some(2), Halo),
    d(0x3E9B, CoffeeLake, Some(2), Halo),
    d(0x3EA9, CoffeeLake, Some(2), Ult),
    d(0x3EA5, CoffeeLake, Some(3), Ult),
    d(0x3EA6, CoffeeLake, Some(3), Ult),
    d(0x3EA7, CoffeeLake, Some(3), Ult),
    d(0x3EA8, CoffeeLake, Some(3), Ult),
    d(0x87CA, CoffeeLake, Some(2), Ulx),
    d(0x3EA1, CoffeeLake, Some(1), Ult),
    d(0x3EA4, CoffeeLake, Some(1), Ult),
    d(0x3EA0, CoffeeLake, Some(2), Ult),
    d(0x3EA3, CoffeeLake, Some(2), Ult),
    d(0x3EA2, CoffeeLake, Some(3), Ult),
    d(0x9BA2, CometLake, Some(1), Unspecified),
    d(0x9BA4, CometLake, Some(1), Unspecified),
    d(0x9BA5, CometLake, Some(1), Unspecified),
    d(0x9BA8, CometLake, Some(1), Unspecified),
    d(0x9B21, CometLake, Some(1), Ult),
    d(0x9BAA, CometLake, Some(1), Ult),
    d(0x9BAC, CometLake, Some(1), Ult),
    d(0x9BC2, CometLake, Some(2), Unspecified),
    d(0x9BC4, CometLake, Some(2), Unspecified),
    d(0x9BC5, CometLake, Some(2), Unspecified),
    d(0x9BC6, CometLake, Some(2), Unspecified),
    d(0x9BC8, CometLake, Some(2), Unspecified),
    d(0x9BE6, CometLake, Some(2), Unspecified),
    d(0x9BF6, CometLake, Some(2), Unspecified),
    d(0x9B41, CometLake, Some(2), Ult),
    d(0x9BCA, CometLake, Some(2), Ult),
    d(0x9BCC, CometLake, Some(2), Ult),
    d(0x8A50, IceLake, None, Unspecified),
    d(0x8A52, IceLake, None, Unspecified),
    d(0x8A53, IceLake, None, Unspecified),
    d(0x8A54, IceLake, None, Unspecified),
    d(0x8A56, IceLake, None, Unspecified),
    d(0x8A57, IceLake, None, Unspecified),
    d(0x8A58, IceLake, None, Unspecified),
    d(0x8A59, IceLake, None, Unspecified),
    d(0x8A5A, IceLake, None, Unspecified),
    d(0x8A5B, IceLake, None, Unspecified),
    d(0x8A5C, IceLake, None, Unspecified),
    d(0x8A70, IceLake, None, Unspecified),
    d(0x8A71, IceLake, None, Unspecified),
    d(0x8A51, IceLake, None, Unspecified),
    d(0x8A5D, IceLake, None, Unspecified),
    d(0x4541, ElkhartLake, None, Unspecified),
    d(0x4551, ElkhartLake, None, Unspecified),
    d(0x4555, ElkhartLake, None, Unspecified),
    d(0x4557, ElkhartLake, None, Unspecified),
    d(0x4570, ElkhartLake, None, Unspecified),
    d(0x4571, ElkhartLake, None, Unspecified),
    d(0x4E51, JasperLake, None, Unspecified),
    d(0x4E55, JasperLake, None, Unspecified),
    d(0x4E57, JasperLake, None, Unspecified),
    d(0x4E61, JasperLake, None, Unspecified),
    d(0x4E71, JasperLake, None, Unspecified),
    d(0x9A60, TigerLake, Some(1), Unspecified),
    d(0x9A68, TigerLake, Some(1), Unspecified),
    d(0x9A70, TigerLake, Some(1), Unspecified),
    d(0x9A40, TigerLake, Some(2), Unspecified),
    d(0x9A49, TigerLake, Some(2), Unspecified),
    d(0x9A59, TigerLake, Some(2), Unspecified),
    d(0x9A78, TigerLake, Some(2), Unspecified),
    d(0x9AC0, TigerLake, Some(2), Unspecified),
    d(0x9AC9, TigerLake, Some(2), Unspecified),
    d(0x9AD9, TigerLake, Some(2), Unspecified),
    d(0x9AF8, TigerLake, Some(2), Unspecified),
    d(0x4C80, RocketLake, None, Unspecified),
    d(0x4C8A, RocketLake, None, Unspecified),
    d(0x4C8B, RocketLake, None, Unspecified),
    d(0x4C8C, RocketLake, None, Unspecified),
    d(0x4C90, RocketLake, None, Unspecified),
    d(0x4C9A, RocketLake, None, Unspecified),
    d(0x4680, AlderLakeS, None, Desktop),
    d(0x4682, AlderLakeS, None, Desktop),
    d(0x4688, AlderLakeS, None, Desktop),
    d(0x468A, AlderLakeS, None, Desktop),
    d(0x468B, AlderLakeS, None, Desktop),
    d(0x4690, AlderLakeS, None, Desktop),
    d(0x4692, AlderLakeS, None, Desktop),
    d(0x4693, AlderLakeS, None, Desktop),
    d(0x46A0, AlderLakeP, None, Unspecified),
    d(0x46A1, AlderLakeP, None, Unspecified),
    d(0x46A2, AlderLakeP, None, Unspecified),
    d(0x46A3, AlderLakeP, None, Unspecified),
    d(0x46A6, AlderLakeP, None, Unspecified),
    d(0x46A8, AlderLakeP, None, Unspecified),
    d(0x46AA, AlderLakeP, None, Unspecified),
    d(0x462A, AlderLakeP, None, Unspecified),
    d(0x4626, AlderLakeP, None, Unspecified),
    d(0x4628, AlderLakeP, None, Unspecified),
    d(0x46B0, AlderLakeP, None, Unspecified),
    d(0x46B1, AlderLakeP, None, Unspecified),
    d(0x46B2, AlderLakeP, None, Unspecified),
    d(0x46B3, AlderLakeP, None, Unspecified),
    d(0x46C0, AlderLakeP, None, Unspecified),
    d(0x46C1, AlderLakeP, None, Unspecified),
    d(0x46C2, AlderLakeP, None, Unspecified),
    d(0x46C3, AlderLakeP, None, Unspecified),
    d(0x46D0, AlderLakeP, None, Unspecified),
    d(0x46D1, AlderLakeP, None, Unspecified),
    d(0x46D2, AlderLakeP, None, Unspecified),
    d(0x46D3, AlderLakeP, None, Unspecified),
    d(0x46D4, AlderLakeP, None, Unspecified),
    d(0xA780, RaptorLake, None, Desktop),
    d(0xA781, RaptorLake, None, Desktop),
    d(0xA782, RaptorLake, None, Desktop),
    d(0xA783, RaptorLake, None, Desktop),
    d(0xA788, RaptorLake, None, Desktop),
    d(0xA789, RaptorLake, None, Desktop),
    d(0xA78A, RaptorLake, None, Desktop),
    d(0xA78B, RaptorLake, None, Desktop),
    d(0xA721, RaptorLake, None, Ult),
    d(0xA7A1, RaptorLake, None, Ult),
    d(0xA7A9, RaptorLake, None, Ult),
    d(0xA7AC, RaptorLake, None, Ult),
    d(0xA7AD, RaptorLake, None, Ult),
    d(0xA720, RaptorLake, None, Unspecified),
    d(0xA7A0, RaptorLake, None, Unspecified),
    d(0xA7A8, RaptorLake, None, Unspecified),
    d(0xA7AA, RaptorLake, None, Unspecified),
    d(0xA7AB, RaptorLake, None, Unspecified),
];

/// The table row of a device ID.
#[must_use]
pub fn device(id: u16) -> Option<&'static DeviceInfo> {
    DEVICES.iter().find(|d| d.id == id)
}

/// Every device ID of a platform, in table order.
pub fn ids_of(platform: Platform) -> impl Iterator<Item = u16> {
    DEVICES
        .iter()
        .filter(move |d| d.platform == platform)
        .map(|d| d.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_counted_per_platform() {
        let mut seen = std::collections::HashSet::new();
        for d in DEVICES {
            assert!(seen.insert(d.id), "{:#06x} listed twice", d.id);
        }
        let count = |p| ids_of(p).count();
        assert_eq!(count(SandyBridge), 7);
        assert_eq!(count(IvyBridge), 6);
        assert_eq!(count(Haswell), 60);
        assert_eq!(count(Valleyview), 4);
        assert_eq!(count(Broadwell), 24);
        assert_eq!(count(Cherryview), 4);
        assert_eq!(count(Skylake), 25);
        assert_eq!(count(Broxton), 5);
        assert_eq!(count(GeminiLake), 2);
        assert_eq!(count(KabyLake), 22);
        assert_eq!(count(CoffeeLake), 22);
        assert_eq!(count(CometLake), 17);
        assert_eq!(DEVICES.len(), 290);
    }

    #[test]
    fn devices_the_issue_names() {
        // KBL-R 0x5917 ("Mobile GT2" in pciids.h).
        let kblr = device(0x5917).unwrap();
        assert_eq!(
            (kblr.platform, kblr.gt, kblr.segment),
            (KabyLake, Some(2), Mobile)
        );
        // Amber Lake: 0x87C0 under KBL, 0x87CA under CFL, both ULX GT2.
        assert_eq!(device(0x87C0).unwrap().platform, KabyLake);
        assert_eq!(device(0x87CA).unwrap().platform, CoffeeLake);
        assert_eq!(device(0x87CA).unwrap().segment, Ulx);
        // Whiskey Lake under CFL.
        assert_eq!(device(0x3EA0).unwrap().variant(), "GT2 ULT");
        // The CFL image's first listed ID.
        assert_eq!(device(0x3E90).unwrap().variant(), "GT1 desktop");
        // HSW ULT vs BXT in the 0x0Axx range.
        assert_eq!(device(0x0A16).unwrap().segment, Ult);
        assert_eq!(device(0x0A84).unwrap().platform, Broxton);
        // HSW Crystal Well GT3 mobile.
        assert_eq!(device(0x0D26).unwrap().variant(), "GT3 mobile");
        assert_eq!(device(0x0406).unwrap().variant(), "GT1 mobile");
        // ADL-N under ADL-P.
        assert_eq!(device(0x46D0).unwrap().platform, AlderLakeP);
        // Not IGDs of these generations: CNL (gen10), MTL, DG2.
        for id in [0x5A40, 0x7D55, 0x56A0, 0x0176, 0x0090] {
            assert_eq!(device(id), None, "{id:#06x}");
        }
    }

    #[test]
    fn low_power_pch_follows_ult_ulx() {
        assert!(device(0x0A16).unwrap().segment.low_power_pch());
        assert!(device(0x161E).unwrap().segment.low_power_pch());
        assert!(!device(0x0416).unwrap().segment.low_power_pch());
        assert!(!device(0x1612).unwrap().segment.low_power_pch());
    }
}
