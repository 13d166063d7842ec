//! voxcap-dsp: the synchronous, allocation-conscious analysis core of voxcap.
//!
//! It turns a byte stream holding a WAV file into a report of what the caller
//! did: the audio format, levels, DTMF digits, speech segments, the trim that
//! removes dead air, and whether the completion reason Graph reported is
//! consistent with the audio.
//!
//! Invariants: no async, no network, no file system access beyond
//! [`std::io::Read`] and [`std::io::Write`]. Streaming processors take
//! `push(&[f32])`, stamp events with absolute sample positions, and give the
//! same results whatever the chunk size.

pub mod analysis;
pub mod decode;
pub mod dtmf;
pub mod events;
pub mod keypad;
pub mod levels;
pub mod live;
pub mod quality;
pub mod report;
pub mod resample;
pub mod synth;
pub mod trim;
pub mod vad;
pub mod verify;

pub use analysis::{
    analyze_reader, analyze_samples, analyze_stream, catch_panics, Analysed, AnalysisConfig,
    AnalysisError, Analyzer, ANALYSIS_RATE,
};
pub use decode::{DecodeError, DecodeOptions, StreamInfo, WavDecoder};
pub use live::{analyze_live, LiveEvent};
pub use report::Report;
