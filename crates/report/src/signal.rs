//! Decodes a recording again, at the analysis rate, into what its figure
//! draws: a min/max envelope per pixel column and a spectrogram 0-4 kHz.
//!
//! Streaming with memory bounded by constants: one decoder block, one
//! resampler, [`ENVELOPE_COLUMNS`] pairs and at most
//! [`SPECTROGRAM_COLUMNS`] x [`BINS`] bytes, whatever the length.

use std::fs::File;
use std::path::Path;

use realfft::RealFftPlanner;
use voxcap_dsp::resample::StreamResampler;
use voxcap_dsp::{DecodeOptions, WavDecoder, ANALYSIS_RATE};

use crate::ReportError;

/// Columns of the waveform envelope.
pub(crate) const ENVELOPE_COLUMNS: usize = 600;
/// FFT length at 8 kHz: 32 ms, 31.25 Hz per bin.
const FFT_LEN: usize = 256;
/// Frequency rows of the spectrogram (0 Hz to just under 4 kHz).
pub(crate) const BINS: usize = FFT_LEN / 2;
/// Most spectrogram columns (one per 10 ms hop for clips up to 4 s).
pub(crate) const SPECTROGRAM_COLUMNS: usize = 400;
/// The spectrogram's colour scale, in dBFS of a full-scale sine.
const DB_LOW: f32 = -95.0;
const DB_HIGH: f32 = -15.0;

/// What the figure of one recording is drawn from.
#[derive(Debug, Clone)]
pub(crate) struct Picture {
    /// Lowest sample per envelope column (-1..1).
    pub(crate) env_min: Vec<f32>,
    /// Highest sample per envelope column.
    pub(crate) env_max: Vec<f32>,
    /// Spectrogram columns.
    pub(crate) spec_columns: usize,
    /// Intensity 0-255, column-major: `spec[c * BINS + bin]`.
    pub(crate) spec: Vec<u8>,
}

/// Decodes `path` (whose analysis found `duration_s`) into a [`Picture`].
pub(crate) fn picture(path: &Path, duration_s: f64, lenient: bool) -> Result<Picture, ReportError> {
    let decode_err = |e: &dyn std::fmt::Display| ReportError::Audio {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|e| decode_err(&e))?;
    let mut decoder =
        WavDecoder::new(file, DecodeOptions { lenient }).map_err(|e| decode_err(&e))?;
    let mut resampler = StreamResampler::new(decoder.info().sample_rate, ANALYSIS_RATE)
        .map_err(|e| decode_err(&e))?;
    // Columns are laid out from the analysed duration; samples past it fall into the last column.
    let expected = ((duration_s.max(0.0) * f64::from(ANALYSIS_RATE)).round() as u64).max(1);
    let spec_columns = ((expected / 80) as usize).clamp(1, SPECTROGRAM_COLUMNS);
    let mut acc = Accumulator::new(expected, spec_columns);
    let mut block = Vec::new();
    let mut out = Vec::new();
    while decoder.read_block(&mut block).map_err(|e| decode_err(&e))? > 0 {
        out.clear();
        resampler.push(&block, &mut out);
        acc.feed(&out);
    }
    out.clear();
    resampler.finish(&mut out);
    acc.feed(&out);
    Ok(acc.finish())
}

/// The streaming state of [`picture`].
struct Accumulator {
    expected: u64,
    k: u64,
    env_min: Vec<f32>,
    env_max: Vec<f32>,
    ring: [f32; FFT_LEN],
    spec_columns: usize,
    next_column: usize,
    spec: Vec<u8>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
}

impl Accumulator {
    fn new(expected: u64, spec_columns: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        let window = (0..FFT_LEN)
            .map(|i| {
                let x = std::f32::consts::TAU * i as f32 / FFT_LEN as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        Accumulator {
            expected,
            k: 0,
            env_min: vec![0.0; ENVELOPE_COLUMNS],
            env_max: vec![0.0; ENVELOPE_COLUMNS],
            ring: [0.0; FFT_LEN],
            spec_columns,
            next_column: 0,
            spec: vec![0; spec_columns * BINS],
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            fft,
            window,
        }
    }

    fn feed(&mut self, samples: &[f32]) {
        for &s in samples {
            let col = ((self.k * ENVELOPE_COLUMNS as u64 / self.expected) as usize)
                .min(ENVELOPE_COLUMNS - 1);
            self.env_min[col] = self.env_min[col].min(s);
            self.env_max[col] = self.env_max[col].max(s);
            self.ring[(self.k % FFT_LEN as u64) as usize] = s;
            self.k += 1;
            // A column is measured over the FFT_LEN samples ending at its end.
            while self.next_column < self.spec_columns
                && self.k
                    >= (self.next_column as u64 + 1) * self.expected / self.spec_columns as u64
            {
                self.column();
            }
        }
    }

    fn column(&mut self) {
        let start = (self.k % FFT_LEN as u64) as usize;
        for i in 0..FFT_LEN {
            self.frame[i] = self.ring[(start + i) % FFT_LEN] * self.window[i];
        }
        // The FFT length matches the buffers it made, so this cannot fail.
        if self
            .fft
            .process(&mut self.frame, &mut self.spectrum)
            .is_ok()
        {
            // A full-scale sine gives |X| = FFT_LEN / 4 under a Hann window.
            let full_scale = (FFT_LEN as f32 / 4.0).powi(2);
            let row = &mut self.spec[self.next_column * BINS..][..BINS];
            for (b, cell) in row.iter_mut().enumerate() {
                let db = 10.0 * (self.spectrum[b].norm_sqr() / full_scale + 1e-14).log10();
                let t = ((db - DB_LOW) / (DB_HIGH - DB_LOW)).clamp(0.0, 1.0);
                *cell = (t * 255.0).round() as u8;
            }
        }
        self.next_column += 1;
    }

    fn finish(mut self) -> Picture {
        while self.next_column < self.spec_columns {
            self.column();
        }
        Picture {
            env_min: self.env_min,
            env_max: self.env_max,
            spec_columns: self.spec_columns,
            spec: self.spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_lights_its_own_bin_and_fills_the_envelope() {
        let mut acc = Accumulator::new(8000, 100);
        let tone: Vec<f32> = (0..8000)
            .map(|i| 0.05 * (std::f32::consts::TAU * 1000.0 * i as f32 / 8000.0).sin())
            .collect();
        acc.feed(&tone);
        let p = acc.finish();
        assert!(p.env_max.iter().all(|&v| v > 0.045));
        assert!(p.env_min.iter().all(|&v| v < -0.045));
        let col = &p.spec[50 * BINS..51 * BINS];
        let peak = (0..BINS).max_by_key(|&b| col[b]).unwrap_or(0);
        assert_eq!(peak, 32, "1 kHz is bin 32 of 31.25 Hz");
        assert!(col[100] < col[32] / 2);
    }
}
