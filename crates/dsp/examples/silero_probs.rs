//! Silero speech probabilities of an 8 kHz WAV file with voxcap's pure-Rust
//! forward pass (feature `neural`): one line per 32 ms window,
//! `start_sample probability`.
//!
//! Usage: `cargo run --release -p voxcap-dsp --features neural --example
//! silero_probs -- MODEL.onnx FILE.wav` (MODEL.onnx: `silero_vad.onnx` from
//! the silero-vad wheel, as `scripts/speech-set/prepare.sh` fetches it).

#![allow(clippy::print_stdout)]

use std::io::Write;

use voxcap_dsp::vad::silero::{SileroModel, SileroStream, SpeechProb};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(model_path), Some(wav_path)) = (args.next(), args.next()) else {
        return Err("usage: silero_probs MODEL.onnx FILE.wav".into());
    };
    let model_file = std::fs::File::open(&model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let model = SileroModel::from_reader(std::io::BufReader::new(model_file))
        .map_err(|e| format!("{model_path}: {e}"))?;
    let wav = std::fs::read(&wav_path).map_err(|e| format!("{wav_path}: {e}"))?;
    let (info, samples) =
        voxcap_dsp::decode::decode_all(&wav).map_err(|e| format!("{wav_path}: {e}"))?;
    if info.sample_rate != voxcap_dsp::ANALYSIS_RATE {
        return Err(format!(
            "{wav_path}: {} Hz; this example reads 8 kHz only",
            info.sample_rate
        )
        .into());
    }
    let mut stream = SileroStream::new(&model);
    let mut probs: Vec<SpeechProb> = Vec::new();
    stream.push(&samples, &mut probs);
    stream.finish(&mut probs);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for p in &probs {
        writeln!(out, "{} {:.6}", p.start, p.prob)?;
    }
    Ok(())
}
