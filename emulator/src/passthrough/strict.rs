//! `Strict`: igdemu's own remapper, the policy the invariants ask for.
//!
//! * Each GTT write is decoded with the platform's PTE format (SNB/VLV PA[39:32]
//!   in bits 11:4, HSW PA[38:32] in 10:4, gen8/gen12 64-bit).
//! * A valid entry inside host stolen `[host_bdsm, host_bdsm + size)` moves to
//!   the same offset in guest stolen; one already inside guest stolen is left
//!   alone (no double shift); flag and cache bits are kept.
//! * A valid entry anywhere else follows [`OutsidePolicy`]: refused (dropped and
//!   recorded) or pointed at a scratch page (the last page of guest stolen).
//! * Invalid entries pass with their address bits cleared.
//! * 64-bit entries arrive as two dwords in either order. Strict keeps the
//!   guest's view of each entry (its last write to each half). Until both
//!   halves are known the device entry is kept invalid (low dword 0). Once
//!   both are known the entry is remapped as a whole and written through the
//!   BAR0 GTT half as: low dword with the valid bit clear, high dword, low
//!   dword. Between any two device writes the entry is either invalid or
//!   points inside guest stolen memory.
//! * BDSM and GGC mirrors are served from the virtual config on every path:
//!   BAR0 and the BAR4 I/O window (Sel = 0, offset 0x1080C0/0x108040).
//! * BAR4 MMIO-window (Sel = 0) writes into BAR0's GTT half are refused.

use std::collections::BTreeMap;

use super::remap::{
    bdsm_mirror, ggc_mirror, Bar0Mirror, Bar4Access, Bar4Op, Bar4Reg, Decision, GttDwordWrite,
    Reason, RemapContext, Remapper, INDEX_OFFSET_MASK, INDEX_SEL_GTT, PAGE,
};
use crate::addr::{GuestPhys, Region};
use crate::igd::generation::{PlatformInfo, PteFormat};

/// What Strict does with a valid entry outside both stolen regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum OutsidePolicy {
    /// Drop the write and record it (default).
    #[default]
    Refuse,
    /// Point the entry at the last page of guest stolen memory.
    Scratch,
}

/// igdemu's remapper.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Strict {
    /// Policy for valid entries outside stolen memory.
    pub policy: OutsidePolicy,
    /// Guest view of 64-bit entries: PTE index -> [low, high] as last written.
    halves: BTreeMap<u64, [Option<u32>; 2]>,
}

impl Strict {
    /// Strict with the given outside policy.
    #[must_use]
    pub fn new(policy: OutsidePolicy) -> Self {
        Self {
            policy,
            halves: BTreeMap::new(),
        }
    }

    /// Remap one whole guest entry. `Ok((device value, reason))` or the reason
    /// for refusing it.
    pub fn remap_entry(&self, ctx: &RemapContext, raw: u64) -> Result<(u64, Reason), Reason> {
        let fmt = ctx.info.pte;
        let raw = if fmt.size() == 4 {
            raw & 0xFFFF_FFFF
        } else {
            raw
        };
        let pte = fmt.decode(raw);
        if !pte.valid {
            // Flags never overlap the address field: encode cannot fail.
            let v = fmt.encode(0, pte.flags).unwrap_or(0);
            return Ok((v, Reason::InvalidEntryZeroed));
        }
        let Some(guest) = Self::target_region(ctx) else {
            return Err(Reason::GuestBdsmUnset);
        };
        if guest.contains_range(pte.addr, PAGE) {
            return Ok((raw, Reason::AlreadyGuestStolen));
        }
        let host = ctx.host_stolen();
        let target = if host.contains_range(pte.addr, PAGE) {
            let offset = pte.addr - host.base.0;
            if offset.checked_add(PAGE).is_some_and(|e| e <= guest.size) {
                let Some(to) = guest.base.0.checked_add(offset) else {
                    return Err(Reason::NotEncodable { addr: guest.base.0 });
                };
                (to, Reason::HostToGuestStolen { from: pte.addr, to })
            } else {
                let refused = Reason::BeyondGuestStolen {
                    addr: pte.addr,
                    offset,
                };
                self.scratch_or(guest, pte.addr, refused)?
            }
        } else {
            self.scratch_or(guest, pte.addr, Reason::OutsideStolen { addr: pte.addr })?
        };
        match fmt.encode(target.0, pte.flags) {
            Ok(v) => Ok((v, target.1)),
            Err(_) => Err(Reason::NotEncodable { addr: target.0 }),
        }
    }

    /// The guest stolen region Strict remaps into: the region the VMM knows
    /// firmware reserved, else the one the BDSM register describes. A guest
    /// that moves BDSM later cannot steer the device elsewhere.
    #[must_use]
    pub fn target_region(ctx: &RemapContext) -> Option<Region<GuestPhys>> {
        ctx.reserved_stolen.or_else(|| ctx.guest_stolen())
    }

    /// The scratch page for an entry at `from` under the `Scratch` policy,
    /// else `refused`.
    fn scratch_or(
        &self,
        guest: Region<GuestPhys>,
        from: u64,
        refused: Reason,
    ) -> Result<(u64, Reason), Reason> {
        match scratch(guest.base.0, guest.size) {
            Some(to) if self.policy == OutsidePolicy::Scratch => {
                Ok((to, Reason::ScratchPage { from, to }))
            }
            _ => Err(refused),
        }
    }

    /// One dword of the GTT written by the guest (byte offset, 4-aligned).
    fn gtt_dword(&mut self, ctx: &RemapContext, gtt_offset: u64, value: u32) -> Decision {
        if gtt_offset >= ctx.gtt_size {
            return Decision::Refuse {
                reason: Reason::GttIndexOutOfRange { gtt_offset },
            };
        }
        let fmt = ctx.info.pte;
        if fmt.size() == 4 {
            return match self.remap_entry(ctx, u64::from(value)) {
                Ok((v, _)) if v == u64::from(value) => Decision::Forward,
                Ok((v, reason)) => Decision::Rewrite { value: v, reason },
                Err(reason) => Decision::Refuse { reason },
            };
        }
        let index = gtt_offset / 8;
        let half = ((gtt_offset / 4) % 2) as usize;
        let slot = self.halves.entry(index).or_insert([None, None]);
        if let Some(s) = slot.get_mut(half) {
            *s = Some(value);
        }
        let [lo, hi] = *slot;
        self.entry64(ctx, index, lo, hi)
    }

    /// Device writes for a 64-bit entry given the guest's known halves.
    fn entry64(
        &self,
        ctx: &RemapContext,
        index: u64,
        lo: Option<u32>,
        hi: Option<u32>,
    ) -> Decision {
        let lo_off = index * 8;
        let hi_off = lo_off + 4;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Decision::Replace {
                writes: vec![GttDwordWrite {
                    gtt_offset: lo_off,
                    value: 0,
                }],
                reason: Reason::HalfPending,
            };
        };
        let raw = u64::from(lo) | (u64::from(hi) << 32);
        match self.remap_entry(ctx, raw) {
            Ok((v, reason)) => {
                let dlo = v as u32;
                let dhi = (v >> 32) as u32;
                Decision::Replace {
                    writes: vec![
                        GttDwordWrite {
                            gtt_offset: lo_off,
                            value: dlo & !1,
                        },
                        GttDwordWrite {
                            gtt_offset: hi_off,
                            value: dhi,
                        },
                        GttDwordWrite {
                            gtt_offset: lo_off,
                            value: dlo,
                        },
                    ],
                    reason,
                }
            }
            // Nothing is written: the device keeps its previous entry, which is
            // invalid or an earlier remapped value inside guest stolen memory.
            Err(reason) => Decision::Refuse { reason },
        }
    }

    fn mirror_value(ctx: &RemapContext, bar0_offset: u64) -> Option<u64> {
        let bdsm = bdsm_mirror(ctx.info);
        if bdsm.covers(bar0_offset, 4) {
            let shift = (bar0_offset - bdsm.bar0_offset) * 8;
            return Some((ctx.guest_bdsm >> shift) & 0xFFFF_FFFF);
        }
        if ggc_mirror().covers(bar0_offset, 2) {
            return Some(u64::from(ctx.ggc));
        }
        None
    }
}

/// The last whole page of the region `[base, base + size)`, if it has one.
fn scratch(base: u64, size: u64) -> Option<u64> {
    base.checked_add(size & !(PAGE - 1))?
        .checked_sub(PAGE)
        .filter(|&p| p >= base)
}

impl Remapper for Strict {
    fn name(&self) -> &'static str {
        "strict"
    }

    fn on_bar4_access(&mut self, ctx: &RemapContext, access: &Bar4Access) -> Decision {
        if access.reg == Bar4Reg::Index {
            return Decision::Forward;
        }
        let index = access.device_index;
        let offset = u64::from(index & INDEX_OFFSET_MASK);
        if index & INDEX_SEL_GTT != 0 {
            return match access.op {
                Bar4Op::Read => Decision::Forward,
                Bar4Op::Write(_) if !ctx.info.iobar_gtt => Decision::Refuse {
                    reason: Reason::NoIobarGtt,
                },
                Bar4Op::Write(_) if access.width != 4 || access.offset != 0 => Decision::Refuse {
                    reason: Reason::PartialGttWrite,
                },
                Bar4Op::Write(v) => self.gtt_dword(ctx, offset, v),
            };
        }
        // Sel = 0: the MMIO window into BAR0's register half.
        let mirror = Self::mirror_value(ctx, offset);
        match (access.op, mirror) {
            (Bar4Op::Read, Some(value)) => Decision::Emulate {
                value,
                reason: Reason::Mirror {
                    bar0_offset: offset,
                },
            },
            (Bar4Op::Write(_), Some(_)) => Decision::Refuse {
                reason: Reason::MirrorReadOnly {
                    bar0_offset: offset,
                },
            },
            (Bar4Op::Write(_), None) if offset >= ctx.info.gtt_offset_in_bar0() => {
                Decision::Refuse {
                    reason: Reason::MmioWindowIntoGtt {
                        bar0_offset: offset,
                    },
                }
            }
            _ => Decision::Forward,
        }
    }

    fn on_bar0_gtt_write(&mut self, ctx: &RemapContext, gtt_offset: u64, data: &[u8]) -> Decision {
        let fmt = ctx.info.pte;
        match (data, fmt) {
            (&[a, b, c, d], _) if gtt_offset & 3 == 0 => {
                self.gtt_dword(ctx, gtt_offset, u32::from_le_bytes([a, b, c, d]))
            }
            (&[a, b, c, d, e, f, g, h], PteFormat::Gen8 | PteFormat::Gen12)
                if gtt_offset & 7 == 0 =>
            {
                if gtt_offset >= ctx.gtt_size {
                    return Decision::Refuse {
                        reason: Reason::GttIndexOutOfRange { gtt_offset },
                    };
                }
                let lo = u32::from_le_bytes([a, b, c, d]);
                let hi = u32::from_le_bytes([e, f, g, h]);
                let index = gtt_offset / 8;
                self.halves.insert(index, [Some(lo), Some(hi)]);
                self.entry64(ctx, index, Some(lo), Some(hi))
            }
            _ => Decision::Refuse {
                reason: Reason::PartialGttWrite,
            },
        }
    }

    fn bar0_mirror(&self, ctx: &RemapContext, offset: u64) -> Option<Bar0Mirror> {
        let bdsm = bdsm_mirror(ctx.info);
        if bdsm.covers(offset, 1) {
            return Some(bdsm);
        }
        let ggc = ggc_mirror();
        ggc.covers(offset, 1).then_some(ggc)
    }

    fn bdsm_size(&self, info: &PlatformInfo, guest_ggc: u16) -> u64 {
        info.decode_ggc(guest_ggc).map_or(0, |d| d.stolen_size)
    }

    fn reset(&mut self) {
        self.halves.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::HostPhys;
    use crate::igd::generation::{info, Platform};
    use crate::passthrough::testing::FakeIgd;
    use crate::passthrough::{Outcome, Passthrough, PassthroughEvent};

    const HOST: u64 = 0x8B00_0000;
    const GUEST: u64 = 0x7E00_0000;

    fn rig(p: Platform, ggc: u16, policy: OutsidePolicy) -> Passthrough<FakeIgd, Strict> {
        let mut pt = Passthrough::new(
            FakeIgd::new(info(p), HOST, ggc),
            Box::new(Strict::new(policy)),
        );
        let loc = info(p).bdsm;
        pt.config_write(
            loc.offset(),
            &GUEST.to_le_bytes()[..usize::from(loc.width())],
        );
        pt
    }

    fn idx_data(pt: &mut Passthrough<FakeIgd, Strict>, i: u32, d: u32) {
        pt.io_write(0, &i.to_le_bytes());
        pt.io_write(4, &d.to_le_bytes());
    }

    fn last(pt: &Passthrough<FakeIgd, Strict>) -> (Outcome, Vec<u64>) {
        match pt.events().last() {
            Some(PassthroughEvent::Bar4DataWrite { outcome, gtt, .. })
            | Some(PassthroughEvent::Bar0GttWrite { outcome, gtt, .. }) => {
                (outcome.clone(), gtt.iter().map(|g| g.new).collect())
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn gen8_entry_high_then_low_stays_invalid_until_complete() {
        let mut pt = rig(Platform::Broadwell, 0x0240, OutsidePolicy::Refuse);
        idx_data(&mut pt, 4 | 1, 0);
        assert_eq!(
            last(&pt).0,
            Outcome::Replaced {
                writes: vec![GttDwordWrite {
                    gtt_offset: 0,
                    value: 0
                }],
                reason: Reason::HalfPending
            }
        );
        assert_eq!(pt.host().gtt_entry(0), 0);
        idx_data(&mut pt, 1, 0x8B00_5003);
        // Device states in order: invalid, invalid, valid in guest stolen.
        assert_eq!(last(&pt).1, vec![0x7E00_5002, 0x7E00_5002, 0x7E00_5003]);
        assert_eq!(pt.host().gtt_entry(0), 0x7E00_5003);
    }

    #[test]
    fn gen8_low_then_high_completes_and_flr_forgets_halves() {
        let mut pt = rig(Platform::Skylake, 0x0240, OutsidePolicy::Refuse);
        idx_data(&mut pt, 1, 0x8B00_7001);
        assert_eq!(pt.host().gtt_entry(0), 0, "kept invalid");
        idx_data(&mut pt, 4 | 1, 0);
        assert_eq!(pt.host().gtt_entry(0), 0x7E00_7001);
        pt.flr();
        idx_data(&mut pt, 1, 0x8B00_7001);
        assert_eq!(pt.host().gtt_entry(0), 0, "high half unknown after FLR");
    }

    #[test]
    fn scratch_policy_points_outside_entries_at_the_last_guest_page() {
        let mut pt = rig(Platform::SandyBridge, 0x0228, OutsidePolicy::Scratch);
        idx_data(&mut pt, 1, 0x0000_1003);
        // 160 MiB guest stolen: last page 0x87fff000.
        assert_eq!(pt.host().gtt_entry(0), 0x87FF_F003);
    }

    #[test]
    fn refuse_policy_drops_and_records() {
        let mut pt = rig(Platform::SandyBridge, 0x0228, OutsidePolicy::Refuse);
        idx_data(&mut pt, 1, 0x0000_1003);
        assert_eq!(pt.host().gtt_entry(0), 0);
        assert_eq!(
            last(&pt).0,
            Outcome::Refused {
                reason: Reason::OutsideStolen { addr: 0x1000 }
            }
        );
        // Invalid entries pass with the address cleared.
        idx_data(&mut pt, 1, 0x1234_5006);
        assert_eq!(pt.host().gtt_entry(0), 0x6);
    }

    #[test]
    fn partial_and_window_writes_into_the_gtt_are_refused() {
        let mut pt = rig(Platform::SandyBridge, 0x0228, OutsidePolicy::Refuse);
        pt.io_write(0, &1u32.to_le_bytes());
        pt.io_write(4, &[0x05]);
        assert_eq!(
            last(&pt).0,
            Outcome::Refused {
                reason: Reason::PartialGttWrite
            }
        );
        // Sel = 0 at BAR0 + 2 MiB is the GTT half on SNB.
        idx_data(&mut pt, 0x0020_0000, 0x8B00_0001);
        assert_eq!(
            last(&pt).0,
            Outcome::Refused {
                reason: Reason::MmioWindowIntoGtt {
                    bar0_offset: 0x20_0000
                }
            }
        );
        assert_eq!(pt.host().gtt_entry(0), 0);
    }

    #[test]
    fn gen12_bdsm_above_4g_on_every_path() {
        let p = info(Platform::TigerLake);
        let host = 0x4_0000_0000;
        let mut pt = Passthrough::new(FakeIgd::new(p, host, 0x0240), Box::new(Strict::default()));
        pt.config_write(0xC0, &0x1_0000_0000u64.to_le_bytes());
        let raw = (host + 0x5000) | 1;
        pt.mmio_write(p.gtt_offset_in_bar0() + 8, &raw.to_le_bytes());
        assert_eq!(pt.host().gtt_entry(1), 0x1_0000_5001);
        let mut b = [0u8; 8];
        pt.mmio_read(0x1080C0, &mut b);
        assert_eq!(u64::from_le_bytes(b), 0x1_0000_0000);
        let mut d = [0u8; 4];
        pt.io_write(0, &0x1080C4u32.to_le_bytes());
        pt.io_read(4, &mut d);
        assert_eq!(
            u32::from_le_bytes(d),
            1,
            "high dword through the I/O window"
        );
        idx_data(&mut pt, 1, 0x0000_5001);
        assert_eq!(
            last(&pt).0,
            Outcome::Refused {
                reason: Reason::NoIobarGtt
            }
        );
    }

    #[test]
    fn a_guest_bdsm_at_the_top_of_the_address_space_is_refused_not_a_panic() {
        let ctx = RemapContext {
            info: info(Platform::TigerLake),
            host_bdsm: HostPhys(HOST),
            guest_bdsm: 0xFFFF_FFFF_FFF0_0000,
            host_stolen_size: 64 << 20,
            guest_stolen_size: 64 << 20,
            gtt_size: 2 << 20,
            ggc: 0x0240,
            reserved_stolen: None,
        };
        for policy in [OutsidePolicy::Refuse, OutsidePolicy::Scratch] {
            let r = Strict::new(policy).remap_entry(&ctx, HOST | 0x5001);
            assert!(r.is_err(), "{policy:?}: {r:?}");
        }
    }

    #[test]
    fn hsw_high_address_bits_and_cache_bit_11_survive() {
        let hsw = info(Platform::Haswell);
        let ctx = RemapContext {
            info: hsw,
            host_bdsm: HostPhys(0x1_0000_0000),
            guest_bdsm: 0x2_0000_0000,
            host_stolen_size: 64 << 20,
            guest_stolen_size: 64 << 20,
            gtt_size: 2 << 20,
            ggc: 0x0210,
            reserved_stolen: None,
        };
        let raw = PteFormat::Hsw.encode(0x1_0000_5000, 0x801).unwrap();
        let (v, _) = Strict::default().remap_entry(&ctx, raw).unwrap();
        assert_eq!(v, PteFormat::Hsw.encode(0x2_0000_5000, 0x801).unwrap());
        assert_eq!(v, 0x0000_5821);
    }
}
