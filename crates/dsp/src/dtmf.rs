//! DTMF (ITU-T Q.23/Q.24) key detection for stop tones, as a streaming push processor.
//!
//! # Method
//! The input is cut into hops of 5 ms (40 samples at 8 kHz, 80 at 16 kHz).
//! Each analysis window is two hops long (10 ms) with a Hann taper, and a new
//! window completes every hop. For each hop we run two banks of eight Goertzel
//! filters (one on the raw hop, one on the hop times the rising half of the
//! Hann window); because the falling half is one minus the rising half, the
//! windowed spectrum of every window is a linear combination of those two
//! banks, so each sample passes through 16 filter states once.
//!
//! Per window we pick the strongest row and column bin and test: both tones
//! above a minimum level; twist within limits; the two tones carrying most of
//! the window's energy once the steady background is taken off (speech and
//! music spread theirs over many partials; see *Background floor* below);
//! and, over the last three hop-to-hop phase advances of each bin, a measured
//! frequency within a tight tolerance of the nominal one. The phase method
//! measures frequency to a few hertz where the magnitude of a 10 ms window
//! could not tell 1.5% from 3.5%. A window is a *hit* once three windows in a
//! row agree on the digit and pass. While a digit is held, its windows get
//! slightly looser twist and energy limits (hysteresis), so noise does not
//! chop a tone.
//!
//! Runs of hits form segments. Segment edges are placed where the tone
//! amplitude crosses half its plateau, interpolated between window centres,
//! which gives start and end to about a millisecond independent of level.
//! Segments of the same digit separated by a gap shorter than
//! [`DtmfConfig::merge_gap_ms`] are merged (dropouts), and a tone is reported
//! only if it lasts at least [`DtmfConfig::min_duration_ms`] and passes the
//! whole-tone checks: enough hits with a steady phase, a high mean energy
//! share, a mean frequency close to nominal and little frequency drift. A key
//! press is a constant tone pair; speech or music that briefly imitates one
//! glides or carries other partials, and these checks are what keep the
//! talk-off corpus free of false digits (see `docs/dtmf.md`).
//!
//! # Background floor
//! White noise at 6 dB SNR leaves a true tone pair only about 0.8 of the
//! window energy, below the share limits (0.75 per window, 0.83 over the
//! tone), so a quiet digit in a noisy recording was lost although its
//! frequencies, twist and steadiness were fine. The share is therefore
//! measured against the window energy less a tracked background:
//!
//! - the *residual* of a window is its energy outside the chosen tone pair
//!   (window energy minus the pair's energy; during a clean tone it is the noise);
//! - residuals are averaged over blocks of 8 windows (40 ms), and the
//!   *floor* is the least block mean of the last 16 completed blocks (640 ms),
//!   so it follows the quietest stretch — gaps between digits, pauses in
//!   speech — and not the signal itself; the block being filled is not used;
//! - share = pair energy / (window energy − w · min(floor, this window's
//!   residual)), w = [`DtmfConfig::noise_floor_weight`] (default 0.5); the
//!   subtraction never exceeds w times the window's own residual, and for w ≤ 1 the
//!   share stays ≤ 1.
//!
//! In steady white noise the block minimum lies somewhat below the mean
//! noise, so w = 0.5 takes off a little under half of it: at 6 dB SNR a pair's
//! share rises from ~0.8 to ~0.87-0.89. A larger w lets music and speech over a steady bed of
//! partials through (the trade-off curve in `docs/dtmf.md`: talk-off appears
//! at w = 0.65). Before the first block completes the floor is 0 (no change).
//! Non-finite input makes a block's mean non-finite; such blocks are ignored.
//!
//! Decisions depend only on whole hops, so results are identical whatever the
//! chunk sizes passed to [`DtmfDetector::push`].

use crate::events::DtmfEvent;
use crate::keypad::{DTMF_HIGH_HZ, DTMF_KEYPAD, DTMF_LOW_HZ};

/// The analysis rate of the voxcap pipeline; other rates go through the resampler.
pub const DTMF_NATIVE_RATE: u32 = 8000;

/// Number of windows kept for edge estimation and phase history.
const RING: usize = 32;
/// Hops per second: a hop is 5 ms at every supported rate.
const HOPS_PER_SECOND: u32 = 200;
/// Windows in a row that must agree before a window is a hit.
const STREAK: u32 = 3;
/// Hits a tone needs to be reported: speech and music rarely hold a DTMF-like pair this long.
const MIN_HITS: u32 = 4;
/// Power-ratio slack (2 dB) on the twist limits while a digit is held.
const HOLD_TWIST_SLACK: f32 = 1.585;
/// Energy-share slack while a digit is held.
const HOLD_SHARE_SLACK: f32 = 0.15;
/// Largest relative frequency error of a whole tone's mean frequency.
const TONE_FREQ_ERROR: f32 = 0.018;
/// Least mean energy share of the two tones over a whole tone.
const TONE_ENERGY_SHARE: f32 = 0.83;
/// Largest spread of the per-hit frequency estimates of one tone (a real key does not glide).
const TONE_FREQ_DRIFT: f32 = 0.020;
/// Least coherence |sum q| / sum |q| of the averaged phase advances for a hit's
/// frequency to enter the drift check; a phase jump at a dropout lowers it.
const STEADY_COHERENCE: f32 = 0.85;
/// Phase-advance pairs averaged for the frequency estimate.
const FREQ_PAIRS: u32 = 3;
/// Windows scanned on each side of a segment's first or last hit for its edges.
const EDGE_SCAN: u64 = 3;
/// Windows per block of the background-floor tracker (40 ms).
const FLOOR_BLOCK: u32 = 8;
/// Completed blocks whose least mean residual is the background floor (640 ms).
const FLOOR_BLOCKS: usize = 16;
/// Default [`DtmfConfig::noise_floor_weight`], chosen from the trade-off curve in `docs/dtmf.md`.
const NOISE_FLOOR_WEIGHT: f32 = 0.5;

/// Errors from building a [`DtmfDetector`].
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DtmfError {
    /// The sample rate is not one the detector runs at natively.
    #[error("DTMF detector: unsupported sample rate {0} Hz (supported: 8000, 16000; resample other rates to 8000 first)")]
    UnsupportedSampleRate(u32),
    /// A configuration value is out of range.
    #[error("DTMF detector: invalid config field `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field of [`DtmfConfig`].
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
}

/// Detector settings. The defaults meet Q.24 with margins; see `docs/dtmf.md`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// Input sample rate in Hz: 8000 or 16000.
    pub sample_rate: u32,
    /// Minimum peak level of each tone in dBFS (0 dBFS = full-scale sine).
    pub min_tone_dbfs: f32,
    /// Most negative accepted twist (high minus low group level) in dB.
    pub min_twist_db: f32,
    /// Most positive accepted twist in dB.
    pub max_twist_db: f32,
    /// Largest accepted relative frequency error of each tone (0.021 = 2.1%).
    pub max_freq_error: f32,
    /// Minimum share of a window's energy that the two tones must carry,
    /// after the background floor is taken off (see `noise_floor_weight`).
    pub min_tone_energy_share: f32,
    /// How much of the measured background floor is taken off a window's
    /// energy before the energy-share checks, 0..=2 (0 = none, the checks
    /// then see the raw window energy). See [`DtmfDetector`] for the rule.
    pub noise_floor_weight: f32,
    /// Shortest tone reported, in milliseconds.
    pub min_duration_ms: f32,
    /// Gaps shorter than this between two segments of one digit are bridged, in milliseconds.
    pub merge_gap_ms: f32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            sample_rate: DTMF_NATIVE_RATE,
            min_tone_dbfs: -46.0,
            min_twist_db: -11.0,
            max_twist_db: 7.0,
            max_freq_error: 0.021,
            min_tone_energy_share: 0.75,
            noise_floor_weight: NOISE_FLOOR_WEIGHT,
            min_duration_ms: 28.0,
            merge_gap_ms: 25.0,
        }
    }
}

impl DtmfConfig {
    /// The default settings at `sample_rate`.
    pub fn at_rate(sample_rate: u32) -> Self {
        DtmfConfig {
            sample_rate,
            ..DtmfConfig::default()
        }
    }

    fn validate(&self) -> Result<(), DtmfError> {
        if self.sample_rate != 8000 && self.sample_rate != 16000 {
            return Err(DtmfError::UnsupportedSampleRate(self.sample_rate));
        }
        let checks: [(&'static str, f32, f32, f32); 8] = [
            ("min_tone_dbfs", self.min_tone_dbfs, -120.0, 0.0),
            ("min_twist_db", self.min_twist_db, -40.0, 0.0),
            ("max_twist_db", self.max_twist_db, 0.0, 40.0),
            ("max_freq_error", self.max_freq_error, 0.001, 0.045),
            (
                "min_tone_energy_share",
                self.min_tone_energy_share,
                0.0,
                1.0,
            ),
            ("noise_floor_weight", self.noise_floor_weight, 0.0, 2.0),
            ("min_duration_ms", self.min_duration_ms, 0.0, 10_000.0),
            ("merge_gap_ms", self.merge_gap_ms, 0.0, 1_000.0),
        ];
        for (field, v, lo, hi) in checks {
            if !(lo..=hi).contains(&v) {
                return Err(DtmfError::InvalidConfig {
                    field,
                    reason: format!("{v} is outside {lo}..={hi}"),
                });
            }
        }
        Ok(())
    }
}

/// Converts a sample index at `sample_rate` to seconds, for reporting at the edge.
pub fn samples_to_seconds(sample: u64, sample_rate: u32) -> f64 {
    sample as f64 / f64::from(sample_rate)
}

/// A complex number; the detector needs only a handful of operations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct C32 {
    re: f32,
    im: f32,
}

impl C32 {
    fn add(self, o: C32) -> C32 {
        C32 {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn sub(self, o: C32) -> C32 {
        C32 {
            re: self.re - o.re,
            im: self.im - o.im,
        }
    }
    fn mul(self, o: C32) -> C32 {
        C32 {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    /// `self * conj(o)`.
    fn mul_conj(self, o: C32) -> C32 {
        C32 {
            re: self.re * o.re + self.im * o.im,
            im: self.im * o.re - self.re * o.im,
        }
    }
    fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
    fn expj(phase: f64) -> C32 {
        C32 {
            re: phase.cos() as f32,
            im: phase.sin() as f32,
        }
    }
}

/// What one analysis window saw.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// Windowed spectrum at the eight nominal frequencies, referenced to the window start.
    x: [C32; 8],
    /// Tone amplitude estimates (peak, linear) at the eight frequencies.
    amp: [f32; 8],
    /// Row (0..4) and column (0..4) of the strongest bins.
    row: u8,
    col: u8,
    /// Whether the level, twist and energy-share checks passed.
    pass: bool,
}

/// What a tone's hits add up to, for the checks made over the whole tone.
#[derive(Debug, Clone, Copy)]
struct HitStats {
    hits: u32,
    power_sum: f64,
    share_sum: f32,
    /// Sum of the hop-to-hop phase advances (row, column): the tone's mean frequency.
    phase_sum: [C32; 2],
    /// Lowest and highest per-hit relative frequency error (row, column).
    df_min: [f32; 2],
    df_max: [f32; 2],
    /// Hits whose frequency estimate was steady (see [`Hit::steady`]).
    steady: u32,
}

impl HitStats {
    fn one(h: &Hit) -> Self {
        HitStats {
            hits: 1,
            power_sum: h.power,
            share_sum: h.share,
            phase_sum: h.pair,
            df_min: if h.steady { h.df } else { [f32::INFINITY; 2] },
            df_max: if h.steady {
                h.df
            } else {
                [f32::NEG_INFINITY; 2]
            },
            steady: u32::from(h.steady),
        }
    }
    fn merge(self, o: HitStats) -> Self {
        HitStats {
            hits: self.hits + o.hits,
            steady: self.steady + o.steady,
            power_sum: self.power_sum + o.power_sum,
            share_sum: self.share_sum + o.share_sum,
            phase_sum: [
                self.phase_sum[0].add(o.phase_sum[0]),
                self.phase_sum[1].add(o.phase_sum[1]),
            ],
            df_min: [
                self.df_min[0].min(o.df_min[0]),
                self.df_min[1].min(o.df_min[1]),
            ],
            df_max: [
                self.df_max[0].max(o.df_max[0]),
                self.df_max[1].max(o.df_max[1]),
            ],
        }
    }
}

/// One window judged to hold a digit.
#[derive(Debug, Clone, Copy)]
struct Hit {
    digit: u8,
    power: f64,
    share: f32,
    pair: [C32; 2],
    df: [f32; 2],
    /// Whether the averaged phase advances agreed with each other (no phase
    /// jump from a dropout inside them), so that `df` is fit for the drift check.
    steady: bool,
}

/// A run of hits of one digit, still growing.
#[derive(Debug, Clone, Copy)]
struct Segment {
    digit: u8,
    first: u64,
    last: u64,
    start: Option<f64>,
    stats: HitStats,
}

/// A finished tone waiting to see whether the next segment bridges onto it.
#[derive(Debug, Clone, Copy)]
struct Tone {
    digit: u8,
    start: f64,
    end: f64,
    stats: HitStats,
}

/// The two Goertzel banks' states over one stretch of samples: lanes 0-7
/// the raw input at the eight DTMF frequencies, lanes 8-15 the input under
/// the rising half of the Hann window.
#[derive(Debug, Default, Clone, Copy)]
struct Goertzel {
    s1: [f32; 16],
    s2: [f32; 16],
}

impl Goertzel {
    /// One sample `v` (and `vw`, it under the window) into every lane.
    #[inline(always)]
    // Sixteen lanes indexed alike (coefficients, both states): the loop the
    // compiler turns into vector code.
    #[allow(clippy::needless_range_loop)]
    fn step(&mut self, coef: &[f32; 16], v: f32, vw: f32) {
        for j in 0..16 {
            let input = if j < 8 { v } else { vw };
            // (input - s2) is off the recurrence's critical path.
            let t = (input - self.s2[j]) + coef[j] * self.s1[j];
            self.s2[j] = self.s1[j];
            self.s1[j] = t;
        }
    }

    /// Frequency `j`'s DFT values (raw, windowed), referenced to the
    /// stretch's last sample; `tail` is `e^{-jw}`.
    fn dft(&self, j: usize, tail: C32) -> (C32, C32) {
        let y = |s1: f32, s2: f32| C32 { re: s1, im: 0.0 }.sub(tail.mul(C32 { re: s2, im: 0.0 }));
        (y(self.s1[j], self.s2[j]), y(self.s1[j + 8], self.s2[j + 8]))
    }
}

/// One hop through both filter banks: the hop's energy raw, under the
/// rising half of the Hann window and under the falling half, and, when the
/// raw energy reaches `gate`, the Goertzel states of the hop's two halves.
struct HopBanks {
    e_raw: f32,
    e_rise: f32,
    e_fall: f32,
    halves: Option<(Goertzel, Goertzel)>,
}

/// [`HopBanks`] of the hop `x` (`rise`: the rising half-window, as long).
///
/// Compiled also for AVX2 and picked at run time when the CPU has it
/// (`multiversion`): the sixteen lanes of the two Goertzel states then sit in
/// eight vector registers instead of spilling out of sixteen SSE ones, and
/// the DTMF detector costs about a quarter less (docs/speech.md). The
/// operations are the same, in the same order and without fused
/// multiply-adds (Rust never contracts them), so every result is the same
/// bit for bit on either path.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn hop_banks(x: &[f32], rise: &[f32], coef: &[f32; 16], gate: f32) -> HopBanks {
    let hop = x.len();
    // Four lanes per sum (n mod 4), added at the end: vector registers
    // instead of one serial add per sample.
    let (mut lr, mut lu, mut lf) = ([0f32; 4], [0f32; 4], [0f32; 4]);
    let mut xq = x.chunks_exact(4);
    let mut wq = rise.chunks_exact(4);
    for (xc, wc) in (&mut xq).zip(&mut wq) {
        for i in 0..4 {
            let (v, r) = (xc[i], xc[i] * wc[i]);
            let f = v - r;
            lr[i] += v * v;
            lu[i] += r * r;
            lf[i] += f * f;
        }
    }
    for (&v, &w) in xq.remainder().iter().zip(wq.remainder()) {
        let r = v * w;
        let f = v - r;
        lr[0] += v * v;
        lu[0] += r * r;
        lf[0] += f * f;
    }
    let sum4 = |l: [f32; 4]| (l[0] + l[1]) + (l[2] + l[3]);
    let (e_raw, e_rise, e_fall) = (sum4(lr), sum4(lu), sum4(lf));
    let halves = (e_raw >= gate).then(|| {
        // The hop's two halves run through the two banks side by side,
        // each from rest, and their DFTs are added referenced to the hop
        // start (by the caller): the same sums as one pass over the hop,
        // with two independent recurrences per filter instead of one long
        // chain.
        let h = hop / 2;
        let (xa, xb) = x.split_at(h);
        let (wa, wb) = rise.split_at(h);
        let mut a = Goertzel::default();
        let mut b = Goertzel::default();
        for (((&va, &vb), &ga), &gb) in xa.iter().zip(xb).zip(wa).zip(wb) {
            a.step(coef, va, va * ga);
            b.step(coef, vb, vb * gb);
        }
        // An odd hop leaves the second half one sample longer.
        for (&v, &g) in xb[h..].iter().zip(&wb[h..]) {
            b.step(coef, v, v * g);
        }
        (a, b)
    });
    HopBanks {
        e_raw,
        e_rise,
        e_fall,
        halves,
    }
}

/// Streaming DTMF receiver. Feed samples with [`push`](Self::push) and call
/// [`finish`](Self::finish) at the end of the stream; events carry absolute
/// sample indices at the configured rate.
///
/// The energy-share checks (per window and over the whole tone) measure the
/// tone pair against the window energy less `noise_floor_weight` times the
/// background floor: the least 40 ms mean of the energy outside the tone pair
/// over the last 640 ms (module docs, *Background floor*).
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DtmfConfig,
    hop: usize,
    /// Rising half of the Hann window, `hop` values.
    rise: Vec<f32>,
    /// Goertzel coefficients `2 cos(w)` for the raw and the windowed bank.
    coef: [f32; 16],
    /// `e^{-jw}`, to turn the final Goertzel states into a DFT value.
    tail: [C32; 8],
    /// `e^{-jw(hop-1)}`: references a hop's DFT to the hop start.
    to_start: [C32; 8],
    /// `e^{-jw(hop/2-1)}`: the same for the hop's first half (see
    /// [`Self::process_hop`]).
    to_mid: [C32; 8],
    /// `e^{-jw hop}`: one hop of phase advance.
    rot: [C32; 8],
    buf: Vec<f32>,
    filled: usize,
    /// Samples consumed so far (excluding finish padding).
    consumed: u64,
    /// Index of the next hop.
    hop_index: u64,
    /// Previous hop's rising-windowed DFT and rising-windowed energy.
    prev_rise: [C32; 8],
    prev_rise_energy: f32,
    ring: [Window; RING],
    streak: u32,
    pairs: [[C32; 2]; FREQ_PAIRS as usize],
    open: Option<Segment>,
    pending: Option<Tone>,
    gate_energy: f32,
    min_amp: f32,
    twist_lo_sq: f32,
    twist_hi_sq: f32,
    hann_energy: f32,
    /// Residual (window energy outside the chosen tone pair) summed over the
    /// current floor block, and the windows in it.
    floor_sum: f32,
    floor_count: u32,
    /// Mean residual of the last [`FLOOR_BLOCKS`] completed blocks (infinite: none yet).
    floor_means: [f32; FLOOR_BLOCKS],
    floor_next: usize,
    /// Least of `floor_means`, or 0 before the first block completes.
    floor: f32,
}

impl DtmfDetector {
    /// A detector with `config`, or an error naming the bad setting.
    pub fn new(config: DtmfConfig) -> Result<Self, DtmfError> {
        config.validate()?;
        let fs = f64::from(config.sample_rate);
        let hop = (config.sample_rate / HOPS_PER_SECOND) as usize;
        let len = 2 * hop;
        let rise: Vec<f32> = (0..hop)
            .map(|n| (0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / len as f64).cos()) as f32)
            .collect();
        let mut coef = [0f32; 16];
        let mut tail = [C32::default(); 8];
        let mut to_start = [C32::default(); 8];
        let mut to_mid = [C32::default(); 8];
        let mut rot = [C32::default(); 8];
        for (j, &f) in DTMF_LOW_HZ.iter().chain(DTMF_HIGH_HZ.iter()).enumerate() {
            let w = std::f64::consts::TAU * f64::from(f) / fs;
            coef[j] = (2.0 * w.cos()) as f32;
            coef[j + 8] = coef[j];
            tail[j] = C32::expj(-w);
            to_start[j] = C32::expj(-w * (hop - 1) as f64);
            to_mid[j] = C32::expj(-w * (hop / 2) as f64 + w);
            rot[j] = C32::expj(-w * hop as f64);
        }
        let min_amp = 10f32.powf(config.min_tone_dbfs / 20.0);
        // Hops quieter than a tone 14 dB below the minimum level cannot hold a
        // detectable tone; skipping their filters is the main speed-up on speech pauses.
        let gate_amp = min_amp * 0.2;
        Ok(DtmfDetector {
            cfg: config,
            hop,
            rise,
            coef,
            tail,
            to_start,
            to_mid,
            rot,
            buf: vec![0.0; hop],
            filled: 0,
            consumed: 0,
            hop_index: 0,
            prev_rise: [C32::default(); 8],
            prev_rise_energy: 0.0,
            ring: [Window::default(); RING],
            streak: 0,
            pairs: [[C32::default(); 2]; FREQ_PAIRS as usize],
            open: None,
            pending: None,
            gate_energy: gate_amp * gate_amp * 0.5 * hop as f32,
            min_amp,
            twist_lo_sq: 10f32.powf(config.min_twist_db / 10.0),
            twist_hi_sq: 10f32.powf(config.max_twist_db / 10.0),
            // Sum of the squared Hann window over its 2*hop samples.
            hann_energy: 0.75 * hop as f32,
            floor_sum: 0.0,
            floor_count: 0,
            floor_means: [f32::INFINITY; FLOOR_BLOCKS],
            floor_next: 0,
            floor: 0.0,
        })
    }

    /// The configuration this detector runs with.
    pub fn config(&self) -> &DtmfConfig {
        &self.cfg
    }

    /// Feeds samples (any chunk size, full scale ±1.0) and appends finished key presses to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<DtmfEvent>) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.hop - self.filled).min(rest.len());
            self.buf[self.filled..self.filled + take].copy_from_slice(&rest[..take]);
            self.filled += take;
            self.consumed += take as u64;
            rest = &rest[take..];
            if self.filled == self.hop {
                self.filled = 0;
                self.process_hop(out);
            }
        }
    }

    /// Ends the stream: a tone still sounding at the end is reported (cut at the
    /// last sample), then the detector is reset so that it can start a new stream at sample 0.
    pub fn finish(&mut self, out: &mut Vec<DtmfEvent>) {
        let end = self.consumed;
        let first_new = out.len();
        // Zero hops let the last windows see the tone stop, so its end edge is found.
        let tail_hops = if self.filled > 0 { 3 } else { 2 };
        for k in 0..tail_hops {
            let from = if k == 0 { self.filled } else { 0 };
            self.buf[from..].iter_mut().for_each(|v| *v = 0.0);
            self.filled = 0;
            self.process_hop(out);
        }
        if let Some(seg) = self.open.take() {
            self.close_segment(seg, out);
        }
        if let Some(tone) = self.pending.take() {
            self.emit(tone, out);
        }
        for e in out[first_new..].iter_mut() {
            e.end = e.end.min(end);
        }
        let cfg = self.cfg;
        if let Ok(fresh) = DtmfDetector::new(cfg) {
            *self = fresh;
        }
    }

    /// Runs both filter banks over the hop in `buf`, then evaluates the window ending here.
    fn process_hop(&mut self, out: &mut Vec<DtmfEvent>) {
        let hop = self.hop;
        let banks = hop_banks(&self.buf[..hop], &self.rise, &self.coef, self.gate_energy);
        let (e_raw, e_rise, e_fall) = (banks.e_raw, banks.e_rise, banks.e_fall);
        let mut raw = [C32::default(); 8];
        let mut risen = [C32::default(); 8];
        if let Some((a, b)) = banks.halves {
            for j in 0..8 {
                let (ra, ua) = a.dft(j, self.tail[j]);
                let (rb, ub) = b.dft(j, self.tail[j]);
                raw[j] = ra.mul(self.to_mid[j]).add(rb.mul(self.to_start[j]));
                risen[j] = ua.mul(self.to_mid[j]).add(ub.mul(self.to_start[j]));
            }
        }
        let k = self.hop_index;
        self.hop_index += 1;
        let energy = self.prev_rise_energy + e_fall;
        let mut win = Window::default();
        for j in 0..8 {
            // The window's first half is the previous hop under the rising half,
            // its second half this hop under the falling half (raw minus rising).
            win.x[j] = self.prev_rise[j].add(self.rot[j].mul(raw[j].sub(risen[j])));
            // Hann: a tone of amplitude a on the bin gives |X| = a * hop / 2.
            win.amp[j] = 2.0 * win.x[j].norm_sqr().sqrt() / hop as f32;
        }
        self.prev_rise = risen;
        self.prev_rise_energy = if e_raw >= self.gate_energy {
            e_rise
        } else {
            0.0
        };
        if k == 0 {
            // No previous hop yet: the first window is half empty; keep it out of decisions.
            self.ring[0] = win;
            return;
        }
        self.evaluate(k, win, energy, out);
    }

    fn evaluate(&mut self, k: u64, mut win: Window, energy: f32, out: &mut Vec<DtmfEvent>) {
        let row = argmax4(&win.amp[..4]);
        let col = argmax4(&win.amp[4..]);
        win.row = row as u8;
        win.col = col as u8;
        let (ar, ac) = (win.amp[row], win.amp[4 + col]);
        let (pr, pc) = (ar * ar, ac * ac);
        // Hysteresis: once a digit is sounding, its windows need to pass looser
        // twist and energy-share limits, so that noise does not chop a tone up.
        let digit = (row * 4 + col) as u8;
        let (slack, share_slack) = match self.open {
            Some(seg) if seg.digit == digit => (HOLD_TWIST_SLACK, HOLD_SHARE_SLACK),
            _ => (1.0, 0.0),
        };
        let tone_energy = (pr + pc) * 0.5 * self.hann_energy;
        let share_energy = self.share_energy(energy, tone_energy);
        win.pass = ar >= self.min_amp
            && ac >= self.min_amp
            && pc * slack >= pr * self.twist_lo_sq
            && pc <= pr * self.twist_hi_sq * slack
            && tone_energy >= (self.cfg.min_tone_energy_share - share_slack) * share_energy;
        let prev = self.ring[((k - 1) % RING as u64) as usize];
        self.ring[(k % RING as u64) as usize] = win;

        let same = win.pass && prev.pass && prev.row == win.row && prev.col == win.col;
        if same {
            self.streak += 1;
        } else {
            self.streak = u32::from(win.pass);
        }
        let mut hit = None;
        if same {
            let pair = [
                win.x[row].mul_conj(prev.x[row]).mul(self.rot[row]),
                win.x[4 + col]
                    .mul_conj(prev.x[4 + col])
                    .mul(self.rot[4 + col]),
            ];
            let slot = (k % u64::from(FREQ_PAIRS)) as usize;
            self.pairs[slot] = pair;
            if self.streak >= STREAK {
                let n = (self.streak - 1).min(FREQ_PAIRS) as u64;
                let mut sum = [C32::default(); 2];
                let mut abs_sum = [0f32; 2];
                for i in 0..n {
                    let p = self.pairs[((k - i) % u64::from(FREQ_PAIRS)) as usize];
                    for t in 0..2 {
                        sum[t] = sum[t].add(p[t]);
                        abs_sum[t] += p[t].norm_sqr().sqrt();
                    }
                }
                let steady =
                    (0..2).all(|t| sum[t].norm_sqr().sqrt() >= STEADY_COHERENCE * abs_sum[t]);
                let nominal = [DTMF_LOW_HZ[row], DTMF_HIGH_HZ[col]];
                let hz_per_rad =
                    self.cfg.sample_rate as f32 / (std::f32::consts::TAU * self.hop as f32);
                let df = [0, 1].map(|t| sum[t].im.atan2(sum[t].re) * hz_per_rad / nominal[t]);
                let ok = df.iter().all(|d| d.abs() <= self.cfg.max_freq_error);
                if ok {
                    hit = Some(Hit {
                        digit,
                        power: window_power(&win),
                        share: tone_energy / share_energy.max(f32::MIN_POSITIVE),
                        pair,
                        df,
                        steady,
                    });
                }
            }
        }
        self.track(k, hit, out);
    }

    /// The energy the tone pair's share is measured against: the window's
    /// `energy` less `noise_floor_weight` times the background floor (but never
    /// more than that times the window's own residual, and never below the
    /// pair's `tone_energy`). Then feeds this window's residual to the floor
    /// tracker, so the floor used here comes from earlier blocks only.
    /// A non-finite energy stays non-finite, so such a window cannot pass.
    fn share_energy(&mut self, energy: f32, tone_energy: f32) -> f32 {
        let resid = energy - tone_energy;
        let resid = if resid.is_nan() {
            f32::INFINITY
        } else {
            resid.max(0.0)
        };
        let mut share_energy = energy - self.cfg.noise_floor_weight * self.floor.min(resid);
        if share_energy < tone_energy {
            share_energy = tone_energy;
        }
        self.floor_sum += resid;
        self.floor_count += 1;
        if self.floor_count == FLOOR_BLOCK {
            let mean = self.floor_sum / FLOOR_BLOCK as f32;
            // A block with non-finite input tells nothing about the background.
            self.floor_means[self.floor_next] = if mean.is_finite() {
                mean
            } else {
                f32::INFINITY
            };
            self.floor_next = (self.floor_next + 1) % FLOOR_BLOCKS;
            self.floor_sum = 0.0;
            self.floor_count = 0;
            let least = self
                .floor_means
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
            self.floor = if least.is_finite() { least } else { 0.0 };
        }
        share_energy
    }

    /// Segment bookkeeping for window `k` given whether it is a hit.
    fn track(&mut self, k: u64, hit: Option<Hit>, out: &mut Vec<DtmfEvent>) {
        if let Some(mut seg) = self.open.take() {
            // A segment survives a few windows without hits (short glitches), but
            // ends at once when another digit is heard.
            let goes_on = match hit {
                Some(h) if h.digit == seg.digit => {
                    seg.last = k;
                    seg.stats = seg.stats.merge(HitStats::one(&h));
                    true
                }
                Some(_) => false,
                None => k <= seg.last + EDGE_SCAN,
            };
            if goes_on {
                if seg.start.is_none() && k > seg.first + EDGE_SCAN {
                    seg.start = Some(self.start_edge(seg.digit, seg.first, k));
                }
                self.open = Some(seg);
            } else {
                self.close_segment(seg, out);
            }
        }
        if self.open.is_none() {
            if let Some(h) = hit {
                if let Some(p) = self.pending {
                    if p.digit != h.digit {
                        self.pending = None;
                        self.emit(p, out);
                    }
                }
                self.open = Some(Segment {
                    digit: h.digit,
                    first: k,
                    last: k,
                    start: None,
                    stats: HitStats::one(&h),
                });
            }
        }
        // A pending tone can no longer be bridged once any new segment would start
        // (at most EDGE_SCAN windows before its first hit) beyond the merge gap.
        if let Some(p) = self.pending {
            let earliest_new_start = (k.saturating_sub(EDGE_SCAN + 3) * self.hop as u64) as f64;
            if self.open.is_none() && earliest_new_start - p.end > self.merge_gap_samples() {
                self.pending = None;
                self.emit(p, out);
            }
        }
    }

    fn merge_gap_samples(&self) -> f64 {
        f64::from(self.cfg.merge_gap_ms) * 1e-3 * f64::from(self.cfg.sample_rate)
    }

    fn close_segment(&mut self, seg: Segment, out: &mut Vec<DtmfEvent>) {
        let now = self.hop_index - 1;
        let start = seg
            .start
            .unwrap_or_else(|| self.start_edge(seg.digit, seg.first, now));
        let end = self.end_edge(seg.digit, seg.last, now).max(start);
        let tone = Tone {
            digit: seg.digit,
            start,
            end,
            stats: seg.stats,
        };
        match self.pending.take() {
            Some(p) if p.digit == tone.digit && tone.start - p.end < self.merge_gap_samples() => {
                self.pending = Some(Tone {
                    digit: p.digit,
                    start: p.start,
                    end: tone.end.max(p.end),
                    stats: p.stats.merge(tone.stats),
                });
            }
            Some(p) => {
                self.emit(p, out);
                self.pending = Some(tone);
            }
            None => self.pending = Some(tone),
        }
    }

    fn emit(&self, tone: Tone, out: &mut Vec<DtmfEvent>) {
        let min_len = f64::from(self.cfg.min_duration_ms) * 1e-3 * f64::from(self.cfg.sample_rate);
        let st = tone.stats;
        if tone.end - tone.start < min_len
            || st.hits < MIN_HITS
            || st.share_sum < TONE_ENERGY_SHARE * st.hits as f32
            || st.steady < MIN_HITS
            || 2 * st.steady <= st.hits
            || (0..2).any(|t| st.df_max[t] - st.df_min[t] > TONE_FREQ_DRIFT)
        {
            return;
        }
        let d = tone.digit as usize;
        // Over the whole tone the frequency estimate is precise, and speech
        // that glided through the per-window tolerance shows its drift here.
        let nominal = [DTMF_LOW_HZ[d / 4], DTMF_HIGH_HZ[d % 4]];
        let hz_per_rad = self.cfg.sample_rate as f32 / (std::f32::consts::TAU * self.hop as f32);
        for (sum, hz) in st.phase_sum.iter().zip(nominal) {
            let df = sum.im.atan2(sum.re) * hz_per_rad;
            if df.abs() > TONE_FREQ_ERROR * hz {
                return;
            }
        }
        let mean_power = st.power_sum / f64::from(st.hits.max(1));
        out.push(DtmfEvent {
            digit: DTMF_KEYPAD[d / 4][d % 4],
            start: tone.start.max(0.0).round() as u64,
            end: tone.end.max(0.0).round() as u64,
            level_dbfs: (10.0 * mean_power.log10()) as f32,
        });
    }

    fn digit_amp(&self, digit: u8, k: u64) -> f32 {
        let w = &self.ring[(k % RING as u64) as usize];
        w.amp[(digit / 4) as usize] + w.amp[4 + (digit % 4) as usize]
    }

    /// Window `k` is centred on sample `k * hop` (it spans hops `k-1` and `k`).
    fn centre(&self, k: u64) -> f64 {
        (k * self.hop as u64) as f64
    }

    /// Where the tone's amplitude first reaches half its plateau, near the first hit `first`.
    fn start_edge(&self, digit: u8, first: u64, now: u64) -> f64 {
        let lo = first.saturating_sub(EDGE_SCAN + 2).max(1);
        let hi = (first + EDGE_SCAN).min(now);
        let plateau = (first..=hi)
            .map(|j| self.digit_amp(digit, j))
            .fold(0f32, f32::max);
        let half = 0.5 * plateau;
        for j in lo..=hi {
            let a = self.digit_amp(digit, j);
            if a >= half {
                if j == lo {
                    return self.centre(j) - self.hop as f64;
                }
                let b = self.digit_amp(digit, j - 1);
                let frac = f64::from((half - b) / (a - b).max(f32::MIN_POSITIVE));
                return self.centre(j - 1) + frac * self.hop as f64;
            }
        }
        self.centre(first) - self.hop as f64
    }

    /// Where the tone's amplitude last falls below half its plateau, near the last hit `last`.
    fn end_edge(&self, digit: u8, last: u64, now: u64) -> f64 {
        let lo = last.saturating_sub(EDGE_SCAN).max(1);
        let hi = (last + EDGE_SCAN + 1).min(now);
        let plateau = (lo..=last)
            .map(|j| self.digit_amp(digit, j))
            .fold(0f32, f32::max);
        let half = 0.5 * plateau;
        for j in (lo..=hi).rev() {
            let a = self.digit_amp(digit, j);
            if a >= half {
                if j == hi {
                    return self.centre(j) + self.hop as f64;
                }
                let b = self.digit_amp(digit, j + 1);
                let frac = f64::from((a - half) / (a - b).max(f32::MIN_POSITIVE));
                return self.centre(j) + frac * self.hop as f64;
            }
        }
        self.centre(last) + self.hop as f64
    }
}

/// Power of the tone pair in a window, as mean square (a²/2 per tone).
fn window_power(w: &Window) -> f64 {
    let ar = f64::from(w.amp[w.row as usize]);
    let ac = f64::from(w.amp[4 + w.col as usize]);
    0.5 * (ar * ar + ac * ac)
}

fn argmax4(v: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..4 {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{dtmf_press, silence, DtmfPress};

    fn detect(signal: &[f32], rate: u32) -> Vec<DtmfEvent> {
        let mut d = DtmfDetector::new(DtmfConfig::at_rate(rate)).unwrap();
        let mut out = Vec::new();
        d.push(signal, &mut out);
        d.finish(&mut out);
        out
    }

    #[test]
    fn one_clean_digit_is_found_with_tight_edges() {
        let mut s = silence(800);
        s.extend(dtmf_press(&DtmfPress::new('5', 0.1), 8000));
        s.extend(silence(800));
        let ev = detect(&s, 8000);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].digit, '5');
        assert!((ev[0].start as i64 - 800).abs() <= 16, "{ev:?}");
        assert!((ev[0].end as i64 - 1600).abs() <= 16, "{ev:?}");
        // -10 dBFS peak per tone: pair RMS is -10 dBFS.
        assert!((ev[0].level_dbfs + 10.0).abs() < 0.7, "{ev:?}");
    }

    #[test]
    fn bad_rate_and_config_are_errors() {
        assert_eq!(
            DtmfDetector::new(DtmfConfig::at_rate(44_100)).unwrap_err(),
            DtmfError::UnsupportedSampleRate(44_100)
        );
        let cfg = DtmfConfig {
            max_freq_error: 0.5,
            ..DtmfConfig::default()
        };
        assert!(matches!(
            DtmfDetector::new(cfg),
            Err(DtmfError::InvalidConfig {
                field: "max_freq_error",
                ..
            })
        ));
    }

    #[test]
    fn noise_floor_weight_is_range_checked() {
        for w in [-0.1, 2.1, f32::NAN] {
            let cfg = DtmfConfig {
                noise_floor_weight: w,
                ..DtmfConfig::default()
            };
            assert!(
                matches!(
                    DtmfDetector::new(cfg),
                    Err(DtmfError::InvalidConfig {
                        field: "noise_floor_weight",
                        ..
                    })
                ),
                "{w}"
            );
        }
    }

    #[test]
    fn non_finite_input_neither_panics_nor_sticks() {
        let mut s = vec![f32::NAN; 100];
        s.extend([f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30]);
        s.extend(silence(400));
        let at = s.len();
        s.extend(dtmf_press(&DtmfPress::new('#', 0.06), 8000));
        s.extend(silence(400));
        let ev = detect(&s, 8000);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].digit, '#');
        assert!((ev[0].start as i64 - at as i64).abs() <= 16, "{ev:?}");
    }

    #[test]
    fn finish_resets_for_a_new_stream() {
        let tone = dtmf_press(&DtmfPress::new('7', 0.06), 8000);
        let mut d = DtmfDetector::new(DtmfConfig::default()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        d.push(&tone, &mut a);
        d.finish(&mut a);
        d.push(&tone, &mut b);
        d.finish(&mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn detector_is_send() {
        fn is_send<T: Send>() {}
        is_send::<DtmfDetector>();
    }
}
