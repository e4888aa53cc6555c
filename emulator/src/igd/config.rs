//! The IGD's PCI configuration space (device 00:02.0), built per platform on the
//! generic [`ConfigSpace`].
//!
//! Registers from Intel's processor datasheets (vol. 2, "Graphics Device
//! Configuration Registers") as summarised in `shared/research/igd-anchors.md`
//! §7.1 and §12.1: GGC at 0x50 (`SNB_GMCH_CTRL`, bit 0 GGCLCK), BDSM at 0x5C
//! (`INTEL_BSM`, bits 31:20 base, bit 0 lock) or 0xC0/0xC4 on gen11+
//! (`INTEL_GEN11_BSM_DW0/1`), MSAC at 0x62, ASLS at 0xFC. BARs: BAR0 GTTMMADR
//! (64-bit memory), BAR2 GMADR (64-bit prefetchable aperture), BAR4 IOBAR (64
//! bytes of I/O). Capabilities: PCI PM 1.2, MSI (PCI 3.0 §6.8), PCI Express
//! (PCIe Base §7.5.3, RCiEP with Function Level Reset), Advanced Features (PCI
//! Advanced Features ECN, cap ID 0x13).
//!
//! GGC and BDSM are host registers that firmware locks before the OS runs; the
//! model makes them read-only. The capability layout follows `lspci` of real
//! IGDs: vendor capability at 0x40 (Intel's IGD vendor capability lives there;
//! 0xE0 is the host bridge's CAPID0), PCIe at 0x70, MSI at 0xAC, AF at 0xB8
//! (after MSI so it stays clear of BDSM at 0xC0), PM at 0xD0.

use crate::pci::{cap_body, cap_id, reg, BarKind, BarSpec, ConfigSpace, PciError};

use super::generation::{BdsmLocation, FlrCapability, PlatformInfo};
use super::IgdConfig;

/// PCI class code of a VGA-compatible display controller.
pub const CLASS_VGA: u32 = 0x03_0000;
/// GGC (GMCH Graphics Control), 16-bit.
pub const GGC: u16 = 0x50;
/// GGC bit 0: GGCLCK, firmware lock.
pub const GGC_LOCK: u16 = 1 << 0;
/// BDSM (Base Data of Stolen Memory), 32-bit, gen6-9.
pub const BDSM: u16 = BdsmLocation::Config5C.offset();
/// BDSM, 64-bit, gen11+.
pub const BDSM_GEN11: u16 = BdsmLocation::ConfigC0.offset();
/// BDSM bit 0: lock.
pub const BDSM_LOCK: u64 = 1 << 0;
/// BDSM base field (bits 31:20, or 63:20 on gen11+): `INTEL_BSM_MASK`.
pub const BDSM_BASE_MASK: u64 = !((1 << 20) - 1);
/// MSAC (Multi Size Aperture Control), 8-bit.
pub const MSAC: u16 = 0x62;
/// ASLS (ASL Storage: OpRegion base), 32-bit, read/write.
pub const ASLS: u16 = 0xFC;
/// BAR index of GTTMMADR.
pub const BAR_GTTMMADR: usize = 0;
/// BAR index of GMADR (the aperture).
pub const BAR_GMADR: usize = 2;
/// BAR index of the I/O BAR.
pub const BAR_IOBAR: usize = 4;
/// Size of the I/O BAR.
pub const IOBAR_SIZE: u64 = 64;

/// Offset of the vendor-specific capability.
pub const CAP_VENDOR: u16 = 0x40;
/// Offset of the PCI Express capability (platforms with PCIe FLR).
pub const CAP_PCIE: u16 = 0x70;
/// Offset of the MSI capability.
pub const CAP_MSI: u16 = 0xAC;
/// Offset of the Advanced Features capability.
pub const CAP_AF: u16 = 0xB8;
/// Offset of the PM capability.
pub const CAP_PM: u16 = 0xD0;

/// AF capability register (cap + 3): bit 0 TP capable, bit 1 FLR capable.
pub const AF_CAP: u16 = 3;
/// AF TP capable.
pub const AF_CAP_TP: u8 = 1 << 0;
/// AF FLR capable.
pub const AF_CAP_FLR: u8 = 1 << 1;
/// AF control register (cap + 4): bit 0 initiate FLR.
pub const AF_CTRL: u16 = 4;
/// AF control: initiate FLR.
pub const AF_CTRL_INITIATE_FLR: u8 = 1 << 0;
/// AF status register (cap + 5): bit 0 transactions pending.
pub const AF_STATUS: u16 = 5;

/// PCIe capabilities register (cap + 2).
pub const PCIE_CAPS: u16 = 2;
/// PCIe Device Capabilities (cap + 4).
pub const PCIE_DEVCAP: u16 = 4;
/// Device Capabilities bit 28: Function Level Reset capability.
pub const PCIE_DEVCAP_FLR: u32 = 1 << 28;
/// PCIe Device Control (cap + 8).
pub const PCIE_DEVCTL: u16 = 8;
/// Device Control bit 15: Initiate Function Level Reset.
pub const PCIE_DEVCTL_BCR_FLR: u16 = 1 << 15;
/// PCIe Device Status (cap + 10).
pub const PCIE_DEVSTA: u16 = 10;

/// PCIe capability version 2, device/port type 1001b (Root Complex Integrated
/// Endpoint).
const PCIE_CAPS_RCIEP_V2: u16 = 0x0092;
/// Length of a version-2 PCIe capability of an endpoint (through Link Control 2 / Status 2).
const PCIE_CAP_LEN: usize = 0x3C;

/// The BDSM register value the hardware holds: base bits plus the lock bit.
#[must_use]
pub fn bdsm_register(cfg: &IgdConfig) -> u64 {
    (cfg.host_bdsm.raw() & BDSM_BASE_MASK) | BDSM_LOCK
}

/// MSAC aperture-size encoding (SNB..SKL datasheets: bits 2:1, 00 = 128 MiB,
/// 01 = 256 MiB, 11 = 512 MiB; other sizes read 0). Read-only in this model.
#[must_use]
pub fn msac_for(aperture_size: u64) -> u8 {
    match aperture_size {
        0x1000_0000 => 0b010,
        0x2000_0000 => 0b110,
        _ => 0,
    }
}

/// Build the config space of the IGD described by `info` and `cfg`, in its
/// reset state.
pub fn build(info: &PlatformInfo, cfg: &IgdConfig) -> Result<ConfigSpace, PciError> {
    let mut cs = ConfigSpace::new(
        0x8086,
        cfg.device_id,
        CLASS_VGA,
        cfg.revision,
        crate::pci::CONFIG_SPACE_SIZE,
    );
    cs.set_u16(reg::SUBSYSTEM_VENDOR_ID, cfg.subsystem_vendor);
    cs.set_u16(reg::SUBSYSTEM_ID, cfg.subsystem_id);
    cs.set_u8(reg::INTERRUPT_PIN, 1);

    cs.add_bar(
        BAR_GTTMMADR,
        BarSpec {
            kind: BarKind::Memory64 {
                prefetchable: false,
            },
            size: info.gttmmadr_size,
        },
    )?;
    cs.add_bar(
        BAR_GMADR,
        BarSpec {
            kind: BarKind::Memory64 { prefetchable: true },
            size: cfg.aperture_size,
        },
    )?;
    cs.add_bar(
        BAR_IOBAR,
        BarSpec {
            kind: BarKind::Io,
            size: IOBAR_SIZE,
        },
    )?;

    // Firmware-locked host registers: read-only.
    cs.set_u16(GGC, cfg.ggc);
    let bdsm = bdsm_register(cfg);
    match info.bdsm {
        BdsmLocation::Config5C => cs.set_u32(BDSM, bdsm as u32),
        BdsmLocation::ConfigC0 => cs.set_u64(BDSM_GEN11, bdsm),
    }
    cs.set_u8(MSAC, msac_for(cfg.aperture_size));
    cs.set_u32(ASLS, cfg.host_asls);
    cs.set_wmask_u32(ASLS, 0xFFFF_FFFF);

    // Vendor capability: length 0x0C, version 1, feature bits zero.
    let mut vendor = [0u8; 10];
    vendor[0] = 0x0C;
    vendor[1] = 0x01;
    cs.add_capability_at(CAP_VENDOR, cap_id::VENDOR, &vendor)?;

    if info.flr == FlrCapability::AdvancedFeaturesAndPcie {
        let at = cs.add_capability_at(CAP_PCIE, cap_id::PCIE, &[0u8; PCIE_CAP_LEN - 2])?;
        cs.set_u16(at + PCIE_CAPS, PCIE_CAPS_RCIEP_V2);
        cs.set_u32(at + PCIE_DEVCAP, PCIE_DEVCAP_FLR);
        // Device Control bits 14:0 are read/write; bit 15 starts an FLR and
        // always reads 0 (the device clears it when it performs the reset).
        cs.set_wmask_u16(at + PCIE_DEVCTL, 0xFFFF);
        // Device Status error bits 3:0 are write-1-to-clear.
        cs.set_w1c_u16(at + PCIE_DEVSTA, 0x000F);
    }

    // MSI, 32-bit address, one vector: enable and MME writable, address dword
    // aligned, data 16-bit.
    let at = cs.add_capability_at(CAP_MSI, cap_id::MSI, &[0; 8])?;
    cs.set_wmask_u16(at + 2, 0x0071);
    cs.set_wmask_u32(at + 4, 0xFFFF_FFFC);
    cs.set_wmask_u16(at + 8, 0xFFFF);

    // Advanced Features: length 6, TP + FLR capable; control bit 0 starts FLR.
    let at = cs.add_capability_at(CAP_AF, cap_id::AF, &[0x06, AF_CAP_TP | AF_CAP_FLR, 0, 0])?;
    cs.set_wmask_u8(at + AF_CTRL, AF_CTRL_INITIATE_FLR);

    // Power management: PMCSR power state (bits 1:0) writable.
    let at = cs.add_capability_at(CAP_PM, cap_id::PM, &cap_body::pm())?;
    cs.set_wmask_u16(at + 4, 0x0003);

    Ok(cs)
}

/// Whether the config space now holds an FLR request (AF control bit 0 or PCIe
/// Device Control bit 15).
#[must_use]
pub fn flr_requested(cs: &ConfigSpace) -> bool {
    let af = cs
        .find_capability(cap_id::AF)
        .is_some_and(|at| cs.read_u8(at + AF_CTRL) & AF_CTRL_INITIATE_FLR != 0);
    let pcie = cs
        .find_capability(cap_id::PCIE)
        .is_some_and(|at| cs.read_u16(at + PCIE_DEVCTL) & PCIE_DEVCTL_BCR_FLR != 0);
    af || pcie
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::lookup;
    use crate::igd::IgdConfig;

    fn space(dev: u16) -> ConfigSpace {
        let cfg = IgdConfig::for_device(dev).unwrap();
        build(lookup(dev).unwrap(), &cfg).unwrap()
    }

    fn rd32(cs: &ConfigSpace, off: u16) -> u32 {
        let mut b = [0; 4];
        cs.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    fn size_bar(cs: &mut ConfigSpace, off: u16) -> u32 {
        cs.write(off, &u32::MAX.to_le_bytes());
        rd32(cs, off)
    }

    #[test]
    fn identity_and_firmware_registers_are_read_only() {
        let mut cs = space(0x0126);
        let before = cs.clone();
        for off in [0x00u16, 0x08, 0x2C, 0x50, 0x5C, 0x60, 0xC0, 0xC4] {
            cs.write(off, &[0xFF; 4]);
            cs.write(off, &[0; 4]);
            cs.write(off + 1, &[0x5A]);
        }
        assert_eq!(cs.bytes(), before.bytes());
        assert_eq!(rd32(&cs, 0), 0x0126_8086);
        assert_eq!(rd32(&cs, 0x08) >> 8, CLASS_VGA);
        assert_eq!(cs.read_u32(BDSM), 0x8B80_0001);
        assert_eq!(cs.read_u16(GGC) & GGC_LOCK, GGC_LOCK);
    }

    #[test]
    fn asls_is_read_write() {
        let mut cs = space(0x0126);
        cs.write(ASLS, &0x7FF0_1000u32.to_le_bytes());
        assert_eq!(cs.read_u32(ASLS), 0x7FF0_1000);
        cs.write(ASLS + 2, &[0x12]);
        assert_eq!(cs.read_u32(ASLS), 0x7F12_1000);
    }

    #[test]
    fn gen11_bdsm_is_64_bit_at_c0_and_5c_reads_zero() {
        let mut cs = space(0x9A49);
        assert_eq!(cs.read_u32(BDSM), 0);
        assert_eq!(cs.read_u64(BDSM_GEN11), 0x8B80_0001);
        cs.write(BDSM_GEN11, &[0; 8]);
        assert_eq!(cs.read_u64(BDSM_GEN11), 0x8B80_0001);
    }

    #[test]
    fn bar_sizing_gen6() {
        let mut cs = space(0x0126);
        assert_eq!(size_bar(&mut cs, 0x10), 0xFFC0_0004, "BAR0 4 MiB 64-bit");
        assert_eq!(size_bar(&mut cs, 0x14), 0xFFFF_FFFF);
        assert_eq!(size_bar(&mut cs, 0x18), 0xF000_000C, "BAR2 256 MiB pf");
        assert_eq!(size_bar(&mut cs, 0x1C), 0xFFFF_FFFF);
        assert_eq!(size_bar(&mut cs, 0x20), 0xFFFF_FFC1, "BAR4 64 B I/O");
    }

    #[test]
    fn bar_sizing_gen9() {
        let mut cs = space(0x1912);
        assert_eq!(size_bar(&mut cs, 0x10), 0xFF00_0004, "BAR0 16 MiB 64-bit");
        assert_eq!(size_bar(&mut cs, 0x18), 0xF000_000C);
        assert_eq!(size_bar(&mut cs, 0x20), 0xFFFF_FFC1);
        assert_eq!(cs.read_u8(MSAC), 0b010, "256 MiB aperture");
    }

    #[test]
    fn capability_list_per_platform() {
        let cs = space(0x0166);
        let af = cs.find_capability(cap_id::AF).unwrap();
        assert_eq!(af, CAP_AF);
        assert_eq!(cs.read_u8(af + 2), 6, "AF length");
        assert_ne!(cs.read_u8(af + AF_CAP) & AF_CAP_FLR, 0);
        assert_ne!(cs.read_u8(af + AF_CAP) & AF_CAP_TP, 0);
        assert_eq!(cs.find_capability(cap_id::PCIE), None, "no PCIe cap on IVB");
        assert_eq!(cs.find_capability(cap_id::MSI), Some(CAP_MSI));
        assert_eq!(cs.find_capability(cap_id::PM), Some(CAP_PM));
        assert_eq!(cs.find_capability(cap_id::VENDOR), Some(CAP_VENDOR));
        assert_eq!(cs.read_u8(reg::CAPABILITIES_POINTER) as u16, CAP_VENDOR);

        for dev in [0x8A52u16, 0x9A49, 0x4680] {
            let cs = space(dev);
            let pcie = cs.find_capability(cap_id::PCIE).unwrap();
            assert_eq!(pcie, CAP_PCIE);
            assert_ne!(cs.read_u32(pcie + PCIE_DEVCAP) & PCIE_DEVCAP_FLR, 0);
            assert_eq!(cs.read_u16(pcie + PCIE_CAPS) & 0xF0, 0x90, "RCiEP");
            assert!(cs.find_capability(cap_id::AF).is_some());
        }
        for dev in [0x0126u16, 0x0416, 0x1616, 0x1912, 0x3E92] {
            assert_eq!(space(dev).find_capability(cap_id::PCIE), None);
        }
    }

    #[test]
    fn flr_request_bits_are_detected() {
        let mut cs = space(0x9A49);
        assert!(!flr_requested(&cs));
        cs.write(CAP_AF + AF_CTRL, &[1]);
        assert!(flr_requested(&cs));
        let mut cs = space(0x9A49);
        cs.write(CAP_PCIE + PCIE_DEVCTL, &0x8000u16.to_le_bytes());
        assert!(flr_requested(&cs));
        let mut cs = space(0x0126);
        cs.write(CAP_AF + AF_CTRL, &[0xFE]);
        assert!(!flr_requested(&cs));
        assert_eq!(cs.read_u8(CAP_AF + AF_CTRL), 0, "only bit 0 is writable");
    }
}
