//! Generated recordings (speech-like bursts, key presses, silence), analysed
//! as `voxcap analyze` would, and written into a report.

use std::path::{Path, PathBuf};

use voxcap_dsp::synth::{self, DtmfPress};
use voxcap_dsp::verify::{RecordSettings, ReportedOutcome};
use voxcap_dsp::{analyze_reader, AnalysisConfig, Report};
use voxcap_report::{Entry, ReportOptions, ReviewReport};

/// The generation rate (the analysis resamples 16 kHz to 8 kHz).
pub(crate) const RATE: u32 = 16_000;

/// One generated recording and what it was analysed to.
pub(crate) struct Recording {
    /// The WAV.
    pub path: PathBuf,
    /// What the analysis said, or its error.
    pub result: Result<Report, String>,
    /// The settings it was analysed with.
    pub settings: RecordSettings,
}

/// Syllable-like bursts of pink noise for `seconds`, over -55 dBFS line noise.
fn speech(seed: u64, seconds: f64) -> Vec<f32> {
    let mut rng = synth::Rng::new(seed);
    let n = synth::samples_for(seconds, RATE);
    let mut x = synth::white_noise(seed, -55.0, n);
    let mut at = 0;
    while at < n {
        let len = synth::samples_for(0.12 + rng.next_f64() * 0.13, RATE);
        let mut burst = synth::pink_noise(rng.next_u64(), -20.0 + rng.next_f64() as f32 * 6.0, len);
        let half = len as f32 / 2.0;
        for (i, v) in burst.iter_mut().enumerate() {
            let t = (i as f32 - half) / half;
            *v *= 0.5 + 0.5 * (std::f32::consts::PI * t).cos();
        }
        synth::overlay(&mut x, &burst, at);
        at += len + synth::samples_for(0.03 + rng.next_f64() * 0.05, RATE);
    }
    x.truncate(n);
    x
}

fn quiet(seed: u64, seconds: f64) -> Vec<f32> {
    synth::white_noise(seed, -55.0, synth::samples_for(seconds, RATE))
}

fn key(digit: char) -> Vec<f32> {
    synth::dtmf_press(&DtmfPress::new(digit, 0.15), RATE)
}

/// The kinds of recording, with the reason Graph "reported".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Speech then a `#` stop tone; reported stopToneDetected.
    StopTone,
    /// Speech, keys 1 2 3, then `#`; reported stopToneDetected.
    Digits,
    /// Line noise only; reported initialSilenceTimeout.
    Silence,
    /// Speech then silence until max silence fired; reported maxSilenceTimeout.
    Pause,
    /// Speech then `#`, but reported initialSilenceTimeout: a lie.
    Liar,
    /// Not a WAV at all.
    Broken,
}

/// Signal and reported reason of `kind`.
fn signal(kind: Kind, seed: u64) -> (Vec<f32>, &'static str) {
    let cat = |parts: Vec<Vec<f32>>| parts.concat();
    match kind {
        Kind::StopTone | Kind::Liar | Kind::Broken => {
            let x = cat(vec![
                quiet(seed, 0.6),
                speech(seed, 1.6),
                quiet(seed + 1, 0.4),
                key('#'),
                quiet(seed + 2, 0.1),
            ]);
            (
                x,
                if kind == Kind::Liar {
                    "initialSilenceTimeout"
                } else {
                    "stopToneDetected"
                },
            )
        }
        Kind::Digits => {
            let mut parts = vec![quiet(seed, 0.5), speech(seed, 1.2), quiet(seed + 1, 0.4)];
            for d in ['1', '2', '3', '#'] {
                parts.push(key(d));
                parts.push(quiet(seed + 3, 0.15));
            }
            (cat(parts), "stopToneDetected")
        }
        Kind::Silence => (quiet(seed, 5.1), "initialSilenceTimeout"),
        Kind::Pause => (
            cat(vec![
                quiet(seed, 0.5),
                speech(seed, 1.4),
                quiet(seed + 1, 3.1),
            ]),
            "maxSilenceTimeout",
        ),
    }
}

/// Settings every recording was made with.
pub(crate) fn settings() -> RecordSettings {
    RecordSettings {
        stop_tones: vec!['#'],
        initial_silence_s: 5.0,
        max_silence_s: 3.0,
        max_record_s: 30.0,
    }
}

/// Writes the recording `name` of `kind` into `dir` and analyses it.
pub(crate) fn make(dir: &Path, name: &str, kind: Kind, seed: u64) -> Recording {
    let (x, reason) = signal(kind, seed);
    let path = dir.join(name);
    let bytes = if kind == Kind::Broken {
        b"RIFF garbage, not a wave".to_vec()
    } else {
        synth::wav_pcm16_mono(&x, RATE)
    };
    std::fs::write(&path, bytes).expect("write a generated WAV");
    let config = AnalysisConfig {
        settings: settings(),
        reported: ReportedOutcome {
            completion_reason: Some(reason.to_string()),
            subcode: None,
        },
        ..AnalysisConfig::default()
    };
    let file = std::fs::File::open(&path).expect("open the generated WAV");
    let result = analyze_reader(name, file, &config).map_err(|e| e.to_string());
    Recording {
        path,
        result,
        settings: config.settings,
    }
}

/// The test batch: 20 recordings of every kind, two with hostile names.
pub(crate) fn batch(dir: &Path) -> Vec<Recording> {
    use Kind::*;
    let kinds = [
        StopTone, StopTone, StopTone, StopTone, StopTone, Digits, Digits, Digits, Silence, Silence,
        Silence, Pause, Pause, Pause, Liar, Liar, StopTone, Silence, Broken, StopTone,
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let name = match i {
                17 => "<script>alert(1).wav".to_string(),
                19 => "a&b \"quoted\" 'x'.wav".to_string(),
                _ => format!("{i:02}-{k:?}.wav").to_lowercase(),
            };
            make(dir, &name, k, 100 + i as u64)
        })
        .collect()
}

/// Writes a report of `recordings` to `out` with `options`.
pub(crate) fn write(out: &Path, recordings: &[Recording], options: ReportOptions) -> PathBuf {
    let mut report = ReviewReport::create(out, options).expect("create the report");
    for r in recordings {
        let name = r
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entry = Entry {
            path: &r.path,
            name: &name,
            result: r.result.as_ref().map_err(String::as_str),
            settings: &r.settings,
        };
        report.add(&entry).expect("add a recording");
    }
    report.finish().expect("finish the report")
}
