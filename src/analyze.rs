//! `voxcap analyze`: per-input analysis and its text and NDJSON output.
//!
//! Inputs are expanded first (directories walked for `*.wav`, sorted), then
//! analysed by `-j N` worker threads, each with its own detectors (webrtc-vad
//! state is not `Send`), through [`voxcap_queue::local::run_ordered`]:
//! results are printed in input order as soon as they are ready, with a
//! bounded window in flight, so memory stays bounded whatever the number of
//! files. A failing input is reported and the rest still run. A closing
//! summary counts verdicts, labels and errors.
//!
//! A panic while handling one input becomes that input's `internal` error:
//! `analyze_reader` catches panics in the analysis, and `run_ordered` runs
//! each job under `catch_unwind` as well, so every input gets its result
//! slot and the ordered printer never waits for a job that died. For the tests that show
//! this, two environment variables inject faults: `VOXCAP_TEST_PANIC_READ`
//! (a file name: reading it panics inside the analysis) and
//! `VOXCAP_TEST_PANIC_JOB` (a file name: its job panics outside it).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use voxcap_dsp::verify::{CompletionReason, RecordSettings};
use voxcap_dsp::{analyze_reader, AnalysisConfig, AnalysisError, Report};

use voxcap_bot::trim_out;
use voxcap_queue::local::{expand_inputs, run_ordered, Input};

/// Arguments of `voxcap analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// WAV files, directories (walked for *.wav, in sorted order), or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format: a short human block per file, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Analyse truncated files as far as they go and flag them, instead of failing.
    #[arg(long)]
    pub lenient: bool,
    #[command(flatten)]
    pub recording: RecordingArgs,
    /// Write each input's trimmed copy (PCM 16-bit, its own rate) into DIR as `<name>.trimmed.wav`.
    #[arg(long, value_name = "DIR")]
    pub trim_out: Option<PathBuf>,
    /// Parallel workers (default: all cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Also write the closing summary as JSON to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// The settings a recording was made with and what Graph reported, for the
/// completion check and the trim.
#[derive(Debug, Clone, Args)]
pub(crate) struct RecordingArgs {
    /// Stop tones the operation was configured with, e.g. "#*".
    #[arg(long, value_name = "KEYS", default_value = "", value_parser = parse_stop_tones)]
    pub stop_tones: StopTones,
    /// initialSilenceTimeoutInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = parse_timer)]
    pub initial_silence: f64,
    /// maxSilenceTimeoutInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = parse_timer)]
    pub max_silence: f64,
    /// maxRecordDurationInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = parse_timer)]
    pub max_record: f64,
    /// The completion reason Graph reported: a completionReason name
    /// (e.g. stopToneDetected) or a resultInfo subcode (e.g. 8515).
    #[arg(long, value_name = "REASON_OR_SUBCODE")]
    pub reported: Option<String>,
    /// Audio kept before the first speech when trimming, in ms.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    pub pad_start_ms: u32,
    /// Audio kept after the last speech when trimming, in ms.
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub pad_end_ms: u32,
}

/// Validated stop tones (`0`-`9`, `*`, `#`, `A`-`D`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StopTones(pub Vec<char>);

pub(crate) fn parse_stop_tones(s: &str) -> Result<StopTones, String> {
    voxcap_dsp::verify::parse_stop_tones(s)
        .map(StopTones)
        .map_err(|e| e.to_string())
}

pub(crate) fn parse_timer(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    voxcap_dsp::verify::check_timer_s(v).map_err(|e| e.to_string())
}

impl RecordingArgs {
    /// The analysis settings these arguments describe.
    pub(crate) fn config(&self, lenient: bool) -> AnalysisConfig {
        let reported = voxcap_bot::settings::reported_outcome(self.reported.as_deref());
        AnalysisConfig {
            lenient,
            settings: RecordSettings {
                stop_tones: self.stop_tones.0.clone(),
                initial_silence_s: self.initial_silence,
                max_silence_s: self.max_silence,
                max_record_s: self.max_record,
            },
            reported,
            pad_start_ms: self.pad_start_ms,
            pad_end_ms: self.pad_end_ms,
            ..AnalysisConfig::default()
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable blocks.
    Text,
    /// Newline-delimited JSON, one object per input.
    Json,
}

/// Why one input failed, as printed.
#[derive(Debug, Serialize)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

#[derive(Serialize)]
struct FailureLine<'a> {
    file: &'a str,
    error: Failure,
}

/// The closing summary of a batch.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    /// Inputs seen.
    pub files: u64,
    /// Inputs analysed.
    pub analysed: u64,
    /// Inputs that failed.
    pub failed: u64,
    /// Seconds of audio analysed.
    pub audio_s: f64,
    /// Wall-clock seconds the batch took.
    pub wall_s: f64,
    /// Count per completion verdict.
    pub verdicts: BTreeMap<String, u64>,
    /// Count per quality label.
    pub labels: BTreeMap<String, u64>,
    /// Count per error kind.
    pub errors: BTreeMap<String, u64>,
}

impl Summary {
    fn add(&mut self, result: &Result<Report, Failure>) {
        self.files += 1;
        match result {
            Ok(r) => {
                self.analysed += 1;
                self.audio_s += r.duration_s;
                *self
                    .verdicts
                    .entry(name_of(&r.completion.verdict))
                    .or_default() += 1;
                for l in &r.quality.labels {
                    *self.labels.entry(name_of(l)).or_default() += 1;
                }
            }
            Err(f) => {
                self.failed += 1;
                *self.errors.entry(f.kind.to_string()).or_default() += 1;
            }
        }
    }

    fn print(&self, out: &mut impl Write) -> io::Result<()> {
        let list = |m: &BTreeMap<String, u64>| {
            let v: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "voxcap: {} file(s), {} analysed, {} failed; {:.1} s of audio in {:.2} s ({:.0}x real time)",
            self.files,
            self.analysed,
            self.failed,
            self.audio_s,
            self.wall_s,
            self.audio_s / self.wall_s.max(1e-9)
        )?;
        writeln!(out, "  verdicts  {}", list(&self.verdicts))?;
        writeln!(out, "  labels    {}", list(&self.labels))?;
        writeln!(out, "  errors    {}", list(&self.errors))
    }
}

/// The serde name of a unit enum value (`consistent`, `dtmf_only`...).
fn name_of(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Runs `voxcap analyze`; returns whether every input was analysed.
pub(crate) fn run(args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let config = args.recording.config(args.lenient);
    let inputs = expand_inputs(&args.paths);
    let total = inputs.len();
    let workers = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(total.max(1));
    let progress = if io::stderr().is_terminal() && total > 1 {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} files  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut summary = Summary::default();
    let mut write_error = None;
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let trim_out = args.trim_out.as_deref();
    run_ordered(
        inputs,
        workers,
        |input| analyze_one(input, &config, trim_out),
        |index, payload| (names[index].clone(), Err(panic_failure(payload))),
        |(name, result)| {
            progress.inc(1);
            summary.add(&result);
            if write_error.is_none() {
                if let Err(e) = print_result(&mut out, args.format, &name, result) {
                    write_error = Some(e);
                }
            }
        },
    );
    progress.finish_and_clear();
    summary.wall_s = started.elapsed().as_secs_f64();
    let all_ok = summary.failed == 0;
    if let Some(path) = &args.summary_json {
        trim_out::write_json_atomically(path, &summary)
            .with_context(|| format!("{}: writing the summary", path.display()))?;
    }
    match write_error.map_or_else(|| out.flush(), Err) {
        // A closed pipe (`voxcap analyze ... | head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(all_ok),
        Err(e) => return Err(e).context("writing results to stdout"),
        Ok(()) => {}
    }
    if total > 1 {
        summary.print(&mut io::stderr().lock()).ok();
    }
    Ok(all_ok)
}

fn print_result(
    out: &mut impl Write,
    format: OutputFormat,
    name: &str,
    result: Result<Report, Failure>,
) -> io::Result<()> {
    match (format, result) {
        (OutputFormat::Json, Ok(report)) => write_json(out, &report),
        (OutputFormat::Json, Err(error)) => write_json(out, &FailureLine { file: name, error }),
        (OutputFormat::Text, Ok(report)) => write_text(out, &report),
        (OutputFormat::Text, Err(error)) => {
            // Errors go to stderr in text mode, so keep the streams in order.
            out.flush()?;
            eprintln!("voxcap: {name}: {}", error.message);
            Ok(())
        }
    }
}

fn analyze_one(
    input: Input,
    config: &AnalysisConfig,
    trim_out: Option<&Path>,
) -> (String, Result<Report, Failure>) {
    match input {
        Input::Stdin if trim_out.is_some() => {
            // The trimmed copy needs a second pass, so keep stdin on disk
            // (bounded memory) rather than in RAM.
            let name = "-".to_string();
            let spooled = tempfile::NamedTempFile::new()
                .and_then(|mut t| io::copy(&mut io::stdin().lock(), &mut t).map(|_| t));
            let r = match spooled {
                Ok(t) => analyze_path(&name, t.path(), Path::new("stdin"), config, trim_out),
                Err(e) => Err(io_failure(&e)),
            };
            (name, r)
        }
        Input::Stdin => {
            let name = "-".to_string();
            let r = analyze_reader(&name, io::stdin(), config).map_err(analysis_failure);
            (name, r)
        }
        Input::File(path) => {
            let name = path.display().to_string();
            if injected_fault("VOXCAP_TEST_PANIC_JOB", &name) {
                panic!("injected panic in the job for {name}");
            }
            let r = analyze_path(&name, &path, &path, config, trim_out);
            (name, r)
        }
        Input::Unreadable(path, e) => (path.display().to_string(), Err(io_failure(&e))),
    }
}

/// Analyses the file at `path` and, with `trim_out`, writes its trimmed copy
/// named after `label`.
pub(crate) fn analyze_path(
    name: &str,
    path: &Path,
    label: &Path,
    config: &AnalysisConfig,
    trim_out: Option<&Path>,
) -> Result<Report, Failure> {
    let file = File::open(path).map_err(|e| io_failure(&e))?;
    let file = FaultReader {
        inner: file,
        panic: injected_fault("VOXCAP_TEST_PANIC_READ", name),
    };
    let report = analyze_reader(name, file, config).map_err(analysis_failure)?;
    if let Some(dir) = trim_out {
        let dest = trim_out::trimmed_path(dir, label);
        trim_out::write_trimmed_file(path, report.trim_span, &dest, config.lenient).map_err(
            |e| Failure {
                kind: "trim_out",
                message: format!("{e:#}"),
            },
        )?;
    }
    Ok(report)
}

/// Whether the test-only fault `var` names the input `name`.
fn injected_fault(var: &str, name: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == name)
}

/// A file whose reads panic when a test injected that fault.
struct FaultReader {
    inner: File,
    panic: bool,
}

impl io::Read for FaultReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.panic {
            panic!("injected panic while reading");
        }
        self.inner.read(buf)
    }
}

fn panic_failure(payload: &(dyn std::any::Any + Send)) -> Failure {
    Failure {
        kind: "internal",
        message: format!(
            "internal error: panicked: {}",
            voxcap_dsp::analysis::panic_message(payload)
        ),
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
    if !r.dtmf.is_empty() {
        let digits: String = r.dtmf.iter().map(|d| d.digit).collect();
        let at: Vec<String> = r
            .dtmf
            .iter()
            .map(|d| format!("{}@{:.2}s", d.digit, d.start_s))
            .collect();
        writeln!(out, "  dtmf      {digits}  ({})", at.join(" "))?;
    }
    let q = &r.quality;
    let first = q
        .time_to_first_speech_s
        .map(|t| format!(", first at {t:.2} s"))
        .unwrap_or_default();
    writeln!(
        out,
        "  speech    {:.2} s in {} segment(s){first}",
        q.speech_s,
        r.speech.len()
    )?;
    if r.trim.end_s > r.trim.start_s {
        writeln!(
            out,
            "  trim      keep {:.2}..{:.2} s",
            r.trim.start_s, r.trim.end_s
        )?;
    } else {
        writeln!(out, "  trim      nothing worth keeping")?;
    }
    let labels: Vec<String> = q.labels.iter().map(name_of).collect();
    writeln!(out, "  labels    {}", labels.join(", "))?;
    let c = &r.completion;
    let name = |x: &Option<CompletionReason>| {
        x.as_ref()
            .map_or("-".to_string(), |r| r.as_str().to_string())
    };
    writeln!(
        out,
        "  completion reported {}, inferred {}: {}",
        name(&c.reported),
        name(&c.inferred),
        name_of(&c.verdict)
    )?;
    writeln!(out)
}
