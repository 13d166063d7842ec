//! The `voxcap` command line: a thin layer over the voxcap crates.
//!
//! Each subcommand lives in its own module; `main` only parses arguments and
//! maps outcomes to exit codes: 0 when everything succeeded, 1 when some
//! input failed, 2 for usage errors (clap's default); `record` adds 3 (Graph
//! reported a failure) and 4 (lost: no completion by the deadline); `serve`
//! exits 0 after a graceful shutdown; `results` adds 5 (some queued jobs
//! have no result yet); `verify-provenance` exits 1 on any mismatch.

// A binary: printing is its job (libraries log through tracing).
#![allow(clippy::print_stdout, clippy::print_stderr)]
// Argument docs are clap's help texts, which name placeholders like <seq>.
#![allow(rustdoc::invalid_html_tags)]

mod analyze;
mod demo;
mod emulate;
mod queue_cmd;
mod record_cmd;
mod records_cmd;
mod report_cmd;
mod serve;

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
    /// Analyse WAV files as `analyze` does and write the HTML review report (--out FILE).
    Report(analyze::ReportArgs),
    /// Record a caller's answer on an existing call via Graph, then download and analyse it.
    Record(Box<record_cmd::RecordArgs>),
    /// Run the whole record flow against an in-process emulator with a scripted caller.
    Demo(demo::DemoArgs),
    /// Run the local Graph calls emulator until ctrl-c.
    Emulate(emulate::EmulateArgs),
    /// Run a fleet member (--redis) and/or the service API (--api-keys-file): webhook, health, readiness, takeover.
    Serve(Box<serve::ServeArgs>),
    /// Queue WAV files on Redis for `voxcap worker`s on any number of machines.
    Enqueue(Box<queue_cmd::EnqueueArgs>),
    /// Analyse queued files until stopped (or, with --drain, until the queue is empty).
    Worker(queue_cmd::WorkerArgs),
    /// Print a queue's results as NDJSON in enqueue order, with a summary; exit 5 if incomplete.
    Results(queue_cmd::ResultsArgs),
    /// Recompute the hashes of DIR's recordings and check its audit chain; exit 1 on any mismatch.
    VerifyProvenance(records_cmd::VerifyArgs),
    /// Erase recordings on request (by age, call id or client context), every file of each.
    Purge(records_cmd::PurgeArgs),
    /// Decrypt a .wav.age recording with an age identity file.
    Decrypt(records_cmd::DecryptArgs),
}

fn main() -> ExitCode {
    let outcome = match &Cli::parse().command {
        Command::Analyze(args) => analyze::run(args).map(|ok| ExitCode::from(u8::from(!ok))),
        Command::Report(args) => analyze::run_report(args).map(|ok| ExitCode::from(u8::from(!ok))),
        Command::Record(args) => record_cmd::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Emulate(args) => emulate::run(args).map(|()| ExitCode::SUCCESS),
        Command::Enqueue(args) => queue_cmd::enqueue(args),
        Command::Worker(args) => queue_cmd::worker(args),
        Command::Results(args) => queue_cmd::results(args),
        Command::VerifyProvenance(args) => records_cmd::verify(args),
        Command::Purge(args) => records_cmd::run_purge(args),
        Command::Decrypt(args) => records_cmd::decrypt(args),
    };
    // An error (with its causes) is exit code 1.
    outcome.unwrap_or_else(|e| {
        eprintln!("voxcap: {e:#}");
        ExitCode::from(1)
    })
}

/// Exits with a usage error (code 2) for what clap's attributes cannot express.
fn usage_error(message: &str) -> ! {
    let mut cli = <Cli as clap::CommandFactory>::command();
    cli.error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// A clap value parser for a number of seconds in `min..=max`.
fn seconds_in(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |s| match s.parse::<f64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in {min}..={max}")),
    }
}
