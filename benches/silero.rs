//! Silero forward pass benchmark (feature `neural`): 2 minutes of 8 kHz
//! speech (the committed fixtures end to end, in line noise) through one
//! `SileroStream`. Needs `VOXCAP_SILERO_MODEL` (silero_vad.onnx from the
//! silero-vad 6.2.3 wheel; `scripts/speech-set/prepare.sh` fetches it).
//!
//! Target: well over 500x real time on one core, i.e. > 4 M samples/s at
//! 8 kHz (Silero under onnxruntime, one thread: about 5 M samples/s).
//! Run: `cargo bench -p voxcap-benches --features neural --bench silero`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use voxcap_dsp::synth;
use voxcap_dsp::vad::silero::{SileroModel, SileroStream, SpeechProb};
use voxcap_testkit::speech::speech_samples;

fn bench(c: &mut Criterion) {
    let path = std::env::var("VOXCAP_SILERO_MODEL")
        .expect("VOXCAP_SILERO_MODEL must name silero_vad.onnx (see this bench's doc comment)");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let model = SileroModel::from_reader(file).unwrap_or_else(|e| panic!("{path}: {e}"));
    let n = synth::samples_for(120.0, 8000);
    let speech: Vec<f32> = speech_samples().concat();
    let x: Vec<f32> = synth::white_noise(1, -50.0, n)
        .iter()
        .zip(speech.iter().cycle())
        .map(|(noise, s)| noise + s)
        .collect();
    let mut probs: Vec<SpeechProb> = Vec::with_capacity(n / 256 + 1);
    let mut g = c.benchmark_group("silero");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function(BenchmarkId::new("2min_8k", x.len()), |b| {
        b.iter(|| {
            probs.clear();
            let mut stream = SileroStream::new(&model);
            for chunk in black_box(&x).chunks(1024) {
                stream.push(chunk, &mut probs);
            }
            stream.finish(&mut probs);
            probs.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
