//! The speech detector's per-frame classification (webrtc-vad's voice
//! decision, the tone check and, with feature `neural`, the model), and the
//! worker thread that can run it beside the rest of an analysis.
//!
//! The frame power (the high-passed mean square) stays with
//! [`super::SpeechDetector`]; everything here is what it needs besides.
//! Inline, [`Classifier::frame`] is called from the detector's own frame
//! loop. On a [`Worker`], the detector sends the raw samples and the powers
//! of the frames they complete in batches; the worker splits the samples
//! into the same frames and classifies them there, so the flags are the
//! same bit for bit whichever way they were computed (tested), and the
//! detector only waits for them in `finish`. Batches come back for reuse
//! (a bounded channel each way), so a push allocates nothing once the
//! first few batches exist.

use super::{
    split_frames, FrameFlags, ModelVotes, ToneCheck, VadAggressiveness, VadConfig, RESERVED_SECONDS,
};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use webrtc_vad::{SampleRate, Vad, VadMode};

/// Frames classified so far, plus the state that carries between frames.
pub(super) struct Classifier {
    vad: Vad,
    frame_len: usize,
    /// Samples in one webrtc-vad block (10, 20 or 30 ms).
    block_len: usize,
    /// 16-bit samples of the current webrtc-vad block, at most `block_len`.
    /// Its capacity is not the block length: an allocator may give more.
    pub(super) pcm: Vec<i16>,
    /// Last samples of the previous frame, for the prediction lags.
    history: [f32; 4],
    /// `history` followed by the current frame, for the prediction gain.
    lpc_buf: Vec<f32>,
    /// Frames quieter than the absolute floor skip the tone check.
    tone_min_power: f32,
    tone_gain_db: f32,
    /// The previous frame's two deepest predictor nulls (radians per
    /// sample) when it was predictable as a tone: a tone's frame must hold
    /// the frequency of the frame before (see [`ToneCheck`]).
    prev_nulls: Option<[f64; 2]>,
    /// One entry per frame seen; `voice` is set once its block is full.
    pub(super) flags: Vec<FrameFlags>,
    /// Silero's stream and probabilities, when the config has a model.
    #[cfg(feature = "neural")]
    neural: Option<super::neural::NeuralTrack>,
}

impl Classifier {
    /// A classifier for a config [`super::SpeechDetector::new`] has checked.
    pub(super) fn new(config: &VadConfig, block: usize) -> Self {
        let frame_len = config.sample_rate as usize / 100;
        let rate = match config.sample_rate {
            16000 => SampleRate::Rate16kHz,
            _ => SampleRate::Rate8kHz,
        };
        let mode = match config.aggressiveness {
            VadAggressiveness::Quality => VadMode::Quality,
            VadAggressiveness::LowBitrate => VadMode::LowBitrate,
            VadAggressiveness::Aggressive => VadMode::Aggressive,
            VadAggressiveness::VeryAggressive => VadMode::VeryAggressive,
        };
        Classifier {
            vad: Vad::new_with_rate_and_mode(rate, mode),
            frame_len,
            block_len: frame_len * block,
            pcm: Vec::with_capacity(frame_len * block),
            history: [0.0; 4],
            lpc_buf: vec![0.0; frame_len + 4],
            tone_min_power: super::db_to_power(config.abs_floor_dbfs),
            tone_gain_db: config.tone_gain_db,
            prev_nulls: None,
            flags: Vec::with_capacity(RESERVED_SECONDS * 100),
            #[cfg(feature = "neural")]
            neural: config.neural.clone().map(super::neural::NeuralTrack::new),
        }
    }

    /// The raw samples, as pushed (the model reads the stream, not frames).
    pub(super) fn samples(&mut self, _samples: &[f32]) {
        #[cfg(feature = "neural")]
        if let Some(n) = &mut self.neural {
            n.push(_samples);
        }
    }

    /// Classifies one whole frame whose high-passed power is `power`.
    pub(super) fn frame(&mut self, frame: &[f32], power: f32) {
        let n = frame.len();
        // `as` saturates; truncation instead of rounding saves a libm call
        // per sample and moves a sample by under one LSB.
        self.pcm.extend(frame.iter().map(|&s| (s * 32768.0) as i16));
        // Prediction lags reach into the previous frame (see prediction_gain_db).
        self.lpc_buf[..4].copy_from_slice(&self.history);
        self.lpc_buf[4..].copy_from_slice(frame);
        let check = (power > self.tone_min_power)
            .then(|| ToneCheck::of(&self.lpc_buf, self.tone_gain_db))
            .flatten();
        let tonal = match (&check, self.prev_nulls) {
            (Some(c), Some(prev)) => c.holds_frequency_of(prev),
            _ => false,
        };
        self.prev_nulls = check.map(|c| c.nulls);
        for (k, h) in self.history.iter_mut().rev().enumerate() {
            *h = frame[n - 1 - k];
        }
        self.flags.push(FrameFlags {
            voice: false,
            tonal,
        });
        if self.pcm.len() >= self.block_len {
            self.classify_block();
        }
    }

    /// Runs webrtc-vad on the buffered block (zero-padded if the stream ended
    /// inside it) and gives its decision to the 10 ms frames it covers.
    fn classify_block(&mut self) {
        if self.pcm.is_empty() {
            return;
        }
        let covered = self.pcm.len().div_ceil(self.frame_len);
        self.pcm.resize(self.block_len, 0);
        // Only invalid frame lengths make webrtc-vad fail; ours are 10/20/30 ms.
        let voice = self.vad.is_voice_segment(&self.pcm).unwrap_or(false);
        self.pcm.clear();
        let len = self.flags.len();
        for f in &mut self.flags[len.saturating_sub(covered)..] {
            f.voice = voice;
        }
    }

    /// Frames whose webrtc-vad block is complete.
    pub(super) fn classified(&self) -> usize {
        self.flags
            .len()
            .saturating_sub(self.pcm.len().div_ceil(self.frame_len))
    }

    /// Ends the stream: the last partial block is classified, and the
    /// model's candidates are read for the frames seen.
    pub(super) fn finish(mut self) -> (Vec<FrameFlags>, ModelVotes) {
        self.classify_block();
        #[cfg(feature = "neural")]
        let votes = match self.neural.take() {
            Some(n) => n.finish(self.flags.len(), self.frame_len),
            None => ModelVotes::default(),
        };
        #[cfg(not(feature = "neural"))]
        let votes = ModelVotes::default();
        (self.flags, votes)
    }
}

/// Samples in a batch before it is sent (0.5 s at 8 kHz).
const BATCH_SAMPLES: usize = 4000;

/// Batches in flight each way.
const IN_FLIGHT: usize = 2;

/// Raw samples and the powers of the whole frames they complete.
#[derive(Default)]
struct Batch {
    samples: Vec<f32>,
    powers: Vec<f32>,
    /// The stream has ended: the worker zero-pads its partial frame, whose
    /// power is the last of `powers`.
    last: bool,
}

/// A [`Classifier`] on its own thread.
pub(super) struct Worker {
    batch: Batch,
    to_worker: Option<SyncSender<Batch>>,
    spare: Receiver<Batch>,
    handle: Option<JoinHandle<(Vec<FrameFlags>, ModelVotes)>>,
}

impl Worker {
    /// Starts the thread. The classifier is built there: webrtc-vad's state
    /// is not `Send`.
    pub(super) fn spawn(config: VadConfig, block: usize) -> Self {
        let (to_worker, from_main) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (to_main, spare) = mpsc::sync_channel::<Batch>(IN_FLIGHT + 2);
        let handle = std::thread::Builder::new()
            .name("voxcap-vad".into())
            .spawn(move || {
                let mut cls = Classifier::new(&config, block);
                let frame_len = cls.frame_len;
                let mut pending: Vec<f32> = Vec::with_capacity(frame_len);
                for mut batch in from_main {
                    cls.samples(&batch.samples);
                    let mut powers = batch.powers.iter().copied();
                    split_frames(&mut pending, &batch.samples, frame_len, |f| {
                        cls.frame(f, powers.next().unwrap_or(0.0))
                    });
                    if batch.last && !pending.is_empty() {
                        pending.resize(frame_len, 0.0);
                        cls.frame(&pending, powers.next().unwrap_or(0.0));
                        pending.clear();
                    }
                    batch.samples.clear();
                    batch.powers.clear();
                    // The main side may have finished and gone: then the
                    // batch is simply dropped.
                    let _ = to_main.try_send(batch);
                }
                cls.finish()
            });
        let (to_worker, handle) = match handle {
            Ok(h) => (Some(to_worker), Some(h)),
            // No thread to be had: the caller falls back to classifying inline.
            Err(_) => (None, None),
        };
        Worker {
            batch: Batch {
                samples: Vec::with_capacity(BATCH_SAMPLES + 1024),
                powers: Vec::with_capacity(BATCH_SAMPLES / 80 + 16),
                last: false,
            },
            to_worker,
            spare,
            handle,
        }
    }

    /// Whether the thread is running.
    pub(super) fn started(&self) -> bool {
        self.handle.is_some()
    }

    /// Queues raw samples.
    pub(super) fn samples(&mut self, samples: &[f32]) {
        self.batch.samples.extend_from_slice(samples);
    }

    /// Queues the power of the next whole frame; sends the batch when full.
    pub(super) fn power(&mut self, power: f32) {
        self.batch.powers.push(power);
    }

    /// Sends the batch if it holds enough (after a push).
    pub(super) fn flush_if_full(&mut self) {
        if self.batch.samples.len() >= BATCH_SAMPLES {
            self.send(false);
        }
    }

    fn send(&mut self, last: bool) {
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch {
            samples: Vec::with_capacity(BATCH_SAMPLES + 1024),
            powers: Vec::with_capacity(BATCH_SAMPLES / 80 + 16),
            last: false,
        });
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.last = last;
        if let Some(tx) = &self.to_worker {
            // A worker that is gone has panicked: `finish` reports it.
            let _ = tx.send(batch);
        }
    }

    /// Sends what is left (the stream has ended) and waits for the flags.
    /// A panic on the worker is resumed here, so the analysis's own panic
    /// guard reports it.
    pub(super) fn finish(mut self) -> (Vec<FrameFlags>, ModelVotes) {
        self.send(true);
        self.to_worker = None;
        let handle = self.handle.take().expect("finish on a started worker");
        match handle.join() {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}
