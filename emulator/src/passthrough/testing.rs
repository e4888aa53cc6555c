//! A small host-side IGD for tests of the passthrough layer: config space with
//! GGC/BDSM/ASLS, a BAR0 with the DSMBASE/GGC registers and a GTT half, the
//! BAR4 index/data pair, and an aperture translated by the GTT. Unit and
//! property tests use it where the full `igd::IgdDevice` is not needed. Also
//! the vBIOS-style BAR4 PTE writes ([`write_pte`]) shared by tests and fuzzing.

use std::collections::BTreeMap;

use super::remap::{CFG_ASLS, CFG_GGC, INDEX_OFFSET_MASK, INDEX_SEL_GTT, PAGE};
use super::{GttWrite, HostIgd, Passthrough, Remapper};
use crate::addr::{HostPhys, Iova};
use crate::igd::dma::{DmaAccess, DmaAccesses, DmaBus, DmaFault};
use crate::igd::generation::PlatformInfo;
use crate::igd::mmio::{GEN6_DSMBASE, GGC_MIRROR};
use crate::pci::{ConfigSpace, ConfigWrite};

/// Why an aperture access failed on the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FakeApertureFault {
    /// The page's PTE is invalid.
    #[error("aperture page {0} has an invalid PTE")]
    Invalid(u64),
    /// Past the GTT's reach.
    #[error("aperture offset {0:#x} is past the GTT")]
    OutOfRange(u64),
    /// The bus faulted.
    #[error("DMA fault: {0}")]
    Dma(DmaFault),
}

/// The fake device.
#[derive(Clone, Debug)]
pub struct FakeIgd {
    info: &'static PlatformInfo,
    host_bdsm: u64,
    stolen_size: u64,
    gtt_size: u64,
    config: ConfigSpace,
    regs: BTreeMap<u64, u8>,
    gtt: Vec<u8>,
    index: u32,
}

/// Host ASLS of the fake.
pub const FAKE_HOST_ASLS: u32 = 0xDAF0_1018;

impl FakeIgd {
    /// A device of `info` with host BDSM `host_bdsm` (1 MiB aligned) and GGC
    /// `ggc`. Unencodable GGC values give 0-sized stolen memory and GTT.
    #[must_use]
    pub fn new(info: &'static PlatformInfo, host_bdsm: u64, ggc: u16) -> Self {
        let d = info.decode_ggc(ggc).ok();
        let stolen_size = d.map_or(0, |d| d.stolen_size);
        let gtt_size = d.map_or(0, |d| d.gtt_size);
        let dev = info.device_ids.first().copied().unwrap_or(0);
        let mut config = ConfigSpace::new(0x8086, dev, 0x03_0000, 0x09, 256);
        config.set_u16(CFG_GGC, ggc);
        if info.bdsm.width() == 8 {
            config.set_u64(info.bdsm.offset(), host_bdsm | 1);
        } else {
            config.set_u32(info.bdsm.offset(), (host_bdsm as u32) | 1);
        }
        config.set_u32(CFG_ASLS, FAKE_HOST_ASLS);
        Self {
            info,
            host_bdsm,
            stolen_size,
            gtt_size,
            config,
            regs: BTreeMap::new(),
            gtt: vec![0; gtt_size as usize],
            index: 0,
        }
    }

    /// Give the device another PCI device ID (same platform behaviour).
    pub fn set_device_id(&mut self, device_id: u16) {
        self.config.set_u16(crate::pci::reg::DEVICE_ID, device_id);
    }

    /// Raw GTT bytes.
    #[must_use]
    pub fn gtt_bytes(&self) -> &[u8] {
        &self.gtt
    }

    /// Raw entry `i` (0 past the end).
    #[must_use]
    pub fn gtt_entry(&self, i: u64) -> u64 {
        let size = self.info.pte.size();
        let Some(at) = i.checked_mul(size).and_then(|a| usize::try_from(a).ok()) else {
            return 0;
        };
        at.checked_add(size as usize)
            .and_then(|end| self.gtt.get(at..end))
            .map_or(0, super::le_value)
    }

    fn mmio_reg_byte(&self, at: u64) -> u8 {
        let dsm = u64::from(GEN6_DSMBASE);
        let ggc = u64::from(GGC_MIRROR);
        if (dsm..dsm + 8).contains(&at) {
            let v = self.host_bdsm | 1;
            let width = u64::from(self.info.bdsm.width());
            if at - dsm < width {
                return (v >> ((at - dsm) * 8)) as u8;
            }
        }
        if (ggc..ggc + 2).contains(&at) {
            return (self.config.read_u16(CFG_GGC) >> ((at - ggc) * 8)) as u8;
        }
        self.regs.get(&at).copied().unwrap_or(0)
    }

    fn bar0_read(&self, offset: u64, data: &mut [u8]) {
        let gtt_base = self.info.gtt_offset_in_bar0();
        for (i, d) in data.iter_mut().enumerate() {
            let at = offset.wrapping_add(i as u64);
            *d = if at >= gtt_base && at < self.info.gttmmadr_size {
                self.gtt.get((at - gtt_base) as usize).copied().unwrap_or(0)
            } else if at < gtt_base {
                self.mmio_reg_byte(at)
            } else {
                0xFF
            };
        }
    }

    fn bar0_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite> {
        let gtt_base = self.info.gtt_offset_in_bar0();
        let size = self.info.pte.size();
        let mut changed = None;
        for (i, &b) in data.iter().enumerate() {
            let at = offset.wrapping_add(i as u64);
            if at >= gtt_base && at < self.info.gttmmadr_size {
                let g = at - gtt_base;
                let index = g / size;
                let old = self.gtt_entry(index);
                if let Some(slot) = self.gtt.get_mut(g as usize) {
                    *slot = b;
                    let new = self.gtt_entry(index);
                    changed = Some(match changed {
                        Some(GttWrite {
                            index: j, old: o, ..
                        }) if j == index => GttWrite { index, old: o, new },
                        _ => GttWrite { index, old, new },
                    });
                }
            } else if at < gtt_base {
                self.regs.insert(at, b);
            }
        }
        changed
    }

    fn translate(&self, offset: u64) -> Result<u64, FakeApertureFault> {
        let page = offset / PAGE;
        if page >= self.info.pte_count(self.gtt_size) {
            return Err(FakeApertureFault::OutOfRange(offset));
        }
        let pte = self.info.pte.decode(self.gtt_entry(page));
        if !pte.valid {
            return Err(FakeApertureFault::Invalid(page));
        }
        Ok(pte.addr + offset % PAGE)
    }

    fn aperture(
        &mut self,
        offset: u64,
        len: usize,
        write: bool,
        mut io: impl FnMut(Iova, std::ops::Range<usize>) -> Result<(), DmaFault>,
    ) -> Result<DmaAccesses, FakeApertureFault> {
        let mut out = DmaAccesses::new();
        let mut pos = 0usize;
        while pos < len {
            let off = offset.saturating_add(pos as u64);
            let iova = self.translate(off)?;
            let room = (PAGE - off % PAGE) as usize;
            let n = room.min(len - pos);
            out.push(DmaAccess {
                gtt_index: off / PAGE,
                iova: Iova(iova),
                len: n as u32,
                write,
            });
            io(Iova(iova), pos..pos + n).map_err(FakeApertureFault::Dma)?;
            pos += n;
        }
        Ok(out)
    }
}

impl HostIgd for FakeIgd {
    type ApertureError = FakeApertureFault;

    fn info(&self) -> &'static PlatformInfo {
        self.info
    }
    fn host_bdsm(&self) -> HostPhys {
        HostPhys(self.host_bdsm)
    }
    fn stolen_size(&self) -> u64 {
        self.stolen_size
    }
    fn gtt_size(&self) -> u64 {
        self.gtt_size
    }
    fn config(&self) -> &ConfigSpace {
        &self.config
    }
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        self.config.write(offset, data)
    }
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        self.bar0_read(offset, data);
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite> {
        self.bar0_write(offset, data)
    }
    fn io_read(&mut self, offset: u16, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            let at = offset.wrapping_add(i as u16);
            *d = match at {
                0..=3 => (self.index >> (at * 8)) as u8,
                4..=7 => {
                    let mut b = [0u8];
                    let off = u64::from(self.index & INDEX_OFFSET_MASK) + u64::from(at - 4);
                    if self.index & INDEX_SEL_GTT != 0 {
                        if self.info.iobar_gtt {
                            self.bar0_read(self.info.gtt_offset_in_bar0() + off, &mut b);
                        } else {
                            b[0] = 0xFF;
                        }
                    } else if off < self.info.gtt_offset_in_bar0() {
                        self.bar0_read(off, &mut b);
                    }
                    b[0]
                }
                _ => 0xFF,
            };
        }
    }
    fn io_write(&mut self, offset: u16, data: &[u8]) -> Option<GttWrite> {
        let mut changed = None;
        for (i, &v) in data.iter().enumerate() {
            let at = offset.wrapping_add(i as u16);
            match at {
                0..=3 => {
                    let shift = u32::from(at) * 8;
                    self.index = (self.index & !(0xFF << shift)) | (u32::from(v) << shift);
                }
                4..=7 => {
                    let off = u64::from(self.index & INDEX_OFFSET_MASK) + u64::from(at - 4);
                    if self.index & INDEX_SEL_GTT != 0 {
                        if self.info.iobar_gtt {
                            let base = self.info.gtt_offset_in_bar0();
                            changed = self.bar0_write(base + off, &[v]).or(changed);
                        }
                    } else if off < self.info.gtt_offset_in_bar0() {
                        self.bar0_write(off, &[v]);
                    }
                }
                _ => {}
            }
        }
        changed
    }
    fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, FakeApertureFault> {
        let len = data.len();
        self.aperture(offset, len, false, |iova, r| match data.get_mut(r) {
            Some(chunk) => dma.dma_read(iova, chunk),
            None => Ok(()),
        })
    }
    fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, FakeApertureFault> {
        self.aperture(offset, data.len(), true, |iova, r| match data.get(r) {
            Some(chunk) => dma.dma_write(iova, chunk),
            None => Ok(()),
        })
    }
    fn flr(&mut self) {
        self.gtt.fill(0);
        self.regs.clear();
        self.index = 0;
    }
}

/// MMIO_Index then MMIO_Data, 32-bit each.
pub fn index_data<H: HostIgd, R: Remapper + ?Sized>(
    pt: &mut Passthrough<H, R>,
    index: u32,
    data: u32,
) {
    pt.io_write(0, &index.to_le_bytes());
    pt.io_write(4, &data.to_le_bytes());
}

/// Write PTE `entry` through BAR4 as a vBIOS does (one dword, or low then
/// high dword; `high_first` swaps the order).
pub fn write_pte<H: HostIgd, R: Remapper + ?Sized>(
    pt: &mut Passthrough<H, R>,
    entry: u64,
    raw: u64,
    high_first: bool,
) {
    let size = pt.host().info().pte.size();
    let off = entry.wrapping_mul(size);
    let low = (off as u32) | 1;
    let high = (off.wrapping_add(4) as u32) | 1;
    if size == 4 {
        index_data(pt, low, raw as u32);
    } else if high_first {
        index_data(pt, high, (raw >> 32) as u32);
        index_data(pt, low, raw as u32);
    } else {
        index_data(pt, low, raw as u32);
        index_data(pt, high, (raw >> 32) as u32);
    }
}
