//! The `voxcap` command line: a thin layer over the voxcap crates.
//!
//! Each subcommand lives in its own module; `main` only parses arguments and
//! maps outcomes to exit codes: 0 when everything succeeded, 1 when some
//! input failed, 2 for usage errors (clap's default).

mod analyze;
mod trim_out;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Capture and verify a caller's short spoken answer (Microsoft Graph recordResponse).
#[derive(Debug, Parser)]
#[command(name = "voxcap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse WAV files: format, levels, DTMF, speech, trim, and the completion check.
    Analyze(analyze::AnalyzeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Analyze(args) => analyze::run(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("voxcap: {e:#}");
            ExitCode::from(1)
        }
    }
}
