//! Device completions scheduled in virtual time, seen by a real-mode guest
//! on the machine: a polling guest's clock jumps to the completion, so a
//! 200 ms panel power-up costs a handful of polls, not millions of
//! instructions. Counts are asserted, never wall time.

use iced_x86::code_asm::*;
use igdemu::addr::{HostPhys, Region};
use igdemu::cpu::{Registers, RunOutcome};
use igdemu::igd::{IgdConfig, IgdDevice};
use igdemu::machine::igd_slot::IgdFunction;
use igdemu::machine::iommu::Iommu;
use igdemu::machine::{slot, Machine, MachineConfig};
use igdemu::passthrough::Strict;

#[path = "common/realmode.rs"]
mod realmode;

/// A machine with an IVB IGD (0x0166) behind the strict remapper; returns
/// the machine and the I/O base of BAR4 (`MMIO_INDEX` at +0, `MMIO_DATA` at
/// +4).
fn machine_with_igd() -> (Machine, u16) {
    machine_with(0x0166)
}

/// The same with IGD `device_id`.
fn machine_with(device_id: u16) -> (Machine, u16) {
    let mut m = Machine::new(MachineConfig::default()).unwrap();
    let device = IgdDevice::new(IgdConfig::for_device(device_id).unwrap()).unwrap();
    let iommu = Iommu::new(
        Vec::new(),
        None,
        Region::new(HostPhys(0x8B80_0000), 0x400_0000),
    );
    let f = IgdFunction::new(device, Box::<Strict>::default(), iommu, m.memory().clone());
    m.plug(slot::DISPLAY, Box::new(f)).unwrap();
    let igd = m.state().pci().get(slot::DISPLAY).unwrap();
    let bar4 = igd.config().read_u32(0x20);
    (m, (bar4 & !3) as u16)
}

/// Run `f`'s program (a `hlt` is appended); it must return: the registers
/// and the instructions it took.
fn run(
    m: &mut Machine,
    f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> (Registers, u64) {
    let (r, out) = realmode::run(m, f);
    let RunOutcome::Returned { instructions } = out else {
        panic!("{out:?}")
    };
    (r, instructions)
}

/// `MMIO_INDEX` = `reg`, `MMIO_DATA` = `value` through BAR4 at `io`.
fn io_write(a: &mut CodeAssembler, io: u16, reg: u32, value: u32) -> Result<(), IcedError> {
    a.mov(dx, u32::from(io))?;
    a.mov(eax, reg)?;
    a.out(dx, eax)?;
    a.add(dx, 4)?;
    a.mov(eax, value)?;
    a.out(dx, eax)
}

/// The guest programs T1+T3 = 200 ms (2000 x 100 us in `PP_ON_DELAYS`
/// 28:16), sets `PANEL_POWER_ON` and polls `PP_STATUS` until `PP_ON` (31),
/// counting polls in ECX. Like a vBIOS's register accessor, every poll
/// rewrites `MMIO_INDEX` and alternates with a read of `PP_CONTROL`.
#[test]
fn a_200ms_panel_power_up_costs_a_few_polls() {
    let (mut m, io) = machine_with_igd();
    let before = m.now_ns();
    let (r, instructions) = run(&mut m, |a| {
        io_write(a, io, 0xC_7208, 2000 << 16)?;
        io_write(a, io, 0xC_7204, 0xABCD_0001)?;
        a.xor(ecx, ecx)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.inc(ecx)?;
        a.mov(dx, u32::from(io))?;
        a.mov(eax, 0xC_7204u32)?;
        a.out(dx, eax)?;
        a.add(dx, 4)?;
        a.in_(eax, dx)?;
        a.sub(dx, 4)?;
        a.mov(eax, 0xC_7200u32)?;
        a.out(dx, eax)?;
        a.add(dx, 4)?;
        a.in_(eax, dx)?;
        a.test(eax, eax)?;
        a.jns(l)
    });
    let waited = m.now_ns() - before;
    assert!(waited >= 200_000_000, "{waited} ns");
    assert!(waited < 201_000_000, "{waited} ns");
    assert_eq!(r.eax >> 31, 1, "PP_ON");
    assert_eq!(r.eax & 0xF, 0x8, "PP_SEQUENCE_STATE_ON_IDLE");
    assert!(r.ecx <= 8, "{} polls", r.ecx);
    assert!(instructions < 200, "{instructions} instructions");
    assert!(m.idle_skipped_ns() >= 199_000_000);
}

/// IVB's port B AUX channel with the default monitor: SEND_BUSY holds for
/// the wire time of a 4-byte request and a 17-byte reply (248 us), then DONE
/// and the reply size appear; the polling guest's clock jumps there.
#[test]
fn an_aux_transaction_holds_send_busy_for_its_wire_time() {
    let (mut m, io) = machine_with_igd();
    // Native read of DPCD 0x000, 16 bytes, on PCH_DPB_AUX_CH_CTL (0xE4110).
    let before = m.now_ns();
    let (r, instructions) = run(&mut m, |a| {
        io_write(a, io, 0xE_4114, 0x9000_000F)?;
        io_write(a, io, 0xE_4110, (1 << 31) | (4 << 20))?;
        a.mov(dx, u32::from(io))?;
        a.mov(eax, 0xE_4110u32)?;
        a.out(dx, eax)?;
        a.add(dx, 4)?;
        a.xor(ecx, ecx)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.inc(ecx)?;
        a.in_(eax, dx)?;
        a.test(eax, eax)?;
        a.js(l)
    });
    let waited = m.now_ns() - before;
    assert!(waited >= 248_000, "{waited} ns");
    assert!(waited < 300_000, "{waited} ns");
    assert_eq!(r.eax & (3 << 30), 1 << 30, "DONE, not busy");
    assert_eq!((r.eax >> 20) & 0x1F, 17, "reply size");
    assert!(r.ecx > 1, "busy was seen");
    assert!(r.ecx <= 8, "{} polls", r.ecx);
    assert!(instructions < 100, "{instructions} instructions");
}

/// SKL (0x1912): the guest enables DPLL2 (`WRPLL_CTL1` 0x46040 bit 31) and
/// polls `DPLL_STATUS` (0x6C060) for `DPLL_LOCK(2)` (bit 16): it locks after
/// `PLL_LOCK_NS` of virtual time, reached in a few polls.
#[test]
fn a_pll_locks_after_its_latency_in_a_few_polls() {
    let (mut m, io) = machine_with(0x1912);
    let before = m.now_ns();
    let (r, instructions) = run(&mut m, |a| {
        io_write(a, io, 0x4_6040, 1 << 31)?;
        a.xor(ecx, ecx)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.inc(ecx)?;
        a.mov(dx, u32::from(io))?;
        a.mov(eax, 0x6_C060u32)?;
        a.out(dx, eax)?;
        a.add(dx, 4)?;
        a.in_(eax, dx)?;
        a.test(eax, 1u32 << 16)?;
        a.jz(l)
    });
    let waited = m.now_ns() - before;
    let lock = igdemu::igd::regs::PLL_LOCK_NS;
    assert!((lock..lock + 50_000).contains(&waited), "{waited} ns");
    assert_eq!(r.eax & ((1 << 16) | 1), (1 << 16) | 1, "DPLL0 stays locked");
    assert!(r.ecx > 1, "not locked at once");
    assert!(r.ecx <= 8, "{} polls", r.ecx);
    assert!(instructions < 200, "{instructions} instructions");
}
