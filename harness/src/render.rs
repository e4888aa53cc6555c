//! Renderers for a run's report: the human summary (text) and JSON.

use igdemu::check::Violation;
use igdemu::session::{GttRun, SessionReport, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The JSON schema version of [`json`]; bump on incompatible changes.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The report as pretty JSON, wrapped with a schema version.
pub fn json(report: &SessionReport) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        schema: u32,
        report: &'a SessionReport,
    }
    serde_json::to_string_pretty(&Doc {
        schema: JSON_SCHEMA_VERSION,
        report,
    })
    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn region<A: Copy + Into<u64>>(r: &igdemu::addr::Region<A>) -> String {
    let base: u64 = r.base.into();
    format!("[{:#010x}, {:#010x}) {}", base, r.end(), size(r.size))
}

/// A byte count as a person reads it.
#[must_use]
pub fn size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// What a verdict means, in a sentence.
#[must_use]
pub fn verdict_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Clean => "every GTT entry and device access stayed inside the guest stolen region",
        Verdict::Fault => {
            "the device touched addresses the IOMMU does not map (DMAR faults on real hardware)"
        }
        Verdict::Corrupt => {
            "the device wrote into guest RAM outside the stolen region (silent corruption)"
        }
        Verdict::Escape => "untranslated host stolen-memory addresses reached the device",
        Verdict::Stopped => "the VMM stopped the VM (QEMU hw_error)",
        Verdict::DidNotRun => {
            "the ROM did not complete POST or a script step failed (see the steps above)"
        }
        Verdict::Inconclusive => {
            "every step succeeded but the ROM never wrote a GTT entry nor touched the aperture: nothing was checked"
        }
    }
}

/// The human summary `igdemu run` prints. `max_violations` bounds the list
/// (runs of neighbouring GTT entries are folded first).
#[must_use]
pub fn text(report: &SessionReport, max_violations: usize) -> String {
    let mut o = String::new();
    let r = report;
    let _ = writeln!(
        o,
        "ROM       {} bytes, PCIR {:04x}:{:04x}, checksum {}, initialized for {}",
        r.rom.size,
        r.rom.vendor,
        r.rom.device,
        if r.rom.checksum_ok {
            "ok"
        } else {
            "WRONG (run anyway)"
        },
        r.rom.bdf.as_deref().unwrap_or("no matching function")
    );
    let _ = writeln!(
        o,
        "device    {:04x} {} ({}), GGC {:#06x}",
        r.device.device_id, r.device.platform, r.device.gen, r.device.ggc
    );
    if let Some(c) = &r.device.choice {
        let _ = writeln!(o, "          {c}");
    }
    let _ = writeln!(o, "remapper  {}", r.remapper);
    if let Some(c) = r.caveat {
        let _ = writeln!(o, "          note: {c}");
    }
    let _ = writeln!(
        o,
        "regions   host stolen   {}",
        region(&r.regions.host_stolen)
    );
    match &r.regions.guest_stolen {
        Some(g) => {
            let _ = writeln!(o, "          guest stolen  {}", region(g));
        }
        None => {
            let _ = writeln!(o, "          guest stolen  none reserved");
        }
    }
    if let Some(op) = &r.regions.opregion {
        let _ = writeln!(o, "          OpRegion      {}", region(op));
    }
    for s in &r.steps {
        let _ = writeln!(o, "step      {:<18} {}", s.step, s.outcome);
        for n in &s.notes {
            let _ = writeln!(o, "          {:<18} {}", "", n);
        }
    }
    let _ = writeln!(
        o,
        "GTT       {} entries written ({} valid of {} checked)",
        r.gtt.iter().map(|g| g.count).sum::<u64>(),
        r.check.valid_entries,
        r.check.entries_checked
    );
    for g in r.gtt.iter().take(12) {
        let _ = writeln!(
            o,
            "          {:<12} guest {:#012x} -> device {:#012x}{}  {} at {}",
            entry_range(g),
            g.guest_first,
            g.device_first,
            if g.count > 1 && g.step != 0 {
                format!(" (+{:#x}/entry)", g.step)
            } else {
                String::new()
            },
            g.outcome,
            g.at
        );
    }
    if r.gtt.len() > 12 {
        let _ = writeln!(o, "          ... {} more runs", r.gtt.len() - 12);
    }
    if let Some(b) = stolen_base_source(r) {
        let _ = writeln!(o, "base      the guest wrote {b}");
    }
    let _ = writeln!(
        o,
        "DMA       {} runs, {} through the aperture; {} aperture faults",
        r.dma_totals.runs,
        size(r.dma_totals.bytes),
        r.aperture_faults
    );
    let _ = writeln!(
        o,
        "run       {} instructions, {} trace events ({} dropped)",
        r.instructions, r.trace_events, r.trace_dropped
    );
    let folded = fold_violations(&r.check.violations);
    let _ = writeln!(
        o,
        "verdict   {}: {} ({} violations)",
        r.verdict.name().to_uppercase(),
        verdict_sentence(r.verdict),
        r.check.violations.len()
    );
    for line in folded.iter().take(max_violations) {
        let _ = writeln!(o, "  - {line}");
    }
    if folded.len() > max_violations {
        let _ = writeln!(
            o,
            "  ... {} more (see --json)",
            folded.len() - max_violations
        );
    }
    o
}

/// Where the ROM takes its stolen base, read from the PTEs it wrote (before
/// any remapping): guest stolen addresses mean it derives them from the BDSM
/// the VMM emulates; host stolen addresses mean a base baked into the image or
/// read from the device (a BAR0/BAR4 mirror the VMM does not emulate); where
/// the VMM maps host stolen memory 1:1 (Xen), the two are one. Valid
/// entries only (bit 0); the page address is bits 31:12 (every region here
/// lies below 4 GiB).
#[must_use]
pub fn stolen_base_source(r: &SessionReport) -> Option<String> {
    // Where each run starts says which base the ROM took; where each entry
    // lands is counted entry by entry (a run from the right base can still
    // run past the region's end).
    let (mut guest, mut host, mut other) = (0u64, 0u64, 0u64);
    let (mut from_guest, mut from_host) = (false, false);
    let class = |page: u64| {
        if r.regions.guest_stolen.is_some_and(|s| s.contains(page)) {
            0
        } else if r.regions.host_stolen.contains(page) {
            1
        } else {
            2
        }
    };
    for g in r.gtt.iter().filter(|g| g.guest_first & 1 == 1) {
        let first = g.guest_first & 0xFFFF_F000;
        match class(first) {
            0 => from_guest = true,
            1 => from_host = true,
            _ => {}
        }
        for k in 0..g.count {
            match class(first.wrapping_add(g.step.wrapping_mul(k))) {
                0 => guest += 1,
                1 => host += 1,
                _ => other += 1,
            }
        }
    }
    // Xen, and ACRN on gen 11+, map host stolen memory 1:1: the guest region
    // is the host range, and the BDSM the guest reads is the host's.
    let identity = r
        .regions
        .guest_stolen
        .is_some_and(|g| g.base.0 == r.regions.host_stolen.base.0);
    let what = match (from_guest, from_host) {
        (false, false) if guest + host + other == 0 => return None,
        (true, false) if identity => "host stolen addresses, which the VMM maps 1:1 as guest stolen memory: the ROM takes the host's base",
        (true, false) => "guest stolen addresses: the ROM derives its base from the BDSM the VMM emulates",
        (false, true) => "host stolen addresses: the ROM's base is baked in or read from the device, not from the emulated BDSM",
        (true, true) => "both guest and host stolen addresses: the ROM mixes bases",
        (false, false) => "addresses in neither stolen region",
    };
    Some(format!(
        "{what} ({guest} entries in guest stolen, {host} in host stolen, {other} elsewhere)"
    ))
}

/// The GTT entries a run covers: `first`, or `first..=last`.
pub(crate) fn entry_range(g: &GttRun) -> String {
    if g.count == 1 {
        g.first.to_string()
    } else {
        format!("{}..={}", g.first, g.first + g.count - 1)
    }
}

/// The device PTE of a run's last entry (first PTE plus `step` per entry).
pub(crate) fn last_raw(g: &GttRun) -> u64 {
    g.device_first
        .wrapping_add(g.step.wrapping_mul(g.count.saturating_sub(1)))
}

/// Violations grouped for display: each group's first violation and how many
/// following neighbours fold into it (GTT entries at consecutive indices, or
/// DMA runs alike in length, direction, class and origin).
#[must_use]
pub(crate) fn fold_groups(vs: &[Violation]) -> Vec<(&Violation, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < vs.len() {
        let first = &vs[i];
        let k = vs[i + 1..]
            .iter()
            .enumerate()
            .take_while(|(n, v)| joins(first, n + 1, v))
            .count();
        out.push((first, k));
        i += k + 1;
    }
    out
}

/// Whether `v`, `k` places after `first`, folds into `first`'s line.
fn joins(first: &Violation, k: usize, v: &Violation) -> bool {
    match (first, v) {
        (
            Violation::GttEntry {
                index,
                class,
                origin,
                ..
            },
            Violation::GttEntry {
                index: n,
                class: c,
                origin: og,
                ..
            },
        ) => *n == index + k as u64 && c == class && og == origin,
        (
            Violation::Dma {
                len,
                write,
                class,
                origin,
                ..
            },
            Violation::Dma {
                len: l,
                write: w,
                class: c,
                origin: og,
                ..
            },
        ) => l == len && w == write && c == class && og == origin,
        _ => false,
    }
}

/// Violations as sentences, neighbouring GTT entries of the same class and
/// origin folded into one line.
#[must_use]
pub fn fold_violations(vs: &[Violation]) -> Vec<String> {
    fold_groups(vs)
        .into_iter()
        .map(|(first, k)| fold_line(first, k))
        .collect()
}

/// The sentence for a group from [`fold_groups`]: `first`, then `k` folded after it.
pub(crate) fn fold_line(first: &Violation, k: usize) -> String {
    match first {
        Violation::GttEntry { index, .. } if k > 0 => format!(
            "{} (and GTT entries {}..={} likewise)",
            first,
            index + 1,
            index + k as u64
        ),
        Violation::Dma { .. } if k > 0 => format!("{} (and {} more runs like it)", first, k),
        _ => first.to_string(),
    }
}

/// What a snapshot keeps of a report: everything a reviewer needs to see a
/// behaviour change, nothing that varies between machines or runs, and no
/// per-access lists (violations folded, DMA summed per class).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SnapshotSummary {
    /// Device line.
    pub device: String,
    /// Remapper.
    pub remapper: String,
    /// Regions as text.
    pub regions: Vec<String>,
    /// Steps: outcome and notes.
    pub steps: Vec<String>,
    /// GTT runs as text (guest value → device value, outcome, CS:IP).
    pub gtt: Vec<String>,
    /// Violations, folded.
    pub violations: Vec<String>,
    /// DMA bytes per (class, direction).
    pub dma: Vec<String>,
    /// Where the ROM takes its stolen base ([`stolen_base_source`]).
    pub base: Option<String>,
    /// Verdict.
    pub verdict: String,
    /// Guest instructions executed.
    pub instructions: u64,
}

/// The snapshot view of a report.
#[must_use]
pub fn snapshot_summary(r: &SessionReport) -> SnapshotSummary {
    let mut regions = vec![format!("host stolen {}", region(&r.regions.host_stolen))];
    regions.push(
        r.regions
            .guest_stolen
            .as_ref()
            .map_or("guest stolen: none".into(), |g| {
                format!("guest stolen {}", region(g))
            }),
    );
    if let Some(op) = &r.regions.opregion {
        regions.push(format!("OpRegion {}", region(op)));
    }
    let steps = r
        .steps
        .iter()
        .map(|s| {
            if s.notes.is_empty() {
                format!("{}: {}", s.step, s.outcome)
            } else {
                format!("{}: {} [{}]", s.step, s.outcome, s.notes.join("; "))
            }
        })
        .collect();
    let gtt = r
        .gtt
        .iter()
        .map(|g| {
            format!(
                "{}+{}: guest {:#x} -> device {:#x} step {:#x} {} at {}",
                g.first, g.count, g.guest_first, g.device_first, g.step, g.outcome, g.at
            )
        })
        .collect();
    let mut dma: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in &r.dma {
        let e = dma
            .entry(format!(
                "{} {:?}",
                if d.write { "write" } else { "read" },
                d.class
            ))
            .or_default();
        e.0 += 1;
        e.1 += d.len;
    }
    let violations = fold_violations(&r.check.violations);
    let total = violations.len();
    let mut violations: Vec<String> = violations.into_iter().take(20).collect();
    if total > 20 {
        violations.push(format!("... {} more", total - 20));
    }
    SnapshotSummary {
        device: format!(
            "{:04x} {} {} GGC {:#06x}{}",
            r.device.device_id,
            r.device.platform,
            r.device.gen,
            r.device.ggc,
            r.device
                .choice
                .as_ref()
                .map_or(String::new(), |c| format!(" ({c})"))
        ),
        remapper: r.remapper.to_string(),
        regions,
        steps,
        gtt,
        violations,
        dma: dma
            .into_iter()
            .map(|(k, (runs, bytes))| format!("{k}: {runs} runs, {bytes} bytes"))
            .collect(),
        base: stolen_base_source(r),
        verdict: r.verdict.name().to_string(),
        instructions: r.instructions,
    }
}
