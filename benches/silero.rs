//! Silero benchmarks (feature `neural`): 2 minutes of 8 kHz speech (the
//! committed fixtures end to end, in line noise) through one `SileroStream`
//! (`silero/2min_8k`), and the whole analysis of the same audio as an 8 kHz
//! WAV (decode, DTMF, speech, trim, verification) without and with the model
//! fused into the speech detector (`analysis_8k/classical`, `analysis_8k/fused`).
//! Needs `VOXCAP_SILERO_MODEL` (silero_vad.onnx from the silero-vad 6.2.3
//! wheel; `scripts/speech-set/prepare.sh` fetches it).
//!
//! Targets: the forward pass and the whole fused analysis at least 500x
//! real time on one core, i.e. > 4 M samples/s at 8 kHz (Silero under
//! onnxruntime, one thread: about 5 M samples/s).
//! Run: `cargo bench -p voxcap-benches --features neural --bench silero`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use voxcap_dsp::synth;
use voxcap_dsp::vad::neural::NeuralVad;
use voxcap_dsp::vad::silero::{SileroModel, SileroStream, SpeechProb};
use voxcap_dsp::{analyze_reader, AnalysisConfig};
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

    let wav: Arc<[u8]> = synth::wav_pcm16_mono(&x, 8000).into();
    let classical = AnalysisConfig::default();
    let fused = AnalysisConfig {
        speech_model: Some(NeuralVad::new(model.clone(), path.as_str())),
        ..AnalysisConfig::default()
    };
    let mut g = c.benchmark_group("analysis_8k");
    g.throughput(Throughput::Elements(x.len() as u64));
    for (name, config) in [("classical", &classical), ("fused", &fused)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = analyze_reader("bench", Cursor::new(Arc::clone(&wav)), config)
                    .expect("analysis");
                black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
