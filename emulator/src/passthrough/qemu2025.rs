//! `qemu-2025`: today's QEMU under its historical name, an alias of QEMU
//! 10.1.0 ([`ALIAS_2025`]): no BAR4 rewrite (`5aed8b0f0be2`), BDSM emulated
//! (0x5C, or 64-bit 0xC0 from i915 gen 11, `7bafcd176729`) with a BAR0 mirror
//! at 0x1080C0 for gen 6+ (`f926baa03b7b`), the GGC mirror at 0x108040 only with
//! `x-igd-gms` (`36e4047a9b1c`), `etc/igd-bdsm-size` = GMS only
//! (`5faec6a5e220`), legacy mode for gen 6-9 only (`dd69d846046f`: gen 11+
//! devices are refused). The model is [`QemuIgd`].

use super::qemu2016::delegate_remapper;
use super::qemu_igd::QemuIgd;
use super::qemu_release::{QemuSetup, ALIAS_2025};
use super::remap::{Bar0Mirror, Bar4Access, Decision, HostBridgeView, RemapContext, Remapper};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::ConfigSpace;

/// QEMU 10.1.0, named `qemu-2025`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu2025(QemuIgd);

impl Default for Qemu2025 {
    fn default() -> Self {
        Self(QemuIgd::release(ALIAS_2025))
    }
}

impl Qemu2025 {
    /// QEMU 10.1.0, no options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// QEMU 10.1.0 with `x-igd-gms=gms` (which also turns the GGC mirror on).
    #[must_use]
    pub fn with_gms(gms: u32) -> Self {
        let mut setup = QemuSetup::release(ALIAS_2025);
        setup.options.gms = gms;
        Self(QemuIgd::new(setup))
    }

    /// The release model behind the alias.
    #[must_use]
    pub const fn model(&self) -> &QemuIgd {
        &self.0
    }
}

delegate_remapper!(Qemu2025, "qemu-2025");
