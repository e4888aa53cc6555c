//! Determinism (DESIGN.md, rules of the house): the same ROM and scenario give
//! the same trace and the same report, byte for byte. Each built-in
//! personality (and SeaVGABIOS when installed) runs twice through POST, a VBE
//! mode set, an FLR and a re-POST; the serialized trace and report must hash
//! the same.

use igdemu::session::{self, RemapperKind, Scenario, Step};
use igdemu_harness::bench::SEAVGABIOS;
use igdemu_roms::{build, Options, Personality};
use sha2::{Digest, Sha256};

fn script() -> Vec<Step> {
    vec![Step::vbe(1024, 768, 32), Step::Flr, Step::Post]
}

/// (trace hash, report hash, trace events).
fn fingerprint(rom: &[u8], remapper: RemapperKind) -> (String, String, usize) {
    let sc = Scenario::for_rom(rom, remapper).with_script(script());
    let run = session::run(rom, &sc).expect("scenario runs");
    let trace = serde_json::to_vec(run.machine.trace()).expect("trace serializes");
    let report = serde_json::to_vec(&run.report).expect("report serializes");
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    (hex(&trace), hex(&report), run.machine.trace().len())
}

/// Whether the remapper gives the ROM's device legacy mode at all (QEMU 10.1,
/// `qemu-2025`, refuses gen 11+).
fn admitted(rom: &[u8], remapper: RemapperKind) -> bool {
    Scenario::for_rom(rom, remapper)
        .igd_config()
        .ok()
        .and_then(|c| igdemu::igd::IgdDevice::new(c).ok())
        .is_some_and(|d| {
            remapper.admit(d.config()).is_ok()
                && remapper.admit_mapping(d.info(), d.config()).is_ok()
        })
}

fn assert_deterministic(name: &str, rom: &[u8], remapper: RemapperKind) {
    let a = fingerprint(rom, remapper);
    let b = fingerprint(rom, remapper);
    assert_eq!(a.0, b.0, "{name} ({}): trace differs", remapper.name());
    assert_eq!(a.1, b.1, "{name} ({}): report differs", remapper.name());
    assert!(a.2 > 0, "{name}: empty trace");
    println!(
        "determinism: {name} {}: {} events, trace {}, report {}",
        remapper.name(),
        a.2,
        &a.0[..16],
        &a.1[..16]
    );
}

#[test]
fn personalities_are_deterministic() {
    // One machine per thread (the engine is !Send); personalities in parallel.
    std::thread::scope(|s| {
        for p in Personality::ALL {
            s.spawn(move || {
                let rom = build(p, &Options::default()).expect("personality builds");
                for remapper in RemapperKind::ALL {
                    if admitted(&rom, remapper) {
                        assert_deterministic(p.name(), &rom, remapper);
                    }
                }
            });
        }
    });
}

#[test]
fn seavgabios_is_deterministic() {
    match std::fs::read(SEAVGABIOS) {
        Ok(rom) => assert_deterministic("seavgabios-stdvga", &rom, RemapperKind::Strict),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{SEAVGABIOS}: {e} (CI must install the seabios package)")
        }
        Err(e) => println!("determinism: skip seavgabios-stdvga: {SEAVGABIOS}: {e}"),
    }
}
