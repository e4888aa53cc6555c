//! Print the disassembly listing of a built-in ROM personality:
//! `cargo run -p igdemu-roms --example listing -- snb-legacy`.
fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "snb-legacy".into());
    let Some(p) = igdemu_roms::Personality::parse(&name) else {
        eprintln!("unknown personality {name}");
        std::process::exit(2);
    };
    match igdemu_roms::build_with_symbols(p, &igdemu_roms::Options::default()) {
        Ok(rom) => print!("{}", igdemu_roms::listing(&rom)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
