//! The quality summary on the labelled set: labels on the no-speech, quiet,
//! clipped and cut-off clips, and how close the noise-floor and SNR estimates
//! come to the known mix.

use crate::speech_set::*;
use voxcap_dsp::quality::{Quality, QualityEvidence, QualityLabel};
use voxcap_dsp::synth;
use voxcap_dsp::vad::detect_speech;

fn quality(x: &[f32], dtmf: &[voxcap_dsp::events::DtmfEvent]) -> Quality {
    let act = detect_speech(x, RATE, dtmf).unwrap();
    let mut ev = QualityEvidence::from_activity(&act, dtmf, RATE);
    ev.clipped_samples = x.iter().filter(|v| v.abs() >= 0.999).count() as u64;
    Quality::new(&ev)
}

#[test]
fn labels_on_special_clips() {
    for clip in no_speech_set() {
        let q = quality(&clip.samples, &clip.dtmf);
        let want = if clip.dtmf.is_empty() {
            QualityLabel::Silent
        } else {
            QualityLabel::DtmfOnly
        };
        assert_eq!(q.labels, vec![want], "{}", clip.name);
        assert_eq!(q.speech_s, 0.0);
        assert_eq!(q.time_to_first_speech_s, None);
        assert!(serde_json::to_string(&q).unwrap().find("NaN").is_none());
    }
    let fx = fixtures();
    let lead = secs(0.8);
    let len = lead + fx[3].samples.len() + secs(1.0);
    let (x, truth) = place(&fx, &[(3, lead, 0.0)], len);
    let scaled = |db: f32| -> Vec<f32> {
        let g = synth::dbfs_to_amplitude(db - speech_power_db(&x, &truth));
        x.iter().map(|v| (v * g).clamp(-1.0, 1.0)).collect()
    };
    let q = quality(&scaled(-20.0), &[]);
    assert_eq!(q.labels, vec![QualityLabel::Speech]);
    assert!(
        (q.time_to_first_speech_s.unwrap() - truth[0].0 as f64 / 8000.0).abs() < 0.05,
        "{q:?}"
    );
    let q = quality(&scaled(-45.0), &[]);
    assert_eq!(q.labels, vec![QualityLabel::Speech, QualityLabel::LowLevel]);
    let q = quality(&scaled(4.0), &[]);
    assert!(q.labels.contains(&QualityLabel::Clipped), "{q:?}");
    // Cut off mid-word: speech runs to the end.
    let cut = scaled(-20.0)[..truth[0].0 + secs(0.6)].to_vec();
    let q = quality(&cut, &[]);
    assert!(q.labels.contains(&QualityLabel::Truncated), "{q:?}");
}

#[test]
fn snr_estimate_tracks_the_mix() {
    let fx = fixtures();
    println!("| noise | SNR dB | median estimate dB | median abs error dB |");
    println!("|---|---|---|---|");
    for noise in [Noise::White, Noise::Pink] {
        for snr in [30.0f32, 20.0, 10.0, 5.0] {
            let mut est: Vec<f64> = noisy_set(&fx, &[snr], &[noise])
                .iter()
                .filter_map(|c| quality(&c.samples, &[]).snr_db)
                .collect();
            let mut err: Vec<f64> = est.iter().map(|e| (e - f64::from(snr)).abs()).collect();
            let (m, e) = (median(&mut est), median(&mut err));
            println!("| {} | {snr:.0} | {m:.1} | {e:.1} |", noise.name());
            if noise == Noise::White {
                assert!(e <= 4.0, "white {snr} dB: SNR estimate off by {e:.1} dB");
            }
        }
    }
}
