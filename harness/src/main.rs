//! `igdemu`: run Intel vBIOS option ROMs through a simulated IGD behind a
//! passthrough layer and report every device access that leaves the guest's
//! stolen memory.

use clap::{Parser, Subcommand};
use igdemu_harness::{bench, cli_rom, cli_run, compat, corpus, explain, inspect, source};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "igdemu",
    version,
    about = "Intel IGD passthrough simulator: run a vBIOS, check where its GTT entries and DMA land",
    after_help = "Exit codes: 0 clean, 1 violations (or a corpus regression), 2 the ROM could not run (or a step failed) or bad arguments, 3 inconclusive (nothing reached the GTT or the aperture)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one ROM (POST + script) and check containment.
    Run(Box<cli_run::RunArgs>),
    /// Run every ROM in directories with every remapper; print a table.
    Corpus(corpus::CorpusArgs),
    /// Will my setup work? ROMs under every QEMU release 2.7-10.2: the
    /// verdict per release, and the commit where it changes.
    Compat(compat::CompatArgs),
    /// Run a ROM and show the code where it stopped (or --at CS:IP), annotated
    /// with the registers read, the values seen and the branch directions.
    Explain(Box<explain::ExplainArgs>),
    /// Print an option ROM's structure without running it.
    Inspect {
        /// The ROM: a file, builtin:NAME or seabios:VARIANT.
        rom: String,
    },
    /// Measure speed and memory (BENCHMARKS.md): guest instructions per second
    /// against raw unicorn and libx86emu, GTT sweep, corpus throughput, peak RSS.
    Bench {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// One repetition, a smaller GTT, no child process (a quick look).
        #[arg(long)]
        quick: bool,
    },
    /// The project's built-in ROM personalities.
    Rom {
        #[command(subcommand)]
        action: cli_rom::RomAction,
    },
}

fn main() -> ExitCode {
    bench::maybe_run_child();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli_run::run(&args),
        Command::Corpus(args) => corpus::run(&args),
        Command::Compat(args) => compat::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Inspect { rom } => source::load(&rom, &igdemu_roms::Options::default())
            .and_then(|r| inspect::describe(&r.name, &r.bytes))
            .map(|text| {
                print!("{text}");
                ExitCode::SUCCESS
            }),
        Command::Bench { json, quick } => {
            let mut opts = bench::BenchOptions::default();
            if quick {
                opts.repeats = 1;
                opts.gtt_entries = 1 << 18;
                opts.peak_memory = false;
            }
            let report = bench::run_benches(&opts);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rom { action } => cli_rom::run(action),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("igdemu: {e}");
            ExitCode::from(2)
        }
    }
}
