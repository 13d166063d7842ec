//! The labelled speech evaluation set shared by the vad, trim and verify tests.
//!
//! Real speech comes from the committed fixtures in `testdata/speech/`
//! (espeak-ng voices and recorded words from Debian packages, 8 kHz PCM16).
//! Each fixture's truth is marked by energy alignment (see [`truth_of`]); clips
//! place fixtures at known offsets and mix noise at a known SNR, so the truth
//! of every generated clip is exact by construction.

use voxcap_dsp::events::{DtmfEvent, SpeechSegment};
use voxcap_dsp::synth::{self, DtmfPress, Rng};
use voxcap_testkit::speech;

/// The analysis rate of everything here.
pub(crate) const RATE: u32 = speech::FIXTURE_RATE;
/// Scoring frame: 10 ms.
pub(crate) const FRAME: usize = speech::TRUTH_FRAME;

/// One committed speech fixture with its truth.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    /// File name.
    pub name: String,
    /// Samples at 8 kHz.
    pub samples: Vec<f32>,
    /// Speech spans (sample ranges) by energy alignment.
    pub truth: Vec<(usize, usize)>,
}

/// Loads the committed fixtures (`testdata/speech`, sorted by name) with
/// their truth.
pub(crate) fn fixtures() -> Vec<Fixture> {
    speech::speech_fixtures()
        .into_iter()
        .map(|f| {
            let truth = truth_of(&f.samples);
            Fixture {
                name: f.file_name,
                samples: f.samples,
                truth,
            }
        })
        .collect()
}

/// The energy-aligned truth of a clean fixture ([`speech::speech_truth`]),
/// as sample ranges.
pub(crate) fn truth_of(x: &[f32]) -> Vec<(usize, usize)> {
    speech::speech_truth(x)
        .into_iter()
        .map(|s| (s.start, s.end))
        .collect()
}

/// Kinds of added noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Noise {
    /// No noise at all.
    Clean,
    /// White Gaussian.
    White,
    /// 1/f.
    Pink,
    /// Crowd babble: [`CROWD_TALKERS`] overlapping talkers (see
    /// [`crowd_babble`]), the quasi-stationary noise of NOISEX-92 "babble"
    /// and ETSI EG 202 396-1 / ITU-T P.501 babble. Part of the acceptance rows.
    Babble,
    /// Six other fixtures summed (see [`babble`]): a few distinct background
    /// voices near the caller's level. A harder, reported-only condition: no
    /// VAD can tell the caller from a near-equal talker without speaker cues.
    CompetingTalkers,
}

impl Noise {
    /// Short name for tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Noise::Clean => "clean",
            Noise::White => "white",
            Noise::Pink => "pink",
            Noise::Babble => "babble",
            Noise::CompetingTalkers => "competing-talkers",
        }
    }
}

/// A generated clip with exact truth.
#[derive(Debug, Clone)]
pub(crate) struct Clip {
    /// Descriptive name.
    pub name: String,
    /// Noise kind.
    pub noise: Noise,
    /// SNR in dB (speech power over truth samples vs noise power), if noisy.
    pub snr_db: Option<f32>,
    /// Samples at 8 kHz.
    pub samples: Vec<f32>,
    /// Speech truth spans, sorted.
    pub truth: Vec<(usize, usize)>,
    /// DTMF events placed in the clip.
    pub dtmf: Vec<DtmfEvent>,
}

/// Talkers in the crowd babble: standard babble is a crowd (NOISEX-92's was
/// recorded in a canteen of about 100 people), and from about 16 overlapping
/// voices on, single words stop standing out and the sum is quasi-stationary.
pub(crate) const CROWD_TALKERS: usize = 24;

/// Crowd babble: `talkers` voices drawn (with repetition) from the fixtures
/// not in `exclude`. Each voice is a fixture resampled by a random factor in
/// 0.88..1.12 (pitch and tempo shift together, like tape speed, so repeats of
/// one fixture are different voices), looped from a random offset, scaled to
/// equal speech power over its truth, and summed; the sum is set to -30 dBFS.
pub(crate) fn crowd_babble(
    fx: &[Fixture],
    exclude: &[usize],
    seed: u64,
    n: usize,
    talkers: usize,
) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let pool: Vec<usize> = (0..fx.len()).filter(|k| !exclude.contains(k)).collect();
    let mut out = vec![0f32; n];
    if pool.is_empty() {
        return out;
    }
    // Walk the pool in a shuffled order so every fixture is used before any
    // repeats (19 fixtures for 24 talkers: each voice once, five twice).
    let mut order = pool.clone();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    for t in 0..talkers {
        let f = &fx[order[t % order.len()]];
        let speed = 0.88 + 0.24 * rng.next_f64();
        let g = synth::dbfs_to_amplitude(-20.0 - speech_power_db(&f.samples, &f.truth));
        let len = f.samples.len();
        // Position in the fixture, in source samples; wraps around (looped).
        let mut pos = rng.next_f64() * len as f64;
        for o in out.iter_mut() {
            let i = pos as usize;
            let frac = (pos - i as f64) as f32;
            let a = f.samples[i % len];
            let b = f.samples[(i + 1) % len];
            *o += g * (a + frac * (b - a));
            pos += speed;
            if pos >= len as f64 {
                pos -= len as f64;
            }
        }
    }
    synth::set_rms_dbfs(&mut out, -30.0);
    out
}

/// Competing talkers: `talkers` fixtures other than those in `exclude`, each
/// looped from a random offset and scaled to equal speech power, summed. With
/// six this was the set's first "babble"; it is kept, under its own name, as
/// the reported-only [`Noise::CompetingTalkers`] condition.
pub(crate) fn babble(
    fx: &[Fixture],
    exclude: &[usize],
    seed: u64,
    n: usize,
    talkers: usize,
) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut out = vec![0f32; n];
    let mut used = 0;
    let mut k = (rng.next_u64() % fx.len() as u64) as usize;
    while used < talkers {
        k = (k + 1 + (rng.next_u64() % 3) as usize) % fx.len();
        if exclude.contains(&k) {
            continue;
        }
        let f = &fx[k];
        let g = synth::dbfs_to_amplitude(-20.0 - speech_power_db(&f.samples, &f.truth));
        let off = (rng.next_u64() % f.samples.len() as u64) as usize;
        for (i, o) in out.iter_mut().enumerate() {
            *o += g * f.samples[(i + off) % f.samples.len()];
        }
        used += 1;
    }
    out
}

/// Power in dBFS over the truth spans of `x`.
pub(crate) fn speech_power_db(x: &[f32], truth: &[(usize, usize)]) -> f32 {
    let (mut e, mut c) = (0f64, 0usize);
    for &(s, t) in truth {
        for &v in &x[s..t.min(x.len())] {
            e += f64::from(v) * f64::from(v);
            c += 1;
        }
    }
    (10.0 * (e / c.max(1) as f64).max(1e-15).log10()) as f32
}

/// Places fixtures `parts` (index, offset in samples, gain in dB) in a clip of
/// `len` samples; returns the samples and the shifted truth.
pub(crate) fn place(
    fx: &[Fixture],
    parts: &[(usize, usize, f32)],
    len: usize,
) -> (Vec<f32>, Vec<(usize, usize)>) {
    let mut x = vec![0f32; len];
    let mut truth = Vec::new();
    for &(k, off, gain_db) in parts {
        let g = synth::dbfs_to_amplitude(gain_db);
        let f = &fx[k];
        for (i, &v) in f.samples.iter().enumerate() {
            if off + i < len {
                x[off + i] += g * v;
            }
        }
        truth.extend(f.truth.iter().map(|&(s, e)| (s + off, (e + off).min(len))));
    }
    truth.sort();
    (x, truth)
}

/// Adds noise of `kind` at `snr_db` relative to the speech power over `truth`.
pub(crate) fn add_noise(
    fx: &[Fixture],
    x: &mut [f32],
    truth: &[(usize, usize)],
    kind: Noise,
    snr_db: f32,
    seed: u64,
    exclude: &[usize],
) {
    let n = x.len();
    let noise = match kind {
        Noise::Clean => return,
        Noise::White => synth::white_noise(seed, -30.0, n),
        Noise::Pink => synth::pink_noise(seed, -30.0, n),
        Noise::Babble => crowd_babble(fx, exclude, seed, n, CROWD_TALKERS),
        Noise::CompetingTalkers => babble(fx, exclude, seed, n, 6),
    };
    let s_db = speech_power_db(x, truth);
    let n_db = synth::rms_dbfs(&noise);
    let g = synth::dbfs_to_amplitude(s_db - snr_db - n_db);
    for (v, w) in x.iter_mut().zip(&noise) {
        *v += g * w;
    }
}

/// Seconds to samples.
pub(crate) fn secs(s: f64) -> usize {
    synth::samples_for(s, RATE)
}

/// The noisy speech set: every fixture as the first utterance, the next one
/// as the second, at random offsets and levels, in each noise at each SNR.
pub(crate) fn noisy_set(fx: &[Fixture], snrs: &[f32], noises: &[Noise]) -> Vec<Clip> {
    let mut out = Vec::new();
    for &noise in noises {
        for &snr in snrs {
            for a in 0..fx.len() {
                let b = (a + 7) % fx.len();
                let seed = (a as u64) << 16 ^ (snr as u64) << 8 ^ noise as u64;
                let mut rng = Rng::new(seed);
                let lead = secs(0.3 + 1.2 * rng.next_f64());
                let gap = secs(0.6 + 0.6 * rng.next_f64());
                let tail = secs(0.8 + 0.7 * rng.next_f64());
                let level = -12.0 * rng.next_f64() as f32;
                let off_b = lead + fx[a].samples.len() + gap;
                let len = off_b + fx[b].samples.len() + tail;
                let (mut x, truth) = place(fx, &[(a, lead, level), (b, off_b, level)], len);
                add_noise(fx, &mut x, &truth, noise, snr, seed ^ 0xABCD, &[a, b]);
                out.push(Clip {
                    name: format!("{}+{}", fx[a].name, fx[b].name),
                    noise,
                    snr_db: (noise != Noise::Clean).then_some(snr),
                    samples: x,
                    truth,
                    dtmf: Vec::new(),
                });
            }
        }
    }
    out
}

/// Renders a DTMF press into `x` at `offset` and returns its event.
pub(crate) fn put_dtmf(x: &mut Vec<f32>, press: &DtmfPress, offset: usize) -> DtmfEvent {
    let tone = synth::dtmf_press(press, RATE);
    let len = tone.len();
    let level = synth::rms_dbfs(&tone);
    synth::overlay(x, &tone, offset);
    DtmfEvent {
        digit: press.digit,
        start: offset as u64,
        end: (offset + len) as u64,
        level_dbfs: level,
    }
}

/// A simple first-difference high-pass: line hiss from white noise.
pub(crate) fn hiss(seed: u64, rms_dbfs: f32, n: usize) -> Vec<f32> {
    let w = synth::white_noise(seed, 0.0, n + 1);
    let mut h: Vec<f32> = w.windows(2).map(|p| p[1] - p[0]).collect();
    synth::set_rms_dbfs(&mut h, rms_dbfs);
    h
}

/// Mains hum: 50 Hz and odd harmonics, the fundamental at `dbfs` peak.
pub(crate) fn hum(dbfs: f32, n: usize) -> Vec<f32> {
    let mut x = synth::sine(50.0, dbfs, n, RATE, 0.0);
    for (h, rel) in [(150.0, -6.0), (250.0, -12.0), (350.0, -18.0)] {
        for (v, w) in x.iter_mut().zip(synth::sine(h, dbfs + rel, n, RATE, 0.5)) {
            *v += w;
        }
    }
    x
}

/// Clips that must contain no speech at all: (name, samples, dtmf events).
pub(crate) fn no_speech_set() -> Vec<Clip> {
    let n = secs(5.0);
    let mk = |name: &str, samples: Vec<f32>, dtmf: Vec<DtmfEvent>| Clip {
        name: name.to_string(),
        noise: Noise::Clean,
        snr_db: None,
        samples,
        truth: Vec::new(),
        dtmf,
    };
    let mut out = vec![
        mk("silence_digital", vec![0.0; n], vec![]),
        mk(
            "silence_dither_-90dBFS",
            synth::white_noise(1, -90.0, n),
            vec![],
        ),
        mk(
            "noise_white_-40dBFS",
            synth::white_noise(2, -40.0, n),
            vec![],
        ),
        mk(
            "noise_white_-20dBFS",
            synth::white_noise(3, -20.0, n),
            vec![],
        ),
        mk("noise_pink_-40dBFS", synth::pink_noise(4, -40.0, n), vec![]),
        mk("noise_pink_-25dBFS", synth::pink_noise(5, -25.0, n), vec![]),
        mk("hum_50Hz_-20dBFS", hum(-20.0, n), vec![]),
        mk("hiss_-45dBFS", hiss(6, -45.0, n), vec![]),
    ];
    // Noise that starts half-way: the floor must follow a step.
    let mut step = synth::white_noise(7, -70.0, n);
    for (v, w) in step[n / 2..]
        .iter_mut()
        .zip(synth::white_noise(8, -40.0, n))
    {
        *v += w;
    }
    out.push(mk("noise_step_-70_to_-40dBFS", step, vec![]));
    // DTMF only: a key sequence in quiet line noise, loud and weak presses.
    for (name, level) in [("dtmf_only_-6dBFS", -6.0f32), ("dtmf_only_-24dBFS", -24.0)] {
        let mut x = synth::white_noise(9, -60.0, n);
        let mut ev = Vec::new();
        for (i, d) in "159#*0".chars().enumerate() {
            let press = DtmfPress {
                level_dbfs: level,
                ..DtmfPress::new(d, 0.08 + 0.04 * i as f64)
            };
            ev.push(put_dtmf(&mut x, &press, secs(0.5 + 0.6 * i as f64)));
        }
        out.push(mk(name, x, ev));
    }
    // Graph plays a beep before recording; its tail can land in the file.
    let mut beep = synth::white_noise(10, -65.0, n);
    synth::overlay(
        &mut beep,
        &synth::sine(1000.0, -6.0, secs(0.3), RATE, 0.0),
        0,
    );
    out.push(mk("beep_1kHz_then_silence", beep, vec![]));
    // Steady tones across the band, 1.5 s between digital silence: low ones
    // have few periods per frame and once slipped past the tone gate.
    for hz in [220.0, 300.0, 440.0, 480.0, 620.0, 1000.0, 1800.0, 3000.0] {
        let mut x = vec![0.0; n];
        synth::overlay(
            &mut x,
            &synth::sine(hz, -12.0, secs(1.5), RATE, 0.3),
            secs(1.0),
        );
        out.push(mk(&format!("tone_{hz}Hz_in_silence"), x, vec![]));
    }
    // Call-progress tones (North America): dial tone steady, ringback 2 s on
    // 4 s off, busy 0.5 s on 0.5 s off; in quiet line noise.
    for (name, (a, b), on, period) in [
        ("dial_tone_350+440Hz", (350.0, 440.0), 4.5, 5.0),
        ("ringback_440+480Hz", (440.0, 480.0), 2.0, 6.0),
        ("busy_480+620Hz", (480.0, 620.0), 0.5, 1.0),
    ] {
        let mut x = synth::white_noise(11, -65.0, n);
        let mut t = 0.25;
        while t + on <= 5.0 {
            let mut burst = synth::sine(a, -19.0, secs(on), RATE, 0.0);
            for (v, w) in burst
                .iter_mut()
                .zip(synth::sine(b, -19.0, secs(on), RATE, 1.1))
            {
                *v += w;
            }
            synth::overlay(&mut x, &burst, secs(t));
            t += period;
        }
        out.push(mk(name, x, vec![]));
    }
    out
}

/// Per-10 ms frame labels: a frame is speech if spans cover at least half of it.
pub(crate) fn frame_labels(spans: &[(usize, usize)], len: usize) -> Vec<bool> {
    let frames = len.div_ceil(FRAME);
    let mut cover = vec![0usize; frames];
    for &(s, e) in spans {
        for i in s..e.min(len) {
            cover[i / FRAME] += 1;
        }
    }
    cover.iter().map(|&c| c * 2 >= FRAME).collect()
}

/// Segments as sample spans.
pub(crate) fn spans(segs: &[SpeechSegment]) -> Vec<(usize, usize)> {
    segs.iter()
        .map(|s| (s.start as usize, s.end as usize))
        .collect()
}

/// Frame confusion counts.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Score {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    pub fn_: usize,
    /// True negatives.
    pub tn: usize,
}

impl Score {
    /// Adds the frame comparison of one clip.
    pub(crate) fn add(&mut self, truth: &[bool], pred: &[bool]) {
        for (&t, &p) in truth.iter().zip(pred) {
            match (t, p) {
                (true, true) => self.tp += 1,
                (false, true) => self.fp += 1,
                (true, false) => self.fn_ += 1,
                (false, false) => self.tn += 1,
            }
        }
    }
    /// Precision.
    pub(crate) fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    /// Recall.
    pub(crate) fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    /// F1.
    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Onset errors in ms, signed (negative: detected early), see [`onset_errors_ms`].
pub(crate) fn onset_errors_signed_ms(
    truth: &[(usize, usize)],
    pred: &[(usize, usize)],
) -> Vec<Option<f64>> {
    truth
        .iter()
        .map(|&(s, e)| {
            pred.iter()
                .filter(|&&(ps, pe)| ps < e && pe > s)
                .map(|&(ps, _)| (ps as f64 - s as f64) * 1000.0 / f64::from(RATE))
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
        })
        .collect()
}

/// Onset errors in ms: for each truth span, the start of the detected segment
/// overlapping it that starts nearest; `None` when no segment overlaps it.
pub(crate) fn onset_errors_ms(
    truth: &[(usize, usize)],
    pred: &[(usize, usize)],
) -> Vec<Option<f64>> {
    truth
        .iter()
        .map(|&(s, e)| {
            pred.iter()
                .filter(|&&(ps, pe)| ps < e && pe > s)
                .map(|&(ps, _)| (ps as f64 - s as f64).abs() * 1000.0 / f64::from(RATE))
                .min_by(f64::total_cmp)
        })
        .collect()
}

/// Median of a non-empty slice.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}
