//! Deliberately broken option ROMs, one per failure a run must turn into a typed
//! outcome (never a panic, never a hang): malformed images for the loader, and
//! well-formed images whose code misbehaves for the CPU.

use iced_x86::code_asm::*;

use crate::image::{self, Pcir};
use igdemu::cpu::rom::HDR_PCIR_PTR;

/// A kind of broken ROM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Broken {
    /// The size byte claims more bytes than the file has.
    Truncated,
    /// The bytes do not sum to zero.
    BadChecksum,
    /// The PCIR pointer points past the end of the image.
    PcirOutOfBounds,
    /// The PCIR pointer points at bytes that are not "PCIR".
    BadPcirSignature,
    /// Only an EFI image (code type 3), no x86 code.
    EfiOnly,
    /// Init never returns: `jmp $`.
    InfiniteLoop,
    /// Init enters protected mode and far-jumps into a segment based in the
    /// unmapped hole between RAM and the PCI MMIO window.
    JumpUnmapped,
    /// Init installs an INT 10h handler that writes into the ROM's own image; the
    /// write faults once the shadow is write-protected.
    WriteAfterProtect,
    /// Init recurses with `call` until the stack wraps.
    StackOverflow,
    /// Init loads an empty IDT and raises an exception: a triple fault on real
    /// hardware.
    TripleFault,
    /// An undefined opcode (`ud2`).
    InvalidOpcode,
}

impl Broken {
    /// All kinds.
    pub const ALL: [Broken; 11] = [
        Broken::Truncated,
        Broken::BadChecksum,
        Broken::PcirOutOfBounds,
        Broken::BadPcirSignature,
        Broken::EfiOnly,
        Broken::InfiniteLoop,
        Broken::JumpUnmapped,
        Broken::WriteAfterProtect,
        Broken::StackOverflow,
        Broken::TripleFault,
        Broken::InvalidOpcode,
    ];

    /// Name for file names and tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Broken::Truncated => "truncated",
            Broken::BadChecksum => "bad-checksum",
            Broken::PcirOutOfBounds => "pcir-out-of-bounds",
            Broken::BadPcirSignature => "bad-pcir-signature",
            Broken::EfiOnly => "efi-only",
            Broken::InfiniteLoop => "infinite-loop",
            Broken::JumpUnmapped => "jump-unmapped",
            Broken::WriteAfterProtect => "write-after-protect",
            Broken::StackOverflow => "stack-overflow",
            Broken::TripleFault => "triple-fault",
            Broken::InvalidOpcode => "invalid-opcode",
        }
    }
}

/// Linear base of the code segment [`Broken::JumpUnmapped`] jumps into: above a
/// 2 GiB guest's RAM and below the PCI MMIO window.
pub const UNMAPPED_TARGET: u32 = 0x9000_0000;

const SIZE: usize = 0x800;
const CODE: usize = 0x100;
const HANDLER_FLAG: u16 = 0x80;
const GDT: u16 = 0xC0;
const GDTR: u16 = 0xD8;
const IDTR: u16 = 0xE0;

fn code(kind: Broken) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(16)?;
    match kind {
        Broken::InfiniteLoop => {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            a.jmp(l)?;
        }
        Broken::JumpUnmapped => {
            a.cli()?;
            a.lgdt(fword_ptr(u32::from(GDTR)).cs())?;
            a.mov(eax, cr0)?;
            a.or(al, 1u32)?;
            a.mov(cr0, eax)?;
            a.jmp_far(8, 0)?;
        }
        Broken::WriteAfterProtect => {
            // INT 10h handler at CODE + 0x40: increments a counter in the image.
            a.push(ds)?;
            a.xor(ax, ax)?;
            a.mov(ds, ax)?;
            a.mov(word_ptr(0x40u32), (CODE + 0x40) as u32)?;
            a.mov(word_ptr(0x42u32), cs)?;
            a.pop(ds)?;
            a.retf()?;
        }
        Broken::StackOverflow => {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            a.push(eax)?;
            a.call(l)?;
        }
        Broken::TripleFault => {
            a.lidt(fword_ptr(u32::from(IDTR)).cs())?;
            a.xor(ax, ax)?;
            a.div(ax)?; // #DE with no usable IDT
        }
        Broken::InvalidOpcode => {
            a.ud2()?;
        }
        _ => {
            a.retf()?;
        }
    }
    a.assemble(CODE as u64)
}

fn handler() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(16)?;
    a.inc(word_ptr(u32::from(HANDLER_FLAG)).cs())?;
    a.iret()?;
    a.assemble((CODE + 0x40) as u64)
}

/// Build a broken ROM image.
#[must_use]
pub fn build_broken(kind: Broken) -> Vec<u8> {
    let mut img = vec![0u8; SIZE];
    image::write_header(&mut img, CODE as u16);
    let code_type = if kind == Broken::EfiOnly {
        image::CODE_TYPE_EFI
    } else {
        image::CODE_TYPE_X86
    };
    image::write_pcir(
        &mut img,
        &Pcir::intel_display(0x0126, vec![0x0126], code_type),
    );
    // Assembly of these fixed sequences cannot fail; an empty body would be a
    // bug caught by the tests below.
    let body = code(kind).unwrap_or_default();
    img[CODE..CODE + body.len()].copy_from_slice(&body);
    if kind == Broken::WriteAfterProtect {
        let h = handler().unwrap_or_default();
        img[CODE + 0x40..CODE + 0x40 + h.len()].copy_from_slice(&h);
    }
    // Flat GDT: null, code segment based at UNMAPPED_TARGET.
    let base = UNMAPPED_TARGET.to_le_bytes();
    let code_seg = [0xFF, 0xFF, base[0], base[1], base[2], 0x9A, 0x00, base[3]];
    image::write_gdt(&mut img, GDT, GDTR, &code_seg);
    // IDTR: limit 0, base 0 (an empty IDT).
    match kind {
        Broken::PcirOutOfBounds => {
            img[HDR_PCIR_PTR..HDR_PCIR_PTR + 2].copy_from_slice(&0xFFF0u16.to_le_bytes());
        }
        Broken::BadPcirSignature => {
            img[image::PCIR_OFFSET..image::PCIR_OFFSET + 4].copy_from_slice(b"PCIX");
        }
        _ => {}
    }
    image::fix_checksum(&mut img);
    match kind {
        Broken::Truncated => img.truncate(SIZE / 2),
        Broken::BadChecksum => {
            if let Some(b) = img.get_mut(CODE + 0x200) {
                *b ^= 0x5A;
            }
        }
        _ => {}
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_broken_the_way_it_says() {
        for k in Broken::ALL {
            let img = build_broken(k);
            assert_eq!(&img[..2], &[0x55, 0xAA], "{}", k.name());
            let sum_ok = image::checksum(&img) == 0;
            match k {
                Broken::Truncated => assert_eq!(img.len(), img[2] as usize * 512 / 2),
                Broken::BadChecksum => assert!(!sum_ok),
                Broken::PcirOutOfBounds => {
                    assert!(u16::from_le_bytes([img[0x18], img[0x19]]) as usize > img.len())
                }
                Broken::BadPcirSignature => assert_eq!(&img[0x40..0x44], b"PCIX"),
                Broken::EfiOnly => assert_eq!(img[0x54], image::CODE_TYPE_EFI),
                _ => {
                    assert!(sum_ok, "{}", k.name());
                    assert_ne!(img[CODE], 0, "{} has code", k.name());
                }
            }
        }
    }
}
