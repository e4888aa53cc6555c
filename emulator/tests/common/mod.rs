//! Shared test rigs: a passthrough layer around the fake device, driven the way
//! a vBIOS drives it.
#![allow(dead_code)]

use igdemu::igd::generation::{info, Platform};
pub use igdemu::passthrough::testing::write_pte;
use igdemu::passthrough::testing::FakeIgd;
use igdemu::passthrough::{HostIgd, Passthrough, Remapper};

pub const MIB: u64 = 1 << 20;

pub type Rig = Passthrough<FakeIgd>;

/// A passthrough layer with remapper `r` around a fake `platform` device.
pub fn rig(platform: Platform, host_bdsm: u64, ggc: u16, r: Box<dyn Remapper>) -> Rig {
    Passthrough::new(FakeIgd::new(info(platform), host_bdsm, ggc), r)
}

/// Firmware programs BDSM at the platform's location.
pub fn set_bdsm(pt: &mut Rig, value: u64) {
    let loc = pt.host().info().bdsm;
    let bytes = value.to_le_bytes();
    pt.config_write(loc.offset(), &bytes[..usize::from(loc.width())]);
}

/// A SNB GGC: GMS 5 (160 MiB), GGMS 2 (2 MiB).
pub const SNB_GGC: u16 = 0x0228;
/// A BDW/SKL GGC: GMS 2 (64 MiB), GGMS 1 (2 MiB).
pub const BDW_GGC: u16 = 0x0240;
pub const HOST_BDSM: u64 = 0x8B00_0000;
pub const GUEST_BDSM: u64 = 0x7E00_0000;
