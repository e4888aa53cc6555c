//! Write the HTML report (and the screenshot next to it) of a built-in ROM run:
//! `cargo run -p igdemu-harness --example html_report -- OUT.html [ROM] [REMAPPER]`
//! (defaults: snb-legacy, qemu-2016; script: a 1024x768x32 VBE mode set).
//! Used by `.ci/html-check`; `igdemu run --html` writes the same report.

use igdemu::session::{RemapperKind, Scenario, Step};
use igdemu_roms::personality::{Options, Personality};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: html_report OUT.html [PERSONALITY] [REMAPPER]");
        return ExitCode::from(2);
    };
    let name = args.get(1).map_or("snb-legacy", String::as_str);
    let remapper = args.get(2).map_or("qemu-2016", String::as_str);
    let (Some(p), Some(k)) = (Personality::parse(name), RemapperKind::parse(remapper)) else {
        eprintln!("unknown personality {name:?} or remapper {remapper:?}");
        return ExitCode::from(2);
    };
    let rom = match igdemu_roms::build(p, &Options::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("building {name}: {e}");
            return ExitCode::from(1);
        }
    };
    let scenario = Scenario::for_rom(&rom, k).with_script(vec![Step::vbe(1024, 768, 32)]);
    let run = match igdemu::session::run(&rom, &scenario) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("run: {e}");
            return ExitCode::from(1);
        }
    };
    let html = igdemu_harness::html::render_html(&run);
    if let Err(e) = std::fs::write(out, html) {
        eprintln!("writing {out}: {e}");
        return ExitCode::from(1);
    }
    if let Some(img) = igdemu_harness::screenshot::screenshot(&run, None) {
        let png = std::path::Path::new(out).with_extension("screen.png");
        if let Err(e) = std::fs::write(&png, igdemu_harness::screenshot::encode_png(&img)) {
            eprintln!("writing {}: {e}", png.display());
            return ExitCode::from(1);
        }
    }
    println!("{out}: verdict {}", run.report.verdict.name());
    ExitCode::SUCCESS
}
