//! Event types shared between the dsp processors, stamped with absolute
//! sample positions at the analysis rate that produced them.

use serde::Serialize;

/// One detected DTMF key press. `start` and `end` are absolute sample indices
/// (end exclusive) at the sample rate the detector was created with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DtmfEvent {
    /// The key: `0`-`9`, `*`, `#` or `A`-`D`.
    pub digit: char,
    /// First sample of the tone.
    pub start: u64,
    /// One past the last sample of the tone.
    pub end: u64,
    /// Mean level of the tone pair in dBFS (RMS of both tones together).
    pub level_dbfs: f32,
}

/// One stretch of detected speech, as absolute sample indices (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpeechSegment {
    /// First sample of speech.
    pub start: u64,
    /// One past the last sample of speech.
    pub end: u64,
}
