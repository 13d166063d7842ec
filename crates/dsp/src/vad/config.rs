//! The speech detector's vocabulary: its configuration ([`VadConfig`] and the
//! enums it names), its construction errors and its result
//! ([`SpeechActivity`]). Re-exported by [`crate::vad`].

use serde::Serialize;

use crate::events::SpeechSegment;

/// Which frame classifier drives the detector. Only webrtc-vad is offered; the
/// enum exists so the CLI's `--vad` flag has a stable type to grow into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VadKind {
    /// libfvad (the WebRTC GMM voice detector), via the `webrtc-vad` crate.
    #[default]
    Webrtc,
}

impl std::str::FromStr for VadKind {
    type Err = VadError;
    fn from_str(s: &str) -> Result<Self, VadError> {
        match s.to_ascii_lowercase().as_str() {
            "webrtc" => Ok(VadKind::Webrtc),
            _ => Err(VadError::UnknownKind(s.to_string())),
        }
    }
}

/// webrtc-vad's aggressiveness: higher modes report speech less readily.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VadAggressiveness {
    /// Mode 0: most speech kept, most noise let through.
    Quality,
    /// Mode 1.
    LowBitrate,
    /// Mode 2.
    Aggressive,
    /// Mode 3: least noise let through.
    VeryAggressive,
}

/// Errors from building a detector.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum VadError {
    /// webrtc-vad runs here only at the analysis rates 8 and 16 kHz.
    #[error("voice detector: unsupported sample rate {0} Hz (use 8000 or 16000)")]
    UnsupportedRate(u32),
    /// webrtc-vad takes 10, 20 or 30 ms frames only.
    #[error("voice detector: unsupported frame length {0} ms (use 10, 20 or 30)")]
    UnsupportedFrame(u32),
    /// A `--vad` name that is not a known detector.
    #[error("voice detector: unknown kind {0:?} (known: webrtc)")]
    UnknownKind(String),
    /// Silero's 8 kHz network runs only on 8 kHz input.
    #[error("voice detector: the speech model runs at 8000 Hz only, not {0} Hz")]
    ModelRate(u32),
    /// The fusion's thresholds are outside `[0, 1]` or the offset is above the onset.
    #[error("voice detector: speech model thresholds onset {onset} / offset {offset} are not probabilities with offset <= onset")]
    ModelThresholds {
        /// The onset threshold given.
        onset: f32,
        /// The offset threshold given.
        offset: f32,
    },
}

/// Tuning of [`SpeechDetector`](super::SpeechDetector). The defaults were tuned on the labelled set in
/// `crates/dsp/tests/dsp/vad_eval.rs` (see `docs/speech.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VadConfig {
    /// Input sample rate: 8000 or 16000.
    pub sample_rate: u32,
    /// Frame classifier.
    pub kind: VadKind,
    /// webrtc-vad mode.
    pub aggressiveness: VadAggressiveness,
    /// Frame length given to webrtc-vad: 10, 20 or 30 ms. Its cost is mostly
    /// per frame, so 30 ms is about 2.5x cheaper than 10 ms; the energy gates
    /// still work on 10 ms frames, so edges keep 10 ms resolution.
    pub webrtc_frame_ms: u32,
    /// A voiced frame's (3-frame smoothed) power must exceed the local noise
    /// floor by this many dB.
    pub gate_db: f32,
    /// Frames quieter than this (power dBFS) are never speech, and the noise
    /// floor is never taken as lower than this.
    pub abs_floor_dbfs: f32,
    /// Length of the windows before and after a frame in which the local noise
    /// floor is the minimum (the floor is the larger of the two minima).
    pub floor_window_ms: u32,
    /// Frames more than this many dB below the clip's loud speech (the 95th
    /// percentile of voiced-frame power) are background, not the caller.
    pub relative_db: f32,
    /// The gate widens to this times the median excess over the floor of the
    /// frames a first pass left as noise (when that exceeds `gate_db`): a
    /// fluctuating noise such as crowd babble sits further above its own
    /// minimum than steady noise. 0 keeps the gate fixed at `gate_db`.
    pub noise_spread_factor: f32,
    /// Frames this close to the first pass's speech are left out when the
    /// noise spread is measured (they are speech edges, not noise).
    pub spread_guard_ms: u32,
    /// Upper bound of the widened gate, dB above the floor.
    pub max_gate_db: f32,
    /// Only when the gate was widened: a frame above the fixed `gate_db` is
    /// also voiced if the power averaged over 310 ms around it stands this
    /// many dB above the floor plus the noise spread (a weak word in babble).
    /// 0 turns this route off.
    pub sustained_margin_db: f32,
    /// Order-4 prediction gain in dB above which a frame counts as tonal
    /// (when it also holds the frequency of the frame before: a voice that
    /// is one sinusoid is as predictable, but its pitch glides).
    pub tone_gain_db: f32,
    /// Minimum run of tonal frames, in ms, before it is treated as a tone.
    pub tone_min_ms: u32,
    /// Voiced runs separated by less than this are one segment (hangover).
    pub merge_gap_ms: u32,
    /// Segments with less voiced time than this are dropped.
    pub min_speech_ms: u32,
    /// Each segment is extended this much earlier (webrtc-vad reacts late).
    pub onset_pad_ms: u32,
    /// Each segment is extended this much later (speech decays into noise).
    pub offset_pad_ms: u32,
    /// When the clip's estimated SNR is below [`low_snr_db`](Self::low_snr_db),
    /// onsets are moved this much earlier still: weak onsets drown first.
    pub low_snr_onset_pad_ms: u32,
    /// As `low_snr_onset_pad_ms`, for offsets.
    pub low_snr_offset_pad_ms: u32,
    /// Estimated SNR (speech over floor, dB) below which the low-SNR pads apply.
    pub low_snr_db: f32,
    /// Frames within this many ms of a DTMF event are not speech.
    pub dtmf_guard_ms: u32,
    /// Each voiced run is followed outwards, up to this many ms each way, while
    /// the frames stand [`edge_gate_db`](Self::edge_gate_db) above the local
    /// floor: word endings and onsets too weak for webrtc-vad. 0 turns it off.
    pub edge_max_ms: u32,
    /// How far above the local floor (dB) a frame must stand to extend a run.
    pub edge_gate_db: f32,
    /// In a fluctuating noise the edge gate is at least this times the noise
    /// spread (see [`noise_spread_factor`](Self::noise_spread_factor)).
    pub edge_spread_factor: f32,
    /// A sound shorter than this is not counted in the trim's extent (a click).
    pub extent_min_ms: u32,
    /// The trim's extent follows a word's decay (a fading or reverberant
    /// ending) against the noise after it, down to this many dB below the
    /// clip's loud speech (95th percentile of the speech frames' level);
    /// further down, against the local floor as everywhere else.
    pub decay_range_db: f32,
    /// Silero VAD as a second frame classifier beside webrtc-vad (see
    /// [`super::neural`]); `None` runs the classical detector alone.
    #[cfg(feature = "neural")]
    pub neural: Option<super::neural::NeuralVad>,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            sample_rate: 8000,
            kind: VadKind::Webrtc,
            aggressiveness: VadAggressiveness::Quality,
            webrtc_frame_ms: 30,
            gate_db: 5.0,
            abs_floor_dbfs: -75.0,
            floor_window_ms: 1500,
            relative_db: 20.0,
            noise_spread_factor: 4.0,
            max_gate_db: 14.0,
            spread_guard_ms: 300,
            sustained_margin_db: 5.0,
            tone_gain_db: 25.0,
            tone_min_ms: 60,
            merge_gap_ms: 300,
            min_speech_ms: 60,
            onset_pad_ms: 10,
            offset_pad_ms: 40,
            edge_max_ms: 500,
            edge_gate_db: 3.0,
            edge_spread_factor: 2.0,
            extent_min_ms: 50,
            decay_range_db: 35.0,
            low_snr_onset_pad_ms: 200,
            low_snr_offset_pad_ms: 0,
            low_snr_db: 10.0,
            dtmf_guard_ms: 20,
            #[cfg(feature = "neural")]
            neural: None,
        }
    }
}

/// What [`SpeechDetector::finish`](super::SpeechDetector::finish) found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeechActivity {
    /// Speech segments in absolute samples, sorted, non-overlapping.
    pub segments: Vec<SpeechSegment>,
    /// What trimming keeps: from the first to the last sound that is not
    /// noise, a tone or a key press, followed into its decay; never narrower
    /// than the segments the gates found (a speech model's stretch of them,
    /// `vad::neural` with feature `neural`, is not in it). `None` without speech.
    pub extent: Option<SpeechSegment>,
    /// How many samples at the end of the extent were found by following a
    /// decay down to the noise after it ([`VadConfig::decay_range_db`]):
    /// there the trim needs less of its end pad (see
    /// `crate::trim::TrimConfig::pad_end_ms`).
    #[serde(skip)]
    pub extent_decay_samples: u64,
    /// Median local noise floor over non-speech frames (power dBFS), clamped
    /// at [`VadConfig::abs_floor_dbfs`]; `None` for an empty input.
    pub noise_floor_dbfs: Option<f32>,
    /// Mean power over speech frames (dBFS); `None` without speech.
    pub speech_level_dbfs: Option<f32>,
    /// Samples analysed.
    pub total_samples: u64,
}

/// One speech segment in seconds, as the JSON report's `speech` array holds it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeechSpanSeconds {
    /// Start, seconds from the start of the recording.
    pub start_s: f64,
    /// End, seconds from the start of the recording.
    pub end_s: f64,
}

impl SpeechActivity {
    /// The segments in seconds, for positions at `sample_rate`.
    pub fn seconds(&self, sample_rate: u32) -> Vec<SpeechSpanSeconds> {
        let r = f64::from(sample_rate.max(1));
        self.segments
            .iter()
            .map(|s| SpeechSpanSeconds {
                start_s: s.start as f64 / r,
                end_s: s.end as f64 / r,
            })
            .collect()
    }
}
