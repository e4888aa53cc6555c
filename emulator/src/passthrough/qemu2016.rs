//! `qemu-2016`: the BAR4 rebase era under its historical name, an alias of
//! QEMU 9.1.0 ([`ALIAS_2016`]), the last release of the era `c4c45e943e51`
//! (2016) began: BAR4 rebase `data - host + guest` (`ac2a9862b761`), GMS
//! zeroed in the guest GGC, `etc/igd-bdsm-size` = GGMS (a field of 0 read as 1
//! MiB), start-up GTT clear, VM stop on BDSM 0, QEMU's own gen numbering (6 for
//! SNB/IVB/HSW/VLV, 8 for everything newer: ICL and later get the 32-bit BDSM
//! at 0x5C), no BAR0 mirrors. The model is [`QemuIgd`]; see
//! [`qemu_release`](super::qemu_release) for every other release.

use super::qemu_igd::QemuIgd;
use super::qemu_release::{QemuSetup, ALIAS_2016};
use super::remap::{Bar0Mirror, Bar4Access, Decision, HostBridgeView, RemapContext, Remapper};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::ConfigSpace;

pub use super::qemu_igd::UNSUPPORTED_BIOS;

/// QEMU 9.1.0 with default options, named `qemu-2016`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu2016(QemuIgd);

impl Default for Qemu2016 {
    fn default() -> Self {
        Self(QemuIgd::release(ALIAS_2016))
    }
}

impl Qemu2016 {
    /// QEMU 9.1.0, no options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The release model behind the alias.
    #[must_use]
    pub const fn model(&self) -> &QemuIgd {
        &self.0
    }

    /// The latched index (`~0` = none).
    #[must_use]
    pub const fn latched_index(&self) -> u32 {
        self.0.latched_index()
    }

    /// The alias realized against `host` (to drive it without the wrapper).
    #[must_use]
    pub fn realized_for(host: &ConfigSpace) -> Self {
        Self(QemuIgd::realized_for(QemuSetup::release(ALIAS_2016), host))
    }
}

/// Delegate every `Remapper` method to the release model, keeping the alias name.
macro_rules! delegate_remapper {
    ($t:ty, $name:literal) => {
        impl Remapper for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn realize(&mut self, info: &'static PlatformInfo, host_config: &ConfigSpace) {
                self.0.realize(info, host_config);
            }
            fn bdsm_location(&self, info: &PlatformInfo) -> Option<BdsmLocation> {
                self.0.bdsm_location(info)
            }
            fn on_bar4_access(&mut self, ctx: &RemapContext, access: &Bar4Access) -> Decision {
                self.0.on_bar4_access(ctx, access)
            }
            fn on_bar0_gtt_write(
                &mut self,
                ctx: &RemapContext,
                gtt_offset: u64,
                data: &[u8],
            ) -> Decision {
                self.0.on_bar0_gtt_write(ctx, gtt_offset, data)
            }
            fn bar0_mirror(&self, ctx: &RemapContext, offset: u64) -> Option<Bar0Mirror> {
                self.0.bar0_mirror(ctx, offset)
            }
            fn guest_ggc(&self, info: &PlatformInfo, host_ggc: u16) -> u16 {
                self.0.guest_ggc(info, host_ggc)
            }
            fn bdsm_size(&self, info: &PlatformInfo, guest_ggc: u16) -> u64 {
                self.0.bdsm_size(info, guest_ggc)
            }
            fn startup_writes(&self, ctx: &RemapContext) -> Vec<u32> {
                self.0.startup_writes(ctx)
            }
            fn host_bridge(&self) -> HostBridgeView {
                self.0.host_bridge()
            }
            fn reset(&mut self) {
                self.0.reset();
            }
        }
    };
}
pub(crate) use delegate_remapper;

delegate_remapper!(Qemu2016, "qemu-2016");
