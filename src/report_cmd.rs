//! `voxcap report`: the analysis of `analyze` (same flags, same batch
//! runner), written as the HTML review report; and the report flags that
//! `analyze --html` shares.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};
use voxcap_report::{Placement, ReportOptions, ReviewReport};

use crate::analyze::{run_batch, BatchArgs};

/// Arguments of `voxcap report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The HTML file to write (atomically); pages of large reports go to `<stem>_files/` beside it.
    // Its id is `html`, as in `analyze`, so the report flags can require it in both.
    #[arg(long, id = "html", value_name = "FILE", required = true)]
    out: PathBuf,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    report: HtmlArgs,
}

/// How the report is laid out (with `analyze --html` or `voxcap report`).
#[derive(Debug, Args)]
pub(crate) struct HtmlArgs {
    /// Embed the audio in the report (true) or link the WAVs (false); default: embedded up to 50 recordings.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, requires = "html")]
    embed_audio: Option<bool>,
    /// Keep every recording in the one page (true) or put them on pages of 100 in `<stem>_files/` (false); default: one page up to 200 recordings.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, requires = "html")]
    one_page: Option<bool>,
    /// Link the WAVs under this http(s) URL (their path relative to the report's folder, else their name); implies linked audio.
    #[arg(long, value_name = "URL", value_parser = parse_link, requires = "html", conflicts_with = "embed_audio")]
    link_base: Option<String>,
    /// The report's title.
    #[arg(long, value_name = "TEXT", requires = "html")]
    title: Option<String>,
    /// An http(s) URL the title links to.
    #[arg(long, value_name = "URL", value_parser = parse_link, requires = "html")]
    title_link: Option<String>,
}

fn parse_link(s: &str) -> Result<String, String> {
    match voxcap_report::is_link_allowed(s) {
        true => Ok(s.to_string()),
        false => Err("not an http(s) URL without spaces".to_string()),
    }
}

/// Runs `voxcap report`; returns whether every input was analysed.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<bool> {
    run_batch(&args.batch, None, Some((&args.out, &args.report)))
}

/// Starts the report at `out` for `total` inputs.
pub(crate) fn create(
    out: &Path,
    flags: &HtmlArgs,
    batch: &BatchArgs,
    total: usize,
) -> anyhow::Result<ReviewReport> {
    if batch.paths.iter().any(|p| p.as_os_str() == "-") {
        crate::usage_error("the HTML report reads each WAV twice: give files, not `-` (stdin)");
    }
    let audio = match &flags.link_base {
        Some(_) => Placement::Link,
        None => Placement::from_embed_flag(flags.embed_audio),
    };
    let defaults = ReportOptions::default();
    let options = ReportOptions {
        title: flags.title.clone().unwrap_or(defaults.title.clone()),
        title_link: flags.title_link.clone(),
        expected_recordings: total,
        sections: Placement::from_embed_flag(flags.one_page),
        audio,
        audio_link_base: flags.link_base.clone(),
        lenient: batch.lenient,
        ..defaults
    };
    Ok(ReviewReport::create(out, options)?)
}
