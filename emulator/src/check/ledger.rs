//! What the guest wrote to the GTT, kept by the VMM glue as the writes happen
//! (never recovered from the bounded trace): per GTT entry the value the guest
//! wrote, assembled byte by byte from every BAR0 GTT-half write (any width,
//! including the high dword of a 64-bit PTE) and every BAR4 `MMIO_Data` write
//! (at its byte offset inside the data register), with the outcome and CS:IP
//! of the last write; and the first time the VMM stopped the VM.
//!
//! Bounded: one record per GTT entry at most (writes past the GTT are only
//! counted), outcome names interned.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::BTreeMap;

use crate::passthrough::{Outcome, PassthroughEvent, Reason};
use crate::trace::CsIp;

/// What the guest last wrote to one GTT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GttWriter {
    /// The guest's value for the entry: the bytes it wrote, little-endian
    /// (bytes it never wrote are 0).
    pub guest: u64,
    /// Index of the outcome of the last write into [`GttLedger::outcome`].
    outcome: u16,
    /// The instruction of the last write.
    pub at: CsIp,
    /// The instruction that last wrote each dword of the entry (low, high).
    pub dword_at: [Option<CsIp>; 2],
}

impl GttWriter {
    /// The instruction to blame for the entry: the last writer of its low
    /// dword (valid bit and page address bits 12..31), else the last writer.
    #[must_use]
    pub fn origin(&self) -> CsIp {
        self.dword_at[0].unwrap_or(self.at)
    }
}

/// The VMM stopping the VM (QEMU `hw_error`), as it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatalStop {
    /// The VMM's message.
    pub message: String,
    /// The guest instruction whose access stopped it.
    pub at: CsIp,
}

/// Per-entry record of the guest's GTT writes (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct GttLedger {
    pte_size: u64,
    entries: u64,
    writers: BTreeMap<u64, GttWriter>,
    outcomes: Vec<String>,
    /// Index into `outcomes` by outcome and reason variant (the name depends
    /// on nothing else), so a GTT write formats no text once its kind is seen.
    outcome_index: Vec<(OutcomeKind, u16)>,
    fatal: Option<FatalStop>,
    writes: u64,
    beyond: u64,
}

/// An outcome's variant and its reason's variant.
type OutcomeKind = (
    std::mem::Discriminant<Outcome>,
    Option<std::mem::Discriminant<Reason>>,
);

fn outcome_kind(o: &Outcome) -> OutcomeKind {
    let reason = match o {
        Outcome::Rewritten { reason, .. }
        | Outcome::Replaced { reason, .. }
        | Outcome::Emulated { reason }
        | Outcome::Refused { reason } => Some(std::mem::discriminant(reason)),
        Outcome::Forwarded | Outcome::Fatal { .. } => None,
    };
    (std::mem::discriminant(o), reason)
}

/// The kind of a reason (its variant name), without the per-entry values, so
/// runs of entries with the same treatment fold together.
fn reason_kind(reason: &Reason) -> String {
    let text = format!("{reason:?}");
    text.split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A short name for what the passthrough layer did with a write.
#[must_use]
pub fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Forwarded => "forwarded".into(),
        Outcome::Rewritten { reason, .. } => format!("rewritten: {}", reason_kind(reason)),
        Outcome::Replaced { reason, .. } => format!("replaced: {}", reason_kind(reason)),
        Outcome::Emulated { reason } => format!("emulated: {}", reason_kind(reason)),
        Outcome::Refused { reason } => format!("refused: {}", reason_kind(reason)),
        Outcome::Fatal { .. } => "VM stopped".into(),
    }
}

impl GttLedger {
    /// A ledger for a GTT of `gtt_bytes` bytes of `pte_size`-byte entries.
    #[must_use]
    pub fn new(pte_size: u64, gtt_bytes: u64) -> Self {
        let pte_size = pte_size.max(1);
        Self {
            pte_size,
            entries: gtt_bytes / pte_size,
            ..Self::default()
        }
    }

    /// Record one passthrough event caused by the guest instruction at `at`.
    pub fn record(&mut self, at: CsIp, event: &PassthroughEvent) {
        let (byte, width, value, outcome) = match event {
            PassthroughEvent::Bar4DataWrite {
                index,
                offset,
                width,
                guest_value,
                outcome,
                ..
            } => {
                if let Outcome::Fatal { message } = outcome {
                    self.stop(message, at);
                }
                // MMIO_Index bit 0: the data register reaches the GTT at byte
                // `index & !3` (igd-anchors §1.5).
                if index & 1 == 0 {
                    return;
                }
                (
                    u64::from(index & !3) + u64::from(*offset),
                    *width,
                    u64::from(*guest_value),
                    outcome,
                )
            }
            PassthroughEvent::Bar0GttWrite {
                gtt_offset,
                width,
                guest_value,
                outcome,
                ..
            } => {
                if let Outcome::Fatal { message } = outcome {
                    self.stop(message, at);
                }
                (*gtt_offset, *width, *guest_value, outcome)
            }
            _ => return,
        };
        self.writes += 1;
        let kind = outcome_kind(outcome);
        let outcome = match self.outcome_index.iter().find(|(k, _)| *k == kind) {
            Some((_, i)) => *i,
            None => {
                let name = outcome_name(outcome);
                let i = match self.outcomes.iter().position(|o| *o == name) {
                    Some(i) => i,
                    None => {
                        self.outcomes.push(name);
                        self.outcomes.len() - 1
                    }
                };
                let i = u16::try_from(i).unwrap_or(u16::MAX);
                self.outcome_index.push((kind, i));
                i
            }
        };
        let mut last_entry = None;
        for i in 0..u64::from(width.min(8)) {
            let b = byte.wrapping_add(i);
            let entry = b / self.pte_size;
            if entry >= self.entries {
                if last_entry != Some(entry) {
                    self.beyond += 1;
                }
                last_entry = Some(entry);
                continue;
            }
            last_entry = Some(entry);
            let shift = (b % self.pte_size) * 8;
            let v = (value >> (i * 8)) & 0xFF;
            let w = self.writers.entry(entry).or_insert(GttWriter {
                guest: 0,
                outcome,
                at,
                dword_at: [None; 2],
            });
            if let Some(d) = w.dword_at.get_mut(((b % self.pte_size) / 4) as usize) {
                *d = Some(at);
            }
            if shift < 64 {
                w.guest = (w.guest & !(0xFF << shift)) | (v << shift);
            }
            w.outcome = outcome;
            w.at = at;
        }
    }

    fn stop(&mut self, message: &str, at: CsIp) {
        if self.fatal.is_none() {
            self.fatal = Some(FatalStop {
                message: message.to_string(),
                at,
            });
        }
    }

    /// The record of entry `index`, when the guest wrote it.
    #[must_use]
    pub fn get(&self, index: u64) -> Option<&GttWriter> {
        self.writers.get(&index)
    }

    /// What the guest wrote to entry `index`, when it did.
    #[must_use]
    pub fn guest_value(&self, index: u64) -> Option<u64> {
        self.writers.get(&index).map(|w| w.guest)
    }

    /// Every entry the guest wrote, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &GttWriter)> + '_ {
        self.writers.iter().map(|(i, w)| (*i, w))
    }

    /// The outcome name of a writer's last write.
    #[must_use]
    pub fn outcome(&self, w: &GttWriter) -> &str {
        self.outcomes
            .get(usize::from(w.outcome))
            .map_or("", String::as_str)
    }

    /// Entries the guest wrote.
    #[must_use]
    pub fn entries_written(&self) -> u64 {
        self.writers.len() as u64
    }

    /// GTT writes recorded (BAR0 GTT-half and BAR4 data writes with the GTT
    /// bit), including those past the end of the GTT.
    #[must_use]
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Entries written past the end of the GTT (not kept).
    #[must_use]
    pub fn beyond_gtt(&self) -> u64 {
        self.beyond
    }

    /// The first time the VMM stopped the VM.
    #[must_use]
    pub fn fatal(&self) -> Option<&FatalStop> {
        self.fatal.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar0(offset: u64, width: u8, value: u64) -> PassthroughEvent {
        PassthroughEvent::Bar0GttWrite {
            gtt_offset: offset,
            width,
            guest_value: value,
            outcome: Outcome::Forwarded,
            gtt: Vec::new(),
        }
    }

    fn bar4(index: u32, offset: u8, width: u8, value: u32) -> PassthroughEvent {
        PassthroughEvent::Bar4DataWrite {
            index,
            offset,
            width,
            guest_value: value,
            outcome: Outcome::Forwarded,
            gtt: Vec::new(),
        }
    }

    #[test]
    fn sixty_four_bit_pte_from_two_dwords_through_bar0() {
        let mut l = GttLedger::new(8, 1 << 20);
        let at = CsIp::new(0xC000, 0x10);
        l.record(at, &bar0(8, 4, 0x7ff0_0003));
        l.record(CsIp::new(0xC000, 0x14), &bar0(12, 4, 0));
        assert_eq!(l.guest_value(1), Some(0x7ff0_0003), "high dword kept apart");
        l.record(at, &bar0(12, 4, 0x1));
        assert_eq!(l.guest_value(1), Some(0x1_7ff0_0003));
        assert_eq!(l.get(1).map(|w| w.at), Some(at));
        // The low dword's writer is the one blamed.
        let mut l2 = GttLedger::new(8, 1 << 20);
        l2.record(CsIp::new(0xC000, 0x10), &bar0(8, 4, 0x7ff0_0003));
        l2.record(CsIp::new(0xC000, 0x14), &bar0(12, 4, 0));
        let w = l2.get(1).expect("entry 1");
        assert_eq!(w.at, CsIp::new(0xC000, 0x14));
        assert_eq!(w.origin(), CsIp::new(0xC000, 0x10));
        assert_eq!(
            w.dword_at,
            [Some(CsIp::new(0xC000, 0x10)), Some(CsIp::new(0xC000, 0x14))]
        );
        l.record(at, &bar0(16, 8, 0x0000_0002_0000_0005));
        assert_eq!(l.guest_value(2), Some(0x2_0000_0005));
        assert_eq!(l.entries_written(), 2);
    }

    #[test]
    fn bar4_data_register_byte_offsets() {
        let mut l = GttLedger::new(4, 1 << 20);
        let at = CsIp::new(0xC000, 0x20);
        // Entry 3 (byte 12) with the GTT bit, one byte at a time.
        for (i, b) in [0x05u32, 0x10, 0x80, 0x7f].into_iter().enumerate() {
            l.record(at, &bar4(12 | 1, i as u8, 1, b));
        }
        assert_eq!(l.guest_value(3), Some(0x7f80_1005));
        // A word at offset 2 replaces only bytes 2..4.
        l.record(at, &bar4(12 | 1, 2, 2, 0x7e00));
        assert_eq!(l.guest_value(3), Some(0x7e00_1005));
        // Without the GTT bit: not a GTT write.
        l.record(at, &bar4(16, 0, 4, 0xdead));
        assert_eq!(l.guest_value(4), None);
        // 64-bit entries: the high dword at index + 4.
        let mut l = GttLedger::new(8, 1 << 20);
        l.record(at, &bar4(8 | 1, 0, 4, 0x8b80_0003));
        l.record(at, &bar4(12 | 1, 0, 4, 0x1));
        assert_eq!(l.guest_value(1), Some(0x1_8b80_0003));
    }

    #[test]
    fn writes_past_the_gtt_are_counted_not_kept_and_the_first_stop_wins() {
        let mut l = GttLedger::new(4, 16);
        l.record(CsIp::default(), &bar0(16, 4, 1));
        l.record(CsIp::default(), &bar0(1 << 40, 8, 1));
        assert_eq!((l.entries_written(), l.beyond_gtt(), l.writes()), (0, 3, 2));
        let stop = |m: &str| PassthroughEvent::Bar4DataWrite {
            index: 1,
            offset: 0,
            width: 4,
            guest_value: 5,
            outcome: Outcome::Fatal { message: m.into() },
            gtt: Vec::new(),
        };
        l.record(CsIp::new(1, 2), &stop("first"));
        l.record(CsIp::new(3, 4), &stop("second"));
        assert_eq!(
            l.fatal(),
            Some(&FatalStop {
                message: "first".into(),
                at: CsIp::new(1, 2)
            })
        );
        assert_eq!(l.outcome(l.get(0).expect("entry 0")), "VM stopped");
    }
}
