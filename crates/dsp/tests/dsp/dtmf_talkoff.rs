//! Talk-off: the detector must report no digit on real speech or music.
//!
//! The corpus (>= 60 min of each, 8 kHz mono 16-bit WAV from Debian packages)
//! is built by `scripts/talkoff-corpus.sh` into
//! `${VOXCAP_CORPUS_DIR:-target/corpus}/talkoff/{speech,music}`. Without it
//! the test fails when `CI` is set, and otherwise explains how to build it.

use crate::dtmf_support::{detect_chunked, FS};
use voxcap_testkit::talkoff::{self, read as read_8k, wavs};

#[test]
fn no_digits_in_speech_or_music() {
    let root = talkoff::dir();
    let classes = talkoff::CLASSES;
    assert_eq!(talkoff::RATE, FS);
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
