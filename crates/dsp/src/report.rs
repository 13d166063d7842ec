//! The per-file analysis report and its stable JSON form.
//!
//! Keys are snake_case and stable: `file`, `format {codec, sample_rate,
//! channels, bits}`, `duration_s`, `peak_dbfs`, `rms_dbfs`,
//! `clipped_samples`, `truncated`. Later stages add optional keys (`dtmf`,
//! `speech`, `trim`, `quality`, `completion`) beside these; a consumer must
//! ignore keys it does not know. Levels of digital silence are
//! [`crate::levels::DBFS_FLOOR`] (-200), never `-inf`, so the JSON is valid.

use serde::Serialize;

use crate::decode::StreamInfo;
use crate::levels::Levels;

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
}

/// Rounds to 0.01 dB; adding 0.0 turns -0.0 into 0.0 so JSON shows `0.0`.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

impl Report {
    /// Builds a report from the stream format, its measured levels and the
    /// number of frames decoded.
    pub fn new(file: String, info: &StreamInfo, levels: &Levels, truncated: bool) -> Self {
        Report {
            file,
            format: FormatReport::from(info),
            duration_s: levels.samples as f64 / f64::from(info.sample_rate),
            peak_dbfs: round2(levels.peak_dbfs),
            rms_dbfs: round2(levels.rms_dbfs),
            clipped_samples: levels.clipped_samples,
            truncated,
        }
    }
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
