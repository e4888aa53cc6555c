//! BAR4, the IGD's I/O BAR: an index/data window onto BAR0 that a real-mode
//! vBIOS uses to reach MMIO registers and the GTT.
//!
//! Layout from QEMU commit `5aed8b0f0be2` (hardware as observed; not documented
//! by Intel), igd-anchors §1.5: MMIO_Index at +0, MMIO_Data at +4, both 32-bit.
//! MMIO_Index bits 31:2 are a byte offset, bit 1 reserved, bit 0 Sel: Sel = 0
//! reaches the MMIO registers (lower half of BAR0) at that offset, Sel = 1 the
//! GTT (upper half) at that byte offset, pre-gen11 only.
//!
//! Where the PRM is silent, igdemu chose (and tests):
//! - The index register stores and reads back all 32 bits as written, bit 1
//!   included; accesses to the data register do not disturb it.
//! - Accesses are split into byte lanes: a 1- or 2-byte access to +0..+3 writes
//!   or reads those lanes of the index; an access at +4..+7 reaches the same
//!   lanes of the addressed dword (`index & !3` + lane). An access straddling +3/+4
//!   is a lane access to each register, index first.
//! - A partial data write to the GTT updates those lanes of the addressed PTE
//!   dword in one PTE write.
//! - Bytes at +8..+63 read 0xFF and drop writes.
//! - Sel = 0 with an offset beyond the register half, Sel = 1 beyond the GTT,
//!   and Sel = 1 on platforms without `iobar_gtt` (gen11+): data reads return 0,
//!   writes are dropped; each is reported through `tracing::debug`.

use super::gtt::{Gtt, GttWrite};
use super::mmio::MmioRegisters;

/// Offset of MMIO_Index in the I/O BAR.
pub const MMIO_INDEX: u16 = 0;
/// Offset of MMIO_Data in the I/O BAR.
pub const MMIO_DATA: u16 = 4;
/// MMIO_Index bit 0: Sel (1 = GTT).
pub const INDEX_SEL_GTT: u32 = 1 << 0;
/// MMIO_Index bits 31:2: the byte offset.
pub const INDEX_OFFSET_MASK: u32 = !0x3;

/// What one MMIO_Data access addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoTarget {
    /// A register in the lower half of BAR0, at this byte offset.
    Mmio(u32),
    /// The GTT, at this byte offset.
    Gtt(u32),
    /// Sel = 1 on a platform whose I/O BAR cannot reach the GTT.
    GttUnavailable(u32),
}

/// The I/O BAR state: just the index latch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoBar {
    index: u32,
    gtt_enabled: bool,
}

/// Which register a byte of the BAR belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reg {
    Index,
    Data,
    None,
}

/// Consecutive bytes of one access that fall in one register.
struct Group {
    reg: Reg,
    first_lane: u32,
    start: usize,
    len: usize,
}

/// The groups of a `len`-byte access at BAR offset `offset`, in order: its
/// overlap with each of Index (+0..+3), Data (+4..+7) and the rest (+8..).
fn groups(offset: u16, len: usize) -> impl Iterator<Item = Group> {
    let first = u64::from(offset);
    let end = first.saturating_add(len as u64);
    [
        (Reg::Index, 0, 4),
        (Reg::Data, 4, 8),
        (Reg::None, 8, u64::MAX),
    ]
    .into_iter()
    .filter_map(move |(reg, lo, hi): (Reg, u64, u64)| {
        let lo = lo.max(first);
        let hi = hi.min(end);
        (lo < hi).then(|| Group {
            reg,
            first_lane: (lo & 3) as u32,
            start: usize::try_from(lo - first).unwrap_or(usize::MAX),
            len: usize::try_from(hi - lo).unwrap_or(usize::MAX),
        })
    })
}

impl IoBar {
    /// A BAR with a cleared index; `gtt_enabled` is `PlatformInfo::iobar_gtt`.
    #[must_use]
    pub fn new(gtt_enabled: bool) -> Self {
        Self {
            index: 0,
            gtt_enabled,
        }
    }

    /// The index register as last written.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// What MMIO_Data currently addresses.
    #[must_use]
    pub fn target(&self) -> IoTarget {
        let off = self.index & INDEX_OFFSET_MASK;
        match (self.index & INDEX_SEL_GTT != 0, self.gtt_enabled) {
            (false, _) => IoTarget::Mmio(off),
            (true, true) => IoTarget::Gtt(off),
            (true, false) => IoTarget::GttUnavailable(off),
        }
    }

    /// Clear the index latch (FLR).
    pub fn reset(&mut self) {
        self.index = 0;
    }

    /// Guest read of `data.len()` bytes at BAR offset `offset`.
    pub fn read(&mut self, offset: u16, data: &mut [u8], mmio: &mut MmioRegisters, gtt: &Gtt) {
        for g in groups(offset, data.len()) {
            let Some(out) = data.get_mut(g.start..g.start + g.len) else {
                continue;
            };
            match g.reg {
                Reg::Index => {
                    let b = self.index.to_le_bytes();
                    for (i, d) in out.iter_mut().enumerate() {
                        *d = b.get(g.first_lane as usize + i).copied().unwrap_or(0xFF);
                    }
                }
                Reg::Data => self.data_read(g.first_lane, out, mmio, gtt),
                Reg::None => {
                    tracing::debug!(offset, "igd iobar: read of unimplemented bytes");
                    out.fill(0xFF);
                }
            }
        }
    }

    /// Guest write of `data` at BAR offset `offset`. Returns the PTE write a
    /// Sel = 1 data write made.
    pub fn write(
        &mut self,
        offset: u16,
        data: &[u8],
        mmio: &mut MmioRegisters,
        gtt: &mut Gtt,
    ) -> Option<GttWrite> {
        let mut result = None;
        for g in groups(offset, data.len()) {
            let Some(bytes) = data.get(g.start..g.start + g.len) else {
                continue;
            };
            match g.reg {
                Reg::Index => {
                    let mut b = self.index.to_le_bytes();
                    for (i, v) in bytes.iter().enumerate() {
                        if let Some(s) = b.get_mut(g.first_lane as usize + i) {
                            *s = *v;
                        }
                    }
                    self.index = u32::from_le_bytes(b);
                }
                Reg::Data => {
                    if let Some(w) = self.data_write(g.first_lane, bytes, mmio, gtt) {
                        result = Some(w);
                    }
                }
                Reg::None => {
                    tracing::debug!(offset, "igd iobar: write to unimplemented bytes dropped");
                }
            }
        }
        result
    }

    fn data_read(&self, lane: u32, out: &mut [u8], mmio: &mut MmioRegisters, gtt: &Gtt) {
        match self.target() {
            IoTarget::Mmio(off) => {
                if !mmio.read(u64::from(off) + u64::from(lane), out) {
                    tracing::debug!(off, "igd iobar: Sel=0 read beyond the register half");
                }
            }
            IoTarget::Gtt(off) => {
                let mut dword = [0u8; 4];
                if let Err(e) = gtt.read(u64::from(off), &mut dword) {
                    tracing::debug!(%e, "igd iobar: Sel=1 read refused");
                }
                for (i, d) in out.iter_mut().enumerate() {
                    *d = dword.get(lane as usize + i).copied().unwrap_or(0);
                }
            }
            IoTarget::GttUnavailable(off) => {
                tracing::debug!(
                    off,
                    "igd iobar: Sel=1 read on a platform without I/O GTT access"
                );
                out.fill(0);
            }
        }
    }

    fn data_write(
        &self,
        lane: u32,
        bytes: &[u8],
        mmio: &mut MmioRegisters,
        gtt: &mut Gtt,
    ) -> Option<GttWrite> {
        match self.target() {
            IoTarget::Mmio(off) => {
                if !mmio.write(u64::from(off) + u64::from(lane), bytes) {
                    tracing::debug!(off, "igd iobar: Sel=0 write beyond the register half");
                }
                None
            }
            IoTarget::Gtt(off) => {
                let mut dword = [0u8; 4];
                if let Err(e) = gtt.read(u64::from(off), &mut dword) {
                    tracing::debug!(%e, "igd iobar: Sel=1 write refused");
                    return None;
                }
                for (i, v) in bytes.iter().enumerate() {
                    if let Some(s) = dword.get_mut(lane as usize + i) {
                        *s = *v;
                    }
                }
                gtt.write(u64::from(off), &dword)
                    .map_err(|e| tracing::debug!(%e, "igd iobar: Sel=1 write refused"))
                    .ok()
            }
            IoTarget::GttUnavailable(off) => {
                tracing::debug!(
                    off,
                    "igd iobar: Sel=1 write on a platform without I/O GTT access"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform, PteFormat};
    use crate::igd::regs::{HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE};

    struct Rig {
        bar: IoBar,
        mmio: MmioRegisters,
        gtt: Gtt,
    }

    fn rig(p: Platform) -> Rig {
        let i = info(p);
        Rig {
            bar: IoBar::new(i.iobar_gtt),
            mmio: MmioRegisters::new(i, 0x8B80_0001, 0x0211),
            gtt: Gtt::new(i.pte, 2 << 20),
        }
    }

    impl Rig {
        fn out(&mut self, port: u16, data: &[u8]) -> Option<GttWrite> {
            self.bar.write(port, data, &mut self.mmio, &mut self.gtt)
        }
        fn out32(&mut self, port: u16, v: u32) -> Option<GttWrite> {
            self.out(port, &v.to_le_bytes())
        }
        fn in32(&mut self, port: u16) -> u32 {
            let mut b = [0u8; 4];
            self.bar.read(port, &mut b, &mut self.mmio, &self.gtt);
            u32::from_le_bytes(b)
        }
    }

    #[test]
    fn index_reads_back_and_survives_data_accesses() {
        let mut r = rig(Platform::SandyBridge);
        r.out32(MMIO_INDEX, 0x1234_5673);
        assert_eq!(r.in32(MMIO_INDEX), 0x1234_5673);
        r.in32(MMIO_DATA);
        assert_eq!(r.in32(MMIO_INDEX), 0x1234_5673);
        r.out(MMIO_INDEX + 2, &[0xAA, 0xBB]);
        assert_eq!(r.in32(MMIO_INDEX), 0xBBAA_5673, "16-bit write to lanes 2-3");
    }

    #[test]
    fn sel0_reaches_an_mmio_register() {
        let mut r = rig(Platform::Haswell);
        r.out32(MMIO_INDEX, HSW_PWR_WELL_CTL2);
        assert_eq!(r.out32(MMIO_DATA, HSW_PWR_WELL_REQ), None);
        assert_eq!(
            r.mmio.read32(HSW_PWR_WELL_CTL2),
            HSW_PWR_WELL_REQ | HSW_PWR_WELL_STATE
        );
        assert_eq!(r.in32(MMIO_DATA), HSW_PWR_WELL_REQ | HSW_PWR_WELL_STATE);
        // A byte read of lane 3 of the data register reads lane 3 of the register.
        let mut b = [0u8];
        r.bar.read(MMIO_DATA + 3, &mut b, &mut r.mmio, &r.gtt);
        assert_eq!(b[0], 0xC0);
    }

    #[test]
    fn sel1_writes_a_gen6_pte() {
        let mut r = rig(Platform::SandyBridge);
        r.gtt.set_raw(7, 0x1111_1001);
        r.out32(MMIO_INDEX, (7 * 4) | INDEX_SEL_GTT);
        let w = r.out32(MMIO_DATA, 0x8B80_0005).unwrap();
        assert_eq!(
            w,
            GttWrite {
                index: 7,
                old: 0x1111_1001,
                new: 0x8B80_0005
            }
        );
        assert_eq!(r.in32(MMIO_DATA), 0x8B80_0005);
        // A 16-bit data write updates lanes 0-1 of the same PTE.
        let w = r.out(MMIO_DATA, &[0x03, 0x10]).unwrap();
        assert_eq!((w.old, w.new), (0x8B80_0005, 0x8B80_1003));
    }

    #[test]
    fn sel1_two_dwords_build_a_gen8_pte() {
        let mut r = rig(Platform::Broadwell);
        r.out32(MMIO_INDEX, (9 * 8) | INDEX_SEL_GTT);
        let w = r.out32(MMIO_DATA, 0x8B80_0003).unwrap();
        assert_eq!((w.index, w.old, w.new), (9, 0, 0x8B80_0003));
        r.out32(MMIO_INDEX, (9 * 8 + 4) | INDEX_SEL_GTT);
        let w = r.out32(MMIO_DATA, 0x2).unwrap();
        assert_eq!((w.index, w.old, w.new), (9, 0x8B80_0003, 0x2_8B80_0003));
        assert_eq!(r.gtt.format(), PteFormat::Gen8);
        assert_eq!(r.gtt.decode(9).addr, 0x2_8B80_0000);
    }

    #[test]
    fn gen11_sel1_does_nothing() {
        let mut r = rig(Platform::IceLake);
        r.out32(MMIO_INDEX, INDEX_SEL_GTT);
        assert_eq!(r.bar.target(), IoTarget::GttUnavailable(0));
        assert_eq!(r.out32(MMIO_DATA, 0x8B80_0001), None);
        assert_eq!(r.gtt.raw(0), 0);
        assert_eq!(r.in32(MMIO_DATA), 0);
    }

    #[test]
    fn beyond_the_registers_and_odd_accesses() {
        let mut r = rig(Platform::SandyBridge);
        assert_eq!(r.in32(8), 0xFFFF_FFFF);
        assert_eq!(r.in32(60), 0xFFFF_FFFF);
        r.out32(8, 0x1234);
        r.out32(MMIO_INDEX, 0x3FF_FFFC | INDEX_SEL_GTT);
        assert_eq!(r.out32(MMIO_DATA, 1), None, "beyond the 2 MiB GTT");
        r.out32(MMIO_INDEX, 0x20_0000);
        r.out32(MMIO_DATA, 1);
        assert_eq!(r.in32(MMIO_DATA), 0, "Sel=0 beyond the register half");
        // A dword at +2 is lanes 2-3 of the index then lanes 0-1 of the data.
        r.out32(MMIO_INDEX, 0x100);
        r.out(2, &[0, 0, 0x11, 0x22]);
        assert_eq!(r.bar.index(), 0x100);
        assert_eq!(r.mmio.read32(0x100), 0x2211);
        r.out(u16::MAX, &[1, 2, 3, 4]);
        let mut b = [0u8; 4];
        r.bar.read(u16::MAX - 1, &mut b, &mut r.mmio, &r.gtt);
        assert_eq!(b, [0xFF; 4]);
    }
}
