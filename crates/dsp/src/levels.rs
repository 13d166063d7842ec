//! Streaming level measurement: peak and RMS in dBFS and clipped samples.
//!
//! Levels use the same convention as [`crate::synth`]: 0 dBFS is a full-scale
//! sine's peak (amplitude 1.0), so a full-scale sine reads 0 dBFS peak and
//! -3.01 dBFS RMS. Digital silence has no finite level in dB; it is reported
//! as [`DBFS_FLOOR`] so that JSON output stays valid. Levels are always
//! finite: they lie in [`DBFS_FLOOR`]..=[`DBFS_CEILING`], the level of the
//! largest sample the decoder yields (see [`crate::decode::FLOAT_LIMIT`]);
//! a meter fed NaN, infinite or larger values by a direct caller reports
//! within the same range instead of `NaN` or `inf` (which JSON shows as
//! `null`).

use crate::decode::Codec;

/// The level reported for digital silence (and never exceeded downwards):
/// -200 dBFS, far below the -150 dBFS noise floor of 24-bit audio.
pub const DBFS_FLOOR: f64 = -200.0;

/// The highest level reported: 20·log10([`crate::decode::FLOAT_LIMIT`]),
/// +24.08 dBFS, the level of the largest float sample the decoder keeps.
pub const DBFS_CEILING: f64 = 24.082_399_653_118_497;

/// The magnitude at or above which a sample counts as clipped, for `codec`.
///
/// For integer and G.711 encodings it is the largest positive code's value
/// (32767/32768 for 16-bit, 127/128 for 8-bit, 32124/32768 for µ-law,
/// 32256/32768 for A-law): a sample that reached either end of the code
/// range is counted. For float encodings it is 1.0 (full scale).
pub fn clip_threshold(codec: Codec) -> f32 {
    match codec {
        Codec::PcmU8 => 127.0 / 128.0,
        Codec::PcmS16Le => 32767.0 / 32768.0,
        Codec::PcmS24Le => 8_388_607.0 / 8_388_608.0,
        // f32 has 24 bits of mantissa, so the largest 32-bit code decodes to
        // exactly 1.0 and so do codes within 2^-24 of it.
        Codec::PcmS32Le => 1.0,
        Codec::MuLaw => 32124.0 / 32768.0,
        Codec::ALaw => 32256.0 / 32768.0,
        _ => 1.0,
    }
}

/// Converts a linear amplitude to dBFS, with [`DBFS_FLOOR`] for silence.
/// The result is always finite: it is clamped to
/// [`DBFS_FLOOR`]..=[`DBFS_CEILING`] (+inf gives the ceiling, NaN the floor).
pub fn amplitude_dbfs(amplitude: f64) -> f64 {
    if amplitude > 0.0 {
        (20.0 * amplitude.log10()).clamp(DBFS_FLOOR, DBFS_CEILING)
    } else {
        DBFS_FLOOR
    }
}

/// Summary levels of a signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Largest magnitude in dBFS.
    pub peak_dbfs: f64,
    /// RMS level in dBFS.
    pub rms_dbfs: f64,
    /// Samples whose magnitude reached the clip threshold.
    pub clipped_samples: u64,
    /// Samples measured.
    pub samples: u64,
}

/// A streaming level meter over mono samples.
///
/// Clipping is counted on the mono downmix the decoder yields; for a
/// multichannel file a frame therefore counts as clipped only when the
/// average of its channels reaches the threshold.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    threshold: f32,
    peak: f32,
    sum_squares: f64,
    samples: u64,
    clipped: u64,
}

impl LevelMeter {
    /// A meter that counts samples with magnitude `>= clip_threshold` as clipped.
    pub fn new(clip_threshold: f32) -> Self {
        LevelMeter {
            threshold: clip_threshold,
            peak: 0.0,
            sum_squares: 0.0,
            samples: 0,
            clipped: 0,
        }
    }

    /// A meter with the clip threshold of `codec` (see [`clip_threshold`]).
    pub fn for_codec(codec: Codec) -> Self {
        Self::new(clip_threshold(codec))
    }

    /// Measures one block.
    pub fn push(&mut self, block: &[f32]) {
        // Eight lanes side by side (peak, clip count, squares), so the loop
        // runs in vector registers instead of one serial add per sample.
        // Each 8-sample chunk's squares are summed in f32 and accumulated in
        // f64, which is both fast and accurate for hours of audio.
        let threshold = self.threshold;
        let mut peaks = [0f32; 8];
        let mut clips = [0u32; 8];
        let mut sum = 0f64;
        let mut chunks = block.chunks_exact(8);
        for chunk in &mut chunks {
            let mut sq = [0f32; 8];
            for i in 0..8 {
                let v = chunk[i];
                let a = v.abs();
                peaks[i] = peaks[i].max(a);
                clips[i] += u32::from(a >= threshold);
                sq[i] = v * v;
            }
            let s = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));
            sum += f64::from(s);
        }
        let mut tail = 0f32;
        for &v in chunks.remainder() {
            let a = v.abs();
            peaks[0] = peaks[0].max(a);
            clips[0] += u32::from(a >= threshold);
            tail += v * v;
        }
        sum += f64::from(tail);
        let peak = peaks.iter().fold(self.peak, |p, &v| p.max(v));
        let clipped: u64 = clips.iter().map(|&c| u64::from(c)).sum();
        self.peak = peak;
        self.clipped += clipped;
        self.sum_squares += sum;
        self.samples += block.len() as u64;
    }

    /// The levels measured so far, always finite (see [`amplitude_dbfs`]).
    pub fn levels(&self) -> Levels {
        let rms = if self.samples == 0 {
            0.0
        } else {
            (self.sum_squares / self.samples as f64).sqrt()
        };
        // A NaN sum (a direct caller pushed NaN) is no level at all; an
        // infinite one (a sum of huge squares) is as loud as it gets.
        let rms = if rms.is_nan() { 0.0 } else { rms };
        Levels {
            peak_dbfs: amplitude_dbfs(f64::from(self.peak)),
            rms_dbfs: amplitude_dbfs(rms),
            clipped_samples: self.clipped,
            samples: self.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_sine_reads_0_and_minus_3() {
        let s = crate::synth::sine(1000.0, 0.0, 48_000, 48_000, 0.25);
        let mut m = LevelMeter::new(1.0);
        for c in s.chunks(777) {
            m.push(c);
        }
        let l = m.levels();
        assert!(l.peak_dbfs.abs() < 0.01, "{l:?}");
        assert!((l.rms_dbfs + 3.0103).abs() < 0.01, "{l:?}");
    }

    #[test]
    fn levels_stay_finite_whatever_is_pushed() {
        let ceiling = 20.0 * f64::from(crate::decode::FLOAT_LIMIT).log10();
        assert!((DBFS_CEILING - ceiling).abs() < 1e-9, "{ceiling}");
        for block in [
            vec![1e30f32],
            vec![f32::MAX, -f32::MAX],
            vec![f32::INFINITY, 0.5],
            vec![f32::NAN],
            vec![f32::NAN, 1e20],
            vec![crate::decode::FLOAT_LIMIT; 1000],
        ] {
            let mut m = LevelMeter::for_codec(Codec::PcmF32Le);
            m.push(&block);
            let l = m.levels();
            for v in [l.peak_dbfs, l.rms_dbfs] {
                assert!(
                    v.is_finite() && (DBFS_FLOOR..=DBFS_CEILING).contains(&v),
                    "{block:?}: {l:?}"
                );
            }
        }
        assert_eq!(amplitude_dbfs(f64::INFINITY), DBFS_CEILING);
        assert_eq!(amplitude_dbfs(f64::NAN), DBFS_FLOOR);
    }

    #[test]
    fn silence_is_the_floor_and_clips_are_counted() {
        let mut m = LevelMeter::for_codec(Codec::PcmS16Le);
        m.push(&[0.0; 100]);
        assert_eq!(m.levels().peak_dbfs, DBFS_FLOOR);
        assert_eq!(m.levels().rms_dbfs, DBFS_FLOOR);
        m.push(&[32767.0 / 32768.0, -1.0, 32766.0 / 32768.0]);
        assert_eq!(m.levels().clipped_samples, 2);
    }
}
