//! Shared test rigs: a passthrough layer around the fake device, driven the way
//! a vBIOS drives it.
#![allow(dead_code)]

use igdemu::igd::generation::{info, Platform, PlatformInfo};
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

/// MMIO_Index then MMIO_Data, 32-bit each.
pub fn index_data(pt: &mut Rig, index: u32, data: u32) {
    pt.io_write(0, &index.to_le_bytes());
    pt.io_write(4, &data.to_le_bytes());
}

/// Write PTE `entry` through BAR4 as a vBIOS does (one dword, or low then
/// high dword; `high_first` swaps the order).
pub fn write_pte(pt: &mut Rig, entry: u64, raw: u64, high_first: bool) {
    let info: &PlatformInfo = pt.host().info();
    let size = info.pte.size();
    let off = (entry * size) as u32;
    if size == 4 {
        index_data(pt, off | 1, raw as u32);
    } else if high_first {
        index_data(pt, (off + 4) | 1, (raw >> 32) as u32);
        index_data(pt, off | 1, raw as u32);
    } else {
        index_data(pt, off | 1, raw as u32);
        index_data(pt, (off + 4) | 1, (raw >> 32) as u32);
    }
}

/// A SNB GGC: GMS 5 (160 MiB), GGMS 2 (2 MiB).
pub const SNB_GGC: u16 = 0x0228;
/// A BDW/SKL GGC: GMS 2 (64 MiB), GGMS 1 (2 MiB).
pub const BDW_GGC: u16 = 0x0240;
pub const HOST_BDSM: u64 = 0x8B00_0000;
pub const GUEST_BDSM: u64 = 0x7E00_0000;
