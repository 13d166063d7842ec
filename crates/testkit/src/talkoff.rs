//! The DTMF talk-off corpus: real speech and music that must give no digit.
//!
//! `scripts/talkoff-corpus.sh` builds it (8 kHz mono 16-bit WAV from Debian
//! packages) into `${VOXCAP_CORPUS_DIR:-target/corpus}/talkoff/{speech,music}`.
//! The test of that property and the example that draws the trade-off
//! curve read it through here, so both take the same files the same way.

use std::path::{Path, PathBuf};

/// The corpus's sample rate.
pub const RATE: u32 = 8000;

/// The classes of the corpus, one folder each.
pub const CLASSES: [&str; 2] = ["speech", "music"];

/// `${VOXCAP_CORPUS_DIR:-<workspace>/target/corpus}/talkoff`.
pub fn dir() -> PathBuf {
    let base = std::env::var_os("VOXCAP_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/corpus"));
    base.join("talkoff")
}

/// The finished `.wav` files of `dir`, sorted (a `.part.wav` still being
/// written is left out); none if `dir` does not exist.
pub fn wavs(dir: &Path) -> Vec<PathBuf> {
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

/// The samples of one corpus file, full scale ±1.0. Panics, naming the
/// file, if it cannot be read or is not 8 kHz mono 16-bit.
pub fn read(path: &Path) -> Vec<f32> {
    read_mono16(
        path,
        RATE,
        "corpus files must be 8 kHz mono 16-bit; rerun scripts/talkoff-corpus.sh",
    )
}

/// The samples of a mono 16-bit WAV at `rate`, full scale ±1.0; panics
/// naming the file, with `rule` when the format is another.
pub(crate) fn read_mono16(path: &Path, rate: u32, rule: &str) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (rate, 1, 16),
        "{}: {rule}",
        path.display()
    );
    r.samples::<i16>()
        .map(|s| f32::from(s.unwrap_or_else(|e| panic!("{}: {e}", path.display()))) / 32768.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_finished_wavs_and_rejects_other_formats() {
        let d = std::env::temp_dir().join(format!("voxcap-talkoff-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let spec = |rate, channels| hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        for (name, s) in [
            ("b.wav", spec(RATE, 1)),
            ("a.wav", spec(RATE, 1)),
            ("c.part.wav", spec(RATE, 1)),
            ("st.wav", spec(RATE, 2)),
        ] {
            let mut w = hound::WavWriter::create(d.join(name), s).unwrap();
            for v in [0i16, 16384, -32768, 0] {
                w.write_sample(v).unwrap();
            }
            w.finalize().unwrap();
        }
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let names: Vec<String> = wavs(&d)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.wav", "b.wav", "st.wav"]);
        assert_eq!(read(&d.join("a.wav")), [0.0, 0.5, -1.0, 0.0]);
        let stereo = std::panic::catch_unwind(|| read(&d.join("st.wav"))).unwrap_err();
        let msg = stereo.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("st.wav") && msg.contains("mono 16-bit"),
            "{msg}"
        );
        assert!(wavs(&d.join("missing")).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
