//! GMBUS, the display engine's I2C controller, with an EDID EEPROM at 0x50.
//!
//! Registers and bits from Linux i915 `display/intel_gmbus_regs.h`: GMBUS0
//! (+0x5100: pin pair 4:0, rate 10:8), GMBUS1 (+0x5104: `GMBUS_SW_CLR_INT`
//! 31, `GMBUS_SW_RDY` 30, cycle 27:25 = `GMBUS_CYCLE_WAIT` 1 / `INDEX` 2 /
//! `STOP` 4, byte count 24:16, slave index 15:8, slave address 7:1, read 0),
//! GMBUS2 (+0x5108: `GMBUS_INUSE` 15, `GMBUS_HW_WAIT_PHASE` 14, `GMBUS_HW_RDY`
//! 11, `GMBUS_SATOER` 10 (slave NAK), `GMBUS_ACTIVE` 9), GMBUS3 (+0x510C: data,
//! byte 0 in bits 7:0), GMBUS4 (+0x5110: interrupt mask), GMBUS5 (+0x5120:
//! `GMBUS_2BYTE_INDEX_EN` 31, index 15:0). The base is `PCH_DISPLAY_BASE`
//! 0xC0000 on PCH platforms and `VLV_DISPLAY_BASE` 0x180000 on VLV/CHV
//! (`intel_gmbus_setup`). The transfer protocol follows i915 `intel_gmbus.c`
//! (`gmbus_xfer_read_chunk`, `gmbus_xfer_write`, `gmbus_wait`).
//!
//! Model: transfers complete at once. A read cycle latches the first dword in
//! GMBUS3 and sets HW_RDY; every GMBUS3 read returns the latched dword and
//! latches the next; after the last byte HW_RDY stays set and, for a WAIT
//! cycle, HW_WAIT_PHASE is set. A STOP cycle (alone or with a transfer)
//! returns the bus to idle (ACTIVE clear). A slave other than the EDID device,
//! or pin pair 0, NAKs: SATOER set, ACTIVE clear. SW_CLR_INT resets the
//! controller state (GMBUS2) as i915's NAK recovery expects. A read of
//! GMBUS3 of any width consumes the whole latched dword.

use super::edid::{Eeprom, EDID_BLOCK, EDID_I2C_ADDR};

/// GMBUS0 offset from the GMBUS base.
pub const GMBUS0: u32 = 0x5100;
/// GMBUS1 offset from the GMBUS base.
pub const GMBUS1: u32 = 0x5104;
/// GMBUS2 offset from the GMBUS base.
pub const GMBUS2: u32 = 0x5108;
/// GMBUS3 offset from the GMBUS base.
pub const GMBUS3: u32 = 0x510C;
/// GMBUS4 offset from the GMBUS base.
pub const GMBUS4: u32 = 0x5110;
/// GMBUS5 offset from the GMBUS base.
pub const GMBUS5: u32 = 0x5120;

/// GMBUS1: software clear interrupt (controller reset).
pub const GMBUS_SW_CLR_INT: u32 = 1 << 31;
/// GMBUS1: software ready (start the cycle).
pub const GMBUS_SW_RDY: u32 = 1 << 30;
/// GMBUS1 cycle: wait phase after the transfer.
pub const GMBUS_CYCLE_WAIT: u32 = 1 << 25;
/// GMBUS1 cycle: index (slave register) phase.
pub const GMBUS_CYCLE_INDEX: u32 = 2 << 25;
/// GMBUS1 cycle: stop.
pub const GMBUS_CYCLE_STOP: u32 = 4 << 25;
/// GMBUS1: byte count shift.
pub const GMBUS_BYTE_COUNT_SHIFT: u32 = 16;
/// GMBUS1: slave read.
pub const GMBUS_SLAVE_READ: u32 = 1;
/// GMBUS2: in use (set by a read, cleared by writing 1).
pub const GMBUS_INUSE: u32 = 1 << 15;
/// GMBUS2: hardware wait phase.
pub const GMBUS_HW_WAIT_PHASE: u32 = 1 << 14;
/// GMBUS2: hardware ready (data available / space free).
pub const GMBUS_HW_RDY: u32 = 1 << 11;
/// GMBUS2: slave acknowledge time-out error (NAK).
pub const GMBUS_SATOER: u32 = 1 << 10;
/// GMBUS2: bus active.
pub const GMBUS_ACTIVE: u32 = 1 << 9;
/// GMBUS5: two-byte index enable.
pub const GMBUS_2BYTE_INDEX_EN: u32 = 1 << 31;

/// The register this controller owns at `offset` relative to its base.
fn owns(rel: u32) -> bool {
    matches!(rel, GMBUS0 | GMBUS1 | GMBUS2 | GMBUS3 | GMBUS4 | GMBUS5)
}

/// The GMBUS controller and the I2C devices on its pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gmbus {
    base: u32,
    gmbus0: u32,
    gmbus1: u32,
    gmbus2: u32,
    gmbus3: u32,
    gmbus4: u32,
    gmbus5: u32,
    /// Bytes left to move in the current cycle.
    remaining: u32,
    /// The cycle being run (GMBUS1 as written).
    cycle: u32,
    /// The EDID EEPROM.
    eeprom: Eeprom,
    /// Pin pairs (bit n = pin n) with the EDID EEPROM attached.
    pins: u32,
}

impl Gmbus {
    /// A controller at `base` (0xC0000 on PCH platforms) whose pins in the
    /// `pins` mask carry an EEPROM holding `edid`.
    #[must_use]
    pub fn new(base: u32, edid: [u8; EDID_BLOCK], pins: u32) -> Self {
        Gmbus {
            base,
            gmbus0: 0,
            gmbus1: 0,
            gmbus2: 0,
            gmbus3: 0,
            gmbus4: 0,
            gmbus5: 0,
            remaining: 0,
            cycle: 0,
            eeprom: Eeprom::new(edid),
            pins,
        }
    }

    /// Base the register offsets are relative to.
    #[must_use]
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Whether the dword at `off` (BAR0 offset) is a GMBUS register.
    #[must_use]
    pub fn handles(&self, off: u32) -> bool {
        off.checked_sub(self.base).is_some_and(owns)
    }

    /// Replace the EEPROM contents.
    pub fn set_edid(&mut self, edid: [u8; EDID_BLOCK]) {
        self.eeprom.set_edid(edid);
    }

    /// Attach the EEPROM to the pin pairs in `pins` (bit n = pin n) only.
    pub fn set_pins(&mut self, pins: u32) {
        self.pins = pins;
    }

    /// Back to the power-on state (EEPROM contents kept).
    pub fn reset(&mut self) {
        *self = Gmbus::new(self.base, self.eeprom.data(), self.pins);
    }

    /// The register value without side effects.
    #[must_use]
    pub fn peek(&self, off: u32) -> u32 {
        match off.wrapping_sub(self.base) {
            GMBUS0 => self.gmbus0,
            GMBUS1 => self.gmbus1,
            GMBUS2 => self.gmbus2,
            GMBUS3 => self.gmbus3,
            GMBUS4 => self.gmbus4,
            GMBUS5 => self.gmbus5,
            _ => 0,
        }
    }

    /// Guest read of the dword at `off`.
    pub fn read(&mut self, off: u32) -> u32 {
        match off.wrapping_sub(self.base) {
            GMBUS2 => {
                let v = self.gmbus2;
                self.gmbus2 |= GMBUS_INUSE;
                v
            }
            GMBUS3 => {
                let v = self.gmbus3;
                if self.gmbus1 & GMBUS_SLAVE_READ != 0 && self.gmbus2 & GMBUS_ACTIVE != 0 {
                    self.latch_read();
                }
                v
            }
            _ => self.peek(off),
        }
    }

    /// Guest write of `value` with byte `enables` to the dword at `off`.
    pub fn write(&mut self, off: u32, value: u32, enables: u32) {
        let merge = |old: u32| (old & !enables) | (value & enables);
        match off.wrapping_sub(self.base) {
            GMBUS0 => self.gmbus0 = merge(self.gmbus0),
            GMBUS1 => {
                let v = merge(self.gmbus1);
                self.command(v);
            }
            GMBUS2 if value & enables & GMBUS_INUSE != 0 => self.gmbus2 &= !GMBUS_INUSE,
            GMBUS3 => {
                self.gmbus3 = merge(self.gmbus3);
                if self.gmbus1 & GMBUS_SLAVE_READ == 0 && self.gmbus2 & GMBUS_ACTIVE != 0 {
                    self.take_write(self.gmbus3);
                }
            }
            GMBUS4 => self.gmbus4 = merge(self.gmbus4),
            GMBUS5 => self.gmbus5 = merge(self.gmbus5),
            _ => {}
        }
    }

    fn device_present(&self, addr: u8) -> bool {
        let pin = self.gmbus0 & 0x1F;
        addr == EDID_I2C_ADDR && pin != 0 && self.pins & (1 << pin) != 0
    }

    fn command(&mut self, v: u32) {
        self.gmbus1 = v & !GMBUS_SW_RDY;
        if v & GMBUS_SW_CLR_INT != 0 {
            self.gmbus2 &= GMBUS_INUSE;
            self.remaining = 0;
            return;
        }
        if v & GMBUS_SW_RDY == 0 {
            return;
        }
        self.cycle = v;
        let count = (v >> GMBUS_BYTE_COUNT_SHIFT) & 0x1FF;
        let addr = ((v >> 1) & 0x7F) as u8;
        // Every cycle but a bare STOP starts with the address phase, a
        // zero-byte one (a presence probe) included.
        let addressed = count > 0 || v & (GMBUS_CYCLE_INDEX | GMBUS_CYCLE_WAIT) != 0;
        self.gmbus2 &= GMBUS_INUSE;
        if addressed && !self.device_present(addr) {
            tracing::debug!(addr, pin = self.gmbus0 & 0x1F, "gmbus: no slave, NAK");
            self.gmbus2 |= GMBUS_SATOER;
            self.remaining = 0;
            return;
        }
        if v & GMBUS_CYCLE_INDEX != 0 {
            self.eeprom
                .set_pointer(if self.gmbus5 & GMBUS_2BYTE_INDEX_EN != 0 {
                    (self.gmbus5 & 0xFFFF) as usize
                } else {
                    ((v >> 8) & 0xFF) as usize
                });
        }
        self.remaining = count;
        if count == 0 {
            if addressed {
                // The slave acknowledged its address: the controller is
                // ready for the next cycle.
                self.gmbus2 |= GMBUS_HW_RDY;
            }
            self.finish();
            return;
        }
        self.gmbus2 |= GMBUS_ACTIVE;
        if v & GMBUS_SLAVE_READ != 0 {
            self.latch_read();
        } else {
            // i915 writes the first dword to GMBUS3 before GMBUS1.
            self.take_write(self.gmbus3);
        }
    }

    /// Move the next up-to-4 bytes from the EEPROM into GMBUS3.
    fn latch_read(&mut self) {
        if self.remaining == 0 {
            self.finish();
            return;
        }
        let mut v = 0u32;
        let n = self.remaining.min(4);
        for i in 0..n {
            v |= u32::from(self.eeprom.read()) << (8 * i);
        }
        self.remaining -= n;
        self.gmbus3 = v;
        self.gmbus2 |= GMBUS_HW_RDY;
    }

    /// Accept up-to-4 bytes of a write cycle: the EEPROM takes the first
    /// byte of a write as its address pointer (DDC) and ignores the rest.
    fn take_write(&mut self, v: u32) {
        let n = self.remaining.min(4);
        if n > 0 && self.remaining == (self.cycle >> GMBUS_BYTE_COUNT_SHIFT) & 0x1FF {
            self.eeprom.set_pointer((v & 0xFF) as usize % EDID_BLOCK);
        }
        self.remaining -= n;
        self.gmbus2 |= GMBUS_HW_RDY;
        if self.remaining == 0 {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if self.cycle & GMBUS_CYCLE_STOP != 0 {
            self.gmbus2 &= !(GMBUS_ACTIVE | GMBUS_HW_WAIT_PHASE);
        } else if self.cycle & GMBUS_CYCLE_WAIT != 0 {
            self.gmbus2 |= GMBUS_HW_WAIT_PHASE | GMBUS_ACTIVE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::edid::{edid, Panel};

    const BASE: u32 = 0xC_0000;

    #[test]
    fn zero_byte_probe_acks_a_present_slave_and_naks_an_absent_one() {
        let mut g = Gmbus::new(BASE, edid(&Panel::default()), 0b100);
        g.write(BASE + GMBUS0, 2, !0);
        let probe = |addr: u32| GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | GMBUS_CYCLE_STOP | (addr << 1);
        g.write(BASE + GMBUS1, probe(0x50), !0);
        let s = g.read(BASE + GMBUS2);
        assert_eq!(
            s & (GMBUS_HW_RDY | GMBUS_SATOER | GMBUS_ACTIVE),
            GMBUS_HW_RDY
        );
        g.write(BASE + GMBUS1, probe(0x37), !0);
        let s = g.read(BASE + GMBUS2);
        assert_eq!(s & (GMBUS_HW_RDY | GMBUS_SATOER), GMBUS_SATOER);
        // A bare STOP has no address phase.
        g.write(BASE + GMBUS1, GMBUS_SW_CLR_INT, !0);
        g.write(BASE + GMBUS1, GMBUS_SW_RDY | GMBUS_CYCLE_STOP, !0);
        assert_eq!(g.read(BASE + GMBUS2) & (GMBUS_SATOER | GMBUS_HW_RDY), 0);
    }

    #[test]
    fn missing_slave_naks_and_sw_clr_int_recovers() {
        let mut g = Gmbus::new(BASE, edid(&Panel::default()), 0xFFFE);
        g.write(BASE + GMBUS0, 3, !0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (4 << 16) | (0x37 << 1) | 1,
            !0,
        );
        let s = g.read(BASE + GMBUS2);
        assert_eq!(
            s & (GMBUS_SATOER | GMBUS_HW_RDY | GMBUS_ACTIVE),
            GMBUS_SATOER
        );
        g.write(BASE + GMBUS1, GMBUS_SW_CLR_INT, !0);
        g.write(BASE + GMBUS1, 0, !0);
        assert_eq!(g.read(BASE + GMBUS2) & !GMBUS_INUSE, 0);
        // Pin pair 0 (disabled) NAKs even the EEPROM address.
        g.write(BASE + GMBUS0, 0, !0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY | (1 << 16) | (0x50 << 1) | 1,
            !0,
        );
        assert_ne!(g.read(BASE + GMBUS2) & GMBUS_SATOER, 0);
    }

    #[test]
    fn inuse_is_set_by_read_and_cleared_by_write_one() {
        let mut g = Gmbus::new(BASE, [0; EDID_BLOCK], 0);
        assert_eq!(g.read(BASE + GMBUS2), 0);
        assert_eq!(g.read(BASE + GMBUS2), GMBUS_INUSE);
        g.write(BASE + GMBUS2, GMBUS_INUSE, !0);
        assert_eq!(g.peek(BASE + GMBUS2), 0);
        assert!(g.handles(BASE + GMBUS5) && !g.handles(BASE + 0x5114));
    }

    #[test]
    fn a_one_byte_write_sets_the_eeprom_pointer() {
        let mut e = [0u8; EDID_BLOCK];
        for (i, b) in e.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut g = Gmbus::new(BASE, e, 1 << 3);
        g.write(BASE + GMBUS0, 3, !0);
        g.write(BASE + GMBUS3, 0x7E, !0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (1 << 16) | (0x50 << 1),
            !0,
        );
        assert_ne!(g.read(BASE + GMBUS2) & GMBUS_HW_WAIT_PHASE, 0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (3 << 16) | (0x50 << 1) | 1,
            !0,
        );
        assert_eq!(g.read(BASE + GMBUS3), 0x00_00_7F_7E, "wraps at 128");
        g.write(BASE + GMBUS1, GMBUS_SW_RDY | GMBUS_CYCLE_STOP, !0);
        assert_eq!(g.read(BASE + GMBUS2) & GMBUS_ACTIVE, 0);
    }

    #[test]
    fn index_cycle_with_stop_reads_from_the_index_and_idles() {
        let e = edid(&Panel::default());
        let mut g = Gmbus::new(BASE, e, 1 << 2);
        g.write(BASE + GMBUS0, 2, !0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY
                | GMBUS_CYCLE_INDEX
                | GMBUS_CYCLE_STOP
                | (6 << 16)
                | (54 << 8)
                | (0x50 << 1)
                | 1,
            !0,
        );
        assert_eq!(
            g.read(BASE + GMBUS2) & (GMBUS_HW_RDY | GMBUS_ACTIVE),
            GMBUS_HW_RDY | GMBUS_ACTIVE
        );
        let a = g.read(BASE + GMBUS3).to_le_bytes();
        let b = g.read(BASE + GMBUS3).to_le_bytes();
        assert_eq!([a[0], a[1], a[2], a[3], b[0], b[1]], e[54..60]);
        assert_eq!(b[2..], [0, 0], "bytes past the count read 0");
        assert_eq!(
            g.read(BASE + GMBUS2) & (GMBUS_ACTIVE | GMBUS_HW_WAIT_PHASE),
            0
        );
        // GMBUS5 two-byte index overrides the GMBUS1 index.
        g.write(BASE + GMBUS5, GMBUS_2BYTE_INDEX_EN | 126, !0);
        g.write(
            BASE + GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_INDEX | (2 << 16) | (0x50 << 1) | 1,
            !0,
        );
        assert_eq!(
            g.read(BASE + GMBUS3) & 0xFFFF,
            u32::from(e[126]) | (u32::from(e[127]) << 8)
        );
    }
}
