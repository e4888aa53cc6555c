//! The panel power sequencer (PPS): `PANEL_POWER_ON` in `PP_CONTROL` powers
//! the panel up after the delays programmed in `PP_ON_DELAYS`, and clearing it
//! powers the panel down after `PP_OFF_DELAYS`, followed by the power-cycle
//! delay; `PP_STATUS` reports the sequence, in virtual time
//! ([`crate::vtime::Timer`]).
//!
//! Registers and fields from Linux i915 `display/intel_pps_regs.h` and their
//! use in `display/intel_pps.c`:
//! - `PP_STATUS` (+0x0): `PP_ON` 31, `PP_SEQUENCE_MASK` 29:28
//!   (`PP_SEQUENCE_NONE` 0, `PP_SEQUENCE_POWER_UP` 1, `PP_SEQUENCE_POWER_DOWN`
//!   2), `PP_CYCLE_DELAY_ACTIVE` 27, `PP_SEQUENCE_STATE_MASK` 3:0
//!   (`PP_SEQUENCE_STATE_OFF_IDLE` 0x0, `_OFF_S0_1` 0x1, `_ON_IDLE` 0x8,
//!   `_ON_S1_1` 0x9). `wait_panel_on` waits for `PP_ON | PP_SEQUENCE_NONE |
//!   PP_SEQUENCE_STATE_ON_IDLE`, `wait_panel_off` for `PP_ON` and the sequence
//!   clear, `wait_panel_power_cycle` also for `PP_CYCLE_DELAY_ACTIVE` clear.
//! - `PP_CONTROL` (+0x4): `PANEL_POWER_ON` 0; on BXT/GLK and CNP+ PCHs
//!   (no `PP_DIVISOR`, `intel_pps_get_registers`) `BXT_POWER_CYCLE_DELAY_MASK`
//!   8:4.
//! - `PP_ON_DELAYS` (+0x8): `PANEL_POWER_UP_DELAY_MASK` 28:16 (T1+T3) in
//!   100 µs units.
//! - `PP_OFF_DELAYS` (+0xC): `PANEL_POWER_DOWN_DELAY_MASK` 28:16 (T10) in
//!   100 µs units.
//! - `PP_DIVISOR` (+0x10): `PANEL_POWER_CYCLE_DELAY_MASK` 4:0 (T11+T12) in
//!   100 ms units, one-based: `intel_lvds_pps_init_hw` writes
//!   `DIV_ROUND_UP(t4, 1000) + 1` for a delay of `t4` × 100 µs, and
//!   `intel_pps_readout_hw_state` on BXT reads `(field - 1) * 1000`.
//!
//! Firmware that leaves a delay field 0 gets the eDP 1.3 figures i915 falls
//! back to (`intel_pps_init_delays_spec`): T1+T3 210 ms, T10 500 ms; the
//! power-cycle delay T12 is the eDP minimum, 500 ms.

use crate::vtime::Timer;

/// `PP_ON` in `PP_STATUS`: the panel is powered.
pub const PP_ON: u32 = 1 << 31;
/// `PP_SEQUENCE_POWER_UP` (`PP_SEQUENCE_MASK` = 1).
pub const PP_SEQUENCE_POWER_UP: u32 = 1 << 28;
/// `PP_SEQUENCE_POWER_DOWN` (`PP_SEQUENCE_MASK` = 2).
pub const PP_SEQUENCE_POWER_DOWN: u32 = 2 << 28;
/// `PP_CYCLE_DELAY_ACTIVE`: the power-cycle delay is running.
pub const PP_CYCLE_DELAY_ACTIVE: u32 = 1 << 27;
/// `PP_SEQUENCE_STATE_OFF_S0_1`: first power-up state.
pub const PP_SEQUENCE_STATE_OFF_S0_1: u32 = 0x1;
/// `PP_SEQUENCE_STATE_ON_IDLE`: powered, no sequence running.
pub const PP_SEQUENCE_STATE_ON_IDLE: u32 = 0x8;
/// `PP_SEQUENCE_STATE_ON_S1_1`: first power-down state.
pub const PP_SEQUENCE_STATE_ON_S1_1: u32 = 0x9;
/// `PANEL_POWER_ON` in `PP_CONTROL`.
pub const PANEL_POWER_ON: u32 = 1 << 0;
/// `PANEL_POWER_UP_DELAY_MASK` (T1+T3, 100 µs units) in `PP_ON_DELAYS`.
pub const PANEL_POWER_UP_DELAY_MASK: u32 = 0x1FFF << 16;
/// `PANEL_POWER_DOWN_DELAY_MASK` (T10, 100 µs units) in `PP_OFF_DELAYS`.
pub const PANEL_POWER_DOWN_DELAY_MASK: u32 = 0x1FFF << 16;
/// `PANEL_POWER_CYCLE_DELAY_MASK` (100 ms units, one-based) in `PP_DIVISOR`.
pub const PANEL_POWER_CYCLE_DELAY_MASK: u32 = 0x1F;
/// `BXT_POWER_CYCLE_DELAY_MASK` (bits 8:4) in `PP_CONTROL` without `PP_DIVISOR`.
pub const BXT_POWER_CYCLE_DELAY_MASK: u32 = 0x1F << 4;

/// Offsets of the sequencer's registers from its `PP_STATUS`.
pub const PP_STATUS_OFF: u32 = 0x0;
/// `PP_CONTROL`.
pub const PP_CONTROL_OFF: u32 = 0x4;
/// `PP_ON_DELAYS`.
pub const PP_ON_DELAYS_OFF: u32 = 0x8;
/// `PP_OFF_DELAYS`.
pub const PP_OFF_DELAYS_OFF: u32 = 0xC;
/// `PP_DIVISOR` (absent where the cycle delay is in `PP_CONTROL`).
pub const PP_DIVISOR_OFF: u32 = 0x10;

/// eDP 1.3 T1+T3 upper limit, the default power-up delay (i915
/// `intel_pps_init_delays_spec`: `t1_t3 = 210 * 10` in 100 µs units).
pub const DEFAULT_POWER_UP_NS: u64 = 210_000_000;
/// eDP 1.3 T10 upper limit, the default power-down delay (i915: `t10 = 500 * 10`).
pub const DEFAULT_POWER_DOWN_NS: u64 = 500_000_000;
/// eDP T12 minimum (power off to power on), the default power-cycle delay.
pub const DEFAULT_POWER_CYCLE_NS: u64 = 500_000_000;

const UNIT_100US: u64 = 100_000;
const UNIT_100MS: u64 = 100_000_000;

/// Where the power-cycle delay is programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CycleDelayField {
    /// `PP_DIVISOR` bits 4:0 (ILK-KBL, VLV/CHV).
    Divisor,
    /// `PP_CONTROL` bits 8:4 (BXT/GLK, CNP and later PCHs).
    Control,
}

/// Where the sequencer is in its power sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Off, idle.
    Off,
    /// Powering up until the timer.
    Up(Timer),
    /// On, idle.
    On,
    /// Powering down until the timer.
    Down(Timer),
    /// Off, the power-cycle delay running until the timer.
    Cycle(Timer),
}

/// One panel power sequencer: five registers and its sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelPowerSequencer {
    /// BAR0 offset of `PP_STATUS`.
    base: u32,
    cycle_field: CycleDelayField,
    control: u32,
    on_delays: u32,
    off_delays: u32,
    divisor: u32,
    phase: Phase,
    now_ns: u64,
}

impl PanelPowerSequencer {
    /// A sequencer whose `PP_STATUS` is at `base`, panel off.
    #[must_use]
    pub fn new(base: u32, cycle_field: CycleDelayField) -> Self {
        Self {
            base,
            cycle_field,
            control: 0,
            on_delays: 0,
            off_delays: 0,
            divisor: 0,
            phase: Phase::Off,
            now_ns: 0,
        }
    }

    /// BAR0 offset of `PP_STATUS`.
    #[must_use]
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The register index (offset from `PP_STATUS`) if `off` is one of the
    /// sequencer's registers.
    #[must_use]
    pub fn handles(&self, off: u32) -> Option<u32> {
        let rel = off.checked_sub(self.base)?;
        let last = match self.cycle_field {
            CycleDelayField::Divisor => PP_DIVISOR_OFF,
            CycleDelayField::Control => PP_OFF_DELAYS_OFF,
        };
        (rel <= last && rel & 3 == 0).then_some(rel)
    }

    /// Power-up delay T1+T3 (`PP_ON_DELAYS` 28:16, or the eDP default).
    #[must_use]
    pub fn power_up_ns(&self) -> u64 {
        match (self.on_delays & PANEL_POWER_UP_DELAY_MASK) >> 16 {
            0 => DEFAULT_POWER_UP_NS,
            n => u64::from(n) * UNIT_100US,
        }
    }

    /// Power-down delay T10 (`PP_OFF_DELAYS` 28:16, or the eDP default).
    #[must_use]
    pub fn power_down_ns(&self) -> u64 {
        match (self.off_delays & PANEL_POWER_DOWN_DELAY_MASK) >> 16 {
            0 => DEFAULT_POWER_DOWN_NS,
            n => u64::from(n) * UNIT_100US,
        }
    }

    /// Power-cycle delay T11+T12 (one-based 100 ms field, or the eDP default).
    #[must_use]
    pub fn power_cycle_ns(&self) -> u64 {
        let field = match self.cycle_field {
            CycleDelayField::Divisor => self.divisor & PANEL_POWER_CYCLE_DELAY_MASK,
            CycleDelayField::Control => (self.control & BXT_POWER_CYCLE_DELAY_MASK) >> 4,
        };
        match field {
            0 => DEFAULT_POWER_CYCLE_NS,
            n => u64::from(n - 1) * UNIT_100MS,
        }
    }

    /// Move to virtual time `now_ns`, completing the phases that ended.
    pub fn set_time(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        loop {
            self.phase = match self.phase {
                Phase::Up(t) if t.done(self.now_ns) => Phase::On,
                Phase::Down(t) if t.done(self.now_ns) => {
                    Phase::Cycle(Timer::start(t.deadline_ns, self.power_cycle_ns()))
                }
                Phase::Cycle(t) if t.done(self.now_ns) => {
                    if self.control & PANEL_POWER_ON != 0 {
                        // A power-on request waited for the cycle delay.
                        Phase::Up(Timer::start(t.deadline_ns, self.power_up_ns()))
                    } else {
                        Phase::Off
                    }
                }
                _ => break,
            };
        }
    }

    /// When the current phase ends, if a sequence is running.
    #[must_use]
    pub fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        match self.phase {
            Phase::Up(t) | Phase::Down(t) | Phase::Cycle(t) => {
                Some(t.pending(now_ns).unwrap_or(now_ns))
            }
            Phase::Off | Phase::On => None,
        }
    }

    /// `PP_STATUS` now.
    #[must_use]
    pub fn status(&self) -> u32 {
        match self.phase {
            Phase::Off => 0,
            Phase::Up(_) => PP_SEQUENCE_POWER_UP | PP_SEQUENCE_STATE_OFF_S0_1,
            Phase::On => PP_ON | PP_SEQUENCE_STATE_ON_IDLE,
            Phase::Down(_) => PP_ON | PP_SEQUENCE_POWER_DOWN | PP_SEQUENCE_STATE_ON_S1_1,
            Phase::Cycle(_) => PP_CYCLE_DELAY_ACTIVE,
        }
    }

    /// Register at `rel` (offset from `PP_STATUS`) as the guest reads it.
    #[must_use]
    pub fn read(&self, rel: u32) -> u32 {
        match rel {
            PP_STATUS_OFF => self.status(),
            PP_CONTROL_OFF => self.control,
            PP_ON_DELAYS_OFF => self.on_delays,
            PP_OFF_DELAYS_OFF => self.off_delays,
            PP_DIVISOR_OFF => self.divisor,
            _ => 0,
        }
    }

    /// Guest write of `value` with byte `enables` to the register at `rel`.
    /// `PP_STATUS` is read-only; `PP_CONTROL` starts a sequence when
    /// `PANEL_POWER_ON` changes.
    pub fn write(&mut self, rel: u32, value: u32, enables: u32) {
        let merge = |old: u32| (old & !enables) | (value & enables);
        match rel {
            PP_CONTROL_OFF => {
                self.control = merge(self.control);
                self.request(self.control & PANEL_POWER_ON != 0);
            }
            PP_ON_DELAYS_OFF => self.on_delays = merge(self.on_delays),
            PP_OFF_DELAYS_OFF => self.off_delays = merge(self.off_delays),
            PP_DIVISOR_OFF => self.divisor = merge(self.divisor),
            _ => {}
        }
    }

    fn request(&mut self, on: bool) {
        let now = self.now_ns;
        self.phase = match (self.phase, on) {
            (Phase::Off, true) => Phase::Up(Timer::start(now, self.power_up_ns())),
            // Powering down, or waiting out the cycle delay: the power-up
            // starts when the cycle delay ends (`set_time`).
            (Phase::On | Phase::Up(_), false) => {
                Phase::Down(Timer::start(now, self.power_down_ns()))
            }
            (p, _) => p,
        };
    }

    /// Power-on state: panel off, registers 0, no sequence.
    pub fn reset(&mut self) {
        *self = Self {
            now_ns: self.now_ns,
            ..Self::new(self.base, self.cycle_field)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn pps() -> PanelPowerSequencer {
        PanelPowerSequencer::new(0xC7200, CycleDelayField::Divisor)
    }

    #[test]
    fn power_up_takes_the_programmed_t1_t3() {
        let mut p = pps();
        // 200 ms = 2000 x 100 us.
        p.write(PP_ON_DELAYS_OFF, 2000 << 16, !0);
        p.set_time(5 * MS);
        p.write(PP_CONTROL_OFF, 0xABCD_0000 | PANEL_POWER_ON, !0);
        assert_eq!(
            p.status(),
            PP_SEQUENCE_POWER_UP | PP_SEQUENCE_STATE_OFF_S0_1
        );
        assert_eq!(p.next_deadline(5 * MS), Some(205 * MS));
        p.set_time(205 * MS - 1);
        assert_eq!(p.status() & PP_ON, 0);
        p.set_time(205 * MS);
        assert_eq!(p.status(), PP_ON | PP_SEQUENCE_STATE_ON_IDLE);
        assert_eq!(p.next_deadline(205 * MS), None);
        // Status is read-only.
        p.write(PP_STATUS_OFF, 0, !0);
        assert_eq!(p.read(PP_STATUS_OFF), PP_ON | PP_SEQUENCE_STATE_ON_IDLE);
    }

    #[test]
    fn zero_delays_take_the_edp_defaults() {
        let p = pps();
        assert_eq!(p.power_up_ns(), 210 * MS);
        assert_eq!(p.power_down_ns(), 500 * MS);
        assert_eq!(p.power_cycle_ns(), 500 * MS);
        let mut b = PanelPowerSequencer::new(0xC7200, CycleDelayField::Control);
        b.write(PP_CONTROL_OFF, 6 << 4, !0);
        assert_eq!(b.power_cycle_ns(), 500 * MS, "field 6: (6 - 1) x 100 ms");
        assert_eq!(b.handles(0xC7210), None, "no PP_DIVISOR");
        assert_eq!(pps().handles(0xC7210), Some(0x10));
    }

    #[test]
    fn power_down_then_cycle_delay_then_a_queued_power_up() {
        let mut p = pps();
        p.write(PP_ON_DELAYS_OFF, 10 << 16, !0); // 1 ms
        p.write(PP_OFF_DELAYS_OFF, 20 << 16, !0); // 2 ms
        p.write(PP_DIVISOR_OFF, 2, !0); // (2 - 1) x 100 ms
        p.write(PP_CONTROL_OFF, PANEL_POWER_ON, !0);
        p.set_time(MS);
        assert_eq!(p.status() & PP_ON, PP_ON);
        p.write(PP_CONTROL_OFF, 0, !0);
        assert_eq!(
            p.status(),
            PP_ON | PP_SEQUENCE_POWER_DOWN | PP_SEQUENCE_STATE_ON_S1_1
        );
        p.set_time(3 * MS);
        assert_eq!(p.status(), PP_CYCLE_DELAY_ACTIVE);
        // Power on during the cycle delay waits for it.
        p.write(PP_CONTROL_OFF, PANEL_POWER_ON, !0);
        assert_eq!(p.status(), PP_CYCLE_DELAY_ACTIVE);
        assert_eq!(p.next_deadline(3 * MS), Some(103 * MS));
        p.set_time(103 * MS);
        assert_eq!(p.status() & PP_SEQUENCE_POWER_UP, PP_SEQUENCE_POWER_UP);
        p.set_time(104 * MS);
        assert_eq!(p.status(), PP_ON | PP_SEQUENCE_STATE_ON_IDLE);
        p.reset();
        assert_eq!((p.status(), p.read(PP_CONTROL_OFF)), (0, 0));
    }
}
