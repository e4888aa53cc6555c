//! Xen's IGD passthrough (`xl` `gfx_passthru=1` or `"igd"`, the `xenfv`
//! machine of qemu-xen, hvmloader): the guest sees the *host's* stolen memory
//! at the host's address, so nothing rewrites a PTE.
//!
//! What the guest sees, from the sources (qemu-xen is QEMU's own `hw/xen/`;
//! read at QEMU `fc8b078e145d`, Xen at `c447b7308b13`, 4.23-dev):
//!
//! * **IGD config space.** qemu-xen emulates the standard header, the
//!   capabilities and, for an IGD, ASLS (`xen_pt_config_init.c`,
//!   `xen_pt_emu_reg_igd_opregion`). Everything else reads the real device
//!   (`xen_pt.c`, `xen_pt_pci_read_config`), so GGC (0x50) and BDSM (0x5C, or
//!   0xC0 on gen 11+) read the *host* values. Writes to registers no group
//!   emulates are dropped unless the device is `permissive`
//!   (`xen_pt_pci_write_config`: "Write-back to unknown field ... inhibited"),
//!   so the guest cannot move BDSM. igdemu keeps BDSM as a read-only virtual
//!   register holding the host value.
//! * **OpRegion.** hvmloader takes three pages from the top of its reserved
//!   hole (`pci.c` `pci_setup`, `mem_hole_alloc(IGD_OPREGION_PAGES)`; the
//!   hole ends at `RESERVED_MEMORY_DYNAMIC_END` 0xFE000000 and the shared info
//!   page, taken by `get_cpu_mhz` before `pci_setup`, comes first, so the
//!   OpRegion lands at 0xFDFFC000), writes that address to ASLS and reports
//!   the pages reserved in the e820 (`e820.c`). qemu-xen's
//!   `igd_write_opregion` keeps the first write only, adds the host ASLS's low
//!   12 bits and maps the host OpRegion there (`xc_domain_memory_mapping`);
//!   `igd_read_opregion` returns it.
//! * **vBIOS.** `xen_pt_setup_vga` copies the host's ROM to 0xC0000, fixing
//!   the PCIR device ID and the checksum when they differ; the guest BIOS runs
//!   it. No fw_cfg `etc/igd-bdsm-size` exists, so SeaBIOS reserves nothing and
//!   writes no BDSM.
//! * **Host bridge.** `xenfv` with IGD passthrough uses QEMU's
//!   `igd-passthrough-i440FX` (`hw/i386/pc_piix.c` `pc_xen_hvm_init`), which
//!   copies the host bridge's 0x50/0x52 (GGC), 0xA4 and 0xA8 and nothing else
//!   ([`HostBridgeView::HostGraphicsControl`]).
//! * **BAR4 and BAR0.** No quirk: qemu-xen maps the I/O and memory BARs
//!   straight through, and has no BDSM/GGC mirror in BAR0.
//! * **Stolen memory.** Platform firmware reports the IGD's stolen memory in
//!   a DMAR RMRR (Linux: `device_rmrr_is_relaxable` names the graphics RMRR).
//!   libxl turns a passed-through device's RMRRs into reserved device memory
//!   (RDM): the range is reserved at the same address in the guest's e820
//!   (hvmloader) and Xen identity-maps it in the IOMMU and the p2m
//!   (`xl.cfg(5)`, `rdm`, `rdm_mem_boundary`). A PTE holding a host stolen
//!   address therefore reaches host stolen memory, and the guest's stolen
//!   region *is* the host range. igdemu takes the RMRR to be exactly the
//!   host's data stolen memory.
//! * **RDM conflicts.** When the RDM overlaps guest RAM, libxl
//!   (`libxl_dm.c`, `libxl__domain_device_construct_rdm`) moves the end of low
//!   RAM down to the RDM's start (rounded down to 2 MiB for HAP guests) and
//!   the rest of RAM above 4 GiB when the RDM starts above
//!   `rdm_mem_boundary` (2048 MiB by default); below it, the default
//!   `strict` policy fails the domain ([`VmmError::XenRdmConflict`]).

use super::remap::{
    Bar0Mirror, Bar4Access, Decision, HostBridgeView, HostMapped, RemapContext, Remapper, VmmError,
    MIB, PAGE,
};
use crate::addr::{GuestPhys, HostPhys, Region};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::ConfigSpace;

/// hvmloader `RESERVED_MEMORY_DYNAMIC_END`: the top of the hole
/// `mem_hole_alloc` takes pages from, downwards.
pub const HVMLOADER_HOLE_END: u64 = 0xFE00_0000;
/// hvmloader `IGD_OPREGION_PAGES` (and qemu-xen `XEN_PCI_INTEL_OPREGION_PAGES`).
pub const OPREGION_PAGES: u64 = 3;
/// Pages `mem_hole_alloc` hands out before `pci_setup` (the shared info page,
/// `get_shared_info` from `get_cpu_mhz`).
const PAGES_BEFORE_OPREGION: u64 = 1;
/// Where hvmloader puts the IGD OpRegion: 0xFDFFC000.
pub const OPREGION_GPA: u64 = HVMLOADER_HOLE_END - (PAGES_BEFORE_OPREGION + OPREGION_PAGES) * PAGE;
/// qemu-xen `XEN_PCI_INTEL_OPREGION_MASK`: the ASLS bits taken from the host.
const OPREGION_LOW_MASK: u32 = 0xFFF;
/// `xl.cfg(5)` `rdm_mem_boundary` default: 2048 MiB.
pub const RDM_MEM_BOUNDARY: u64 = 2048 * MIB;
/// libxl rounds a relocated `lowmem_end` down to 2 MiB for HAP guests.
const HAP_LOWMEM_ALIGN: u64 = 2 * MIB;

/// What realize read from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HostFacts {
    /// The BDSM register as the host holds it (lock bit included).
    bdsm: u64,
    /// Host stolen memory (the RMRR).
    stolen: Region<HostPhys>,
    /// Host ASLS.
    asls: u32,
}

/// Xen's IGD passthrough.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Xen {
    host: Option<HostFacts>,
}

impl Xen {
    /// A Xen passthrough, realized when the passthrough layer wraps a device.
    #[must_use]
    pub const fn new() -> Self {
        Self { host: None }
    }

    /// The reserved device memory range (guest = host address).
    fn rdm(&self) -> Option<Region<GuestPhys>> {
        self.host
            .map(|h| Region::new(GuestPhys(h.stolen.base.0), h.stolen.size))
    }
}

/// The host's BDSM register at `loc` in `host`.
pub(crate) fn host_bdsm_register(loc: BdsmLocation, host: &ConfigSpace) -> u64 {
    match loc {
        BdsmLocation::Config5C => u64::from(host.read_u32(loc.offset())),
        BdsmLocation::ConfigC0 => host.read_u64(loc.offset()),
    }
}

impl Remapper for Xen {
    fn name(&self) -> &'static str {
        "xen"
    }

    fn realize(&mut self, info: &'static PlatformInfo, host_config: &ConfigSpace) {
        let bdsm = host_bdsm_register(info.bdsm, host_config);
        let size = info
            .decode_ggc(host_config.read_u16(super::remap::CFG_GGC))
            .map_or(0, |d| d.stolen_size);
        self.host = Some(HostFacts {
            bdsm,
            stolen: Region::new(HostPhys(bdsm & !(MIB - 1)), size),
            asls: host_config.read_u32(super::remap::CFG_ASLS),
        });
    }

    fn bdsm_location(&self, info: &PlatformInfo) -> Option<BdsmLocation> {
        // Not emulated by qemu-xen: igdemu holds the host value read-only.
        Some(info.bdsm)
    }

    fn on_bar4_access(&mut self, _ctx: &RemapContext, _access: &Bar4Access) -> Decision {
        Decision::Forward
    }

    fn bar0_mirror(&self, _ctx: &RemapContext, _offset: u64) -> Option<Bar0Mirror> {
        None
    }

    fn bdsm_size(&self, _info: &PlatformInfo, _guest_ggc: u16) -> u64 {
        self.host.map_or(0, |h| h.stolen.size)
    }

    fn host_bridge(&self) -> HostBridgeView {
        HostBridgeView::HostGraphicsControl
    }

    fn reset(&mut self) {}

    fn host_mapped(&self) -> Option<Result<HostMapped, VmmError>> {
        let h = self.host?;
        let rdm = self.rdm()?;
        let opregion = Region::new(GuestPhys(OPREGION_GPA), OPREGION_PAGES * PAGE);
        Some(Ok(HostMapped {
            stolen: rdm,
            mapping: rdm,
            host: h.stolen.base,
            opregion,
            reserved: vec![rdm, opregion],
            bdsm: h.bdsm,
            asls: (OPREGION_GPA as u32 & !OPREGION_LOW_MASK) | (h.asls & OPREGION_LOW_MASK),
        }))
    }

    fn guest_ram_end(&self, ram_below_4g: u64) -> Result<u64, VmmError> {
        let Some(rdm) = self.rdm() else {
            return Ok(ram_below_4g);
        };
        if rdm.size == 0 || rdm.base.0 >= ram_below_4g {
            return Ok(ram_below_4g);
        }
        if rdm.base.0 > RDM_MEM_BOUNDARY {
            // lowmem_end moves down to the RDM; the RAM it leaves goes above
            // 4 GiB (highmem_end grows by as much).
            return Ok(rdm.base.0 & !(HAP_LOWMEM_ALIGN - 1));
        }
        Err(VmmError::XenRdmConflict {
            start: rdm.base.0,
            end: rdm.end(),
            ram_end: ram_below_4g,
            boundary: RDM_MEM_BOUNDARY,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform};
    use crate::passthrough::testing::{FakeIgd, FAKE_HOST_ASLS};
    use crate::passthrough::Passthrough;

    fn rig() -> Passthrough<FakeIgd> {
        Passthrough::new(
            FakeIgd::new(info(Platform::SandyBridge), 0x8B00_0000, 0x0228),
            Box::new(Xen::new()),
        )
    }

    #[test]
    fn guest_reads_host_bdsm_and_ggc_and_cannot_move_bdsm() {
        let mut pt = rig();
        let mut b = [0u8; 4];
        pt.config_read(0x5C, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x8B00_0001, "host base and lock bit");
        pt.config_write(0x5C, &0x7E00_0000u32.to_le_bytes());
        pt.config_read(0x5C, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x8B00_0001, "write inhibited");
        let mut g = [0u8; 2];
        pt.config_read(0x50, &mut g);
        assert_eq!(u16::from_le_bytes(g), 0x0228, "host GGC, GMS kept");
        pt.config_read(0xFC, &mut b);
        assert_eq!(
            u32::from_le_bytes(b),
            0xFDFF_C000 | (FAKE_HOST_ASLS & 0xFFF),
            "hvmloader's OpRegion pages"
        );
        pt.config_write(0xFC, &0x1234_5000u32.to_le_bytes());
        pt.config_read(0xFC, &mut b);
        assert_eq!(
            u32::from_le_bytes(b) & !0xFFF,
            0xFDFF_C000,
            "first write only"
        );
    }

    #[test]
    fn host_ptes_pass_unchanged_and_stolen_is_the_host_range() {
        let mut pt = rig();
        pt.io_write(0, &1u32.to_le_bytes());
        pt.io_write(4, &0x8B00_2005u32.to_le_bytes());
        assert_eq!(pt.host().gtt_entry(0), 0x8B00_2005, "no PTE rewriting");
        let m = pt.remapper().host_mapped().unwrap().unwrap();
        // GGC 0x0228: GMS 5 x 32 MiB = 160 MiB at the host BDSM.
        assert_eq!(m.stolen, Region::new(GuestPhys(0x8B00_0000), 160 * MIB));
        assert_eq!(m.mapping, m.stolen);
        assert_eq!(m.host, HostPhys(0x8B00_0000), "identity mapped");
        assert_eq!(m.opregion, Region::new(GuestPhys(0xFDFF_C000), 0x3000));
        assert_eq!(pt.bdsm_size(), 160 * MIB);
        assert_eq!(pt.host_bridge_view(), HostBridgeView::HostGraphicsControl);
    }

    #[test]
    fn rdm_overlapping_guest_ram_moves_lowmem_or_is_refused_as_libxl_does() {
        let pt = rig();
        let x = pt.remapper();
        assert_eq!(
            x.guest_ram_end(0x8000_0000),
            Ok(0x8000_0000),
            "2 GiB: below RDM"
        );
        assert_eq!(
            x.guest_ram_end(0xC000_0000),
            Ok(0x8B00_0000),
            "above rdm_mem_boundary: lowmem_end moves down to the RDM"
        );
        let low = Passthrough::new(
            FakeIgd::new(info(Platform::SandyBridge), 0x7000_0000, 0x0228),
            Box::new(Xen::new()),
        );
        let e = low.remapper().guest_ram_end(0x8000_0000).unwrap_err();
        assert_eq!(
            e,
            VmmError::XenRdmConflict {
                start: 0x7000_0000,
                end: 0x7A00_0000,
                ram_end: 0x8000_0000,
                boundary: 0x8000_0000,
            }
        );
        assert!(e.to_string().contains("rdm_policy=strict"), "{e}");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::igd::generation::{info, Platform};
    use crate::passthrough::testing::FakeIgd;
    use crate::passthrough::{Acrn, Passthrough};

    fn regs(pt: &mut Passthrough<FakeIgd>) -> (u32, u32, u32) {
        let mut r = |off: u16| {
            let mut b = [0u8; 4];
            pt.config_read(off, &mut b);
            u32::from_le_bytes(b)
        };
        (r(0x5C), r(0xC0), r(0xFC))
    }

    proptest::proptest! {
        /// Under Xen and ACRN no guest config write (any offset, width,
        /// value) moves what the guest reads at BDSM or ASLS, and a BAR4 GTT
        /// write reaches the device unchanged.
        #[test]
        fn vmm_registers_hold_and_ptes_pass(
            acrn in proptest::bool::ANY,
            writes in proptest::collection::vec((0u16..0x100, 1usize..5, proptest::num::u32::ANY), 1..32),
            pte in proptest::num::u32::ANY,
        ) {
            let dev = FakeIgd::new(info(Platform::Skylake), 0x8B80_0000, 0x02C0);
            let r: Box<dyn Remapper> = if acrn { Box::new(Acrn::new()) } else { Box::new(Xen::new()) };
            let mut pt = Passthrough::new(dev, r);
            let before = regs(&mut pt);
            for (off, width, value) in writes {
                // Leave the command register and BARs alone (decode changes).
                if off < 0x40 {
                    continue;
                }
                let bytes = value.to_le_bytes();
                pt.config_write(off, &bytes[..width.min(4)]);
            }
            proptest::prop_assert_eq!(regs(&mut pt), before);
            pt.io_write(0, &1u32.to_le_bytes());
            pt.io_write(4, &pte.to_le_bytes());
            proptest::prop_assert_eq!(pt.host().gtt_entry(0) & 0xFFFF_FFFF, u64::from(pte));
        }
    }
}
