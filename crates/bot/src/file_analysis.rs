//! One input of `voxcap analyze` (and of a queue worker's job), analysed
//! as a file: opened once, hashed as it is read (the `sha256` and `bytes`
//! of the output), decrypted on the fly when it is an age file and an
//! identity is given (plaintext only in memory), and, when asked, its
//! trimmed copy written.
//!
//! For the tests that show that a panic stays one input's error, two
//! environment variables inject faults: `VOXCAP_TEST_PANIC_READ` (a file
//! name: reading it panics inside the analysis) and `VOXCAP_TEST_PANIC_JOB`
//! (a file name: its job panics outside it).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use voxcap_batch::{Failure, Input};
use voxcap_dsp::verify::{check_timer_s, parse_stop_tones, RecordSettings, ReportedOutcome};
use voxcap_dsp::{analyze_reader, AnalysisConfig, AnalysisError, Report};
use voxcap_queue::{Job, JobFailure, JobOptions};
use voxcap_records::crypt::{is_encrypted, Identities};
use voxcap_records::digest::{FileDigest, HashingReader, ReadAhead};

use crate::stewardship::KeepingReader;
use crate::trim_out;

/// An analysed input: the report and the input's hash as read.
#[derive(Debug, Clone)]
pub struct AnalysedFile {
    /// The analysis.
    pub report: Report,
    /// SHA-256 and size of the input (for an encrypted file, of the file
    /// as stored).
    pub input: FileDigest,
}

/// Analyses one batch input; returns its display name and result.
/// `trim_out` writes the trimmed copy into that directory; `identities`
/// decrypt `.age` inputs.
pub fn analyze_input(
    input: Input,
    config: &AnalysisConfig,
    trim_out: Option<&Path>,
    identities: Option<&Identities>,
) -> (String, Result<AnalysedFile, Failure>) {
    match input {
        Input::Stdin if trim_out.is_some() => {
            // The trimmed copy needs a second pass, so keep stdin on disk
            // (bounded memory) rather than in RAM.
            let name = "-".to_string();
            let spooled = tempfile::NamedTempFile::new()
                .and_then(|mut t| io::copy(&mut io::stdin().lock(), &mut t).map(|_| t));
            let r = match spooled {
                Ok(t) => analyze_path(&name, t.path(), Path::new("stdin"), config, trim_out, None),
                Err(e) => Err(Failure::io(&e)),
            };
            (name, r)
        }
        Input::Stdin => {
            let name = "-".to_string();
            let reader = HashingReader::new(io::stdin());
            let digest = reader.handle();
            let r = analyze_reader(&name, reader, config)
                .map(|report| AnalysedFile {
                    report,
                    input: digest.current(),
                })
                .map_err(analysis_failure);
            (name, r)
        }
        Input::File(path) => {
            let name = path.display().to_string();
            if injected_fault("VOXCAP_TEST_PANIC_JOB", &name) {
                panic!("injected panic in the job for {name}");
            }
            let r = analyze_path(&name, &path, &path, config, trim_out, identities);
            (name, r)
        }
        Input::Unreadable(path, e) => (path.display().to_string(), Err(Failure::io(&e))),
    }
}

/// Analyses the file at `path` and, with `trim_out`, writes its trimmed copy
/// named after `label`.
pub fn analyze_path(
    name: &str,
    path: &Path,
    label: &Path,
    config: &AnalysisConfig,
    trim_out: Option<&Path>,
    identities: Option<&Identities>,
) -> Result<AnalysedFile, Failure> {
    let file = File::open(path).map_err(|e| Failure::io(&e))?;
    let hashed = HashingReader::new(file);
    let digest = hashed.handle();
    // Reading and hashing run on a thread of their own, beside the
    // decoding and the detectors (the hash is read after `shared.finish()`
    // has read to the end).
    let ahead = ReadAhead::new(hashed).map_err(|e| Failure::io(&e))?;
    // Shared, so that what the analysis leaves unread (chunks after the
    // data) is hashed from the same handle: the input may be a pipe.
    let shared = KeepingReader::new(ahead, false);
    let file = FaultReader {
        inner: shared.clone(),
        panic: injected_fault("VOXCAP_TEST_PANIC_READ", name),
    };
    let report = match (is_encrypted(path), identities) {
        (true, Some(ids)) => {
            let plain = ids.decrypt(file, path).map_err(|e| Failure {
                kind: "decrypt",
                message: e.to_string(),
            })?;
            analyze_reader(name, SendReader(Box::new(plain)), config)
        }
        _ => analyze_reader(name, file, config),
    }
    .map_err(analysis_failure)?;
    shared.finish();
    let input = digest.current();
    if let Some(dir) = trim_out {
        if is_encrypted(path) {
            return Err(Failure {
                kind: "trim_out",
                message: format!(
                    "{name}: a trimmed copy of an encrypted recording would be plaintext on disk; not written"
                ),
            });
        }
        let dest = trim_out::trimmed_path(dir, label);
        trim_out::write_trimmed_file(path, report.trim_span, &dest, config.lenient).map_err(
            |e| Failure {
                kind: "trim_out",
                message: format!("{e:#}"),
            },
        )?;
    }
    Ok(AnalysedFile { report, input })
}

/// age's stream reader as the analysis's `Read + Send` source.
struct SendReader(Box<dyn Read + Send>);

impl Read for SendReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Whether the test-only fault `var` names the input `name`.
fn injected_fault(var: &str, name: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == name)
}

/// A file whose reads panic when a test injected that fault.
struct FaultReader<R> {
    inner: R,
    panic: bool,
}

impl<R: Read> Read for FaultReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.panic {
            panic!("injected panic while reading");
        }
        self.inner.read(buf)
    }
}

/// Stop tones given as text (`0`-`9`, `*`, `#`, `A`-`D`), checked; for an
/// argument parser.
pub fn stop_tones_arg(s: &str) -> Result<String, String> {
    parse_stop_tones(s)
        .map(|t| t.into_iter().collect())
        .map_err(|e| e.to_string())
}

/// A timer in seconds given as text, checked; for an argument parser.
pub fn timer_arg(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    check_timer_s(v).map_err(|e| e.to_string())
}

/// The speech model at `path` for [`AnalysisConfig::speech_model`] (see
/// [`crate::speech_model`]).
#[cfg(feature = "neural")]
pub fn speech_model(
    path: &Path,
) -> Result<voxcap_dsp::vad::neural::NeuralVad, crate::speech_model::SpeechModelError> {
    crate::speech_model::load_speech_model(path)
}

/// [`speech_model`] at `path` when one is given (`--speech-model`).
#[cfg(feature = "neural")]
pub fn speech_model_at(
    path: Option<&Path>,
) -> Result<Option<voxcap_dsp::vad::neural::NeuralVad>, crate::speech_model::SpeechModelError> {
    path.map(speech_model).transpose()
}

/// The analysis settings `options` describe, checked (a queued job's
/// options come from Redis, not from an argument parser). `voxcap analyze`
/// builds its own settings here too, so both read settings one way.
pub fn job_config(o: &JobOptions) -> Result<AnalysisConfig, String> {
    let timer = |v: f64| check_timer_s(v).map_err(|e| e.to_string());
    Ok(AnalysisConfig {
        lenient: o.lenient,
        settings: RecordSettings {
            stop_tones: parse_stop_tones(&o.stop_tones).map_err(|e| e.to_string())?,
            initial_silence_s: timer(o.initial_silence)?,
            max_silence_s: timer(o.max_silence)?,
            max_record_s: timer(o.max_record)?,
        },
        reported: ReportedOutcome::from_text(o.reported.as_deref()),
        pad_start_ms: o.pad_start_ms,
        pad_end_ms: o.pad_end_ms,
        ..AnalysisConfig::default()
    })
}

/// Analyses a queued job's file the way `voxcap analyze` does; the result
/// is the report with a `provenance` object (the file's `sha256` and
/// `bytes`, voxcap's version, the settings hash).
pub fn analyze_job(job: &Job) -> Result<serde_json::Value, JobFailure> {
    analyze_job_with(job, |_| {})
}

/// A worker's analysis of queued jobs with Silero fused into the speech
/// detector (`voxcap worker --speech-model`), else as [`analyze_job`].
#[cfg(feature = "neural")]
pub fn job_analyzer(
    model: Option<voxcap_dsp::vad::neural::NeuralVad>,
) -> impl Fn(&Job) -> Result<serde_json::Value, JobFailure> + Send + Sync + 'static {
    move |job| analyze_job_with(job, |c| c.speech_model = model.clone())
}

fn analyze_job_with(
    job: &Job,
    adjust: impl FnOnce(&mut AnalysisConfig),
) -> Result<serde_json::Value, JobFailure> {
    let fail = |kind: &str, message: String| JobFailure {
        kind: kind.to_string(),
        message: format!("{}: {message}", job.path),
    };
    let options = job
        .options
        .as_ref()
        .map_err(|e| fail("bad_job", e.clone()))?;
    let mut config = job_config(options)
        .map_err(|e| fail("bad_job", format!("the job's options are not valid: {e}")))?;
    adjust(&mut config);
    let path = Path::new(&job.path);
    let a = analyze_path(&job.path, path, path, &config, None, None)
        .map_err(|f| fail(f.kind, f.message))?;
    let mut value = serde_json::to_value(&a.report).map_err(|e| fail("report", e.to_string()))?;
    let provenance = serde_json::json!({
        "sha256": a.input.sha256,
        "bytes": a.input.bytes,
        "voxcapVersion": voxcap_records::provenance::VOXCAP_VERSION,
        "settingsSha256": crate::settings::settings_sha256(&config),
    });
    if let Some(obj) = value.as_object_mut() {
        obj.insert("provenance".into(), provenance);
    }
    Ok(value)
}

/// An analysis error as a batch failure.
pub fn analysis_failure(e: AnalysisError) -> Failure {
    Failure {
        kind: e.kind(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> JobOptions {
        JobOptions {
            stop_tones: "#*".into(),
            initial_silence: 3.0,
            max_silence: 2.5,
            max_record: 10.0,
            reported: Some("stopToneDetected".into()),
            pad_start_ms: 100,
            pad_end_ms: 200,
            lenient: true,
        }
    }

    #[test]
    fn job_options_become_settings_and_bad_ones_are_refused() {
        let c = job_config(&options()).unwrap();
        assert_eq!(c.settings.stop_tones, vec!['#', '*']);
        assert_eq!(
            (c.settings.max_silence_s, c.pad_end_ms, c.lenient),
            (2.5, 200, true)
        );
        assert_eq!(
            c.reported.completion_reason.as_deref(),
            Some("stopToneDetected")
        );
        let bad: [fn(&mut JobOptions); 2] =
            [|o| o.stop_tones = "x".into(), |o| o.max_record = -1.0];
        for spoil in bad {
            let mut o = options();
            spoil(&mut o);
            assert!(job_config(&o).is_err(), "{o:?}");
        }
    }
}
