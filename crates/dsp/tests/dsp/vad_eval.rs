//! Scores the speech detector per 10 ms frame on the labelled set and asserts
//! the acceptance thresholds of issue 5 (F1 per SNR, zero false speech on
//! no-speech clips, median onset error). Run with `--nocapture` for the tables.

use crate::speech_set::*;
use voxcap_dsp::vad::{SpeechDetector, VadAggressiveness, VadConfig};

const SNRS: [f32; 4] = [30.0, 20.0, 10.0, 5.0];
/// The acceptance noises: white, pink and crowd babble.
const NOISES: [Noise; 3] = [Noise::White, Noise::Pink, Noise::Babble];

fn run(cfg: &VadConfig, clip: &Clip) -> Vec<(usize, usize)> {
    let mut d = SpeechDetector::new(cfg.clone()).expect("valid config");
    d.mask_dtmf(&clip.dtmf);
    d.push(&clip.samples);
    spans(&d.finish().segments)
}

/// One table row: noise, SNR, frame score, onset errors (ms), missed onsets.
type Row = (Noise, Option<f32>, Score, Vec<f64>, usize);

/// Per-(noise, SNR) scores and onset errors of one configuration.
struct Eval {
    rows: Vec<Row>,
}

fn evaluate(cfg: &VadConfig, clips: &[Clip]) -> Eval {
    let mut rows: Vec<Row> = Vec::new();
    for clip in clips {
        let pred = run(cfg, clip);
        let t = frame_labels(&clip.truth, clip.samples.len());
        let p = frame_labels(&pred, clip.samples.len());
        let idx = match rows
            .iter()
            .position(|r| r.0 == clip.noise && r.1 == clip.snr_db)
        {
            Some(i) => i,
            None => {
                rows.push((clip.noise, clip.snr_db, Score::default(), Vec::new(), 0));
                rows.len() - 1
            }
        };
        rows[idx].2.add(&t, &p);
        for e in onset_errors_ms(&clip.truth, &pred) {
            match e {
                Some(ms) => rows[idx].3.push(ms),
                None => rows[idx].4 += 1,
            }
        }
    }
    Eval { rows }
}

/// Score at `snr` summed over the acceptance noises (not competing talkers).
fn snr_score(ev: &Eval, snr: f32) -> Score {
    let mut s = Score::default();
    for r in ev
        .rows
        .iter()
        .filter(|r| r.1 == Some(snr) && NOISES.contains(&r.0))
    {
        s.tp += r.2.tp;
        s.fp += r.2.fp;
        s.fn_ += r.2.fn_;
        s.tn += r.2.tn;
    }
    s
}

fn print_table(title: &str, ev: &mut Eval) {
    println!("\n{title}");
    println!("| noise | SNR dB | precision | recall | F1 | median onset err ms | missed onsets |");
    println!("|---|---|---|---|---|---|---|");
    for r in ev.rows.iter_mut() {
        let snr = r.1.map_or("-".to_string(), |s| format!("{s:.0}"));
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.0} | {} |",
            r.0.name(),
            snr,
            r.2.precision(),
            r.2.recall(),
            r.2.f1(),
            median(&mut r.3),
            r.4
        );
    }
    for snr in SNRS {
        let s = snr_score(ev, snr);
        println!(
            "| all (white, pink, babble) | {snr:.0} | {:.3} | {:.3} | {:.3} | | |",
            s.precision(),
            s.recall(),
            s.f1()
        );
    }
}

#[test]
fn labelled_set_meets_acceptance() {
    let fx = fixtures();
    let mut clips = noisy_set(&fx, &[0.0], &[Noise::Clean]);
    clips.extend(noisy_set(&fx, &SNRS, &NOISES));
    // Reported, not asserted: a few talkers near the caller's level (see
    // docs/speech.md, "Competing talkers").
    clips.extend(noisy_set(&fx, &SNRS, &[Noise::CompetingTalkers]));
    let cfg = VadConfig::default();
    let mut ev = evaluate(&cfg, &clips);
    print_table("default detector (webrtc-vad mode 0 + gates)", &mut ev);

    let accepted = |n: Noise| n == Noise::Clean || NOISES.contains(&n);
    let mut onsets: Vec<f64> = ev
        .rows
        .iter()
        .filter(|r| accepted(r.0))
        .flat_map(|r| r.3.iter().copied())
        .collect();
    let med = median(&mut onsets);
    println!(
        "median onset error over clean, white, pink and babble clips: {med:.1} ms ({} onsets)",
        onsets.len()
    );
    let mut signed: Vec<f64> = clips
        .iter()
        .filter(|c| accepted(c.noise))
        .flat_map(|c| {
            onset_errors_signed_ms(&c.truth, &run(&cfg, c))
                .into_iter()
                .flatten()
        })
        .collect();
    println!(
        "signed onset error (detected - truth), same clips: median {:.1} ms, 10th pct {:.0}, 90th pct {:.0}",
        median(&mut signed),
        signed[signed.len() / 10],
        signed[signed.len() * 9 / 10]
    );

    // Every acceptance noise (white, pink, crowd babble) at every SNR, each
    // on its own and summed; competing talkers are printed only.
    let min_f1 = |snr: Option<f32>| match snr {
        Some(s) if s >= 20.0 => 0.95,
        Some(s) if s >= 10.0 => 0.90,
        Some(_) => 0.80,
        None => 0.95,
    };
    for snr in SNRS {
        let f1 = snr_score(&ev, snr).f1();
        let min = min_f1(Some(snr));
        assert!(f1 >= min, "F1 over all noises at {snr} dB {f1:.3} < {min}");
    }
    for r in ev.rows.iter().filter(|r| accepted(r.0)) {
        let min = min_f1(r.1);
        assert!(
            r.2.f1() >= min,
            "{} at {:?} dB: F1 {:.3} < {min}",
            r.0.name(),
            r.1,
            r.2.f1()
        );
    }
    assert!(med <= 30.0, "median onset error {med:.1} ms > 30 ms");
}

#[test]
fn no_speech_clips_have_zero_speech_frames() {
    let cfg = VadConfig::default();
    let mut bad = Vec::new();
    for clip in no_speech_set() {
        let pred = run(&cfg, &clip);
        let frames = frame_labels(&pred, clip.samples.len())
            .iter()
            .filter(|&&p| p)
            .count();
        println!("{:<28} speech frames {frames}", clip.name);
        if frames > 0 {
            bad.push((clip.name.clone(), pred));
        }
    }
    assert!(bad.is_empty(), "speech found in no-speech clips: {bad:?}");
}

#[test]
fn clipped_and_very_quiet_speech_are_found() {
    let fx = fixtures();
    let cfg = VadConfig::default();
    let mut table = Vec::new();
    for (name, gain_db, floor_dbfs, clip_at) in [
        ("clipped_+24dB", 24.0f32, None, Some(1.0f32)),
        ("quiet_-45dBFS_digital_silence", 0.0, None, None),
        ("quiet_-45dBFS_in_-75dBFS_noise", 0.0, Some(-75.0f32), None),
    ] {
        let mut score = Score::default();
        for a in 0..fx.len() {
            let lead = secs(0.7);
            let len = lead + fx[a].samples.len() + secs(1.0);
            let (mut x, truth) = place(&fx, &[(a, lead, 0.0)], len);
            if clip_at.is_none() {
                // Very quiet: -45 dBFS speech power.
                let g = voxcap_dsp::synth::dbfs_to_amplitude(-45.0 - speech_power_db(&x, &truth));
                x.iter_mut().for_each(|v| *v *= g);
            } else {
                let g = voxcap_dsp::synth::dbfs_to_amplitude(gain_db);
                x.iter_mut().for_each(|v| *v = (*v * g).clamp(-1.0, 1.0));
            }
            if let Some(f) = floor_dbfs {
                for (v, w) in x
                    .iter_mut()
                    .zip(voxcap_dsp::synth::white_noise(a as u64, f, len))
                {
                    *v += w;
                }
            }
            let clip = Clip {
                name: name.into(),
                noise: Noise::Clean,
                snr_db: None,
                samples: x,
                truth,
                dtmf: vec![],
            };
            let pred = run(&cfg, &clip);
            score.add(&frame_labels(&clip.truth, len), &frame_labels(&pred, len));
        }
        println!(
            "{name:<32} P {:.3} R {:.3} F1 {:.3}",
            score.precision(),
            score.recall(),
            score.f1()
        );
        table.push((name, score.f1()));
    }
    for (name, f1) in table {
        assert!(f1 >= 0.90, "{name}: F1 {f1:.3} < 0.90");
    }
}

/// Not an acceptance test: prints how the variants compare, for docs/speech.md.
#[test]
fn variant_comparison_table() {
    let fx = fixtures();
    let clips = noisy_set(&fx, &SNRS, &NOISES);
    let competing = noisy_set(&fx, &[10.0, 5.0], &[Noise::CompetingTalkers]);
    let no_speech = no_speech_set();
    let base = VadConfig::default();
    let variants = [
        ("webrtc mode 0 + gates (default)", base.clone()),
        (
            "webrtc mode 0 alone (no gates)",
            VadConfig {
                noise_spread_factor: 0.0,
                gate_db: -100.0,
                abs_floor_dbfs: -200.0,
                relative_db: 200.0,
                ..base.clone()
            },
        ),
        (
            "webrtc mode 3 alone (no gates)",
            VadConfig {
                noise_spread_factor: 0.0,
                gate_db: -100.0,
                abs_floor_dbfs: -200.0,
                relative_db: 200.0,
                aggressiveness: VadAggressiveness::VeryAggressive,
                ..base.clone()
            },
        ),
        (
            "mode 0, floor gate off",
            VadConfig {
                noise_spread_factor: 0.0,
                gate_db: -100.0,
                abs_floor_dbfs: -200.0,
                ..base.clone()
            },
        ),
        (
            "mode 0, fixed 5 dB floor gate (no spread widening)",
            VadConfig {
                noise_spread_factor: 0.0,
                ..base.clone()
            },
        ),
        (
            "mode 0, spread factor 3.5",
            VadConfig {
                noise_spread_factor: 3.5,
                ..base.clone()
            },
        ),
        (
            "mode 0, spread factor 4.5",
            VadConfig {
                noise_spread_factor: 4.5,
                ..base.clone()
            },
        ),
        (
            "mode 0, sustained route off",
            VadConfig {
                sustained_margin_db: 0.0,
                ..base.clone()
            },
        ),
        (
            "mode 0, sustained margin 4 dB",
            VadConfig {
                sustained_margin_db: 4.0,
                ..base.clone()
            },
        ),
        (
            "mode 0, sustained margin 6 dB",
            VadConfig {
                sustained_margin_db: 6.0,
                ..base.clone()
            },
        ),
        (
            "mode 2 + gates",
            VadConfig {
                aggressiveness: VadAggressiveness::Aggressive,
                ..base.clone()
            },
        ),
        (
            "mode 0, relative-level gate off",
            VadConfig {
                relative_db: 200.0,
                ..base.clone()
            },
        ),
        (
            "mode 0, relative 25 dB",
            VadConfig {
                relative_db: 25.0,
                ..base.clone()
            },
        ),
        (
            "mode 3 + gates",
            VadConfig {
                aggressiveness: VadAggressiveness::VeryAggressive,
                ..base.clone()
            },
        ),
        (
            "webrtc on 10 ms frames",
            VadConfig {
                webrtc_frame_ms: 10,
                ..base.clone()
            },
        ),
        (
            "webrtc on 20 ms frames",
            VadConfig {
                webrtc_frame_ms: 20,
                ..base.clone()
            },
        ),
        (
            "mode 0, pads 0/0",
            VadConfig {
                onset_pad_ms: 0,
                offset_pad_ms: 0,
                ..base.clone()
            },
        ),
    ];
    println!("\n| variant | F1 30 dB | F1 20 dB | F1 10 dB | F1 5 dB | crowd babble F1 10 / 5 dB | competing talkers F1 10 / 5 dB | false speech frames on no-speech clips |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, cfg) in variants {
        let ev = evaluate(&cfg, &clips);
        let fp: usize = no_speech
            .iter()
            .map(|c| {
                frame_labels(&run(&cfg, c), c.samples.len())
                    .iter()
                    .filter(|&&p| p)
                    .count()
            })
            .sum();
        let row = |ev: &Eval, noise: Noise, snr: f32| {
            ev.rows
                .iter()
                .find(|r| r.0 == noise && r.1 == Some(snr))
                .map_or(f64::NAN, |r| r.2.f1())
        };
        let ct = evaluate(&cfg, &competing);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} | {:.3} / {:.3} | {fp} |",
            snr_score(&ev, 30.0).f1(),
            snr_score(&ev, 20.0).f1(),
            snr_score(&ev, 10.0).f1(),
            snr_score(&ev, 5.0).f1(),
            row(&ev, Noise::Babble, 10.0),
            row(&ev, Noise::Babble, 5.0),
            row(&ct, Noise::CompetingTalkers, 10.0),
            row(&ct, Noise::CompetingTalkers, 5.0)
        );
    }
}

/// Regression guard for the noise-spread gate: when speech fills almost the
/// whole clip, little noise is left to measure the spread on, and a wrongly
/// widened gate would cut the caller. Four fixtures back to back (100 ms gaps,
/// about 90% speech) in steady noise must score as with the fixed gate.
#[test]
fn dense_speech_keeps_its_score_under_the_spread_gate() {
    let fx = fixtures();
    let fixed = VadConfig {
        noise_spread_factor: 0.0,
        ..VadConfig::default()
    };
    let default = VadConfig::default();
    println!("\n| noise | SNR dB | F1 fixed 5 dB gate | F1 default |");
    println!("|---|---|---|---|");
    for noise in NOISES {
        for snr in SNRS {
            let (mut a_fixed, mut a_default) = (Score::default(), Score::default());
            for a in 0..fx.len() {
                let ids = [
                    a,
                    (a + 3) % fx.len(),
                    (a + 5) % fx.len(),
                    (a + 9) % fx.len(),
                ];
                let mut parts = Vec::new();
                let mut off = secs(0.2);
                for &k in &ids {
                    parts.push((k, off, 0.0f32));
                    off += fx[k].samples.len() + secs(0.1);
                }
                let len = off + secs(0.1);
                let (mut samples, truth) = place(&fx, &parts, len);
                add_noise(&fx, &mut samples, &truth, noise, snr, a as u64 + 99, &ids);
                let clip = Clip {
                    name: format!("dense{a}"),
                    noise,
                    snr_db: Some(snr),
                    samples,
                    truth,
                    dtmf: vec![],
                };
                let t = frame_labels(&clip.truth, len);
                a_fixed.add(&t, &frame_labels(&run(&fixed, &clip), len));
                a_default.add(&t, &frame_labels(&run(&default, &clip), len));
            }
            println!(
                "| {} | {snr:.0} | {:.3} | {:.3} |",
                noise.name(),
                a_fixed.f1(),
                a_default.f1()
            );
            if noise != Noise::Babble {
                assert!(
                    a_default.f1() >= a_fixed.f1() - 0.01,
                    "dense speech in {} at {snr} dB: F1 {:.3} < fixed gate's {:.3}",
                    noise.name(),
                    a_default.f1(),
                    a_fixed.f1()
                );
            }
        }
    }
}
