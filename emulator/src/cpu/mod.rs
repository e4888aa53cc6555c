//! The CPU: unicorn in 16-bit real mode (and whatever unreal/big-real mode the
//! guest sets up), with the glue that makes it a PC:
//!
//! * real-mode `INT n` dispatch through the IVT, done in the interrupt hook
//!   (unicorn only notifies; `research/unicorn-real-mode.md` §2);
//! * BIOS services in Rust behind IVT stubs `out 0xEF,al ; iret` at F000:E000
//!   + 4 × vector ([`bios`]);
//! * one IN hook and one OUT hook feeding the machine's port bus;
//! * an instruction budget counted by a block hook, a wall-clock deadline
//!   (a watchdog in the same hook), and typed outcomes for faults ([`RunOutcome`]);
//! * the option ROM parser ([`rom`]).
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod bios;
pub mod pmm;
pub mod rom;

use iced_x86::Register;
use serde::Serialize;
use unicorn_engine::{uc_error, HookType, MemType, RegisterX86, Unicorn};

use crate::machine::EventKind;
use crate::machine::MachineState;
use crate::trace::{CsIp, IntRegs, IntResult, Unhandled};

/// Segment of the BIOS (stubs and trampolines).
pub const BIOS_SEG: u16 = 0xF000;
/// Offset of the IVT stubs in the BIOS segment (4 bytes per vector).
pub const STUB_BASE: u16 = 0xE000;
/// The port the stubs write to trap into Rust.
pub const STUB_PORT: u16 = 0xEF;
/// Offset of the host-call trampoline in the BIOS segment.
pub const TRAMPOLINE_IP: u16 = 0xFF00;
/// Entry point of the POST Memory Manager (`out STUB_PORT,al ; retf`).
pub const PMM_ENTRY_IP: u16 = 0xE400;
/// The `$PMM` structure (16-byte aligned, in the F000 segment where option
/// ROMs scan for it).
pub const PMM_HEADER_IP: u16 = 0xE410;
/// The Plug and Play installation check structure (`$PnP`, 16-byte aligned);
/// option ROM init gets ES:DI pointing at it (BIOS Boot Specification 1.01,
/// section 3.3).
pub const PNP_HEADER_IP: u16 = 0xE420;
/// Real-mode PnP BIOS entry: every function returns 82h (function not
/// supported), as SeaBIOS's `handle_pnp` does for all but 60h.
pub const PNP_ENTRY_IP: u16 = 0xE450;

/// The `$PnP` installation check structure (Plug and Play BIOS Specification
/// 1.0A, section 4.4; SeaBIOS `struct pnpheader`): 21h bytes, version 1.0,
/// real-mode and 16-bit protected-mode entries in the F000 segment.
#[must_use]
pub fn pnp_header() -> [u8; 0x21] {
    let mut h = [0u8; 0x21];
    let base = (u32::from(BIOS_SEG) << 4).to_le_bytes();
    h[..4].copy_from_slice(b"$PnP");
    h[4] = 0x10; // version 1.0
    h[5] = 0x21; // length
    h[0x0D..0x0F].copy_from_slice(&PNP_ENTRY_IP.to_le_bytes());
    h[0x0F..0x11].copy_from_slice(&BIOS_SEG.to_le_bytes());
    h[0x11..0x13].copy_from_slice(&PNP_ENTRY_IP.to_le_bytes());
    h[0x13..0x17].copy_from_slice(&base);
    h[0x1B..0x1D].copy_from_slice(&BIOS_SEG.to_le_bytes());
    h[0x1D..0x21].copy_from_slice(&base);
    let sum = h.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    h[8] = 0u8.wrapping_sub(sum);
    h
}
/// Stack used for host calls (SS:SP = 0000:7000).
pub const HOST_STACK: (u16, u16) = (0x0000, 0x7000);
/// How often (in blocks) the wall-clock deadline is checked.
pub const DEADLINE_CHECK_BLOCKS: u64 = 4096;
/// How many recent blocks are kept for fault reports.
pub const RECENT_BLOCKS: usize = 16;
/// The stack guard: the interrupt vector table (0x000..0x400) and the BIOS
/// data area (0x400..0x500). A stack pointer SS:SP below this linear address
/// is a [`FaultKind::StackOverflow`].
pub const STACK_GUARD: u64 = 0x500;
/// Real-mode vector of the general protection fault.
const VECTOR_GP: u8 = 13;
/// Real-mode vector of the double fault.
const VECTOR_DF: u8 = 8;

/// The CPU registers a host call passes and gets back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct Registers {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub eflags: u32,
}

macro_rules! reg16 {
    ($get:ident, $set:ident, $r:ident) => {
        #[doc = concat!("The low 16 bits of ", stringify!($r), ".")]
        #[must_use]
        pub const fn $get(&self) -> u16 {
            self.$r as u16
        }
        #[doc = concat!("Set the low 16 bits of ", stringify!($r), ".")]
        pub fn $set(&mut self, v: u16) {
            self.$r = (self.$r & 0xFFFF_0000) | u32::from(v);
        }
    };
}
macro_rules! reg8 {
    ($get:ident, $set:ident, $r:ident, $shift:expr) => {
        #[doc = concat!("An 8-bit part of ", stringify!($r), ".")]
        #[must_use]
        pub const fn $get(&self) -> u8 {
            (self.$r >> $shift) as u8
        }
        #[doc = concat!("Set an 8-bit part of ", stringify!($r), ".")]
        pub fn $set(&mut self, v: u8) {
            self.$r = (self.$r & !(0xFF << $shift)) | u32::from(v) << $shift;
        }
    };
}

impl Registers {
    /// Carry flag.
    pub const CF: u32 = 1 << 0;
    /// Zero flag.
    pub const ZF: u32 = 1 << 6;
    /// Interrupt enable flag.
    pub const IF: u32 = 1 << 9;

    reg16!(ax, set_ax, eax);
    reg16!(bx, set_bx, ebx);
    reg16!(cx, set_cx, ecx);
    reg16!(dx, set_dx, edx);
    reg16!(si, set_si, esi);
    reg16!(di, set_di, edi);
    reg8!(al, set_al, eax, 0);
    reg8!(ah, set_ah, eax, 8);
    reg8!(bl, set_bl, ebx, 0);
    reg8!(bh, set_bh, ebx, 8);
    reg8!(cl, set_cl, ecx, 0);
    reg8!(ch, set_ch, ecx, 8);
    reg8!(dl, set_dl, edx, 0);
    reg8!(dh, set_dh, edx, 8);

    /// Carry flag.
    #[must_use]
    pub const fn cf(&self) -> bool {
        self.eflags & Self::CF != 0
    }

    /// Set or clear the carry flag.
    pub fn set_cf(&mut self, on: bool) {
        if on {
            self.eflags |= Self::CF;
        } else {
            self.eflags &= !Self::CF;
        }
    }

    /// The traced subset.
    #[must_use]
    pub fn traced(&self) -> IntRegs {
        IntRegs {
            eax: self.eax,
            ebx: self.ebx,
            ecx: self.ecx,
            edx: self.edx,
            esi: self.esi,
            edi: self.edi,
            es: self.es,
            cf: self.cf(),
        }
    }
}

/// Why the CPU could not go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum FaultKind {
    /// Instruction fetch from unmapped memory.
    UnmappedFetch {
        /// Linear address fetched.
        address: u64,
    },
    /// Read of unmapped memory.
    UnmappedRead {
        /// Linear address.
        address: u64,
    },
    /// Write to unmapped memory.
    UnmappedWrite {
        /// Linear address.
        address: u64,
    },
    /// Any other protection violation (writing the BIOS, fetching from MMIO).
    Protection {
        /// Linear address.
        address: u64,
        /// Read, write or fetch.
        access: String,
    },
    /// Invalid or unsupported opcode.
    InvalidOpcode,
    /// A CPU exception (divide error, #UD via INT 6...) reached the BIOS's
    /// default handler.
    Exception {
        /// Vector.
        vector: u8,
    },
    /// The stack grew into the interrupt vector table or the BIOS data area:
    /// at the start of a translated block, SS:SP (linear, SP ≠ 0) lies below
    /// [`STACK_GUARD`]. A real machine would go on overwriting its own
    /// interrupt vectors and die later somewhere unrelated; the simulator
    /// stops at the first block that runs with its stack in the guard. (SP = 0
    /// is the empty stack at the top of a segment, not an overflow.)
    StackOverflow {
        /// Linear address SS:SP.
        address: u64,
        /// SS at the time.
        ss: u16,
        /// SP at the time.
        sp: u16,
    },
    /// The CPU shut down: an exception or interrupt could not be delivered
    /// (Intel SDM Vol. 3 §20.1.4: in real mode the vector table is at
    /// IDTR.base and an entry past IDTR.limit raises #GP; #GP that cannot be
    /// delivered becomes #DF; a #DF that cannot be delivered shuts the CPU
    /// down). Also when an exception vector points back at the faulting
    /// instruction itself, which would re-fault forever.
    TripleFault {
        /// The vector whose delivery started the cascade.
        vector: u8,
        /// IDTR limit at the time.
        idt_limit: u16,
    },
    /// An engine error with no better classification.
    Engine {
        /// unicorn's error.
        error: String,
    },
}

/// How a run ended. Never a hang, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RunOutcome {
    /// The call returned to the trampoline.
    Returned {
        /// Instructions executed by this run.
        instructions: u64,
    },
    /// The instruction budget ran out.
    BudgetExhausted {
        /// Where the guest was.
        at: CsIp,
        /// The last blocks executed, disassembled.
        recent: Vec<String>,
    },
    /// The wall-clock deadline passed.
    Timeout {
        /// Where the guest was.
        at: CsIp,
        /// The last blocks executed, disassembled.
        recent: Vec<String>,
    },
    /// The CPU faulted.
    Fault {
        /// The faulting instruction.
        at: CsIp,
        /// What went wrong.
        kind: FaultKind,
        /// The last blocks executed, disassembled.
        recent: Vec<String>,
    },
    /// The guest halted repeatedly with nothing to wake it (`sti; hlt` loop).
    Idle {
        /// Where it halted.
        at: CsIp,
    },
    /// The guest called INT 18h (boot failure) or INT 19h (bootstrap
    /// loader), from which a system BIOS never returns: the ROM gave up.
    BootRequest {
        /// The `int` instruction.
        at: CsIp,
        /// 0x18 or 0x19.
        vector: u8,
    },
}

impl RunOutcome {
    /// Whether the call returned normally.
    #[must_use]
    pub fn returned(&self) -> bool {
        matches!(self, RunOutcome::Returned { .. })
    }
}

/// Why a hook stopped the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    Budget,
    Deadline,
    Fault(FaultKind),
    /// INT 18h/19h from the guest instruction at `at`.
    BootRequest {
        at: CsIp,
        vector: u8,
    },
}

/// Limits of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub budget: u64,
    pub deadline_us: u64,
}

/// A multiply-rotate hasher (the rustc/Firefox "Fx" hash) for the block
/// cache: the block hook looks a block up on every block executed, and
/// SipHash was the largest single cost of that hook. Keys are guest
/// addresses, not attacker-chosen in any way that matters to the host.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Decoded blocks by (linear address, size).
pub(crate) type BlockCache = std::collections::HashMap<
    (u64, u32),
    (crate::trace::BlockInfo, crate::diagnose::record::Exit),
    std::hash::BuildHasherDefault<FxHasher>,
>;

/// The last [`RECENT_BLOCKS`] blocks executed, as (CS, linear address), for
/// fault reports: a fixed ring, since the block hook pushes on every block.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentBlocks {
    ring: [(u16, u64); RECENT_BLOCKS],
    /// Blocks pushed since the last clear (the ring holds the last ones).
    pushed: usize,
}

impl RecentBlocks {
    #[inline]
    fn push(&mut self, block: (u16, u64)) {
        if let Some(slot) = self.ring.get_mut(self.pushed % RECENT_BLOCKS) {
            *slot = block;
        }
        self.pushed = self.pushed.wrapping_add(1);
    }

    fn clear(&mut self) {
        self.pushed = 0;
    }

    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let n = self.pushed.min(RECENT_BLOCKS);
        let start = self.pushed.wrapping_sub(n);
        (0..n).filter_map(move |i| {
            self.ring
                .get(start.wrapping_add(i) % RECENT_BLOCKS)
                .copied()
        })
    }
}

/// Low guest RAM as the BIOS services see it: a bounds-checked view of the
/// host memory the CPU maps at linear 0 (see [`MachineState::low_ram`]).
struct LowRam {
    ptr: *mut u8,
    len: usize,
}

impl bios::GuestMem for LowRam {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = (addr as usize).checked_add(buf.len()) else {
            return false;
        };
        if self.ptr.is_null() || end > self.len {
            return false;
        }
        // SAFETY: [addr, end) is inside the mapping (checked above), which the
        // machine keeps alive for as long as the engine runs hooks.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.add(addr as usize), buf.as_mut_ptr(), buf.len())
        };
        true
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(end) = (addr as usize).checked_add(data.len()) else {
            return false;
        };
        if self.ptr.is_null() || end > self.len {
            return false;
        }
        // SAFETY: as for `read`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(addr as usize), data.len())
        };
        true
    }
}

/// CS:IP of the port I/O instruction being serviced. Unicorn reports the start
/// of the translated block as IP in IN/OUT hooks, so the block's I/O
/// instructions are counted off in order (a `rep` string instruction keeps the
/// cursor, since it calls the hook once per element).
pub(crate) fn port_here(uc: &mut Unicorn<'_, MachineState>) -> CsIp {
    let at = here(uc);
    let st = uc.get_data_mut();
    let (addr, _) = st.block;
    let Some((block, _)) = st.icache.get(&st.block) else {
        return at;
    };
    let base_ip = (addr as u32).wrapping_sub(u32::from(at.cs) << 4);
    if base_ip > 0xFFFF || base_ip as u16 != at.ip {
        return at;
    }
    let Some(&(off, rep)) = block.port_io.get(st.block_io) else {
        return at;
    };
    if !rep {
        st.block_io += 1;
    }
    CsIp::new(at.cs, at.ip.wrapping_add(off))
}

/// Count a block's instructions, remember it for fault reports, and stop on
/// the budget or the deadline.
fn account_block(uc: &mut Unicorn<'_, MachineState>, cs: u16, addr: u64, n: u64) {
    let st = uc.get_data_mut();
    st.recent.push((cs, addr));
    st.run_blocks += 1;
    let due = st.run_blocks.is_multiple_of(DEADLINE_CHECK_BLOCKS);
    if let Some(reason) = charge(st, n, due) {
        stop_with(uc, reason);
    }
}

/// Charge `n` instructions to the clock and the run: the budget's stop when
/// it is exceeded, else the deadline's when `deadline_due` and it has passed.
fn charge(st: &mut MachineState, n: u64, deadline_due: bool) -> Option<StopReason> {
    st.clock.instructions += n;
    st.run_instructions += n;
    let late = deadline_due && st.deadline.is_some_and(|d| std::time::Instant::now() > d);
    if st.run_instructions > st.budget {
        Some(StopReason::Budget)
    } else if late {
        Some(StopReason::Deadline)
    } else {
        None
    }
}

/// CS:IP of the block starting at linear `addr` with code segment `cs`.
fn block_start(cs: u16, addr: u64) -> CsIp {
    CsIp::new(cs, addr.wrapping_sub(u64::from(cs) << 4) as u16)
}

/// CS:IP of the instruction making a device memory access (`write` or read)
/// at linear `addr`, called from the MMIO callback. The block hook recorded
/// the executing block (linear address, CS); registers are current (TCG
/// syncs guest registers before a memory access that may leave the fast
/// path), so the instruction is the first one, at or after the block's last
/// device access (accesses come in program order), whose memory operand
/// accesses `addr` in that direction. Unicorn's own IP is not synced inside
/// MMIO callbacks.
pub(crate) fn mem_here(uc: &mut Unicorn<'_, MachineState>, addr: u64, write: bool) -> CsIp {
    let st = uc.get_data();
    // A BIOS service copying on the guest's behalf (INT 15h AH=87h): `here`
    // is the calling instruction.
    if st.host_access {
        return st.here;
    }
    let (block_addr, _) = st.block;
    let at = block_start(st.last_cs, block_addr);
    // Every candidate is the block's first instruction (a lone `rep stosd`
    // filling the aperture, say): the answer is `at` whichever operand
    // matches, without reading registers or the block cache.
    if st.mem_at_start {
        return at;
    }
    let Some((block, _)) = st.icache.get(&st.block) else {
        return at;
    };
    let value = |r: Register, _: usize, _: usize| -> Option<u64> { register_value(uc, r) };
    // The operand makes an access in this direction at `addr`; `Some(again)`
    // says whether the same instruction may access memory after this one (a
    // string instruction, or the read half of a read-modify-write).
    let hit = |op: &crate::trace::MemOp| -> Option<bool> {
        use iced_x86::OpAccess as A;
        op.mems.iter().find_map(|m| {
            let (dir, again) = match m.access() {
                A::Read | A::CondRead => (!write, false),
                A::Write | A::CondWrite => (write, false),
                A::ReadWrite | A::ReadCondWrite => (true, !write),
                _ => (false, false),
            };
            (dir && m.virtual_address(0, value) == Some(addr)).then_some(again || op.string)
        })
    };
    let search = |from: usize, end: usize| {
        block
            .mem_ops
            .iter()
            .enumerate()
            .take(end)
            .skip(from)
            .find_map(|(i, op)| hit(op).map(|again| (i, op.offset, again)))
    };
    // Program order first; from the block start again if a wrong guess moved
    // the cursor too far.
    let from = st.block_mem;
    let found = search(from, usize::MAX).or_else(|| search(0, from));
    match found {
        Some((i, off, again)) => {
            uc.get_data_mut().block_mem = if again { i } else { i + 1 };
            CsIp::new(at.cs, at.ip.wrapping_add(off))
        }
        None => at,
    }
}

/// An iced register's value as address arithmetic needs it (segment
/// registers give their real-mode base).
fn register_value(uc: &Unicorn<'_, MachineState>, r: Register) -> Option<u64> {
    use RegisterX86 as U;
    let (reg, mask, seg) = match r {
        Register::EAX => (U::EAX, u64::from(u32::MAX), false),
        Register::EBX => (U::EBX, u64::from(u32::MAX), false),
        Register::ECX => (U::ECX, u64::from(u32::MAX), false),
        Register::EDX => (U::EDX, u64::from(u32::MAX), false),
        Register::ESI => (U::ESI, u64::from(u32::MAX), false),
        Register::EDI => (U::EDI, u64::from(u32::MAX), false),
        Register::EBP => (U::EBP, u64::from(u32::MAX), false),
        Register::ESP => (U::ESP, u64::from(u32::MAX), false),
        Register::AX => (U::EAX, 0xFFFF, false),
        Register::BX => (U::EBX, 0xFFFF, false),
        Register::CX => (U::ECX, 0xFFFF, false),
        Register::DX => (U::EDX, 0xFFFF, false),
        Register::SI => (U::ESI, 0xFFFF, false),
        Register::DI => (U::EDI, 0xFFFF, false),
        Register::BP => (U::EBP, 0xFFFF, false),
        Register::SP => (U::ESP, 0xFFFF, false),
        Register::ES => (U::ES, 0xFFFF, true),
        Register::CS => (U::CS, 0xFFFF, true),
        Register::SS => (U::SS, 0xFFFF, true),
        Register::DS => (U::DS, 0xFFFF, true),
        Register::FS => (U::FS, 0xFFFF, true),
        Register::GS => (U::GS, 0xFFFF, true),
        _ => return None,
    };
    let v = uc.reg_read(reg).ok()? & mask;
    Some(if seg { v << 4 } else { v })
}

/// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (the x86 register numbering), for
/// the diagnosis record of a device read.
pub(crate) fn gprs(uc: &Unicorn<'_, MachineState>) -> [u32; 8] {
    use RegisterX86 as U;
    [
        U::EAX,
        U::ECX,
        U::EDX,
        U::EBX,
        U::ESP,
        U::EBP,
        U::ESI,
        U::EDI,
    ]
    .map(|r| uc.reg_read(r).unwrap_or(0) as u32)
}

/// SS:SP as a linear address, given ESP (from [`gprs`]).
pub(crate) fn stack_linear(uc: &Unicorn<'_, MachineState>, esp: u32) -> u32 {
    let ss = uc.reg_read(RegisterX86::SS).unwrap_or(0) as u32;
    (ss << 4).wrapping_add(esp & 0xFFFF)
}

pub(crate) fn here(uc: &Unicorn<'_, MachineState>) -> CsIp {
    let cs = uc.reg_read(RegisterX86::CS).unwrap_or(0) as u16;
    let ip = uc.reg_read(RegisterX86::IP).unwrap_or(0) as u16;
    CsIp::new(cs, ip)
}

/// Read the general registers, data segments and flags.
pub(crate) fn read_regs(uc: &Unicorn<'_, MachineState>) -> Registers {
    let r = |reg: RegisterX86| uc.reg_read(reg).unwrap_or(0);
    Registers {
        eax: r(RegisterX86::EAX) as u32,
        ebx: r(RegisterX86::EBX) as u32,
        ecx: r(RegisterX86::ECX) as u32,
        edx: r(RegisterX86::EDX) as u32,
        esi: r(RegisterX86::ESI) as u32,
        edi: r(RegisterX86::EDI) as u32,
        ebp: r(RegisterX86::EBP) as u32,
        ds: r(RegisterX86::DS) as u16,
        es: r(RegisterX86::ES) as u16,
        fs: r(RegisterX86::FS) as u16,
        gs: r(RegisterX86::GS) as u16,
        eflags: r(RegisterX86::EFLAGS) as u32,
    }
}

/// Write registers back (flags included).
pub(crate) fn write_regs(
    uc: &mut Unicorn<'_, MachineState>,
    g: &Registers,
) -> Result<(), uc_error> {
    uc.reg_write(RegisterX86::EAX, u64::from(g.eax))?;
    uc.reg_write(RegisterX86::EBX, u64::from(g.ebx))?;
    uc.reg_write(RegisterX86::ECX, u64::from(g.ecx))?;
    uc.reg_write(RegisterX86::EDX, u64::from(g.edx))?;
    uc.reg_write(RegisterX86::ESI, u64::from(g.esi))?;
    uc.reg_write(RegisterX86::EDI, u64::from(g.edi))?;
    uc.reg_write(RegisterX86::EBP, u64::from(g.ebp))?;
    uc.reg_write(RegisterX86::DS, u64::from(g.ds))?;
    uc.reg_write(RegisterX86::ES, u64::from(g.es))?;
    uc.reg_write(RegisterX86::FS, u64::from(g.fs))?;
    uc.reg_write(RegisterX86::GS, u64::from(g.gs))?;
    uc.reg_write(RegisterX86::EFLAGS, u64::from(g.eflags))?;
    Ok(())
}

fn stack_addr(uc: &Unicorn<'_, MachineState>) -> (u64, u16) {
    let ss = uc.reg_read(RegisterX86::SS).unwrap_or(0);
    let sp = uc.reg_read(RegisterX86::SP).unwrap_or(0) as u16;
    (ss << 4, sp)
}

fn push16(uc: &mut Unicorn<'_, MachineState>, v: u16) -> Result<(), uc_error> {
    let (base, sp) = stack_addr(uc);
    let sp = sp.wrapping_sub(2);
    uc.reg_write(RegisterX86::SP, u64::from(sp))?;
    uc.mem_write(base + u64::from(sp), &v.to_le_bytes())
}

/// IDTR as unicorn reports it (`uc_x86_mmr` in unicorn/x86.h).
#[repr(C)]
#[derive(Default)]
struct X86Mmr {
    selector: u16,
    base: u64,
    limit: u32,
    flags: u32,
}

extern "C" {
    // The same symbol the unicorn-engine crate binds; declared here because
    // its safe `reg_read`/`reg_read_long` pass buffers smaller than
    // `uc_x86_mmr` for IDTR (8 and 10 bytes against 24).
    fn uc_reg_read(
        uc: *mut std::ffi::c_void,
        regid: std::ffi::c_int,
        value: *mut std::ffi::c_void,
    ) -> std::ffi::c_int;
    fn uc_reg_write(
        uc: *mut std::ffi::c_void,
        regid: std::ffi::c_int,
        value: *const std::ffi::c_void,
    ) -> std::ffi::c_int;
}

/// The real-mode vector table after reset: IDTR base 0, limit 0x3FF (unicorn
/// starts with limit 0, which would make every interrupt a triple fault).
pub(crate) fn reset_idtr(uc: &mut Unicorn<'_, MachineState>) -> Result<(), uc_error> {
    let mmr = X86Mmr {
        limit: 0x3FF,
        ..X86Mmr::default()
    };
    // SAFETY: `uc` is a live engine; unicorn reads a full `uc_x86_mmr` for
    // IDTR, and `mmr` is one (repr(C), same layout).
    let err = unsafe {
        uc_reg_write(
            uc.get_handle().cast(),
            RegisterX86::IDTR as std::ffi::c_int,
            std::ptr::addr_of!(mmr).cast(),
        )
    };
    if err == 0 {
        Ok(())
    } else {
        Err(uc_error::ARG)
    }
}

/// IDTR (base, limit). In real mode this is the interrupt vector table:
/// base 0, limit 0x3FF after reset, changed only by `lidt`.
fn idtr(uc: &Unicorn<'_, MachineState>) -> (u64, u16) {
    let mut mmr = X86Mmr::default();
    // SAFETY: `uc` is a live engine; IDTR is read into a `uc_x86_mmr`-shaped
    // struct of the full size unicorn writes (repr(C), same field order).
    let err = unsafe {
        uc_reg_read(
            uc.get_handle().cast(),
            RegisterX86::IDTR as std::ffi::c_int,
            std::ptr::addr_of_mut!(mmr).cast(),
        )
    };
    if err != 0 {
        return (0, 0x3FF);
    }
    (mmr.base & 0xFFFF_FFFF, mmr.limit as u16)
}

/// The vector actually delivered for `vector` under an IVT limit, following
/// the real-mode cascade (entry past the limit → #GP → #DF → shutdown).
fn deliverable(vector: u8, limit: u16) -> Option<u8> {
    let fits = |v: u8| u32::from(v) * 4 + 3 <= u32::from(limit);
    [vector, VECTOR_GP, VECTOR_DF]
        .into_iter()
        .find(|&v| fits(v))
}

/// Real-mode interrupt dispatch: push FLAGS, CS, IP; clear IF and TF; load
/// CS:IP from the vector table at IDTR.base. An interrupt the vector table
/// cannot deliver is a [`FaultKind::TripleFault`] (see there for the rule).
fn dispatch_interrupt(uc: &mut Unicorn<'_, MachineState>, intno: u32) -> Result<(), FaultKind> {
    let requested = (intno & 0xFF) as u8;
    let (base, limit) = idtr(uc);
    let triple = FaultKind::TripleFault {
        vector: requested,
        idt_limit: limit,
    };
    let Some(vector) = deliverable(requested, limit) else {
        return Err(triple);
    };
    let at = here(uc);
    let unmapped = |_| FaultKind::UnmappedWrite {
        address: u64::from(at.linear()),
    };
    let mut v = [0u8; 4];
    uc.mem_read(base + u64::from(vector) * 4, &mut v)
        .map_err(unmapped)?;
    let entry = u32::from_le_bytes(v);
    // A CPU exception (vectors 0..=7 below the BIOS's IRQ range, raised by
    // the engine at the faulting instruction) whose handler is that very
    // instruction would re-fault forever.
    if vector < 8 && entry == (u32::from(at.cs) << 16 | u32::from(at.ip)) {
        return Err(triple);
    }
    let flags = uc.reg_read(RegisterX86::FLAGS).map_err(unmapped)? as u16;
    push16(uc, flags).map_err(unmapped)?;
    push16(uc, at.cs).map_err(unmapped)?;
    push16(uc, at.ip).map_err(unmapped)?;
    uc.reg_write(RegisterX86::FLAGS, u64::from(flags & !0x0300))
        .map_err(unmapped)?;
    uc.reg_write(RegisterX86::CS, u64::from(entry >> 16))
        .map_err(unmapped)?;
    uc.reg_write(RegisterX86::IP, u64::from(entry & 0xFFFF))
        .map_err(unmapped)?;
    Ok(())
}

fn stop_with(uc: &mut Unicorn<'_, MachineState>, reason: StopReason) {
    if uc.get_data().stop.is_none() {
        uc.get_data_mut().stop = Some(reason);
    }
    let _ = uc.emu_stop();
}

/// Whether the instruction at linear `addr` (16-bit code) writes SP/ESP
/// without using the stack (a `mov`/`lss`/`xchg` into SP, not a push or pop).
fn starts_with_sp_load(uc: &Unicorn<'_, MachineState>, addr: u64) -> bool {
    use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};
    let mut b = [0u8; 15];
    if uc.mem_read(addr, &mut b).is_err() {
        return false;
    }
    let insn = Decoder::new(16, &b, DecoderOptions::NONE).decode();
    if insn.is_invalid() || insn.is_stack_instruction() {
        return false;
    }
    InstructionInfoFactory::new()
        .info(&insn)
        .used_registers()
        .iter()
        .any(|r| {
            matches!(r.register(), Register::SP | Register::ESP)
                && matches!(r.access(), OpAccess::Write | OpAccess::ReadWrite)
        })
}

/// A far call into the PMM entry: the function and its arguments are the
/// words above the return address; the result goes to DX:AX (and EAX).
fn pmm_trap(uc: &mut Unicorn<'_, MachineState>) {
    let (ss_base, sp) = stack_addr(uc);
    let mut w = [0u16; 8];
    for (i, v) in w.iter_mut().enumerate() {
        let mut b = [0u8; 2];
        let _ = uc.mem_read(ss_base + u64::from(sp.wrapping_add(2 * i as u16)), &mut b);
        *v = u16::from_le_bytes(b);
    }
    let [ret_ip, ret_cs, f, a1, a2, a3, a4, a5] = w;
    // Far calls come in several lengths: the trace names the return address
    // (the instruction after the call).
    let caller = CsIp::new(ret_cs, ret_ip);
    let args = [f, a1, a2, a3, a4, a5];
    let st = uc.get_data_mut();
    let result = st.pmm.call(&args);
    st.trace.push(
        caller,
        EventKind::Pmm {
            function: args[0],
            args: [args[1], args[2], args[3], args[4], args[5]],
            result,
        },
    );
    let _ = uc.reg_write(RegisterX86::EAX, u64::from(result));
    let dx = uc.reg_read(RegisterX86::EDX).unwrap_or(0) & !0xFFFF;
    let _ = uc.reg_write(RegisterX86::EDX, dx | u64::from(result >> 16));
}

/// A BIOS stub trapped: run the Rust service, put the results in the
/// registers, and CF into the FLAGS image the stub's IRET will pop.
fn bios_trap(uc: &mut Unicorn<'_, MachineState>, at: CsIp) {
    let vector = (at.ip.wrapping_sub(STUB_BASE) / 4) as u8;
    let mut regs = read_regs(uc);
    let (ss_base, sp) = stack_addr(uc);
    let mut fl = [0u8; 2];
    let _ = uc.mem_read(ss_base + u64::from(sp.wrapping_add(4)), &mut fl);
    let caller_flags = u16::from_le_bytes(fl);
    regs.eflags = (regs.eflags & !0xFFFF) | u32::from(caller_flags);
    let input = regs.traced();
    // The caller's CS:IP (on the stack) is what the trace should blame.
    let mut ret = [0u8; 4];
    let _ = uc.mem_read(ss_base + u64::from(sp), &mut ret);
    let caller = CsIp::new(
        u16::from_le_bytes([ret[2], ret[3]]),
        u16::from_le_bytes([ret[0], ret[1]]).wrapping_sub(2),
    );
    uc.get_data_mut().here = caller;
    let result = if vector == 0x15 && regs.ah() == 0x87 {
        block_move(uc, &mut regs);
        bios::Service::Handled
    } else {
        let st = uc.get_data_mut();
        let (ptr, len) = st.low_ram;
        bios::service(st, vector, &mut regs, &mut LowRam { ptr, len })
    };
    match result {
        bios::Service::Exception => {
            let st = uc.get_data_mut();
            st.trace.push(
                caller,
                EventKind::Unhandled(Unhandled::Exception { vector }),
            );
            stop_with(uc, StopReason::Fault(FaultKind::Exception { vector }));
            return;
        }
        bios::Service::BootRequest => {
            stop_with(uc, StopReason::BootRequest { at: caller, vector });
            return;
        }
        bios::Service::Handled | bios::Service::Unimplemented => {}
    }
    let new_flags = (caller_flags & !0x00C1) | (regs.eflags as u16 & 0x00C1);
    let _ = uc.mem_write(
        ss_base + u64::from(sp.wrapping_add(4)),
        &new_flags.to_le_bytes(),
    );
    let _ = write_regs(uc, &regs);
    let res = if result == bios::Service::Handled {
        IntResult::Handled
    } else {
        tracing::warn!(vector, ?regs, "unimplemented BIOS service");
        IntResult::Unimplemented
    };
    uc.get_data_mut().trace.push(
        caller,
        EventKind::IntCall {
            vector,
            input,
            output: regs.traced(),
            result: res,
        },
    );
}

/// Status codes of INT 15h AH=87h (AH on return).
pub mod block_move_status {
    /// The move completed.
    pub const OK: u8 = 0x00;
    /// An exception: a descriptor's limit is too small, or an address is
    /// unmapped or write-protected (a real BIOS takes a #GP or a bus error
    /// in protected mode and reports it this way).
    pub const EXCEPTION: u8 = 0x02;
}

/// INT 15h AH=87h, "move extended memory block" (IBM PC AT BIOS; Ralf
/// Brown's list INT 15/AH=87h): copy CX words between the 32-bit bases of
/// the source and destination descriptors of the GDT at ES:SI (entries 2
/// and 3, at +0x10 and +0x18; base 23:0 in bytes 2-4, base 31:24 in byte
/// 7). VGA BIOSes use it to reach a linear frame buffer above 1 MiB from
/// real mode (SeaVGABIOS's `memcpy_high`). The copy goes through the
/// machine's address space: RAM, RAM-backed BARs, and device MMIO, which
/// the devices see and the trace records as accesses made by the calling
/// `int 15h` (the machine's `here`).
fn block_move(uc: &mut Unicorn<'_, MachineState>, r: &mut Registers) {
    let fail = |r: &mut Registers, code: u8| {
        r.set_ah(code);
        r.set_cf(true);
    };
    let gdt = (u64::from(r.es) << 4) + u64::from(r.si());
    let mut desc = [0u8; 16];
    if uc.mem_read(gdt + 0x10, &mut desc).is_err() {
        return fail(r, block_move_status::EXCEPTION);
    }
    let segment = |d: &[u8]| -> (u64, u64) {
        let b = |i: usize| u64::from(d.get(i).copied().unwrap_or(0));
        let base = b(2) | b(3) << 8 | b(4) << 16 | b(7) << 24;
        let limit = b(0) | b(1) << 8 | (b(6) & 0x0F) << 16;
        // G (byte 6 bit 7): the limit counts 4 KiB pages.
        let limit = if b(6) & 0x80 != 0 {
            limit << 12 | 0xFFF
        } else {
            limit
        };
        (base, limit)
    };
    let (src_desc, dst_desc) = desc.split_at(8);
    let (src, src_limit) = segment(src_desc);
    let (dst, dst_limit) = segment(dst_desc);
    let len = u64::from(r.cx()) * 2;
    if len == 0 {
        r.set_ah(block_move_status::OK);
        r.set_cf(false);
        return;
    }
    if len - 1 > src_limit || len - 1 > dst_limit {
        return fail(r, block_move_status::EXCEPTION);
    }
    // Device accesses during the copy belong to the caller's `int 15h`.
    uc.get_data_mut().host_access = true;
    let mut buf = vec![0u8; len as usize];
    let moved = uc.mem_read(src, &mut buf).is_ok() && uc.mem_write(dst, &buf).is_ok();
    // A real BIOS moves the block with `rep movsw`: charge one instruction
    // per word to the budget and the emulated clock, and look at the
    // deadline, so a guest looping on large moves stops like any other loop.
    let st = uc.get_data_mut();
    st.host_access = false;
    if let Some(reason) = charge(st, u64::from(r.cx()), true) {
        stop_with(uc, reason);
    }
    if moved {
        r.set_ah(block_move_status::OK);
        r.set_cf(false);
    } else {
        fail(r, block_move_status::EXCEPTION);
    }
}

/// Install the machine's hooks. Must run before the first `emu_start`.
pub(crate) fn install_hooks(uc: &mut Unicorn<'_, MachineState>) -> Result<(), uc_error> {
    reset_idtr(uc)?;
    uc.add_intr_hook(|uc, intno| {
        // The dispatch pushes FLAGS, CS and IP: check the stack guard next block.
        uc.get_data_mut().check_stack = true;
        if let Err(kind) = dispatch_interrupt(uc, intno) {
            stop_with(uc, StopReason::Fault(kind));
        }
    })?;
    uc.add_insn_in_hook(|uc, port, size| {
        let at = port_here(uc);
        let regs = gprs(uc);
        let stack = stack_linear(uc, regs[4]);
        let st = uc.get_data_mut();
        st.flow.set_regs(regs, stack);
        st.here = at;
        let v = st.port_in(port as u16, size as u8);
        crate::machine::apply_pending(uc);
        v
    })?;
    uc.add_insn_out_hook(|uc, port, size, value| {
        let at = port_here(uc);
        if port as u16 == STUB_PORT
            && at.cs == BIOS_SEG
            && (STUB_BASE..STUB_BASE + 0x400).contains(&at.ip)
        {
            bios_trap(uc, at);
            return;
        }
        if port as u16 == STUB_PORT && at == CsIp::new(BIOS_SEG, PMM_ENTRY_IP) {
            pmm_trap(uc);
            return;
        }
        let st = uc.get_data_mut();
        st.here = at;
        st.port_out(port as u16, size as u8, value);
        crate::machine::apply_pending(uc);
    })?;
    uc.add_block_hook(1, 0, |uc, addr, size| {
        let key = (addr, size);
        // The same block again (a `rep` iteration or a tight loop) that does not
        // touch the stack: CS and the stack guard cannot have changed.
        let repeat = {
            let st = uc.get_data();
            (st.block == key && !st.check_stack).then_some(st.block_insns)
        };
        if let Some(n) = repeat {
            let st = uc.get_data_mut();
            st.block_io = 0;
            st.block_mem = 0;
            let cs = st.last_cs;
            st.flow.block_again(addr);
            note_streak_end(uc);
            account_block(uc, cs, addr, n);
            return;
        }
        let (n, touches_stack, mem_at_start, exit) = match uc.get_data().icache.get(&key) {
            Some((b, e)) => (b.instructions, b.touches_stack, b.mem_at_start, *e),
            None => {
                // First sight of the block: decode it once for the budget and
                // stack guard and for the diagnosis (how it ends).
                let mut buf = vec![0u8; size.min(4096) as usize];
                let (b, e) = if uc.mem_read(addr, &mut buf).is_ok() {
                    let cs = uc.reg_read(RegisterX86::CS).unwrap_or(0) as u16;
                    (
                        crate::trace::scan_block(&buf),
                        crate::diagnose::record::block_exit(&buf, cs, addr),
                    )
                } else {
                    let b = crate::trace::BlockInfo {
                        instructions: 1,
                        ..Default::default()
                    };
                    (b, crate::diagnose::record::Exit::Other)
                };
                let info = (b.instructions, b.touches_stack, b.mem_at_start, e);
                uc.get_data_mut().icache.insert(key, (b, e));
                info
            }
        };
        {
            let st = uc.get_data_mut();
            st.block = key;
            st.block_io = 0;
            st.block_mem = 0;
            st.block_insns = n;
            st.mem_at_start = mem_at_start;
        }
        let cs = uc.reg_read(RegisterX86::CS).unwrap_or(0) as u16;
        // Stack guard, checked at a block start when the previous block (or an
        // interrupt dispatch, or the start of a run) could have moved SS:SP: a
        // block with no stack instruction leaves them as it found them. (A
        // memory hook on the guard would slow every guest load and store.)
        let check = {
            let st = uc.get_data_mut();
            let check = st.check_stack;
            st.check_stack = touches_stack;
            check
        };
        let (ss, sp) = if check {
            (
                uc.reg_read(RegisterX86::SS).unwrap_or(0) as u16,
                uc.reg_read(RegisterX86::SP).unwrap_or(0) as u16,
            )
        } else {
            (0, 0)
        };
        let stack = (u64::from(ss) << 4) + u64::from(sp);
        // `mov ss,..` ends a block (the CPU holds interrupts for one
        // instruction so that `mov ss` + `mov sp` switch stacks atomically):
        // a block that starts by loading SP is the second half of a switch,
        // and is checked once SP is loaded.
        if check && sp != 0 && stack < STACK_GUARD && !starts_with_sp_load(uc, addr) {
            stop_with(
                uc,
                StopReason::Fault(FaultKind::StackOverflow {
                    address: stack,
                    ss,
                    sp,
                }),
            );
        }
        uc.get_data_mut().last_cs = cs;
        uc.get_data_mut().flow.block(cs, addr, exit);
        note_streak_end(uc);
        account_block(uc, cs, addr, n);
    })?;
    uc.add_mem_hook(
        HookType::MEM_UNMAPPED
            | HookType::MEM_WRITE_PROT
            | HookType::MEM_FETCH_PROT
            | HookType::MEM_READ_PROT,
        1,
        0,
        |uc, kind, addr, size, value| {
            let shadow = uc
                .get_data()
                .shadow_protected
                .is_some_and(|(b, l)| addr >= b && addr < b + l);
            // A chipset's read-only shadow (PAM registers set to read-only once
            // POST is over) discards writes; the store goes nowhere and the CPU
            // carries on. Unicorn drops the store of a handled WRITE_PROT on
            // a read-only region.
            if kind == MemType::WRITE_PROT && shadow {
                let at = mem_here(uc, addr, true);
                let st = uc.get_data_mut();
                st.shadow_writes_dropped += 1;
                st.trace.push(
                    at,
                    EventKind::Unhandled(Unhandled::ShadowWrite {
                        address: addr,
                        size: u8::try_from(size).unwrap_or(u8::MAX),
                        value: value as u64,
                    }),
                );
                return true;
            }
            let st = uc.get_data_mut();
            let f = match kind {
                MemType::FETCH_UNMAPPED => FaultKind::UnmappedFetch { address: addr },
                MemType::READ_UNMAPPED => FaultKind::UnmappedRead { address: addr },
                MemType::WRITE_UNMAPPED => FaultKind::UnmappedWrite { address: addr },
                other => FaultKind::Protection {
                    address: addr,
                    access: format!("{other:?}"),
                },
            };
            if st.stop.is_none() {
                st.stop = Some(StopReason::Fault(f));
            }
            false
        },
    )?;
    uc.add_insn_invalid_hook(|uc| {
        stop_with(uc, StopReason::Fault(FaultKind::InvalidOpcode));
        false
    })?;
    Ok(())
}

fn recent(uc: &Unicorn<'_, MachineState>) -> Vec<String> {
    let st = uc.get_data();
    st.recent
        .iter()
        .map(|(cs, linear)| {
            let at = block_start(cs, linear);
            let mut buf = [0u8; 15];
            let _ = uc.mem_read(linear, &mut buf);
            crate::trace::disassemble(&buf, at)
                .unwrap_or_else(|| format!("{cs:04x}:{:04x}  (bad)", at.ip))
        })
        .collect()
}

/// Run from `start` until the guest reaches `until` (a `hlt` the host put
/// there), within `limits`.
pub(crate) fn run(
    uc: &mut Unicorn<'_, MachineState>,
    start: CsIp,
    until: CsIp,
    limits: Limits,
) -> RunOutcome {
    {
        let st = uc.get_data_mut();
        st.run_instructions = 0;
        st.budget = limits.budget;
        st.run_blocks = 0;
        st.check_stack = true;
        // The deadline is a watchdog in the block hook, not unicorn's
        // `timeout`: that one's timer thread occasionally reported a timeout
        // on a loaded machine long before the deadline (seen as a flaky
        // "deadline exceeded" in the determinism test), and it costs a
        // thread per `emu_start`.
        st.deadline = (limits.deadline_us > 0)
            .then(|| {
                std::time::Instant::now()
                    .checked_add(std::time::Duration::from_micros(limits.deadline_us))
            })
            .flatten();
        st.stop = None;
        st.recent.clear();
        st.flow.new_run();
    }
    let mut at = start;
    let mut halts = 0u32;
    loop {
        if let Err(e) = uc.reg_write(RegisterX86::CS, u64::from(at.cs)) {
            return engine_fault(uc, e);
        }
        let res = uc.emu_start(u64::from(at.linear()), u64::from(until.linear()), 0, 0);
        let now = here(uc);
        let stop = uc.get_data_mut().stop.take();
        if let Some(reason) = stop {
            return match reason {
                StopReason::Deadline => RunOutcome::Timeout {
                    at: now,
                    recent: recent(uc),
                },
                StopReason::Budget => RunOutcome::BudgetExhausted {
                    at: now,
                    recent: recent(uc),
                },
                StopReason::Fault(kind) => RunOutcome::Fault {
                    at: now,
                    kind,
                    recent: recent(uc),
                },
                StopReason::BootRequest { at, vector } => RunOutcome::BootRequest { at, vector },
            };
        }
        if let Err(e) = res {
            return engine_fault(uc, e);
        }
        if now == until {
            return RunOutcome::Returned {
                instructions: uc.get_data().run_instructions,
            };
        }
        // Stopped on a `hlt` (IP past it): no interrupts will ever come, so
        // let a timer tick pass and resume; give up if it keeps halting.
        let mut b = [0u8; 1];
        let halted = uc
            .mem_read(u64::from(now.linear()).wrapping_sub(1), &mut b)
            .is_ok()
            && b[0] == 0xF4;
        if halted && halts < 8 {
            halts += 1;
            uc.get_data_mut().clock.advance_ns(54_925_000);
            at = now;
            continue;
        }
        if halted {
            return RunOutcome::Idle {
                at: CsIp::new(now.cs, now.ip.wrapping_sub(1)),
            };
        }
        return engine_fault(uc, uc_error::EXCEPTION);
    }
}

/// A branch left a long streak in the block just left: tell the expired
/// waits log, which walks the loop from guest memory
/// ([`crate::diagnose::expiry`]).
#[inline]
fn note_streak_end(uc: &mut Unicorn<'_, MachineState>) {
    let Some(end) = uc.get_data_mut().flow.take_ended() else {
        return;
    };
    let mut log = std::mem::take(&mut uc.get_data_mut().expiry);
    {
        let code = |a: u64, buf: &mut [u8]| uc.mem_read(a, buf).is_ok();
        log.note(&code, &uc.get_data().flow, &end);
    }
    uc.get_data_mut().expiry = log;
}

fn engine_fault(uc: &mut Unicorn<'_, MachineState>, e: uc_error) -> RunOutcome {
    let at = here(uc);
    let kind = match e {
        uc_error::INSN_INVALID => FaultKind::InvalidOpcode,
        uc_error::FETCH_UNMAPPED => FaultKind::UnmappedFetch {
            address: u64::from(at.linear()),
        },
        other => FaultKind::Engine {
            error: format!("{other:?}"),
        },
    };
    RunOutcome::Fault {
        at,
        kind,
        recent: recent(uc),
    }
}

/// Bytes of the BIOS segment: IVT stubs for every vector and the host-call
/// trampoline area, ready to copy to F000:0000.
#[must_use]
pub fn bios_image() -> Vec<u8> {
    let mut b = vec![0u8; 0x1_0000];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = b.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    };
    for v in 0..256usize {
        put(
            usize::from(STUB_BASE) + 4 * v,
            &[0xE6, STUB_PORT as u8, 0xCF, 0x90],
        );
    }
    // The PMM: entry `out 0xEF,al ; retf`, then its `$PMM` structure.
    put(usize::from(PMM_ENTRY_IP), &[0xE6, STUB_PORT as u8, 0xCB]);
    put(
        usize::from(PMM_HEADER_IP),
        &pmm::header(BIOS_SEG, PMM_ENTRY_IP),
    );
    // Plug and Play installation check structure and its entry:
    // `mov ax,0082h ; retf`.
    put(usize::from(PNP_HEADER_IP), &pnp_header());
    put(usize::from(PNP_ENTRY_IP), &[0xB8, 0x82, 0x00, 0xCB]);
    // Trampoline: lcall C000:0003 ; hlt (the INT variant is written per call).
    put(
        usize::from(TRAMPOLINE_IP),
        &[0x9A, 0x03, 0x00, 0x00, 0xC0, 0xF4],
    );
    // Reset vector: hlt.
    put(0xFFF0, &[0xF4]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_mode_delivery_cascade() {
        // Full IVT: every vector delivered as itself.
        assert_eq!(deliverable(0x10, 0x3FF), Some(0x10));
        assert_eq!(deliverable(0xFF, 0x3FF), Some(0xFF));
        // Entry past the limit: #GP if its entry fits, else #DF, else shutdown.
        assert_eq!(deliverable(0x10, 13 * 4 + 3), Some(VECTOR_GP));
        assert_eq!(deliverable(0x10, 8 * 4 + 3), Some(VECTOR_DF));
        assert_eq!(deliverable(0, 0), None);
        assert_eq!(deliverable(0x10, 8 * 4 + 2), None);
    }
}
