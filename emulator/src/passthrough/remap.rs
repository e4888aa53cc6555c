//! The `Remapper` seam: the point where a VMM traps the IGD's BAR4 I/O
//! index/data pair (and the BAR0 GTT half and register mirrors) and decides
//! what the host device receives.
//!
//! A VMM models its IGD quirk by implementing [`Remapper`]; the
//! [`Passthrough`](super::Passthrough) wrapper calls it for every guest access
//! at the seam and applies the returned [`Decision`]. The trait is object safe
//! (`Box<dyn Remapper>`).
//!
//! BAR4 layout (QEMU `5aed8b0f0be2` commit message, "observed", igd-anchors
//! §1.5): MMIO_Index at +0, MMIO_Data at +4; index bits 31:2 are a byte offset
//! into BAR0, bit 0 (Sel) = 1 selects the GTT half.

use std::fmt;

use crate::addr::{GuestPhys, HostPhys, Region};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::igd::mmio::{GEN6_DSMBASE, GGC_MIRROR};
use crate::pci::ConfigSpace;

/// 1 MiB: BDSM granularity (`INTEL_BSM_MASK`).
pub const MIB: u64 = 1 << 20;
/// GTT page size.
pub const PAGE: u64 = 4096;
/// BAR4 offset of MMIO_Index.
pub const BAR4_INDEX: u16 = 0;
/// BAR4 offset of MMIO_Data.
pub const BAR4_DATA: u16 = 4;
/// MMIO_Index bit 0: Sel = 1 addresses the GTT.
pub const INDEX_SEL_GTT: u32 = 1;
/// MMIO_Index bits 31:2: the byte offset.
pub const INDEX_OFFSET_MASK: u32 = !3;
/// Config offset of GGC (GMCH Graphics Control).
pub const CFG_GGC: u16 = 0x50;
/// Config offset of ASLS (OpRegion base).
pub const CFG_ASLS: u16 = 0xFC;

/// Everything a remapper may know about the device and the VM when it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RemapContext {
    /// The platform row of the assigned device.
    pub info: &'static PlatformInfo,
    /// Host BDSM (1 MiB aligned): where the real stolen memory starts.
    pub host_bdsm: HostPhys,
    /// The virtual BDSM register as the guest programmed it (raw, lock bit
    /// included); 0 = firmware has not programmed it yet.
    pub guest_bdsm: u64,
    /// Host data stolen memory (DSM) size in bytes.
    pub host_stolen_size: u64,
    /// Size of the region the guest firmware reserved at guest BDSM (the VMM's
    /// `etc/igd-bdsm-size`).
    pub guest_stolen_size: u64,
    /// Host GTT (GSM) size in bytes.
    pub gtt_size: u64,
    /// GGC as the guest sees it (config 0x50).
    pub ggc: u16,
    /// The region firmware reserved for guest stolen memory, when the VMM
    /// knows it (it allocated it, or it watched the firmware step). A remapper
    /// may trust it over the guest-writable BDSM register.
    pub reserved_stolen: Option<Region<GuestPhys>>,
}

impl RemapContext {
    /// Host stolen memory `[host_bdsm, host_bdsm + host_stolen_size)`.
    #[must_use]
    pub fn host_stolen(&self) -> Region<HostPhys> {
        Region::new(
            HostPhys(self.host_bdsm.0 & !(MIB - 1)),
            self.host_stolen_size,
        )
    }

    /// Guest stolen region, once firmware programmed BDSM.
    #[must_use]
    pub fn guest_stolen(&self) -> Option<Region<GuestPhys>> {
        let base = self.guest_bdsm & !(MIB - 1);
        (base != 0 && self.guest_stolen_size != 0)
            .then(|| Region::new(GuestPhys(base), self.guest_stolen_size))
    }
}

/// Which BAR4 register an access hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Bar4Reg {
    /// MMIO_Index (+0).
    Index,
    /// MMIO_Data (+4).
    Data,
}

/// Read or write, with the written value (zero-extended bytes of the access).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Bar4Op {
    /// A read.
    Read,
    /// A write of this value (`width` bytes, little-endian, zero-extended).
    Write(u32),
}

/// One guest access to a BAR4 register, already split per register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bar4Access {
    /// The register.
    pub reg: Bar4Reg,
    /// Byte offset inside the register (0-3).
    pub offset: u8,
    /// Bytes accessed (1-4; `offset + width <= 4`).
    pub width: u8,
    /// Read or write.
    pub op: Bar4Op,
    /// What the device's MMIO_Index holds before this access (the wrapper
    /// shadows every byte the guest wrote to it).
    pub device_index: u32,
}

/// One dword the remapper wants written into the GTT (byte offset in the GTT),
/// issued by the wrapper through the BAR0 GTT half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GttDwordWrite {
    /// Byte offset inside the GTT (4-aligned).
    pub gtt_offset: u64,
    /// The dword.
    pub value: u32,
}

/// Why a remapper changed, refused or answered an access.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Reason {
    /// QEMU 2.9 to 9.2: `val = data - host_bdsm + guest_bdsm` (`ac2a9862b761`).
    QemuRebase,
    /// QEMU 2.7 and 2.8: `val = guest_bdsm | (data & 0xFFFFF)` (`c4c45e943e51`).
    QemuOrLow20,
    /// QEMU 2016: high dword of a gen8+ PTE forced to 0 ("we only enable below
    /// 4G PTEs", `c4c45e943e51`).
    QemuHighDwordZeroed,
    /// Host stolen address moved to the same offset in guest stolen.
    HostToGuestStolen {
        /// Address the guest wrote.
        from: u64,
        /// Address the device received.
        to: u64,
    },
    /// The address already lies in guest stolen memory: left alone.
    AlreadyGuestStolen,
    /// Invalid entry: address bits cleared, flags kept.
    InvalidEntryZeroed,
    /// An address outside both stolen regions pointed at the scratch page.
    ScratchPage {
        /// Address the guest wrote.
        from: u64,
        /// The scratch page.
        to: u64,
    },
    /// One half of a 64-bit entry is known; the entry is kept invalid until the
    /// other half arrives.
    HalfPending,
    /// A valid entry whose address lies outside host and guest stolen memory.
    OutsideStolen {
        /// The decoded address.
        addr: u64,
    },
    /// A host stolen address whose offset does not fit the guest region.
    BeyondGuestStolen {
        /// The decoded address.
        addr: u64,
        /// Its offset in host stolen memory.
        offset: u64,
    },
    /// The guest region is above what the PTE format can express.
    NotEncodable {
        /// The address that could not be encoded.
        addr: u64,
    },
    /// Guest BDSM is still 0: nowhere to remap to.
    GuestBdsmUnset,
    /// A GTT write narrower than a dword (or unaligned).
    PartialGttWrite,
    /// A GTT write past the end of the GTT.
    GttIndexOutOfRange {
        /// Byte offset in the GTT.
        gtt_offset: u64,
    },
    /// An MMIO (Sel = 0) write that lands in BAR0's GTT half.
    MmioWindowIntoGtt {
        /// The BAR0 offset.
        bar0_offset: u64,
    },
    /// A mirror register (BDSM/GGC) served from the virtual config.
    Mirror {
        /// The BAR0 offset of the register dword.
        bar0_offset: u64,
    },
    /// BAR4 Sel = 1 does not reach the GTT on this generation (gen 11+,
    /// `5aed8b0f0be2`): the write is dropped rather than guessed at.
    NoIobarGtt,
    /// Writes to the mirrors through the I/O window are dropped.
    MirrorReadOnly {
        /// The BAR0 offset.
        bar0_offset: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::QemuRebase => write!(f, "rebased data - host BDSM + guest BDSM (QEMU 2.9-9.2)"),
            Reason::QemuOrLow20 => {
                write!(f, "guest BDSM OR the low 20 bits of data (QEMU 2.7-2.8)")
            }
            Reason::QemuHighDwordZeroed => write!(f, "high dword forced to 0 (QEMU 2016)"),
            Reason::HostToGuestStolen { from, to } => {
                write!(f, "host stolen {from:#x} moved to guest stolen {to:#x}")
            }
            Reason::AlreadyGuestStolen => write!(f, "address already in guest stolen memory"),
            Reason::InvalidEntryZeroed => write!(f, "invalid entry, address cleared"),
            Reason::ScratchPage { from, to } => {
                write!(
                    f,
                    "{from:#x} is outside stolen memory, pointed at scratch {to:#x}"
                )
            }
            Reason::HalfPending => write!(f, "half of a 64-bit entry, kept invalid until complete"),
            Reason::OutsideStolen { addr } => {
                write!(f, "{addr:#x} lies outside host and guest stolen memory")
            }
            Reason::BeyondGuestStolen { addr, offset } => write!(
                f,
                "host stolen {addr:#x} (offset {offset:#x}) does not fit the guest region"
            ),
            Reason::NotEncodable { addr } => {
                write!(f, "{addr:#x} cannot be expressed in this PTE format")
            }
            Reason::GuestBdsmUnset => write!(f, "guest BDSM is not programmed"),
            Reason::PartialGttWrite => write!(f, "GTT write narrower than a dword"),
            Reason::GttIndexOutOfRange { gtt_offset } => {
                write!(f, "GTT offset {gtt_offset:#x} is past the end of the GTT")
            }
            Reason::MmioWindowIntoGtt { bar0_offset } => {
                write!(
                    f,
                    "MMIO window write at {bar0_offset:#x} lands in the GTT half"
                )
            }
            Reason::Mirror { bar0_offset } => {
                write!(
                    f,
                    "mirror register {bar0_offset:#x} served from virtual config"
                )
            }
            Reason::NoIobarGtt => {
                write!(f, "the I/O BAR does not reach the GTT on this generation")
            }
            Reason::MirrorReadOnly { bar0_offset } => {
                write!(
                    f,
                    "mirror register {bar0_offset:#x} is read-only through BAR4"
                )
            }
        }
    }
}

/// What the device receives for one access.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Decision {
    /// The access goes to the device unchanged.
    Forward,
    /// A write goes to the device at the same offset and width with this value
    /// (truncated to the width).
    Rewrite {
        /// The new value.
        value: u64,
        /// Why.
        reason: Reason,
    },
    /// The guest write is not forwarded; instead the wrapper writes these GTT
    /// dwords, in order, through the BAR0 GTT half.
    Replace {
        /// Dwords to write.
        writes: Vec<GttDwordWrite>,
        /// Why.
        reason: Reason,
    },
    /// A read is answered with this value (bytes of the register dword); a
    /// write is absorbed by an emulated register.
    Emulate {
        /// The register value.
        value: u64,
        /// Why.
        reason: Reason,
    },
    /// The write is dropped and recorded.
    Refuse {
        /// Why.
        reason: Reason,
    },
    /// The VMM stops the VM (QEMU `hw_error`).
    Fatal {
        /// The VMM's message.
        message: String,
    },
}

/// A BAR0 range the VMM serves from a config register (QEMU
/// `vfio_generic_mirror_quirk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bar0Mirror {
    /// First BAR0 offset.
    pub bar0_offset: u64,
    /// Bytes mirrored.
    pub len: u64,
    /// The config register behind it.
    pub config_offset: u16,
}

impl Bar0Mirror {
    /// Whether `[offset, offset + len)` lies wholly inside the mirror.
    #[must_use]
    pub fn covers(&self, offset: u64, len: u64) -> bool {
        offset >= self.bar0_offset
            && offset
                .checked_add(len)
                .is_some_and(|e| e <= self.bar0_offset + self.len)
    }
}

/// The BDSM mirror for a platform: 4 bytes onto 0x5C (gen 6-10) or 8 bytes onto
/// 0xC0 (gen 11+) (QEMU `11b5ce95beec`, `f926baa03b7b`).
#[must_use]
pub fn bdsm_mirror(info: &PlatformInfo) -> Bar0Mirror {
    bdsm_mirror_at(info.bdsm)
}

/// The BDSM mirror onto a given BDSM register (QEMU mirrors the register it
/// emulates, by its own generation number).
#[must_use]
pub fn bdsm_mirror_at(loc: BdsmLocation) -> Bar0Mirror {
    Bar0Mirror {
        bar0_offset: u64::from(GEN6_DSMBASE),
        len: u64::from(loc.width()),
        config_offset: loc.offset(),
    }
}

/// The GGC mirror: 2 bytes onto config 0x50 (QEMU `ea652c2beeae`).
#[must_use]
pub const fn ggc_mirror() -> Bar0Mirror {
    Bar0Mirror {
        bar0_offset: GGC_MIRROR as u64,
        len: 2,
        config_offset: CFG_GGC,
    }
}

/// A VMM's IGD quirk at the BAR4/BAR0 seam. Implementations never panic on any
/// access.
pub trait Remapper {
    /// Short name for reports ("qemu-2016", "qemu-2025", "strict").
    fn name(&self) -> &'static str;

    /// The VMM sets its quirk up for the device (QEMU's realize), once, before
    /// anything else: it may read the host config space (device ID, GGC,
    /// BDSM).
    fn realize(&mut self, info: &'static PlatformInfo, host_config: &ConfigSpace) {
        let _ = (info, host_config);
    }

    /// Where the VMM emulates BDSM (guest-writable, initially 0); `None`: it
    /// does not, the guest reaches the device's register.
    fn bdsm_location(&self, info: &PlatformInfo) -> Option<BdsmLocation> {
        Some(info.bdsm)
    }

    /// Every guest access to MMIO_Index or MMIO_Data (reads included: QEMU's
    /// quirk is stateful).
    fn on_bar4_access(&mut self, ctx: &RemapContext, access: &Bar4Access) -> Decision;

    /// A guest write to BAR0's GTT half (`gtt_offset` bytes into the GTT,
    /// `data` 1-8 bytes). QEMU maps this half straight through.
    fn on_bar0_gtt_write(&mut self, ctx: &RemapContext, gtt_offset: u64, data: &[u8]) -> Decision {
        let _ = (ctx, gtt_offset, data);
        Decision::Forward
    }

    /// The BAR0 mirror containing `offset`, if the VMM emulates one there.
    fn bar0_mirror(&self, ctx: &RemapContext, offset: u64) -> Option<Bar0Mirror>;

    /// GGC as the guest sees it, given the host's.
    fn guest_ggc(&self, info: &PlatformInfo, host_ggc: u16) -> u16 {
        let _ = info;
        host_ggc
    }

    /// The size the VMM asks firmware to reserve (`etc/igd-bdsm-size`), given
    /// the guest-visible GGC.
    fn bdsm_size(&self, info: &PlatformInfo, guest_ggc: u16) -> u64;

    /// MMIO_Index values the VMM writes (each followed by data 0) at start-up.
    fn startup_writes(&self, ctx: &RemapContext) -> Vec<u32> {
        let _ = ctx;
        Vec::new()
    }

    /// What the VMM's host bridge (00:00.0) shows of the platform's graphics
    /// registers. A vBIOS reads GGC there as well as in the IGD.
    fn host_bridge(&self) -> HostBridgeView {
        HostBridgeView::Platform
    }

    /// Function-level reset: drop all latched state.
    fn reset(&mut self);

    /// A VMM that maps the host's stolen memory into the guest itself (Xen,
    /// ACRN) instead of having guest firmware reserve guest RAM for it: the
    /// layout it sets up before the guest runs (available after
    /// [`Remapper::realize`]), or why it cannot. `None` (the default): guest
    /// firmware reserves [`Remapper::bdsm_size`] bytes of RAM and writes BDSM
    /// (SeaBIOS `intel_igd_setup`), as under QEMU.
    fn host_mapped(&self) -> Option<Result<HostMapped, VmmError>> {
        None
    }

    /// Where guest RAM below 4 GiB ends once the VMM has made room for what
    /// [`Remapper::host_mapped`] maps, given it would end at `ram_below_4g`
    /// (Xen's reserved device memory check may lower it, or refuse).
    fn guest_ram_end(&self, ram_below_4g: u64) -> Result<u64, VmmError> {
        Ok(ram_below_4g)
    }

    /// What the user should know about this VMM's support for a legacy vBIOS,
    /// printed with the run (ACRN documents GVT-d with OVMF and a GOP driver
    /// only).
    fn caveat(&self) -> Option<&'static str> {
        None
    }
}

/// What a VMM that maps the host's stolen memory into the guest (Xen, ACRN)
/// sets up before the guest runs. Nothing rewrites PTEs: the device reaches
/// its stolen memory because the IOMMU maps the guest range onto it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HostMapped {
    /// Where the device's stolen memory appears to the guest (guest physical
    /// = IOVA): the guest stolen region device accesses are checked against.
    /// Never larger than the host's stolen memory.
    pub stolen: Region<GuestPhys>,
    /// The range the VMM maps through the IOMMU (and the CPU's second-level
    /// tables), starting at [`HostMapped::host`]; it may be larger than
    /// `stolen` when the VMM sizes it differently from the hardware.
    pub mapping: Region<GuestPhys>,
    /// Host address behind `mapping.base`.
    pub host: HostPhys,
    /// Where the VMM maps the host OpRegion.
    pub opregion: Region<GuestPhys>,
    /// Ranges the guest's e820 reports reserved (stolen mapping, OpRegion).
    pub reserved: Vec<Region<GuestPhys>>,
    /// BDSM as the guest reads it at the IGD (read-only to the guest).
    pub bdsm: u64,
    /// ASLS as the guest reads it (read-only to the guest).
    pub asls: u32,
}

/// Why a VMM that maps host stolen memory cannot set the guest up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum VmmError {
    /// Xen: the IGD's reserved device memory overlaps guest RAM below
    /// `rdm_mem_boundary`, and the (default) policy is strict.
    #[error("xen: the IGD's reserved device memory (its RMRR, host stolen memory) [{start:#x}, {end:#x}) overlaps guest RAM [0, {ram_end:#x}) below rdm_mem_boundary {boundary:#x}: with rdm_policy=strict libxl refuses to build the domain (libxl__domain_device_construct_rdm; xl.cfg(5) rdm, rdm_mem_boundary)")]
    XenRdmConflict {
        /// Start of the reserved range.
        start: u64,
        /// End of the reserved range.
        end: u64,
        /// End of guest RAM below 4 GiB.
        ram_end: u64,
        /// `rdm_mem_boundary` in bytes.
        boundary: u64,
    },
    /// ACRN: `igd_dsm_region_size` does not decode the host GGC's GMS; ACRN
    /// then sets up no stolen memory for the guest.
    #[error("acrn: GGC {ggc:#06x} holds GMS {gms:#04x} in bits 15:8, which ACRN's igd_dsm_region_size does not decode: passthru_gpu_dsm_opregion logs \"Invalid igd dsm region size\" and maps no stolen memory")]
    AcrnDsmSize {
        /// Host GGC.
        ggc: u16,
        /// GGC bits 15:8 as ACRN reads them.
        gms: u8,
    },
    /// ACRN takes a device missing from its allowlist for gen 11+ and reads
    /// BDSM at 0xC0, which this device does not implement (reads 0).
    #[error("acrn: device {device_id:04x} is not in ACRN's igd_device_tbl (SKL and later), so ACRN assumes gen 11+ and reads BDSM at 0xC0, which this device does not have (it reads {read:#x}): ACRN would map the stolen memory at guest {read:#x}")]
    AcrnNoGen11Bdsm {
        /// The device.
        device_id: u16,
        /// What 0xC0/0xC4 read on the host.
        read: u64,
    },
    /// The VMM's range lies where igdemu's machine places device BARs.
    #[error("{vmm}: the range [{start:#x}, {end:#x}) the VMM maps lies in [{hole:#x}, {hole_end:#x}), where igdemu's machine places PCI BARs; choose another --host-bdsm")]
    InBarWindow {
        /// The VMM.
        vmm: &'static str,
        /// Start.
        start: u64,
        /// End.
        end: u64,
        /// Start of the BAR window.
        hole: u64,
        /// End of the BAR window.
        hole_end: u64,
    },
}

/// What a VMM's host bridge at 00:00.0 presents beyond its IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum HostBridgeView {
    /// The platform's graphics registers as the guest sees the IGD: GGC at
    /// 0x50 (SNB+ `GGC`, of which the IGD's 0x50 is the read-only mirror),
    /// BDSM at 0xB0 and TOLUD at 0xBC (Intel 2nd-9th Gen Core datasheets vol. 2,
    /// host bridge DRAM controller registers), with the guest's values.
    Platform,
    /// Another chipset's bridge carrying copied IDs only (QEMU's i440FX:
    /// `vfio_pci_igd_host_init` copies revision, SVID and SSID; 0x50 and the
    /// memory map registers read 0).
    IdsOnly,
    /// QEMU's `igd-passthrough-i440FX` as Xen's `xenfv` machine builds it
    /// with `gfx_passthru` (`hw/pci-host/xen_igd_pt.c`,
    /// `igd_host_bridge_infos`, `igd_pt_i440fx_realize`): an i440FX whose
    /// 0x50/0x52 (GGC), 0xA4 and 0xA8 are copied from the *host* bridge; BDSM
    /// (0xB0) and TOLUD (0xBC) are not copied and read 0.
    HostGraphicsControl,
}
