//! The project's sharpest result: which passthrough era breaks which vBIOS
//! depends on where the vBIOS takes its stolen base. Every built-in
//! personality × stolen-base source × remapper, POST only, with the exact
//! verdict each combination must give, and the whole matrix kept as a snapshot.
//! `qemu-2016` is QEMU 9.1.0, `qemu-2025` QEMU 10.1.0 (which gives a gen 11
//! device no legacy mode: those cells read `refused`). `xen` and `acrn` map
//! the host's stolen memory instead of rewriting PTEs; ACRN refuses the
//! devices its allowlist lacks (SNB, IVB, BDW).

use igdemu::session::{self, RemapperKind, Scenario, SessionError, Verdict};
use igdemu_roms::{build, Options, Personality, StolenSource};
use std::fmt::Write as _;

/// The verdict and violation count, or None when the release refuses the device.
fn verdict(p: Personality, s: StolenSource, k: RemapperKind) -> Option<(Verdict, usize)> {
    let rom = build(
        p,
        &Options {
            stolen_source: Some(s),
            ..Options::default()
        },
    )
    .expect("built-in ROM builds");
    let sc = Scenario::for_rom(&rom, k);
    match session::run(&rom, &sc) {
        Ok(run) => Some((run.report.verdict, run.report.check.violations.len())),
        Err(SessionError::Refused(_) | SessionError::Vmm(_)) => None,
        Err(e) => panic!("scenario runs: {e}"),
    }
}

/// What the design says each cell must be (POST only: 256 entries from GTT
/// entry 0, inside QEMU 2016's gtt_max).
fn expected(p: Personality, s: StolenSource, k: RemapperKind) -> Option<Verdict> {
    use RemapperKind::*;
    use StolenSource::*;
    use Verdict::*;
    if k == Strict {
        return Some(Clean);
    }
    // Xen: BDSM and the BAR0 mirror read the host base, which is where the
    // RDM identity mapping puts guest stolen memory. Only stray-pte's two
    // entries outside host stolen go astray: one into guest RAM at 1 MiB,
    // one (PA[39:32] set) where nothing is mapped.
    if k == Xen {
        return Some(if p == Personality::StrayPte {
            Corrupt
        } else {
            Clean
        });
    }
    if k == Acrn {
        return match p.default_device_id() {
            // Not in igd_device_tbl: ACRN reads a gen 11 BDSM they lack.
            0x0126 | 0x0166 | 0x1616 => None,
            // Gen 11: identity mapping, any source reads the host base.
            0x8A52 => Some(Clean),
            // Gen 9: only config BDSM reads GPU_DSM_GPA; the baked value and
            // the device's BAR0 mirror are host addresses nothing maps.
            _ if s == ConfigBdsm => Some(Clean),
            _ => Some(Escape),
        };
    }
    // QEMU 10.1 restricts legacy mode to gen 6-9 (dd69d846046f).
    if p == Personality::IclLegacy && k == Qemu2025 {
        return None;
    }
    // unreal-direct and icl-legacy write PTEs straight through BAR0: no BAR4
    // rebase ever sees them.
    let bar0_ptes = matches!(p, Personality::UnrealDirect | Personality::IclLegacy);
    // What base the ROM reads under each era.
    let reads_host = match (s, k) {
        (Baked, _) => true,
        // QEMU 9.1 numbers ICL gen 8 and emulates the 32-bit 0x5C; the ROM
        // reads 0xC0, which still holds the host's BDSM.
        (ConfigBdsm, Qemu2016) if p == Personality::IclLegacy => true,
        (ConfigBdsm, _) => false,
        // QEMU 2016 had no BAR0 mirror: BAR0 0x1080C0 gives the host value.
        (Bar0MirrorViaBar4 | Bar0Unreal, Qemu2016) => true,
        // QEMU 2025 mirrors BAR0 but not the BAR4 window (the inferred gap).
        (Bar0MirrorViaBar4, _) => true,
        (Bar0Unreal, _) => false,
    };
    Some(match (k, bar0_ptes, reads_host) {
        // The stray entries: the scratch page at 1 MiB underflows the rebase, the
        // PA[39:32] bits survive it; both land where no IOMMU mapping is.
        (Qemu2016, false, true) if p == Personality::StrayPte => Fault,
        (Qemu2016, false, true) => Clean,
        // The double shift: a guest address rebased again lands below guest stolen.
        (Qemu2016, false, false) => Corrupt,
        (_, _, true) => Escape,
        // QEMU 9.1's guest stolen region is GGMS-sized (2 MiB): 256 pages of a
        // correct guest address still fit.
        (Qemu2016, true, false) => Clean,
        (Qemu2025, _, false) if p == Personality::StrayPte => Corrupt,
        (Qemu2025, _, false) => Clean,
        _ => Clean,
    })
}

#[test]
fn personality_source_remapper_matrix() {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<18} {:<12} {:<14} {:<14} {:<14} {:<14} {:<14}",
        "personality", "source", "qemu-2016", "qemu-2025", "strict", "xen", "acrn"
    );
    let mut wrong = Vec::new();
    for p in Personality::ALL {
        for s in StolenSource::ALL {
            let _ = write!(table, "{:<18} {:<12}", p.name(), s.name());
            for k in RemapperKind::ALL {
                let got = verdict(p, s, k);
                let cell = match got {
                    Some((v, n)) if n > 0 => format!("{} ({n})", v.name()),
                    Some((v, _)) => v.name().to_string(),
                    None => "refused".to_string(),
                };
                let _ = write!(table, " {cell:<14}");
                let want = expected(p, s, k);
                if got.map(|(v, _)| v) != want {
                    wrong.push(format!(
                        "{} {} {}: got {} want {}",
                        p.name(),
                        s.name(),
                        k.name(),
                        got.map_or("refused", |(v, _)| v.name()),
                        want.map_or("refused", Verdict::name)
                    ));
                }
            }
            table.push('\n');
        }
    }
    println!("{table}");
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("matrix", table);
    });
    assert!(
        wrong.is_empty(),
        "cells that differ from the design:\n{}",
        wrong.join("\n")
    );
}
