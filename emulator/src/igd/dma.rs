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
