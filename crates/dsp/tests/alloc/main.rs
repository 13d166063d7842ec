//! Guardrail: [`Analyzer::push`] does not allocate once warmed up.
//!
//! A test binary of its own because it installs a counting global allocator
//! (`stats_alloc`, which counts every thread): in the shared `dsp` binary the
//! other tests' allocations would be counted too. It holds one test so that
//! nothing else runs while it counts.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use voxcap_dsp::decode::decode_all;
use voxcap_dsp::synth;
use voxcap_dsp::{AnalysisConfig, Analyzer};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Pushed before counting: the first blocks fill the resampler's and the
/// detectors' buffers.
const WARM_UP_S: f64 = 1.0;

/// A realistic recording: two minutes, the length of the longest answers.
const CLIP_S: f64 = 120.0;

/// The analysis settings counted: the classical detector, and with feature
/// `neural` the fused one too (Silero's model from `VOXCAP_SILERO_MODEL`).
fn configs() -> Vec<(&'static str, AnalysisConfig)> {
    #[allow(unused_mut)]
    let mut configs = vec![("classical", AnalysisConfig::default())];
    #[cfg(feature = "neural")]
    {
        let path = std::env::var("VOXCAP_SILERO_MODEL")
            .expect("VOXCAP_SILERO_MODEL must name silero_vad.onnx (feature neural)");
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let model = voxcap_dsp::vad::silero::SileroModel::from_reader(file)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let neural = voxcap_dsp::vad::neural::NeuralVad::new(model, path);
        configs.push((
            "fused",
            AnalysisConfig {
                speech_model: Some(neural),
                ..AnalysisConfig::default()
            },
        ));
    }
    configs
}

#[test]
fn push_does_not_allocate_after_warm_up() {
    let mut failures = Vec::new();
    for (name, config) in configs() {
        for rate in [8000, 16_000, 44_100, 48_000] {
            let wav = synth::wav_pcm16_mono(&synth::caller_bursts(7, CLIP_S, rate), rate);
            let (info, x) = decode_all(&wav).unwrap();
            let warm = synth::samples_for(WARM_UP_S, rate);
            // 10 and 20 ms telephony frames, odd sizes, and the decoder's blocks
            // (64 KiB: 32768 PCM16 samples, 65536 G.711 samples).
            for chunk in [80, 160, 320, 441, 1024, 4096, 32_768, 65_536] {
                let mut analyzer = Analyzer::new(&info, &config).unwrap();
                let (head, tail) = x.split_at(warm);
                for c in head.chunks(chunk) {
                    analyzer.push(c);
                }
                let region = Region::new(GLOBAL);
                for c in tail.chunks(chunk) {
                    analyzer.push(c);
                }
                let change = region.change();
                let findings = analyzer.finish();
                // The signal reached every detector, so their paths were counted.
                assert!(!findings.dtmf.is_empty(), "{rate} Hz: no DTMF found");
                assert!(
                    !findings.speech.segments.is_empty(),
                    "{rate} Hz: no speech found"
                );
                if change.allocations + change.reallocations > 0 {
                    failures.push(format!(
                    "{name}, {rate} Hz, chunks of {chunk}: {} allocations, {} reallocations, {} bytes",
                    change.allocations,
                    change.reallocations,
                    change.bytes_allocated as isize + change.bytes_reallocated
                ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "Analyzer::push allocated after warm-up:\n{}",
        failures.join("\n")
    );
}
