//! Legacy PC devices a video BIOS pokes: the emulated clock, the 8254 PIT
//! (ports 0x40-0x43), port 0x61, the MC146818 CMOS/RTC (0x70/0x71), the VGA
//! register file (0x3B0-0x3DF), the Bochs VBE DISPI interface (0x1CE/0x1CF) and
//! the ACPI PM timer.
//!
//! Each device is plain state driven by `read`/`write`; time comes from the
//! injected [`Clock`] (emulated, derived from the executed instruction count),
//! never the wall clock, so delay loops end and traces stay deterministic.

/// Emulated time: executed instructions times a fixed cost, plus a fixed cost
/// per I/O access and explicit waits (INT 15h AH=86h, `hlt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Guest instructions executed so far (from the block hook).
    pub instructions: u64,
    /// Nanoseconds added outside instruction execution.
    pub extra_ns: u64,
    /// Nanoseconds per instruction.
    pub ns_per_insn: u64,
}

/// Cost of one port access in emulated nanoseconds (an ISA access is ~1 µs;
/// a chipset port a few hundred ns).
pub const PORT_ACCESS_NS: u64 = 250;

impl Default for Clock {
    fn default() -> Self {
        Self {
            instructions: 0,
            extra_ns: 0,
            ns_per_insn: 1,
        }
    }
}

impl Clock {
    /// Emulated nanoseconds since power-on.
    #[must_use]
    pub fn ns(&self) -> u64 {
        self.instructions
            .saturating_mul(self.ns_per_insn)
            .saturating_add(self.extra_ns)
    }

    /// Ticks of a clock running at `hz` since power-on.
    #[must_use]
    pub fn ticks(&self, hz: u64) -> u64 {
        (u128::from(self.ns()) * u128::from(hz) / 1_000_000_000) as u64
    }

    /// Let `ns` nanoseconds pass without executing instructions.
    pub fn advance_ns(&mut self, ns: u64) {
        self.extra_ns = self.extra_ns.saturating_add(ns);
    }
}

/// PIT input clock (Hz).
pub const PIT_HZ: u64 = 1_193_182;
/// ACPI PM timer clock (Hz).
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// BIOS timer tick rate numerator/denominator: 18.2065 Hz = PIT_HZ / 65536.
pub const BIOS_TICK_DIVISOR: u64 = 65_536;
/// Port 0x61 bit 4 (refresh request) toggles every 15.085 µs.
pub const REFRESH_TOGGLE_NS: u64 = 15_085;

/// One 8254 counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PitChannel {
    reload: u16,
    /// Access mode: 1 = LSB, 2 = MSB, 3 = LSB then MSB.
    access: u8,
    mode: u8,
    /// Clock tick at which the count was loaded.
    loaded_at: u64,
    latched: Option<u16>,
    /// LSB/MSB flip-flop for reads.
    read_hi: bool,
    /// LSB/MSB flip-flop for writes.
    write_hi: bool,
    write_lsb: u8,
}

impl PitChannel {
    fn period(&self) -> u64 {
        if self.reload == 0 {
            0x1_0000
        } else {
            u64::from(self.reload)
        }
    }

    fn count(&self, now: u64) -> u16 {
        let elapsed = now.saturating_sub(self.loaded_at);
        let p = self.period();
        (p - elapsed % p) as u16
    }

    fn output(&self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.loaded_at);
        match self.mode {
            0 | 1 => elapsed >= self.period(),
            _ => elapsed % self.period() < self.period() / 2,
        }
    }
}

/// The 8254 programmable interval timer, channels 0-2 (ports 0x40-0x43).
/// Counter latch and read-back of the count in LSB/MSB/LSB-MSB access modes;
/// counts are derived from the emulated clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pit {
    ch: [PitChannel; 3],
}

impl Pit {
    /// Period of counter `index` in emulated nanoseconds (its reload value,
    /// 0 meaning 65536, at [`PIT_HZ`]); the full 65536 count for others.
    #[must_use]
    pub fn period_ns(&self, index: u8) -> u64 {
        let ticks = self
            .ch
            .get(usize::from(index))
            .map_or(0x1_0000, PitChannel::period);
        ticks.saturating_mul(1_000_000_000) / PIT_HZ
    }

    /// Read port `0x40 + index` (index 0-2; 3, the control word, reads 0xFF).
    pub fn read(&mut self, index: u8, clock: &Clock) -> u8 {
        let now = clock.ticks(PIT_HZ);
        let Some(c) = self.ch.get_mut(usize::from(index)) else {
            return 0xFF;
        };
        let value = c.latched.unwrap_or_else(|| c.count(now));
        let byte = match c.access {
            1 => value as u8,
            2 => (value >> 8) as u8,
            _ => {
                let b = if c.read_hi {
                    (value >> 8) as u8
                } else {
                    value as u8
                };
                c.read_hi = !c.read_hi;
                if c.read_hi {
                    return b;
                }
                b
            }
        };
        c.latched = None;
        byte
    }

    /// Write port `0x40 + index`.
    pub fn write(&mut self, index: u8, value: u8, clock: &Clock) {
        let now = clock.ticks(PIT_HZ);
        if index == 3 {
            let sel = usize::from(value >> 6);
            let Some(c) = self.ch.get_mut(sel) else {
                return; // read-back command: not modelled
            };
            let access = (value >> 4) & 3;
            if access == 0 {
                c.latched = Some(c.count(now));
                c.read_hi = false;
            } else {
                c.access = access;
                c.mode = (value >> 1) & 7;
                c.read_hi = false;
                c.write_hi = false;
                c.latched = None;
            }
            return;
        }
        let Some(c) = self.ch.get_mut(usize::from(index)) else {
            return;
        };
        match c.access {
            1 => c.reload = (c.reload & 0xFF00) | u16::from(value),
            2 => c.reload = (c.reload & 0x00FF) | u16::from(value) << 8,
            _ => {
                if c.write_hi {
                    c.reload = u16::from(c.write_lsb) | u16::from(value) << 8;
                    c.write_hi = false;
                } else {
                    c.write_lsb = value;
                    c.write_hi = true;
                    return;
                }
            }
        }
        c.loaded_at = now;
    }

    /// Output of channel 2 (speaker timer, seen in port 0x61 bit 5).
    #[must_use]
    pub fn ch2_output(&self, clock: &Clock) -> bool {
        self.ch[2].output(clock.ticks(PIT_HZ))
    }
}

/// Port 0x61 (NMI status and control): bits 0-1 are stored, bit 4 toggles with
/// the DRAM refresh clock, bit 5 is PIT channel 2's output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Port61 {
    control: u8,
}

impl Port61 {
    /// Read the port.
    #[must_use]
    pub fn read(&self, clock: &Clock, pit: &Pit) -> u8 {
        let refresh = (clock.ns() / REFRESH_TOGGLE_NS) & 1 == 1;
        let out2 = self.control & 1 != 0 && pit.ch2_output(clock);
        (self.control & 0x0F) | u8::from(refresh) << 4 | u8::from(out2) << 5
    }

    /// Write the port (gate and speaker bits).
    pub fn write(&mut self, value: u8) {
        self.control = value & 0x0F;
    }
}

/// CMOS register numbers (MC146818 and the PC BIOS layout).
pub mod cmos_reg {
    /// Seconds (BCD).
    pub const SECONDS: u8 = 0x00;
    /// Minutes (BCD).
    pub const MINUTES: u8 = 0x02;
    /// Hours (BCD, 24 h).
    pub const HOURS: u8 = 0x04;
    /// Day of week.
    pub const WEEKDAY: u8 = 0x06;
    /// Day of month.
    pub const DAY: u8 = 0x07;
    /// Month.
    pub const MONTH: u8 = 0x08;
    /// Year within the century.
    pub const YEAR: u8 = 0x09;
    /// Status A (bit 7 = update in progress).
    pub const STATUS_A: u8 = 0x0A;
    /// Status B (bit 1 = 24 h, bit 2 = binary).
    pub const STATUS_B: u8 = 0x0B;
    /// Status D (bit 7 = RTC power good).
    pub const STATUS_D: u8 = 0x0D;
    /// Base memory in KiB (16-bit).
    pub const BASE_MEM: u8 = 0x15;
    /// Extended memory above 1 MiB in KiB (16-bit, saturated).
    pub const EXT_MEM: u8 = 0x17;
    /// Copy of EXT_MEM.
    pub const EXT_MEM2: u8 = 0x30;
    /// Century (BCD).
    pub const CENTURY: u8 = 0x32;
    /// Memory above 16 MiB in 64 KiB blocks (16-bit, saturated).
    pub const MEM_ABOVE_16M: u8 = 0x34;
    /// Memory above 4 GiB in 64 KiB blocks (24-bit).
    pub const MEM_ABOVE_4G: u8 = 0x5B;
}

fn bcd(v: u64) -> u8 {
    let v = (v % 100) as u8;
    (v / 10) << 4 | (v % 10)
}

/// The CMOS RAM and real-time clock (ports 0x70 index, 0x71 data). The clock
/// starts at 2024-01-01 00:00:00 and advances with emulated time; the date does
/// not roll over (runs are short).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmos {
    index: u8,
    ram: [u8; 128],
}

impl Cmos {
    /// CMOS contents for a machine with `low_ram` bytes below the PCI hole and
    /// `high_ram` bytes above 4 GiB.
    #[must_use]
    pub fn new(low_ram: u64, high_ram: u64) -> Self {
        let mut ram = [0u8; 128];
        fn set8(ram: &mut [u8; 128], reg: usize, v: u8) {
            if let Some(r) = ram.get_mut(reg) {
                *r = v;
            }
        }
        let mut set16 = |reg: u8, v: u16| {
            let [lo, hi] = v.to_le_bytes();
            set8(&mut ram, usize::from(reg), lo);
            set8(&mut ram, usize::from(reg) + 1, hi);
        };
        set16(cmos_reg::BASE_MEM, 640);
        let ext_kib = (low_ram.saturating_sub(1 << 20) / 1024).min(0xFFFF) as u16;
        set16(cmos_reg::EXT_MEM, ext_kib);
        set16(cmos_reg::EXT_MEM2, ext_kib);
        let above16 = (low_ram.saturating_sub(16 << 20) >> 16).min(0xFFFF) as u16;
        set16(cmos_reg::MEM_ABOVE_16M, above16);
        let above4g = (high_ram >> 16).min(0xFF_FFFF) as u32;
        let b = above4g.to_le_bytes();
        let [b0, b1, b2, _] = b;
        set8(&mut ram, 0x5B, b0);
        set8(&mut ram, 0x5C, b1);
        set8(&mut ram, 0x5D, b2);
        set8(&mut ram, usize::from(cmos_reg::STATUS_A), 0x26);
        set8(&mut ram, usize::from(cmos_reg::STATUS_B), 0x02);
        set8(&mut ram, usize::from(cmos_reg::STATUS_D), 0x80);
        set8(&mut ram, usize::from(cmos_reg::DAY), 0x01);
        set8(&mut ram, usize::from(cmos_reg::MONTH), 0x01);
        set8(&mut ram, usize::from(cmos_reg::YEAR), 0x24);
        set8(&mut ram, usize::from(cmos_reg::CENTURY), 0x20);
        set8(&mut ram, usize::from(cmos_reg::WEEKDAY), 2); // 2024-01-01 was a Monday
        Self { index: 0, ram }
    }

    /// Select a register (port 0x70; bit 7 is the NMI mask).
    pub fn write_index(&mut self, v: u8) {
        self.index = v & 0x7F;
    }

    /// Read the selected register (port 0x71).
    #[must_use]
    pub fn read_data(&self, clock: &Clock) -> u8 {
        let secs = clock.ns() / 1_000_000_000;
        match self.index {
            cmos_reg::SECONDS => bcd(secs % 60),
            cmos_reg::MINUTES => bcd(secs / 60 % 60),
            cmos_reg::HOURS => bcd(secs / 3600 % 24),
            i => self.ram.get(usize::from(i)).copied().unwrap_or(0xFF),
        }
    }

    /// Write the selected register (port 0x71). The clock registers and
    /// status D are read-only here.
    pub fn write_data(&mut self, v: u8) {
        match self.index {
            cmos_reg::SECONDS | cmos_reg::MINUTES | cmos_reg::HOURS | cmos_reg::STATUS_D => {}
            i => {
                if let Some(b) = self.ram.get_mut(usize::from(i)) {
                    *b = v;
                }
            }
        }
    }

    /// Read a register directly (host side).
    #[must_use]
    pub fn register(&self, reg: u8, clock: &Clock) -> u8 {
        let mut c = self.clone();
        c.index = reg & 0x7F;
        c.read_data(clock)
    }
}

/// The VGA register file (ports 0x3B0-0x3DF): index/data pairs for the
/// sequencer, CRTC, graphics controller and attribute controller, the misc
/// output register, the DAC and input status 1 with retrace derived from
/// emulated time (60 Hz frames, vertical retrace in the last 1 ms, 31.5 kHz
/// lines). Values are stored and read back; nothing is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VgaRegs {
    /// Misc output (written at 0x3C2, read at 0x3CC).
    pub misc: u8,
    /// Sequencer index and registers.
    pub seq_index: u8,
    /// Sequencer registers.
    pub seq: [u8; 8],
    /// CRTC index.
    pub crtc_index: u8,
    /// CRTC registers.
    pub crtc: [u8; 32],
    /// Graphics controller index.
    pub gfx_index: u8,
    /// Graphics controller registers.
    pub gfx: [u8; 16],
    /// Attribute controller index (bit 5 = palette address source).
    pub attr_index: u8,
    /// Attribute registers.
    pub attr: [u8; 32],
    attr_flip: bool,
    /// DAC pixel mask (0x3C6).
    pub dac_mask: u8,
    dac_read: u16,
    dac_write: u16,
    /// DAC palette, 256 × RGB (6-bit components).
    pub dac: Vec<u8>,
    feature: u8,
    enable: u8,
}

impl Default for VgaRegs {
    fn default() -> Self {
        Self {
            misc: 0x67,
            seq_index: 0,
            seq: [0; 8],
            crtc_index: 0,
            crtc: [0; 32],
            gfx_index: 0,
            gfx: [0; 16],
            attr_index: 0,
            attr: [0; 32],
            attr_flip: false,
            dac_mask: 0xFF,
            dac_read: 0,
            dac_write: 0,
            dac: vec![0; 768],
            feature: 0,
            enable: 1,
        }
    }
}

/// One VGA frame at 60 Hz, in ns.
const FRAME_NS: u64 = 16_666_667;
/// Vertical retrace length.
const VRETRACE_NS: u64 = 1_000_000;
/// One scan line at 31.5 kHz.
const LINE_NS: u64 = 31_746;
/// The shortest pulse input status 1 shows (horizontal blanking, the last
/// fifth of a line): a poll of 0x3DA must not step over it.
pub const VGA_STATUS_MIN_PULSE_NS: u64 = LINE_NS / 5;

impl VgaRegs {
    /// Whether `port` belongs to the VGA register range.
    #[must_use]
    pub fn decodes(port: u16) -> bool {
        (0x3B0..=0x3DF).contains(&port)
    }

    fn mono(&self) -> bool {
        self.misc & 1 == 0
    }

    /// Byte read. Returns `None` for ports in the range the model leaves alone.
    pub fn read(&mut self, port: u16, clock: &Clock) -> Option<u8> {
        let get = |a: &[u8], i: u8| a.get(usize::from(i)).copied().unwrap_or(0xFF);
        Some(match port {
            0x3C0 => self.attr_index,
            0x3C1 => get(&self.attr, self.attr_index & 0x1F),
            0x3C2 => 0x10, // input status 0: switch sense
            0x3C3 => self.enable,
            0x3C4 => self.seq_index,
            0x3C5 => get(&self.seq, self.seq_index & 7),
            0x3C6 => self.dac_mask,
            0x3C7 => 0x03, // DAC state: read mode
            0x3C8 => (self.dac_write / 3) as u8,
            0x3C9 => {
                let v = self
                    .dac
                    .get(usize::from(self.dac_read))
                    .copied()
                    .unwrap_or(0);
                self.dac_read = (self.dac_read + 1) % 768;
                v
            }
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gfx_index,
            0x3CF => get(&self.gfx, self.gfx_index & 0xF),
            0x3B4 | 0x3D4 => self.crtc_index,
            0x3B5 | 0x3D5 => get(&self.crtc, self.crtc_index & 0x1F),
            0x3BA | 0x3DA => {
                if (port == 0x3BA) != self.mono() {
                    return None;
                }
                self.attr_flip = false;
                let t = clock.ns();
                let vr = t % FRAME_NS >= FRAME_NS - VRETRACE_NS;
                let hb = (t % LINE_NS) >= LINE_NS * 4 / 5;
                u8::from(vr || hb) | u8::from(vr) << 3
            }
            _ => return None,
        })
    }

    /// Byte write. Returns false for ports the model leaves alone.
    pub fn write(&mut self, port: u16, v: u8) -> bool {
        let set = |a: &mut [u8], i: u8, v: u8| {
            if let Some(b) = a.get_mut(usize::from(i)) {
                *b = v;
            }
        };
        match port {
            0x3C0 => {
                if self.attr_flip {
                    set(&mut self.attr, self.attr_index & 0x1F, v);
                } else {
                    self.attr_index = v & 0x3F;
                }
                self.attr_flip = !self.attr_flip;
            }
            0x3C2 => self.misc = v,
            0x3C3 => self.enable = v,
            0x3C4 => self.seq_index = v,
            0x3C5 => set(&mut self.seq, self.seq_index & 7, v),
            0x3C6 => self.dac_mask = v,
            0x3C7 => self.dac_read = u16::from(v) * 3,
            0x3C8 => self.dac_write = u16::from(v) * 3,
            0x3C9 => {
                if let Some(b) = self.dac.get_mut(usize::from(self.dac_write)) {
                    *b = v & 0x3F;
                }
                self.dac_write = (self.dac_write + 1) % 768;
            }
            0x3CE => self.gfx_index = v,
            0x3CF => set(&mut self.gfx, self.gfx_index & 0xF, v),
            0x3B4 | 0x3D4 => self.crtc_index = v,
            0x3B5 | 0x3D5 => set(&mut self.crtc, self.crtc_index & 0x1F, v),
            0x3BA | 0x3DA => self.feature = v,
            _ => return false,
        }
        true
    }
}

/// Bochs VBE DISPI register indices (QEMU `hw/display/vga.c`, Bochs
/// `iodev/vga.h`).
pub mod dispi_reg {
    /// Interface ID (0xB0C0-0xB0C5).
    pub const ID: u16 = 0;
    /// Horizontal resolution.
    pub const XRES: u16 = 1;
    /// Vertical resolution.
    pub const YRES: u16 = 2;
    /// Bits per pixel.
    pub const BPP: u16 = 3;
    /// Enable flags.
    pub const ENABLE: u16 = 4;
    /// 64 KiB bank for the A0000 window.
    pub const BANK: u16 = 5;
    /// Virtual width.
    pub const VIRT_WIDTH: u16 = 6;
    /// Virtual height.
    pub const VIRT_HEIGHT: u16 = 7;
    /// Display X offset.
    pub const X_OFFSET: u16 = 8;
    /// Display Y offset.
    pub const Y_OFFSET: u16 = 9;
    /// Video memory in 64 KiB units (read-only).
    pub const VIDEO_MEMORY_64K: u16 = 10;
    /// Number of registers.
    pub const COUNT: usize = 11;
}

/// DISPI enable bits.
pub mod dispi_enable {
    /// Display enabled.
    pub const ENABLED: u16 = 0x01;
    /// Reads of XRES/YRES/BPP return the maxima.
    pub const GETCAPS: u16 = 0x02;
    /// 8-bit DAC.
    pub const DAC8: u16 = 0x20;
    /// Linear frame buffer enabled.
    pub const LFB: u16 = 0x40;
    /// Do not clear memory on enable.
    pub const NOCLEARMEM: u16 = 0x80;
}

/// Highest DISPI ID accepted.
pub const DISPI_ID5: u16 = 0xB0C5;
/// Maximum resolution and depth reported with GETCAPS.
pub const DISPI_MAX: (u16, u16, u16) = (2560, 1600, 32);

/// The Bochs VBE DISPI interface: index at 0x1CE, 16-bit data at 0x1CF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispi {
    index: u16,
    /// The registers (see [`dispi_reg`]).
    pub regs: [u16; dispi_reg::COUNT],
}

impl Dispi {
    /// A DISPI interface with `vram` bytes of video memory.
    #[must_use]
    pub fn new(vram: u64) -> Self {
        let mut d = Self {
            index: 0,
            regs: [0u16; dispi_reg::COUNT],
        };
        d.set(dispi_reg::ID, DISPI_ID5);
        d.set(dispi_reg::XRES, 640);
        d.set(dispi_reg::YRES, 480);
        d.set(dispi_reg::BPP, 8);
        d.set(dispi_reg::VIDEO_MEMORY_64K, (vram >> 16).min(0xFFFF) as u16);
        d
    }

    /// Write the index port.
    pub fn write_index(&mut self, v: u16) {
        self.index = v;
    }

    /// Read the index port.
    #[must_use]
    pub fn read_index(&self) -> u16 {
        self.index
    }

    /// Read the data port.
    #[must_use]
    pub fn read_data(&self) -> u16 {
        let caps = self.reg(dispi_reg::ENABLE) & dispi_enable::GETCAPS != 0;
        match self.index {
            dispi_reg::XRES if caps => DISPI_MAX.0,
            dispi_reg::YRES if caps => DISPI_MAX.1,
            dispi_reg::BPP if caps => DISPI_MAX.2,
            i => self.regs.get(usize::from(i)).copied().unwrap_or(0xFFFF),
        }
    }

    /// Store a register (out-of-range indexes are ignored).
    fn set(&mut self, i: u16, v: u16) {
        if let Some(r) = self.regs.get_mut(usize::from(i)) {
            *r = v;
        }
    }

    /// A register's stored value (host side).
    #[must_use]
    pub fn reg(&self, i: u16) -> u16 {
        self.regs.get(usize::from(i)).copied().unwrap_or(0)
    }

    /// Write the data port.
    pub fn write_data(&mut self, v: u16) {
        let i = self.index;
        match i {
            dispi_reg::ID => {
                if (0xB0C0..=DISPI_ID5).contains(&v) {
                    self.set(dispi_reg::ID, v);
                }
            }
            dispi_reg::VIDEO_MEMORY_64K => {}
            dispi_reg::ENABLE => {
                self.set(i, v);
                if v & dispi_enable::ENABLED != 0 {
                    let xres = self.reg(dispi_reg::XRES);
                    let bpp = u64::from(self.reg(dispi_reg::BPP).max(8));
                    self.set(dispi_reg::VIRT_WIDTH, xres);
                    let line = u64::from(xres) * bpp.div_ceil(8);
                    let vram = u64::from(self.reg(dispi_reg::VIDEO_MEMORY_64K)) << 16;
                    let vh = vram.checked_div(line).unwrap_or(0);
                    self.set(dispi_reg::VIRT_HEIGHT, vh.min(0xFFFF) as u16);
                    self.set(dispi_reg::X_OFFSET, 0);
                    self.set(dispi_reg::Y_OFFSET, 0);
                }
            }
            _ => {
                if let Some(r) = self.regs.get_mut(usize::from(i)) {
                    *r = v;
                }
            }
        }
    }
}

/// The ACPI PM timer value (24-bit, 3.579545 MHz) at emulated time.
#[must_use]
pub fn pm_timer(clock: &Clock) -> u32 {
    (clock.ticks(PM_TIMER_HZ) & 0xFF_FFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(instructions: u64) -> Clock {
        Clock {
            instructions,
            ..Clock::default()
        }
    }

    #[test]
    fn pit_latch_reads_lsb_then_msb_of_a_decreasing_count() {
        let mut pit = Pit::default();
        let c0 = at(0);
        pit.write(3, 0b1011_0100, &c0); // ch2, lo/hi, mode 2
        pit.write(2, 0x00, &c0);
        pit.write(2, 0x10, &c0); // reload 0x1000
        let c1 = at(1_000_000); // 1 ms = 1193 ticks
        pit.write(3, 0b1000_0000, &c1); // latch ch2
        let lo = pit.read(2, &c1);
        let hi = pit.read(2, &c1);
        let count = u16::from_le_bytes([lo, hi]);
        assert_eq!(count, 0x1000 - 1193);
    }

    #[test]
    fn port61_refresh_bit_toggles_with_emulated_time() {
        let p = Port61::default();
        let pit = Pit::default();
        let a = p.read(&at(0), &pit) & 0x10;
        let b = p.read(&at(REFRESH_TOGGLE_NS), &pit) & 0x10;
        assert_ne!(a, b);
    }

    #[test]
    fn pm_timer_advances_and_wraps_at_24_bits() {
        assert_eq!(pm_timer(&at(0)), 0);
        assert_eq!(pm_timer(&at(1_000_000_000)), 3_579_545);
        assert!(pm_timer(&at(10_000_000_000)) < 1 << 24);
    }

    #[test]
    fn cmos_reports_memory_and_bcd_clock() {
        let mut c = Cmos::new(2 << 30, 0);
        c.write_index(0x80 | cmos_reg::EXT_MEM);
        assert_eq!(c.read_data(&at(0)), 0xFF);
        assert_eq!(c.register(cmos_reg::SECONDS, &at(75_000_000_000)), 0x15);
        assert_eq!(c.register(cmos_reg::MINUTES, &at(75_000_000_000)), 0x01);
        assert_eq!(c.register(cmos_reg::CENTURY, &at(0)), 0x20);
    }

    #[test]
    fn vga_attribute_flip_flop_resets_on_input_status_read() {
        let mut v = VgaRegs::default();
        let c = at(0);
        v.write(0x3C0, 0x10);
        v.write(0x3C0, 0x41);
        assert_eq!(v.attr[0x10], 0x41);
        v.write(0x3C0, 0x11); // index
        let _ = v.read(0x3DA, &c); // reset to index state
        v.write(0x3C0, 0x12);
        v.write(0x3C0, 0x99);
        assert_eq!(v.attr[0x12], 0x99);
        assert_eq!(v.attr[0x11], 0);
    }

    #[test]
    fn vga_retrace_bit_follows_emulated_frames() {
        let mut v = VgaRegs::default();
        assert_eq!(v.read(0x3DA, &at(0)).map(|s| s & 8), Some(0));
        assert_eq!(v.read(0x3DA, &at(FRAME_NS - 10)).map(|s| s & 8), Some(8));
    }

    #[test]
    fn dispi_id_getcaps_and_mode_set() {
        let mut d = Dispi::new(16 << 20);
        d.write_index(dispi_reg::ID);
        d.write_data(0xB0C0);
        assert_eq!(d.read_data(), 0xB0C0);
        d.write_data(0x1234);
        assert_eq!(d.read_data(), 0xB0C0);
        d.write_index(dispi_reg::ENABLE);
        d.write_data(dispi_enable::GETCAPS);
        d.write_index(dispi_reg::XRES);
        assert_eq!(d.read_data(), 2560);
        d.write_index(dispi_reg::ENABLE);
        d.write_data(0);
        d.write_index(dispi_reg::XRES);
        d.write_data(1024);
        d.write_index(dispi_reg::BPP);
        d.write_data(32);
        d.write_index(dispi_reg::ENABLE);
        d.write_data(dispi_enable::ENABLED | dispi_enable::LFB);
        assert_eq!(d.reg(dispi_reg::VIRT_WIDTH), 1024);
        assert_eq!(d.reg(dispi_reg::VIRT_HEIGHT), 4096);
        d.write_index(dispi_reg::VIDEO_MEMORY_64K);
        assert_eq!(d.read_data(), 256);
    }
}
