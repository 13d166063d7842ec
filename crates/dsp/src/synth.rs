//! Deterministic signal generation for tests, benches, fixtures and the emulator.
//!
//! Everything here is seeded and reproducible, so a generated test signal is
//! the same on every machine and every run. Levels are in dBFS, where 0 dBFS
//! is a full-scale sine's *peak* (amplitude 1.0). Noise levels are RMS dBFS.

use crate::keypad::{dtmf_frequencies, DTMF_DIGITS};

/// Converts a level in dBFS to a linear amplitude (0 dBFS = 1.0).
pub fn dbfs_to_amplitude(dbfs: f32) -> f32 {
    10f32.powf(dbfs / 20.0)
}

/// Converts a linear amplitude to dBFS; zero maps to negative infinity.
pub fn amplitude_to_dbfs(amplitude: f32) -> f32 {
    20.0 * amplitude.log10()
}

/// A small, fast, seeded pseudo-random generator (SplitMix64), so generated
/// noise needs no external crate and is identical everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal value (Box-Muller).
    pub fn next_gaussian(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Number of samples in `seconds` at `sample_rate`, rounded to the nearest sample.
pub fn samples_for(seconds: f64, sample_rate: u32) -> usize {
    (seconds * f64::from(sample_rate)).round().max(0.0) as usize
}

/// `n` samples of digital silence.
pub fn silence(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

/// A sine of `freq_hz` with peak level `level_dbfs`, starting at `phase` radians.
pub fn sine(freq_hz: f64, level_dbfs: f32, n: usize, sample_rate: u32, phase: f64) -> Vec<f32> {
    let amp = f64::from(dbfs_to_amplitude(level_dbfs));
    let w = std::f64::consts::TAU * freq_hz / f64::from(sample_rate);
    (0..n)
        .map(|i| (amp * (w * i as f64 + phase).sin()) as f32)
        .collect()
}

/// A dual tone: each component at its own peak level in dBFS.
pub fn dual_tone(
    (f1, level1): (f64, f32),
    (f2, level2): (f64, f32),
    n: usize,
    sample_rate: u32,
) -> Vec<f32> {
    let a = sine(f1, level1, n, sample_rate, 0.0);
    let b = sine(f2, level2, n, sample_rate, 0.0);
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// Parameters for one generated DTMF press.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfPress {
    /// The digit (`0`-`9`, `*`, `#`, `A`-`D`).
    pub digit: char,
    /// Duration of the tone in seconds.
    pub duration_s: f64,
    /// Peak level of *each* tone in dBFS, before twist.
    pub level_dbfs: f32,
    /// High-group level minus low-group level in dB (positive: high louder).
    pub twist_db: f32,
    /// Relative frequency error of the low tone (0.015 = +1.5%).
    pub low_offset: f64,
    /// Relative frequency error of the high tone.
    pub high_offset: f64,
}

impl DtmfPress {
    /// A clean press of `digit` for `duration_s` at -10 dBFS per tone.
    pub fn new(digit: char, duration_s: f64) -> Self {
        DtmfPress {
            digit,
            duration_s,
            level_dbfs: -10.0,
            twist_db: 0.0,
            low_offset: 0.0,
            high_offset: 0.0,
        }
    }
}

/// Renders one DTMF press. Twist is split evenly between the tones, so the
/// mean level stays at `level_dbfs`. Panics only on a non-DTMF digit, which
/// is a programming error in a test.
pub fn dtmf_press(press: &DtmfPress, sample_rate: u32) -> Vec<f32> {
    let (lo, hi) = dtmf_frequencies(press.digit)
        .unwrap_or_else(|| panic!("{:?} is not a DTMF digit", press.digit));
    let n = samples_for(press.duration_s, sample_rate);
    dual_tone(
        (
            f64::from(lo) * (1.0 + press.low_offset),
            press.level_dbfs - press.twist_db / 2.0,
        ),
        (
            f64::from(hi) * (1.0 + press.high_offset),
            press.level_dbfs + press.twist_db / 2.0,
        ),
        n,
        sample_rate,
    )
}

/// White Gaussian noise with RMS level `rms_dbfs`.
pub fn white_noise(seed: u64, rms_dbfs: f32, n: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let sigma = f64::from(dbfs_to_amplitude(rms_dbfs));
    (0..n)
        .map(|_| (rng.next_gaussian() * sigma) as f32)
        .collect()
}

/// Pink (1/f) noise with RMS level `rms_dbfs`, from Paul Kellet's filter.
pub fn pink_noise(seed: u64, rms_dbfs: f32, n: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut b = [0f64; 7];
    let mut out: Vec<f32> = (0..n)
        .map(|_| {
            let w = rng.next_gaussian();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let p = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
            b[6] = w * 0.115926;
            p as f32
        })
        .collect();
    set_rms_dbfs(&mut out, rms_dbfs);
    out
}

/// RMS level of `x` in dBFS (a full-scale sine is -3.01 dBFS RMS).
pub fn rms_dbfs(x: &[f32]) -> f32 {
    if x.is_empty() {
        return f32::NEG_INFINITY;
    }
    let e: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    (10.0 * (e / x.len() as f64).log10()) as f32
}

/// Scales `x` in place so that its RMS level is `rms_dbfs`; silence stays silence.
pub fn set_rms_dbfs(x: &mut [f32], rms_dbfs_target: f32) {
    let now = rms_dbfs(x);
    if now.is_finite() {
        let g = dbfs_to_amplitude(rms_dbfs_target - now);
        x.iter_mut().for_each(|v| *v *= g);
    }
}

/// Adds `noise` to `signal` in place, scaled so that the signal-to-noise ratio
/// is `snr_db`, with signal power measured over `signal_span` (for example
/// only the samples where speech or a tone is present). `noise` is repeated
/// if shorter than `signal`.
pub fn mix_at_snr(
    signal: &mut [f32],
    noise: &[f32],
    snr_db: f32,
    signal_span: std::ops::Range<usize>,
) {
    if noise.is_empty() {
        return;
    }
    let s_db = rms_dbfs(&signal[signal_span]);
    let n_db = rms_dbfs(noise);
    if !s_db.is_finite() || !n_db.is_finite() {
        return;
    }
    let g = dbfs_to_amplitude(s_db - snr_db - n_db);
    for (i, v) in signal.iter_mut().enumerate() {
        *v += noise[i % noise.len()] * g;
    }
}

/// Adds `src` into `dst` starting at sample `offset`, growing `dst` if needed.
pub fn overlay(dst: &mut Vec<f32>, src: &[f32], offset: usize) {
    if dst.len() < offset + src.len() {
        dst.resize(offset + src.len(), 0.0);
    }
    for (d, s) in dst[offset..].iter_mut().zip(src) {
        *d += s;
    }
}

/// `seconds` of a caller at `rate`: -55 dBFS line noise, phrases of three to
/// six syllable-like bursts of pink noise (raised-cosine envelopes, 120-250
/// ms, -22 to -14 dBFS) and a key press of 60-160 ms after each phrase. It
/// drives every stage of the analysis (levels, resampler, DTMF, speech).
pub fn caller_bursts(seed: u64, seconds: f64, rate: u32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let n = samples_for(seconds, rate);
    let mut x = white_noise(seed, -55.0, n);
    let mut at = samples_for(0.3, rate);
    while at < n {
        // A "phrase" of three to six syllables, 120-250 ms each.
        for _ in 0..3 + rng.next_u64() % 4 {
            let len = samples_for(0.12 + rng.next_f64() * 0.13, rate);
            let mut burst = pink_noise(rng.next_u64(), -22.0 + rng.next_f64() as f32 * 8.0, len);
            let half = len as f32 / 2.0;
            for (i, v) in burst.iter_mut().enumerate() {
                // A raised-cosine syllable envelope.
                let t = (i as f32 - half) / half;
                *v *= 0.5 + 0.5 * (std::f32::consts::PI * t).cos();
            }
            overlay(&mut x, &burst, at);
            at += len + samples_for(0.03 + rng.next_f64() * 0.05, rate);
        }
        at += samples_for(0.2 + rng.next_f64() * 0.3, rate);
        let digit = DTMF_DIGITS[(rng.next_u64() % 16) as usize];
        let tone = dtmf_press(&DtmfPress::new(digit, 0.06 + rng.next_f64() * 0.1), rate);
        overlay(&mut x, &tone, at);
        at += tone.len() + samples_for(0.15 + rng.next_f64() * 0.3, rate);
    }
    x.truncate(n);
    x
}

/// Converts `f32` samples to 16-bit PCM with rounding and saturation.
pub fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// A canonical 44-byte-header 16-bit PCM mono WAV file in memory.
pub fn wav_pcm16_mono(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data: Vec<u8> = to_i16(samples)
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// The `fmt ` fields of a WAV file to write with [`wav_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavSpec {
    /// Format tag: 1 PCM, 3 IEEE float, 6 A-law, 7 µ-law.
    pub format_tag: u16,
    /// Channels per frame.
    pub channels: u16,
    /// Frames per second.
    pub sample_rate: u32,
    /// Bits per stored sample.
    pub bits: u16,
    /// Write WAVE_FORMAT_EXTENSIBLE with `format_tag` as the sub-format GUID.
    pub extensible: bool,
}

impl WavSpec {
    /// Bytes per frame.
    pub fn block_align(&self) -> u16 {
        self.channels * (self.bits / 8)
    }

    /// The `fmt ` chunk body: 16 bytes for PCM and float, 18 for G.711, 40
    /// for extensible, as common writers (sox, ffmpeg) produce them.
    pub fn fmt_body(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(40);
        let tag = if self.extensible {
            0xFFFE
        } else {
            self.format_tag
        };
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&self.channels.to_le_bytes());
        f.extend_from_slice(&self.sample_rate.to_le_bytes());
        let byte_rate = self.sample_rate * u32::from(self.block_align());
        f.extend_from_slice(&byte_rate.to_le_bytes());
        f.extend_from_slice(&self.block_align().to_le_bytes());
        f.extend_from_slice(&self.bits.to_le_bytes());
        if self.extensible {
            f.extend_from_slice(&22u16.to_le_bytes());
            f.extend_from_slice(&self.bits.to_le_bytes());
            let mask: u32 = if self.channels >= 32 {
                u32::MAX
            } else {
                (1u32 << self.channels) - 1
            };
            f.extend_from_slice(&mask.to_le_bytes());
            f.extend_from_slice(&self.format_tag.to_le_bytes());
            f.extend_from_slice(&[
                0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
            ]);
        } else if matches!(self.format_tag, 6 | 7) {
            f.extend_from_slice(&0u16.to_le_bytes());
        }
        f
    }
}

/// A WAV file in memory: RIFF header, `fmt ` chunk from `spec`, then a
/// `data` chunk holding `data` (already encoded, interleaved), padded to an
/// even length as RIFF requires.
pub fn wav_file(spec: &WavSpec, data: &[u8]) -> Vec<u8> {
    let fmt = spec.fmt_body();
    let pad = data.len() % 2;
    let riff_len = 4 + 8 + fmt.len() + 8 + data.len() + pad;
    let mut out = Vec::with_capacity(8 + riff_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(riff_len as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    out.extend_from_slice(&fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + pad, 0);
    out
}

/// Encodes a 16-bit linear sample as G.711 µ-law (the classic Sun reference
/// encoder: bias 0x84, clip at 32635, bits inverted).
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(32635) + 0x84;
    let mut exponent = 7;
    while exponent > 0 && x & (0x80 << exponent) == 0 {
        exponent -= 1;
    }
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Encodes a 16-bit linear sample as G.711 A-law (the classic Sun reference
/// encoder on the 13-bit magnitude, even bits inverted).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut x = i32::from(sample) >> 3;
    let mask = if x >= 0 {
        0xD5
    } else {
        x = -x - 1;
        0x55
    };
    let mut segment = 0;
    while segment < 8 && x > (0x20 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if segment < 2 {
        (x >> 1) & 0x0F
    } else {
        (x >> segment) & 0x0F
    };
    (((segment << 4) | mantissa) ^ mask) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_levels_are_as_asked() {
        let w = white_noise(1, -40.0, 80_000);
        assert!((rms_dbfs(&w) + 40.0).abs() < 0.1);
        let p = pink_noise(2, -30.0, 80_000);
        assert!((rms_dbfs(&p) + 30.0).abs() < 0.01);
    }

    #[test]
    fn snr_mix_hits_target() {
        let mut s = sine(1000.0, -10.0, 16_000, 16_000, 0.0);
        let clean = s.clone();
        let n = white_noise(3, -20.0, 16_000);
        mix_at_snr(&mut s, &n, 10.0, 0..16_000);
        let resid: Vec<f32> = s.iter().zip(&clean).map(|(a, b)| a - b).collect();
        let snr = rms_dbfs(&clean) - rms_dbfs(&resid);
        assert!((snr - 10.0).abs() < 0.05, "snr {snr}");
    }

    #[test]
    fn wav_header_is_canonical() {
        let w = wav_pcm16_mono(&[0.0; 100], 8000);
        assert_eq!(w.len(), 244);
        assert_eq!(&w[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([w[40], w[41], w[42], w[43]]), 200);
    }
}
