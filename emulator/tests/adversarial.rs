//! Adversarial guest against the real device: `Passthrough<IgdDevice, Strict>`
//! driven by long random sequences of everything a guest can do to an IGD
//! (config writes to BDSM, GGC, ASLS, the BARs and the command register;
//! BAR4 index/data at any offset and width; BAR0 MMIO including the GTT half
//! and the 0x1080C0 BDSM mirror; aperture reads and writes through the IOMMU;
//! FLR through the Advanced Features capability).
//!
//! Invariant after every step: no valid entry the device holds (in the swept
//! window and every entry the step wrote) maps outside guest stolen memory,
//! every device DMA access lands in guest stolen memory, the VM is never
//! stopped, and nothing panics. At the end of each case the whole GTT is swept.

use igdemu::check::sweep_gtt;
use igdemu::fuzz::{gtt_writes, world, World};
use igdemu::igd::generation::{PlatformInfo, PLATFORMS};
use igdemu::machine::iommu::AccessClass;
use igdemu::passthrough::testing::write_pte;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
/// GTT entries swept after every step (the ops aim most PTE writes here).
const WINDOW: u64 = 64;
const CASES: u32 = 64;
const STEPS: usize = 2000;

#[derive(Clone, Debug)]
enum Op {
    /// A config write (any register the guest may touch, any width).
    Config { off: u16, bytes: Vec<u8> },
    /// A config read.
    ConfigRead { off: u16, width: usize },
    /// BAR4 write at offset 0..8, width 1/2/4.
    Io { off: u16, bytes: Vec<u8> },
    /// BAR4 read.
    IoRead { off: u16, width: usize },
    /// A PTE written through BAR4 index/data (dword pairs for 64-bit formats)
    /// or BAR0, pointing at host stolen, guest stolen, other RAM or anywhere.
    Pte {
        entry: u64,
        target: u8,
        page: u64,
        flags: u64,
        high_first: bool,
    },
    /// Raw BAR0 write: the GTT half, the mirrors, or any register.
    Mmio { off: u64, bytes: Vec<u8> },
    /// BAR0 read.
    MmioRead { off: u64, width: usize },
    /// Aperture access (through the GTT and the IOMMU).
    Aperture { off: u64, len: usize, write: bool },
    /// FLR through the AF control register.
    Flr,
}

fn width() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 2, 4])
}

fn bytes(w: usize, v: u64) -> Vec<u8> {
    v.to_le_bytes().iter().take(w).copied().collect()
}

fn op(gtt_in_bar0: u64, pte_size: u64) -> impl Strategy<Value = Op> {
    // BDSM (0x5C, 0xC0/0xC4), GGC (0x50..0x52), ASLS (0xFC), BARs, command,
    // status, the AF capability area, and anywhere.
    let cfg_off = prop_oneof![
        8 => prop::sample::select(vec![
            0x04u16, 0x06, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x30, 0x50, 0x51, 0x52, 0x5C, 0x5E,
            0xC0, 0xC3, 0xC4, 0xFC, 0xFE, 0xA4, 0xA5,
        ]),
        1 => 0u16..0x100,
        1 => 0u16..0x1000,
    ];
    let cfg_val = prop_oneof![
        any::<u64>(),
        Just(u64::MAX),
        Just(0),
        (0u64..0x1000).prop_map(|m| m * MIB),
        Just(0x0000_0007),
    ];
    let io_val = prop_oneof![
        any::<u32>().prop_map(u64::from),
        (0u64..WINDOW, any::<bool>())
            .prop_map(move |(e, hi)| (e * pte_size + if hi { 4 } else { 0 }) | 1),
        prop::sample::select(vec![
            0x1080C0u64,
            0x1080C4,
            0x108040,
            0x0020_0000,
            0x0080_0000
        ]),
        (0u64..0x4000).prop_map(|p| (0x8B00_0000 + (p << 12)) | 3),
    ];
    let mmio_off = prop_oneof![
        4 => (0..WINDOW * pte_size).prop_map(move |o| gtt_in_bar0 + o),
        2 => prop::sample::select(vec![0x1080C0u64, 0x1080C4, 0x108040, 0x108044, 0x10]),
        1 => any::<u64>(),
        1 => 0..2 * gtt_in_bar0 + 0x10,
    ];
    prop_oneof![
        3 => (cfg_off, width(), cfg_val).prop_map(|(off, w, v)| Op::Config { off, bytes: bytes(w, v) }),
        1 => (0u16..0x110, width()).prop_map(|(off, width)| Op::ConfigRead { off, width }),
        5 => (0u16..8, width(), io_val).prop_map(|(off, w, v)| Op::Io { off, bytes: bytes(w, v) }),
        2 => (0u16..8, width()).prop_map(|(off, width)| Op::IoRead { off, width }),
        6 => (prop_oneof![9 => 0..WINDOW, 1 => any::<u64>()], 0u8..4, any::<u64>(), any::<u64>(), any::<bool>())
            .prop_map(|(entry, target, page, flags, high_first)| Op::Pte { entry, target, page, flags, high_first }),
        3 => (mmio_off, prop::sample::select(vec![1usize, 2, 4, 8]), any::<u64>())
            .prop_map(|(off, w, v)| Op::Mmio { off, bytes: bytes(w, v) }),
        1 => (any::<u64>(), width()).prop_map(|(off, width)| Op::MmioRead { off: off % (4 * MIB), width }),
        3 => (prop_oneof![9 => 0..WINDOW * PAGE, 1 => any::<u64>()], 1usize..96, any::<bool>())
            .prop_map(|(off, len, write)| Op::Aperture { off, len, write }),
        1 => Just(Op::Flr),
    ]
}

fn apply(w: &mut World, op: &Op) {
    let info = w.pt.host().info();
    let size = info.pte.size();
    match op {
        Op::Config { off, bytes } => {
            w.pt.config_write(*off, bytes);
        }
        Op::ConfigRead { off, width } => {
            let mut b = vec![0u8; *width];
            w.pt.config_read(*off, &mut b);
        }
        Op::Io { off, bytes } => {
            w.pt.io_write(*off, bytes);
        }
        Op::IoRead { off, width } => {
            let mut b = vec![0u8; *width];
            w.pt.io_read(*off, &mut b);
        }
        Op::Pte {
            entry,
            target,
            page,
            flags,
            high_first,
        } => {
            let fmt = info.pte;
            let base = match target {
                0 => w.pt.host().host_bdsm().0,
                1 => w.stolen.base.0,
                2 => 0x1000_0000,
                _ => page & 0x3F_FFFF_F000,
            };
            let addr = base.wrapping_add((page % 0x4000) * PAGE);
            let raw = fmt
                .encode(
                    (addr % fmt.addr_limit()) & !(PAGE - 1),
                    (flags & fmt.flag_mask()) | 1,
                )
                .unwrap_or(*page);
            if info.iobar_gtt {
                write_pte(&mut w.pt, *entry, raw, *high_first);
            } else {
                let at = info
                    .gtt_offset_in_bar0()
                    .wrapping_add(entry.wrapping_mul(size));
                w.pt.mmio_write(at, &raw.to_le_bytes()[..size as usize]);
            }
        }
        Op::Mmio { off, bytes } => {
            w.pt.mmio_write(*off, bytes);
        }
        Op::MmioRead { off, width } => {
            let mut b = vec![0u8; *width];
            w.pt.mmio_read(*off, &mut b);
        }
        Op::Aperture { off, len, write } => {
            if *write {
                let data = vec![0xA5u8; *len];
                let _ = w.pt.aperture_write(*off, &data, &mut w.bus);
            } else {
                let mut data = vec![0u8; *len];
                let _ = w.pt.aperture_read(*off, &mut data, &mut w.bus);
            }
        }
        Op::Flr => match w.af {
            Some(af) => {
                w.pt.config_write(af + 4, &[1]);
            }
            None => w.pt.flr(),
        },
    }
}

#[derive(Default)]
struct Tally {
    cases: u64,
    steps: u64,
    valid_checked: u64,
    written_checked: u64,
    dma: u64,
}

/// Check the invariant after one step.
fn check_step(w: &mut World, op: &Op, tally: &mut Tally) -> Result<(), TestCaseError> {
    let info = w.pt.host().info();
    let fmt = info.pte;
    let events = w.pt.take_events();
    for g in gtt_writes(&events) {
        let p = fmt.decode(g.new);
        tally.written_checked += 1;
        prop_assert!(
            !p.valid || w.stolen.contains_range(p.addr, PAGE),
            "after {:?}: entry {} = {:#x} maps {:#x} outside {:?}",
            op,
            g.index,
            g.new,
            p.addr,
            w.stolen
        );
    }
    let gtt = w.pt.host().gtt().bytes();
    let window = gtt.get(..(WINDOW * fmt.size()) as usize).unwrap_or(gtt);
    let mut bad = Vec::new();
    let (_, valid) = sweep_gtt(window, fmt, &w.bus.iommu, |i, raw, a, c| {
        bad.push((i, raw, a, c));
    });
    tally.valid_checked += valid;
    prop_assert!(bad.is_empty(), "after {:?}: {:x?}", op, bad);
    for a in w.bus.log.drain(..) {
        tally.dma += 1;
        prop_assert_eq!(
            a.class,
            AccessClass::GuestStolen,
            "after {:?}: DMA {:?}",
            op,
            a
        );
    }
    prop_assert!(w.pt.halted().is_none(), "VM stopped after {:?}", op);
    Ok(())
}

#[test]
fn strict_contains_an_adversarial_guest_on_the_real_device() {
    let platforms: Vec<&'static PlatformInfo> = PLATFORMS
        .iter()
        .filter(|i| world(i, 0x8B00_0000).is_some())
        .collect();
    assert!(!platforms.is_empty());
    let strategy = (
        prop::sample::select(platforms),
        prop::sample::select(vec![0x8B00_0000u64, 0x3_8B00_0000, 0x7E00_0000]),
        any::<u64>(),
    )
        .prop_flat_map(|(info, host, _)| {
            let seq = prop::collection::vec(
                op(info.gtt_offset_in_bar0(), info.pte.size()),
                STEPS..=STEPS,
            );
            (Just(info), Just(host), seq)
        });
    let tally = std::cell::RefCell::new(Tally::default());
    // A fixed seed: the same sequences (and figures) every run.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 2000,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(&strategy, |(info, host, seq)| {
        // A 32-bit BDSM register cannot hold a host base above 4 GiB.
        let host = if info.bdsm.width() == 4 {
            host & 0xFFFF_FFFF
        } else {
            host
        };
        let Some(mut w) = world(info, host) else {
            return Ok(());
        };
        let mut t = tally.borrow_mut();
        t.cases += 1;
        for op in &seq {
            apply(&mut w, op);
            t.steps += 1;
            check_step(&mut w, op, &mut t)?;
        }
        let mut bad = Vec::new();
        let (_, valid) = sweep_gtt(
            w.pt.host().gtt().bytes(),
            info.pte,
            &w.bus.iommu,
            |i, raw, a, c| bad.push((i, raw, a, c)),
        );
        t.valid_checked += valid;
        prop_assert!(bad.is_empty(), "{}: full GTT sweep: {:x?}", info.name, bad);
        Ok(())
    });
    let t = tally.borrow();
    println!(
        "adversarial: {} cases, {} steps, {} valid entries checked, {} written entries checked, {} DMA accesses, all inside guest stolen",
        t.cases, t.steps, t.valid_checked, t.written_checked, t.dma
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        t.written_checked > 0 && t.dma > 0,
        "the ops reach the GTT and DMA"
    );
}
