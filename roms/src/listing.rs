//! Disassembly listings of built ROMs (iced-x86, Intel syntax, with labels), so a
//! reader can see a personality's code without reading Rust.

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use std::fmt::Write as _;

use crate::personality::{BuiltRom, CODE_OFFSET};

/// A listing of the code of a built ROM: one line per instruction with its image
/// offset and bytes, label lines before labelled instructions.
#[must_use]
pub fn listing(rom: &BuiltRom) -> String {
    let code = rom.image.get(CODE_OFFSET..rom.code_end).unwrap_or(&[]);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; image: {} bytes, code {:#06x}..{:#06x}",
        rom.image.len(),
        CODE_OFFSET,
        rom.code_end
    );
    let mut dec = Decoder::with_ip(16, code, CODE_OFFSET as u64, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    fmt.options_mut().set_first_operand_char_index(8);
    let mut text = String::new();
    while dec.can_decode() {
        let ins = dec.decode();
        if let Some(name) = rom.symbols.get(&ins.ip()) {
            let _ = writeln!(out, "{name}:");
        }
        text.clear();
        fmt.format(&ins, &mut text);
        let start = (ins.ip() as usize).saturating_sub(CODE_OFFSET);
        let bytes = code.get(start..start + ins.len()).unwrap_or(&[]);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Name jump and call targets that are labels.
        let target = ins.near_branch_target();
        let note = rom
            .symbols
            .get(&target)
            .filter(|_| target != 0)
            .map(|n| format!("  ; -> {n}"));
        let _ = writeln!(
            out,
            "  {:04x}  {:<24} {}{}",
            ins.ip(),
            hex,
            text,
            note.unwrap_or_default()
        );
    }
    out
}
