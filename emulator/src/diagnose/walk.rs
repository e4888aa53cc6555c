//! Data flow from a device read to the branch that decides on it.
//!
//! The walk starts at a recorded read site and executes the code forward,
//! symbolically: each bit of each general register (and of the values the
//! code pushes or stores) is either a known constant, unknown, or bit `k` of
//! the value read (possibly inverted). Register moves, `movzx`, `xchg`,
//! `push`/`pop`, partial registers, shifts, rotates and logic with constants
//! move and mask those bits; iced-x86's instruction info tells which
//! registers any other instruction writes (they become unknown) and which
//! instructions change the flags. At each conditional branch the walk knows
//! whether its flags came from the value read (the deciding branch), from a
//! counter (`dec cx`, `loop`) or from a timer read (a deadline), or neither,
//! and it goes the way the branch went the last time it ran (the
//! [`FlowRecord`]). `call`s are followed, and the `ret` of the function that
//! made the read returns to the caller the shadow call stack recorded.
//!
//! Pure: reads code bytes through a callback, never the machine.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::BTreeMap;

use iced_x86::{
    ConditionCode, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory,
    Mnemonic, OpAccess, OpKind, Register,
};
use serde::Serialize;

use super::record::{FlowRecord, ReadRecord, ReadSource};
use crate::trace::CsIp;

/// Instructions one walk executes at most.
pub const WALK_LIMIT: usize = 600;

/// One bit of a symbolic value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bit {
    Unknown,
    Zero,
    One,
    /// Bit `k` of the value read (inverted when `bool`).
    Dev(u8, bool),
}

/// A 32-bit symbolic value, plus whether it derives from a timer read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sym {
    bits: [Bit; 32],
    timer: bool,
    /// Known only from the register snapshot at the read (a value that may
    /// change between iterations, like a counter), not from the code.
    seeded: bool,
}

impl Sym {
    const UNKNOWN: Sym = Sym {
        bits: [Bit::Unknown; 32],
        timer: false,
        seeded: false,
    };

    fn constant(v: u64) -> Sym {
        let mut s = Sym::UNKNOWN;
        for (i, b) in s.bits.iter_mut().enumerate() {
            *b = if v >> i & 1 == 1 { Bit::One } else { Bit::Zero };
        }
        s
    }

    /// The value read, `size` bytes shifted down by `lane` bytes.
    fn device(size: u8, lane: u32) -> Sym {
        let mut s = Sym::constant(0);
        for i in 0..(u32::from(size) * 8).min(32) {
            if let Some(b) = s.bits.get_mut(i as usize) {
                *b = Bit::Dev((i + lane * 8) as u8, false);
            }
        }
        s
    }

    fn depends(&self, width: u32) -> bool {
        self.bits
            .iter()
            .take(width as usize)
            .any(|b| matches!(b, Bit::Dev(..)))
    }

    fn is_constant(&self, width: u32) -> bool {
        !self.seeded
            && self
                .bits
                .iter()
                .take(width as usize)
                .all(|b| matches!(b, Bit::Zero | Bit::One))
    }

    fn constant_value(&self, width: u32) -> Option<u64> {
        let mut v = 0u64;
        for (k, b) in self.bits.iter().take(width as usize).enumerate() {
            match b {
                Bit::One => v |= 1 << k,
                Bit::Zero => {}
                _ => return None,
            }
        }
        Some(v)
    }

    fn get(&self, i: u32) -> Bit {
        self.bits.get(i as usize).copied().unwrap_or(Bit::Unknown)
    }
}

/// (full register index, bit offset, width) of a general register.
fn slot(r: Register) -> Option<(usize, u32, u32)> {
    use Register as R;
    let (full, off, w) = match r {
        R::AL => (0, 0, 8),
        R::CL => (1, 0, 8),
        R::DL => (2, 0, 8),
        R::BL => (3, 0, 8),
        R::AH => (0, 8, 8),
        R::CH => (1, 8, 8),
        R::DH => (2, 8, 8),
        R::BH => (3, 8, 8),
        R::AX => (0, 0, 16),
        R::CX => (1, 0, 16),
        R::DX => (2, 0, 16),
        R::BX => (3, 0, 16),
        R::SP => (4, 0, 16),
        R::BP => (5, 0, 16),
        R::SI => (6, 0, 16),
        R::DI => (7, 0, 16),
        R::EAX => (0, 0, 32),
        R::ECX => (1, 0, 32),
        R::EDX => (2, 0, 32),
        R::EBX => (3, 0, 32),
        R::ESP => (4, 0, 32),
        R::EBP => (5, 0, 32),
        R::ESI => (6, 0, 32),
        R::EDI => (7, 0, 32),
        _ => return None,
    };
    Some((full, off, w))
}

/// What the flags were last computed from.
#[derive(Clone, Copy, Debug)]
enum Flags {
    /// `test`/`and`/`or`: ZF and SF of `result` at `width` bits.
    Logic { result: Sym, width: u32 },
    /// `cmp v, imm`: ZF of `v == imm`.
    Cmp {
        v: Sym,
        imm: u64,
        width: u32,
        /// `cmp constant, value`: CF is `constant < value`.
        swapped: bool,
    },
    /// `bt`, or the carry out of a shift: CF = this bit.
    Carry(Bit),
    /// A counter (`dec`, `inc`, `sub`, `add`, `cmp` on values not read from
    /// the device) in this register.
    Counter(Register),
    /// A comparison involving a timer read.
    Deadline,
    /// Anything else.
    Other,
}

/// `taken ⇔ ((value & mask) == value_eq) == eq`, in register bit positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Predicate {
    /// Bits of the value read the branch depends on.
    pub mask: u64,
    /// Their value in the equality.
    pub value: u64,
    /// Whether the branch is taken when the bits equal `value` (or, with
    /// `below`, when the field is below it).
    pub eq: bool,
    /// An unsigned range test instead of an equality: the bits of `mask`
    /// read as a number (`cmp field, imm` then `jb`/`jae`/`ja`/`jbe`).
    pub below: Option<Below>,
}

/// `field < limit`, where field = `(value & mask) >> shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Below {
    /// The field's lowest bit in the register.
    pub shift: u32,
    /// The bound (the field is compared `< limit`).
    pub limit: u64,
}

impl Predicate {
    /// Whether the branch is taken for a value read.
    #[must_use]
    pub fn taken(&self, v: u64) -> bool {
        match self.below {
            Some(b) => (((v & self.mask) >> b.shift) < b.limit) == self.eq,
            None => ((v & self.mask) == self.value) == self.eq,
        }
    }
}

/// A conditional branch that decided on the value read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataBranch {
    /// The branch.
    pub at: CsIp,
    /// The instruction that set its flags.
    pub flags_at: CsIp,
    /// When it is taken.
    pub predicate: Predicate,
    /// The way it went the last time.
    pub last_taken: bool,
    /// How many times in a row it went that way.
    pub streak: u64,
    /// Where it goes when taken / not taken.
    pub target: CsIp,
    /// Fall-through.
    pub fallthrough: CsIp,
}

/// What bounds a loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TimeoutKind {
    /// A counter register (`loop`, `dec cx; jnz`).
    Counter {
        /// The register counted.
        register: String,
    },
    /// A deadline on a timer read (PM timer, PIT, port 0x61).
    Deadline {
        /// The timer port.
        port: Option<u16>,
    },
}

/// The timeout of a loop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timeout {
    /// Counter or deadline.
    pub kind: TimeoutKind,
    /// The branch that keeps looping until it expires.
    pub at: CsIp,
    /// Where the code goes when it expires.
    pub expires_to: CsIp,
}

/// The result of a walk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Walk {
    /// The first branch that decided on the value read.
    pub branch: Option<DataBranch>,
    /// Why no deciding branch was found (when none was).
    pub why: Option<String>,
    /// A counter or deadline branch met after the deciding branch, before
    /// the walk came back to where it started.
    pub timeout: Option<Timeout>,
    /// Whether the walk came back to an instruction it had executed (a loop).
    pub closed: bool,
    /// First and last IP (with the end of the last instruction) of the code
    /// walked at the deciding branch's call depth, in its CS.
    pub range: Option<(CsIp, u16)>,
    /// Where the walk stopped on a halt (`hlt`, `jmp $`), if it did.
    pub halt: Option<CsIp>,
}

/// Code bytes at a linear address.
pub trait Code {
    /// Fill `buf` from linear `addr`; false when unmapped.
    fn fetch(&self, addr: u64, buf: &mut [u8]) -> bool;
}

impl<F: Fn(u64, &mut [u8]) -> bool> Code for F {
    fn fetch(&self, addr: u64, buf: &mut [u8]) -> bool {
        self(addr, buf)
    }
}

/// Decode one 16-bit instruction at CS:IP.
pub fn decode_at(code: &dyn Code, at: CsIp) -> Option<Instruction> {
    let mut buf = [0u8; 16];
    if !code.fetch(u64::from(at.linear()), &mut buf) {
        return None;
    }
    let mut d = Decoder::with_ip(16, &buf, u64::from(at.ip), DecoderOptions::NONE);
    let i = d.decode();
    (!i.is_invalid()).then_some(i)
}

struct State {
    regs: [Sym; 8],
    stack: Vec<Sym>,
    /// SP now minus SP at the read, in bytes.
    sp_off: i64,
    mem: BTreeMap<String, Sym>,
    flags: Flags,
}

impl State {
    fn read(&self, r: Register) -> Option<(Sym, u32)> {
        let (full, off, w) = slot(r)?;
        let reg = self.regs.get(full)?;
        let mut s = Sym::constant(0);
        for i in 0..w {
            if let Some(b) = s.bits.get_mut(i as usize) {
                *b = reg.get(i + off);
            }
        }
        s.timer = reg.timer;
        s.seeded = reg.seeded;
        Some((s, w))
    }

    fn write(&mut self, r: Register, v: &Sym) {
        let Some((full, off, w)) = slot(r) else {
            return;
        };
        let Some(reg) = self.regs.get_mut(full) else {
            return;
        };
        // A 32-bit write replaces all; 8/16-bit writes keep the rest.
        for i in 0..w {
            if let Some(b) = reg.bits.get_mut((i + off) as usize) {
                *b = v.get(i);
            }
        }
        reg.timer = if w == 32 {
            v.timer
        } else {
            reg.timer || v.timer
        };
    }

    fn clobber(&mut self, r: Register) {
        self.write(r, &Sym::UNKNOWN);
    }
}

fn mem_key(i: &Instruction) -> String {
    format!(
        "{:?}:{:?}+{:?}+{:#x}",
        i.memory_segment(),
        i.memory_base(),
        i.memory_index(),
        i.memory_displacement64()
    )
}

fn imm(i: &Instruction, op: u32) -> Option<u64> {
    match i.try_op_kind(op).ok()? {
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32 => Some(i.immediate(op)),
        _ => None,
    }
}

fn width_mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// The walker.
struct Walker<'a> {
    /// Whether the walk is in the frame that made the read (the same site
    /// reached from another call reads something else).
    first_frame: bool,
    code: &'a dyn Code,
    record: &'a FlowRecord,
    read: &'a ReadRecord,
    st: State,
    info: InstructionInfoFactory,
    /// General registers (full index) the walked code counted with
    /// (`inc`, `dec`, `add`, `sub`, `loop`): a `cmp` on one of them bounds
    /// a loop; a `cmp` on a register the loop never changes (a width or
    /// mode argument) does not.
    counted: Vec<usize>,
    /// The value read was subtracted from by something not constant: the
    /// loop measures how far it moved since an earlier read (a clock).
    delta: bool,
}

/// The symbolic value an operand holds (register, immediate, memory).
fn operand(w: &Walker<'_>, i: &Instruction, op: u32, at: CsIp) -> (Sym, u32) {
    let size = |i: &Instruction| i.memory_size().size() as u32 * 8;
    match i.try_op_kind(op) {
        Ok(OpKind::Register) => w.st.read(i.op_register(op)).unwrap_or((Sym::UNKNOWN, 32)),
        Ok(OpKind::Memory) => {
            let width = size(i).clamp(8, 32);
            if let Some(s) = w.device_at(at) {
                return (s, width);
            }
            if let Some(s) = w.st.mem.get(&mem_key(i)) {
                return (*s, width);
            }
            (w.rom_constant(i, at, width).unwrap_or(Sym::UNKNOWN), width)
        }
        Ok(_) => match imm(i, op) {
            Some(v) => (Sym::constant(v), 32),
            None => (Sym::UNKNOWN, 32),
        },
        Err(_) => (Sym::UNKNOWN, 32),
    }
}

impl Walker<'_> {
    /// The symbolic value a read site produces: the followed read gives
    /// device bits, a timer read a timer value, anything else unknown.
    fn device_at(&self, at: CsIp) -> Option<Sym> {
        if at == self.read.at && self.first_frame {
            let lane = match self.read.source {
                ReadSource::Mmio { offset, .. } => (offset & 3) as u32,
                _ => 0,
            };
            return Some(Sym::device(self.read.size, lane));
        }
        if self
            .record
            .reads_at(at)
            .any(|r| matches!(r.source, ReadSource::Timer(_)))
        {
            let mut s = Sym::UNKNOWN;
            s.timer = true;
            return Some(s);
        }
        None
    }

    /// A CS-relative memory operand at an address the walk knows (a table
    /// in the ROM): its bytes, as a constant.
    fn rom_constant(&self, i: &Instruction, at: CsIp, width: u32) -> Option<Sym> {
        if i.memory_segment() != Register::CS {
            return None;
        }
        let reg = |r: Register| -> Option<u64> {
            if r == Register::None {
                return Some(0);
            }
            let (v, w) = self.st.read(r)?;
            v.constant_value(w)
        };
        let off = reg(i.memory_base())?
            .wrapping_add(reg(i.memory_index())?.wrapping_mul(u64::from(i.memory_index_scale())))
            .wrapping_add(i.memory_displacement64())
            & 0xFFFF;
        let mut b = [0u8; 4];
        let n = (width / 8).clamp(1, 4) as usize;
        let buf = b.get_mut(..n)?;
        if !self.code.fetch((u64::from(at.cs) << 4) + off, buf) {
            return None;
        }
        Some(Sym::constant(u64::from(u32::from_le_bytes(b))))
    }

    /// The count of a shift by CL. When the walk cannot compute CL, it is
    /// taken to be the byte-lane shift of the read (`(index & 3) * 8` for
    /// an index/data read): read helpers take a byte address, read the
    /// dword and shift the byte asked for down (`shr eax, cl` with `cl =
    /// (addr & 3) * 8`).
    fn count(&self, i: &Instruction) -> Option<u32> {
        if i.op1_kind() != OpKind::Register || i.op1_register() != Register::CL {
            return None;
        }
        if let Some((cl, _)) = self.st.read(Register::CL) {
            if let Some(v) = cl.constant_value(8) {
                return Some((v & 31) as u32);
            }
        }
        match self.read.source {
            ReadSource::IoIndexed { index, .. } => Some((index & 3) * 8),
            _ => Some(0),
        }
    }

    /// The loop counts with `r` (its full register).
    fn count_with(&mut self, r: Register) {
        if let Some((full, _, _)) = slot(r) {
            if !self.counted.contains(&full) {
                self.counted.push(full);
            }
        }
    }

    /// What a `pop` finds that the walk did not see pushed: the guest's
    /// stack memory at SS:SP of the read plus the walk's offset (the loop
    /// rewrites those slots each time round, so they hold its values).
    fn pushed_before(&self, i: &Instruction) -> Sym {
        let Some(base) = self.read.stack else {
            return Sym::UNKNOWN;
        };
        let n = usize::try_from(i.stack_pointer_increment())
            .unwrap_or(0)
            .min(4);
        let addr = i64::from(base) + self.st.sp_off;
        let mut buf = [0u8; 4];
        let fetched = match (u64::try_from(addr), buf.get_mut(..n)) {
            (Ok(a), Some(b)) if n > 0 => self.code.fetch(a, b),
            _ => false,
        };
        if !fetched {
            return Sym::UNKNOWN;
        }
        let mut v = Sym::constant(u64::from(u32::from_le_bytes(buf)));
        v.seeded = true;
        v
    }

    /// Execute `i` symbolically (everything but control flow).
    fn step(&mut self, i: &Instruction, at: CsIp) {
        use Mnemonic as M;
        let dst = (i.op_count() > 0 && i.op0_kind() == OpKind::Register).then(|| i.op0_register());
        let dst_mem = i.op_count() > 0 && i.op0_kind() == OpKind::Memory;
        let flags_before = self.st.flags;
        match i.mnemonic() {
            M::In | M::Lodsb | M::Lodsw | M::Lodsd => {
                let r = match i.mnemonic() {
                    M::Lodsb => Register::AL,
                    M::Lodsw => Register::AX,
                    M::Lodsd => Register::EAX,
                    _ => i.op0_register(),
                };
                let v = self.device_at(at).unwrap_or(Sym::UNKNOWN);
                self.st.write(r, &v);
            }
            M::Mov | M::Movzx | M::Movsx => {
                let (v, w) = operand(self, i, 1, at);
                let mut v = v;
                if i.mnemonic() != M::Mov {
                    let fill = if i.mnemonic() == M::Movzx {
                        Bit::Zero
                    } else {
                        Bit::Unknown
                    };
                    for b in v.bits.iter_mut().skip(w as usize) {
                        *b = fill;
                    }
                }
                match dst {
                    Some(r) if slot(r).is_some() => self.st.write(r, &v),
                    Some(_) => {}
                    None if dst_mem => {
                        self.st.mem.insert(mem_key(i), v);
                    }
                    None => {}
                }
            }
            M::Xchg if i.op0_kind() == OpKind::Register && i.op1_kind() == OpKind::Register => {
                let a = self.st.read(i.op0_register());
                let b = self.st.read(i.op1_register());
                if let (Some((a, _)), Some((b, _))) = (a, b) {
                    self.st.write(i.op0_register(), &b);
                    self.st.write(i.op1_register(), &a);
                }
            }
            M::Push => {
                let (v, _) = operand(self, i, 0, at);
                if self.st.stack.len() < 64 {
                    self.st.stack.push(v);
                }
            }
            M::Pop => {
                let v = match self.st.stack.pop() {
                    Some(v) => v,
                    None => self.pushed_before(i),
                };
                match dst {
                    Some(r) => self.st.write(r, &v),
                    None => self.clobber_written(i),
                }
            }
            M::Pushad | M::Pusha => {
                for k in 0..8 {
                    let v = self.st.regs.get(k).copied().unwrap_or(Sym::UNKNOWN);
                    self.st.stack.push(v);
                }
            }
            M::Popad | M::Popa => {
                for k in (0..8).rev() {
                    let v = self.st.stack.pop().unwrap_or(Sym::UNKNOWN);
                    if k != 4 {
                        if let Some(r) = self.st.regs.get_mut(k) {
                            *r = v;
                        }
                    }
                }
            }
            M::Shr | M::Shl | M::Sal | M::Sar | M::Rol | M::Ror if dst.is_some() => {
                let r = dst.unwrap_or(Register::None);
                let (v, w) = self.st.read(r).unwrap_or((Sym::UNKNOWN, 32));
                let n = match imm(i, 1) {
                    Some(n) => Some((n & 31) as u32),
                    None => self.count(i),
                };
                let out = match n {
                    Some(n) => shift(i.mnemonic(), &v, w, n),
                    None => None,
                };
                match out {
                    Some((res, carry)) => {
                        self.st.write(r, &res);
                        self.st.flags = if v.depends(w) {
                            match carry {
                                Some(c) if matches!(c, Bit::Dev(..)) => Flags::Carry(c),
                                _ => Flags::Logic {
                                    result: res,
                                    width: w,
                                },
                            }
                        } else {
                            Flags::Other
                        };
                    }
                    None => {
                        self.st.clobber(r);
                        self.st.flags = Flags::Other;
                    }
                }
                return;
            }
            M::And | M::Or | M::Xor | M::Test => {
                let (a, w) = operand(self, i, 0, at);
                let (b, _) = operand(self, i, 1, at);
                let same = i.op_count() == 2
                    && i.op0_kind() == OpKind::Register
                    && i.op1_kind() == OpKind::Register
                    && i.op0_register() == i.op1_register();
                let res = if same && i.mnemonic() == M::Xor {
                    Sym::constant(0)
                } else if same {
                    a
                } else {
                    logic(i.mnemonic(), &a, &b)
                };
                if i.mnemonic() != M::Test {
                    match dst {
                        Some(r) => self.st.write(r, &res),
                        None if dst_mem => {
                            self.st.mem.insert(mem_key(i), res);
                        }
                        None => {}
                    }
                }
                self.st.flags = if res.depends(w) {
                    Flags::Logic {
                        result: res,
                        width: w,
                    }
                } else if a.timer || b.timer {
                    Flags::Deadline
                } else {
                    Flags::Other
                };
                return;
            }
            M::Cmp => {
                let (a, w) = operand(self, i, 0, at);
                let (b, _) = operand(self, i, 1, at);
                let konst = imm(i, 1).or_else(|| b.constant_value(w));
                let swapped = a.constant_value(w).filter(|_| b.depends(w));
                self.st.flags = match (konst, swapped) {
                    (Some(v), _) if a.depends(w) => Flags::Cmp {
                        v: a,
                        imm: v & width_mask(w),
                        width: w,
                        swapped: false,
                    },
                    // `cmp table, reg`: ZF is symmetric.
                    (_, Some(v)) => Flags::Cmp {
                        v: b,
                        imm: v & width_mask(w),
                        width: w,
                        swapped: true,
                    },
                    _ if a.depends(w) || b.depends(w) => Flags::Other,
                    _ if a.timer || b.timer => Flags::Deadline,
                    _ if a.is_constant(w) => Flags::Other,
                    _ => match dst {
                        Some(r) => Flags::Counter(r),
                        None => Flags::Other,
                    },
                };
                return;
            }
            M::Bt => {
                let (a, w) = operand(self, i, 0, at);
                self.st.flags = match imm(i, 1) {
                    Some(n) => Flags::Carry(a.get((n as u32) % w.max(1))),
                    None => Flags::Other,
                };
                return;
            }
            M::Dec | M::Inc | M::Sub | M::Add | M::Sbb | M::Adc | M::Neg => {
                let (a, w) = operand(self, i, 0, at);
                let (b, _) = if i.op_count() > 1 {
                    operand(self, i, 1, at)
                } else {
                    (Sym::constant(0), 32)
                };
                let timer = a.timer || b.timer;
                if i.mnemonic() == M::Sub && a.depends(w) && !b.is_constant(w) {
                    self.delta = true;
                }
                if let Some(r) = dst {
                    self.count_with(r);
                }
                let mut res = Sym::UNKNOWN;
                if let (Some(x), Some(y)) = (a.constant_value(w), b.constant_value(w)) {
                    let one = 1u64;
                    let v = match i.mnemonic() {
                        M::Inc => x.wrapping_add(one),
                        M::Dec => x.wrapping_sub(one),
                        M::Add => x.wrapping_add(y),
                        M::Sub => x.wrapping_sub(y),
                        M::Neg => x.wrapping_neg(),
                        _ => u64::MAX,
                    };
                    if !matches!(i.mnemonic(), M::Adc | M::Sbb) {
                        res = Sym::constant(v & width_mask(w));
                        res.seeded = a.seeded || b.seeded;
                    }
                }
                res.timer = timer;
                match dst {
                    Some(r) => self.st.write(r, &res),
                    None if dst_mem => {
                        self.st.mem.insert(mem_key(i), res);
                    }
                    None => {}
                }
                self.st.flags = if timer {
                    Flags::Deadline
                } else if a.depends(w) || b.depends(w) || a.is_constant(w) {
                    Flags::Other
                } else {
                    Flags::Counter(dst.unwrap_or(Register::None))
                };
                return;
            }
            M::Not if dst.is_some() => {
                let r = dst.unwrap_or(Register::None);
                if let Some((mut v, _)) = self.st.read(r) {
                    for b in &mut v.bits {
                        *b = match *b {
                            Bit::Zero => Bit::One,
                            Bit::One => Bit::Zero,
                            Bit::Dev(k, inv) => Bit::Dev(k, !inv),
                            Bit::Unknown => Bit::Unknown,
                        };
                    }
                    self.st.write(r, &v);
                }
                return;
            }
            M::Bswap if dst.is_some() => {
                let r = dst.unwrap_or(Register::None);
                if let Some((v, _)) = self.st.read(r) {
                    let mut out = v;
                    for (k, b) in out.bits.iter_mut().enumerate() {
                        let byte = 3 - k / 8;
                        *b = v.get((byte * 8 + k % 8) as u32);
                    }
                    self.st.write(r, &out);
                }
                return;
            }
            _ => self.clobber_written(i),
        }
        // Moves keep the flags; anything else that modifies them makes them
        // unknown.
        self.st.flags = if i.rflags_modified() != 0 {
            Flags::Other
        } else {
            flags_before
        };
    }

    /// Mark every general register `i` writes as unknown.
    fn clobber_written(&mut self, i: &Instruction) {
        let written: Vec<Register> = self
            .info
            .info(i)
            .used_registers()
            .iter()
            .filter(|u| {
                matches!(
                    u.access(),
                    OpAccess::Write
                        | OpAccess::ReadWrite
                        | OpAccess::CondWrite
                        | OpAccess::ReadCondWrite
                )
            })
            .map(|u| u.register())
            .collect();
        for r in written {
            if slot(r).is_some() {
                self.st.clobber(r);
            }
        }
    }
}

/// Bitwise logic of two symbolic values.
fn logic(m: Mnemonic, a: &Sym, b: &Sym) -> Sym {
    let mut out = Sym::UNKNOWN;
    out.timer = a.timer || b.timer;
    out.seeded = a.seeded || b.seeded;
    for (k, o) in out.bits.iter_mut().enumerate() {
        let (x, y) = (a.get(k as u32), b.get(k as u32));
        *o = match m {
            Mnemonic::And | Mnemonic::Test => match (x, y) {
                (Bit::Zero, _) | (_, Bit::Zero) => Bit::Zero,
                (Bit::One, v) | (v, Bit::One) => v,
                _ => Bit::Unknown,
            },
            Mnemonic::Or => match (x, y) {
                (Bit::One, _) | (_, Bit::One) => Bit::One,
                (Bit::Zero, v) | (v, Bit::Zero) => v,
                _ => Bit::Unknown,
            },
            _ => match (x, y) {
                (Bit::Zero, v) | (v, Bit::Zero) => v,
                (Bit::One, Bit::Dev(d, inv)) | (Bit::Dev(d, inv), Bit::One) => Bit::Dev(d, !inv),
                (Bit::One, Bit::One) => Bit::Zero,
                _ => Bit::Unknown,
            },
        };
    }
    out
}

/// A shift or rotate by `n` at `w` bits: the result and the carry out.
fn shift(m: Mnemonic, v: &Sym, w: u32, n: u32) -> Option<(Sym, Option<Bit>)> {
    if n == 0 {
        return Some((*v, None));
    }
    let mut out = *v;
    let g = |k: i64| -> Bit {
        if k < 0 || k >= i64::from(w) {
            Bit::Zero
        } else {
            v.get(k as u32)
        }
    };
    let (n, wi) = (i64::from(n), i64::from(w));
    for k in 0..wi {
        let b = match m {
            Mnemonic::Shr => g(k + n),
            Mnemonic::Sar => {
                if k + n >= wi {
                    Bit::Unknown
                } else {
                    g(k + n)
                }
            }
            Mnemonic::Shl | Mnemonic::Sal => g(k - n),
            Mnemonic::Rol => g((k - n).rem_euclid(wi)),
            Mnemonic::Ror => g((k + n).rem_euclid(wi)),
            _ => return None,
        };
        if let Some(o) = out.bits.get_mut(k as usize) {
            *o = b;
        }
    }
    let carry = match m {
        Mnemonic::Shr | Mnemonic::Sar => Some(g(n - 1)),
        Mnemonic::Shl | Mnemonic::Sal => Some(g(wi - n)),
        _ => None,
    };
    Some((out, carry))
}

/// The contiguous field of the value read that `v` holds, as (lowest bit
/// in the register, width): bits `0..n` of `v` are device bits `k..k+n` in
/// order, not inverted, and the rest of the `width` bits are 0.
fn field(v: &Sym, width: u32) -> Result<(u32, u32), String> {
    let bad = || "the compared value is not a field of the value read".to_string();
    let first = match v.get(0) {
        Bit::Dev(d, false) => u32::from(d),
        _ => return Err(bad()),
    };
    let mut n = 0;
    while n < width {
        match v.get(n) {
            Bit::Dev(d, false) if u32::from(d) == first + n => n += 1,
            _ => break,
        }
    }
    if (n..width).all(|k| v.get(k) == Bit::Zero) {
        Ok((first, n))
    } else {
        Err(bad())
    }
}

/// `taken ⇔ predicate` for a branch on these flags, if it depends on the
/// value read.
fn predicate(flags: &Flags, cc: ConditionCode) -> Result<Predicate, String> {
    // ZF=1 ⇔ (dev & mask) == value over the bits of `v` (constant bits that
    // are One make ZF always 0).
    let zf = |v: &Sym, want: u64, w: u32| -> Result<(u64, u64, bool), String> {
        let (mut mask, mut value, mut possible) = (0u64, 0u64, true);
        for k in 0..w {
            let wanted = want >> k & 1 == 1;
            match v.get(k) {
                Bit::Zero => possible &= !wanted,
                Bit::One => possible &= wanted,
                Bit::Dev(d, inv) => {
                    mask |= 1 << d;
                    if wanted != inv {
                        value |= 1 << d;
                    }
                }
                Bit::Unknown => {
                    return Err("the tested value mixes in bits not read from the device".into())
                }
            }
        }
        Ok((mask, value, possible))
    };
    let bit = |b: Bit| -> Result<Predicate, String> {
        match b {
            Bit::Dev(d, inv) => Ok(Predicate {
                mask: 1 << d,
                value: if inv { 0 } else { 1 << d },
                eq: true,
                below: None,
            }),
            _ => Err("the bit tested is not a bit of the value read".into()),
        }
    };
    match (flags, cc) {
        (Flags::Logic { result, width }, ConditionCode::e | ConditionCode::ne)
        | (
            Flags::Cmp {
                v: result, width, ..
            },
            ConditionCode::e | ConditionCode::ne,
        ) => {
            let want = if let Flags::Cmp { imm, .. } = flags {
                *imm
            } else {
                0
            };
            let (mask, value, possible) = zf(result, want, *width)?;
            if !possible || mask == 0 {
                return Err("the compared value does not depend on the device".into());
            }
            Ok(Predicate {
                mask,
                value,
                eq: cc == ConditionCode::e,
                below: None,
            })
        }
        (
            Flags::Cmp {
                v,
                imm,
                width,
                swapped,
            },
            ConditionCode::b
            | ConditionCode::ae
            | ConditionCode::a
            | ConditionCode::be
            | ConditionCode::l
            | ConditionCode::ge
            | ConditionCode::g
            | ConditionCode::le,
        ) => {
            let (shift, bits) = field(v, *width)?;
            let signed = matches!(
                cc,
                ConditionCode::l | ConditionCode::ge | ConditionCode::g | ConditionCode::le
            );
            // A signed compare is unsigned when the sign bit is a constant 0
            // (the field is narrower than the operand) and the bound is
            // not negative.
            if signed && (bits >= *width || imm >> (width - 1) & 1 == 1) {
                return Err("a signed compare on the full width is not decoded".into());
            }
            // `cmp imm, field` sets the flags of imm - field: a `jb` there
            // is `field > imm`.
            let cc = match (swapped, cc) {
                (false, cc) => cc,
                (true, ConditionCode::b) => ConditionCode::a,
                (true, ConditionCode::a) => ConditionCode::b,
                (true, ConditionCode::ae) => ConditionCode::be,
                (true, ConditionCode::be) => ConditionCode::ae,
                (true, ConditionCode::l) => ConditionCode::g,
                (true, ConditionCode::g) => ConditionCode::l,
                (true, ConditionCode::ge) => ConditionCode::le,
                (true, ConditionCode::le) => ConditionCode::ge,
                (true, cc) => cc,
            };
            // b: field < imm; ae: !(field < imm); a: !(field < imm + 1);
            // be: field < imm + 1.
            let (limit, eq) = match cc {
                ConditionCode::b | ConditionCode::l => (*imm, true),
                ConditionCode::ae | ConditionCode::ge => (*imm, false),
                ConditionCode::a | ConditionCode::g => (imm.saturating_add(1), false),
                _ => (imm.saturating_add(1), true),
            };
            let mask = if bits >= 64 {
                u64::MAX
            } else {
                ((1u64 << bits) - 1) << shift
            };
            Ok(Predicate {
                mask,
                value: 0,
                eq,
                below: Some(Below { shift, limit }),
            })
        }
        (Flags::Logic { result, width }, ConditionCode::s | ConditionCode::ns) => {
            let mut p = bit(result.get(width.saturating_sub(1)))?;
            if cc == ConditionCode::ns {
                p.eq = !p.eq;
            }
            Ok(p)
        }
        (Flags::Carry(b), ConditionCode::b | ConditionCode::ae) => {
            let mut p = bit(*b)?;
            if cc == ConditionCode::ae {
                p.eq = !p.eq;
            }
            Ok(p)
        }
        (_, cc) => Err(format!("a `{cc:?}` branch on these flags is not decoded")),
    }
}

/// Walk from `read` along the directions the record saw.
#[must_use]
pub fn walk(code: &dyn Code, record: &FlowRecord, read: &ReadRecord) -> Walk {
    let mut w = Walker {
        first_frame: true,
        code,
        record,
        read,
        st: State {
            regs: [Sym::UNKNOWN; 8],
            stack: Vec::new(),
            sp_off: 0,
            mem: BTreeMap::new(),
            flags: Flags::Other,
        },
        info: InstructionInfoFactory::new(),
        counted: Vec::new(),
        delta: false,
    };
    // The register a `cmp` timeout compares, to check once the loop is
    // walked that the loop counts with it.
    let mut candidates: Vec<(Timeout, Option<Register>)> = Vec::new();
    if let Some(regs) = read.regs {
        for (slot, v) in w.st.regs.iter_mut().zip(regs) {
            *slot = Sym::constant(u64::from(v));
            slot.seeded = true;
        }
    }
    let mut out = Walk::default();
    let mut at = read.at;
    // (return address) of calls the walk made, and the caller the record saw.
    let mut calls: Vec<CsIp> = Vec::new();
    let mut caller = read.caller;
    let mut outer: Vec<Option<CsIp>> = read.outer.to_vec();
    let mut depth: i32 = 0;
    let mut branch_depth = 0;
    let mut visited: Vec<(CsIp, i32, u16)> = Vec::new();
    // Visits by (instruction, the return address of its frame): a helper
    // called again from elsewhere is not the loop closing.
    let mut seen: Vec<(CsIp, Option<CsIp>)> = Vec::new();
    for _ in 0..WALK_LIMIT {
        let frame = match calls.last() {
            Some(r) => Some(*r),
            None if depth == 0 => read.caller,
            None => None,
        };
        w.first_frame = frame == read.caller;
        if seen.contains(&(at, frame)) {
            out.closed = true;
            break;
        }
        seen.push((at, frame));
        let Some(i) = decode_at(code, at) else {
            out.why
                .get_or_insert_with(|| format!("the code at {at} does not decode"));
            break;
        };
        let next = CsIp::new(at.cs, i.next_ip() as u16);
        visited.push((at, depth, next.ip));
        let near = |t: u64| CsIp::new(at.cs, t as u16);
        match i.flow_control() {
            FlowControl::Next => {
                w.step(&i, at);
                w.st.sp_off += i64::from(i.stack_pointer_increment());
                at = next;
            }
            FlowControl::ConditionalBranch => {
                let target = near(i.near_branch_target());
                let rec = record.branch_at(at);
                let counter = i.is_loop() || i.is_loopcc() || i.is_jcx_short();
                if i.is_loop() || i.is_loopcc() {
                    w.count_with(Register::CX);
                }
                if out.branch.is_none() && !counter {
                    match predicate(&w.st.flags, i.condition_code()) {
                        Ok(predicate) => {
                            out.branch = Some(DataBranch {
                                at,
                                flags_at: at,
                                predicate,
                                last_taken: rec.is_some_and(|r| r.last_taken),
                                streak: rec.map_or(0, |r| r.streak),
                                target,
                                fallthrough: next,
                            });
                            branch_depth = depth;
                        }
                        Err(e)
                            if matches!(
                                w.st.flags,
                                Flags::Logic { .. } | Flags::Cmp { .. } | Flags::Carry(_)
                            ) =>
                        {
                            out.why.get_or_insert(e);
                        }
                        Err(_) if w.delta => {
                            out.why.get_or_insert_with(|| {
                                "the loop compares how far the value read moved since an earlier read: it keeps time by it".into()
                            });
                        }
                        Err(_) => {}
                    }
                } else if out.branch.is_some() && depth <= branch_depth && candidates.len() < 8 {
                    let kind = if counter {
                        Some(TimeoutKind::Counter {
                            register: "CX".into(),
                        })
                    } else {
                        match w.st.flags {
                            Flags::Counter(r) => Some(TimeoutKind::Counter {
                                register: if r == Register::None {
                                    "a memory counter".into()
                                } else {
                                    format!("{r:?}")
                                },
                            }),
                            Flags::Deadline => Some(TimeoutKind::Deadline {
                                port: record.reads().iter().find_map(|r| match r.source {
                                    ReadSource::Timer(p) => Some(p),
                                    _ => None,
                                }),
                            }),
                            _ => None,
                        }
                    };
                    if let (Some(kind), Some(r)) = (kind, rec) {
                        let compared = match w.st.flags {
                            Flags::Counter(c) if c != Register::None && !counter => Some(c),
                            _ => None,
                        };
                        let t = Timeout {
                            kind,
                            at,
                            expires_to: if r.last_taken { next } else { target },
                        };
                        if !candidates.iter().any(|(c, _)| c.at == at) {
                            candidates.push((t, compared));
                        }
                    }
                }
                let Some(r) = rec else {
                    out.why
                        .get_or_insert_with(|| format!("the branch at {at} never ran"));
                    break;
                };
                at = if r.last_taken { target } else { next };
            }
            FlowControl::UnconditionalBranch => {
                if i.op0_kind() == OpKind::FarBranch16 {
                    at = CsIp::new(i.far_branch_selector(), i.far_branch16());
                } else {
                    let t = near(i.near_branch_target());
                    if t == at {
                        out.halt = Some(at);
                        break;
                    }
                    at = t;
                }
            }
            FlowControl::Call => {
                w.st.sp_off += i64::from(i.stack_pointer_increment());
                calls.push(next);
                depth += 1;
                at = if i.op0_kind() == OpKind::FarBranch16 {
                    CsIp::new(i.far_branch_selector(), i.far_branch16())
                } else {
                    near(i.near_branch_target())
                };
            }
            FlowControl::Return => {
                if i.mnemonic() == Mnemonic::Iret || i.mnemonic() == Mnemonic::Iretd {
                    out.why
                        .get_or_insert_with(|| "the walk reached an iret".into());
                    break;
                }
                depth -= 1;
                w.st.sp_off += i64::from(i.stack_pointer_increment());
                let up = calls.pop().or_else(|| caller.take()).or_else(|| {
                    let next = outer.first().copied().flatten();
                    if !outer.is_empty() {
                        outer.remove(0);
                    }
                    next
                });
                match up {
                    Some(r) => at = r,
                    None => {
                        out.why.get_or_insert_with(|| {
                            format!("returned at {at} to an unknown caller")
                        });
                        break;
                    }
                }
            }
            FlowControl::Interrupt if i.mnemonic() == Mnemonic::Int => {
                // A BIOS service: assume it returns and clobbers what it
                // reports in (AX, flags).
                w.st.clobber(Register::EAX);
                w.st.flags = Flags::Other;
                at = next;
            }
            _ if i.mnemonic() == Mnemonic::Hlt => {
                out.halt = Some(at);
                break;
            }
            _ => {
                out.why
                    .get_or_insert_with(|| format!("the walk stopped at `{i}` ({at})"));
                break;
            }
        }
    }
    // The first counter or deadline branch after the deciding one; a
    // register the loop never counts with is an argument, not a counter.
    out.timeout = candidates
        .into_iter()
        .find(|(_, c)| c.is_none_or(|c| slot(c).is_some_and(|(f, _, _)| w.counted.contains(&f))))
        .map(|(t, _)| t);
    if let Some(b) = &out.branch {
        let cs = b.at.cs;
        let here: Vec<&(CsIp, i32, u16)> = visited
            .iter()
            .filter(|(v, d, _)| v.cs == cs && *d == branch_depth)
            .collect();
        let lo = here.iter().map(|(v, _, _)| v.ip).min();
        let hi = here.iter().map(|(_, _, e)| *e).max();
        // The call into the function that read, when the loop calls it.
        let site = read.caller.and_then(|r| {
            let start = here.iter().find(|(v, _, e)| *e == r.ip && v.cs == r.cs)?;
            Some(start.0.ip)
        });
        if let (Some(lo), Some(hi)) = (lo, hi) {
            out.range = Some((CsIp::new(cs, site.map_or(lo, |s| s.min(lo))), hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(size: u8) -> Sym {
        Sym::device(size, 0)
    }

    #[test]
    fn shifts_and_rotates_move_device_bits() {
        let v = dev(4);
        let (r, carry) = shift(Mnemonic::Shr, &v, 32, 16).unwrap();
        assert_eq!(r.get(0), Bit::Dev(16, false));
        assert_eq!(r.get(31), Bit::Zero);
        assert_eq!(carry, Some(Bit::Dev(15, false)));
        let (r, _) = shift(Mnemonic::Rol, &v, 32, 4).unwrap();
        assert_eq!(r.get(0), Bit::Dev(28, false));
        assert_eq!(r.get(4), Bit::Dev(0, false));
        let (r, carry) = shift(Mnemonic::Shl, &dev(1), 8, 1).unwrap();
        assert_eq!((r.get(0), r.get(7)), (Bit::Zero, Bit::Dev(6, false)));
        assert_eq!(carry, Some(Bit::Dev(7, false)));
    }

    #[test]
    fn logic_with_constants_masks_and_inverts() {
        let v = dev(4);
        let m = logic(Mnemonic::And, &v, &Sym::constant(0x30));
        assert_eq!(
            (m.get(4), m.get(3), m.get(6)),
            (Bit::Dev(4, false), Bit::Zero, Bit::Zero)
        );
        let o = logic(Mnemonic::Or, &v, &Sym::constant(1));
        assert_eq!(o.get(0), Bit::One);
        let x = logic(Mnemonic::Xor, &v, &Sym::constant(2));
        assert_eq!(x.get(1), Bit::Dev(1, true));
    }

    #[test]
    fn range_compares_on_a_field_of_the_value_read() {
        // (dev >> 4) & 0xF compared with 5.
        let (f, _) = shift(Mnemonic::Shr, &dev(4), 32, 4).unwrap();
        let f = logic(Mnemonic::And, &f, &Sym::constant(0xF));
        let cmp = |swapped| Flags::Cmp {
            v: f,
            imm: 5,
            width: 32,
            swapped,
        };
        // jb: taken while the field is below 5.
        let p = predicate(&cmp(false), ConditionCode::b).unwrap();
        assert_eq!(p.mask, 0xF0);
        assert_eq!(p.below, Some(Below { shift: 4, limit: 5 }));
        assert!(p.taken(0x40) && !p.taken(0x50) && !p.taken(0xF0));
        // ja: taken above 5.
        let p = predicate(&cmp(false), ConditionCode::a).unwrap();
        assert!(p.taken(0x60) && !p.taken(0x50) && !p.taken(0x00));
        // `cmp 5, field; jb`: taken when 5 < field.
        let p = predicate(&cmp(true), ConditionCode::b).unwrap();
        assert!(p.taken(0x60) && !p.taken(0x50));
        // Signed on a narrow field is unsigned.
        let p = predicate(&cmp(false), ConditionCode::le).unwrap();
        assert!(p.taken(0x50) && !p.taken(0x60));
        // Bits above the field that are not 0: not a field.
        let noisy = logic(Mnemonic::Or, &f, &Sym::constant(0x100));
        assert!(predicate(
            &Flags::Cmp {
                v: noisy,
                imm: 5,
                width: 32,
                swapped: false
            },
            ConditionCode::b
        )
        .is_err());
    }

    #[test]
    fn predicates_of_test_cmp_and_carry() {
        let v = dev(4);
        let t = logic(Mnemonic::Test, &v, &Sym::constant(0x10000));
        let p = predicate(
            &Flags::Logic {
                result: t,
                width: 32,
            },
            ConditionCode::ne,
        )
        .unwrap();
        assert_eq!(
            p,
            Predicate {
                below: None,
                mask: 0x10000,
                value: 0,
                eq: false
            }
        );
        assert!(p.taken(0x10000) && !p.taken(0));
        let masked = logic(Mnemonic::And, &v, &Sym::constant(3));
        let p = predicate(
            &Flags::Cmp {
                v: masked,
                imm: 2,
                width: 32,
                swapped: false,
            },
            ConditionCode::e,
        )
        .unwrap();
        assert!(p.taken(0x12) && !p.taken(0x13));
        // An inverted bit: `not eax; bt eax, 5; jc` is taken when bit 5 is 0.
        let p = predicate(&Flags::Carry(Bit::Dev(5, true)), ConditionCode::b).unwrap();
        assert!(p.taken(0) && !p.taken(1 << 5));
        // Unknown bits mixed in: not decoded.
        let mut u = v;
        u.bits[3] = Bit::Unknown;
        assert!(predicate(
            &Flags::Logic {
                result: u,
                width: 32
            },
            ConditionCode::e
        )
        .is_err());
    }
}
