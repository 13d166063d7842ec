//! The DTMF detector's noise-floor trade-off curve (docs/dtmf.md, "Trade-off").
//!
//! For each `noise_floor_weight` given on the command line (default
//! `0 0.25 0.5 0.75 1 1.25 1.5`) prints, as a Markdown table row: acceptance
//! in white noise at SNR 8/6/5/4 dB (the conformance suite's trials: 60 ms
//! digits at -20 dBFS/tone, 60 ms of noise either side, 16 digits x 32
//! seeds), extra digits there, false digits in 10 min of white noise alone,
//! and false digits on the talk-off corpus (speech and music, clean and with
//! white noise added at 10 dB below the clip's RMS).
//!
//! ```sh
//! bash scripts/talkoff-corpus.sh
//! cargo run -p voxcap-dsp --release --example dtmf_tradeoff -- 0 0.5 1
//! ```

// A command-line report: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use voxcap_dsp::dtmf::{DtmfConfig, DtmfDetector};
use voxcap_dsp::events::DtmfEvent;
use voxcap_dsp::keypad::{dtmf_frequencies, DTMF_DIGITS};
use voxcap_dsp::synth::{dbfs_to_amplitude, Rng};
use voxcap_testkit::talkoff::{self, read as read_8k, wavs};

const FS: u32 = talkoff::RATE;

fn detect(cfg: DtmfConfig, x: &[f32]) -> Vec<DtmfEvent> {
    let mut d = DtmfDetector::new(cfg).expect("valid config");
    let mut out = Vec::new();
    for c in x.chunks(1013) {
        d.push(c, &mut out);
    }
    d.finish(&mut out);
    out
}

fn ms(ms: f64) -> usize {
    (ms * f64::from(FS) / 1000.0).round() as usize
}

/// Exactly the conformance suite's `white_noise` trial for `digit`, `seed`.
fn noisy_trial(digit: char, i: usize, seed: u64, snr: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed * 1000 + i as u64 + 1);
    let (lo, hi) = dtmf_frequencies(digit).expect("digit");
    let a = f64::from(dbfs_to_amplitude(-20.0));
    let w1 = std::f64::consts::TAU * f64::from(lo) / f64::from(FS);
    let w2 = std::f64::consts::TAU * f64::from(hi) / f64::from(FS);
    let (p1, p2) = (
        rng.next_f64() * std::f64::consts::TAU,
        rng.next_f64() * std::f64::consts::TAU,
    );
    let mut s = vec![0f32; ms(60.0)];
    s.extend((0..ms(60.0)).map(|n| {
        let n = n as f64;
        (a * (w1 * n + p1).sin() + a * (w2 * n + p2).sin()) as f32
    }));
    s.resize(s.len() + ms(60.0), 0.0);
    let tone_power = 10f64.powf(-2.0);
    let sigma = (tone_power / 10f64.powf(f64::from(snr) / 10.0)).sqrt();
    for v in s.iter_mut() {
        *v += (rng.next_gaussian() * sigma) as f32;
    }
    s
}

fn main() {
    let weights: Vec<f32> = {
        let a: Vec<f32> = std::env::args()
            .skip(1)
            .map(|a| a.parse().expect("weights are numbers"))
            .collect();
        if a.is_empty() {
            vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
        } else {
            a
        }
    };
    let base = talkoff::dir();
    let corpus: Vec<(&str, Vec<Vec<f32>>)> = talkoff::CLASSES
        .iter()
        .map(|c| (*c, wavs(&base.join(c)).iter().map(|p| read_8k(p)).collect()))
        .collect();
    for (c, files) in &corpus {
        let n: usize = files.iter().map(Vec::len).sum();
        eprintln!(
            "{c}: {} files, {:.1} min",
            files.len(),
            n as f64 / f64::from(FS) / 60.0
        );
    }
    let mut noise = vec![0f32; 10 * 60 * FS as usize];
    let mut rng = Rng::new(99);
    for v in noise.iter_mut() {
        *v = (rng.next_gaussian() * 0.03) as f32;
    }
    println!("| weight | 8 dB | 6 dB | 5 dB | 4 dB | extra digits (4-8 dB) | noise alone | speech | music | speech + noise | music + noise |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for w in weights {
        let cfg = DtmfConfig {
            noise_floor_weight: w,
            ..DtmfConfig::default()
        };
        let mut row = format!("| {w} |");
        let mut extra = 0usize;
        for snr in [8.0f32, 6.0, 5.0, 4.0] {
            let mut ok = 0;
            let mut n = 0;
            for (i, &d) in DTMF_DIGITS.iter().enumerate() {
                for seed in 0..32 {
                    let got: String = detect(cfg, &noisy_trial(d, i, seed, snr))
                        .iter()
                        .map(|e| e.digit)
                        .collect();
                    ok += usize::from(got == d.to_string());
                    extra += got.len().saturating_sub(1);
                    n += 1;
                }
            }
            row += &format!(" {:.1}% |", 100.0 * ok as f64 / n as f64);
        }
        row += &format!(" {extra} | {} |", detect(cfg, &noise).len());
        let mut noisy = Vec::new();
        for (_, files) in &corpus {
            let mut false_digits = 0;
            let mut false_noisy = 0;
            for (j, x) in files.iter().enumerate() {
                false_digits += detect(cfg, x).len();
                let power = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64;
                let sigma = (power / 10.0).sqrt();
                let mut rng = Rng::new(7 + j as u64);
                let y: Vec<f32> = x
                    .iter()
                    .map(|v| v + (rng.next_gaussian() * sigma) as f32)
                    .collect();
                false_noisy += detect(cfg, &y).len();
            }
            row += &format!(" {false_digits} |");
            noisy.push(false_noisy);
        }
        row += &format!(" {} | {} |", noisy[0], noisy[1]);
        println!("{row}");
    }
}
