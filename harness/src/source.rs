//! Where a ROM comes from: a file, `builtin:NAME` (the project's personalities)
//! or `seabios:VARIANT` (Debian's `seabios` package).

use igdemu_roms::{build, discover, Options, Personality};
use std::path::PathBuf;

/// A ROM named on the command line, loaded.
#[derive(Clone, Debug)]
pub struct LoadedRom {
    /// What the user wrote.
    pub spec: String,
    /// A short stable name for tables and snapshots (no host paths).
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Load `spec`; `opts` apply to `builtin:` ROMs.
pub fn load(spec: &str, opts: &Options) -> Result<LoadedRom, String> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        let p = crate::cli_rom::personality(name)?;
        let bytes = build(p, opts).map_err(|e| format!("cannot build {name}: {e}"))?;
        return Ok(LoadedRom {
            spec: spec.into(),
            name: p.name().into(),
            bytes,
        });
    }
    if let Some(variant) = spec.strip_prefix("seabios:") {
        let path = discover::seabios_vga(variant);
        let bytes = std::fs::read(&path).map_err(|e| {
            let have: Vec<_> = discover::seabios_variants()
                .into_iter()
                .map(|(v, _)| v)
                .collect();
            format!(
                "cannot read {}: {e}. Install Debian's seabios package (apt-get install seabios){}",
                path.display(),
                if have.is_empty() {
                    String::new()
                } else {
                    format!("; installed variants: {}", have.join(", "))
                }
            )
        })?;
        return Ok(LoadedRom {
            spec: spec.into(),
            name: format!("seabios-{variant}"),
            bytes,
        });
    }
    let path = PathBuf::from(spec);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!("cannot read ROM file {spec}: {e}. Give a path, builtin:NAME (see `igdemu rom list`) or seabios:stdvga")
    })?;
    let name = path
        .file_name()
        .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
    Ok(LoadedRom {
        spec: spec.into(),
        name,
        bytes,
    })
}

/// Every built-in personality as a loaded ROM (default options).
#[must_use]
pub fn builtins() -> Vec<LoadedRom> {
    Personality::ALL
        .iter()
        .filter_map(|p| {
            build(*p, &Options::default()).ok().map(|bytes| LoadedRom {
                spec: format!("builtin:{}", p.name()),
                name: p.name().into(),
                bytes,
            })
        })
        .collect()
}

/// First 12 hex digits of the SHA-256 of `bytes`.
#[must_use]
pub fn sha_prefix(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
