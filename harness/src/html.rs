//! The HTML report of a run: one self-contained file (inline CSS, SVG and a
//! few lines of JavaScript; nothing loaded from elsewhere) with the summary, a
//! map of guest physical memory showing where every GTT entry and device DMA
//! landed, the screen the ROM drew, the violations, the GTT and DMA runs and
//! the trace with a filter.
//!
//! Stable element ids for tests and scripts: `summary`, `memory-map` (the
//! SVG), `screen`, `violations` (an `<ol>`, one `<li>` per folded violation),
//! `gtt-runs`, `dma-runs`, `trace` (a table), `trace-filter` (the text box).
//! Every string taken from the report goes through [`escape`].
//!
//! ```no_run
//! # fn demo(run: &igdemu::session::SessionRun) {
//! std::fs::write("report.html", igdemu_harness::html::render_html(run)).unwrap();
//! # }
//! ```

use std::fmt::Write as _;

use igdemu::addr::{Iova, Region};
use igdemu::check::Violation;
use igdemu::igd::PteFormat;
use igdemu::machine::iommu::{AccessClass, Iommu};
use igdemu::machine::memory::E820Type;
use igdemu::machine::{DeviceEvent, EventKind, TraceEvent as Event};
use igdemu::session::{GttRun, SessionRun, Verdict};

use crate::render::{entry_range, fold_groups, fold_line, last_raw, size, verdict_sentence};
use crate::screenshot::{self, Image, Source};

/// Trace rows written at most; the rest are counted.
pub const MAX_TRACE_ROWS: usize = 5000;
/// Folded violations listed at most.
pub const MAX_VIOLATIONS: usize = 2000;
/// DMA runs listed at most in the table (the map shows all).
pub const MAX_DMA_ROWS: usize = 1000;

/// Marks (GTT runs, and DMA outside guest stolen memory) that get their own
/// breakpoints on the map's scale (so a 4 KiB stray write is as visible as a
/// region).
const MAX_MARK_BREAKS: usize = 64;
/// DMA runs closer than this merge into one mark on the map.
const DMA_MERGE_GAP: u64 = 64 << 10;
const PAGE: u64 = 4096;
const GIB4: u64 = 1 << 32;

/// `s` with `& < > " '` replaced by entities: safe in element content and in
/// quoted attribute values.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// CSS class and colour of an access class.
fn class_style(c: AccessClass) -> (&'static str, &'static str, &'static str) {
    match c {
        AccessClass::GuestStolen => ("ok", "#16a34a", "ok (guest stolen)"),
        AccessClass::OtherGuestRam => ("corrupt", "#dc2626", "corruption (other guest RAM)"),
        AccessClass::Unmapped => ("fault", "#d97706", "fault (unmapped)"),
        AccessClass::HostStolenEscape => ("escape", "#7c3aed", "escape (host stolen)"),
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Clean => "#16a34a",
        Verdict::Fault => "#d97706",
        Verdict::Corrupt => "#dc2626",
        Verdict::Escape => "#7c3aed",
        Verdict::Stopped => "#7f1d1d",
        Verdict::DidNotRun => "#6b7280",
        Verdict::Inconclusive => "#0369a1",
    }
}

fn hex_range(lo: u64, hi: u64) -> String {
    format!("{lo:#010x}–{hi:#010x}")
}

fn region_text<A: Copy + Into<u64>>(r: &Region<A>) -> String {
    format!("{} ({})", hex_range(r.base.into(), r.end()), size(r.size))
}

/// Render the report of `run` as one self-contained HTML page.
#[must_use]
pub fn render_html(run: &SessionRun) -> String {
    render_html_with_screen(run, screenshot::screenshot(run, None).as_ref())
}

/// [`render_html`] with the screen already taken (`None`: no screen section).
#[must_use]
pub fn render_html_with_screen(run: &SessionRun, screen_img: Option<&Image>) -> String {
    let r = &run.report;
    let mut o = String::with_capacity(1 << 20);
    let title = format!(
        "igdemu: {:04x} {} under {}: {}",
        r.device.device_id,
        r.device.platform,
        r.remapper,
        r.verdict.name()
    );
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = write!(
        o,
        "<header><h1>igdemu report</h1><p class=\"sub\">{} &middot; {} ({}) &middot; remapper <b>{}</b></p></header>\n<main>\n",
        escape(&format!(
            "ROM {:04x}:{:04x}, {} bytes",
            r.rom.vendor, r.rom.device, r.rom.size
        )),
        escape(r.device.platform),
        escape(&r.device.gen),
        escape(r.remapper)
    );
    summary(&mut o, run);
    memory_map(&mut o, run);
    screen(&mut o, screen_img);
    violations(&mut o, run);
    gtt_runs(&mut o, run);
    dma_runs(&mut o, run);
    trace(&mut o, run);
    let _ = write!(o, "</main>\n<script>{JS}</script>\n</body>\n</html>\n");
    o
}

fn summary(o: &mut String, run: &SessionRun) {
    let r = &run.report;
    let colour = verdict_colour(r.verdict);
    let _ = write!(
        o,
        "<section id=\"summary\">\n<div class=\"verdict\" style=\"border-color:{colour}\">\
         <span class=\"badge\" style=\"background:{colour}\">{}</span> <span>{}</span>\
         <span class=\"count\">{} violation(s)</span></div>\n<table class=\"kv\">\n",
        escape(&r.verdict.name().to_uppercase()),
        escape(verdict_sentence(r.verdict)),
        r.check.violations.len()
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(o, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
    };
    row(
        "ROM",
        escape(&format!(
            "{} bytes, PCIR {:04x}:{:04x}, image {} bytes, checksum {}, initialized for {}",
            r.rom.size,
            r.rom.vendor,
            r.rom.device,
            r.rom.image_size,
            if r.rom.checksum_ok { "ok" } else { "WRONG" },
            r.rom.bdf.as_deref().unwrap_or("no matching function")
        )),
    );
    row(
        "Device",
        escape(&format!(
            "{:04x} {} ({}), GGC {:#06x}",
            r.device.device_id, r.device.platform, r.device.gen, r.device.ggc
        )),
    );
    row("Remapper", escape(r.remapper));
    row(
        "Host stolen",
        escape(&format!(
            "{} host physical",
            region_text(&r.regions.host_stolen)
        )),
    );
    row(
        "Guest stolen",
        escape(
            &r.regions
                .guest_stolen
                .as_ref()
                .map_or_else(|| "none reserved".to_string(), region_text),
        ),
    );
    row(
        "OpRegion",
        escape(
            &r.regions
                .opregion
                .as_ref()
                .map_or_else(|| "none".to_string(), region_text),
        ),
    );
    let mut steps = String::from("<table class=\"steps\">");
    for s in &r.steps {
        let _ = write!(
            steps,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            if s.returned { "ret" } else { "fail" },
            escape(&s.step),
            escape(&s.outcome),
            s.notes
                .iter()
                .map(|n| escape(n))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    steps.push_str("</table>");
    row("Steps", steps);
    row(
        "GTT",
        escape(&format!(
            "{} entries written in {} runs; {} valid of {} checked",
            r.gtt.iter().map(|g| g.count).sum::<u64>(),
            r.gtt.len(),
            r.check.valid_entries,
            r.check.entries_checked
        )),
    );
    row(
        "DMA",
        escape(&format!(
            "{} runs, {} through the aperture; {} aperture faults",
            r.dma_totals.runs,
            size(r.dma_totals.bytes),
            r.aperture_faults
        )),
    );
    row(
        "Run",
        escape(&format!(
            "{} instructions, {} trace events ({} dropped)",
            r.instructions, r.trace_events, r.trace_dropped
        )),
    );
    o.push_str("</table>\n</section>\n");
}

/// A piecewise scale: each segment between neighbouring breakpoints gets a
/// width growing with the log of its size, so a 4 KiB OpRegion, a 2 MiB
/// stolen region and 2 GiB of RAM are all visible on one axis.
struct Scale {
    breaks: Vec<u64>,
    xs: Vec<f64>,
}

impl Scale {
    fn new(mut breaks: Vec<u64>, x0: f64, width: f64) -> Self {
        breaks.sort_unstable();
        breaks.dedup();
        let weights: Vec<f64> = breaks
            .windows(2)
            .map(|w| {
                let size = (w[1] - w[0]).max(1) as f64;
                (1.0 + (size / PAGE as f64).log2().max(0.0)).min(21.0)
            })
            .collect();
        let total: f64 = weights.iter().sum::<f64>().max(1.0);
        let mut xs = vec![x0];
        let mut x = x0;
        for w in &weights {
            x += w / total * width;
            xs.push(x);
        }
        Self { breaks, xs }
    }

    fn x(&self, addr: u64) -> f64 {
        let i = self.breaks.partition_point(|b| *b <= addr);
        if i == 0 {
            return self.xs.first().copied().unwrap_or(0.0);
        }
        if i >= self.breaks.len() {
            return self.xs.last().copied().unwrap_or(0.0);
        }
        let (b0, b1) = (self.breaks[i - 1], self.breaks[i]);
        let (x0, x1) = (self.xs[i - 1], self.xs[i]);
        x0 + (addr - b0) as f64 / (b1 - b0).max(1) as f64 * (x1 - x0)
    }

    fn end(&self) -> u64 {
        self.breaks.last().copied().unwrap_or(GIB4)
    }
}

/// One mark on the map: a range, its class, a tooltip.
struct Mark {
    lo: u64,
    hi: u64,
    class: AccessClass,
    tip: String,
}

/// Split `[lo, hi)` at the scale's breakpoints and classify each piece.
fn classified_pieces(
    scale: &Scale,
    iommu: Option<&Iommu>,
    lo: u64,
    hi: u64,
    fallback: AccessClass,
) -> Vec<(u64, u64, AccessClass)> {
    let mut cuts: Vec<u64> = scale
        .breaks
        .iter()
        .copied()
        .filter(|b| *b > lo && *b < hi)
        .collect();
    cuts.insert(0, lo);
    cuts.push(hi);
    let mut out: Vec<(u64, u64, AccessClass)> = Vec::new();
    for w in cuts.windows(2) {
        let class = iommu.map_or(fallback, |m| m.classify(Iova(w[0]), w[1] - w[0]));
        match out.last_mut() {
            Some(last) if last.2 == class && last.1 == w[0] => last.1 = w[1],
            _ => out.push((w[0], w[1], class)),
        }
    }
    out
}

/// The page range each valid GTT run maps: (first byte, end, the run).
fn gtt_ranges(run: &SessionRun, format: Option<PteFormat>) -> Vec<(u64, u64, &GttRun)> {
    let Some(format) = format else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for g in &run.report.gtt {
        let first = format.decode(g.device_first);
        if !first.valid {
            continue;
        }
        let last = format.decode(last_raw(g));
        let lo = first.addr.min(last.addr);
        let hi = first.addr.max(last.addr).saturating_add(PAGE);
        out.push((lo, hi, g));
    }
    out
}

/// One mark per classified piece of each GTT run's range.
fn gtt_marks(ranges: &[(u64, u64, &GttRun)], scale: &Scale, iommu: Option<&Iommu>) -> Vec<Mark> {
    let mut marks = Vec::new();
    for &(lo, hi, g) in ranges {
        let entries = if g.count == 1 {
            format!("GTT entry {}", entry_range(g))
        } else {
            format!("GTT entries {}", entry_range(g))
        };
        for (a, b, class) in classified_pieces(scale, iommu, lo, hi, AccessClass::Unmapped) {
            marks.push(Mark {
                lo: a,
                hi: b,
                class,
                tip: format!(
                    "{entries} ({}) map {} ({}): {} [written at {}]",
                    g.outcome,
                    hex_range(a, b),
                    size(b - a),
                    class,
                    g.at
                ),
            });
        }
    }
    marks
}

/// A merged DMA range: (first, end, write, class, accesses, runs).
type DmaRange = (u64, u64, bool, AccessClass, u64, u64);

/// Device DMA merged for the map: runs of one class and direction less than
/// `DMA_MERGE_GAP` apart become one mark (the map has no room for every
/// 1 KiB run of a framebuffer fill). (first, end, write, class, accesses, runs)
fn dma_ranges(run: &SessionRun) -> Vec<DmaRange> {
    let mut runs: Vec<_> = run.report.dma.iter().collect();
    runs.sort_by_key(|d| (d.write, d.iova.0));
    let mut merged: Vec<DmaRange> = Vec::new();
    for d in runs {
        let (lo, hi) = (d.iova.0, d.iova.0.saturating_add(d.len.max(1)));
        match merged.last_mut() {
            Some(m)
                if m.2 == d.write && m.3 == d.class && lo <= m.1.saturating_add(DMA_MERGE_GAP) =>
            {
                m.1 = m.1.max(hi);
                m.4 += d.accesses;
                m.5 += 1;
            }
            _ => merged.push((lo, hi, d.write, d.class, d.accesses, 1)),
        }
    }
    merged.sort_by_key(|m| (m.0, m.2));
    merged
}

/// One mark per classified piece of each merged DMA range.
fn dma_marks(ranges: &[DmaRange], scale: &Scale, iommu: Option<&Iommu>) -> Vec<Mark> {
    let mut marks = Vec::new();
    for &(lo, hi, write, class, accesses, n) in ranges {
        for (a, b, c) in classified_pieces(scale, iommu, lo, hi, class) {
            marks.push(Mark {
                lo: a,
                hi: b,
                class: c,
                tip: format!(
                    "device {} within {} ({}) in {}: {accesses} accesses in {n} run(s)",
                    if write { "wrote" } else { "read" },
                    hex_range(a, b),
                    size(b - a),
                    c
                ),
            });
        }
    }
    marks
}

fn e820_style(kind: E820Type) -> (&'static str, &'static str) {
    match kind {
        E820Type::Ram => ("#cbd5e1", "RAM"),
        E820Type::Reserved => ("#e7d8b1", "reserved"),
        E820Type::Acpi => ("#d8c7ea", "ACPI"),
        E820Type::Nvs => ("#d8c7ea", "ACPI NVS"),
    }
}

fn memory_map(o: &mut String, run: &SessionRun) {
    let r = &run.report;
    const W: f64 = 1200.0;
    const X0: f64 = 20.0;
    const MAP_W: f64 = 960.0;
    const BAR_Y: f64 = 56.0;
    const BAR_H: f64 = 44.0;
    const GTT_Y: f64 = 126.0;
    const DMA_Y: f64 = 162.0;
    const LANE_H: f64 = 18.0;
    const AXIS_Y: f64 = 190.0;
    const H: f64 = 292.0;

    let e820 = run.machine.state().e820().entries();
    let format = run.igd().map(|f| f.passthrough().host().gtt().format());
    let iommu = run.igd().map(|f| f.dma().iommu());
    let gtt_ranges = gtt_ranges(run, format);
    let dma_ranges = dma_ranges(run);
    // Breakpoints: everything that bounds a region.
    let mut breaks = vec![0, GIB4];
    for e in e820 {
        breaks.push(e.base);
        breaks.push(e.base.saturating_add(e.len));
    }
    for g in [&r.regions.guest_stolen, &r.regions.opregion]
        .into_iter()
        .flatten()
    {
        breaks.push(g.base.0);
        breaks.push(g.end());
    }
    // Accesses outside guest stolen memory bound segments of their own, and
    // anything above 4 GiB widens the axis to the highest address touched.
    let outside = |lo: u64, hi: u64| {
        !r.regions
            .guest_stolen
            .is_some_and(|g| g.contains_range(lo, hi - lo))
    };
    let mut top = GIB4;
    let mut mark_breaks = Vec::new();
    // GTT runs are few: each bounds a segment, inside stolen memory too.
    for &(lo, hi, ..) in &gtt_ranges {
        top = top.max(hi);
        mark_breaks.extend([lo, hi]);
    }
    for &(lo, hi, ..) in &dma_ranges {
        top = top.max(hi);
        if outside(lo, hi) {
            mark_breaks.extend([lo, hi]);
        }
    }
    breaks.extend(mark_breaks.into_iter().take(2 * MAX_MARK_BREAKS));
    if top > GIB4 {
        breaks.push(top);
    }
    breaks.retain(|b| *b <= top);
    let scale = Scale::new(breaks, X0, MAP_W);

    let _ = write!(
        o,
        "<section><h2>Guest physical memory</h2>\n<p class=\"note\">Piecewise scale: every \
         region gets room by the log of its size, so small regions stay visible next to \
         gigabytes of RAM. Hover a mark for details.</p>\n\
         <svg id=\"memory-map\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" \
         width=\"100%\" role=\"img\" aria-label=\"map of guest physical memory\">\n\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f8fafc\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#cbd5e1\" stroke-width=\"2\"/>\
         </pattern></defs>\n"
    );
    let _ = writeln!(
        o,
        "<text x=\"{X0}\" y=\"{}\" class=\"lane\">guest physical address space, 0 – {:#x}</text>",
        BAR_Y - 8.0,
        scale.end()
    );
    // The unmapped background, then e820 regions, then stolen and OpRegion.
    let _ = writeln!(
        o,
        "<rect x=\"{X0}\" y=\"{BAR_Y}\" width=\"{MAP_W}\" height=\"{BAR_H}\" fill=\"url(#hatch)\" stroke=\"#94a3b8\"><title>unmapped: no RAM, MMIO hole (IOMMU faults)</title></rect>"
    );
    for e in e820 {
        let (fill, name) = e820_style(e.kind);
        let (a, b) = (scale.x(e.base), scale.x(e.base.saturating_add(e.len)));
        let _ = writeln!(
            o,
            "<rect x=\"{a:.1}\" y=\"{BAR_Y}\" width=\"{:.1}\" height=\"{BAR_H}\" fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"0.5\"><title>{}</title></rect>",
            (b - a).max(1.0),
            escape(&format!(
                "e820 {name}: {} ({})",
                hex_range(e.base, e.base.saturating_add(e.len)),
                size(e.len)
            ))
        );
    }
    // Labels inside wide-enough segments.
    for e in e820 {
        let (a, b) = (scale.x(e.base), scale.x(e.base.saturating_add(e.len)));
        let (_, name) = e820_style(e.kind);
        if b - a > 70.0 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{}\" class=\"seg\" text-anchor=\"middle\">{} {}</text>",
                (a + b) / 2.0,
                BAR_Y + BAR_H / 2.0 + 4.0,
                name,
                escape(&size(e.len))
            );
        }
    }
    if let Some(g) = &r.regions.guest_stolen {
        let (a, b) = (scale.x(g.base.0), scale.x(g.end()));
        let _ = writeln!(
            o,
            "<rect id=\"guest-stolen\" class=\"guest-stolen\" x=\"{a:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#bbf7d0\" stroke=\"#15803d\" stroke-width=\"2\"><title>{}</title></rect>",
            BAR_Y - 4.0,
            (b - a).max(2.0),
            BAR_H + 8.0,
            escape(&format!("guest stolen region {}", region_text(g)))
        );
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{}\" class=\"seg strong\" text-anchor=\"middle\">stolen {}</text>",
            (a + b) / 2.0,
            BAR_Y + BAR_H / 2.0 + 4.0,
            escape(&size(g.size))
        );
    }
    if let Some(op) = &r.regions.opregion {
        let (a, b) = (scale.x(op.base.0), scale.x(op.end()));
        let _ = writeln!(
            o,
            "<rect id=\"opregion\" x=\"{a:.1}\" y=\"{BAR_Y}\" width=\"{:.1}\" height=\"{BAR_H}\" fill=\"#a78bfa\" stroke=\"#6d28d9\"><title>{}</title></rect>",
            (b - a).max(2.0),
            escape(&format!("OpRegion {}", region_text(op)))
        );
    }
    // Lanes.
    for (y, name) in [(GTT_Y, "GTT entries →"), (DMA_Y, "device DMA →")] {
        let _ = writeln!(
            o,
            "<rect x=\"{X0}\" y=\"{y}\" width=\"{MAP_W}\" height=\"{LANE_H}\" fill=\"#f1f5f9\"/>\
             <text x=\"{X0}\" y=\"{}\" class=\"lane\">{name}</text>",
            y - 4.0
        );
    }
    let mut escapes: Vec<&Mark> = Vec::new();
    let gtt = gtt_marks(&gtt_ranges, &scale, iommu);
    let dma = dma_marks(&dma_ranges, &scale, iommu);
    for (y, marks) in [(GTT_Y, &gtt), (DMA_Y, &dma)] {
        for m in marks {
            let (a, b) = (scale.x(m.lo), scale.x(m.hi));
            let (class, colour, _) = class_style(m.class);
            let _ = writeln!(
                o,
                "<rect class=\"mark {class}\" x=\"{a:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{LANE_H}\" fill=\"{colour}\"><title>{}</title></rect>",
                (b - a).max(2.0),
                escape(&m.tip)
            );
            if m.class == AccessClass::HostStolenEscape {
                escapes.push(m);
            }
        }
    }
    if gtt.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" class=\"empty\">no valid GTT entries written</text>",
            X0 + 110.0,
            GTT_Y + 13.0
        );
    }
    if dma.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" class=\"empty\">no device DMA</text>",
            X0 + 110.0,
            DMA_Y + 13.0
        );
    }
    // Axis: a tick at every breakpoint, labels where there is room.
    let mut last_label = f64::NEG_INFINITY;
    for (b, x) in scale.breaks.iter().zip(&scale.xs) {
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#64748b\" stroke-width=\"0.6\"/>",
            BAR_Y + BAR_H,
            AXIS_Y
        );
        if x - last_label >= 13.0 {
            let _ = writeln!(
                o,
                "<text class=\"tick\" transform=\"translate({:.1},{}) rotate(55)\">{b:#x}</text>",
                x - 2.0,
                AXIS_Y + 4.0
            );
            last_label = *x;
        }
    }
    // Host stolen memory, to the side: not guest-addressable at all.
    let hs = &r.regions.host_stolen;
    let (hx, hw, hy, hh) = (1040.0, 36.0, BAR_Y, DMA_Y + LANE_H - BAR_Y);
    let _ = writeln!(
        o,
        "<text x=\"{hx}\" y=\"{}\" class=\"lane\">host stolen</text>\
         <rect id=\"host-stolen\" x=\"{hx}\" y=\"{hy}\" width=\"{hw}\" height=\"{hh}\" fill=\"#fde68a\" stroke=\"#b45309\"><title>{}</title></rect>\
         <text x=\"{}\" y=\"{}\" class=\"side\">{:#x}</text>\
         <text x=\"{}\" y=\"{}\" class=\"side\">{:#x}</text>\
         <text x=\"{}\" y=\"{}\" class=\"side\">{}</text>\
         <text x=\"{}\" y=\"{}\" class=\"side\">host physical,</text>\
         <text x=\"{}\" y=\"{}\" class=\"side\">never guest-visible</text>",
        BAR_Y - 8.0,
        escape(&format!(
            "host stolen memory (host physical) {}",
            region_text(hs)
        )),
        hx + hw + 6.0,
        hy + 10.0,
        hs.base.0,
        hx + hw + 6.0,
        hy + hh,
        hs.end(),
        hx + hw + 6.0,
        hy + hh / 2.0 - 14.0,
        escape(&size(hs.size)),
        hx + hw + 6.0,
        hy + hh / 2.0 + 2.0,
        hx + hw + 6.0,
        hy + hh / 2.0 + 16.0,
    );
    for m in escapes {
        let span = hs.size.max(1) as f64;
        let a = m.lo.saturating_sub(hs.base.0).min(hs.size) as f64 / span;
        let b = m.hi.saturating_sub(hs.base.0).min(hs.size) as f64 / span;
        let _ = writeln!(
            o,
            "<rect class=\"mark escape\" x=\"{hx}\" y=\"{:.1}\" width=\"{hw}\" height=\"{:.1}\" fill=\"#7c3aed\"><title>{}</title></rect>",
            hy + a * hh,
            ((b - a) * hh).max(2.0),
            escape(&m.tip)
        );
    }
    // Legend.
    let mut lx = X0;
    let ly = H - 22.0;
    let legend: Vec<(&str, &str)> = vec![
        ("#cbd5e1", "RAM"),
        ("#e7d8b1", "reserved"),
        ("#d8c7ea", "ACPI / NVS"),
        ("url(#hatch)", "unmapped"),
        ("#bbf7d0", "guest stolen"),
        ("#a78bfa", "OpRegion"),
        ("#16a34a", "access ok"),
        ("#dc2626", "corruption"),
        ("#d97706", "IOMMU fault"),
        ("#7c3aed", "escape"),
    ];
    for (fill, name) in legend {
        let _ = writeln!(
            o,
            "<rect x=\"{lx}\" y=\"{ly}\" width=\"14\" height=\"14\" fill=\"{fill}\" stroke=\"#64748b\" stroke-width=\"0.5\"/>\
             <text x=\"{}\" y=\"{}\" class=\"legend\">{name}</text>",
            lx + 19.0,
            ly + 11.5
        );
        lx += 32.0 + name.len() as f64 * 7.0;
    }
    o.push_str("</svg>\n</section>\n");
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= c.len() {
                o.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                o.push('=');
            }
        }
    }
    o
}

fn screen(o: &mut String, img: Option<&Image>) {
    let Some(img) = img else {
        return;
    };
    let what = match img.source {
        Source::Scanout {
            pipe,
            format,
            surface,
            stride,
            unreachable_pages,
        } => {
            let mut s = format!(
                "Display plane {} scanout, {}x{} {format:?}, surface at GTT offset {surface:#x}, stride {stride} bytes.",
                char::from(b'A' + pipe.min(25) as u8),
                img.width, img.height
            );
            if unreachable_pages > 0 {
                let _ = write!(
                    s,
                    " {unreachable_pages} page(s) map nowhere the display could read and are drawn as a magenta checkerboard."
                );
            }
            s
        }
        Source::Dispi { bpp, start, pitch } => format!(
            "Standard VGA DISPI linear frame buffer, {}x{}x{bpp}, {pitch} bytes per line, starting {start:#x} bytes into video memory.",
            img.width, img.height
        ),
        Source::VgaText => "VGA text mode, 80x25 at 0xB8000.".to_string(),
    };
    let _ = write!(
        o,
        "<section><h2>Screen</h2>\n<p class=\"note\">{}</p>\n<img id=\"screen\" alt=\"the screen the ROM drew\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,{}\">\n</section>\n",
        escape(&what),
        img.width.min(640),
        u64::from(img.height) * u64::from(img.width.min(640)) / u64::from(img.width.max(1)),
        base64(&screenshot::encode_png(img))
    );
}

fn violation_class(v: &Violation) -> Option<AccessClass> {
    match v {
        Violation::GttEntry { class, .. }
        | Violation::Dma { class, .. }
        | Violation::DmaUnlisted { class, .. } => Some(*class),
        Violation::Fatal { .. } => None,
    }
}

fn violations(o: &mut String, run: &SessionRun) {
    let vs = &run.report.check.violations;
    let lines: Vec<(String, Option<AccessClass>)> = fold_groups(vs)
        .into_iter()
        .map(|(first, k)| (fold_line(first, k), violation_class(first)))
        .collect();
    let _ = writeln!(
        o,
        "<section><h2>Violations <span class=\"count\">{} in {} line(s)</span></h2>",
        vs.len(),
        lines.len()
    );
    if lines.is_empty() {
        o.push_str("<p class=\"clean\">No violations: every valid GTT entry and every device access stayed inside the guest stolen region.</p>\n<div><ol id=\"violations\">\n");
    } else {
        o.push_str("<div class=\"scroll short\"><ol id=\"violations\">\n");
    }
    for (line, class) in lines.iter().take(MAX_VIOLATIONS) {
        let (class, colour) = match class {
            Some(c) => {
                let (k, col, _) = class_style(*c);
                (k, col)
            }
            None => ("stopped", "#7f1d1d"),
        };
        let _ = writeln!(
            o,
            "<li class=\"v {class}\" style=\"border-left-color:{colour}\">{}</li>",
            escape(line)
        );
    }
    o.push_str("</ol></div>\n");
    if lines.len() > MAX_VIOLATIONS {
        let _ = writeln!(
            o,
            "<p class=\"note\">{} more lines left out (see the JSON report).</p>",
            lines.len() - MAX_VIOLATIONS
        );
    }
    o.push_str("</section>\n");
}

fn gtt_runs(o: &mut String, run: &SessionRun) {
    let r = &run.report;
    let format = run.igd().map(|f| f.passthrough().host().gtt().format());
    let iommu = run.igd().map(|f| f.dma().iommu());
    let _ = write!(
        o,
        "<section><h2>GTT runs <span class=\"count\">{} run(s)</span></h2>\n<div class=\"scroll short\"><table id=\"gtt-runs\" class=\"grid\">\n<thead><tr><th>entries</th><th>guest wrote</th><th>device holds</th><th>step</th><th>target</th><th>lands in</th><th>passthrough</th><th>at</th></tr></thead><tbody>\n",
        r.gtt.len()
    );
    for g in &r.gtt {
        let range = entry_range(g);
        let (target, lands) = match format {
            Some(f) => {
                let p = f.decode(g.device_first);
                if p.valid {
                    let len = if g.step == 0 {
                        PAGE
                    } else {
                        g.count.saturating_mul(PAGE)
                    };
                    let last = f.decode(last_raw(g)).addr;
                    let classify =
                        |a: u64| iommu.map_or(AccessClass::Unmapped, |m| m.classify(Iova(a), PAGE));
                    let mut classes = vec![classify(p.addr)];
                    if g.step != 0 {
                        let last_class = classify(last);
                        if last_class != classes[0] {
                            classes.push(last_class);
                        }
                    }
                    let pills: Vec<String> = classes
                        .into_iter()
                        .map(|c| {
                            let (k, _, name) = class_style(c);
                            format!("<span class=\"pill {k}\">{}</span>", escape(name))
                        })
                        .collect();
                    (format!("{:#x} ({})", p.addr, size(len)), pills.join(" … "))
                } else {
                    ("invalid".to_string(), "—".to_string())
                }
            }
            None => ("?".to_string(), "—".to_string()),
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"mono\">{:#x}</td><td class=\"mono\">{:#x}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{lands}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            escape(&range),
            g.guest_first,
            g.device_first,
            if g.count > 1 { format!("{:#x}", g.step) } else { "—".into() },
            escape(&target),
            escape(&g.outcome),
            escape(&g.at.to_string())
        );
    }
    o.push_str("</tbody></table></div>\n</section>\n");
}

fn dma_runs(o: &mut String, run: &SessionRun) {
    let r = &run.report;
    let _ = write!(
        o,
        "<section><h2>Device DMA <span class=\"count\">{} run(s)</span></h2>\n<div class=\"scroll short\"><table id=\"dma-runs\" class=\"grid\">\n<thead><tr><th>IOVA</th><th>bytes</th><th>dir</th><th>lands in</th><th>completed</th><th>accesses</th><th>at</th></tr></thead><tbody>\n",
        r.dma_totals.runs
    );
    for d in r.dma.iter().take(MAX_DMA_ROWS) {
        let (k, _, name) = class_style(d.class);
        let _ = writeln!(
            o,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td><span class=\"pill {k}\">{}</span></td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            d.iova,
            d.len,
            if d.write { "write" } else { "read" },
            escape(name),
            if d.completed { "yes" } else { "no (DMAR fault)" },
            d.accesses,
            d.at.map_or_else(|| "—".to_string(), |a| escape(&a.to_string()))
        );
    }
    o.push_str("</tbody></table></div>\n");
    let shown = r.dma.len().min(MAX_DMA_ROWS) as u64;
    if r.dma_totals.runs > shown {
        let _ = writeln!(
            o,
            "<p class=\"note\">{} more runs left out.</p>",
            r.dma_totals.runs - shown
        );
    }
    o.push_str("</section>\n");
}

/// The short kind name and a one-line description of a trace event.
#[must_use]
pub fn describe_event(kind: &EventKind) -> (&'static str, String) {
    match kind {
        EventKind::ConfigRead {
            bdf,
            offset,
            size,
            value,
        } => (
            "config-read",
            format!("{bdf} [{offset:#05x}] /{size} → {value:#x}"),
        ),
        EventKind::ConfigWrite {
            bdf,
            offset,
            size,
            value,
        } => (
            "config-write",
            format!("{bdf} [{offset:#05x}] /{size} ← {value:#x}"),
        ),
        EventKind::PortIn { port, size, value } => {
            ("port-in", format!("port {port:#06x} /{size} → {value:#x}"))
        }
        EventKind::PortOut { port, size, value } => {
            ("port-out", format!("port {port:#06x} /{size} ← {value:#x}"))
        }
        EventKind::MmioRead {
            bdf,
            bar,
            offset,
            size,
            value,
        } => (
            "mmio-read",
            format!("{bdf} BAR{bar}+{offset:#x} /{size} → {value:#x}"),
        ),
        EventKind::MmioWrite {
            bdf,
            bar,
            offset,
            size,
            value,
        } => (
            "mmio-write",
            format!("{bdf} BAR{bar}+{offset:#x} /{size} ← {value:#x}"),
        ),
        EventKind::Aperture {
            bdf,
            offset,
            size,
            value,
            write,
            count,
        } => (
            "aperture",
            format!(
                "{bdf} aperture+{offset:#x} /{size} {} {value:#x} ×{count}",
                if *write { "←" } else { "→" }
            ),
        ),
        EventKind::Device(DeviceEvent::Passthrough(p)) => ("passthrough", format!("{p:?}")),
        EventKind::Device(DeviceEvent::Dma(d)) => (
            "dma",
            format!(
                "{} {} bytes at IOVA {} in {}, {} access(es){}",
                if d.write { "write" } else { "read" },
                d.len,
                d.iova,
                d.class,
                d.accesses,
                if d.completed { "" } else { ", DMAR fault" }
            ),
        ),
        EventKind::IntCall {
            vector,
            input,
            output,
            result,
        } => (
            "int",
            format!(
                "INT {vector:02X}h AX={:04X} BX={:04X} CX={:04X} DX={:04X} → AX={:04X} BX={:04X} CF={} ({result:?})",
                input.eax & 0xFFFF,
                input.ebx & 0xFFFF,
                input.ecx & 0xFFFF,
                input.edx & 0xFFFF,
                output.eax & 0xFFFF,
                output.ebx & 0xFFFF,
                u8::from(output.cf)
            ),
        ),
        EventKind::Checkpoint { port, value } => {
            ("checkpoint", format!("port {port:#x} = {value:#x}"))
        }
        EventKind::Pmm {
            function,
            args,
            result,
        } => (
            "pmm",
            format!("PMM function {function:04X}h args {args:04X?} → DX:AX={result:#010x}"),
        ),
        EventKind::Unhandled(u) => ("unhandled", format!("{u:?}")),
    }
}

fn trace(o: &mut String, run: &SessionRun) {
    let events: &[Event] = run.machine.trace();
    let shown = events.len().min(MAX_TRACE_ROWS);
    let rows: Vec<(&Event, &'static str, String)> = events
        .iter()
        .take(shown)
        .map(|e| {
            let (kind, what) = describe_event(&e.kind);
            (e, kind, what)
        })
        .collect();
    let mut kinds: Vec<&'static str> = rows.iter().map(|r| r.1).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let _ = write!(
        o,
        "<section><h2>Trace <span class=\"count\">{} event(s)</span></h2>\n<div class=\"filters\">\
         <input id=\"trace-filter\" type=\"search\" placeholder=\"filter: text in any column, e.g. 0x70180 or INT 10h\" autocomplete=\"off\">\
         <select id=\"trace-kind\"><option value=\"\">all kinds</option>",
        run.report.trace_events
    );
    for k in &kinds {
        let _ = write!(o, "<option value=\"{k}\">{k}</option>");
    }
    o.push_str("</select><span id=\"trace-count\" class=\"count\"></span></div>\n");
    let _ = writeln!(o, "<div class=\"scroll\"><table id=\"trace\" class=\"grid\">\n<thead><tr><th>seq</th><th>CS:IP</th><th>kind</th><th>what</th></tr></thead><tbody>");
    for (e, kind, what) in &rows {
        let _ = writeln!(
            o,
            "<tr data-k=\"{kind}\"><td>{}</td><td class=\"mono\">{}</td><td>{kind}</td><td class=\"mono\">{}</td></tr>",
            e.seq,
            escape(&e.at.to_string()),
            escape(what)
        );
    }
    o.push_str("</tbody></table></div>\n");
    let left_out = run.report.trace_events.saturating_sub(shown as u64);
    if left_out > 0 {
        let _ = writeln!(
            o,
            "<p class=\"note\" id=\"trace-left-out\">{left_out} event(s) left out: the first {shown} are shown{}.</p>",
            if run.report.trace_dropped > 0 {
                format!(
                    "; {} were never stored (trace cap)",
                    run.report.trace_dropped
                )
            } else {
                String::new()
            }
        );
    }
    o.push_str("</section>\n");
}

const CSS: &str = r#"
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#0f172a;color:#f8fafc;padding:14px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
header .sub{margin:2px 0 0;color:#cbd5e1}
main{max-width:1240px;margin:0 auto;padding:8px 28px 40px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:16px;margin:0 0 10px}
.count{color:var(--muted);font-weight:400;font-size:13px;margin-left:8px}
.note{color:var(--muted);margin:0 0 8px;font-size:13px}
.verdict{display:flex;align-items:center;gap:10px;border-left:6px solid;padding:8px 12px;background:#f8fafc;margin-bottom:12px;font-size:15px}
.badge{color:#fff;font-weight:700;padding:3px 10px;border-radius:4px;letter-spacing:.04em}
table.kv{border-collapse:collapse;width:100%}
table.kv>tbody>tr>th{text-align:left;vertical-align:top;width:120px;color:var(--muted);font-weight:500;padding:3px 8px 3px 0}
table.kv>tbody>tr>td{padding:3px 0}
table.steps{border-collapse:collapse}
table.steps td{padding:1px 14px 1px 0;vertical-align:top}
table.steps tr.fail td{color:#b91c1c}
.mono,table.steps td:first-child{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12.5px}
svg{display:block;font-family:system-ui,"DejaVu Sans",sans-serif}
svg .lane{font-size:12px;fill:#334155;font-weight:600}
svg .seg{font-size:11px;fill:#334155}
svg .strong{font-weight:700;fill:#14532d}
svg .tick{font-size:9.5px;fill:#475569;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
svg .side{font-size:10.5px;fill:#475569}
svg .legend{font-size:11.5px;fill:#334155}
svg .empty{font-size:11px;fill:#94a3b8;font-style:italic}
svg .mark:hover{stroke:#0f172a;stroke-width:1}
ol#violations{margin:0;padding-left:34px}
ol#violations li{border-left:4px solid;padding:3px 8px;margin:2px 0;background:#fafafa}
.clean{color:#15803d;font-weight:600;margin:0 0 6px}
.scroll{max-height:520px;overflow:auto;border:1px solid var(--line);border-radius:4px}
.scroll.short{max-height:300px}
table.grid{border-collapse:collapse;width:100%;font-size:12.5px}
table.grid th{position:sticky;top:0;background:#f1f5f9;text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);font-weight:600}
table.grid td{padding:2px 8px;border-bottom:1px solid #f1f5f9;vertical-align:top}
table.grid tbody tr:hover{background:#f8fafc}
.pill{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:11.5px}
.pill.ok{background:#16a34a}.pill.corrupt{background:#dc2626}.pill.fault{background:#d97706}.pill.escape{background:#7c3aed}
.filters{display:flex;gap:8px;align-items:center;margin-bottom:8px}
#trace-filter{flex:1;max-width:520px;padding:5px 8px;border:1px solid #cbd5e1;border-radius:4px;font:inherit}
#trace-kind{padding:4px;border:1px solid #cbd5e1;border-radius:4px;font:inherit}
#screen{image-rendering:pixelated;border:1px solid var(--line);max-width:100%;height:auto}
"#;

const JS: &str = r#"
(function(){
  var f=document.getElementById('trace-filter'),k=document.getElementById('trace-kind'),
      n=document.getElementById('trace-count');
  if(!f||!k||!n)return;
  var rows=Array.prototype.slice.call(document.querySelectorAll('#trace tbody tr'));
  var text=rows.map(function(r){return r.textContent.toLowerCase();});
  function apply(){
    var q=f.value.trim().toLowerCase(),kind=k.value,shown=0;
    for(var i=0;i<rows.length;i++){
      var ok=(!kind||rows[i].getAttribute('data-k')===kind)&&(!q||text[i].indexOf(q)>=0);
      rows[i].style.display=ok?'':'none';
      if(ok)shown++;
    }
    n.textContent=shown+' of '+rows.length+' rows shown';
  }
  f.addEventListener('input',apply);k.addEventListener('change',apply);apply();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn scale_is_monotonic_and_gives_small_regions_room() {
        let s = Scale::new(
            vec![0, 0x7fd0_0000, 0x7ff0_0000, 0x8000_0000, GIB4],
            0.0,
            1000.0,
        );
        let stolen = s.x(0x7ff0_0000) - s.x(0x7fd0_0000);
        assert!(stolen > 80.0, "2 MiB stolen gets {stolen} px");
        let mut last = -1.0;
        for a in (0..GIB4).step_by(1 << 24) {
            let x = s.x(a);
            assert!(x >= last);
            last = x;
        }
        assert!((s.x(GIB4) - 1000.0).abs() < 1e-6);
    }
}
