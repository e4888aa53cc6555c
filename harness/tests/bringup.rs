//! Issue 7 end to end: the built-in ROMs poll power wells, PLL lock, GMBUS (an
//! EDID read) and DP AUX (a DPCD read) the way real Intel images do, and must
//! complete against the register behaviour model; a ROM that polls a register
//! the model does not complete stops with a diagnosis that names the register
//! and the bit.

use igdemu::cpu::RunOutcome;
use igdemu::igd::{PolledRegister, RegisterOverride, WaitCondition};
use igdemu::session::{self, RemapperKind, Scenario};
use igdemu_roms::personality::{DPCD_BUF, EDID_BUF};
use igdemu_roms::{build, Options, Personality};

fn post(rom: &[u8], overrides: Vec<RegisterOverride>, budget: u64) -> session::SessionRun {
    let mut sc = Scenario::for_rom(rom, RemapperKind::Strict);
    sc.overrides = overrides;
    sc.machine.budget = budget;
    session::run(rom, &sc).expect("scenario runs")
}

#[test]
fn every_personality_reads_edid_and_dpcd_and_completes_post() {
    for p in Personality::ALL {
        let rom = build(p, &Options::default()).expect("builds");
        let run = post(&rom, Vec::new(), 50_000_000);
        assert!(
            run.report.steps[0].returned,
            "{}: {:?}",
            p.name(),
            run.report.steps[0]
        );
        let mut edid = [0u8; 128];
        run.machine
            .read_guest(0xC0000 + u64::from(EDID_BUF), &mut edid)
            .expect("shadow readable");
        assert_eq!(
            &edid[..8],
            &[0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0],
            "{}: EDID header",
            p.name()
        );
        assert_eq!(
            edid.iter().fold(0u8, |s, b| s.wrapping_add(*b)),
            0,
            "{}: EDID checksum",
            p.name()
        );
        // Preferred detailed timing at 54: horizontal active in bytes 2 and 4.
        let h = u16::from(edid[54 + 2]) | (u16::from(edid[54 + 4] >> 4) << 8);
        let v = u16::from(edid[54 + 5]) | (u16::from(edid[54 + 7] >> 4) << 8);
        assert_eq!((h, v), (1920, 1080), "{}: preferred mode", p.name());
        let mut dpcd = [0u8; 20];
        run.machine
            .read_guest(0xC0000 + u64::from(DPCD_BUF), &mut dpcd)
            .expect("readable");
        // AUX data registers are big-endian in the dword; the ROM stored them
        // little-endian: byte 3 of the first dword is the reply code.
        assert_eq!(dpcd[3], 0x00, "{}: AUX ACK", p.name());
        assert_eq!(dpcd[2], 0x12, "{}: DPCD revision 1.2", p.name());
        let checkpoints: Vec<u32> = run
            .machine
            .trace()
            .iter()
            .filter_map(|e| match e.kind {
                igdemu::trace::EventKind::Checkpoint { port: 0xE0, value } => Some(value),
                _ => None,
            })
            .collect();
        for c in [0x06, 0x07, 0x08, 0xFF] {
            assert!(
                checkpoints.contains(&c),
                "{}: checkpoint {c:#x} missing in {checkpoints:x?}",
                p.name()
            );
        }
    }
}

#[test]
fn unknown_register_poll_is_diagnosed_exactly() {
    let opts = Options {
        poll_unknown: Some((0x4F100, 1 << 5)),
        ..Options::default()
    };
    let rom = build(Personality::SnbLegacy, &opts).expect("builds");
    let run = post(&rom, Vec::new(), 3_000_000);
    let step = &run.report.steps[0];
    assert!(
        matches!(step.run, Some(RunOutcome::BudgetExhausted { .. })),
        "{step:?}"
    );
    let d = step.diagnosis.as_ref().expect("a diagnosis");
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x4F100));
    assert_eq!(d.mask, Some(1 << 5));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(5));
    assert_eq!(d.value_read, 0);
    assert!(d.suggestion.contains("0x4f100"), "{}", d.suggestion);
    assert!(d.suggestion.contains("bit 5"), "{}", d.suggestion);
    assert_eq!(run.report.verdict, igdemu::session::Verdict::DidNotRun);
}

#[test]
fn a_broken_power_well_is_diagnosed_and_the_suggested_override_fixes_it() {
    let rom = build(Personality::BdwLegacy, &Options::default()).expect("builds");
    let plain = RegisterOverride::parse("0x45400=plain").expect("parses");
    let run = post(&rom, vec![plain], 3_000_000);
    let d = run.report.steps[0].diagnosis.clone().expect("a diagnosis");
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x45400));
    assert_eq!(d.name, Some("HSW_PWR_WELL_CTL1"));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(30));
    assert_eq!(
        d.value_read,
        1 << 31,
        "the request bit is set, the state bit is not"
    );
    let suggested = d
        .suggestion
        .rsplit("--override ")
        .next()
        .expect("a suggestion")
        .trim()
        .to_string();
    let fix = RegisterOverride::parse(&suggested).expect("the suggestion parses");
    let run = post(&rom, vec![fix], 50_000_000);
    assert!(run.report.steps[0].returned, "{:?}", run.report.steps[0]);
}

/// The bus hands the IGD the virtual time of each access: after POST the
/// device's clock is that of its last access, no later than the machine's.
#[test]
fn the_igd_sees_virtual_time() {
    let rom = build(Personality::SnbLegacy, &Options::default()).expect("builds");
    let run = post(&rom, Vec::new(), 50_000_000);
    let dev = run.igd().expect("igd").passthrough().host().now_ns();
    assert!(dev > 1_000_000, "{dev} ns: POST waited on timers");
    assert!(dev <= run.machine.now_ns());
}
