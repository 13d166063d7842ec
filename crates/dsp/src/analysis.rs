//! The analysis pipeline: decode, measure levels, resample to
//! [`ANALYSIS_RATE`], and feed the detectors.
//!
//! Data flows in one direction and in bounded blocks:
//! `Read` → [`WavDecoder`] (mono f32 at the file's rate) → [`LevelMeter`] →
//! [`StreamResampler`] → `on_analysis_block` (8 kHz), where the DTMF, VAD,
//! trim and verification stages plug in. Positions at the analysis rate are
//! absolute sample indices counted from the start of the file.

use std::io::Read;

use crate::decode::{DecodeError, DecodeOptions, StreamInfo, WavDecoder};
use crate::levels::{LevelMeter, Levels};
use crate::report::Report;
use crate::resample::{ResampleError, StreamResampler};

/// The sample rate every detector runs at, in Hz. Telephony audio carries
/// nothing above 4 kHz, DTMF tops out at 1633 Hz, and 8 kHz keeps the
/// detectors cheap.
pub const ANALYSIS_RATE: u32 = 8000;

/// Settings for one analysis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysisConfig {
    /// Analyse truncated inputs as far as they go and flag them, instead of failing.
    pub lenient: bool,
}

/// Why an input could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The input could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The input's sample rate cannot be taken to the analysis rate.
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

impl AnalysisError {
    /// A stable snake_case name for the kind of error, for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalysisError::Decode(e) => e.kind(),
            AnalysisError::Resample(_) => "unsupported_rate",
        }
    }
}

/// A push-model analyser for one stream of mono samples at the file's rate.
#[derive(Debug)]
pub struct Analyzer {
    meter: LevelMeter,
    resampler: StreamResampler,
    analysis_block: Vec<f32>,
    analysis_samples: u64,
}

impl Analyzer {
    /// An analyser for a stream with the format `info`.
    pub fn new(info: &StreamInfo, _config: &AnalysisConfig) -> Result<Self, AnalysisError> {
        Ok(Analyzer {
            meter: LevelMeter::for_codec(info.codec),
            resampler: StreamResampler::new(info.sample_rate, ANALYSIS_RATE)?,
            analysis_block: Vec::with_capacity(crate::decode::BLOCK_BYTES),
            analysis_samples: 0,
        })
    }

    /// Feeds one block of decoded mono samples.
    pub fn push(&mut self, block: &[f32]) {
        self.meter.push(block);
        let mut buf = std::mem::take(&mut self.analysis_block);
        buf.clear();
        self.resampler.push(block, &mut buf);
        self.on_analysis_block(&buf);
        self.analysis_block = buf;
    }

    /// Ends the stream (flushing the resampler into the detectors) and
    /// returns the levels measured. Call it once.
    pub fn finish(&mut self) -> Levels {
        let mut buf = std::mem::take(&mut self.analysis_block);
        buf.clear();
        self.resampler.finish(&mut buf);
        self.on_analysis_block(&buf);
        self.analysis_block = buf;
        self.meter.levels()
    }

    /// Samples delivered so far at [`ANALYSIS_RATE`].
    pub fn analysis_samples(&self) -> u64 {
        self.analysis_samples
    }

    /// Receives the signal at [`ANALYSIS_RATE`]; the first sample of `block`
    /// is at absolute index `self.analysis_samples`. The detectors of the
    /// later stages (DTMF, VAD, trim, verification) are driven from here.
    fn on_analysis_block(&mut self, block: &[f32]) {
        self.analysis_samples += block.len() as u64;
    }
}

/// Decodes and analyses one WAV from `reader`, naming it `file` in the report.
pub fn analyze_reader<R: Read + Send + 'static>(
    file: &str,
    reader: R,
    config: &AnalysisConfig,
) -> Result<Report, AnalysisError> {
    let options = DecodeOptions {
        lenient: config.lenient,
    };
    let mut decoder = WavDecoder::new(reader, options)?;
    let mut analyzer = Analyzer::new(decoder.info(), config)?;
    let mut block = Vec::with_capacity(crate::decode::BLOCK_BYTES);
    while decoder.read_block(&mut block)? > 0 {
        analyzer.push(&block);
    }
    let levels = analyzer.finish();
    Ok(Report::new(
        file.to_string(),
        decoder.info(),
        &levels,
        decoder.truncation().is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors_see_the_whole_stream_at_the_analysis_rate() {
        for rate in [8000, 16_000, 44_100, 48_000] {
            let x = crate::synth::white_noise(3, -20.0, rate as usize * 3 / 2);
            let wav = crate::synth::wav_pcm16_mono(&x, rate);
            let mut dec =
                WavDecoder::new(std::io::Cursor::new(wav), DecodeOptions::default()).unwrap();
            let mut an = Analyzer::new(dec.info(), &AnalysisConfig::default()).unwrap();
            let mut block = Vec::new();
            while dec.read_block(&mut block).unwrap() > 0 {
                an.push(&block);
            }
            an.finish();
            assert_eq!(an.analysis_samples(), 12_000, "{rate} Hz");
        }
    }
}
