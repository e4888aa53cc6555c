//! `igdemu rom ...`: list, build and disassemble the built-in personalities.

use clap::Subcommand;
use igdemu_roms::{build_with_symbols, listing, Options, Personality, StolenSource};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RomAction {
    /// List the personalities and what each models.
    List,
    /// Build a personality's image.
    Build {
        /// Personality name (see `igdemu rom list`).
        name: String,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        opts: BuildOpts,
    },
    /// Print a personality's disassembly with labels.
    Listing {
        /// Personality name.
        name: String,
        #[command(flatten)]
        opts: BuildOpts,
    },
}

#[derive(clap::Args, Clone, Debug, Default)]
pub struct BuildOpts {
    /// Device ID to build for, in hex (0x0126 or 0126).
    #[arg(long, value_parser = parse_pci_id)]
    pub device_id: Option<u16>,
    /// Where the ROM takes its stolen base: baked, config-bdsm, bar4-mirror, bar0-unreal.
    #[arg(long, value_parser = parse_source)]
    pub source: Option<StolenSource>,
    /// Host BDSM baked into the image (for --source baked).
    #[arg(long, value_parser = parse_u64)]
    pub baked_bdsm: Option<u64>,
}

impl BuildOpts {
    pub fn options(&self) -> Options {
        let mut o = Options {
            device_id: self.device_id,
            stolen_source: self.source,
            ..Options::default()
        };
        if let Some(b) = self.baked_bdsm {
            o.baked_host_bdsm = b;
        }
        o
    }
}

pub fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        t.parse()
    };
    r.map_err(|e| format!("{s:?} is not a number ({e}); write hex as 0x8b800000"))
}

/// Parse a PCI ID (vendor or device). PCI IDs are written in hex everywhere
/// (`lspci -n`, PCIR, the PCI ID database), so `1912`, `0x1912` and `0X1912`
/// all mean device 0x1912.
pub fn parse_pci_id(s: &str) -> Result<u16, String> {
    let t = s.trim().replace('_', "");
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(&t);
    if h.is_empty() || h.len() > 4 {
        return Err(format!(
            "{s:?} is not a PCI ID: write 4 hex digits, e.g. 1912 or 0x1912"
        ));
    }
    u16::from_str_radix(h, 16).map_err(|e| {
        format!("{s:?} is not a PCI ID ({e}): write 4 hex digits, e.g. 1912 or 0x1912")
    })
}

pub fn parse_source(s: &str) -> Result<StolenSource, String> {
    StolenSource::parse(s).ok_or_else(|| {
        let names: Vec<_> = StolenSource::ALL.iter().map(|v| v.name()).collect();
        format!(
            "unknown stolen-base source {s:?}; one of {}",
            names.join(", ")
        )
    })
}

pub fn personality(name: &str) -> Result<Personality, String> {
    Personality::parse(name).ok_or_else(|| {
        let names: Vec<_> = Personality::ALL.iter().map(|p| p.name()).collect();
        format!(
            "unknown ROM personality {name:?}; try one of: {}",
            names.join(", ")
        )
    })
}

pub fn run(action: RomAction) -> Result<ExitCode, String> {
    match action {
        RomAction::List => {
            for p in Personality::ALL {
                println!(
                    "{:<18} {:#06x}  {}",
                    p.name(),
                    p.default_device_id(),
                    p.description()
                );
            }
        }
        RomAction::Build { name, output, opts } => {
            let p = personality(&name)?;
            let rom = build_with_symbols(p, &opts.options()).map_err(|e| e.to_string())?;
            std::fs::write(&output, &rom.image)
                .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            println!(
                "wrote {} ({} bytes, {})",
                output.display(),
                rom.image.len(),
                p.description()
            );
        }
        RomAction::Listing { name, opts } => {
            let p = personality(&name)?;
            let rom = build_with_symbols(p, &opts.options()).map_err(|e| e.to_string())?;
            print!("{}", listing(&rom));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_ids_are_hex_with_or_without_prefix() {
        assert_eq!(parse_pci_id("1912"), Ok(0x1912));
        assert_eq!(parse_pci_id("0x1912"), Ok(0x1912));
        assert_eq!(parse_pci_id("0X3E9B"), Ok(0x3E9B));
        assert_eq!(parse_pci_id("0126"), Ok(0x0126));
        assert_eq!(parse_pci_id("9a49"), Ok(0x9A49));
        assert!(parse_pci_id("12345").is_err());
        assert!(parse_pci_id("0x").is_err());
        assert!(parse_pci_id("19g2").is_err());
    }
}
