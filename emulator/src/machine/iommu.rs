//! IOMMU model: the guest-physical view of device DMA.
//!
//! A VFIO-assigned device's DMA goes through the IOMMU with IOVA = guest
//! physical; QEMU maps VM RAM only (`vfio_container_dma_map` of guest RAM;
//! the guest stolen region is guest RAM that firmware reserved in e820,
//! docs/igd-assign.txt "Memory View", igd-anchors §1.8). A VMM that maps the
//! host's stolen memory itself adds that mapping ahead of RAM and names it
//! the guest stolen region: Xen identity-maps it as reserved device memory,
//! ACRN maps it at its own guest address (`passthrough::xen`,
//! `passthrough::acrn`). Every access is translated and classified
//! ([`AccessClass`]) and recorded.

use crate::addr::{GuestPhys, HostPhys, Iova, Region};
use crate::igd::dma::{DmaBus, DmaFault};

/// Where a device access landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AccessClass {
    /// Inside the guest stolen region: fine.
    GuestStolen,
    /// Other guest RAM: silent corruption.
    OtherGuestRam,
    /// No IOMMU mapping: a DMAR fault.
    Unmapped,
    /// Inside the host stolen range but not guest stolen: a host address
    /// leaked untranslated.
    HostStolenEscape,
}

impl AccessClass {
    /// Whether the access is acceptable.
    #[must_use]
    pub const fn is_ok(self) -> bool {
        matches!(self, AccessClass::GuestStolen)
    }
}

impl std::fmt::Display for AccessClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessClass::GuestStolen => "guest stolen memory",
            AccessClass::OtherGuestRam => "other guest RAM (silent corruption)",
            AccessClass::Unmapped => "unmapped (IOMMU fault)",
            AccessClass::HostStolenEscape => "host stolen memory (untranslated host address)",
        })
    }
}

/// One IOMMU mapping: a guest RAM range and the host memory behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mapping {
    /// Guest range (= IOVA range).
    pub guest: Region<GuestPhys>,
    /// Host address of `guest.base`.
    pub host: HostPhys,
}

/// The IOMMU's tables and the regions it classifies against.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Iommu {
    /// Mapped guest RAM.
    pub mappings: Vec<Mapping>,
    /// The guest stolen region (None until firmware reserved it).
    pub guest_stolen: Option<Region<GuestPhys>>,
    /// The host stolen range.
    pub host_stolen: Region<HostPhys>,
}

impl Iommu {
    /// An IOMMU mapping `mappings`, classifying against the two regions.
    #[must_use]
    pub fn new(
        mappings: Vec<Mapping>,
        guest_stolen: Option<Region<GuestPhys>>,
        host_stolen: Region<HostPhys>,
    ) -> Self {
        Self {
            mappings,
            guest_stolen,
            host_stolen,
        }
    }

    /// The host address behind `[iova, iova + len)`, if one mapping covers it.
    #[must_use]
    pub fn translate(&self, iova: Iova, len: u64) -> Option<HostPhys> {
        self.mappings
            .iter()
            .find(|m| m.guest.contains_range(iova.0, len.max(1)))
            .map(|m| HostPhys(m.host.0 + (iova.0 - m.guest.base.0)))
    }

    /// Classify `[iova, iova + len)`.
    #[must_use]
    pub fn classify(&self, iova: Iova, len: u64) -> AccessClass {
        self.classify_mapped(iova, len).0
    }

    /// Classify `[iova, iova + len)`, and whether it translates (one lookup).
    #[must_use]
    pub fn classify_mapped(&self, iova: Iova, len: u64) -> (AccessClass, bool) {
        let mapped = self.translate(iova, len).is_some();
        let len = len.max(1);
        if self
            .guest_stolen
            .is_some_and(|g| g.contains_range(iova.0, len))
        {
            return (AccessClass::GuestStolen, mapped);
        }
        let host = self.host_stolen;
        let overlaps_host =
            host.size != 0 && iova.0 < host.end() && iova.0.saturating_add(len) > host.base.0;
        if overlaps_host {
            return (AccessClass::HostStolenEscape, mapped);
        }
        if mapped {
            (AccessClass::OtherGuestRam, mapped)
        } else {
            (AccessClass::Unmapped, mapped)
        }
    }
}

impl Iommu {
    /// The class every access inside the 4 KiB page at `page` gets, when that
    /// is one class and the IOMMU maps the whole page: the page lies wholly
    /// inside the guest stolen region, or wholly outside it and outside the
    /// host stolen range. `None` for a page that straddles a region boundary
    /// or is not mapped (each access must be classified on its own).
    #[must_use]
    pub fn uniform_page(&self, page: u64) -> Option<AccessClass> {
        const PAGE: u64 = 4096;
        let end = page.checked_add(PAGE)?;
        self.translate(Iova(page), PAGE)?;
        let disjoint = |base: u64, size: u64| size == 0 || end <= base || page >= base + size;
        let host = self.host_stolen;
        match self.guest_stolen {
            Some(g) if g.contains_range(page, PAGE) => Some(AccessClass::GuestStolen),
            g if g.is_none_or(|g| disjoint(g.base.0, g.size))
                && disjoint(host.base.0, host.size) =>
            {
                Some(AccessClass::OtherGuestRam)
            }
            _ => None,
        }
    }
}

/// The memory behind the IOMMU (guest RAM by guest physical address). The
/// machine plugs vm-memory in here.
pub trait MemoryBackend {
    /// Read; false if the range is not backed.
    fn read(&mut self, addr: GuestPhys, data: &mut [u8]) -> bool;
    /// Write; false if the range is not backed.
    fn write(&mut self, addr: GuestPhys, data: &[u8]) -> bool;
}

/// A sparse in-memory backend (4 KiB pages allocated on first write).
#[derive(Clone, Debug, Default)]
pub struct SparseMemory {
    pages: std::collections::BTreeMap<u64, Box<[u8; 4096]>>,
}

impl SparseMemory {
    /// Empty memory (reads 0).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl MemoryBackend for SparseMemory {
    fn read(&mut self, addr: GuestPhys, data: &mut [u8]) -> bool {
        for (i, d) in data.iter_mut().enumerate() {
            let a = addr.0.wrapping_add(i as u64);
            *d = self
                .pages
                .get(&(a >> 12))
                .and_then(|p| p.get((a & 0xFFF) as usize).copied())
                .unwrap_or(0);
        }
        true
    }
    fn write(&mut self, addr: GuestPhys, data: &[u8]) -> bool {
        for (i, &b) in data.iter().enumerate() {
            let a = addr.0.wrapping_add(i as u64);
            let page = self
                .pages
                .entry(a >> 12)
                .or_insert_with(|| Box::new([0u8; 4096]));
            if let Some(s) = page.get_mut((a & 0xFFF) as usize) {
                *s = b;
            }
        }
        true
    }
}

/// One device access as the IOMMU saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClassifiedAccess {
    /// The IOVA.
    pub iova: Iova,
    /// Bytes.
    pub len: u64,
    /// Write or read.
    pub write: bool,
    /// Where it landed.
    pub class: AccessClass,
    /// Whether it completed (false = IOMMU fault).
    pub completed: bool,
}

/// IOMMU + memory: the [`DmaBus`] the device masters in a VM.
#[derive(Debug, Default)]
pub struct IommuDma<M: MemoryBackend> {
    /// The IOMMU.
    pub iommu: Iommu,
    /// The memory.
    pub mem: M,
    /// Every access, classified, in order.
    pub log: Vec<ClassifiedAccess>,
}

impl<M: MemoryBackend> IommuDma<M> {
    /// A bus over `mem` through `iommu`.
    pub fn new(iommu: Iommu, mem: M) -> Self {
        Self {
            iommu,
            mem,
            log: Vec::new(),
        }
    }

    fn access(&mut self, iova: Iova, len: u64, write: bool) -> Result<GuestPhys, DmaFault> {
        let (class, mapped) = self.iommu.classify_mapped(iova, len);
        self.log.push(ClassifiedAccess {
            iova,
            len,
            write,
            class,
            completed: mapped,
        });
        if !class.is_ok() {
            tracing::debug!(%iova, len, write, %class, "device access outside guest stolen");
        }
        if mapped {
            Ok(GuestPhys(iova.0))
        } else {
            Err(DmaFault::Unmapped(iova))
        }
    }
}

impl<M: MemoryBackend> DmaBus for IommuDma<M> {
    fn dma_read(&mut self, iova: Iova, data: &mut [u8]) -> Result<(), DmaFault> {
        let gpa = self.access(iova, data.len() as u64, false)?;
        if self.mem.read(gpa, data) {
            Ok(())
        } else {
            Err(DmaFault::Refused(iova))
        }
    }

    fn dma_write(&mut self, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        let gpa = self.access(iova, data.len() as u64, true)?;
        if self.mem.write(gpa, data) {
            Ok(())
        } else {
            Err(DmaFault::Refused(iova))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iommu() -> Iommu {
        Iommu::new(
            vec![Mapping {
                guest: Region::new(GuestPhys(0), 0x8000_0000),
                host: HostPhys(0x1_0000_0000),
            }],
            Some(Region::new(GuestPhys(0x7C00_0000), 0x400_0000)),
            Region::new(HostPhys(0x8B00_0000), 0x400_0000),
        )
    }

    #[test]
    fn uniform_pages() {
        let m = iommu();
        assert_eq!(m.uniform_page(0x7C00_1000), Some(AccessClass::GuestStolen));
        assert_eq!(m.uniform_page(0x1000), Some(AccessClass::OtherGuestRam));
        assert_eq!(m.uniform_page(0x8B00_0000), None, "host stolen: not cached");
        assert_eq!(m.uniform_page(0x9000_0000), None, "unmapped");
        let mut ragged = iommu();
        ragged.guest_stolen = Some(Region::new(GuestPhys(0x7C00_0800), 0x400_0000));
        assert_eq!(
            ragged.uniform_page(0x7C00_0000),
            None,
            "stolen starts mid-page"
        );
        assert_eq!(
            ragged.uniform_page(0x7C00_1000),
            Some(AccessClass::GuestStolen)
        );
    }

    proptest::proptest! {
        /// Whatever `uniform_page` promises holds for every access inside the
        /// page: the class `classify` gives, and a completed translation.
        #[test]
        fn uniform_page_agrees_with_classify(
            map_base in 0u64..0x40, map_len in 1u64..0x80,
            stolen_base in 0u64..0x80, stolen_len in 0u64..0x40,
            host_base in 0u64..0x80, host_len in 0u64..0x40,
            page in 0u64..0x10,
            accesses in proptest::collection::vec((0u64..4096, 1u64..9), 1..24),
        ) {
            // Boundaries on a 256-byte grid, so pages straddle them often.
            let m = Iommu::new(
                vec![Mapping {
                    guest: Region::new(GuestPhys(map_base << 8), map_len << 8),
                    host: HostPhys(0x1_0000_0000),
                }],
                (stolen_len > 0).then(|| Region::new(GuestPhys(stolen_base << 8), stolen_len << 8)),
                Region::new(HostPhys(host_base << 8), host_len << 8),
            );
            let page = page << 12;
            if let Some(class) = m.uniform_page(page) {
                for (off, len) in accesses {
                    let len = len.min(4096 - off);
                    let iova = Iova(page + off);
                    proptest::prop_assert_eq!(m.classify(iova, len), class);
                    proptest::prop_assert!(m.translate(iova, len).is_some());
                }
            }
        }
    }

    #[test]
    fn classes() {
        let m = iommu();
        assert_eq!(m.classify(Iova(0x7C00_1000), 4), AccessClass::GuestStolen);
        assert_eq!(m.classify(Iova(0x1000), 4), AccessClass::OtherGuestRam);
        assert_eq!(
            m.classify(Iova(0x8B00_0000), 4),
            AccessClass::HostStolenEscape
        );
        assert_eq!(m.classify(Iova(0x9000_0000), 4), AccessClass::Unmapped);
        assert_eq!(
            m.classify(Iova(0x7FFF_FFFE), 4),
            AccessClass::Unmapped,
            "straddles the end"
        );
        assert_eq!(m.translate(Iova(0x1000), 4), Some(HostPhys(0x1_0000_1000)));
    }

    #[test]
    fn dma_is_recorded_and_faults_when_unmapped() {
        let mut bus = IommuDma::new(iommu(), SparseMemory::new());
        bus.dma_write(Iova(0x7C00_0010), &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        bus.dma_read(Iova(0x7C00_0010), &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert_eq!(
            bus.dma_write(Iova(0x9000_0000), &[1]),
            Err(DmaFault::Unmapped(Iova(0x9000_0000)))
        );
        assert_eq!(bus.log.len(), 3);
        assert_eq!(bus.log[2].class, AccessClass::Unmapped);
        assert!(!bus.log[2].completed);
    }
}
