//! Decode throughput: WAV bytes to mono `f32`, from an in-memory reader.
//!
//! Targets (issue 3): 16-bit PCM decodes at >= 1 GB/s on one core, i.e. a
//! 2-minute 16 kHz mono clip (3.84 MB) in under 4 ms. The 2-minute 8 kHz
//! µ-law clip and the full `analyze` pipeline (decode, levels, resampling to
//! 8 kHz) are measured alongside for reference.
//!
//! Run: `cargo bench -p voxcap-benches --bench decode`.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voxcap_dsp::decode::{DecodeOptions, WavDecoder};
use voxcap_dsp::synth::{self, linear_to_mulaw, to_i16, wav_file, WavSpec};
use voxcap_dsp::{analyze_reader, AnalysisConfig};

/// Two minutes of speech-like signal (pink noise plus a tone) at `rate`.
fn two_minutes(rate: u32) -> Vec<f32> {
    let n = 120 * rate as usize;
    let mut x = synth::pink_noise(7, -24.0, n);
    let tone = synth::sine(440.0, -20.0, n, rate, 0.0);
    x.iter_mut().zip(&tone).for_each(|(a, b)| *a += b);
    x
}

fn decode_all(bytes: &Arc<[u8]>) -> usize {
    let mut dec = WavDecoder::new(Cursor::new(Arc::clone(bytes)), DecodeOptions::default())
        .expect("generated clip decodes");
    let mut block = Vec::with_capacity(64 * 1024);
    let mut total = 0;
    while let Ok(n) = dec.read_block(&mut block) {
        if n == 0 {
            break;
        }
        total += black_box(&block).len();
    }
    total
}

fn bench_decode(c: &mut Criterion) {
    let pcm16: Arc<[u8]> = synth::wav_pcm16_mono(&two_minutes(16_000), 16_000).into();
    let mulaw_spec = WavSpec {
        format_tag: 7,
        channels: 1,
        sample_rate: 8000,
        bits: 8,
        extensible: false,
    };
    let mulaw_data: Vec<u8> = to_i16(&two_minutes(8000))
        .iter()
        .map(|&s| linear_to_mulaw(s))
        .collect();
    let mulaw: Arc<[u8]> = wav_file(&mulaw_spec, &mulaw_data).into();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(pcm16.len() as u64));
    g.bench_function("pcm_s16le_16000_mono_2min", |b| {
        b.iter(|| decode_all(&pcm16))
    });
    g.throughput(Throughput::Bytes(mulaw.len() as u64));
    g.bench_function("mulaw_8000_mono_2min", |b| b.iter(|| decode_all(&mulaw)));
    g.finish();

    let mut g = c.benchmark_group("analyze");
    g.throughput(Throughput::Bytes(pcm16.len() as u64));
    g.bench_function("pcm_s16le_16000_mono_2min", |b| {
        b.iter(|| {
            analyze_reader(
                "bench",
                Cursor::new(Arc::clone(&pcm16)),
                &AnalysisConfig::default(),
            )
            .expect("generated clip analyses")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
