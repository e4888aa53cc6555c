//! The register/condition types the diagnosis reports ([`PolledRegister`],
//! [`WaitCondition`]), and a byte-only analyzer for flat loops. Runs are
//! diagnosed by [`crate::diagnose`], which follows the value read through
//! helpers and registers using the CPU's record; this analyzer needs only the
//! loop bytes (no run) and handles the flat shapes below.
//!
//! Spin-loop diagnosis: given the bytes of a small real-mode polling loop, the
//! register it polls and the last value read, say which bit (or masked value)
//! the vBIOS is waiting for and suggest an `--override` that ends the wait.
//!
//! A pure function: no machine, no device. The loop is the code from the
//! backward branch's target (`cs:ip`) up to and including the branch, decoded
//! as 16-bit code (0x66/0x67 prefixes honoured) with iced-x86. Recognised
//! conditions: `test r, imm` / `and r, imm` (optionally followed by
//! `test r, r` / `or r, r`) with `jz`/`jnz`/`js`/`jns`; `and r, imm; cmp r,
//! imm` (or a bare `cmp r, imm`) with `je`/`jne`; `bt r, imm` with `jc`/`jnc`.
//! The branch may continue the loop (backward, to the loop) or leave it
//! (forward, out of the loop, with a `jmp` back). Conditional branches whose
//! flags come from a counter (`dec cx; jnz`) are timeouts and skipped.
//! Anything else, such as a loop whose condition is computed in a called
//! subroutine, gives [`WaitCondition::Undecoded`].

use std::fmt;

use iced_x86::{
    ConditionCode, Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register,
};

use super::generation::Platform;
use super::iobar::INDEX_SEL_GTT;
use super::regs::register_name;

/// The register a loop polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PolledRegister {
    /// An I/O port (`in al, dx`).
    Port(u16),
    /// A BAR0 MMIO offset (the byte address the loop reads).
    Mmio(u32),
    /// A BAR4 MMIO_Data read; the MMIO_Index value selects the register.
    IoBarIndex(u32),
    /// A PCI configuration register of the function (byte offset).
    Config(u16),
}

impl PolledRegister {
    /// The BAR0 register offset this names (dword-aligned), if it names one.
    #[must_use]
    pub fn mmio_offset(self) -> Option<u32> {
        match self {
            PolledRegister::Mmio(o) => Some(o & !3),
            PolledRegister::IoBarIndex(i) if i & INDEX_SEL_GTT == 0 => Some(i & !3),
            _ => None,
        }
    }

    /// Shift of the polled value inside the register dword (a byte read of
    /// BAR0 offset 0x45403 sees bits 31:24).
    fn lane_shift(self) -> u32 {
        match self {
            PolledRegister::Mmio(o) => (o & 3) * 8,
            _ => 0,
        }
    }
}

/// What the loop waits for, in terms of the register value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WaitCondition {
    /// Bit `n` to become 1.
    BitSet(u32),
    /// Bit `n` to become 0.
    BitClear(u32),
    /// Any bit of the mask to become 1.
    AnySet(u32),
    /// Every bit of the mask to become 0.
    AllClear(u32),
    /// `(value & mask) == value`.
    MaskEquals {
        /// Bits compared.
        mask: u32,
        /// Value waited for.
        value: u32,
    },
    /// `(value & mask) != value`.
    MaskNotEquals {
        /// Bits compared.
        mask: u32,
        /// Value waited to go away.
        value: u32,
    },
    /// The condition could not be decoded.
    Undecoded {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for WaitCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitCondition::BitSet(b) => write!(f, "bit {b} to become 1"),
            WaitCondition::BitClear(b) => write!(f, "bit {b} to become 0"),
            WaitCondition::AnySet(m) => write!(f, "any bit of {m:#X} to become 1"),
            WaitCondition::AllClear(m) => write!(f, "(value & {m:#X}) == 0"),
            WaitCondition::MaskEquals { mask, value } => {
                write!(f, "(value & {mask:#X}) == {value:#X}")
            }
            WaitCondition::MaskNotEquals { mask, value } => {
                write!(f, "(value & {mask:#X}) != {value:#X}")
            }
            WaitCondition::Undecoded { reason } => write!(f, "an undecoded condition ({reason})"),
        }
    }
}

/// The loop to diagnose.
#[derive(Clone, Copy, Debug)]
pub struct SpinLoop<'a> {
    /// Code bytes from the loop start to the end of the backward branch.
    pub bytes: &'a [u8],
    /// CS of the loop.
    pub cs: u16,
    /// IP of the loop start.
    pub ip: u16,
    /// The last value read from the polled register.
    pub value_read: u32,
    /// The polled register.
    pub register: PolledRegister,
    /// The platform, for register names (None: no names).
    pub platform: Option<Platform>,
}

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpinDiagnosis {
    /// The polled register.
    pub register: PolledRegister,
    /// Its i915 name, when known.
    pub name: Option<&'static str>,
    /// The last value read.
    pub value_read: u32,
    /// The bits the loop tests, in register bit positions (None if undecoded).
    pub mask: Option<u32>,
    /// What it waits for.
    pub waiting_for: WaitCondition,
    /// CS of the loop.
    pub cs: u16,
    /// IP of the loop start.
    pub ip: u16,
    /// One line for the user.
    pub suggestion: String,
}

/// How the flags of the branch were set.
enum Flags {
    /// ZF/SF from `value & mask` at `width` bits.
    Test { mask: u32, width: u32 },
    /// ZF from `(value & mask) == imm`.
    Cmp { mask: u32, imm: u32 },
    /// CF = bit.
    Bt { bit: u32 },
}

fn is_high_byte(r: Register) -> bool {
    matches!(r, Register::AH | Register::BH | Register::CH | Register::DH)
}

/// (shift, width mask) of a general register inside its full register.
fn reg_shape(r: Register) -> Option<(u32, u32)> {
    if !r.is_gpr() {
        return None;
    }
    let shift = if is_high_byte(r) { 8 } else { 0 };
    let width = match r.size() {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => u32::MAX,
        _ => return None,
    };
    Some((shift, width))
}

fn imm_of(i: &Instruction, op: u32) -> Option<u32> {
    match i.try_op_kind(op).ok()? {
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32 => Some(i.immediate(op) as u32),
        _ => None,
    }
}

/// Instructions that neither set flags nor matter to the condition.
fn passes_flags(i: &Instruction) -> bool {
    matches!(
        i.mnemonic(),
        Mnemonic::Mov
            | Mnemonic::Movzx
            | Mnemonic::In
            | Mnemonic::Out
            | Mnemonic::Nop
            | Mnemonic::Push
            | Mnemonic::Pop
            | Mnemonic::Lea
            | Mnemonic::Xchg
            | Mnemonic::Pause
    )
}

fn writes_reg(i: &Instruction, r: Register) -> bool {
    i.op_count() > 0
        && i.op0_kind() == OpKind::Register
        && i.op0_register().full_register() == r.full_register()
        && i.mnemonic() != Mnemonic::Out
}

/// Decode the flag setter for the branch at `idx`.
fn flags_for(code: &[Instruction], idx: usize) -> Result<Flags, String> {
    let mut k = idx;
    while k > 0 {
        k -= 1;
        let Some(i) = code.get(k) else { break };
        if passes_flags(i) {
            continue;
        }
        let r = if i.op_count() > 0 && i.op0_kind() == OpKind::Register {
            i.op0_register()
        } else {
            Register::None
        };
        // `test dword ptr es:[edi], imm`: the loop tests the register in place.
        let shape = if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
            match i.memory_size().size() {
                1 => Some((0, 0xFF)),
                2 => Some((0, 0xFFFF)),
                4 => Some((0, u32::MAX)),
                _ => None,
            }
        } else {
            reg_shape(r)
        };
        let (shift, width) = shape.ok_or_else(|| format!("`{i}` is not a register test"))?;
        let imm = imm_of(i, 1);
        let same_reg =
            i.op_count() == 2 && i.op1_kind() == OpKind::Register && i.op1_register() == r;
        return match i.mnemonic() {
            Mnemonic::Test | Mnemonic::And if imm.is_some() => Ok(Flags::Test {
                mask: (imm.unwrap_or(0) & width) << shift,
                width: (width.count_ones()) + shift,
            }),
            Mnemonic::Test | Mnemonic::Or | Mnemonic::And if same_reg => {
                // `test r, r` after `and r, imm` tests the masked value.
                let mask = prior_and(code, k, r).unwrap_or(width);
                Ok(Flags::Test {
                    mask: (mask & width) << shift,
                    width: width.count_ones() + shift,
                })
            }
            Mnemonic::Cmp if imm.is_some() => {
                let mask = prior_and(code, k, r).unwrap_or(width);
                Ok(Flags::Cmp {
                    mask: (mask & width) << shift,
                    imm: (imm.unwrap_or(0) & width) << shift,
                })
            }
            Mnemonic::Bt if imm.is_some() => Ok(Flags::Bt {
                bit: (imm.unwrap_or(0) & (width.count_ones() - 1)) + shift,
            }),
            _ => Err(format!("flags come from `{i}`")),
        };
    }
    Err("no instruction sets the flags inside the loop".to_string())
}

/// The mask of an `and r, imm` feeding instruction `k`, if any.
fn prior_and(code: &[Instruction], k: usize, r: Register) -> Option<u32> {
    let mut j = k;
    while j > 0 {
        j -= 1;
        let i = code.get(j)?;
        if i.mnemonic() == Mnemonic::And
            && i.op0_kind() == OpKind::Register
            && i.op0_register() == r
        {
            return imm_of(i, 1);
        }
        if writes_reg(i, r) || !passes_flags(i) {
            return None;
        }
    }
    None
}

fn single_bit(mask: u32) -> Option<u32> {
    (mask.count_ones() == 1).then(|| mask.trailing_zeros())
}

/// The condition under which the branch is taken → what the loop waits for.
fn condition(
    flags: &Flags,
    cc: ConditionCode,
    continues: bool,
) -> Result<(u32, WaitCondition), String> {
    // `taken_when_true`: the predicate below holds exactly when the branch is taken.
    let (mask, pred_true, pred_false) = match (flags, cc) {
        (Flags::Test { mask, .. }, ConditionCode::e) => (*mask, all_clear(*mask), any_set(*mask)),
        (Flags::Test { mask, .. }, ConditionCode::ne) => (*mask, any_set(*mask), all_clear(*mask)),
        (Flags::Test { mask, width }, ConditionCode::s | ConditionCode::ns) => {
            let top = width.saturating_sub(1);
            if mask & (1 << top.min(31)) == 0 {
                return Err("sign test of a masked value whose top bit is clear".into());
            }
            let set = WaitCondition::BitSet(top);
            let clear = WaitCondition::BitClear(top);
            if cc == ConditionCode::s {
                (1 << top, set, clear)
            } else {
                (1 << top, clear, set)
            }
        }
        (Flags::Cmp { mask, imm }, ConditionCode::e) => (
            *mask,
            WaitCondition::MaskEquals {
                mask: *mask,
                value: *imm,
            },
            WaitCondition::MaskNotEquals {
                mask: *mask,
                value: *imm,
            },
        ),
        (Flags::Cmp { mask, imm }, ConditionCode::ne) => (
            *mask,
            WaitCondition::MaskNotEquals {
                mask: *mask,
                value: *imm,
            },
            WaitCondition::MaskEquals {
                mask: *mask,
                value: *imm,
            },
        ),
        (Flags::Bt { bit }, ConditionCode::b) => (
            1 << bit,
            WaitCondition::BitSet(*bit),
            WaitCondition::BitClear(*bit),
        ),
        (Flags::Bt { bit }, ConditionCode::ae) => (
            1 << bit,
            WaitCondition::BitClear(*bit),
            WaitCondition::BitSet(*bit),
        ),
        (_, cc) => return Err(format!("branch condition {cc:?} on these flags")),
    };
    // A continuing branch loops while its predicate holds: the loop waits
    // for the opposite. An exit branch waits for its predicate.
    Ok((mask, if continues { pred_false } else { pred_true }))
}

fn any_set(mask: u32) -> WaitCondition {
    single_bit(mask).map_or(WaitCondition::AnySet(mask), WaitCondition::BitSet)
}

fn all_clear(mask: u32) -> WaitCondition {
    single_bit(mask).map_or(WaitCondition::AllClear(mask), WaitCondition::BitClear)
}

/// Decode the loop's exit condition.
fn decode(l: &SpinLoop<'_>) -> Result<(u32, WaitCondition), String> {
    let start = u64::from(l.ip);
    let end = start + l.bytes.len() as u64;
    let mut d = Decoder::with_ip(16, l.bytes, start, DecoderOptions::NONE);
    let code: Vec<Instruction> = d.iter().collect();
    if code.iter().any(|i| i.is_invalid()) {
        return Err("the loop bytes do not decode".into());
    }
    let mut why = String::from("no conditional branch in the loop");
    for (idx, i) in code.iter().enumerate().rev() {
        if i.flow_control() != FlowControl::ConditionalBranch || !i.is_jcc_short_or_near() {
            continue;
        }
        let target = i.near_branch_target();
        let continues = (start..end).contains(&target) && target <= i.ip();
        match flags_for(&code, idx).and_then(|f| condition(&f, i.condition_code(), continues)) {
            Ok(c) => return Ok(c),
            Err(e) => why = e,
        }
    }
    if let Some(c) = code.iter().find(|i| i.flow_control() == FlowControl::Call) {
        why = format!("the loop calls a subroutine (`{c}`) and {why}");
    }
    Err(why)
}

/// The value that satisfies `w`, built from the last value read.
fn satisfying(w: &WaitCondition, last: u32) -> Option<u32> {
    Some(match *w {
        WaitCondition::BitSet(b) => last | (1 << b),
        WaitCondition::BitClear(b) => last & !(1 << b),
        WaitCondition::AnySet(m) => last | m,
        WaitCondition::AllClear(m) => last & !m,
        WaitCondition::MaskEquals { mask, value } => (last & !mask) | (value & mask),
        WaitCondition::MaskNotEquals { mask, value } => (last & !mask) | (!value & mask),
        WaitCondition::Undecoded { .. } => return None,
    })
}

/// Diagnose a polling loop.
#[must_use]
pub fn diagnose_spin(l: &SpinLoop<'_>) -> SpinDiagnosis {
    let shift = l.register.lane_shift();
    let (mask, waiting_for) = match decode(l) {
        Ok((m, _)) if m.leading_zeros() < shift => (
            None,
            WaitCondition::Undecoded {
                reason: format!("mask {m:#X} is wider than the bytes read at this offset"),
            },
        ),
        Ok((m, w)) => (Some(m << shift), shift_condition(w, shift)),
        Err(reason) => (None, WaitCondition::Undecoded { reason }),
    };
    let value_read = l.value_read << shift;
    let offset = l.register.mmio_offset();
    let name = offset
        .zip(l.platform)
        .and_then(|(o, p)| register_name(p, o));
    let what = match (l.register, offset) {
        (PolledRegister::Port(p), _) => format!("port {p:#x}"),
        (PolledRegister::Config(o), _) => format!("config {o:#x}"),
        (_, Some(o)) => match name {
            Some(n) => format!("register {o:#x} {n}"),
            None => format!("register {o:#x}"),
        },
        (PolledRegister::IoBarIndex(i), None) => format!("GTT via BAR4 index {i:#x}"),
        (PolledRegister::Mmio(o), None) => format!("register {o:#x}"),
    };
    let mut suggestion = format!("{what}: waiting for {waiting_for} (last read {value_read:#x})");
    match (offset, &waiting_for) {
        (_, WaitCondition::Undecoded { .. }) => {
            suggestion.push_str("; could not decode the condition, inspect the disassembly");
        }
        (Some(o), w) => {
            let beh = match *w {
                WaitCondition::BitSet(b) if b < 31 && value_read & (1 << (b + 1)) != 0 => {
                    format!("status-follows-request:{}->{b}", b + 1)
                }
                WaitCondition::BitSet(b) | WaitCondition::BitClear(b) => format!("toggle:{b}"),
                _ => format!(
                    "const:{:#x}",
                    satisfying(w, value_read).unwrap_or(value_read)
                ),
            };
            suggestion.push_str(&format!("; try --override {o:#x}={beh}"));
        }
        (None, _) => suggestion.push_str("; not a BAR0 register: the machine model must answer it"),
    }
    SpinDiagnosis {
        register: l.register,
        name,
        value_read,
        mask,
        waiting_for,
        cs: l.cs,
        ip: l.ip,
        suggestion,
    }
}

fn shift_condition(w: WaitCondition, s: u32) -> WaitCondition {
    if s == 0 {
        return w;
    }
    match w {
        WaitCondition::BitSet(b) => WaitCondition::BitSet(b + s),
        WaitCondition::BitClear(b) => WaitCondition::BitClear(b + s),
        WaitCondition::AnySet(m) => WaitCondition::AnySet(m << s),
        WaitCondition::AllClear(m) => WaitCondition::AllClear(m << s),
        WaitCondition::MaskEquals { mask, value } => WaitCondition::MaskEquals {
            mask: mask << s,
            value: value << s,
        },
        WaitCondition::MaskNotEquals { mask, value } => WaitCondition::MaskNotEquals {
            mask: mask << s,
            value: value << s,
        },
        u @ WaitCondition::Undecoded { .. } => u,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::code_asm::*;

    const IP: u16 = 0x1234;

    fn run(
        build: impl FnOnce(&mut CodeAssembler, CodeLabel) -> Result<(), IcedError>,
        register: PolledRegister,
        value_read: u32,
    ) -> SpinDiagnosis {
        let mut a = CodeAssembler::new(16).unwrap();
        let mut top = a.create_label();
        a.set_label(&mut top).unwrap();
        build(&mut a, top).unwrap();
        let bytes = a.assemble(u64::from(IP)).unwrap();
        diagnose_spin(&SpinLoop {
            bytes: &bytes,
            cs: 0xC000,
            ip: IP,
            value_read,
            register,
            platform: Some(Platform::Haswell),
        })
    }

    #[test]
    fn test_imm_jz_waits_for_power_well_state() {
        let d = run(
            |a, top| {
                a.mov(eax, dword_ptr(edi))?;
                a.test(eax, 0x4000_0000)?;
                a.jz(top)
            },
            PolledRegister::Mmio(0x45400),
            0x8000_0000,
        );
        assert_eq!(
            d,
            SpinDiagnosis {
                register: PolledRegister::Mmio(0x45400),
                name: Some("HSW_PWR_WELL_CTL1"),
                value_read: 0x8000_0000,
                mask: Some(0x4000_0000),
                waiting_for: WaitCondition::BitSet(30),
                cs: 0xC000,
                ip: IP,
                suggestion: "register 0x45400 HSW_PWR_WELL_CTL1: waiting for bit 30 to become 1 \
                             (last read 0x80000000); try --override 0x45400=status-follows-request:31->30"
                    .into(),
            }
        );
    }

    #[test]
    fn and_cmp_jne_waits_for_a_masked_value() {
        let d = run(
            |a, top| {
                a.mov(eax, dword_ptr(edi))?;
                a.and(eax, 0xF0)?;
                a.cmp(eax, 0x20)?;
                a.jne(top)
            },
            PolledRegister::Mmio(0x6C060),
            0x0000_0010,
        );
        assert_eq!(d.mask, Some(0xF0));
        assert_eq!(
            d.waiting_for,
            WaitCondition::MaskEquals {
                mask: 0xF0,
                value: 0x20
            }
        );
        assert_eq!(
            d.suggestion,
            "register 0x6c060: waiting for (value & 0xF0) == 0x20 (last read 0x10); \
             try --override 0x6c060=const:0x20"
        );
    }

    #[test]
    fn bt_jnc_waits_for_the_bit() {
        let d = run(
            |a, top| {
                a.mov(eax, dword_ptr(edi))?;
                a.bt(eax, 30)?;
                a.jnc(top)
            },
            PolledRegister::Mmio(0x130040),
            0,
        );
        assert_eq!(
            (d.mask, d.waiting_for.clone()),
            (Some(1 << 30), WaitCondition::BitSet(30))
        );
        assert_eq!(d.name, Some("LCPLL_CTL"));
        assert!(
            d.suggestion.ends_with("try --override 0x130040=toggle:30"),
            "{}",
            d.suggestion
        );
    }

    #[test]
    fn in_al_dx_test_al_with_a_timeout_counter() {
        // top: in al, dx; test al, 8; jnz done; dec cx; jnz top; done:
        let d = run(
            |a, top| {
                let mut done = a.create_label();
                a.in_(al, dx)?;
                a.test(al, 8)?;
                a.jnz(done)?;
                a.dec(cx)?;
                a.jnz(top)?;
                a.set_label(&mut done)?;
                a.nop()
            },
            PolledRegister::Port(0x3DA),
            0,
        );
        assert_eq!(
            (d.mask, d.waiting_for.clone()),
            (Some(8), WaitCondition::BitSet(3))
        );
        assert_eq!(
            d.suggestion,
            "port 0x3da: waiting for bit 3 to become 1 (last read 0x0); \
             not a BAR0 register: the machine model must answer it"
        );
    }

    #[test]
    fn jnz_continuing_waits_for_clear_and_bytes_shift_into_place() {
        // A byte read of the top lane: `test al, 0x80` is bit 31 of the dword.
        let d = run(
            |a, top| {
                a.mov(al, byte_ptr(edi))?;
                a.test(al, 0x80)?;
                a.jnz(top)
            },
            PolledRegister::Mmio(0x64013),
            0x80,
        );
        assert_eq!(d.mask, Some(0x8000_0000));
        assert_eq!(d.waiting_for, WaitCondition::BitClear(31));
        assert_eq!(d.value_read, 0x8000_0000);
        assert_eq!(d.name, Some("DPA_AUX_CH_CTL"));
    }

    #[test]
    fn exit_branch_and_sign_and_bar4_index() {
        // top: in eax, dx; test eax, eax; js done; jmp top; done:
        let d = run(
            |a, top| {
                let mut done = a.create_label();
                a.in_(eax, dx)?;
                a.test(eax, eax)?;
                a.js(done)?;
                a.jmp(top)?;
                a.set_label(&mut done)?;
                a.nop()
            },
            PolledRegister::IoBarIndex(0xC7200),
            0x0800_0000,
        );
        assert_eq!(d.waiting_for, WaitCondition::BitSet(31));
        assert_eq!(d.name, Some("PCH_PP_STATUS"));
        assert!(d
            .suggestion
            .starts_with("register 0xc7200 PCH_PP_STATUS: waiting for bit 31"));
    }

    #[test]
    fn a_condition_inside_a_subroutine_is_undecoded() {
        let d = run(
            |a, top| {
                a.call(0x2000u64)?;
                a.jc(top)
            },
            PolledRegister::Mmio(0x45400),
            0,
        );
        assert_eq!(d.mask, None);
        let WaitCondition::Undecoded { reason } = &d.waiting_for else {
            panic!("{d:?}");
        };
        assert!(reason.contains("calls a subroutine"), "{reason}");
        assert!(d.suggestion.contains("could not decode the condition"));
        // Garbage bytes never panic.
        let g = diagnose_spin(&SpinLoop {
            bytes: &[0x0F, 0xFF],
            cs: 0,
            ip: 0xFFFF,
            value_read: 0,
            register: PolledRegister::IoBarIndex(1),
            platform: None,
        });
        assert!(matches!(g.waiting_for, WaitCondition::Undecoded { .. }));
    }

    #[test]
    fn a_memory_operand_test_is_the_register_itself() {
        let d = run(
            |a, top| {
                a.test(dword_ptr(edi).es(), 0x2000_0000)?;
                a.jz(top)
            },
            PolledRegister::Mmio(0x64010),
            0x1234_0000,
        );
        assert_eq!(
            (d.mask, d.waiting_for.clone()),
            (Some(1 << 29), WaitCondition::BitSet(29))
        );
        let d = run(
            |a, top| {
                a.cmp(byte_ptr(edi), 0x5A)?;
                a.jne(top)
            },
            PolledRegister::Mmio(0x7_0001),
            0,
        );
        assert_eq!(
            d.waiting_for,
            WaitCondition::MaskEquals {
                mask: 0xFF00,
                value: 0x5A00
            }
        );
        assert!(
            d.suggestion
                .ends_with("try --override 0x70000=const:0x5a00"),
            "{}",
            d.suggestion
        );
    }

    #[test]
    fn a_wide_mask_at_an_unaligned_offset_is_undecoded() {
        let d = run(
            |a, top| {
                a.test(eax, 0x8000_0000u32 as i32)?;
                a.jz(top)
            },
            PolledRegister::Mmio(0x45403),
            0,
        );
        assert_eq!(d.mask, None);
        assert!(matches!(d.waiting_for, WaitCondition::Undecoded { .. }));
    }

    proptest::proptest! {
        #[test]
        fn random_loops_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            ip in proptest::prelude::any::<u16>(),
            v in proptest::prelude::any::<u32>(),
            off in proptest::prelude::any::<u32>(),
        ) {
            let d = diagnose_spin(&SpinLoop {
                bytes: &bytes,
                cs: 0xC000,
                ip,
                value_read: v,
                register: PolledRegister::Mmio(off),
                platform: Some(Platform::Skylake),
            });
            proptest::prop_assert!(!d.suggestion.is_empty());
        }
    }
}
