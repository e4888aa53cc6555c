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
    if gtt_index >= gtt.len() {
        return Err(fault(0, ApertureFaultKind::BeyondGtt));
    }
    let raw = gtt.raw(gtt_index);
    let pte = gtt.format().decode(raw);
    if !pte.valid {
        return Err(fault(raw, ApertureFaultKind::InvalidPte));
    }
    Ok((gtt_index, raw, pte.addr))
}

impl Iterator for Pieces<'_> {
    type Item = Result<Piece, ApertureFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done >= self.len {
            return None;
        }
        let done = self.done;
        // A fault ends the iteration.
        self.done = self.len;
        let Some(off) = self.offset.checked_add(done as u64) else {
            return Some(Err(ApertureFault {
                offset: u64::MAX,
                gtt_index: u64::MAX / PAGE_SIZE,
                raw: 0,
                kind: ApertureFaultKind::OutsideAperture,
            }));
        };
        let (gtt_index, raw, addr) = match translate_page(self.gtt, self.size, off) {
            Ok(t) => t,
            Err(f) => return Some(Err(f)),
        };
        let in_page = off % PAGE_SIZE;
        let chunk = usize::try_from(PAGE_SIZE - in_page)
            .unwrap_or(usize::MAX)
            .min(self.len - done);
        self.done = done + chunk;
        Some(Ok(Piece {
            gtt_index,
            raw,
            iova: Iova(addr | in_page),
            start: done,
            len: chunk,
        }))
    }
}

/// Translate `[offset, offset + len)` of an aperture of `size` bytes: every
/// page is checked before the caller makes any bus access.
fn translate(gtt: &Gtt, size: u64, offset: u64, len: usize) -> Result<Pieces<'_>, ApertureFault> {
    let pieces = move || Pieces {
        gtt,
        size,
        offset,
        len,
        done: 0,
    };
    // An access inside one page (all but page-straddling ones) has one
    // piece: the single pass below checks it before any bus access.
    let single_page = offset % PAGE_SIZE + len as u64 <= PAGE_SIZE;
    if !single_page {
        for p in pieces() {
            p?;
        }
    }
    Ok(pieces())
}

/// The offset inside its page of a non-empty access `[offset, offset + len)`
/// that stays inside one page (all but page-straddling accesses): the fast
/// path, one translation and one bus access.
#[inline]
fn single_page(offset: u64, len: usize) -> Option<u64> {
    let in_page = offset % PAGE_SIZE;
    (len != 0 && in_page + len as u64 <= PAGE_SIZE).then_some(in_page)
}

fn page_dma_fault(offset: u64, gtt_index: u64, raw: u64, f: DmaFault) -> ApertureFault {
    ApertureFault {
        offset,
        gtt_index,
        raw,
        kind: ApertureFaultKind::Dma(f),
    }
}

fn dma_fault(offset: u64, p: &Piece, f: DmaFault) -> ApertureFault {
    ApertureFault {
        offset: offset.saturating_add(p.start as u64),
        gtt_index: p.gtt_index,
        raw: p.raw,
        kind: ApertureFaultKind::Dma(f),
    }
}

/// Read `data.len()` bytes at aperture `offset` through `gtt` from `dma`.
#[inline]
pub fn read(
    gtt: &Gtt,
    size: u64,
    offset: u64,
    data: &mut [u8],
    dma: &mut dyn DmaBus,
) -> Result<DmaAccesses, ApertureFault> {
    if let Some(in_page) = single_page(offset, data.len()) {
        let (gtt_index, raw, addr) =
            translate_page(gtt, size, offset).inspect_err(|_| data.fill(0xFF))?;
        let iova = Iova(addr | in_page);
        if let Err(f) = dma.dma_read(iova, data) {
            data.fill(0xFF);
            return Err(page_dma_fault(offset, gtt_index, raw, f));
        }
        return Ok(DmaAccesses::one(DmaAccess {
            gtt_index,
            iova,
            len: data.len() as u32,
            write: false,
        }));
    }
    let pieces = translate(gtt, size, offset, data.len()).inspect_err(|_| data.fill(0xFF))?;
    let mut out = DmaAccesses::new();
    for p in pieces {
        // Only a single-page access can fault here (longer ones were
        // checked whole by `translate`): nothing was read yet.
        let p = p.inspect_err(|_| data.fill(0xFF))?;
        let Some(buf) = data.get_mut(p.start..p.start + p.len) else {
            continue;
        };
        if let Err(f) = dma.dma_read(p.iova, buf) {
            buf.fill(0xFF);
            return Err(dma_fault(offset, &p, f));
        }
        out.push(DmaAccess {
            gtt_index: p.gtt_index,
            iova: p.iova,
            len: p.len as u32,
            write: false,
        });
    }
    Ok(out)
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
    if let Some(in_page) = single_page(offset, data.len()) {
        let (gtt_index, raw, addr) = translate_page(gtt, size, offset)?;
        let iova = Iova(addr | in_page);
        dma.dma_write(iova, data)
            .map_err(|f| page_dma_fault(offset, gtt_index, raw, f))?;
        return Ok(DmaAccesses::one(DmaAccess {
            gtt_index,
            iova,
            len: data.len() as u32,
            write: true,
        }));
    }
    let pieces = translate(gtt, size, offset, data.len())?;
    let mut out = DmaAccesses::new();
    for p in pieces {
        let p = p?;
        let Some(buf) = data.get(p.start..p.start + p.len) else {
            continue;
        };
        dma.dma_write(p.iova, buf)
            .map_err(|f| dma_fault(offset, &p, f))?;
        out.push(DmaAccess {
            gtt_index: p.gtt_index,
            iova: p.iova,
            len: p.len as u32,
            write: true,
        });
    }
    Ok(out)
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
