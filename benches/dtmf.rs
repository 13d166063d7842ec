//! DTMF detector throughput over a 2-minute 8 kHz clip of speech-like audio
//! with a digit every few seconds.
//!
//! Target: at least 1.5e8 samples/s on one core (spandsp's receiver measured
//! 1.44e8 on this machine class). Run: `cargo bench -p voxcap-benches --bench dtmf`.
//!
//! A second case feeds loud white noise, which never takes the quiet-hop
//! early-out, as a worst case.
//!
//! The "speech" is synthetic so that the bench needs no corpus: a voiced
//! harmonic series with a gliding pitch, two moving formant resonances, a
//! syllabic envelope with pauses, and a noise floor.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voxcap_dsp::dtmf::{DtmfConfig, DtmfDetector};
use voxcap_dsp::keypad::DTMF_DIGITS;
use voxcap_dsp::synth::{dtmf_press, DtmfPress, Rng};

const FS: u32 = 8000;

fn speech_like(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let fs = f64::from(FS);
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    for i in 0..n {
        let t = i as f64 / fs;
        // Pitch glides 100-220 Hz; syllables at ~4 Hz; a pause every ~3 s.
        let f0 = 160.0 + 60.0 * (t * 0.7).sin() + 20.0 * (t * 5.3).sin();
        phase += std::f64::consts::TAU * f0 / fs;
        let syll = (0.5 - 0.5 * (std::f64::consts::TAU * 4.0 * t).cos()).powi(2);
        let gate = if (t % 3.0) < 2.4 { 1.0 } else { 0.0 };
        let f1 = 500.0 + 250.0 * (t * 3.1).sin();
        let f2 = 1500.0 + 600.0 * (t * 2.3).cos();
        let mut v = 0.0;
        for h in 1..=20 {
            let fh = f0 * h as f64;
            if fh > 3800.0 {
                break;
            }
            let g = 1.0 / (1.0 + ((fh - f1) / 120.0).powi(2))
                + 0.5 / (1.0 + ((fh - f2) / 200.0).powi(2));
            v += g * (phase * h as f64).sin();
        }
        out.push((0.08 * syll * gate * v + 0.002 * rng.next_gaussian()) as f32);
    }
    out
}

fn clip() -> Vec<f32> {
    let mut s = speech_like(FS as usize * 120, 7);
    let mut at = FS as usize;
    let mut i = 0;
    while at + 1000 < s.len() {
        let tone = dtmf_press(&DtmfPress::new(DTMF_DIGITS[i % 16], 0.08), FS);
        for (d, t) in s[at..].iter_mut().zip(&tone) {
            *d += t;
        }
        at += FS as usize * 5;
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let s = clip();
    let mut g = c.benchmark_group("dtmf");
    g.throughput(Throughput::Elements(s.len() as u64));
    g.sample_size(20);
    g.bench_function("detect_2min_8khz_speech_and_digits", |b| {
        let mut det = DtmfDetector::new(DtmfConfig::default()).expect("default config");
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            for chunk in s.chunks(160) {
                det.push(chunk, &mut out);
            }
            det.finish(&mut out);
            assert_eq!(out.len(), 24);
            out.len()
        })
    });
    // Worst case: loud noise never passes the quiet-hop gate, so every hop
    // runs both filter banks.
    let noise = voxcap_dsp::synth::white_noise(9, -20.0, s.len());
    g.bench_function("detect_2min_8khz_white_noise_worst_case", |b| {
        let mut det = DtmfDetector::new(DtmfConfig::default()).expect("default config");
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            for chunk in noise.chunks(160) {
                det.push(chunk, &mut out);
            }
            det.finish(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
