//! BIOS services implemented in Rust (high-level emulation), reached through
//! IVT stubs `out 0xEF,al ; iret` at F000:E000 + 4 × vector.
//!
//! Services: INT 1Ah AH=B1h PCI BIOS (PCI BIOS Specification 2.1, chapter 2),
//! INT 1Ah AH=00h/02h/04h time and date, INT 15h E820/E801/88h/86h/24xxh and the
//! Intel vBIOS hooks AX=5Fxxh (answers from a configurable table), INT 16h
//! keyboard basics, INT 11h/12h, and a default INT 10h. Everything else is
//! traced with the full register state and returns CF=1, AH=86h.
//!
//! The services see the CPU as a [`Registers`] value and memory through
//! [`GuestMem`], so they are testable without the CPU engine.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Registers;
use crate::machine::legacy::{cmos_reg, BIOS_TICK_DIVISOR, PIT_HZ};
use crate::machine::MachineState;
use crate::pci::Bdf;

/// Guest memory as the BIOS services see it.
pub trait GuestMem {
    /// Read `buf.len()` bytes at linear `addr`; false if unmapped.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// Write `data` at linear `addr`; false if unmapped.
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;
}

/// Outcome of one service call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Done; registers hold the results.
    Handled,
    /// Not implemented: CF=1, AH=86h were set.
    Unimplemented,
    /// A CPU exception vector reached the default stub: stop the run.
    Exception,
    /// INT 18h (boot failure) or INT 19h (bootstrap loader): the system BIOS
    /// never returns to the caller (IBM PC AT BIOS, BIOS Boot Specification
    /// 1.01 §3.3: an option ROM that gives up calls INT 18h; INT 19h
    /// restarts the boot). Stop the run: the ROM gave up.
    BootRequest,
}

/// One answer of the INT 15h AX=5Fxxh table: AX is set to `ax`, the other
/// registers only when given, CF as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Int15Answer {
    /// AX on return (005Fh = supported and successful).
    pub ax: u16,
    /// BX on return, if changed.
    pub bx: Option<u16>,
    /// CX on return, if changed.
    pub cx: Option<u16>,
    /// CL on return, if changed (CH kept; applied after `cx`).
    pub cl: Option<u8>,
    /// DX on return, if changed.
    pub dx: Option<u16>,
    /// Carry flag on return.
    pub cf: bool,
}

impl Int15Answer {
    /// "Function supported, success" with no data.
    #[must_use]
    pub const fn ok() -> Self {
        Self {
            ax: 0x005F,
            bx: None,
            cx: None,
            cl: None,
            dx: None,
            cf: false,
        }
    }
}

/// The Intel INT 15h hook answers, keyed by AX.
pub type Int15Table = BTreeMap<u16, Int15Answer>;

/// Intel vBIOS system-BIOS hook codes (coreboot `drivers/intel/gma/int15.h`).
pub mod gma_int15 {
    /// 5F34h/5F35h value: let the vBIOS use its own (VBT) default.
    pub const VBIOS_DEFAULT: u8 = 0;
    /// 5F35h boot display bits: CRT.
    pub const BOOT_DISPLAY_CRT: u8 = 1 << 0;
    /// 5F35h boot display bits: TV (eDP on later parts).
    pub const BOOT_DISPLAY_TV: u8 = 1 << 1;
    /// 5F35h boot display bits: EFP (external flat panel: DVI/HDMI/DP).
    pub const BOOT_DISPLAY_EFP: u8 = 1 << 2;
    /// 5F35h boot display bits: LFP (local flat panel).
    pub const BOOT_DISPLAY_LFP: u8 = 1 << 3;
    /// 5F34h panel fitting bits: centering.
    pub const PANEL_FIT_CENTERING: u8 = 1 << 0;
    /// 5F34h panel fitting bits: text stretching.
    pub const PANEL_FIT_TXT_STRETCH: u8 = 1 << 1;
    /// 5F34h panel fitting bits: graphics stretching.
    pub const PANEL_FIT_GFX_STRETCH: u8 = 1 << 2;
    /// 5F51h active LFP: none (the vBIOS does not enable a panel).
    pub const ACTIVE_LFP_NONE: u8 = 0;
    /// 5F51h active LFP: integrated LVDS.
    pub const ACTIVE_LFP_INT_LVDS: u8 = 1;
    /// 5F51h active LFP: SDVO LVDS.
    pub const ACTIVE_LFP_SDVO_LVDS: u8 = 2;
    /// 5F51h active LFP: eDP.
    pub const ACTIVE_LFP_EDP: u8 = 3;
}

/// What a system BIOS tells an Intel vBIOS through the INT 15h 5Fxxh hooks,
/// as coreboot's `install_intel_vga_int15_handler(active_lfp, pfit, display,
/// panel_type)` configures its handler (`drivers/intel/gma/int15.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SystemBiosHooks {
    /// 5F34h "set panel fitting" hook: CX = [`gma_int15`] `PANEL_FIT_*` bits,
    /// 0 = vBIOS default.
    pub panel_fit: u8,
    /// 5F35h "boot display device" hook: CX = `BOOT_DISPLAY_*` bits, 0 =
    /// vBIOS default.
    pub boot_display: u8,
    /// 5F40h "boot panel type" hook: CL = panel type.
    pub panel_type: u8,
    /// 5F51h "select active LFP" hook: CX = `ACTIVE_LFP_*`.
    pub active_lfp: u8,
}

impl Default for SystemBiosHooks {
    /// coreboot's defaults for a board without a panel (its desktop boards:
    /// `GMA_INT15_ACTIVE_LFP_NONE, GMA_INT15_PANEL_FIT_DEFAULT,
    /// GMA_INT15_BOOT_DISPLAY_DEFAULT`), with panel type 1 (the first panel
    /// entry; the hook numbers panels from 1).
    fn default() -> Self {
        Self {
            panel_fit: gma_int15::VBIOS_DEFAULT,
            boot_display: gma_int15::VBIOS_DEFAULT,
            panel_type: 1,
            active_lfp: gma_int15::ACTIVE_LFP_NONE,
        }
    }
}

impl SystemBiosHooks {
    /// The answers coreboot's handler gives: 5F34h, 5F35h, 5F40h, 5F51h and
    /// 5F70h (mux/switchable graphics: CH = 0 get mux, 1 set mux, 2 get SG
    /// mode, all answered CX = 0; other CH values are not handled). Every
    /// other 5Fxxh function is unsupported (AH = 86h, CF = 1), as coreboot
    /// leaves it.
    #[must_use]
    pub fn table(&self) -> Int15Table {
        let cx = |v: u8| Int15Answer {
            cx: Some(u16::from(v)),
            ..Int15Answer::ok()
        };
        let mut t = Int15Table::new();
        t.insert(0x5F34, cx(self.panel_fit));
        t.insert(0x5F35, cx(self.boot_display));
        t.insert(
            0x5F40,
            Int15Answer {
                cl: Some(self.panel_type),
                ..Int15Answer::ok()
            },
        );
        t.insert(0x5F51, cx(self.active_lfp));
        t.insert(0x5F70, cx(0));
        t
    }
}

/// Default answers for the Intel vBIOS hooks: [`SystemBiosHooks::default`].
#[must_use]
pub fn default_int15_table() -> Int15Table {
    SystemBiosHooks::default().table()
}

/// 5F70h sub-functions (CH) a system BIOS answers: get mux, set mux, get SG
/// mode (coreboot `int15.c`).
const MUX_SUBFUNCTIONS: u8 = 3;

/// PCI BIOS return codes (AH).
pub mod pci_status {
    /// Success.
    pub const SUCCESSFUL: u8 = 0x00;
    /// Function not supported.
    pub const FUNC_NOT_SUPPORTED: u8 = 0x81;
    /// Bad vendor ID (FFFFh).
    pub const BAD_VENDOR_ID: u8 = 0x83;
    /// Device not found.
    pub const DEVICE_NOT_FOUND: u8 = 0x86;
    /// Bad register number.
    pub const BAD_REGISTER_NUMBER: u8 = 0x87;
}

/// "PCI " in EDX after B101h.
pub const PCI_SIGNATURE: u32 = 0x2049_4350;
/// "SMAP".
pub const SMAP: u32 = 0x534D_4150;

fn fail(r: &mut Registers, ah: u8) -> Service {
    r.set_ah(ah);
    r.set_cf(true);
    Service::Handled
}

fn ok(r: &mut Registers) -> Service {
    r.set_cf(false);
    Service::Handled
}

/// Mark a call unimplemented: CF=1, AH=86h.
pub fn unimplemented(r: &mut Registers) -> Service {
    r.set_ah(0x86);
    r.set_cf(true);
    Service::Unimplemented
}

/// Dispatch a BIOS service for `vector`.
pub fn service(
    st: &mut MachineState,
    vector: u8,
    r: &mut Registers,
    mem: &mut dyn GuestMem,
) -> Service {
    st.sync_bda_ticks(mem);
    match vector {
        0x00 | 0x01 | 0x03 | 0x04 | 0x06 | 0x07 => Service::Exception,
        0x10 => unimplemented(r),
        0x11 => {
            let mut b = [0u8; 2];
            mem.read(crate::machine::memory::bda::EQUIPMENT, &mut b);
            r.set_ax(u16::from_le_bytes(b));
            Service::Handled
        }
        0x12 => {
            let mut b = [0u8; 2];
            mem.read(crate::machine::memory::bda::MEM_KIB, &mut b);
            r.set_ax(u16::from_le_bytes(b));
            Service::Handled
        }
        0x15 => int15(st, r, mem),
        0x16 => int16(r),
        0x18 | 0x19 => Service::BootRequest,
        0x1A => int1a(st, r, mem),
        // Hardware IRQs (never raised) and the rest: nothing to do but return.
        0x08..=0x0F | 0x70..=0x77 => Service::Handled,
        _ => unimplemented(r),
    }
}

fn int16(r: &mut Registers) -> Service {
    match r.ah() {
        // Check for keystroke: none (ZF=1).
        0x01 | 0x11 => {
            r.eflags |= Registers::ZF;
            Service::Handled
        }
        // Shift flags: none pressed.
        0x02 | 0x12 => {
            r.set_al(0);
            Service::Handled
        }
        _ => unimplemented(r),
    }
}

fn int1a(st: &mut MachineState, r: &mut Registers, mem: &mut dyn GuestMem) -> Service {
    match r.ah() {
        0x00 => {
            let mut b = [0u8; 4];
            mem.read(crate::machine::memory::bda::TICKS, &mut b);
            let t = u32::from_le_bytes(b);
            r.set_cx((t >> 16) as u16);
            r.set_dx(t as u16);
            r.set_al(0);
            ok(r)
        }
        0x02 => {
            let c = |reg| st.cmos.register(reg, &st.clock);
            r.set_ch(c(cmos_reg::HOURS));
            r.set_cl(c(cmos_reg::MINUTES));
            r.set_dh(c(cmos_reg::SECONDS));
            r.set_dl(0);
            ok(r)
        }
        0x04 => {
            let c = |reg| st.cmos.register(reg, &st.clock);
            r.set_ch(c(cmos_reg::CENTURY));
            r.set_cl(c(cmos_reg::YEAR));
            r.set_dh(c(cmos_reg::MONTH));
            r.set_dl(c(cmos_reg::DAY));
            ok(r)
        }
        0xB1 => pci_bios(st, r),
        _ => unimplemented(r),
    }
}

fn pci_bios(st: &mut MachineState, r: &mut Registers) -> Service {
    let bdf = Bdf::from_u16(r.bx());
    let reg = r.di();
    match r.al() {
        0x01 => {
            r.set_ah(pci_status::SUCCESSFUL);
            r.set_al(0x01); // config mechanism #1
            r.set_bx(0x0210); // version 2.10
            r.set_cl(0); // last bus
            r.edx = PCI_SIGNATURE;
            r.edi = 0;
            ok(r)
        }
        0x02 => {
            if r.dx() == 0xFFFF {
                return fail(r, pci_status::BAD_VENDOR_ID);
            }
            match st.pci.find_device(r.dx(), r.cx(), r.si()) {
                Some(b) => {
                    r.set_bx(b.to_u16());
                    r.set_ah(pci_status::SUCCESSFUL);
                    ok(r)
                }
                None => fail(r, pci_status::DEVICE_NOT_FOUND),
            }
        }
        0x03 => match st.pci.find_class(r.ecx & 0xFF_FFFF, r.si()) {
            Some(b) => {
                r.set_bx(b.to_u16());
                r.set_ah(pci_status::SUCCESSFUL);
                ok(r)
            }
            None => fail(r, pci_status::DEVICE_NOT_FOUND),
        },
        sub @ 0x08..=0x0D => {
            let size: u16 = match sub {
                0x08 | 0x0B => 1,
                0x09 | 0x0C => 2,
                _ => 4,
            };
            if !reg.is_multiple_of(size) || reg > 0xFFF {
                return fail(r, pci_status::BAD_REGISTER_NUMBER);
            }
            let at = st.here;
            if sub <= 0x0A {
                let v = st.config_read(at, bdf, reg, size as u8);
                match size {
                    1 => r.set_cl(v as u8),
                    2 => r.set_cx(v as u16),
                    _ => r.ecx = v,
                }
            } else {
                st.config_write(at, bdf, reg, size as u8, r.ecx);
            }
            r.set_ah(pci_status::SUCCESSFUL);
            ok(r)
        }
        _ => fail(r, pci_status::FUNC_NOT_SUPPORTED),
    }
}

fn int15(st: &mut MachineState, r: &mut Registers, mem: &mut dyn GuestMem) -> Service {
    if r.ah() == 0x5F {
        if r.ax() == 0x5F70 && r.ch() >= MUX_SUBFUNCTIONS {
            return unimplemented(r);
        }
        return match st.int15.get(&r.ax()).copied() {
            Some(a) => {
                r.set_ax(a.ax);
                if let Some(v) = a.bx {
                    r.set_bx(v);
                }
                if let Some(v) = a.cx {
                    r.set_cx(v);
                }
                if let Some(v) = a.cl {
                    r.set_cl(v);
                }
                if let Some(v) = a.dx {
                    r.set_dx(v);
                }
                r.set_cf(a.cf);
                Service::Handled
            }
            None => unimplemented(r),
        };
    }
    match r.ax() {
        0xE820 if r.edx == SMAP => {
            let entries = st.e820.entries();
            let Some(e) = entries.get(r.ebx as usize) else {
                return fail(r, 0x86);
            };
            if r.ecx < 20 {
                return fail(r, 0x86);
            }
            let addr = (u64::from(r.es) << 4) + u64::from(r.di());
            if !mem.write(addr, &e.to_bytes()) {
                return fail(r, 0x86);
            }
            let next = r.ebx as usize + 1;
            r.ebx = if next < entries.len() { next as u32 } else { 0 };
            r.eax = SMAP;
            r.ecx = 20;
            ok(r)
        }
        0xE801 => {
            let kib_1_16 = (st.e820.ram_between(1 << 20, 16 << 20) / 1024).min(0x3C00) as u16;
            let blocks = (st.e820.ram_between(16 << 20, 1 << 32) >> 16).min(0xFFFF) as u16;
            r.set_ax(kib_1_16);
            r.set_cx(kib_1_16);
            r.set_bx(blocks);
            r.set_dx(blocks);
            ok(r)
        }
        0x2400 | 0x2401 => {
            r.set_ah(0);
            ok(r)
        }
        0x2402 => {
            r.set_ax(1); // A20 enabled
            ok(r)
        }
        0x2403 => {
            r.set_ax(0);
            r.set_bx(3);
            ok(r)
        }
        _ => match r.ah() {
            0x88 => {
                let kib = (st.e820.ram_between(1 << 20, 64 << 20) / 1024).min(0xFFFF) as u16;
                r.set_ax(kib);
                ok(r)
            }
            0x86 => {
                let us = u64::from(r.cx()) << 16 | u64::from(r.dx());
                st.clock.advance_ns(us.saturating_mul(1000));
                r.set_ah(0);
                ok(r)
            }
            _ => unimplemented(r),
        },
    }
}

/// BIOS timer ticks (18.2 Hz) at the current emulated time.
#[must_use]
pub fn ticks_now(st: &MachineState) -> u32 {
    (st.clock.ticks(PIT_HZ) / BIOS_TICK_DIVISOR % 0x0018_00B0) as u32
}
