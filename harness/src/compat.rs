//! `igdemu compat`: will my setup work? Each ROM under every QEMU release from
//! 2.7 to 10.2 (default options, or `--options x-igd-gms=2,...` wherever the
//! release has them), one table: releases as rows, the verdict for
//! each ROM in a column, then, per ROM, every release where the verdict changes
//! and the commits behind the change (`passthrough::qemu_release`).
//!
//! Releases whose IGD quirk, options and machine are identical ([`RunKey`]
//! equal) share one run (a refusal is worked out per release, as it names it);
//! consecutive releases with the same verdicts share a table row.

use clap::Args;
use igdemu::passthrough::qemu_release::{
    Behaviour, Mix, QemuOptions, QemuSetup, Refusal, Release, SwitchChange,
};
use igdemu::session::{self, RemapperKind, Scenario, SessionError, Step};
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::source::LoadedRom;

/// Options of `igdemu compat`.
#[derive(Args, Debug, Clone)]
pub struct CompatArgs {
    /// ROMs: files, builtin:NAME, builtin:all, seabios:VARIANT.
    #[arg(required = true)]
    pub roms: Vec<String>,
    /// Steps after POST.
    #[arg(long, default_value = "vbe:1024x768x32")]
    pub script: String,
    /// Run a ROM whose checksum is wrong.
    #[arg(long)]
    pub allow_bad_checksum: bool,
    /// Instruction budget per step.
    #[arg(long, value_parser = crate::cli_rom::parse_u64)]
    pub budget: Option<u64>,
    /// vfio-pci options for every release, e.g. x-igd-gms=2; a release that
    /// lacks one shows `no-option`.
    #[arg(long, default_value = "")]
    pub options: String,
}

/// One ROM under one release.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cell {
    /// `clean`, `corrupt`, ..., `refused` (no legacy mode), `no-start` (QEMU
    /// fails to realize the device), `no-option` (the release lacks an
    /// option), or `error`.
    pub verdict: String,
    /// Violations found (0 when refused).
    pub violations: usize,
    /// Why QEMU refused the device, or the error.
    pub detail: Option<String>,
}

impl Cell {
    fn label(&self) -> String {
        if self.violations > 0 {
            format!("{} ({})", self.verdict, self.violations)
        } else {
            self.verdict.clone()
        }
    }
}

/// A verdict change between two consecutive releases for one ROM.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The ROM.
    pub rom: String,
    /// The first release with the new verdict.
    pub release: Release,
    /// Verdict before.
    pub from: String,
    /// Verdict from this release on.
    pub to: String,
    /// Every behaviour switch that differs between the two releases.
    pub commits: Vec<SwitchChange>,
    /// The switches that alone turn the older release's verdict into the new
    /// one (the older release with just that switch from the newer). Empty
    /// when no single switch does (they act together).
    pub cause: Vec<SwitchChange>,
}

/// The whole compatibility table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Compat {
    /// ROM names, in column order.
    pub roms: Vec<String>,
    /// One row per release, one cell per ROM.
    pub rows: Vec<(Release, Vec<Cell>)>,
    /// Every release where a ROM's verdict differs from the release before,
    /// with the commit that made the difference.
    pub changes: Vec<Change>,
}

/// Everything that makes two QEMU setups run a ROM differently: the
/// release's behaviour switches (the quirk, the options it has, the machine it
/// builds) and the options as parsed for it. Two releases with equal keys give
/// the same verdict; only the release's name differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKey {
    behaviour: Behaviour,
    options: QemuOptions,
}

impl RunKey {
    /// The key of `setup`.
    #[must_use]
    pub fn of(setup: &QemuSetup) -> Self {
        Self {
            behaviour: setup.behaviour(),
            options: setup.options,
        }
    }
}

fn cell(rom: &LoadedRom, base: &Scenario, setup: QemuSetup) -> Cell {
    let mut sc = base.clone();
    sc.remapper = RemapperKind::Qemu(setup);
    match session::run(&rom.bytes, &sc) {
        Ok(run) => Cell {
            verdict: run.report.verdict.name().into(),
            violations: run.report.check.violations.len(),
            detail: None,
        },
        Err(SessionError::Refused(r)) => Cell {
            verdict: match r {
                Refusal::RealizeFailed { .. } => "no-start",
                _ => "refused",
            }
            .into(),
            violations: 0,
            detail: Some(r.to_string()),
        },
        Err(e) => Cell {
            verdict: "error".into(),
            violations: 0,
            detail: Some(e.to_string()),
        },
    }
}

/// Run every ROM under every release; `scenario` builds each ROM's base
/// scenario (its remapper is replaced per release). Where a verdict changes
/// between two releases that differ in several switches, each switch is tried
/// alone on the older release to find the commit responsible.
pub fn compat(roms: &[LoadedRom], scenario: impl Fn(&LoadedRom) -> Scenario) -> Compat {
    compat_with(roms, "", scenario)
}

/// [`compat`] with vfio-pci `options` (`x-igd-gms=2,x-igd-lpc=on`) set on
/// every release that has them.
pub fn compat_with(
    roms: &[LoadedRom],
    options: &str,
    scenario: impl Fn(&LoadedRom) -> Scenario,
) -> Compat {
    let setup_of = |release: Release| {
        if options.is_empty() {
            Ok(QemuSetup::release(release))
        } else {
            QemuSetup::parse(&format!("{},{options}", release.name()))
        }
    };
    let mut rows: Vec<(Release, Vec<Cell>)> =
        Release::ALL.iter().map(|r| (*r, Vec::new())).collect();
    let mut changes = Vec::new();
    for (col, rom) in roms.iter().enumerate() {
        let base = scenario(rom);
        let mut done: Vec<(RunKey, Cell)> = Vec::new();
        for (release, cells) in &mut rows {
            let c = match setup_of(*release) {
                // Computed per release: the message names it.
                Err(e) => Cell {
                    verdict: "no-option".into(),
                    violations: 0,
                    detail: Some(e.to_string()),
                },
                Ok(setup) => {
                    let key = RunKey::of(&setup);
                    match done.iter().find(|(k, _)| *k == key) {
                        Some((_, c)) => c.clone(),
                        None => {
                            let c = cell(rom, &base, setup);
                            // A refusal or an error names the release it
                            // happened under (and costs no ROM run): only
                            // verdicts are shared.
                            if c.detail.is_none() {
                                done.push((key, c.clone()));
                            }
                            c
                        }
                    }
                }
            };
            cells.push(c);
        }
        for pair in rows.windows(2) {
            let [(prev, a), (release, b)] = pair else {
                continue;
            };
            let (Some(a), Some(b)) = (a.get(col), b.get(col)) else {
                continue;
            };
            if a.verdict == b.verdict {
                continue;
            }
            let commits = release.changes_since(*prev);
            let cause = if commits.len() == 1 {
                commits.clone()
            } else {
                let prev_setup = setup_of(*prev);
                commits
                    .iter()
                    .copied()
                    .filter(|c| {
                        let Ok(mut setup) = prev_setup.clone() else {
                            return false;
                        };
                        setup.mix = Some(Mix {
                            from: *release,
                            switches: 1 << c.index,
                        });
                        cell(rom, &base, setup).verdict == b.verdict
                    })
                    .collect()
            };
            changes.push(Change {
                rom: rom.name.clone(),
                release: *release,
                from: a.label(),
                to: b.label(),
                commits,
                cause,
            });
        }
    }
    Compat {
        roms: roms.iter().map(|r| r.name.clone()).collect(),
        rows,
        changes,
    }
}

impl Compat {
    /// Every release where a ROM's verdict differs from the release before.
    #[must_use]
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The table (Markdown), the refusals, and the changes with their commits.
    #[must_use]
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "| QEMU |");
        for r in &self.roms {
            let _ = write!(s, " {r} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in &self.roms {
            s.push_str("---|");
        }
        s.push('\n');
        // Consecutive releases with the same cells share a row ("2.9-4.2").
        let mut i = 0;
        while let Some((first, cells)) = self.rows.get(i) {
            let mut j = i;
            let same = |c: &Vec<Cell>| c.iter().map(Cell::label).eq(cells.iter().map(Cell::label));
            while self.rows.get(j + 1).is_some_and(|(_, c)| same(c)) {
                j += 1;
            }
            let last = self.rows.get(j).map_or(*first, |(r, _)| *r);
            if last == *first {
                let _ = write!(s, "| {} |", first.version());
            } else {
                let _ = write!(s, "| {}-{} |", first.version(), last.version());
            }
            for c in cells {
                let _ = write!(s, " {} |", c.label());
            }
            s.push('\n');
            i = j + 1;
        }
        let mut refusals: Vec<String> = Vec::new();
        for (_, cells) in &self.rows {
            for c in cells {
                if let Some(d) = &c.detail {
                    if !refusals.contains(d) {
                        refusals.push(d.clone());
                    }
                }
            }
        }
        if !refusals.is_empty() {
            s.push_str("\nrefused / errors:\n");
            for d in refusals {
                let _ = writeln!(s, "- {d}");
            }
        }
        if !self.changes.is_empty() {
            s.push_str("\nwhere the verdict changes, and the commit that changes it:\n");
            for c in &self.changes {
                let fmt = |v: &[SwitchChange]| {
                    v.iter()
                        .map(|w| format!("{} \"{}\" ({})", w.commit, w.why, w.name))
                        .collect::<Vec<_>>()
                };
                let why = if c.cause.is_empty() {
                    format!("together: {}", fmt(&c.commits).join("; "))
                } else {
                    fmt(&c.cause).join("; or ")
                };
                let _ = writeln!(
                    s,
                    "- {} {}: {} -> {}: {why}",
                    c.rom, c.release, c.from, c.to
                );
            }
        }
        s
    }
}

/// Run the command.
pub fn run(args: &CompatArgs) -> Result<ExitCode, String> {
    let roms = crate::corpus::collect(&args.roms)?;
    let script = Step::parse_script(&args.script)?;
    let table = compat_with(&roms, &args.options, |rom| {
        let mut sc =
            Scenario::for_rom(&rom.bytes, RemapperKind::Strict).with_script(script.clone());
        sc.allow_bad_checksum = args.allow_bad_checksum;
        if let Some(b) = args.budget {
            sc.machine.budget = b;
        }
        sc
    });
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
