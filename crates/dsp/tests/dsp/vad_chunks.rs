//! The speech detector gives identical segments whatever the push chunk size.

use crate::speech_set::*;
use voxcap_dsp::synth::DtmfPress;
use voxcap_dsp::vad::{SpeechDetector, VadConfig};

fn segments_in_chunks(clip: &Clip, chunk: usize, rate: u32) -> Vec<(usize, usize)> {
    let mut d = SpeechDetector::new(VadConfig {
        sample_rate: rate,
        ..VadConfig::default()
    })
    .unwrap();
    d.mask_dtmf(&clip.dtmf);
    for c in clip.samples.chunks(chunk.max(1)) {
        d.push(c);
    }
    spans(&d.finish().segments)
}

#[test]
fn chunk_size_does_not_change_segments() {
    let fx = fixtures();
    let mut clips = noisy_set(&fx[..3], &[10.0], &[Noise::White]);
    // A clip with a key press after the speech, and a length that is not a
    // whole number of frames.
    let mut c = clips[0].clone();
    let at = c.samples.len() - secs(0.5);
    let ev = put_dtmf(&mut c.samples, &DtmfPress::new('#', 0.12), at);
    c.dtmf.push(ev);
    c.samples.extend_from_slice(&[0.001; 37]);
    clips.push(c);
    for clip in &clips {
        let whole = segments_in_chunks(clip, clip.samples.len(), 8000);
        assert!(!whole.is_empty(), "{}: speech expected", clip.name);
        for chunk in [1, 80, 160, 1000, 4097] {
            assert_eq!(
                segments_in_chunks(clip, chunk, 8000),
                whole,
                "{} chunk {chunk}",
                clip.name
            );
        }
    }
}

#[test]
fn works_at_16k() {
    let fx = fixtures();
    let clip = &noisy_set(&fx[..1], &[20.0], &[Noise::Pink])[0];
    // Naive 2x upsampling by sample repetition is enough for the detector.
    let up: Vec<f32> = clip.samples.iter().flat_map(|&v| [v, v]).collect();
    let clip16 = Clip {
        samples: up,
        ..clip.clone()
    };
    let s8 = segments_in_chunks(clip, 160, 8000);
    let s16 = segments_in_chunks(&clip16, 160, 16000);
    assert_eq!(s8.len(), s16.len(), "{s8:?} vs {s16:?}");
    for (a, b) in s8.iter().zip(&s16) {
        let d = (a.0 as i64 * 2 - b.0 as i64).abs();
        assert!(d <= 16000 / 20, "onset differs by {d} samples at 16 kHz");
    }
}

#[test]
fn dtmf_frames_are_never_speech() {
    let fx = fixtures();
    let mut clip = noisy_set(&fx[..1], &[30.0], &[Noise::White])[0].clone();
    // A press laid over the middle of the speech.
    let (s, e) = clip.truth[0];
    let at = (s + e) / 2;
    let ev = put_dtmf(&mut clip.samples, &DtmfPress::new('5', 0.2), at);
    clip.dtmf.push(ev);
    for (a, b) in segments_in_chunks(&clip, 1000, 8000) {
        assert!(
            b as u64 <= ev.start || a as u64 >= ev.end,
            "segment {a}..{b} overlaps {ev:?}"
        );
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Random chunk sequences give the segments of one whole push.
        #[test]
        fn random_chunking_is_invariant(seed in 0u64..1000, sizes in proptest::collection::vec(1usize..700, 1..20)) {
            let fx = fixtures();
            let k = (seed as usize) % fx.len();
            let clip = &noisy_set(&fx[k..=k], &[10.0], &[Noise::Pink])[0];
            let whole = segments_in_chunks(clip, clip.samples.len(), 8000);
            let mut d = SpeechDetector::with_rate(8000).unwrap();
            let mut at = 0;
            let mut i = 0;
            while at < clip.samples.len() {
                let n = sizes[i % sizes.len()].min(clip.samples.len() - at);
                d.push(&clip.samples[at..at + n]);
                at += n;
                i += 1;
            }
            prop_assert_eq!(spans(&d.finish().segments), whole);
        }
    }
}
