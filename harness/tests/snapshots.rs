//! Snapshots of each ROM's behaviour under each remapper, in the top-level
//! `snapshots/` directory: the built-in personalities, every SeaVGABIOS variant
//! Debian's `seabios` package installs, and every ROM a user drops into
//! `roms/local/` (the regression flow: a new vBIOS version shows up as a
//! snapshot diff in `cargo insta review`).

use igdemu::session::{self, RemapperKind, Scenario, Step};
use igdemu_harness::render::snapshot_summary;
use igdemu_roms::{build, discover, Options, Personality};

fn snapshot(name: &str, rom: &[u8], script: &[Step]) {
    snapshot_with(name, rom, script, None);
}

/// `path`: the ROM file, whose profile (`ROM.toml` beside it) applies.
fn snapshot_with(name: &str, rom: &[u8], script: &[Step], path: Option<&std::path::Path>) {
    for k in RemapperKind::ALL {
        let sc = match path {
            Some(p) => igdemu_harness::profile::scenario_for(&p.to_string_lossy(), rom, k),
            None => Scenario::for_rom(rom, k),
        };
        let mut sc = sc.with_script(script.to_vec());
        sc.allow_bad_checksum = true;
        let summary = match session::run(rom, &sc) {
            Ok(run) => serde_json::to_value(snapshot_summary(&run.report)).expect("serializable"),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_yaml_snapshot!(format!("{name}__{}", k.name()), summary);
        });
    }
}

fn vbe() -> Vec<Step> {
    vec![Step::vbe(1024, 768, 32)]
}

#[test]
fn builtin_roms() {
    for p in Personality::ALL {
        let rom = build(p, &Options::default()).expect("built-in ROM builds");
        let script = match p {
            Personality::ReinitAfterFlr => vec![
                Step::vbe(1024, 768, 32),
                Step::Flr,
                Step::Post,
                Step::vbe(1024, 768, 32),
            ],
            _ => vbe(),
        };
        snapshot(&format!("builtin-{}", p.name()), &rom, &script);
    }
}

fn seabios_present() -> bool {
    let ok = discover::seabios_vga("stdvga").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Debian's seabios package (/usr/share/seabios missing)"
        );
        println!("skipped: Debian's seabios package is not installed (apt-get install seabios)");
    }
    ok
}

#[test]
fn seavgabios_variants() {
    if !seabios_present() {
        return;
    }
    for (variant, path) in discover::seabios_variants() {
        let rom = std::fs::read(&path).expect("readable ROM");
        snapshot(
            &format!("seabios-{variant}"),
            &rom,
            &[Step::Text("igdemu".into()), Step::vbe(1024, 768, 32)],
        );
    }
}

#[test]
fn local_roms() {
    let dir = discover::local_dir();
    let roms = discover::find_roms(&dir);
    if roms.is_empty() {
        println!(
            "no ROMs in {} (drop *.rom / *.bin there to snapshot them)",
            dir.display()
        );
        return;
    }
    for path in roms {
        let rom = std::fs::read(&path).expect("readable ROM");
        let stem = path
            .file_stem()
            .map_or_else(|| "rom".into(), |s| s.to_string_lossy().into_owned());
        snapshot_with(&format!("local-{stem}"), &rom, &vbe(), Some(&path));
    }
}

/// reinit-after-flr: the FLR clears the GTT and panel power; the second POST
/// programs both again, under every remapper.
#[test]
fn reinit_after_flr_restores_gtt_and_panel_power() {
    let rom = build(Personality::ReinitAfterFlr, &Options::default()).expect("builds");
    for k in RemapperKind::ALL {
        if k == RemapperKind::Acrn {
            // An SNB device: outside ACRN's allowlist (see the matrix).
            assert!(session::run(&rom, &Scenario::for_rom(&rom, k)).is_err());
            continue;
        }
        let sc = Scenario::for_rom(&rom, k).with_script(vec![Step::Flr]);
        let run = session::run(&rom, &sc).expect("runs");
        let dev = run.igd().expect("IGD").passthrough().host();
        assert_eq!(
            dev.gtt().iter_valid().count(),
            0,
            "{}: FLR leaves no valid entry",
            k.name()
        );
        assert_eq!(
            dev.mmio().read32(0xC7200) & (1 << 31),
            0,
            "{}: panel off after FLR",
            k.name()
        );
        let sc = Scenario::for_rom(&rom, k).with_script(vec![Step::Flr, Step::Post]);
        let run = session::run(&rom, &sc).expect("runs");
        assert!(
            run.report.steps.iter().all(|s| s.returned),
            "{:?}",
            run.report.steps
        );
        let dev = run.igd().expect("IGD").passthrough().host();
        assert_eq!(
            dev.gtt().iter_valid().count(),
            256,
            "{}: second POST maps 256 pages again",
            k.name()
        );
        assert_ne!(
            dev.mmio().read32(0xC7200) & (1 << 31),
            0,
            "{}: panel on after the second POST",
            k.name()
        );
    }
}
