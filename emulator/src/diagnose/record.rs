//! The bounded record the CPU and the machine keep for diagnosis: the recent
//! device reads (site, register, value), the recent conditional branch sites
//! (with the direction they took), and a shadow call stack. Fixed-size tables
//! updated on every device read and on every block that follows a branch, so
//! a guest that polls for hours still leaves the last distinct reads and
//! branches here, however many it made (unlike the trace, which keeps the
//! first events and drops the rest).
//!
//! A table entry is keyed by its site (and, for reads, the register), and a
//! full table evicts its least recently used entry: a poll loop occupies a
//! few entries and the history that led to it stays.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use iced_x86::{Decoder, DecoderOptions, FlowControl};
use serde::Serialize;

use crate::pci::Bdf;
use crate::trace::CsIp;

/// Distinct (site, register) reads kept.
pub const READ_SITES: usize = 64;
/// Distinct conditional branch sites kept.
pub const BRANCH_SITES: usize = 64;
/// Depth of the shadow call stack.
pub const CALL_DEPTH: usize = 32;
/// Return addresses a read record keeps beyond its innermost one.
pub const OUTER_CALLERS: usize = 3;
/// A branch that went one way this many times in a row, with a device read
/// among them, and then the other way, may be a poll whose timeout expired
/// ([`LongStreakEnd`]). Polls bound their waits by hundreds or thousands of
/// rounds; a loop over a handful of ports or pipes that reads a register
/// each time round is not a wait.
pub const LONG_STREAK: u64 = 16;

/// What a device read read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ReadSource {
    /// An I/O port that is not a timer.
    Port(u16),
    /// An I/O port no device in the machine decodes: the read floats to
    /// all-ones (a timer the ROM expects at a base the VMM left 0, say).
    Unanswered(u16),
    /// A timer the guest reads to measure time: the ACPI PM timer, the PIT
    /// counters (0x40-0x42) or port 0x61 (its refresh bit toggles every
    /// 15 µs; IBM PC AT technical reference).
    Timer(u16),
    /// The data register of a device's I/O BAR index/data pair (the IGD's
    /// BAR4 MMIO_Index/MMIO_Data): the register the index selected.
    IoIndexed {
        /// The function.
        bdf: Bdf,
        /// The index value written at offset 0.
        index: u32,
    },
    /// A memory BAR read (BAR0 MMIO, through unreal mode or a 32-bit
    /// address-size prefix).
    Mmio {
        /// The function.
        bdf: Bdf,
        /// BAR number.
        bar: u8,
        /// Byte offset in the BAR.
        offset: u64,
    },
    /// A PCI configuration read (CF8/CFC).
    Config {
        /// The function.
        bdf: Bdf,
        /// Byte offset.
        offset: u16,
    },
}

/// One read site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ReadRecord {
    /// The reading instruction.
    pub at: CsIp,
    /// What it read.
    pub source: ReadSource,
    /// Access size in bytes.
    pub size: u8,
    /// The last value read.
    pub value: u64,
    /// How often this site read this register.
    pub count: u64,
    /// Order of the last read among all records (higher is later).
    pub seq: u64,
    /// The return address of the function the read ran in (shadow call
    /// stack top), if any.
    pub caller: Option<CsIp>,
    /// The return addresses beyond `caller`, outward (the caller's caller
    /// first), as far as the shadow stack holds them: a poll loop often
    /// calls a register helper through a wrapper.
    pub outer: [Option<CsIp>; OUTER_CALLERS],
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI as the reading instruction
    /// found them (when the CPU hook supplied them).
    pub regs: Option<[u32; 8]>,
    /// SS:SP (linear) at the reading instruction, when the CPU hook gave
    /// it: a walk that pops what was pushed before the read finds it there.
    pub stack: Option<u32>,
}

/// One conditional branch site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BranchRecord {
    /// The branch instruction.
    pub at: CsIp,
    /// Times taken.
    pub taken: u64,
    /// Times not taken.
    pub not_taken: u64,
    /// The direction of the last execution.
    pub last_taken: bool,
    /// How many times in a row the last direction was taken.
    pub streak: u64,
    /// Order of the last execution among all records.
    pub seq: u64,
    /// `seq` when the current streak began.
    pub since: u64,
}

/// A branch that changed direction after a long streak with a device read
/// in it: either a poll's condition came true, or its counter or deadline
/// ran out. The diagnosis tells them apart ([`crate::diagnose::expiry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LongStreakEnd {
    /// The branch.
    pub at: CsIp,
    /// The direction of the streak that ended.
    pub was_taken: bool,
    /// Its length.
    pub streak: u64,
    /// `seq` when it began.
    pub since: u64,
}

/// How a block ends, as far as the record cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Exit {
    #[default]
    Other,
    /// A conditional branch at `ip` (in the block's CS) whose target is
    /// `target` (linear).
    Jcc { ip: u16, target: u64 },
    /// A call or `int`, returning to `ret` (IP in the block's CS).
    Call { ret: u16 },
    /// `ret`, `retf`, `iret`.
    Return,
}

/// The record. Lives in the machine state; the block hook and the device
/// access paths update it.
#[derive(Clone, Debug, Default)]
pub struct FlowRecord {
    reads: Vec<ReadRecord>,
    last_read: usize,
    branches: Vec<BranchRecord>,
    last_branch: usize,
    calls: Vec<CsIp>,
    seq: u64,
    /// The exit of the block executing (CS, exit).
    pending: (u16, Exit),
    /// The last index written to each I/O BAR index register (function, BAR).
    index: Vec<((Bdf, u8), u32)>,
    /// The registers of the instruction about to read (set by the CPU hook,
    /// taken by the next [`FlowRecord::read`]).
    regs: Option<[u32; 8]>,
    /// SS:SP of the same instruction.
    stack: Option<u32>,
    /// `seq` when the current run started.
    run_start: u64,
    /// `seq` of the last device read that was not a timer.
    last_device_read: u64,
    /// A long streak that ended in the block just left (taken by the CPU's
    /// block hook, which classifies it).
    ended: Option<LongStreakEnd>,
}

impl FlowRecord {
    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The general registers of the instruction about to make a device
    /// read, and its SS:SP (linear).
    pub fn set_regs(&mut self, regs: [u32; 8], stack: u32) {
        self.regs = Some(regs);
        self.stack = Some(stack);
    }

    /// Record a device read.
    pub fn read(&mut self, at: CsIp, source: ReadSource, size: u8, value: u64) {
        let seq = self.next_seq();
        if !matches!(source, ReadSource::Timer(_)) {
            self.last_device_read = seq;
        }
        let caller = self.calls.last().copied();
        let mut outer = [None; OUTER_CALLERS];
        for (slot, r) in outer.iter_mut().zip(self.calls.iter().rev().skip(1)) {
            *slot = Some(*r);
        }
        let regs = self.regs.take();
        let stack = self.stack.take();
        let hit = |r: &ReadRecord| r.at == at && r.source == source;
        let idx = match self.reads.get(self.last_read) {
            Some(r) if hit(r) => Some(self.last_read),
            _ => self.reads.iter().position(hit),
        };
        let idx = idx.unwrap_or_else(|| {
            let fresh = ReadRecord {
                at,
                source,
                size,
                value,
                count: 0,
                seq,
                caller,
                outer,
                regs,
                stack,
            };
            evict_into(&mut self.reads, READ_SITES, fresh, |r| r.seq)
        });
        if let Some(r) = self.reads.get_mut(idx) {
            r.value = value;
            r.size = size;
            r.count = r.count.saturating_add(1);
            r.seq = seq;
            r.caller = caller;
            r.outer = outer;
            r.regs = regs;
            r.stack = stack;
        }
        self.last_read = idx;
    }

    /// Record a write to an I/O BAR's index register (offset 0).
    pub fn index_write(&mut self, bdf: Bdf, bar: u8, value: u32) {
        if let Some((_, v)) = self.index.iter_mut().find(|(k, _)| *k == (bdf, bar)) {
            *v = value;
        } else if self.index.len() < 8 {
            self.index.push(((bdf, bar), value));
        }
    }

    /// The last index written to an I/O BAR's index register.
    #[must_use]
    pub fn index_of(&self, bdf: Bdf, bar: u8) -> Option<u32> {
        self.index
            .iter()
            .find(|(k, _)| *k == (bdf, bar))
            .map(|(_, v)| *v)
    }

    /// A block starts at linear `addr` with code segment `cs`; `exit` is how
    /// it ends ([`block_exit`] of its bytes, cached with the CPU's block
    /// info).
    #[inline]
    pub(crate) fn block(&mut self, cs: u16, addr: u64, exit: Exit) {
        self.leave_pending(addr);
        self.pending = (cs, exit);
    }

    /// The block that just ran starts again at `addr` (a `rep` iteration or
    /// a one-block loop): the same as [`Self::block`] without looking its
    /// exit up again, since it is the pending one.
    pub fn block_again(&mut self, addr: u64) {
        self.leave_pending(addr);
    }

    /// Account for how the pending block was left, now that the next block
    /// starts at `addr`.
    fn leave_pending(&mut self, addr: u64) {
        let (pcs, exit) = self.pending;
        match exit {
            Exit::Other => {}
            Exit::Jcc { ip, target } => self.branch(CsIp::new(pcs, ip), addr == target),
            Exit::Call { ret } => {
                if self.calls.len() >= CALL_DEPTH {
                    self.calls.remove(0);
                }
                self.calls.push(CsIp::new(pcs, ret));
            }
            Exit::Return => {
                self.calls.pop();
            }
        }
    }

    fn branch(&mut self, at: CsIp, taken: bool) {
        let seq = self.next_seq();
        let idx = match self.branches.get(self.last_branch) {
            Some(b) if b.at == at => Some(self.last_branch),
            _ => self.branches.iter().position(|b| b.at == at),
        };
        let idx = idx.unwrap_or_else(|| {
            let fresh = BranchRecord {
                at,
                taken: 0,
                not_taken: 0,
                last_taken: taken,
                streak: 0,
                seq,
                since: seq,
            };
            evict_into(&mut self.branches, BRANCH_SITES, fresh, |b| b.seq)
        });
        if let Some(b) = self.branches.get_mut(idx) {
            if b.last_taken == taken {
                b.streak = b.streak.saturating_add(1);
            } else {
                if b.streak >= LONG_STREAK && self.last_device_read > b.since {
                    self.ended = Some(LongStreakEnd {
                        at,
                        was_taken: b.last_taken,
                        streak: b.streak,
                        since: b.since,
                    });
                }
                b.streak = 1;
                b.since = seq;
            }
            b.last_taken = taken;
            if taken {
                b.taken = b.taken.saturating_add(1);
            } else {
                b.not_taken = b.not_taken.saturating_add(1);
            }
            b.seq = seq;
        }
        self.last_branch = idx;
    }

    /// A new run starts: the pending block exit belongs to the last one.
    pub fn new_run(&mut self) {
        self.pending = (0, Exit::Other);
        self.calls.clear();
        self.run_start = self.seq;
    }

    /// The sequence number when the current run started (records with a
    /// higher `seq` happened in it).
    #[must_use]
    pub fn run_start(&self) -> u64 {
        self.run_start
    }

    /// The read sites, most recent first.
    #[must_use]
    pub fn reads(&self) -> Vec<ReadRecord> {
        let mut v = self.reads.clone();
        v.sort_by_key(|r| std::cmp::Reverse(r.seq));
        v
    }

    /// The branch sites, most recent first.
    #[must_use]
    pub fn branches(&self) -> Vec<BranchRecord> {
        let mut v = self.branches.clone();
        v.sort_by_key(|b| std::cmp::Reverse(b.seq));
        v
    }

    /// The branch record of a site.
    #[must_use]
    pub fn branch_at(&self, at: CsIp) -> Option<&BranchRecord> {
        self.branches.iter().find(|b| b.at == at)
    }

    /// The long streak that ended in the block just left, if one did.
    #[inline]
    pub fn take_ended(&mut self) -> Option<LongStreakEnd> {
        self.ended.take()
    }

    /// The record as it was just before `end` (its branch still going the
    /// way of the streak), for a walk that follows the loop.
    #[must_use]
    pub fn before(&self, end: &LongStreakEnd) -> FlowRecord {
        let mut r = self.clone();
        if let Some(b) = r.branches.iter_mut().find(|b| b.at == end.at) {
            b.last_taken = end.was_taken;
            b.streak = end.streak;
            b.since = end.since;
        }
        r.ended = None;
        r
    }

    /// The read records of a site (one per register it read).
    pub fn reads_at(&self, at: CsIp) -> impl Iterator<Item = &ReadRecord> {
        self.reads.iter().filter(move |r| r.at == at)
    }

    /// The current shadow call stack, innermost last.
    #[must_use]
    pub fn calls(&self) -> &[CsIp] {
        &self.calls
    }
}

/// Insert `fresh` into a table of at most `cap` entries, evicting the entry
/// with the lowest `key` when full; returns its index.
fn evict_into<T>(v: &mut Vec<T>, cap: usize, fresh: T, key: impl Fn(&T) -> u64) -> usize {
    if v.len() < cap {
        v.push(fresh);
        return v.len() - 1;
    }
    let idx = v
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| key(e))
        .map_or(0, |(i, _)| i);
    if let Some(slot) = v.get_mut(idx) {
        *slot = fresh;
    }
    idx
}

/// Decode a block and classify its last instruction.
pub(crate) fn block_exit(bytes: &[u8], cs: u16, addr: u64) -> Exit {
    let ip = addr.wrapping_sub(u64::from(cs) << 4);
    if ip > 0xFFFF {
        return Exit::Other;
    }
    let mut d = Decoder::with_ip(16, bytes, ip, DecoderOptions::NONE);
    let mut last = None;
    while d.can_decode() {
        let i = d.decode();
        if i.is_invalid() {
            return Exit::Other;
        }
        last = Some(i);
    }
    let Some(i) = last else {
        return Exit::Other;
    };
    let base = u64::from(cs) << 4;
    match i.flow_control() {
        FlowControl::ConditionalBranch
            if i.is_jcc_short_or_near() || i.is_loop() || i.is_loopcc() || i.is_jcx_short() =>
        {
            Exit::Jcc {
                ip: i.ip() as u16,
                target: base + (i.near_branch_target() & 0xFFFF),
            }
        }
        FlowControl::Call | FlowControl::IndirectCall | FlowControl::Interrupt => Exit::Call {
            ret: i.next_ip() as u16,
        },
        FlowControl::Return => Exit::Return,
        _ => Exit::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_poll_keeps_the_history_that_led_to_it() {
        let mut r = FlowRecord::default();
        let bdf = Bdf::new(0, 2, 0);
        r.read(CsIp::new(0xC000, 0x10), ReadSource::Port(0x3DA), 1, 7);
        for i in 0..1_000_000u64 {
            r.read(
                CsIp::new(0xC000, 0x20),
                ReadSource::Mmio {
                    bdf,
                    bar: 0,
                    offset: 0x46000,
                },
                4,
                i,
            );
        }
        let reads = r.reads();
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[0].count, 1_000_000);
        assert_eq!(reads[0].value, 999_999);
        assert_eq!(reads[1].source, ReadSource::Port(0x3DA));
        // The table stays bounded.
        for i in 0..10_000u16 {
            r.read(CsIp::new(0xC000, i), ReadSource::Port(0x80), 1, 0);
        }
        assert_eq!(r.reads().len(), READ_SITES);
    }

    #[test]
    fn branches_record_direction_and_streak() {
        let mut r = FlowRecord::default();
        // 74 FE: jz $ at c000:0100 (target 0x100); a block of just that.
        let jz_self = [0x74, 0xFE];
        let lin = 0xC_0100;
        for _ in 0..5 {
            r.block(0xC000, lin, block_exit(&jz_self, 0xC000, lin));
        }
        // Falls through to 0x102.
        r.block(0xC000, lin + 2, block_exit(&[0x90], 0xC000, lin + 2));
        let b = r.branch_at(CsIp::new(0xC000, 0x100)).copied().unwrap();
        assert_eq!(
            (b.taken, b.not_taken, b.last_taken, b.streak),
            (4, 1, false, 1)
        );
    }

    #[test]
    fn calls_and_returns_keep_a_shadow_stack() {
        let mut r = FlowRecord::default();
        // E8 00 10: call +0x1000 at c000:0000, returning to c000:0003.
        r.block(
            0xC000,
            0xC_0000,
            block_exit(&[0xE8, 0x00, 0x10], 0xC000, 0xC_0000),
        );
        r.block(0xC000, 0xC_1003, block_exit(&[0xC3], 0xC000, 0xC_1003));
        r.read(CsIp::new(0xC000, 0x1003), ReadSource::Port(0x3DA), 1, 0);
        assert_eq!(r.reads()[0].caller, Some(CsIp::new(0xC000, 3)));
        r.block(0xC000, 0xC_0003, block_exit(&[0x90], 0xC000, 0xC_0003));
        assert!(r.calls().is_empty());
    }
}
