//! Voice activity detection: webrtc-vad frame decisions, gated by an adaptive
//! noise floor and a tone detector, smoothed into [`SpeechSegment`]s.
//!
//! Pipeline per 10 ms frame (80 samples at 8 kHz, 160 at 16 kHz):
//! 1. webrtc-vad (libfvad) says voice / no voice;
//! 2. the frame's power is compared with the *local noise floor*, the minimum
//!    of the 50 ms-smoothed power within ±[`VadConfig::floor_window_ms`]; a
//!    frame must stand [`VadConfig::gate_db`] above it, so steady noise (hum,
//!    white noise, hiss) can never become speech however webrtc-vad judges it.
//!    A noise that fluctuates (crowd babble) sits further above its own
//!    minimum, so the gate widens to [`VadConfig::noise_spread_factor`] times
//!    the median excess of the frames a first pass left as noise, and then a
//!    frame also counts when its 310 ms average power clearly rises above
//!    that noise (a weak word in babble);
//! 3. a frame whose order-4 linear prediction gain is very high for several
//!    frames in a row is a steady tone (a beep, a DTMF pair) and not speech;
//! 4. frames overlapping a DTMF event (plus a guard) are not speech.
//!
//! Voiced frames are then bridged over short gaps (the hangover), runs with too
//! little voiced time are dropped, and the survivors are padded.
//!
//! The detector buffers one small record per frame and decides at
//! [`SpeechDetector::finish`], because the noise floor is estimated from both
//! sides of each frame. That keeps it exact under any chunking: the same input
//! gives the same segments whether pushed one sample at a time or all at once.
//!
//! Memory therefore grows with the length of the input, not with a constant:
//! the record is 8 bytes per 10 ms frame (2.9 MB per hour of audio; reserved
//! up front for [`RESERVED_SECONDS`], doubled past it), and `finish` works
//! through per-frame arrays of about 27 more bytes per frame, 45 at its
//! peak (with the record, 19 MB per hour of audio; freed when it returns). The decision
//! needs the whole clip: percentiles of voiced-frame level and noise excess,
//! the median floor and the SNR are taken over every frame.
//!
//! The voice decision is libfvad's, ported to Rust bit for bit
//! ([`fvad`]; tested against the C library), so a [`SpeechDetector`] is
//! plain data and `Send`.

mod config;
pub mod fvad;
mod lane;
#[cfg(feature = "neural")]
pub mod neural;
#[cfg(feature = "neural")]
pub mod onnx;
mod runs;
#[cfg(feature = "neural")]
pub mod silero;

pub use config::{
    SpeechActivity, SpeechSpanSeconds, VadAggressiveness, VadConfig, VadError, VadKind,
};

use crate::events::{DtmfEvent, SpeechSegment};
use lane::{Inline, Worker};
use runs::{extend_edges, pad_runs, stretch_runs};

/// Audio, in seconds, that a detector reserves its per-frame record for when
/// it is built: Graph's longest recording (`maxRecordDurationInSeconds` is at
/// most 120) plus a margin. Within it [`SpeechDetector::push`] never
/// allocates; past it the record grows by doubling, 8 bytes per 10 ms frame
/// (2.9 MB per hour of audio).
pub const RESERVED_SECONDS: usize = 130;

/// Per-frame record kept until [`SpeechDetector::finish`].
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameInfo {
    /// Mean square of the frame (linear power).
    power: f32,
    /// webrtc-vad's decision.
    voice: bool,
    /// Order-4 prediction gain above the tone threshold.
    tonal: bool,
}

/// Where the frames are classified.
enum Lane {
    /// In [`SpeechDetector::push`] itself.
    Inline(Box<Inline>),
    /// On a worker thread ([`SpeechDetector::with_worker`]).
    Worker(Worker),
}

/// Streaming speech detector: `push` audio, add DTMF events with
/// [`mask_dtmf`](Self::mask_dtmf), then `finish`.
pub struct SpeechDetector {
    config: VadConfig,
    /// The frame power, webrtc-vad, the tone check and the model.
    lane: Lane,
    dtmf: Vec<(u64, u64)>,
    total: u64,
}

impl std::fmt::Debug for SpeechDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechDetector")
            .field("config", &self.config)
            .field("worker", &matches!(self.lane, Lane::Worker(_)))
            .field("total", &self.total)
            .finish()
    }
}

impl SpeechDetector {
    /// A detector for `config.sample_rate` (8000 or 16000 Hz).
    pub fn new(config: VadConfig) -> Result<Self, VadError> {
        Self::build(config, false)
    }

    /// A detector that measures and classifies its frames (the frame power,
    /// webrtc-vad, the tone check, the model) on a worker thread of its own,
    /// so `push` only hands the samples over: the same result as [`Self::new`]'s, bit for bit, in
    /// about half the wall time when a second core is free. Only
    /// [`Self::finish`] waits for the worker; the provisional frames of
    /// `classified_frames` (live hints) are not available. If no thread
    /// can be started, it classifies inline.
    pub fn with_worker(config: VadConfig) -> Result<Self, VadError> {
        Self::build(config, true)
    }

    fn build(config: VadConfig, worker: bool) -> Result<Self, VadError> {
        if !matches!(config.sample_rate, 8000 | 16000) {
            return Err(VadError::UnsupportedRate(config.sample_rate));
        }
        let block = match config.webrtc_frame_ms {
            10 => 1,
            20 => 2,
            30 => 3,
            ms => return Err(VadError::UnsupportedFrame(ms)),
        };
        #[cfg(feature = "neural")]
        match &config.neural {
            None => (),
            Some(_) if config.sample_rate != neural::MODEL_RATE => {
                return Err(VadError::ModelRate(config.sample_rate))
            }
            Some(n) if !n.thresholds_valid() => {
                return Err(VadError::ModelThresholds {
                    onset: n.onset,
                    offset: n.offset,
                })
            }
            Some(_) => (),
        };
        let lane = match worker {
            true => Some(Worker::spawn(config.clone(), block)).filter(Worker::started),
            false => None,
        };
        let lane = match lane {
            Some(w) => Lane::Worker(w),
            None => Lane::Inline(Box::new(Inline::new(&config, block))),
        };
        Ok(SpeechDetector {
            lane,
            dtmf: Vec::new(),
            total: 0,
            config,
        })
    }

    /// A detector with default tuning at `sample_rate`.
    pub fn with_rate(sample_rate: u32) -> Result<Self, VadError> {
        Self::new(VadConfig {
            sample_rate,
            ..VadConfig::default()
        })
    }

    /// Feeds mono samples in `[-1, 1]`; any chunk size.
    pub fn push(&mut self, samples: &[f32]) {
        self.total += samples.len() as u64;
        match &mut self.lane {
            Lane::Inline(c) => c.push(samples),
            Lane::Worker(w) => w.push(samples),
        }
    }

    /// Declares DTMF events (absolute samples at this detector's rate); frames
    /// they cover are never speech. May be called any time before `finish`.
    pub fn mask_dtmf(&mut self, events: &[DtmfEvent]) {
        self.dtmf.extend(events.iter().map(|e| (e.start, e.end)));
    }

    /// The frames webrtc-vad has classified so far, from frame `from` on, as
    /// (linear power, voice, tonal): what the provisional live speech hints
    /// of `crate::live` read while the final decision waits for `finish`.
    pub(crate) fn classified_frames(
        &self,
        from: usize,
    ) -> impl Iterator<Item = (f32, bool, bool)> + '_ {
        let frames = match &self.lane {
            Lane::Inline(c) => &c.cls.frames[..c.cls.classified()],
            Lane::Worker(_) => &[],
        };
        frames
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .map(|f| (f.power, f.voice, f.tonal))
    }

    /// The detector's settings.
    pub(crate) fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Ends the stream and returns the speech found.
    pub fn finish(self) -> SpeechActivity {
        // Every frame's record, and the model's frame candidates (none
        // without a model).
        let (frames, model_votes) = match self.lane {
            Lane::Inline(c) => (*c).finish(),
            Lane::Worker(w) => w.finish(),
        };
        decide(&self.config, &frames, &model_votes, &self.dtmf, self.total)
    }
}

/// Cuts a stream into whole frames of `frame_len` samples: `pending` holds
/// the partial frame carried between calls; `frame` gets each whole one in
/// order, whatever the calls' lengths.
fn split_frames(
    pending: &mut Vec<f32>,
    mut samples: &[f32],
    frame_len: usize,
    mut frame: impl FnMut(&[f32]),
) {
    if !pending.is_empty() {
        let take = (frame_len - pending.len()).min(samples.len());
        pending.extend_from_slice(&samples[..take]);
        samples = &samples[take..];
        if pending.len() == frame_len {
            frame(pending);
            pending.clear();
        }
    }
    let mut chunks = samples.chunks_exact(frame_len);
    for f in &mut chunks {
        frame(f);
    }
    pending.extend_from_slice(chunks.remainder());
}

/// The prediction order of the tone check: two sinusoids (a dual tone) are
/// exactly predictable with four taps.
const LPC_ORDER: usize = 4;

/// A frame predictable as a tone: an order-4 predictor reaches `gain_db`
/// ([`prediction_gain_db`]) and what it predicts is not a voice's two
/// strongest harmonics ([`harmonic_pair`]). It is a tone's frame only if the
/// frame before was one at the same frequency ([`Self::holds_frequency_of`]):
/// a quiet, muffled voice can be one sinusoid, as predictable as a tone, but
/// its pitch glides by several percent from one 10 ms frame to the next.
#[derive(Debug, Clone, Copy)]
struct ToneCheck {
    /// The predictor's two deepest nulls (radians per sample), deepest first.
    nulls: [f64; 2],
}

/// How far (relative) a tone's frequency may move from one frame to the
/// next: a tone does not move at all (its estimate jitters about 1-2 % in
/// line noise); a voice's pitch moves 2-8 % in 10 ms.
const TONE_STEADY_TOLERANCE: f64 = 0.02;

impl ToneCheck {
    /// The check of one frame (`buf[LPC_ORDER..]`, after the previous
    /// frame's last samples); `None`: not predictable as a tone.
    fn of(buf: &[f32], gain_db: f32) -> Option<Self> {
        let (gain, a) = prediction_gain_db(buf);
        if gain <= gain_db {
            return None;
        }
        let nulls = deepest_nulls(&a)?;
        (!harmonic_pair(buf, nulls)).then_some(ToneCheck { nulls })
    }

    /// Whether this frame's deepest null is one of the previous frame's
    /// two, within [`TONE_STEADY_TOLERANCE`].
    fn holds_frequency_of(&self, prev: [f64; 2]) -> bool {
        let w = self.nulls[0];
        prev.iter()
            .any(|&p| p > 0.0 && (w / p - 1.0).abs() < TONE_STEADY_TOLERANCE)
    }
}

/// Order-4 linear prediction gain in dB of `buf[4..]`, predicted from the four
/// samples before each (so `buf[..4]` is the previous frame's tail), and the
/// predictor (`x[n] ~ sum a[k] x[n-1-k]`). Reaching into the previous frame
/// lets a steady sinusoid be predicted almost exactly; the autocorrelation
/// method's edge bias would cap it near 20 dB on 80 samples.
///
/// This is the covariance method: the least-squares predictor over exactly
/// the predicted samples. Its normal equations are not Toeplitz, so they are
/// solved as they are (Cholesky, in f64): a Levinson recursion on these
/// lagged sums assumed Toeplitz and under-read low tones (a 440 Hz tone, 4.4
/// periods in a frame, read as 19-22 dB instead of 60+).
fn prediction_gain_db(buf: &[f32]) -> (f32, [f64; LPC_ORDER]) {
    // Samples in f64 once, on the stack for every frame the detector makes
    // (80 + 4 or 160 + 4); a longer buffer (only a direct caller's) is
    // copied to the heap.
    const STACK: usize = 168;
    if buf.len() <= STACK {
        let mut xs = [0f64; STACK];
        for (d, &s) in xs.iter_mut().zip(buf) {
            *d = f64::from(s);
        }
        covariance_gain_db(&xs[..buf.len()])
    } else {
        let xs: Vec<f64> = buf.iter().map(|&s| f64::from(s)).collect();
        covariance_gain_db(&xs)
    }
}

/// [`prediction_gain_db`] of samples already in f64.
///
/// Also compiled for AVX2 and picked at run time (`multiversion`, as
/// `dtmf::hop_banks`): the lag sums' f64 lanes then run four to a register.
/// The same operations in the same order, without fused multiply-adds, so
/// the same bits on either path.
// Matrix code: the indices are the maths (phi[i][j], l[i][k]).
#[allow(clippy::needless_range_loop)]
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn covariance_gain_db(xs: &[f64]) -> (f32, [f64; LPC_ORDER]) {
    const P: usize = LPC_ORDER;
    let none = (0.0, [0.0; P]);
    let len = xs.len();
    if len <= P {
        return none;
    }
    // r[d] = sum over n in P..len of x[n] x[n-d], in f64: low tones make
    // the lags nearly collinear, and the solve needs the precision. The sums
    // run as four interleaved partial sums (n mod 4) added at the end: four
    // independent chains, in vector registers, instead of one add after
    // another. A product of two f32 is exact in f64, so only the order of
    // the additions differs from a plain loop.
    let mut part = [[0f64; 4]; P + 1];
    let mut n = P;
    while n + 4 <= len {
        // x[n-4 .. n+4]: the four predicted samples and their lags.
        let w: &[f64; 8] = xs[n - P..n + 4].try_into().expect("8 samples");
        for (d, p) in part.iter_mut().enumerate() {
            for lane in 0..4 {
                p[lane] += w[P + lane] * w[P + lane - d];
            }
        }
        n += 4;
    }
    for m in n..len {
        for (d, p) in part.iter_mut().enumerate() {
            p[m - n] += xs[m] * xs[m - d];
        }
    }
    let r: [f64; P + 1] = std::array::from_fn(|d| {
        let p = part[d];
        (p[0] + p[1]) + (p[2] + p[3])
    });
    if r[0] <= 1e-12 {
        return none;
    }
    // phi[i][j] = sum over n in P..len of x[n-i] x[n-j] is r[j - i] in its
    // first row; one step down the diagonal moves the window one sample
    // back: the product that enters at the start is added, the one that
    // leaves at the end taken off.
    let mut phi = [[0f64; P + 1]; P + 1];
    for d in 0..=P {
        phi[0][d] = r[d];
        for i in 0..P - d {
            let j = i + d;
            phi[i + 1][j + 1] =
                phi[i][j] + xs[P - 1 - i] * xs[P - 1 - j] - xs[len - 1 - i] * xs[len - 1 - j];
        }
    }
    for i in 0..=P {
        for j in 0..i {
            phi[i][j] = phi[j][i];
        }
    }
    let energy = phi[0][0];
    // Solve phi[1..][1..] a = phi[1..][0] by Cholesky. A pivot that is
    // (numerically) zero means that lag adds nothing the others do not
    // already predict (a pure sinusoid needs only two taps): it is dropped.
    // Each pivot's reciprocal is taken once: one division, not one per use.
    let mut l = [[0f64; P]; P];
    let mut inv = [0f64; P];
    let mut kept = [false; P];
    let scale = (1..=P).map(|i| phi[i][i]).fold(0.0, f64::max);
    for j in 0..P {
        let mut diag = phi[j + 1][j + 1];
        for k in 0..j {
            diag -= l[j][k] * l[j][k];
        }
        if diag <= scale * 1e-13 {
            continue;
        }
        kept[j] = true;
        let root = diag.sqrt();
        l[j][j] = root;
        inv[j] = 1.0 / root;
        for i in (j + 1)..P {
            let mut v = phi[i + 1][j + 1];
            for k in 0..j {
                v -= l[i][k] * l[j][k];
            }
            l[i][j] = v * inv[j];
        }
    }
    // Forward substitution y = L^-1 b (the residual is energy - |y|^2),
    // then back substitution L^T a = y.
    let mut y = [0f64; P];
    let mut explained = 0f64;
    for i in 0..P {
        if kept[i] {
            let mut v = phi[i + 1][0];
            for k in 0..i {
                v -= l[i][k] * y[k];
            }
            y[i] = v * inv[i];
            explained += y[i] * y[i];
        }
    }
    let mut a = [0f64; P];
    for i in (0..P).rev() {
        if kept[i] {
            let mut v = y[i];
            for k in (i + 1)..P {
                v -= l[k][i] * a[k];
            }
            a[i] = v * inv[i];
        }
    }
    let residual = (energy - explained).max(energy * 1e-10);
    if !residual.is_finite() {
        return none;
    }
    ((10.0 * (energy / residual).log10()) as f32, a)
}

/// Frequency ratios of a voice's neighbouring strong harmonics (2:1, 3:2,
/// 4:3, 3:1), none near a call-progress pair (350+440 is 1.257, 440+480
/// 1.091, 480+620 1.292, 400+450 1.125) or a DTMF pair (1.28-2.34, nearest
/// 1.917 and 2.119).
const HARMONIC_RATIOS: [f64; 4] = [2.0, 1.5, 4.0 / 3.0, 3.0];

/// How far (relative) a ratio may be from [`HARMONIC_RATIOS`].
const HARMONIC_TOLERANCE: f64 = 0.015;

/// The two deepest minima of the predictor's response |A(e^jw)|^2 over
/// 0..pi (radians per sample), deepest first; the second is 0 when there is
/// one minimum only; `None` when there is none.
fn deepest_nulls(a: &[f64; LPC_ORDER]) -> Option<[f64; 2]> {
    const STEPS: usize = 512;
    // |A(e^jw)|^2 = c0 + 2 sum c_m cos(m w), with c the autocorrelation of
    // the filter [1, -a1, .., -a4]: one cosine per point, the multiples by
    // the Chebyshev recurrence.
    let f = [1.0, -a[0], -a[1], -a[2], -a[3]];
    let mut c = [0f64; LPC_ORDER + 1];
    for (m, cm) in c.iter_mut().enumerate() {
        *cm = (0..=LPC_ORDER - m).map(|i| f[i] * f[i + m]).sum();
    }
    let at_cos = |c1: f64| {
        let c2 = 2.0 * c1 * c1 - 1.0;
        let c3 = 2.0 * c1 * c2 - c1;
        let c4 = 2.0 * c1 * c3 - c2;
        c[0] + 2.0 * (c[1] * c1 + c[2] * c2 + c[3] * c3 + c[4] * c4)
    };
    let response = |w: f64| at_cos(w.cos());
    let step = std::f64::consts::PI / STEPS as f64;
    // The grid's cosines are the same for every frame: computed once (the
    // same values `cos` gives here, so the nulls are unchanged), they save
    // 513 libm calls on every frame predictable as a tone.
    static GRID_COS: std::sync::OnceLock<[f64; STEPS + 1]> = std::sync::OnceLock::new();
    let grid_cos = GRID_COS.get_or_init(|| std::array::from_fn(|k| (k as f64 * step).cos()));
    let mut grid = [0f64; STEPS + 1];
    for (g, &c1) in grid.iter_mut().zip(grid_cos) {
        *g = at_cos(c1);
    }
    // The two deepest (position, depth), without allocating: this runs on
    // every frame that is predictable as a tone.
    let mut best = [(0f64, f64::INFINITY); 2];
    for k in 1..STEPS {
        if !(grid[k] < grid[k - 1] && grid[k] <= grid[k + 1]) {
            continue;
        }
        // Narrow the minimum down between its neighbouring grid points.
        let (mut lo, mut hi) = ((k - 1) as f64 * step, (k + 1) as f64 * step);
        for _ in 0..30 {
            let (m1, m2) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
            if response(m1) < response(m2) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        let w = 0.5 * (lo + hi);
        let depth = response(w);
        if depth < best[0].1 {
            best = [(w, depth), best[0]];
        } else if depth < best[1].1 {
            best[1] = (w, depth);
        }
    }
    if best[0].1.is_infinite() {
        return None;
    }
    let second = if best[1].1.is_finite() {
        best[1].0
    } else {
        0.0
    };
    Some([best[0].0, second])
}

/// Whether the frame `buf` is two strong sinusoids at the predictor's nulls
/// `nulls` in a harmonic ratio: what a low vowel whose first two harmonics
/// carry its energy looks like (a steady dual tone to the predictor, 30 dB
/// and more, but a voice). Both must carry energy in the frame (a
/// least-squares fit of the two sinusoids, the weaker within 20 dB of the
/// stronger), so a single tone, whose other null only shapes noise, is never
/// taken for a voice.
fn harmonic_pair(buf: &[f32], nulls: [f64; 2]) -> bool {
    let (w1, w2) = (nulls[0].min(nulls[1]), nulls[0].max(nulls[1]));
    if w1 <= 0.0 {
        return false;
    }
    let ratio = w2 / w1;
    if !HARMONIC_RATIOS
        .iter()
        .any(|&h| (ratio / h - 1.0).abs() < HARMONIC_TOLERANCE)
    {
        return false;
    }
    match two_sinusoid_energies(&buf[LPC_ORDER..], w1, w2) {
        Some((e1, e2)) => e1.min(e2) >= e1.max(e2) * 1e-2,
        None => false,
    }
}

/// The energies of the least-squares fit of `x` by sinusoids at `w1` and
/// `w2` (radians per sample): a 4 x 4 normal-equation solve, so the two do
/// not leak into each other however close they are in a short frame.
// Matrix code: the indices are the maths (phi[i][j], l[i][k]).
#[allow(clippy::needless_range_loop)]
fn two_sinusoid_energies(x: &[f32], w1: f64, w2: f64) -> Option<(f64, f64)> {
    let basis = |n: usize| {
        let t = n as f64;
        [
            (w1 * t).cos(),
            (w1 * t).sin(),
            (w2 * t).cos(),
            (w2 * t).sin(),
        ]
    };
    let mut g = [[0f64; 4]; 4];
    let mut b = [0f64; 4];
    for (n, &v) in x.iter().enumerate() {
        let u = basis(n);
        for i in 0..4 {
            b[i] += u[i] * f64::from(v);
            for j in 0..4 {
                g[i][j] += u[i] * u[j];
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..4 {
        let p = (c..4).max_by(|&i, &j| g[i][c].abs().total_cmp(&g[j][c].abs()))?;
        if g[p][c].abs() < 1e-9 {
            return None;
        }
        g.swap(c, p);
        b.swap(c, p);
        for r in (c + 1)..4 {
            let f = g[r][c] / g[c][c];
            for k in c..4 {
                g[r][k] -= f * g[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut coef = [0f64; 4];
    for r in (0..4).rev() {
        let mut v = b[r];
        for k in (r + 1)..4 {
            v -= g[r][k] * coef[k];
        }
        coef[r] = v / g[r][r];
    }
    Some((
        coef[0] * coef[0] + coef[1] * coef[1],
        coef[2] * coef[2] + coef[3] * coef[3],
    ))
}

/// Percentile of all frames' excess over the floor used as the noise spread
/// when too few frames are left outside the first pass (see `decide`).
const FALLBACK_PERCENTILE: usize = 20;

/// The frame power is measured above this, so mains hum and the rumble that
/// dominates pink noise do not move the gate (telephone speech starts at 300 Hz).
pub(super) const HIGHPASS_HZ: f32 = 200.0;

/// A second-order Butterworth high-pass (RBJ cookbook), direct form I.
#[derive(Debug, Clone, Copy)]
pub(super) struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    pub(super) fn highpass(f0: f32, rate: u32) -> Self {
        let w0 = std::f32::consts::TAU * f0 / rate as f32;
        let alpha = w0.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let c = w0.cos();
        let a0 = 1.0 + alpha;
        Biquad {
            b: [(1.0 + c) / 2.0 / a0, -(1.0 + c) / a0, (1.0 + c) / 2.0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    /// Mean square of the filtered `frame`. The state lives in locals for
    /// the loop: through `self` every sample would wait on a store and a load.
    ///
    /// Samples go two at a time: the second output is written in terms of
    /// the two outputs *before* the pair (`y[n+1] = u[n+1] - a1 u[n] +
    /// (a1^2 - a2) y[n-1] + a1 a2 y[n-2]`, with `u` the feed-forward part),
    /// so both outputs of a pair wait on one multiply and add of the last
    /// pair's, not on each other: half the serial chain of the direct form
    /// for the same filter (a sample rounds differently, by about 1e-7 of it).
    pub(super) fn power(&mut self, frame: &[f32]) -> f32 {
        let [b0, b1, b2] = self.b;
        let [a1, a2] = self.a;
        let (c1, c2) = (a1 * a1 - a2, a1 * a2);
        let [mut x1, mut x2] = self.x;
        let [mut y1, mut y2] = self.y;
        let (mut even, mut odd) = (0f32, 0f32);
        let mut pairs = frame.chunks_exact(2);
        for p in &mut pairs {
            let (xa, xb) = (p[0], p[1]);
            let ua = b0 * xa + b1 * x1 + b2 * x2;
            let ub = b0 * xb + b1 * xa + b2 * x1;
            let ya = (ua - a2 * y2) - a1 * y1;
            let yb = ((ub - a1 * ua) + c2 * y2) + c1 * y1;
            x2 = xa;
            x1 = xb;
            y2 = ya;
            y1 = yb;
            even += ya * ya;
            odd += yb * yb;
        }
        for &x in pairs.remainder() {
            let y = (b0 * x + b1 * x1 + b2 * x2 - a2 * y2) - a1 * y1;
            x2 = x1;
            x1 = x;
            y2 = y1;
            y1 = y;
            even += y * y;
        }
        // Flush denormals: a long digital silence after a loud start would
        // otherwise leave the state decaying through subnormal floats.
        let flush = |v: f32| if v.abs() < 1e-20 { 0.0 } else { v };
        self.x = [x1, x2];
        self.y = [flush(y1), flush(y2)];
        (even + odd) / frame.len().max(1) as f32
    }
}

fn power_db(p: f32) -> f32 {
    10.0 * p.max(1e-15).log10()
}

/// The speech model's say in the decision (see [`neural`]; nothing without a
/// model).
#[derive(Debug, Default)]
pub(crate) struct ModelVotes {
    /// Per frame: the model's hysteresis is on (empty without a model).
    pub(crate) votes: Vec<bool>,
    /// How many frames a run of votes may stretch a run of speech each way.
    pub(crate) stretch: usize,
    /// Replaces [`VadConfig::low_snr_onset_pad_ms`] (the model finds weak
    /// onsets itself).
    pub(crate) low_snr_onset_pad_ms: Option<u32>,
    /// Replaces [`VadConfig::onset_pad_ms`] for the segments (the trim's
    /// extent keeps the classical pad).
    pub(crate) onset_pad_ms: Option<u32>,
}

/// The non-causal part: noise floor, gates, hangover, pads.
fn decide(
    cfg: &VadConfig,
    frames: &[FrameInfo],
    model: &ModelVotes,
    dtmf: &[(u64, u64)],
    total: u64,
) -> SpeechActivity {
    let n = frames.len();
    let frame_len = u64::from(cfg.sample_rate / 100);
    let ms = |v: u32| v.div_ceil(10) as usize;
    if n == 0 {
        return SpeechActivity {
            segments: Vec::new(),
            extent: None,
            extent_decay_samples: 0,
            noise_floor_dbfs: None,
            speech_level_dbfs: None,
            total_samples: total,
        };
    }
    // Powers smoothed over 3 frames (for the gate) and 5 frames (for the floor).
    let smooth = |half: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                let lo = i.saturating_sub(half);
                let hi = (i + half + 1).min(n);
                frames[lo..hi].iter().map(|f| f.power).sum::<f32>() / (hi - lo) as f32
            })
            .collect()
    };
    let gate_power = smooth(1);
    // The floor is the larger of the minima just before and just after a
    // frame: a symmetric minimum would lag a step up in noise by a window.
    let w = ms(cfg.floor_window_ms);
    let (left_at, right_at) = sliding_argmin(&gate_power, w);
    let higher = |l: usize, r: usize| {
        if gate_power[r] > gate_power[l] {
            r
        } else {
            l
        }
    };
    let floor_at: Vec<usize> = left_at
        .iter()
        .zip(&right_at)
        .map(|(&l, &r)| higher(l, r))
        .collect();
    let floor: Vec<f32> = floor_at.iter().map(|&k| gate_power[k]).collect();
    let abs_floor = cfg.abs_floor_dbfs;

    // Tonal runs: only a run of at least tone_min frames is a tone.
    let tone_min = ms(cfg.tone_min_ms).max(1);
    let mut tonal = vec![false; n];
    let mut i = 0;
    while i < n {
        if frames[i].tonal {
            let mut j = i;
            while j < n && frames[j].tonal {
                j += 1;
            }
            if j - i >= tone_min {
                tonal[i..j].iter_mut().for_each(|t| *t = true);
            }
            i = j;
        } else {
            i += 1;
        }
    }

    // DTMF mask with a guard either side.
    let guard = u64::from(cfg.dtmf_guard_ms) * u64::from(cfg.sample_rate) / 1000;
    let mut masked = vec![false; n];
    for &(s, e) in dtmf {
        let s = s.saturating_sub(guard) / frame_len;
        let e = (e + guard).div_ceil(frame_len);
        for m in masked.iter_mut().take((e as usize).min(n)).skip(s as usize) {
            *m = true;
        }
    }

    // Frames webrtc-vad (or the speech model) calls voice that no other gate
    // rules out, and how far each stands above its local floor (dB).
    let level: Vec<f32> = gate_power.iter().map(|&p| power_db(p)).collect();
    // The floor in dB, clamped to the absolute floor, for the gate, the
    // noise estimate and the extent. The floor is one frame's own power, so
    // its level is looked up rather than taken again.
    let floor_db: Vec<f32> = floor_at.iter().map(|&k| level[k].max(abs_floor)).collect();
    let above: Vec<f32> = (0..n).map(|i| level[i] - floor_db[i]).collect();
    let candidate: Vec<bool> = (0..n)
        .map(|i| {
            let voice = frames[i].voice || model.votes.get(i) == Some(&true);
            voice && !tonal[i] && !masked[i] && level[i] > abs_floor
        })
        .collect();
    let mut runs = voiced_runs(cfg, &candidate, &above, &level, &masked, cfg.gate_db, &[]);
    let mut noise_spread_db = 0f32;
    let mut gate_used = cfg.gate_db;

    // The floor is a minimum, and how far a noise's ordinary frames sit above
    // its minimum depends on how much the noise fluctuates: about 1 dB for
    // white or pink noise, 3 dB for a crowd's babble, whose peaks then clear
    // a fixed 5 dB gate. So the gate widens with the median excess of the
    // frames the first pass left as noise: steady noise keeps `gate_db`.
    if cfg.noise_spread_factor > 0.0 {
        // Frames next to the first pass's speech are its weak edges (decays,
        // breaths), not noise: in a clean clip they would be all the "noise"
        // there is, and the gate would widen for nothing.
        let guard = ms(cfg.spread_guard_ms);
        let first = pad_runs(&runs, &masked, guard, guard);
        let mut in_first = vec![false; n];
        for &(s, e) in &first {
            in_first[s..e].iter_mut().for_each(|v| *v = true);
        }
        // Near the absolute floor (digital silence, a codec's idle pattern)
        // there is no noise to measure.
        let eligible =
            |i: usize| !masked[i] && !tonal[i] && level[i] > abs_floor + SPREAD_MIN_ABOVE_ABS_DB;
        let mut excess: Vec<f32> = (0..n)
            .filter(|&i| !in_first[i] && eligible(i))
            .map(|i| above[i])
            .collect();
        let spread = if excess.len() >= ms(cfg.floor_window_ms) {
            let mid = excess.len() / 2;
            Some(*excess.select_nth_unstable_by(mid, f32::total_cmp).1)
        } else {
            // The first pass took (nearly) the whole clip: take the quietest
            // fifth of all frames as the noise's ordinary level instead.
            let mut all: Vec<f32> = (0..n).filter(|&i| eligible(i)).map(|i| above[i]).collect();
            // Only when noise is everywhere: a clip that is speech and silence
            // has nothing to measure, and its quietest fifth would be speech.
            (all.len() >= ms(cfg.floor_window_ms) && all.len() * 10 >= n * 9).then(|| {
                let k = all.len() * FALLBACK_PERCENTILE / 100;
                *all.select_nth_unstable_by(k, f32::total_cmp).1
            })
        };
        if let Some(spread) = spread {
            let gate = (cfg.noise_spread_factor * spread).min(cfg.max_gate_db);
            if gate > cfg.gate_db {
                noise_spread_db = spread;
                // A fluctuating noise is steady over a syllable's length, so
                // a weak word that no single frame lifts over the widened gate
                // still lifts the power averaged over SUSTAIN_FRAMES: such
                // frames pass if they also clear the fixed gate.
                let sustained: Vec<bool> = if cfg.sustained_margin_db > 0.0 {
                    let long = smoothed(frames, SUSTAIN_FRAMES / 2);
                    (0..n)
                        .map(|i| {
                            above[i] > cfg.gate_db
                                && power_db(long[i]) - floor_db[i]
                                    > spread + cfg.sustained_margin_db
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                runs = voiced_runs(cfg, &candidate, &above, &level, &masked, gate, &sustained);
                gate_used = gate;
            }
        }
    }
    let blocked: Vec<bool> = (0..n)
        .map(|i| masked[i] || tonal[i] || level[i] <= abs_floor)
        .collect();
    let edge_db = cfg
        .edge_gate_db
        .max(cfg.edge_spread_factor * noise_spread_db);
    if cfg.edge_max_ms > 0 {
        runs = extend_edges(&runs, &above, &blocked, edge_db, ms(cfg.edge_max_ms));
    }
    // What the trim's extent starts from: the segments with the classical
    // pads, so the trim is the classical one with or without a model.
    let mut gated_segs = pad_runs(&runs, &masked, ms(cfg.onset_pad_ms), ms(cfg.offset_pad_ms));
    let mut segs = match model.onset_pad_ms {
        Some(pad) => pad_runs(&runs, &masked, ms(pad), ms(cfg.offset_pad_ms)),
        None => gated_segs.clone(),
    };
    if let Some(snr) = estimate_snr_db(&gated_segs, frames, &floor, &masked, abs_floor) {
        if snr < cfg.low_snr_db {
            let low_pad = |segs: &[(usize, usize)], onset_ms: u32| {
                pad_runs(segs, &masked, ms(onset_ms), ms(cfg.low_snr_offset_pad_ms))
            };
            segs = match model.low_snr_onset_pad_ms {
                Some(pad) => low_pad(&segs, pad),
                None => low_pad(&gated_segs, cfg.low_snr_onset_pad_ms),
            };
            gated_segs = low_pad(&gated_segs, cfg.low_snr_onset_pad_ms);
        }
    }

    // The model's runs stretch the padded segments (not the pads: its own
    // run already reaches past the speech).
    if model.stretch > 0 {
        segs = stretch_runs(&segs, &model.votes, &blocked, model.stretch);
    }

    let mut in_speech = vec![false; n];
    for &(s, e) in &segs {
        in_speech[s..e].iter_mut().for_each(|v| *v = true);
    }
    let mut noise: Vec<f32> = (0..n)
        .filter(|&i| !in_speech[i] && !masked[i] && !tonal[i])
        .map(|i| floor_db[i])
        .collect();
    let noise_floor_dbfs = if noise.is_empty() {
        None
    } else {
        let mid = noise.len() / 2;
        let (_, m, _) = noise.select_nth_unstable_by(mid, f32::total_cmp);
        Some(*m)
    };
    let (sp_sum, sp_n) = (0..n)
        .filter(|&i| in_speech[i])
        .fold((0f64, 0usize), |(s, c), i| {
            (s + f64::from(frames[i].power), c + 1)
        });
    let speech_level_dbfs = (sp_n > 0).then(|| power_db((sp_sum / sp_n as f64) as f32));

    let to_samples = |(s, e): (usize, usize)| SpeechSegment {
        start: s as u64 * frame_len,
        end: (e as u64 * frame_len).min(total),
    };
    // A tone does not start the extent, but a word's extent runs on through
    // its tonal stretches (a hummed or sung ending).
    let walls: Vec<bool> = (0..n).map(|i| masked[i] || level[i] <= abs_floor).collect();
    // A word's decay is followed against the noise after it (and an onset
    // against the noise before it): in a long, smooth decay the minimum of
    // the frames before a frame is the decay itself, and the two-sided floor
    // would stop the extent half-way down (a fading or reverberant ending).
    // Only so far down: below the clip's loud speech by more than
    // `decay_range_db` the two-sided floor decides again.
    let mut seg_levels: Vec<f32> = gated_segs
        .iter()
        .flat_map(|&(s, e)| level[s..e.min(n)].iter().copied())
        .collect();
    let decay_floor = if seg_levels.is_empty() {
        f32::INFINITY
    } else {
        let k = (seg_levels.len() * 95 / 100).min(seg_levels.len() - 1);
        *seg_levels.select_nth_unstable_by(k, f32::total_cmp).1 - cfg.decay_range_db
    };
    // Read only at the frames the extent walks over, so computed there.
    let beyond = |side_at: &[usize], i: usize| -> f32 {
        if level[i] > decay_floor {
            above[i].max(level[i] - level[side_at[i]].max(abs_floor))
        } else {
            above[i]
        }
    };
    let found = sound_extent(
        &gated_segs,
        &above,
        (&|i| beyond(&left_at, i), &|i| beyond(&right_at, i)),
        (&blocked, &walls),
        gate_used,
        edge_db,
        ms(cfg.extent_min_ms),
    );
    let extent = found.map(|(span, _)| to_samples(span));
    let extent_decay_samples = found.map_or(0, |(_, decay)| decay as u64 * frame_len);
    let segments = segs
        .into_iter()
        .map(to_samples)
        .filter(|s| s.end > s.start)
        .collect();
    SpeechActivity {
        segments,
        extent,
        extent_decay_samples,
        noise_floor_dbfs,
        speech_level_dbfs,
        total_samples: total,
    }
}

/// The noise spread is measured only on frames this far above the absolute
/// floor.
const SPREAD_MIN_ABOVE_ABS_DB: f32 = 6.0;

/// Frames in the long average of the sustained-speech route (310 ms).
const SUSTAIN_FRAMES: usize = 31;

/// Mean frame power over `[i - half, i + half]`, clamped to the clip.
fn smoothed(frames: &[FrameInfo], half: usize) -> Vec<f32> {
    let n = frames.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0f64);
    for f in frames {
        prefix.push(prefix[prefix.len() - 1] + f64::from(f.power));
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(n);
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

/// Runs `(start, end)` of frames voiced at `gate_db` above the floor (or
/// marked in `sustained`), after the relative-level gate, bridged over short
/// gaps, without too-short runs.
fn voiced_runs(
    cfg: &VadConfig,
    candidate: &[bool],
    above: &[f32],
    level: &[f32],
    masked: &[bool],
    gate_db: f32,
    sustained: &[bool],
) -> Vec<(usize, usize)> {
    let ms = |v: u32| v.div_ceil(10) as usize;
    let mut voiced: Vec<bool> = (0..candidate.len())
        .map(|i| candidate[i] && (above[i] > gate_db || sustained.get(i) == Some(&true)))
        .collect();

    // Background talkers pass the floor gate, being speech; what sets them
    // apart is level, so frames far below the clip's loud speech go.
    let mut loud: Vec<f32> = voiced
        .iter()
        .zip(level)
        .filter(|(v, _)| **v)
        .map(|(_, &l)| l)
        .collect();
    if !loud.is_empty() {
        let k = (loud.len() * 95 / 100).min(loud.len() - 1);
        let reference = *loud.select_nth_unstable_by(k, f32::total_cmp).1;
        let min_db = reference - cfg.relative_db;
        for (v, &l) in voiced.iter_mut().zip(level) {
            *v = *v && l >= min_db;
        }
    }

    // Runs of voiced frames, bridged over short gaps.
    let merge_gap = ms(cfg.merge_gap_ms);
    let mut runs: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, voiced count)
    for (i, &v) in voiced.iter().enumerate() {
        if !v {
            continue;
        }
        match runs.last_mut() {
            Some(r) if i - r.1 <= merge_gap && !masked[r.1..i].iter().any(|&m| m) => {
                r.1 = i + 1;
                r.2 += 1;
            }
            _ => runs.push((i, i + 1, 1)),
        }
    }
    let min_speech = ms(cfg.min_speech_ms);
    runs.into_iter()
        .filter(|r| r.2 >= min_speech)
        .map(|r| (r.0, r.1))
        .collect()
}

/// The span trimming must keep: from the first to the last sound that is not
/// noise (at least `min_run` frames `gate_db` above the floor, not `blocked`:
/// a tone or a key press), followed outwards while it stays `edge_db` above
/// the floor beyond it (`above_before` for the start, against the minimum of
/// the frames before; `above_after` for the end, against the minimum of those
/// after) and short of a `walls` frame (a key press, digital silence),
/// and never narrower than the speech `segs`. A word too odd for the speech
/// decision (a laugh, a shout, a clipped syllable) is still kept by the trim.
/// Also how many frames of the end only the decay rule (`above_after`)
/// found. `None` without speech.
fn sound_extent(
    segs: &[(usize, usize)],
    above: &[f32],
    (above_before, above_after): (&dyn Fn(usize) -> f32, &dyn Fn(usize) -> f32),
    (blocked, walls): (&[bool], &[bool]),
    gate_db: f32,
    edge_db: f32,
    min_run: usize,
) -> Option<((usize, usize), usize)> {
    let (first, last) = (segs.first()?, segs.last()?);
    let n = above.len();
    let active = |i: usize| !blocked[i] && above[i] > gate_db;
    let mut sounds = Vec::new();
    let mut i = 0;
    while i < n {
        if !active(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && active(i) {
            i += 1;
        }
        if i - start >= min_run {
            sounds.push((start, i));
        }
    }
    let (mut s, mut e) = (first.0, last.1);
    if let (Some(a), Some(b)) = (sounds.first(), sounds.last()) {
        s = s.min(a.0);
        e = e.max(b.1);
    }
    while s > 0 && !walls[s - 1] && above_before(s - 1) > edge_db {
        s -= 1;
    }
    while e < n && !walls[e] && above[e] > edge_db {
        e += 1;
    }
    // Then on down the decay, if there is one: how far is the second answer.
    let settled = e;
    while e < n && !walls[e] && above_after(e) > edge_db {
        e += 1;
    }
    Some(((s, e), e - settled))
}

/// Speech-to-noise ratio of the clip in dB: mean power inside `segs` (noise
/// removed) over the median floor outside them. `None` without speech or noise.
fn estimate_snr_db(
    segs: &[(usize, usize)],
    frames: &[FrameInfo],
    floor: &[f32],
    masked: &[bool],
    abs_floor: f32,
) -> Option<f32> {
    let n = frames.len();
    let mut in_speech = vec![false; n];
    for &(s, e) in segs {
        in_speech[s..e].iter_mut().for_each(|v| *v = true);
    }
    let mut noise: Vec<f32> = (0..n)
        .filter(|&i| !in_speech[i] && !masked[i])
        .map(|i| floor[i].max(db_to_power(abs_floor)))
        .collect();
    let (sum, count) = (0..n)
        .filter(|&i| in_speech[i])
        .fold((0f64, 0usize), |(s, c), i| {
            (s + f64::from(frames[i].power), c + 1)
        });
    if noise.is_empty() || count == 0 {
        return None;
    }
    let mid = noise.len() / 2;
    let noise = f64::from(*noise.select_nth_unstable_by(mid, f32::total_cmp).1);
    let speech = (sum / count as f64 - noise).max(noise * 1e-3);
    Some((10.0 * (speech / noise).log10()) as f32)
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Where `x` is least over `[i - w, i]` (the first vector) and over
/// `[i, i + w]` (the second), both clamped to the clip: the van Herk /
/// Gil-Werman scheme, blocks of `w + 1` with a running minimum from each
/// block's start and one from its end, so that every window is the lesser
/// of two of them. Three passes without branches on the data, whatever `w`.
/// The position rather than the value, so that a value derived from `x`
/// (its level in dB) is looked up, not computed again.
fn sliding_argmin(x: &[f32], w: usize) -> (Vec<usize>, Vec<usize>) {
    let n = x.len();
    let len = w.saturating_add(1);
    let least = |a: usize, b: usize| if x[b] < x[a] { b } else { a };
    // from_start[i]: least over [block start, i]; to_end[i]: over [i, block end].
    let mut from_start = vec![0usize; n];
    let mut to_end = vec![0usize; n];
    for block in (0..n).step_by(len) {
        let end = block.saturating_add(len).min(n);
        let mut m = block;
        for (i, out) in (block..end).zip(&mut from_start[block..end]) {
            m = least(m, i);
            *out = m;
        }
        let mut m = end - 1;
        for (i, out) in (block..end).zip(&mut to_end[block..end]).rev() {
            m = least(m, i);
            *out = m;
        }
    }
    let block_of = |i: usize| i / len;
    let back = (0..n)
        .map(|i| {
            let a = i.saturating_sub(w);
            if block_of(a) == block_of(i) {
                from_start[i]
            } else {
                least(to_end[a], from_start[i])
            }
        })
        .collect();
    let fwd = (0..n)
        .map(|i| {
            let b = i.saturating_add(w).min(n - 1);
            if block_of(b) == block_of(i) {
                to_end[i]
            } else {
                least(to_end[i], from_start[b])
            }
        })
        .collect();
    (back, fwd)
}

/// Convenience: runs a default detector at `sample_rate` over `samples`.
pub fn detect_speech(
    samples: &[f32],
    sample_rate: u32,
    dtmf: &[DtmfEvent],
) -> Result<SpeechActivity, VadError> {
    let mut d = SpeechDetector::with_rate(sample_rate)?;
    d.mask_dtmf(dtmf);
    d.push(samples);
    Ok(d.finish())
}

#[cfg(test)]
mod tests;
