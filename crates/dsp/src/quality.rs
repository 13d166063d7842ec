//! The quality summary of a recording: how much speech, when it started, the
//! longest pause, clipping, noise floor, SNR, and coarse labels a bot can act
//! on (`silent`, `dtmf_only`, `speech`, `clipped`, `low_level`, `truncated`).
//!
//! It takes the evidence as plain values (segments, DTMF events, and level
//! numbers measured elsewhere) and serialises only finite numbers: a level of
//! digital silence is reported at [`DBFS_FLOOR`], an unknown one as `null`.

use crate::events::{DtmfEvent, SpeechSegment};
use crate::vad::SpeechActivity;
use serde::Serialize;

/// The lowest level reported, in dBFS; digital silence (-inf) is reported as this.
pub const DBFS_FLOOR: f64 = -120.0;

/// Evidence for [`Quality::new`], positions at `sample_rate`.
#[derive(Debug, Clone, Copy)]
pub struct QualityEvidence<'a> {
    /// Rate of the positions (the analysis rate).
    pub sample_rate: u32,
    /// Length of the recording.
    pub total_samples: u64,
    /// Speech segments, sorted.
    pub speech: &'a [SpeechSegment],
    /// DTMF events.
    pub dtmf: &'a [DtmfEvent],
    /// Samples at or near full scale (from the level meter), out of
    /// `clipped_of` samples (the meter may run at the input's own rate).
    pub clipped_samples: u64,
    /// The sample count `clipped_samples` is out of.
    pub clipped_of: u64,
    /// Noise floor in dBFS (from the speech detector or the level meter).
    pub noise_floor_dbfs: Option<f32>,
    /// Mean speech power in dBFS (from the speech detector).
    pub speech_level_dbfs: Option<f32>,
    /// The decoder saw a truncated file (data shorter than its header said).
    pub input_truncated: bool,
}

impl<'a> QualityEvidence<'a> {
    /// Evidence from a detector's output; clipping and truncation still to fill in.
    pub fn from_activity(
        activity: &'a SpeechActivity,
        dtmf: &'a [DtmfEvent],
        sample_rate: u32,
    ) -> Self {
        QualityEvidence {
            sample_rate,
            total_samples: activity.total_samples,
            speech: &activity.segments,
            dtmf,
            clipped_samples: 0,
            clipped_of: activity.total_samples,
            noise_floor_dbfs: activity.noise_floor_dbfs,
            speech_level_dbfs: activity.speech_level_dbfs,
            input_truncated: false,
        }
    }
}

/// Thresholds behind the labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityThresholds {
    /// `clipped` when more than this fraction of samples is clipped.
    pub clipped_ratio: f64,
    /// `low_level` when the speech power is below this (dBFS).
    pub low_level_dbfs: f64,
    /// `truncated` when speech runs to within this many seconds of the end.
    pub truncated_tail_s: f64,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        QualityThresholds {
            clipped_ratio: 0.001,
            low_level_dbfs: -40.0,
            truncated_tail_s: 0.1,
        }
    }
}

/// A coarse label; several can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityLabel {
    /// Neither speech nor key presses.
    Silent,
    /// Key presses but no speech.
    DtmfOnly,
    /// Speech was found.
    Speech,
    /// Too many clipped samples.
    Clipped,
    /// Speech, but quiet.
    LowLevel,
    /// Speech runs up to the end (cut off), or the file itself was truncated.
    Truncated,
}

/// The `quality` object of the analysis report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// Total speech in seconds.
    pub speech_s: f64,
    /// Speech over the recording's duration (0 for an empty recording).
    pub speech_ratio: f64,
    /// Start of the first speech; `null` without speech.
    pub time_to_first_speech_s: Option<f64>,
    /// Longest gap between two speech segments (0 with fewer than two).
    pub longest_pause_s: f64,
    /// Fraction of clipped samples.
    pub clipped_ratio: f64,
    /// Noise floor in dBFS, at least [`DBFS_FLOOR`]; `null` if unknown.
    pub noise_floor_dbfs: Option<f64>,
    /// Speech-to-noise ratio estimate in dB; `null` without speech or floor.
    pub snr_db: Option<f64>,
    /// Labels, in the order of [`QualityLabel`].
    pub labels: Vec<QualityLabel>,
}

fn finite_dbfs(v: Option<f32>) -> Option<f64> {
    match v {
        Some(x) if x.is_nan() => None,
        // A full-scale square wave is +3 dBFS by the sine convention; cap well above.
        Some(x) => Some(f64::from(x).clamp(DBFS_FLOOR, 20.0)),
        None => None,
    }
}

impl Quality {
    /// Summarises the evidence with default thresholds.
    pub fn new(ev: &QualityEvidence<'_>) -> Self {
        Self::with_thresholds(ev, &QualityThresholds::default())
    }

    /// Summarises the evidence.
    pub fn with_thresholds(ev: &QualityEvidence<'_>, th: &QualityThresholds) -> Self {
        let rate = f64::from(ev.sample_rate.max(1));
        let sec = |s: u64| s as f64 / rate;
        let duration = sec(ev.total_samples);
        let speech_samples: u64 = ev
            .speech
            .iter()
            .map(|s| s.end.saturating_sub(s.start))
            .sum();
        let speech_s = sec(speech_samples);
        let longest_pause_s = ev
            .speech
            .windows(2)
            .map(|w| sec(w[1].start.saturating_sub(w[0].end)))
            .fold(0.0, f64::max);
        let clipped_ratio = if ev.clipped_of == 0 {
            0.0
        } else {
            (ev.clipped_samples as f64 / ev.clipped_of as f64).min(1.0)
        };
        let noise_floor_dbfs = finite_dbfs(ev.noise_floor_dbfs);
        let speech_db = finite_dbfs(ev.speech_level_dbfs).filter(|_| !ev.speech.is_empty());
        let snr_db = match (speech_db, noise_floor_dbfs) {
            (Some(s), Some(n)) => {
                // The speech frames hold speech plus noise: subtract the noise power.
                let p = 10f64.powf(s / 10.0) - 10f64.powf(n / 10.0);
                let snr = if p > 0.0 { 10.0 * p.log10() - n } else { 0.0 };
                Some(snr.clamp(-20.0, 150.0))
            }
            _ => None,
        };

        let mut labels = Vec::new();
        let has_speech = !ev.speech.is_empty();
        if !has_speech && ev.dtmf.is_empty() {
            labels.push(QualityLabel::Silent);
        }
        if !has_speech && !ev.dtmf.is_empty() {
            labels.push(QualityLabel::DtmfOnly);
        }
        if has_speech {
            labels.push(QualityLabel::Speech);
        }
        if clipped_ratio > th.clipped_ratio {
            labels.push(QualityLabel::Clipped);
        }
        if speech_db.is_some_and(|s| s < th.low_level_dbfs) {
            labels.push(QualityLabel::LowLevel);
        }
        let cut_off = ev
            .speech
            .last()
            .is_some_and(|s| duration - sec(s.end) <= th.truncated_tail_s);
        if cut_off || ev.input_truncated {
            labels.push(QualityLabel::Truncated);
        }
        Quality {
            speech_s,
            speech_ratio: if ev.total_samples == 0 {
                0.0
            } else {
                speech_s / duration
            },
            time_to_first_speech_s: ev.speech.first().map(|s| sec(s.start)),
            longest_pause_s,
            clipped_ratio,
            noise_floor_dbfs,
            snr_db,
            labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(speech: &'a [SpeechSegment], dtmf: &'a [DtmfEvent]) -> QualityEvidence<'a> {
        QualityEvidence {
            sample_rate: 8000,
            total_samples: 40_000,
            speech,
            dtmf,
            clipped_samples: 0,
            clipped_of: 40_000,
            noise_floor_dbfs: Some(-60.0),
            speech_level_dbfs: Some(-20.0),
            input_truncated: false,
        }
    }

    const SEGS: [SpeechSegment; 2] = [
        SpeechSegment {
            start: 8000,
            end: 16000,
        },
        SpeechSegment {
            start: 24000,
            end: 32000,
        },
    ];

    #[test]
    fn numbers_and_labels() {
        let q = Quality::new(&ev(&SEGS, &[]));
        assert_eq!(q.speech_s, 2.0);
        assert_eq!(q.speech_ratio, 0.4);
        assert_eq!(q.time_to_first_speech_s, Some(1.0));
        assert_eq!(q.longest_pause_s, 1.0);
        assert!((q.snr_db.unwrap() - 40.0).abs() < 0.01);
        assert_eq!(q.labels, vec![QualityLabel::Speech]);
    }

    #[test]
    fn label_table() {
        use QualityLabel::*;
        let tone = [DtmfEvent {
            digit: '#',
            start: 0,
            end: 800,
            level_dbfs: -10.0,
        }];
        let to_end = [SpeechSegment {
            start: 8000,
            end: 39_500,
        }];
        let cases: Vec<(&str, QualityEvidence, Vec<QualityLabel>)> = vec![
            ("silent", ev(&[], &[]), vec![Silent]),
            ("dtmf only", ev(&[], &tone), vec![DtmfOnly]),
            (
                "clipped",
                QualityEvidence {
                    clipped_samples: 400,
                    ..ev(&SEGS, &[])
                },
                vec![Speech, Clipped],
            ),
            (
                "quiet",
                QualityEvidence {
                    speech_level_dbfs: Some(-45.0),
                    ..ev(&SEGS, &[])
                },
                vec![Speech, LowLevel],
            ),
            ("cut off", ev(&to_end, &[]), vec![Speech, Truncated]),
            (
                "file truncated",
                QualityEvidence {
                    input_truncated: true,
                    ..ev(&[], &[])
                },
                vec![Silent, Truncated],
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(Quality::new(&e).labels, want, "{name}");
        }
    }

    #[test]
    fn never_serialises_non_finite() {
        let mut e = ev(&SEGS, &[]);
        e.noise_floor_dbfs = Some(f32::NEG_INFINITY);
        e.speech_level_dbfs = Some(f32::NAN);
        e.total_samples = 0;
        e.clipped_of = 0;
        let q = Quality::new(&e);
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(q.noise_floor_dbfs, Some(DBFS_FLOOR));
        assert_eq!(q.snr_db, None);
        for bad in ["NaN", "inf"] {
            assert!(!json.contains(bad), "{json}");
        }
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["speech_ratio"], 0.0);
    }
}
