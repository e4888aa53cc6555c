//! BAR2, the graphics aperture (GMADR): a CPU window onto graphics memory,
//! translated page by page through the GGTT.
//!
//! An access at aperture offset `off` uses GTT entry `off / 4096`, decoded per
//! the platform's [`PteFormat`](super::PteFormat) (i915 `gt/intel_ggtt.c`), and
//! goes to the bus at `pte.addr + off % 4096` (igd-anchors §6, §7.3). Accesses
//! crossing a page boundary are split, one bus access per page.
//!
//! Every page is translated before any bus access is made, so a fault (invalid
//! PTE, beyond the GTT, beyond the aperture) leaves memory untouched; a faulted
//! read returns all-ones. A DMA fault on the bus stops the access at that page.

use super::dma::{DmaAccess, DmaAccesses, DmaBus, DmaFault};
use super::gtt::Gtt;
use super::pte::PAGE_SIZE;
use crate::addr::Iova;

/// Why an aperture access did not reach memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum ApertureFaultKind {
    /// The PTE's valid bit is clear.
    #[error("PTE not valid")]
    InvalidPte,
    /// The offset needs an entry beyond the GTT (GGMS too small).
    #[error("beyond the GTT")]
    BeyondGtt,
    /// The offset lies outside the aperture BAR.
    #[error("outside the aperture")]
    OutsideAperture,
    /// The bus refused the translated access.
    #[error("DMA fault: {0}")]
    Dma(DmaFault),
}

/// A failed aperture access: which entry, its raw value, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("aperture access at {offset:#x} faulted on GTT entry {gtt_index} (raw {raw:#x}): {kind}")]
pub struct ApertureFault {
    /// Aperture offset of the (first) faulting byte.
    pub offset: u64,
    /// GTT entry the offset maps to.
    pub gtt_index: u64,
    /// Its raw value (0 beyond the GTT).
    pub raw: u64,
    /// The reason.
    pub kind: ApertureFaultKind,
}

/// One page-sized piece of an access, translated.
struct Piece {
    gtt_index: u64,
    raw: u64,
    iova: Iova,
    start: usize,
    len: usize,
}

impl Piece {
    /// The bus access this piece makes.
    #[inline]
    fn access(&self, write: bool) -> DmaAccess {
        DmaAccess {
            gtt_index: self.gtt_index,
            iova: self.iova,
            len: self.len as u32,
            write,
        }
    }

    /// The fault for the bus refusing this piece of an access at `offset`.
    fn dma_fault(&self, offset: u64, f: DmaFault) -> ApertureFault {
        ApertureFault {
            offset: offset.saturating_add(self.start as u64),
            gtt_index: self.gtt_index,
            raw: self.raw,
            kind: ApertureFaultKind::Dma(f),
        }
    }
}

/// The pieces of `[offset, offset + len)` of an aperture of `size` bytes, one
/// per page, translated lazily (no allocation per access).
struct Pieces<'a> {
    gtt: &'a Gtt,
    size: u64,
    offset: u64,
    len: usize,
    done: usize,
}

/// Translate the page holding aperture offset `off` (the GTT entry it uses,
/// that entry's raw value, and the page's bus address), or say why not.
#[inline]
fn translate_page(gtt: &Gtt, size: u64, off: u64) -> Result<(u64, u64, u64), ApertureFault> {
    let gtt_index = off / PAGE_SIZE;
    let fault = |raw, kind| ApertureFault {
        offset: off,
        gtt_index,
        raw,
        kind,
    };
    if off >= size {
        return Err(fault(0, ApertureFaultKind::OutsideAperture));
    }
    let Some(raw) = gtt.entry(gtt_index) else {
        return Err(fault(0, ApertureFaultKind::BeyondGtt));
    };
    let pte = gtt.format().decode(raw);
    if !pte.valid {
        return Err(fault(raw, ApertureFaultKind::InvalidPte));
    }
    Ok((gtt_index, raw, pte.addr))
}

/// The piece of the access `[offset, offset + len)` starting `start` bytes
/// in: up to the end of its page or of the access, translated. An offset past
/// `u64::MAX` saturates there, which is outside any aperture.
#[inline]
fn piece(
    gtt: &Gtt,
    size: u64,
    offset: u64,
    start: usize,
    len: usize,
) -> Result<Piece, ApertureFault> {
    let off = offset.saturating_add(start as u64);
    let (gtt_index, raw, addr) = translate_page(gtt, size, off)?;
    let in_page = off % PAGE_SIZE;
    let chunk = usize::try_from(PAGE_SIZE - in_page)
        .unwrap_or(usize::MAX)
        .min(len.saturating_sub(start));
    Ok(Piece {
        gtt_index,
        raw,
        iova: Iova(addr | in_page),
        start,
        len: chunk,
    })
}

impl Iterator for Pieces<'_> {
    type Item = Result<Piece, ApertureFault>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done >= self.len {
            return None;
        }
        let p = piece(self.gtt, self.size, self.offset, self.done, self.len);
        // A fault ends the iteration.
        self.done = match &p {
            Ok(p) => p.start + p.len,
            Err(_) => self.len,
        };
        Some(p)
    }
}

/// Translate `[offset, offset + len)` of an aperture of `size` bytes: every
/// page is checked before the caller makes any bus access.
#[inline]
fn translate(gtt: &Gtt, size: u64, offset: u64, len: usize) -> Result<Pieces<'_>, ApertureFault> {
    let pieces = move || Pieces {
        gtt,
        size,
        offset,
        len,
        done: 0,
    };
    for p in pieces() {
        p?;
    }
    Ok(pieces())
}

/// Whether `[offset, offset + len)` is non-empty and stays inside one page
/// (all but page-straddling accesses): the fast path, one translation and one
/// bus access.
#[inline]
fn single_page(offset: u64, len: usize) -> bool {
    len != 0 && offset % PAGE_SIZE + len as u64 <= PAGE_SIZE
}

/// Translate `[offset, offset + len)` and hand each piece to `io` (the bus
/// access), stopping at the first fault; nothing reaches `io` unless every
/// page translated.
#[inline]
fn access(
    gtt: &Gtt,
    size: u64,
    offset: u64,
    len: usize,
    write: bool,
    mut io: impl FnMut(&Piece) -> Result<(), DmaFault>,
) -> Result<DmaAccesses, ApertureFault> {
    if single_page(offset, len) {
        let p = piece(gtt, size, offset, 0, len)?;
        io(&p).map_err(|f| p.dma_fault(offset, f))?;
        return Ok(DmaAccesses::one(p.access(write)));
    }
    let mut out = DmaAccesses::new();
    for p in translate(gtt, size, offset, len)? {
        // `translate` checked every page, so this translation cannot fault.
        let p = p?;
        io(&p).map_err(|f| p.dma_fault(offset, f))?;
        out.push(p.access(write));
    }
    Ok(out)
}

/// Read `data.len()` bytes at aperture `offset` through `gtt` from `dma`.
///
/// A translation fault fills all of `data` with 0xFF (nothing was read); a DMA
/// fault fills the piece the bus refused.
#[inline]
pub fn read(
    gtt: &Gtt,
    size: u64,
    offset: u64,
    data: &mut [u8],
    dma: &mut dyn DmaBus,
) -> Result<DmaAccesses, ApertureFault> {
    let r = access(gtt, size, offset, data.len(), false, |p| {
        let Some(buf) = data.get_mut(p.start..p.start + p.len) else {
            return Ok(());
        };
        dma.dma_read(p.iova, buf).inspect_err(|_| buf.fill(0xFF))
    });
    if let Err(e) = &r {
        if !matches!(e.kind, ApertureFaultKind::Dma(_)) {
            data.fill(0xFF);
        }
    }
    r
}

/// Write `data` at aperture `offset` through `gtt` to `dma`.
#[inline]
pub fn write(
    gtt: &Gtt,
    size: u64,
    offset: u64,
    data: &[u8],
    dma: &mut dyn DmaBus,
) -> Result<DmaAccesses, ApertureFault> {
    access(gtt, size, offset, data.len(), true, |p| {
        let Some(buf) = data.get(p.start..p.start + p.len) else {
            return Ok(());
        };
        dma.dma_write(p.iova, buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::dma::FlatDma;
    use crate::igd::generation::PteFormat;
    use crate::igd::pte::PTE_VALID;

    const SIZE: u64 = 256 << 20;

    fn gtt() -> Gtt {
        let mut g = Gtt::new(PteFormat::Snb, 2 << 20);
        g.set_raw(0, 0x8B80_0000 | PTE_VALID);
        g.set_raw(1, 0x8B90_0000 | PTE_VALID);
        // PA[39:32] = 0x1 in bits 11:4.
        g.set_raw(2, 0x2000_0010 | PTE_VALID);
        g
    }

    #[test]
    fn write_lands_at_pte_address_plus_page_offset() {
        let g = gtt();
        let mut dma = FlatDma::default();
        let acc = write(&g, SIZE, 2 * 4096 + 0x10, &[1, 2, 3, 4], &mut dma).unwrap();
        assert_eq!(
            acc,
            [DmaAccess {
                gtt_index: 2,
                iova: Iova(0x1_2000_0010),
                len: 4,
                write: true
            }]
        );
        assert_eq!(dma.bytes.get(&0x1_2000_0013), Some(&4));
        let mut b = [0u8; 4];
        read(&g, SIZE, 2 * 4096 + 0x10, &mut b, &mut dma).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
    }

    #[test]
    fn access_crossing_a_page_goes_to_two_pages() {
        let g = gtt();
        let mut dma = FlatDma::default();
        let acc = write(&g, SIZE, 4094, &[0xA, 0xB, 0xC, 0xD], &mut dma).unwrap();
        assert_eq!(acc.len(), 2);
        assert_eq!((acc[0].iova, acc[0].len), (Iova(0x8B80_0FFE), 2));
        assert_eq!((acc[1].iova, acc[1].len), (Iova(0x8B90_0000), 2));
        assert_eq!(dma.bytes.get(&0x8B80_0FFF), Some(&0xB));
        assert_eq!(dma.bytes.get(&0x8B90_0000), Some(&0xC));
        assert_eq!(dma.bytes.get(&0x8B80_1000), None, "not contiguous");
    }

    #[test]
    fn invalid_pte_is_a_typed_fault_and_nothing_is_written() {
        let mut g = gtt();
        g.set_raw(1, 0x8B90_0000);
        let mut dma = FlatDma::default();
        let e = write(&g, SIZE, 4094, &[1, 2, 3, 4], &mut dma).unwrap_err();
        assert_eq!(
            e,
            ApertureFault {
                offset: 4096,
                gtt_index: 1,
                raw: 0x8B90_0000,
                kind: ApertureFaultKind::InvalidPte
            }
        );
        assert!(dma.log.is_empty());
        let mut b = [0u8; 2];
        assert!(read(&g, SIZE, 4096, &mut b, &mut dma).is_err());
        assert_eq!(b, [0xFF; 2]);
    }

    #[test]
    fn beyond_gtt_and_aperture() {
        let g = Gtt::new(PteFormat::Gen8, 4096); // 512 entries = 2 MiB reach
        let mut dma = FlatDma::default();
        let e = write(&g, SIZE, 2 << 20, &[1], &mut dma).unwrap_err();
        assert_eq!((e.gtt_index, e.kind), (512, ApertureFaultKind::BeyondGtt));
        let e = write(&g, SIZE, SIZE, &[1], &mut dma).unwrap_err();
        assert_eq!(e.kind, ApertureFaultKind::OutsideAperture);
        let e = write(&g, SIZE, u64::MAX, &[1, 2], &mut dma).unwrap_err();
        assert_eq!(e.kind, ApertureFaultKind::OutsideAperture);
        assert_eq!(write(&g, SIZE, 0, &[], &mut dma), Ok(DmaAccesses::new()));
    }
}
