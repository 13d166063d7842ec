//! A self-contained HTML review report of voxcap analyses.
//!
//! [`ReviewReport::create`], then [`ReviewReport::add`] per recording, then
//! [`ReviewReport::finish`]. Each recording's figure (waveform over a
//! 0-4 kHz spectrogram on one time axis, with speech, DTMF, trim and the
//! Graph timers marked) is drawn as soon as it is added and written out: the
//! table rows and the per-recording sections stream into two temp files
//! beside the report, so memory holds one recording at a time plus four
//! numbers per recording for the summary histograms. `finish` writes the
//! head and summary, copies both parts after it into a temp file, fsyncs it
//! and renames it over the report.
//!
//! Small batches are one file: images inline, audio as data: URIs. Past
//! [`ReportOptions::inline_limit`] recordings, each figure is an SVG file in
//! `<report stem>_files/` loaded lazily; past
//! [`ReportOptions::embed_audio_limit`] the `<audio>` links to the WAV.
//! The page loads nothing from the network: no `http(s)://` in the HTML.

mod html;
mod plot;
mod signal;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use tempfile::NamedTempFile;
use voxcap_dsp::verify::RecordSettings;
use voxcap_dsp::Report;

pub use html::escape;

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
}

/// Where an image or a recording's audio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Embedded for batches up to the option's limit, else linked.
    #[default]
    Auto,
    /// Always embedded in the HTML.
    Embed,
    /// Always a separate file, linked (images in `<stem>_files/`, audio the WAV itself).
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
    /// How many recordings will be added (decides [`Placement::Auto`]).
    pub expected_recordings: usize,
    /// Where figures go.
    pub images: Placement,
    /// Where audio goes.
    pub audio: Placement,
    /// Most recordings whose figures [`Placement::Auto`] inlines.
    pub inline_limit: usize,
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
            expected_recordings: 0,
            images: Placement::Auto,
            audio: Placement::Auto,
            inline_limit: 200,
            embed_audio_limit: 50,
            embed_audio_max_bytes: 4 << 20,
            lenient: false,
        }
    }
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

/// A review report being written (see the crate docs).
#[derive(Debug)]
pub struct ReviewReport {
    out: PathBuf,
    renderer: Renderer,
    rows: BufWriter<NamedTempFile>,
    sections: BufWriter<NamedTempFile>,
    tally: Tally,
    index: usize,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn name_of<T: serde_like::Named>(v: &T) -> String {
    v.name()
}

mod serde_like {
    //! Display names of the report's enums (their JSON spelling).
    use voxcap_dsp::quality::QualityLabel;
    use voxcap_dsp::verify::CompletionVerdict;

    /// A value with a lower-case display name.
    pub(crate) trait Named {
        /// The name.
        fn name(&self) -> String;
    }
    impl Named for CompletionVerdict {
        fn name(&self) -> String {
            match self {
                CompletionVerdict::Consistent => "consistent",
                CompletionVerdict::Inconsistent => "inconsistent",
                CompletionVerdict::Unverifiable => "unverifiable",
            }
            .to_string()
        }
    }
    impl Named for QualityLabel {
        fn name(&self) -> String {
            match self {
                QualityLabel::Silent => "silent",
                QualityLabel::DtmfOnly => "dtmf_only",
                QualityLabel::Speech => "speech",
                QualityLabel::Clipped => "clipped",
                QualityLabel::LowLevel => "low_level",
                QualityLabel::Truncated => "truncated",
            }
            .to_string()
        }
    }
}

/// Every quality label, for the filter.
const LABELS: [&str; 6] = [
    "silent",
    "dtmf_only",
    "speech",
    "clipped",
    "low_level",
    "truncated",
];

impl ReviewReport {
    /// Starts a report to be written to `out_html` (nothing appears there before [`Self::finish`]).
    pub fn create(out_html: &Path, options: ReportOptions) -> Result<Self, ReportError> {
        let dir = match out_html.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = out_html
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let files_rel = format!("{stem}_files");
        let files_dir = dir.join(&files_rel);
        let link_images = match options.images {
            Placement::Embed => false,
            Placement::Link => true,
            Placement::Auto => options.expected_recordings > options.inline_limit,
        };
        let embed_audio = match options.audio {
            Placement::Embed => true,
            Placement::Link => false,
            Placement::Auto => options.expected_recordings <= options.embed_audio_limit,
        };
        if link_images {
            fs::create_dir_all(&files_dir).map_err(io_at(&files_dir))?;
        }
        let temp = || {
            NamedTempFile::new_in(&dir)
                .map(BufWriter::new)
                .map_err(io_at(&dir))
        };
        Ok(ReviewReport {
            out: out_html.to_path_buf(),
            rows: temp()?,
            sections: temp()?,
            tally: Tally::default(),
            index: 0,
            renderer: Renderer {
                dir,
                files_dir,
                files_rel,
                options,
                link_images,
                embed_audio,
            },
        })
    }

    /// A renderer for this report, to draw entries on other threads
    /// ([`Renderer::render`]) and [`Self::push`] them here in order.
    pub fn renderer(&self) -> Renderer {
        self.renderer.clone()
    }

    /// Writes the report: summary, table and sections, atomically. Returns its path.
    pub fn finish(self) -> Result<PathBuf, ReportError> {
        let mut out =
            NamedTempFile::new_in(&self.renderer.dir).map_err(io_at(&self.renderer.dir))?;
        let summary = summary(&self.tally, self.index)?;
        let head = html::head(&self.renderer.options.title);
        let write = |out: &mut NamedTempFile| -> io::Result<()> {
            let mut w = BufWriter::new(out);
            w.write_all(head.as_bytes())?;
            w.write_all(summary.as_bytes())?;
            w.write_all(table_head(self.index).as_bytes())?;
            copy_back(self.rows, &mut w)?;
            w.write_all(b"</tbody></table>\n<h2>Recordings</h2>\n")?;
            copy_back(self.sections, &mut w)?;
            w.write_all(html::tail().as_bytes())?;
            w.flush()
        };
        write(&mut out).map_err(io_at(&self.out))?;
        out.as_file().sync_all().map_err(io_at(&self.out))?;
        out.persist(&self.out).map_err(|e| ReportError::Io {
            path: self.out.clone(),
            source: e.error,
        })?;
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
    /// in the order of their index).
    pub fn push(&mut self, rendered: Rendered) -> Result<(), ReportError> {
        self.index += 1;
        match &rendered.stats {
            Some(stats) => self.count(stats),
            None => {
                self.tally.failed += 1;
                *self.tally.verdicts.entry("failed".into()).or_default() += 1;
            }
        }
        let rows_path = self.rows.get_ref().path().to_path_buf();
        self.rows
            .write_all(rendered.row.as_bytes())
            .map_err(io_at(&rows_path))?;
        let sections_path = self.sections.get_ref().path().to_path_buf();
        self.sections
            .write_all(rendered.section.as_bytes())
            .map_err(io_at(&sections_path))
    }

    fn count(&mut self, r: &Stats) {
        let t = &mut self.tally;
        t.analysed += 1;
        *t.verdicts.entry(r.verdict.clone()).or_default() += 1;
        for l in &r.labels {
            *t.labels.entry(l.clone()).or_default() += 1;
        }
        t.duration.push(r.duration_s);
        t.speech.push(r.speech_s);
        t.snr.extend(r.snr_db);
        t.first_speech.extend(r.first_speech_s);
    }
}

/// What the summary takes from one analysed recording.
#[derive(Debug, Clone)]
struct Stats {
    verdict: String,
    labels: Vec<String>,
    duration_s: f64,
    speech_s: f64,
    snr_db: Option<f64>,
    first_speech_s: Option<f64>,
}

/// One recording drawn and formatted, ready for [`ReviewReport::push`].
#[derive(Debug, Clone)]
pub struct Rendered {
    row: String,
    section: String,
    stats: Option<Stats>,
}

/// Draws recordings for a report; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Renderer {
    dir: PathBuf,
    files_dir: PathBuf,
    files_rel: String,
    options: ReportOptions,
    link_images: bool,
    embed_audio: bool,
}

impl Renderer {
    /// Draws `entry` as the report's recording number `index` (from 1),
    /// writing its figure file when figures are linked. A recording that
    /// cannot be decoded again gets a section saying so; only write errors fail.
    pub fn render(&self, index: usize, entry: &Entry<'_>) -> Result<Rendered, ReportError> {
        Ok(match entry.result {
            Ok(r) => Rendered {
                row: self.row(index, entry, r),
                section: self.section(index, entry, r)?,
                stats: Some(Stats {
                    verdict: name_of(&r.completion.verdict),
                    labels: r.quality.labels.iter().map(name_of).collect(),
                    duration_s: r.duration_s,
                    speech_s: r.quality.speech_s,
                    snr_db: r.quality.snr_db,
                    first_speech_s: r.quality.time_to_first_speech_s,
                }),
            },
            Err(message) => Rendered {
                row: failed_row(index, entry.name, message),
                section: failed_section(index, entry.name, message),
                stats: None,
            },
        })
    }

    fn row(&self, id: usize, entry: &Entry<'_>, r: &Report) -> String {
        let verdict = name_of(&r.completion.verdict);
        let labels: Vec<String> = r.quality.labels.iter().map(name_of).collect();
        let digits: String = r.dtmf.iter().map(|d| d.digit).collect();
        let reason = |c: &Option<voxcap_dsp::verify::CompletionReason>| {
            c.as_ref().map_or("-".to_string(), |c| escape(c.as_str()))
        };
        let snr = r
            .quality
            .snr_db
            .map_or(String::from("-"), |v| format!("{v:.1}"));
        format!(
            "<tr data-verdict=\"{verdict}\" data-labels=\"{labels}\"><td data-v=\"{id}\">{id}</td>\
             <td><a href=\"#rec-{id}\">{name}</a></td><td>{rep}</td><td>{inf}</td>\
             <td class=\"digits\">{digits}</td><td data-v=\"{sp}\">{sp:.2}</td>\
             <td data-v=\"{snrv}\">{snr}</td><td class=\"v-{verdict}\">{verdict}</td><td>{labels}</td></tr>\n",
            labels = labels.join(" "),
            name = escape(entry.name),
            rep = reason(&r.completion.reported),
            inf = reason(&r.completion.inferred),
            digits = escape(&digits),
            sp = r.quality.speech_s,
            snrv = r.quality.snr_db.unwrap_or(-1000.0),
        )
    }

    fn section(&self, id: usize, entry: &Entry<'_>, r: &Report) -> Result<String, ReportError> {
        let verdict = name_of(&r.completion.verdict);
        let mut s = format!(
            "<section class=\"rec\" id=\"rec-{id}\" data-verdict=\"{verdict}\">\n<h3>{id}. {}</h3>\n\
             <p>Verdict: <strong class=\"v-{verdict}\">{verdict}</strong></p>\n",
            escape(entry.name)
        );
        s.push_str(&self.figure(id, entry, r)?);
        s.push_str(LEGEND);
        s.push_str(&evidence(r, entry.settings));
        s.push_str(&self.player(entry)?);
        s.push_str("</section>\n");
        Ok(s)
    }

    fn figure(&self, id: usize, entry: &Entry<'_>, r: &Report) -> Result<String, ReportError> {
        let svg = match signal::picture(entry.path, r.duration_s, self.options.lenient)
            .and_then(|pic| plot::recording_svg(r, entry.settings, &pic))
        {
            Ok(svg) => svg,
            Err(e) => {
                return Ok(format!(
                    "<p class=\"v-failed\">No figure: {}</p>\n",
                    escape(&e.to_string())
                ))
            }
        };
        if !self.link_images {
            return Ok(format!("<figure>{}</figure>\n", html::inline_svg(&svg)));
        }
        let name = format!("{id:06}.svg");
        let dest = self.files_dir.join(&name);
        let part = self.files_dir.join(format!("{name}.part"));
        fs::write(&part, svg.as_bytes()).map_err(io_at(&part))?;
        fs::rename(&part, &dest).map_err(io_at(&dest))?;
        Ok(format!(
            "<figure><img loading=\"lazy\" width=\"{}\" height=\"{}\" alt=\"waveform and spectrogram of {}\" \
             src=\"{}/{name}\"></figure>\n",
            plot::FIGURE_W,
            plot::FIGURE_H,
            escape(entry.name),
            html::encode_path(&self.files_rel),
        ))
    }

    fn player(&self, entry: &Entry<'_>) -> Result<String, ReportError> {
        let size = fs::metadata(entry.path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        let src = if self.embed_audio && size <= self.options.embed_audio_max_bytes {
            let bytes = fs::read(entry.path).map_err(io_at(entry.path))?;
            format!(
                "data:audio/wav;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        } else {
            escape(&self.audio_href(entry.path))
        };
        Ok(format!(
            "<audio controls preload=\"none\" src=\"{src}\"></audio>\n"
        ))
    }

    /// The WAV relative to the report when it is under the report's folder, else a file: URL.
    fn audio_href(&self, wav: &Path) -> String {
        let abs = fs::canonicalize(wav).unwrap_or_else(|_| wav.to_path_buf());
        let base = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        match abs.strip_prefix(&base) {
            Ok(rel) => html::encode_path(&rel.to_string_lossy()),
            Err(_) => format!("file://{}", html::encode_path(&abs.to_string_lossy())),
        }
    }
}

/// Copies a streamed part into the report (the temp file is deleted on drop).
fn copy_back(part: BufWriter<NamedTempFile>, w: &mut impl Write) -> io::Result<()> {
    let mut file = part.into_inner().map_err(|e| e.into_error())?;
    file.as_file_mut().rewind()?;
    io::copy(file.as_file_mut(), w)?;
    Ok(())
}

const LEGEND: &str = "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#28a046\"></i>speech</span>\
<span><i class=\"sw\" style=\"background:#f08200\"></i>DTMF key</span>\
<span><i class=\"sw\" style=\"background:#cde1ff;border:2px solid #1e5adc\"></i>trim window (kept)</span>\
<span><i class=\"sw\" style=\"background:#d21e1e\"></i>Graph timer would fire</span></p>\n";

fn evidence(r: &Report, settings: &RecordSettings) -> String {
    let c = &r.completion;
    let e = &c.evidence;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} s"));
    let reason = |v: &Option<voxcap_dsp::verify::CompletionReason>| {
        v.as_ref().map_or("-".to_string(), |c| escape(c.as_str()))
    };
    let plausible: Vec<String> = c.plausible.iter().map(|p| escape(p.as_str())).collect();
    let digits: Vec<String> = r
        .dtmf
        .iter()
        .map(|d| format!("{} at {:.2} s", escape(&d.digit.to_string()), d.start_s))
        .collect();
    let mut s = String::from("<dl class=\"ev\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(s, "<dt>{k}</dt><dd>{v}</dd>");
    };
    item("reported reason", reason(&c.reported));
    item("inferred reason", reason(&c.inferred));
    item("plausible", plausible.join(", "));
    item(
        "DTMF",
        if digits.is_empty() {
            "-".into()
        } else {
            digits.join(", ")
        },
    );
    item(
        "trim window",
        format!("{:.2} s to {:.2} s", r.trim.start_s, r.trim.end_s),
    );
    item("duration", format!("{:.2} s", e.duration_s));
    item("speech", format!("{:.2} s", e.speech_s));
    item("first activity", opt(e.first_activity_s));
    item("last activity end", opt(e.last_activity_end_s));
    item("trailing silence", format!("{:.2} s", e.trailing_silence_s));
    item(
        "longest inner silence",
        format!("{:.2} s", e.longest_inner_silence_s),
    );
    item("stop tone at", opt(e.tone_at_s));
    item(
        "SNR",
        r.quality
            .snr_db
            .map_or("-".into(), |v| format!("{v:.1} dB")),
    );
    let timers: Vec<String> = plot::timers(r, settings)
        .iter()
        .map(|m| {
            let late = if m.at_s > e.duration_s {
                " (after the end)"
            } else {
                ""
            };
            format!("{} at {:.2} s{late}", m.name, m.at_s)
        })
        .collect();
    let tones: String = settings.stop_tones.iter().collect();
    item(
        "timers",
        format!(
            "{}; stop tones: {}",
            timers.join(", "),
            if tones.is_empty() {
                "none".into()
            } else {
                escape(&tones)
            }
        ),
    );
    s.push_str("</dl>\n");
    s
}

fn failed_row(id: usize, name: &str, message: &str) -> String {
    format!(
        "<tr data-verdict=\"failed\" data-labels=\"\"><td data-v=\"{id}\">{id}</td>\
         <td><a href=\"#rec-{id}\">{}</a></td><td>-</td><td>-</td><td></td><td data-v=\"0\">-</td>\
         <td data-v=\"-1000\">-</td><td class=\"v-failed\">failed</td><td>{}</td></tr>\n",
        escape(name),
        escape(message)
    )
}

fn failed_section(id: usize, name: &str, message: &str) -> String {
    format!(
        "<section class=\"rec\" id=\"rec-{id}\" data-verdict=\"failed\">\n<h3>{id}. {}</h3>\n\
         <p>Verdict: <strong class=\"v-failed\">failed</strong>: {}</p>\n</section>\n",
        escape(name),
        escape(message)
    )
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
