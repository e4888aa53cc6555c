//! Real Intel vBIOS images, end to end: POST, VBE mode sets through the ROM's
//! own INT 10h handler, a pattern drawn through each mode's linear frame
//! buffer and read back from the scanout the ROM programmed, text mode, and
//! the verdict under every remapper (snapshots in `snapshots/real-*`).
//!
//! The images are proprietary and never enter the repository: they are read
//! from `IGDEMU_VBIOS_DIR`, by default `../shared/vbios` beside the project.
//! A missing directory fails under `CI=true` and is a visible skip otherwise.

use std::path::PathBuf;

use igdemu::igd::display::DisplayTopology;
use igdemu::igd::Platform;
use igdemu::session::{self, RemapperKind, Scenario, SessionRun, Step, Verdict};
use igdemu_harness::pattern;
use igdemu_harness::render::snapshot_summary;
use igdemu_harness::screenshot::{scanout_plane, screenshot, Source};

/// One development image and what the model must make of it.
struct Image {
    file: &'static str,
    /// Short name for snapshots.
    name: &'static str,
    /// The platform of the device igdemu picks by default.
    platform: Platform,
    /// Valid GTT entries after POST and a 1024x768x32 mode set (strict).
    gtt_valid: usize,
}

const IMAGES: &[Image] = &[
    Image {
        file: "intel-fsp-chiefriver-snm_2170.dat",
        name: "snb-ivb-2170",
        platform: Platform::SandyBridge,
        gtt_valid: 16383,
    },
    Image {
        file: "intel-fsp-sharkbay-hsw2180.dat",
        name: "hsw-2180",
        platform: Platform::Haswell,
        gtt_valid: 16383,
    },
    Image {
        file: "intel-fsp-baytrail-vga.dat",
        name: "byt",
        platform: Platform::Valleyview,
        gtt_valid: 15872,
    },
    Image {
        file: "chromebox-bdw-1040.bin",
        name: "hsw-bdw-1040",
        platform: Platform::Haswell,
        gtt_valid: 16383,
    },
    Image {
        file: "cfl-1014.rom",
        name: "cfl-1014",
        platform: Platform::CoffeeLake,
        gtt_valid: 16383,
    },
];

/// The image directory, or `None` (with a printed skip) when it is absent
/// outside CI.
fn vbios_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IGDEMU_VBIOS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vbios"),
        PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but the real vBIOS directory {} is missing (set IGDEMU_VBIOS_DIR)",
        dir.display()
    );
    println!(
        "skipped: no real vBIOS images in {} (set IGDEMU_VBIOS_DIR)",
        dir.display()
    );
    None
}

fn load(dir: &std::path::Path, img: &Image) -> Vec<u8> {
    std::fs::read(dir.join(img.file)).unwrap_or_else(|e| panic!("{}: {e}", img.file))
}

fn run(rom: &[u8], remapper: RemapperKind, script: Vec<Step>) -> SessionRun {
    let sc = Scenario::for_rom(rom, remapper).with_script(script);
    session::run(rom, &sc).expect("the session runs")
}

/// The linear frame buffer address the ROM reported for the last mode set.
fn lfb(run: &SessionRun) -> u64 {
    run.report
        .steps
        .iter()
        .rev()
        .flat_map(|s| s.notes.iter())
        .find_map(|n| {
            let hex = n.split("linear framebuffer at 0x").nth(1)?;
            u64::from_str_radix(hex.split_whitespace().next()?, 16).ok()
        })
        .expect("a mode set reports its linear frame buffer")
}

#[test]
fn real_images_post_set_modes_and_print_text_under_strict() {
    let Some(dir) = vbios_dir() else { return };
    for img in IMAGES {
        let rom = load(&dir, img);
        let run = run(
            &rom,
            RemapperKind::Strict,
            vec![
                Step::vbe(1024, 768, 32),
                Step::vbe(800, 600, 16),
                Step::vbe(640, 480, 8),
                Step::Text("igdemu".into()),
            ],
        );
        let r = &run.report;
        let host = run.igd().expect("IGD").passthrough().host();
        assert_eq!(host.info().platform, img.platform, "{}", img.file);
        for s in &r.steps {
            assert!(s.returned, "{}: {} did not return: {s:?}", img.file, s.step);
            assert!(s.succeeded, "{}: {} failed: {s:?}", img.file, s.step);
        }
        for (s, mode) in r.steps[1..4]
            .iter()
            .zip(["1024x768x32", "800x600x16", "640x480x8"])
        {
            assert_eq!(s.step, format!("vbe {mode}"), "{}", img.file);
            assert!(
                s.notes.iter().any(|n| n.starts_with("mode 0x")),
                "{}: {mode} not in the ROM's mode list: {:?}",
                img.file,
                s.notes
            );
            assert!(
                !s.notes.iter().any(|n| n.contains("returned AX=")),
                "{}: {mode}: {:?}",
                img.file,
                s.notes
            );
        }
        assert!(
            r.steps[4]
                .notes
                .iter()
                .any(|n| n == "screen reads \"igdemu\""),
            "{}: {:?}",
            img.file,
            r.steps[4].notes
        );
        assert_eq!(r.verdict, Verdict::Clean, "{}: {:?}", img.file, r.check);
        assert_eq!(
            host.gtt().iter_valid().count(),
            img.gtt_valid,
            "{}: valid GTT entries",
            img.file
        );
        assert!(
            img.gtt_valid >= 768,
            "a 1024x768x32 surface needs 768 pages"
        );
    }
}

#[test]
fn real_images_scan_out_what_was_drawn_through_the_frame_buffer() {
    let Some(dir) = vbios_dir() else { return };
    for img in IMAGES {
        let rom = load(&dir, img);
        for (w, h, bpp) in [(1024u32, 768u32, 32u32), (800, 600, 16), (640, 480, 8)] {
            let what = format!("{} {w}x{h}x{bpp}", img.file);
            let mut run = run(
                &rom,
                RemapperKind::Strict,
                vec![Step::vbe(w as u16, h as u16, bpp as u8)],
            );
            assert!(
                run.report.steps.iter().all(|s| s.returned && s.succeeded),
                "{what}: {:?}",
                run.report.steps
            );
            let lfb = lfb(&run);
            let plane =
                scanout_plane(&run).unwrap_or_else(|| panic!("{what}: no primary plane enabled"));
            assert_eq!(
                (plane.width, plane.height),
                (w, h),
                "{what}: plane {plane:?}"
            );
            let depth = plane.format.depth();
            assert!(
                depth == bpp || (bpp == 16 && depth == 15),
                "{what}: plane format {:?}",
                plane.format
            );
            let frame = pattern::frame(w, h, bpp, plane.stride);
            pattern::draw(&mut run.machine, lfb, &frame).unwrap_or_else(|e| panic!("{what}: {e}"));
            let shot = screenshot(&run, None).expect("a picture");
            let Source::Scanout {
                unreachable_pages, ..
            } = shot.source
            else {
                panic!("{what}: not a plane scanout: {:?}", shot.source);
            };
            assert_eq!(unreachable_pages, 0, "{what}");
            assert_eq!((shot.width, shot.height), (w, h), "{what}");
            let mut wrong = 0u32;
            for y in (0..h).step_by(7) {
                for x in (0..w).step_by(3) {
                    let raw = pattern::raw_pixel(x, y, bpp);
                    let want = plane.format.to_xrgb(raw, &plane.palette);
                    if shot.pixel(x, y) != Some(want) {
                        wrong += 1;
                    }
                }
            }
            assert_eq!(wrong, 0, "{what}: pixels differ from the pattern");
        }
    }
}

/// The display topology is what a desktop vBIOS detects: with the port B
/// monitor unplugged (`--display dp:none`) its live state, strap and AUX
/// sink are gone, and the ROM lists only the modes it keeps for a display it
/// cannot identify.
#[test]
fn unplugging_the_monitor_shrinks_a_desktop_images_mode_list() {
    let Some(dir) = vbios_dir() else { return };
    for img in IMAGES
        .iter()
        .filter(|i| matches!(i.name, "hsw-bdw-1040" | "cfl-1014"))
    {
        let rom = load(&dir, img);
        let mut sc = Scenario::for_rom(&rom, RemapperKind::Strict)
            .with_script(vec![Step::vbe(1024, 768, 32), Step::vbe(800, 600, 16)]);
        sc.display = DisplayTopology::parse("dp:none").expect("parses");
        let run = session::run(&rom, &sc).expect("runs");
        let listed = |i: usize| {
            run.report.steps[i]
                .notes
                .iter()
                .any(|n| n.starts_with("mode 0x"))
        };
        assert!(
            !listed(1),
            "{}: 1024x768x32 listed without a monitor",
            img.file
        );
        assert!(listed(2), "{}: 800x600x16 still listed", img.file);
    }
}

/// Every image under every remapper, POST and an 800x600x16 mode set (a mode
/// every image lists whatever its host bridge shows): the headline matrix.
#[test]
fn real_image_snapshots() {
    let Some(dir) = vbios_dir() else { return };
    for img in IMAGES {
        let rom = load(&dir, img);
        for k in RemapperKind::ALL {
            let sc = Scenario::for_rom(&rom, k).with_script(vec![Step::vbe(800, 600, 16)]);
            let summary = match session::run(&rom, &sc) {
                Ok(run) => {
                    serde_json::to_value(snapshot_summary(&run.report)).expect("serializable")
                }
                // ACRN refuses the devices its allowlist lacks (pre-SKL).
                Err(e @ session::SessionError::Vmm(_)) => {
                    serde_json::json!({ "error": e.to_string() })
                }
                Err(e) => panic!("{} under {}: {e}", img.file, k.name()),
            };
            insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
                insta::assert_yaml_snapshot!(format!("real-{}__{}", img.name, k.name()), summary);
            });
        }
    }
}
