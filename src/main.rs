//! The `voxcap` command line: a thin layer over the voxcap crates.
//!
//! Each subcommand lives in its own module; `main` only parses arguments and
//! maps outcomes to exit codes: 0 when everything succeeded, 1 when some
//! input failed, 2 for usage errors (clap's default); `record` adds 3 (Graph
//! reported a failure) and 4 (lost: no completion by the deadline); `serve`
//! exits 0 after a graceful shutdown; `results` adds 5 (some queued jobs
//! have no result yet).

mod analyze;
mod demo;
mod emulate;
mod queue_cmd;
mod record_cmd;
mod serve;
mod signal;

use voxcap::trim_out;

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
    /// Record a caller's answer on an existing call via Graph, then download and analyse it.
    Record(Box<record_cmd::RecordArgs>),
    /// Run the whole record flow against an in-process emulator with a scripted caller.
    Demo(demo::DemoArgs),
    /// Run the local Graph calls emulator until ctrl-c.
    Emulate(emulate::EmulateArgs),
    /// Run a fleet member: webhook, health and readiness, takeover of dead instances' operations (needs --redis).
    Serve(Box<serve::ServeArgs>),
    /// Queue WAV files on Redis for `voxcap worker`s on any number of machines.
    Enqueue(Box<queue_cmd::EnqueueArgs>),
    /// Analyse queued files until stopped (or, with --drain, until the queue is empty).
    Worker(queue_cmd::WorkerArgs),
    /// Print a queue's results as NDJSON in enqueue order, with a summary; exit 5 if incomplete.
    Results(queue_cmd::ResultsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Record(args) => return report_exit(record_cmd::run(args)),
        Command::Demo(args) => return report_exit(demo::run(args)),
        Command::Serve(args) => return report_exit(serve::run(args)),
        Command::Emulate(args) => {
            return report_exit(emulate::run(args).map(|()| ExitCode::SUCCESS))
        }
        Command::Enqueue(args) => return report_exit(queue_cmd::enqueue(args)),
        Command::Worker(args) => return report_exit(queue_cmd::worker(args)),
        Command::Results(args) => return report_exit(queue_cmd::results(args)),
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

/// Prints an error (with its causes) and maps it to exit code 1.
fn report_exit(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    outcome.unwrap_or_else(|e| {
        eprintln!("voxcap: {e:#}");
        ExitCode::from(1)
    })
}
