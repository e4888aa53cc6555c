//! The containment checker: after a run, every valid GTT entry must point
//! inside the guest stolen region, and every device DMA access must land
//! there (DESIGN.md "checker"; invariants of igd-anchors §12.3).
//!
//! The GTT sweep works on the raw byte slice (no allocation per entry); only
//! violations allocate.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod ledger;

use std::fmt;

use crate::addr::Iova;
use crate::igd::generation::PteFormat;
use crate::machine::iommu::{AccessClass, ClassifiedAccess, Iommu};
use crate::passthrough::le_value;
use crate::trace::CsIp;
pub use ledger::{FatalStop, GttLedger, GttWriter};

/// Where in the guest program a violation came from (filled by the machine).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// Code segment.
    pub cs: u16,
    /// Instruction pointer.
    pub ip: u16,
    /// Disassembled instruction.
    pub instruction: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}:{:04X} `{}`", self.cs, self.ip, self.instruction)
    }
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Violation {
    /// A valid GTT entry that maps a page outside guest stolen memory.
    GttEntry {
        /// PTE index.
        index: u64,
        /// What the guest last wrote for this entry, when known.
        guest_value: Option<u64>,
        /// The entry the device holds (after remapping).
        device_value: u64,
        /// The decoded page address.
        addr: u64,
        /// Where that address lands.
        class: AccessClass,
        /// Guest instruction that wrote it, when known.
        origin: Option<Origin>,
    },
    /// A device DMA access outside guest stolen memory.
    Dma {
        /// The IOVA.
        iova: Iova,
        /// Bytes.
        len: u64,
        /// Write or read.
        write: bool,
        /// Where it landed.
        class: AccessClass,
        /// Guest instruction that caused it, when known.
        origin: Option<Origin>,
    },
    /// Device DMA runs outside guest stolen memory past the runs kept one
    /// by one (a guest scattering accesses), counted.
    DmaUnlisted {
        /// Runs.
        runs: u64,
        /// Bytes over those runs.
        bytes: u64,
        /// Write or read.
        write: bool,
        /// Where they landed.
        class: AccessClass,
        /// The first one's IOVA.
        first_iova: Iova,
        /// Guest instruction of the first one, when known.
        origin: Option<Origin>,
    },
    /// The VMM stopped the VM.
    Fatal {
        /// The VMM's message.
        message: String,
        /// Guest instruction that caused it, when known.
        origin: Option<Origin>,
    },
}

impl Violation {
    /// Attach the guest instruction responsible (the machine knows CS:IP).
    pub fn set_origin(&mut self, o: Origin) {
        match self {
            Violation::GttEntry { origin, .. }
            | Violation::Dma { origin, .. }
            | Violation::DmaUnlisted { origin, .. }
            | Violation::Fatal { origin, .. } => *origin = Some(o),
        }
    }
}

fn at(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map_or_else(String::new, |o| format!(" (at {o})"))
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::GttEntry {
                index,
                guest_value,
                device_value,
                addr,
                class,
                origin,
            } => {
                let wrote = guest_value
                    .map_or_else(|| "an unknown value".to_string(), |v| format!("{v:#x}"));
                write!(
                    f,
                    "GTT entry {index} maps page {addr:#x} in {class}: the guest wrote {wrote} and the device holds {device_value:#x}{}",
                    at(origin)
                )
            }
            Violation::Dma {
                iova,
                len,
                write,
                class,
                origin,
            } => write!(
                f,
                "the device {} {len} bytes at IOVA {iova} in {class}{}",
                if *write { "wrote" } else { "read" },
                at(origin)
            ),
            Violation::DmaUnlisted {
                runs,
                bytes,
                write,
                class,
                first_iova,
                origin,
            } => write!(
                f,
                "the device {} {bytes} bytes in {runs} more runs in {class}, past the runs listed one by one (the first at IOVA {first_iova}{})",
                if *write { "wrote" } else { "read" },
                at(origin)
            ),
            Violation::Fatal { message, origin } => {
                write!(f, "the VMM stopped the VM: {message}{}", at(origin))
            }
        }
    }
}

/// Device DMA runs of one class, direction and completion, counted past the
/// runs a recorder keeps one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnlistedDma {
    /// Write or read.
    pub write: bool,
    /// Where they landed.
    pub class: AccessClass,
    /// Whether the IOMMU let them through.
    pub completed: bool,
    /// Runs.
    pub runs: u64,
    /// Bytes.
    pub bytes: u64,
    /// The first one's IOVA.
    pub first_iova: Iova,
    /// The guest instruction that started the first one, when known.
    pub first_at: Option<CsIp>,
}

/// The checker's verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// GTT entries swept.
    pub entries_checked: u64,
    /// Of those, valid.
    pub valid_entries: u64,
    /// DMA accesses checked.
    pub dma_checked: u64,
    /// Everything that broke.
    pub violations: Vec<Violation>,
}

impl Report {
    /// Whether nothing broke.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} GTT entries checked ({} valid), {} DMA accesses, {} violation(s)",
            self.entries_checked,
            self.valid_entries,
            self.dma_checked,
            self.violations.len()
        )?;
        for v in &self.violations {
            writeln!(f, "- {v}")?;
        }
        Ok(())
    }
}

/// What the checker looks at.
#[derive(Clone, Copy, Debug)]
pub struct CheckInput<'a> {
    /// Raw GTT bytes as the device holds them.
    pub gtt: &'a [u8],
    /// Entry format.
    pub format: PteFormat,
    /// The IOMMU (guest stolen, host stolen, mappings).
    pub iommu: &'a Iommu,
    /// What the guest wrote to each entry, and whether the VMM stopped the
    /// VM (kept as it happened, not read back from the trace).
    pub ledger: &'a GttLedger,
    /// Device DMA accesses.
    pub dma: &'a [ClassifiedAccess],
    /// Device DMA runs counted past those listed in `dma`.
    pub dma_unlisted: &'a [UnlistedDma],
}

/// Sweep the GTT: call `bad(index, raw, addr, class)` for each valid entry
/// outside guest stolen memory. Returns (entries, valid entries).
///
/// The common case (every valid entry inside guest stolen memory) runs as a
/// branch-free pass over blocks of entries that only counts valid entries and
/// ORs together an "outside" flag; a block whose flag is set is swept again
/// entry by entry to report its violations in order. On x86-64 the block pass
/// uses AVX-512 or AVX2 when the CPU has them.
pub fn sweep_gtt(
    gtt: &[u8],
    format: PteFormat,
    iommu: &Iommu,
    mut bad: impl FnMut(u64, u64, u64, AccessClass),
) -> (u64, u64) {
    let guest_stolen = iommu.guest_stolen;
    let size = format.size() as usize;
    // `contains_range(addr, 4096)` as one unsigned compare:
    // addr - base <= limit (wrapping), with no limit when nothing fits.
    let window = guest_stolen.and_then(|g| {
        let span = g.end() - g.base.0;
        span.checked_sub(4096).map(|limit| (g.base.0, limit))
    });
    let (base, limit, none_fit) = match window {
        Some((b, l)) => (b, l, 0u64),
        None => (0, 0, 1),
    };
    let params = SweepParams {
        format,
        base,
        limit,
        none_fit,
    };
    let mut entries = 0u64;
    let mut valid = 0u64;
    let block_bytes = SWEEP_BLOCK * size;
    let mut index = 0u64;
    for block in gtt.chunks(block_bytes) {
        let whole = block.len() - block.len() % size;
        let block = block.get(..whole).unwrap_or_default();
        let (v, outside) = sweep_block(block, &params);
        let n = (block.len() / size) as u64;
        entries += n;
        valid += v;
        if outside {
            for (i, chunk) in block.chunks_exact(size).enumerate() {
                let raw = le_value(chunk);
                if raw & 1 == 0 {
                    continue;
                }
                let pte = format.decode(raw);
                if guest_stolen.is_some_and(|g| g.contains_range(pte.addr, 4096)) {
                    continue;
                }
                bad(
                    index + i as u64,
                    raw,
                    pte.addr,
                    iommu.classify(Iova(pte.addr), 4096),
                );
            }
        }
        index += n;
    }
    (entries, valid)
}

/// Entries per block of the fast sweep.
const SWEEP_BLOCK: usize = 512;

#[derive(Clone, Copy)]
struct SweepParams {
    format: PteFormat,
    base: u64,
    limit: u64,
    none_fit: u64,
}

/// Valid entries in `block` and whether any valid one lies outside the window.
fn sweep_block(block: &[u8], p: &SweepParams) -> (u64, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { sweep_block_avx512(block, p) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { sweep_block_avx2(block, p) };
        }
    }
    sweep_block_generic(block, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sweep_block_avx512(block: &[u8], p: &SweepParams) -> (u64, bool) {
    sweep_block_generic(block, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sweep_block_avx2(block: &[u8], p: &SweepParams) -> (u64, bool) {
    sweep_block_generic(block, p)
}

#[inline(always)]
fn sweep_block_generic(block: &[u8], p: &SweepParams) -> (u64, bool) {
    match p.format {
        PteFormat::Gen8 | PteFormat::Gen12 => {
            let mask = p.format.decode(!0).addr;
            sweep_lanes::<8>(block, p, |raw| raw & mask)
        }
        // Vlv decodes addresses as Snb does.
        PteFormat::Snb | PteFormat::Vlv => {
            sweep_lanes::<4>(block, p, |raw| PteFormat::Snb.decode(raw).addr)
        }
        PteFormat::Hsw => sweep_lanes::<4>(block, p, |raw| PteFormat::Hsw.decode(raw).addr),
    }
}

#[inline(always)]
// `b[..N]` cannot panic: N is a PTE size (4 or 8), checked at compile time
// below; this loop is the sweep's hot path.
#[allow(clippy::indexing_slicing)]
fn sweep_lanes<const N: usize>(
    block: &[u8],
    p: &SweepParams,
    addr: impl Fn(u64) -> u64,
) -> (u64, bool) {
    const { assert!(N <= 8) };
    let mut valid = 0u64;
    let mut outside = 0u64;
    for c in block.chunks_exact(N) {
        let mut b = [0u8; 8];
        b[..N].copy_from_slice(c);
        let raw = u64::from_le_bytes(b);
        let v = raw & 1;
        let out = u64::from(addr(raw).wrapping_sub(p.base) > p.limit) | p.none_fit;
        valid += v;
        outside |= v & out;
    }
    (valid, outside != 0)
}

/// Run every check.
#[must_use]
pub fn check(input: &CheckInput<'_>) -> Report {
    let mut report = Report::default();
    let (entries, valid) = sweep_gtt(
        input.gtt,
        input.format,
        input.iommu,
        |index, raw, addr, class| {
            report.violations.push(Violation::GttEntry {
                index,
                guest_value: input.ledger.guest_value(index),
                device_value: raw,
                addr,
                class,
                origin: None,
            });
        },
    );
    report.entries_checked = entries;
    report.valid_entries = valid;
    report.dma_checked =
        input.dma.len() as u64 + input.dma_unlisted.iter().map(|u| u.runs).sum::<u64>();
    for a in input.dma {
        if !a.class.is_ok() {
            report.violations.push(Violation::Dma {
                iova: a.iova,
                len: a.len,
                write: a.write,
                class: a.class,
                origin: None,
            });
        }
    }
    for u in input.dma_unlisted {
        if !u.class.is_ok() {
            report.violations.push(Violation::DmaUnlisted {
                runs: u.runs,
                bytes: u.bytes,
                write: u.write,
                class: u.class,
                first_iova: u.first_iova,
                origin: None,
            });
        }
    }
    if let Some(stop) = input.ledger.fatal() {
        report.violations.push(Violation::Fatal {
            message: stop.message.clone(),
            origin: None,
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{GuestPhys, HostPhys, Region};
    use crate::machine::iommu::Mapping;

    /// 2 GiB of guest RAM mapped 1:1, 1 MiB of guest stolen at 0x7C00_0000,
    /// 1 MiB of host stolen at 0x8B00_0000.
    fn low_2g_iommu() -> Iommu {
        Iommu::new(
            vec![Mapping {
                guest: Region::new(GuestPhys(0), 0x8000_0000),
                host: HostPhys(0),
            }],
            Some(Region::new(GuestPhys(0x7C00_0000), 0x10_0000)),
            Region::new(HostPhys(0x8B00_0000), 0x10_0000),
        )
    }

    #[test]
    fn sweep_reports_entries_outside_guest_stolen() {
        let iommu = low_2g_iommu();
        let mut gtt = vec![0u8; 16];
        gtt[0..4].copy_from_slice(&0x7C00_0001u32.to_le_bytes());
        gtt[4..8].copy_from_slice(&0x8B00_0001u32.to_le_bytes());
        gtt[8..12].copy_from_slice(&0x0000_1001u32.to_le_bytes());
        gtt[12..16].copy_from_slice(&0x8B00_0000u32.to_le_bytes()); // invalid
        let r = check(&CheckInput {
            gtt: &gtt,
            format: PteFormat::Snb,
            iommu: &iommu,
            ledger: &GttLedger::default(),
            dma: &[],
            dma_unlisted: &[],
        });
        assert_eq!((r.entries_checked, r.valid_entries), (4, 3));
        assert_eq!(r.violations.len(), 2);
        assert_eq!(
            r.violations[0].to_string(),
            "GTT entry 1 maps page 0x8b000000 in host stolen memory (untranslated host address): the guest wrote an unknown value and the device holds 0x8b000001"
        );
        match &r.violations[1] {
            Violation::GttEntry { class, .. } => assert_eq!(*class, AccessClass::OtherGuestRam),
            v => panic!("unexpected {v:?}"),
        }
        let mut v = r.violations[0].clone();
        v.set_origin(Origin {
            cs: 0xC000,
            ip: 0x1234,
            instruction: "out dx, eax".into(),
        });
        assert!(v.to_string().ends_with("(at C000:1234 `out dx, eax`)"));
    }

    /// The block-wise sweep reports exactly what an entry-by-entry sweep
    /// does, in the same order, for every format and window.
    #[test]
    fn block_sweep_matches_entry_by_entry() {
        let mut iommu = Iommu::new(
            vec![Mapping {
                guest: Region::new(GuestPhys(0), 0x8000_0000),
                host: HostPhys(0x1_0000_0000),
            }],
            None,
            Region::new(HostPhys(0x8B00_0000), 0x10_0000),
        );
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut gtt = vec![0u8; 8 * 3000 + 5];
        for (i, b) in gtt.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
            // Mostly entries inside [0x7C00_0000, 0x7D00_0000), valid.
            if i % 8 == 0 {
                *b |= 1;
            }
            if i % 8 == 3 && i % 1000 > 8 {
                *b = 0x7C;
            }
            if i % 8 >= 4 && i % 1000 > 8 {
                *b = 0;
            }
        }
        let windows = [
            None,
            Some(Region::new(GuestPhys(0x7C00_0000), 0x100_0000)),
            Some(Region::new(GuestPhys(0x7C00_0000), 0x800)),
            Some(Region::new(GuestPhys(0), u64::MAX)),
        ];
        for format in [
            PteFormat::Snb,
            PteFormat::Vlv,
            PteFormat::Hsw,
            PteFormat::Gen8,
            PteFormat::Gen12,
        ] {
            for window in windows {
                iommu.guest_stolen = window;
                let size = format.size() as usize;
                let mut want = Vec::new();
                let mut valid = 0;
                for (i, c) in gtt.chunks_exact(size).enumerate() {
                    let raw = le_value(c);
                    if raw & 1 == 0 {
                        continue;
                    }
                    valid += 1;
                    let addr = format.decode(raw).addr;
                    if !window.is_some_and(|g| g.contains_range(addr, 4096)) {
                        want.push((i as u64, raw, addr));
                    }
                }
                let mut got = Vec::new();
                let n = sweep_gtt(&gtt, format, &iommu, |i, raw, addr, _| {
                    got.push((i, raw, addr));
                });
                assert_eq!(
                    n,
                    ((gtt.len() / size) as u64, valid),
                    "{format:?} {window:?}"
                );
                assert_eq!(got, want, "{format:?} {window:?}");
            }
        }
    }

    #[test]
    fn dma_past_the_listed_runs_is_still_checked() {
        let iommu = low_2g_iommu();
        let group = |class| UnlistedDma {
            write: true,
            class,
            completed: true,
            runs: 5_000_000,
            bytes: 20_000_000,
            first_iova: Iova(0x1000),
            first_at: None,
        };
        let r = check(&CheckInput {
            gtt: &[],
            format: PteFormat::Snb,
            iommu: &iommu,
            ledger: &GttLedger::default(),
            dma: &[],
            dma_unlisted: &[
                group(AccessClass::GuestStolen),
                group(AccessClass::OtherGuestRam),
            ],
        });
        assert_eq!(r.dma_checked, 10_000_000);
        assert_eq!(r.violations.len(), 1);
        assert_eq!(
            r.violations[0].to_string(),
            "the device wrote 20000000 bytes in 5000000 more runs in other guest RAM (silent corruption), past the runs listed one by one (the first at IOVA 0x1000)"
        );
    }

    #[test]
    fn report_is_serializable() {
        fn ser<T: serde::Serialize>(_: &T) {}
        ser(&Report::default());
    }
}
