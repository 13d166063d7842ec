//! Unit tests of the speech detector's internals (split out of `vad.rs`).

use super::*;
use crate::synth;

#[test]
fn one_sided_min_matches_naive() {
    let mut rng = synth::Rng::new(7);
    let x: Vec<f32> = (0..300).map(|_| rng.next_f64() as f32).collect();
    for w in [0, 1, 5, 50, 400] {
        let back = one_sided_min(&x, w, false);
        let fwd = one_sided_min(&x, w, true);
        for i in 0..x.len() {
            let min = |r: &[f32]| r.iter().copied().fold(f32::INFINITY, f32::min);
            assert_eq!(back[i], min(&x[i.saturating_sub(w)..=i]), "i={i} w={w}");
            assert_eq!(fwd[i], min(&x[i..(i + w + 1).min(x.len())]), "i={i} w={w}");
        }
    }
}

#[test]
fn smoothed_matches_naive() {
    let mut rng = synth::Rng::new(11);
    let frames: Vec<FrameInfo> = (0..200)
        .map(|_| FrameInfo {
            power: rng.next_f64() as f32,
            voice: false,
            tonal: false,
        })
        .collect();
    for half in [0, 1, 15, 300] {
        let fast = smoothed(&frames, half);
        for (i, &v) in fast.iter().enumerate() {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(frames.len()));
            let mean = frames[lo..hi].iter().map(|f| f.power).sum::<f32>() / (hi - lo) as f32;
            assert!((v - mean).abs() < 1e-5, "i={i} half={half}");
        }
    }
}

/// Regression: the webrtc-vad block length was read from the buffer's
/// `capacity()`, which `Vec` may make larger than asked; every block was
/// then the wrong length, rejected by webrtc-vad and read as no speech.
#[test]
fn block_length_does_not_depend_on_buffer_capacity() {
    // Buzz with a syllable rhythm: webrtc-vad calls most of it voice.
    let mut x = synth::white_noise(5, -18.0, 16_000);
    for (i, v) in x.iter_mut().enumerate() {
        let syllable = (i / 1200) % 2 == 0;
        *v *= if syllable { 1.0 } else { 0.05 };
    }
    let voiced = |d: &SpeechDetector| d.frames.iter().filter(|f| f.voice).count();
    let mut exact = SpeechDetector::with_rate(8000).unwrap();
    exact.push(&x);
    let mut roomy = SpeechDetector::with_rate(8000).unwrap();
    roomy.pcm.reserve_exact(roomy.block_len * 3);
    assert!(roomy.pcm.capacity() > roomy.block_len);
    roomy.push(&x);
    assert!(
        voiced(&exact) > 20,
        "the signal must be voice to webrtc-vad"
    );
    assert_eq!(voiced(&roomy), voiced(&exact));
    assert_eq!(roomy.finish(), exact.finish());
}

#[test]
fn rejects_unsupported_rate() {
    assert_eq!(
        SpeechDetector::with_rate(44100).unwrap_err(),
        VadError::UnsupportedRate(44100)
    );
    assert!("earshot".parse::<VadKind>().is_err());
    assert_eq!("WebRTC".parse::<VadKind>(), Ok(VadKind::Webrtc));
}

#[test]
fn seconds_at_the_edge() {
    let a = SpeechActivity {
        segments: vec![SpeechSegment {
            start: 4000,
            end: 12000,
        }],
        extent: None,
        noise_floor_dbfs: None,
        speech_level_dbfs: None,
        total_samples: 16000,
    };
    let json = serde_json::to_string(&a.seconds(8000)).unwrap();
    assert_eq!(json, r#"[{"start_s":0.5,"end_s":1.5}]"#);
}

#[test]
fn empty_input_has_no_speech() {
    let a = SpeechDetector::with_rate(8000).unwrap().finish();
    assert!(a.segments.is_empty());
    assert_eq!(a.noise_floor_dbfs, None);
}

#[test]
fn pure_tone_is_tonal() {
    let tone = synth::sine(1000.0, -12.0, 84, 8000, 0.3);
    assert!(prediction_gain_db(&tone) > 40.0);
    let dual = synth::dual_tone((941.0, -10.0), (1477.0, -10.0), 84, 8000);
    assert!(prediction_gain_db(&dual) > 30.0);
    let noise = synth::white_noise(3, -20.0, 84);
    assert!(prediction_gain_db(&noise) < 3.0);
}
