//! Discovery of ROMs that this project does not build: SeaVGABIOS images from
//! Debian's `seabios` package, and a user's own dumps in `roms/local/`.

use std::path::{Path, PathBuf};

/// Where Debian's `seabios` package installs its VGA BIOS images.
pub const SEABIOS_DIR: &str = "/usr/share/seabios";

/// Path of a SeaVGABIOS variant (`stdvga`, `cirrus`, `bochs-display`, ...).
#[must_use]
pub fn seabios_vga(variant: &str) -> PathBuf {
    Path::new(SEABIOS_DIR).join(format!("vgabios-{variant}.bin"))
}

/// The SeaVGABIOS variants installed, by name, sorted (symlinks skipped).
#[must_use]
pub fn seabios_variants() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(SEABIOS_DIR) else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(v) = name
            .strip_prefix("vgabios-")
            .and_then(|n| n.strip_suffix(".bin"))
        else {
            continue;
        };
        if e.file_type().is_ok_and(|t| !t.is_symlink()) {
            out.push((v.to_string(), e.path()));
        }
    }
    out.sort();
    out
}

/// Largest file taken as an option ROM image (PCI option ROM BARs are at
/// most 16 MiB).
pub const MAX_ROM_FILE: u64 = 16 << 20;

/// What [`scan_roms`] found below a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RomScan {
    /// Files recognised as option ROMs, sorted.
    pub roms: Vec<PathBuf>,
    /// Files passed over, sorted, each with why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Why `bytes` is not an option ROM image, or `None` when it is one: the
/// 0x55AA signature (PCI Firmware Specification 3.0 §5.1.1) and either a
/// `PCIR` structure where the header's pointer at +0x18 says, or a `$VBT`
/// block (Intel Video BIOS Table) anywhere in the image. Whatever the file's
/// name or extension (vBIOS dumps come as .rom, .bin, .dat, .dump, .img,
/// .vbios or none).
#[must_use]
pub fn not_an_option_rom(bytes: &[u8]) -> Option<String> {
    if bytes.get(..2) != Some(&[0x55, 0xAA][..]) {
        return Some(match bytes.get(..2) {
            Some(b) => format!(
                "starts with {:02x} {:02x}, not the option ROM signature 55 aa",
                b[0], b[1]
            ),
            None => "shorter than an option ROM header".to_string(),
        });
    }
    let pcir = bytes
        .get(0x18..0x1A)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])))
        .and_then(|at| bytes.get(at..at + 4))
        .is_some_and(|sig| sig == b"PCIR");
    let vbt = bytes.windows(4).any(|w| w == b"$VBT");
    if pcir || vbt {
        None
    } else {
        Some("has the 55 aa signature but neither a PCIR structure nor a $VBT block".to_string())
    }
}

/// Every option ROM image below `dir`, recursively, recognised by content
/// ([`not_an_option_rom`]), and every other file with the reason it was
/// skipped. A missing directory yields nothing.
#[must_use]
pub fn scan_roms(dir: &Path) -> RomScan {
    let mut out = RomScan::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            if size > MAX_ROM_FILE {
                out.skipped.push((
                    p,
                    format!("{size} bytes: larger than any option ROM (16 MiB)"),
                ));
                continue;
            }
            match std::fs::read(&p) {
                Ok(bytes) => match not_an_option_rom(&bytes) {
                    None => out.roms.push(p),
                    Some(why) => out.skipped.push((p, why)),
                },
                Err(e) => out.skipped.push((p, format!("unreadable: {e}"))),
            }
        }
    }
    out.roms.sort();
    out.skipped.sort();
    out
}

/// Every option ROM image below `dir` (see [`scan_roms`]), sorted.
#[must_use]
pub fn find_roms(dir: &Path) -> Vec<PathBuf> {
    scan_roms(dir).roms
}

/// The user's ROM folder, `roms/local/` at the workspace root.
#[must_use]
pub fn local_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("local")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal image: signature, PCIR pointer at 0x18, PCIR at 0x40.
    fn image() -> Vec<u8> {
        let mut img = vec![0u8; 512];
        img[0] = 0x55;
        img[1] = 0xAA;
        img[0x18] = 0x40;
        img[0x40..0x44].copy_from_slice(b"PCIR");
        img
    }

    #[test]
    fn recognises_option_roms_by_content_whatever_the_name() {
        let dir = std::env::temp_dir().join(format!("igdemu-find-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        for name in [
            "x.rom",
            "a/b/y.BIN",
            "v.dat",
            "w.dump",
            "z.img",
            "k.vbios",
            "noext",
        ] {
            std::fs::write(dir.join(name), image()).unwrap();
        }
        // Only a $VBT (no PCIR pointer).
        let mut vbt = vec![0u8; 512];
        vbt[..2].copy_from_slice(&[0x55, 0xAA]);
        vbt[0x100..0x104].copy_from_slice(b"$VBT");
        std::fs::write(dir.join("vbt-only"), vbt).unwrap();
        std::fs::write(dir.join("a/notes.txt"), b"hello").unwrap();
        std::fs::write(dir.join("sig-only.rom"), [0x55, 0xAA, 0, 0]).unwrap();
        std::fs::write(dir.join("empty.bin"), b"").unwrap();
        let scan = scan_roms(&dir);
        let names = |v: Vec<&PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(scan.roms.iter().collect()),
            vec![
                "a/b/y.BIN",
                "k.vbios",
                "noext",
                "v.dat",
                "vbt-only",
                "w.dump",
                "x.rom",
                "z.img"
            ]
        );
        assert_eq!(
            names(scan.skipped.iter().map(|(p, _)| p).collect()),
            vec!["a/notes.txt", "empty.bin", "sig-only.rom"]
        );
        assert!(
            scan.skipped[0].1.contains("not the option ROM signature"),
            "{:?}",
            scan.skipped
        );
        assert!(scan.skipped[1].1.contains("shorter"), "{:?}", scan.skipped);
        assert!(
            scan.skipped[2].1.contains("neither a PCIR"),
            "{:?}",
            scan.skipped
        );
        assert!(find_roms(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
