//! The machine driven by tiny real-mode programs assembled with iced-x86
//! `code_asm`: BIOS services, PCI mechanism #1, timers, limits and faults.

use iced_x86::code_asm::*;
use igdemu::cpu::rom::RomError;
use igdemu::cpu::{FaultKind, Registers, RunOutcome};
use igdemu::machine::EventKind;
use igdemu::machine::{slot, LoadOptions, Machine, MachineConfig};
use igdemu::pci::{BarKind, BarSpec, ConfigSpace};
use igdemu::trace::{CsIp, IntResult, Unhandled};

#[path = "common/realmode.rs"]
mod realmode;
use realmode::run;

fn machine() -> Machine {
    Machine::new(MachineConfig::default()).unwrap()
}

fn ok(m: &mut Machine, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Registers {
    let (r, out) = run(m, f);
    assert!(out.returned(), "{out:?}");
    r
}

/// The outcome's CS:IP and fault kind (panics on any other outcome).
fn fault(out: RunOutcome) -> (CsIp, FaultKind) {
    match out {
        RunOutcome::Fault { at, kind, .. } => (at, kind),
        other => panic!("{other:?}"),
    }
}

/// Select PCI config address `addr` (mechanism #1) and point DX at CFCh.
fn cf8(a: &mut CodeAssembler, addr: u32) -> Result<(), IcedError> {
    a.mov(eax, addr)?;
    a.mov(dx, 0xCF8u32)?;
    a.out(dx, eax)?;
    a.mov(dx, 0xCFCu32)
}

fn rd(m: &Machine, addr: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    m.read_guest(addr, &mut b).unwrap();
    b
}

fn rd32(m: &Machine, addr: u64) -> u32 {
    let b = rd(m, addr, 4);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

const STDVGA_DEVFN: u16 = 0x18;

#[test]
fn pci_bios_install_check() {
    let mut m = machine();
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xB101u32)?;
        a.int(0x1A)
    });
    assert_eq!(r.edx, 0x2049_4350, "'PCI '");
    assert_eq!(r.ah(), 0);
    assert_eq!(r.al() & 1, 1, "mechanism #1");
    assert_eq!(r.bx(), 0x0210);
    assert!(!r.cf());
}

#[test]
fn pci_bios_find_device_and_class() {
    let mut m = machine();
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xB102u32)?;
        a.mov(cx, 0x1111u32)?;
        a.mov(dx, 0x1234u32)?;
        a.xor(si, si)?;
        a.int(0x1A)
    });
    assert_eq!((r.ah(), r.bx(), r.cf()), (0, STDVGA_DEVFN, false));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xB102u32)?;
        a.mov(cx, 0x1111u32)?;
        a.mov(dx, 0x1234u32)?;
        a.mov(si, 1u32)?;
        a.int(0x1A)
    });
    assert_eq!((r.ah(), r.cf()), (0x86, true), "second instance not found");
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xB103u32)?;
        a.mov(ecx, 0x06_0100u32)?;
        a.xor(si, si)?;
        a.int(0x1A)
    });
    assert_eq!(
        (r.ah(), r.bx(), r.cf()),
        (0, 0x00F8, false),
        "LPC bridge at 00:1f.0"
    );
}

#[test]
fn pci_bios_config_reads_and_writes() {
    let mut m = machine();
    let read = |m: &mut Machine, func: u32, di_: u32| {
        ok(m, |a| {
            a.mov(ax, 0xB100u32 | func)?;
            a.mov(bx, u32::from(STDVGA_DEVFN))?;
            a.mov(di, di_)?;
            a.xor(ecx, ecx)?;
            a.int(0x1A)
        })
    };
    assert_eq!(read(&mut m, 0x08, 1).cl(), 0x12);
    assert_eq!(read(&mut m, 0x09, 2).cx(), 0x1111);
    assert_eq!(read(&mut m, 0x0A, 0).ecx, 0x1111_1234);
    let bad = read(&mut m, 0x09, 1);
    assert_eq!((bad.ah(), bad.cf()), (0x87, true), "odd word register");
    // B10B byte, B10C word, B10D dword writes (of CL, CX, ECX).
    let write = |m: &mut Machine, func: u32, di_: u32, value: u32| {
        ok(m, |a| {
            a.mov(ax, 0xB100u32 | func)?;
            a.mov(bx, u32::from(STDVGA_DEVFN))?;
            a.mov(di, di_)?;
            a.mov(ecx, value)?;
            a.int(0x1A)
        })
    };
    write(&mut m, 0x0B, 0x3C, 0x0B);
    assert_eq!(read(&mut m, 0x08, 0x3C).cl(), 0x0B);
    write(&mut m, 0x0C, 0x04, 0x0003);
    assert_eq!(read(&mut m, 0x09, 0x04).cx(), 0x0003);
    write(&mut m, 0x0D, 0x10, 0xFFFF_FFFF);
    assert_eq!(
        read(&mut m, 0x0A, 0x10).ecx,
        0xFF00_0008,
        "16 MiB prefetchable BAR sizing"
    );
}

#[test]
fn int15_e820_iterates_with_continuation() {
    let mut m = machine();
    ok(&mut m, |a| {
        let mut next = a.create_label();
        let mut done = a.create_label();
        a.xor(ebx, ebx)?;
        a.mov(di, 0x6000u32)?;
        a.mov(word_ptr(0x5FF0), 0u32)?;
        a.set_label(&mut next)?;
        a.mov(eax, 0xE820u32)?;
        a.mov(edx, 0x534D_4150u32)?;
        a.mov(ecx, 24u32)?;
        a.int(0x15)?;
        a.jc(done)?;
        a.add(di, 20u32)?;
        a.inc(word_ptr(0x5FF0))?;
        a.test(ebx, ebx)?;
        a.jnz(next)?;
        a.set_label(&mut done)?;
        a.nop()
    });
    let entries = m.state().e820().entries().to_vec();
    let n = u16::from_le_bytes(rd(&m, 0x5FF0, 2).try_into().unwrap());
    assert_eq!(usize::from(n), entries.len());
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            rd(&m, 0x6000 + 20 * i as u64, 20),
            e.to_bytes(),
            "entry {i}"
        );
    }
    assert!(entries
        .iter()
        .any(|e| e.base == 0x10_0000 && e.len == (2 << 30) - 0x10_0000));
}

#[test]
fn int15_e801_and_88() {
    let mut m = machine();
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xE801u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx()), (0x3C00, 0x3C00));
    assert_eq!(
        (r.bx(), r.dx()),
        (0x7F00, 0x7F00),
        "(2 GiB - 16 MiB) / 64 KiB"
    );
    assert!(!r.cf());
    let r = ok(&mut m, |a| {
        a.mov(ah, 0x88u32)?;
        a.int(0x15)
    });
    assert_eq!(r.ax(), 0xFC00, "63 MiB above 1 MiB (capped at 64 MiB)");
}

#[test]
fn int15_intel_5f_table_and_unimplemented_calls() {
    let mut m = machine();
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F35u32)?;
        a.mov(cx, 0xFFFFu32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx(), r.cf()), (0x005F, 0, false));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F40u32)?;
        a.mov(cx, 0x7700u32)?;
        a.int(0x15)
    });
    assert_eq!(
        (r.ax(), r.cx()),
        (0x005F, 0x7701),
        "CL = panel type, CH kept"
    );
    // 5F34h (panel fitting) as the HSW image calls it (EDX = 64 MiB): the
    // vBIOS default, as coreboot answers.
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F34u32)?;
        a.mov(bx, 0x190u32)?;
        a.mov(cx, 2u32)?;
        a.mov(edx, 0x0400_0000u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx(), r.cf()), (0x005F, 0, false));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F51u32)?;
        a.mov(cx, 0x1234u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx()), (0x005F, 0), "no LFP by default");
    // 5F70h: CH 0..=2 answered CX = 0, CH 3 not handled.
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F70u32)?;
        a.mov(cx, 0x0255u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx()), (0x005F, 0));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F70u32)?;
        a.mov(cx, 0x0300u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ah(), r.cf()), (0x86, true));
    // Hooks coreboot's handler does not answer are unsupported.
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F14u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ah(), r.cf()), (0x86, true));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F99u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ah(), r.cf()), (0x86, true));
    let last = m
        .trace()
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::IntCall {
                vector,
                input,
                result,
                ..
            } => Some((*vector, input.eax, *result, e.at)),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.0, 0x15);
    assert_eq!(last.1 & 0xFFFF, 0x5F99);
    assert_eq!(last.2, IntResult::Unimplemented);
    assert_eq!(last.3.cs, 0, "blamed on the caller");

    // The table is configurable: a laptop board's answers.
    let mut cfg = MachineConfig {
        int15: igdemu::cpu::bios::SystemBiosHooks {
            active_lfp: igdemu::cpu::bios::gma_int15::ACTIVE_LFP_EDP,
            boot_display: igdemu::cpu::bios::gma_int15::BOOT_DISPLAY_LFP,
            ..Default::default()
        }
        .table(),
        ..MachineConfig::default()
    };
    cfg.int15.insert(
        0x5F99,
        igdemu::cpu::bios::Int15Answer {
            bx: Some(0xABCD),
            ..igdemu::cpu::bios::Int15Answer::ok()
        },
    );
    let mut m = Machine::new(cfg).unwrap();
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F99u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.bx(), r.cf()), (0x005F, 0xABCD, false));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F51u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx()), (0x005F, 3));
    let r = ok(&mut m, |a| {
        a.mov(ax, 0x5F35u32)?;
        a.int(0x15)
    });
    assert_eq!((r.ax(), r.cx()), (0x005F, 8));
}

#[test]
fn int1a_tick_count_follows_emulated_time() {
    let cfg = MachineConfig {
        ns_per_insn: 1000,
        ..MachineConfig::default()
    };
    let mut m = Machine::new(cfg).unwrap();
    let r = ok(&mut m, |a| {
        let mut l = a.create_label();
        a.mov(ecx, 200_000u32)?;
        a.set_label(&mut l)?;
        a.dec(ecx)?;
        a.jnz(l)?; // 400k instructions = 0.4 s emulated = 7 ticks
        a.xor(ah, ah)?;
        a.int(0x1A)
    });
    let ticks = u32::from(r.cx()) << 16 | u32::from(r.dx());
    assert!((7..=8).contains(&ticks), "{ticks}");
    assert_eq!(rd32(&m, 0x46C), ticks);
    let r = ok(&mut m, |a| {
        a.mov(ah, 0x04u32)?;
        a.int(0x1A)
    });
    assert_eq!((r.ch(), r.cl(), r.dh(), r.dl()), (0x20, 0x24, 0x01, 0x01));
}

#[test]
fn pci_mechanism1_lanes_and_absent_function() {
    let mut m = machine();
    ok(&mut m, |a| {
        cf8(a, 0x8000_1800u32)?; // 00:03.0, register 0
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x500), eax)?;
        a.mov(dx, 0xCFEu32)?;
        a.in_(ax, dx)?;
        a.mov(word_ptr(0x504), ax)?;
        a.mov(dx, 0xCFDu32)?;
        a.in_(al, dx)?;
        a.mov(byte_ptr(0x506), al)?;
        // Byte write to lane 0 of register 0x3C (interrupt line).
        cf8(a, 0x8000_183Cu32)?;
        a.mov(al, 0x5Au32)?;
        a.out(dx, al)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x508), eax)?;
        // Absent function 00:05.0.
        cf8(a, 0x8000_2800u32)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x50C), eax)?;
        // Enable bit clear: all-ones too.
        cf8(a, 0x0000_1800u32)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x510), eax)
    });
    assert_eq!(rd32(&m, 0x500), 0x1111_1234);
    assert_eq!(
        u16::from_le_bytes(rd(&m, 0x504, 2).try_into().unwrap()),
        0x1111
    );
    assert_eq!(rd(&m, 0x506, 1)[0], 0x12);
    assert_eq!(rd32(&m, 0x508) & 0xFF, 0x5A);
    assert_eq!(rd32(&m, 0x50C), 0xFFFF_FFFF);
    assert_eq!(rd32(&m, 0x510), 0xFFFF_FFFF);
    assert!(m.trace().iter().any(|e| matches!(
        e.kind,
        EventKind::ConfigWrite { bdf, offset: 0x3C, size: 1, value: 0x5A } if bdf == slot::STDVGA
    )));
}

#[test]
fn pm_timer_advances_with_instruction_count() {
    let mut m = machine();
    ok(&mut m, |a| {
        let mut l = a.create_label();
        a.mov(dx, 0x1808u32)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x500), eax)?;
        a.mov(ecx, 500_000u32)?;
        a.set_label(&mut l)?;
        a.dec(ecx)?;
        a.jnz(l)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x504), eax)
    });
    let d = rd32(&m, 0x504).wrapping_sub(rd32(&m, 0x500)) & 0xFF_FFFF;
    // 1 M instructions at 1 ns each = 1 ms = 3580 PM timer ticks.
    assert!((3579..3600).contains(&d), "{d}");
}

/// Spin on the ACPI PM timer (port 0x1808, 3.579545 MHz, 24 bits) until
/// `ticks` have passed; EAX ends as the ticks counted.
fn pm_timer_wait(a: &mut CodeAssembler, ticks: u32) -> Result<(), IcedError> {
    let mut l = a.create_label();
    a.mov(dx, 0x1808u32)?;
    a.in_(eax, dx)?;
    a.mov(ebx, eax)?;
    a.set_label(&mut l)?;
    a.in_(eax, dx)?;
    a.sub(eax, ebx)?;
    a.and(eax, 0xFF_FFFFu32)?;
    a.cmp(eax, ticks)?;
    a.jb(l)
}

/// A guest that waits 200 ms on the PM timer (715909 ticks at 3.579545 MHz)
/// and does nothing else: virtual time jumps, so the wait costs a few
/// thousand instructions instead of millions, and ends within one step
/// (100 µs) of its target.
#[test]
fn a_200ms_pm_timer_wait_costs_few_instructions() {
    let mut m = machine();
    let before = m.now_ns();
    let (r, out) = run(&mut m, |a| pm_timer_wait(a, 715_909));
    let RunOutcome::Returned { instructions } = out else {
        panic!("{out:?}")
    };
    assert!(instructions < 12_000, "{instructions} instructions");
    let waited = m.now_ns() - before;
    assert!(
        (200_000_000..200_100_000 + 1_000_000).contains(&waited),
        "{waited} ns"
    );
    assert!((715_909..716_300).contains(&r.eax), "{:#x}", r.eax);
    assert!(m.idle_skipped_ns() > 199_000_000, "{}", m.idle_skipped_ns());
}

/// The same wait run twice gives the same instruction count (determinism).
#[test]
fn a_timer_wait_is_deterministic() {
    let count = || {
        let mut m = machine();
        let (_, out) = run(&mut m, |a| pm_timer_wait(a, 35_795));
        (out, m.now_ns())
    };
    assert_eq!(count(), count());
}

/// A loop that counts 1000 toggles of port 0x61's refresh bit (one every
/// 15.085 µs) sees every one: jumps stay under half a toggle, so 1000 toggles
/// take 15.085 ms of virtual time.
#[test]
fn port_61_toggle_counting_sees_every_toggle() {
    let mut m = machine();
    let before = m.now_ns();
    let (r, out) = run(&mut m, |a| {
        let mut l = a.create_label();
        a.mov(ecx, 1000u32)?;
        a.in_(al, 0x61)?;
        a.and(al, 0x10)?;
        a.mov(ah, al)?;
        a.set_label(&mut l)?;
        a.in_(al, 0x61)?;
        a.and(al, 0x10)?;
        a.cmp(al, ah)?;
        a.je(l)?;
        a.mov(ah, al)?;
        a.dec(ecx)?;
        a.jnz(l)
    });
    let RunOutcome::Returned { instructions } = out else {
        panic!("{out:?}")
    };
    assert_eq!(r.ecx, 0);
    let waited = m.now_ns() - before;
    // 1000 toggles: between 999 and 1001 half-periods of 15.085 µs.
    assert!((15_070_000..15_101_000).contains(&waited), "{waited} ns");
    assert!(instructions < 12_000, "{instructions} instructions");
}

#[test]
fn budget_stops_jmp_self_at_its_address() {
    let mut m = machine();
    m.set_budget(10_000);
    let (_, out) = run(&mut m, |a| {
        let mut l = a.create_label();
        a.nop()?;
        a.set_label(&mut l)?;
        a.jmp(l)
    });
    match out {
        RunOutcome::BudgetExhausted { at, recent } => {
            assert_eq!(at, CsIp::new(0, 0x1001));
            assert!(
                recent
                    .last()
                    .is_some_and(|s| s.contains("0000:1001") && s.contains("jmp")),
                "{recent:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn far_jump_to_unmapped_memory_faults() {
    let mut m = Machine::new(MachineConfig {
        ram_size: 1 << 20,
        ..MachineConfig::default()
    })
    .unwrap();
    let (_, out) = run(&mut m, |a| a.jmp_far(0xFFFF, 0x0010));
    let (at, kind) = fault(out);
    assert_eq!(kind, FaultKind::UnmappedFetch { address: 0x10_0000 });
    assert_eq!(at, CsIp::new(0xFFFF, 0x0010));
}

/// A one-block ROM for 1234:1111 whose init (at 0x40) runs `init` and whose
/// INT 10h handler (at 0x80) is `handler`.
fn tiny_rom(
    init: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    handler: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Vec<u8> {
    let mut r = vec![0u8; 1024];
    r[..4].copy_from_slice(&[0x55, 0xAA, 2, 0xEB]);
    r[4] = 0x40 - 5; // jmp short 0x40
    r[0x18] = 0x20;
    r[0x20..0x24].copy_from_slice(b"PCIR");
    r[0x24..0x28].copy_from_slice(&[0x34, 0x12, 0x11, 0x11]);
    r[0x2D..0x30].copy_from_slice(&[0, 0, 3]);
    r[0x30] = 2;
    r[0x35] = 0x80;
    let mut a = CodeAssembler::new(16).unwrap();
    init(&mut a).unwrap();
    a.retf().unwrap();
    let c = a.assemble(0x40).unwrap();
    r[0x40..0x40 + c.len()].copy_from_slice(&c);
    let mut a = CodeAssembler::new(16).unwrap();
    handler(&mut a).unwrap();
    a.iret().unwrap();
    let c = a.assemble(0x80).unwrap();
    r[0x80..0x80 + c.len()].copy_from_slice(&c);
    let sum = r.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    r[1023] = 0u8.wrapping_sub(sum);
    r
}

fn hook_int10(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.push(ds)?;
    a.xor(bx, bx)?;
    a.mov(ds, bx)?;
    a.mov(word_ptr(0x40), 0x80u32)?;
    a.mov(word_ptr(0x42), 0xC000u32)?;
    a.mov(byte_ptr(0x500), al)?; // AL = devfn passed by the loader
    a.pop(ds)
}

#[test]
fn host_int10_reaches_rom_handler_that_nests_int15_and_int1a() {
    let mut m = machine();
    let rom = tiny_rom(hook_int10, |a| {
        a.mov(ax, 0x5F35u32)?;
        a.int(0x15)?;
        a.mov(bx, ax)?;
        a.xor(ah, ah)?;
        a.int(0x1A)?;
        a.mov(si, 0x1234u32)
    });
    let info = m.load_option_rom(&rom, LoadOptions::default()).unwrap();
    assert_eq!(info.bdf, Some(slot::STDVGA));
    assert!(m.run_option_rom_init().returned());
    assert_eq!(rd(&m, 0x500, 1)[0], 0x18, "AX = bus/devfn at entry");
    let (r, out) = m.call_int(0x10, Registers::default()).unwrap();
    assert!(out.returned(), "{out:?}");
    assert_eq!((r.bx(), r.si()), (0x005F, 0x1234));
    let vectors: Vec<(u8, IntResult)> = m
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::IntCall { vector, result, .. } => Some((vector, result)),
            _ => None,
        })
        .collect();
    assert_eq!(
        vectors,
        vec![
            (0x15, IntResult::Handled),
            (0x1A, IntResult::Handled),
            (0x10, IntResult::HostCall)
        ]
    );
    // The host stack is balanced after the nested calls.
    let (r2, out2) = m.call_int(0x10, Registers::default()).unwrap();
    assert!(out2.returned());
    assert_eq!(r2.bx(), 0x005F);
}

/// After POST the chipset's shadow is read-only: a write is dropped (and
/// traced), the CPU carries on, and a read sees the image's byte.
#[test]
fn write_to_protected_shadow_is_dropped_and_traced() {
    let mut m = machine();
    let rom = tiny_rom(|a| a.nop(), |a| a.nop());
    m.load_option_rom(&rom, LoadOptions::default()).unwrap();
    assert!(m.run_option_rom_init().returned());
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xC000u32)?;
        a.mov(ds, ax)?;
        a.mov(byte_ptr(0x10), 0x5Au32)?;
        a.mov(al, byte_ptr(0x10))?;
        // A string store over the image: every byte dropped, CX runs out.
        a.mov(es, ax)?;
        a.mov(di, 0x20u32)?;
        a.mov(cx, 4u32)?;
        a.mov(al, 0xA5u32)?;
        a.rep().stosb()?;
        a.mov(al, byte_ptr(0x10))
    });
    assert_eq!(r.al(), rom[0x10], "the read sees the image");
    assert_eq!(r.cx(), 0);
    assert_eq!(r.di(), 0x24);
    let mut img = [0u8; 4];
    m.read_guest(0xC0020, &mut img).unwrap();
    assert_eq!(img, [rom[0x20], rom[0x21], rom[0x22], rom[0x23]]);
    assert_eq!(m.shadow_writes_dropped(), 5);
    let dropped: Vec<(CsIp, u64, u64)> = m
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Unhandled(Unhandled::ShadowWrite { address, value, .. }) => {
                Some((e.at, address, value))
            }
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 5);
    assert_eq!(dropped[0], (CsIp::new(0, 0x1005), 0xC0010, 0x5A));
    assert_eq!(
        dropped[1..].iter().map(|d| (d.1, d.2)).collect::<Vec<_>>(),
        vec![
            (0xC0020, 0xA5),
            (0xC0021, 0xA5),
            (0xC0022, 0xA5),
            (0xC0023, 0xA5)
        ]
    );
    // Beyond the ROM's size the shadow stays writable RAM.
    let r = ok(&mut m, |a| {
        a.mov(ax, 0xD000u32)?;
        a.mov(ds, ax)?;
        a.mov(byte_ptr(0x10), 7u32)?;
        a.mov(al, byte_ptr(0x10))
    });
    assert_eq!(r.al(), 7);
}

#[test]
fn bad_checksum_refused_unless_allowed() {
    let mut m = machine();
    let mut rom = tiny_rom(|a| a.nop(), |a| a.nop());
    rom[0x200] ^= 0xFF;
    assert!(matches!(
        m.load_option_rom(&rom, LoadOptions::default()),
        Err(RomError::BadChecksum { offset: 0, .. })
    ));
    let info = m
        .load_option_rom(
            &rom,
            LoadOptions {
                allow_bad_checksum: true,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert!(!info.checksum_ok);
    assert!(m.run_option_rom_init().returned());
}

#[test]
fn unimplemented_int10_before_a_vga_rom_and_idle_hlt() {
    let mut m = machine();
    let (r, out) = m
        .call_int(
            0x10,
            Registers {
                eax: 0x0003,
                ..Registers::default()
            },
        )
        .unwrap();
    assert!(out.returned());
    assert!(r.cf());
    assert_eq!(r.ah(), 0x86);
    let (_, out) = run(&mut m, |a| {
        let mut l = a.create_label();
        a.sti()?;
        a.set_label(&mut l)?;
        a.hlt()?;
        a.jmp(l)
    });
    assert!(
        matches!(out, RunOutcome::Idle { at } if at == CsIp::new(0, 0x1001)),
        "{out:?}"
    );
}

#[test]
fn tiny_rom_trace_is_deterministic() {
    let go = || {
        let mut m = machine();
        let rom = tiny_rom(hook_int10, |a| {
            a.mov(ax, 0xB101u32)?;
            a.int(0x1A)
        });
        m.load_option_rom(&rom, LoadOptions::default()).unwrap();
        assert!(m.run_option_rom_init().returned());
        m.call_int(0x10, Registers::default()).unwrap();
        m.trace().to_vec()
    };
    let a = go();
    assert!(!a.is_empty());
    assert_eq!(a, go());
}

/// A stand-in for the IGD with the BARs its config space declares: each BAR
/// is a file of 16 dword registers (shared by all BARs) that keeps what is
/// written and reads it back (all-ones past the file).
struct Probe {
    config: igdemu::pci::ConfigSpace,
    regs: [u32; 16],
}

impl Probe {
    /// A probe with `config` and zeroed registers.
    fn new(config: ConfigSpace) -> Self {
        Self {
            config,
            regs: [0; 16],
        }
    }
}

/// Plug a probe (an IGD's IDs) with `bars` at 00:02.0.
fn plug_probe(m: &mut Machine, bars: &[(usize, BarSpec)]) {
    let mut config = ConfigSpace::new(0x8086, 0x0126, 0x03_0000, 9, 256);
    for (i, spec) in bars {
        config.add_bar(*i, *spec).unwrap();
    }
    m.plug(slot::DISPLAY, Box::new(Probe::new(config))).unwrap();
}

impl igdemu::pci::PciFunction for Probe {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> igdemu::pci::ConfigWrite {
        self.config.write(offset, data)
    }
    fn config(&self) -> &igdemu::pci::ConfigSpace {
        &self.config
    }
}

impl igdemu::machine::pci_bus::BusDevice for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn bar_read(&mut self, _bar: u8, offset: u64, data: &mut [u8]) {
        let v = self
            .regs
            .get((offset / 4) as usize)
            .copied()
            .unwrap_or(!0)
            .to_le_bytes();
        let n = data.len().min(4);
        data[..n].copy_from_slice(&v[..n]);
    }
    fn bar_write(&mut self, _bar: u8, offset: u64, data: &[u8]) {
        let mut b = [0u8; 4];
        let n = data.len().min(4);
        b[..n].copy_from_slice(&data[..n]);
        if let Some(r) = self.regs.get_mut((offset / 4) as usize) {
            *r = u32::from_le_bytes(b);
        }
    }
}

#[test]
fn plugged_device_gets_bars_and_sees_mmio_and_io_with_cs_ip() {
    let mut m = machine();
    plug_probe(
        &mut m,
        &[
            (
                0,
                BarSpec {
                    kind: BarKind::Memory64 {
                        prefetchable: false,
                    },
                    size: 0x1000,
                },
            ),
            (
                4,
                BarSpec {
                    kind: BarKind::Io,
                    size: 64,
                },
            ),
        ],
    );
    let bar0 = m.bar_address(slot::DISPLAY, 0).unwrap();
    let bar4 = m.bar_address(slot::DISPLAY, 4).unwrap();
    assert!(bar0 >= 0xC000_0000 && bar0.is_multiple_of(0x1000));
    assert!(bar4 >= 0xC000 && bar4.is_multiple_of(64));
    assert!(m
        .plug(
            slot::DISPLAY,
            Box::new(Probe::new(ConfigSpace::new(0, 0, 0, 0, 256)))
        )
        .is_err());
    ok(&mut m, |a| {
        // addr32 access above 1 MiB (QEMU does not check segment limits).
        a.xor(ax, ax)?;
        a.mov(fs, ax)?;
        a.mov(edi, bar0 as u32)?;
        a.mov(eax, 0xDEAD_BEEFu32)?;
        a.mov(dword_ptr(edi + 8).fs(), eax)?;
        a.mov(ebx, dword_ptr(edi + 8).fs())?;
        // The same address read again in the same block: its own CS:IP.
        a.mov(ecx, dword_ptr(edi + 8).fs())?;
        a.mov(dword_ptr(0x500), ebx)?;
        // BAR4 index/data pair, as a vBIOS programs the GTT.
        a.mov(dx, bar4 as u32)?;
        a.mov(eax, 0x0000_0001u32)?;
        a.out(dx, eax)?;
        a.add(dx, 4u32)?;
        a.in_(eax, dx)?;
        a.mov(dword_ptr(0x504), eax)
    });
    assert_eq!(rd32(&m, 0x500), 0xDEAD_BEEF);
    assert_eq!(
        rd32(&m, 0x504),
        0,
        "BAR4 data register (offset 4) untouched"
    );
    let w = m
        .trace()
        .iter()
        .find(|e| matches!(e.kind, EventKind::MmioWrite { .. }))
        .unwrap();
    assert_eq!(
        w.kind,
        EventKind::MmioWrite {
            bdf: slot::DISPLAY,
            bar: 0,
            offset: 8,
            size: 4,
            value: 0xDEAD_BEEF
        }
    );
    assert_eq!(w.at.cs, 0);
    let text = m.disassemble_at(w.at.cs, w.at.ip).unwrap();
    assert!(text.contains("mov") && text.contains("fs:"), "{text}");
    // Each access is blamed on its own instruction: the write, then the two
    // reads of the same register (same address, same block).
    let reads: Vec<String> = m
        .trace()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::MmioRead { offset: 8, .. }))
        .map(|e| m.disassemble_at(e.at.cs, e.at.ip).unwrap())
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(text.contains("],eax"), "{text}");
    assert!(reads[0].contains("mov ebx,"), "{reads:?}");
    assert!(reads[1].contains("mov ecx,"), "{reads:?}");
    // Moving BAR0 re-maps it.
    ok(&mut m, |a| {
        cf8(a, 0x8000_1010u32)?; // 00:02.0 BAR0
        a.mov(eax, 0xD000_0000u32)?;
        a.out(dx, eax)
    });
    assert_eq!(m.bar_address(slot::DISPLAY, 0), Some(0xD000_0000));
    let r = ok(&mut m, |a| {
        a.xor(ax, ax)?;
        a.mov(fs, ax)?;
        a.mov(edi, 0xD000_0000u32)?;
        a.mov(eax, dword_ptr(edi + 8).fs())
    });
    assert_eq!(r.eax, 0xDEAD_BEEF);
}

// ------------------------------------------------- stack overflow, triple fault

#[test]
fn stack_running_into_the_bda_is_a_stack_overflow() {
    let mut m = machine();
    // SS:SP = 0000:0510, then push until the stack reaches the BDA.
    let (_, out) = run(&mut m, |a| {
        a.mov(sp, 0x510u32)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.push(ax)?;
        a.jmp(l)
    });
    assert_eq!(
        fault(out).1,
        FaultKind::StackOverflow {
            address: 0x4FE,
            ss: 0,
            sp: 0x4FE
        }
    );
}

#[test]
fn writes_to_ivt_and_bda_that_are_not_pushes_are_fine() {
    let mut m = machine();
    ok(&mut m, |a| {
        a.xor(ax, ax)?;
        a.mov(ds, ax)?;
        a.mov(word_ptr(0x40u32), 0x1234u32)?; // an IVT entry
        a.mov(byte_ptr(0x449u32), 3u32)?; // BDA video mode
        a.mov(ax, 0x1234u32)?;
        a.push(ax)?; // a push on the host stack
        a.pop(ax)
    });
}

#[test]
fn interrupt_past_the_ivt_limit_cascades_to_a_triple_fault() {
    let mut m = machine();
    // IDTR limit 0x37 covers vectors 0..13: INT 10h is delivered as #GP
    // (vector 13, IRQ 5's slot on a PC, whose BIOS stub just returns).
    ok(&mut m, |a| {
        a.push(0u32)?;
        a.push(0x37u32)?;
        a.mov(bx, sp)?;
        a.lidt(fword_ptr(bx).ss())?;
        a.int(0x10)
    });
    let vectors: Vec<u8> = m
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::IntCall { vector, .. } => Some(vector),
            _ => None,
        })
        .collect();
    assert_eq!(vectors, vec![13]);
    // Limit 0: nothing can be delivered.
    let mut m = machine();
    let (_, out) = run(&mut m, |a| {
        a.push(0u32)?;
        a.push(0u32)?;
        a.mov(bx, sp)?;
        a.lidt(fword_ptr(bx).ss())?;
        a.int(0x10)
    });
    assert_eq!(
        fault(out).1,
        FaultKind::TripleFault {
            vector: 0x10,
            idt_limit: 0
        }
    );
}

#[test]
fn exception_vector_pointing_at_the_faulting_instruction_is_a_triple_fault() {
    let mut m = machine();
    // IVT[0] = 0000:<the div below>; `div` by zero then re-faults forever.
    let (_, out) = run(&mut m, |a| {
        a.xor(ax, ax)?;
        a.mov(ds, ax)?;
        a.mov(word_ptr(0u32), 0x1012u32)?;
        a.mov(word_ptr(2u32), 0u32)?;
        a.xor(cx, cx)?;
        a.div(cx) // at 0x1012
    });
    let (at, kind) = fault(out);
    assert_eq!(
        kind,
        FaultKind::TripleFault {
            vector: 0,
            idt_limit: 0x3FF
        }
    );
    assert_eq!(at, CsIp::new(0, 0x1012));
}

#[test]
fn wall_clock_deadline_stops_a_loop_the_budget_would_not() {
    let mut m = Machine::new(MachineConfig {
        budget: u64::MAX,
        deadline: std::time::Duration::from_millis(50),
        ..MachineConfig::default()
    })
    .unwrap();
    let t = std::time::Instant::now();
    let (_, out) = run(&mut m, |a| {
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.jmp(l)
    });
    assert!(
        matches!(out, RunOutcome::Timeout { at, .. } if at == CsIp::new(0, 0x1000)),
        "{out:?}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

/// A GDT for INT 15h AH=87h at `at`: source and destination data
/// descriptors (entries 2 and 3) with 32-bit bases and byte-granular limits.
fn block_move_gdt(m: &mut Machine, at: u64, src: u32, dst: u32, limit: u16) {
    let desc = |base: u32| {
        let b = base.to_le_bytes();
        let l = limit.to_le_bytes();
        [l[0], l[1], b[0], b[1], b[2], 0x93, 0x00, b[3]]
    };
    let mut gdt = [0u8; 48];
    gdt[0x10..0x18].copy_from_slice(&desc(src));
    gdt[0x18..0x20].copy_from_slice(&desc(dst));
    m.write_guest(at, &gdt).unwrap();
}

/// An INT 15h AH=87h call moving `words` words with the GDT at 0000:0600.
fn block_move_code(words: u16) -> impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError> {
    move |a| {
        a.xor(ax, ax)?;
        a.mov(es, ax)?;
        a.mov(si, 0x600u32)?;
        a.mov(cx, u32::from(words))?;
        a.mov(ah, 0x87u32)?;
        a.int(0x15)
    }
}

fn block_move(m: &mut Machine, words: u16) -> Registers {
    ok(m, block_move_code(words))
}

#[test]
fn int15_87_moves_blocks_to_ram_and_through_device_mmio() {
    let mut m = machine();
    plug_probe(
        &mut m,
        &[(
            0,
            BarSpec {
                kind: BarKind::Memory32 {
                    prefetchable: false,
                },
                size: 0x1000,
            },
        )],
    );
    let bar0 = m.bar_address(slot::DISPLAY, 0).unwrap() as u32;
    m.write_guest(0x700, b"igdemu!!").unwrap();

    // Low RAM to extended memory above 1 MiB.
    block_move_gdt(&mut m, 0x600, 0x700, 0x20_0000, 0xFFFF);
    let r = block_move(&mut m, 4);
    assert!(!r.cf(), "{r:x?}");
    assert_eq!(r.ah(), 0);
    assert_eq!(rd(&m, 0x20_0000, 8), b"igdemu!!");

    // The move costs one instruction per word, as the BIOS's `rep movsw`.
    let count = |m: &mut Machine, words: u16| {
        let (_, out) = run(m, block_move_code(words));
        match out {
            RunOutcome::Returned { instructions } => instructions,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(count(&mut m, 0x104) - count(&mut m, 4), 0x100);

    // Into device MMIO: the device sees the writes, and the trace blames the
    // calling `int 15h`, not the BIOS stub.
    block_move_gdt(&mut m, 0x600, 0x700, bar0 + 8, 0xFFFF);
    let r = block_move(&mut m, 4);
    assert!(!r.cf(), "{r:x?}");
    let writes: Vec<_> = m
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::MmioWrite { offset, value, .. } => Some((e.at, offset, value)),
            _ => None,
        })
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(
        (writes[0].1, writes[0].2),
        (8, u64::from(u32::from_le_bytes(*b"igde")))
    );
    assert_eq!(
        (writes[1].1, writes[1].2),
        (12, u64::from(u32::from_le_bytes(*b"mu!!")))
    );
    let text = m.disassemble_at(writes[0].0.cs, writes[0].0.ip).unwrap();
    assert!(text.contains("int 15h"), "{text}");

    // A limit smaller than the move, and an unmapped destination: CF with
    // AH=02h, nothing copied.
    block_move_gdt(&mut m, 0x600, 0x700, 0x30_0000, 6);
    let r = block_move(&mut m, 4);
    assert!(r.cf() && r.ah() == 2, "{r:x?}");
    assert_eq!(rd(&m, 0x30_0000, 8), [0; 8]);
    block_move_gdt(&mut m, 0x600, 0x700, 0xF800_0000, 0xFFFF);
    let r = block_move(&mut m, 4);
    assert!(r.cf() && r.ah() == 2, "{r:x?}");

    // A guest looping on 64 KiB moves runs out of budget like any loop.
    block_move_gdt(&mut m, 0x600, 0x1_0000, 0x40_0000, 0xFFFF);
    m.set_budget(1_000_000);
    let (_, out) = run(&mut m, |a| {
        let mut again = a.create_label();
        a.xor(ax, ax)?;
        a.mov(es, ax)?;
        a.mov(si, 0x600u32)?;
        a.set_label(&mut again)?;
        a.mov(cx, 0x8000u32)?;
        a.mov(ah, 0x87u32)?;
        a.int(0x15)?;
        a.jmp(again)
    });
    assert!(matches!(out, RunOutcome::BudgetExhausted { .. }), "{out:?}");
}

/// An option ROM finds `$PMM` in the F000 segment (16-byte aligned,
/// checksummed) and far-calls its entry: allocate 1 KiB of conventional
/// memory, then 4 KiB of extended memory with a handle, then find it.
#[test]
fn pmm_is_found_in_the_bios_segment_and_allocates() {
    let mut m = machine();
    let mut bios = vec![0u8; 0x1_0000];
    m.read_guest(0xF_0000, &mut bios).unwrap();
    let at = (0..bios.len())
        .step_by(16)
        .find(|&i| bios[i..i + 4] == *b"$PMM")
        .expect("$PMM present");
    let h = &bios[at..at + 16];
    assert_eq!(h[5], 16, "length");
    assert_eq!(h.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0, "checksum");
    let entry = (
        u16::from_le_bytes([h[9], h[10]]),
        u16::from_le_bytes([h[7], h[8]]),
    );
    let call = |a: &mut CodeAssembler,
                function: u16,
                len: u32,
                handle: u32,
                flags: u16|
     -> Result<(), IcedError> {
        a.push(i32::from(flags))?;
        a.push((handle >> 16) as i32)?;
        a.push((handle & 0xFFFF) as i32)?;
        a.push((len >> 16) as i32)?;
        a.push((len & 0xFFFF) as i32)?;
        a.push(i32::from(function))?;
        a.call_far(entry.0, u32::from(entry.1))?;
        a.add(sp, 12)
    };
    let r = ok(&mut m, |a| {
        call(a, 0, 64, 0xFFFF_FFFF, 1)?;
        a.mov(word_ptr(0x500), ax)?;
        a.mov(word_ptr(0x502), dx)?;
        call(a, 0, 256, 0x1234_5678, 2)?;
        a.mov(word_ptr(0x504), ax)?;
        a.mov(word_ptr(0x506), dx)?;
        call(a, 1, 0x1234_5678, 0, 0)
    });
    assert_eq!(rd32(&m, 0x500), 0x1_0000, "conventional block");
    assert_eq!(rd32(&m, 0x504), 0x100_0000, "extended block");
    assert_eq!(
        (u32::from(r.dx()) << 16) | u32::from(r.ax()),
        0x100_0000,
        "found by handle"
    );
    let calls: Vec<(u16, u32)> = m
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Pmm {
                function, result, ..
            } => Some((function, result)),
            _ => None,
        })
        .collect();
    assert_eq!(calls, vec![(0, 0x1_0000), (0, 0x100_0000), (1, 0x100_0000)]);
}

/// `mov ss,ax` + `mov sp,bx` switch stacks atomically (the CPU holds
/// interrupts after `mov ss`): returning from a stack at 1000:0200 to 0000:7000
/// passes through SS = 0, SP = 0x200 for one instruction, which is not a
/// stack overflow (SeaVGABIOS's extra stack does exactly this).
#[test]
fn a_stack_switch_is_not_an_overflow() {
    let mut m = machine();
    let r = ok(&mut m, |a| {
        a.mov(bx, sp)?;
        a.mov(ax, 0x1000u32)?;
        a.mov(ss, ax)?;
        a.mov(sp, 0x200u32)?;
        a.push(0x1234)?;
        a.pop(cx)?;
        a.xor(ax, ax)?;
        a.mov(ss, ax)?;
        a.mov(sp, bx)
    });
    assert_eq!(r.cx(), 0x1234);
}

/// Option ROM init gets ES:DI pointing at the `$PnP` installation check
/// structure (checksummed, 21h bytes); its real-mode entry answers 82h
/// (function not supported).
#[test]
fn rom_init_gets_the_pnp_installation_structure_in_es_di() {
    let mut m = machine();
    let rom = tiny_rom(
        |a| {
            a.push(0)?;
            a.pop(ds)?;
            a.mov(eax, dword_ptr(di).es())?;
            a.mov(dword_ptr(0x500), eax)?;
            a.mov(word_ptr(0x504), di)?;
            a.mov(ax, word_ptr(di + 0x0D).es())?;
            a.mov(word_ptr(0x508), ax)?;
            a.mov(ax, word_ptr(di + 0x0F).es())?;
            a.mov(word_ptr(0x50A), ax)?;
            a.call(dword_ptr(0x508))?;
            a.mov(word_ptr(0x50C), ax)
        },
        |a| a.nop(),
    );
    m.load_option_rom(&rom, LoadOptions::default()).unwrap();
    assert!(m.run_option_rom_init().returned());
    assert_eq!(rd32(&m, 0x500).to_le_bytes(), *b"$PnP");
    let pnp_at = u64::from(rd32(&m, 0x504) & 0xFFFF);
    let mut h = [0u8; 0x21];
    m.read_guest(0xF_0000 + pnp_at, &mut h).unwrap();
    assert_eq!((h[4], h[5]), (0x10, 0x21));
    assert_eq!(h.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    assert_eq!(rd32(&m, 0x50C) & 0xFFFF, 0x82);
}

/// Waiting for the start of vertical retrace on 0x3DA (bit 3), then for its
/// end: one 60 Hz frame passes in a few thousand instructions, and the
/// retrace (1 ms) is seen.
#[test]
fn vga_retrace_wait_skips_time_and_sees_the_retrace() {
    let mut m = machine();
    let before = m.now_ns();
    let (_, out) = run(&mut m, |a| {
        let mut out_of = a.create_label();
        let mut into = a.create_label();
        let mut leave = a.create_label();
        a.mov(dx, 0x3DAu32)?;
        // Wait until not in retrace, then for retrace, then for its end.
        a.set_label(&mut out_of)?;
        a.in_(al, dx)?;
        a.test(al, 8)?;
        a.jnz(out_of)?;
        a.set_label(&mut into)?;
        a.in_(al, dx)?;
        a.test(al, 8)?;
        a.jz(into)?;
        a.set_label(&mut leave)?;
        a.in_(al, dx)?;
        a.test(al, 8)?;
        a.jnz(leave)
    });
    let RunOutcome::Returned { instructions } = out else {
        panic!("{out:?}")
    };
    let t = m.now_ns();
    // The retrace ends on a frame boundary (60 Hz: 16 666 667 ns).
    assert!(t - before > 16_000_000, "{} ns", t - before);
    assert!(
        t % 16_666_667 < 20_000,
        "ended {} ns after a frame start",
        t % 16_666_667
    );
    assert!(instructions < 30_000, "{instructions} instructions");
}
