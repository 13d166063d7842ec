//! Talk-off: the detector must report no digit on real speech or music.
//!
//! The corpus (>= 60 min of each, 8 kHz mono 16-bit WAV from Debian packages)
//! is built by `scripts/talkoff-corpus.sh` into
//! `${VOXCAP_CORPUS_DIR:-target/corpus}/talkoff/{speech,music}`. Without it
//! the test fails when `CI` is set, and otherwise explains how to build it.

use std::path::{Path, PathBuf};

use crate::dtmf_support::{detect_chunked, FS};

fn corpus_dir() -> PathBuf {
    let base = std::env::var_os("VOXCAP_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/corpus"));
    base.join("talkoff")
}

fn wavs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .filter(|p| !p.to_string_lossy().ends_with(".part.wav"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read_8k(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (FS, 1, 16),
        "{}: corpus files must be 8 kHz mono 16-bit; rerun scripts/talkoff-corpus.sh",
        path.display()
    );
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap_or_else(|e| panic!("{}: {e}", path.display()))) / 32768.0)
        .collect()
}

#[test]
fn no_digits_in_speech_or_music() {
    let root = corpus_dir();
    let classes = ["speech", "music"];
    if classes.iter().any(|c| wavs(&root.join(c)).is_empty()) {
        let msg = format!(
            "talk-off corpus missing at {}: run scripts/talkoff-corpus.sh",
            root.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        println!("{msg}");
        return;
    }
    let mut failures = Vec::new();
    for class in classes {
        let mut samples = 0usize;
        let mut false_digits = 0usize;
        for path in wavs(&root.join(class)) {
            let x = read_8k(&path);
            samples += x.len();
            // An odd chunk size, as a real stream would deliver.
            let ev = detect_chunked(&x, FS, 1013);
            if !ev.is_empty() {
                println!("  {}: {ev:?}", path.display());
                failures.push(format!("{}: {} digits", path.display(), ev.len()));
            }
            false_digits += ev.len();
        }
        let minutes = samples as f64 / f64::from(FS) / 60.0;
        println!("talk-off {class}: {minutes:.1} min, {false_digits} false digits");
        assert!(minutes >= 60.0, "{class}: only {minutes:.1} min; need 60");
    }
    assert!(failures.is_empty(), "false digits: {failures:#?}");
}
