//! Virtual time: how the machine lets time pass while the guest only waits,
//! and how device models schedule completions in it.
//!
//! The machine's clock ([`crate::machine::legacy::Clock`]) advances with the
//! instructions the guest executes and a fixed cost per port access. A guest
//! that waits (a loop that reads the ACPI PM timer, the PIT, port 0x61, the
//! RTC or VGA input status until enough time passed, or polls a device
//! register that completes later) would burn millions of instructions on a
//! 200 ms panel delay. The [`IdleDetector`] sees such a loop from the device
//! accesses alone (the same reads from the same instructions, returning the
//! same values, and no write) and lets the clock jump: a time-source read
//! moves time forward by a step that doubles while the loop keeps waiting,
//! bounded per source so that no edge the guest can observe is skipped (a
//! quarter of a PIT period, half a port 0x61 refresh toggle, half a VGA
//! horizontal blank), and bounded by the earliest device deadline; a repeated
//! device-register poll jumps straight to that deadline. Everything is
//! derived from the guest's own accesses, so the same ROM gives the same
//! trace.
//!
//! Device models use [`Timer`]: started at the virtual time of an access with
//! a delay, done when virtual time reaches its deadline. The bus hands
//! devices the time before each access ([`crate::machine::pci_bus::BusDevice::set_time`])
//! and asks for their next deadline
//! ([`crate::machine::pci_bus::BusDevice::next_deadline`]).

use serde::Serialize;

use crate::trace::CsIp;

/// A completion scheduled in virtual time (PLL lock, panel power-up, an AUX
/// reply): `start` at the access that began it, done `delay_ns` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Timer {
    /// Virtual time (ns) at which it completes.
    pub deadline_ns: u64,
}

impl Timer {
    /// A timer started at `now_ns` that completes `delay_ns` later.
    #[must_use]
    pub const fn start(now_ns: u64, delay_ns: u64) -> Self {
        Self {
            deadline_ns: now_ns.saturating_add(delay_ns),
        }
    }

    /// Whether it completed by `now_ns`.
    #[must_use]
    pub const fn done(&self, now_ns: u64) -> bool {
        now_ns >= self.deadline_ns
    }

    /// Its deadline if it is still pending at `now_ns` (what
    /// `BusDevice::next_deadline` reports).
    #[must_use]
    pub const fn pending(&self, now_ns: u64) -> Option<u64> {
        if self.done(now_ns) {
            None
        } else {
            Some(self.deadline_ns)
        }
    }
}

/// A time source the guest reads, with the longest jump that keeps every
/// change it shows observable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// ACPI PM timer (3.579545 MHz, 24 bits: wraps every 4.69 s).
    PmTimer,
    /// A PIT counter whose period is this many ns.
    Pit {
        /// Period of the counter in ns.
        period_ns: u64,
    },
    /// Port 0x61: refresh toggle (bit 4) and PIT channel 2 output (bit 5).
    Port61 {
        /// Period of PIT channel 2 in ns.
        ch2_period_ns: u64,
    },
    /// The MC146818 RTC (seconds, update-in-progress).
    Rtc,
    /// VGA input status 1 (0x3DA/0x3BA): display enable and vertical retrace.
    VgaStatus,
}

/// The longest jump on a PM timer or RTC read (a wait overshoots by at most
/// this much).
pub const MAX_STEP_NS: u64 = 100_000;
/// The first jump once a loop is seen waiting.
pub const FIRST_STEP_NS: u64 = 1_000;
/// Reads of a quiet loop before time starts to jump.
pub const QUIET_READS: u32 = 4;
/// Distinct (instruction, register) sites remembered for a loop.
const SITES: usize = 8;

impl TimeSource {
    /// The longest step for this source.
    #[must_use]
    pub fn max_step_ns(self) -> u64 {
        match self {
            TimeSource::PmTimer | TimeSource::Rtc => MAX_STEP_NS,
            TimeSource::Pit { period_ns } => (period_ns / 4).clamp(1, MAX_STEP_NS),
            TimeSource::Port61 { ch2_period_ns } => {
                (ch2_period_ns / 4).clamp(1, crate::machine::legacy::REFRESH_TOGGLE_NS / 2)
            }
            TimeSource::VgaStatus => crate::machine::legacy::VGA_STATUS_MIN_PULSE_NS / 2,
        }
    }
}

/// One remembered read site of the current loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Site {
    at: CsIp,
    key: u64,
    value: u64,
}

/// Sees a guest that only waits, from its device accesses (module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdleDetector {
    sites: [Option<Site>; SITES],
    next: usize,
    /// Reads since the last write or changed value.
    quiet: u32,
    /// The current jump (0 until the loop has been quiet long enough).
    step_ns: u64,
    /// Nanoseconds skipped so far (for reports and tests).
    skipped_ns: u64,
}

impl IdleDetector {
    /// A device write, an aperture access or a changed value: the guest is
    /// working, not waiting.
    pub fn activity(&mut self) {
        self.quiet = 0;
        self.step_ns = 0;
    }

    /// A read of `key` (a port or register address) at `at` returned `value`.
    /// Returns whether the loop is quiet (long enough to jump).
    pub fn read(&mut self, at: CsIp, key: u64, value: u64) -> bool {
        let hit = self
            .sites
            .iter_mut()
            .flatten()
            .find(|s| s.at == at && s.key == key);
        match hit {
            Some(s) if s.value == value => self.quiet = self.quiet.saturating_add(1),
            Some(s) => {
                s.value = value;
                self.activity();
            }
            None => {
                if let Some(slot) = self.sites.get_mut(self.next) {
                    *slot = Some(Site { at, key, value });
                }
                self.next = (self.next + 1) % SITES;
            }
        }
        self.quiet >= QUIET_READS
    }

    /// A read of time source `src` at `at`: how far to move the clock before
    /// the read (0 while the loop is not yet quiet), at most up to `deadline`
    /// (the earliest device deadline after `now_ns`, asked only once the loop
    /// is quiet: finding it walks the devices).
    pub fn time_read(
        &mut self,
        at: CsIp,
        key: u64,
        src: TimeSource,
        now_ns: u64,
        deadline: impl FnOnce() -> Option<u64>,
    ) -> u64 {
        // A time source changes by nature: remember the site with a constant
        // value so that repeated reads count as quiet.
        if !self.read(at, key, 0) {
            return 0;
        }
        let cap = src.max_step_ns();
        self.step_ns = self
            .step_ns
            .saturating_mul(2)
            .clamp(FIRST_STEP_NS.min(cap), cap);
        let step = match deadline() {
            Some(d) if d > now_ns => self.step_ns.min(d - now_ns),
            _ => self.step_ns,
        };
        self.skipped_ns = self.skipped_ns.saturating_add(step);
        step
    }

    /// A repeated device-register poll: if the loop is quiet and a device
    /// completes at `deadline` (asked only then), the time to jump to it.
    pub fn poll(
        &mut self,
        at: CsIp,
        key: u64,
        value: u64,
        now_ns: u64,
        deadline: impl FnOnce() -> Option<u64>,
    ) -> u64 {
        if !self.read(at, key, value) {
            return 0;
        }
        match deadline() {
            Some(d) if d > now_ns => {
                let jump = d - now_ns;
                self.skipped_ns = self.skipped_ns.saturating_add(jump);
                jump
            }
            _ => 0,
        }
    }

    /// Virtual nanoseconds skipped so far.
    #[must_use]
    pub const fn skipped_ns(&self) -> u64 {
        self.skipped_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: CsIp = CsIp::new(0xC000, 0x100);

    #[test]
    fn a_timer_completes_at_its_deadline() {
        let t = Timer::start(1_000, 200_000_000);
        assert_eq!(t.pending(1_000), Some(200_001_000));
        assert!(!t.done(200_000_999));
        assert!(t.done(200_001_000));
        assert_eq!(t.pending(200_001_000), None);
    }

    #[test]
    fn time_jumps_only_after_quiet_reads_and_doubles_to_the_cap() {
        let mut d = IdleDetector::default();
        let steps: Vec<u64> = (0..14)
            .map(|_| d.time_read(AT, 0x1808, TimeSource::PmTimer, 0, || None))
            .collect();
        assert_eq!(
            steps,
            vec![
                0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 100_000, 100_000,
                100_000
            ]
        );
        // A write stops it.
        d.activity();
        assert_eq!(d.time_read(AT, 0x1808, TimeSource::PmTimer, 0, || None), 0);
    }

    #[test]
    fn a_changing_register_is_work_not_waiting() {
        let mut d = IdleDetector::default();
        let st = CsIp::new(0xC000, 0x200);
        for i in 0..10u64 {
            // The status register changes every read: never quiet.
            d.read(st, 0x44000, i);
            assert_eq!(d.time_read(AT, 0x1808, TimeSource::PmTimer, 0, || None), 0);
        }
    }

    #[test]
    fn steps_stop_at_the_next_device_deadline_and_polls_jump_to_it() {
        let mut d = IdleDetector::default();
        for _ in 0..QUIET_READS {
            d.time_read(AT, 0x1808, TimeSource::PmTimer, 0, || Some(500));
        }
        assert_eq!(
            d.time_read(AT, 0x1808, TimeSource::PmTimer, 0, || Some(500)),
            500
        );
        let mut d = IdleDetector::default();
        let st = CsIp::new(0xC000, 0x200);
        let jumps: Vec<u64> = (0..6)
            .map(|_| d.poll(st, 0xC7200, 0, 1_000, || Some(200_000_000)))
            .collect();
        assert_eq!(jumps, vec![0, 0, 0, 0, 199_999_000, 199_999_000]);
    }

    #[test]
    fn per_source_caps_keep_edges_observable() {
        assert_eq!(
            TimeSource::Pit {
                period_ns: 54_925_000
            }
            .max_step_ns(),
            100_000
        );
        assert_eq!(TimeSource::Pit { period_ns: 10_000 }.max_step_ns(), 2_500);
        assert_eq!(
            TimeSource::Port61 {
                ch2_period_ns: 54_925_000
            }
            .max_step_ns(),
            7_542
        );
    }
}
