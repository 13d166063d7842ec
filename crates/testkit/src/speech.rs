//! The committed speech fixtures (`testdata/speech/*.wav`: espeak-ng voices
//! and recorded words from Debian packages, 8 kHz mono PCM16) and the rule
//! that marks their truth.
//!
//! The speech tests, the benches, the performance gate and the peer corpus
//! all read the fixtures through here, so they agree on the set, its order
//! and its labels.

use std::path::{Path, PathBuf};

/// The rate of every committed fixture, in Hz.
pub const FIXTURE_RATE: u32 = 8000;

/// Fewer fixtures than this means the checkout is incomplete.
pub const MIN_FIXTURES: usize = 15;

/// One committed speech fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechFixture {
    /// File name, e.g. `espeak_en_yes.wav`.
    pub file_name: String,
    /// Samples in `[-1, 1)` at [`FIXTURE_RATE`].
    pub samples: Vec<f32>,
}

impl SpeechFixture {
    /// The file name without its `.wav` extension.
    pub fn stem(&self) -> &str {
        self.file_name
            .strip_suffix(".wav")
            .unwrap_or(&self.file_name)
    }
}

/// A span of samples `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpan {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
}

/// `testdata/speech/` of the workspace.
pub fn speech_dir() -> PathBuf {
    crate::workspace_root().join("testdata/speech")
}

/// Every `*.wav` in [`speech_dir`], sorted by name. Panics naming the file
/// and the cause when one is missing, unreadable or not 8 kHz mono PCM16,
/// and when fewer than [`MIN_FIXTURES`] are there.
pub fn speech_fixtures() -> Vec<SpeechFixture> {
    let fixtures = load_dir(&speech_dir());
    assert!(
        fixtures.len() >= MIN_FIXTURES,
        "{}: {} speech fixtures, expected the {MIN_FIXTURES} or more committed ones",
        speech_dir().display(),
        fixtures.len()
    );
    fixtures
}

/// Only the samples of [`speech_fixtures`], in the same order.
pub fn speech_samples() -> Vec<Vec<f32>> {
    speech_fixtures().into_iter().map(|f| f.samples).collect()
}

fn load_dir(dir: &Path) -> Vec<SpeechFixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

fn load(path: &Path) -> SpeechFixture {
    let samples = crate::talkoff::read_mono16(path, FIXTURE_RATE, "fixtures are 8 kHz mono 16-bit");
    SpeechFixture {
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        samples,
    }
}

/// Frame of the truth rule: 10 ms at [`FIXTURE_RATE`].
pub const TRUTH_FRAME: usize = 80;

/// The speech in a clean fixture, by energy alignment: 10 ms frames whose
/// power is within 40 dB of the loudest frame and at least 12 dB above the
/// fixture's own 10th-percentile frame (its recording noise) are speech;
/// gaps shorter than 300 ms are bridged (a pause inside a phrase is part of
/// the utterance, the convention of the detector's hangover) and islands
/// under 30 ms dropped. Spans are in samples at [`FIXTURE_RATE`].
pub fn speech_truth(x: &[f32]) -> Vec<SampleSpan> {
    if x.is_empty() {
        return Vec::new();
    }
    let db: Vec<f32> = x
        .chunks(TRUTH_FRAME)
        .map(|f| {
            let e: f32 = f.iter().map(|v| v * v).sum::<f32>() / f.len() as f32;
            10.0 * e.max(1e-12).log10()
        })
        .collect();
    let loudest = db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sorted = db.clone();
    sorted.sort_by(f32::total_cmp);
    let threshold = (loudest - 40.0).max(sorted[sorted.len() / 10] + 12.0);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &d) in db.iter().enumerate() {
        if d <= threshold {
            continue;
        }
        match runs.last_mut() {
            Some(r) if i - r.1 < 30 => r.1 = i + 1,
            _ => runs.push((i, i + 1)),
        }
    }
    runs.retain(|r| r.1 - r.0 >= 3);
    runs.into_iter()
        .map(|(s, e)| SampleSpan {
            start: s * TRUTH_FRAME,
            end: (e * TRUTH_FRAME).min(x.len()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_fixtures_load_in_name_order() {
        let fx = speech_fixtures();
        let names: Vec<&str> = fx.iter().map(|f| f.file_name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(fx
            .iter()
            .all(|f| !f.samples.is_empty() && !f.stem().ends_with(".wav")));
        assert!(fx.iter().all(|f| !speech_truth(&f.samples).is_empty()));
    }

    #[test]
    fn truth_bridges_short_gaps_and_drops_islands() {
        let loud = |n: usize| vec![0.5f32; n];
        let quiet = |n: usize| vec![0.0001f32; n];
        // 1 s quiet, 200 ms loud, 100 ms gap, 200 ms loud, 1 s quiet, 10 ms click, 1 s quiet.
        let mut x = quiet(8000);
        x.extend(loud(1600));
        x.extend(quiet(800));
        x.extend(loud(1600));
        x.extend(quiet(8000));
        x.extend(loud(80));
        x.extend(quiet(8000));
        assert_eq!(
            speech_truth(&x),
            vec![SampleSpan {
                start: 8000,
                end: 12_000
            }]
        );
        assert!(speech_truth(&[]).is_empty());
    }
}
