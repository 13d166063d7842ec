//! One recording drawn and formatted: its table row and its section
//! (figure, legend, evidence, player), and a failed input's row and section.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use voxcap_dsp::verify::{CompletionReason, RecordSettings};
use voxcap_dsp::Report;

use crate::html::{self, escape};
use crate::names::name_of;
use crate::{io_at, plot, signal, Entry, ReportError, ReportOptions};

/// What the summary takes from one analysed recording.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub(crate) verdict: String,
    pub(crate) labels: Vec<String>,
    pub(crate) duration_s: f64,
    pub(crate) speech_s: f64,
    pub(crate) snr_db: Option<f64>,
    pub(crate) first_speech_s: Option<f64>,
}

/// One recording drawn and formatted, ready for [`crate::ReviewReport::push`].
#[derive(Debug, Clone)]
pub struct Rendered {
    pub(crate) index: usize,
    pub(crate) row: String,
    pub(crate) section: String,
    pub(crate) stats: Option<Stats>,
}

/// Draws recordings for a report; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Renderer {
    /// The report's folder.
    pub(crate) dir: PathBuf,
    /// `<stem>_files`, relative to the report.
    pub(crate) files_rel: String,
    pub(crate) options: ReportOptions,
    /// Sections go on pages in `files_rel` rather than into the report.
    pub(crate) paginate: bool,
    pub(crate) embed_audio: bool,
}

impl Renderer {
    /// Draws `entry` as the report's recording number `index` (from 1). A
    /// recording that cannot be decoded again gets a section saying so;
    /// only reading a WAV to embed it can fail.
    pub fn render(&self, index: usize, entry: &Entry<'_>) -> Result<Rendered, ReportError> {
        Ok(match entry.result {
            Ok(r) => Rendered {
                index,
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
                index,
                row: failed_row(index, &self.section_href(index), entry.name, message),
                section: failed_section(index, entry.name, message),
                stats: None,
            },
        })
    }

    /// [`Self::render`], or when that fails (a WAV to embed went away after
    /// its analysis) the entry as a failed input with that error, so that a
    /// batch goes on.
    pub fn render_or_fail(&self, index: usize, entry: &Entry<'_>) -> Rendered {
        self.render(index, entry).unwrap_or_else(|e| {
            let message = e.to_string();
            Rendered {
                index,
                row: failed_row(index, &self.section_href(index), entry.name, &message),
                section: failed_section(index, entry.name, &message),
                stats: None,
            }
        })
    }

    /// The page (from 1) that holds recording `index` when paginated.
    pub(crate) fn page_of(&self, index: usize) -> usize {
        index.saturating_sub(1) / self.options.page_size.max(1) + 1
    }

    /// Where the table links recording `index`: its anchor, on its page when paginated.
    fn section_href(&self, index: usize) -> String {
        if self.paginate {
            format!(
                "{}/{}#rec-{index}",
                html::encode_path(&self.files_rel),
                crate::pages::page_file(self.page_of(index))
            )
        } else {
            format!("#rec-{index}")
        }
    }

    fn row(&self, id: usize, entry: &Entry<'_>, r: &Report) -> String {
        let verdict = name_of(&r.completion.verdict);
        let labels: Vec<String> = r.quality.labels.iter().map(name_of).collect();
        let digits: String = r.dtmf.iter().map(|d| d.digit).collect();
        let snr = r
            .quality
            .snr_db
            .map_or(String::from("-"), |v| format!("{v:.1}"));
        format!(
            "<tr data-verdict=\"{verdict}\" data-labels=\"{labels}\"><td data-v=\"{id}\">{id}</td>\
             <td><a href=\"{href}\">{name}</a></td><td>{rep}</td><td>{inf}</td>\
             <td class=\"digits\">{digits}</td><td data-v=\"{sp}\">{sp:.2}</td>\
             <td data-v=\"{snrv}\">{snr}</td><td class=\"v-{verdict}\">{verdict}</td><td>{labels}</td></tr>\n",
            labels = labels.join(" "),
            href = self.section_href(id),
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
        s.push_str(&figure(entry, r, self.options.lenient));
        s.push_str(LEGEND);
        s.push_str(&evidence(r, entry.settings));
        s.push_str(&self.player(entry)?);
        s.push_str("</section>\n");
        Ok(s)
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

    /// A linked WAV: under the user's link base when given (its path
    /// relative to the report's folder, else its name), else relative to the
    /// page when under the report's folder, else a file: URL.
    fn audio_href(&self, wav: &Path) -> String {
        let abs = fs::canonicalize(wav).unwrap_or_else(|_| wav.to_path_buf());
        let base = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let rel = abs.strip_prefix(&base).ok();
        if let Some(link_base) = &self.options.audio_link_base {
            let tail = rel
                .map(Path::to_path_buf)
                .or_else(|| abs.file_name().map(PathBuf::from))
                .unwrap_or_default();
            let sep = if link_base.ends_with('/') { "" } else { "/" };
            return format!(
                "{link_base}{sep}{}",
                html::encode_path(&tail.to_string_lossy())
            );
        }
        match rel {
            // Pages sit one folder down, in `<stem>_files/`.
            Some(rel) if self.paginate => {
                format!("../{}", html::encode_path(&rel.to_string_lossy()))
            }
            Some(rel) => html::encode_path(&rel.to_string_lossy()),
            None => format!("file://{}", html::encode_path(&abs.to_string_lossy())),
        }
    }
}

/// The figure, inline; a recording that cannot be decoded again says why instead.
fn figure(entry: &Entry<'_>, r: &Report, lenient: bool) -> String {
    match signal::picture(entry.path, r.duration_s, lenient)
        .and_then(|pic| plot::recording_svg(r, entry.settings, &pic))
    {
        Ok(svg) => format!("<figure>{}</figure>\n", html::inline_svg(&svg)),
        Err(e) => format!(
            "<p class=\"v-failed\">No figure: {}</p>\n",
            escape(&e.to_string())
        ),
    }
}

fn reason(c: &Option<CompletionReason>) -> String {
    c.as_ref().map_or("-".to_string(), |c| escape(c.as_str()))
}

const LEGEND: &str = "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#28a046\"></i>speech</span>\
<span><i class=\"sw\" style=\"background:#f08200\"></i>DTMF key</span>\
<span><i class=\"sw\" style=\"background:#cde1ff;border:2px solid #1e5adc\"></i>trim window (kept)</span>\
<span><i class=\"sw\" style=\"background:#d21e1e\"></i>Graph timer would fire</span></p>\n";

fn evidence(r: &Report, settings: &RecordSettings) -> String {
    let c = &r.completion;
    let e = &c.evidence;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} s"));
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

fn failed_row(id: usize, href: &str, name: &str, message: &str) -> String {
    format!(
        "<tr data-verdict=\"failed\" data-labels=\"\"><td data-v=\"{id}\">{id}</td>\
         <td><a href=\"{href}\">{}</a></td><td>-</td><td>-</td><td></td><td data-v=\"0\">-</td>\
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
