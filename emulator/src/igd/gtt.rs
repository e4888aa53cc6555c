//! The global graphics translation table (GGTT), held in GTT stolen memory (GSM)
//! and reached by the CPU through the upper half of BAR0 (GTTADR).
//!
//! Size from GGC's GGMS field (i915 `gen6/gen8/chv_get_total_gtt_size`), entry
//! layout per [`PteFormat`] (i915 `gt/intel_gtt.h`); see
//! `shared/research/igd-anchors.md` §6 and §7.3. The table is plain bytes, little
//! endian, exactly as the hardware keeps it.
//!
//! Access rules (the PRMs ask for DWord/QWord accesses and are silent on the
//! rest; this is what igdemu chose): an access of 1, 2, 4 or 8 bytes that lies
//! wholly inside one PTE writes those byte lanes of it; an access that spans two
//! PTEs, has another width, or lies beyond the table is refused with a
//! [`GttAccessError`] (the caller reports it), and a refused read returns zeros.

use super::generation::PteFormat;
use super::pte::Pte;

/// One PTE write as the device saw it: which entry, its raw value before and
/// after (full 64 bits on gen8+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GttWrite {
    /// PTE index.
    pub index: u64,
    /// Raw entry before the write.
    pub old: u64,
    /// Raw entry after the write.
    pub new: u64,
}

/// Why a GTT access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum GttAccessError {
    /// The bytes lie (partly) beyond the table.
    #[error("GTT access of {len} bytes at {offset:#x} is beyond the {size:#x}-byte GTT")]
    OutOfRange {
        /// Byte offset into the GTT.
        offset: u64,
        /// Access width.
        len: usize,
        /// GTT size in bytes.
        size: u64,
    },
    /// Width other than 1, 2, 4 or 8.
    #[error("GTT access width {len} is not 1, 2, 4 or 8")]
    BadWidth {
        /// Access width.
        len: usize,
    },
    /// The access spans two PTEs.
    #[error("GTT access of {len} bytes at {offset:#x} spans two PTEs")]
    SpansEntries {
        /// Byte offset into the GTT.
        offset: u64,
        /// Access width.
        len: usize,
    },
}

/// The GGTT: `size` bytes of PTEs in the platform's format.
#[derive(Clone, PartialEq, Eq)]
pub struct Gtt {
    format: PteFormat,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Gtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gtt")
            .field("format", &self.format)
            .field("entries", &self.len())
            .field("valid", &self.iter_valid().count())
            .finish()
    }
}

impl Gtt {
    /// A zeroed table (every entry invalid) of `size_bytes` bytes.
    #[must_use]
    pub fn new(format: PteFormat, size_bytes: u64) -> Self {
        let size = usize::try_from(size_bytes).unwrap_or(0);
        Self {
            format,
            bytes: vec![0; size],
        }
    }

    /// Number of PTEs.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.size_bytes() / self.format.size()
    }

    /// Whether the table has no entries (GGMS = 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Size in bytes.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The entry format.
    #[must_use]
    pub fn format(&self) -> PteFormat {
        self.format
    }

    /// The raw table bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes of entry `index`, if it exists.
    fn entry_range(&self, index: u64) -> Option<std::ops::Range<usize>> {
        let size = self.format.size();
        let start = index.checked_mul(size)?;
        let end = start.checked_add(size)?;
        if end > self.size_bytes() {
            return None;
        }
        Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    /// Raw entry `index`, or `None` beyond the table. 32-bit formats give the
    /// dword zero-extended.
    #[must_use]
    pub fn entry(&self, index: u64) -> Option<u64> {
        let src = self.bytes.get(self.entry_range(index)?)?;
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(src) {
            *d = *s;
        }
        Some(u64::from_le_bytes(b))
    }

    /// Raw entry `index` (0 beyond the table). 32-bit formats give the dword
    /// zero-extended.
    #[must_use]
    pub fn raw(&self, index: u64) -> u64 {
        self.entry(index).unwrap_or(0)
    }

    /// Entry `index` decoded per the table's format.
    #[must_use]
    pub fn decode(&self, index: u64) -> Pte {
        self.format.decode(self.raw(index))
    }

    /// Set entry `index` to `raw` (truncated to the entry size), as a full-width
    /// write. `None` beyond the table.
    pub fn set_raw(&mut self, index: u64, raw: u64) -> Option<GttWrite> {
        let r = self.entry_range(index)?;
        let old = self.raw(index);
        let le = raw.to_le_bytes();
        for (d, s) in self.bytes.get_mut(r)?.iter_mut().zip(le.iter()) {
            *d = *s;
        }
        Some(GttWrite {
            index,
            old,
            new: self.raw(index),
        })
    }

    /// Check an access and return the PTE index it touches.
    fn check(&self, offset: u64, len: usize) -> Result<u64, GttAccessError> {
        if !matches!(len, 1 | 2 | 4 | 8) {
            return Err(GttAccessError::BadWidth { len });
        }
        let size = self.size_bytes();
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > size) {
            return Err(GttAccessError::OutOfRange { offset, len, size });
        }
        let pte = self.format.size();
        let first = offset / pte;
        let last = (offset + len as u64 - 1) / pte;
        if first != last {
            return Err(GttAccessError::SpansEntries { offset, len });
        }
        Ok(first)
    }

    /// Read `data.len()` bytes at byte `offset`. A refused access reads zeros.
    pub fn read(&self, offset: u64, data: &mut [u8]) -> Result<(), GttAccessError> {
        data.fill(0);
        self.check(offset, data.len())?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(src) = self.bytes.get(start..start.saturating_add(data.len())) {
            data.copy_from_slice(src);
        }
        Ok(())
    }

    /// Write `data` at byte `offset` (the byte lanes of one PTE).
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<GttWrite, GttAccessError> {
        let index = self.check(offset, data.len())?;
        let old = self.raw(index);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if let Some(dst) = self.bytes.get_mut(start..start.saturating_add(data.len())) {
            dst.copy_from_slice(data);
        }
        Ok(GttWrite {
            index,
            old,
            new: self.raw(index),
        })
    }

    /// Valid entries in index order, decoded.
    pub fn iter_valid(&self) -> impl Iterator<Item = (u64, Pte)> + '_ {
        let size = self.format.size() as usize;
        self.bytes
            .chunks_exact(size)
            .enumerate()
            .filter(|(_, c)| c.first().is_some_and(|b| b & 1 == 1))
            .map(move |(i, _)| (i as u64, self.decode(i as u64)))
    }

    /// Zero every entry (all invalid).
    pub fn clear(&mut self) {
        self.bytes.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::pte::PTE_VALID;

    const MIB: u64 = 1 << 20;

    #[test]
    fn sizes_follow_format() {
        assert_eq!(Gtt::new(PteFormat::Snb, 2 * MIB).len(), 512 * 1024);
        assert_eq!(Gtt::new(PteFormat::Gen8, 8 * MIB).len(), 1024 * 1024);
        assert!(Gtt::new(PteFormat::Gen8, 0).is_empty());
    }

    #[test]
    fn dword_writes_build_a_gen8_pte() {
        let mut g = Gtt::new(PteFormat::Gen8, 2 * MIB);
        let w = g.write(5 * 8, &0x8B80_0001u32.to_le_bytes()).unwrap();
        assert_eq!(
            w,
            GttWrite {
                index: 5,
                old: 0,
                new: 0x8B80_0001
            }
        );
        let w = g.write(5 * 8 + 4, &0x1u32.to_le_bytes()).unwrap();
        assert_eq!((w.old, w.new), (0x8B80_0001, 0x1_8B80_0001));
        assert_eq!(g.decode(5).addr, 0x1_8B80_0000);
        let mut b = [0u8; 8];
        g.read(40, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x1_8B80_0001);
    }

    #[test]
    fn byte_lanes_of_a_snb_pte() {
        let mut g = Gtt::new(PteFormat::Snb, MIB);
        g.set_raw(3, 0x1234_5001).unwrap();
        let w = g.write(3 * 4 + 3, &[0xAB]).unwrap();
        assert_eq!((w.index, w.old, w.new), (3, 0x1234_5001, 0xAB34_5001));
        let mut b = [0u8; 2];
        g.read(3 * 4 + 2, &mut b).unwrap();
        assert_eq!(b, [0x34, 0xAB]);
    }

    #[test]
    fn refused_accesses_are_typed_and_read_zero() {
        let mut g = Gtt::new(PteFormat::Snb, MIB);
        g.set_raw(0, 0xFFFF_FFFF).unwrap();
        let mut b = [0xEEu8; 8];
        assert_eq!(
            g.read(0, &mut b),
            Err(GttAccessError::SpansEntries { offset: 0, len: 8 })
        );
        assert_eq!(b, [0; 8]);
        assert_eq!(
            g.write(MIB - 2, &[1, 2, 3, 4]),
            Err(GttAccessError::OutOfRange {
                offset: MIB - 2,
                len: 4,
                size: MIB
            })
        );
        assert_eq!(
            g.write(u64::MAX, &[1, 2]),
            Err(GttAccessError::OutOfRange {
                offset: u64::MAX,
                len: 2,
                size: MIB
            })
        );
        assert_eq!(
            g.write(0, &[1, 2, 3]),
            Err(GttAccessError::BadWidth { len: 3 })
        );
        assert_eq!(g.raw(u64::MAX), 0);
        assert_eq!(g.set_raw(u64::MAX / 2, 1), None);
    }

    #[test]
    fn iteration_yields_valid_entries_only() {
        let mut g = Gtt::new(PteFormat::Gen8, MIB);
        g.set_raw(1, 0x1000 | PTE_VALID).unwrap();
        g.set_raw(2, 0x2000).unwrap();
        g.set_raw(9, 0x9000 | PTE_VALID).unwrap();
        let v: Vec<_> = g.iter_valid().map(|(i, p)| (i, p.addr)).collect();
        assert_eq!(v, [(1, 0x1000), (9, 0x9000)]);
        g.clear();
        assert_eq!(g.iter_valid().count(), 0);
    }
}
