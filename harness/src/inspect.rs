//! `igdemu inspect`: an option ROM's structure, without running it.

use igdemu::cpu::rom;
use igdemu::igd::generation;
use std::fmt::Write as _;

/// Describe `bytes` (images, PCIR, checksum, VBT, strings).
pub fn describe(name: &str, bytes: &[u8]) -> Result<String, String> {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{name}: {} bytes, sha256 {}",
        bytes.len(),
        crate::source::sha_prefix(bytes)
    );
    let images = rom::parse_images(bytes).map_err(|e| format!("{name}: {e}"))?;
    for (n, img) in images.iter().enumerate() {
        let code = bytes.get(img.offset..img.offset + img.size).unwrap_or(&[]);
        let sum = rom::checksum(code);
        let kind = match img.code_type {
            0 => "x86 (legacy BIOS)",
            1 => "Open Firmware",
            2 => "PA-RISC",
            3 => "EFI",
            _ => "unknown",
        };
        let _ = writeln!(
            o,
            "image {n} at {:#x}: {} bytes, code type {} = {kind}{}",
            img.offset,
            img.size,
            img.code_type,
            if img.last { ", last image" } else { "" }
        );
        let _ = writeln!(
            o,
            "  PCIR      vendor:device {:04x}:{:04x}, class {:06x}, image length {} bytes",
            img.vendor, img.device, img.class_code, img.image_len
        );
        let _ = writeln!(
            o,
            "  checksum  {}",
            if sum == 0 {
                "ok".to_string()
            } else {
                format!("WRONG (sum {sum:#04x}; run with --allow-bad-checksum)")
            }
        );
        if !img.device_list.is_empty() {
            let ids: Vec<String> = img
                .device_list
                .iter()
                .map(|d| match generation::lookup(*d) {
                    Ok(p) => format!("{d:04x} ({} {})", p.name, p.gen),
                    Err(_) => format!("{d:04x}"),
                })
                .collect();
            let _ = writeln!(o, "  devices   {}", ids.join(", "));
        }
        if let Some(vbt) = find(code, b"$VBT") {
            let ver = code
                .get(vbt + 20..vbt + 22)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            let bdb = find(code, b"BIOS_DATA_BLOCK ")
                .and_then(|b| code.get(b + 16..b + 18))
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            let _ = writeln!(
                o,
                "  VBT       at {:#x}, VBT version {ver}, BDB version {bdb}",
                img.offset + vbt
            );
        } else if img.vendor == 0x8086 {
            let _ = writeln!(o, "  VBT       none found");
        }
        let strings = strings(code, 8);
        if !strings.is_empty() {
            let _ = writeln!(
                o,
                "  strings   {}",
                strings
                    .iter()
                    .take(6)
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let _ = match igdemu::session::choose_device(bytes) {
        Ok((id, choice)) => {
            let what = generation::device(id).map_or_else(
                |_| String::new(),
                |d| {
                    let p = generation::info(d.platform);
                    format!(" {} {} {}", p.name, p.gen, d.variant())
                },
            );
            let why = choice.note(id).map_or(String::new(), |n| format!("; {n}"));
            writeln!(o, "run as    {id:04x}{what}{why}")
        }
        Err(e) => writeln!(o, "run as    none: {e}"),
    };
    Ok(o)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn strings(b: &[u8], min: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for &c in b {
        if (0x20..0x7F).contains(&c) {
            cur.push(char::from(c));
        } else {
            if cur.len() >= min {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    if cur.len() >= min {
        out.push(cur);
    }
    out
}
