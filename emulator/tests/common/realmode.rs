//! Tiny real-mode programs assembled with iced-x86 `code_asm` and run on a
//! machine at 0000:1000.

use iced_x86::code_asm::*;
use igdemu::cpu::{Registers, RunOutcome};
use igdemu::machine::Machine;
use igdemu::trace::CsIp;

/// Where the programs are loaded.
pub const CODE: u64 = 0x1000;

/// Assemble `f`'s program at 0000:1000 (a `hlt` is appended), run it, and
/// return the registers after it and how it ended.
pub fn run(
    m: &mut Machine,
    f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> (Registers, RunOutcome) {
    let mut a = CodeAssembler::new(16).unwrap();
    f(&mut a).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE).unwrap();
    m.write_guest(CODE, &code).unwrap();
    let until = CsIp::new(0, (CODE as u16) + code.len() as u16 - 1);
    m.run_code(CsIp::new(0, CODE as u16), until, Registers::default())
        .unwrap()
}
