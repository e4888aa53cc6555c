//! The IGD as the guest's bus sees it at 00:02.0: the passthrough layer under
//! test in front of the host device model, with device DMA going through the
//! IOMMU into guest memory. This is the glue a VMM provides; the checker reads
//! what it recorded.

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::addr::{GuestPhys, Iova, Region};
use crate::check::{GttLedger, UnlistedDma};
use crate::igd::aperture::ApertureFault;
use crate::igd::{DmaBus, DmaFault, IgdDevice};
use crate::machine::iommu::{AccessClass, ClassifiedAccess, Iommu};
use crate::machine::pci_bus::BusDevice;
use crate::machine::{DeviceEvent, EventKind};
use crate::passthrough::{Passthrough, Remapper};
use crate::pci::{reg, ConfigSpace, ConfigWrite, PciFunction};
use crate::trace::CsIp;

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

/// Device DMA runs kept one by one; past this many, runs are counted per
/// (class, direction, completion) with the first as the example, so a guest
/// that scatters accesses cannot grow the record without bound.
pub const DMA_RUNS_KEPT: usize = 4096;
/// Closed runs queued for the trace between two drains (past this, runs are
/// still counted, not traced).
const DMA_TRACE_QUEUE: usize = 1024;
/// Aperture faults kept as examples (all are counted).
pub const APERTURE_FAULT_EXAMPLES: usize = 64;

/// Totals over every DMA run, kept or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DmaTotals {
    /// Runs.
    pub runs: u64,
    /// Bytes.
    pub bytes: u64,
    /// Accesses.
    pub accesses: u64,
}

/// Aperture accesses the device could not translate: all counted, the first
/// few (one per run of faults on the same GTT entry) kept as examples.
#[derive(Clone, Debug, Default)]
pub struct ApertureFaults {
    count: u64,
    examples: Vec<ApertureFault>,
}

impl ApertureFaults {
    /// Count a fault; keep it as an example unless the last example faulted
    /// on the same entry or enough are kept.
    pub fn push(&mut self, f: ApertureFault) {
        self.count += 1;
        let same = self
            .examples
            .last()
            .is_some_and(|l| l.gtt_index == f.gtt_index && l.kind == f.kind);
        if !same && self.examples.len() < APERTURE_FAULT_EXAMPLES {
            self.examples.push(f);
        }
    }

    /// Faults counted.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The examples kept (at most [`APERTURE_FAULT_EXAMPLES`]).
    #[must_use]
    pub fn examples(&self) -> &[ApertureFault] {
        &self.examples
    }
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
    /// Runs closed since the last drain, for the trace.
    closed: Vec<DmaRun>,
    /// The first [`DMA_RUNS_KEPT`] runs.
    all: Vec<DmaRun>,
    /// The runs past those, per (class, direction, completion).
    unlisted: Vec<UnlistedDma>,
    totals: DmaTotals,
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
            unlisted: Vec::new(),
            totals: DmaTotals::default(),
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
            self.close(done);
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
            self.close(done);
        }
    }

    /// Queue a closed run for the trace, or record it now when the queue is
    /// full (nobody drains it).
    fn close(&mut self, done: DmaRun) {
        if self.closed.len() < DMA_TRACE_QUEUE {
            self.closed.push(done);
        } else {
            self.retire(done);
        }
    }

    /// Hand every queued closed run to `f` (for the trace) and record it,
    /// keeping the queue's buffer.
    fn drain_closed(&mut self, mut f: impl FnMut(&mut DmaRun)) {
        let mut closed = std::mem::take(&mut self.closed);
        for mut run in closed.drain(..) {
            f(&mut run);
            self.retire(run);
        }
        self.closed = closed;
    }

    /// Record a finished run: kept while fewer than [`DMA_RUNS_KEPT`] are,
    /// else counted into its (class, direction, completion) group.
    fn retire(&mut self, run: DmaRun) {
        self.totals.runs += 1;
        self.totals.bytes = self.totals.bytes.saturating_add(run.len);
        self.totals.accesses = self.totals.accesses.saturating_add(run.accesses);
        if self.all.len() < DMA_RUNS_KEPT {
            self.all.push(run);
            return;
        }
        let group = self
            .unlisted
            .iter_mut()
            .find(|u| u.write == run.write && u.class == run.class && u.completed == run.completed);
        match group {
            Some(u) => {
                u.runs += 1;
                u.bytes = u.bytes.saturating_add(run.len);
            }
            None => self.unlisted.push(UnlistedDma {
                write: run.write,
                class: run.class,
                completed: run.completed,
                runs: 1,
                bytes: run.len,
                first_iova: run.iova,
                first_at: run.at,
            }),
        }
    }

    /// Runs past [`DMA_RUNS_KEPT`], grouped (at most one group per class,
    /// direction and completion).
    #[must_use]
    pub fn unlisted(&self) -> &[UnlistedDma] {
        &self.unlisted
    }

    /// Totals over every recorded run.
    #[must_use]
    pub fn totals(&self) -> DmaTotals {
        self.totals
    }

    fn stamp(&mut self, at: CsIp) {
        if let Some(run) = &mut self.open {
            run.at.get_or_insert(at);
        }
    }

    /// The runs kept, at most [`DMA_RUNS_KEPT`] (closed and drained ones;
    /// call [`GuestDma::flush`] first).
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
    faults: ApertureFaults,
    /// What the guest wrote to the GTT and whether the VMM stopped the VM,
    /// recorded as the passthrough layer reports it (the checker's source,
    /// independent of the trace's cap).
    ledger: GttLedger,
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
        let ledger = GttLedger::new(device.gtt().format().size(), device.gtt_size());
        Self {
            pt: Passthrough::new(device, remapper),
            dma: GuestDma::new(iommu, memory),
            faults: ApertureFaults::default(),
            ledger,
        }
    }

    /// What the guest wrote to each GTT entry (value, outcome, CS:IP) and the
    /// VMM's stop, if any. Complete up to the last drained access.
    #[must_use]
    pub fn gtt_ledger(&self) -> &GttLedger {
        &self.ledger
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

    /// Aperture accesses the device could not translate (counted, with a
    /// bounded number of examples).
    #[must_use]
    pub fn aperture_faults(&self) -> &ApertureFaults {
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

    /// `MMIO_INDEX` (BAR4 +0) selects the register `MMIO_DATA` reaches.
    fn is_index_write(&self, bar: u8, offset: u64) -> bool {
        bar == bar::IOBAR && offset < 4
    }

    /// A read of `MMIO_DATA` (BAR4 +4) reaches the register `MMIO_INDEX` holds.
    fn read_target(&self, bar: u8, offset: u64) -> u64 {
        if bar == bar::IOBAR && (4..8).contains(&offset) {
            u64::from(self.pt.host().iobar().index())
        } else {
            0
        }
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
            for e in self.pt.take_events() {
                self.ledger.record(at, &e);
                out.push(EventKind::Device(DeviceEvent::Passthrough(e)));
            }
        }
        if self.dma.closed.is_empty() {
            return;
        }
        self.dma.drain_closed(|run| {
            // Opened and closed by this access.
            run.at.get_or_insert(at);
            out.push(EventKind::Device(DeviceEvent::Dma(run.clone())));
        });
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

    /// Ten million aperture accesses through invalid GTT entries, each on
    /// another entry: all counted, a bounded number kept.
    #[test]
    fn aperture_faults_stay_bounded() {
        let device = IgdDevice::new(crate::igd::IgdConfig::for_device(0x0126).unwrap()).unwrap();
        let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let iommu = Iommu::new(
            Vec::new(),
            None,
            Region::new(HostPhys(0x8B00_0000), 0x400_0000),
        );
        let mut f = IgdFunction::new(
            device,
            Box::new(crate::passthrough::Strict::default()),
            iommu,
            memory,
        );
        const N: u64 = 10_000_000;
        let mut b = [0u8; 4];
        for i in 0..N {
            // Scattered over 256 MiB of aperture: a new GTT entry each time.
            let offset = (i.wrapping_mul(0x9E37_79B9) % (1 << 16)) << 12;
            if i % 2 == 0 {
                f.bar_read(bar::GMADR, offset, &mut b);
                assert_eq!(b, [0xFF; 4]);
            } else {
                f.bar_write(bar::GMADR, offset, &b);
            }
        }
        assert_eq!(f.aperture_faults().count(), N);
        assert_eq!(
            f.aperture_faults().examples().len(),
            APERTURE_FAULT_EXAMPLES
        );
    }

    /// Ten million DMA accesses, none contiguous with the last: every run
    /// counted, the record bounded (runs kept, groups, trace queue).
    #[test]
    fn scattered_dma_stays_bounded() {
        let mut d = dma();
        // The top half of guest RAM is guest stolen memory: two classes.
        d.iommu_mut().guest_stolen = Some(Region::new(GuestPhys(8 << 20), 8 << 20));
        const N: u64 = 10_000_000;
        for i in 0..N {
            let iova = (i.wrapping_mul(0x9E37_79B9) % (4 << 20)) * 4;
            if i % 3 == 0 {
                let mut b = [0u8; 4];
                d.dma_read(Iova(iova), &mut b).unwrap();
            } else {
                d.dma_write(Iova(iova), &[1, 2, 3, 4]).unwrap();
            }
            assert!(d.closed.len() <= DMA_TRACE_QUEUE);
        }
        d.flush();
        // What a drain does, then the totals.
        d.drain_closed(|_| {});
        let t = d.totals();
        assert_eq!(t.accesses, N);
        assert_eq!(t.bytes, 4 * N);
        assert!(t.runs > N / 2, "{t:?}");
        assert_eq!(d.runs().len(), DMA_RUNS_KEPT);
        // (read, write) x (other guest RAM, guest stolen).
        assert!(d.unlisted().len() <= 4, "{:?}", d.unlisted());
        let counted: u64 = d.unlisted().iter().map(|u| u.runs).sum();
        assert_eq!(counted + DMA_RUNS_KEPT as u64, t.runs);
    }
}
