//! Fusion of Silero VAD with the classical detector (feature `neural`): the
//! model's probabilities, one per 256-sample window, become a second
//! per-frame speech candidate beside webrtc-vad's decision.
//!
//! The rule (applied in the detector's `decide`): a 10 ms frame is a
//! candidate when webrtc-vad calls it voice **or** Silero's hysteresis is on
//! for it; every candidate then goes through the same gates as before (the
//! adaptive noise floor, the tone gate, the DTMF mask, the level relative to
//! the clip's loud speech), then the same hangover, edge extension, pads and
//! sound extent. So the model can add speech only where the signal stands
//! clear of the noise, and nothing on a tone, a key press or steady noise.
//!
//! Hysteresis: over the windows in order, the model's state turns on at a
//! probability of at least [`NeuralVad::onset`] and off below
//! [`NeuralVad::offset`] (Silero's own rule uses 0.5 and 0.35).
//!
//! Alignment: window `k` covers samples `[256 k, 256 k + 256)`, 3.2 frames of
//! 80 samples; its probability also lags the audio (the LSTM needs a window
//! or so of evidence to rise and keeps its state a while after speech
//! ends). Frame `i` (samples `[80 i, 80 i + 80)`) reads the window that holds
//! its centre moved [`NeuralVad::lag_ms`] later: `k = (80 i + 40 + lag) / 256`,
//! clamped to the last window (the zero-padded end of the stream). The lag
//! is tuned on the tuning half of the evaluation set (`docs/speech.md`).
//!
//! Cost: the network runs on every window as the audio is pushed (about
//! 10^7 samples per second per core, see `benches/silero.rs`); the record
//! is one [`SpeechProb`] (8 bytes) per 32 ms, reserved for
//! [`super::RESERVED_SECONDS`] like the frame record, so a push allocates
//! nothing within it.

use serde::Serialize;

use super::silero::{SileroModel, SileroStream, SpeechProb, WINDOW};

/// The sample rate of Silero's 8 kHz network, the only one it runs at.
pub const MODEL_RATE: u32 = 8000;

/// Silero as the speech detector's second frame classifier: the model and
/// the fusion's thresholds. Part of [`super::VadConfig`] (`neural`).
#[derive(Debug, Clone, Serialize)]
pub struct NeuralVad {
    /// The loaded model (weights shared between detectors).
    #[serde(skip)]
    pub model: SileroModel,
    /// How reports and the settings hash name the model (the loader sets
    /// it: the file's SHA-256 in voxcap-bot's loader).
    pub label: String,
    /// Probability at or above which the model's state turns on.
    pub onset: f32,
    /// Probability below which it turns off again (at most `onset`).
    pub offset: f32,
    /// How much later than a frame the window it reads is taken, in ms
    /// (Silero's probabilities lag the audio).
    pub lag_ms: u32,
    /// How far (ms, each way) the model's run may stretch a run of speech
    /// the gates found; 0: the model only adds candidates.
    pub stretch_ms: u32,
    /// The onset pad of low-SNR clips with the model, in place of
    /// [`super::VadConfig::low_snr_onset_pad_ms`] (the model's own run
    /// already reaches back over a weak onset).
    pub low_snr_onset_pad_ms: u32,
    /// The onset pad of the speech segments with the model, in place of
    /// [`super::VadConfig::onset_pad_ms`]. The trim's extent keeps the
    /// classical pad, so the trim does not move.
    pub onset_pad_ms: u32,
}

/// Two configurations are equal when they share the same loaded weights
/// and thresholds (the weights are compared by identity, not by value).
impl PartialEq for NeuralVad {
    fn eq(&self, other: &Self) -> bool {
        self.model.same_weights(&other.model)
            && self.onset == other.onset
            && self.offset == other.offset
            && self.lag_ms == other.lag_ms
            && self.stretch_ms == other.stretch_ms
            && self.low_snr_onset_pad_ms == other.low_snr_onset_pad_ms
            && self.onset_pad_ms == other.onset_pad_ms
            && self.label == other.label
    }
}

impl NeuralVad {
    /// The model, named `label`, with the fusion's tuned thresholds.
    pub fn new(model: SileroModel, label: impl Into<String>) -> Self {
        NeuralVad {
            model,
            label: label.into(),
            onset: 0.5,
            offset: 0.35,
            lag_ms: 0,
            stretch_ms: 1000,
            // Tuned on the tuning half (docs/speech.md): no onset pad, 35 ms
            // at low SNR; the model's own run reaches back over an onset.
            low_snr_onset_pad_ms: 35,
            onset_pad_ms: 0,
        }
    }

    /// Whether the thresholds make sense: both within `[0, 1]` (finite),
    /// `offset <= onset`.
    pub(crate) fn thresholds_valid(&self) -> bool {
        let ok = |p: f32| (0.0..=1.0).contains(&p);
        ok(self.onset) && ok(self.offset) && self.offset <= self.onset
    }
}

/// The model's running state inside a detector: the stream and the
/// probabilities so far.
pub(crate) struct NeuralTrack {
    config: NeuralVad,
    stream: SileroStream,
    probs: Vec<SpeechProb>,
}

impl NeuralTrack {
    pub(crate) fn new(config: NeuralVad) -> Self {
        let windows = super::RESERVED_SECONDS * MODEL_RATE as usize / WINDOW;
        NeuralTrack {
            stream: SileroStream::new(&config.model),
            probs: Vec::with_capacity(windows + 1),
            config,
        }
    }

    /// Feeds 8 kHz samples (any chunk size).
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.stream.push(samples, &mut self.probs);
    }

    /// Ends the stream (a partial last window is zero-padded) and returns
    /// the per-frame candidates for `n` frames of `frame_len` samples.
    pub(crate) fn finish(mut self, n: usize, frame_len: usize) -> super::ModelVotes {
        self.stream.finish(&mut self.probs);
        super::ModelVotes {
            votes: frame_votes(&self.config, &self.probs, n, frame_len),
            stretch: self.config.stretch_ms.div_ceil(10) as usize,
            low_snr_onset_pad_ms: Some(self.config.low_snr_onset_pad_ms),
            onset_pad_ms: Some(self.config.onset_pad_ms),
        }
    }
}

/// Silero's hysteresis over the windows, mapped onto `n` frames (see the
/// module docs for the alignment).
fn frame_votes(cfg: &NeuralVad, probs: &[SpeechProb], n: usize, frame_len: usize) -> Vec<bool> {
    let mut on = false;
    let state: Vec<bool> = probs
        .iter()
        .map(|p| {
            on = if on {
                p.prob >= cfg.offset
            } else {
                p.prob >= cfg.onset
            };
            on
        })
        .collect();
    let Some(last) = state.len().checked_sub(1) else {
        return vec![false; n];
    };
    let lag = cfg.lag_ms as usize * MODEL_RATE as usize / 1000;
    (0..n)
        .map(|i| state[((i * frame_len + frame_len / 2 + lag) / WINDOW).min(last)])
        .collect()
}

#[cfg(test)]
mod tests;
