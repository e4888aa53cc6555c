//! QEMU's legacy-mode BAR4 GTT quirk, faithfully, faults included.
//!
//! Introduced by `c4c45e943e51` ("vfio/pci: Intel graphics legacy mode
//! assignment", 2016), removed by `5aed8b0f0be2` ("vfio/igd: Remove GTT write
//! quirk in IO BAR 4", March 2025). Facts below are from the pre-removal
//! `hw/vfio/igd.c` (`vfio_igd_quirk_{index,data}_{read,write}`,
//! `vfio_igd_gtt_max`, `vfio_probe_igd_bar4_quirk`); igd-anchors §1.5.
//!
//! * Index write: `igd->index = data` (whatever the width), forwarded.
//! * Index read, data read: forwarded, `igd->index = ~0`.
//! * Data write: if `index % 4 == 1 && index < gtt_max`: when `gen < 8 ||
//!   index % 8 == 1`, `base` = the emulated BDSM register (32-bit 0x5C, or
//!   64-bit 0xC0 on gen >= 11 since `7bafcd176729`); `base == 0` =>
//!   `hw_error(...)`; else `val = data - igd->bdsm + base` (u64, wrapping, no
//!   range check); otherwise (gen >= 8 high dword) `val = 0`. Then
//!   `vfio_region_write(bar4, addr + 4, val, size)` (truncated to the access
//!   width) and `igd->index = ~0`.
//! * `gtt_max = (ggms_bytes / 4 KiB) * (gen < 8 ? 4 : 8)` with `ggms = (gmch >>
//!   (gen < 8 ? 8 : 6)) & 3; if (gen > 6 && ggms != 0) ggms = 1 << ggms` MiB
//!   (`03828b00a2bf`), GMCH read from the *emulated* config.
//! * At realize every trapped PTE `index = 1, 5, 9, ... < gtt_max` is written 0.
//! * GMCH is emulated read-only with GMS cleared (no `x-igd-gms`), and
//!   `etc/igd-bdsm-size = (ggms_mb + gms_mb) MiB` with `gms_mb = 0`.
//!
//! Generation numbering is QEMU's of the `03828b00a2bf` era: 6 for
//! SNB/IVB/HSW/VLV, 8 for BDW/CHV/SKL/BXT/KBL, 9 for CFL, 11 for EHL, 12 for
//! TGL. Platforms that era did not know (GLK, CML, ICL, JSL, RKL, ADL, RPL,
//! where QEMU applied no quirk) are given the number later QEMU assigns them, so
//! the rebase can be studied on every row of the table. CHV is decoded with
//! gen-8 field positions, as QEMU does (wrongly: CHV uses SNB positions).
//!
//! No BAR0 mirrors: this models the 2016 quirk as written, before
//! `11b5ce95beec` (2024).

use super::remap::HostBridgeView;
use super::remap::{
    Bar0Mirror, Bar4Access, Bar4Op, Bar4Reg, Decision, Reason, RemapContext, Remapper, MIB,
};
use crate::igd::generation::{Platform, PlatformInfo};

/// QEMU's `hw_error` text when the guest BDSM is still 0.
pub const UNSUPPORTED_BIOS: &str = "vfio-igd: Guest attempted to program IGD GTT before BIOS reserved stolen memory.  Unsupported BIOS?";

/// QEMU's `igd_gen()` value for a platform (see the module doc for the era).
#[must_use]
pub const fn qemu_gen(platform: Platform) -> u32 {
    match platform {
        Platform::SandyBridge | Platform::IvyBridge | Platform::Valleyview | Platform::Haswell => 6,
        Platform::Broadwell
        | Platform::Cherryview
        | Platform::Skylake
        | Platform::Broxton
        | Platform::KabyLake
        | Platform::GeminiLake => 8,
        Platform::CoffeeLake | Platform::CometLake => 9,
        Platform::IceLake | Platform::ElkhartLake | Platform::JasperLake => 11,
        Platform::TigerLake
        | Platform::RocketLake
        | Platform::AlderLakeS
        | Platform::AlderLakeP
        | Platform::RaptorLake => 12,
    }
}

/// GTT size in MiB the QEMU way (`03828b00a2bf`): `ggms = (gmch >> (gen < 8 ?
/// 8 : 6)) & 3; if (gen > 6 && ggms != 0) ggms = 1 << ggms`.
#[must_use]
pub const fn qemu_ggms_mib(gen: u32, gmch: u32) -> u64 {
    let ggms = (gmch >> if gen < 8 { 8 } else { 6 }) & 3;
    if gen > 6 && ggms != 0 {
        1 << ggms
    } else {
        ggms as u64
    }
}

/// `vfio_igd_gtt_max`: the first MMIO_Index value past the trapped range.
#[must_use]
pub const fn qemu_gtt_max(gen: u32, gmch: u32) -> u64 {
    let ggms_bytes = qemu_ggms_mib(gen, gmch) * MIB;
    (ggms_bytes / 4096) * if gen < 8 { 4 } else { 8 }
}

/// QEMU's 2016 legacy-mode quirk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu2016 {
    /// `igd->index`, `~0` when no sequence is in progress.
    index: u32,
}

impl Default for Qemu2016 {
    fn default() -> Self {
        Self { index: !0 }
    }
}

impl Qemu2016 {
    /// A quirk with no index latched.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The latched index (`~0` = none).
    #[must_use]
    pub const fn latched_index(&self) -> u32 {
        self.index
    }

    fn data_write(&self, ctx: &RemapContext, data: u32) -> Decision {
        let gen = qemu_gen(ctx.info.platform);
        let index = u64::from(self.index);
        if index % 4 == 1 && index < qemu_gtt_max(gen, u32::from(ctx.ggc)) {
            if gen < 8 || index % 8 == 1 {
                // `base` is the emulated register as the guest wrote it.
                let base = ctx.guest_bdsm;
                if base == 0 {
                    return Decision::Fatal {
                        message: UNSUPPORTED_BIOS.to_string(),
                    };
                }
                let host = ctx.host_bdsm.0 & !(MIB - 1);
                let val = u64::from(data).wrapping_sub(host).wrapping_add(base);
                Decision::Rewrite {
                    value: val,
                    reason: Reason::QemuRebase,
                }
            } else {
                Decision::Rewrite {
                    value: 0,
                    reason: Reason::QemuHighDwordZeroed,
                }
            }
        } else {
            Decision::Forward
        }
    }
}

impl Remapper for Qemu2016 {
    fn name(&self) -> &'static str {
        "qemu-2016"
    }

    fn host_bridge(&self) -> HostBridgeView {
        // QEMU keeps its own i440FX host bridge (igd-anchors §1.6).
        HostBridgeView::IdsOnly
    }

    fn on_bar4_access(&mut self, ctx: &RemapContext, access: &Bar4Access) -> Decision {
        match (access.reg, access.op) {
            (Bar4Reg::Index, Bar4Op::Write(v)) => {
                self.index = v;
                Decision::Forward
            }
            (Bar4Reg::Index | Bar4Reg::Data, Bar4Op::Read) => {
                self.index = !0;
                Decision::Forward
            }
            (Bar4Reg::Data, Bar4Op::Write(v)) => {
                let d = self.data_write(ctx, v);
                self.index = !0;
                d
            }
        }
    }

    fn bar0_mirror(&self, _ctx: &RemapContext, _offset: u64) -> Option<Bar0Mirror> {
        None
    }

    fn guest_ggc(&self, info: &PlatformInfo, host_ggc: u16) -> u16 {
        // `gmch &= ~((gen < 8 ? 0x1f : 0xff) << (gen < 8 ? 3 : 8))`.
        let gen = qemu_gen(info.platform);
        let mask: u32 = if gen < 8 { 0x1F << 3 } else { 0xFF << 8 };
        (u32::from(host_ggc) & !mask) as u16
    }

    fn bdsm_size(&self, info: &PlatformInfo, guest_ggc: u16) -> u64 {
        qemu_ggms_mib(qemu_gen(info.platform), u32::from(guest_ggc)) * MIB
    }

    fn startup_writes(&self, ctx: &RemapContext) -> Vec<u32> {
        let gen = qemu_gen(ctx.info.platform);
        let max = qemu_gtt_max(gen, u32::from(ctx.ggc));
        (1..max).step_by(4).map(|i| i as u32).collect()
    }

    fn reset(&mut self) {
        self.index = !0;
    }
}
