//! `voxcap report`: analyse WAVs as `analyze` does and write the HTML review report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::Args;
use voxcap_report::{Entry, Placement, ReportOptions, ReviewReport};

use crate::analyze::{analyze_path, expand, Input, RecordingArgs};

/// Arguments of `voxcap report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// WAV files or directories (walked for *.wav, in sorted order).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The HTML file to write (atomically); linked figures go to `<stem>_files/` beside it.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Analyse truncated files as far as they go and flag them, instead of failing.
    #[arg(long)]
    lenient: bool,
    #[command(flatten)]
    recording: RecordingArgs,
    /// Embed the audio (true) or link the WAVs (false); default: embedded up to 50 recordings.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    embed_audio: Option<bool>,
    /// Parallel workers (default: all cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
}

/// Runs `voxcap report`; `Ok(false)` when some input failed.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<bool> {
    let config = args.recording.config(args.lenient);
    let inputs = expand(&args.paths);
    let audio = Placement::from_embed_flag(args.embed_audio);
    let (expected_recordings, lenient) = (inputs.len(), args.lenient);
    let options = ReportOptions {
        expected_recordings,
        audio,
        lenient,
        ..Default::default()
    };
    let mut report = ReviewReport::create(&args.out, options)?;
    let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.jobs.map_or_else(cores, usize::from);
    let failed = AtomicBool::new(false);
    report.add_parallel(&inputs, workers, |renderer, index, input| {
        let (path, result) = match input {
            Input::File(p) => (
                p.as_path(),
                analyze_path(&p.display().to_string(), p, p, &config, None).map_err(|f| f.message),
            ),
            Input::Unreadable(p, e) => (p.as_path(), Err(e.to_string())),
            Input::Stdin => (Path::new("-"), Err("stdin: give a file".into())),
        };
        failed.fetch_or(result.is_err(), Ordering::Relaxed);
        let (name, settings) = (path.display().to_string(), &config.settings);
        let result = result.as_ref().map_err(String::as_str);
        let entry = Entry {
            path,
            name: &name,
            result,
            settings,
        };
        renderer.render(index, &entry)
    })?;
    let out = report
        .finish()
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("voxcap: wrote {}", out.display());
    Ok(!failed.into_inner())
}
