//! A known picture drawn the way a guest draws it, to check what the display
//! engine scans out: the bytes go through the mode's linear frame buffer
//! (the aperture, the GTT, stolen memory) by INT 15h AH=87h block moves
//! issued in the guest, then the scanout decoded from the plane registers
//! must show the same picture at the mode's geometry.

use igdemu::cpu::Registers;
use igdemu::machine::Machine;

/// Guest RAM used as the source of the block moves (above the ROM area).
const STAGING: u64 = 0x0020_0000;
/// Guest RAM holding the block-move GDT.
const GDT: u64 = 0x7000;
/// Bytes per INT 15h AH=87h call (its CX counts words, at most 0x8000).
const CHUNK: usize = 0x1_0000;

/// The pattern's raw pixel value at (x, y) for a `bpp`-bit mode: distinct
/// along both axes so a wrong stride, offset or size shows up.
#[must_use]
pub fn raw_pixel(x: u32, y: u32, bpp: u32) -> u32 {
    let v = x
        .wrapping_mul(0x9E37)
        .wrapping_add(y.wrapping_mul(0x7F4A_7C15))
        ^ (y << 8);
    match bpp {
        8 => v & 0xFF,
        15 => v & 0x7FFF,
        16 => v & 0xFFFF,
        _ => v & 0x00FF_FFFF,
    }
}

/// The pattern for a `width` x `height` mode of `bpp` bits per pixel with
/// `pitch` bytes per line, as frame-buffer bytes.
#[must_use]
pub fn frame(width: u32, height: u32, bpp: u32, pitch: u32) -> Vec<u8> {
    let bytes = bpp.div_ceil(8) as usize;
    let mut out = vec![0u8; pitch as usize * height as usize];
    for y in 0..height {
        for x in 0..width {
            let at = y as usize * pitch as usize + x as usize * bytes;
            let v = raw_pixel(x, y, bpp).to_le_bytes();
            if let (Some(dst), Some(src)) = (out.get_mut(at..at + bytes), v.get(..bytes)) {
                dst.copy_from_slice(src);
            }
        }
    }
    out
}

/// One GDT data descriptor (limit 64 KiB - 1, present, writable).
fn descriptor(base: u64) -> [u8; 8] {
    let b = base.to_le_bytes();
    [0xFF, 0xFF, b[0], b[1], b[2], 0x93, 0x00, b[3]]
}

/// Copy `bytes` to guest physical `lfb` with INT 15h AH=87h calls made in
/// the guest, so every byte takes the path a guest's store takes.
pub fn draw(machine: &mut Machine, lfb: u64, bytes: &[u8]) -> Result<(), String> {
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let dst = lfb + (i * CHUNK) as u64;
        machine
            .write_guest(STAGING, chunk)
            .map_err(|e| format!("staging: {e}"))?;
        let mut gdt = [0u8; 48];
        gdt[0x10..0x18].copy_from_slice(&descriptor(STAGING));
        gdt[0x18..0x20].copy_from_slice(&descriptor(dst));
        machine
            .write_guest(GDT, &gdt)
            .map_err(|e| format!("GDT: {e}"))?;
        let r = Registers {
            eax: 0x8700,
            ecx: (chunk.len() / 2) as u32,
            es: (GDT >> 4) as u16,
            esi: (GDT & 0xF) as u32,
            ..Registers::default()
        };
        let (out, o) = machine
            .call_int(0x15, r)
            .map_err(|e| format!("INT 15h: {e}"))?;
        if !o.returned() || out.eflags & 1 != 0 {
            return Err(format!(
                "INT 15h AH=87h to {dst:#x} failed: AH={:#04x}, {o:?}",
                out.eax >> 8 & 0xFF
            ));
        }
    }
    Ok(())
}
