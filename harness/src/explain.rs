//! `igdemu explain ROM [--at CS:IP]`: run the ROM, then print the
//! disassembly around where it stopped (or `--at`), each instruction
//! annotated with what the run saw there: the registers it read (name and
//! last value), the way each conditional branch went, and the diagnosis
//! (read site, deciding branch, timeout, halt). Facts come from the CPU's
//! bounded flow record ([`igdemu::diagnose::record`]).

use clap::Args;
use iced_x86::{Formatter, Instruction, IntelFormatter};
use igdemu::diagnose::{self, Context, Diagnosis};
use igdemu::machine::{slot, Machine};
use igdemu::session;
use igdemu::trace::CsIp;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli_run::RunArgs;

/// Options of `igdemu explain`.
#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    /// Where to look (segment:offset, hex), instead of the stop.
    #[arg(long, value_parser = parse_csip)]
    pub at: Option<CsIp>,
    /// Instructions to show around each place.
    #[arg(long, default_value_t = 24)]
    pub lines: usize,
    /// Everything `igdemu run` takes.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Parse `c000:1e62`.
///
/// # Errors
/// Not two hex numbers separated by a colon.
pub fn parse_csip(s: &str) -> Result<CsIp, String> {
    let (cs, ip) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: write CS:IP as hex, e.g. c000:1e62"))?;
    let h = |t: &str| {
        u16::from_str_radix(t.trim_start_matches("0x"), 16).map_err(|e| format!("{s:?}: {e}"))
    };
    Ok(CsIp::new(h(cs)?, h(ip)?))
}

fn decode_one(machine: &Machine, at: CsIp) -> Option<Instruction> {
    let code = |a: u64, b: &mut [u8]| machine.read_guest(a, b).is_ok();
    diagnose::walk::decode_at(&code, at)
}

/// A start at most `back` bytes before `at` from which decoding lands on
/// `at` exactly (x86 cannot be decoded backwards).
fn synced_start(machine: &Machine, at: CsIp, back: u16) -> CsIp {
    for b in (1..=back.min(at.ip)).rev() {
        let mut ip = at.ip - b;
        let mut ok = false;
        for _ in 0..64 {
            if ip == at.ip {
                ok = true;
                break;
            }
            if ip > at.ip {
                break;
            }
            match decode_one(machine, CsIp::new(at.cs, ip)) {
                Some(i) => ip = i.next_ip() as u16,
                None => break,
            }
        }
        if ok {
            return CsIp::new(at.cs, at.ip - b);
        }
    }
    at
}

/// The annotated listing of `n` instructions around `at`.
#[must_use]
pub fn listing(
    machine: &Machine,
    ctx: &Context,
    at: CsIp,
    n: usize,
    d: Option<&Diagnosis>,
) -> String {
    let flow = machine.state().flow();
    let mut out = String::new();
    // Decode from a synced start before `at`; keep about a third of the
    // window before it.
    let mut code: Vec<(CsIp, Option<Instruction>)> = Vec::new();
    let mut here = synced_start(machine, at, 0x40);
    let mut after = 0usize;
    while after < n.saturating_sub(n / 3) {
        let i = decode_one(machine, here);
        code.push((here, i));
        if here.ip >= at.ip {
            after += 1;
        }
        match i {
            Some(i) => here = CsIp::new(here.cs, i.next_ip() as u16),
            None => break,
        }
    }
    let target = code.iter().position(|(p, _)| *p == at).unwrap_or(0);
    let first = target.saturating_sub(n / 3);
    let mut fmt = IntelFormatter::new();
    for (here, i) in code.into_iter().skip(first) {
        let Some(i) = i else {
            let _ = writeln!(out, "  {here}  (does not decode)");
            break;
        };
        let mut text = String::new();
        fmt.format(&i, &mut text);
        let mut notes: Vec<String> = flow
            .reads_at(here)
            .map(|r| format!("read {}", diagnose::describe_read(r, ctx)))
            .collect();
        if let Some(b) = flow.branch_at(here) {
            notes.push(format!(
                "taken {}x, not taken {}x, last {}",
                b.taken,
                b.not_taken,
                if b.last_taken { "taken" } else { "not taken" }
            ));
        }
        if let Some(d) = d {
            if d.branch_at == Some(here) {
                notes.push(format!(
                    "deciding branch: the other way needs {}",
                    d.waiting_for
                ));
            }
            if d.timeout.as_ref().is_some_and(|t| t.at == here) {
                notes.push("timeout".into());
            }
            if d.kind == diagnose::StopKind::Halt && CsIp::new(d.cs, d.ip) == here {
                notes.push(format!("stopped: {}", d.halt.as_deref().unwrap_or("halt")));
            }
        }
        let mark = if here == at { "=>" } else { "  " };
        let _ = write!(out, "{mark}{here}  {text:<32}");
        if !notes.is_empty() {
            let _ = write!(out, " ; {}", notes.join("; "));
        }
        out.push('\n');
    }
    out
}

/// Run the command.
///
/// # Errors
/// The ROM cannot be loaded or run.
pub fn run(args: &ExplainArgs) -> Result<ExitCode, String> {
    let (rom, _, sc) = crate::cli_run::prepare(&args.run)?;
    let run = session::run(&rom.bytes, &sc).map_err(|e| format!("{}: {e}", rom.spec))?;
    let info = igdemu::igd::generation::lookup(sc.device_id).map_err(|e| e.to_string())?;
    let ctx = Context {
        igd: slot::DISPLAY,
        platform: info.platform,
    };
    let stop = run
        .report
        .steps
        .iter()
        .find(|s| s.diagnosis.is_some() || !s.returned);
    let d = stop.and_then(|s| s.diagnosis.as_ref());
    let mut places: Vec<(String, CsIp)> = Vec::new();
    if let Some(at) = args.at {
        places.push(("requested".into(), at));
    } else {
        if let Some(s) = stop {
            println!("step {}: {}", s.step, s.outcome);
        }
        if let Some(d) = d {
            println!("{}", d.suggestion);
            for line in &d.decisions {
                println!("  {line}");
            }
            match d.kind {
                diagnose::StopKind::Halt => {
                    places.push(("where it stopped".into(), CsIp::new(d.cs, d.ip)))
                }
                _ => places.push(("the loop".into(), CsIp::new(d.cs, d.ip))),
            }
            if let Some(b) = d.branch_at {
                if !places
                    .iter()
                    .any(|(_, p)| p.cs == b.cs && p.ip.abs_diff(b.ip) < 0x20)
                {
                    places.push(("the deciding branch".into(), b));
                }
            }
            if let Some(r) = d.read_at {
                places.push(("the read".into(), r));
            }
        } else if let Some(s) = stop {
            let at = match &s.run {
                Some(
                    igdemu::cpu::RunOutcome::BudgetExhausted { at, .. }
                    | igdemu::cpu::RunOutcome::Timeout { at, .. }
                    | igdemu::cpu::RunOutcome::Fault { at, .. }
                    | igdemu::cpu::RunOutcome::Idle { at }
                    | igdemu::cpu::RunOutcome::BootRequest { at, .. },
                ) => Some(*at),
                _ => None,
            };
            places.extend(at.map(|a| ("where it stopped".to_string(), a)));
        }
    }
    if places.is_empty() {
        println!("every step returned and nothing failed; use --at CS:IP to look at code");
    }
    for (what, at) in places {
        println!("\n{what} ({at}):");
        print!("{}", listing(&run.machine, &ctx, at, args.lines, d));
    }
    Ok(ExitCode::SUCCESS)
}
