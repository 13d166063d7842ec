//! Whole-analysis benchmark: decode, resample to 8 kHz, DTMF, speech
//! detection, trim planning, quality and the completion check, from WAV
//! bytes in memory to a finished report.
//!
//! Targets (issue 5): at least 3,000x real time on one core for 16 kHz
//! speech, i.e. a 2-minute 16 kHz clip in under 40 ms; and a batch of 100
//! five-second 16 kHz clips (500 s of audio) in under 170 ms.
//!
//! Inputs are real speech (the committed espeak-ng and recorded fixtures in
//! `testdata/speech/`, 8 kHz, taken to 16 kHz with the same resampler the
//! pipeline uses) laid end to end with pauses, in -50 dBFS line noise, with a
//! `#` press at the end, as a caller's answer looks.
//!
//! Run: `cargo bench -p voxcap-benches --bench analysis`.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voxcap_dsp::resample::StreamResampler;
use voxcap_dsp::synth::{self, DtmfPress};
use voxcap_dsp::{analyze_reader, AnalysisConfig};
use voxcap_testkit::speech::speech_samples;

const RATE: u32 = 16_000;

fn speech_fixtures_16k() -> Vec<Vec<f32>> {
    speech_samples()
        .iter()
        .map(|x| {
            let mut up = StreamResampler::new(8000, RATE).expect("resampler");
            let mut out = Vec::new();
            up.push(x, &mut out);
            up.finish(&mut out);
            out
        })
        .collect()
}

/// A `seconds`-long answer: speech with pauses, then `#`, in line noise.
fn answer(fx: &[Vec<f32>], seconds: f64, seed: u64) -> Arc<[u8]> {
    let n = synth::samples_for(seconds, RATE);
    let mut x = synth::white_noise(seed, -50.0, n);
    let mut rng = synth::Rng::new(seed);
    let tone = synth::dtmf_press(&DtmfPress::new('#', 0.12), RATE);
    let speech_end = n.saturating_sub(tone.len() + synth::samples_for(0.3, RATE));
    let mut at = synth::samples_for(0.4, RATE);
    while at < speech_end {
        let f = &fx[(rng.next_u64() % fx.len() as u64) as usize];
        let len = f.len().min(speech_end - at);
        synth::overlay(&mut x, &f[..len], at);
        at += len + synth::samples_for(0.3 + rng.next_f64() * 0.6, RATE);
    }
    synth::overlay(
        &mut x,
        &tone,
        n - tone.len() - synth::samples_for(0.05, RATE),
    );
    x.truncate(n);
    synth::wav_pcm16_mono(&x, RATE).into()
}

fn config() -> AnalysisConfig {
    let mut c = AnalysisConfig::default();
    c.settings.stop_tones = vec!['#'];
    c.settings.max_record_s = 120.0;
    c
}

fn bench_analysis(c: &mut Criterion) {
    let fx = speech_fixtures_16k();
    let config = config();
    let long = answer(&fx, 120.0, 1);
    let mut g = c.benchmark_group("analysis");
    g.throughput(Throughput::Elements(120 * u64::from(RATE)));
    g.bench_function("whole_16000_2min", |b| {
        b.iter(|| {
            let r =
                analyze_reader("bench", Cursor::new(Arc::clone(&long)), &config).expect("analysis");
            black_box(r)
        })
    });
    let batch: Vec<Arc<[u8]>> = (0..100).map(|i| answer(&fx, 5.0, 100 + i)).collect();
    g.throughput(Throughput::Elements(100 * 5 * u64::from(RATE)));
    g.bench_function("batch_100x5s_16000", |b| {
        b.iter(|| {
            for clip in &batch {
                let r = analyze_reader("bench", Cursor::new(Arc::clone(clip)), &config)
                    .expect("analysis");
                black_box(r);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_analysis);
criterion_main!(benches);
