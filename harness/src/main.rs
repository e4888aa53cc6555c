//! `igdemu`: run Intel vBIOS option ROMs through a simulated IGD behind a
//! passthrough layer and report every device access that leaves the guest's
//! stolen memory.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use igdemu_harness::cli_rom;

#[derive(Parser)]
#[command(
    name = "igdemu",
    version,
    about = "Intel IGD passthrough simulator: run a vBIOS, check where its GTT entries land"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The project's built-in ROM personalities.
    Rom {
        #[command(subcommand)]
        action: cli_rom::RomAction,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rom { action } => cli_rom::run(action),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
