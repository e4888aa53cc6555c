//! Small option ROMs that reproduce the shapes of the waits and halts found
//! in real Intel vBIOS images, for the diagnosis tests. Written by the
//! project from a description of the shapes (no Intel code):
//!
//! - a register-read helper takes a byte address of a BAR0 register in ESI,
//!   writes the dword-aligned address to the BAR4 index port, reads the
//!   data port into EAX, and shifts the byte asked for down by
//!   `(address & 3) * 8` with `shr eax, cl`; callers poll it in a loop
//!   (`call helper; test eax, mask; jnz back`), sometimes bounded by a
//!   counter or by a deadline on the ACPI PM timer;
//! - the same helper reached with a far return (`push cs; call`, `retf`);
//! - a value read and masked, saved around a call that clobbers registers,
//!   then looked up in a table of accepted values in the ROM; no match
//!   falls into `jmp $`;
//! - a bit test on a byte lane of a register that, when it fails, ends in a
//!   `cli; hlt` loop.

use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use std::collections::BTreeMap;

use crate::image::{self, Pcir};

/// A shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// `top: call rd; test eax, 0x10000; jnz top` on 0xE1100 (no timeout).
    HelperPoll,
    /// Polls bit 31 of PCH_PP_STATUS (0xC7200): the value goes through
    /// `push`/`pop`, `shr`, `movzx` and `bt` on DX; `dec ecx; jnz` bounds it.
    CountedPoll,
    /// Polls GMBUS2 (0xC5108) bit 11 through AH; a deadline on the PM timer
    /// bounds it.
    DeadlinePoll,
    /// Polls (0x130040 & 3) == 2 through a far-returning helper.
    FarPoll,
    /// Reads CDCLK_CTL (0x46000), masks bits 10:0, saves them around a call,
    /// looks them up in a 4-entry table; no match: `jmp $`.
    TableHalt,
    /// Reads byte 3 of PCH_PP_STATUS (0xC7203) and tests bit 7 (bit 31 of
    /// the register); clear: `cli; hlt` loop.
    CliHlt,
    /// Installs an INT 10h handler whose VBE calls read PCH_PP_STATUS
    /// (0xC7200) and return AX=024Fh (failed) unless bit 31 is set: a step
    /// that returns but fails (a give-up).
    VbeGiveUp,
    /// Enters unreal mode and polls byte 3 of PCH_PP_STATUS through BAR0
    /// with `test byte ptr fs:[edi+3], 0x80; jz top` (the read is the test).
    UnrealPoll,
    /// Reads port 0x61 0x50000 times (more events than the trace keeps),
    /// then polls 0xE1100 bit 16 like [`Shape::HelperPoll`].
    LongPollThenWait,
    /// Polls the power sequence field of PCH_PP_STATUS (bits 29:28) as a
    /// number: `shr eax, 28; and al, 3; cmp al, 2; jb top` (an unsigned
    /// range compare, no timeout).
    RangePoll,
    /// Reads SWF6 (0x4F018) and tests bit 0; clear: `int 19h` (the ROM asks
    /// the system BIOS to reboot into the bootstrap loader).
    Int19Halt,
    /// Polls GMBUS2 (0xC5108) bit 11 with `loop` (0x400 rounds), gives up
    /// and returns from POST; its INT 10h handler fails every call
    /// (AX=014Fh) without reading anything: the wait that timed out in POST
    /// is the cause of the later failure.
    TimeoutThenGiveUp,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 12] = [
        Shape::HelperPoll,
        Shape::CountedPoll,
        Shape::DeadlinePoll,
        Shape::FarPoll,
        Shape::TableHalt,
        Shape::CliHlt,
        Shape::LongPollThenWait,
        Shape::VbeGiveUp,
        Shape::UnrealPoll,
        Shape::RangePoll,
        Shape::Int19Halt,
        Shape::TimeoutThenGiveUp,
    ];

    /// Name for file names and tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Shape::HelperPoll => "helper-poll",
            Shape::CountedPoll => "counted-poll",
            Shape::DeadlinePoll => "deadline-poll",
            Shape::FarPoll => "far-poll",
            Shape::TableHalt => "table-halt",
            Shape::CliHlt => "cli-hlt",
            Shape::LongPollThenWait => "long-poll-then-wait",
            Shape::VbeGiveUp => "vbe-give-up",
            Shape::UnrealPoll => "unreal-poll",
            Shape::RangePoll => "range-poll",
            Shape::Int19Halt => "int19-halt",
            Shape::TimeoutThenGiveUp => "timeout-then-give-up",
        }
    }
}

/// A built shape: the image and the IPs of its labels (`top`, `end`,
/// `read`, `branch`, `halt`, `timeout`, `expired`).
#[derive(Clone, Debug)]
pub struct ShapeRom {
    /// The image (checksum fixed).
    pub bytes: Vec<u8>,
    /// Label IPs in segment C000.
    pub labels: BTreeMap<&'static str, u16>,
}

/// The device ID the images carry.
pub const DEVICE: u16 = 0x0126;
const SIZE: usize = 0x1000;
const CODE: usize = 0x100;
const VAR_IO: u32 = 0xF00;
const VAR_PM: u32 = 0xF02;
const TABLE: u32 = 0xF10;
const HANDLER: u32 = 0xC00;
const GDT: u16 = 0xF40;
const GDTR: u32 = 0xF50;
/// Values the table of [`Shape::TableHalt`] accepts.
pub const TABLE_VALUES: [u16; 4] = [0x1A1, 0x2A1, 0x3A1, 0x4A1];

const fn cf8(dev: u32, off: u32) -> u32 {
    0x8000_0000 | (dev << 11) | off
}

struct Labels {
    named: Vec<(&'static str, CodeLabel)>,
}

impl Labels {
    fn mark(&mut self, a: &mut CodeAssembler, name: &'static str) -> Result<CodeLabel, IcedError> {
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        self.named.push((name, l));
        Ok(l)
    }
}

fn code(shape: Shape) -> Result<(Vec<u8>, BTreeMap<&'static str, u16>), IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let mut l = Labels { named: Vec::new() };
    let mut rd = a.create_label();
    let mut rdf = a.create_label();
    let mut done = a.create_label();
    let mut end_is_done = false;
    a.pushad()?;
    // BAR4 I/O base and the ACPI PM timer port (LPC 00:1f.0 PMBASE + 8).
    a.mov(eax, cf8(2, 0x20))?;
    a.mov(dx, 0xCF8u32)?;
    a.out(dx, eax)?;
    a.mov(dx, 0xCFCu32)?;
    a.in_(eax, dx)?;
    a.and(ax, 0xFFFCu32)?;
    a.mov(word_ptr(VAR_IO).cs(), ax)?;
    a.mov(eax, cf8(0x1F, 0x40))?;
    a.mov(dx, 0xCF8u32)?;
    a.out(dx, eax)?;
    a.mov(dx, 0xCFCu32)?;
    a.in_(eax, dx)?;
    a.and(ax, 0xFF80u32)?;
    a.add(ax, 8u32)?;
    a.mov(word_ptr(VAR_PM).cs(), ax)?;
    match shape {
        Shape::HelperPoll | Shape::LongPollThenWait => {
            if shape == Shape::LongPollThenWait {
                // A long port 0x61 poll first, longer than the trace keeps.
                a.mov(ecx, 0x5_0000u32)?;
                let mut spin = a.create_label();
                a.set_label(&mut spin)?;
                a.in_(al, 0x61u32)?;
                a.dec(ecx)?;
                a.jnz(spin)?;
            }
            a.mov(esi, 0xE1100u32)?;
            let top = l.mark(&mut a, "top")?;
            a.call(rd)?;
            a.test(eax, 0x10000u32)?;
            l.mark(&mut a, "branch")?;
            a.jnz(top)?;
            end_is_done = true;
        }
        Shape::CountedPoll => {
            let ok = done;
            a.mov(ecx, 0x00FF_FFFFu32)?;
            a.mov(esi, 0xC7200u32)?;
            let top = l.mark(&mut a, "top")?;
            a.push(ecx)?;
            a.call(rd)?;
            a.pop(ecx)?;
            a.push(eax)?;
            a.pop(ebx)?;
            a.shr(ebx, 16u32)?;
            a.movzx(edx, bx)?;
            a.bt(dx, 15u32)?;
            l.mark(&mut a, "branch")?;
            a.jc(ok)?;
            a.dec(ecx)?;
            l.mark(&mut a, "timeout")?;
            a.jnz(top)?;
            l.mark(&mut a, "expired")?;
            a.mov(al, 0xEEu32)?;
            a.out(0xE0u32, al)?;
            end_is_done = true;
        }
        Shape::DeadlinePoll => {
            let ok = done;
            a.mov(dx, word_ptr(VAR_PM).cs())?;
            a.in_(eax, dx)?;
            a.mov(edi, eax)?;
            a.mov(esi, 0xC5108u32)?;
            let top = l.mark(&mut a, "top")?;
            a.call(rd)?;
            a.test(ah, 0x08u32)?;
            l.mark(&mut a, "branch")?;
            a.jnz(ok)?;
            a.mov(dx, word_ptr(VAR_PM).cs())?;
            a.in_(eax, dx)?;
            a.sub(eax, edi)?;
            a.and(eax, 0x00FF_FFFFu32)?;
            a.cmp(eax, 0x00F0_0000u32)?;
            l.mark(&mut a, "timeout")?;
            a.jb(top)?;
            l.mark(&mut a, "expired")?;
            a.mov(al, 0xEEu32)?;
            a.out(0xE0u32, al)?;
            end_is_done = true;
        }
        Shape::FarPoll => {
            a.mov(esi, 0x130040u32)?;
            let top = l.mark(&mut a, "top")?;
            a.push(cs)?;
            a.call(rdf)?;
            a.and(eax, 3u32)?;
            a.cmp(eax, 2u32)?;
            l.mark(&mut a, "branch")?;
            a.jne(top)?;
            end_is_done = true;
        }
        Shape::TableHalt => {
            let found = done;
            a.mov(esi, 0x46000u32)?;
            a.call(rd)?;
            a.and(ax, 0x7FFu32)?;
            // Clobbers everything but AX, which it saves.
            a.push(ax)?;
            a.mov(esi, 0x4F018u32)?;
            a.call(rd)?;
            a.xor(ebx, ebx)?;
            a.pop(ax)?;
            a.mov(cx, 4u32)?;
            a.mov(si, TABLE)?;
            let top = l.mark(&mut a, "top")?;
            a.cmp(word_ptr(si).cs(), ax)?;
            l.mark(&mut a, "branch")?;
            a.je(found)?;
            a.add(si, 2u32)?;
            l.mark(&mut a, "timeout")?;
            a.loop_(top)?;
            let halt = l.mark(&mut a, "halt")?;
            a.jmp(halt)?;
        }
        Shape::RangePoll => {
            a.mov(esi, 0xC7200u32)?;
            let top = l.mark(&mut a, "top")?;
            a.call(rd)?;
            a.shr(eax, 28u32)?;
            a.and(al, 3u32)?;
            a.cmp(al, 2u32)?;
            l.mark(&mut a, "branch")?;
            a.jb(top)?;
            end_is_done = true;
        }
        Shape::Int19Halt => {
            let ok = done;
            a.mov(esi, 0x4F018u32)?;
            a.call(rd)?;
            a.test(al, 1u32)?;
            l.mark(&mut a, "branch")?;
            a.jnz(ok)?;
            l.mark(&mut a, "halt")?;
            a.int(0x19u32)?;
        }
        Shape::TimeoutThenGiveUp => {
            let mut ok = a.create_label();
            a.mov(esi, 0xC5108u32)?;
            a.mov(cx, 0x400u32)?;
            let top = l.mark(&mut a, "top")?;
            a.call(rd)?;
            a.test(ah, 0x08u32)?;
            l.mark(&mut a, "branch")?;
            a.jnz(ok)?;
            l.mark(&mut a, "timeout")?;
            a.loop_(top)?;
            l.mark(&mut a, "expired")?;
            a.mov(al, 0xEEu32)?;
            a.out(0xE0u32, al)?;
            a.set_label(&mut ok)?;
            a.push(es)?;
            a.xor(ax, ax)?;
            a.mov(es, ax)?;
            a.mov(word_ptr(0x40u32).es(), HANDLER)?;
            a.mov(word_ptr(0x42u32).es(), cs)?;
            a.pop(es)?;
        }
        Shape::VbeGiveUp => {
            // IVT entry 10h -> C000:int10.
            a.push(es)?;
            a.xor(ax, ax)?;
            a.mov(es, ax)?;
            a.mov(word_ptr(0x40u32).es(), HANDLER)?;
            a.mov(word_ptr(0x42u32).es(), cs)?;
            a.pop(es)?;
        }
        Shape::UnrealPoll => {
            a.mov(eax, cf8(2, 0x10))?;
            a.mov(dx, 0xCF8u32)?;
            a.out(dx, eax)?;
            a.mov(dx, 0xCFCu32)?;
            a.in_(eax, dx)?;
            a.and(eax, 0xFFFF_FFF0u32)?;
            a.mov(edi, eax)?;
            a.add(edi, 0xC7200u32)?;
            // FS: flat 4 GiB, back in real mode (unreal mode).
            a.cli()?;
            a.lgdt(fword_ptr(GDTR).cs())?;
            a.mov(eax, cr0)?;
            a.or(al, 1u32)?;
            a.mov(cr0, eax)?;
            a.mov(bx, 8u32)?;
            a.mov(fs, bx)?;
            a.and(al, 0xFEu32)?;
            a.mov(cr0, eax)?;
            a.xor(bx, bx)?;
            a.mov(fs, bx)?;
            let top = l.mark(&mut a, "top")?;
            a.test(byte_ptr(edi + 3).fs(), 0x80u32)?;
            l.mark(&mut a, "branch")?;
            a.jz(top)?;
            end_is_done = true;
        }
        Shape::CliHlt => {
            let ok = done;
            a.mov(esi, 0xC7203u32)?;
            a.call(rd)?;
            a.test(al, 0x80u32)?;
            l.mark(&mut a, "branch")?;
            a.jnz(ok)?;
            let fail = l.mark(&mut a, "halt")?;
            a.cli()?;
            a.hlt()?;
            a.jmp(fail)?;
        }
    }
    a.set_label(&mut done)?;
    if end_is_done {
        l.named.push(("end", done));
    }
    a.popad()?;
    a.retf()?;

    // rd: ESI = byte address of a BAR0 register -> EAX = its value shifted
    // down to that byte. Keeps every other register.
    for (label, far) in [(&mut rd, false), (&mut rdf, true)] {
        a.set_label(label)?;
        a.push(cx)?;
        a.push(edx)?;
        a.mov(dx, word_ptr(VAR_IO).cs())?;
        a.mov(eax, esi)?;
        a.mov(cl, al)?;
        a.and(al, 0xFCu32)?;
        a.out(dx, eax)?;
        a.add(dx, 4u32)?;
        if !far {
            l.named.push(("read", a.create_label()));
            if let Some((_, lab)) = l.named.last_mut() {
                a.set_label(lab)?;
            }
        }
        a.in_(eax, dx)?;
        a.and(cl, 3u32)?;
        a.shl(cl, 3u32)?;
        a.shr(eax, cl)?;
        a.pop(edx)?;
        a.pop(cx)?;
        if far {
            a.retf()?;
        } else {
            a.ret()?;
        }
    }
    let res = a.assemble_options(
        CODE as u64,
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let mut labels = BTreeMap::new();
    for (name, lab) in &l.named {
        labels.insert(*name, res.label_ip(lab)? as u16);
    }
    Ok((res.inner.code_buffer, labels))
}

/// The INT 10h handler of [`Shape::VbeGiveUp`], at [`HANDLER`]: reads
/// PCH_PP_STATUS through BAR4 and fails the call unless bit 31 is set.
fn handler() -> Result<(Vec<u8>, BTreeMap<&'static str, u16>), IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let mut l = Labels { named: Vec::new() };
    let mut ok = a.create_label();
    a.push(edx)?;
    a.mov(dx, word_ptr(VAR_IO).cs())?;
    a.mov(eax, 0xC7200u32)?;
    a.out(dx, eax)?;
    a.add(dx, 4u32)?;
    l.mark(&mut a, "read")?;
    a.in_(eax, dx)?;
    a.pop(edx)?;
    a.bt(eax, 31u32)?;
    l.mark(&mut a, "branch")?;
    a.jc(ok)?;
    a.mov(ax, 0x024Fu32)?;
    a.iret()?;
    a.set_label(&mut ok)?;
    a.mov(ax, 0x004Fu32)?;
    a.iret()?;
    let res = a.assemble_options(
        u64::from(HANDLER),
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let mut labels = BTreeMap::new();
    for (name, lab) in &l.named {
        labels.insert(*name, res.label_ip(lab)? as u16);
    }
    Ok((res.inner.code_buffer, labels))
}

/// Build a shape's image.
///
/// # Errors
/// Assembly errors (none for these fixed sequences; a test builds them all).
pub fn build_shape(shape: Shape) -> Result<ShapeRom, IcedError> {
    let mut img = vec![0u8; SIZE];
    image::write_header(&mut img, CODE as u16);
    image::write_pcir(
        &mut img,
        &Pcir::intel_display(DEVICE, vec![DEVICE], image::CODE_TYPE_X86),
    );
    let (body, mut labels) = code(shape)?;
    img[CODE..CODE + body.len()].copy_from_slice(&body);
    if shape == Shape::TimeoutThenGiveUp {
        // mov ax, 014Fh; iret: every VBE call fails.
        let at = HANDLER as usize;
        img[at..at + 4].copy_from_slice(&[0xB8, 0x4F, 0x01, 0xCF]);
    }
    if shape == Shape::VbeGiveUp {
        let (h, hl) = handler()?;
        let at = HANDLER as usize;
        img[at..at + h.len()].copy_from_slice(&h);
        labels.extend(hl);
    }
    for (k, v) in TABLE_VALUES.iter().enumerate() {
        let at = TABLE as usize + 2 * k;
        img[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    // A flat 4 GiB read/write data segment for unreal mode.
    image::write_gdt(
        &mut img,
        GDT,
        GDTR as u16,
        &[0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0],
    );
    image::fix_checksum(&mut img);
    Ok(ShapeRom { bytes: img, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_builds_with_its_labels() {
        for s in Shape::ALL {
            let r = build_shape(s).unwrap();
            assert_eq!(image::checksum(&r.bytes), 0);
            assert!(r.labels.contains_key("read"), "{}", s.name());
            assert!(r.labels.contains_key("branch"), "{}", s.name());
            assert!((r.labels["read"] as usize) < VAR_IO as usize);
        }
    }
}
