//! The analysis pipeline: decode, measure levels, resample to
//! [`ANALYSIS_RATE`], and feed the detectors.
//!
//! Data flows in one direction and in bounded blocks:
//! `Read` → [`WavDecoder`] (mono f32 at the file's rate) → [`LevelMeter`] →
//! [`StreamResampler`] → `on_analysis_block` (8 kHz), where the DTMF, VAD,
//! trim and verification stages plug in. Positions at the analysis rate are
//! absolute sample indices counted from the start of the file.
//!
//! [`analyze_reader`] is also the panic boundary: a panic anywhere in one
//! input's decoding or analysis (a bug, in our code or a dependency) is
//! caught there and becomes that input's [`AnalysisError::Internal`] (kind
//! `internal`), so a batch, a worker, `serve` or `record` carries on with the
//! next input. Everything built for the input is dropped with the panic, so
//! no half-updated state is reused. The default panic hook still prints the
//! panic to stderr; the result is the error.

use std::any::Any;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::decode::{
    sanitize_float, DecodeError, DecodeOptions, StreamInfo, WavDecoder, FLOAT_LIMIT,
};
use crate::dtmf::{DtmfConfig, DtmfDetector, DtmfError};
use crate::events::DtmfEvent;
use crate::levels::{LevelMeter, Levels};
use crate::quality::{Quality, QualityEvidence};
use crate::report::{DtmfSeconds, Report, ReportParts};
use crate::resample::{ResampleError, StreamResampler};
use crate::trim::{plan_trim, Trim, TrimConfig};
use crate::vad::{SpeechActivity, SpeechDetector, VadError};
use crate::verify::{
    verify_completion, AudioEvidence, RecordSettings, ReportedOutcome, VerifyTolerances,
};

/// The sample rate every detector runs at, in Hz. Telephony audio carries
/// nothing above 4 kHz, DTMF tops out at 1633 Hz, and 8 kHz keeps the
/// detectors cheap.
pub const ANALYSIS_RATE: u32 = 8000;

/// Settings for one analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisConfig {
    /// Analyse truncated inputs as far as they go and flag them, instead of failing.
    pub lenient: bool,
    /// The settings the recording was made with (stop tones and timers);
    /// Graph's defaults when unknown.
    pub settings: RecordSettings,
    /// What Graph reported about the end of the operation, if known.
    pub reported: ReportedOutcome,
    /// Tolerances of the completion check.
    pub tolerances: VerifyTolerances,
    /// Kept before the first speech onset when trimming, in ms.
    pub pad_start_ms: u32,
    /// Kept after the last speech offset when trimming, in ms. When the
    /// speech's extent followed a decay down to the noise after it
    /// ([`crate::vad::VadConfig::decay_range_db`]), the pad shrinks by the
    /// decay's length, to half at least: that decay is the soft ending the
    /// pad is there to catch.
    pub pad_end_ms: u32,
    /// Silero VAD fused into the speech detector (see [`crate::vad::neural`]);
    /// `None`: the classical detector alone.
    #[cfg(feature = "neural")]
    pub speech_model: Option<crate::vad::neural::NeuralVad>,
    /// Classify speech frames (webrtc-vad, the tone check, the model) on a
    /// worker thread beside the decode and DTMF
    /// ([`SpeechDetector::with_worker`]): the same findings, in about half
    /// the wall time on a free second core. Default true; a batch that
    /// already keeps every core busy turns it off. [`analyze_stream`]
    /// (live events) always classifies inline.
    pub speech_worker: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let trim = TrimConfig::default();
        AnalysisConfig {
            lenient: false,
            settings: RecordSettings::default(),
            reported: ReportedOutcome::default(),
            tolerances: VerifyTolerances::default(),
            pad_start_ms: trim.pad_start_ms,
            pad_end_ms: trim.pad_end_ms,
            #[cfg(feature = "neural")]
            speech_model: None,
            speech_worker: true,
        }
    }
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
    /// The DTMF detector refused its configuration (a bug, not an input problem).
    #[error(transparent)]
    Dtmf(#[from] DtmfError),
    /// The speech detector refused its configuration (a bug, not an input problem).
    #[error(transparent)]
    Vad(#[from] VadError),
    /// The analysis panicked (a bug, in our code or a dependency); the panic
    /// was caught and only this input failed.
    #[error("internal error: the analysis panicked: {message}")]
    Internal {
        /// The panic's message.
        message: String,
    },
}

impl AnalysisError {
    /// A stable snake_case name for the kind of error, for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalysisError::Decode(e) => e.kind(),
            AnalysisError::Resample(_) => "unsupported_rate",
            AnalysisError::Dtmf(_) | AnalysisError::Vad(_) | AnalysisError::Internal { .. } => {
                "internal"
            }
        }
    }
}

/// The message of a caught panic's payload: the `&str` or `String` that
/// `panic!` was given, or a placeholder for any other payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// Runs `f`, turning a panic inside it into [`AnalysisError::Internal`].
///
/// [`analyze_reader`] runs under this guard; callers that drive a
/// [`WavDecoder`] and an [`Analyzer`] themselves can use it the same way.
/// Whatever `f` captured by reference may be half-updated after a panic, so
/// it should own (or only read) its state, as `analyze_reader` does.
pub fn catch_panics<T>(f: impl FnOnce() -> Result<T, AnalysisError>) -> Result<T, AnalysisError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(AnalysisError::Internal {
            message: panic_message(&*payload),
        })
    })
}

/// A push-model analyser for one stream of mono samples at the file's rate.
///
/// It is `Send` (the speech detector's state is plain Rust since libfvad
/// was ported): it may be built on one thread and fed on another.
#[derive(Debug)]
pub struct Analyzer {
    meter: LevelMeter,
    resampler: StreamResampler,
    dtmf: DtmfDetector,
    dtmf_events: Vec<DtmfEvent>,
    vad: SpeechDetector,
    analysis_block: Vec<f32>,
    analysis_samples: u64,
}

/// Everything an [`Analyzer`] measured, before it is put into a [`Report`].
#[derive(Debug, Clone)]
pub struct Findings {
    /// Peak, RMS and clipping at the input's own rate.
    pub levels: Levels,
    /// DTMF digits, positions at [`ANALYSIS_RATE`].
    pub dtmf: Vec<DtmfEvent>,
    /// Speech segments and noise estimates, positions at [`ANALYSIS_RATE`].
    pub speech: SpeechActivity,
}

impl Analyzer {
    /// An analyser for a stream with the format `info`.
    pub fn new(info: &StreamInfo, config: &AnalysisConfig) -> Result<Self, AnalysisError> {
        Self::build(info, config, false)
    }

    /// An analyser whose speech frames are classified on a worker thread
    /// (see [`AnalysisConfig::speech_worker`]); [`Analyzer::finish`] waits
    /// for it. The live hints of [`crate::live`] need [`Analyzer::new`].
    pub fn with_speech_worker(
        info: &StreamInfo,
        config: &AnalysisConfig,
    ) -> Result<Self, AnalysisError> {
        Self::build(info, config, true)
    }

    fn build(
        info: &StreamInfo,
        config: &AnalysisConfig,
        worker: bool,
    ) -> Result<Self, AnalysisError> {
        let vad = crate::vad::VadConfig {
            sample_rate: ANALYSIS_RATE,
            #[cfg(feature = "neural")]
            neural: config.speech_model.clone(),
            ..crate::vad::VadConfig::default()
        };
        #[cfg(not(feature = "neural"))]
        let _ = config;
        Ok(Analyzer {
            meter: LevelMeter::for_codec(info.codec),
            resampler: StreamResampler::new(info.sample_rate, ANALYSIS_RATE)?,
            dtmf: DtmfDetector::new(DtmfConfig::at_rate(ANALYSIS_RATE))?,
            // Key presses are at least 28 ms with 25 ms gaps, so at most ~19
            // a second: reserved for as long as the VAD's frame record.
            dtmf_events: Vec::with_capacity(crate::vad::RESERVED_SECONDS * 20),
            vad: match worker {
                true => SpeechDetector::with_worker(vad)?,
                false => SpeechDetector::new(vad)?,
            },
            analysis_block: Vec::with_capacity(crate::decode::BLOCK_BYTES),
            analysis_samples: 0,
        })
    }

    /// Feeds one block of decoded mono samples.
    ///
    /// Samples are expected as [`WavDecoder`] yields them (finite, within
    /// ±[`FLOAT_LIMIT`]); a block from elsewhere holding NaN, infinite or
    /// larger values is sanitised first, as the decoder would have.
    pub fn push(&mut self, block: &[f32]) {
        if block.iter().any(|v| v.is_nan() || v.abs() > FLOAT_LIMIT) {
            let clean: Vec<f32> = block.iter().map(|&v| sanitize_float(v)).collect();
            return self.push_clean(&clean);
        }
        self.push_clean(block);
    }

    fn push_clean(&mut self, block: &[f32]) {
        self.meter.push(block);
        let mut buf = std::mem::take(&mut self.analysis_block);
        buf.clear();
        self.resampler.push(block, &mut buf);
        self.on_analysis_block(&buf);
        self.analysis_block = buf;
    }

    /// Ends the stream, flushing the resampler into the detectors, and
    /// returns what was found.
    pub fn finish(mut self) -> Findings {
        let mut buf = std::mem::take(&mut self.analysis_block);
        buf.clear();
        self.resampler.finish(&mut buf);
        self.on_analysis_block(&buf);
        self.dtmf.finish(&mut self.dtmf_events);
        // Key presses are not speech: the VAD decides in `finish`, so the
        // mask covers tones found anywhere in the stream.
        self.vad.mask_dtmf(&self.dtmf_events);
        Findings {
            levels: self.meter.levels(),
            dtmf: self.dtmf_events,
            speech: self.vad.finish(),
        }
    }

    /// The DTMF digits completed so far, in order, positions at
    /// [`ANALYSIS_RATE`] (a digit still sounding appears once it ends, or in
    /// [`Analyzer::finish`]'s findings).
    pub fn dtmf_events(&self) -> &[DtmfEvent] {
        &self.dtmf_events
    }

    /// The speech detector, for the live hints of `crate::live`.
    pub(crate) fn speech_detector(&self) -> &SpeechDetector {
        &self.vad
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
        self.dtmf.push(block, &mut self.dtmf_events);
        self.vad.push(block);
    }
}

/// Turns the findings for one input into its report: DTMF and speech in
/// seconds, the trim plan, the quality summary and the completion check.
pub fn build_report(
    file: String,
    info: &StreamInfo,
    findings: &Findings,
    truncated: bool,
    config: &AnalysisConfig,
) -> Report {
    let rate = ANALYSIS_RATE;
    // A decay the extent followed down to the noise is the soft ending the
    // end pad is there for: the pad shrinks by it, to a third at least.
    let decay_ms = findings.speech.extent_decay_samples * 1000 / u64::from(rate);
    let pad_end_ms = u64::from(config.pad_end_ms)
        .saturating_sub(decay_ms)
        .max(u64::from(config.pad_end_ms / 2));
    let trim_config = TrimConfig {
        sample_rate: rate,
        pad_start_ms: config.pad_start_ms,
        pad_end_ms: u32::try_from(pad_end_ms).unwrap_or(config.pad_end_ms),
        stop_tones: config.settings.stop_tones.clone(),
    };
    let total = findings.speech.total_samples;
    // The trim keeps the speech and the sound around it: the extent, which
    // holds every segment of the gates' decision (a speech model's stretch
    // of the segments is left out, so the trim is the same either way).
    let keep = match findings.speech.extent {
        Some(extent) => vec![extent],
        None => findings.speech.segments.clone(),
    };
    let trim: Trim = plan_trim(&keep, &findings.dtmf, total, &trim_config);
    let mut quality_evidence =
        QualityEvidence::from_activity(&findings.speech, &findings.dtmf, rate);
    quality_evidence.clipped_samples = findings.levels.clipped_samples;
    quality_evidence.clipped_of = findings.levels.samples;
    quality_evidence.input_truncated = truncated;
    let completion = verify_completion(
        &config.settings,
        &config.reported,
        &AudioEvidence {
            sample_rate: rate,
            total_samples: total,
            speech: &findings.speech.segments,
            dtmf: &findings.dtmf,
        },
        &config.tolerances,
    );
    let parts = ReportParts {
        truncated,
        dtmf: findings
            .dtmf
            .iter()
            .map(|e| DtmfSeconds::new(e, rate))
            .collect(),
        speech: findings.speech.seconds(rate),
        trim_span: trim,
        trim_rate: rate,
        quality: Quality::new(&quality_evidence),
        completion,
    };
    Report::new(file, info, &findings.levels, parts)
}

/// Decodes and analyses one WAV from `reader`, naming it `file` in the report.
///
/// A panic while doing so is caught and returned as
/// [`AnalysisError::Internal`] (see [`catch_panics`]).
pub fn analyze_reader<R: Read + Send + 'static>(
    file: &str,
    reader: R,
    config: &AnalysisConfig,
) -> Result<Report, AnalysisError> {
    catch_panics(|| analyze_unguarded(file, reader, config))
}

/// Analyses mono samples that arrive without a WAV header (a numpy array, a
/// decoded buffer), as if `info` had been read from a file holding them,
/// naming the input `file` in the report. The samples are fed in bounded
/// blocks, so the working buffers stay those of a file's analysis.
///
/// A panic while doing so is caught and returned as
/// [`AnalysisError::Internal`] (see [`catch_panics`]).
pub fn analyze_samples(
    file: &str,
    info: &StreamInfo,
    samples: &[f32],
    config: &AnalysisConfig,
) -> Result<Report, AnalysisError> {
    catch_panics(|| {
        let mut analyzer = Analyzer::build(info, config, config.speech_worker)?;
        for block in samples.chunks(crate::decode::BLOCK_BYTES) {
            analyzer.push(block);
        }
        let findings = analyzer.finish();
        Ok(build_report(
            file.to_string(),
            info,
            &findings,
            false,
            config,
        ))
    })
}

fn analyze_unguarded<R: Read + Send + 'static>(
    file: &str,
    reader: R,
    config: &AnalysisConfig,
) -> Result<Report, AnalysisError> {
    Ok(analyze_unguarded_stream(reader, config, None, None)?.report(file, config))
}

/// An input decoded and pushed through an [`Analyzer`]: everything but the
/// report, whose completion check may wait for what Graph reports (the
/// live analysis of a recording still being made ends before that).
#[derive(Debug, Clone)]
pub struct Analysed {
    /// The input's format.
    pub info: StreamInfo,
    /// What the analyser found.
    pub findings: Findings,
    /// The input ended early (only in lenient mode; else it is an error).
    pub truncated: bool,
}

impl Analysed {
    /// The report, naming the input `file`, checked against `config`'s
    /// settings and reported outcome ([`build_report`]).
    pub fn report(&self, file: &str, config: &AnalysisConfig) -> Report {
        build_report(
            file.to_string(),
            &self.info,
            &self.findings,
            self.truncated,
            config,
        )
    }
}

/// Decodes `reader` into an [`Analyzer`] as [`analyze_reader`] does, and
/// shows the analyser to `observe` after every decoded block (what the
/// live events of a recording still arriving are read from). With
/// `block_s`, a block holds at most that much audio (see
/// [`WavDecoder::limit_block_bytes`]); the findings are the same whatever
/// the block. Only `config.lenient` matters here; the rest is for
/// [`Analysed::report`].
///
/// A panic while doing so is caught and returned as
/// [`AnalysisError::Internal`] (see [`catch_panics`]).
pub fn analyze_stream<R: Read + Send + 'static>(
    reader: R,
    config: &AnalysisConfig,
    block_s: Option<f64>,
    observe: &mut dyn FnMut(&Analyzer),
) -> Result<Analysed, AnalysisError> {
    catch_panics(|| analyze_unguarded_stream(reader, config, block_s, Some(observe)))
}

fn analyze_unguarded_stream<R: Read + Send + 'static>(
    reader: R,
    config: &AnalysisConfig,
    block_s: Option<f64>,
    mut observe: Option<&mut dyn FnMut(&Analyzer)>,
) -> Result<Analysed, AnalysisError> {
    let options = DecodeOptions {
        lenient: config.lenient,
    };
    let mut decoder = WavDecoder::new(reader, options)?;
    if let Some(s) = block_s {
        let info = decoder.info();
        let per_s = f64::from(info.sample_rate) * f64::from(info.block_align);
        decoder.limit_block_bytes((per_s * s.max(0.0)) as usize);
    }
    // An observer reads the provisional speech frames: classified inline.
    let worker = config.speech_worker && observe.is_none();
    let mut analyzer = Analyzer::build(decoder.info(), config, worker)?;
    let mut block = Vec::with_capacity(crate::decode::BLOCK_BYTES);
    while decoder.read_block(&mut block)? > 0 {
        // The decoder's samples are finite and within ±FLOAT_LIMIT already.
        analyzer.push_clean(&block);
        if let Some(observe) = observe.as_mut() {
            observe(&analyzer);
        }
    }
    Ok(Analysed {
        info: decoder.info().clone(),
        findings: analyzer.finish(),
        truncated: decoder.truncation().is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose first read panics, as a bug deep in the decoder would.
    struct PanickingReader;

    impl Read for PanickingReader {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("injected panic in read");
        }
    }

    #[test]
    fn a_panic_inside_the_analysis_is_an_internal_error() {
        let err = analyze_reader("x.wav", PanickingReader, &AnalysisConfig::default())
            .expect_err("a panicking reader cannot give a report");
        assert_eq!(err.kind(), "internal");
        assert!(matches!(err, AnalysisError::Internal { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "internal error: the analysis panicked: injected panic in read"
        );
        let n = 7;
        let err = catch_panics::<()>(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "internal error: the analysis panicked: formatted 7"
        );
        let err = catch_panics::<()>(|| std::panic::panic_any(42u8)).unwrap_err();
        assert!(err.to_string().ends_with("a panic with a non-text payload"));
    }

    #[test]
    fn samples_without_a_header_give_the_files_report() {
        let x = crate::synth::white_noise(7, -20.0, 16_000);
        let wav = crate::synth::wav_pcm16_mono(&x, 16_000);
        let config = AnalysisConfig::default();
        let want = analyze_reader("x.wav", std::io::Cursor::new(wav.clone()), &config).unwrap();
        let (info, samples) = crate::decode::decode_all(&wav).unwrap();
        assert_eq!(
            analyze_samples("x.wav", &info, &samples, &config).unwrap(),
            want
        );
        // The decoder's conversion, applied to the raw PCM, gives the same samples.
        let mut converted = Vec::new();
        crate::decode::convert_frames(info.codec, 1, &wav[44..], &mut converted);
        assert_eq!(converted, samples);
    }

    #[test]
    fn a_streaming_header_analyses_like_the_finished_file() {
        // A recording served while it grows cannot know its length: RIFF and
        // data sizes are 0xFFFFFFFF (the pipe form); the audio then runs to
        // the end of the stream.
        let x = crate::synth::caller_bursts(5, 2.0, 16_000);
        let wav = crate::synth::wav_pcm16_mono(&x, 16_000);
        let mut streamed = wav.clone();
        streamed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        streamed[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let config = AnalysisConfig::default();
        let want = analyze_reader("x.wav", std::io::Cursor::new(wav), &config).unwrap();
        let got = analyze_reader("x.wav", std::io::Cursor::new(streamed), &config).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn huge_samples_pushed_directly_are_sanitised_not_a_panic() {
        let info = StreamInfo {
            codec: crate::decode::Codec::PcmF32Le,
            sample_rate: 44_100,
            channels: 1,
            bits: 32,
            valid_bits: 32,
            block_align: 4,
            extensible: false,
            data_len: None,
        };
        let mut an = Analyzer::new(&info, &AnalysisConfig::default()).unwrap();
        let mut block = crate::synth::sine(1000.0, -6.0, 4410, 44_100, 0.0);
        block[100] = 1e30;
        block[200] = f32::NAN;
        block[300] = -f32::MAX;
        an.push(&block);
        let f = an.finish();
        assert!(f.levels.peak_dbfs.is_finite() && f.levels.rms_dbfs.is_finite());
        assert!((f.levels.peak_dbfs - crate::levels::DBFS_CEILING).abs() < 1e-6);
    }

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
            let f = an.finish();
            assert_eq!(f.speech.total_samples, 12_000, "{rate} Hz");
        }
    }
}
