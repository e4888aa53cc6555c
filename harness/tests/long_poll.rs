//! Facts come from state, never from the bounded trace: a ROM that polls a
//! port about 1.1 million times (far past the trace's cap) before it touches
//! the GTT gets the same verdict, violations and GTT writers as the same ROM
//! with a short poll.

use iced_x86::code_asm::*;
use igdemu::session::{self, RemapperKind, Scenario, SessionReport, Verdict};
use igdemu_roms::image::{self, Pcir};

/// SNB GT2 desktop: 32-bit PTEs through the BAR4 index/data pair.
const DEVICE: u16 = 0x0126;
const CODE: usize = 0x80;

const fn cf8(dev: u32, off: u32) -> u32 {
    0x8000_0000 | (dev << 11) | off
}

/// A 512-byte ROM: optionally write 0 to config BDSM (0x5C), read port 0x61
/// `polls` times, then write one PTE (host stolen page 0, valid) to GTT entry
/// 0 through BAR4's MMIO_Index/MMIO_Data.
fn rom(zero_bdsm: bool, polls: u32) -> Vec<u8> {
    rom_then(zero_bdsm, polls, false)
}

/// [`rom`], then spin forever (`jmp $`) instead of returning when `hang`.
fn rom_then(zero_bdsm: bool, polls: u32, hang: bool) -> Vec<u8> {
    let mut a = CodeAssembler::new(16).expect("16-bit assembler");
    let body = (|| -> Result<Vec<u8>, IcedError> {
        a.pushad()?;
        if zero_bdsm {
            a.mov(eax, cf8(2, 0x5C))?;
            a.mov(dx, 0xCF8u32)?;
            a.out(dx, eax)?;
            a.xor(eax, eax)?;
            a.mov(dx, 0xCFCu32)?;
            a.out(dx, eax)?;
        }
        a.mov(ecx, polls)?;
        let mut poll = a.create_label();
        a.set_label(&mut poll)?;
        a.in_(al, 0x61u32)?;
        a.dec(ecx)?;
        a.jnz(poll)?;
        // BAR4 (I/O) base.
        a.mov(eax, cf8(2, 0x20))?;
        a.mov(dx, 0xCF8u32)?;
        a.out(dx, eax)?;
        a.mov(dx, 0xCFCu32)?;
        a.in_(eax, dx)?;
        a.and(ax, 0xFFFCu32)?;
        a.mov(dx, ax)?;
        a.mov(eax, 1u32)?; // MMIO_Index: GTT byte 0, GTT bit
        a.out(dx, eax)?;
        a.add(dx, 4u32)?;
        a.mov(eax, 0x8B80_0005u32)?; // host stolen page 0, valid
        a.out(dx, eax)?;
        if hang {
            let mut spin = a.create_label();
            a.set_label(&mut spin)?;
            a.jmp(spin)?;
        }
        a.popad()?;
        a.retf()?;
        a.assemble(CODE as u64)
    })()
    .expect("assembles");
    let mut img = vec![0u8; 512];
    image::write_header(&mut img, CODE as u16);
    image::write_pcir(
        &mut img,
        &Pcir::intel_display(DEVICE, vec![DEVICE], image::CODE_TYPE_X86),
    );
    img[CODE..CODE + body.len()].copy_from_slice(&body);
    image::fix_checksum(&mut img);
    img
}

fn run(rom: &[u8], remapper: RemapperKind) -> SessionReport {
    let mut sc = Scenario::for_device(DEVICE, remapper);
    // The ROM bakes host stolen page 0.
    sc.host_bdsm = 0x8B80_0000;
    session::run(rom, &sc).expect("runs").report
}

const SHORT: u32 = 10;
const LONG: u32 = 1_100_000;

/// GTT runs: first entry, count, guest value, outcome, IP of the writer.
type GttFacts = Vec<(u64, u64, u64, String, u16)>;

/// The parts of a report that must not depend on the poll's length.
fn facts(r: &SessionReport) -> (Verdict, Vec<String>, GttFacts) {
    (
        r.verdict,
        r.check.violations.iter().map(ToString::to_string).collect(),
        r.gtt
            .iter()
            .map(|g| (g.first, g.count, g.guest_first, g.outcome.clone(), g.at.ip))
            .collect(),
    )
}

#[test]
fn vmm_stop_after_a_long_poll_is_still_a_stop() {
    let short = run(&rom(true, SHORT), RemapperKind::Qemu2016);
    let long = run(&rom(true, LONG), RemapperKind::Qemu2016);
    assert!(
        long.trace_dropped > 0,
        "the long poll overflows the trace ({} events)",
        long.trace_events
    );
    assert_eq!(short.trace_dropped, 0);
    assert_eq!(short.verdict, Verdict::Stopped, "{:?}", short.check);
    assert_eq!(facts(&long), facts(&short));
    let v = long.check.violations.first().expect("the stop");
    assert!(
        v.to_string().contains("the VMM stopped the VM") && v.to_string().contains("(at C000:"),
        "{v}"
    );
    assert_eq!(long.gtt.len(), 1, "GTT entry 0 written: {:?}", long.gtt);
    assert_eq!(long.gtt[0].guest_first, 0x8B80_0005);
}

#[test]
fn gtt_escape_after_a_long_poll_is_still_an_escape() {
    let short = run(&rom(false, SHORT), RemapperKind::Qemu2025);
    let long = run(&rom(false, LONG), RemapperKind::Qemu2025);
    assert!(long.trace_dropped > 0);
    assert_eq!(short.verdict, Verdict::Escape, "{:?}", short.check);
    assert_eq!(facts(&long), facts(&short));
    let v = long
        .check
        .violations
        .first()
        .expect("the escape")
        .to_string();
    assert!(
        v.contains("the guest wrote 0x8b800005 and the device holds 0x8b800005"),
        "{v}"
    );
    assert!(v.contains("(at C000:"), "{v}");
    // The instructions of the long poll are counted.
    assert!(
        long.instructions > 3 * u64::from(LONG),
        "{}",
        long.instructions
    );
}

/// A violation is never hidden behind did-not-run: the ROM escapes, then
/// hangs; the verdict is the escape and the hang is in the steps.
#[test]
fn a_rom_that_escapes_then_hangs_reports_the_escape() {
    let mut sc = Scenario::for_device(DEVICE, RemapperKind::Qemu2025);
    sc.host_bdsm = 0x8B80_0000;
    sc.machine.budget = 2_000_000;
    let r = session::run(&rom_then(false, SHORT, true), &sc)
        .expect("runs")
        .report;
    assert!(!r.steps[0].returned, "{:?}", r.steps[0]);
    assert_eq!(r.verdict, Verdict::Escape, "{:?}", r.check);
    assert!(r.instructions >= 2_000_000, "{}", r.instructions);
}
