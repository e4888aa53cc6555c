//! Writes the project's own ROMs (every built-in personality and every
//! deliberately broken kind) as seed inputs
//! into `fuzz/corpus/{load_and_run,rom_parser}/`, and the generated operation
//! sequences of `igdemu::fuzz::{strict_guest_ops_seeds, pte_decode_seeds}`
//! into `fuzz/corpus/{strict_guest_ops,pte_decode}/`:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.

use std::path::Path;

use igdemu_roms::broken::{build_broken, Broken};
use igdemu_roms::{build, Options, Personality};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in ["load_and_run", "rom_parser"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for p in Personality::ALL {
            let rom = build(p, &Options::default())?;
            std::fs::write(dir.join(format!("{}.rom", p.name())), rom)?;
        }
        for k in Broken::ALL {
            let rom = build_broken(k);
            std::fs::write(dir.join(format!("broken-{}.rom", k.name())), rom)?;
        }
    }
    for (target, seeds) in [
        ("strict_guest_ops", igdemu::fuzz::strict_guest_ops_seeds()),
        ("pte_decode", igdemu::fuzz::pte_decode_seeds()),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes)?;
        }
    }
    Ok(())
}
