//! Today's QEMU IGD quirks: no BAR4 rewrite at all (`5aed8b0f0be2`, March
//! 2025), BDSM and ASLS emulated as guest-writable scratch registers (initially
//! 0; `7bafcd176729` for the 64-bit gen 11+ BDSM at 0xC0, `1d5f84f349d2` for
//! ASLS), BAR0 mirrors through `vfio_generic_mirror_quirk`: BDSM at 0x1080C0 (4
//! bytes onto 0x5C gen 6-10, 8 bytes onto 0xC0 gen 11+; `11b5ce95beec`,
//! `f926baa03b7b`) and GGC at 0x108040 only with `x-igd-gms` (`ea652c2beeae`,
//! `36e4047a9b1c`). `etc/igd-bdsm-size` is the GMS size only (`5faec6a5e220`).
//!
//! The mirrors are BAR0 MemoryRegion quirks: an access that reaches 0x1080C0
//! through the BAR4 I/O window (MMIO_Index Sel = 0, offset 0x1080C0) is not
//! intercepted and the device answers with the HOST BDSM (igd-anchors §12.3,
//! inferred). This model forwards it, as QEMU does.

use super::remap::HostBridgeView;
use super::remap::{
    bdsm_mirror, ggc_mirror, Bar0Mirror, Bar4Access, Decision, RemapContext, Remapper, MIB,
};
use crate::igd::generation::{Platform, PlatformInfo};

/// QEMU's `igd_gen()` after `0bb758e97ace` (aligned with i915).
#[must_use]
pub const fn qemu_gen(platform: Platform) -> u32 {
    match platform {
        Platform::SandyBridge => 6,
        // IVB still matches the 0x01xx mask (6); all gen < 8 decode alike.
        Platform::IvyBridge => 6,
        Platform::Valleyview | Platform::Haswell => 7,
        Platform::Broadwell | Platform::Cherryview => 8,
        Platform::Skylake
        | Platform::Broxton
        | Platform::KabyLake
        | Platform::GeminiLake
        | Platform::CoffeeLake
        | Platform::CometLake => 9,
        Platform::IceLake | Platform::ElkhartLake | Platform::JasperLake => 11,
        Platform::TigerLake
        | Platform::RocketLake
        | Platform::AlderLakeS
        | Platform::AlderLakeP
        | Platform::RaptorLake => 12,
    }
}

/// `igd_stolen_memory_size(gen, gmch)` (current QEMU): CHV is decoded with
/// gen-8 positions, as QEMU does.
#[must_use]
pub const fn qemu_stolen_size(gen: u32, gmch: u32) -> u64 {
    let gms = if gen < 8 {
        (gmch >> 3) & 0x1F
    } else {
        (gmch >> 8) & 0xFF
    } as u64;
    if gen < 9 || gms < 0xF0 {
        gms * 32 * MIB
    } else {
        (gms - 0xF0 + 1) * 4 * MIB
    }
}

/// Today's QEMU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Qemu2025 {
    /// `x-igd-gms`: GMS override (also turns on the GGC mirror).
    pub gms_override: Option<u8>,
}

impl Qemu2025 {
    /// QEMU with default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Remapper for Qemu2025 {
    fn name(&self) -> &'static str {
        "qemu-2025"
    }

    fn host_bridge(&self) -> HostBridgeView {
        // QEMU keeps its own i440FX host bridge (igd-anchors §1.6).
        HostBridgeView::IdsOnly
    }

    fn on_bar4_access(&mut self, _ctx: &RemapContext, _access: &Bar4Access) -> Decision {
        Decision::Forward
    }

    fn bar0_mirror(&self, ctx: &RemapContext, offset: u64) -> Option<Bar0Mirror> {
        let bdsm = bdsm_mirror(ctx.info);
        if ctx.info.bdsm_mirror && bdsm.covers(offset, 1) {
            return Some(bdsm);
        }
        let ggc = ggc_mirror();
        (self.gms_override.is_some() && ggc.covers(offset, 1)).then_some(ggc)
    }

    fn guest_ggc(&self, info: &PlatformInfo, host_ggc: u16) -> u16 {
        match self.gms_override {
            None => host_ggc,
            Some(gms) => {
                let gen = qemu_gen(info.platform);
                if gen < 8 {
                    (host_ggc & !(0x1F << 3)) | ((u16::from(gms) & 0x1F) << 3)
                } else {
                    (host_ggc & 0x00FF) | (u16::from(gms) << 8)
                }
            }
        }
    }

    fn bdsm_size(&self, info: &PlatformInfo, guest_ggc: u16) -> u64 {
        qemu_stolen_size(qemu_gen(info.platform), u32::from(guest_ggc))
    }

    fn reset(&mut self) {}
}
