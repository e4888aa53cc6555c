//! End to end: SeaVGABIOS (Debian `seabios` package, stdvga build) initializes
//! on the machine's Bochs/QEMU standard VGA and answers INT 10h from the host.

use igdemu::cpu::Registers;
use igdemu::machine::legacy::dispi_reg;
use igdemu::machine::EventKind;
use igdemu::machine::{LoadOptions, Machine, MachineConfig};
use igdemu::trace::Unhandled;

const ROM: &str = "/usr/share/seabios/vgabios-stdvga.bin";

fn rom() -> Option<Vec<u8>> {
    match std::fs::read(ROM) {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("{ROM} is required in CI (install the Debian `seabios` package): {e}");
            }
            eprintln!("SKIP: {ROM} not found ({e}); install the Debian `seabios` package");
            None
        }
    }
}

fn int10(m: &mut Machine, r: Registers) -> Registers {
    let (out, outcome) = m.call_int(0x10, r).unwrap();
    assert!(
        outcome.returned(),
        "INT 10h AX={:#06x}: {outcome:?}",
        r.ax()
    );
    out
}

fn booted() -> Option<Machine> {
    let rom = rom()?;
    let mut m = Machine::new(MachineConfig::default()).unwrap();
    let info = m.load_option_rom(&rom, LoadOptions::default()).unwrap();
    assert_eq!(info.bdf, Some(igdemu::machine::slot::STDVGA));
    let out = m.run_option_rom_init();
    assert!(out.returned(), "init: {out:?}");
    Some(m)
}

#[test]
fn seavgabios_text_mode_teletype_and_vbe() {
    let Some(mut m) = booted() else { return };
    // The ROM installed its own INT 10h handler in its segment.
    let mut ivt = [0u8; 4];
    m.read_guest(0x40, &mut ivt).unwrap();
    assert_eq!(u16::from_le_bytes([ivt[2], ivt[3]]), 0xC000);

    let mut r = Registers::default();
    r.set_ax(0x0003);
    int10(&mut m, r);
    for ch in "igdemu".bytes() {
        let mut r = Registers::default();
        r.set_ax(0x0E00 | u16::from(ch));
        r.set_bx(0x0007);
        int10(&mut m, r);
    }
    let mut screen = [0u8; 12];
    m.read_guest(0xB8000, &mut screen).unwrap();
    let text: String = screen.iter().step_by(2).map(|&b| b as char).collect();
    assert_eq!(text, "igdemu");

    // VBE controller info into a VBE2 buffer at 0000:8000.
    let mut buf = vec![0u8; 512];
    buf[..4].copy_from_slice(b"VBE2");
    m.write_guest(0x8000, &buf).unwrap();
    let mut r = Registers::default();
    r.set_ax(0x4F00);
    r.es = 0x0800;
    r.set_di(0);
    let out = int10(&mut m, r);
    assert_eq!(out.ax(), 0x004F);
    m.read_guest(0x8000, &mut buf).unwrap();
    assert_eq!(&buf[..4], b"VESA");
    let version = u16::from_le_bytes([buf[4], buf[5]]);
    assert!(version >= 0x0200, "version {version:#x}");
    let off = u16::from_le_bytes([buf[14], buf[15]]);
    let seg = u16::from_le_bytes([buf[16], buf[17]]);
    let list = (u64::from(seg) << 4) + u64::from(off);
    let mut modes = Vec::new();
    for i in 0..512u64 {
        let mut w = [0u8; 2];
        m.read_guest(list + 2 * i, &mut w).unwrap();
        let mode = u16::from_le_bytes(w);
        if mode == 0xFFFF {
            break;
        }
        modes.push(mode);
    }
    assert!(!modes.is_empty());
    let mut end = [0u8; 2];
    m.read_guest(list + 2 * modes.len() as u64, &mut end)
        .unwrap();
    assert_eq!(u16::from_le_bytes(end), 0xFFFF);

    // Find 1024x768x32 with 4F01, then set it with the LFB.
    let mut chosen = None;
    for &mode in &modes {
        let mut r = Registers::default();
        r.set_ax(0x4F01);
        r.set_cx(mode);
        r.es = 0x0900;
        r.set_di(0);
        let out = int10(&mut m, r);
        assert_eq!(out.ax(), 0x004F);
        let mut mi = [0u8; 256];
        m.read_guest(0x9000, &mut mi).unwrap();
        let w = u16::from_le_bytes([mi[0x12], mi[0x13]]);
        let h = u16::from_le_bytes([mi[0x14], mi[0x15]]);
        let bpp = mi[0x19];
        if (w, h, bpp) == (1024, 768, 32) {
            let lfb = u32::from_le_bytes([mi[0x28], mi[0x29], mi[0x2A], mi[0x2B]]);
            chosen = Some((mode, lfb));
            break;
        }
    }
    let (mode, lfb) = chosen.expect("1024x768x32 in the mode list");
    assert_eq!(
        u64::from(lfb),
        m.bar_address(igdemu::machine::slot::STDVGA, 0).unwrap()
    );
    let mut r = Registers::default();
    r.set_ax(0x4F02);
    r.set_bx(0x4000 | mode);
    let out = int10(&mut m, r);
    assert_eq!(out.ax(), 0x004F);
    let d = m.state().dispi();
    assert_eq!(d.reg(dispi_reg::XRES), 1024);
    assert_eq!(d.reg(dispi_reg::YRES), 768);
    assert_eq!(d.reg(dispi_reg::BPP), 32);
    assert_ne!(d.reg(dispi_reg::ENABLE) & 1, 0);
    // The LFB is real memory: a pixel written through it reads back.
    m.write_guest(u64::from(lfb) + 4, &[1, 2, 3, 4]).unwrap();
    let mut px = [0u8; 4];
    m.read_guest(u64::from(lfb) + 4, &mut px).unwrap();
    assert_eq!(px, [1, 2, 3, 4]);
}

#[test]
fn seavgabios_init_is_deterministic() {
    let Some(a) = booted() else { return };
    let Some(b) = booted() else { return };
    assert!(!a.trace().is_empty());
    assert_eq!(a.trace(), b.trace());
    // It found its hardware: config reads of the stdvga, DISPI programmed.
    assert!(a.trace().iter().any(|e| matches!(
        e.kind,
        EventKind::ConfigRead { bdf, offset: 0x10, .. } if bdf == igdemu::machine::slot::STDVGA
    )));
    let unhandled: Vec<_> = a
        .trace()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Unhandled(Unhandled::Port { .. })))
        .collect();
    // Only SeaVGABIOS's debug port (0x402) may go unanswered.
    assert!(
        unhandled.iter().all(|e| matches!(
            e.kind,
            EventKind::Unhandled(Unhandled::Port {
                port: 0x402 | 0x403,
                ..
            })
        )),
        "{unhandled:?}"
    );
}
