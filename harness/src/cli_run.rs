//! `igdemu run`: one ROM through the emulator, with a report.

use clap::Args;
use igdemu::igd::display::DisplayTopology;
use igdemu::igd::generation::{self, Gen};
use igdemu::igd::RegisterOverride;
use igdemu::session::{self, RemapperKind, Scenario, SessionRun, Step, Verdict};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli_rom::{parse_pci_id, parse_u64, BuildOpts};
use crate::profile::Profile;
use crate::render;

/// Options of `igdemu run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The ROM: a file, builtin:NAME (see `igdemu rom list`) or seabios:VARIANT.
    pub rom: String,
    /// IGD device ID in hex, e.g. 1912 or 0x1912 (default: chosen from the
    /// ROM's PCIR device and device list).
    #[arg(long, value_parser = parse_pci_id, conflicts_with = "gen")]
    pub device_id: Option<u16>,
    /// IGD generation (6, 7, 7.5, 8, 9, 11, 12): its first device.
    #[arg(long, value_parser = parse_gen)]
    pub gen: Option<Gen>,
    /// Host BDSM (base of host stolen memory), 1 MiB aligned.
    #[arg(long, value_parser = parse_u64)]
    pub host_bdsm: Option<u64>,
    /// Host stolen memory size (GMS), e.g. 64M; must be encodable in GGC.
    #[arg(long, value_parser = parse_size)]
    pub stolen: Option<u64>,
    /// GTT size (GGMS), e.g. 2M.
    #[arg(long, value_parser = parse_size)]
    pub gtt: Option<u64>,
    /// The passthrough policy: strict, qemu-2016 (= qemu-9.1), qemu-2025 (=
    /// qemu-10.1), any QEMU release qemu-2.7 .. qemu-10.2 with vfio-pci
    /// options, e.g. qemu-9.1,x-igd-gms=2 (x-igd-gms, x-igd-opregion,
    /// x-igd-lpc, x-igd-legacy-mode where the release has them), xen (Xen
    /// gfx_passthru: host BDSM and GGC, host stolen memory identity-mapped as
    /// reserved device memory) or acrn (ACRN GVT-d: host stolen memory mapped
    /// at 0x7C000000, identity on gen 11+).
    #[arg(long, default_value = "strict", value_parser = parse_remapper)]
    pub remapper: RemapperKind,
    /// Steps after POST: comma-separated vbe:WxHxBPP, text:STRING, flr, post.
    #[arg(long, default_value = "vbe:1024x768x32")]
    pub script: String,
    /// Run a ROM whose checksum is wrong (dumped ROMs often have one).
    #[arg(long)]
    pub allow_bad_checksum: bool,
    /// Instruction budget per step.
    #[arg(long, value_parser = parse_u64)]
    pub budget: Option<u64>,
    /// Displays attached: edp:WxH|none, dp:WxH|none, crt:WxH|none
    /// (default edp:1920x1080,dp:1920x1080,crt:none).
    #[arg(long = "display", value_parser = parse_display)]
    pub display: Option<DisplayTopology>,
    /// Register behaviour override, e.g. 0x45400=status-follows-request:31->30 (repeatable).
    #[arg(long = "override", value_parser = parse_override)]
    pub overrides: Vec<RegisterOverride>,
    /// Write the report as JSON (schema in README).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every trace event as JSON lines.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write a self-contained HTML report (summary, memory map, violations, trace).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write the screen the ROM drew as PNG (scanout through the GTT, or VGA text).
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// A ROM profile (TOML: device_id, topology, overrides, note). Default:
    /// `ROM.toml` beside a ROM file, when it exists.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Violations to list in the summary.
    #[arg(long, default_value_t = 12)]
    pub max_violations: usize,
    /// For builtin: ROMs, where the ROM takes its stolen base: baked,
    /// config-bdsm, bar4-mirror, bar0-unreal.
    #[arg(long, value_parser = crate::cli_rom::parse_source)]
    pub source: Option<igdemu_roms::StolenSource>,
    /// For builtin: ROMs with --source baked, the host BDSM baked into the image
    /// (default: the --host-bdsm value).
    #[arg(long, value_parser = parse_u64)]
    pub baked_bdsm: Option<u64>,
}

fn parse_gen(s: &str) -> Result<Gen, String> {
    Gen::parse(s).ok_or_else(|| format!("unknown generation {s:?}: one of 6, 7, 7.5, 8, 9, 11, 12"))
}

/// Parse `--remapper`: `strict`, `qemu-2016`, `qemu-2025`, `xen`, `acrn` or
/// `qemu-X.Y[,x-igd-OPTION=V]...`.
pub fn parse_remapper(s: &str) -> Result<RemapperKind, String> {
    RemapperKind::parse_spec(s)
}

fn parse_display(s: &str) -> Result<DisplayTopology, String> {
    DisplayTopology::parse(s).map_err(|e| e.to_string())
}

fn parse_override(s: &str) -> Result<RegisterOverride, String> {
    RegisterOverride::parse(s).map_err(|e| e.to_string())
}

/// Parse a size: `64M`, `2M`, `512K`, `4G`, a plain number or 0x hex.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v = parse_u64(num)?;
    v.checked_mul(mul)
        .ok_or_else(|| format!("{s} is too large"))
}

/// The profile a run uses: `--profile FILE`, else the one beside a ROM file.
///
/// # Errors
/// The profile cannot be read or parsed.
pub fn profile(args: &RunArgs) -> Result<Option<Profile>, String> {
    match &args.profile {
        Some(p) => Profile::load(p).map(Some),
        None if std::path::Path::new(&args.rom).is_file() => {
            Profile::beside(std::path::Path::new(&args.rom))
        }
        None => Ok(None),
    }
}

/// The scenario the arguments describe, for `rom` bytes.
pub fn scenario(args: &RunArgs, rom: &[u8]) -> Result<Scenario, String> {
    scenario_with(args, rom, None)
}

/// The scenario the arguments and a profile describe (the command line wins).
pub fn scenario_with(
    args: &RunArgs,
    rom: &[u8],
    profile: Option<&Profile>,
) -> Result<Scenario, String> {
    let device_id = args.device_id.or(if args.gen.is_none() {
        profile.and_then(|p| p.device_id)
    } else {
        None
    });
    let mut sc = match (device_id, args.gen) {
        (Some(id), _) => {
            generation::lookup(id).map_err(|e| e.to_string())?;
            Scenario::for_device(id, args.remapper)
        }
        (None, Some(g)) => {
            Scenario::for_device(generation::default_for_gen(g).device_ids[0], args.remapper)
        }
        (None, None) => match Scenario::try_for_rom(rom, args.remapper) {
            Ok(sc) => sc,
            // The project's own machine-test ROMs (SeaVGABIOS) run next to the
            // default IGD without asking.
            Err(session::DeviceChoiceError::NotIntel { .. })
                if args.rom.starts_with("seabios:") || args.rom.starts_with("builtin:") =>
            {
                Scenario::for_rom(rom, args.remapper)
            }
            // The loader reports an unreadable image with its own hint.
            Err(session::DeviceChoiceError::Rom(_)) => Scenario::for_rom(rom, args.remapper),
            Err(e) => return Err(format!("{}: {e}", args.rom)),
        },
    };
    if let Some(b) = args.host_bdsm {
        if b % (1 << 20) != 0 {
            return Err(format!("--host-bdsm {b:#x} is not 1 MiB aligned"));
        }
        sc.host_bdsm = b;
    }
    if let Some(s) = args.stolen {
        sc.stolen_size = s;
    }
    if let Some(g) = args.gtt {
        sc.gtt_size = g;
    }
    if let Some(b) = args.budget {
        sc.machine.budget = b;
    }
    sc.allow_bad_checksum = args.allow_bad_checksum;
    sc.overrides.clone_from(&args.overrides);
    if let Some(p) = profile {
        p.apply(&mut sc);
    }
    if let Some(d) = &args.display {
        sc.display = d.clone();
    }
    sc.script = Step::parse_script(&args.script)?;
    Ok(sc)
}

/// Exit code for a verdict: 0 clean, 1 violations, 2 the ROM could not run
/// or a step failed, 3 inconclusive.
#[must_use]
pub fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::Clean => 0,
        Verdict::DidNotRun => 2,
        Verdict::Inconclusive => 3,
        Verdict::Fault | Verdict::Corrupt | Verdict::Escape | Verdict::Stopped => 1,
    }
}

/// The ROM `args` names (built-in ROMs built with its options), the profile
/// that applies and the scenario they give: what `run` and `explain` start
/// from.
///
/// # Errors
/// The ROM, the profile or an option is unusable.
pub fn prepare(
    args: &RunArgs,
) -> Result<(crate::source::LoadedRom, Option<Profile>, Scenario), String> {
    let opts = BuildOpts {
        device_id: args.device_id,
        source: args.source,
        baked_bdsm: args.baked_bdsm.or(args.host_bdsm),
    }
    .options();
    let rom = crate::source::load(&args.rom, &opts)?;
    let prof = profile(args)?;
    let sc = scenario_with(args, &rom.bytes, prof.as_ref())?;
    Ok((rom, prof, sc))
}

/// Run the command.
pub fn run(args: &RunArgs) -> Result<ExitCode, String> {
    let (rom, prof, sc) = prepare(args)?;
    if let Some(p) = &prof {
        let path = p
            .path
            .as_ref()
            .map_or_else(String::new, |x| x.display().to_string());
        println!(
            "profile   {path}{}{}",
            p.topology
                .as_ref()
                .map(|t| format!(", topology {t}"))
                .unwrap_or_default(),
            p.note
                .as_ref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    for w in qemu_warnings(&sc) {
        eprintln!("igdemu: qemu: {w}");
    }
    let run = session::run(&rom.bytes, &sc).map_err(|e| {
        let hint = match e {
            session::SessionError::Rom(igdemu::cpu::rom::RomError::BadChecksum { .. }) => {
                " (dumped ROMs often have a wrong checksum: try --allow-bad-checksum)"
            }
            session::SessionError::Rom(_) => {
                " (check the file is an option ROM: `igdemu inspect FILE`)"
            }
            _ => "",
        };
        format!("{}: {e}{hint}", rom.spec)
    })?;
    write_outputs(args, &run)?;
    print!("{}", render::text(&run.report, args.max_violations));
    for s in &run.report.steps {
        if let Some(session_run) = &s.run {
            if !session_run.returned() {
                for line in recent(session_run) {
                    println!("          | {line}");
                }
            }
        }
    }
    for s in &run.report.steps {
        if let Some(d) = s
            .diagnosis
            .as_ref()
            .filter(|d| d.kind == igdemu::diagnose::StopKind::GiveUp)
        {
            println!("why       {}: {}", s.step, d.suggestion);
        }
    }
    let diagnoses: Vec<&igdemu::diagnose::Diagnosis> = run
        .report
        .steps
        .iter()
        .filter_map(|s| s.diagnosis.as_ref())
        .collect();
    let lines = crate::profile::suggested_lines(prof.as_ref(), args.device_id, &diagnoses);
    if !lines.is_empty() {
        let target = prof
            .as_ref()
            .and_then(|p| p.path.clone())
            .unwrap_or_else(|| {
                if std::path::Path::new(&args.rom).is_file() {
                    crate::profile::beside_path(std::path::Path::new(&args.rom))
                } else {
                    PathBuf::from("PROFILE.toml")
                }
            });
        println!(
            "profile   to get past this stop, write these lines to {} (or a file for --profile) and run again:",
            target.display()
        );
        for l in lines {
            println!("            {l}");
        }
    }
    Ok(ExitCode::from(exit_code(run.report.verdict)))
}

/// What the chosen QEMU release prints at realize and goes on (ignored or
/// out-of-range options).
fn qemu_warnings(sc: &Scenario) -> Vec<String> {
    let (Some(setup), Ok(cfg)) = (sc.remapper.qemu(), sc.igd_config()) else {
        return Vec::new();
    };
    igdemu::igd::IgdDevice::new(cfg)
        .ok()
        .and_then(|d| igdemu::passthrough::qemu_release::realize(&setup, d.config()).ok())
        .map_or_else(Vec::new, |r| r.warnings)
}

fn recent(o: &igdemu::cpu::RunOutcome) -> Vec<String> {
    use igdemu::cpu::RunOutcome as R;
    match o {
        R::BudgetExhausted { recent, .. } | R::Timeout { recent, .. } | R::Fault { recent, .. } => {
            recent.iter().rev().take(8).rev().cloned().collect()
        }
        _ => Vec::new(),
    }
}

fn write_outputs(args: &RunArgs, run: &SessionRun) -> Result<(), String> {
    let write = |p: &PathBuf, data: &[u8]| {
        std::fs::write(p, data).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    if let Some(p) = &args.json {
        write(p, render::json(&run.report).as_bytes())?;
    }
    if let Some(p) = &args.trace {
        let f =
            std::fs::File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        let mut w = std::io::BufWriter::new(f);
        for e in run.machine.trace() {
            serde_json::to_writer(&mut w, e).map_err(|e| e.to_string())?;
            w.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    // Taken once for both the HTML page and the PNG file.
    let img = if args.html.is_some() || args.screenshot.is_some() {
        crate::screenshot::screenshot(run, None)
    } else {
        None
    };
    if let Some(p) = &args.html {
        write(
            p,
            crate::html::render_html_with_screen(run, img.as_ref()).as_bytes(),
        )?;
    }
    if let Some(p) = &args.screenshot {
        let img = img.as_ref().ok_or_else(|| {
            "nothing to screenshot: no display plane enabled and no text screen".to_string()
        })?;
        write(p, &crate::screenshot::encode_png(img))?;
    }
    Ok(())
}
