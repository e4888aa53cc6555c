//! The IGD as the guest's bus sees it at 00:02.0: the passthrough layer under
//! test in front of the host device model, with device DMA going through the
//! IOMMU into guest memory. This is the glue a VMM provides; the checker reads
//! what it recorded.

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::addr::{GuestPhys, Iova, Region};
use crate::igd::aperture::ApertureFault;
use crate::igd::{DmaBus, DmaFault, IgdDevice};
use crate::machine::iommu::{AccessClass, ClassifiedAccess, Iommu};
use crate::machine::pci_bus::BusDevice;
use crate::passthrough::{Passthrough, Remapper};
use crate::pci::{reg, ConfigSpace, ConfigWrite, PciFunction};
use crate::trace::{CsIp, EventKind};

/// BAR numbers of the IGD (GTTMMADR, GMADR, IOBAR).
pub mod bar {
    /// BAR0: MMIO registers and the GTT.
    pub const GTTMMADR: u8 = 0;
    /// BAR2: the graphics aperture.
    pub const GMADR: u8 = 2;
    /// BAR4: the I/O index/data pair.
    pub const IOBAR: u8 = 4;
}

/// A run of contiguous device DMA of one class and direction, started by one
/// guest instruction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DmaRun {
    /// First IOVA.
    pub iova: Iova,
    /// Bytes covered.
    pub len: u64,
    /// Write or read.
    pub write: bool,
    /// Where it landed.
    pub class: AccessClass,
    /// Whether the IOMMU let the accesses through (false: DMAR fault).
    pub completed: bool,
    /// Accesses folded into the run.
    pub accesses: u64,
    /// CS:IP of the guest access that started the run.
    pub at: Option<CsIp>,
}

/// The guest page device DMA last went to, while the IOMMU treats the whole
/// page alike ([`Iommu::uniform_page`]): a run of accesses to one page (a
/// framebuffer fill through the aperture) skips the IOMMU walk and
/// vm-memory's region lookup.
#[derive(Clone, Copy, Debug)]
struct DmaPage {
    /// Page-aligned IOVA.
    page: u64,
    /// The class of every access inside the page.
    class: AccessClass,
    /// Host address of the page's first byte in the guest RAM mapping.
    host: *mut u8,
}

/// Device DMA into guest memory through the IOMMU, classified and folded into
/// runs.
#[derive(Debug)]
pub struct GuestDma {
    iommu: Iommu,
    memory: GuestMemoryMmap,
    open: Option<DmaRun>,
    closed: Vec<DmaRun>,
    all: Vec<DmaRun>,
    /// Invalidated whenever the IOMMU may change ([`GuestDma::iommu_mut`]).
    page: Option<DmaPage>,
}

impl GuestDma {
    /// DMA through `iommu` into `memory` (guest physical = IOVA).
    #[must_use]
    pub fn new(iommu: Iommu, memory: GuestMemoryMmap) -> Self {
        Self {
            iommu,
            memory,
            open: None,
            closed: Vec::new(),
            all: Vec::new(),
            page: None,
        }
    }

    /// The IOMMU tables and regions.
    #[must_use]
    pub fn iommu(&self) -> &Iommu {
        &self.iommu
    }

    /// The IOMMU, to change its mappings or regions.
    pub fn iommu_mut(&mut self) -> &mut Iommu {
        self.page = None;
        &mut self.iommu
    }

    /// The cached page holding `[iova, iova + len)`, or a fresh lookup of it.
    /// `None` when the range leaves its page or the page is not uniform.
    fn page_of(&mut self, iova: Iova, len: u64) -> Option<DmaPage> {
        let page = iova.0 & !0xFFF;
        let last = iova.0.checked_add(len.max(1) - 1)?;
        if last & !0xFFF != page {
            return None;
        }
        if let Some(p) = self.page.filter(|p| p.page == page) {
            return Some(p);
        }
        let class = self.iommu.uniform_page(page)?;
        let slice = self.memory.get_slice(GuestAddress(page), 4096).ok()?;
        let host = slice.ptr_guard_mut().as_ptr();
        let p = DmaPage { page, class, host };
        self.page = Some(p);
        Some(p)
    }

    /// Fold one access into the open run (or start a new one).
    fn fold(&mut self, iova: Iova, len: u64, write: bool, class: AccessClass, completed: bool) {
        if let Some(run) = &mut self.open {
            let next = run.iova.0.wrapping_add(run.len);
            if run.write == write
                && run.class == class
                && run.completed == completed
                && next == iova.0
            {
                run.len += len;
                run.accesses += 1;
                return;
            }
        }
        if let Some(done) = self.open.take() {
            self.closed.push(done);
        }
        self.open = Some(DmaRun {
            iova,
            len,
            write,
            class,
            completed,
            accesses: 1,
            at: None,
        });
    }

    fn record(&mut self, iova: Iova, len: u64, write: bool) -> bool {
        let (class, completed) = self.iommu.classify_mapped(iova, len);
        self.fold(iova, len, write, class, completed);
        completed
    }

    /// Close the open run (end of a run or of a script step).
    pub fn flush(&mut self) {
        if let Some(done) = self.open.take() {
            self.closed.push(done);
        }
    }

    fn stamp(&mut self, at: CsIp) {
        if let Some(run) = &mut self.open {
            run.at.get_or_insert(at);
        }
    }

    /// Every run so far (closed ones; call [`GuestDma::flush`] first).
    #[must_use]
    pub fn runs(&self) -> &[DmaRun] {
        &self.all
    }

    /// The runs as the checker takes them.
    #[must_use]
    pub fn classified(&self) -> Vec<ClassifiedAccess> {
        self.all
            .iter()
            .map(|r| ClassifiedAccess {
                iova: r.iova,
                len: r.len,
                write: r.write,
                class: r.class,
                completed: r.completed,
            })
            .collect()
    }
}

impl GuestDma {
    /// Record an access of `len` bytes at `iova`: the host pointer at the
    /// access when it lies in a cached uniform page (the fast path), `None`
    /// when it must go through guest memory, or the fault when unmapped.
    fn begin(&mut self, iova: Iova, len: u64, write: bool) -> Result<Option<*mut u8>, DmaFault> {
        if let Some(p) = self.page_of(iova, len) {
            self.fold(iova, len, write, p.class, true);
            // SAFETY: `page_of` found the whole page inside one region of
            // `self.memory`, which keeps the mapping alive, and the access
            // lies inside that page.
            return Ok(Some(unsafe { p.host.add((iova.0 - p.page) as usize) }));
        }
        if self.record(iova, len, write) {
            Ok(None)
        } else {
            Err(DmaFault::Unmapped(iova))
        }
    }
}

impl DmaBus for GuestDma {
    fn dma_read(&mut self, iova: Iova, data: &mut [u8]) -> Result<(), DmaFault> {
        match self.begin(iova, data.len() as u64, false) {
            // SAFETY: `begin` returned a pointer to `data.len()` bytes inside
            // one page of guest RAM, which is plain bytes.
            Ok(Some(host)) => unsafe {
                std::ptr::copy_nonoverlapping(host, data.as_mut_ptr(), data.len());
                Ok(())
            },
            Ok(None) => self
                .memory
                .read_slice(data, GuestAddress(iova.0))
                .map_err(|_| DmaFault::Refused(iova)),
            Err(e) => {
                data.fill(0xFF);
                Err(e)
            }
        }
    }

    fn dma_write(&mut self, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        match self.begin(iova, data.len() as u64, true) {
            // SAFETY: as in `dma_read`.
            Ok(Some(host)) => unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), host, data.len());
                Ok(())
            },
            Ok(None) => self
                .memory
                .write_slice(data, GuestAddress(iova.0))
                .map_err(|_| DmaFault::Refused(iova)),
            Err(e) => Err(e),
        }
    }
}

/// The IGD function on the guest's bus: passthrough layer + host device + DMA.
pub struct IgdFunction {
    pt: Passthrough<IgdDevice>,
    dma: GuestDma,
    faults: Vec<ApertureFault>,
}

impl std::fmt::Debug for IgdFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IgdFunction")
            .field("device", self.pt.host())
            .finish_non_exhaustive()
    }
}

impl IgdFunction {
    /// The IGD behind `remapper`, with DMA through `iommu` into `memory`.
    #[must_use]
    pub fn new(
        device: IgdDevice,
        remapper: Box<dyn Remapper>,
        iommu: Iommu,
        memory: GuestMemoryMmap,
    ) -> Self {
        Self {
            pt: Passthrough::new(device, remapper),
            dma: GuestDma::new(iommu, memory),
            faults: Vec::new(),
        }
    }

    /// The passthrough layer (and through it the host device).
    #[must_use]
    pub fn passthrough(&self) -> &Passthrough<IgdDevice> {
        &self.pt
    }

    /// The passthrough layer, mutably (firmware step, FLR).
    pub fn passthrough_mut(&mut self) -> &mut Passthrough<IgdDevice> {
        &mut self.pt
    }

    /// Device DMA so far.
    #[must_use]
    pub fn dma(&self) -> &GuestDma {
        &self.dma
    }

    /// Device DMA, mutably (to update the IOMMU after the firmware step).
    pub fn dma_mut(&mut self) -> &mut GuestDma {
        &mut self.dma
    }

    /// Aperture accesses the device could not translate.
    #[must_use]
    pub fn aperture_faults(&self) -> &[ApertureFault] {
        &self.faults
    }

    /// Set the guest stolen region (from the firmware step) in the IOMMU's view
    /// and in the passthrough layer.
    pub fn set_guest_stolen(&mut self, region: Option<Region<GuestPhys>>) {
        self.dma.iommu_mut().guest_stolen = region;
        self.pt.set_reserved_stolen(region);
    }
}

impl PciFunction for IgdFunction {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.pt.config_read(offset, data);
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        // A VMM restores BARs and decoding after a reset of an assigned device
        // (vfio's post-reset config restore): keep them across an FLR.
        let bars: [u32; 6] =
            std::array::from_fn(|i| self.pt.host().config().read_u32(reg::BAR0 + 4 * i as u16));
        let cmd = self.pt.host().config().read_u16(reg::COMMAND);
        let eff = self.pt.config_write(offset, data);
        if eff.flr {
            for (i, v) in bars.iter().enumerate() {
                self.pt
                    .host_mut()
                    .config_write(reg::BAR0 + 4 * i as u16, &v.to_le_bytes());
            }
            self.pt
                .host_mut()
                .config_write(reg::COMMAND, &cmd.to_le_bytes());
            return ConfigWrite {
                bars_moved: 0,
                command_changed: false,
                flr: true,
            };
        }
        eff
    }

    fn config(&self) -> &ConfigSpace {
        self.pt.host().config()
    }
}

impl BusDevice for IgdFunction {
    fn name(&self) -> &str {
        "igd"
    }

    fn set_time(&mut self, now_ns: u64) {
        self.pt.host_mut().set_time(now_ns);
    }

    fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        self.pt.host().next_deadline(now_ns)
    }

    fn is_aperture(&self, bar: u8) -> bool {
        bar == bar::GMADR
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        match bar {
            bar::GTTMMADR => self.pt.mmio_read(offset, data),
            bar::GMADR => {
                if let Err(f) = self.pt.aperture_read(offset, data, &mut self.dma) {
                    data.fill(0xFF);
                    self.faults.push(f);
                }
            }
            bar::IOBAR => self
                .pt
                .io_read(u16::try_from(offset).unwrap_or(u16::MAX), data),
            _ => data.fill(0xFF),
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        match bar {
            bar::GTTMMADR => {
                self.pt.mmio_write(offset, data);
            }
            bar::GMADR => {
                if let Err(f) = self.pt.aperture_write(offset, data, &mut self.dma) {
                    self.faults.push(f);
                }
            }
            bar::IOBAR => {
                self.pt
                    .io_write(u16::try_from(offset).unwrap_or(u16::MAX), data);
            }
            _ => {}
        }
    }

    fn drain_events(&mut self, at: CsIp, out: &mut Vec<EventKind>) {
        self.dma.stamp(at);
        if !self.pt.events().is_empty() {
            out.extend(
                self.pt
                    .take_events()
                    .into_iter()
                    .map(EventKind::Passthrough),
            );
        }
        if self.dma.closed.is_empty() {
            return;
        }
        for run in self.dma.closed.drain(..) {
            out.push(EventKind::Dma(run.clone()));
            self.dma.all.push(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::HostPhys;
    use crate::machine::iommu::Mapping;

    fn dma() -> GuestDma {
        let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
        let iommu = Iommu::new(
            vec![Mapping {
                guest: Region::new(GuestPhys(0), 16 << 20),
                host: HostPhys(0x1_0000_0000),
            }],
            None,
            Region::new(HostPhys(0x8B00_0000), 0x400_0000),
        );
        GuestDma::new(iommu, memory)
    }

    #[test]
    fn page_cache_follows_iommu_changes() {
        let mut d = dma();
        d.dma_write(Iova(0x10_0000), &[1, 2, 3, 4]).unwrap();
        d.dma_write(Iova(0x10_0004), &[5, 6, 7, 8]).unwrap();
        // The firmware reserves the page as guest stolen memory: the next
        // access to the same page is classified anew.
        d.iommu_mut().guest_stolen = Some(Region::new(GuestPhys(0x10_0000), 1 << 20));
        d.dma_write(Iova(0x10_0008), &[9, 10, 11, 12]).unwrap();
        // Unmapped: a fault, not a write through a stale host pointer.
        d.iommu_mut().mappings.clear();
        assert_eq!(
            d.dma_write(Iova(0x10_000C), &[0xEE; 4]),
            Err(DmaFault::Unmapped(Iova(0x10_000C)))
        );
        d.flush();
        let runs: Vec<_> = d
            .closed
            .iter()
            .map(|r| (r.iova.0, r.len, r.class, r.completed, r.accesses))
            .collect();
        assert_eq!(
            runs,
            [
                (0x10_0000, 8, AccessClass::OtherGuestRam, true, 2),
                (0x10_0008, 4, AccessClass::GuestStolen, true, 1),
                // Still the guest stolen region, but the IOMMU refused it.
                (0x10_000C, 4, AccessClass::GuestStolen, false, 1),
            ]
        );
        let mut b = [0u8; 16];
        d.memory
            .read_slice(&mut b, GuestAddress(0x10_0000))
            .unwrap();
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]);
    }

    #[test]
    fn cached_reads_and_page_straddling_accesses() {
        let mut d = dma();
        d.dma_write(Iova(0xFFE), &[1, 2, 3, 4]).unwrap();
        let mut b = [0u8; 4];
        d.dma_read(Iova(0xFFE), &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        d.dma_read(Iova(0x1000), &mut b[..2]).unwrap();
        assert_eq!(b[..2], [3, 4]);
    }
}
