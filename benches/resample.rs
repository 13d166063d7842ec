//! Resampling benchmark: the streaming resampler the pipeline uses, in the
//! 4,000-sample chunks the decoder delivers, over two minutes of audio.
//!
//! Targets (issue 8): 8 kHz → 16 kHz and 48 kHz → 16 kHz each at least
//! 5×10^7 input samples/s on one core, so that resampling stays a small part
//! of the 40 ms budget for a whole 2-minute analysis.
//!
//! Run: `cargo bench -p voxcap-benches --bench resample`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voxcap_dsp::resample::StreamResampler;
use voxcap_dsp::synth;

fn two_minutes(rate: u32) -> Vec<f32> {
    let n = 120 * rate as usize;
    let mut x = synth::pink_noise(5, -24.0, n);
    let tone = synth::sine(1000.0, -20.0, n, rate, 0.0);
    x.iter_mut().zip(&tone).for_each(|(a, b)| *a += b);
    x
}

fn bench_resample(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    for (from, to) in [(8000, 16_000), (48_000, 16_000), (16_000, 8000)] {
        let x = two_minutes(from);
        g.throughput(Throughput::Elements(x.len() as u64));
        g.bench_function(format!("{from}_to_{to}_2min"), |b| {
            let mut out = Vec::with_capacity(120 * to as usize + 4096);
            b.iter(|| {
                let mut r = StreamResampler::new(from, to).expect("supported rates");
                out.clear();
                for chunk in x.chunks(4000) {
                    r.push(chunk, &mut out);
                }
                r.finish(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_resample);
criterion_main!(benches);
