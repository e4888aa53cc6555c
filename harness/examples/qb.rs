use igdemu::session::{RemapperKind, Scenario, Step};
use igdemu_roms::personality::{build, Options, Personality};
fn main() {
    let mut roms: Vec<(String, Vec<u8>)> = Personality::ALL.iter().map(|p| (format!("{p:?}"), build(*p, &Options::default()).unwrap())).collect();
    roms.push(("seavgabios".into(), std::fs::read("/usr/share/seabios/vgabios-stdvga.bin").unwrap()));
    for (name, rom) in &roms {
        let sc = Scenario::for_rom(rom, RemapperKind::Strict).with_script(vec![Step::vbe(1024, 768, 32)]);
        let t = std::time::Instant::now();
        let r = igdemu::session::run(rom, &sc).unwrap();
        let dt = t.elapsed();
        println!("{name}: {} insn in {:?} = {:.1} M/s, events {}, verdict {:?}", r.report.instructions, dt, r.report.instructions as f64 / dt.as_secs_f64() / 1e6, r.machine.trace().len(), r.report.verdict);
    }
}
