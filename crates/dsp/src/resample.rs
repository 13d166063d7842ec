//! Streaming, chunk-size-invariant resampling of mono `f32` with rubato.
//!
//! [`StreamResampler`] wraps rubato's `FftFixedInOut`, a synchronous FFT
//! resampler for a fixed rational ratio with a long Blackman-Harris² sinc
//! filter. Input is gathered into fixed chunks, so the output depends only on
//! the concatenated input, never on how it was split between `push` calls.
//! The filter delay is removed: output sample `k` is the signal at input time
//! `k / out_rate`, and [`StreamResampler::finish`] flushes so that exactly
//! `round(n_in * out_rate / in_rate)` samples come out in total.

use rubato::{FftFixedInOut, Resampler};

/// Input samples per processing chunk we aim for; it also sets the filter
/// length (one chunk of taps), which gives >100 dB stopband at this size.
const TARGET_CHUNK_IN: usize = 1024;
/// Largest reduced ratio term we accept; awkward rates like 44101 Hz would
/// need one FFT per second of audio and a filter just as long.
const MAX_RATIO_TERM: usize = 48_000;

/// Why a resampler could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// A rate was 0.
    #[error("sample rate must be positive (got {in_rate} Hz -> {out_rate} Hz)")]
    ZeroRate {
        /// Input rate.
        in_rate: u32,
        /// Output rate.
        out_rate: u32,
    },
    /// The reduced ratio is too awkward for the FFT resampler.
    #[error("cannot resample {in_rate} Hz -> {out_rate} Hz: the ratio {num}:{den} is too fine")]
    AwkwardRatio {
        /// Input rate.
        in_rate: u32,
        /// Output rate.
        out_rate: u32,
        /// Reduced input term.
        num: usize,
        /// Reduced output term.
        den: usize,
    },
    /// rubato refused the configuration.
    #[error("rubato: {0}")]
    Rubato(String),
}

struct Fft {
    rs: FftFixedInOut<f32>,
    chunk_in: usize,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    /// Output samples still to drop to compensate the filter delay.
    skip: usize,
}

impl Fft {
    /// Resamples the full chunk in `pending` and empties it.
    fn run_pending(&mut self, out: &mut Vec<f32>) -> u64 {
        let n = StreamResampler::run(
            &mut self.rs,
            &self.pending,
            &mut self.out_buf,
            &mut self.skip,
            out,
        );
        self.pending.clear();
        n
    }
}

/// A streaming mono resampler from `in_rate` to `out_rate`.
pub struct StreamResampler {
    in_rate: u32,
    out_rate: u32,
    fft: Option<Fft>,
    in_total: u64,
    out_total: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("in_total", &self.in_total)
            .field("out_total", &self.out_total)
            .finish_non_exhaustive()
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl StreamResampler {
    /// A resampler from `in_rate` to `out_rate`; equal rates pass through.
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, ResampleError> {
        if in_rate == 0 || out_rate == 0 {
            return Err(ResampleError::ZeroRate { in_rate, out_rate });
        }
        let mut me = StreamResampler {
            in_rate,
            out_rate,
            fft: None,
            in_total: 0,
            out_total: 0,
        };
        if in_rate == out_rate {
            return Ok(me);
        }
        let (i, o) = (in_rate as usize, out_rate as usize);
        let g = gcd(i, o);
        let (num, den) = (i / g, o / g);
        if num > MAX_RATIO_TERM || den > MAX_RATIO_TERM {
            return Err(ResampleError::AwkwardRatio {
                in_rate,
                out_rate,
                num,
                den,
            });
        }
        let mut units = TARGET_CHUNK_IN.div_ceil(num);
        // Both FFT sizes even makes the filter delay a whole number of
        // output samples, so it can be removed exactly.
        if (units * num) % 2 == 1 || (units * den) % 2 == 1 {
            units += 1;
        }
        let rs = FftFixedInOut::<f32>::new(i, o, units * num, 1)
            .map_err(|e| ResampleError::Rubato(e.to_string()))?;
        let chunk_in = rs.input_frames_next();
        let chunk_out = rs.output_frames_max();
        me.fft = Some(Fft {
            skip: rs.output_delay(),
            rs,
            chunk_in,
            pending: Vec::with_capacity(chunk_in),
            out_buf: vec![0.0; chunk_out],
        });
        Ok(me)
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Output samples a stream of `n_in` input samples yields in total.
    pub fn output_len(&self, n_in: u64) -> u64 {
        let (i, o) = (u128::from(self.in_rate), u128::from(self.out_rate));
        ((u128::from(n_in) * o + i / 2) / i) as u64
    }

    /// Resamples `input`, appending the output samples that are ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.in_total += input.len() as u64;
        let Some(fft) = &mut self.fft else {
            out.extend_from_slice(input);
            self.out_total += input.len() as u64;
            return;
        };
        // Whole chunks are resampled straight from `input`; only a partial
        // chunk is kept in `pending`, which therefore never outgrows its
        // capacity whatever the size of `input` (no allocation in the loop).
        let mut input = input;
        if !fft.pending.is_empty() {
            let take = (fft.chunk_in - fft.pending.len()).min(input.len());
            fft.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if fft.pending.len() < fft.chunk_in {
                return;
            }
            self.out_total += fft.run_pending(out);
        }
        let mut chunks = input.chunks_exact(fft.chunk_in);
        for chunk in &mut chunks {
            self.out_total += Self::run(&mut fft.rs, chunk, &mut fft.out_buf, &mut fft.skip, out);
        }
        fft.pending.extend_from_slice(chunks.remainder());
    }

    fn run(
        rs: &mut FftFixedInOut<f32>,
        chunk: &[f32],
        out_buf: &mut [f32],
        skip: &mut usize,
        out: &mut Vec<f32>,
    ) -> u64 {
        // Buffer sizes are exactly what the resampler asked for, so rubato
        // cannot fail here; a failure would be a bug, not bad input.
        let (_, n) = rs
            .process_into_buffer(&[chunk], &mut [&mut out_buf[..]], None)
            .expect("buffers sized from the resampler's own request");
        let drop = (*skip).min(n);
        *skip -= drop;
        out.extend_from_slice(&out_buf[drop..n]);
        (n - drop) as u64
    }

    /// Flushes the filter, appending the remaining output to `out`, so that
    /// the total output is [`StreamResampler::output_len`] of the total input.
    /// The resampler is ready for a new stream afterwards.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let want = self.output_len(self.in_total);
        if let Some(fft) = &mut self.fft {
            let base = out.len();
            let mut made = 0u64;
            while self.out_total + made < want {
                fft.pending.resize(fft.chunk_in, 0.0);
                made += fft.run_pending(out);
            }
            out.truncate(base + (want - self.out_total) as usize);
            fft.rs.reset();
            fft.skip = fft.rs.output_delay();
            fft.pending.clear();
        }
        self.in_total = 0;
        self.out_total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rs: &mut StreamResampler, x: &[f32], chunk: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for c in x.chunks(chunk.max(1)) {
            rs.push(c, &mut out);
        }
        rs.finish(&mut out);
        out
    }

    #[test]
    fn output_is_independent_of_chunking() {
        let x = crate::synth::white_noise(9, -20.0, 20_000);
        for (i, o) in [(48_000, 16_000), (8_000, 16_000), (44_100, 8_000)] {
            let mut rs = StreamResampler::new(i, o).unwrap();
            let whole = run(&mut rs, &x, x.len());
            assert_eq!(whole.len() as u64, rs.output_len(x.len() as u64));
            for chunk in [1, 160, 1024, 4093] {
                assert_eq!(run(&mut rs, &x, chunk), whole, "{i}->{o} chunk {chunk}");
            }
        }
    }

    #[test]
    fn equal_rates_pass_through() {
        let x = crate::synth::white_noise(1, -20.0, 1000);
        let mut rs = StreamResampler::new(8000, 8000).unwrap();
        assert_eq!(run(&mut rs, &x, 7), x);
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(StreamResampler::new(0, 8000).is_err());
    }
}
