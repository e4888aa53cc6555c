//! QEMU's IGD quirk as one release does it: a [`Remapper`] driven by the
//! release's [`Behaviour`](super::qemu_release::Behaviour) and what QEMU's
//! realize computed for the device ([`Realized`]).
//!
//! The BAR4 quirk (`c4c45e943e51` to `5aed8b0f0be2`; the pre-removal
//! `vfio_igd_quirk_{index,data}_{read,write}`, igd-anchors §1.5):
//!
//! * Index write: `igd->index = data`, forwarded. Index or data read:
//!   forwarded, `igd->index = ~0`.
//! * Data write with `index % 4 == 1 && index < gtt_max`: when `gen < 8 ||
//!   index % 8 == 1`, `base` = the emulated BDSM (32-bit 0x5C; 64-bit 0xC0 on
//!   gen 11+ from `7bafcd176729`); `base == 0` => `hw_error(...)` (the VM
//!   stops); else `val = base | (data & 0xFFFFF)` (2.7, 2.8) or `val = data -
//!   igd->bdsm + base` (2.9+, `ac2a9862b761`; u64, wrapping, no range check).
//!   The high dword of a 64-bit PTE is written as 0. Then `vfio_region_write`
//!   truncates to the access width and `igd->index = ~0`.
//! * `gtt_max` comes from the *emulated* GMCH with the quirk's GGMS decode
//!   (a field of 0 is 1 MiB above QEMU gen 6).
//!
//! BAR0 mirrors are `MemoryRegion`s on BAR0 only: an access reaching 0x1080C0
//! through the BAR4 I/O window goes to the device (igd-anchors §12.3).
//!
//! A release that gives the device no legacy mode ([`Refusal`]) leaves it a
//! plain vfio-pci device: no emulated BDSM, no quirk. The session refuses to
//! run a vBIOS there (nothing routes VGA to it); this remapper then forwards.

use super::qemu_release::{self, Bar4Quirk, QemuSetup, Realized, Refusal, Release};
use super::remap::{
    Bar0Mirror, Bar4Access, Bar4Op, Bar4Reg, Decision, HostBridgeView, Reason, RemapContext,
    Remapper, MIB,
};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::ConfigSpace;

/// QEMU's `hw_error` text when the guest BDSM is still 0.
pub const UNSUPPORTED_BIOS: &str = "vfio-igd: Guest attempted to program IGD GTT before BIOS reserved stolen memory.  Unsupported BIOS?";

/// One QEMU release's IGD quirk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuIgd {
    setup: QemuSetup,
    realized: Option<Result<Realized, Refusal>>,
    /// `igd->index`, `~0` when no sequence is in progress.
    index: u32,
}

impl QemuIgd {
    /// The quirk of `setup`, realized when the passthrough layer wraps a device.
    #[must_use]
    pub const fn new(setup: QemuSetup) -> Self {
        Self {
            setup,
            realized: None,
            index: !0,
        }
    }

    /// A release with default options.
    #[must_use]
    pub const fn release(release: Release) -> Self {
        Self::new(QemuSetup::release(release))
    }

    /// The quirk already realized against `host` (for driving it without the
    /// passthrough layer).
    #[must_use]
    pub fn realized_for(setup: QemuSetup, host: &ConfigSpace) -> Self {
        let mut q = Self::new(setup);
        q.realized = Some(qemu_release::realize(&setup, host));
        q
    }

    /// The release and options.
    #[must_use]
    pub const fn setup(&self) -> &QemuSetup {
        &self.setup
    }

    /// What realize set up (None before realize).
    #[must_use]
    pub fn realized(&self) -> Option<&Result<Realized, Refusal>> {
        self.realized.as_ref()
    }

    fn quirk(&self) -> Option<&Realized> {
        self.realized.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// The latched index (`~0` = none).
    #[must_use]
    pub const fn latched_index(&self) -> u32 {
        self.index
    }

    fn data_write(&self, q: &Realized, ctx: &RemapContext, data: u32) -> Decision {
        let gen = q.qemu_gen;
        let index = u64::from(self.index);
        if index % 4 != 1 || index >= q.gtt_max {
            return Decision::Forward;
        }
        if gen >= 8 && index % 8 != 1 {
            // "upper 32bits of pte, we only enable below 4G PTEs".
            return Decision::Rewrite {
                value: 0,
                reason: Reason::QemuHighDwordZeroed,
            };
        }
        // `pci_get_long` (0x5C) or `pci_get_quad` (0xC0) of the emulated register.
        let base = match q.bdsm {
            BdsmLocation::Config5C => ctx.guest_bdsm & 0xFFFF_FFFF,
            BdsmLocation::ConfigC0 => ctx.guest_bdsm,
        };
        if base == 0 {
            return Decision::Fatal {
                message: UNSUPPORTED_BIOS.to_string(),
            };
        }
        let data = u64::from(data);
        match q.bar4 {
            Bar4Quirk::OrLow20 => Decision::Rewrite {
                value: base | (data & (MIB - 1)),
                reason: Reason::QemuOrLow20,
            },
            Bar4Quirk::Rebase => Decision::Rewrite {
                value: data.wrapping_sub(q.host_bdsm).wrapping_add(base),
                reason: Reason::QemuRebase,
            },
            Bar4Quirk::Removed => Decision::Forward,
        }
    }
}

impl Remapper for QemuIgd {
    fn name(&self) -> &'static str {
        self.setup.release.name()
    }

    fn host_bridge(&self) -> HostBridgeView {
        // Every release keeps QEMU's own i440FX host bridge and copies only
        // revision, SVID and SSID into it (`vfio_pci_igd_host_init`,
        // igd-anchors §1.6): GGC at 0x50 reads 0.
        HostBridgeView::IdsOnly
    }

    fn realize(&mut self, _info: &'static PlatformInfo, host_config: &ConfigSpace) {
        self.realized = Some(qemu_release::realize(&self.setup, host_config));
    }

    fn bdsm_location(&self, _info: &PlatformInfo) -> Option<BdsmLocation> {
        self.quirk().map(|q| q.bdsm)
    }

    fn on_bar4_access(&mut self, ctx: &RemapContext, access: &Bar4Access) -> Decision {
        let Some(q) = self.quirk().filter(|q| q.bar4 != Bar4Quirk::Removed) else {
            return Decision::Forward;
        };
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
                let d = self.data_write(q, ctx, v);
                self.index = !0;
                d
            }
        }
    }

    fn bar0_mirror(&self, _ctx: &RemapContext, offset: u64) -> Option<Bar0Mirror> {
        let q = self.quirk()?;
        [q.bdsm_mirror, q.ggc_mirror]
            .into_iter()
            .flatten()
            .find(|m| m.covers(offset, 1))
    }

    fn guest_ggc(&self, _info: &PlatformInfo, host_ggc: u16) -> u16 {
        self.quirk().map_or(host_ggc, |q| q.guest_ggc)
    }

    fn bdsm_size(&self, _info: &PlatformInfo, _guest_ggc: u16) -> u64 {
        self.quirk().map_or(0, |q| q.bdsm_size)
    }

    fn startup_writes(&self, _ctx: &RemapContext) -> Vec<u32> {
        self.quirk().map_or_else(Vec::new, Realized::startup_clear)
    }

    fn reset(&mut self) {
        // QEMU has no IGD reset hook (igd-anchors §11): the latch survives.
    }
}
