//! `voxcap analyze`: per-input analysis and its text and NDJSON output.
//!
//! Inputs are expanded first (directories walked for `*.wav`, sorted), then
//! analysed one by one; a failing input is reported and the rest still run.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use voxcap_dsp::{analyze_reader, AnalysisConfig, AnalysisError, Report};

/// Arguments of `voxcap analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// WAV files, directories (walked for *.wav, in sorted order), or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format: a short human block per file, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Analyse truncated files as far as they go and flag them, instead of failing.
    #[arg(long)]
    pub lenient: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable blocks.
    Text,
    /// Newline-delimited JSON, one object per input.
    Json,
}

/// One input to analyse, or a failure met while finding inputs.
enum Input {
    Stdin,
    File(PathBuf),
    Unreadable(PathBuf, io::Error),
}

/// Why one input failed, as printed.
#[derive(Debug, Serialize)]
struct Failure {
    kind: &'static str,
    message: String,
}

#[derive(Serialize)]
struct FailureLine<'a> {
    file: &'a str,
    error: Failure,
}

/// Runs `voxcap analyze`; returns whether every input was analysed.
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let config = AnalysisConfig {
        lenient: args.lenient,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut all_ok = true;
    for input in expand(&args.paths) {
        let (name, result) = analyze_one(input, &config);
        let ok = result.is_ok();
        all_ok &= ok;
        let written = match (args.format, result) {
            (OutputFormat::Json, Ok(report)) => write_json(&mut out, &report),
            (OutputFormat::Json, Err(error)) => {
                write_json(&mut out, &FailureLine { file: &name, error })
            }
            (OutputFormat::Text, Ok(report)) => write_text(&mut out, &report),
            (OutputFormat::Text, Err(error)) => {
                out.flush().ok();
                eprintln!("voxcap: {name}: {}", error.message);
                Ok(())
            }
        };
        match written {
            Ok(()) => {}
            // A closed pipe (`voxcap analyze ... | head`) is not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(all_ok),
            Err(e) => return Err(e).context("writing results to stdout"),
        }
        if !ok {
            // Errors go to stderr in text mode, so keep the streams in order.
            out.flush().ok();
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("writing results to stdout")
        }
        _ => Ok(all_ok),
    }
}

fn analyze_one(input: Input, config: &AnalysisConfig) -> (String, Result<Report, Failure>) {
    match input {
        Input::Stdin => {
            let name = "-".to_string();
            let r = analyze_reader(&name, io::stdin(), config).map_err(analysis_failure);
            (name, r)
        }
        Input::File(path) => {
            let name = path.display().to_string();
            let r = match File::open(&path) {
                Ok(f) => analyze_reader(&name, f, config).map_err(analysis_failure),
                Err(e) => Err(io_failure(&e)),
            };
            (name, r)
        }
        Input::Unreadable(path, e) => (path.display().to_string(), Err(io_failure(&e))),
    }
}

fn analysis_failure(e: AnalysisError) -> Failure {
    Failure {
        kind: e.kind(),
        message: e.to_string(),
    }
}

fn io_failure(e: &io::Error) -> Failure {
    Failure {
        kind: "io",
        message: e.to_string(),
    }
}

/// Expands the command line paths into inputs, in order.
fn expand(paths: &[PathBuf]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort_by(|a, b| match (a, b) {
                (
                    Input::File(a) | Input::Unreadable(a, _),
                    Input::File(b) | Input::Unreadable(b, _),
                ) => a.cmp(b),
                _ => std::cmp::Ordering::Equal,
            });
            inputs.extend(found);
        } else {
            // Missing files are reported when opened, with the OS's reason.
            inputs.push(Input::File(p.clone()));
        }
    }
    inputs
}

fn is_wav(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

/// Collects `*.wav` files under `dir`, recursively; symlinked directories are
/// not followed so a link cycle cannot hang the walk.
fn walk(dir: &Path, found: &mut Vec<Input>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            found.push(Input::Unreadable(dir.to_path_buf(), e));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                found.push(Input::Unreadable(dir.to_path_buf(), e));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found),
            Ok(_) if is_wav(&path) => found.push(Input::File(path)),
            Ok(_) => {}
            Err(e) => found.push(Input::Unreadable(path, e)),
        }
    }
}

fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let f = &r.format;
    writeln!(out, "{}", r.file)?;
    writeln!(
        out,
        "  format    {}, {} Hz, {} ch, {} bit",
        f.codec, f.sample_rate, f.channels, f.bits
    )?;
    let truncated = if r.truncated { " (truncated)" } else { "" };
    writeln!(out, "  duration  {:.3} s{truncated}", r.duration_s)?;
    writeln!(
        out,
        "  levels    peak {:.2} dBFS, rms {:.2} dBFS, {} clipped",
        r.peak_dbfs, r.rms_dbfs, r.clipped_samples
    )?;
    writeln!(out)
}
