//! The MMIO register file in the lower half of BAR0 (GTTMMADR), driven by
//! per-platform behaviour tables.
//!
//! Register offsets and bits from Linux i915 `i915_reg.h` /
//! `display/intel_display_power_well.c` (`HSW_PWR_WELL_CTL1/2` = 0x45400/0x45404,
//! request bit 31 → state bit 30 on HSW/BDW; SKL+ `HSW_PWR_WELL_CTL_REQ(idx)` =
//! bit 2·idx+1, `STATE(idx)` = bit 2·idx, `SKL_PW_CTL_IDX_PW_1/2` = 14/15,
//! `ICL_PW_CTL_IDX_PW_1..4` = 0..3), `display/intel_pps_regs.h`
//! (`PCH_PP_STATUS` 0xC7200 bit 31 `PP_ON`, `PCH_PP_CONTROL` 0xC7204 bit 0
//! `PANEL_POWER_ON`; VLV/CHV per-pipe PPS at `VLV_DISPLAY_BASE` + 0x61200) and
//! `GEN6_DSMBASE`/GGC mirrors at 0x1080C0/0x108040 (QEMU `hw/vfio/igd.c`,
//! igd-anchors §1.7, §12.1).
//!
//! Every register not in a table is a plain 32-bit read/write store whose reset
//! value is 0. Completion is instantaneous: a request bit is acknowledged in the
//! same write, so a vBIOS polling a status bit never spins.
//!
//! Accesses of any width at any offset are split into byte lanes of aligned
//! dwords; offsets at or beyond the lower half read as 0 and drop writes.

use std::collections::BTreeMap;

use super::generation::{BdsmLocation, Platform, PlatformInfo};

/// `HSW_PWR_WELL_CTL1` (BIOS request register).
pub const HSW_PWR_WELL_CTL1: u32 = 0x45400;
/// `HSW_PWR_WELL_CTL2` (driver request register).
pub const HSW_PWR_WELL_CTL2: u32 = 0x45404;
/// HSW/BDW: `HSW_PWR_WELL_CTL_REQ` (display power well request), bit 31.
pub const HSW_PWR_WELL_REQ: u32 = 1 << 31;
/// HSW/BDW: `HSW_PWR_WELL_CTL_STATE` (power well enabled), bit 30.
pub const HSW_PWR_WELL_STATE: u32 = 1 << 30;
/// SKL+: power well 1 request (`HSW_PWR_WELL_CTL_REQ(SKL_PW_CTL_IDX_PW_1)`), bit 29.
pub const SKL_PW1_REQ: u32 = 1 << 29;
/// SKL+: power well 1 state, bit 28.
pub const SKL_PW1_STATE: u32 = 1 << 28;
/// SKL+: power well 2 request (index 15), bit 31.
pub const SKL_PW2_REQ: u32 = 1 << 31;
/// SKL+: power well 2 state, bit 30.
pub const SKL_PW2_STATE: u32 = 1 << 30;
/// `PCH_PP_STATUS`: panel power sequencer status.
pub const PCH_PP_STATUS: u32 = 0xC7200;
/// `PCH_PP_CONTROL`: panel power sequencer control.
pub const PCH_PP_CONTROL: u32 = 0xC7204;
/// `VLV_DISPLAY_BASE` + `_PIPEA_PP_STATUS` (0x61200).
pub const VLV_PP_STATUS: u32 = 0x18_0000 + 0x6_1200;
/// `VLV_DISPLAY_BASE` + `_PIPEA_PP_CONTROL` (0x61204).
pub const VLV_PP_CONTROL: u32 = 0x18_0000 + 0x6_1204;
/// `PP_ON` in PP_STATUS: panel is powered.
pub const PP_ON: u32 = 1 << 31;
/// `PANEL_POWER_ON` in PP_CONTROL: request panel power.
pub const PANEL_POWER_ON: u32 = 1 << 0;
/// `GEN6_DSMBASE`: BAR0 mirror of BDSM (low dword; gen11+ high dword at +4).
pub const GEN6_DSMBASE: u32 = 0x10_80C0;
/// BAR0 mirror of GGC (`GEN6_GMCH_CTRL` mirror used by QEMU's `x-igd-gms`).
pub const GGC_MIRROR: u32 = 0x10_8040;

/// How one register answers writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RegisterBehaviour {
    /// Read/write storage.
    Plain,
    /// Writes are ignored; reads give the stored (reset or device-set) value.
    ReadOnly,
    /// Bits in `mask` are cleared by writing 1; the other bits are plain.
    WriteOneToClear {
        /// The W1C bits.
        mask: u32,
    },
    /// Bits in `mask` start an action when written 1 and always read 0.
    SelfClearing {
        /// The self-clearing bits.
        mask: u32,
    },
    /// Request/acknowledge: after each write, the `status_mask` bits of the
    /// register at `status_offset` are set when every `request_mask` bit of this
    /// register is set, and cleared otherwise. If the status register is this
    /// register, its status bits are read-only to the guest.
    StatusFollowsRequest {
        /// Request bits in this register.
        request_mask: u32,
        /// Register holding the status bits.
        status_offset: u32,
        /// Status bits.
        status_mask: u32,
    },
}

/// One table: which platforms it applies to and its (offset, behaviour) rows.
/// Several rows may name the same offset; their effects combine.
#[derive(Clone, Copy, Debug)]
pub struct BehaviourTable {
    /// What the rows model.
    pub name: &'static str,
    /// Platforms the rows apply to.
    pub platforms: &'static [Platform],
    /// The rows.
    pub rows: &'static [(u32, RegisterBehaviour)],
}

use Platform as P;

const PCH_PANEL: &[(u32, RegisterBehaviour)] = &[
    (
        PCH_PP_CONTROL,
        RegisterBehaviour::StatusFollowsRequest {
            request_mask: PANEL_POWER_ON,
            status_offset: PCH_PP_STATUS,
            status_mask: PP_ON,
        },
    ),
    (PCH_PP_STATUS, RegisterBehaviour::ReadOnly),
];

const VLV_PANEL: &[(u32, RegisterBehaviour)] = &[
    (
        VLV_PP_CONTROL,
        RegisterBehaviour::StatusFollowsRequest {
            request_mask: PANEL_POWER_ON,
            status_offset: VLV_PP_STATUS,
            status_mask: PP_ON,
        },
    ),
    (VLV_PP_STATUS, RegisterBehaviour::ReadOnly),
];

const fn follows(offset: u32, req: u32, state: u32) -> (u32, RegisterBehaviour) {
    (
        offset,
        RegisterBehaviour::StatusFollowsRequest {
            request_mask: req,
            status_offset: offset,
            status_mask: state,
        },
    )
}

const HSW_POWER_WELL: &[(u32, RegisterBehaviour)] = &[
    follows(HSW_PWR_WELL_CTL1, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE),
    follows(HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE),
];

const SKL_POWER_WELLS: &[(u32, RegisterBehaviour)] = &[
    follows(HSW_PWR_WELL_CTL1, SKL_PW1_REQ, SKL_PW1_STATE),
    follows(HSW_PWR_WELL_CTL1, SKL_PW2_REQ, SKL_PW2_STATE),
    follows(HSW_PWR_WELL_CTL2, SKL_PW1_REQ, SKL_PW1_STATE),
    follows(HSW_PWR_WELL_CTL2, SKL_PW2_REQ, SKL_PW2_STATE),
];

/// Rows added on platforms with `bdsm_mirror`: the mirrors are read-only.
const MIRRORS: &[(u32, RegisterBehaviour)] = &[
    (GEN6_DSMBASE, RegisterBehaviour::ReadOnly),
    (GEN6_DSMBASE + 4, RegisterBehaviour::ReadOnly),
    (GGC_MIRROR, RegisterBehaviour::ReadOnly),
];

/// `HSW_PWR_WELL_CTL_REQ(idx)` = bit 2·idx+1, `HSW_PWR_WELL_CTL_STATE(idx)` = bit 2·idx.
const fn well(offset: u32, idx: u32) -> (u32, RegisterBehaviour) {
    follows(offset, 1 << (idx * 2 + 1), 1 << (idx * 2))
}

/// ICL+: `ICL_PW_CTL_IDX_PW_1..PW_4` = 0..3 (TGL adds PW_5 = 4).
const ICL_POWER_WELLS: &[(u32, RegisterBehaviour)] = &[
    well(HSW_PWR_WELL_CTL1, 0),
    well(HSW_PWR_WELL_CTL1, 1),
    well(HSW_PWR_WELL_CTL1, 2),
    well(HSW_PWR_WELL_CTL1, 3),
    well(HSW_PWR_WELL_CTL2, 0),
    well(HSW_PWR_WELL_CTL2, 1),
    well(HSW_PWR_WELL_CTL2, 2),
    well(HSW_PWR_WELL_CTL2, 3),
];

/// TGL+: `TGL_PW_CTL_IDX_PW_5` = 4.
const TGL_POWER_WELL_5: &[(u32, RegisterBehaviour)] =
    &[well(HSW_PWR_WELL_CTL1, 4), well(HSW_PWR_WELL_CTL2, 4)];

const PCH_SPLIT: &[Platform] = &[
    P::SandyBridge,
    P::IvyBridge,
    P::Haswell,
    P::Broadwell,
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const GEN9: &[Platform] = &[
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
];

const GEN11_PLUS: &[Platform] = &[
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const GEN12: &[Platform] = &[
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

/// The behaviour tables. BXT/GLK keep their first panel sequencer at 0xC7200
/// (`BXT_PP_STATUS(0)`). Only the power wells a vBIOS waits on are modelled:
/// SKL PW1/PW2 (indices 14/15), ICL+ PW1-PW4 (indices 0-3), TGL+ PW5.
pub static BEHAVIOUR_TABLES: &[BehaviourTable] = &[
    BehaviourTable {
        name: "PCH panel power sequencer",
        platforms: PCH_SPLIT,
        rows: PCH_PANEL,
    },
    BehaviourTable {
        name: "VLV/CHV panel power sequencer",
        platforms: &[P::Valleyview, P::Cherryview],
        rows: VLV_PANEL,
    },
    BehaviourTable {
        name: "HSW/BDW display power well",
        platforms: &[P::Haswell, P::Broadwell],
        rows: HSW_POWER_WELL,
    },
    BehaviourTable {
        name: "SKL power wells 1 and 2",
        platforms: GEN9,
        rows: SKL_POWER_WELLS,
    },
    BehaviourTable {
        name: "ICL+ power wells 1-4",
        platforms: GEN11_PLUS,
        rows: ICL_POWER_WELLS,
    },
    BehaviourTable {
        name: "TGL+ power well 5",
        platforms: GEN12,
        rows: TGL_POWER_WELL_5,
    },
];

/// The rows that apply to `platform`, in table order.
pub fn behaviours_for(platform: Platform) -> Vec<(u32, RegisterBehaviour)> {
    BEHAVIOUR_TABLES
        .iter()
        .filter(|t| t.platforms.contains(&platform))
        .flat_map(|t| t.rows.iter().copied())
        .collect()
}

/// The BAR0 register file: sparse dword store with reset values and behaviours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmioRegisters {
    /// Size of the register half of BAR0 in bytes.
    limit: u32,
    regs: BTreeMap<u32, u32>,
    reset: BTreeMap<u32, u32>,
    behaviours: BTreeMap<u32, Vec<RegisterBehaviour>>,
}

impl MmioRegisters {
    /// The register file of `info`, with the BDSM/GGC mirrors holding the host
    /// values where the platform has them.
    #[must_use]
    pub fn new(info: &PlatformInfo, host_bdsm_reg: u64, ggc: u16) -> Self {
        let limit = u32::try_from(info.gtt_offset_in_bar0()).unwrap_or(u32::MAX);
        let mut behaviours: BTreeMap<u32, Vec<RegisterBehaviour>> = BTreeMap::new();
        let mirrors = if info.bdsm_mirror { MIRRORS } else { &[] };
        for (off, b) in behaviours_for(info.platform)
            .into_iter()
            .chain(mirrors.iter().copied())
        {
            behaviours.entry(off & !3).or_default().push(b);
        }
        let mut reset = BTreeMap::new();
        if info.bdsm_mirror {
            reset.insert(GEN6_DSMBASE, host_bdsm_reg as u32);
            if info.bdsm == BdsmLocation::ConfigC0 {
                reset.insert(GEN6_DSMBASE + 4, (host_bdsm_reg >> 32) as u32);
            }
            reset.insert(GGC_MIRROR, u32::from(ggc));
        }
        Self {
            limit,
            regs: reset.clone(),
            reset,
            behaviours,
        }
    }

    /// Size of the register region (offsets below it are registers).
    #[must_use]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The dword at `offset & !3` (0 beyond the region).
    #[must_use]
    pub fn read32(&self, offset: u32) -> u32 {
        self.regs.get(&(offset & !3)).copied().unwrap_or(0)
    }

    /// The reset value of the dword at `offset & !3`.
    #[must_use]
    pub fn reset_value(&self, offset: u32) -> u32 {
        self.reset.get(&(offset & !3)).copied().unwrap_or(0)
    }

    /// Set a register from the device side (no behaviours).
    pub fn set32(&mut self, offset: u32, value: u32) {
        store(&mut self.regs, &self.reset, offset & !3, value);
    }

    /// Every register back to its reset value.
    pub fn reset(&mut self) {
        self.regs = self.reset.clone();
    }

    /// Registers that differ from 0, in offset order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.regs
            .iter()
            .map(|(k, v)| (*k, *v))
            .filter(|(_, v)| *v != 0)
    }

    /// Guest read of `data.len()` bytes at `offset`, by byte lanes. Bytes at or
    /// beyond the register region read 0. Returns false if any byte was outside.
    pub fn read(&self, offset: u64, data: &mut [u8]) -> bool {
        let mut inside = true;
        for (i, d) in data.iter_mut().enumerate() {
            let a = offset.checked_add(i as u64);
            match a.filter(|a| *a < u64::from(self.limit)) {
                Some(a) => {
                    let a = a as u32;
                    *d = (self.read32(a) >> ((a & 3) * 8)) as u8;
                }
                None => {
                    *d = 0;
                    inside = false;
                }
            }
        }
        inside
    }

    /// Guest write of `data` at `offset`, split into aligned dwords with byte
    /// enables. Bytes at or beyond the region are dropped. Returns false if any
    /// byte was outside.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let mut inside = true;
        let mut i = 0usize;
        while i < data.len() {
            let Some(a) = offset
                .checked_add(i as u64)
                .filter(|a| *a < u64::from(self.limit))
            else {
                inside = false;
                i += 1;
                continue;
            };
            let a = a as u32;
            let dword = a & !3;
            let mut value = 0u32;
            let mut enables = 0u32;
            let mut lane = a & 3;
            while lane < 4 {
                let Some(b) = data.get(i) else { break };
                value |= u32::from(*b) << (lane * 8);
                enables |= 0xFF << (lane * 8);
                lane += 1;
                i += 1;
            }
            self.write_dword(dword, value, enables);
        }
        inside
    }

    /// Apply one dword write with byte enables through the behaviour rows.
    fn write_dword(&mut self, off: u32, value: u32, enables: u32) {
        let rows: &[RegisterBehaviour] = self.behaviours.get(&off).map_or(&[], Vec::as_slice);
        let mut ro = 0u32;
        let mut w1c = 0u32;
        let mut sc = 0u32;
        for b in rows {
            match *b {
                RegisterBehaviour::Plain => {}
                RegisterBehaviour::ReadOnly => ro = u32::MAX,
                RegisterBehaviour::WriteOneToClear { mask } => w1c |= mask,
                RegisterBehaviour::SelfClearing { mask } => sc |= mask,
                RegisterBehaviour::StatusFollowsRequest {
                    status_offset,
                    status_mask,
                    ..
                } if status_offset & !3 == off => ro |= status_mask,
                RegisterBehaviour::StatusFollowsRequest { .. } => {}
            }
        }
        let old = self.regs.get(&off).copied().unwrap_or(0);
        let plain = enables & !ro & !w1c;
        let cleared = value & enables & w1c & !ro;
        let new = ((old & !plain) | (value & plain)) & !cleared & !sc;
        store(&mut self.regs, &self.reset, off, new);
        for b in rows {
            if let RegisterBehaviour::StatusFollowsRequest {
                request_mask,
                status_offset,
                status_mask,
            } = *b
            {
                let on = new & request_mask == request_mask;
                let st_off = status_offset & !3;
                let st = self.regs.get(&st_off).copied().unwrap_or(0);
                let st = if on {
                    st | status_mask
                } else {
                    st & !status_mask
                };
                store(&mut self.regs, &self.reset, st_off, st);
            }
        }
    }
}

/// Store a dword, keeping the map sparse (zero registers without a reset
/// value are not kept).
fn store(regs: &mut BTreeMap<u32, u32>, reset: &BTreeMap<u32, u32>, off: u32, value: u32) {
    if value == 0 && !reset.contains_key(&off) {
        regs.remove(&off);
    } else {
        regs.insert(off, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform};

    fn regs(p: Platform) -> MmioRegisters {
        MmioRegisters::new(info(p), 0x8B80_0001, 0x0211)
    }

    fn w32(r: &mut MmioRegisters, off: u32, v: u32) {
        assert!(r.write(u64::from(off), &v.to_le_bytes()));
    }

    #[test]
    fn plain_registers_store_byte_lanes() {
        let mut r = regs(Platform::SandyBridge);
        w32(&mut r, 0x6_1000, 0x1122_3344);
        r.write(0x6_1001, &[0xAA, 0xBB]);
        assert_eq!(r.read32(0x6_1000), 0x11BB_AA44);
        let mut b = [0u8; 4];
        r.read(0x6_0FFE, &mut b);
        assert_eq!(b, [0, 0, 0x44, 0xAA], "read across a dword boundary");
        // A 4-byte write straddling two dwords writes the lanes of both.
        r.write(0x6_1002, &[1, 2, 3, 4]);
        assert_eq!(r.read32(0x6_1000), 0x0201_AA44);
        assert_eq!(r.read32(0x6_1004), 0x0000_0403);
    }

    #[test]
    fn hsw_power_well_state_follows_request() {
        let mut r = regs(Platform::Haswell);
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ);
        assert_eq!(
            r.read32(HSW_PWR_WELL_CTL2),
            HSW_PWR_WELL_REQ | HSW_PWR_WELL_STATE
        );
        // The guest cannot write the state bit itself.
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_STATE);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0);
        // A byte write to the top lane alone toggles the request too.
        r.write(u64::from(HSW_PWR_WELL_CTL1) + 3, &[0x80]);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL1), 0xC000_0000);
    }

    #[test]
    fn skl_power_wells_ack_independently() {
        let mut r = regs(Platform::Skylake);
        w32(&mut r, HSW_PWR_WELL_CTL2, SKL_PW1_REQ);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), SKL_PW1_REQ | SKL_PW1_STATE);
        w32(&mut r, HSW_PWR_WELL_CTL2, SKL_PW1_REQ | SKL_PW2_REQ);
        assert_eq!(
            r.read32(HSW_PWR_WELL_CTL2),
            SKL_PW1_REQ | SKL_PW1_STATE | SKL_PW2_REQ | SKL_PW2_STATE
        );
    }

    #[test]
    fn icl_power_wells_use_low_bit_pairs() {
        let mut r = regs(Platform::IceLake);
        w32(&mut r, HSW_PWR_WELL_CTL2, 0b10_1010);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0b11_1111);
        w32(&mut r, HSW_PWR_WELL_CTL2, 0b10_0000);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0b11_0000);
        let mut t = regs(Platform::TigerLake);
        w32(&mut t, HSW_PWR_WELL_CTL1, 1 << 9);
        assert_eq!(t.read32(HSW_PWR_WELL_CTL1), 0b11 << 8, "PW5");
    }

    #[test]
    fn snb_has_no_power_well_behaviour() {
        let mut r = regs(Platform::SandyBridge);
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), HSW_PWR_WELL_REQ);
    }

    #[test]
    fn panel_power_status_follows_control() {
        let mut r = regs(Platform::IvyBridge);
        w32(&mut r, PCH_PP_CONTROL, 0xABCD_0000 | PANEL_POWER_ON);
        assert_eq!(r.read32(PCH_PP_STATUS), PP_ON);
        w32(&mut r, PCH_PP_STATUS, 0);
        assert_eq!(r.read32(PCH_PP_STATUS), PP_ON, "status is read-only");
        w32(&mut r, PCH_PP_CONTROL, 0xABCD_0000);
        assert_eq!(r.read32(PCH_PP_STATUS), 0);
        let mut v = regs(Platform::Valleyview);
        w32(&mut v, VLV_PP_CONTROL, PANEL_POWER_ON);
        assert_eq!(v.read32(VLV_PP_STATUS), PP_ON);
        assert_eq!(v.read32(PCH_PP_STATUS), 0);
    }

    #[test]
    fn mirrors_are_read_only_host_values() {
        let mut r = regs(Platform::KabyLake);
        assert_eq!(r.read32(GEN6_DSMBASE), 0x8B80_0001);
        assert_eq!(r.read32(GGC_MIRROR), 0x0211);
        w32(&mut r, GEN6_DSMBASE, 0x1234_5678);
        assert_eq!(r.read32(GEN6_DSMBASE), 0x8B80_0001);
        let t = MmioRegisters::new(info(Platform::TigerLake), 0x4_0000_0001, 0x0211);
        assert_eq!(t.read32(GEN6_DSMBASE + 4), 4);
    }

    #[test]
    fn w1c_and_self_clearing_rows() {
        let mut r = regs(Platform::SandyBridge);
        r.behaviours.insert(
            0x100,
            vec![RegisterBehaviour::WriteOneToClear { mask: 0xF }],
        );
        r.behaviours
            .insert(0x104, vec![RegisterBehaviour::SelfClearing { mask: 1 }]);
        r.set32(0x100, 0xFF);
        w32(&mut r, 0x100, 0x0000_0105);
        assert_eq!(
            r.read32(0x100),
            0x10A,
            "W1C bits 0 and 2 cleared, plain bits 31:4 written"
        );
        w32(&mut r, 0x104, 0x3);
        assert_eq!(r.read32(0x104), 0x2);
    }

    #[test]
    fn outside_the_register_half_is_dropped_and_reported() {
        let mut r = regs(Platform::SandyBridge);
        assert!(!r.write(2 << 20, &[1, 2, 3, 4]));
        assert!(!r.write(u64::MAX - 1, &[1, 2, 3, 4]));
        let mut b = [0xFFu8; 4];
        assert!(!r.read((2 << 20) - 2, &mut b));
        assert_eq!(b, [0; 4]);
        r.set32(0x10, 5);
        r.reset();
        assert_eq!(r, regs(Platform::SandyBridge));
    }
}
