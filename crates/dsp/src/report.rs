//! The per-file analysis report and its stable JSON form.
//!
//! Keys are snake_case and stable: `file`, `format {codec, sample_rate,
//! channels, bits}`, `duration_s`, `peak_dbfs`, `rms_dbfs`,
//! `clipped_samples`, `truncated`, then what the detectors found: `dtmf`,
//! `speech`, `trim`, `quality` and `completion`. A consumer must ignore keys
//! it does not know, so that keys can be added. Levels of digital silence are
//! [`crate::levels::DBFS_FLOOR`] (-200), never `-inf`, so the JSON is valid.

use serde::Serialize;

use crate::decode::StreamInfo;
use crate::events::DtmfEvent;
use crate::levels::Levels;
use crate::quality::Quality;
use crate::trim::{Trim, TrimSeconds};
use crate::vad::SpeechSpanSeconds;
use crate::verify::Completion;

/// One DTMF digit as the report's `dtmf` array holds it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DtmfSeconds {
    /// The key: `0`-`9`, `*`, `#` or `A`-`D`.
    pub digit: char,
    /// Start of the tone, seconds from the start of the file (ms precision).
    pub start_s: f64,
    /// End of the tone, seconds from the start of the file (ms precision).
    pub end_s: f64,
}

impl DtmfSeconds {
    /// The event `e`, detected at `sample_rate`, in seconds.
    pub fn new(e: &DtmfEvent, sample_rate: u32) -> Self {
        let r = f64::from(sample_rate.max(1));
        DtmfSeconds {
            digit: e.digit,
            start_s: round3(e.start as f64 / r),
            end_s: round3(e.end as f64 / r),
        }
    }
}

/// The audio format part of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormatReport {
    /// Codec name, e.g. `pcm_s16le`, `pcm_mulaw` (see [`crate::decode::Codec::name`]).
    pub codec: &'static str,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels in the file (the analysis uses their average).
    pub channels: u16,
    /// Bits per stored sample.
    pub bits: u16,
}

impl From<&StreamInfo> for FormatReport {
    fn from(info: &StreamInfo) -> Self {
        FormatReport {
            codec: info.codec.name(),
            sample_rate: info.sample_rate,
            channels: info.channels,
            bits: info.bits,
        }
    }
}

/// What `voxcap analyze` reports for one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The input's name as the user gave it (a path, or `-` for stdin).
    pub file: String,
    /// The audio format.
    pub format: FormatReport,
    /// Duration of the decoded audio in seconds.
    pub duration_s: f64,
    /// Peak level in dBFS, rounded to 0.01 dB.
    pub peak_dbfs: f64,
    /// RMS level in dBFS, rounded to 0.01 dB.
    pub rms_dbfs: f64,
    /// Samples that reached the codec's clip threshold (see [`crate::levels::clip_threshold`]).
    pub clipped_samples: u64,
    /// Whether the input was cut short (only with lenient decoding; otherwise
    /// a truncated input is an error).
    pub truncated: bool,
    /// DTMF digits found, in order.
    pub dtmf: Vec<DtmfSeconds>,
    /// Speech segments, in order.
    pub speech: Vec<SpeechSpanSeconds>,
    /// The span worth keeping; `start_s == end_s` when there is no speech.
    pub trim: TrimSeconds,
    /// The trim in samples at the analysis rate, for cutting the original.
    #[serde(skip)]
    pub trim_span: Trim,
    /// Speech amount, pauses, clipping, noise and labels.
    pub quality: Quality,
    /// Whether the completion reason Graph reported fits the audio.
    pub completion: Completion,
}

/// Rounds seconds to the millisecond, which is finer than any detector edge.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Rounds to 0.01 dB; adding 0.0 turns -0.0 into 0.0 so JSON shows `0.0`.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

impl Report {
    /// Assembles a report from the stream format and the parts measured by
    /// [`crate::analysis::build_report`].
    pub fn new(file: String, info: &StreamInfo, levels: &Levels, parts: ReportParts) -> Self {
        Report {
            file,
            format: FormatReport::from(info),
            duration_s: levels.samples as f64 / f64::from(info.sample_rate),
            peak_dbfs: round2(levels.peak_dbfs),
            rms_dbfs: round2(levels.rms_dbfs),
            clipped_samples: levels.clipped_samples,
            truncated: parts.truncated,
            dtmf: parts.dtmf,
            speech: parts.speech,
            trim: parts.trim_span.seconds(parts.trim_rate),
            trim_span: parts.trim_span,
            quality: parts.quality,
            completion: parts.completion,
        }
    }
}

/// The detector-derived parts of a [`Report`].
#[derive(Debug, Clone)]
pub struct ReportParts {
    /// Whether the input was cut short.
    pub truncated: bool,
    /// DTMF digits in seconds.
    pub dtmf: Vec<DtmfSeconds>,
    /// Speech segments in seconds.
    pub speech: Vec<SpeechSpanSeconds>,
    /// The trim plan in samples at `trim_rate`.
    pub trim_span: Trim,
    /// The rate of `trim_span`.
    pub trim_rate: u32,
    /// The quality summary.
    pub quality: Quality,
    /// The completion check.
    pub completion: Completion,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_peak_prints_as_positive_zero() {
        assert_eq!(round2(-1e-9).to_string(), "0");
        assert_eq!(round2(-6.0206), -6.02);
    }
}
