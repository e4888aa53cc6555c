//! Every deliberately broken ROM (`igdemu_roms::broken`) through the whole
//! pipeline: each must come back as its exact typed outcome, within a bounded
//! time, never a panic or a hang.

use std::time::{Duration, Instant};

use igdemu::cpu::rom::RomError;
use igdemu::cpu::{FaultKind, RunOutcome};
use igdemu::session::{self, RemapperKind, Scenario, SessionError, SessionRun, Step, Verdict};
use igdemu::trace::CsIp;
use igdemu_roms::broken::{build_broken, Broken, UNMAPPED_TARGET};

/// Small enough that the infinite loop ends in well under a second.
const BUDGET: u64 = 2_000_000;
/// Upper bound on one run's wall time (the engine's deadline is shorter).
const WALL: Duration = Duration::from_secs(20);

const ROM_SEG: u16 = 0xC000;
/// Where `broken.rs` puts the code of each kind.
const CODE: u16 = 0x100;
/// The INT 10h handler the write-after-protect ROM installs.
const HANDLER: u16 = CODE + 0x40;

/// What a kind must produce.
enum Expect {
    /// The loader refuses the image.
    Load(RomError),
    /// POST ends with this outcome (and the verdict is DidNotRun).
    Post(RunOutcome),
    /// POST returns; the step's write into the read-only shadow at `address`
    /// (made at `at`) is dropped, as a chipset drops it, and the step returns.
    ShadowWriteDropped {
        /// Linear address written.
        address: u64,
        /// The writing instruction.
        at: CsIp,
    },
}

fn fault(cs: u16, ip: u16, kind: FaultKind) -> RunOutcome {
    RunOutcome::Fault {
        at: CsIp::new(cs, ip),
        kind,
        recent: Vec::new(),
    }
}

/// The exact outcome per kind. Exhaustive: a new kind does not compile until
/// it has one.
fn expected(kind: Broken) -> Expect {
    match kind {
        Broken::Truncated => Expect::Load(RomError::Truncated {
            offset: 0,
            needed: 0x800,
            len: 0x400,
        }),
        Broken::BadChecksum => Expect::Load(RomError::BadChecksum {
            offset: 0,
            sum: 0x5A,
        }),
        Broken::PcirOutOfBounds => Expect::Load(RomError::PcirOutOfBounds {
            offset: 0x18,
            pcir: 0xFFF0,
        }),
        Broken::BadPcirSignature => Expect::Load(RomError::BadPcirSignature {
            offset: 0x40,
            found: *b"PCIX",
        }),
        Broken::EfiOnly => Expect::Load(RomError::UefiOnly {
            vendor: 0x8086,
            device: 0x0126,
            images: 1,
        }),
        Broken::InfiniteLoop => Expect::Post(RunOutcome::BudgetExhausted {
            at: CsIp::new(ROM_SEG, CODE),
            recent: Vec::new(),
        }),
        // Protected mode, selector 8 = a code segment based at 0x9000_0000.
        Broken::JumpUnmapped => Expect::Post(fault(
            8,
            0,
            FaultKind::UnmappedFetch {
                address: u64::from(UNMAPPED_TARGET),
            },
        )),
        // `inc word ptr cs:[80h]` in the handler, once the shadow is read-only.
        Broken::WriteAfterProtect => Expect::ShadowWriteDropped {
            address: 0xC0080,
            at: CsIp::new(ROM_SEG, HANDLER),
        },
        // `push eax; call` at 0x100, 6 bytes a round from SS:SP = 0000:7000:
        // the first block that starts with SP in the guard is at 0000:04FE.
        Broken::StackOverflow => Expect::Post(fault(
            ROM_SEG,
            CODE,
            FaultKind::StackOverflow {
                address: 0x4FE,
                ss: 0,
                sp: 0x4FE,
            },
        )),
        // `lidt` (5 bytes), `xor ax,ax` (3), then `div ax` raises #DE with an
        // empty IVT: #DE → #GP → #DF all past the limit.
        Broken::TripleFault => Expect::Post(fault(
            ROM_SEG,
            CODE + 8,
            FaultKind::TripleFault {
                vector: 0,
                idt_limit: 0,
            },
        )),
        Broken::InvalidOpcode => Expect::Post(fault(ROM_SEG, CODE, FaultKind::InvalidOpcode)),
    }
}

fn scenario(rom: &[u8]) -> Scenario {
    let mut sc =
        Scenario::for_rom(rom, RemapperKind::Strict).with_script(vec![Step::vbe(1024, 768, 32)]);
    sc.machine.budget = BUDGET;
    sc.machine.deadline = Duration::from_secs(10);
    sc
}

fn run_timed(rom: &[u8], sc: &Scenario) -> Result<SessionRun, SessionError> {
    let t = Instant::now();
    let r = session::run(rom, sc);
    assert!(t.elapsed() < WALL, "run took {:?}", t.elapsed());
    r
}

/// Compare outcomes without the disassembled history (which is for humans).
fn strip(o: &RunOutcome) -> RunOutcome {
    match o.clone() {
        RunOutcome::BudgetExhausted { at, .. } => RunOutcome::BudgetExhausted {
            at,
            recent: Vec::new(),
        },
        RunOutcome::Timeout { at, .. } => RunOutcome::Timeout {
            at,
            recent: Vec::new(),
        },
        RunOutcome::Fault { at, kind, .. } => RunOutcome::Fault {
            at,
            kind,
            recent: Vec::new(),
        },
        other => other,
    }
}

fn check(kind: Broken) {
    let rom = build_broken(kind);
    let sc = scenario(&rom);
    let name = kind.name();
    match expected(kind) {
        Expect::Load(want) => match run_timed(&rom, &sc) {
            Err(SessionError::Rom(got)) => assert_eq!(got, want, "{name}"),
            Err(e) => panic!("{name}: wrong error {e:?}"),
            Ok(r) => panic!("{name}: ran: {:?}", r.report.verdict),
        },
        Expect::Post(want) => {
            let run = run_timed(&rom, &sc).unwrap_or_else(|e| panic!("{name}: {e}"));
            let post = &run.report.steps[0];
            assert_eq!(post.step, "post");
            assert!(!post.returned, "{name}");
            assert_eq!(post.run.as_ref().map(strip), Some(want), "{name}");
            assert_eq!(run.report.verdict, Verdict::DidNotRun, "{name}");
            // Later steps are skipped, not run against a dead machine.
            assert!(run.report.steps[1].outcome.starts_with("skipped"), "{name}");
            if let Some(RunOutcome::Fault { recent, .. }) = &post.run {
                assert!(!recent.is_empty(), "{name}: a fault shows the last blocks");
            }
        }
        Expect::ShadowWriteDropped { address, at } => {
            let run = run_timed(&rom, &sc).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(run.report.steps[0].returned, "{name}: POST returns");
            let step = &run.report.steps[1];
            assert!(step.returned, "{name}: {}", step.outcome);
            // The word still holds what the image holds.
            let mut word = [0u8; 2];
            run.machine.read_guest(address, &mut word).expect("shadow");
            let off = usize::try_from(address - 0xC0000).expect("offset");
            assert_eq!(
                word,
                [rom[off], rom[off + 1]],
                "{name}: the write was dropped"
            );
            let dropped: Vec<_> = run
                .machine
                .trace()
                .iter()
                .filter_map(|e| match &e.kind {
                    igdemu::trace::EventKind::Unhandled(
                        igdemu::trace::Unhandled::ShadowWrite { address, size, .. },
                    ) => Some((e.at, *address, *size)),
                    _ => None,
                })
                .collect();
            assert!(!dropped.is_empty(), "{name}: the dropped write is traced");
            assert!(
                dropped.iter().all(|d| *d == (at, address, 2)),
                "{name}: {dropped:?}"
            );
            assert_eq!(
                run.machine.shadow_writes_dropped(),
                dropped.len() as u64,
                "{name}"
            );
        }
    }
}

#[test]
fn truncated() {
    check(Broken::Truncated);
}

#[test]
fn bad_checksum() {
    check(Broken::BadChecksum);
}

#[test]
fn bad_checksum_runs_when_allowed() {
    let rom = build_broken(Broken::BadChecksum);
    let mut sc = scenario(&rom);
    sc.allow_bad_checksum = true;
    let run = run_timed(&rom, &sc).expect("runs with allow_bad_checksum");
    assert!(!run.report.rom.checksum_ok);
    assert!(run.report.steps[0].returned, "{:?}", run.report.steps[0]);
    // Its init only returns: it has no INT 10h, so the VBE step fails (and
    // did-not-run says so); without a script nothing is exercised.
    assert!(!run.report.steps[1].succeeded, "{:?}", run.report.steps[1]);
    assert_eq!(run.report.verdict, Verdict::DidNotRun);
    let run = run_timed(&rom, &sc.with_script(Vec::new())).expect("runs");
    assert_eq!(run.report.verdict, Verdict::Inconclusive);
}

#[test]
fn pcir_out_of_bounds() {
    check(Broken::PcirOutOfBounds);
}

#[test]
fn bad_pcir_signature() {
    check(Broken::BadPcirSignature);
}

#[test]
fn efi_only() {
    check(Broken::EfiOnly);
}

#[test]
fn infinite_loop() {
    check(Broken::InfiniteLoop);
}

#[test]
fn jump_unmapped() {
    check(Broken::JumpUnmapped);
}

#[test]
fn write_after_protect() {
    check(Broken::WriteAfterProtect);
}

#[test]
fn stack_overflow() {
    check(Broken::StackOverflow);
}

#[test]
fn triple_fault() {
    check(Broken::TripleFault);
}

#[test]
fn invalid_opcode() {
    check(Broken::InvalidOpcode);
}

/// Every kind, under every remapper: a typed outcome, in bounded time.
#[test]
fn every_kind_under_every_remapper_ends() {
    for kind in Broken::ALL {
        let rom = build_broken(kind);
        for remapper in RemapperKind::ALL {
            let mut sc = scenario(&rom);
            sc.remapper = remapper;
            match (run_timed(&rom, &sc), expected(kind)) {
                (Err(SessionError::Rom(_)), Expect::Load(_)) => {}
                (Ok(r), Expect::Post(_)) => assert_eq!(r.report.verdict, Verdict::DidNotRun),
                (Ok(r), Expect::ShadowWriteDropped { .. }) => {
                    assert!(r.report.steps[1].returned);
                    assert!(r.machine.shadow_writes_dropped() > 0);
                }
                // ACRN: the device is outside its allowlist (pre-SKL).
                (
                    Err(SessionError::Vmm(igdemu::passthrough::VmmError::AcrnNoGen11Bdsm {
                        ..
                    })),
                    _,
                ) if remapper == RemapperKind::Acrn => {}
                (r, _) => panic!("{} under {}: {:?}", kind.name(), remapper.name(), r.err()),
            }
        }
    }
}
