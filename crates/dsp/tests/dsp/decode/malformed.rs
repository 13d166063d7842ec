//! The malformed corpus: every file fails with the expected kind and a
//! message naming the cause; truncated ones decode in lenient mode.

use std::io::Cursor;

use voxcap_dsp::decode::{DecodeOptions, WavDecoder};
use voxcap_dsp::{analyze_reader, AnalysisConfig};

use super::corpus::malformed;

fn decode(bytes: Vec<u8>, lenient: bool) -> Result<(u64, bool), voxcap_dsp::DecodeError> {
    let mut dec = WavDecoder::new(Cursor::new(bytes), DecodeOptions { lenient })?;
    let mut block = Vec::new();
    while dec.read_block(&mut block)? > 0 {}
    Ok((dec.frames_decoded(), dec.truncation().is_some()))
}

#[test]
fn every_malformed_input_gets_its_error() {
    for (name, bytes, kind, phrase) in malformed() {
        let err = decode(bytes, false).expect_err(name);
        assert_eq!(err.kind(), kind, "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(phrase), "{name}: {msg:?} lacks {phrase:?}");
    }
}

#[test]
fn truncated_inputs_decode_leniently_and_are_flagged() {
    for (name, bytes, kind, _) in malformed() {
        if kind != "truncated" {
            continue;
        }
        let (frames, truncated) =
            decode(bytes.clone(), true).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(truncated, "{name}");
        assert!(frames > 0, "{name}");
        let report = analyze_reader(
            name,
            Cursor::new(bytes),
            &AnalysisConfig {
                lenient: true,
                ..AnalysisConfig::default()
            },
        )
        .unwrap();
        assert!(report.truncated, "{name}");
    }
}

#[test]
fn truncated_data_reports_where_it_stopped() {
    let wav = voxcap_dsp::synth::wav_pcm16_mono(&[0.1; 1000], 8000);
    let err = decode(wav[..44 + 700].to_vec(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "data stopped at byte 700 of 2000 (truncated)"
    );
    let (frames, truncated) = decode(wav[..44 + 700].to_vec(), true).unwrap();
    assert_eq!((frames, truncated), (350, true));
}

#[test]
fn riff_size_counting_its_own_header_is_tolerated() {
    // Some writers set the RIFF size to the file length instead of length - 8.
    let mut wav = voxcap_dsp::synth::wav_pcm16_mono(&[0.1; 100], 8000);
    let len = wav.len() as u32;
    wav[4..8].copy_from_slice(&len.to_le_bytes());
    assert_eq!(decode(wav, false).unwrap(), (100, false));
}
