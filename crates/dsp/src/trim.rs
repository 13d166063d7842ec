//! Silence trimming: the span of a recording worth keeping, planned from the
//! speech segments and DTMF events, and a writer for the trimmed PCM16 WAV.
//!
//! The plan keeps from the first speech onset minus a pad to the last speech
//! offset plus a pad, drops a trailing stop tone and everything after it, and
//! never cuts into speech. It is reported as a span (`trim: {start_s, end_s}`)
//! so the cut is auditable and can be undone from the original file.

use crate::events::{DtmfEvent, SpeechSegment};
use serde::Serialize;
use std::io::{Seek, Write};

/// Tuning of [`plan_trim`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrimConfig {
    /// Sample rate of the segments and events (the analysis rate).
    pub sample_rate: u32,
    /// Kept before the first speech onset, in ms.
    pub pad_start_ms: u32,
    /// Kept after the last speech offset, in ms.
    pub pad_end_ms: u32,
    /// Digits that count as a stop tone. Empty: any DTMF digit after the last
    /// speech is treated as the stop tone.
    pub stop_tones: Vec<char>,
}

impl Default for TrimConfig {
    fn default() -> Self {
        TrimConfig {
            sample_rate: 8000,
            pad_start_ms: 150,
            pad_end_ms: 300,
            stop_tones: Vec::new(),
        }
    }
}

/// The span to keep, in samples at [`TrimConfig::sample_rate`], end exclusive.
/// `start == end` means nothing is worth keeping (no speech).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trim {
    /// First kept sample.
    pub start: u64,
    /// One past the last kept sample.
    pub end: u64,
}

/// [`Trim`] in seconds, as it appears in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrimSeconds {
    /// Start of the kept span, seconds from the start of the file.
    pub start_s: f64,
    /// End of the kept span, seconds from the start of the file.
    pub end_s: f64,
}

impl Trim {
    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The span in seconds, for a trim planned at `sample_rate`.
    pub fn seconds(&self, sample_rate: u32) -> TrimSeconds {
        let r = f64::from(sample_rate.max(1));
        TrimSeconds {
            start_s: self.start as f64 / r,
            end_s: self.end as f64 / r,
        }
    }

    /// The span rescaled from `from_rate` to `to_rate` (for cutting the
    /// original file), rounding outwards so no kept sample is lost, and
    /// clamped to `to_len` samples.
    pub fn rescale(&self, from_rate: u32, to_rate: u32, to_len: usize) -> std::ops::Range<usize> {
        let (f, t) = (u128::from(from_rate.max(1)), u128::from(to_rate));
        let start = (u128::from(self.start) * t / f) as usize;
        let end = (u128::from(self.end) * t).div_ceil(f) as usize;
        start.min(to_len)..end.min(to_len).max(start.min(to_len))
    }
}

/// Plans the trim of a recording of `total_samples` samples.
///
/// `segments` must be sorted (as [`crate::vad::SpeechActivity`] gives them).
/// Without speech the plan is empty. The stop tone is the first configured
/// DTMF event starting at or after the last speech offset: the plan ends at its
/// start, and the end pad is shortened to get there, but never into speech.
pub fn plan_trim(
    segments: &[SpeechSegment],
    dtmf: &[DtmfEvent],
    total_samples: u64,
    config: &TrimConfig,
) -> Trim {
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return Trim { start: 0, end: 0 };
    };
    let per_ms = |ms: u32| u64::from(ms) * u64::from(config.sample_rate) / 1000;
    let speech_start = first.start.min(total_samples);
    let speech_end = segments
        .iter()
        .map(|s| s.end)
        .max()
        .unwrap_or(last.end)
        .min(total_samples);
    let mut end = speech_end
        .saturating_add(per_ms(config.pad_end_ms))
        .min(total_samples);
    let is_stop = |d: char| {
        config.stop_tones.is_empty() || config.stop_tones.iter().any(|s| s.eq_ignore_ascii_case(&d))
    };
    if let Some(tone) = dtmf
        .iter()
        .filter(|e| e.start >= speech_end && is_stop(e.digit))
        .min_by_key(|e| e.start)
    {
        end = end.min(tone.start).max(speech_end);
    }
    Trim {
        start: speech_start.saturating_sub(per_ms(config.pad_start_ms)),
        end,
    }
}

/// Errors from [`write_trimmed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrimError {
    /// The WAV writer failed (usually an I/O error on the destination).
    #[error("writing trimmed WAV: {0}")]
    Wav(#[from] hound::Error),
    /// A sample rate of zero cannot be written.
    #[error("writing trimmed WAV: invalid sample rate {0}")]
    BadRate(u32),
}

/// Writes `samples[range]` (mono, at the input's own `sample_rate`) as a
/// PCM 16-bit WAV into `out`. The caller makes it atomic (temp file, fsync,
/// rename); a range past the end is clamped.
pub fn write_trimmed<W: Write + Seek>(
    out: W,
    samples: &[f32],
    sample_rate: u32,
    range: std::ops::Range<usize>,
) -> Result<(), TrimError> {
    let mut w = TrimWriter::new(out, sample_rate, range)?;
    w.push(samples)?;
    w.finish()
}

/// Streams the kept span of a recording into a PCM 16-bit mono WAV: push the
/// decoded samples (at the input's own rate) block by block, from the start
/// of the file, and only those inside the span are written. Memory stays
/// bounded whatever the length.
pub struct TrimWriter<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    range: std::ops::Range<usize>,
    position: usize,
}

impl<W: Write + Seek> TrimWriter<W> {
    /// A writer keeping samples `range` (absolute, at `sample_rate`).
    pub fn new(out: W, sample_rate: u32, range: std::ops::Range<usize>) -> Result<Self, TrimError> {
        if sample_rate == 0 {
            return Err(TrimError::BadRate(sample_rate));
        }
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(TrimWriter {
            writer: hound::WavWriter::new(out, spec)?,
            range,
            position: 0,
        })
    }

    /// Feeds the next block of samples.
    pub fn push(&mut self, block: &[f32]) -> Result<(), TrimError> {
        let block_start = self.position;
        self.position += block.len();
        let from = self.range.start.max(block_start);
        let to = self.range.end.min(self.position);
        for &s in block
            .get(from.saturating_sub(block_start)..to.saturating_sub(block_start))
            .unwrap_or(&[])
        {
            self.writer
                .write_sample((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)?;
        }
        Ok(())
    }

    /// Completes the WAV header.
    pub fn finish(self) -> Result<(), TrimError> {
        self.writer.finalize()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: u64, end: u64) -> SpeechSegment {
        SpeechSegment { start, end }
    }

    fn tone(digit: char, start: u64, end: u64) -> DtmfEvent {
        DtmfEvent {
            digit,
            start,
            end,
            level_dbfs: -10.0,
        }
    }

    #[test]
    fn streaming_writer_matches_whole_slice_writer() {
        let x = crate::synth::white_noise(9, -20.0, 5000);
        let mut whole = std::io::Cursor::new(Vec::new());
        write_trimmed(&mut whole, &x, 8000, 1234..4321).unwrap();
        for chunk in [1, 7, 1000, 5000] {
            let mut streamed = std::io::Cursor::new(Vec::new());
            let mut w = TrimWriter::new(&mut streamed, 8000, 1234..4321).unwrap();
            for c in x.chunks(chunk) {
                w.push(c).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(streamed.get_ref(), whole.get_ref(), "chunk {chunk}");
        }
        assert_eq!(whole.get_ref().len(), 44 + 2 * (4321 - 1234));
    }

    #[test]
    fn pads_and_clamps() {
        let c = TrimConfig::default();
        let t = plan_trim(&[seg(8000, 16000), seg(20000, 24000)], &[], 40000, &c);
        assert_eq!(
            t,
            Trim {
                start: 8000 - 1200,
                end: 24000 + 2400
            }
        );
        let t = plan_trim(&[seg(400, 39000)], &[], 40000, &c);
        assert_eq!(
            t,
            Trim {
                start: 0,
                end: 40000
            }
        );
        assert!(plan_trim(&[], &[], 40000, &c).is_empty());
    }

    #[test]
    fn stop_tone_and_after_are_dropped_but_never_speech() {
        let c = TrimConfig {
            stop_tones: vec!['#'],
            ..TrimConfig::default()
        };
        // Tone 100 ms after speech: end pad shortened to the tone start.
        let t = plan_trim(&[seg(8000, 16000)], &[tone('#', 16800, 17600)], 30000, &c);
        assert_eq!(t.end, 16800);
        // A non-stop digit does not cut.
        let t = plan_trim(&[seg(8000, 16000)], &[tone('5', 16800, 17600)], 30000, &c);
        assert_eq!(t.end, 16000 + 2400);
        // A tone before the last speech is not the trailing stop tone.
        let t = plan_trim(&[seg(8000, 16000)], &[tone('#', 4000, 4800)], 30000, &c);
        assert_eq!(t.end, 18400);
    }

    #[test]
    fn rescale_rounds_outwards() {
        let t = Trim {
            start: 801,
            end: 1601,
        };
        assert_eq!(t.rescale(8000, 16000, 100_000), 1602..3202);
        assert_eq!(t.rescale(8000, 44100, 100_000), 4415..8826);
        assert_eq!(t.rescale(8000, 16000, 3000), 1602..3000);
        assert_eq!(t.seconds(8000).start_s, 801.0 / 8000.0);
    }

    #[test]
    fn writes_pcm16_wav() {
        let samples: Vec<f32> = (0..1000).map(|i| (i as f32 / 1000.0) - 0.5).collect();
        let mut buf = std::io::Cursor::new(Vec::new());
        write_trimmed(&mut buf, &samples, 16000, 100..300).unwrap();
        let bytes = buf.into_inner();
        let r = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(r.spec().sample_rate, 16000);
        assert_eq!(r.len(), 200);
        assert!(write_trimmed(std::io::Cursor::new(Vec::new()), &samples, 0, 0..1).is_err());
    }
}
