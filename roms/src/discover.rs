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

/// Every `*.rom` / `*.bin` file below `dir`, recursively, sorted. A missing
/// directory yields nothing.
#[must_use]
pub fn find_roms(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("rom") || x.eq_ignore_ascii_case("bin"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The user's ROM folder, `roms/local/` at the workspace root.
#[must_use]
pub fn local_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("local")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_roms_recursively_and_ignores_others() {
        let dir = std::env::temp_dir().join(format!("igdemu-find-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("x.rom"), b"1").unwrap();
        std::fs::write(dir.join("a/b/y.BIN"), b"1").unwrap();
        std::fs::write(dir.join("a/notes.txt"), b"1").unwrap();
        let found = find_roms(&dir);
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["y.BIN", "x.rom"]);
        assert!(find_roms(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
