//! Compares the shipped detector with the pure-Rust `earshot` detector (a small
//! neural network at 16 kHz) on the labelled set, to decide whether earshot is
//! worth offering as a second `VadKind`. Run with `--nocapture` for the table.

use crate::speech_set::*;
use voxcap_dsp::vad::detect_speech;

/// earshot on the 8 kHz clip, upsampled 2x by linear interpolation (telephone
/// audio has nothing above 4 kHz anyway); 16 ms frames, score >= 0.5, then the
/// same 300 ms gap bridging as the truth convention when `bridge`.
fn earshot_spans(x: &[f32], bridge: bool) -> Vec<(usize, usize)> {
    let mut up = Vec::with_capacity(x.len() * 2 + 256);
    for (i, &v) in x.iter().enumerate() {
        let next = x.get(i + 1).copied().unwrap_or(v);
        up.push(v);
        up.push(0.5 * (v + next));
    }
    up.resize(up.len().div_ceil(256) * 256, 0.0);
    let mut det = earshot::Detector::default();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (k, frame) in up.chunks_exact(256).enumerate() {
        let clamped: Vec<f32> = frame.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        if det.predict_f32(&clamped) >= 0.5 {
            // 256 samples at 16 kHz = 128 at 8 kHz.
            let (s, e) = (k * 128, ((k + 1) * 128).min(x.len()));
            match spans.last_mut() {
                Some(l) if s <= l.1 + if bridge { secs(0.3) } else { 0 } => l.1 = e,
                _ => spans.push((s, e)),
            }
        }
    }
    spans
}

#[test]
fn earshot_versus_webrtc_with_gates() {
    let fx = fixtures();
    let snrs = [30.0f32, 20.0, 10.0, 5.0];
    println!("| detector | noise | F1 30 dB | F1 20 dB | F1 10 dB | F1 5 dB |");
    println!("|---|---|---|---|---|---|");
    let mut ours_low = 0.0;
    let mut earshot_low = 0.0;
    for noise in [Noise::White, Noise::Pink, Noise::Babble] {
        let mut rows = [[Score::default(); 4]; 3];
        for (j, &snr) in snrs.iter().enumerate() {
            for clip in noisy_set(&fx, &[snr], &[noise]) {
                let t = frame_labels(&clip.truth, clip.samples.len());
                let ours = spans(&detect_speech(&clip.samples, RATE, &[]).unwrap().segments);
                rows[0][j].add(&t, &frame_labels(&ours, clip.samples.len()));
                let e = earshot_spans(&clip.samples, false);
                rows[1][j].add(&t, &frame_labels(&e, clip.samples.len()));
                let e = earshot_spans(&clip.samples, true);
                rows[2][j].add(&t, &frame_labels(&e, clip.samples.len()));
            }
        }
        for (name, r) in [
            "voxcap (webrtc + gates)",
            "earshot >= 0.5",
            "earshot + 300 ms bridging",
        ]
        .iter()
        .zip(&rows)
        {
            println!(
                "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                noise.name(),
                r[0].f1(),
                r[1].f1(),
                r[2].f1(),
                r[3].f1()
            );
        }
        if noise != Noise::Babble {
            ours_low += rows[0][2].f1() + rows[0][3].f1();
            earshot_low +=
                rows[1][2].f1().max(rows[2][2].f1()) + rows[1][3].f1().max(rows[2][3].f1());
        }
    }
    let mut fp = (0, 0);
    for clip in no_speech_set() {
        let n = clip.samples.len();
        fp.0 += frame_labels(
            &spans(
                &detect_speech(&clip.samples, RATE, &clip.dtmf)
                    .unwrap()
                    .segments,
            ),
            n,
        )
        .iter()
        .filter(|&&p| p)
        .count();
        fp.1 += frame_labels(&earshot_spans(&clip.samples, false), n)
            .iter()
            .filter(|&&p| p)
            .count();
    }
    println!(
        "false speech frames on the no-speech clips: voxcap {}, earshot {}",
        fp.0, fp.1
    );
    println!(
        "mean F1 at 10 and 5 dB (white, pink): voxcap {:.3}, earshot {:.3}",
        ours_low / 4.0,
        earshot_low / 4.0
    );
    // The decision recorded in docs/speech.md: earshot would be offered as a
    // second kind only if it beat the shipped detector at low SNR by a clear
    // margin without false speech on the no-speech clips. If this fails, the
    // measurements changed and the decision needs revisiting.
    let earshot_wins = earshot_low / 4.0 >= ours_low / 4.0 + 0.02 && fp.1 == 0;
    assert!(
        !earshot_wins,
        "earshot now clearly beats the shipped detector: offer it as a VadKind"
    );
    assert_eq!(fp.0, 0, "shipped detector found speech in no-speech clips");
}
