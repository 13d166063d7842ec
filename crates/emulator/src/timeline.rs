//! The timeline of a prepared scenario: caller activity in samples from
//! recording start, the hang-up, and the constants of the simulated call
//! (sample rate, prompt, beep, stop-tone timing).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Sample rate of every recording, as Graph records.
pub const SAMPLE_RATE: u32 = 16_000;

/// How long a stop-tone press must last to be detected (Q.24 accepts 40 ms).
pub const STOP_TONE_MIN_MS: u32 = 40;

/// How much of a detected stop tone ends up in the recording: the recording
/// stops this long after the tone starts (detection plus pipeline latency).
pub const STOP_TONE_TAIL_MS: u32 = 80;

/// Simulated length of a prompt when the scenario does not say.
pub const DEFAULT_PROMPT_MS: u32 = 1_000;

/// Simulated length of the beep.
pub const BEEP_MS: u32 = 300;

/// Background noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// The colour of the noise.
    pub kind: NoiseKind,
    /// RMS level in dBFS.
    pub level_dbfs: f32,
}

/// Colour of background noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// Flat spectrum.
    White,
    /// 1/f spectrum.
    Pink,
}

/// What the caller is doing during a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Talking.
    Speech,
    /// Holding a key.
    Key {
        /// The key.
        digit: char,
        /// How long it is held.
        duration_ms: u32,
    },
}

/// One stretch of caller activity on the timeline (samples from recording start).
#[derive(Debug, Clone)]
pub struct Segment {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
    /// What it is.
    pub activity: Activity,
    pub(crate) audio: Arc<Vec<f32>>,
}

/// A validated scenario with its audio loaded, ready to run many times.
#[derive(Debug, Clone)]
pub struct PreparedScenario {
    /// Caller activity, in time order.
    pub segments: Vec<Segment>,
    /// When the caller hangs up (samples from recording start).
    pub hangup: Option<usize>,
    pub(crate) prompt_ms: Option<u32>,
    pub(crate) prompt_fails: bool,
    pub(crate) beep_fails: bool,
    pub(crate) noise: Option<Noise>,
    pub(crate) seed: u64,
}

pub(crate) fn ms_to_samples(ms: u32) -> usize {
    (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize
}

pub(crate) fn seconds_to_samples(s: f64) -> usize {
    (s * f64::from(SAMPLE_RATE)).round() as usize
}
