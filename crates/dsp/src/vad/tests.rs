//! Unit tests of the speech detector's internals (split out of `vad.rs`).

use super::*;
use crate::synth;

#[test]
fn sliding_argmin_matches_naive() {
    let mut rng = synth::Rng::new(7);
    // Ties too: values on a coarse grid.
    let x: Vec<f32> = (0..301)
        .map(|_| (rng.next_f64() * 20.0).floor() as f32)
        .collect();
    for len in [0, 1, 2, 7, 50, 299, 300, 301] {
        for w in [0, 1, 2, 5, 50, 299, 400] {
            let x = &x[..len];
            let (back, fwd) = sliding_argmin(x, w);
            assert_eq!((back.len(), fwd.len()), (len, len));
            for i in 0..len {
                let min = |r: &[f32]| r.iter().copied().fold(f32::INFINITY, f32::min);
                let (b, f) = (back[i], fwd[i]);
                assert!(b <= i && i - b <= w && f >= i && f - i <= w, "i={i} w={w}");
                assert_eq!(x[b], min(&x[i.saturating_sub(w)..=i]), "i={i} w={w}");
                assert_eq!(x[f], min(&x[i..(i + w + 1).min(len)]), "i={i} w={w}");
            }
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
    let voiced = |d: &SpeechDetector| d.classified_frames(0).filter(|f| f.1).count();
    let mut exact = SpeechDetector::with_rate(8000).unwrap();
    exact.push(&x);
    let mut roomy = SpeechDetector::with_rate(8000).unwrap();
    let Lane::Inline(c) = &mut roomy.lane else {
        panic!("with_rate classifies inline")
    };
    let block = 3 * 80;
    c.cls.pcm.reserve_exact(block * 3);
    assert!(c.cls.pcm.capacity() > block);
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
        extent_decay_samples: 0,
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
    assert!(prediction_gain_db(&tone).0 > 40.0);
    let dual = synth::dual_tone((941.0, -10.0), (1477.0, -10.0), 84, 8000);
    assert!(prediction_gain_db(&dual).0 > 30.0);
    let noise = synth::white_noise(3, -20.0, 84);
    assert!(prediction_gain_db(&noise).0 < 3.0);
}

/// Whether `x` is a tone's frame and holds its own frequency.
fn steady(x: &[f32], th: f32) -> bool {
    ToneCheck::of(x, th).is_some_and(|c| c.holds_frequency_of(c.nulls))
}

fn pair(a: f64, b: f64, phase: f64) -> Vec<f32> {
    let mut x = synth::sine(a, -16.0, 84, 8000, 0.0);
    for (v, w) in x.iter_mut().zip(synth::sine(b, -16.0, 84, 8000, phase)) {
        *v += w;
    }
    x
}

/// Low tones have few periods in a frame; the predictor must still see them
/// (a Levinson recursion on the lagged sums read 440 Hz as 19-22 dB).
#[test]
fn every_tone_of_the_telephone_band_is_tonal_at_every_phase() {
    let th = VadConfig::default().tone_gain_db;
    let mut worst = (f32::INFINITY, 0u32, 0.0f64);
    for hz in (200u32..=3400).step_by(20) {
        for k in 0..8 {
            let phase = f64::from(k) * 0.39;
            let tone = synth::sine(f64::from(hz), -12.0, 84, 8000, phase);
            let g = prediction_gain_db(&tone).0;
            if g < worst.0 {
                worst = (g, hz, phase);
            }
            assert!(steady(&tone, th), "{hz} Hz, phase {phase}");
        }
    }
    assert!(
        worst.0 > 40.0,
        "gain {:.1} dB at {} Hz, phase {}",
        worst.0,
        worst.1,
        worst.2
    );
    // The call-progress pairs (North America: dial, ringback, busy/reorder;
    // Europe: 400+450 ringing) and every DTMF pair, at every phase.
    let mut pairs = vec![
        (350.0, 440.0),
        (440.0, 480.0),
        (480.0, 620.0),
        (400.0, 450.0),
    ];
    for lo in [697.0, 770.0, 852.0, 941.0] {
        for hi in [1209.0, 1336.0, 1477.0, 1633.0] {
            pairs.push((lo, hi));
        }
    }
    for (a, b) in pairs {
        for k in 0..8 {
            let x = pair(a, b, f64::from(k) * 0.39);
            let g = prediction_gain_db(&x).0;
            assert!(g > th, "{a}+{b} Hz: gain {g:.1} dB");
            assert!(steady(&x, th), "{a}+{b} Hz taken for a voice's harmonics");
        }
    }
}

/// A low vowel whose first two harmonics carry its energy is as predictable
/// as a dual tone; the harmonic ratio tells it apart.
#[test]
fn a_voice_with_two_strong_harmonics_is_not_tonal() {
    let th = VadConfig::default().tone_gain_db;
    for f0 in [100.0, 140.0, 180.0, 220.0, 260.0] {
        for (h1, h2) in [(1.0, 2.0), (2.0, 3.0), (3.0, 4.0)] {
            let x = pair(f0 * h1, f0 * h2, 0.7);
            assert!(prediction_gain_db(&x).0 > th, "{f0} Hz");
            assert!(
                ToneCheck::of(&x, th).is_none(),
                "harmonics {h1}, {h2} of {f0} Hz read as a tone"
            );
        }
    }
}

#[test]
fn noise_and_silence_are_not_tonal() {
    for seed in 0..20 {
        let noise = synth::white_noise(seed, -30.0, 84);
        let g = prediction_gain_db(&noise).0;
        assert!(g < 3.0, "white noise seed {seed}: {g:.1} dB");
    }
    assert_eq!(prediction_gain_db(&[0.0; 84]).0, 0.0);
    assert_eq!(prediction_gain_db(&[0.0; 3]).0, 0.0);
    let mut edge = vec![0.0; 84];
    edge[83] = 0.5;
    assert!(prediction_gain_db(&edge).0.is_finite());
}

/// The worker lane classifies the same frames as the inline one, bit for
/// bit, whatever the chunking (a tone, a syllable-rhythm buzz and noise, so
/// voice, tonal and quiet frames all occur; a length that ends mid-frame).
#[test]
fn worker_lane_gives_the_inline_result() {
    let mut x = synth::white_noise(7, -30.0, 24_000);
    for (i, v) in x.iter_mut().enumerate() {
        if (i / 1200) % 2 == 0 {
            *v *= 8.0;
        }
    }
    x.extend(synth::sine(440.0, -12.0, 4_000, 8_000, 0.4));
    x.truncate(x.len() - 37);
    let mut inline = SpeechDetector::with_rate(8000).unwrap();
    inline.push(&x);
    let expected = inline.finish();
    assert!(!expected.segments.is_empty(), "the buzz must be speech");
    for chunk in [1, 7, 80, 1000, 4001, x.len()] {
        let mut worker = SpeechDetector::with_worker(VadConfig {
            sample_rate: 8000,
            ..VadConfig::default()
        })
        .unwrap();
        assert!(matches!(worker.lane, Lane::Worker(_)));
        for c in x.chunks(chunk) {
            worker.push(c);
        }
        assert_eq!(worker.finish(), expected, "chunk {chunk}");
    }
}

/// The detector's state is plain data since libfvad was ported (vad::fvad):
/// a detector, and the analyser that holds one, may move between threads.
#[test]
fn the_detector_and_the_analyser_are_send() {
    fn send<T: Send>() {}
    send::<SpeechDetector>();
    send::<crate::analysis::Analyzer>();
}
