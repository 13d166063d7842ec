//! voxcap-dsp's integration tests, in one binary with a shared harness.
//!
//! `decode` covers decoding, resampling and the malformed corpus; the
//! `dtmf_*` modules the DTMF detector (conformance matrix, codecs, talk-off,
//! chunking); the `vad_*`, `trim_*`, `eval_quality` and `verify_eval` modules
//! score the speech detector, trimming, the quality summary and completion
//! verification on the labelled speech set (`speech_set`); `analyzer_chunks`
//! holds the chunk-invariance property of the whole [`voxcap_dsp::Analyzer`].
//!
//! Evaluation modules print their tables with `--nocapture`, e.g.
//! `cargo test -p voxcap-dsp --release --test dsp vad_eval -- --nocapture`.

// Tests print their tables and figures (`--nocapture`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyzer_chunks;
mod decode;
mod dtmf_chunks;
mod dtmf_codec;
mod dtmf_conformance;
mod dtmf_support;
mod dtmf_talkoff;
mod eval_quality;
mod speech_set;
mod trim_compare;
mod trim_eval;
mod vad_chunks;
mod vad_earshot;
mod vad_eval;
mod verify_eval;
