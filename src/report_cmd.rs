//! The HTML review report's flags, shared by `voxcap report` and
//! `analyze --html` (both run `analyze`'s batch, which starts the report
//! here and adds each input's entry as it comes).

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};
use voxcap_report::{Placement, ReportOptions, ReviewReport};

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

/// Starts the report at `out` for `total` inputs.
pub(crate) fn create(
    out: &Path,
    flags: &HtmlArgs,
    paths: &[PathBuf],
    lenient: bool,
    total: usize,
) -> anyhow::Result<ReviewReport> {
    if paths.iter().any(|p| p.as_os_str() == "-") {
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
        lenient,
        ..defaults
    };
    Ok(ReviewReport::create(out, options)?)
}
