//! `igdemu compat` for the built-in ROMs: every QEMU release 2.7-10.2 as rows,
//! the verdict per ROM, and where (and why) each verdict changes, kept as a
//! snapshot; the release boundaries the model predicts are asserted exactly.

use std::path::PathBuf;

use igdemu::passthrough::Release;
use igdemu::session::{RemapperKind, Scenario, Step};
use igdemu_harness::compat::compat;
use igdemu_harness::source::builtins;

#[test]
fn compat_table_for_the_builtin_roms() {
    let roms = builtins();
    let table = compat(&roms, |rom| {
        Scenario::for_rom(&rom.bytes, RemapperKind::Strict)
            .with_script(vec![Step::vbe(1024, 768, 32)])
    });
    let text = table.render();
    println!("{text}");
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("compat-builtin", text);
    });
    assert_in_readme(&text);
    let col = |name: &str| table.roms.iter().position(|r| r == name).expect("ROM");
    let at = |release: Release, rom: &str| {
        let (_, cells) = table
            .rows
            .iter()
            .find(|(r, _)| *r == release)
            .expect("release row");
        cells[col(rom)].verdict.clone()
    };
    // snb-legacy reads the emulated BDSM: the rebase double-shifts it from 2.9
    // (2.7/2.8's `base | low 20 bits` already did), clean once 5aed8b0f0be2
    // removed the quirk in 10.0; 5.0 has no legacy IGD at all.
    assert_eq!(at(Release::V2_7, "snb-legacy"), "corrupt");
    assert_eq!(at(Release::V9_1, "snb-legacy"), "corrupt");
    assert_eq!(at(Release::V5_0, "snb-legacy"), "refused");
    assert_eq!(at(Release::V10_0, "snb-legacy"), "clean");
    // icl-legacy: refused by 9.2 (unknown ID) and by 10.1+ (gen 6-9 only).
    assert_eq!(at(Release::V9_2, "icl-legacy"), "refused");
    assert_eq!(at(Release::V10_1, "icl-legacy"), "refused");
    assert_eq!(at(Release::V9_1, "icl-legacy"), "escape");
    let changes = table.changes();
    let snb_10 = changes
        .iter()
        .find(|c| c.rom == "snb-legacy" && c.release == Release::V10_0)
        .expect("snb-legacy changes in 10.0");
    // Nine switches changed in 10.0 (the ninth, `bridges`, lets x-igd-lpc
    // build the LPC bridge without legacy mode); the BAR4 quirk's removal
    // alone does it.
    assert_eq!(snb_10.commits.len(), 9);
    let cause: Vec<&str> = snb_10.cause.iter().map(|c| c.commit).collect();
    assert_eq!(cause, ["5aed8b0f0be2"]);
    // unreal-direct turns clean in 9.2 because the host GMS is kept
    // (971ca22f041b) and bdsm-size grows with it.
    let ud = changes
        .iter()
        .find(|c| c.rom == "unreal-direct" && c.release == Release::V9_2)
        .expect("unreal-direct changes in 9.2");
    let cause: Vec<&str> = ud.cause.iter().map(|c| c.commit).collect();
    assert!(cause.contains(&"971ca22f041b"), "{cause:?}");
}

/// `--options`: set on every release that has them; a release without the
/// option says so, one whose realize rejects the value does not start.
#[test]
fn compat_with_options() {
    let roms: Vec<_> = builtins()
        .into_iter()
        .filter(|r| r.name == "snb-legacy")
        .collect();
    let base = |rom: &igdemu_harness::source::LoadedRom| {
        Scenario::for_rom(&rom.bytes, RemapperKind::Strict)
    };
    let verdicts = |t: &igdemu_harness::compat::Compat| -> Vec<(Release, String)> {
        t.rows
            .iter()
            .map(|(r, c)| (*r, c[0].verdict.clone()))
            .collect()
    };
    let t = igdemu_harness::compat::compat_with(&roms, "x-igd-lpc=on", base);
    for (r, v) in verdicts(&t) {
        let want = if r >= Release::V10_0 {
            "clean"
        } else {
            "no-option"
        };
        assert_eq!(v, want, "{r}");
    }
    // GMS 0x20 is out of range for a gen 6 device: 10.0 reports it and keeps
    // the host GMS, 10.1 (395a1f7941f4) fails to start.
    let t = igdemu_harness::compat::compat_with(&roms, "x-igd-gms=0x20", base);
    let v = verdicts(&t);
    assert!(v.contains(&(Release::V10_0, "clean".into())));
    assert!(v.contains(&(Release::V10_1, "no-start".into())));
}

/// Releases that share a run share only the verdict: a `no-option` or
/// `refused` cell names the release it belongs to, never the first release
/// of its group (2.8 used to print "qemu-2.7 has no x-igd-lpc").
#[test]
fn every_cell_detail_names_its_own_release() {
    let roms: Vec<_> = builtins()
        .into_iter()
        .filter(|r| r.name == "snb-legacy")
        .collect();
    let t = igdemu_harness::compat::compat_with(&roms, "x-igd-lpc=on", |rom| {
        Scenario::for_rom(&rom.bytes, RemapperKind::Strict)
    });
    let mut named = 0;
    for (release, cells) in &t.rows {
        if let Some(d) = &cells[0].detail {
            assert!(
                d.starts_with(&format!("{}:", release.name()))
                    || d.starts_with(&format!("{} ", release.name())),
                "{release}: {d}"
            );
            named += 1;
        }
    }
    // 2.7 to 9.2 lack x-igd-lpc (26 releases).
    assert_eq!(named, 26);
    let text = t.render();
    assert!(text.contains("- qemu-2.8 has no x-igd-lpc (added in qemu-10.0 by 674f61117d36)"));
    assert!(text.contains("- qemu-9.1 has no x-igd-lpc"));
}

/// The run cache's key tells apart releases whose machine differs even when
/// their quirk does not (the `bridges` switch), and the options as parsed.
#[test]
fn run_key_covers_the_machine_switch_and_the_options() {
    use igdemu::passthrough::qemu_release::{Mix, QemuSetup, SWITCHES};
    use igdemu_harness::compat::RunKey;
    let key = |s: &QemuSetup| RunKey::of(s);
    let r = |v| QemuSetup::release(v);
    assert_eq!(key(&r(Release::V2_9)), key(&r(Release::V4_2)));
    assert_ne!(key(&r(Release::V4_2)), key(&r(Release::V5_0)));
    let bridges = SWITCHES
        .iter()
        .position(|s| *s == "bridges")
        .expect("switch");
    let mut mixed = r(Release::V9_2);
    mixed.mix = Some(Mix {
        from: Release::V10_0,
        switches: 1 << bridges,
    });
    assert_ne!(key(&mixed), key(&r(Release::V9_2)));
    let with = QemuSetup::parse("qemu-10.1,x-igd-lpc=on").expect("parses");
    assert_ne!(key(&with), key(&r(Release::V10_1)));
}

/// The README shows `text`'s table and its refusals (everything before the
/// list of changes) verbatim.
fn assert_in_readme(text: &str) {
    let shown = text
        .split("\nwhere the verdict changes")
        .next()
        .unwrap_or(text);
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    assert!(
        readme.contains(shown),
        "README.md does not show this compat table:\n{shown}"
    );
}

/// The real images in `IGDEMU_VBIOS_DIR` (default `../shared/vbios`; a
/// visible skip when missing, a failure under `CI=true`), POST and an
/// 800x600x16 mode set under every release: the README's table, kept as a
/// snapshot (`igdemu compat ../shared/vbios/*.rom ../shared/vbios/*.bin
/// ../shared/vbios/*.dat --script vbe:800x600x16`).
#[test]
fn compat_table_for_the_real_images() {
    let dir = std::env::var_os("IGDEMU_VBIOS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vbios"),
        PathBuf::from,
    );
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but the real vBIOS directory {} is missing (set IGDEMU_VBIOS_DIR)",
            dir.display()
        );
        println!("skipped: no real vBIOS images in {}", dir.display());
        return;
    }
    let files = [
        "cfl-1014.rom",
        "chromebox-bdw-1040.bin",
        "intel-fsp-baytrail-vga.dat",
        "intel-fsp-chiefriver-snm_2170.dat",
        "intel-fsp-sharkbay-hsw2180.dat",
    ];
    let inputs: Vec<String> = files
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let roms = igdemu_harness::corpus::collect(&inputs).expect("images load");
    let table = compat(&roms, |rom| {
        Scenario::for_rom(&rom.bytes, RemapperKind::Strict)
            .with_script(vec![Step::vbe(800, 600, 16)])
    });
    let text = table.render();
    println!("{text}");
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("compat-real", text);
    });
    assert_in_readme(&text);
}
