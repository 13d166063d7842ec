//! Property tests: no byte pattern makes the decoder or the analysis panic
//! or hang, and truncation at every length is handled.

use std::io::Cursor;

use proptest::prelude::*;
use voxcap_dsp::decode::{DecodeOptions, WavDecoder};
use voxcap_dsp::synth::{self, wav_file, WavSpec};
use voxcap_dsp::{analyze_reader, AnalysisConfig};

fn seeds() -> Vec<Vec<u8>> {
    let x = synth::sine(1000.0, -6.0, 400, 8000, 0.0);
    let pcm = synth::wav_pcm16_mono(&x, 8000);
    let mulaw = wav_file(
        &WavSpec {
            format_tag: 7,
            channels: 1,
            sample_rate: 8000,
            bits: 8,
            extensible: false,
        },
        &[0x55; 300],
    );
    let ext = wav_file(
        &WavSpec {
            format_tag: 3,
            channels: 2,
            sample_rate: 48_000,
            bits: 32,
            extensible: true,
        },
        &[0x3F; 800],
    );
    vec![pcm, mulaw, ext]
}

/// Decodes fully in both modes and analyses; only panics fail the test.
fn exercise(bytes: &[u8]) {
    for lenient in [false, true] {
        if let Ok(mut dec) = WavDecoder::new(Cursor::new(bytes.to_vec()), DecodeOptions { lenient })
        {
            let mut block = Vec::new();
            // Every block consumes input, so this ends; the bound guards a regression.
            for _ in 0..10_000 {
                match dec.read_block(&mut block) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        // analyze_reader turns a panic into an `internal` error, so a caught
        // panic must fail this test as an uncaught one would.
        if let Err(e) = analyze_reader(
            "fuzz",
            Cursor::new(bytes.to_vec()),
            &AnalysisConfig {
                lenient,
                ..AnalysisConfig::default()
            },
        ) {
            assert_ne!(e.kind(), "internal", "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_wavs_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((0usize..2048, any::<u8>()), 1..12),
        cut in proptest::option::of(0usize..2048),
    ) {
        let mut bytes = seeds()[which].clone();
        for (at, v) in edits {
            // Most edits land in the header, where the parsing happens.
            let at = if at % 2 == 0 { at % 64 } else { at };
            if at < bytes.len() {
                bytes[at] = v;
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut);
        }
        exercise(&bytes);
    }
}

#[test]
fn every_prefix_of_a_valid_wav_is_handled() {
    for seed in seeds() {
        for len in 0..=seed.len().min(200) {
            exercise(&seed[..len]);
        }
    }
}
