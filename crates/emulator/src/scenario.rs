//! The scenario format: a scripted caller read from JSON, validated and
//! prepared (WAVs loaded, generated audio made) into a timeline.
//!
//! The timer rules that decide how a recording ends live in
//! [`crate::timers`], the rendering in [`crate::render`]; their types are
//! re-exported here so `scenario::X` paths keep working.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use voxcap_dsp::synth;

use crate::faults::Faults;
use crate::timeline::{ms_to_samples, seconds_to_samples};

pub use crate::render::voice;
pub use crate::timeline::{
    Activity, Noise, NoiseKind, PreparedScenario, Segment, BEEP_MS, DEFAULT_PROMPT_MS, SAMPLE_RATE,
    STOP_TONE_MIN_MS, STOP_TONE_TAIL_MS,
};
pub use crate::timers::{Outcome, Plan, RecordParams};
pub use crate::wire::CompletionReason;

/// Longest WAV the emulator loads, in samples (10 minutes): bounds memory
/// for a hostile or mistaken scenario.
const MAX_WAV_SAMPLES: u32 = 10 * 60 * SAMPLE_RATE;

/// Longest generated step (voice or key press), in ms.
const MAX_GENERATED_MS: u32 = 10 * 60 * 1000;

/// A scripted caller, read from JSON (see the crate README).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// A short name, used by `x-voxcap-scenario: NAME`.
    pub name: Option<String>,
    /// What the caller does, for humans.
    pub description: Option<String>,
    /// Seed of every generated signal (voice, noise).
    pub seed: u64,
    /// Simulated prompt length in ms (default 1000 when a prompt is given).
    pub prompt_ms: Option<u32>,
    /// The prompt fails to play (completion `playPromptFailed`, 8511).
    pub prompt_fails: bool,
    /// The beep fails to play (completion `playBeepFailed`, 8512).
    pub beep_fails: bool,
    /// What the caller does once recording starts (after prompt and beep).
    pub steps: Vec<Step>,
    /// Hang up this many seconds after recording started.
    pub hangup_at_s: Option<f64>,
    /// Background noise over the whole recording. It never counts as speech.
    pub noise: Option<Noise>,
    /// Faults for calls using this scenario (replacing server-wide faults).
    pub faults: Option<Faults>,
}

/// One thing the caller does; steps follow each other without overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Speak a 16 kHz 16-bit mono WAV; the whole file counts as speech, so
    /// trim its edges. Relative paths are resolved against the asset root.
    Speak {
        /// The file.
        wav: PathBuf,
        /// Gain in dB applied to the file.
        #[serde(default)]
        gain_db: f32,
    },
    /// Speak with the built-in speech-like generator.
    Voice {
        /// Duration in ms.
        ms: u32,
        /// Mean fundamental frequency in Hz (default 140).
        #[serde(default = "default_pitch")]
        pitch_hz: f32,
        /// RMS level in dBFS (default -20).
        #[serde(default = "default_voice_level")]
        level_dbfs: f32,
    },
    /// Stay silent for `ms`.
    Pause {
        /// Duration in ms.
        ms: u32,
    },
    /// Stay silent for `ms`, or for the rest of the call without `ms`.
    Silence {
        /// Duration in ms; absent means until the recording ends.
        #[serde(default)]
        ms: Option<u32>,
    },
    /// Press a DTMF key.
    Press {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// Duration in ms.
        ms: u32,
        /// Level of each tone in dBFS (default -10).
        #[serde(default = "default_press_level")]
        level_dbfs: f32,
    },
    /// Hang up now.
    Hangup,
}

fn default_pitch() -> f32 {
    140.0
}
fn default_voice_level() -> f32 {
    -20.0
}
fn default_press_level() -> f32 {
    -10.0
}

/// A scenario problem, naming the scenario input and the cause.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The JSON did not parse.
    #[error("scenario {source_name}: {source}")]
    Json {
        /// Where the JSON came from.
        source_name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A file could not be read.
    #[error("scenario file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A WAV could not be decoded.
    #[error("scenario WAV {}: {source}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: hound::Error,
    },
    /// A WAV is not 16 kHz 16-bit mono PCM.
    #[error("scenario WAV {}: need 16000 Hz 16-bit mono PCM, found {found}", path.display())]
    WavFormat {
        /// The file.
        path: PathBuf,
        /// What it is.
        found: String,
    },
    /// A value is out of range.
    #[error("scenario {name}: {message}")]
    Invalid {
        /// The scenario's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl Scenario {
    /// Parses a scenario from JSON text; `source_name` names it in errors.
    pub fn from_json(text: &str, source_name: &str) -> Result<Self, ScenarioError> {
        serde_json::from_str(text).map_err(|source| ScenarioError::Json {
            source_name: source_name.to_string(),
            source,
        })
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| "(unnamed)".into())
    }

    /// Validates the script and loads its WAVs, resolving relative paths
    /// against `asset_root`.
    pub fn prepare(&self, asset_root: &Path) -> Result<PreparedScenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            name: self.label(),
            message,
        };
        if let Some(f) = &self.faults {
            f.validate().map_err(invalid)?;
        }
        if let Some(h) = self.hangup_at_s {
            if !(h.is_finite() && h >= 0.0) {
                return Err(invalid(format!("hangup_at_s must be >= 0, got {h}")));
            }
        }
        if let Some(n) = &self.noise {
            if !(n.level_dbfs.is_finite() && n.level_dbfs <= 0.0) {
                return Err(invalid(format!(
                    "noise.level_dbfs must be <= 0, got {}",
                    n.level_dbfs
                )));
            }
        }
        let mut segments = Vec::new();
        let mut cursor = 0usize;
        let mut hangup = self.hangup_at_s.map(seconds_to_samples);
        for (i, step) in self.steps.iter().enumerate() {
            let seed = self.seed.wrapping_add(i as u64 * 0x9E37_79B9);
            // Generated audio is allocated up front, so its length is bounded.
            if let Step::Voice { ms, .. } | Step::Press { ms, .. } = step {
                if *ms > MAX_GENERATED_MS {
                    return Err(invalid(format!(
                        "step {i}: ms = {ms} is over the {MAX_GENERATED_MS} ms limit of generated audio"
                    )));
                }
            }
            match step {
                Step::Speak { wav, gain_db } => {
                    let path = if wav.is_absolute() {
                        wav.clone()
                    } else {
                        asset_root.join(wav)
                    };
                    let mut audio = load_wav(&path)?;
                    let g = synth::dbfs_to_amplitude(*gain_db);
                    audio.iter_mut().for_each(|s| *s *= g);
                    let len = audio.len();
                    segments.push(Segment {
                        start: cursor,
                        end: cursor + len,
                        activity: Activity::Speech,
                        audio: Arc::new(audio),
                    });
                    cursor += len;
                }
                Step::Voice {
                    ms,
                    pitch_hz,
                    level_dbfs,
                } => {
                    if !(40.0..=500.0).contains(pitch_hz) {
                        return Err(invalid(format!(
                            "step {i}: voice pitch_hz must be 40..=500, got {pitch_hz}"
                        )));
                    }
                    let n = ms_to_samples(*ms);
                    let audio = voice(seed, n, *pitch_hz, *level_dbfs);
                    segments.push(Segment {
                        start: cursor,
                        end: cursor + n,
                        activity: Activity::Speech,
                        audio: Arc::new(audio),
                    });
                    cursor += n;
                }
                Step::Pause { ms } | Step::Silence { ms: Some(ms) } => cursor += ms_to_samples(*ms),
                Step::Silence { ms: None } => {
                    if i + 1 != self.steps.len() {
                        return Err(invalid(format!(
                            "step {i}: silence without ms must be the last step"
                        )));
                    }
                }
                Step::Press {
                    digit,
                    ms,
                    level_dbfs,
                } => {
                    let digit = digit.to_ascii_uppercase();
                    if voxcap_dsp::keypad::dtmf_frequencies(digit).is_none() {
                        return Err(invalid(format!(
                            "step {i}: {digit:?} is not a DTMF key (0-9, *, #, A-D)"
                        )));
                    }
                    let mut press = synth::DtmfPress::new(digit, f64::from(*ms) / 1000.0);
                    press.level_dbfs = *level_dbfs;
                    let audio = synth::dtmf_press(&press, SAMPLE_RATE);
                    let n = audio.len();
                    segments.push(Segment {
                        start: cursor,
                        end: cursor + n,
                        activity: Activity::Key {
                            digit,
                            duration_ms: *ms,
                        },
                        audio: Arc::new(audio),
                    });
                    cursor += n;
                }
                Step::Hangup => {
                    hangup = Some(hangup.map_or(cursor, |h| h.min(cursor)));
                    break;
                }
            }
        }
        Ok(PreparedScenario {
            segments,
            hangup,
            prompt_ms: self.prompt_ms,
            prompt_fails: self.prompt_fails,
            beep_fails: self.beep_fails,
            noise: self.noise.clone(),
            seed: self.seed,
        })
    }
}

fn load_wav(path: &Path) -> Result<Vec<f32>, ScenarioError> {
    let reader = hound::WavReader::open(path).map_err(|source| match source {
        hound::Error::IoError(source) => ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        },
        source => ScenarioError::Wav {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.sample_rate != SAMPLE_RATE
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(ScenarioError::WavFormat {
            path: path.to_path_buf(),
            found: format!(
                "{} Hz {}-bit {:?} with {} channel(s)",
                spec.sample_rate, spec.bits_per_sample, spec.sample_format, spec.channels
            ),
        });
    }
    if reader.duration() > MAX_WAV_SAMPLES {
        return Err(ScenarioError::WavFormat {
            path: path.to_path_buf(),
            found: format!(
                "{} samples, more than the 10-minute limit",
                reader.duration()
            ),
        });
    }
    reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / 32768.0))
        .collect::<Result<Vec<f32>, _>>()
        .map_err(|source| ScenarioError::Wav {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice_step(ms: u32) -> Step {
        Step::Voice {
            ms,
            pitch_hz: 140.0,
            level_dbfs: -20.0,
        }
    }

    fn press(digit: char, ms: u32) -> Step {
        Step::Press {
            digit,
            ms,
            level_dbfs: -10.0,
        }
    }

    fn check(steps: Vec<Step>, hangup_at_s: Option<f64>, want: Outcome) {
        let sc = Scenario {
            steps,
            hangup_at_s,
            ..Scenario::default()
        };
        let prepared = sc.prepare(Path::new(".")).expect("valid scenario");
        let params = RecordParams {
            initial_silence_s: 2,
            max_silence_s: 1,
            max_duration_s: 5,
            stop_tones: vec!['#'],
            ..RecordParams::default()
        };
        assert_eq!(prepared.plan(&params).outcome, want);
    }

    fn done(reason: CompletionReason, ms: u32) -> Outcome {
        Outcome::Completed {
            reason,
            recorded: ms_to_samples(ms),
        }
    }

    #[test]
    fn timer_rules() {
        use CompletionReason::*;
        check(vec![], None, done(InitialSilenceTimeout, 2000));
        check(
            vec![Step::Pause { ms: 2000 }, voice_step(500)],
            None,
            done(InitialSilenceTimeout, 2000),
        );
        check(
            vec![Step::Pause { ms: 1999 }, voice_step(500)],
            None,
            done(MaxSilenceTimeout, 3499),
        );
        check(
            vec![voice_step(1000), Step::Pause { ms: 999 }, voice_step(1000)],
            None,
            done(MaxSilenceTimeout, 3999),
        );
        check(
            vec![voice_step(8000)],
            None,
            done(MaxRecordDurationReached, 5000),
        );
        check(
            vec![voice_step(1000), press('#', 120)],
            None,
            done(StopToneDetected, 1080),
        );
        // A key not in stopTones is activity, not a stop.
        check(
            vec![voice_step(1000), press('5', 120)],
            None,
            done(MaxSilenceTimeout, 2120),
        );
        // A 30 ms blip is too short to be a stop tone (Q.24 rejects <= 23 ms,
        // the emulator needs 40 ms).
        check(
            vec![voice_step(1000), press('#', 30)],
            None,
            done(MaxSilenceTimeout, 2030),
        );
        check(
            vec![voice_step(1000)],
            Some(1.5),
            Outcome::HungUp {
                at: ms_to_samples(1500),
            },
        );
        check(
            vec![voice_step(1000), Step::Hangup],
            None,
            Outcome::HungUp {
                at: ms_to_samples(1000),
            },
        );
    }

    #[test]
    fn prompt_failure_records_nothing() {
        let sc = Scenario {
            prompt_fails: true,
            ..Scenario::default()
        };
        let plan = sc
            .prepare(Path::new("."))
            .expect("valid")
            .plan(&RecordParams::default());
        assert_eq!(plan.outcome, done(CompletionReason::PlayPromptFailed, 0));
    }

    #[test]
    fn five_second_render_is_160044_bytes() {
        let sc = Scenario {
            steps: vec![voice_step(8000)],
            ..Scenario::default()
        };
        let prepared = sc.prepare(Path::new(".")).expect("valid");
        let wav = prepared.render_wav(ms_to_samples(5000));
        assert_eq!(wav.len(), 44 + 5 * 16_000 * 2);
    }

    #[test]
    fn voice_is_deterministic_and_at_level() {
        let a = voice(3, 16_000, 140.0, -20.0);
        let b = voice(3, 16_000, 140.0, -20.0);
        assert_eq!(a, b);
        assert!((synth::rms_dbfs(&a) + 20.0).abs() < 0.1);
        assert!(a.iter().all(|v| v.abs() < 1.0));
    }

    fn arb_step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (1u32..3000).prop_map(voice_step),
            (1u32..4000).prop_map(|ms| Step::Pause { ms }),
            (
                proptest::sample::select(vec!['#', '*', '5', '1']),
                10u32..300
            )
                .prop_map(|(d, ms)| press(d, ms)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn outcomes_respect_the_timer_rules(
            steps in proptest::collection::vec(arb_step(), 0..8),
            initial in 1u32..6, max_silence in 1u32..6, max_duration in 1u32..12,
        ) {
            let sc = Scenario { steps, ..Scenario::default() };
            let prepared = sc.prepare(Path::new(".")).unwrap();
            let params = RecordParams {
                initial_silence_s: initial,
                max_silence_s: max_silence,
                max_duration_s: max_duration,
                stop_tones: vec!['#', '*'],
                ..RecordParams::default()
            };
            let Outcome::Completed { reason, recorded } = prepared.plan(&params).outcome else {
                return Err(proptest::test_runner::TestCaseError::fail("no hang-up was scripted"));
            };
            let sr = SAMPLE_RATE as usize;
            proptest::prop_assert!(recorded <= max_duration as usize * sr);
            let active_before = |t: usize| prepared.segments.iter().any(|s| s.start < t);
            match reason {
                CompletionReason::InitialSilenceTimeout => {
                    proptest::prop_assert_eq!(recorded, initial as usize * sr);
                    proptest::prop_assert!(!active_before(recorded));
                }
                CompletionReason::MaxSilenceTimeout => {
                    // The gap before `recorded` holds no activity and is exactly max silence long.
                    let gap_start = recorded - max_silence as usize * sr;
                    proptest::prop_assert!(prepared
                        .segments
                        .iter()
                        .all(|s| s.end <= gap_start || s.start >= recorded));
                    proptest::prop_assert!(prepared.segments.iter().any(|s| s.end == gap_start));
                }
                CompletionReason::StopToneDetected => {
                    let tone = prepared.segments.iter().find(|s| s.start + ms_to_samples(STOP_TONE_TAIL_MS) == recorded);
                    let is_stop_key = matches!(
                        tone.map(|s| s.activity),
                        Some(Activity::Key { digit: '#' | '*', duration_ms }) if duration_ms >= STOP_TONE_MIN_MS
                    );
                    proptest::prop_assert!(is_stop_key);
                }
                CompletionReason::MaxRecordDurationReached => {
                    proptest::prop_assert_eq!(recorded, max_duration as usize * sr);
                }
                other => proptest::prop_assert!(false, "unexpected reason {:?}", other),
            }
        }
    }

    #[test]
    fn huge_generated_steps_are_refused_not_allocated() {
        let sc = Scenario::from_json(
            r#"{"name": "huge", "steps": [{"type": "voice", "ms": 4000000000}]}"#,
            "inline",
        )
        .expect("parses");
        let err = sc.prepare(Path::new(".")).expect_err("must be refused");
        assert!(
            err.to_string().contains("huge") && err.to_string().contains("limit"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_steps_are_named() {
        for (text, needle) in [
            (r#"{"stepz": []}"#, "stepz"),
            (r#"{"steps": [{"type": "dance"}]}"#, "dance"),
            (
                r#"{"steps": [{"type": "press", "digit": "X", "ms": 100}]}"#,
                "DTMF",
            ),
            (
                r#"{"steps": [{"type": "silence"}, {"type": "pause", "ms": 1}]}"#,
                "last step",
            ),
        ] {
            let err = Scenario::from_json(text, "inline")
                .and_then(|s| s.prepare(Path::new(".")).map(|_| s))
                .expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn wav_in_another_format_is_refused_naming_the_file() {
        let path = std::env::temp_dir().join(format!("voxcap-emu-8k-{}.wav", std::process::id()));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("temp file");
        w.write_sample(0i16).expect("write");
        w.finalize().expect("finalize");
        let sc = Scenario {
            steps: vec![Step::Speak {
                wav: path.clone(),
                gain_db: 0.0,
            }],
            ..Scenario::default()
        };
        let err = sc
            .prepare(Path::new("."))
            .expect_err("8 kHz must be refused");
        let _ = std::fs::remove_file(&path);
        let text = err.to_string();
        assert!(
            text.contains("voxcap-emu-8k") && text.contains("8000 Hz"),
            "{text}"
        );
    }
}
