//! `voxcap analyze` and `voxcap report`: per-input analysis, its text and
//! NDJSON output, and the HTML review report (flags in `report_cmd`).
//!
//! Inputs are expanded first (directories walked for `*.wav`, sorted), then
//! analysed by `-j N` worker threads, each with its own detectors, through [`voxcap_queue::local::run_ordered`]:
//! results are printed in input order as soon as they are ready, with a
//! bounded window in flight, so memory stays bounded whatever the number of
//! files. A failing input is reported and the rest still run. A closing
//! summary counts verdicts, labels and errors. With an HTML report
//! (`--html`, or `voxcap report`), each worker also draws its input's
//! entry and the entries are written in order as the results come in.
//!
//! A panic while handling one input becomes that input's `internal` error:
//! `analyze_reader` catches panics in the analysis, and `run_ordered` runs
//! each job under `catch_unwind` as well, so every input gets its result
//! slot and the ordered printer never waits for a job that died (the fault
//! injection for the tests is in [`voxcap_bot::file_analysis`], which also
//! hashes each input and decrypts `.age` inputs with `--identity`).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;
use voxcap_dsp::analysis::panic_message;
use voxcap_dsp::{AnalysisConfig, Report};

use voxcap_bot::file_analysis::{self, analyze_input, AnalysedFile};
use voxcap_bot::trim_out;
use voxcap_queue::local::{expand_inputs, run_ordered, Failure, Input, Summary};
use voxcap_records::crypt::Identities;
use voxcap_report::{Entry, Rendered, ReviewReport};

use crate::report_cmd::{self, HtmlArgs};

/// Arguments of `voxcap analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Output format: a short human block per file, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Also write the HTML review report to FILE (atomically; see `voxcap report`).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub report: HtmlArgs,
}

/// Arguments of `voxcap report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The HTML file to write (atomically); pages of large reports go to `<stem>_files/` beside it.
    // Its id is `html`, as in `analyze`, so the report flags can require it in both.
    #[arg(long, id = "html", value_name = "FILE", required = true)]
    pub out: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
    #[command(flatten)]
    pub report: HtmlArgs,
}

/// The inputs and analysis flags `analyze` and `report` share.
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// WAV files, directories (walked for *.wav, in sorted order), or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
    /// age identity file: decrypt `.age` inputs in memory (see `voxcap decrypt`).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Silero VAD's ONNX file, fused into the speech detector (docs/speech.md).
    #[arg(long, value_name = "FILE", env = "VOXCAP_SPEECH_MODEL")]
    pub speech_model: Option<PathBuf>,
}

/// The settings a recording was made with and what Graph reported, for the
/// completion check and the trim.
#[derive(Debug, Clone, Args)]
pub(crate) struct RecordingArgs {
    /// Stop tones the operation was configured with, e.g. "#*".
    #[arg(long, value_name = "KEYS", default_value = "", value_parser = file_analysis::stop_tones_arg)]
    pub stop_tones: String,
    /// initialSilenceTimeoutInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = file_analysis::timer_arg)]
    pub initial_silence: f64,
    /// maxSilenceTimeoutInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = file_analysis::timer_arg)]
    pub max_silence: f64,
    /// maxRecordDurationInSeconds of the operation.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = file_analysis::timer_arg)]
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

impl RecordingArgs {
    /// The analysis settings these arguments describe.
    pub(crate) fn config(&self, lenient: bool) -> anyhow::Result<AnalysisConfig> {
        file_analysis::job_config(&self.job_options(lenient)).map_err(anyhow::Error::msg)
    }

    /// The options that travel with each queued job.
    pub(crate) fn job_options(&self, lenient: bool) -> voxcap_queue::JobOptions {
        voxcap_queue::JobOptions {
            stop_tones: self.stop_tones.clone(),
            initial_silence: self.initial_silence,
            max_silence: self.max_silence,
            max_record: self.max_record,
            reported: self.reported.clone(),
            pad_start_ms: self.pad_start_ms,
            pad_end_ms: self.pad_end_ms,
            lenient,
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

/// A JSON result line: the report and the input's hash.
#[derive(Serialize)]
struct ResultLine<'a> {
    #[serde(flatten)]
    report: &'a Report,
    sha256: &'a str,
    bytes: u64,
}

#[derive(Serialize)]
struct FailureLine<'a> {
    file: &'a str,
    error: Failure,
}

/// Runs `voxcap analyze`; returns whether every input was analysed.
pub(crate) fn run(args: &AnalyzeArgs) -> anyhow::Result<bool> {
    let html = args.html.as_deref().map(|out| (out, &args.report));
    run_batch(&args.batch, Some(args.format), html)
}

/// Runs `voxcap report`; returns whether every input was analysed.
pub(crate) fn run_report(args: &ReportArgs) -> anyhow::Result<bool> {
    run_batch(&args.batch, None, Some((&args.out, &args.report)))
}

/// One input's outcome, and its report entry when there is a report.
struct Done {
    name: String,
    result: Result<AnalysedFile, Failure>,
    rendered: Option<Rendered>,
}

/// Analyses the batch on its workers, printing each result in `format` (or
/// nothing) and adding it to the report at `html`, in input order; then the
/// summary. Returns whether every input was analysed.
pub(crate) fn run_batch(
    batch: &BatchArgs,
    format: Option<OutputFormat>,
    html: Option<(&Path, &HtmlArgs)>,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut config = batch.recording.config(batch.lenient)?;
    config.speech_model = file_analysis::speech_model_at(batch.speech_model.as_deref())?;
    let identities = batch
        .identity
        .as_deref()
        .map(Identities::from_file)
        .transpose()?;
    let inputs = expand_inputs(&batch.paths);
    let total = inputs.len();
    let mut report = match html {
        Some((out, flags)) => Some(report_cmd::create(
            out,
            flags,
            &batch.paths,
            batch.lenient,
            total,
        )?),
        None => None,
    };
    let renderer = report.as_ref().map(ReviewReport::renderer);
    let workers = batch
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(total.max(1));
    config.speech_worker = workers == 1; // else every core has a file already
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
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut summary = Summary::default();
    let (mut write_error, mut report_error) = (None, None);
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let (trim_out, renderer) = (batch.trim_out.as_deref(), renderer.as_ref());
    // The report entry is drawn on the worker, beside the analysis.
    let done = |index: usize, path: &Path, name: String, result: Result<AnalysedFile, Failure>| {
        let entry = Entry {
            path,
            name: &name,
            result: result
                .as_ref()
                .map(|a| &a.report)
                .map_err(|f| f.message.as_str()),
            settings: &config.settings,
        };
        let rendered = renderer.map(|r| r.render_or_fail(index + 1, &entry));
        Done {
            name,
            result,
            rendered,
        }
    };
    run_ordered(
        inputs.into_iter().enumerate().collect(),
        workers,
        |(index, input)| {
            let path = match &input {
                Input::File(p) => p.clone(),
                _ => PathBuf::from(&names[index]),
            };
            let (name, result) = analyze_input(input, &config, trim_out, identities.as_ref());
            done(index, &path, name, result)
        },
        |index, payload| {
            let failure = Failure::panicked(&panic_message(payload));
            done(
                index,
                Path::new(&names[index]),
                names[index].clone(),
                Err(failure),
            )
        },
        |done| {
            progress.inc(1);
            match &done.result {
                Ok(AnalysedFile { report: r, .. }) => {
                    summary.add_analysed(r.duration_s, &r.completion.verdict, &r.quality.labels)
                }
                Err(f) => summary.add_failed(f),
            }
            if let (Some(report), Some(rendered), None) =
                (&mut report, done.rendered, &report_error)
            {
                report_error = report.push(rendered).err();
            }
            if let (Some(format), None) = (format, &write_error) {
                write_error = print_result(&mut out, format, &done.name, done.result).err();
            }
        },
    );
    progress.finish_and_clear();
    summary.wall_s = started.elapsed().as_secs_f64();
    let all_ok = summary.failed == 0;
    if let Some(path) = &batch.summary_json {
        trim_out::write_json_atomically(path, &summary)
            .with_context(|| format!("{}: writing the summary", path.display()))?;
    }
    if let Some(report) = report {
        report_error.map_or(Ok(()), Err)?;
        let written = report.finish()?;
        eprintln!("voxcap: wrote {}", written.display());
    }
    match write_error.map_or_else(|| out.flush(), Err) {
        // A closed pipe (`voxcap analyze ... | head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(all_ok),
        Err(e) => return Err(e).context("writing results to stdout"),
        Ok(()) => {}
    }
    if total > 1 {
        summary.write_text(&mut io::stderr().lock()).ok();
    }
    Ok(all_ok)
}

fn print_result(
    out: &mut impl Write,
    format: OutputFormat,
    name: &str,
    result: Result<AnalysedFile, Failure>,
) -> io::Result<()> {
    match (format, result) {
        (OutputFormat::Json, Ok(a)) => {
            let (sha256, bytes) = (&a.input.sha256, a.input.bytes);
            write_json(
                out,
                &ResultLine {
                    report: &a.report,
                    sha256,
                    bytes,
                },
            )
        }
        (OutputFormat::Json, Err(error)) => write_json(out, &FailureLine { file: name, error }),
        (OutputFormat::Text, Ok(a)) => voxcap_report::text::write_text(out, &a.report),
        (OutputFormat::Text, Err(error)) => {
            // Errors go to stderr in text mode, so keep the streams in order.
            out.flush()?;
            eprintln!("voxcap: {name}: {}", error.message);
            Ok(())
        }
    }
}

fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
