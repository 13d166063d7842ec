//! The whole [`Analyzer`] (levels, resampler, DTMF, speech, then the report
//! built from its findings) gives the same report whatever the chunking of
//! its input: random chunk sequences against one push of the whole signal.

use proptest::prelude::*;
use voxcap_dsp::analysis::build_report;
use voxcap_dsp::decode::decode_all;
use voxcap_dsp::synth;
use voxcap_dsp::{AnalysisConfig, Analyzer, Report, StreamInfo};

/// The report of `samples` pushed in chunks of `sizes` (cycled).
fn report(info: &StreamInfo, samples: &[f32], sizes: &[usize]) -> Report {
    let config = AnalysisConfig::default();
    let mut analyzer = Analyzer::new(info, &config).unwrap();
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at >= samples.len() {
            break;
        }
        let n = size.clamp(1, samples.len() - at);
        analyzer.push(&samples[at..at + n]);
        at += n;
    }
    build_report("clip.wav".into(), info, &analyzer.finish(), false, &config)
}

/// Decoded samples and format of the signal at `rate` as a PCM16 WAV.
fn decoded(rate: u32, seed: u64) -> (StreamInfo, Vec<f32>) {
    decode_all(&synth::wav_pcm16_mono(
        &synth::caller_bursts(seed, 5.0, rate),
        rate,
    ))
    .unwrap()
}

#[test]
fn fixed_chunk_sizes_give_the_report_of_one_push() {
    for rate in [8000, 16_000, 44_100] {
        let (info, x) = decoded(rate, 3);
        let whole = report(&info, &x, &[x.len()]);
        // The signal exercises every detector: otherwise the property is empty.
        assert!(whole.dtmf.len() >= 2, "{rate} Hz: {:?}", whole.dtmf);
        assert!(!whole.speech.is_empty(), "{rate} Hz: no speech");
        for chunk in [1, 160, 1024, 4096] {
            assert_eq!(
                report(&info, &x, &[chunk]),
                whole,
                "{rate} Hz, chunk {chunk}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Random chunk sequences at a random input rate give the report of one push.
    #[test]
    fn random_chunkings_give_the_report_of_one_push(
        seed in 0u64..1000,
        rate in prop::sample::select(vec![8000u32, 16_000, 22_050, 48_000]),
        sizes in prop::collection::vec(1usize..3000, 1..24),
    ) {
        let (info, x) = decoded(rate, seed);
        let whole = report(&info, &x, &[x.len()]);
        prop_assert_eq!(report(&info, &x, &sizes), whole);
    }
}
