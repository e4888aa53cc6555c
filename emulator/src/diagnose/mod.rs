//! Why a vBIOS stopped: a wait on a register (a spin loop that ran out of
//! budget), a halt the ROM chose (`jmp $`, `hlt` with nothing to wake it, a
//! triple fault), or a step that returned a failure (a give-up).
//!
//! Facts come from the CPU's bounded [`record::FlowRecord`] (recent device
//! reads with CS:IP and value, conditional branch sites with the way they
//! went, a shadow call stack), never from the trace; the code is read back
//! from guest memory and followed from the device read to the branch that
//! decides on it ([`walk`]).
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod expiry;
pub mod record;
pub mod walk;

use serde::Serialize;

use crate::igd::{register_name, Platform, PolledRegister, WaitCondition};
use crate::pci::Bdf;
use crate::trace::CsIp;
use record::{FlowRecord, ReadRecord, ReadSource};
use walk::{decode_at, Code, DataBranch, Predicate, Timeout, Walk};

/// Read sites considered, most recent first.
const CANDIDATES: usize = 16;

/// What kind of stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// A loop waiting for a register value.
    Wait,
    /// The ROM stopped itself.
    Halt,
    /// A step returned a failure.
    GiveUp,
    /// A loop waiting for a register ran out its counter or deadline and
    /// the ROM went on (the step may still succeed, or fail later).
    TimedOut,
}

/// A device read and the branch that decided on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The register read.
    pub register: PolledRegister,
    /// Its i915 name, when known.
    pub name: Option<&'static str>,
    /// Where it was read.
    pub read_at: CsIp,
    /// The last value read (in register bit positions).
    pub value: u32,
    /// The branch.
    pub branch: DataBranch,
}

impl Decision {
    fn line(&self) -> String {
        format!(
            "read {} = {:#x} at {}; the branch at {} {}: {}",
            what(self.register, self.name),
            self.value,
            self.read_at,
            self.branch.at,
            if self.branch.last_taken {
                "was taken"
            } else {
                "was not taken"
            },
            predicate_text(&self.branch.predicate, self.branch.last_taken),
        )
    }
}

/// The diagnosis of a stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Wait, halt or give-up.
    pub kind: StopKind,
    /// The register the loop polls (wait) or the ROM read last before it
    /// stopped (halt).
    pub register: PolledRegister,
    /// Its i915 name, when known.
    pub name: Option<&'static str>,
    /// The last value read (in register bit positions).
    pub value_read: u32,
    /// The bits the deciding branch tests, in register bit positions.
    pub mask: Option<u32>,
    /// What the loop waits for (wait), or the value that would have sent the
    /// branch the other way (halt).
    pub waiting_for: WaitCondition,
    /// CS of the loop (or of the halt).
    pub cs: u16,
    /// IP of the loop start (or of the halt).
    pub ip: u16,
    /// IP just past the loop's last instruction.
    pub end: u16,
    /// Where the register was read.
    pub read_at: Option<CsIp>,
    /// The branch that decided on it.
    pub branch_at: Option<CsIp>,
    /// What bounds the loop, if anything.
    pub timeout: Option<Timeout>,
    /// How the ROM stopped itself (halt).
    pub halt: Option<String>,
    /// The reads and branches that led here (give-up, halt), latest first.
    pub decisions: Vec<String>,
    /// One line for the user.
    pub suggestion: String,
    /// Profile lines that would get past the stop.
    pub profile: Vec<String>,
    /// How often the wait expired (timed out), in the step it is reported
    /// for; 0 for other kinds.
    pub expired: u64,
}

/// The register a read names.
fn polled(r: &ReadRecord) -> PolledRegister {
    match r.source {
        ReadSource::Port(p) | ReadSource::Timer(p) | ReadSource::Unanswered(p) => {
            PolledRegister::Port(p)
        }
        ReadSource::IoIndexed { index, .. } => PolledRegister::IoBarIndex(index),
        ReadSource::Mmio { offset, .. } => PolledRegister::Mmio(offset as u32),
        ReadSource::Config { offset, .. } => PolledRegister::Config(offset),
    }
}

/// The value read, in register bit positions (a byte read at offset +3 of
/// a dword register holds bits 31:24).
fn value_in_register(r: &ReadRecord) -> u32 {
    match r.source {
        ReadSource::Mmio { offset, .. } => (r.value as u32).wrapping_shl((offset & 3) as u32 * 8),
        _ => r.value as u32,
    }
}

fn what(r: PolledRegister, name: Option<&str>) -> String {
    match (r, r.mmio_offset()) {
        (PolledRegister::Port(p), _) => format!("port {p:#x}"),
        (PolledRegister::Config(o), _) => format!("config {o:#x}"),
        (_, Some(o)) => match name {
            Some(n) => format!("register {o:#x} {n}"),
            None => format!("register {o:#x}"),
        },
        (PolledRegister::IoBarIndex(i), None) => format!("GTT via BAR4 index {i:#x}"),
        (PolledRegister::Mmio(o), None) => format!("register {o:#x}"),
    }
}

/// The register state under which the branch went the way `taken` says.
fn predicate_text(p: &Predicate, taken: bool) -> String {
    match condition(p, taken) {
        WaitCondition::BitSet(b) => format!("bit {b} is 1"),
        WaitCondition::BitClear(b) => format!("bit {b} is 0"),
        WaitCondition::AnySet(m) => format!("(value & {m:#X}) != 0"),
        w => w.to_string(),
    }
}

/// The register condition under which the branch goes the way `taken` says.
fn condition(p: &Predicate, taken: bool) -> WaitCondition {
    let eq = p.eq == taken;
    if let Some(b) = p.below {
        let (mask, shift, limit) = (p.mask as u32, b.shift, b.limit);
        return if eq {
            WaitCondition::FieldBelow { mask, shift, limit }
        } else {
            WaitCondition::FieldAtLeast { mask, shift, limit }
        };
    }
    let (mask, value) = (p.mask as u32, p.value as u32);
    let single = (mask.count_ones() == 1).then(|| mask.trailing_zeros());
    match (eq, single, value) {
        (true, Some(b), v) if v != 0 => WaitCondition::BitSet(b),
        (true, Some(b), _) => WaitCondition::BitClear(b),
        (true, None, 0) => WaitCondition::AllClear(mask),
        (true, None, v) => WaitCondition::MaskEquals { mask, value: v },
        (false, Some(b), v) if v != 0 => WaitCondition::BitClear(b),
        (false, Some(b), _) => WaitCondition::BitSet(b),
        (false, None, 0) => WaitCondition::AnySet(mask),
        (false, None, v) => WaitCondition::MaskNotEquals { mask, value: v },
    }
}

/// "register 0x46000 CDCLK_CTL = 0x0 (3 reads)" for a read record.
#[must_use]
pub fn describe_read(r: &ReadRecord, ctx: &Context) -> String {
    let reg = polled(r);
    let name = match r.source {
        ReadSource::Timer(_) => Some("timer"),
        _ if ctx.relevant(r) => ctx.name(reg),
        _ => None,
    };
    format!(
        "{} = {:#x} ({} reads)",
        what(reg, name),
        value_in_register(r),
        r.count
    )
}

/// Names registers of the IGD at `igd` for `platform`.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The IGD's function (its BAR0 and BAR4 reads get register names).
    pub igd: Bdf,
    /// Its platform.
    pub platform: Platform,
}

impl Context {
    fn relevant(&self, r: &ReadRecord) -> bool {
        match r.source {
            ReadSource::Mmio { bdf, bar, .. } => bdf == self.igd && bar == 0,
            ReadSource::IoIndexed { bdf, .. } => bdf == self.igd,
            ReadSource::Config { .. } | ReadSource::Port(_) | ReadSource::Unanswered(_) => true,
            ReadSource::Timer(_) => false,
        }
    }

    fn name(&self, r: PolledRegister) -> Option<&'static str> {
        r.mmio_offset()
            .and_then(|o| register_name(self.platform, o))
    }

    fn decision(&self, read: &ReadRecord, branch: DataBranch) -> Decision {
        let register = polled(read);
        Decision {
            register,
            name: self.name(register),
            read_at: read.at,
            value: value_in_register(read),
            branch,
        }
    }
}

/// The override behaviour that makes `w` hold, given the last value read.
fn behaviour(w: &WaitCondition, last: u32) -> Option<String> {
    let sat = match *w {
        WaitCondition::BitSet(b) if b < 31 && last & (1 << (b + 1)) != 0 => {
            return Some(format!("status-follows-request:{}->{b}", b + 1));
        }
        WaitCondition::BitSet(b) => last | (1 << b),
        WaitCondition::BitClear(b) => last & !(1 << b),
        WaitCondition::AnySet(m) => last | m,
        WaitCondition::AllClear(m) => last & !m,
        WaitCondition::MaskEquals { mask, value } => (last & !mask) | (value & mask),
        WaitCondition::MaskNotEquals { mask, value } => (last & !mask) | (!value & mask),
        // The field just inside the bound.
        WaitCondition::FieldBelow { mask, shift, limit } if limit > 0 => {
            let v = u32::try_from(limit - 1).unwrap_or(u32::MAX);
            (last & !mask) | (v.wrapping_shl(shift) & mask)
        }
        WaitCondition::FieldAtLeast { mask, shift, limit } => {
            let v = u32::try_from(limit).unwrap_or(u32::MAX);
            let field = v.wrapping_shl(shift) & mask;
            if field >> shift != v {
                return None;
            }
            (last & !mask) | field
        }
        WaitCondition::FieldBelow { .. } => return None,
        WaitCondition::Undecoded { .. } => return None,
    };
    Some(format!("const:{sat:#x}"))
}

/// "counter (ECX)", "deadline (timer port 0x1808)".
fn timeout_kind(k: &walk::TimeoutKind) -> String {
    match k {
        walk::TimeoutKind::Counter { register } => format!("counter ({register})"),
        walk::TimeoutKind::Deadline { port: Some(p) } => format!("deadline (timer port {p:#x})"),
        walk::TimeoutKind::Deadline { port: None } => "deadline".to_string(),
    }
}

fn fill_suggestion(d: &mut Diagnosis) {
    let reg = what(d.register, d.name);
    let head = match d.kind {
        StopKind::Wait => {
            let mut s = format!(
                "{reg}: waiting for {} (last read {:#x}) in the loop {:04x}:{:04x}..{:04x}",
                d.waiting_for, d.value_read, d.cs, d.ip, d.end
            );
            if let (Some(r), Some(b)) = (d.read_at, d.branch_at) {
                s.push_str(&format!(", read at {r}, tested by the branch at {b}"));
            }
            match &d.timeout {
                Some(t) => s.push_str(&format!(
                    "; {} timeout at {}, on expiry it goes to {}",
                    timeout_kind(&t.kind),
                    t.at,
                    t.expires_to
                )),
                None => s.push_str("; no timeout"),
            }
            s
        }
        StopKind::Halt => {
            let mut s = format!(
                "the ROM stopped itself at {:04x}:{:04x} ({})",
                d.cs,
                d.ip,
                d.halt.as_deref().unwrap_or("halt")
            );
            if let Some(r) = d.read_at {
                s.push_str(&format!(" after reading {reg} = {:#x} at {r}", d.value_read));
            }
            if let Some(b) = d.branch_at {
                s.push_str(&format!(
                    "; the branch at {b} took the failure path (the other way needs {})",
                    d.waiting_for
                ));
            }
            s
        }
        StopKind::TimedOut => {
            let mut s = format!(
                "{reg}: a wait for {} timed out{} (last read {:#x}) in the loop {:04x}:{:04x}..{:04x}",
                d.waiting_for,
                match d.expired {
                    0 | 1 => String::new(),
                    n => format!(" {n} times"),
                },
                d.value_read,
                d.cs,
                d.ip,
                d.end
            );
            if let (Some(r), Some(b)) = (d.read_at, d.branch_at) {
                s.push_str(&format!(", read at {r}, tested by the branch at {b}"));
            }
            if let Some(t) = &d.timeout {
                s.push_str(&format!(
                    "; its {} at {} ran out and the ROM went on at {}",
                    timeout_kind(&t.kind),
                    t.at,
                    t.expires_to
                ));
            }
            s
        }
        StopKind::GiveUp => format!(
            "the step failed after reading {reg} = {:#x}; branches that depended on device reads: {}",
            d.value_read,
            d.decisions.join("; ")
        ),
    };
    let beh = behaviour(&d.waiting_for, d.value_read);
    d.suggestion = match (d.register.mmio_offset(), &d.waiting_for, beh) {
        (_, WaitCondition::Undecoded { .. }, _) => {
            format!("{head}; could not decode the condition, see `igdemu explain`")
        }
        (Some(o), _, Some(b)) => {
            let ov = format!("{o:#x}={b}");
            d.profile = vec![format!("overrides = [\"{ov}\"]")];
            format!("{head}; try --override {ov}")
        }
        _ if d.kind == StopKind::GiveUp => head,
        _ => format!("{head}; not a BAR0 register: the machine model must answer it"),
    };
}

/// The diagnosis of a wait that expired `times` times, when it polled a
/// register of the IGD (or a port or config register).
#[must_use]
pub fn timed_out(w: &expiry::ExpiredWait, ctx: &Context, times: u64) -> Option<Diagnosis> {
    if !ctx.relevant(&w.read) {
        return None;
    }
    let register = polled(&w.read);
    let b = &w.branch;
    let (start, end) = w.range.unwrap_or((b.at, b.at.ip));
    let mut d = Diagnosis {
        kind: StopKind::TimedOut,
        register,
        name: ctx.name(register),
        value_read: value_in_register(&w.read),
        mask: Some(b.predicate.mask as u32),
        waiting_for: condition(&b.predicate, !b.last_taken),
        cs: start.cs,
        ip: start.ip,
        end,
        read_at: Some(w.read.at),
        branch_at: Some(b.at),
        timeout: Some(w.timeout.clone()),
        halt: None,
        decisions: Vec::new(),
        suggestion: String::new(),
        profile: Vec::new(),
        expired: times,
    };
    fill_suggestion(&mut d);
    Some(d)
}

/// Walk each recent relevant read, most recent first.
fn walks<'a>(
    code: &'a dyn Code,
    record: &'a FlowRecord,
    ctx: &'a Context,
) -> impl Iterator<Item = (ReadRecord, Walk)> + 'a {
    record
        .reads()
        .into_iter()
        .filter(|r| ctx.relevant(r))
        .take(CANDIDATES)
        .map(move |r| {
            let w = walk::walk(code, record, &r);
            (r, w)
        })
}

/// Diagnose a loop that ran out of budget (or time) at `at`.
#[must_use]
pub fn diagnose_wait(
    code: &dyn Code,
    record: &FlowRecord,
    ctx: &Context,
    at: CsIp,
) -> Option<Diagnosis> {
    if let Some(h) = halt_shape(code, at) {
        return diagnose_halt(code, record, ctx, at, h);
    }
    // The deciding branch that ran most recently and kept going the same way.
    let branch_seq = |b: &DataBranch| record.branch_at(b.at).map_or(0, |r| r.seq);
    let mut all: Vec<(ReadRecord, Walk)> = walks(code, record, ctx).collect();
    let seq_of =
        |(_, w): &(ReadRecord, Walk)| w.branch.as_ref().filter(|b| b.streak >= 2).map(&branch_seq);
    // Ties go to the more recent read (the lower index).
    let best = (0..all.len())
        .filter_map(|i| Some((seq_of(all.get(i)?)?, std::cmp::Reverse(i))))
        .max()
        .map(|(_, std::cmp::Reverse(i))| i);
    let first = all.iter().position(|rw| seq_of(rw).is_none());
    // A deciding branch that has not run since another site was read over
    // and over belongs to a loop the guest has left (it called a delay that
    // never ends, say): the site read since (the latest read) is where it
    // spins.
    let best = match (best, all.first()) {
        (Some(i), Some((l, _)))
            if i != 0 && l.count >= 2 && all.get(i).and_then(seq_of).is_some_and(|s| s < l.seq) =>
        {
            Some(0)
        }
        (b, _) => b,
    };
    let pick = best.or(first)?;
    if pick >= all.len() {
        return None;
    }
    let (read, w) = all.swap_remove(pick);
    let register = polled(&read);
    let value_read = value_in_register(&read);
    let mut d = Diagnosis {
        kind: StopKind::Wait,
        register,
        name: ctx.name(register),
        value_read,
        mask: None,
        waiting_for: WaitCondition::Undecoded {
            reason: w
                .why
                .clone()
                .unwrap_or_else(|| "no branch decides on the value read".into()),
        },
        cs: at.cs,
        ip: at.ip,
        end: at.ip,
        read_at: Some(read.at),
        branch_at: None,
        timeout: None,
        halt: None,
        decisions: Vec::new(),
        suggestion: String::new(),
        profile: Vec::new(),
        expired: 0,
    };
    if let Some(b) = &w.branch {
        d.mask = Some(b.predicate.mask as u32);
        // The loop keeps going the way the branch went: it waits for the other.
        d.waiting_for = condition(&b.predicate, !b.last_taken);
        d.branch_at = Some(b.at);
        d.timeout = w.timeout.clone();
        if let Some((start, end)) = w.range {
            d.cs = start.cs;
            d.ip = start.ip;
            d.end = end;
        }
    }
    fill_suggestion(&mut d);
    if let ReadSource::Unanswered(p) = read.source {
        d.suggestion.push_str(&format!(
            " (no device decodes port {p:#x}: every read returns all-ones)"
        ));
    }
    Some(d)
}

/// How the code at `at` stops the machine, if it does: `jmp $`, `hlt`, or a
/// short cycle of `cli`/`sti`/`nop`/`hlt`/`jmp` with no branch and no read.
#[must_use]
pub fn halt_shape(code: &dyn Code, at: CsIp) -> Option<String> {
    let mut here = at;
    let mut seen = Vec::new();
    let mut hlt = false;
    let mut cli = false;
    for _ in 0..8 {
        if seen.contains(&here) {
            break;
        }
        seen.push(here);
        let i = decode_at(code, here)?;
        use iced_x86::Mnemonic as M;
        match i.mnemonic() {
            M::Hlt => hlt = true,
            M::Cli => cli = true,
            M::Nop | M::Sti | M::Pause => {}
            M::Jmp
                if i.op0_kind() != iced_x86::OpKind::Memory
                    && i.op0_kind() != iced_x86::OpKind::Register =>
            {
                let t = CsIp::new(here.cs, i.near_branch_target() as u16);
                if t == here && seen.len() == 1 {
                    return Some("`jmp $`".into());
                }
                here = t;
                continue;
            }
            _ => return None,
        }
        here = CsIp::new(here.cs, i.next_ip() as u16);
    }
    if !seen.contains(&here) {
        return None;
    }
    Some(match (hlt, cli) {
        (true, true) => "a `cli; hlt` loop".into(),
        (true, false) => "a `hlt` loop".into(),
        _ => "an empty loop".into(),
    })
}

/// Diagnose a halt at `at` described by `how`.
#[must_use]
pub fn diagnose_halt(
    code: &dyn Code,
    record: &FlowRecord,
    ctx: &Context,
    at: CsIp,
    how: String,
) -> Option<Diagnosis> {
    let all: Vec<(ReadRecord, Walk)> = walks(code, record, ctx).collect();
    // The read whose walk reaches the halt; else the latest one with a
    // deciding branch; else the latest read.
    let pick = all
        .iter()
        .find(|(_, w)| w.branch.is_some() && w.halt == Some(at))
        .or_else(|| all.iter().find(|(_, w)| w.branch.is_some()))
        .or_else(|| all.first());
    let mut d = Diagnosis {
        kind: StopKind::Halt,
        register: PolledRegister::Port(0),
        name: None,
        value_read: 0,
        mask: None,
        waiting_for: WaitCondition::Undecoded {
            reason: "no device read before the halt".into(),
        },
        cs: at.cs,
        ip: at.ip,
        end: at.ip,
        read_at: None,
        branch_at: None,
        timeout: None,
        halt: Some(how),
        decisions: decisions(&all, ctx, record, 4),
        suggestion: String::new(),
        profile: Vec::new(),
        expired: 0,
    };
    if let Some((read, w)) = pick {
        d.register = polled(read);
        d.name = ctx.name(d.register);
        d.value_read = value_in_register(read);
        d.read_at = Some(read.at);
        if let Some(b) = &w.branch {
            d.mask = Some(b.predicate.mask as u32);
            d.branch_at = Some(b.at);
            d.waiting_for = condition(&b.predicate, !b.last_taken);
        } else {
            d.waiting_for = WaitCondition::Undecoded {
                reason: w
                    .why
                    .clone()
                    .unwrap_or_else(|| "no branch decides on the value read".into()),
            };
        }
    }
    fill_suggestion(&mut d);
    Some(d)
}

/// The latest `n` branches that decided on device reads, as lines.
fn decisions(
    all: &[(ReadRecord, Walk)],
    ctx: &Context,
    record: &FlowRecord,
    n: usize,
) -> Vec<String> {
    let mut v: Vec<(u64, Decision)> = all
        .iter()
        .filter_map(|(r, w)| {
            let b = w.branch.clone()?;
            let seq = record.branch_at(b.at).map_or(0, |x| x.seq);
            Some((seq, ctx.decision(r, b)))
        })
        .collect();
    v.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
    v.dedup_by_key(|(_, d)| d.branch.at);
    v.into_iter().take(n).map(|(_, d)| d.line()).collect()
}

/// Diagnose a step that returned a failure: the branches that depended on
/// device reads, latest first.
#[must_use]
pub fn diagnose_give_up(
    code: &dyn Code,
    record: &FlowRecord,
    ctx: &Context,
    why: &str,
) -> Option<Diagnosis> {
    // Only what the failing step itself read.
    let all: Vec<(ReadRecord, Walk)> = walks(code, record, ctx)
        .filter(|(r, _)| r.seq > record.run_start())
        .collect();
    let lines = decisions(&all, ctx, record, 4);
    let (read, w) = all.iter().find(|(_, w)| w.branch.is_some())?;
    let b = w.branch.as_ref()?;
    let register = polled(read);
    let mut d = Diagnosis {
        kind: StopKind::GiveUp,
        register,
        name: ctx.name(register),
        value_read: value_in_register(read),
        mask: Some(b.predicate.mask as u32),
        waiting_for: condition(&b.predicate, !b.last_taken),
        cs: b.at.cs,
        ip: b.at.ip,
        end: b.at.ip,
        read_at: Some(read.at),
        branch_at: Some(b.at),
        timeout: None,
        halt: Some(why.to_string()),
        decisions: lines,
        suggestion: String::new(),
        profile: Vec::new(),
        expired: 0,
    };
    fill_suggestion(&mut d);
    Some(d)
}

/// The diagnosis of a step that returned a failure (`why`), given the waits
/// that timed out before it (`timeouts`, most recent first). When the step's
/// own reads decided it (`own`), that stays the diagnosis and the timeouts
/// follow it; otherwise (a mode missing from the list, a call that read
/// nothing) the most recent timeout is the likely cause.
#[must_use]
pub fn give_up_after_timeouts(
    own: Option<Diagnosis>,
    timeouts: &[Diagnosis],
    why: &str,
) -> Option<Diagnosis> {
    let Some(t) = timeouts.first() else {
        return own;
    };
    let timed_out: Vec<String> = timeouts
        .iter()
        .take(4)
        .map(|t| format!("timed out: {}", t.suggestion))
        .collect();
    if let Some(mut o) = own {
        o.decisions.extend(timed_out);
        o.suggestion
            .push_str(&format!("; before it, {}", t.suggestion));
        return Some(o);
    }
    let mut d = t.clone();
    d.kind = StopKind::GiveUp;
    d.halt = Some(why.to_string());
    d.suggestion = format!("{why}; before it, {}", t.suggestion);
    d.decisions = timed_out;
    Some(d)
}
