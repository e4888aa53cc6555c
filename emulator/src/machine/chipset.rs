//! The chipset around the IGD: the host bridge at 00:00.0 and the LPC (or
//! eSPI) bridge at 00:1F.0, with the device IDs and revisions a real board
//! that carries the IGD would show. A vBIOS reads the LPC device ID to learn
//! which PCH (and so which south display engine) it drives, the way i915's
//! `intel_detect_pch()` does: `device & 0xFF80` names the PCH type.
//!
//! Sources:
//! - PCH types: Linux `drivers/gpu/drm/i915/soc/intel_pch.h`
//!   (`INTEL_PCH_*_DEVICE_ID_TYPE`, `INTEL_PCH_DEVICE_ID_MASK`) and
//!   `intel_pch.c` (which PCH pairs with which platform; HSW/BDW ULT with the
//!   LP PCH).
//! - LPC device IDs: coreboot `src/include/device/pci_ids.h`
//!   (`PCI_DID_INTEL_6_SERIES_*`, `7_SERIES_*`, `LPT_*`, `SPT_*`, `UPT_*`,
//!   `CNP_*`, `CMP_*`, `APL_LPC`, `GLK_LPC`), coreboot
//!   `southbridge/intel/wildcatpoint/include/soc/pch.h` (`PCH_WPT_BDW_*`),
//!   `soc/intel/baytrail` and `soc/intel/braswell` `pci_devs.h` (`SOC_DEVID`,
//!   `LPC_DEVID`).
//! - Host bridge IDs: Linux `drivers/char/agp/intel-agp.h`
//!   (`SANDYBRIDGE_*_HB`, `IVYBRIDGE_*_HB`), coreboot
//!   `northbridge/intel/haswell/northbridge.c` (`mc_pci_device_ids`),
//!   `northbridge/intel/broadwell/include/soc/systemagent.h`
//!   (`MCH_BROADWELL_ID_U_Y`) and `pci_ids.h` ("Intel Northbridge Ids":
//!   `SKL_ID_*`, `KBL_ID_*`, `CFL_ID_*`, `WHL_ID_*`, `CML_*`, `APL_NB`,
//!   `GLK_NB`).
//! - Revisions: coreboot's stepping constants where it has them
//!   (`bd82x6x/pch.h` `PCH_STEP_B3` = 5, `lynxpoint/pch.h` `LPT_H_STEP_C2` = 5
//!   and `LPT_LP_STEP_B2` = 4, `MCH_BROADWELL_REV_F0` = 9, Bay Trail
//!   `RID_D_STEPPING_START` = 0x11, Braswell `RID_C_STEPPING_START` = 0x21);
//!   otherwise the production stepping lspci reports (SNB/IVB host D2/E1 = 9,
//!   HSW host C0 = 6, SPT-LP C1 = 0x21, SPT-H D1 = 0x31), else 0.
//!   Gen11/12 pairs are typical parts of each platform.

use serde::Serialize;

use crate::igd::devices::{DeviceInfo, Segment};
use crate::igd::generation::Platform;

/// A PCH family as i915 tells them apart (`INTEL_PCH_*_DEVICE_ID_TYPE`), or
/// none for SoCs whose display engine has no PCH half.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum Pch {
    /// Cougar Point (6 series), SNB.
    CougarPoint,
    /// Panther Point (7 series), IVB.
    PantherPoint,
    /// Lynx Point-H (8 series), HSW.
    LynxPoint,
    /// Lynx Point-LP, on-package with HSW ULT/ULX.
    LynxPointLp,
    /// Wildcat Point-H (9 series), HSW/BDW desktop.
    WildcatPoint,
    /// Wildcat Point-LP, on-package with BDW ULT/ULX.
    WildcatPointLp,
    /// Sunrise Point-H (100 series), SKL.
    SunrisePoint,
    /// Sunrise Point-LP, on-package with SKL/KBL ULT/ULX.
    SunrisePointLp,
    /// Kaby Point / Union Point-H (200 series), KBL desktop.
    KabyPoint,
    /// Cannon Point-H (300 series), CFL.
    CannonPoint,
    /// Cannon Point-LP, on-package with CFL-U/WHL.
    CannonPointLp,
    /// Comet Point-LP, CML-U.
    CometPointLp,
    /// Comet Point-H (400 series), CML-S/H.
    CometPointH,
    /// Ice Point-LP, ICL.
    IcePoint,
    /// Mule Creek Canyon, EHL.
    MuleCreekCanyon,
    /// Jasper Point, JSL.
    JasperPoint,
    /// Tiger Point-LP, TGL.
    TigerPoint,
    /// Tiger Point-H (500 series), RKL.
    TigerPointH,
    /// Alder Point-S (600 series desktop), ADL-S.
    AlderPointS,
    /// Alder Point-P, ADL-P/RPL-P.
    AlderPointP,
    /// No PCH: the SoC holds the whole display engine (VLV, CHV, BXT, GLK).
    None,
}

impl Pch {
    /// i915's `INTEL_PCH_*_DEVICE_ID_TYPE`: the LPC device ID masked with
    /// `INTEL_PCH_DEVICE_ID_MASK` (0xFF80); `None` for SoCs.
    #[must_use]
    pub const fn id_type(self) -> Option<u16> {
        Some(match self {
            Pch::CougarPoint => 0x1C00,
            Pch::PantherPoint => 0x1E00,
            Pch::LynxPoint => 0x8C00,
            Pch::LynxPointLp => 0x9C00,
            Pch::WildcatPoint => 0x8C80,
            Pch::WildcatPointLp => 0x9C80,
            Pch::SunrisePoint => 0xA100,
            Pch::SunrisePointLp => 0x9D00,
            Pch::KabyPoint => 0xA280,
            Pch::CannonPoint => 0xA300,
            Pch::CannonPointLp => 0x9D80,
            Pch::CometPointLp => 0x0280,
            Pch::CometPointH => 0x0680,
            Pch::IcePoint => 0x3480,
            Pch::MuleCreekCanyon => 0x4B00,
            Pch::JasperPoint => 0x4D80,
            Pch::TigerPoint => 0xA080,
            Pch::TigerPointH => 0x4380,
            Pch::AlderPointS => 0x7A80,
            Pch::AlderPointP => 0x5180,
            Pch::None => return None,
        })
    }

    /// Short name (i915's).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Pch::CougarPoint => "CPT",
            Pch::PantherPoint => "PPT",
            Pch::LynxPoint => "LPT",
            Pch::LynxPointLp => "LPT-LP",
            Pch::WildcatPoint => "WPT",
            Pch::WildcatPointLp => "WPT-LP",
            Pch::SunrisePoint => "SPT",
            Pch::SunrisePointLp => "SPT-LP",
            Pch::KabyPoint => "KBP",
            Pch::CannonPoint => "CNP",
            Pch::CannonPointLp => "CNP-LP",
            Pch::CometPointLp => "CMP-LP",
            Pch::CometPointH => "CMP-H",
            Pch::IcePoint => "ICP",
            Pch::MuleCreekCanyon => "MCC",
            Pch::JasperPoint => "JSP",
            Pch::TigerPoint => "TGP",
            Pch::TigerPointH => "TGP-H",
            Pch::AlderPointS => "ADP-S",
            Pch::AlderPointP => "ADP-P",
            Pch::None => "SoC",
        }
    }
}

/// The host bridge and LPC bridge a board with this IGD carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Chipset {
    /// Host bridge (00:00.0) device ID and revision.
    pub host_bridge: (u16, u8),
    /// LPC/eSPI bridge (00:1F.0) device ID and revision.
    pub lpc_bridge: (u16, u8),
    /// The PCH family the LPC device ID names.
    pub pch: Pch,
}

/// Which devices of a platform a row covers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fits {
    /// ULX parts (Y-series).
    Ulx,
    /// ULT and ULX parts (on-package LP PCH).
    LowPower,
    /// Mobile and halo parts.
    Mobile,
    /// Server and workstation parts.
    Server,
    /// Every other part of the platform.
    Any,
}

impl Fits {
    fn covers(self, s: Segment) -> bool {
        match self {
            Fits::Ulx => s == Segment::Ulx,
            Fits::LowPower => s.low_power_pch(),
            Fits::Mobile => matches!(s, Segment::Mobile | Segment::Halo),
            Fits::Server => matches!(s, Segment::Server | Segment::Workstation),
            Fits::Any => true,
        }
    }
}

struct Row {
    platform: Platform,
    fits: Fits,
    chipset: Chipset,
}

const fn row(platform: Platform, fits: Fits, host: (u16, u8), lpc: (u16, u8), pch: Pch) -> Row {
    Row {
        platform,
        fits,
        chipset: Chipset {
            host_bridge: host,
            lpc_bridge: lpc,
            pch,
        },
    }
}

use Platform as P;

/// Rows in priority order: the first row of the platform that fits the
/// device's segment wins; every platform ends with a `Fits::Any` row.
static ROWS: &[Row] = &[
    // SNB: SANDYBRIDGE_M_HB / _S_HB / _HB; CPT HM65 / Q67 / H67, stepping B3.
    row(
        P::SandyBridge,
        Fits::Mobile,
        (0x0104, 0x09),
        (0x1C49, 0x05),
        Pch::CougarPoint,
    ),
    row(
        P::SandyBridge,
        Fits::Server,
        (0x0108, 0x09),
        (0x1C4E, 0x05),
        Pch::CougarPoint,
    ),
    row(
        P::SandyBridge,
        Fits::Any,
        (0x0100, 0x09),
        (0x1C4A, 0x05),
        Pch::CougarPoint,
    ),
    // IVB: IVYBRIDGE_M_HB / _S_HB / _HB; PPT QM77 / Z77.
    row(
        P::IvyBridge,
        Fits::Mobile,
        (0x0154, 0x09),
        (0x1E55, 0x04),
        Pch::PantherPoint,
    ),
    row(
        P::IvyBridge,
        Fits::Server,
        (0x0158, 0x09),
        (0x1E44, 0x04),
        Pch::PantherPoint,
    ),
    row(
        P::IvyBridge,
        Fits::Any,
        (0x0150, 0x09),
        (0x1E44, 0x04),
        Pch::PantherPoint,
    ),
    // HSW: ULT 0x0A04 with LPT-LP Premium (B2); mobile 0x0C04 with QM87, server
    // 0x0C08 with C226, desktop 0x0C00 with Z87 (LPT-H C2).
    row(
        P::Haswell,
        Fits::LowPower,
        (0x0A04, 0x09),
        (0x9C43, 0x04),
        Pch::LynxPointLp,
    ),
    row(
        P::Haswell,
        Fits::Mobile,
        (0x0C04, 0x06),
        (0x8C4F, 0x05),
        Pch::LynxPoint,
    ),
    row(
        P::Haswell,
        Fits::Server,
        (0x0C08, 0x06),
        (0x8C56, 0x05),
        Pch::LynxPoint,
    ),
    row(
        P::Haswell,
        Fits::Any,
        (0x0C00, 0x06),
        (0x8C44, 0x05),
        Pch::LynxPoint,
    ),
    // BYT: SoC transaction router and PCU/LPC, D stepping.
    row(
        P::Valleyview,
        Fits::Any,
        (0x0F00, 0x11),
        (0x0F1C, 0x11),
        Pch::None,
    ),
    // BDW: U/Y system agent 0x1604 (F0) with WPT-LP U/Y Premium; others with
    // 9-series Z97 (WPT-H is LPT compatible in i915).
    row(
        P::Broadwell,
        Fits::Ulx,
        (0x1604, 0x09),
        (0x9CC7, 0x03),
        Pch::WildcatPointLp,
    ),
    row(
        P::Broadwell,
        Fits::LowPower,
        (0x1604, 0x09),
        (0x9CC3, 0x03),
        Pch::WildcatPointLp,
    ),
    row(
        P::Broadwell,
        Fits::Any,
        (0x1610, 0x09),
        (0x8CC4, 0x00),
        Pch::WildcatPoint,
    ),
    // BSW: SoC, C stepping.
    row(
        P::Cherryview,
        Fits::Any,
        (0x2280, 0x21),
        (0x229C, 0x21),
        Pch::None,
    ),
    // SKL: Y 0x190C / U 0x1904 with SPT-LP Y/U Premium (C1); H 0x1910 with
    // HM170; Xeon 0x1918 with C236; S 0x191F with Z170 (SPT-H D1).
    row(
        P::Skylake,
        Fits::Ulx,
        (0x190C, 0x08),
        (0x9D46, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::Skylake,
        Fits::LowPower,
        (0x1904, 0x08),
        (0x9D48, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::Skylake,
        Fits::Mobile,
        (0x1910, 0x07),
        (0xA14E, 0x31),
        Pch::SunrisePoint,
    ),
    row(
        P::Skylake,
        Fits::Server,
        (0x1918, 0x07),
        (0xA149, 0x31),
        Pch::SunrisePoint,
    ),
    row(
        P::Skylake,
        Fits::Any,
        (0x191F, 0x07),
        (0xA145, 0x31),
        Pch::SunrisePoint,
    ),
    // APL / GLK: SoC.
    row(
        P::Broxton,
        Fits::Any,
        (0x5AF0, 0x0B),
        (0x5AE8, 0x0B),
        Pch::None,
    ),
    row(
        P::GeminiLake,
        Fits::Any,
        (0x31F0, 0x03),
        (0x31E8, 0x03),
        Pch::None,
    ),
    // KBL: Y 0x590C / U 0x5904 with UPT-LP (SPT-LP type) Y/U Premium; the
    // mobile GT2 0x5917 (KBL-R, quad-core U) 0x5914 with SPT-LP U Premium
    // HDCP2.2; H 0x5910 with HM175; Xeon 0x5918 with C236; S 0x591F with
    // Z270 (KBP).
    row(
        P::KabyLake,
        Fits::Ulx,
        (0x590C, 0x02),
        (0x9D56, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::KabyLake,
        Fits::LowPower,
        (0x5904, 0x02),
        (0x9D58, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::KabyLake,
        Fits::Mobile,
        (0x5914, 0x08),
        (0x9D4E, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::KabyLake,
        Fits::Server,
        (0x5918, 0x05),
        (0xA149, 0x31),
        Pch::SunrisePoint,
    ),
    row(
        P::KabyLake,
        Fits::Any,
        (0x591F, 0x05),
        (0xA2C5, 0x00),
        Pch::KabyPoint,
    ),
    // CFL: Amber Lake Y (KBL-Y derived) 0x590C with SPT-LP Y Premium HDCP2.2;
    // U/WHL 0x3ED0 with CNP-LP U Premium; H 0x3EC4 with HM370; S 0x3EC2 with
    // Z390.
    row(
        P::CoffeeLake,
        Fits::Ulx,
        (0x590C, 0x09),
        (0x9D4B, 0x21),
        Pch::SunrisePointLp,
    ),
    row(
        P::CoffeeLake,
        Fits::LowPower,
        (0x3ED0, 0x08),
        (0x9D84, 0x30),
        Pch::CannonPointLp,
    ),
    row(
        P::CoffeeLake,
        Fits::Mobile,
        (0x3EC4, 0x07),
        (0xA30D, 0x10),
        Pch::CannonPoint,
    ),
    row(
        P::CoffeeLake,
        Fits::Any,
        (0x3EC2, 0x07),
        (0xA305, 0x10),
        Pch::CannonPoint,
    ),
    // CML: U 0x9B61 with CMP-LP U Premium; S 0x9B55 with Z490.
    row(
        P::CometLake,
        Fits::LowPower,
        (0x9B61, 0x0C),
        (0x0284, 0x00),
        Pch::CometPointLp,
    ),
    row(
        P::CometLake,
        Fits::Any,
        (0x9B55, 0x03),
        (0x0685, 0x00),
        Pch::CometPointH,
    ),
    // Gen11/12: a typical pair per platform.
    row(
        P::IceLake,
        Fits::Any,
        (0x8A12, 0x03),
        (0x3482, 0x30),
        Pch::IcePoint,
    ),
    row(
        P::ElkhartLake,
        Fits::Any,
        (0x4522, 0x01),
        (0x4B00, 0x01),
        Pch::MuleCreekCanyon,
    ),
    row(
        P::JasperLake,
        Fits::Any,
        (0x4E22, 0x01),
        (0x4D87, 0x01),
        Pch::JasperPoint,
    ),
    row(
        P::TigerLake,
        Fits::Any,
        (0x9A14, 0x01),
        (0xA082, 0x20),
        Pch::TigerPoint,
    ),
    row(
        P::RocketLake,
        Fits::Any,
        (0x4C43, 0x01),
        (0x4385, 0x11),
        Pch::TigerPointH,
    ),
    row(
        P::AlderLakeS,
        Fits::Any,
        (0x4660, 0x02),
        (0x7A84, 0x11),
        Pch::AlderPointS,
    ),
    row(
        P::AlderLakeP,
        Fits::Any,
        (0x4641, 0x02),
        (0x5182, 0x01),
        Pch::AlderPointP,
    ),
    row(
        P::RaptorLake,
        Fits::Any,
        (0xA706, 0x01),
        (0x519D, 0x01),
        Pch::AlderPointP,
    ),
];

/// The chipset a board with IGD `device` carries.
#[must_use]
pub fn for_device(device: &DeviceInfo) -> Chipset {
    for_platform(device.platform, device.segment)
}

/// The chipset of a platform's part in `segment`.
#[must_use]
pub fn for_platform(platform: Platform, segment: Segment) -> Chipset {
    ROWS.iter()
        .find(|r| r.platform == platform && r.fits.covers(segment))
        .map_or(FALLBACK, |r| r.chipset)
}

/// Never used for a platform in the table (every platform has a `Fits::Any`
/// row; a test checks it): SKL-S.
const FALLBACK: Chipset = Chipset {
    host_bridge: (0x191F, 0x07),
    lpc_bridge: (0xA145, 0x31),
    pch: Pch::SunrisePoint,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::devices::{device, DEVICES};

    fn of(id: u16) -> Chipset {
        for_device(device(id).unwrap())
    }

    #[test]
    fn every_platform_ends_with_an_any_row() {
        for d in DEVICES {
            assert!(
                ROWS.iter()
                    .any(|r| r.platform == d.platform && r.fits == Fits::Any),
                "{:?}",
                d.platform
            );
        }
    }

    /// i915's detection (`device & 0xFF80`) finds the PCH each row claims.
    #[test]
    fn lpc_ids_decode_to_their_pch_as_i915_masks_them() {
        for r in ROWS {
            let c = r.chipset;
            assert_eq!(
                c.pch.id_type(),
                (c.pch != Pch::None).then_some(c.lpc_bridge.0 & 0xFF80),
                "{:?} {:#06x}",
                r.platform,
                c.lpc_bridge.0
            );
        }
    }

    #[test]
    fn pairs_follow_the_platform_and_segment() {
        // SNB mobile GT2 (the FSP ChiefRiver image's list): 0x0104 + HM65.
        assert_eq!(of(0x0126).host_bridge, (0x0104, 0x09));
        assert_eq!(of(0x0126).lpc_bridge, (0x1C49, 0x05));
        assert_eq!(of(0x0102).lpc_bridge.0, 0x1C4A);
        // IVB: PPT.
        assert_eq!(of(0x0166).pch, Pch::PantherPoint);
        assert_eq!(of(0x0166).host_bridge.0, 0x0154);
        // HSW mobile vs ULT: LPT-H vs LPT-LP (i915 WARNs on any other pairing).
        assert_eq!(of(0x0406).lpc_bridge, (0x8C4F, 0x05));
        assert_eq!(of(0x0406).host_bridge, (0x0C04, 0x06));
        assert_eq!(of(0x0A16).pch, Pch::LynxPointLp);
        assert_eq!(of(0x0A16).host_bridge.0, 0x0A04);
        // BDW U: 0x1604 + WPT-LP; BDW Y: WPT-LP Y Premium.
        assert_eq!(of(0x1616).lpc_bridge, (0x9CC3, 0x03));
        assert_eq!(of(0x161E).lpc_bridge.0, 0x9CC7);
        assert_eq!(of(0x1612).pch, Pch::WildcatPoint);
        // SoCs.
        assert_eq!(of(0x0F31).lpc_bridge, (0x0F1C, 0x11));
        assert_eq!(of(0x22B0).host_bridge.0, 0x2280);
        assert_eq!(of(0x5A85).lpc_bridge.0, 0x5AE8);
        // SKL U / S.
        assert_eq!(of(0x1916).lpc_bridge, (0x9D48, 0x21));
        assert_eq!(of(0x1912).lpc_bridge, (0xA145, 0x31));
        // KBL-R 0x5917.
        assert_eq!(of(0x5917).host_bridge.0, 0x5914);
        assert_eq!(of(0x5917).pch, Pch::SunrisePointLp);
        assert_eq!(of(0x5912).pch, Pch::KabyPoint);
        // CFL S (the cfl image's first listed ID), H, U, WHL.
        assert_eq!(of(0x3E90).lpc_bridge, (0xA305, 0x10));
        assert_eq!(of(0x3E90).host_bridge.0, 0x3EC2);
        assert_eq!(of(0x3E9B).lpc_bridge.0, 0xA30D);
        assert_eq!(of(0x3EA5).pch, Pch::CannonPointLp);
        assert_eq!(of(0x3EA0).lpc_bridge.0, 0x9D84);
        // CML U vs S.
        assert_eq!(of(0x9B41).pch, Pch::CometPointLp);
        assert_eq!(of(0x9BC5).pch, Pch::CometPointH);
    }
}
