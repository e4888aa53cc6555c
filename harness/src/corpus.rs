//! `igdemu corpus`: every ROM found under some directories, with every
//! remapper, in parallel; a table, and a non-zero exit when a ROM regresses.

use clap::Args;
use igdemu::session::{self, RemapperKind, Step, Verdict};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::source::{sha_prefix, LoadedRom};

/// Options of `igdemu corpus`.
#[derive(Args, Debug, Clone)]
pub struct CorpusArgs {
    /// Directories (searched recursively for option ROMs, recognised by content) or ROM specs
    /// (builtin:NAME, seabios:VARIANT, files). `builtin:all` is every built-in ROM.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Steps after POST.
    #[arg(long, default_value = "vbe:1024x768x32")]
    pub script: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Compare with a baseline written by --save-baseline; a cell that got
    /// worse is a regression.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write the verdicts as a baseline file (JSON).
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,
    /// Run a ROM whose checksum is wrong.
    #[arg(long)]
    pub allow_bad_checksum: bool,
    /// Instruction budget per step.
    #[arg(long, value_parser = crate::cli_rom::parse_u64)]
    pub budget: Option<u64>,
}

/// One ROM × remapper cell.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Cell {
    /// Verdict name, or `error: ...`.
    pub verdict: String,
    /// Violations found.
    pub violations: usize,
}

/// One ROM's row.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// ROM name.
    pub name: String,
    /// SHA-256 prefix.
    pub sha: String,
    /// PCIR vendor:device.
    pub id: String,
    /// Generation of the simulated IGD.
    pub gen: String,
    /// Cells by remapper.
    pub cells: BTreeMap<&'static str, Cell>,
    /// Milliseconds for all remappers.
    pub millis: u128,
}

/// Expand the inputs into ROMs.
pub fn collect(inputs: &[String]) -> Result<Vec<LoadedRom>, String> {
    let mut out = Vec::new();
    for i in inputs {
        if i == "builtin:all" {
            out.extend(crate::source::builtins());
            continue;
        }
        let p = PathBuf::from(i);
        if p.is_dir() {
            let scan = igdemu_roms::discover::scan_roms(&p);
            for (f, why) in &scan.skipped {
                eprintln!("corpus: skipped {}: {why}", f.display());
            }
            for f in scan.roms {
                let spec = f.to_string_lossy().into_owned();
                match crate::profile::Profile::beside(&f) {
                    Ok(Some(_)) => eprintln!(
                        "corpus: {} runs with its profile {}",
                        f.display(),
                        crate::profile::beside_path(&f).display()
                    ),
                    Ok(None) => {}
                    Err(e) => eprintln!("corpus: {e} (running without it)"),
                }
                let mut rom = crate::source::load(&spec, &igdemu_roms::Options::default())?;
                rom.name = f
                    .strip_prefix(&p)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .into_owned();
                out.push(rom);
            }
        } else {
            out.push(crate::source::load(i, &igdemu_roms::Options::default())?);
        }
    }
    Ok(out)
}

/// One finished job: ROM index, remapper, cell, generation, milliseconds.
type Finished = (usize, RemapperKind, Cell, String, u128);

/// Run every ROM with every remapper on `jobs` threads.
pub fn run_corpus(
    roms: &[LoadedRom],
    script: &[Step],
    jobs: usize,
    allow_bad_checksum: bool,
    budget: Option<u64>,
    progress: bool,
) -> Vec<Row> {
    let work: Vec<(usize, RemapperKind)> = (0..roms.len())
        .flat_map(|i| RemapperKind::ALL.into_iter().map(move |k| (i, k)))
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Finished>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, k)) = work.get(n) else { break };
                let Some(rom) = roms.get(i) else { break };
                let t = Instant::now();
                let mut sc = crate::profile::scenario_for(&rom.spec, &rom.bytes, k)
                    .with_script(script.to_vec());
                sc.allow_bad_checksum = allow_bad_checksum;
                if let Some(b) = budget {
                    sc.machine.budget = b;
                }
                let (cell, gen) = match session::run(&rom.bytes, &sc) {
                    Ok(r) => (
                        Cell {
                            verdict: r.report.verdict.name().into(),
                            violations: r.report.check.violations.len(),
                        },
                        r.report.device.gen.clone(),
                    ),
                    // The VMM cannot set this device up (ACRN's allowlist,
                    // Xen's RDM check): a property of the VMM, not a failure.
                    Err(e @ session::SessionError::Vmm(_)) => (
                        Cell {
                            verdict: format!("refused: {e}"),
                            violations: 0,
                        },
                        String::from("-"),
                    ),
                    Err(e) => (
                        Cell {
                            verdict: format!("error: {e}"),
                            violations: 0,
                        },
                        String::from("-"),
                    ),
                };
                let ms = t.elapsed().as_millis();
                if let Ok(mut r) = results.lock() {
                    r.push((i, k, cell, gen, ms));
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress {
                    eprint!("\r[{d}/{}] {:<40}", work.len(), rom.name);
                }
            });
        }
    });
    if progress {
        eprintln!();
    }
    let mut rows: Vec<Row> = roms
        .iter()
        .map(|r| {
            let id = igdemu::cpu::rom::select_x86(&r.bytes)
                .map(|(img, _, _)| format!("{:04x}:{:04x}", img.vendor, img.device))
                .unwrap_or_else(|_| "invalid".into());
            Row {
                name: r.name.clone(),
                sha: sha_prefix(&r.bytes),
                id,
                gen: String::new(),
                cells: BTreeMap::new(),
                millis: 0,
            }
        })
        .collect();
    for (i, k, cell, gen, ms) in results.into_inner().unwrap_or_default() {
        if let Some(row) = rows.get_mut(i) {
            row.cells.insert(k.name(), cell);
            // A run that did not start has no generation ("-"): keep one
            // that did.
            if row.gen.is_empty() || gen != "-" {
                row.gen = gen;
            }
            row.millis += ms;
        }
    }
    rows
}

/// The table.
#[must_use]
pub fn table(rows: &[Row]) -> String {
    let mut o = format!("{:<28} {:<12} {:<9} {:<7}", "ROM", "sha256", "id", "gen");
    for k in RemapperKind::ALL {
        o += &format!(" {:<16}", k.name());
    }
    o += "  time\n";
    for r in rows {
        o += &format!("{:<28} {:<12} {:<9} {:<7}", r.name, r.sha, r.id, r.gen);
        for k in RemapperKind::ALL {
            let c = r.cells.get(k.name());
            let text = c.map_or("-".to_string(), |c| {
                if c.verdict.starts_with("error") {
                    "error".into()
                } else if c.verdict.starts_with("refused") {
                    "refused".into()
                } else if c.violations > 0 {
                    format!("{} ({})", c.verdict, c.violations)
                } else {
                    c.verdict.clone()
                }
            });
            o += &format!(" {text:<16}");
        }
        o += &format!("  {} ms\n", r.millis);
    }
    o
}

fn rank(verdict: &str) -> u8 {
    match verdict {
        "clean" => 0,
        "inconclusive" => 1,
        "fault" => 2,
        "corrupt" => 3,
        "escape" => 4,
        "stopped" => 5,
        _ => 6,
    }
}

/// Regressions against a baseline (ROM name → remapper → cell).
#[must_use]
pub fn regressions(
    rows: &[Row],
    baseline: &BTreeMap<String, BTreeMap<String, Cell>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        for (k, c) in &r.cells {
            let before = baseline.get(&r.name).and_then(|b| b.get(*k));
            if let Some(b) = before {
                if rank(&c.verdict) > rank(&b.verdict)
                    || (c.verdict == b.verdict && c.violations > b.violations)
                {
                    out.push(format!(
                        "{} under {k}: {} ({}) was {} ({})",
                        r.name, c.verdict, c.violations, b.verdict, b.violations
                    ));
                }
            }
        }
    }
    out
}

/// Run the command. Without a baseline, a regression is a ROM that does not
/// run, or that is not clean under the strict remapper.
pub fn run(args: &CorpusArgs) -> Result<ExitCode, String> {
    let roms = collect(&args.inputs)?;
    if roms.is_empty() {
        return Err(
            "no ROMs found (a file is taken when it starts with 55 aa and has a PCIR structure or a $VBT block, whatever its extension)"
                .into(),
        );
    }
    let script = Step::parse_script(&args.script)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t = Instant::now();
    let rows = run_corpus(
        &roms,
        &script,
        jobs,
        args.allow_bad_checksum,
        args.budget,
        std::io::stderr().is_terminal(),
    );
    print!("{}", table(&rows));
    println!(
        "{} ROMs x {} remappers in {:.2} s on {jobs} threads",
        rows.len(),
        RemapperKind::ALL.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(p) = &args.save_baseline {
        let map: BTreeMap<&str, &BTreeMap<&str, Cell>> =
            rows.iter().map(|r| (r.name.as_str(), &r.cells)).collect();
        let text = serde_json::to_string_pretty(&map).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let regressed: Vec<String> = if let Some(p) = &args.baseline {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read baseline {}: {e}", p.display()))?;
        let base: BTreeMap<String, BTreeMap<String, Cell>> = serde_json::from_str(&text)
            .map_err(|e| format!("baseline {} is not a corpus baseline: {e}", p.display()))?;
        regressions(&rows, &base)
    } else {
        rows.iter()
            .filter(|r| {
                r.cells
                    .get("strict")
                    .is_none_or(|c| c.verdict != Verdict::Clean.name())
            })
            .map(|r| format!("{}: not clean under the strict remapper", r.name))
            .collect()
    };
    for r in &regressed {
        println!("REGRESSION {r}");
    }
    Ok(if regressed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
