//! Speech detector benchmark: a 2-minute 8 kHz clip of real speech (the
//! committed fixtures, laid end to end with pauses) in line noise, and a batch
//! of 100 five-second clips.
//!
//! Target: the whole analysis of a 2-minute clip fits in ~40 ms on one core,
//! of which the speech detector may take ~15 ms (>= 64 M samples/s at 8 kHz).
//!
//! Group `fvad`: the voice decision alone on the same clip in 30 ms blocks,
//! voxcap's Rust port (`vad::fvad`) beside libfvad in C (the `webrtc-vad`
//! crate), which it replaced.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use voxcap_dsp::synth;

use voxcap_dsp::vad::fvad::Fvad;
use voxcap_dsp::vad::SpeechDetector;
use voxcap_testkit::speech::speech_samples;

fn clip(fx: &[Vec<f32>], seconds: f64, seed: u64) -> Vec<f32> {
    let n = synth::samples_for(seconds, 8000);
    let mut x = synth::white_noise(seed, -50.0, n);
    let mut rng = synth::Rng::new(seed);
    let mut at = synth::samples_for(0.5, 8000);
    while at < n {
        let f = &fx[(rng.next_u64() % fx.len() as u64) as usize];
        for (d, s) in x[at..].iter_mut().zip(f) {
            *d += s;
        }
        at += f.len() + synth::samples_for(0.3 + rng.next_f64(), 8000);
    }
    x
}

fn run(x: &[f32]) -> usize {
    let mut d = SpeechDetector::with_rate(8000).expect("8 kHz");
    for chunk in x.chunks(1024) {
        d.push(chunk);
    }
    d.finish().segments.len()
}

fn bench(c: &mut Criterion) {
    let fx = speech_samples();
    let long = clip(&fx, 120.0, 1);
    let mut g = c.benchmark_group("vad");
    g.throughput(Throughput::Elements(long.len() as u64));
    g.bench_function(BenchmarkId::new("2min_8k", long.len()), |b| {
        b.iter(|| run(black_box(&long)))
    });
    let batch: Vec<Vec<f32>> = (0..100).map(|i| clip(&fx, 5.0, 100 + i)).collect();
    let total: usize = batch.iter().map(Vec::len).sum();
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function(BenchmarkId::new("100x5s_8k", total), |b| {
        b.iter(|| batch.iter().map(|x| run(black_box(x))).sum::<usize>())
    });
    g.finish();

    let pcm: Vec<i16> = long.iter().map(|&s| (s * 32768.0) as i16).collect();
    let mut g = c.benchmark_group("fvad");
    g.throughput(Throughput::Elements(pcm.len() as u64));
    g.bench_function(BenchmarkId::new("rust_2min_8k", pcm.len()), |b| {
        b.iter(|| {
            let mut v = Fvad::new(false, 0);
            black_box(&pcm)
                .chunks_exact(240)
                .filter(|blk| v.is_voice(blk))
                .count()
        })
    });
    g.bench_function(BenchmarkId::new("libfvad_c_2min_8k", pcm.len()), |b| {
        b.iter(|| {
            let mut v = webrtc_vad::Vad::new();
            black_box(&pcm)
                .chunks_exact(240)
                .filter(|blk| v.is_voice_segment(blk) == Ok(true))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
