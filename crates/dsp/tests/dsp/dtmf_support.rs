//! Shared helpers for the DTMF integration tests: tone synthesis with chosen
//! phases, running the detector, and scoring a run against what was sent.

use voxcap_dsp::dtmf::{DtmfConfig, DtmfDetector};
use voxcap_dsp::events::DtmfEvent;
use voxcap_dsp::keypad::dtmf_frequencies;
use voxcap_dsp::synth::{dbfs_to_amplitude, Rng};

/// The analysis rate the pipeline feeds the detector.
pub(crate) const FS: u32 = 8000;

/// One tone pair to render.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tone {
    pub digit: char,
    pub ms: f64,
    /// Peak level of the low tone in dBFS.
    pub low_dbfs: f32,
    /// Peak level of the high tone in dBFS.
    pub high_dbfs: f32,
    pub low_offset: f64,
    pub high_offset: f64,
}

impl Tone {
    /// A press at `level` dBFS per tone, no twist, exact frequencies.
    pub(crate) fn new(digit: char, ms: f64, level: f32) -> Self {
        Tone {
            digit,
            ms,
            low_dbfs: level,
            high_dbfs: level,
            low_offset: 0.0,
            high_offset: 0.0,
        }
    }
}

/// Samples in `ms` milliseconds at `rate`.
pub(crate) fn ms_to_samples(ms: f64, rate: u32) -> usize {
    (ms * f64::from(rate) / 1000.0).round() as usize
}

/// Renders a tone with random starting phases drawn from `rng`, appending to `dst`.
/// Returns the range of samples the tone occupies.
pub(crate) fn render(
    dst: &mut Vec<f32>,
    t: &Tone,
    rate: u32,
    rng: &mut Rng,
) -> std::ops::Range<usize> {
    let (lo, hi) = dtmf_frequencies(t.digit).expect("DTMF digit");
    let n = ms_to_samples(t.ms, rate);
    let (a1, a2) = (
        f64::from(dbfs_to_amplitude(t.low_dbfs)),
        f64::from(dbfs_to_amplitude(t.high_dbfs)),
    );
    let w1 = std::f64::consts::TAU * f64::from(lo) * (1.0 + t.low_offset) / f64::from(rate);
    let w2 = std::f64::consts::TAU * f64::from(hi) * (1.0 + t.high_offset) / f64::from(rate);
    let (p1, p2) = (
        rng.next_f64() * std::f64::consts::TAU,
        rng.next_f64() * std::f64::consts::TAU,
    );
    let start = dst.len();
    dst.extend((0..n).map(|i| {
        let i = i as f64;
        (a1 * (w1 * i + p1).sin() + a2 * (w2 * i + p2).sin()) as f32
    }));
    start..dst.len()
}

/// Appends `ms` of silence.
pub(crate) fn pause(dst: &mut Vec<f32>, ms: f64, rate: u32) {
    dst.resize(dst.len() + ms_to_samples(ms, rate), 0.0);
}

/// Runs a fresh default detector at `rate` over `signal` in one push.
pub(crate) fn detect(signal: &[f32], rate: u32) -> Vec<DtmfEvent> {
    detect_chunked(signal, rate, signal.len().max(1))
}

/// Runs a fresh detector with `cfg` over `signal` in one push.
pub(crate) fn detect_with(cfg: DtmfConfig, signal: &[f32]) -> Vec<DtmfEvent> {
    let mut d = DtmfDetector::new(cfg).expect("valid config");
    let mut out = Vec::new();
    d.push(signal, &mut out);
    d.finish(&mut out);
    out
}

/// Runs a fresh default detector at `rate` over `signal` in chunks of `chunk`.
pub(crate) fn detect_chunked(signal: &[f32], rate: u32, chunk: usize) -> Vec<DtmfEvent> {
    let mut d = DtmfDetector::new(DtmfConfig::at_rate(rate)).expect("valid config");
    let mut out = Vec::new();
    for c in signal.chunks(chunk) {
        d.push(c, &mut out);
    }
    d.finish(&mut out);
    out
}

/// The digits of `events` as a string.
pub(crate) fn digits(events: &[DtmfEvent]) -> String {
    events.iter().map(|e| e.digit).collect()
}

/// A pass-matrix cell: `ok` of `n` trials behaved as the row expects.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cell {
    pub ok: u32,
    pub n: u32,
}

impl Cell {
    pub(crate) fn add(&mut self, ok: bool) {
        self.n += 1;
        self.ok += u32::from(ok);
    }
    pub(crate) fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            f64::from(self.ok) / f64::from(self.n)
        }
    }
}
