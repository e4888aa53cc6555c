//! The HTML report and the screenshot, on real runs of the built-in ROMs (and
//! SeaVGABIOS for text mode): what a user opening the report would see.

use igdemu::check::{Origin, Violation};
use igdemu::session::{RemapperKind, Scenario, SessionRun, Step, Verdict};
use igdemu_harness::bench::SEAVGABIOS;
use igdemu_harness::html::{render_html, MAX_TRACE_ROWS};
use igdemu_harness::render::fold_violations;
use igdemu_harness::screenshot::{encode_png, screenshot, Source, CELL_H, CELL_W};
use igdemu_roms::personality::{Options, Personality, FB_CLEAR, FB_RECT, FB_RECT_GEOMETRY};

fn snb(remapper: RemapperKind, script: Vec<Step>) -> SessionRun {
    let rom = igdemu_roms::build(Personality::SnbLegacy, &Options::default()).unwrap();
    igdemu::session::run(&rom, &Scenario::for_rom(&rom, remapper).with_script(script)).unwrap()
}

/// SeaVGABIOS from Debian's seabios package; `None` (skip) when it is missing
/// outside CI.
fn seavgabios() -> Option<Vec<u8>> {
    let path = SEAVGABIOS;
    let Ok(rom) = std::fs::read(path) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Debian's seabios package ({path} missing)"
        );
        eprintln!("skipping: {path} missing (install Debian's seabios package)");
        return None;
    };
    Some(rom)
}

/// Decode a PNG: its frame info and pixel bytes.
fn decode_png(png: Vec<u8>) -> (png::OutputInfo, Vec<u8>) {
    let mut r = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    (info, buf)
}

fn mode_set(remapper: RemapperKind) -> SessionRun {
    snb(remapper, vec![Step::vbe(1024, 768, 32)])
}

/// The text between `<ol id="violations">` and its `</ol>`.
fn violation_list(html: &str) -> &str {
    let start = html
        .find("<ol id=\"violations\">")
        .expect("violations list");
    let rest = &html[start..];
    &rest[..rest.find("</ol>").expect("end of the list")]
}

fn svg(html: &str) -> &str {
    let start = html.find("<svg id=\"memory-map\"").expect("memory map");
    let rest = &html[start..];
    &rest[..rest.find("</svg>").expect("end of the svg")]
}

#[test]
fn qemu_2016_report_shows_the_map_and_every_folded_violation() {
    let run = mode_set(RemapperKind::Qemu2016);
    assert_ne!(run.report.verdict, Verdict::Clean);
    let html = render_html(&run);
    for id in [
        "id=\"summary\"",
        "id=\"memory-map\"",
        "id=\"violations\"",
        "id=\"trace\"",
        "id=\"trace-filter\"",
        "id=\"gtt-runs\"",
        "id=\"screen\"",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
    let folded = fold_violations(&run.report.check.violations);
    assert!(!folded.is_empty());
    assert_eq!(
        violation_list(&html).matches("<li").count(),
        folded.len(),
        "one <li> per folded violation"
    );
    let map = svg(&html);
    assert!(
        map.contains("<rect id=\"guest-stolen\""),
        "stolen region drawn"
    );
    assert!(
        map.contains("<rect id=\"host-stolen\""),
        "host stolen drawn"
    );
    assert!(
        map.contains("class=\"mark corrupt\""),
        "corrupting accesses marked"
    );
    // Self-contained: nothing fetched from elsewhere.
    assert!(!html.contains("src=\"http"), "no external resources");
    assert!(!html.contains("href=\"http"), "no external resources");
    assert!(html.contains("CORRUPT") || html.contains("FAULT"));
}

#[test]
fn strict_report_is_clean_with_an_empty_list_and_ok_marks() {
    let run = mode_set(RemapperKind::Strict);
    assert_eq!(run.report.verdict, Verdict::Clean);
    let html = render_html(&run);
    assert_eq!(violation_list(&html).matches("<li").count(), 0);
    assert!(html.contains("No violations"));
    assert!(html.contains(">CLEAN<"));
    let map = svg(&html);
    assert!(map.contains("<rect id=\"guest-stolen\""));
    assert!(map.contains("class=\"mark ok\""));
    assert!(!map.contains("class=\"mark corrupt\""));
    assert!(!map.contains("class=\"mark fault\""));
}

#[test]
fn report_strings_are_escaped() {
    let mut run = mode_set(RemapperKind::Strict);
    run.report.check.violations.push(Violation::Fatal {
        message: "<script>alert('pwned')</script>".into(),
        origin: Some(Origin {
            cs: 0xC000,
            ip: 0x1234,
            instruction: "<img src=x onerror=alert(1)>".into(),
        }),
    });
    run.report.steps[0].notes.push("\"><b>bold</b>".into());
    let html = render_html(&run);
    assert!(
        !html.contains("<script>alert"),
        "payload reached the page raw"
    );
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<b>bold</b>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert_eq!(violation_list(&html).matches("<li").count(), 1);
}

#[test]
fn trace_table_is_capped_and_says_so() {
    let run = mode_set(RemapperKind::Strict);
    let html = render_html(&run);
    let rows = html.matches("<tr data-k=").count();
    let events = run.machine.trace().len();
    assert_eq!(rows, events.min(MAX_TRACE_ROWS));
    if run.report.trace_events as usize > MAX_TRACE_ROWS {
        assert!(html.contains("id=\"trace-left-out\""));
    }
}

#[test]
fn strict_scanout_shows_the_clear_colour_and_the_test_rectangle() {
    let run = mode_set(RemapperKind::Strict);
    let img = screenshot(&run, Some((1024, 768))).expect("plane A is on after the mode set");
    assert!(matches!(
        img.source,
        Source::Scanout {
            unreachable_pages: 0,
            ..
        }
    ));
    assert_eq!((img.width, img.height), (1024, 768));
    assert_eq!(img.pixel(0, 0), Some(FB_CLEAR));
    let (x, y, w, h) = FB_RECT_GEOMETRY;
    assert_eq!(img.pixel(x + w / 2, y + h / 2), Some(FB_RECT));
    assert_eq!(img.pixel(x + w + 1, y), Some(FB_CLEAR));
    // Geometry from the report's VBE step when none is given.
    assert_eq!(screenshot(&run, None), Some(img));
}

#[test]
fn qemu_2016_scanout_differs_and_marks_pages_that_map_nowhere() {
    let strict = screenshot(&mode_set(RemapperKind::Strict), None).unwrap();
    let run = mode_set(RemapperKind::Qemu2016);
    let img = screenshot(&run, None).unwrap();
    assert_ne!(img, strict);
    let Source::Scanout {
        unreachable_pages, ..
    } = img.source
    else {
        panic!("expected a scanout, got {:?}", img.source);
    };
    assert!(
        unreachable_pages > 0,
        "QEMU 2016 maps the scanout partly nowhere"
    );
    // The checkerboard is visible: magenta somewhere in the picture.
    let magenta = (0..img.height).step_by(7).any(|y| {
        (0..img.width)
            .step_by(5)
            .any(|x| img.pixel(x, y) == Some(0xFF00FF))
    });
    assert!(magenta);
}

#[test]
fn png_of_the_scanout_decodes() {
    let img = screenshot(&mode_set(RemapperKind::Strict), None).unwrap();
    let png = encode_png(&img);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (info, buf) = decode_png(png);
    assert_eq!((info.width, info.height), (1024, 768));
    assert_eq!(&buf[..3], &FB_CLEAR.to_be_bytes()[1..]);
}

#[test]
fn seavgabios_text_mode_draws_the_string() {
    let Some(rom) = seavgabios() else {
        return;
    };
    let scenario = Scenario::for_rom(&rom, RemapperKind::Strict)
        .with_script(vec![Step::Text("igdemu".into())]);
    let run = igdemu::session::run(&rom, &scenario).unwrap();
    let img = screenshot(&run, None).expect("text screen");
    assert_eq!(img.source, Source::VgaText);
    let png = encode_png(&img);
    let (info, buf) = decode_png(png);
    assert_eq!((info.width, info.height), (640, 400));
    let ink_in_cell = |col: u32| {
        (0..CELL_H).any(|y| {
            (0..CELL_W).any(|x| {
                let i = ((y * info.width + col * CELL_W + x) * 3) as usize;
                buf[i..i + 3] != [0, 0, 0]
            })
        })
    };
    for col in 0..6 {
        assert!(ink_in_cell(col), "cell {col} of \"igdemu\" is blank");
    }
    assert!(!ink_in_cell(40), "the middle of row 0 should be blank");
}

#[test]
fn seavgabios_vbe_mode_is_shot_from_the_dispi_frame_buffer() {
    let Some(rom) = seavgabios() else {
        return;
    };
    let scenario =
        Scenario::for_rom(&rom, RemapperKind::Strict).with_script(vec![Step::vbe(640, 480, 32)]);
    let mut run = igdemu::session::run(&rom, &scenario).unwrap();
    let blank = screenshot(&run, None).expect("DISPI screen");
    assert_eq!(
        blank.source,
        Source::Dispi {
            bpp: 32,
            start: 0,
            pitch: 640 * 4
        }
    );
    assert_eq!((blank.width, blank.height), (640, 480));
    assert!(blank.rgb.iter().all(|&b| b == 0), "4F02 clears the screen");
    // SeaVGABIOS draws teletype output into the frame buffer in VBE modes.
    for ch in "igdemu".bytes() {
        let regs = igdemu::cpu::Registers {
            eax: 0x0E00 | u32::from(ch),
            ebx: 0x000F,
            ..Default::default()
        };
        let (_, o) = run.machine.call_int(0x10, regs).unwrap();
        assert!(o.returned(), "{o:?}");
    }
    let img = screenshot(&run, None).unwrap();
    let ink = |col: u32| (0..16).any(|y| (0..8).any(|x| img.pixel(col * 8 + x, y) != Some(0)));
    for col in 0..6 {
        assert!(
            ink(col),
            "glyph {col} of \"igdemu\" is not in the frame buffer"
        );
    }
    assert!(!ink(40), "the middle of the first text row is blank");
    // SeaVGABIOS reached the frame buffer with INT 15h AH=87h, served.
    assert!(run.machine.trace().iter().any(|e| matches!(
        e.kind,
        igdemu::trace::EventKind::IntCall { vector: 0x15, input, result: igdemu::trace::IntResult::Handled, .. }
            if input.eax >> 8 & 0xFF == 0x87
    )));
}
