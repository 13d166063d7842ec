//! Writes the clips that `scripts/compare-trim.sh` feeds to sox `silence` and
//! ffmpeg `silenceremove`, with their truth and our trim, and checks our side:
//! no labelled speech is cut, also in -40 dBFS noise.
//!
//! Output: `$VOXCAP_TRIM_COMPARE_DIR` (default: a `voxcap-trim-compare`
//! directory under the system temp dir) holding `*.wav` and `clips.tsv`.

use crate::speech_set::*;
use std::io::Write;
use voxcap_dsp::synth;
use voxcap_dsp::trim::{plan_trim, TrimConfig};
use voxcap_dsp::vad::detect_speech;

#[test]
fn writes_comparison_clips_and_keeps_all_speech() {
    let dir = std::env::var_os("VOXCAP_TRIM_COMPARE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("voxcap-trim-compare"));
    std::fs::create_dir_all(&dir).expect("create comparison dir");
    let fx = fixtures();
    let mut tsv = std::fs::File::create(dir.join("clips.tsv")).expect("clips.tsv");
    writeln!(
        tsv,
        "file\tcondition\tduration_s\ttruth_onset_s\ttruth_offset_s\tours_start_s\tours_end_s"
    )
    .unwrap();
    let cfg = TrimConfig::default();
    let mut cut = Vec::new();
    for (cond, noise_dbfs) in [
        ("digital_silence", None),
        ("noise_-60dBFS", Some(-60.0f32)),
        ("noise_-40dBFS", Some(-40.0)),
    ] {
        for (k, f) in fx.iter().enumerate() {
            let lead = secs(1.0);
            let len = lead + f.samples.len() + secs(1.5);
            let (mut x, truth) = place(&fx, &[(k, lead, 0.0)], len);
            let g = synth::dbfs_to_amplitude(-20.0 - speech_power_db(&x, &truth));
            x.iter_mut().for_each(|v| *v *= g);
            if let Some(n) = noise_dbfs {
                for (v, w) in x.iter_mut().zip(synth::white_noise(k as u64, n, len)) {
                    *v += w;
                }
            }
            let act = detect_speech(&x, RATE, &[]).unwrap();
            let trim = plan_trim(&act.segments, &[], len as u64, &cfg);
            let (on, off) = (truth[0].0, truth.iter().map(|t| t.1).max().unwrap());
            if trim.start as usize > on || (trim.end as usize) < off {
                cut.push(format!("{cond}/{}", f.name));
            }
            let name = format!("{cond}__{}", f.name);
            std::fs::write(dir.join(&name), synth::wav_pcm16_mono(&x, RATE)).expect("write clip");
            let t = trim.seconds(RATE);
            let s = |v: usize| v as f64 / f64::from(RATE);
            writeln!(
                tsv,
                "{name}\t{cond}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{:.4}",
                s(len),
                s(on),
                s(off),
                t.start_s,
                t.end_s
            )
            .unwrap();
        }
    }
    println!("comparison clips in {}", dir.display());
    assert!(cut.is_empty(), "our trim cut into speech: {cut:?}");
}
