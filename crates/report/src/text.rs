//! The short human-readable block of one analysis (`voxcap analyze`'s text
//! output), beside the HTML so that every view of a [`Report`] lives here.

use std::io::{self, Write};

use voxcap_dsp::verify::CompletionReason;
use voxcap_dsp::Report;

use crate::names::name_of;

/// Writes `r` as a block of aligned lines (file, format, duration, levels,
/// DTMF, speech, trim, labels, completion) followed by a blank line.
pub fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
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
