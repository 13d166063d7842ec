//! The speech detector's per-frame work (the frame power, webrtc-vad's
//! voice decision, the tone check and, with feature `neural`, the model),
//! and the worker thread that can run it beside the rest of an analysis.
//!
//! A [`Classifier`] takes the stream as pushed, cuts it into 10 ms frames
//! and keeps one [`FrameInfo`] per frame for [`super::SpeechDetector`]'s
//! decision. Inline, the detector's `push` calls it directly and it
//! measures the frame powers itself. On a [`Worker`], the detector's own
//! thread measures the powers (it has the lighter load: the decode and the
//! DTMF) and sends them with the raw samples in batches; the classifier
//! runs on the worker's thread, so the records are the same bit for bit
//! whichever way they were computed (tested), and the detector waits for
//! them only in `finish`. Batches come back for reuse (a bounded channel
//! each way), so a push allocates nothing once the first few batches
//! exist.

use super::fvad::Fvad;
use super::{
    split_frames, Biquad, FrameInfo, ModelVotes, ToneCheck, VadAggressiveness, VadConfig,
    HIGHPASS_HZ, RESERVED_SECONDS,
};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Frames classified so far, plus the state that carries between frames.
pub(super) struct Classifier {
    vad: Fvad,
    frame_len: usize,
    /// Partial frame carried between pushes.
    pending: Vec<f32>,
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
    pub(super) frames: Vec<FrameInfo>,
    /// Silero's stream and probabilities, when the config has a model.
    #[cfg(feature = "neural")]
    neural: Option<super::neural::NeuralTrack>,
}

impl Classifier {
    /// A classifier for a config [`super::SpeechDetector::new`] has checked.
    pub(super) fn new(config: &VadConfig, block: usize) -> Self {
        let frame_len = config.sample_rate as usize / 100;
        let mode = match config.aggressiveness {
            VadAggressiveness::Quality => 0,
            VadAggressiveness::LowBitrate => 1,
            VadAggressiveness::Aggressive => 2,
            VadAggressiveness::VeryAggressive => 3,
        };
        Classifier {
            vad: Fvad::new(config.sample_rate == 16000, mode),
            frame_len,
            pending: Vec::with_capacity(frame_len),
            block_len: frame_len * block,
            pcm: Vec::with_capacity(frame_len * block),
            history: [0.0; 4],
            lpc_buf: vec![0.0; frame_len + 4],
            tone_min_power: super::db_to_power(config.abs_floor_dbfs),
            tone_gain_db: config.tone_gain_db,
            prev_nulls: None,
            frames: Vec::with_capacity(RESERVED_SECONDS * 100),
            #[cfg(feature = "neural")]
            neural: config.neural.clone().map(super::neural::NeuralTrack::new),
        }
    }

    /// The stream, as pushed (any length): the model reads it as it is,
    /// the rest frame by frame. `powers`: the powers of the whole frames
    /// this completes, measured by a [`FramePowers`] over the same stream.
    pub(super) fn push(&mut self, samples: &[f32], powers: &[f32]) {
        #[cfg(feature = "neural")]
        if let Some(n) = &mut self.neural {
            n.push(samples);
        }
        let mut pending = std::mem::take(&mut self.pending);
        let mut given = powers.iter().copied();
        split_frames(&mut pending, samples, self.frame_len, |f| {
            // Both sides cut the stream with `split_frames`: one power per frame.
            let power = given.next().expect("one power per whole frame");
            self.frame(f, power)
        });
        self.pending = pending;
    }

    /// Classifies one whole frame whose high-passed power is `power`.
    fn frame(&mut self, frame: &[f32], power: f32) {
        let n = frame.len();
        // `as` saturates; truncation instead of rounding saves a libm call
        // per sample and moves a sample by under one LSB.
        // Into a slice, not `extend` from an iterator: the loop is then
        // vector code (the same saturating conversion; its gain was not
        // measured apart from the rest of this round).
        let start = self.pcm.len();
        self.pcm.resize(start + n, 0);
        for (d, &s) in self.pcm[start..].iter_mut().zip(frame) {
            *d = (s * 32768.0) as i16;
        }
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
        self.frames.push(FrameInfo {
            power,
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
        // Blocks are 10, 20 or 30 ms (the config is checked).
        let voice = self.vad.is_voice(&self.pcm);
        self.pcm.clear();
        let len = self.frames.len();
        for f in &mut self.frames[len.saturating_sub(covered)..] {
            f.voice = voice;
        }
    }

    /// Frames whose webrtc-vad block is complete.
    pub(super) fn classified(&self) -> usize {
        self.frames
            .len()
            .saturating_sub(self.pcm.len().div_ceil(self.frame_len))
    }

    /// Ends the stream: the last partial frame is zero-padded (its power,
    /// `last_power` from [`FramePowers::finish`], is over its real samples),
    /// the last partial block is classified, and the model's candidates are
    /// read for the frames seen.
    pub(super) fn finish(mut self, last_power: Option<f32>) -> (Vec<FrameInfo>, ModelVotes) {
        if !self.pending.is_empty() {
            let mut frame = std::mem::take(&mut self.pending);
            // FramePowers cut the same stream: it has a partial frame too.
            let power = last_power.expect("the power of the last partial frame");
            frame.resize(self.frame_len, 0.0);
            self.frame(&frame, power);
        }
        self.classify_block();
        #[cfg(feature = "neural")]
        let votes = match self.neural.take() {
            Some(n) => n.finish(self.frames.len(), self.frame_len),
            None => ModelVotes::default(),
        };
        #[cfg(not(feature = "neural"))]
        let votes = ModelVotes::default();
        (self.frames, votes)
    }
}

/// The power of a last partial frame `real`: zero-padded to `frame_len`,
/// over its real samples.
fn partial_power(hp: &mut Biquad, real: &[f32], frame_len: usize) -> f32 {
    let mut frame = real.to_vec();
    frame.resize(frame_len, 0.0);
    hp.power(&frame) * frame_len as f32 / real.len() as f32
}

/// The frame powers of a stream (the high-passed mean square of each 10 ms
/// frame), for a [`Classifier`]: measured beside it in [`Inline`], or on the
/// detector's side of a [`Worker`]. The one place they are measured.
pub(super) struct FramePowers {
    hp: Biquad,
    frame_len: usize,
    /// Partial frame carried between pushes.
    pending: Vec<f32>,
}

impl FramePowers {
    fn new(config: &VadConfig) -> Self {
        let frame_len = config.sample_rate as usize / 100;
        FramePowers {
            hp: Biquad::highpass(HIGHPASS_HZ, config.sample_rate),
            frame_len,
            pending: Vec::with_capacity(frame_len),
        }
    }

    /// Appends the powers of the whole frames `samples` completes.
    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        let hp = &mut self.hp;
        split_frames(&mut self.pending, samples, self.frame_len, |f| {
            out.push(hp.power(f))
        });
    }

    /// The last partial frame's power, if the stream ended inside one.
    fn finish(&mut self) -> Option<f32> {
        (!self.pending.is_empty())
            .then(|| partial_power(&mut self.hp, &self.pending, self.frame_len))
    }
}

/// Samples an [`Inline`] classifier takes at a time.
const INLINE_PIECE: usize = 4096;

/// A [`Classifier`] in the caller's thread, with its [`FramePowers`].
pub(super) struct Inline {
    pub(super) cls: Classifier,
    powers: FramePowers,
    /// The powers of one push's frames (reused).
    scratch: Vec<f32>,
}

impl Inline {
    pub(super) fn new(config: &VadConfig, block: usize) -> Self {
        let frame_len = config.sample_rate as usize / 100;
        Inline {
            cls: Classifier::new(config, block),
            powers: FramePowers::new(config),
            scratch: Vec::with_capacity(INLINE_PIECE / frame_len + 1),
        }
    }

    /// In pieces of at most [`INLINE_PIECE`] samples, so that `scratch`
    /// never grows, whatever the caller's chunk (the findings are the same
    /// whatever the chunk).
    pub(super) fn push(&mut self, samples: &[f32]) {
        for piece in samples.chunks(INLINE_PIECE) {
            self.scratch.clear();
            self.powers.push(piece, &mut self.scratch);
            self.cls.push(piece, &self.scratch);
        }
    }

    pub(super) fn finish(mut self) -> (Vec<FrameInfo>, ModelVotes) {
        let last = self.powers.finish();
        self.cls.finish(last)
    }
}

/// Samples in a batch before it is sent (0.5 s at 8 kHz).
const BATCH_SAMPLES: usize = 4000;

/// Batches in flight each way.
const IN_FLIGHT: usize = 2;

/// Raw samples, as pushed, and the powers of the whole frames they complete.
struct Batch {
    samples: Vec<f32>,
    powers: Vec<f32>,
    /// The power of the stream's last partial frame: this is the last batch.
    last_power: Option<f32>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            samples: Vec::with_capacity(BATCH_SAMPLES + 1024),
            powers: Vec::with_capacity(BATCH_SAMPLES / 80 + 16),
            last_power: None,
        }
    }
}

/// A [`Classifier`] on its own thread.
pub(super) struct Worker {
    powers: FramePowers,
    batch: Batch,
    to_worker: Option<SyncSender<Batch>>,
    spare: Receiver<Batch>,
    handle: Option<JoinHandle<(Vec<FrameInfo>, ModelVotes)>>,
}

impl Worker {
    /// Starts the thread. The classifier is built there: webrtc-vad's state
    /// is not `Send`.
    pub(super) fn spawn(config: VadConfig, block: usize) -> Self {
        let (to_worker, from_main) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (to_main, spare) = mpsc::sync_channel::<Batch>(IN_FLIGHT + 2);
        let powers = FramePowers::new(&config);
        let handle = std::thread::Builder::new()
            .name("voxcap-vad".into())
            .spawn(move || {
                let mut cls = Classifier::new(&config, block);
                let mut last_power = None;
                // The channel closes when the stream has ended.
                for mut batch in from_main {
                    cls.push(&batch.samples, &batch.powers);
                    last_power = last_power.or(batch.last_power);
                    batch.samples.clear();
                    batch.powers.clear();
                    // The main side may have finished and gone: then the
                    // batch is simply dropped.
                    let _ = to_main.try_send(batch);
                }
                cls.finish(last_power)
            });
        let (to_worker, handle) = match handle {
            Ok(h) => (Some(to_worker), Some(h)),
            // No thread to be had: the caller falls back to classifying inline.
            Err(_) => (None, None),
        };
        Worker {
            powers,
            batch: Batch::new(),
            to_worker,
            spare,
            handle,
        }
    }

    /// Whether the thread is running.
    pub(super) fn started(&self) -> bool {
        self.handle.is_some()
    }

    /// Queues raw samples and their frames' powers; sends the batch once
    /// it holds enough.
    pub(super) fn push(&mut self, samples: &[f32]) {
        self.batch.samples.extend_from_slice(samples);
        self.powers.push(samples, &mut self.batch.powers);
        if self.batch.samples.len() >= BATCH_SAMPLES {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.to_worker {
            // A worker that is gone has panicked: `finish` reports it.
            let _ = tx.send(batch);
        }
    }

    /// Sends what is left (the stream has ended) and waits for the flags.
    /// A panic on the worker is resumed here, so the analysis's own panic
    /// guard reports it.
    pub(super) fn finish(mut self) -> (Vec<FrameInfo>, ModelVotes) {
        self.batch.last_power = self.powers.finish();
        self.send();
        self.to_worker = None;
        let handle = self.handle.take().expect("finish on a started worker");
        match handle.join() {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}
