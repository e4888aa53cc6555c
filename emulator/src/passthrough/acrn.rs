//! ACRN's IGD passthrough (GVT-d): the device model maps the host's data
//! stolen memory (DSM) at a guest-physical address of its choosing and tells
//! the guest through a virtual BDSM; nothing rewrites a PTE.
//!
//! From projectacrn/acrn-hypervisor at `d61d98cf800e`
//! (acrn-2024w42.4-180000p-39), `devicemodel/hw/pci/passthrough.c`,
//! `passthru_gpu_dsm_opregion` (the gen 11+ identity mapping since
//! `2a96c567b80b`, 2021-03):
//!
//! * ACRN numbers the device with its own allowlist (`igd_device_tbl`,
//!   `include/igd_pciids.h`: SKL, BXT, GLK, KBL, CFL/CML are gen 9; ICL, EHL,
//!   JSL gen 11; TGL and later 12). A device missing from it is *assumed gen
//!   11+* (a warning, "GVT-d may not working properly").
//! * DSM size: `igd_dsm_region_size` decodes GGC bits 15:8 the gen 8+ way
//!   (x 32 MiB up to 0x10; 0x20/0x30/0x40 = 1/1.5/2 GiB; 0xF0-0xFE = 4 MiB
//!   steps), whatever the generation; anything else is an error and no
//!   stolen memory is set up.
//! * Gen < 11: the virtual BDSM (0x5C) reads `GPU_DSM_GPA` (0x7C000000,
//!   `include/pci_core.h`) with the host register's bits 19:0 (the lock bit);
//!   the DSM is mapped there.
//! * Gen 11+: an identity mapping (guest address = host address, because the
//!   Windows driver reads the DSM base from a BAR0 register, ACRN's comment
//!   says); the virtual 0xC0 reads the low 32 bits of the host base with the
//!   host's bits 19:0, 0xC4 reads 0.
//! * ASLS reads the OpRegion address, `GPU_OPREGION_SIZE` (0x5000) below the
//!   DSM, with the host ASLS's bits 11:0; the host OpRegion is mapped there.
//! * The DSM and OpRegion are mapped with `vm_map_ptdev_mmio` (EPT and IOMMU)
//!   onto the host ranges; the guest e820 reports `[OpRegion, DSM end)`
//!   reserved (`core/sw_load_common.c`, `acrn_create_e820_table`).
//! * The virtualized registers ignore guest writes (`passthru_cfgwrite`);
//!   every other register, GGC at 0x50 included, reads the real device
//!   (`passthru_cfgread`): the guest sees the host GGC.
//! * BARs are passed through: no BAR4 quirk, no BAR0 mirror. A vBIOS that
//!   reads BDSM from BAR0 (0x1080C0) gets the *host* base, which on gen < 11
//!   is not where ACRN mapped the DSM.
//! * Host bridge: ACRN's `hostbridge` (`hw/pci/hostbridge.c`, NetApp IDs)
//!   has no graphics registers ([`HostBridgeView::IdsOnly`]: 0x50 reads 0);
//!   ACRN adds an `igd-lpc` at 00:1F.0 copying the host LPC's IDs
//!   (`hw/pci/lpc.c`, `pci_igd_lpc_init`).
//!
//! ACRN documents GVT-d with OVMF carrying Intel's GOP driver
//! (`doc/tutorials/gpu-passthru.rst`, "Enable the GVT-d GOP Driver"): the
//! guest BIOS has no vBIOS of its own. A legacy vBIOS under ACRN is not a
//! documented set-up; igdemu runs it anyway to show what ACRN's address
//! policy does to it ([`Remapper::caveat`]).

use super::remap::{
    Bar0Mirror, Bar4Access, Decision, HostBridgeView, HostMapped, RemapContext, Remapper, VmmError,
    CFG_ASLS, CFG_GGC, MIB,
};
use super::xen::host_bdsm_register;
use crate::addr::{GuestPhys, HostPhys, Region};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::ConfigSpace;

/// ACRN `GPU_DSM_GPA`: where the DSM of a gen < 11 device appears.
pub const GPU_DSM_GPA: u64 = 0x7C00_0000;
/// ACRN `GPU_OPREGION_SIZE`: OpRegion and extended OpRegion, mapped below
/// the DSM.
pub const GPU_OPREGION_SIZE: u64 = 0x5000;
/// ACRN `PCIM_BDSM_MASK`: the base bits of BDSM; the rest is kept.
const BDSM_MASK: u64 = 0xFFF0_0000;
/// ACRN `PCIM_ASLS_OPREGION_MASK`.
const ASLS_MASK: u32 = 0xFFFF_F000;

/// The caveat printed with every ACRN run.
pub const CAVEAT: &str = "ACRN documents GVT-d with OVMF and Intel's GOP driver only (doc/tutorials/gpu-passthru.rst); a legacy vBIOS is not a supported set-up: this run shows ACRN's address policy applied to it";

/// Device IDs ACRN's `igd_device_tbl` lists as gen 9 (`igd_pciids.h` at
/// `d61d98cf800e`). Every other ID (ACRN's gen 11 and 12 entries, and IDs it
/// does not list) takes the gen 11+ path.
pub const ACRN_GEN9_IDS: &[u16] = &[
    0x0A84, 0x1902, 0x1906, 0x190A, 0x190B, 0x190E, 0x1912, 0x1913, 0x1915, 0x1916, 0x1917, 0x191A,
    0x191B, 0x191D, 0x191E, 0x1921, 0x1923, 0x1926, 0x1927, 0x192A, 0x192B, 0x192D, 0x1932, 0x193A,
    0x193B, 0x193D, 0x1A84, 0x1A85, 0x3184, 0x3185, 0x3E90, 0x3E91, 0x3E92, 0x3E93, 0x3E94, 0x3E96,
    0x3E98, 0x3E99, 0x3E9A, 0x3E9B, 0x3E9C, 0x3EA0, 0x3EA1, 0x3EA2, 0x3EA3, 0x3EA4, 0x3EA5, 0x3EA6,
    0x3EA7, 0x3EA8, 0x3EA9, 0x5902, 0x5906, 0x5908, 0x590A, 0x590B, 0x590E, 0x5912, 0x5913, 0x5915,
    0x5916, 0x5917, 0x591A, 0x591B, 0x591C, 0x591D, 0x591E, 0x5921, 0x5923, 0x5926, 0x5927, 0x593B,
    0x5A84, 0x5A85, 0x87C0, 0x87CA, 0x9B21, 0x9B41, 0x9BA2, 0x9BA4, 0x9BA5, 0x9BA8, 0x9BAA, 0x9BAC,
    0x9BC2, 0x9BC4, 0x9BC5, 0x9BC6, 0x9BC8, 0x9BCA, 0x9BCC, 0x9BE6, 0x9BF6,
];

/// ACRN's generation split for a device ID: whether it takes the gen 11+
/// path (`igd_gen(device) >= 11`, unknown IDs counted as 11).
#[must_use]
pub fn acrn_gen11_path(device_id: u16) -> bool {
    !ACRN_GEN9_IDS.contains(&device_id)
}

/// ACRN `igd_dsm_region_size`: the DSM size from GGC bits 15:8, or `None`
/// where ACRN reports an invalid GMS (0 included).
#[must_use]
pub fn acrn_dsm_size(ggc: u16) -> Option<u64> {
    let gms = (ggc >> 8) as u8;
    let size = match gms {
        0x00..=0x10 => u64::from(gms) * 32 * MIB,
        0x20 => 1024 * MIB,
        0x30 => 1536 * MIB,
        0x40 => 2048 * MIB,
        0xF0..=0xFE => u64::from(gms - 0xF0 + 1) * 4 * MIB,
        _ => 0,
    };
    (size != 0).then_some(size)
}

/// ACRN's GVT-d.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acrn {
    layout: Option<Result<HostMapped, VmmError>>,
    gen11: bool,
}

impl Acrn {
    /// An ACRN passthrough, realized when the passthrough layer wraps a device.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            layout: None,
            gen11: false,
        }
    }
}

/// What `passthru_gpu_dsm_opregion` sets up for `host` (host stolen memory
/// `host_stolen` bytes long, as the hardware decodes GGC).
fn layout(gen11: bool, host: &ConfigSpace, host_stolen: u64) -> Result<HostMapped, VmmError> {
    let ggc = host.read_u16(CFG_GGC);
    let dsm = acrn_dsm_size(ggc).ok_or(VmmError::AcrnDsmSize {
        ggc,
        gms: (ggc >> 8) as u8,
    })?;
    let (hpa, gpa, bdsm) = if gen11 {
        let raw = host_bdsm_register(BdsmLocation::ConfigC0, host);
        let dw0 = raw & 0xFFFF_FFFF;
        let hpa = (dw0 & BDSM_MASK) | (raw & !0xFFFF_FFFF);
        if hpa == 0 {
            return Err(VmmError::AcrnNoGen11Bdsm {
                device_id: host.read_u16(crate::pci::reg::DEVICE_ID),
                read: raw,
            });
        }
        let low = dw0 & !BDSM_MASK;
        // DW0 = (u32)gpa | low bits; DW1 = 0.
        (hpa, hpa, (hpa | low) & 0xFFFF_FFFF)
    } else {
        let raw = u64::from(host.read_u32(BdsmLocation::Config5C.offset()));
        let low = raw & !BDSM_MASK;
        (raw & BDSM_MASK, GPU_DSM_GPA, GPU_DSM_GPA | low)
    };
    let opregion_gpa = gpa.wrapping_sub(GPU_OPREGION_SIZE);
    let host_asls = host.read_u32(CFG_ASLS);
    Ok(HostMapped {
        stolen: Region::new(GuestPhys(gpa), dsm.min(host_stolen)),
        mapping: Region::new(GuestPhys(gpa), dsm),
        host: HostPhys(hpa),
        opregion: Region::new(GuestPhys(opregion_gpa), GPU_OPREGION_SIZE),
        reserved: vec![Region::new(
            GuestPhys(opregion_gpa),
            GPU_OPREGION_SIZE + dsm,
        )],
        bdsm,
        asls: (opregion_gpa as u32 & ASLS_MASK) | (host_asls & !ASLS_MASK),
    })
}

impl Remapper for Acrn {
    fn name(&self) -> &'static str {
        "acrn"
    }

    fn realize(&mut self, info: &'static PlatformInfo, host_config: &ConfigSpace) {
        self.gen11 = acrn_gen11_path(host_config.read_u16(crate::pci::reg::DEVICE_ID));
        let host_stolen = info
            .decode_ggc(host_config.read_u16(CFG_GGC))
            .map_or(0, |d| d.stolen_size);
        self.layout = Some(layout(self.gen11, host_config, host_stolen));
    }

    fn bdsm_location(&self, _info: &PlatformInfo) -> Option<BdsmLocation> {
        // `has_virt_pcicfg_regs_on_ehl_gpu` (0xC0, 0xC4) or `_on_def_gpu`
        // (0x5C), by ACRN's own generation.
        Some(if self.gen11 {
            BdsmLocation::ConfigC0
        } else {
            BdsmLocation::Config5C
        })
    }

    fn on_bar4_access(&mut self, _ctx: &RemapContext, _access: &Bar4Access) -> Decision {
        Decision::Forward
    }

    fn bar0_mirror(&self, _ctx: &RemapContext, _offset: u64) -> Option<Bar0Mirror> {
        None
    }

    fn bdsm_size(&self, _info: &PlatformInfo, _guest_ggc: u16) -> u64 {
        match &self.layout {
            Some(Ok(m)) => m.stolen.size,
            _ => 0,
        }
    }

    fn host_bridge(&self) -> HostBridgeView {
        HostBridgeView::IdsOnly
    }

    fn reset(&mut self) {}

    fn host_mapped(&self) -> Option<Result<HostMapped, VmmError>> {
        self.layout.clone()
    }

    fn caveat(&self) -> Option<&'static str> {
        Some(CAVEAT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform};
    use crate::passthrough::testing::{FakeIgd, FAKE_HOST_ASLS};
    use crate::passthrough::Passthrough;

    fn rig(p: Platform, device: u16, ggc: u16) -> Passthrough<FakeIgd> {
        let mut dev = FakeIgd::new(info(p), 0x8B80_0000, ggc);
        dev.set_device_id(device);
        Passthrough::new(dev, Box::new(Acrn::new()))
    }

    fn read32(pt: &mut Passthrough<FakeIgd>, off: u16) -> u32 {
        let mut b = [0u8; 4];
        pt.config_read(off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn gen9_dsm_appears_at_gpu_dsm_gpa_with_the_lock_bit() {
        // SKL GT2 0x1916, GGC GMS 2 (64 MiB), GGMS 3 (8 MiB GTT).
        let mut pt = rig(Platform::Skylake, 0x1916, 0x02C0);
        assert_eq!(read32(&mut pt, 0x5C), 0x7C00_0001);
        assert_eq!(read32(&mut pt, 0x50) & 0xFFFF, 0x02C0, "host GGC");
        assert_eq!(
            read32(&mut pt, 0xFC),
            0x7BFF_B000 | (FAKE_HOST_ASLS & 0xFFF),
            "OpRegion 0x5000 below the DSM"
        );
        pt.config_write(0x5C, &0x1000_0000u32.to_le_bytes());
        assert_eq!(read32(&mut pt, 0x5C), 0x7C00_0001, "guest write ignored");
        let m = pt.remapper().host_mapped().unwrap().unwrap();
        assert_eq!(m.stolen, Region::new(GuestPhys(0x7C00_0000), 64 * MIB));
        assert_eq!(
            m.host,
            HostPhys(0x8B80_0000),
            "DSM at the fixed GPA -> host DSM"
        );
        assert_eq!(
            m.reserved,
            vec![Region::new(GuestPhys(0x7BFF_B000), 64 * MIB + 0x5000)]
        );
        // A host PTE goes to the device unchanged.
        pt.io_write(0, &1u32.to_le_bytes());
        pt.io_write(4, &0x8B80_2005u32.to_le_bytes());
        assert_eq!(pt.host().gtt_entry(0), 0x8B80_2005);
        assert_eq!(pt.host_bridge_view(), HostBridgeView::IdsOnly);
    }

    #[test]
    fn gen11_is_identity_mapped_with_a_32_bit_dw0_and_zero_dw1() {
        let mut pt = rig(Platform::IceLake, 0x8A52, 0x02C0);
        assert_eq!(read32(&mut pt, 0xC0), 0x8B80_0001);
        assert_eq!(read32(&mut pt, 0xC4), 0);
        let m = pt.remapper().host_mapped().unwrap().unwrap();
        assert_eq!(m.stolen.base, GuestPhys(0x8B80_0000));
        assert_eq!(m.host, HostPhys(0x8B80_0000));
        assert_eq!(m.opregion.base, GuestPhys(0x8B7F_B000));
    }

    #[test]
    fn devices_missing_from_the_allowlist_take_the_gen11_path() {
        // SNB 0x0126 is not in igd_device_tbl: ACRN reads 0xC0, which SNB
        // does not have.
        let pt = rig(Platform::SandyBridge, 0x0126, 0x0210);
        assert_eq!(
            pt.remapper().host_mapped(),
            Some(Err(VmmError::AcrnNoGen11Bdsm {
                device_id: 0x0126,
                read: 0
            }))
        );
        assert!(acrn_gen11_path(0x0126));
        assert!(!acrn_gen11_path(0x3E92));
    }

    #[test]
    fn dsm_size_decodes_bits_15_8_only() {
        assert_eq!(acrn_dsm_size(0x0200), Some(64 * MIB));
        assert_eq!(acrn_dsm_size(0xF100), Some(8 * MIB));
        assert_eq!(acrn_dsm_size(0x4000), Some(2048 * MIB));
        assert_eq!(
            acrn_dsm_size(0x0028),
            None,
            "GMS in bits 7:3 (SNB) is not seen"
        );
        assert_eq!(acrn_dsm_size(0x1100), None);
        let pt = rig(Platform::Skylake, 0x1916, 0x00C0);
        assert_eq!(
            pt.remapper().host_mapped(),
            Some(Err(VmmError::AcrnDsmSize {
                ggc: 0x00C0,
                gms: 0
            }))
        );
    }
}
