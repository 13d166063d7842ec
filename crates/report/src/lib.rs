//! A self-contained HTML review report of voxcap analyses.
//!
//! [`ReviewReport::create`], then [`ReviewReport::add`] per recording, then
//! [`ReviewReport::finish`]. Each recording's figure (waveform over a
//! 0-4 kHz spectrogram on one time axis, with speech, DTMF, trim and the
//! Graph timers marked) is drawn as soon as it is added and written out:
//! the table rows stream into a temp file beside the report and the
//! per-recording sections into a second one (or onto their pages), so
//! memory holds one recording at a time plus four numbers per recording
//! for the summary histograms. `finish` writes the head and summary, copies
//! the parts after it into a temp file, fsyncs it and renames it over the
//! report.
//!
//! Small batches are one file: figures inline, audio as data: URIs. Past
//! [`ReportOptions::inline_limit`] recordings the report is an index (the
//! summary and the whole table) whose rows link to pages of
//! [`ReportOptions::page_size`] recordings in `<report stem>_files/`, so a
//! browser opens the index without drawing 10,000 figures; past
//! [`ReportOptions::embed_audio_limit`] the `<audio>` links to the WAV.
//! The page loads nothing from the network: no `http(s)://` in the HTML
//! except the links the caller supplied ([`ReportOptions::title_link`],
//! [`ReportOptions::audio_link_base`]).
//!
//! [`write_view`] renders one recording's view as a page of its own, for a
//! service that shows recordings one at a time.

mod html;
mod names;
mod pages;
mod plot;
mod render;
mod signal;
pub mod text;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use voxcap_dsp::verify::RecordSettings;
use voxcap_dsp::Report;

pub use html::escape;
pub use render::{Rendered, Renderer};

use names::LABELS;
use pages::PageWriter;

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing the report or its files failed.
    #[error("review report {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A recording could not be decoded again for its figure.
    #[error("recording {path}: {message}")]
    Audio {
        /// The WAV file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A rendering thread of [`ReviewReport::add_parallel`] panicked (a bug).
    #[error("review report: rendering recording {index} panicked")]
    Panicked {
        /// The recording's number.
        index: usize,
    },
    /// Drawing a chart failed.
    #[error("chart for {file}: {message}")]
    Plot {
        /// The recording or chart.
        file: String,
        /// The cause.
        message: String,
    },
    /// A supplied link is not a plain http(s) URL (the URL itself is not
    /// quoted: it may carry credentials).
    #[error(
        "review report: the {which} is not an http(s) URL without spaces or control characters"
    )]
    Link {
        /// Which link: "title link" or "audio link base".
        which: &'static str,
    },
}

/// Where a part of the report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Embedded for batches up to the option's limit, else linked.
    #[default]
    Auto,
    /// Always embedded in the HTML.
    Embed,
    /// Always a separate file, linked (sections on pages in `<stem>_files/`, audio the WAV itself).
    Link,
}

impl Placement {
    /// A yes/no flag's placement: unset is [`Placement::Auto`], yes
    /// [`Placement::Embed`], no [`Placement::Link`].
    pub fn from_embed_flag(embed: Option<bool>) -> Self {
        match embed {
            None => Placement::Auto,
            Some(true) => Placement::Embed,
            Some(false) => Placement::Link,
        }
    }
}

/// How the report is laid out.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The page title.
    pub title: String,
    /// An http(s) URL the title links to (the only way such a link gets in).
    pub title_link: Option<String>,
    /// How many recordings will be added (decides [`Placement::Auto`]).
    pub expected_recordings: usize,
    /// Where the per-recording sections (with their figures) go: in the
    /// report, or on pages beside it.
    pub sections: Placement,
    /// Where audio goes.
    pub audio: Placement,
    /// An http(s) URL under which linked WAVs are served: a WAV's link is
    /// this base joined with its path relative to the report's folder (or
    /// its file name when outside it). Without it, links are relative or file: URLs.
    pub audio_link_base: Option<String>,
    /// Most recordings [`Placement::Auto`] keeps in one page.
    pub inline_limit: usize,
    /// Recordings per page when the sections are on pages.
    pub page_size: usize,
    /// Most recordings whose audio [`Placement::Auto`] embeds.
    pub embed_audio_limit: usize,
    /// Largest WAV embedded, in bytes; larger ones are linked.
    pub embed_audio_max_bytes: u64,
    /// Decode truncated files as far as they go (as the analysis did).
    pub lenient: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            title: "voxcap review report".to_string(),
            title_link: None,
            expected_recordings: 0,
            sections: Placement::Auto,
            audio: Placement::Auto,
            audio_link_base: None,
            inline_limit: 200,
            page_size: 100,
            embed_audio_limit: 50,
            embed_audio_max_bytes: 4 << 20,
            lenient: false,
        }
    }
}

impl ReportOptions {
    /// Checks the supplied links (see [`is_link_allowed`]).
    fn check(&self) -> Result<(), ReportError> {
        for (which, link) in [
            ("title link", &self.title_link),
            ("audio link base", &self.audio_link_base),
        ] {
            if let Some(link) = link {
                if !is_link_allowed(link) {
                    return Err(ReportError::Link { which });
                }
            }
        }
        Ok(())
    }
}

/// Whether `url` may be put in the report as a link: `http://` or
/// `https://` followed by a non-empty rest without whitespace or control
/// characters (no `javascript:`, no attribute tricks).
pub fn is_link_allowed(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    rest.is_some_and(|rest| !rest.is_empty())
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// One recording to add: where its WAV is, its analysis (or why it failed)
/// and the settings it was analysed with.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The WAV file, decoded again for the figure and the player.
    pub path: &'a Path,
    /// The name shown (as the user gave it).
    pub name: &'a str,
    /// The analysis, or the error message.
    pub result: Result<&'a Report, &'a str>,
    /// The stop tones and timers of the operation.
    pub settings: &'a RecordSettings,
}

/// What the summary counts, a few numbers per recording.
#[derive(Debug, Default)]
struct Tally {
    analysed: u64,
    failed: u64,
    verdicts: BTreeMap<String, u64>,
    labels: BTreeMap<String, u64>,
    duration: Vec<f64>,
    speech: Vec<f64>,
    snr: Vec<f64>,
    first_speech: Vec<f64>,
}

/// Where the sections stream to.
#[derive(Debug)]
enum Sections {
    /// Into a temp file copied into the report by `finish`.
    Inline(BufWriter<NamedTempFile>),
    /// Onto pages beside the report.
    Pages(PageWriter),
}

/// A review report being written (see the crate docs).
#[derive(Debug)]
pub struct ReviewReport {
    out: PathBuf,
    renderer: Renderer,
    rows: BufWriter<NamedTempFile>,
    sections: Sections,
    tally: Tally,
    index: usize,
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fsyncs `temp` and renames it to `dest`.
pub(crate) fn persist(temp: NamedTempFile, dest: &Path) -> Result<(), ReportError> {
    temp.as_file().sync_all().map_err(io_at(dest))?;
    temp.persist(dest).map_err(|e| ReportError::Io {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

impl ReviewReport {
    /// Starts a report to be written to `out_html` (nothing appears there
    /// before [`Self::finish`], except its pages when it has some).
    pub fn create(out_html: &Path, options: ReportOptions) -> Result<Self, ReportError> {
        options.check()?;
        let dir = match out_html.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = out_html
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let files_rel = format!("{stem}_files");
        let files_dir = dir.join(&files_rel);
        let paginate = match options.sections {
            Placement::Embed => false,
            Placement::Link => true,
            Placement::Auto => options.expected_recordings > options.inline_limit,
        };
        let embed_audio = match options.audio {
            Placement::Embed => true,
            Placement::Link => false,
            Placement::Auto => options.expected_recordings <= options.embed_audio_limit,
        };
        let temp = || {
            NamedTempFile::new_in(&dir)
                .map(BufWriter::new)
                .map_err(io_at(&dir))
        };
        let sections = if paginate {
            fs::create_dir_all(&files_dir).map_err(io_at(&files_dir))?;
            let index_name = out_html.file_name().map_or_else(
                || "report.html".into(),
                |s| s.to_string_lossy().into_owned(),
            );
            Sections::Pages(PageWriter::new(
                files_dir,
                &index_name,
                &options.title,
                options.title_link.clone(),
            ))
        } else {
            Sections::Inline(temp()?)
        };
        Ok(ReviewReport {
            out: out_html.to_path_buf(),
            rows: temp()?,
            sections,
            tally: Tally::default(),
            index: 0,
            renderer: Renderer {
                dir,
                files_rel,
                options,
                paginate,
                embed_audio,
            },
        })
    }

    /// A renderer for this report, to draw entries on other threads
    /// ([`Renderer::render`]) and [`Self::push`] them here in order.
    pub fn renderer(&self) -> Renderer {
        self.renderer.clone()
    }

    /// Writes the report: summary, table and sections (or the last page),
    /// atomically. Returns its path.
    pub fn finish(self) -> Result<PathBuf, ReportError> {
        let dir = &self.renderer.dir;
        let mut out = NamedTempFile::new_in(dir).map_err(io_at(dir))?;
        let summary = summary(&self.tally, self.index)?;
        let options = &self.renderer.options;
        let head = html::head(&options.title, options.title_link.as_deref());
        let (inline, pages) = match self.sections {
            Sections::Inline(part) => (Some(part), None),
            Sections::Pages(writer) => (None, Some(writer.finish()?)),
        };
        let rows = self.rows;
        let files_rel = &self.renderer.files_rel;
        let total = self.index;
        let write = |out: &mut NamedTempFile| -> io::Result<()> {
            let mut w = BufWriter::new(out);
            w.write_all(head.as_bytes())?;
            w.write_all(summary.as_bytes())?;
            if let Some(pages) = pages {
                w.write_all(page_list(files_rel, pages).as_bytes())?;
            }
            w.write_all(table_head(total).as_bytes())?;
            copy_back(rows, &mut w)?;
            w.write_all(b"</tbody></table>\n")?;
            if let Some(part) = inline {
                w.write_all(b"<h2>Recordings</h2>\n")?;
                copy_back(part, &mut w)?;
            }
            w.write_all(html::tail().as_bytes())?;
            w.flush()
        };
        write(&mut out).map_err(io_at(&self.out))?;
        persist(out, &self.out)?;
        Ok(self.out)
    }

    /// Adds one recording: [`Renderer::render`] then [`Self::push`].
    pub fn add(&mut self, entry: &Entry<'_>) -> Result<(), ReportError> {
        let rendered = self.renderer.render(self.index + 1, entry)?;
        self.push(rendered)
    }

    /// Renders `items` with `render(renderer, index, item)` on `workers`
    /// threads and pushes them in order; at most `workers * 4` rendered
    /// recordings wait in memory at a time.
    pub fn add_parallel<T, E>(
        &mut self,
        items: &[T],
        workers: usize,
        render: impl Fn(&Renderer, usize, &T) -> Result<Rendered, E> + Sync,
    ) -> Result<(), E>
    where
        T: Sync,
        E: From<ReportError> + Send,
    {
        let workers = workers.max(1);
        let renderer = &self.renderer.clone();
        let render = &render;
        for chunk in items.chunks(workers * 4) {
            let first = self.index + 1;
            let mut slots: Vec<Option<Result<Rendered, E>>> =
                (0..chunk.len()).map(|_| None).collect();
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers.min(chunk.len()))
                    .map(|w| {
                        scope.spawn(move || {
                            (w..chunk.len())
                                .step_by(workers)
                                .map(|i| (i, render(renderer, first + i, &chunk[i])))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    // A panicked worker leaves its slots empty.
                    for (i, r) in h.join().unwrap_or_default() {
                        slots[i] = Some(r);
                    }
                }
            });
            for (i, slot) in slots.into_iter().enumerate() {
                let rendered =
                    slot.unwrap_or_else(|| Err(ReportError::Panicked { index: first + i }.into()))?;
                self.push(rendered)?;
            }
        }
        Ok(())
    }

    /// Writes a rendered recording after those pushed before it (push them
    /// in the order of their index: the one [`Renderer::render`] was given).
    pub fn push(&mut self, rendered: Rendered) -> Result<(), ReportError> {
        self.index += 1;
        debug_assert_eq!(rendered.index, self.index, "pushed out of order");
        match &rendered.stats {
            Some(stats) => self.tally.count(stats),
            None => {
                self.tally.failed += 1;
                *self.tally.verdicts.entry("failed".into()).or_default() += 1;
            }
        }
        let rows_path = self.rows.get_ref().path().to_path_buf();
        self.rows
            .write_all(rendered.row.as_bytes())
            .map_err(io_at(&rows_path))?;
        match &mut self.sections {
            Sections::Inline(part) => {
                let path = part.get_ref().path().to_path_buf();
                part.write_all(rendered.section.as_bytes())
                    .map_err(io_at(&path))
            }
            Sections::Pages(pages) => {
                pages.push(self.renderer.page_of(rendered.index), &rendered.section)
            }
        }
    }
}

impl Tally {
    fn count(&mut self, r: &render::Stats) {
        self.analysed += 1;
        *self.verdicts.entry(r.verdict.clone()).or_default() += 1;
        for l in &r.labels {
            *self.labels.entry(l.clone()).or_default() += 1;
        }
        self.duration.push(r.duration_s);
        self.speech.push(r.speech_s);
        self.snr.extend(r.snr_db);
        self.first_speech.extend(r.first_speech_s);
    }
}

/// Writes one recording's view, a page of its own (its figure, evidence and
/// player; audio embedded unless `options.audio` is [`Placement::Link`]),
/// to `out`: what a service shows for one recording.
pub fn write_view(
    entry: &Entry<'_>,
    options: &ReportOptions,
    out: &mut impl Write,
) -> Result<(), ReportError> {
    options.check()?;
    let renderer = Renderer {
        dir: PathBuf::from("."),
        files_rel: String::new(),
        options: options.clone(),
        paginate: false,
        embed_audio: options.audio != Placement::Link,
    };
    let rendered = renderer.render(1, entry)?;
    let page = format!(
        "{}{}{}",
        html::head(entry.name, options.title_link.as_deref()),
        rendered.section,
        html::tail()
    );
    out.write_all(page.as_bytes())
        .map_err(io_at(Path::new(entry.name)))
}

/// Copies a streamed part into the report (the temp file is deleted on drop).
fn copy_back(part: BufWriter<NamedTempFile>, w: &mut impl Write) -> io::Result<()> {
    let mut file = part.into_inner().map_err(|e| e.into_error())?;
    file.as_file_mut().rewind()?;
    io::copy(file.as_file_mut(), w)?;
    Ok(())
}

/// The index's links to the pages of recordings.
fn page_list(files_rel: &str, pages: usize) -> String {
    let mut s = String::from(
        "<p class=\"pages\">The recordings' figures, evidence and players are on pages \
         (each row of the table links to its recording): ",
    );
    for p in 1..=pages {
        let _ = write!(
            s,
            "<a href=\"{}/{}\">{p}</a> ",
            html::encode_path(files_rel),
            pages::page_file(p)
        );
    }
    s.push_str("</p>\n");
    s
}

fn summary(t: &Tally, total: usize) -> Result<String, ReportError> {
    let mut s = format!(
        "<h2>Summary</h2>\n<div class=\"cards\"><div class=\"card\"><b>{total}</b>recordings</div>\
         <div class=\"card\"><b>{}</b>analysed</div><div class=\"card\"><b>{}</b>failed</div>",
        t.analysed, t.failed
    );
    for (k, v) in t.verdicts.iter().filter(|(k, _)| *k != "failed") {
        let _ = write!(s, "<div class=\"card v-{k}\"><b>{v}</b>{k}</div>");
    }
    s.push_str("</div>\n<p>Quality labels: ");
    let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k} {v}")).collect();
    s.push_str(&if labels.is_empty() {
        "none".into()
    } else {
        labels.join(", ")
    });
    s.push_str("</p>\n<div class=\"hists\">");
    for (title, unit, values) in [
        ("Duration", "seconds", &t.duration),
        ("Speech time", "seconds", &t.speech),
        ("SNR", "dB", &t.snr),
        ("Time to first speech", "seconds", &t.first_speech),
    ] {
        s.push_str(&html::inline_svg(&plot::histogram_svg(
            title, unit, values,
        )?));
    }
    s.push_str("</div>\n");
    Ok(s)
}

fn table_head(total: usize) -> String {
    let mut s = String::from(
        "<h2>Recordings table</h2>\n<div class=\"filters\">Verdict <select id=\"f-verdict\"><option value=\"\">all</option>",
    );
    for v in ["consistent", "inconsistent", "unverifiable", "failed"] {
        let _ = write!(s, "<option>{v}</option>");
    }
    s.push_str("</select> Label <select id=\"f-label\"><option value=\"\">all</option>");
    for l in LABELS {
        let _ = write!(s, "<option>{l}</option>");
    }
    let _ = write!(
        s,
        "</select> <span id=\"shown\">{total}</span> of {total} shown</div>\n\
         <table id=\"recordings\"><thead><tr><th>#</th><th>file</th><th>reported</th><th>inferred</th>\
         <th>digits</th><th>speech s</th><th>SNR dB</th><th>verdict</th><th>labels</th></tr></thead><tbody>\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxcap_dsp::synth;
    use voxcap_dsp::{analyze_reader, AnalysisConfig};

    #[test]
    fn one_recordings_view_is_a_page_of_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wav = dir.path().join("answer.wav");
        let mut x = synth::caller_bursts(3, 1.5, 8000);
        x.extend(synth::dtmf_press(&synth::DtmfPress::new('#', 0.15), 8000));
        x.extend(synth::silence(synth::samples_for(0.3, 8000)));
        fs::write(&wav, synth::wav_pcm16_mono(&x, 8000)).expect("write the WAV");
        let config = AnalysisConfig::default();
        let report = analyze_reader("answer.wav", fs::File::open(&wav).expect("open"), &config)
            .expect("analysed");
        let entry = Entry {
            path: &wav,
            name: "answer <1>.wav",
            result: Ok(&report),
            settings: &config.settings,
        };
        let mut page = Vec::new();
        write_view(&entry, &ReportOptions::default(), &mut page).expect("the view");
        let page = String::from_utf8(page).expect("UTF-8");
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert!(page.contains("<title>answer &lt;1&gt;.wav</title>"));
        assert!(page.contains("id=\"rec-1\"") && page.contains("<figure><svg"));
        assert!(page.contains("\nkey #\n"), "the key is labelled");
        assert!(page.contains("<dt>trim window</dt>"));
        assert!(
            page.contains("src=\"data:audio/wav;base64,"),
            "audio embedded"
        );
        assert!(!page.contains("<table"), "no batch table");
        assert!(!page.to_ascii_lowercase().contains("http:"));
    }
}
