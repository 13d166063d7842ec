//! Tests of the fusion: the hysteresis and alignment, the gates that hold
//! with a model that calls everything speech, chunk invariance, and the
//! configuration errors. The models are synthetic (`constant_model`, or
//! seeded weights); the real model's tests are in `silero/tests.rs`.

use super::*;
use crate::events::DtmfEvent;
use crate::synth::{self, DtmfPress};
use crate::vad::silero::tests::{constant_model, seeded_model};
use crate::vad::{SpeechActivity, SpeechDetector, VadConfig, VadError};

const RATE: u32 = 8000;

fn fused(model: SileroModel) -> VadConfig {
    VadConfig {
        neural: Some(NeuralVad::new(model, "m")),
        ..VadConfig::default()
    }
}

fn run(cfg: &VadConfig, x: &[f32], dtmf: &[DtmfEvent], chunk: usize) -> SpeechActivity {
    let mut d = SpeechDetector::new(cfg.clone()).expect("valid config");
    for c in x.chunks(chunk.max(1)) {
        d.push(c);
    }
    d.mask_dtmf(dtmf);
    d.finish()
}

fn secs(s: f64) -> usize {
    synth::samples_for(s, RATE)
}

/// Mains hum: 50 Hz and odd harmonics.
fn hum(dbfs: f32, n: usize) -> Vec<f32> {
    let mut x = synth::sine(50.0, dbfs, n, RATE, 0.0);
    for (h, rel) in [(150.0, -6.0), (250.0, -12.0), (350.0, -18.0)] {
        for (v, w) in x.iter_mut().zip(synth::sine(h, dbfs + rel, n, RATE, 0.5)) {
            *v += w;
        }
    }
    x
}

/// Clips with no speech in them (name, samples, DTMF events).
fn no_speech() -> Vec<(&'static str, Vec<f32>, Vec<DtmfEvent>)> {
    let n = secs(4.0);
    let mut step = synth::white_noise(7, -70.0, n);
    for (v, w) in step[n / 2..]
        .iter_mut()
        .zip(synth::white_noise(8, -40.0, n))
    {
        *v += w;
    }
    let mut beep = synth::white_noise(10, -65.0, n);
    synth::overlay(
        &mut beep,
        &synth::sine(1000.0, -6.0, secs(0.3), RATE, 0.0),
        0,
    );
    let mut tones = synth::white_noise(11, -60.0, n);
    synth::overlay(
        &mut tones,
        &synth::sine(1800.0, -12.0, secs(1.5), RATE, 0.0),
        secs(1.0),
    );
    let mut keys = synth::white_noise(9, -60.0, n);
    let mut events = Vec::new();
    for (i, d) in "159#*0".chars().enumerate() {
        let press = DtmfPress {
            level_dbfs: -12.0,
            ..DtmfPress::new(d, 0.08 + 0.04 * i as f64)
        };
        let tone = synth::dtmf_press(&press, RATE);
        let at = secs(0.4 + 0.6 * i as f64);
        events.push(DtmfEvent {
            digit: d,
            start: at as u64,
            end: (at + tone.len()) as u64,
            level_dbfs: -12.0,
        });
        synth::overlay(&mut keys, &tone, at);
    }
    vec![
        ("digital silence", vec![0.0; n], vec![]),
        (
            "white noise -20 dBFS",
            synth::white_noise(3, -20.0, n),
            vec![],
        ),
        (
            "pink noise -25 dBFS",
            synth::pink_noise(5, -25.0, n),
            vec![],
        ),
        ("hum 50 Hz -20 dBFS", hum(-20.0, n), vec![]),
        ("noise step -70 to -40 dBFS", step, vec![]),
        ("beep 1 kHz", beep, vec![]),
        ("tone 1800 Hz", tones, vec![]),
        ("DTMF keys", keys, events),
    ]
}

#[test]
fn hysteresis_and_alignment() {
    let probs: Vec<SpeechProb> = [0.1, 0.6, 0.4, 0.3, 0.5, 0.2]
        .iter()
        .enumerate()
        .map(|(k, &prob)| SpeechProb {
            start: (k * WINDOW) as u64,
            prob,
        })
        .collect();
    let cfg = |lag_ms| NeuralVad {
        model: constant_model(0.0),
        label: String::new(),
        stretch_ms: 0,
        low_snr_onset_pad_ms: 0,
        onset_pad_ms: 10,
        onset: 0.5,
        offset: 0.35,
        lag_ms,
    };
    // Windows on: 1 (0.6), 2 (0.4 >= offset), 4 (0.5); off: 0, 3, 5.
    let want_window = [false, true, true, false, true, false];
    let votes = frame_votes(&cfg(0), &probs, 20, 80);
    for (i, &v) in votes.iter().enumerate() {
        let k = ((i * 80 + 40) / WINDOW).min(5);
        assert_eq!(v, want_window[k], "frame {i}");
    }
    // A lag of 32 ms moves every frame one window later.
    let lagged = frame_votes(&cfg(32), &probs, 20, 80);
    for (i, &v) in lagged.iter().enumerate() {
        let k = ((i * 80 + 40 + 256) / WINDOW).min(5);
        assert_eq!(v, want_window[k], "frame {i}");
    }
    assert_eq!(frame_votes(&cfg(0), &[], 3, 80), vec![false; 3]);
}

/// A model that calls every window speech adds nothing where the classical
/// gates say there is no speech: steady noise, hum, a noise step, tones,
/// a beep, key presses, digital silence.
#[test]
fn the_gates_hold_against_a_model_that_calls_everything_speech() {
    let always = fused(constant_model(20.0));
    for (name, x, dtmf) in no_speech() {
        let classical = run(&VadConfig::default(), &x, &dtmf, 1024);
        assert!(
            classical.segments.is_empty(),
            "classical, {name}: {:?}",
            classical.segments
        );
        let a = run(&always, &x, &dtmf, 1024);
        assert!(a.segments.is_empty(), "{name}: {:?}", a.segments);
        assert_eq!(a, run(&VadConfig::default(), &x, &dtmf, 1024), "{name}");
    }
}

/// A model that calls nothing speech leaves the classical decision as it
/// was (with the fusion's own onset pad, which replaces the classical one);
/// one that calls everything speech can only add to it.
#[test]
fn the_model_only_adds_candidates() {
    let x = synth::caller_bursts(5, 6.0, RATE);
    let mut noisy = x.clone();
    for (v, w) in noisy.iter_mut().zip(synth::white_noise(4, -45.0, x.len())) {
        *v += w;
    }
    let same_pads = VadConfig {
        onset_pad_ms: NeuralVad::new(constant_model(0.0), "").onset_pad_ms,
        ..VadConfig::default()
    };
    for x in [x, noisy] {
        let classical = run(&same_pads, &x, &[], 4096);
        assert!(!classical.segments.is_empty());
        // The trim's extent is the classical one, pads and all.
        let plain = run(&VadConfig::default(), &x, &[], 4096);
        let expected = SpeechActivity {
            extent: plain.extent,
            extent_decay_samples: plain.extent_decay_samples,
            ..classical.clone()
        };
        assert_eq!(run(&fused(constant_model(-20.0)), &x, &[], 4096), expected);
        let always = run(&fused(constant_model(20.0)), &x, &[], 4096);
        let covered =
            |a: &SpeechActivity, i: u64| a.segments.iter().any(|s| s.start <= i && i < s.end);
        for i in (0..x.len() as u64).step_by(80) {
            assert!(!covered(&classical, i) || covered(&always, i), "sample {i}");
        }
    }
}

/// The fused detector gives the same activity however the input is pushed
/// (Silero's windows of 256 and the detector's frames of 80 never line up
/// with the chunks).
#[test]
fn fused_detection_is_chunk_invariant() {
    let mut x = synth::caller_bursts(9, 5.0, RATE);
    x.truncate(x.len() - 77);
    let noise = synth::pink_noise(2, -40.0, x.len());
    for (v, w) in x.iter_mut().zip(noise) {
        *v += w;
    }
    let cfg = VadConfig {
        neural: Some(NeuralVad {
            onset: 0.3,
            offset: 0.2,
            lag_ms: 20,
            ..NeuralVad::new(seeded_model(), "seeded")
        }),
        ..VadConfig::default()
    };
    let whole = run(&cfg, &x, &[], x.len());
    for chunk in [1, 7, 80, 160, 256, 1000, 1024] {
        assert_eq!(run(&cfg, &x, &[], chunk), whole, "chunk {chunk}");
    }
}

#[test]
fn bad_fusion_settings_are_errors() {
    let model = constant_model(0.0);
    let at16k = VadConfig {
        sample_rate: 16_000,
        ..fused(model.clone())
    };
    assert_eq!(
        SpeechDetector::new(at16k).unwrap_err(),
        VadError::ModelRate(16_000)
    );
    for (onset, offset) in [(1.5, 0.2), (0.3, 0.5), (f32::NAN, 0.1), (0.5, -0.1)] {
        let cfg = VadConfig {
            neural: Some(NeuralVad {
                onset,
                offset,
                ..NeuralVad::new(model.clone(), "m")
            }),
            ..VadConfig::default()
        };
        let err = SpeechDetector::new(cfg).unwrap_err();
        assert!(matches!(err, VadError::ModelThresholds { .. }), "{err:?}");
        assert!(err.to_string().contains("thresholds"), "{err}");
    }
    // Equality compares the weights by identity.
    assert_eq!(
        NeuralVad::new(model.clone(), "m"),
        NeuralVad::new(model.clone(), "m")
    );
    assert_ne!(
        NeuralVad::new(model, "m"),
        NeuralVad::new(constant_model(0.0), "m")
    );
}

/// The real model (VOXCAP_SILERO_MODEL, as in `silero/tests.rs`): no speech
/// on the no-speech clips, speech found in the fixtures' speech, and the
/// same activity for any chunking.
#[test]
fn real_model_fusion() {
    let path = std::env::var_os("VOXCAP_SILERO_MODEL").unwrap_or_else(|| {
        panic!(
            "VOXCAP_SILERO_MODEL is not set: the `neural` feature's tests need Silero's model \
             (scripts/speech-set/fetch-silero.sh fetches it)"
        )
    });
    let file = std::fs::File::open(&path).expect("the model opens");
    let cfg = fused(SileroModel::from_reader(file).expect("the model loads"));
    for (name, x, dtmf) in no_speech() {
        let a = run(&cfg, &x, &dtmf, 1024);
        assert!(a.segments.is_empty(), "{name}: {:?}", a.segments);
    }
    let speech: Vec<f32> = voxcap_testkit::speech::speech_samples()
        .into_iter()
        .take(3)
        .flat_map(|s| {
            let mut v = vec![0.0f32; 4000];
            v.extend(s);
            v
        })
        .collect();
    let mut x = synth::white_noise(12, -50.0, speech.len() + 4000);
    for (v, s) in x.iter_mut().zip(&speech) {
        *v += s;
    }
    let whole = run(&cfg, &x, &[], x.len());
    assert!(!whole.segments.is_empty());
    for chunk in [1, 80, 256, 1000, 4097] {
        assert_eq!(run(&cfg, &x, &[], chunk), whole, "chunk {chunk}");
    }
}
