//! The device's view of memory: every access the IGD makes on the bus (aperture
//! reads and writes translated by the GTT, scanout, engines) goes out as an I/O
//! virtual address through a [`DmaBus`]. In a VM the bus is the IOMMU; in unit
//! tests it can be plain memory. The device never learns what is behind it.

use crate::addr::Iova;

/// Why a DMA access did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum DmaFault {
    /// The IOMMU has no mapping for the address (a DMAR fault on real hardware).
    #[error("IOMMU fault: no mapping for IOVA {0}")]
    Unmapped(Iova),
    /// The address is mapped but the bus refused the access.
    #[error("bus refused the access at IOVA {0}")]
    Refused(Iova),
}

/// What a device access that went through the GTT touched: the GTT index used,
/// the IOVA it produced, and the width. Returned so the caller can trace it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DmaAccess {
    /// GTT entry that translated the access.
    pub gtt_index: u64,
    /// Address put on the bus.
    pub iova: Iova,
    /// Bytes accessed.
    pub len: u32,
    /// Whether it was a write.
    pub write: bool,
}

/// The bus accesses of one device access, one per page touched. Up to two
/// (any access of 8 bytes or less) are kept inline, so the aperture path does
/// not allocate per guest access; longer ones spill to the heap.
#[derive(Clone, Debug)]
pub struct DmaAccesses {
    len: usize,
    inline: [DmaAccess; 2],
    spill: Vec<DmaAccess>,
}

const NO_ACCESS: DmaAccess = DmaAccess {
    gtt_index: 0,
    iova: Iova(0),
    len: 0,
    write: false,
};

impl Default for DmaAccesses {
    fn default() -> Self {
        Self::new()
    }
}

impl DmaAccesses {
    /// No accesses.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            len: 0,
            inline: [NO_ACCESS; 2],
            spill: Vec::new(),
        }
    }

    /// Exactly one access.
    #[must_use]
    pub const fn one(a: DmaAccess) -> Self {
        Self {
            len: 1,
            inline: [a, NO_ACCESS],
            spill: Vec::new(),
        }
    }

    /// Append one access.
    pub fn push(&mut self, a: DmaAccess) {
        if self.spill.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = a;
                self.len += 1;
                return;
            }
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(a);
        self.len += 1;
    }

    /// Number of accesses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Access `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&DmaAccess> {
        if i >= self.len {
            None
        } else if self.spill.is_empty() {
            self.inline.get(i)
        } else {
            self.spill.get(i)
        }
    }

    /// The accesses in order.
    pub fn iter(&self) -> impl Iterator<Item = &DmaAccess> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }

    /// The accesses as a vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<DmaAccess> {
        self.iter().copied().collect()
    }
}

impl std::ops::Index<usize> for DmaAccesses {
    type Output = DmaAccess;
    fn index(&self, i: usize) -> &DmaAccess {
        match self.get(i) {
            Some(a) => a,
            None => panic!("DmaAccesses index {i} out of range (len {})", self.len),
        }
    }
}

impl From<Vec<DmaAccess>> for DmaAccesses {
    fn from(v: Vec<DmaAccess>) -> Self {
        let mut out = Self::new();
        for a in v {
            out.push(a);
        }
        out
    }
}

impl PartialEq for DmaAccesses {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for DmaAccesses {}

impl PartialEq<[DmaAccess]> for DmaAccesses {
    fn eq(&self, other: &[DmaAccess]) -> bool {
        self.len == other.len() && self.iter().eq(other.iter())
    }
}

impl<const N: usize> PartialEq<[DmaAccess; N]> for DmaAccesses {
    fn eq(&self, other: &[DmaAccess; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Vec<DmaAccess>> for DmaAccesses {
    fn eq(&self, other: &Vec<DmaAccess>) -> bool {
        *self == other[..]
    }
}

/// The bus a device masters.
pub trait DmaBus {
    /// Read `data.len()` bytes at `iova`.
    fn dma_read(&mut self, iova: Iova, data: &mut [u8]) -> Result<(), DmaFault>;
    /// Write `data` at `iova`.
    fn dma_write(&mut self, iova: Iova, data: &[u8]) -> Result<(), DmaFault>;
}

/// A sparse byte store that answers every address: for unit tests of devices.
#[derive(Default, Debug, Clone)]
pub struct FlatDma {
    /// Bytes written, by address.
    pub bytes: std::collections::BTreeMap<u64, u8>,
    /// Every access, in order.
    pub log: Vec<(Iova, usize, bool)>,
}

impl DmaBus for FlatDma {
    fn dma_read(&mut self, iova: Iova, data: &mut [u8]) -> Result<(), DmaFault> {
        for (i, d) in data.iter_mut().enumerate() {
            *d = self
                .bytes
                .get(&(iova.0.wrapping_add(i as u64)))
                .copied()
                .unwrap_or(0);
        }
        self.log.push((iova, data.len(), false));
        Ok(())
    }

    fn dma_write(&mut self, iova: Iova, data: &[u8]) -> Result<(), DmaFault> {
        for (i, d) in data.iter().enumerate() {
            self.bytes.insert(iova.0.wrapping_add(i as u64), *d);
        }
        self.log.push((iova, data.len(), true));
        Ok(())
    }
}
